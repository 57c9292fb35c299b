"""Exact integer views of codes, exact products and wide-accumulator dot / matmul.

Every finite value of a format is an integer multiple of 2**-F, F = fmt.exact_fixed.frac_bits.
Products and sums are done on those integers (int64 when the derived accumulator fits in 63
bits, Python ints otherwise), so the result never depends on summation order.
"""

from __future__ import annotations

import functools

import numpy as np

from ..formats import Fixed
from ..formats._arrays import EXACT_INTEGER_LIMIT, as_codes


def fit_fixed(lo: int, hi: int, frac_bits: int) -> Fixed:
    """Narrowest Fixed (signed when lo < 0) with frac_bits whose integers cover [lo, hi]."""
    if lo < 0:
        width = max((-lo - 1).bit_length(), hi.bit_length()) + 1
        return Fixed(width - frac_bits, frac_bits, signed=True)
    return Fixed(max(hi.bit_length(), 1) - frac_bits, frac_bits, signed=False)


def int_range(fmt) -> tuple[int, int]:
    """(smallest, largest) integer of fmt's exact fixed view over its finite codes."""
    ints = integer_table(fmt)
    finite = ints[_finite_mask(fmt)]
    return int(min(finite)), int(max(finite))


# keyed by format equality, which leaves the name out: equal formats have equal fields, so
# they share one entry rightly
@functools.lru_cache(maxsize=None)
def _tables(fmt):
    fixed = fmt.exact_fixed
    values = fmt.table
    finite = np.isfinite(values)
    frac = fixed.frac_bits
    # value * 2**F is an integer; build it from exact float64 parts to reach Python ints
    mantissa, exponent = np.frexp(np.where(finite, values, 0.0))
    ints = [int(m * 2**53) * 2 ** (int(e) - 53 + frac) if e - 53 + frac >= 0
            else int(m * 2**53) >> (53 - frac - int(e)) for m, e in zip(mantissa, exponent)]
    dtype = np.int64 if fixed.bits <= 63 else object
    table = np.array(ints, dtype=dtype)
    table.setflags(write=False)
    finite.setflags(write=False)
    return table, finite


def integer_table(fmt) -> np.ndarray:
    """Exact integer (in units of 2**-exact_fixed.frac_bits) of every code; 0 for NaN/Inf."""
    return _tables(fmt)[0]


def _finite_mask(fmt) -> np.ndarray:
    return _tables(fmt)[1]


def to_ints(codes, fmt, arg: str = "codes") -> np.ndarray:
    """Exact integers of codes: value = to_ints(codes) * 2**-fmt.exact_fixed.frac_bits.

    NaN and Inf codes have no exact value and are refused.
    """
    arr, _ = as_codes(codes, fmt.bits, arg)
    bad = ~_finite_mask(fmt)[arr]
    if bad.any():
        _refuse_nonfinite(int(bad.sum()), fmt, arg)
    return integer_table(fmt)[arr]


def _refuse_nonfinite(count: int, fmt, arg: str):
    raise ValueError(f"{arg}: {count} NaN/Inf codes of {fmt.name} "
                     "(exact arithmetic is defined on finite values only)")


# the largest magnitudes up to which float32 / float64 hold every integer exactly
F32_EXACT = 2 ** (np.finfo(np.float32).nmant + 1)
F64_EXACT = EXACT_INTEGER_LIMIT


@functools.lru_cache(maxsize=None)  # keyed by format equality, as _tables
def float_dtype(fmt):
    """The narrowest float dtype (float32 or float64) holding every exact integer of fmt
    exactly, or None when they need more than 53 bits."""
    lo, hi = int_range(fmt)
    bound = max(-lo, hi)
    return np.float32 if bound <= F32_EXACT else np.float64 if bound <= F64_EXACT else None


@functools.lru_cache(maxsize=None)
def _float_table(fmt, dtype):
    table, finite = _tables(fmt)
    out = np.where(finite, table.astype(np.float64), np.nan).astype(dtype)
    out.setflags(write=False)
    return out


def to_float_ints(codes, fmt, arg: str = "codes") -> np.ndarray:
    """to_ints(codes, fmt) as floats of `float_dtype(fmt)`, every value exact: one table
    lookup, for BLAS. NaN and Inf codes are refused as by to_ints."""
    dtype = float_dtype(fmt)
    if dtype is None:
        raise ValueError(f"{fmt.name}: its exact integers need more than 53 bits; use to_ints")
    arr, _ = as_codes(codes, fmt.bits, arg)
    out = _float_table(fmt, dtype)[arr]
    bad = np.isnan(out)
    if bad.any():
        _refuse_nonfinite(int(bad.sum()), fmt, arg)
    return out


def product_format(a_fmt, b_fmt) -> Fixed:
    """Fixed format holding every exact product of a finite a and a finite b."""
    frac = a_fmt.exact_fixed.frac_bits + b_fmt.exact_fixed.frac_bits
    return fit_fixed(*_product_extremes(a_fmt, b_fmt), frac)


def accumulator_format(a_fmt, b_fmt, length: int) -> Fixed:
    """Fixed format holding any sum of `length` exact products (a Kulisch-style accumulator).

    >>> from sqhw.formats import parse
    >>> acc = accumulator_format(parse("float8_e4m3fn"), parse("float8_e4m3fn"), 1024)
    >>> acc.bits, acc.frac_bits
    (47, 18)
    """
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length: expected a positive integer, got {length!r}")
    p_lo, p_hi = _product_extremes(a_fmt, b_fmt)
    frac = product_format(a_fmt, b_fmt).frac_bits
    return fit_fixed(min(p_lo, 0) * int(length), p_hi * int(length), frac)


def _product_extremes(a_fmt, b_fmt) -> tuple[int, int]:
    a_lo, a_hi = int_range(a_fmt)
    b_lo, b_hi = int_range(b_fmt)
    corners = [a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi]
    return min(corners), max(corners)


def mul(a_codes, a_fmt, b_codes, b_fmt) -> np.ndarray:
    """Exact products as integers in units of 2**-product_format(a_fmt, b_fmt).frac_bits."""
    a = to_ints(a_codes, a_fmt, "a_codes")
    b = to_ints(b_codes, b_fmt, "b_codes")
    if product_format(a_fmt, b_fmt).bits > 63:
        a, b = a.astype(object), b.astype(object)
    return a * b


def _operands(a_codes, a_fmt, b_codes, b_fmt, length):
    a = to_ints(a_codes, a_fmt, "a_codes")
    b = to_ints(b_codes, b_fmt, "b_codes")
    if accumulator_format(a_fmt, b_fmt, max(length, 1)).bits > 63:
        a, b = a.astype(object), b.astype(object)
    return a, b


def dot(a_codes, a_fmt, b_codes, b_fmt) -> np.ndarray:
    """Exact dot products along the last axis (shapes broadcast over the leading axes)."""
    a_shape, b_shape = np.shape(a_codes), np.shape(b_codes)
    if not a_shape or not b_shape or a_shape[-1] != b_shape[-1]:
        raise ValueError(f"dot: last axes must match, got shapes {a_shape} and {b_shape}")
    a, b = _operands(a_codes, a_fmt, b_codes, b_fmt, a_shape[-1])
    return (a * b).sum(axis=-1)


def matmul(w_codes, w_fmt, x_codes, x_fmt) -> np.ndarray:
    """Exact w @ x for w (M, K) and x (K, N): integers in units of
    2**-product_format(w_fmt, x_fmt).frac_bits (int64, or Python ints past 63 bits)."""
    w_shape, x_shape = np.shape(w_codes), np.shape(x_codes)
    if len(w_shape) != 2 or len(x_shape) != 2 or w_shape[1] != x_shape[0]:
        raise ValueError(f"matmul: expected w (M, K) and x (K, N), got shapes {w_shape} "
                         f"and {x_shape}")
    w, x = _operands(w_codes, w_fmt, x_codes, x_fmt, w_shape[1])
    return w @ x
