"""Verification speed, measured in one run: the lanes harness (cocotb drives 64 lanes per
cycle, sqhw.verify.harness; numpy compares) against the sweep program (sqhw.verify.sweep:
counters in the RTL harness enumerate every input and the C++ program compares every output
with expected values that Python wrote from sqhw.ref first, sqhw.verify.sweep_expected) on
the same three 8-bit multipliers (every input pair of e4m3fn x e4m3fn, e5m2 x int8,
int8 x int8), the sweep of all 16.7 M pairs of bfloat16 x float8_e4m3fn (as
tests/test_rtl.py runs it), and the MAC stream program (sqhw.verify.stream_program) on the
22 MACs and block dots of tests/test_rtl_mac.py, 10**6 terms each (a vector here is a
term), and on the int8 x int8 MAC alone.

    python scripts/verify_speed.py [--json] [--seed S] [--terms N]

Builds come first (cached in the user cache folder; minutes the first time) and are not
timed. `check s`: the lanes testbench's own clock (simulation + comparison), or for the sweep
program writing the expected values + the program's run + reading its counts; `wall s` adds
the simulator's start-up (cocotb) for the lanes harness; `CPU s` is the CPU time of the
whole run (this process and the simulator), which other load on a shared machine does not
inflate. Nothing is cached between runs: every sweep row computes its expected values (the
seconds that took and the program's are printed below the table)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _markdown import table  # noqa: E402

from sqhw.verify import stream_run, suite, sweep_run, vectors  # noqa: E402
from sqhw.verify.runner import build, run  # noqa: E402

LANES = suite.LANES
MAC_LANES = suite.MAC_LANES
PAIRS = [("float8_e4m3fn", "float8_e4m3fn"), ("float8_e5m2", "int8"), ("int8", "int8")]


def _lanes(dirs, seed):
    start, cpu = time.perf_counter(), sweep_run.cpu_seconds()
    result = run("tb_mul", dirs, LANES, env={"SQHW_SEED": str(seed)})["every_pair"]
    return _checked(result, result["seconds"], time.perf_counter() - start,
                    sweep_run.cpu_seconds() - cpu)


def _sweep(dirs, seed, lanes=LANES):
    start, cpu = time.perf_counter(), sweep_run.cpu_seconds()
    result = sweep_run.run(dirs, lanes, seed=seed)
    row = _checked(result, result["seconds"], time.perf_counter() - start,
                   sweep_run.cpu_seconds() - cpu)
    row.update(expected_seconds=result["expected_seconds"],
               program_seconds=result["simulated_seconds"])
    return row


def _stream(program, manifests, seed, terms, lanes):
    """The MAC stream program on vector sets made beforehand (untimed, as the builds)."""
    sets = [vectors.generate(m, seed, count=terms, group=lanes, exhaustive=True)
            for m in manifests]
    start, cpu = time.perf_counter(), sweep_run.cpu_seconds()
    result = stream_run.run(program, manifests, sets, lanes, seed)
    result["vectors"] = result["terms"]
    return _checked(result, result["seconds"], time.perf_counter() - start,
                    sweep_run.cpu_seconds() - cpu)


def _checked(result, seconds, wall, cpu):
    if result["mismatches"]:
        raise SystemExit(f"{result['mismatches']} mismatches: {result['examples'][:2]}")
    n = result["vectors"]
    return {"vectors": n, "check_seconds": round(seconds, 3), "wall_seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3), "vectors_per_second": round(n / seconds),
            "vectors_per_second_wall": round(n / wall),
            "vectors_per_cpu_second": round(n / cpu)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--terms", type=int, default=10**6,
                        help="MAC terms per design (default 10**6)")
    args = parser.parse_args(argv)
    if not 1000 <= args.terms <= vectors.MAX_COUNT["mac"]:
        parser.error(f"--terms: expected 1000 to {vectors.MAX_COUNT['mac']}, got {args.terms}")
    with tempfile.TemporaryDirectory() as tmp:
        mul8 = suite.generate(Path(tmp) / "mul8", [
            (builder, kwargs, top) for builder, kwargs, top in suite.multipliers(suite.EIGHT_BIT)
            if (kwargs["a"], kwargs["b"]) in PAIRS])
        bf16 = suite.generate(Path(tmp) / "bf16", suite.BF16)
        build(mul8, LANES)  # untimed
        sweep_run.build(mul8, LANES)
        sweep_run.build(bf16, suite.SWEEP_HARNESSES[("bf16",)])
        mac_dirs = suite.generate(Path(tmp) / "macs", suite.macs())
        macs = stream_run.build(mac_dirs, MAC_LANES)
        one_mac = stream_run.build(mac_dirs[:1], 1)
        load = os.getloadavg()
        rows = {"lanes harness (cocotb), 3 x 8-bit multipliers": _lanes(mul8, args.seed),
                "sweep program, the same 3 multipliers": _sweep(mul8, args.seed),
                "sweep program, bfloat16 x float8_e4m3fn": _sweep(
                    bf16, args.seed, suite.SWEEP_HARNESSES[("bf16",)]),
                f"MAC stream program, {len(mac_dirs)} MACs / block dots, {MAC_LANES} lanes "
                "(terms)": _stream(*macs, args.seed, args.terms, MAC_LANES),
                "MAC stream program, int8 x int8 MAC alone, 1 lane (terms)": _stream(
                    *one_mac, args.seed, args.terms, 1)}
    lanes, sweep = list(rows.values())[:2]
    report = {"rows": rows, "sweep_over_lanes": {
                  key: round(sweep[key] / lanes[key], 2) for key in (
                      "vectors_per_second", "vectors_per_second_wall",
                      "vectors_per_cpu_second")},
              "load_average_before": [round(x, 2) for x in load], "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(table(["what", "vectors", "check s", "vectors/s", "wall s", "vectors/s (wall)",
                 "CPU s", "vectors per CPU s"],
                [[name, f"{r['vectors']:,}", r["check_seconds"],
                  f"{r['vectors_per_second'] / 1e6:.2f} M", r["wall_seconds"],
                  f"{r['vectors_per_second_wall'] / 1e6:.2f} M", r["cpu_seconds"],
                  f"{r['vectors_per_cpu_second'] / 1e6:.2f} M"] for name, r in rows.items()]))
    for name, r in rows.items():
        if "expected_seconds" in r:
            print(f"{name}: {r['expected_seconds']} s writing the expected values, "
                  f"{r['program_seconds']} s the program (simulating and comparing)")
    ratios = report["sweep_over_lanes"]
    print(f"\nsweep / lanes on the same designs: {ratios['vectors_per_second']}x "
          f"({ratios['vectors_per_second_wall']}x wall, {ratios['vectors_per_cpu_second']}x "
          f"per CPU second); load average before: {report['load_average_before']}, "
          f"{report['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
