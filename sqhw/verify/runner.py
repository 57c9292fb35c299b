"""Build a generated design (plus its lanes harness) with Verilator once, and run a cocotb
testbench module from sim/ on it. Builds are cached by the hash of what goes into them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from ..hdl.emit import read_manifest
from .harness import HARNESS_TOP, harness_verilog
from .toolchain import use_verilator

REPO = Path(__file__).resolve().parents[2]
SIM_DIR = REPO / "sim"
BUILD_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-fno-inline"]


def default_cache() -> Path:
    return Path(os.environ.get("SQHW_BUILD_CACHE", REPO / "build" / "verilator"))


def _digest(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts + BUILD_ARGS:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def build(design_dirs, lanes: int, cache: Path | None = None) -> tuple[Path, list[dict]]:
    """Verilate the designs' Verilog inside one harness of `lanes` copies each.

    Returns (build_dir, manifests). A build whose inputs are unchanged is reused."""
    from cocotb_tools.runner import get_runner

    if isinstance(design_dirs, (str, Path)):
        design_dirs = [design_dirs]
    manifests = [read_manifest(d) for d in design_dirs]
    sources = [Path(d) / s for d, m in zip(design_dirs, manifests) for s in m["sources"]]
    harness = harness_verilog(manifests, lanes)
    key = _digest([s.read_text() for s in sources] + [harness])
    build_dir = (cache or default_cache()) / f"{manifests[0]['top']}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    harness_file = build_dir / "harness.v"
    if not harness_file.exists() or harness_file.read_text() != harness:
        harness_file.write_text(harness)
    local_sources = []
    for s in sources:
        target = build_dir / s.name
        if not target.exists() or target.read_bytes() != s.read_bytes():
            shutil.copyfile(s, target)
        local_sources.append(target)
    (build_dir / "manifests.json").write_text(json.dumps(manifests, indent=1))
    use_verilator()
    runner = get_runner("verilator")
    runner.build(sources=[*local_sources, harness_file], hdl_toplevel=HARNESS_TOP,
                 build_dir=build_dir, build_args=BUILD_ARGS, timescale=("1ns", "1ps"),
                 log_file=build_dir / "build.log")
    return build_dir, manifests


def run(test_module: str, design_dirs, lanes: int, env: dict[str, str] | None = None,
        cache: Path | None = None) -> dict:
    """Run sim/<test_module>.py against the designs; returns {test name: result} as the
    testbench wrote it (vectors, mismatches, ...)."""
    from cocotb_tools.runner import get_runner

    build_dir, _ = build(design_dirs, lanes, cache)
    result_file = build_dir / f"result-{test_module}-{os.getpid()}.json"
    result_file.unlink(missing_ok=True)
    if str(SIM_DIR) not in sys.path:
        sys.path.insert(0, str(SIM_DIR))
    runner = get_runner("verilator")
    extra_env = {"SQHW_MANIFESTS": str(build_dir / "manifests.json"), "SQHW_LANES": str(lanes),
                 "SQHW_RESULT": str(result_file), **(env or {})}
    log = build_dir / f"sim-{test_module}-{os.getpid()}.log"
    runner.test(test_module=test_module, hdl_toplevel=HARNESS_TOP, hdl_toplevel_lang="verilog",
                build_dir=build_dir, log_file=log,
                test_dir=build_dir, extra_env=extra_env,
                results_xml=str(build_dir / f"results-{test_module}.xml"))
    if not result_file.exists():
        raise RuntimeError(f"{test_module}: the testbench wrote no result (see {log})")
    return json.loads(result_file.read_text())
