"""Fixed(int_bits, frac_bits, signed): two's-complement fixed point; integers have frac_bits=0."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._base import ElementFormat
from .rounding import round_to_integer


@dataclasses.dataclass(frozen=True, eq=True)
class Fixed(ElementFormat):
    """int_bits (the sign bit included when signed) + frac_bits; value = code_as_int * 2**-frac_bits.

    bits = int_bits + frac_bits; int_bits may be negative for formats below 1/2.

    Overflow wraps in two's complement unless saturate=True.

    >>> Fixed(8, 0).name, Fixed(4, 0, signed=False).name, Fixed(8, 4).name
    ('int8', 'uint4', 'fixed<s,8,4>')
    >>> Fixed(4, 4).max, Fixed(4, 4).min_normal, Fixed(8, 4).bits
    (7.9375, 0.0625, 12)
    >>> Fixed(2, 6, name="mxint8_element") == Fixed(2, 6)   # the name is a label
    True
    """

    int_bits: int
    frac_bits: int = 0
    signed: bool = True
    name: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        for key in ("int_bits", "frac_bits"):
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise ValueError(f"{key}: expected an integer, got {value!r}")
            object.__setattr__(self, key, int(value))  # a plain int, as parse gives
        if self.frac_bits < 0:
            raise ValueError(f"frac_bits: expected >= 0, got {self.frac_bits}")
        if self.bits < 1:
            raise ValueError(f"Fixed({self.int_bits}, {self.frac_bits}): needs at least one bit")
        if self.bits > 1024:
            raise ValueError(f"Fixed formats of at most 1024 bits are supported, got {self.bits}")
        if self.name is None:
            object.__setattr__(self, "name", self._default_name())

    def _default_name(self) -> str:
        """The name sqhw generates (sqhw.formats.parse reads it back)."""
        if self.frac_bits == 0:
            return f"{'' if self.signed else 'u'}int{self.int_bits}"
        return f"fixed<{'s' if self.signed else 'u'},{self.int_bits},{self.frac_bits}>"

    @property
    def bits(self) -> int:
        return self.int_bits + self.frac_bits

    has_nan = False
    has_inf = False

    @property
    def min_int(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.bits - self.signed)) - 1

    @property
    def max(self) -> float:
        return math.ldexp(float(self.max_int), -self.frac_bits)

    @property
    def min_normal(self) -> float:
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def min_subnormal(self) -> float:
        return self.min_normal

    @property
    def exact_fixed(self) -> "Fixed":
        return self

    def to_int(self, codes: np.ndarray) -> np.ndarray:
        """Signed integer value of each code (int64): value = to_int(code) * 2**-frac_bits."""
        codes = np.asarray(codes).astype(np.int64)
        if not self.signed:
            return codes
        return np.where(codes >= (1 << (self.bits - 1)), codes - (1 << self.bits), codes)

    def from_int(self, ints: np.ndarray) -> np.ndarray:
        """Two's-complement code of each integer (wraps modulo 2**bits)."""
        return np.asarray(ints).astype(np.int64) & ((1 << self.bits) - 1) if self.bits < 64 \
            else np.asarray(ints).astype(np.uint64)

    def _values(self) -> np.ndarray:
        if self.bits > 16:
            raise ValueError(f"{self.name}: a code table of {self.bits} bits is too large")
        return np.ldexp(self.to_int(np.arange(1 << self.bits)).astype(np.float64), -self.frac_bits)

    def decode(self, codes):
        if self.bits <= 16:
            return super().decode(codes)
        from ._arrays import as_codes

        arr, restore = as_codes(codes, self.bits)
        return restore(np.ldexp(self.to_int(arr).astype(np.float64), -self.frac_bits))

    def _encode(self, x: np.ndarray, rounding: str, saturate: bool, seed) -> np.ndarray:
        if self.bits > 64:
            raise ValueError(f"{self.name}: encode writes codes of at most 64 bits; this format "
                             f"has {self.bits} (use it to describe exact accumulators)")
        self._refuse_nan(x)
        infinite = np.isinf(x)
        if infinite.any() and not saturate:
            raise ValueError(f"x contains +-Inf at {int(infinite.sum())} positions: {self.name} "
                             "can only represent them with saturate=True")
        scaled = np.ldexp(np.where(infinite, np.sign(x), x), self.frac_bits)
        ints = round_to_integer(scaled, rounding, seed)
        ints = np.where(infinite, np.sign(x) * 2.0 ** 70, ints)
        if saturate:
            ints = np.clip(ints, self.min_int, self.max_int)
        modulus = 2.0 ** self.bits
        codes = ints - np.floor(ints / modulus) * modulus  # exact for integer-valued float64
        return codes.astype(np.int64) if self.bits < 64 else codes.astype(np.uint64)
