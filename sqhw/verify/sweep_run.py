"""Build the sweep harness (sqhw.verify.sweep) around generated designs as one Verilator
program (sqhw.verify.program: a C++ main clocks it, no cocotb or VPI in the loop), run it,
and compare its output files with sqhw.ref."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

from ..hdl.emit import read_manifest
from . import sweep
from .program import build as build_program

PROGRAM = "sqhw_sweep"
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
    names = manifests[0]["top"] + (f" and {len(manifests) - 1} more" if len(manifests) > 1
                                   else "")
    program = build_program(sources, sweep.sweep_verilog(manifests, lanes),
                            sweep.main_cpp(manifests, lanes), sweep.SWEEP_TOP, PROGRAM,
                            f"{manifests[0]['top']}-sweep", f"sweep program for {names}",
                            OPTIMIZE if len(manifests) <= OPTIMIZE_UP_TO else [], cache)
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
