"""design.yaml `from_ptq`: a design taken from one row of a PTQ study (`sqhw ptq -o DIR`).

    from_ptq:
      results: study/results.json   # relative to the design file
      format: int8                   # the row: its weight and activation format
      sparsity: "2:4"                # dense or n:m (dense runs as m:m of the design's M)
      model: digits                  # optional: checked against the study's model

The design's `weight` and `act` become the row's format, `nm` its pattern, `k` the longest
reduction of the model's quantized layers (results.json `layers`, recorded by `sqhw ptq`;
`rows` / `cols` those of the layer with the most MACs), and `sqhw build` computes the roofline
and cycles of every one of those layers. Keys the row decides
(weight, act, nm) may not be given beside it. Errors name the file, line and key.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["FROM_PTQ_KEYS", "resolve"]

FROM_PTQ_KEYS = ("results", "format", "sparsity", "model")
DECIDED = ("weight", "act", "nm")
DENSE_M = 4  # a dense row runs as 4:4 on the default chain's M (the chain is built for n:m)


def resolve(data: dict, lines: dict, shown: str, design_path: Path, error) -> dict:
    """data with from_ptq replaced by the keys it decides (weight, act, nm, k, rows / k /
    cols of the largest layer, layers, ptq); `error(message)` makes the exception."""
    spec = data.pop("from_ptq")
    at = lambda *key: f"{shown}:{lines.get(('from_ptq', *key), lines.get(('from_ptq',), 1))}"
    if not isinstance(spec, dict):
        raise error(f"{at()}: from_ptq: expected a mapping with {', '.join(FROM_PTQ_KEYS)}, "
                    f"got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(FROM_PTQ_KEYS))
    if unknown:
        raise error(f"{at(unknown[0])}: from_ptq.{unknown[0]}: unknown key (expected "
                    f"{', '.join(FROM_PTQ_KEYS)})")
    for key in ("results", "format", "sparsity"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise error(f"{at(key) if key in spec else at()}: from_ptq.{key}: expected a "
                        f"string, got {spec.get(key)!r}" + ("" if key in spec else " (missing)"))
    clash = [key for key in DECIDED if key in data]
    if clash:
        raise error(f"{shown}:{lines.get((clash[0],), 1)}: {clash[0]}: from_ptq decides it "
                    f"(the row's format and sparsity); remove one of the two")
    path = Path(spec["results"])
    if not path.is_absolute():
        path = design_path.parent / path
    if path.is_dir():
        path = path / "results.json"
    try:
        result = json.loads(path.read_text())
    except OSError:
        raise error(f"{at('results')}: from_ptq.results: {path}: no such PTQ results file "
                    "(sqhw ptq -o DIR writes DIR/results.json)") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise error(f"{at('results')}: from_ptq.results: {path}: not valid JSON "
                    f"({str(err)[:120]})") from None
    if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
        raise error(f"{at('results')}: from_ptq.results: {path}: not a sqhw ptq results file "
                    "(no rows)")
    if "model" in spec and spec["model"] != result.get("model"):
        raise error(f"{at('model')}: from_ptq.model: {path} is a study of "
                    f"{result.get('model')!r}, not {spec['model']!r}")
    layers = result.get("layers")
    if not layers:
        raise error(f"{at('results')}: from_ptq.results: {path} has no `layers` (written by "
                    "sqhw ptq since the report branch; run the study again)")
    from ..formats import parse

    try:
        fmt = parse(spec["format"]).name
    except ValueError as err:
        raise error(f"{at('format')}: from_ptq.format: {err}") from None
    sparsity = spec["sparsity"]
    row = next((r for r in result["rows"] if isinstance(r, dict) and r.get("engine") == "sqhw"
                and r.get("format") == fmt and r.get("sparsity") == sparsity), None)
    if row is None:
        have = sorted({f"{r.get('format')} {r.get('sparsity')}" for r in result["rows"]
                       if isinstance(r, dict) and r.get("engine") == "sqhw"})
        raise error(f"{at('format')}: from_ptq: {path} has no sqhw row {fmt} {sparsity} "
                    f"(it has: {', '.join(have)})")
    if row.get("score") is None:
        raise error(f"{at('format')}: from_ptq: the row {fmt} {sparsity} in {path} did not "
                    f"run ({row.get('error', row.get('status'))})")
    nm = f"{DENSE_M}:{DENSE_M}" if sparsity == "dense" else sparsity
    try:
        shapes = [{"name": str(l["name"]), "rows": int(l["rows"]), "k": int(l["k"]),
                   "cols": int(l["cols"])} for l in layers]
    except (KeyError, TypeError, ValueError):
        raise error(f"{at('results')}: from_ptq.results: {path}: layers: expected rows of "
                    "name, rows, k, cols") from None
    biggest = max(shapes, key=lambda l: l["rows"] * l["k"] * l["cols"])
    resolved = {"weight": fmt, "act": fmt, "nm": nm, "rows": biggest["rows"],
                "cols": biggest["cols"], "layers": tuple(shapes),
                "ptq": {"results": str(path), "model": result.get("model"), "format": fmt,
                        "sparsity": sparsity, "score": row["score"],
                        "metric": result.get("metric")}}
    k_need = max(l["k"] for l in shapes)
    if "k" in data:
        if isinstance(data["k"], int) and data["k"] < k_need:
            raise error(f"{shown}:{lines.get(('k',), 1)}: k: {data['k']} is shorter than the "
                        f"longest layer of {path} (K = {k_need})")
        resolved["k"] = data["k"]
    else:
        resolved["k"] = k_need
    return {**data, **resolved}
