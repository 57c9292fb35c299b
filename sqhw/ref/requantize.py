"""The output requantizer: exact fixed-point value -> codes of an output format, rounded once.

Input is integers n with frac_bits F (value = n * 2**-F; F may differ per element).
"""

from __future__ import annotations

import math

import numpy as np

from ..formats import Fixed, Minifloat
from ..formats.rounding import bit_length, check_mode, round_shift


def _shift_round(n: np.ndarray, shift: np.ndarray, rounding: str, seed, random=None,
                 random_bits: int = 16) -> np.ndarray:
    """Round n * 2**-shift to integers; a negative shift is an exact left shift."""
    left = np.maximum(-shift, 0)
    if n.dtype != object and n.size and int(bit_length(np.abs(n)).max() + left.max()) > 62:
        n = n.astype(object)
    n_left = n * (np.ones_like(n) << (left.astype(object) if n.dtype == object else left))
    if rounding == "stochastic" and random is not None:
        return round_shift_random(n_left, np.maximum(shift, 0), random, random_bits)
    return round_shift(n_left, np.maximum(shift, 0), rounding, seed)


def round_shift_random(n: np.ndarray, shift, random, random_bits: int) -> np.ndarray:
    """Stochastic rounding as hardware does it: the `random_bits` bits just below the kept
    LSB, plus a random word of that width, round up when they carry out.

    n is floored (two's complement); for sign-magnitude rounding pass the magnitude.
    """
    n = np.asarray(n)
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), n.shape)
    random = np.broadcast_to(np.asarray(random), n.shape)
    if random.size and (random.min() < 0 or random.max() >= 1 << random_bits):
        raise ValueError(f"random: words must lie in [0, 2**{random_bits})")
    if n.dtype != object and (random_bits + (shift.max() if shift.size else 0) > 62):
        n = n.astype(object)
    if n.dtype == object:
        shift, random = shift.astype(object), random.astype(object)
    one = np.ones_like(n)
    lower = n >> shift
    rem = n - lower * (one << shift)
    fraction = (rem << random_bits) >> shift
    return lower + ((fraction + random) >> random_bits)


def _wrap_or_clip(ints: np.ndarray, out: Fixed, saturate: bool) -> np.ndarray:
    if saturate:
        ints = np.minimum(np.maximum(ints, out.min_int), out.max_int)
    codes = ints % (1 << out.bits)  # two's complement bits (Python-int exact for objects)
    return codes.astype(np.int64)


def requantize(n, frac_bits, out, rounding: str = "rne", saturate: bool = True,
               seed: int | None = 0, random=None, random_bits: int = 16) -> np.ndarray:
    """Codes of `out` for the exact values n * 2**-frac_bits, rounded once.

    Stochastic rounding draws from `seed`; given `random` (words of `random_bits` bits, one
    per value) it follows the hardware rule instead (round_shift_random): on the two's
    complement value for Fixed outputs, on the magnitude for minifloat outputs.

    >>> import numpy as np
    >>> from sqhw.formats import parse
    >>> requantize(np.array([300, -5]), 4, parse("int8")).tolist()   # 18.75 -> 19, -0.3125 -> 0
    [19, 0]
    """
    check_mode(rounding)
    n = np.asarray(n)
    if n.dtype.kind not in "iuO":
        raise TypeError(f"n: expected integers, got dtype {n.dtype}")
    frac = np.broadcast_to(np.asarray(frac_bits, dtype=np.int64), n.shape)
    if isinstance(out, Fixed):
        return _wrap_or_clip(_shift_round(n, frac - out.frac_bits, rounding, seed, random,
                                          random_bits), out, saturate)
    if not isinstance(out, Minifloat):
        raise TypeError(f"out: expected a Fixed or Minifloat format, got {out!r}")
    magnitude = np.abs(n)
    exponent = np.maximum(bit_length(magnitude) - 1 - frac, out.emin)
    shift = frac + exponent - out.man_bits
    hardware_random = rounding == "stochastic" and random is not None
    significand = np.abs(_shift_round(magnitude if hardware_random else n, shift, rounding, seed,
                                      random, random_bits)).astype(np.int64)
    zero = n == 0
    no = np.zeros(n.shape, dtype=bool)
    return out.pack(n < 0, exponent.astype(np.int64), significand, zero, no, no, rounding,
                    saturate)


def special_code(out) -> int:
    """The code of a result that is not a number: one of its terms is NaN/Inf (or a block
    scale is NaN). The output format's NaN code; its Inf code when it has Inf but no NaN;
    0 (the code of +0) when it has neither (Fixed, and the all-finite minifloats such as
    float4_e2m1fn): the result's `special` flag is then the only sign of it.

    >>> from sqhw.formats import parse
    >>> [special_code(parse(n)) for n in ("float8_e4m3fn", "float8_e5m2", "int8")]
    [127, 126, 0]
    """
    if isinstance(out, Minifloat):
        for code in (out.nan_code, out.inf_code):
            if code is not None:
                return code
        return 0
    if isinstance(out, Fixed):
        return 0
    raise TypeError(f"out: expected a Fixed or Minifloat format, got {out!r}")


def dyadic(scale: float, multiplier_bits: int = 31) -> tuple[int, int]:
    """(m, s) with m / 2**s the nearest to scale and 2**(bits-1) <= m < 2**bits (HAWQ-V3).

    >>> dyadic(0.1, 8)
    (205, 11)
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: expected a positive finite number, got {scale!r}")
    mantissa, exponent = math.frexp(scale)  # scale = mantissa * 2**exponent, mantissa in [0.5,1)
    shift = multiplier_bits - exponent
    m = round(math.ldexp(scale, shift))
    if m >= 1 << multiplier_bits:
        m, shift = m >> 1, shift - 1
    return m, shift


def requantize_dyadic(n, multiplier, shift: int, out: Fixed, zero_point=0,
                      rounding: str = "rne", saturate: bool = True, seed: int | None = 0):
    """Integer-path requantizer: codes of out for round(n * multiplier / 2**shift) + zero_point.

    multiplier and zero_point may be arrays (per element, e.g. per channel).

    >>> import numpy as np
    >>> from sqhw.formats import parse
    >>> requantize_dyadic(np.array([1000, -1000]), 205, 11, parse("uint8"), zero_point=128).tolist()
    [228, 28]
    """
    if not isinstance(out, Fixed) or out.frac_bits:
        raise TypeError(f"out: dyadic requantization writes integer formats, got {out!r}")
    n = np.asarray(n)
    multiplier, zero_point = np.asarray(multiplier), np.asarray(zero_point)
    for arg, value in (("n", n), ("multiplier", multiplier), ("zero_point", zero_point)):
        if value.dtype.kind not in "iuO":
            raise TypeError(f"{arg}: expected integers, got dtype {value.dtype}")
    if multiplier.size and multiplier.min() < 0:
        raise ValueError("multiplier: expected non-negative integers")
    widest = max((int(abs(v)).bit_length() for v in (n.max(), n.min())), default=0) \
        if n.size else 0
    m_bits = int(multiplier.max()).bit_length() if multiplier.size else 0
    if widest + m_bits > 62:
        n, multiplier = n.astype(object), multiplier.astype(object)
    scaled = round_shift(n * multiplier, shift, rounding, seed)
    return _wrap_or_clip(scaled + zero_point, out, saturate)
