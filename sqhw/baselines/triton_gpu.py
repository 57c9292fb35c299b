"""The GPU baseline: the same exact arithmetic as Triton kernels on torch tensors.

Without a CUDA device the kernels run (slowly) in Triton's interpreter on the CPU (see
sqhw.baselines._triton): that is how they are tested there. Inputs are moved to the GPU
where there is one, and results stay on it. Coverage: encode for signed minifloats with a
zero and for Fixed formats (rne, rtz, rna, floor, ceil), block formats (one fused kernel
for minifloat elements: block amax, scale and elements), decode, int matmul and the N:M
packed matmul (sqhw.baselines.triton_matmul). Results equal sqhw.formats / sqhw.ref
exactly.

Float32 (and float16 / bfloat16) inputs to a minifloat are rounded on their own bits in
32-bit integers; everything else goes through float64 values and 64-bit integers, as the
reference does.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..formats import BlockEncoded, BlockScaled, Fixed, Minifloat
from ..formats.rounding import DETERMINISTIC_MODES, Rounding, check_mode
from ._triton import ON_GPU, device, tl, triton
from .triton_matmul import matmul, matmul_int8, nm_matmul, nm_matmul_2to4, prepare_2to4

__all__ = ["decode", "device", "encode", "matmul", "matmul_int8", "nm_matmul", "nm_matmul_2to4",
           "prepare_2to4"]

# the mode numbers of sqhw.formats.rounding.Rounding, as constants a compiled kernel may read
_RNE = tl.constexpr(int(Rounding.RNE))
_RTZ = tl.constexpr(int(Rounding.RTZ))
_RNA = tl.constexpr(int(Rounding.RNA))
_FLOOR = tl.constexpr(int(Rounding.FLOOR))
_CEIL = tl.constexpr(int(Rounding.CEIL))
BLOCK = 2048  # elements per program of the element kernels (scripts/triton_tune.py)
NUM_WARPS = 8
# (significand bits, exponent mask, exponent bias, largest useful shift) of the source bits
_FLOAT64_BITS = (52, 0x7FF, 1023, 62)
_FLOAT32_BITS = (23, 0xFF, 127, 30)


@triton.jit
def _minifloat_codes(v, man, emin, bias, max_mag, sign_bit, nan_code, special_code,
                     MODE: tl.constexpr, SATURATE: tl.constexpr, HAS_INF: tl.constexpr,
                     HAS_SPECIAL: tl.constexpr, KEEP_ZERO_SIGN: tl.constexpr,
                     WIDE: tl.constexpr, SRC_MAN: tl.constexpr, SRC_EXP_MASK: tl.constexpr,
                     SRC_BIAS: tl.constexpr, SHIFT_CAP: tl.constexpr):
    """Codes of v (float64 if WIDE, else float32) in a signed minifloat with a zero, by
    integer arithmetic on v's bits: exact for every input."""
    if WIDE:
        u = v.to(tl.int64, bitcast=True)
    else:
        u = v.to(tl.int32, bitcast=True)
    one = tl.full(u.shape, 1, u.dtype)
    negative = u < 0
    biased = (u >> SRC_MAN) & SRC_EXP_MASK
    fraction = u & ((1 << SRC_MAN) - 1)
    is_nan = (biased == SRC_EXP_MASK) & (fraction != 0)
    is_inf = (biased == SRC_EXP_MASK) & (fraction == 0)
    significand = tl.where(biased == 0, fraction, fraction | (1 << SRC_MAN))
    e = tl.where(biased == 0, 1 - SRC_BIAS, biased - SRC_BIAS)
    exponent = tl.maximum(e, emin)
    shift = tl.minimum(exponent - e + SRC_MAN - man, SHIFT_CAP)
    lower = significand >> shift
    rem = significand & ((one << shift) - 1)
    half = one << (shift - 1)
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
    sig = lower + up.to(u.dtype)
    carry = sig >> (man + 1)
    exponent = exponent + carry
    sig = sig >> carry
    normal = (sig >> man) != 0
    mag = tl.where(normal, ((exponent + bias) << man) | (sig - (one << man)), sig)
    return _finish_codes(mag, negative, is_nan, is_inf, max_mag, sign_bit, nan_code,
                         special_code, MODE, SATURATE, HAS_INF, HAS_SPECIAL, KEEP_ZERO_SIGN)


@triton.jit
def _finish_codes(mag, negative, is_nan, is_inf, max_mag, sign_bit, nan_code, special_code,
                  MODE: tl.constexpr, SATURATE: tl.constexpr, HAS_INF: tl.constexpr,
                  HAS_SPECIAL: tl.constexpr, KEEP_ZERO_SIGN: tl.constexpr):
    """Codes from rounded magnitude codes: overflow (clamped or special), sign, NaN."""
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
        special = tl.zeros(mag.shape, mag.dtype) + special_code
    code = tl.where(overflow & ~clamp, special, code)
    return tl.where(is_nan, nan_code, code), is_nan


@triton.jit
def _float32_codes(v, max_mag, sign_bit, nan_code, special_code, MODE: tl.constexpr,
                   SATURATE: tl.constexpr, HAS_INF: tl.constexpr, HAS_SPECIAL: tl.constexpr,
                   KEEP_ZERO_SIGN: tl.constexpr, MAN: tl.constexpr, EMIN: tl.constexpr,
                   BIAS: tl.constexpr):
    """_minifloat_codes for float32 v and a format whose normal range lies inside float32's
    (EMIN >= -126, MAN - EMIN <= 126), in fewer operations: a value in the format's normal range is rounded by
    adding an increment to its bits and shifting (the carry moves into the exponent); one
    below it is scaled by 2**(MAN - EMIN), exactly, to an integer count of the format's
    subnormal step, rounded in float32 arithmetic (exact: the value is below 2**MAN)."""
    u = v.to(tl.int32, bitcast=True)
    a = u & 0x7FFFFFFF
    negative = u < 0
    is_nan = a > 0x7F800000
    is_inf = a == 0x7F800000
    S: tl.constexpr = 23 - MAN
    if MODE == _RNE:
        inc = (1 << (S - 1)) - 1 + ((a >> S) & 1)
    elif MODE == _RNA:
        inc = tl.full(a.shape, 1 << (S - 1), tl.int32)
    elif MODE == _FLOOR:
        inc = tl.where(negative, (1 << S) - 1, 0)
    elif MODE == _CEIL:
        inc = tl.where(negative, 0, (1 << S) - 1)
    else:  # rtz
        inc = tl.zeros(a.shape, tl.int32)
    normal = ((a + inc) >> S) - ((127 - BIAS) << MAN)
    smallest_normal: tl.constexpr = (EMIN + 127) << 23
    # below the normals: < 2**MAN (larger values take smallest_normal: no float overflow)
    y = tl.minimum(a, smallest_normal).to(tl.float32, bitcast=True) * (2.0 ** (MAN - EMIN))
    if MODE == _RNE:
        r = y + 8388608.0  # adding 2**23 rounds to an integer, to nearest even
    else:
        whole = tl.floor(y)
        frac = y - whole  # exact
        if MODE == _RNA:
            up = frac >= 0.5
        elif MODE == _FLOOR:
            up = negative & (frac > 0.0)
        elif MODE == _CEIL:
            up = (~negative) & (frac > 0.0)
        else:
            up = frac < 0.0  # never
        r = whole + up.to(tl.float32) + 8388608.0
    subnormal = r.to(tl.int32, bitcast=True) - 0x4B000000  # the integer, from 2**23's bits
    mag = tl.where(a < smallest_normal, subnormal, normal)
    return _finish_codes(mag, negative, is_nan, is_inf, max_mag, sign_bit, nan_code,
                         special_code, MODE, SATURATE, HAS_INF, HAS_SPECIAL, KEEP_ZERO_SIGN)


@triton.jit
def _minifloat_kernel(x_ptr, div_ptr, out_ptr, flag_ptr, n, div_block, man, emin, bias,
                      max_mag, sign_bit, nan_code, special_code, MODE: tl.constexpr,
                      SATURATE: tl.constexpr, HAS_DIV: tl.constexpr, HAS_INF: tl.constexpr,
                      HAS_SPECIAL: tl.constexpr, KEEP_ZERO_SIGN: tl.constexpr,
                      REFUSE_NAN: tl.constexpr, WIDE: tl.constexpr, SRC_MAN: tl.constexpr,
                      SRC_EXP_MASK: tl.constexpr, SRC_BIAS: tl.constexpr,
                      SHIFT_CAP: tl.constexpr, FAST: tl.constexpr, F_MAN: tl.constexpr,
                      F_EMIN: tl.constexpr, F_BIAS: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    off = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    inside = off < n
    v = tl.load(x_ptr + off, mask=inside, other=0.0)
    if WIDE:
        v = v.to(tl.float64)
    else:
        v = v.to(tl.float32)
    if HAS_DIV:  # block formats: divide by the block's divisor (a zero divisor gives 0)
        d = tl.load(div_ptr + off // div_block, mask=inside, other=1.0)
        v = tl.where(d != 0.0, v / tl.where(d != 0.0, d, 1.0), 0.0)
    if FAST:  # float32 bits, the format's constants compiled in
        code, is_nan = _float32_codes(v, max_mag, sign_bit, nan_code, special_code, MODE,
                                      SATURATE, HAS_INF, HAS_SPECIAL, KEEP_ZERO_SIGN, F_MAN,
                                      F_EMIN, F_BIAS)
    else:
        code, is_nan = _minifloat_codes(v, man, emin, bias, max_mag, sign_bit, nan_code,
                                        special_code, MODE, SATURATE, HAS_INF, HAS_SPECIAL,
                                        KEEP_ZERO_SIGN, WIDE, SRC_MAN, SRC_EXP_MASK, SRC_BIAS,
                                        SHIFT_CAP)
    tl.store(out_ptr + off, code.to(out_ptr.dtype.element_ty), mask=inside)
    if REFUSE_NAN:  # the format has no NaN: flag it, the caller refuses the input
        if tl.max((is_nan & inside).to(tl.int32), axis=0) > 0:
            tl.atomic_max(flag_ptr, 1)


@triton.jit
def _fixed_kernel(x_ptr, div_ptr, out_ptr, n, div_block, scale, lo, hi, modulus,
                  MODE: tl.constexpr, SATURATE: tl.constexpr, HAS_DIV: tl.constexpr,
                  BLOCK_SIZE: tl.constexpr):
    off = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    inside = off < n
    v = tl.load(x_ptr + off, mask=inside, other=0.0).to(tl.float64)
    if HAS_DIV:
        d = tl.load(div_ptr + off // div_block, mask=inside, other=1.0)
        v = tl.where(d != 0.0, v / tl.where(d != 0.0, d, 1.0), 0.0)
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
    tl.store(out_ptr + off, code.to(tl.int64).to(out_ptr.dtype.element_ty), mask=inside)


def _code_dtype(fmt) -> torch.dtype:
    return torch.uint8 if fmt.bits <= 8 else torch.int32


def _source_bits(fmt, dtype: torch.dtype) -> tuple:
    """The source layout a minifloat encode rounds from: float32 bits (float32, float16 and
    bfloat16 inputs, widened exactly) where every intermediate fits 32-bit integers."""
    if dtype in (torch.float32, torch.float16, torch.bfloat16) and fmt.man_bits < 23 \
            and (fmt.bias + 130) << (fmt.man_bits + 1) < 1 << 31:
        return _FLOAT32_BITS
    return _FLOAT64_BITS


def _minifloat_args(fmt, rounding, saturate):
    """Positional and keyword arguments of _minifloat_codes for fmt."""
    special = fmt.inf_code if fmt.inf else (fmt.nan_code or 0)
    return ((fmt.man_bits, fmt.emin, fmt.bias, fmt.max_magnitude_code, 1 << (fmt.bits - 1),
             fmt.nan_code or 0, special),
            dict(MODE=int(Rounding.of(rounding)), SATURATE=bool(saturate), HAS_INF=fmt.inf,
                 HAS_SPECIAL=bool(fmt.inf or fmt.nan), KEEP_ZERO_SIGN=fmt.nan != "negzero"))


def _launch_encode(values: torch.Tensor, fmt, rounding, saturate, divisors=None, div_block=1):
    flat = values.reshape(-1).to(device()).contiguous()
    if divisors is not None:
        flat = flat.to(torch.float64)
        div = divisors.reshape(-1).to(device(), torch.float64).contiguous()
    else:
        div = flat
    n = flat.numel()
    grid = (triton.cdiv(max(n, 1), BLOCK),)
    out = torch.empty(n, dtype=_code_dtype(fmt), device=flat.device)
    if isinstance(fmt, Minifloat):
        bits = _source_bits(fmt, flat.dtype)
        if bits is _FLOAT64_BITS and flat.dtype != torch.float64:
            flat = flat.to(torch.float64)
        # a format with NaN needs no flag: any pointer will do
        flag = out if fmt.has_nan else torch.zeros(1, dtype=torch.int32, device=flat.device)
        args, kwargs = _minifloat_args(fmt, rounding, saturate)
        # the fast path scales values below the normals by 2**(man - emin), a float32 constant
        fast = bits is _FLOAT32_BITS and divisors is None and fmt.emin >= -126 \
            and fmt.man_bits - fmt.emin <= 126
        _minifloat_kernel[grid](flat, div, out, flag, n, div_block, *args, **kwargs,
                                HAS_DIV=divisors is not None, REFUSE_NAN=not fmt.has_nan,
                                WIDE=bits is _FLOAT64_BITS, SRC_MAN=bits[0],
                                SRC_EXP_MASK=bits[1], SRC_BIAS=bits[2], SHIFT_CAP=bits[3],
                                FAST=fast, F_MAN=fmt.man_bits if fast else 0,
                                F_EMIN=fmt.emin if fast else 0, F_BIAS=fmt.bias if fast else 0,
                                BLOCK_SIZE=BLOCK, num_warps=NUM_WARPS)
        if not fmt.has_nan and int(flag.item()):
            raise ValueError(f"x contains NaN but {fmt.name} has no NaN encoding")
    else:
        _fixed_kernel[grid](flat, div, out, n, div_block, float(2.0 ** fmt.frac_bits),
                            float(fmt.min_int), float(fmt.max_int), float(2.0 ** fmt.bits),
                            MODE=int(Rounding.of(rounding)), SATURATE=bool(saturate),
                            HAS_DIV=divisors is not None, BLOCK_SIZE=BLOCK)
    return out.reshape(values.shape)


def _check_element_format(fmt):
    if isinstance(fmt, Minifloat) and fmt.signed and fmt.has_zero:
        return
    if isinstance(fmt, Fixed) and fmt.bits <= 32:
        return
    raise ValueError(f"fmt: the Triton encode covers signed minifloats with a zero and Fixed "
                     f"formats of at most 32 bits, not {fmt.name}")


def encode(x: torch.Tensor, fmt, rounding: str = "rne", saturate: bool | None = None):
    """fmt.encode(x) as Triton kernels (codes as uint8, or int32 past 8 bits).

    >>> import torch
    >>> from sqhw.formats import parse
    >>> encode(torch.tensor([0.3, -448.0, 1e6]), parse("float8_e4m3fn"), saturate=True).tolist()
    [42, 254, 126]
    """
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
    if isinstance(fmt, Fixed):
        if not fmt.has_nan and torch.isnan(x).any():
            raise ValueError(f"x contains NaN but {fmt.name} has no NaN encoding")
        if torch.isinf(x).any() and not saturate:
            raise ValueError(f"x contains +-Inf: {fmt.name} can only represent them with "
                             "saturate=True")
    return _launch_encode(x, fmt, rounding, saturate)  # a minifloat flags NaN in the kernel


@triton.jit
def _block_kernel(x_ptr, elements_ptr, scales_ptr, flag_ptr, scale_table_ptr, nblocks,
                  elem_emax, amax_div, tensor_scale,
                  man, emin, bias, max_mag, sign_bit, nan_code, special_code,
                  s_man, s_emin, s_emax, s_bias, s_max_mag, s_sign_bit, s_nan_code, s_special,
                  MODE: tl.constexpr, SATURATE: tl.constexpr, HAS_INF: tl.constexpr,
                  HAS_SPECIAL: tl.constexpr, KEEP_ZERO_SIGN: tl.constexpr,
                  S_HAS_INF: tl.constexpr, S_HAS_SPECIAL: tl.constexpr,
                  S_KEEP_ZERO_SIGN: tl.constexpr, POW2: tl.constexpr, NARROW: tl.constexpr,
                  B: tl.constexpr, ROWS: tl.constexpr):
    """ROWS blocks of B elements: the block amax, its scale code and divisor (the rules of
    sqhw.formats.block, in float64), and the elements divided and rounded. NARROW (float32
    input, power-of-two scale): no division, the element format's exponent range moves by
    the scale's exponent instead, and the rounding runs on the float32 bits."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, B)
    inside = rows < nblocks
    x = tl.load(x_ptr + rows[:, None] * B + cols[None, :], mask=inside[:, None], other=0.0)
    amax = tl.max(tl.abs(x), axis=1).to(tl.float64)
    if tl.max(((amax != amax) | (amax > 1.7976931348623157e308)).to(tl.int32), axis=0) > 0:
        tl.atomic_max(flag_ptr, 1)  # NaN / Inf: refused by the caller
    if POW2:  # 2**(floor(log2(amax)) - emax_elem), clamped; a float64 subnormal is scaled up
        small = amax < 2.2250738585072014e-308
        bits = tl.where(small, amax * 18446744073709551616.0, amax).to(tl.int64, bitcast=True)
        e = ((bits >> 52) & 0x7FF) - 1023 - tl.where(small, 64, 0)
        exponent = tl.where(amax > 0.0, e - elem_emax, s_emin)
        exponent = tl.minimum(tl.maximum(exponent, s_emin), s_emax)
        divisor = ((exponent + 1023) << 52).to(tl.float64, bitcast=True)
        scale, _ = _minifloat_codes(divisor, s_man, s_emin, s_bias, s_max_mag, s_sign_bit,
                                    s_nan_code, s_special, _RNE, True, S_HAS_INF,
                                    S_HAS_SPECIAL, S_KEEP_ZERO_SIGN, True, 52, 0x7FF, 1023, 62)
    else:  # a minifloat scale of amax / (element max * tensor scale), rne, saturating
        scale, _ = _minifloat_codes(amax / amax_div, s_man, s_emin, s_bias, s_max_mag,
                                    s_sign_bit, s_nan_code, s_special, _RNE, True, S_HAS_INF,
                                    S_HAS_SPECIAL, S_KEEP_ZERO_SIGN, True, 52, 0x7FF, 1023, 62)
        divisor = tl.load(scale_table_ptr + scale, mask=inside, other=1.0) * tensor_scale
    if NARROW:  # x / 2**s in (man, emin, bias) is x in (man, emin + s, bias - s)
        s = exponent.to(tl.int32)[:, None]
        codes, _ = _minifloat_codes(x.to(tl.float32), man, emin + s, bias - s, max_mag,
                                    sign_bit, nan_code, special_code, MODE, SATURATE, HAS_INF,
                                    HAS_SPECIAL, KEEP_ZERO_SIGN, False, 23, 0xFF, 127, 30)
    else:
        v = x.to(tl.float64)
        safe = tl.where(divisor != 0.0, divisor, 1.0)
        q = tl.where(divisor[:, None] != 0.0, v / safe[:, None], 0.0)
        codes, _ = _minifloat_codes(q, man, emin, bias, max_mag, sign_bit, nan_code,
                                    special_code, MODE, SATURATE, HAS_INF, HAS_SPECIAL,
                                    KEEP_ZERO_SIGN, True, 52, 0x7FF, 1023, 62)
    tl.store(elements_ptr + rows[:, None] * B + cols[None, :],
             codes.to(elements_ptr.dtype.element_ty), mask=inside[:, None])
    tl.store(scales_ptr + rows, scale.to(scales_ptr.dtype.element_ty), mask=inside)


def _fused_block_ok(fmt: BlockScaled) -> bool:
    b = fmt.block_size
    return isinstance(fmt.element, Minifloat) and b & (b - 1) == 0 and b <= 1024 \
        and fmt.scale_format.bits <= 8


def _encode_block(x, fmt: BlockScaled, rounding, saturate) -> BlockEncoded:
    _check_element_format(fmt.element)
    fmt.check_shape(tuple(x.shape), can_pad=False)  # this encode does not pad
    if not _fused_block_ok(fmt):
        return _encode_block_host_scales(x, fmt, rounding, saturate)
    flat = x.reshape(-1).to(device()).contiguous()
    nblocks = flat.numel() // fmt.block_size
    refusal = (f"{fmt.name}: x contains NaN/Inf values; block scales are defined for finite "
               "inputs only")
    tensor_scale = 1.0
    if fmt.tensor_scale:  # the whole tensor's amax first (NVFP4)
        low, high = torch.aminmax(flat) if flat.numel() else (flat.new_zeros(()),) * 2
        tensor_amax = max(-float(low), float(high))
        if not math.isfinite(tensor_amax):
            raise ValueError(refusal)
        tensor_scale = fmt.scales(np.zeros(0), tensor_amax)[2]
    scale_fmt = fmt.scale_format
    elements = torch.empty(flat.numel(), dtype=_code_dtype(fmt.element), device=flat.device)
    scales = torch.empty(nblocks, dtype=_code_dtype(scale_fmt), device=flat.device)
    flag = torch.zeros(1, dtype=torch.int32, device=flat.device)
    table = torch.tensor(np.array(scale_fmt.table), device=flat.device)
    args, kwargs = _minifloat_args(fmt.element, rounding, saturate)
    s_args, s_kwargs = _minifloat_args(scale_fmt, "rne", True)
    s_man, s_emin, s_bias, s_max_mag, s_sign, s_nan, s_special = s_args
    rows = max(1, 256 // fmt.block_size) if ON_GPU else 4
    element = fmt.element
    narrow = fmt.power_of_two_scale and flat.dtype != torch.float64 and element.man_bits < 23 \
        and (element.bias + 256) << (element.man_bits + 1) < 1 << 31
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.to(torch.float32)  # float16 / bfloat16: widened exactly
    _block_kernel[(triton.cdiv(max(nblocks, 1), rows),)](
        flat, elements, scales, flag, table, nblocks, fmt.element_emax,
        fmt.element.max * tensor_scale, tensor_scale, *args,
        s_man, s_emin, scale_fmt.emax, s_bias, s_max_mag, s_sign if scale_fmt.signed else 0,
        s_nan, s_special, **kwargs, S_HAS_INF=s_kwargs["HAS_INF"],
        S_HAS_SPECIAL=s_kwargs["HAS_SPECIAL"], S_KEEP_ZERO_SIGN=s_kwargs["KEEP_ZERO_SIGN"],
        POW2=fmt.power_of_two_scale, NARROW=narrow, B=fmt.block_size, ROWS=rows)
    if int(flag.item()):
        raise ValueError(refusal)
    return BlockEncoded(elements.reshape(x.shape),
                        scales.reshape(x.shape[:-1] + (-1,)), tensor_scale)


def _encode_block_host_scales(x, fmt: BlockScaled, rounding, saturate) -> BlockEncoded:
    """Block formats the fused kernel does not take (Fixed elements, a block size that is not
    a power of two up to 1024): scales on the host (sqhw.formats), elements here."""
    blocks = torch.from_numpy(fmt._blocks(x.detach().cpu().double().numpy(), pad=False))
    amax = blocks.abs().amax(dim=-1)
    codes, divisors, tensor_scale = fmt.scales(amax.numpy(), float(amax.max()) if amax.numel()
                                               else 0.0)
    blocks = blocks.to(device())
    elements = _launch_encode(blocks, fmt.element, rounding, saturate,
                              torch.as_tensor(np.asarray(divisors), device=blocks.device),
                              fmt.block_size)
    shape = blocks.shape[:-2]
    return BlockEncoded(elements.reshape(shape + (-1,)),
                        torch.as_tensor(np.asarray(codes), device=blocks.device)
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
    flat = codes.reshape(-1).to(device(), torch.int64).contiguous()
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= 1 << fmt.bits):
        raise ValueError(f"codes: must lie in [0, {1 << fmt.bits}) for {fmt.name}")
    table = torch.tensor(np.array(fmt.table), device=flat.device)  # a writable copy
    out = torch.empty(flat.numel(), dtype=torch.float64, device=flat.device)
    _gather_kernel[(triton.cdiv(max(flat.numel(), 1), BLOCK),)](table, flat, out, flat.numel(),
                                                                 BLOCK_SIZE=BLOCK)
    return out.reshape(codes.shape)
