"""Several integer products in one DSP multiply (Xilinx WP486's int8 packing, generalised).

`pack` operands x_0 .. x_{pack-1} that share one multiplicand w go into one wide operand
X = sum_i x_i * 2**(i*s); one multiply gives X * w = sum_i (x_i * w) * 2**(i*s). The lower
products are signed, so each one borrows from the field above it; WP486 corrects this by
adding the lower field's sign bit to the upper one. Here every lower field is biased
instead: a constant `bias` (on a DSP48E2, the C input of the first stage) lifts each lower
field's sum into [0, 2**s), so every field is read off as plain bits, no carry or borrow
crossing fields, and the top field is the arithmetic shift of what remains. WP486's sign
correction is the case bias = 2**(s-1). The same holds for the sum of `chain` such packed
products (a PCOUT -> PCIN cascade): each field then holds a sum of `chain` products, so the
spacing s must cover chain * (largest - smallest product).

s is the largest spacing whose packed operand still fits the DSP's pre-adder / A port (27
bits on a DSP48E2): int8 x int8 gives s = 18 (WP486) and cascades of up to 8 stages; four
int4 x int4 products fit with s = 7 (single products only: 7-bit fields have no room for a
sum), three with s = 11 (cascades of up to 17).

    >>> from sqhw.formats import parse
    >>> plan = PackPlan(parse("int8"), parse("int8"), pack=2, chain=8)
    >>> plan.spacing, plan.packed_bits, plan.bias, plan.total_bits
    (18, 27, 130048, 37)
    >>> import numpy as np
    >>> plan.split(plan.total(np.array([[-128, 127]] * 8), np.array([-128] * 8))).tolist()
    [131072, -130048]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formats import Fixed
from .exact import _product_extremes, int_range, to_ints


@dataclass(frozen=True)
class DSPPorts:
    """The multiplier ports a packing must fit: packed operand (pre-adder / A), shared
    operand (B) and the accumulator (P), in bits, two's complement."""
    name: str
    packed: int
    shared: int
    accumulator: int


DSP48E2 = DSPPorts("DSP48E2", packed=27, shared=18, accumulator=48)
MAX_PACK = 8  # products per multiply: more than any format sqhw has can fit in 27 bits


def _signed_bits(lo: int, hi: int) -> int:
    """Bits of the narrowest two's-complement integer holding [lo, hi]."""
    return max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length()) + 1


class PackError(ValueError):
    """A packing that cannot be exact on the DSP (names the bound it breaks)."""


@dataclass(frozen=True)
class PackPlan:
    """How `pack` products x_i * w (x_i of x_fmt, w of w_fmt, both integer Fixed formats)
    share one multiply of `dsp`, summed over a cascade of `chain` stages."""
    x_fmt: Fixed
    w_fmt: Fixed
    pack: int
    chain: int = 1
    dsp: DSPPorts = DSP48E2

    def __post_init__(self):
        for arg, value, top in (("pack", self.pack, MAX_PACK), ("chain", self.chain, 1 << 16)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise PackError(f"{arg}: expected an integer from 1 to {top}, got {value!r}")
        for arg, fmt in (("x", self.x_fmt), ("w", self.w_fmt)):
            if not isinstance(fmt, Fixed) or fmt.frac_bits != 0:
                raise PackError(f"{arg}: packing needs integer formats (intN / uintN), got "
                                f"{getattr(fmt, 'name', fmt)!r}")
        if self.w_fmt.bits > self.dsp.shared:
            raise PackError(f"w: {self.w_fmt.name} is wider than the {self.dsp.name}'s "
                            f"{self.dsp.shared}-bit shared port")
        if self.spacing < self.field_span.bit_length():
            raise PackError(
                f"pack={self.pack}: {self.pack} {self.x_fmt.name} operands fit the "
                f"{self.dsp.name}'s {self.dsp.packed}-bit port only {self.spacing} bits "
                f"apart, but a sum of {self.chain} products of {self.x_fmt.name} x "
                f"{self.w_fmt.name} spans {self.field_span + 1} values (needs "
                f"{self.field_span.bit_length()} bits); " + (
                    f"use a cascade of at most {self.max_chain} stages at this pack"
                    if self.max_chain else "use a smaller pack"))
        if self.total_bits > self.dsp.accumulator:
            raise PackError(f"chain={self.chain}: the packed sum needs {self.total_bits} bits,"
                            f" more than the {self.dsp.name}'s {self.dsp.accumulator}")

    @property
    def product_range(self) -> tuple[int, int]:
        """(smallest, largest) product x * w."""
        return _product_extremes(self.x_fmt, self.w_fmt)

    @property
    def field_span(self) -> int:
        """largest - smallest value one field holds: a sum of `chain` products."""
        lo, hi = self.product_range
        return self.chain * (hi - lo)

    def _packed_range(self, spacing: int) -> tuple[int, int]:
        lo, hi = int_range(self.x_fmt)
        weight = sum(1 << (i * spacing) for i in range(self.pack))
        return lo * weight, hi * weight

    @property
    def spacing(self) -> int:
        """Bits between fields: the largest that keeps the packed operand within the port
        (0 when even 1 bit apart does not fit)."""
        if self.pack == 1:
            return self.dsp.accumulator
        s = 0
        while _signed_bits(*self._packed_range(s + 1)) <= self.dsp.packed:
            s += 1
        return s

    @property
    def max_chain(self) -> int:
        """The longest cascade this pack allows: its fields' sums must stay below 2**s."""
        lo, hi = self.product_range
        return ((1 << self.spacing) - 1) // (hi - lo) if self.pack > 1 else 1 << 30

    @property
    def packed_bits(self) -> int:
        """Width of the packed operand sum_i x_i * 2**(i*s) (signed)."""
        return _signed_bits(*self._packed_range(self.spacing))

    @property
    def bias(self) -> int:
        """The constant added once per cascade: -chain * smallest product in every lower
        field, so each lower field's sum lies in [0, 2**s)."""
        lo, _ = self.product_range
        return sum((-self.chain * lo) << (i * self.spacing) for i in range(self.pack - 1))

    @property
    def total_bits(self) -> int:
        """Width of a cascade total, biased or not (signed)."""
        p_lo, p_hi = self._packed_range(self.spacing)
        w_lo, w_hi = int_range(self.w_fmt)
        corners = [p * w for p in (p_lo, p_hi) for w in (w_lo, w_hi)]
        lo, hi = self.chain * min(corners), self.chain * max(corners)
        return max(_signed_bits(lo, hi), _signed_bits(lo + self.bias, hi + self.bias))

    def packed(self, x: np.ndarray) -> np.ndarray:
        """x (..., pack) integers -> the packed operand (...,), int64."""
        x = np.asarray(x, dtype=np.int64)
        return (x << (np.arange(self.pack, dtype=np.int64) * self.spacing)).sum(axis=-1)

    def total(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The biased cascade total of up to `chain` stages: x (..., stages, pack) and
        w (..., stages) integers -> (...,); exact for any stages <= chain."""
        x, w = np.asarray(x, dtype=np.int64), np.asarray(w, dtype=np.int64)
        return (self.packed(x) * w).sum(axis=-1) + self.bias

    def split(self, total: np.ndarray) -> np.ndarray:
        """Biased totals (...,) -> the pack field sums (..., pack): lower fields are s-bit
        unsigned minus their bias, the top field the arithmetic shift of the rest."""
        total = np.asarray(total, dtype=np.int64)
        lo, _ = self.product_range
        s, mask = self.spacing, (1 << self.spacing) - 1
        fields = [((total >> (i * s)) & mask) + self.chain * lo for i in range(self.pack - 1)]
        fields.append(total >> ((self.pack - 1) * s))
        return np.stack(fields, axis=-1)

    def products(self, x_codes, w_codes) -> np.ndarray:
        """Codes -> the pack products through the packed multiply: x (..., pack), w (...)
        -> (..., pack); equals sqhw.ref.mul(w, x) when the plan is exact."""
        x = to_ints(x_codes, self.x_fmt, "x_codes")
        w = to_ints(w_codes, self.w_fmt, "w_codes")
        return self.split(self.total(x[..., None, :], w[..., None]))
