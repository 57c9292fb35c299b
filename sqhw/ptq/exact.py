"""The exact engine's arithmetic: integer matmuls on BLAS where BLAS is provably exact.

A float32 GEMM of integers is exact while every partial sum stays within 2**24 in magnitude,
a float64 GEMM within 2**53: any summation order then adds integers that the format holds
exactly. With p = max|a| * max|b| over the operands, a chunk of k terms has partial sums of
at most k * p, so K is cut into chunks of floor(2**24 / p) (float32) or floor(2**53 / p)
(float64) terms and the chunk results are added in int64. Products wider than 53 bits fall
back to numpy's int64 matmul, and sums past 63 bits to Python ints (sqhw.ref's rule).

>>> import numpy as np
>>> a = np.array([[127, -128], [3, 4]]); b = np.array([[-128, 1], [127, 2]])
>>> int_matmul(a, b).tolist() == (a @ b).tolist()
True
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..ref import float_dtype, integer_table, to_float_ints, to_ints
from ..ref.block import Exact
from ..ref.exact import F32_EXACT, F64_EXACT
from .quantizer import QTensor


def _absmax(a: np.ndarray) -> int:
    return int(max(a.max(), -a.min())) if a.size else 0


def _as_int_array(a: np.ndarray, dtype) -> np.ndarray:
    """Integers (possibly held as exact floats, see blas_ints) as int64 or Python ints."""
    if dtype is object and a.dtype.kind == "f":
        a = a.astype(np.int64)
    return a.astype(dtype)


def gemm_plan(k: int, p: int) -> tuple[str, int]:
    """(dtype, chunk) of an exact GEMM of k terms whose products are at most p in magnitude."""
    if p == 0:
        return "float32", max(k, 1)
    if k * p >= 1 << 63:
        return "object", k
    if p <= F32_EXACT:
        return "float32", min(k, F32_EXACT // p)
    if p <= F64_EXACT:
        return "float64", min(k, F64_EXACT // p)
    return "int64", k


def int_matmul(a: np.ndarray, b: np.ndarray, as_float: bool = False) -> np.ndarray:
    """Exact a (M, K) @ b (K, N) for integer arrays: int64, or Python ints past 63 bits.
    a and b may hold their integers as floats (blas_ints), which skips a conversion.

    as_float: return float64 instead when every result is exact in it (one BLAS call whose
    sums stay exact: no int64 round trip)."""
    import torch

    a, b = np.asarray(a), np.asarray(b)
    k = a.shape[1]
    if a.dtype == object or b.dtype == object:
        return a.astype(object) @ b.astype(object)
    dtype, chunk = gemm_plan(k, _absmax(a) * _absmax(b))
    if as_float and dtype in ("float32", "float64") and chunk >= k:
        tdtype = torch.float32 if dtype == "float32" else torch.float64
        return (torch.from_numpy(a).to(tdtype) @ torch.from_numpy(b).to(tdtype)) \
            .to(torch.float64).numpy()
    if dtype in ("object", "int64"):
        kind = object if dtype == "object" else np.int64
        return _as_int_array(a, kind) @ _as_int_array(b, kind)
    tdtype = torch.float32 if dtype == "float32" else torch.float64
    ta, tb = torch.from_numpy(a).to(tdtype), torch.from_numpy(b).to(tdtype)
    total = None
    for start in range(0, max(k, 1), chunk):
        part = (ta[:, start:start + chunk] @ tb[start:start + chunk]).to(torch.int64)
        total = part if total is None else total + part
    return total.numpy()


def ints(q: QTensor) -> np.ndarray:
    """Exact integers of a QTensor's element codes (units of 2**-exact_fixed.frac_bits)."""
    return to_ints(q.codes, q.fmt)


def blas_ints(q: QTensor) -> np.ndarray:
    """ints(q) held as exact float32 / float64 where the format's integers fit (one table
    lookup, no int64 pass or conversion before the GEMM), int64 otherwise."""
    return to_float_ints(q.codes, q.fmt) if float_dtype(q.fmt) is not None else ints(q)


def frac_bits(fmt) -> int:
    return fmt.exact_fixed.frac_bits


def segments(k: int, *groups: int) -> list[tuple[int, int]]:
    """Runs of K along which every operand keeps one scale (the union of group boundaries)."""
    cuts = sorted({0, k, *(b for g in groups for b in range(g, k, g))})
    return list(zip(cuts[:-1], cuts[1:]))


def linear(x: QTensor, w: QTensor) -> np.ndarray:
    """y = x @ w.T (float64) for quantized activations x (N, K) and weights w (M, K).

    Each run of K that shares scales is an exact integer matmul (`int_matmul`); the scales
    are applied in float64 after it, as the requantizer's multiplier does in hardware. When
    both operands are block formats the sum over blocks is exact too (`block_linear`).
    """
    if x.block_fmt is not None and w.block_fmt is not None:
        return block_linear(x, w).to_float64()
    xi, wi = blas_ints(x), blas_ints(w)
    unit = 2.0 ** -(frac_bits(x.fmt) + frac_bits(w.fmt))
    out = None
    for start, stop in segments(x.k, x.group, w.group):
        part = np.asarray(int_matmul(xi[:, start:stop], wi[:, start:stop].T, as_float=True),
                          dtype=np.float64)
        part *= unit  # then * sx * sw, in place: the order QuantConv2d uses too
        part *= x.scale[:, start // x.group][:, None]
        part *= w.scale[:, start // w.group][None, :]
        if out is None:
            out = part
        else:
            out += part
    return out


class BlockExact(NamedTuple):
    """Exact values ints * 2**-frac_bits * tensor * 2**-tensor_frac_bits: the block sums
    exactly, and the product of the two FP32 tensor scales (NVFP4; 1 for MX) as an exact
    integer factor kept apart (it would widen every sum past 64 bits)."""

    ints: np.ndarray
    frac_bits: int
    tensor: int = 1
    tensor_frac_bits: int = 0

    def exact(self) -> Exact:
        """The same values as one sqhw.ref.Exact (Python ints)."""
        return Exact(np.asarray(self.ints, dtype=object) * self.tensor,
                     self.frac_bits + self.tensor_frac_bits)

    def to_float64(self) -> np.ndarray:
        """float64 of each value: the integer sum converted once (exact below 2**53), then
        multiplied by the float64 of the tensor-scale product."""
        n = self.ints
        if n.dtype == object:
            n = np.array([float(v) for v in np.ravel(n)]).reshape(n.shape)
        factor = math.ldexp(float(self.tensor), -self.tensor_frac_bits)
        return np.ldexp(n.astype(np.float64), -self.frac_bits) * factor


def _scale_ints(q: QTensor) -> tuple[np.ndarray, int]:
    """Block scales as exact (integers, frac bits): E8M0 as powers of two shifted to the
    tensor's smallest one (all-zero blocks, whose scale is irrelevant, left out of that
    range); E4M3 as its exact integers."""
    fmt = q.block_fmt
    codes = np.asarray(q.block.scales)
    if fmt.power_of_two_scale:
        values = fmt.scale_format.decode(codes)
        exponents = np.frexp(values)[1].astype(np.int64) - 1
        live = np.abs(grouped_ints(q)).max(axis=-1) > 0
        if not live.any():
            return np.zeros(codes.shape, dtype=np.int64), 0
        low, high = int(exponents[live].min()), int(exponents[live].max())
        exponents = np.where(live, exponents, low)
        span = high - low
        shifts = exponents - low
        dtype = np.int64 if span < 62 else object
        return np.left_shift(np.ones_like(shifts, dtype=dtype), shifts.astype(dtype)), -low
    return integer_table(fmt.scale_format)[codes], frac_bits(fmt.scale_format)


def grouped_ints(q: QTensor) -> np.ndarray:
    """(rows, blocks, block size) exact element integers, the last block padded with 0."""
    xi = ints(q)
    size = q.group
    pad = -xi.shape[1] % size
    if pad:
        xi = np.concatenate([xi, np.zeros((xi.shape[0], pad), dtype=xi.dtype)], axis=1)
    return xi.reshape(xi.shape[0], -1, size)


def _float_as_int(value: float) -> tuple[int, int]:
    mantissa, exponent = np.frexp(value)
    return int(mantissa * 2**53), 53 - int(exponent)


def block_linear(x: QTensor, w: QTensor) -> BlockExact:
    """Exact x @ w.T of two block-scaled operands (N, K) and (M, K), blocks along K: the
    value sqhw.ref.block_dot gives for every (n, m) pair, as exact integers."""
    if x.block_fmt.block_size != w.block_fmt.block_size:
        raise ValueError(f"block sizes differ: {x.block_fmt.name} and {w.block_fmt.name}")
    size = x.block_fmt.block_size
    xi, wi = ints(x), ints(w)
    sx, fx = _scale_ints(x)   # (N, B)
    sw, fw = _scale_ints(w)   # (M, B)
    blocks = sx.shape[1]
    accs = [int_matmul(xi[:, b * size:(b + 1) * size], wi[:, b * size:(b + 1) * size].T)
            for b in range(blocks)]
    widest = max((_absmax(a) for a in accs), default=0)
    bound = widest * _absmax(sx) * _absmax(sw) * max(blocks, 1)
    dtype = np.int64 if (bound < 1 << 62 and sx.dtype != object and sw.dtype != object) \
        else object
    total = np.zeros((xi.shape[0], wi.shape[0]), dtype=dtype)
    for b, acc in enumerate(accs):
        total += acc.astype(dtype) * sx[:, b:b + 1].astype(dtype) * sw[None, :, b].astype(dtype)
    frac = frac_bits(x.fmt) + frac_bits(w.fmt) + fx + fw
    tx, ftx = _float_as_int(x.block.tensor_scale)
    tw, ftw = _float_as_int(w.block.tensor_scale)
    return BlockExact(total, frac, tx * tw, ftx + ftw)
