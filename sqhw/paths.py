"""Where sqhw keeps what it computes for reuse: the user's cache folder (platformdirs), or
SQHW_CACHE_DIR when set. Never the source tree, so an installed sqhw works read-only."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = os.environ.get("SQHW_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("sqhw", appauthor=False)
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
