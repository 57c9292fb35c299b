"""Where sqhw finds its data and keeps what it computes.

- `data_dir("sim")`, `data_dir("boards")`: the cocotb testbenches and board files. They live
  at the top of the repository and are installed as the packages sqhw._sim / sqhw._boards;
  a source checkout uses its own folders, an installed sqhw finds its copies through
  importlib.resources.
- `cache_dir(...)`: the user's cache folder (platformdirs), or SQHW_CACHE_DIR when set. Never
  the source tree or the installed package, so an installed sqhw works read-only.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA = ("sim", "boards")


def data_dir(name: str) -> Path:
    """The folder of sqhw's `sim` or `boards` data (see the module docstring)."""
    if name not in DATA:
        raise ValueError(f"name: expected one of {', '.join(DATA)}, got {name!r}")
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / name / "__init__.py").is_file():
        return checkout / name
    from importlib import resources

    try:
        root = resources.files(f"sqhw._{name}")
    except ModuleNotFoundError:
        raise FileNotFoundError(f"sqhw._{name}: not installed (a broken sqhw install: "
                                "reinstall the package)") from None
    if isinstance(root, Path):
        return root
    # a zipped install: copy the files out once, keyed by the sqhw version
    from . import __version__

    target = cache_dir("data", f"{__version__}-{name}")
    for entry in root.iterdir():
        if entry.is_file() and not (target / entry.name).exists():
            write_bytes(target / entry.name, entry.read_bytes())
    return target


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
    write_bytes(path, text.encode())


def write_bytes(path: Path, data: bytes) -> None:
    """`write_text` for bytes."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what open() would have made, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
