"""Build a generated design (plus its lanes harness) with Verilator once, and run a cocotb
testbench module from sim/ on it. Builds are cached by the hash of what goes into them, in
the user's cache folder (`sqhw.paths.cache_dir("verilator")`; SQHW_CACHE_DIR overrides)."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..manifest import read_manifest
from ..paths import cache_dir, data_dir
from .harness import HARNESS_TOP, harness_verilog
from .toolchain import use_verilator

BUILD_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-fno-inline"]
# a traced build can write a waveform (Verilator's FST or VCD writer compiled in); untraced
# runs of it cost a little more, so only `sqhw verify` builds with it. The cocotb builds and
# the programs (sqhw.verify.program) both take their flags from here.
TRACE_ARGS = {"fst": ["--trace-fst", "--trace-structs"], "vcd": ["--trace", "--trace-structs"]}


def cocotb_trace_args(trace: str) -> list[str]:
    """TRACE_ARGS for a cocotb build: its waves option adds --trace (VCD) itself, and
    --trace-fst after it makes the trace FST."""
    return [arg for arg in TRACE_ARGS[trace] if arg != "--trace"]


class BuildError(RuntimeError):
    """Verilator or the C++ compiler failed; the message names the build log."""


def default_cache() -> Path:
    return cache_dir("verilator")


def sim_dir() -> Path:
    """The folder of the cocotb testbench modules (sim/, installed as sqhw._sim)."""
    return data_dir("sim")


@functools.cache
def _toolchain() -> list[str]:
    """Where Verilator and cocotb's libraries are: a build links them by path, so a cache
    folder shared by two installs (two checkouts, two venvs) keeps a build per install."""
    import importlib.util

    from .toolchain import verilator_root

    cocotb = importlib.util.find_spec("cocotb")
    return [str(verilator_root()), str(cocotb.origin if cocotb else None)]


def _digest(texts: list[str], args: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts + args + _toolchain():
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@functools.cache
def fst_available() -> bool:
    """Verilator's FST writer compiles against lz4 and zlib (Debian: liblz4-dev, zlib1g-dev);
    without them a traced build can write VCD only."""
    probe = "#include <lz4.h>\n#include <zlib.h>\nint main() { return 0; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run(["c++", "-x", "c++", "-", "-llz4", "-lz", "-o",
                                   str(Path(tmp) / "probe")], input=probe, text=True,
                                  capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0


def wave_format(path=None) -> str:
    """'fst' or 'vcd': a wave file's own suffix, else FST where it can be built."""
    if path is not None:
        return Path(path).suffix.lstrip(".")
    return "fst" if fst_available() else "vcd"


@contextmanager
def _locked(build_dir: Path):
    """One build at a time per build folder (two processes may verify the same design)."""
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(design_dirs, lanes: int, cache: Path | None = None, trace: str | None = None
          ) -> tuple[Path, list[dict]]:
    """Verilate the designs' Verilog inside one harness of `lanes` copies each; `trace`
    ('fst' or 'vcd') compiles waveform tracing in.

    Returns (build_dir, manifests). A build whose inputs are unchanged is reused; the first
    build of a design says so on stderr (it takes minutes)."""
    from cocotb_tools.runner import get_runner

    if isinstance(design_dirs, (str, Path)):
        design_dirs = [design_dirs]
    manifests = [read_manifest(d) for d in design_dirs]
    sources = [Path(d) / s for d, m in zip(design_dirs, manifests)
               for s in (*m["sources"], *m.get("simulation_models", ()))]
    harness = harness_verilog(manifests, lanes)
    if trace is not None and trace not in TRACE_ARGS:
        raise ValueError(f"trace: expected one of {', '.join(TRACE_ARGS)}, got {trace!r}")
    args = BUILD_ARGS + (cocotb_trace_args(trace) if trace else [])
    key = _digest([s.read_text() for s in sources] + [harness], args)
    top = manifests[0]["top"]
    build_dir = (cache or default_cache()) / f"{top}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    with _locked(build_dir):
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
        if not (build_dir / HARNESS_TOP).exists():
            names = top if len(manifests) == 1 else f"{top} and {len(manifests) - 1} more"
            print(f"sqhw: building Verilator model for {names} (first time ~3-5 min; cached "
                  f"in {build_dir})", file=sys.stderr, flush=True)
        runner = get_runner("verilator")
        log = build_dir / "build.log"
        try:
            runner.build(sources=[*local_sources, harness_file], hdl_toplevel=HARNESS_TOP,
                         build_dir=build_dir, build_args=args, timescale=("1ns", "1ps"),
                         waves=trace is not None, log_file=log)
        except (RuntimeError, SystemExit) as err:
            raise BuildError(f"the Verilator build of {top} failed ({err}); see {log}") from None
    return build_dir, manifests


def run(test_module: str, design_dirs, lanes: int, env: dict[str, str] | None = None,
        cache: Path | None = None, test_filter: str | None = None,
        trace: str | None = None, wave: Path | None = None) -> dict:
    """Run sim/<test_module>.py against the designs; returns {test name: result} as the
    testbench wrote it (vectors, mismatches, ...). `trace`: run on a build that can trace
    ('fst' / 'vcd'); with `wave`, the run is traced into that file (its suffix picks the
    format)."""
    from cocotb_tools.runner import get_runner

    if wave is not None:
        trace = wave_format(wave)
    build_dir, _ = build(design_dirs, lanes, cache, trace=trace)
    tag = f"{test_module}-{os.getpid()}"
    result_file = build_dir / f"result-{tag}.json"
    result_file.unlink(missing_ok=True)
    sims = str(sim_dir())
    if sims not in sys.path:
        sys.path.insert(0, sims)  # the runner hands sys.path to the simulator as PYTHONPATH
    runner = get_runner("verilator")
    extra_env = {"SQHW_MANIFESTS": str(build_dir / "manifests.json"), "SQHW_LANES": str(lanes),
                 "SQHW_RESULT": str(result_file), **(env or {})}
    log = build_dir / f"sim-{tag}.log"
    test_args = ["--trace-file", str(Path(wave).resolve())] if wave is not None else []
    try:
        runner.test(test_module=test_module, hdl_toplevel=HARNESS_TOP,
                    hdl_toplevel_lang="verilog", build_dir=build_dir, log_file=log,
                    test_dir=build_dir, extra_env=extra_env, test_filter=test_filter,
                    waves=wave is not None, test_args=test_args,
                    results_xml=str(build_dir / f"results-{tag}.xml"))
    except SystemExit as err:  # the runner exits when a cocotb test fails under pytest
        raise RuntimeError(f"{test_module}: a cocotb test failed (exit {err.code}; see {log})"
                           ) from None
    if not result_file.exists():
        raise RuntimeError(f"{test_module}: the testbench wrote no result (see {log})")
    return json.loads(result_file.read_text())
