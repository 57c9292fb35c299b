"""The CPU baseline: sqhw's exact arithmetic as multithreaded Numba kernels (prange).

Bit-identical to sqhw.formats (encode / decode) and sqhw.ref (matmul, sparse matmul);
only faster. Convention for matmuls: w (M, K) @ x (K, N) -> (M, N), N:M groups along K.

>>> import numpy as np
>>> from sqhw.formats import parse
>>> from sqhw.baselines import numba_cpu
>>> numba_cpu.encode(np.array([1.0, 500.0], dtype=np.float32), parse("float8_e4m3fn")).tolist()
[56, 127]
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import njit, prange

from .. import ref
from ..formats import BlockEncoded, BlockScaled, Fixed, Minifloat
from ..formats._arrays import code_dtype, refuse_inexact_integers
from ..formats.rounding import Rounding, check_mode

_NEGZERO = 1
_SMALLEST = float(np.finfo(np.float64).smallest_subnormal)


# -- scalar kernels (inlined into the parallel loops) -----------------------------------------
@njit(inline="always")
def _round(y, mode, u):
    """sqhw.formats.rounding.round_to_integer for one value, with the same exact comparisons."""
    # np.floor / np.ceil keep float64 (math.floor returns an int in Numba and overflows)
    lower = np.floor(y)
    if mode == Rounding.FLOOR:
        return lower
    if mode == Rounding.CEIL:
        return np.ceil(y)
    if mode == Rounding.RTZ:
        return np.trunc(y)
    if y == lower:
        return lower
    half = lower + 0.5  # exact: y is not an integer, so |y| < 2**52
    if mode == Rounding.RNE:
        odd = lower - 2.0 * np.floor(lower * 0.5) != 0.0
        up = y > half or (y == half and odd)
    elif mode == Rounding.RNA:
        up = y > half or (y == half and y > 0)
    elif lower == -1.0:  # stochastic: y + 1 is inexact here, u - 1 is not
        up = y > u - 1.0
    else:
        up = u < y - lower  # exact (Sterbenz)
    return lower + (1.0 if up else 0.0)


@njit(inline="always")
def _pack_one(negative, exponent, sig, is_zero, is_inf, is_nan, p, mode, saturate):
    """Rounded parts -> code: Minifloat.pack for one value (carry, subnormals, overflow)."""
    man, bias, max_mag = p[0], p[2], p[3]
    signed, has_zero, has_inf, has_nan = p[4] != 0, p[5] != 0, p[6] != 0, p[7] != 0
    nan_code, inf_code, policy, bits = p[8], p[9], p[10], p[11]
    if sig >= (1 << (man + 1)):
        exponent += 1
        sig >>= 1
    if not has_zero and sig < (1 << man):
        sig = 1 << man
    if sig >= (1 << man):
        exp_field = min(exponent + bias, 1 << 20)
        man_field = sig - (1 << man)
    else:
        exp_field = 0
        man_field = sig
    mag = (exp_field << man) | man_field
    missing = (not has_zero) and is_zero and not is_inf and not is_nan
    if not signed:
        missing = missing or (negative and not (is_zero and has_zero))
    overflow = (mag > max_mag or is_inf) and not missing
    toward_zero = (mode == Rounding.RTZ or (mode == Rounding.FLOOR and not negative)
                   or (mode == Rounding.CEIL and negative))
    has_special = has_inf or has_nan
    clamp = saturate or toward_zero or not has_special
    clamp = clamp and not (is_inf and not saturate and has_special)
    if overflow:
        mag = max_mag
    if missing:
        mag = 0
    sign_bit = 1 << (bits - 1)
    code = mag
    if signed and negative and (mag != 0 or policy != _NEGZERO):
        code |= sign_bit
    if overflow and not clamp:
        if has_inf:
            code = inf_code | (sign_bit if negative else 0)
        elif has_nan:
            code = nan_code
    if has_nan and not saturate and missing:
        code = nan_code
    if has_nan and is_nan:
        code = nan_code
    return code


@njit(inline="always")
def _minifloat_one(v, u, p, mode, saturate):
    """One float64 value -> one code; p = the format's parameters (see _minifloat_params)."""
    man, emin = p[0], p[1]
    is_nan = v != v
    is_inf = (not is_nan) and abs(v) == math.inf
    negative = (not is_nan) and math.copysign(1.0, v) < 0.0
    finite = 0.0 if (is_nan or is_inf) else v
    if finite == 0.0:
        exponent = max(-1, emin)
    else:
        exponent = max(math.frexp(finite)[1] - 1, emin)
    scaled = math.ldexp(finite, man - exponent)
    if scaled == 0.0 and finite != 0.0:  # below float64's range: keep its side of zero
        scaled = math.copysign(_SMALLEST, finite)
    sig = int(abs(_round(scaled, mode, u)))
    return _pack_one(negative, exponent, sig, finite == 0.0, is_inf, is_nan, p, mode, saturate)


@njit(inline="always")
def _minifloat_fast(v, man, emin, bias, max_mag, sign_shift, keep_zero_sign, p, mode,
                    saturate):
    """_minifloat_one for a deterministic mode, via integer rounding of the float64
    significand (no libm calls; scalar parameters keep the loop tight). Zero, subnormal,
    Inf and NaN inputs and overflowing results take _minifloat_one."""
    u = np.float64(v).view(np.int64)
    negative = (u >> 63) & 1
    biased = (u >> 52) & 0x7FF
    e = biased - 1023
    significand = (u & 0xFFFFFFFFFFFFF) | 0x10000000000000
    exponent = max(e, emin)
    shift = min(exponent - e + 52 - man, 60)  # > 0: man <= 15 here
    lower = significand >> shift
    rem = significand & ((np.int64(1) << shift) - 1)
    half = np.int64(1) << (shift - 1)
    if mode == Rounding.RNE:
        up = (rem > half) | ((rem == half) & ((lower & 1) == 1))
    elif mode == Rounding.RNA:
        up = rem >= half
    elif mode == Rounding.FLOOR:
        up = (negative == 1) & (rem != 0)
    elif mode == Rounding.CEIL:
        up = (negative == 0) & (rem != 0)
    else:  # rtz (stochastic never takes this path)
        up = False
    sig = lower + up
    carry = sig >> (man + 1)
    exponent += carry
    sig >>= carry
    normal = sig >> man
    mag = normal * (((exponent + bias) << man) | (sig - (1 << man))) + (1 - normal) * sig
    if biased == 0 or biased == 0x7FF or mag > max_mag:
        return _minifloat_one(np.float64(v), 0.0, p, mode, saturate)
    if mag == 0 and keep_zero_sign == 0:
        return 0
    return mag | (negative << sign_shift)


@njit(inline="always")
def _unpack_fast(q):
    if q.size == 0:
        return 0, 0, 0, 0, 0, 0
    return q[0], q[1], q[2], q[3], q[4], q[5]


@njit(inline="always")
def _fixed_one(v, u, frac_bits, lo, hi, bits, mode, saturate):
    if abs(v) == math.inf:
        r = float(hi) if v > 0 else float(lo)
    else:
        r = _round(math.ldexp(v, frac_bits), mode, u)
    if saturate:
        r = min(max(r, float(lo)), float(hi))
    modulus = 2.0 ** bits
    return int(r - np.floor(r / modulus) * modulus)


# -- parallel kernels -----------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _encode_minifloat(x, u, p, q, mode, saturate, out):
    # u holds one uniform per value for stochastic rounding, a single 0 otherwise;
    # q is None-like (size 0) where the integer fast path does not apply
    stochastic = mode == Rounding.STOCHASTIC
    fast = q.size > 0 and not stochastic
    man, emin, bias, max_mag, sign_shift, keep = _unpack_fast(q)
    for i in prange(x.size):
        if fast:
            out[i] = _minifloat_fast(x[i], man, emin, bias, max_mag, sign_shift, keep, p, mode,
                                     saturate)
        else:
            out[i] = _minifloat_one(np.float64(x[i]), u[i] if stochastic else 0.0, p, mode,
                                    saturate)


@njit(parallel=True, cache=True)
def _encode_f32_table(bits, table, out):
    # a float32's code depends only on its top 16 bits and whether any lower bit is set,
    # as long as the rounding point lies in the top 16 bits (see _f32_table)
    for i in prange(bits.size):
        b = bits[i]
        out[i] = table[((b >> 16) << 1) | ((b & 0xFFFF) != 0)]


@njit(parallel=True, cache=True)
def _encode_fixed(x, u, frac_bits, lo, hi, bits, mode, saturate, out):
    stochastic = mode == Rounding.STOCHASTIC
    for i in prange(x.size):
        out[i] = _fixed_one(np.float64(x[i]), u[i] if stochastic else 0.0, frac_bits, lo, hi,
                            bits, mode, saturate)


@njit(parallel=True, cache=True)
def _block_amax(x, size, out):
    rows, blocks = out.shape
    for r in prange(rows):
        for b in range(blocks):
            top = 0.0
            for j in range(b * size, (b + 1) * size):
                top = max(top, abs(x[r, j]))
            out[r, b] = top


@njit(parallel=True, cache=True)
def _encode_blocks(x, divisors, size, u, p, q, fixed, table, mode, saturate, out):
    # elements x / divisor of their block; fixed = (frac_bits, lo, hi, bits) for a Fixed
    # element format, empty for a Minifloat (p, q: its parameters); table: _f32_table of the
    # element format (or empty), read for every quotient that is exactly a float32 (with a
    # power-of-two MX scale, all but those pushed below float32's range)
    rows, k = x.shape
    stochastic = mode == Rounding.STOCHASTIC
    fast = q.size > 0 and not stochastic
    man, emin, bias, max_mag, sign_shift, keep = _unpack_fast(q)
    is_fixed = fixed.size > 0
    frac_bits, lo, hi, bits = (fixed[0], fixed[1], fixed[2], fixed[3]) if is_fixed \
        else (0, 0, 0, 0)
    for r in prange(rows):
        for b in range(k // size):  # block by block: no division to find the divisor
            d = divisors[r, b]
            for j in range(b * size, (b + 1) * size):
                v = np.float64(x[r, j]) / d if d != 0.0 else 0.0
                w = u[r, j] if stochastic else 0.0
                if table.size:
                    f = np.float32(v)
                    if np.float64(f) == v:
                        b = np.int64(f.view(np.uint32))
                        out[r, j] = table[((b >> 16) << 1) | ((b & 0xFFFF) != 0)]
                        continue
                if is_fixed:
                    out[r, j] = _fixed_one(v, w, frac_bits, lo, hi, bits, mode, saturate)
                elif fast:
                    out[r, j] = _minifloat_fast(v, man, emin, bias, max_mag, sign_shift, keep,
                                                p, mode, saturate)
                else:
                    out[r, j] = _minifloat_one(v, w, p, mode, saturate)


@njit(parallel=True, cache=True)
def _gather(table, codes, out):
    for i in prange(codes.size):
        out[i] = table[codes[i]]


# Cache blocking of the matmuls: a block of _ROWS rows of w runs over _INNER-long pieces of
# K and _COLS-wide pieces of x's rows, so the piece of x (at most 256 x 256 narrow integers)
# stays in L1/L2 while every row of the block reuses it.
_ROWS, _INNER, _COLS = 16, 256, 256


@njit(parallel=True, cache=True)
def _matmul(w, x, out):
    rows, inner = w.shape
    cols = x.shape[1]
    for block in prange((rows + _ROWS - 1) // _ROWS):
        r0, r1 = block * _ROWS, min((block + 1) * _ROWS, rows)
        for j0 in range(0, cols, _COLS):
            j1 = min(j0 + _COLS, cols)
            for k0 in range(0, inner, _INNER):
                k1 = min(k0 + _INNER, inner)
                for i in range(r0, r1):
                    acc = out[i, j0:j1]
                    for k in range(k0, k1):
                        a = w[i, k]
                        xk = x[k, j0:j1]
                        for j in range(acc.size):
                            acc[j] += a * xk[j]


@njit(parallel=True, cache=True)
def _nm_matmul(values, indices, n, m, inner, x, out, per_piece):
    # slot t of a row is group t // n, column (t // n) * m + its index; per_piece slots of a
    # row cover _INNER values of K (slots are in K order). Returns how many non-zero values
    # point past K (the caller refuses them).
    rows, slots = values.shape
    cols = x.shape[1]
    past = 0
    for block in prange((rows + _ROWS - 1) // _ROWS):
        r0, r1 = block * _ROWS, min((block + 1) * _ROWS, rows)
        for j0 in range(0, cols, _COLS):
            j1 = min(j0 + _COLS, cols)
            for t0 in range(0, slots, per_piece):
                t1 = min(t0 + per_piece, slots)
                for i in range(r0, r1):
                    acc = out[i, j0:j1]
                    first, slot = (t0 // n) * m, t0 % n  # no division per slot
                    for t in range(t0, t1):
                        a = values[i, t]
                        column = first + indices[i, t]
                        slot += 1
                        if slot == n:
                            first, slot = first + m, 0
                        if column >= inner:
                            past += a != 0
                        elif a != 0:
                            xk = x[column, j0:j1]
                            for j in range(acc.size):
                                acc[j] += a * xk[j]
    return past


@njit(parallel=True, cache=True)
def _codes_to_ints(codes, table, finite, out):
    # exact integers of codes by table; returns how many codes are out of range or NaN/Inf
    bad = 0
    for i in prange(codes.size):
        c = codes[i]
        ok = c >= 0 and c < table.size
        c = c if ok else 0
        out[i] = table[c]
        bad += (not ok) or (not finite[c])
    return bad


# -- the public functions -------------------------------------------------------------------
def _fast_params(fmt: Minifloat) -> np.ndarray:
    """Parameters of the integer fast path, or an empty array where it does not apply
    (unsigned formats and formats without zero take the general kernel)."""
    if not (fmt.signed and fmt.has_zero):
        return np.zeros(0, dtype=np.int64)
    return np.array([fmt.man_bits, fmt.emin, fmt.bias, fmt.max_magnitude_code, fmt.bits - 1,
                     int(fmt.nan != "negzero")], dtype=np.int64)


F32_TABLE_MAX_MAN = 6


@functools.lru_cache(maxsize=64)  # equal formats (names aside) have equal fields: one entry
def _f32_table(fmt: Minifloat, rounding: str, saturate: bool) -> np.ndarray:
    """Codes of float32 inputs by table, built from fmt.encode itself (so identical to it):
    entry 2*h + s is the code of every float32 whose top 16 bits are h and whose low 16 bits
    are zero (s = 0) or not (s = 1). Exact for a deterministic mode when the format keeps at
    most 6 mantissa bits: the kept bits and the round bit then lie in the top 16 bits (sign,
    exponent, 7 mantissa bits) and the low 16 bits only act as a sticky bit."""
    high = np.arange(1 << 16, dtype=np.uint32) << 16
    reps = np.stack([high, high | 1], axis=1).ravel().view(np.float32)
    if not fmt.has_nan:  # NaN inputs are refused before the table is read
        reps = np.where(np.isnan(reps), np.float32(0), reps)
    return np.ascontiguousarray(fmt.encode(reps, rounding=rounding, saturate=saturate))


def _minifloat_params(fmt: Minifloat) -> np.ndarray:
    return np.array([fmt.man_bits, fmt.emin, fmt.bias, fmt.max_magnitude_code, int(fmt.signed),
                     int(fmt.has_zero), int(fmt.inf), int(fmt.has_nan), fmt.nan_code or 0,
                     fmt.inf_code or 0, _NEGZERO if fmt.nan == "negzero" else 0, fmt.bits],
                    dtype=np.int64)


def _as_array(x, name: str) -> np.ndarray:
    if type(x).__module__.split(".")[0] == "torch":
        raise TypeError(f"{name}: the Numba path takes numpy arrays; use .numpy() or "
                        "sqhw.baselines.triton_gpu for tensors")
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real-valued numpy array, got dtype {arr.dtype}")
    return arr


def _uniforms(shape, rounding: str, seed) -> np.ndarray:
    # the same draws as sqhw.formats.rounding.round_to_integer, so stochastic stays identical
    if rounding == "stochastic":
        return np.random.default_rng(seed).random(shape)
    return np.zeros(1)


def encode(x, fmt, rounding: str = "rne", saturate: bool | None = None, seed: int | None = 0,
           pad: bool = False):
    """fmt.encode(x, ...) computed by Numba kernels; block formats return BlockEncoded.

    saturate defaults as in fmt.encode: False for element formats, True for block formats."""
    check_mode(rounding)
    if saturate is None:
        saturate = isinstance(fmt, BlockScaled)
    arr = _as_array(x, "x")
    refuse_inexact_integers(arr, "x")
    if arr.dtype not in (np.float32, np.float64):  # float32 stays float32: no widened copy
        arr = arr.astype(np.float64)
    mode = int(Rounding.of(rounding))
    if isinstance(fmt, BlockScaled):
        return _encode_block(arr, fmt, rounding, saturate, seed, pad)
    if not isinstance(fmt, (Minifloat, Fixed)):
        raise TypeError(f"fmt: expected a Fixed, Minifloat or BlockScaled format, got {fmt!r}")
    if fmt.bits > 32:
        raise ValueError(f"fmt: {fmt.name} has {fmt.bits}-bit codes; at most 32 here")
    fmt._refuse_nan(arr)
    flat = np.ascontiguousarray(arr).ravel()
    u = _uniforms(arr.shape, rounding, seed).ravel()
    out = np.empty(flat.size, dtype=code_dtype(fmt.bits))
    if (isinstance(fmt, Minifloat) and fmt.man_bits <= F32_TABLE_MAX_MAN
            and flat.dtype == np.float32 and rounding != "stochastic"):
        _encode_f32_table(flat.view(np.uint32), _f32_table(fmt, rounding, bool(saturate)), out)
    elif isinstance(fmt, Minifloat):
        _encode_minifloat(flat, u, _minifloat_params(fmt), _fast_params(fmt), mode,
                          bool(saturate), out)
    else:
        if np.isinf(flat).any() and not saturate:
            raise ValueError(f"x contains +-Inf: {fmt.name} can only represent them with "
                             "saturate=True")
        _encode_fixed(flat, u, fmt.frac_bits, fmt.min_int, fmt.max_int, fmt.bits, mode,
                      bool(saturate), out)
    return out.reshape(arr.shape)


def _encode_block(arr, fmt: BlockScaled, rounding, saturate, seed, pad) -> BlockEncoded:
    # float32 stays float32 (the kernels widen each value exactly): no widened copy
    blocks = fmt._blocks(arr, pad)  # shape checks, padding and the NaN/Inf refusal
    rows = int(np.prod(blocks.shape[:-2], dtype=np.int64))
    flat = np.ascontiguousarray(blocks.reshape(rows, -1))
    size = fmt.block_size
    amax = np.empty((rows, flat.shape[1] // size))
    _block_amax(flat, size, amax)
    codes, divisors, tensor_scale = fmt.scales(amax, float(amax.max()) if amax.size else 0.0)
    u = _uniforms(blocks.shape, rounding, seed).reshape(flat.shape if rounding == "stochastic"
                                                        else (1, 1))
    el, mode = fmt.element, int(Rounding.of(rounding))
    out = np.empty(flat.shape, dtype=code_dtype(el.bits))
    none = np.zeros(0, dtype=np.int64)
    table = np.zeros(0, dtype=out.dtype)
    if isinstance(el, Minifloat):
        params, fast, fixed = _minifloat_params(el), _fast_params(el), none
        if el.man_bits <= F32_TABLE_MAX_MAN and rounding != "stochastic":
            table = _f32_table(el, rounding, bool(saturate))
    else:
        params, fast = none, none
        fixed = np.array([el.frac_bits, el.min_int, el.max_int, el.bits], dtype=np.int64)
    _encode_blocks(flat, np.ascontiguousarray(divisors), size, u, params, fast, fixed, table,
                   mode, bool(saturate), out)
    shape = blocks.shape[:-2]
    return BlockEncoded(out.reshape(shape + (-1,)),
                        np.asarray(codes).reshape(shape + (-1,)), tensor_scale)


def decode(codes, fmt):
    """fmt.decode(codes) (float64) by a parallel table gather; BlockEncoded for block formats."""
    if isinstance(fmt, BlockScaled):
        return _decode_block(codes, fmt)
    arr = _as_array(codes, "codes")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"codes: expected integer codes, got dtype {arr.dtype}")
    flat = np.ascontiguousarray(arr).ravel().astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= 1 << fmt.bits):
        raise ValueError(f"codes: must lie in [0, {1 << fmt.bits}) for {fmt.name}")
    out = np.empty(flat.size)
    _gather(np.ascontiguousarray(fmt.table), flat, out)
    return out.reshape(arr.shape)


def _decode_block(encoded: BlockEncoded, fmt: BlockScaled) -> np.ndarray:
    elements = decode(np.asarray(encoded.elements), fmt.element)
    scales = decode(np.asarray(encoded.scales), fmt.scale_format) * encoded.tensor_scale
    blocks = elements.reshape(elements.shape[:-1] + (-1, fmt.block_size))
    return (blocks * scales[..., None]).reshape(elements.shape)


def _ints(codes: np.ndarray, fmt, dtype, arg: str) -> np.ndarray:
    """ref.to_ints(codes, fmt) as `dtype`, in one parallel pass; errors come from ref."""
    if codes.dtype.kind not in "iu":
        ref.to_ints(codes, fmt, arg)  # raises its TypeError
    table = ref.integer_table(fmt)
    finite = np.isfinite(fmt.table)
    flat = np.ascontiguousarray(codes).ravel()
    out = np.empty(flat.size, dtype=dtype)
    if _codes_to_ints(flat, np.ascontiguousarray(table.astype(dtype)), finite, out):
        ref.to_ints(codes, fmt, arg)  # raises with the count and the reason
    return out.reshape(codes.shape)


def _narrowest(fmt) -> type:
    """The narrowest signed dtype holding every exact integer of fmt: less memory traffic."""
    table = ref.integer_table(fmt)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= int(table.min()) and int(table.max()) <= info.max:
            return dtype
    return np.int64


def _int_operands(w_codes, w_fmt, x_codes, x_fmt, k: int):
    acc = ref.accumulator_format(w_fmt, x_fmt, max(k, 1))
    if acc.bits > 63:
        raise ValueError(f"{w_fmt.name} x {x_fmt.name} over K={k} needs a {acc.bits}-bit "
                         "accumulator; the Numba path has int64 (use sqhw.ref.matmul)")
    dtype = np.int32 if acc.bits <= 31 else np.int64  # the accumulator's
    w = _ints(w_codes, w_fmt, _narrowest(w_fmt) if dtype == np.int32 else dtype, "w_codes")
    x = _ints(x_codes, x_fmt, _narrowest(x_fmt) if dtype == np.int32 else dtype, "x_codes")
    return w, x, dtype


def matmul(w_codes, w_fmt, x_codes, x_fmt) -> np.ndarray:
    """Exact w @ x as int64 in units of 2**-ref.product_format(w_fmt, x_fmt).frac_bits."""
    w_codes, x_codes = _as_array(w_codes, "w_codes"), _as_array(x_codes, "x_codes")
    if w_codes.ndim != 2 or x_codes.ndim != 2 or w_codes.shape[1] != x_codes.shape[0]:
        raise ValueError(f"matmul: expected w (M, K) and x (K, N), got shapes {w_codes.shape} "
                         f"and {x_codes.shape}")
    w, x, dtype = _int_operands(w_codes, w_fmt, x_codes, x_fmt, w_codes.shape[1])
    out = np.zeros((w.shape[0], x.shape[1]), dtype=dtype)
    _matmul(w, x, out)
    return out.astype(np.int64)


def nm_matmul(packed, x_codes, x_fmt) -> np.ndarray:
    """Exact w @ x on packed N:M weights (sqhw.sparsity.NM.pack), equal to matmul on the
    masked dense weights."""
    values, indices, k, nm, w_fmt = packed
    x_codes = _as_array(x_codes, "x_codes")
    if values.ndim != 3 or x_codes.ndim != 2 or x_codes.shape[0] != k:
        raise ValueError(f"nm_matmul: expected packed w of {k} columns in (M, G, n) groups and "
                         f"x of shape ({k}, N), got values {values.shape} and x {x_codes.shape}")
    w, x, dtype = _int_operands(values, w_fmt, x_codes, x_fmt, k)
    rows = values.shape[0]
    out = np.zeros((rows, x.shape[1]), dtype=dtype)
    indices = np.ascontiguousarray(indices.reshape(rows, -1))
    if indices.dtype.kind not in "iu":
        raise TypeError(f"packed indices: expected integers, got dtype {indices.dtype}")
    past = _nm_matmul(np.ascontiguousarray(w.reshape(rows, -1)), indices, nm.n, nm.m, k, x, out,
                      max(1, _INNER * nm.n // nm.m))
    if past:
        raise ValueError(f"packed weights: {past} non-zero values have an index pointing "
                         f"past K={k}")
    return out.astype(np.int64)


def threads() -> int:
    return numba.get_num_threads()
