"""Exact integer matmuls as Triton kernels: w (M, K) @ x (K, N) on the exact integers of
codes (sqhw.ref.to_ints), dense and on packed N:M weights.

Where both operands' integers fit int8 and every partial sum fits int32 (sqhw.ref's
accumulator format has at most 32 bits) the product runs on the int8 tensor cores (tl.dot
into int32, exact); 2:4 weights are expanded to a dense tile in registers first. Other
formats take int64 kernels (an outer-product sum; a gather of x's rows for N:M).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .. import ref
from ._triton import autotune, device, tl, triton

__all__ = ["Packed2to4", "matmul", "matmul_int8", "nm_matmul", "nm_matmul_2to4",
           "prepare_2to4"]


@triton.jit
def _matmul_kernel(w_ptr, x_ptr, out_ptr, m, k, n, BM: tl.constexpr, BN: tl.constexpr,
                   BK: tl.constexpr):
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    cols = tl.program_id(1) * BN + tl.arange(0, BN)
    acc = tl.zeros((BM, BN), dtype=tl.int64)
    for start in range(0, k, BK):
        ks = start + tl.arange(0, BK)
        a = tl.load(w_ptr + rows[:, None] * k + ks[None, :],
                    mask=(rows[:, None] < m) & (ks[None, :] < k), other=0)
        b = tl.load(x_ptr + ks[:, None] * n + cols[None, :],
                    mask=(ks[:, None] < k) & (cols[None, :] < n), other=0)
        acc += tl.sum(a[:, :, None] * b[None, :, :], axis=1)
    tl.store(out_ptr + rows[:, None] * n + cols[None, :], acc,
             mask=(rows[:, None] < m) & (cols[None, :] < n))


@triton.jit
def _nm_matmul_kernel(v_ptr, c_ptr, x_ptr, out_ptr, m, slots, n, BM: tl.constexpr,
                      BN: tl.constexpr):
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    cols = tl.program_id(1) * BN + tl.arange(0, BN)
    acc = tl.zeros((BM, BN), dtype=tl.int64)
    for t in range(0, slots):
        value = tl.load(v_ptr + rows * slots + t, mask=rows < m, other=0)
        column = tl.load(c_ptr + rows * slots + t, mask=rows < m, other=0)
        xk = tl.load(x_ptr + column[:, None] * n + cols[None, :],
                     mask=(rows[:, None] < m) & (cols[None, :] < n), other=0)
        acc += value[:, None] * xk
    tl.store(out_ptr + rows[:, None] * n + cols[None, :], acc,
             mask=(rows[:, None] < m) & (cols[None, :] < n))


def _dot_configs():
    shapes = [(128, 256, 128, 8, 3), (256, 128, 128, 8, 3), (128, 128, 128, 8, 4),
              (128, 128, 64, 4, 4), (64, 128, 128, 4, 4), (128, 64, 128, 4, 4),
              (64, 64, 256, 4, 3), (64, 64, 128, 4, 4)]
    return [triton.Config({"BM": bm, "BN": bn, "BK": bk, "GROUP_M": 8}, num_warps=w,
                          num_stages=s) for bm, bn, bk, w, s in shapes]


_CPU_CONFIG = triton.Config({"BM": 32, "BN": 32, "BK": 32, "GROUP_M": 2}, num_warps=1,
                            num_stages=1)


@triton.jit
def _tile(m, n, BM: tl.constexpr, BN: tl.constexpr, GROUP_M: tl.constexpr):
    """This program's (row block, column block), GROUP_M row blocks at a time (L2 reuse)."""
    pid = tl.program_id(0)
    num_m = tl.cdiv(m, BM)
    per_group = GROUP_M * tl.cdiv(n, BN)
    first_m = (pid // per_group) * GROUP_M
    size_m = tl.minimum(num_m - first_m, GROUP_M)
    return first_m + (pid % per_group) % size_m, (pid % per_group) // size_m


@triton.jit
def _store_tile(out_ptr, acc, rows, cols, m, n, stride_om, stride_on):
    tl.store(out_ptr + rows[:, None] * stride_om + cols[None, :] * stride_on,
             acc.to(out_ptr.dtype.element_ty), mask=(rows[:, None] < m) & (cols[None, :] < n))


@autotune(_dot_configs(), _CPU_CONFIG, key=["m", "n", "k"])
@triton.jit
def _int8_dot_kernel(a_ptr, b_ptr, out_ptr, m, n, k, stride_am, stride_ak, stride_bk,
                     stride_bn, stride_om, stride_on, BM: tl.constexpr,
                     BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr):
    pid_m, pid_n = _tile(m, n, BM, BN, GROUP_M)
    rows = pid_m * BM + tl.arange(0, BM)
    cols = pid_n * BN + tl.arange(0, BN)
    safe_rows = rows % m  # wrapped into range: no M/N masks on the loads
    safe_cols = cols % n
    acc = tl.zeros((BM, BN), dtype=tl.int32)
    for start in range(0, k, BK):
        ks = start + tl.arange(0, BK)
        a = tl.load(a_ptr + safe_rows[:, None] * stride_am + ks[None, :] * stride_ak,
                    mask=ks[None, :] < k, other=0)
        b = tl.load(b_ptr + ks[:, None] * stride_bk + safe_cols[None, :] * stride_bn,
                    mask=ks[:, None] < k, other=0)
        acc = tl.dot(a, b, acc, out_dtype=tl.int32)
    _store_tile(out_ptr, acc, rows, cols, m, n, stride_om, stride_on)


@autotune(_dot_configs(), _CPU_CONFIG, key=["m", "n", "k"])
@triton.jit
def _int8_2to4_kernel(v_ptr, i_ptr, b_ptr, out_ptr, m, n, k, half_k, stride_bk, stride_bn,
                      stride_om, stride_on, BM: tl.constexpr,
                      BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr):
    """2:4 weights as (M, K/2) kept values and their positions 0..3 in each group of four:
    each (BM, BK) weight tile is rebuilt dense in registers, then one int8 tl.dot."""
    pid_m, pid_n = _tile(m, n, BM, BN, GROUP_M)
    rows = pid_m * BM + tl.arange(0, BM)
    cols = pid_n * BN + tl.arange(0, BN)
    safe_rows = rows % m
    safe_cols = cols % n
    acc = tl.zeros((BM, BN), dtype=tl.int32)
    for start in range(0, k, BK):
        kept = start // 2 + tl.arange(0, BK // 2)
        at = safe_rows[:, None] * half_k + kept[None, :]
        inside = kept[None, :] < half_k
        values = tl.reshape(tl.load(v_ptr + at, mask=inside, other=0), (BM, BK // 4, 2))
        where = tl.reshape(tl.load(i_ptr + at, mask=inside, other=0), (BM, BK // 4, 2))
        v0, v1 = tl.split(values)
        p0, p1 = tl.split(where)
        zero = tl.zeros_like(v0)
        d0 = tl.where(p0 == 0, v0, zero) + tl.where(p1 == 0, v1, zero)  # p0 != p1
        d1 = tl.where(p0 == 1, v0, zero) + tl.where(p1 == 1, v1, zero)
        d2 = tl.where(p0 == 2, v0, zero) + tl.where(p1 == 2, v1, zero)
        d3 = tl.where(p0 == 3, v0, zero) + tl.where(p1 == 3, v1, zero)
        # join adds the new axis last: (d0, d2) and (d1, d3) interleave to d0 d1 d2 d3
        a = tl.reshape(tl.join(tl.join(d0, d2), tl.join(d1, d3)), (BM, BK))
        ks = start + tl.arange(0, BK)
        b = tl.load(b_ptr + ks[:, None] * stride_bk + safe_cols[None, :] * stride_bn,
                    mask=ks[:, None] < k, other=0)
        acc = tl.dot(a, b, acc, out_dtype=tl.int32)
    _store_tile(out_ptr, acc, rows, cols, m, n, stride_om, stride_on)


def _grid(m, n):
    return lambda meta: (triton.cdiv(m, meta["BM"]) * triton.cdiv(n, meta["BN"]),)


def _check_int8(name, t, ndim=2):
    if not isinstance(t, torch.Tensor) or t.dtype != torch.int8 or t.ndim != ndim:
        raise TypeError(f"{name}: expected a {ndim}-D torch.int8 tensor, got "
                        f"{getattr(t, 'dtype', type(t).__name__)} of shape "
                        f"{tuple(getattr(t, 'shape', ()))}")


def _check_out_dtype(out_dtype):
    if out_dtype not in (torch.int32, torch.int64):
        raise ValueError(f"out_dtype: expected torch.int32 or torch.int64, got {out_dtype}")


def matmul_int8(a: torch.Tensor, b: torch.Tensor, out_dtype=torch.int32) -> torch.Tensor:
    """a (M, K) @ b (K, N) of int8 tensors (any strides), exact in int32 for K < 2**17, as
    torch._int_mm computes it."""
    _check_int8("a", a)
    _check_int8("b", b)
    _check_out_dtype(out_dtype)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul_int8: expected a (M, K) and b (K, N), got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    (m, k), n = a.shape, b.shape[1]
    if k >= 1 << 17:
        raise ValueError(f"matmul_int8: K={k} could overflow the int32 accumulator")
    a, b = a.to(device()), b.to(device())
    out = torch.empty((m, n), dtype=out_dtype, device=device())
    if m and n:
        _int8_dot_kernel[_grid(m, n)](a, b, out, m, n, k, a.stride(0), a.stride(1),
                                      b.stride(0), b.stride(1), out.stride(0), out.stride(1))
    return out


class Packed2to4(NamedTuple):
    """2:4 weights on the device: kept values (M, K/2) int8, their positions 0..3 in their
    group of four (M, K/2) uint8, and K."""

    values: torch.Tensor
    positions: torch.Tensor
    k: int


def _int8_path(w_fmt, x_fmt, k) -> bool:
    """Both operands' integers fit int8 and every partial sum fits int32."""
    fits = all(-128 <= lo and hi <= 127 for lo, hi in (ref.int_range(w_fmt),
                                                        ref.int_range(x_fmt)))
    return fits and ref.accumulator_format(w_fmt, x_fmt, max(k, 1)).bits <= 32


def prepare_2to4(packed) -> Packed2to4:
    """A 2:4 sqhw.sparsity Packed of a format whose integers fit int8, on the device."""
    values, indices, k, nm, w_fmt = packed
    if (nm.n, nm.m) != (2, 4):
        raise ValueError(f"prepare_2to4: expected 2:4 weights, got {nm.n}:{nm.m}")
    lo, hi = ref.int_range(w_fmt)
    if lo < -128 or hi > 127:
        raise ValueError(f"prepare_2to4: {w_fmt.name} integers do not fit int8")
    return _on_device_2to4(ref.to_ints(values, w_fmt, "packed.values"), indices, k)


def _on_device_2to4(w: np.ndarray, indices: np.ndarray, k: int) -> Packed2to4:
    """Packed2to4 of 2:4 weight integers that fit int8 and their in-group indices."""
    m = w.shape[0]
    return Packed2to4(torch.as_tensor(w.reshape(m, -1).astype(np.int8), device=device()),
                      torch.as_tensor(indices.reshape(m, -1).astype(np.uint8), device=device()),
                      int(k))


def nm_matmul_2to4(w: Packed2to4, b: torch.Tensor, out_dtype=torch.int32) -> torch.Tensor:
    """w @ b for prepared 2:4 int8 weights and an int8 b (K, N), exact."""
    _check_int8("b", b)
    _check_out_dtype(out_dtype)
    if b.shape[0] != w.k:
        raise ValueError(f"nm_matmul_2to4: expected b of {w.k} rows, got {tuple(b.shape)}")
    m, n, half_k = w.values.shape[0], b.shape[1], w.values.shape[1]
    b = b.to(device())
    out = torch.empty((m, n), dtype=out_dtype, device=device())
    if m and n:
        _int8_2to4_kernel[_grid(m, n)](w.values, w.positions, b, out, m, n, w.k, half_k,
                                       b.stride(0), b.stride(1), out.stride(0), out.stride(1))
    return out


def _ints(codes, fmt, name):
    return torch.as_tensor(ref.to_ints(np.asarray(codes.cpu() if isinstance(codes, torch.Tensor)
                                                  else codes), fmt, name).astype(np.int64),
                           device=device())


def matmul(w_codes, w_fmt, x_codes, x_fmt) -> torch.Tensor:
    """Exact w @ x (int64 tensor, units of 2**-ref.product_format(w_fmt, x_fmt).frac_bits)."""
    if w_codes.ndim != 2 or x_codes.ndim != 2 or w_codes.shape[1] != x_codes.shape[0]:
        raise ValueError(f"matmul: expected w (M, K) and x (K, N), got shapes "
                         f"{tuple(w_codes.shape)} and {tuple(x_codes.shape)}")
    k = w_codes.shape[1]
    acc = ref.accumulator_format(w_fmt, x_fmt, max(k, 1))
    if acc.bits > 63:
        raise ValueError(f"{w_fmt.name} x {x_fmt.name} over K={k} needs a {acc.bits}-bit "
                         "accumulator; the Triton path has int64")
    w, x = _ints(w_codes, w_fmt, "w_codes"), _ints(x_codes, x_fmt, "x_codes")
    if _int8_path(w_fmt, x_fmt, k):
        return matmul_int8(w.to(torch.int8), x.to(torch.int8), out_dtype=torch.int64)
    m, n = w.shape[0], x.shape[1]
    out = torch.empty((m, n), dtype=torch.int64, device=w.device)
    grid = (triton.cdiv(m, 16), triton.cdiv(n, 16))
    _matmul_kernel[grid](w, x, out, m, k, n, BM=16, BN=16, BK=16)
    return out


def nm_matmul(packed, x_codes, x_fmt) -> torch.Tensor:
    """Exact w @ x on packed N:M weights (sqhw.sparsity.NM.pack)."""
    values, indices, k, nm, w_fmt = packed
    if values.ndim != 3 or x_codes.ndim != 2 or x_codes.shape[0] != k:
        raise ValueError(f"nm_matmul: expected packed w of {k} columns and x of shape "
                         f"({k}, N), got values {values.shape} and x {tuple(x_codes.shape)}")
    w = ref.to_ints(values, w_fmt, "packed.values").astype(np.int64)
    columns = np.arange(values.shape[1])[:, None] * nm.m + indices.astype(np.int64)
    if ((columns >= k) & (w != 0)).any():
        raise ValueError(f"packed weights: a non-zero value's index points past K={k}")
    x = _ints(x_codes, x_fmt, "x_codes")
    if (nm.n, nm.m) == (2, 4) and _int8_path(w_fmt, x_fmt, k):
        return nm_matmul_2to4(_on_device_2to4(w, indices, k), x.to(torch.int8),
                              out_dtype=torch.int64)  # _int8_path: w fits int8
    columns = np.where(columns >= k, 0, columns)
    m = values.shape[0]
    v = torch.as_tensor(w.reshape(m, -1), device=device()).contiguous()
    c = torch.as_tensor(columns.reshape(m, -1), device=device()).contiguous()
    n = x.shape[1]
    out = torch.empty((m, n), dtype=torch.int64, device=x.device)
    grid = (triton.cdiv(m, 16), triton.cdiv(n, 16))
    _nm_matmul_kernel[grid](v, c, x, out, m, v.shape[1], n, BM=16, BN=16)
    return out
