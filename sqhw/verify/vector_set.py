"""The vector set of a design (`Vectors`), its kind, and helpers the per-kind modules share.

See sqhw.verify.vectors for what a vector is for each kind of design."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..formats import parse


class VectorError(ValueError):
    """A request that the design's inputs cannot satisfy (CLI exit status 2)."""


@dataclass


class Vectors:
    """Inputs and expected outputs of one design; see the module docstring.

    `ends` (mac, block): the index after each dot product's last term; `group`: dot products
    come in groups of this many with equal lengths (one per harness lane), 1 for a replay;
    `nm` (chain): the run-time pattern."""

    kind: str
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    mode: str = "random"
    count: int = 0
    group: int = 1
    nm: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of vectors (units of work that are compared: pairs, codes, dots, outputs)."""
        ins = self.inputs
        if self.kind in ("mac", "block"):
            return int(np.count_nonzero(ins["last"]))
        if self.kind == "chain":
            return int(ins["w"].shape[0] * ins["x"].shape[1])
        return int(next(iter(ins.values())).size)


def kind(manifest: dict) -> str:
    """mul, cvt, mac, block or chain (what picks the testbench and the vector shape)."""
    k = manifest.get("kind")
    if k == "mac":
        return "block" if "block_size" in manifest.get("parameters", {}) else "mac"
    if k == "dsp_chain":
        return "chain"
    if k in ("mul", "cvt"):
        return k
    raise VectorError(f"kind: sqhw verifies mul, cvt, mac and dsp_chain designs, got {k!r}")


def elements(p: dict):
    a, b = parse(p["a"]), parse(p["b"])
    return (a.element, b.element) if hasattr(a, "element") else (a, b)


def signed_values(values: np.ndarray, width: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    return np.where(values >= 1 << (width - 1), values - (1 << width), values)
