"""The GPU baseline: the same exact arithmetic as Triton kernels on torch tensors.

Without a CUDA device this module sets TRITON_INTERPRET=1 before importing Triton, so the
kernels run (slowly) in Triton's interpreter on the CPU: that is how they are tested here.
Coverage: encode for signed minifloats with a zero and for Fixed formats (rne, rtz, rna,
floor, ceil), block formats through the same element kernel, decode, int matmul and the
N:M packed matmul. Results equal sqhw.formats / sqhw.ref exactly.
"""

from __future__ import annotations

import os

import numpy as np
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402  (after TRITON_INTERPRET is decided)
import triton.language as tl  # noqa: E402

from .. import ref  # noqa: E402
from ..formats import BlockEncoded, BlockScaled, Fixed, Minifloat  # noqa: E402
from ..formats.rounding import DETERMINISTIC_MODES, Rounding, check_mode  # noqa: E402

# the mode numbers of sqhw.formats.rounding.Rounding, as constants a compiled kernel may read
_RNE = tl.constexpr(int(Rounding.RNE))
_RTZ = tl.constexpr(int(Rounding.RTZ))
_RNA = tl.constexpr(int(Rounding.RNA))
_FLOOR = tl.constexpr(int(Rounding.FLOOR))
_CEIL = tl.constexpr(int(Rounding.CEIL))
BLOCK = 1024


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@triton.jit
def _load_scaled(x_ptr, div_ptr, n, div_block, HAS_DIV: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """This program's offsets, their in-range mask and the values, divided by their block's
    divisor for the block formats (a zero divisor gives 0)."""
    off = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    inside = off < n
    v = tl.load(x_ptr + off, mask=inside, other=0.0)
    if HAS_DIV:
        d = tl.load(div_ptr + off // div_block, mask=inside, other=1.0)
        v = tl.where(d != 0.0, v / tl.where(d != 0.0, d, 1.0), 0.0)
    return off, inside, v


@triton.jit
def _minifloat_kernel(x_ptr, div_ptr, out_ptr, n, div_block, man, emin, bias, max_mag,
                      sign_bit, nan_code, special_code, MODE: tl.constexpr,
                      SATURATE: tl.constexpr, HAS_DIV: tl.constexpr, HAS_INF: tl.constexpr,
                      HAS_SPECIAL: tl.constexpr, KEEP_ZERO_SIGN: tl.constexpr,
                      BLOCK_SIZE: tl.constexpr):
    off, inside, v = _load_scaled(x_ptr, div_ptr, n, div_block, HAS_DIV, BLOCK_SIZE)
    u = v.to(tl.int64, bitcast=True)
    negative = u < 0
    biased = (u >> 52) & 0x7FF
    fraction = u & 0xFFFFFFFFFFFFF
    is_nan = (biased == 0x7FF) & (fraction != 0)
    is_inf = (biased == 0x7FF) & (fraction == 0)
    significand = tl.where(biased == 0, fraction, fraction | (1 << 52))
    e = tl.where(biased == 0, -1022, biased - 1023)
    exponent = tl.maximum(e, emin)
    shift = tl.minimum(exponent - e + 52 - man, 62)
    lower = significand >> shift
    rem = significand & ((tl.full(off.shape, 1, tl.int64) << shift) - 1)
    half = tl.full(off.shape, 1, tl.int64) << (shift - 1)
    if MODE == _RNE:
        up = (rem > half) | ((rem == half) & ((lower & 1) == 1))
    elif MODE == _RNA:
        up = rem >= half
    elif MODE == _FLOOR:
        up = negative & (rem != 0)
    elif MODE == _CEIL:
        up = (~negative) & (rem != 0)
    else:  # rtz
        up = rem < 0  # never
    sig = lower + up.to(tl.int64)
    carry = sig >> (man + 1)
    exponent = exponent + carry
    sig = sig >> carry
    normal = (sig >> man) != 0
    mag = tl.where(normal, ((exponent + bias) << man) | (sig - (1 << man)), sig)
    if MODE == _RTZ:
        toward_zero = negative | (~negative)
    elif MODE == _FLOOR:
        toward_zero = ~negative
    elif MODE == _CEIL:
        toward_zero = negative
    else:
        toward_zero = negative & (~negative)
    overflow = (mag > max_mag) | is_inf
    clamp = toward_zero | SATURATE | (not HAS_SPECIAL)
    clamp = clamp & ~(is_inf & (not SATURATE) & HAS_SPECIAL)
    mag = tl.where(overflow, max_mag, mag)
    if KEEP_ZERO_SIGN:
        signed_bit = tl.where(negative, sign_bit, 0)
    else:
        signed_bit = tl.where(negative & (mag != 0), sign_bit, 0)
    code = mag | signed_bit
    if HAS_INF:
        special = special_code | tl.where(negative, sign_bit, 0)
    else:
        special = tl.full(off.shape, 0, tl.int64) + special_code
    code = tl.where(overflow & ~clamp, special, code)
    code = tl.where(is_nan, nan_code, code)
    tl.store(out_ptr + off, code.to(tl.int32), mask=inside)


@triton.jit
def _fixed_kernel(x_ptr, div_ptr, out_ptr, n, div_block, scale, lo, hi, modulus,
                  MODE: tl.constexpr, SATURATE: tl.constexpr, HAS_DIV: tl.constexpr,
                  BLOCK_SIZE: tl.constexpr):
    off, inside, v = _load_scaled(x_ptr, div_ptr, n, div_block, HAS_DIV, BLOCK_SIZE)
    y = v * scale  # scale is a power of two: exact
    y = tl.minimum(tl.maximum(y, -1.0e30), 1.0e30)  # +-Inf (saturating only): a huge integer
    # exact comparisons, as sqhw.formats.rounding.round_to_integer: y - floor(y) is inexact
    # for y in (-1, 0), floor(y) + 0.5 is exact wherever y is not an integer
    lower = tl.floor(y)
    inexact = y != lower
    half = lower + 0.5
    above = inexact & (y > half)
    tie = inexact & (y == half)
    if MODE == _RNE:
        odd = (lower - 2.0 * tl.floor(lower * 0.5)) != 0.0
        r = lower + (above | (tie & odd)).to(tl.float64)
    elif MODE == _RTZ:
        r = tl.where(y < 0.0, tl.ceil(y), lower)
    elif MODE == _RNA:
        r = lower + (above | (tie & (y > 0.0))).to(tl.float64)
    elif MODE == _FLOOR:
        r = lower
    else:  # ceil
        r = tl.ceil(y)
    if SATURATE:
        r = tl.minimum(tl.maximum(r, lo), hi)
    code = r - tl.floor(r / modulus) * modulus
    tl.store(out_ptr + off, code.to(tl.int64), mask=inside)


def _launch_encode(values: torch.Tensor, fmt, rounding, saturate, divisors=None, div_block=1):
    n = values.numel()
    flat = values.reshape(-1).to(torch.float64).contiguous()
    div = divisors.reshape(-1).to(torch.float64).contiguous() if divisors is not None else flat
    grid = (triton.cdiv(max(n, 1), BLOCK),)
    mode = int(Rounding.of(rounding))
    if isinstance(fmt, Minifloat):
        out = torch.empty(n, dtype=torch.int32, device=flat.device)
        special = fmt.inf_code if fmt.inf else (fmt.nan_code or 0)
        _minifloat_kernel[grid](flat, div, out, n, div_block, fmt.man_bits, fmt.emin, fmt.bias,
                                fmt.max_magnitude_code, 1 << (fmt.bits - 1), fmt.nan_code or 0,
                                special, MODE=mode, SATURATE=bool(saturate),
                                HAS_DIV=divisors is not None, HAS_INF=fmt.inf,
                                HAS_SPECIAL=bool(fmt.inf or fmt.nan),
                                KEEP_ZERO_SIGN=fmt.nan != "negzero", BLOCK_SIZE=BLOCK)
    else:
        out = torch.empty(n, dtype=torch.int64, device=flat.device)
        _fixed_kernel[grid](flat, div, out, n, div_block, float(2.0 ** fmt.frac_bits),
                            float(fmt.min_int), float(fmt.max_int), float(2.0 ** fmt.bits),
                            MODE=mode, SATURATE=bool(saturate), HAS_DIV=divisors is not None,
                            BLOCK_SIZE=BLOCK)
    dtype = torch.uint8 if fmt.bits <= 8 else torch.int32
    return out.to(dtype).reshape(values.shape)


def _check_element_format(fmt):
    if isinstance(fmt, Minifloat) and fmt.signed and fmt.has_zero:
        return
    if isinstance(fmt, Fixed) and fmt.bits <= 32:
        return
    raise ValueError(f"fmt: the Triton encode covers signed minifloats with a zero and Fixed "
                     f"formats of at most 32 bits, not {fmt.name}")


def encode(x: torch.Tensor, fmt, rounding: str = "rne", saturate: bool | None = None):
    """fmt.encode(x) as Triton kernels (codes as uint8, or int32 past 8 bits)."""
    check_mode(rounding)
    if rounding not in DETERMINISTIC_MODES:
        raise ValueError("rounding: stochastic rounding is not offered by the Triton path")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"x: expected a floating-point tensor, got {x.dtype}")
    if saturate is None:
        saturate = isinstance(fmt, BlockScaled)
    if isinstance(fmt, BlockScaled):
        return _encode_block(x, fmt, rounding, saturate)
    _check_element_format(fmt)
    if not fmt.has_nan and torch.isnan(x).any():
        raise ValueError(f"x contains NaN but {fmt.name} has no NaN encoding")
    if isinstance(fmt, Fixed) and torch.isinf(x).any() and not saturate:
        raise ValueError(f"x contains +-Inf: {fmt.name} can only represent them with "
                         "saturate=True")
    return _launch_encode(x, fmt, rounding, saturate)


def _encode_block(x, fmt: BlockScaled, rounding, saturate) -> BlockEncoded:
    _check_element_format(fmt.element)
    blocks = torch.from_numpy(fmt._blocks(x.detach().cpu().double().numpy(), pad=False))
    amax = blocks.abs().amax(dim=-1)
    codes, divisors, tensor_scale = fmt.scales(amax.numpy(), float(amax.max()) if amax.numel()
                                               else 0.0)
    blocks = blocks.to(device())
    elements = _launch_encode(blocks, fmt.element, rounding, saturate,
                              torch.as_tensor(np.asarray(divisors), device=blocks.device),
                              fmt.block_size)
    shape = blocks.shape[:-2]
    return BlockEncoded(elements.reshape(shape + (-1,)), torch.as_tensor(np.asarray(codes))
                        .reshape(shape + (-1,)), tensor_scale)


@triton.jit
def _gather_kernel(table_ptr, codes_ptr, out_ptr, n, BLOCK_SIZE: tl.constexpr):
    off = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    inside = off < n
    code = tl.load(codes_ptr + off, mask=inside, other=0)
    tl.store(out_ptr + off, tl.load(table_ptr + code, mask=inside), mask=inside)


def decode(codes: torch.Tensor, fmt) -> torch.Tensor:
    """fmt.decode(codes) (float64) by a gather kernel."""
    if isinstance(fmt, BlockScaled):
        elements = decode(torch.as_tensor(codes.elements), fmt.element)
        scales = decode(torch.as_tensor(codes.scales), fmt.scale_format) * codes.tensor_scale
        blocks = elements.reshape(elements.shape[:-1] + (-1, fmt.block_size))
        return (blocks * scales[..., None]).reshape(elements.shape)
    flat = codes.reshape(-1).to(torch.int64).contiguous()
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= 1 << fmt.bits):
        raise ValueError(f"codes: must lie in [0, {1 << fmt.bits}) for {fmt.name}")
    table = torch.tensor(np.array(fmt.table), device=flat.device)  # a writable copy
    out = torch.empty(flat.numel(), dtype=torch.float64, device=flat.device)
    _gather_kernel[(triton.cdiv(max(flat.numel(), 1), BLOCK),)](table, flat, out, flat.numel(),
                                                                 BLOCK_SIZE=BLOCK)
    return out.reshape(codes.shape)


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
    columns = np.where(columns >= k, 0, columns)
    m = values.shape[0]
    v = torch.as_tensor(w.reshape(m, -1), device=device()).contiguous()
    c = torch.as_tensor(columns.reshape(m, -1), device=device()).contiguous()
    x = _ints(x_codes, x_fmt, "x_codes")
    n = x.shape[1]
    out = torch.empty((m, n), dtype=torch.int64, device=x.device)
    grid = (triton.cdiv(m, 16), triton.cdiv(n, 16))
    _nm_matmul_kernel[grid](v, c, x, out, m, v.shape[1], n, BM=16, BN=16)
    return out
