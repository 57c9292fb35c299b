"""Vectors of the N:M DSP chain: random N:M-pruned W @ x under a run-time pattern."""

from __future__ import annotations

import numpy as np

from .. import ref
from ..formats import parse
from ..sparsity import NM
from .vector_set import Vectors, VectorError

MAX_CHAIN_K = 4096  # a chain check streams K <= this (the design's max_k when smaller)


def chain_patterns(manifest: dict) -> list[str]:
    return list(manifest["parameters"]["runtime_patterns"])


def generate_chain(manifest, rng, count, nm) -> Vectors:
    p = manifest["parameters"]
    pattern = NM.parse(nm or p.get("nm") or chain_patterns(manifest)[-1])
    if str(pattern) not in chain_patterns(manifest):
        raise VectorError(f"--nm: {manifest['top']} runs {', '.join(chain_patterns(manifest))}"
                          f" (m = {p['m']}, chain {p['chain']}), got {pattern}")
    w_fmt, x_fmt = parse(p["w"]), parse(p["x"])
    k = min(p["max_k"], MAX_CHAIN_K)
    w = w_fmt.encode(pattern.prune(rng.standard_normal((count, k)) * 40), saturate=True)
    x = rng.choice(np.flatnonzero(np.isfinite(x_fmt.table)), (k, 1))
    vs = Vectors("chain", {"w": w.astype(np.int64), "x": x.astype(np.int64)}, {}, "random",
                 nm=str(pattern), notes=[f"random N:M-pruned W ({count} x {k}) @ x for each "
                                         "run-time pattern"])
    vs.expected = chain_expected(manifest, p, vs)
    vs.count = vs.size
    return vs


def chain_expected(manifest, p, vs):
    w_fmt, x_fmt = parse(p["w"]), parse(p["x"])
    acc = ref.sparse_matmul(NM.parse(vs.nm).pack(vs.inputs["w"], w_fmt), vs.inputs["x"], x_fmt)
    acc_field = manifest["outputs"]["result"]["payload"]["acc"]
    code = ref.requantize(acc, acc_field["frac_bits"], parse(p["out"]), rounding=p["rounding"],
                          saturate=p["saturate"])
    return {"acc": acc.ravel(), "code": np.asarray(code, dtype=np.int64).ravel()}


def chain_from(rows) -> Vectors:
    """A chain replay: the failing rows of W and columns of X (every pair of them is run)."""
    patterns = {r["inputs"]["nm"] for r in rows}
    if len(patterns) != 1:
        raise ValueError(f"one pattern per replay, got {sorted(patterns)}")
    w_rows = {r["inputs"]["row"]: r["inputs"]["w"] for r in rows}
    x_cols = {r["inputs"]["col"]: r["inputs"]["x"] for r in rows}
    w = np.array([w_rows[i] for i in sorted(w_rows)], dtype=np.int64)
    x = np.array([x_cols[j] for j in sorted(x_cols)], dtype=np.int64).T
    return Vectors("chain", {"w": w, "x": x}, {}, nm=patterns.pop())
