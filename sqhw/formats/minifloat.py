"""Minifloat(exp_bits, man_bits, ...): any small binary floating-point format (eXmY)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._base import ElementFormat
from .fixed import Fixed
from .rounding import round_to_integer, rounds_toward_zero

# Where a format keeps its NaN (and whether it has infinities):
#   "ieee"    exponent all ones: mantissa 0 is +-Inf (inf=True), other mantissas NaN
#   "outer"   only the all-ones magnitude is NaN, both signs (float8_e4m3fn, e8m0)
#   "negzero" the negative-zero code is the single NaN (the *fnuz formats)
#   None      every code is a finite number (float6_*fn, float4_e2m1fn)
NAN_POLICIES = ("ieee", "outer", "negzero", None)

# decode is exact because float64 holds every value: finite float64s lie below 2**1024 and
# are multiples of 2**-1074
_FLOAT64 = np.finfo(np.float64)
FLOAT64_TOP = int(_FLOAT64.maxexp)                           # 1024
FLOAT64_STEP = int(_FLOAT64.minexp) - int(_FLOAT64.nmant)    # -1074


class OutsideFloat64(ValueError):
    """A Minifloat whose values float64 cannot hold (so decode could not be exact)."""


@dataclasses.dataclass(frozen=True, eq=True)
class Minifloat(ElementFormat):
    """A sign bit (if signed), exp_bits of biased exponent and man_bits of mantissa.

    subnormals=False makes exponent field 0 an ordinary binade with the implicit leading one,
    so the format has no zero (as OCP's E8M0 scale). bias defaults to 2**(exp_bits-1) - 1, or
    2**(exp_bits-1) for nan="negzero" (the fnuz convention).

    `name` is a label, not part of the identity: formats with equal fields are equal (and
    hash alike) whatever their names, and a generated name parses back to an equal format.

    >>> E4M3FN = Minifloat(4, 3, nan="outer", name="float8_e4m3fn")
    >>> E4M3FN.max, E4M3FN.min_normal, E4M3FN.min_subnormal
    (448.0, 0.015625, 0.001953125)
    >>> Minifloat(4, 3, nan="outer") == E4M3FN, Minifloat(4, 3, nan="outer").name
    (True, 'minifloat<e4,m3,bias=7,nan=outer>')
    """

    exp_bits: int
    man_bits: int
    bias: int | None = None
    subnormals: bool = True
    inf: bool = False
    nan: str | None = None
    signed: bool = True
    name: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        e, m = self.exp_bits, self.man_bits
        if not isinstance(e, int) or e < 1:
            raise ValueError(f"exp_bits: expected an integer >= 1, got {e!r}")
        if not isinstance(m, int) or m < 0:
            raise ValueError(f"man_bits: expected an integer >= 0, got {m!r}")
        if self.nan not in NAN_POLICIES:
            raise ValueError(f"nan: expected one of {NAN_POLICIES}, got {self.nan!r}")
        if self.inf and self.nan != "ieee":
            raise ValueError("inf=True needs nan='ieee' (infinities live in the all-ones exponent)")
        if self.nan == "ieee" and (m < 1 or e < 2):
            raise ValueError("nan='ieee' needs man_bits >= 1 and exp_bits >= 2")
        if self.nan == "negzero" and not self.signed:
            raise ValueError("nan='negzero' needs a signed format")
        bits = int(self.signed) + e + m
        if bits > 16:
            raise ValueError(f"minifloats of at most 16 bits are supported, got {bits}")
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (e - 1) - (0 if self.nan == "negzero" else 1))
        elif isinstance(self.bias, (int, np.integer)) and not isinstance(self.bias, bool):
            object.__setattr__(self, "bias", int(self.bias))
        else:
            raise ValueError(f"bias: expected an integer, got {self.bias!r}")
        if self.name is None:
            object.__setattr__(self, "name", self._default_name())
        self._check_float64()

    def _check_float64(self) -> None:
        # values are multiples of 2**(emin - man_bits) below 2**(top + 1), top the exponent of
        # the highest binade that holds a finite value
        top = max(self.max_magnitude_code >> self.man_bits, int(self.subnormals)) - self.bias
        step = self.emin - self.man_bits
        if top < FLOAT64_TOP and step >= FLOAT64_STEP:
            return
        where = (f"its largest values reach 2**{top}" if top >= FLOAT64_TOP
                 else f"its values are multiples of 2**{step}")
        raise OutsideFloat64(
            f"{self.name}: {where}, outside float64 (finite values below 2**{FLOAT64_TOP}, "
            f"multiples of 2**{FLOAT64_STEP}), so decode could not be exact; use fewer "
            "exponent bits or another bias")

    def _default_name(self) -> str:
        """The name sqhw generates: eXmY for the IEEE-biased all-finite formats, otherwise
        every field that differs from Minifloat's defaults (sqhw.formats.parse reads both)."""
        if (self.signed and self.subnormals and not self.inf and self.nan is None
                and self.bias == 2 ** (self.exp_bits - 1) - 1):
            return f"e{self.exp_bits}m{self.man_bits}"
        opts = [f"bias={self.bias}"]
        opts += [] if self.subnormals else ["subnormals=False"]
        opts += ["inf"] if self.inf else []
        opts += [f"nan={self.nan}"] if self.nan else []
        opts += [] if self.signed else ["unsigned"]
        return f"minifloat<e{self.exp_bits},m{self.man_bits},{','.join(opts)}>"

    # -- derived facts -------------------------------------------------------------------
    @property
    def bits(self) -> int:
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def has_nan(self) -> bool:
        return self.nan is not None

    @property
    def has_inf(self) -> bool:
        return self.inf

    @property
    def has_zero(self) -> bool:
        return self.subnormals

    @property
    def emin(self) -> int:
        """Exponent of the lowest binade (of min_normal)."""
        return (1 if self.subnormals else 0) - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite value: floor(log2(max))."""
        return math.frexp(self.max)[1] - 1

    @property
    def max_magnitude_code(self) -> int:
        """Magnitude bits (code without the sign) of the largest finite value."""
        all_ones = (1 << (self.exp_bits + self.man_bits)) - 1
        if self.nan == "ieee":
            return all_ones - (1 << self.man_bits)  # top exponent is Inf/NaN
        if self.nan == "outer":
            return all_ones - 1
        return all_ones

    @property
    def min_normal(self) -> float:
        return math.ldexp(1.0, self.emin)

    @property
    def nan_code(self) -> int | None:
        """The code encode() writes for NaN."""
        magnitude_bits = self.exp_bits + self.man_bits
        if self.nan == "ieee":  # quiet NaN: all-ones exponent, mantissa MSB set
            return (((1 << self.exp_bits) - 1) << self.man_bits) | (1 << (self.man_bits - 1))
        if self.nan == "outer":
            return (1 << magnitude_bits) - 1
        if self.nan == "negzero":
            return 1 << magnitude_bits
        return None

    @property
    def inf_code(self) -> int | None:
        return ((1 << self.exp_bits) - 1) << self.man_bits if self.inf else None

    @property
    def exact_fixed(self) -> Fixed:
        """The narrowest Fixed format that holds every finite value exactly.

        >>> Minifloat(4, 3, nan="outer").exact_fixed.name
        'fixed<s,10,9>'
        """
        frac_bits = self.man_bits - self.emin
        int_bits = max(self.emax + 1, 0) + int(self.signed)
        return Fixed(int_bits, frac_bits, signed=self.signed)

    # -- the code <-> value map ----------------------------------------------------------
    def _fields(self, codes: np.ndarray):
        magnitude_bits = self.exp_bits + self.man_bits
        sign = (codes >> magnitude_bits) & 1 if self.signed else np.zeros_like(codes)
        magnitude = codes & ((1 << magnitude_bits) - 1)
        return sign, magnitude >> self.man_bits, magnitude & ((1 << self.man_bits) - 1)

    def _values(self) -> np.ndarray:
        codes = np.arange(1 << self.bits, dtype=np.int64)
        sign, exp_field, man_field = self._fields(codes)
        implicit = np.where((exp_field > 0) | (not self.subnormals), 1 << self.man_bits, 0)
        exponent = np.maximum(exp_field, 0 if not self.subnormals else 1) - self.bias
        values = np.ldexp((implicit + man_field).astype(np.float64), exponent - self.man_bits)
        values = np.where(sign == 1, -values, values)
        magnitude = codes & ((1 << (self.exp_bits + self.man_bits)) - 1)
        if self.nan == "ieee":
            top = exp_field == (1 << self.exp_bits) - 1
            values = np.where(top & (man_field != 0), np.nan, values)
            if self.inf:
                values = np.where(top & (man_field == 0), np.where(sign == 1, -np.inf, np.inf),
                                  values)
        elif self.nan == "outer":
            values = np.where(magnitude == (1 << (self.exp_bits + self.man_bits)) - 1, np.nan,
                              values)
        elif self.nan == "negzero":
            values = np.where(codes == self.nan_code, np.nan, values)
        return values

    def _encode(self, x: np.ndarray, rounding: str, saturate: bool, seed) -> np.ndarray:
        self._refuse_nan(x)
        is_nan = np.isnan(x)
        is_inf = np.isinf(x)
        finite = np.where(is_nan | is_inf, 0.0, x)
        _, frexp_exp = np.frexp(finite)  # |x| = f * 2**frexp_exp, f in [0.5, 1)
        exponent = np.maximum(frexp_exp.astype(np.int64) - 1, self.emin)
        # a power-of-two scaling: exact, or (below float64's normal range, formats with
        # emin > man_bits) still strictly between 0 and 1/2, which rounds alike, unless it
        # underflows to 0 and loses its side of zero: the smallest float64 of its sign keeps it
        scaled = np.ldexp(finite, self.man_bits - exponent)
        scaled = np.where((scaled == 0) & (finite != 0),
                          np.copysign(np.finfo(np.float64).smallest_subnormal, finite), scaled)
        significand = np.abs(round_to_integer(scaled, rounding, seed)).astype(np.int64)
        return self.pack(np.signbit(x) & ~is_nan, exponent, significand, finite == 0, is_inf,
                         is_nan, rounding, saturate)

    def pack(self, negative, exponent, significand, is_zero, is_inf, is_nan, rounding: str,
             saturate: bool) -> np.ndarray:
        """Codes from rounded parts: value = +-significand * 2**(exponent - man_bits), where
        exponent >= emin and significand <= 2**(man_bits+1) came from rounding in `rounding`.

        Shared by encode (float input) and sqhw.ref.requantize (exact integer input), so
        carry, subnormals, overflow and the format's special codes follow one rule.
        """
        m = self.man_bits
        carry = significand >= 1 << (m + 1)  # rounding reached the next binade
        exponent = exponent + carry
        significand = np.where(carry, significand >> 1, significand)
        if not self.subnormals:  # no zero: anything below min_normal becomes min_normal
            significand = np.maximum(significand, 1 << m)
        normal = significand >= 1 << m
        exp_field = np.where(normal, np.minimum(exponent + self.bias, 1 << 20), 0)
        man_field = np.where(normal, significand - (1 << m), significand)
        magnitude_code = (exp_field.astype(np.int64) << m) | man_field.astype(np.int64)

        # codes that do not exist: zero without a zero code; negatives in an unsigned format
        missing = ~self.has_zero & is_zero & ~is_inf & ~is_nan
        if not self.signed:
            missing |= negative & ~(is_zero & self.has_zero)
        overflow = ((magnitude_code > self.max_magnitude_code) | is_inf) & ~missing
        # IEEE 754 7.4: overflow saturates when rounding toward zero; so do formats with
        # neither Inf nor NaN, and saturate=True
        clamp = saturate | rounds_toward_zero(rounding, negative) | (not (self.inf or self.nan))
        has_special = bool(self.inf or self.nan)
        clamp = clamp & ~(is_inf & (not saturate) & has_special)
        magnitude_code = np.where(overflow, self.max_magnitude_code, magnitude_code)
        magnitude_code = np.where(missing, 0, magnitude_code)  # the smallest magnitude
        sign_bit = 1 << (self.bits - 1)
        codes = magnitude_code
        if self.signed:
            keep_sign = negative & ((magnitude_code != 0) | (self.nan != "negzero"))
            codes = codes | np.where(keep_sign, sign_bit, 0)
        if self.inf:
            codes = np.where(overflow & ~clamp, self.inf_code | np.where(negative, sign_bit, 0),
                             codes)
        elif self.nan:
            codes = np.where(overflow & ~clamp, self.nan_code, codes)
        if self.nan and not saturate:
            codes = np.where(missing, self.nan_code, codes)
        if self.has_nan:
            codes = np.where(is_nan, self.nan_code, codes)
        return codes
