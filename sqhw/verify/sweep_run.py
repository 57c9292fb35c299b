"""Build the sweep harness (sqhw.verify.sweep) around generated designs as one Verilator
program (sqhw.verify.program: a C++ main clocks it, no cocotb or VPI in the loop), run it,
and compare its output files with sqhw.ref."""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
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
    cpu_seconds} (seconds: the program's run and the comparison, which reads each output
    file while the program is still writing it; simulated_seconds: until the program ended;
    cpu_seconds: the CPU time both took, which other load on the machine does not inflate;
    the build is not counted)."""
    program, manifests = build(design_dirs, lanes, cache)
    prefix = program.parent.parent / f"sweep-{os.getpid()}-"
    start, cpu = time.perf_counter(), cpu_seconds()
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([str(program), f"+sqhw_out={prefix}", f"+sqhw_seed={seed}"],
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    limit = 600 + sweep.cycles(manifests, lanes) // 1000  # seconds
    deadline = time.monotonic() + limit
    ended = []

    def wait(path: Path | None, nbytes: int | None) -> None:
        """Until path holds nbytes (or, with None, the program ended well)."""
        while True:
            code = process.poll()
            if code is not None and not ended:
                ended.append(time.perf_counter() - start)
            if path is not None and path.exists() and path.stat().st_size >= nbytes:
                return
            if code is not None:
                if code != 0:
                    log.seek(0)
                    tail = log.read().strip().splitlines()[-3:]
                    raise RuntimeError(f"{program}: exit {code}: {' / '.join(tail)}")
                if path is None:
                    return
                size = path.stat().st_size if path.exists() else 0
                raise RuntimeError(f"{path}: {size} bytes after the program ended, expected "
                                   f"at least {nbytes}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{program}: still running after its limit of {limit} s")
            time.sleep(0.002)

    try:
        result = sweep.check(manifests, lanes, seed, str(prefix), wait)
        wait(None, None)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()
        for left in program.parent.parent.glob(f"{prefix.name}*.bin"):
            left.unlink()
    elapsed = time.perf_counter() - start
    result.update(seconds=round(elapsed, 3), simulated_seconds=round(ended[0], 3),
                  vectors_per_second=round(result["vectors"] / elapsed),
                  cpu_seconds=round(cpu_seconds() - cpu, 3))
    return result


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children so far."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
