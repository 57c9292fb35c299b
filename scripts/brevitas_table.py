"""sqhw beside Brevitas 0.13 on one model, algorithm by algorithm: plain, GPTQ, bias
correction, GPTQ + bias correction, at int8, int4, float8_e4m3fn and float4_e2m1fn (the
README's table "sqhw beside Brevitas").

Both calibrate alike: integer activations at the 99.999th percentile of |x| per batch,
averaged; minifloat activations at each batch's maximum, averaged (Brevitas's float
activation quantizers ignore the percentile). Integer rows run twice on sqhw's side: with
its default grid (a range maps to the largest code, int4: 7) and with Brevitas's (the range
maps to 2^(b-1), int4: 8; `--amax-code min`), which is the same algorithm as Brevitas's.

    .venv/bin/python scripts/brevitas_table.py [--model mnist1d] [--json]

sqhw rows come from `sqhw.ptq.study.run` (cached like `sqhw ptq` rows); Brevitas rows from
`sqhw.ptq.peers.brevitas_row`, recomputed every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import table as markdown_table  # noqa: E402

INTS = ["int8", "int4"]
FLOATS = ["float8_e4m3fn", "float4_e2m1fn"]
ALGOS = [(), ("gptq",), ("bias-correction",), ("gptq", "bias-correction")]


def run(model: str) -> dict:
    from sqhw.paths import cache_dir
    from sqhw.ptq import study
    from sqhw.ptq.peers import brevitas_row, installed

    if not installed("brevitas"):
        raise SystemExit("brevitas is not installed (pip install 'sqhw[peers]')")
    cache = cache_dir("ptq")
    scores = {}  # (format, algo label, column) -> score
    fp32 = None
    task = study.load_task(model)
    for algos in ALGOS:
        label = "+".join(algos) or "none"
        print(f"{model}: {label}", file=sys.stderr, flush=True)
        runs = [(INTS, dict(amax_code="max"), "sqhw"), (INTS, dict(amax_code="min"),
                                                        "sqhw, amax to min"),
                (FLOATS, dict(percentile=100.0), "sqhw")]
        for formats, extra, column in runs:
            result = study.run(model, formats, algorithms=algos, calibration="percentile",
                               cache_dir=cache, **extra)
            fp32 = result["fp32"]
            for r in result["rows"]:
                scores[(r["format"], label, column)] = r.get("score")
        for fmt in INTS + FLOATS:
            scores[(fmt, label, "brevitas")] = brevitas_row(task, fmt, algos).get("score")
    rows = []
    for fmt in INTS + FLOATS:
        for algos in ALGOS:
            label = "+".join(algos) or "none"
            get = lambda col: scores.get((fmt, label, col))  # noqa: E731
            rows.append({"format": fmt, "algo": label, "sqhw": get("sqhw"),
                         "sqhw_amax_to_min": get("sqhw, amax to min") if fmt in INTS
                         else get("sqhw"), "brevitas": get("brevitas")})
    return {"model": model, "fp32": fp32, "rows": rows}


def markdown(result: dict) -> str:
    def pts(a, b):
        return None if a is None or b is None else f"{100 * (a - b):+.1f}"

    def score(x):
        return None if x is None else f"{x:.3f}"

    body = [[r["format"], r["algo"], score(r["sqhw"]), score(r["sqhw_amax_to_min"]),
             score(r["brevitas"]),
             pts(r["sqhw"], r["brevitas"]), pts(r["sqhw_amax_to_min"], r["brevitas"])]
            for r in result["rows"]]
    return markdown_table(["format", "algorithm", "sqhw (default grid)",
                           "sqhw (Brevitas's grid)", "Brevitas", "default - Brevitas (pts)",
                           "Brevitas's grid - Brevitas (pts)"], body)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist1d")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args()
    result = run(args.model)
    print(json.dumps(result, indent=1) if args.json else
          f"{result['model']}, FP32 {result['fp32']}\n\n{markdown(result)}")


if __name__ == "__main__":
    main()
