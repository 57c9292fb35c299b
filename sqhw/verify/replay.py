"""Vectors as records (JSON-ready rows for a failures file) and back, for a replay whose
expected outputs are recomputed from sqhw.ref; and the per-vector mismatch test."""

from __future__ import annotations

import numpy as np

from ..formats import parse
from .chain_vectors import chain_from
from .mac_vectors import dots
from .vector_set import Vectors, VectorError, kind
from .vectors import expected


def mismatches(vs: Vectors, got: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean per vector: any output differs from the expected one."""
    bad = np.zeros(vs.size, dtype=bool)
    for name, want in vs.expected.items():
        have = np.asarray(got[name]).ravel()
        if have.shape != want.shape:
            raise RuntimeError(f"{name}: {have.size} results for {want.size} vectors")
        bad |= np.array([int(g) != int(w) for g, w in zip(have, want)], dtype=bool) \
            if have.dtype == object or want.dtype == object else have != want
    return bad


def records(vs: Vectors, indices, got: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Vectors as JSON-ready dicts {index, inputs, want[, got]} (inputs as port values)."""
    out = []
    starts, lengths = dots(vs) if vs.kind in ("mac", "block") else (None, None)
    for i in indices:
        i = int(i)
        if starts is not None:
            s = slice(int(starts[i]), int(starts[i] + lengths[i]))
            ins = {"a": vs.inputs["a"][s].tolist(), "b": vs.inputs["b"][s].tolist()}
            ins.update({n: int(vs.inputs[n][i]) for n in ("sa", "sb") if n in vs.inputs})
        elif vs.kind == "chain":
            row, col = divmod(i, vs.inputs["x"].shape[1])
            ins = {"nm": vs.nm, "row": row, "col": col,
                   "w": vs.inputs["w"][row].tolist(), "x": vs.inputs["x"][:, col].tolist()}
        else:
            ins = {n: int(v[i]) for n, v in vs.inputs.items()}
        row = {"index": i, "inputs": ins, "want": {n: int(v[i]) for n, v in vs.expected.items()}}
        if got is not None:
            row["got"] = {n: int(np.asarray(v).ravel()[i]) for n, v in got.items()}
        out.append(row)
    return out


def from_records(manifest: dict, rows: list[dict], where: str = "records") -> Vectors:
    """The vectors of `records` output (a failures file) with their expected outputs
    recomputed from sqhw.ref: a replay never trusts a stored expectation."""
    k = kind(manifest)
    if not isinstance(rows, list) or not rows or not all(
            isinstance(r, dict) and isinstance(r.get("inputs"), dict) for r in rows):
        raise VectorError(f"{where}: expected a non-empty list of {{inputs: ...}} vectors")
    try:
        if k == "chain":
            vs = chain_from(rows)
        elif k in ("mac", "block"):
            a = [np.asarray(r["inputs"]["a"], dtype=np.int64) for r in rows]
            b = [np.asarray(r["inputs"]["b"], dtype=np.int64) for r in rows]
            last = np.concatenate([np.arange(x.size) == x.size - 1 for x in a]).astype(np.int64)
            inputs = {"a": np.concatenate(a), "b": np.concatenate(b), "last": last}
            if k == "block":
                inputs.update({n: np.array([r["inputs"][n] for r in rows], dtype=np.int64)
                               for n in ("sa", "sb")})
            vs = Vectors(k, inputs, {})
        else:
            names = list(rows[0]["inputs"])
            vs = Vectors(k, {n: np.array([r["inputs"][n] for r in rows], dtype=np.int64)
                             for n in names}, {})
        check_codes(manifest, vs, where)
        vs.mode, vs.expected = "replay", expected(manifest, vs)
    except (KeyError, TypeError, ValueError) as err:
        raise VectorError(f"{where}: not vectors of {manifest['top']} ({err})") from None
    vs.count = vs.size if k not in ("mac", "block") else int(vs.inputs["a"].size)
    return vs


def check_codes(manifest, vs, where) -> None:
    """Every input must fit its port (a replay file may have been edited by hand)."""
    widths = {port["name"]: port["width"] for port in manifest["ports"]}
    for name, values in vs.inputs.items():
        width = input_width(manifest, vs.kind, name, widths)
        if values.size and (values.min() < 0 or values.max() >= 1 << width):
            raise VectorError(f"{where}: input {name}: codes must lie in [0, 2**{width})")


def input_width(manifest, k, name, widths) -> int:
    if k in ("mul", "cvt"):
        return widths[name]
    if name == "last":
        return 1
    if k == "chain":
        return parse(manifest["parameters"]["w" if name == "w" else "x"]).bits
    payload = manifest["inputs"]["terms"]["payload"]
    return payload[name]["width"]
