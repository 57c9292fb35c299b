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


def write_text(path: Path, text: str) -> None:
    """Write text to a temporary file beside path and rename it over path: a reader (or an
    interrupted run) sees the old file or the whole new one, never a part."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide the file from other users
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
