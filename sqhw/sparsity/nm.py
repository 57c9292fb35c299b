"""N:M structured sparsity: in every group of m consecutive weights along the reduction
axis (the last axis of w, shape (M, K)), at most n are non-zero.

Packed layout (what the hardware reads): for w of shape (..., K) and G = ceil(K / m)
groups, `values` (..., G, n) holds the kept codes of each group in ascending index order
and `indices` (..., G, n) their positions inside the group (0 .. m-1, index_bits =
ceil(log2 m) bits each). A group with fewer than n non-zeros is filled with the format's
zero code at the lowest unused positions, so indices inside a group are distinct. In the
last group of a ragged K, kept values sit at positions < K mod m; only zero filler slots
may point past K (when that group has fewer than n positions), and they add nothing.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np


class Packed(NamedTuple):
    values: np.ndarray   # (..., G, n) codes of `fmt`
    indices: np.ndarray  # (..., G, n) uint8 positions inside each group
    k: int               # the dense length of the reduction axis
    nm: "NM"
    fmt: object


@dataclasses.dataclass(frozen=True)
class NM:
    """An N:M pattern. NM(2, 4).mask(w) keeps the 2 largest |w| of every 4 along the last axis.

    >>> import numpy as np
    >>> NM(2, 4).prune(np.array([[0.1, -3.0, 2.0, 0.5, 1.0, 0.0, 0.0, -1.0]])).tolist()
    [[0.0, -3.0, 2.0, 0.0, 1.0, 0.0, 0.0, -1.0]]
    """

    n: int
    m: int

    def __post_init__(self):
        for key in ("n", "m"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}: expected a positive integer, got {value!r}")
        if self.n > self.m:
            raise ValueError(f"N:M needs n <= m, got {self.n}:{self.m}")

    @classmethod
    def parse(cls, text: str) -> "NM":
        """NM from '2:4'."""
        try:
            n, m = (int(p) for p in str(text).split(":"))
        except ValueError:
            raise ValueError(f"N:M pattern: expected 'n:m' such as 2:4, got {text!r}") from None
        return cls(n, m)

    def __str__(self) -> str:
        return f"{self.n}:{self.m}"

    @property
    def index_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.m))) if self.m > 1 else 0

    @property
    def dense(self) -> bool:
        return self.n == self.m

    def groups(self, k: int) -> int:
        return -(-k // self.m)

    def _grouped(self, x: np.ndarray, fill) -> np.ndarray:
        k = x.shape[-1]
        pad = self.groups(k) * self.m - k
        if pad:
            x = np.concatenate([x, np.full(x.shape[:-1] + (pad,), fill, dtype=x.dtype)], -1)
        return x.reshape(x.shape[:-1] + (-1, self.m))

    def mask(self, w) -> np.ndarray:
        """Boolean mask keeping the n largest magnitudes per group (ties: lower index)."""
        w = _real(w, "w")
        if w.ndim == 0:
            raise ValueError("w: expected at least one axis")
        magnitude = self._grouped(np.abs(w), -1.0)  # padding never wins a slot
        order = np.argsort(-magnitude, axis=-1, kind="stable")
        keep = np.zeros(magnitude.shape, dtype=bool)
        np.put_along_axis(keep, order[..., :self.n], True, axis=-1)
        keep &= magnitude >= 0
        return keep.reshape(keep.shape[:-2] + (-1,))[..., :w.shape[-1]]

    def prune(self, w):
        """w with everything outside the mask set to zero (numpy in, numpy out)."""
        w = _real(w, "w")
        return np.where(self.mask(w), w, 0.0)

    def violations(self, nonzero: np.ndarray) -> np.ndarray:
        """Per group: how many non-zeros exceed n (0 where the pattern holds)."""
        counts = self._grouped(nonzero.astype(np.int64), 0).sum(axis=-1)
        return np.maximum(counts - self.n, 0)

    def check(self, nonzero: np.ndarray, name: str = "w") -> None:
        bad = self.violations(np.asarray(nonzero))
        if bad.any():
            where = np.argwhere(bad)[0]
            row, group = tuple(int(i) for i in where[:-1]), int(where[-1])
            raise ValueError(
                f"{name}: violates {self} sparsity: group {group} (positions "
                f"{group * self.m}..{group * self.m + self.m - 1}) of row {row or 0} has "
                f"{int(bad[tuple(where)]) + self.n} non-zeros; {int((bad > 0).sum())} groups "
                "violate the pattern (prune with NM.prune or NM.mask first)")

    def pack(self, codes, fmt, name: str = "w") -> Packed:
        """Pack codes of `fmt` (..., K) that follow the pattern (checked) into values/indices."""
        codes = np.asarray(codes)
        if codes.dtype.kind not in "iu" or codes.ndim == 0:
            raise TypeError(f"{name}: expected integer codes with a reduction axis, "
                            f"got {codes.dtype} of shape {codes.shape}")
        values = fmt.decode(codes)
        if np.isnan(values).any():
            raise ValueError(f"{name}: NaN codes cannot be packed")
        nonzero = values != 0
        self.check(nonzero, name)
        k = codes.shape[-1]
        zero = int(fmt.encode(np.zeros(1))[0])
        grouped_nz = self._grouped(nonzero, False)
        # rank kept positions first (ascending index), then unused positions (ascending)
        position = np.arange(self.m)
        in_range = position[None, :] + self.m * np.arange(self.groups(k))[:, None] < k
        key = np.where(grouped_nz, position, self.m + position)
        key = np.where(in_range, key, 2 * self.m + position)  # padding slots last
        slots = np.argsort(key, axis=-1, kind="stable")[..., :self.n]
        slots = np.sort(slots, axis=-1)
        grouped_codes = self._grouped(codes.astype(np.int64), zero)
        kept = np.take_along_axis(grouped_codes, slots, axis=-1)
        kept_nz = np.take_along_axis(grouped_nz, slots, axis=-1)
        kept = np.where(kept_nz, kept, zero)
        return Packed(kept.astype(codes.dtype), slots.astype(np.uint8), k, self, fmt)

    def unpack(self, packed: Packed) -> np.ndarray:
        """Dense codes (..., K) from a Packed: the format's zero code outside the kept slots."""
        zero = int(packed.fmt.encode(np.zeros(1))[0])
        shape = packed.values.shape[:-1] + (self.m,)
        dense = np.full(shape, zero, dtype=np.int64)
        np.put_along_axis(dense, packed.indices.astype(np.int64), packed.values.astype(np.int64),
                          axis=-1)
        dense = dense.reshape(dense.shape[:-2] + (-1,))[..., :packed.k]
        return dense.astype(packed.values.dtype)


def _real(w, name):
    if type(w).__module__.split(".")[0] == "torch":
        w = w.detach().cpu().numpy()
    w = np.asarray(w)
    if w.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real numbers, got dtype {w.dtype}")
    if w.dtype.kind == "f" and np.isnan(w).any():
        raise ValueError(f"{name}: contains NaN")
    return w.astype(np.float64, copy=False)
