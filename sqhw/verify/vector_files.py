"""Vector sets on disk: save / load as .npz (no pickle; values past 62 bits as text)."""

from __future__ import annotations

import numpy as np

from .vector_set import Vectors


def save(vs: Vectors, path, expected_too: bool = True) -> None:
    """vs as an .npz: in_<port>, want_<output> (decimal strings where a value passes 62
    bits, so no pickle is needed) and meta (JSON: kind, mode, count, group, nm, notes)."""
    import json

    arrays = {f"in_{n}": v for n, v in vs.inputs.items()}
    if expected_too:
        arrays.update({f"want_{n}": v.astype(str) if v.dtype == object else v
                       for n, v in vs.expected.items()})
    meta = {"kind": vs.kind, "mode": vs.mode, "count": vs.count, "group": vs.group,
            "nm": vs.nm, "notes": vs.notes}
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)


def load(path) -> Vectors:
    """The Vectors `save` wrote."""
    import json

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        inputs = {n[3:]: data[n] for n in data.files if n.startswith("in_")}
        want = {n[5:]: from_text(data[n]) for n in data.files if n.startswith("want_")}
    return Vectors(meta["kind"], inputs, want, meta["mode"], meta["count"], meta["group"],
                   meta["nm"], meta["notes"])


def from_text(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "U":
        return np.array([int(v) for v in values.ravel()], dtype=object).reshape(values.shape)
    return values
