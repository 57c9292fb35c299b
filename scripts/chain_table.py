"""The README's N:M chain table: `sqhw sim dsp-chain` (Verilator, bit-exact against
sqhw.ref) for every pattern, reporting cycles against the ideal and the DSP utilisation.

    .venv/bin/python scripts/chain_table.py [--json]

Ideal cycles = nnz slots / (lanes x chain) + pipeline latency; DSP utilisation = slots
processed / (lanes x chain x cycles); dense-equivalent speedup = utilisation x m / n (the
throughput relative to a dense chain of the same DSPs)."""

import argparse
import contextlib
import io
import json
import sys

from _markdown import table

from sqhw.cli import main

RUNS = [("int8", "int8", p) for p in ("1:4", "2:4", "1:8", "2:8", "4:8", "8:8")] + [
    ("float8_e4m3fn", "int8", "2:4"), ("float8_e4m3fn", "float8_e4m3fn", "2:8")]


def measure(k=512, lanes=4, chain=8, vectors=256):
    rows = []
    for i, (w, x, pattern) in enumerate(RUNS):
        print(f"[{i + 1}/{len(RUNS)}] {w} x {x} {pattern}", file=sys.stderr, flush=True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(["sim", "dsp-chain", "--nm", pattern, "--weight", w, "--act", x,
                           "--k", str(k), "--lanes", str(lanes), "--chain", str(chain),
                           "--vectors", str(vectors), "--json"])
        result = json.loads(out.getvalue()[out.getvalue().index("{"):])
        if status or result["mismatches"]:
            raise SystemExit(f"{w} x {x} {pattern}: {result['mismatches']} mismatches")
        rows.append({"weights": w, "acts": x, **{key: result[key] for key in (
            "pattern", "k", "lanes", "chain", "vectors", "mismatches", "cycles",
            "ideal_cycles", "dsp_utilisation", "dense_equivalent_speedup")}})
    return rows


def markdown(rows) -> str:
    return table(["weights x acts", "N:M", "K", "outputs checked", "cycles", "ideal",
                  "cycles / ideal", "DSP utilisation", "dense-equivalent speedup"],
                 [[f"{r['weights']} x {r['acts']}", r["pattern"], r["k"], r["vectors"],
                   r["cycles"], r["ideal_cycles"], f"{r['cycles'] / r['ideal_cycles']:.3f}",
                   f"{r['dsp_utilisation']:.3f}", f"{r['dense_equivalent_speedup']:.2f}"]
                  for r in rows])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = measure()
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
