"""Build the sweep harness (sqhw.verify.sweep) around generated designs as one Verilator
program (sqhw.verify.program: a C++ main clocks it, no cocotb or VPI in the loop), write the
expected values it compares with (sqhw.verify.sweep_expected, from sqhw.ref), run it, and
read back what it counted and the mismatches it listed."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ..manifest import read_manifest
from . import sweep
from . import sweep_expected as E
from .program import build as build_program

PROGRAM = "sqhw_sweep"
# C++ -O2 runs a one-design sweep about a quarter faster than Verilator's default -Os, but
# compiling a harness of many designs at -O2 takes far longer than it saves
OPTIMIZE = ["-MAKEFLAGS", "OPT_FAST=-O2"]
OPTIMIZE_UP_TO = 4  # designs
EXAMPLES = 10       # mismatching vectors returned with their inputs, got and want
SHM = "/dev/shm"


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
    {top: {vectors, mismatches}}, seconds, expected_seconds, simulated_seconds,
    vectors_per_second, cpu_seconds}. An example is {design, index, inputs, got, want} (a
    record `sqhw verify --replay` reads). seconds: writing the expected values
    (expected_seconds), the program's run (simulated_seconds: it compares as it simulates)
    and reading its counts; cpu_seconds: the CPU time all of it took, which other load on
    the machine does not inflate; the build is not counted."""
    program, manifests = build(design_dirs, lanes, cache)
    start, cpu = time.perf_counter(), cpu_seconds()
    need = sum(expected_bytes(m) for m in manifests)
    with tempfile.TemporaryDirectory(prefix="sqhw-sweep-", dir=scratch_dir(need)) as tmp:
        prefix = f"{tmp}/s"
        for k, manifest in enumerate(manifests):
            E.write_expected(prefix, k, manifest, seed)
        expected = time.perf_counter() - start
        summary = execute(program, manifests, lanes, prefix, seed)
        simulated = time.perf_counter() - start - expected
        result = collect(prefix, manifests, seed, summary)
    elapsed = time.perf_counter() - start
    result.update(seconds=round(elapsed, 3), expected_seconds=round(expected, 3),
                  simulated_seconds=round(simulated, 3),
                  vectors_per_second=round(result["vectors"] / elapsed),
                  cpu_seconds=round(cpu_seconds() - cpu, 3))
    return result


def execute(program: Path, manifests: list[dict], lanes: int, prefix: str, seed: int) -> dict:
    """Run the program on the expected values at `prefix` (E.write_expected); returns its
    summary. A crash, a bad file or a hang is an error."""
    limit = 600 + sweep.cycles(manifests, lanes) // 1000  # seconds
    try:
        done = subprocess.run([str(program), f"+sqhw_out={prefix}", f"+sqhw_seed={seed}"],
                              capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{program}: still running after its limit of {limit} s") from None
    summary_file = Path(prefix + sweep.SUMMARY)
    if done.returncode not in (0, 3) or not summary_file.exists():
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"{program}: exit {done.returncode}: {' / '.join(tail)}")
    summary = json.loads(summary_file.read_text())
    if done.returncode == 3:
        raise RuntimeError(f"the sweep program stopped after {summary['cycles']} cycles (its "
                           "limit) with designs unfinished")
    return summary


def collect(prefix: str, manifests: list[dict], seed: int, summary: dict) -> dict:
    """The program's counts per design (every vector of every design checked exactly once,
    else an error) and the first EXAMPLES listed mismatches with their inputs and sqhw.ref's
    values."""
    result = {"vectors": 0, "mismatches": 0, "examples": [], "designs": {}}
    for k, (manifest, row) in enumerate(zip(manifests, summary["designs"])):
        top = manifest["top"]
        space = 1 << sweep.space_bits(manifest)
        if (row["top"] != top or row["checked"] != space or row["vectors"] != space
                or row["repeated"] or row["outside"]):
            raise RuntimeError(f"{top}: the sweep program checked {row['checked']} of "
                               f"{row['vectors']} vectors ({row['repeated']} again, "
                               f"{row['outside']} outside the input space)")
        result["designs"][top] = {"vectors": row["checked"], "mismatches": row["mismatches"]}
        result["vectors"] += row["checked"]
        result["mismatches"] += row["mismatches"]
        room = EXAMPLES - len(result["examples"])
        if row["mismatches"] and room > 0:
            result["examples"] += examples(prefix, k, manifest, seed, room)
    return result


def examples(prefix: str, k: int, manifest: dict, seed: int, count: int) -> list[dict]:
    """The first `count` mismatches the program listed for design k, as records."""
    index, got = E.read_listed(f"{prefix}{k}.listed", manifest)
    index = index[:count]
    inputs = E.sweep_inputs(manifest, seed, index)
    want = E.expected_values(manifest, inputs)
    return [{"design": manifest["top"], "index": int(v),
             "inputs": {n: int(x[i]) for n, x in inputs.items()},
             "got": {n: int(x[i]) for n, x in got.items()},
             "want": {n: int(np.asarray(x)[i]) for n, x in want.items()}}
            for i, v in enumerate(index)]


def expected_bytes(manifest: dict) -> int:
    """The size of a design's expected-value files (sweep.want_files)."""
    per_vector = sum(dtype.itemsize for _, width, _ in sweep.outputs(manifest)
                     for _, dtype in sweep.want_files(width))
    return per_vector << sweep.space_bits(manifest)


def scratch_dir(need: int) -> str | None:
    """Where the expected values go for the run: /dev/shm (memory) where it is writable and
    has twice `need` bytes free (a container's is often 64 MB), as the 16.7 M-vector
    sweep's 117 MB cost three times the CPU to write to a disk's page cache; else the
    temporary folder."""
    try:
        free = os.statvfs(SHM)
        room = free.f_bavail * free.f_frsize
    except OSError:
        return None
    return SHM if os.access(SHM, os.W_OK) and room >= 2 * need else None


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children so far."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
