"""Build the sweep harness (sqhw.verify.sweep) around generated designs as one Verilator
program (a C++ main clocks it: no cocotb or VPI in the loop, so every signal can be
optimised), run it, and compare its output files with sqhw.ref.

Builds are cached like sqhw.verify.runner's: by the hash of what goes into them, in the
user's cache folder."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..hdl.emit import read_manifest
from . import sweep
from .runner import BUILD_ARGS, BuildError, _digest, _locked, default_cache
from .toolchain import use_verilator

PROGRAM = "sqhw_sweep"
BINARY_ARGS = ["--cc", "--exe", "--build", "-j", "2"]
# C++ -O2 runs a one-design sweep about a quarter faster than Verilator's default -Os, but
# compiling a harness of many designs at -O2 takes far longer than it saves
OPTIMIZE = ["-MAKEFLAGS", "OPT_FAST=-O2"]
OPTIMIZE_UP_TO = 4  # designs


def build(design_dirs, lanes: int, cache: Path | None = None) -> tuple[Path, list[dict]]:
    """Verilate the designs inside the sweep harness as a program; returns (the program,
    manifests). An unchanged build is reused; the first says so on stderr."""
    design_dirs = [design_dirs] if isinstance(design_dirs, (str, Path)) else design_dirs
    manifests = [read_manifest(d) for d in design_dirs]
    sources = [Path(d) / s for d, m in zip(design_dirs, manifests) for s in m["sources"]]
    harness = sweep.sweep_verilog(manifests, lanes)
    main = sweep.main_cpp(manifests, lanes)
    args = BUILD_ARGS + BINARY_ARGS + (OPTIMIZE if len(manifests) <= OPTIMIZE_UP_TO else [])
    key = _digest([s.read_text() for s in sources] + [harness, main], args)
    build_dir = (cache or default_cache()) / f"{manifests[0]['top']}-sweep-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    program = build_dir / "obj" / PROGRAM
    with _locked(build_dir):
        if program.exists():
            return program, manifests
        harness_file = build_dir / "sweep.sv"
        harness_file.write_text(harness)
        main_file = build_dir / "sweep_main.cpp"
        main_file.write_text(main)
        local = []
        for s in sources:
            shutil.copyfile(s, build_dir / s.name)
            local.append(build_dir / s.name)
        names = manifests[0]["top"] + (f" and {len(manifests) - 1} more" if len(manifests) > 1
                                       else "")
        print(f"sqhw: building the sweep program for {names} (first time: minutes; cached "
              f"in {build_dir})", file=sys.stderr, flush=True)
        verilator = use_verilator()
        log = build_dir / "build.log"
        with open(log, "w") as out:
            done = subprocess.run([str(verilator), *args, "--top-module", sweep.SWEEP_TOP,
                                   "-Mdir", str(build_dir / "obj"), "-o", PROGRAM,
                                   *map(str, local), str(harness_file), str(main_file)],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=build_dir)
        if done.returncode != 0 or not program.exists():
            raise BuildError(f"the Verilator build of the sweep for {names} failed "
                             f"(exit {done.returncode}); see {log}")
    return program, manifests


def run(design_dirs, lanes: int, seed: int = 1234, cache: Path | None = None) -> dict:
    """Sweep every input of every design; returns {vectors, mismatches, examples, designs:
    {top: {vectors, mismatches}}, seconds, simulated_seconds, vectors_per_second,
    cpu_seconds} (seconds: the program's run plus the comparison; cpu_seconds: the CPU time
    both took, which other load on the machine does not inflate; the build is not
    counted)."""
    program, manifests = build(design_dirs, lanes, cache)
    prefix = program.parent.parent / f"sweep-{os.getpid()}-"
    start, cpu = time.perf_counter(), cpu_seconds()
    try:
        done = subprocess.run([str(program), f"+sqhw_out={prefix}", f"+sqhw_seed={seed}"],
                              capture_output=True, text=True,
                              timeout=600 + sweep.cycles(manifests, lanes) // 1000)
        simulated = time.perf_counter() - start
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"{program}: exit {done.returncode}: {' / '.join(tail)}")
        result = sweep.check(manifests, lanes, seed, str(prefix))
    finally:
        for left in program.parent.parent.glob(f"{prefix.name}*.bin"):
            left.unlink()
    elapsed = time.perf_counter() - start
    result.update(seconds=round(elapsed, 3), simulated_seconds=round(simulated, 3),
                  vectors_per_second=round(result["vectors"] / elapsed),
                  cpu_seconds=round(cpu_seconds() - cpu, 3))
    return result


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children so far."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
