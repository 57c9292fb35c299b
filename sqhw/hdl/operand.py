"""Operand decoding in hardware, read from format objects: a code becomes an exact integer.

Every finite value of a format is `significand << shift` units of 2**-F (F = the format's
exact_fixed.frac_bits), which is what the multipliers, converters and MACs build on.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data

from ..formats import Fixed, Minifloat


def layout_of(fmt) -> data.StructLayout:
    """Bit fields of a code, lowest first: {man, exp, sign} for minifloats (no man field when
    there are no mantissa bits, e.g. float8_e8m0fnu: no zero-width wires), {value} for Fixed."""
    if isinstance(fmt, Minifloat):
        fields = {"man": fmt.man_bits} if fmt.man_bits else {}
        fields["exp"] = fmt.exp_bits
        if fmt.signed:
            fields["sign"] = 1
        return data.StructLayout(fields)
    if isinstance(fmt, Fixed):
        return data.StructLayout({"value": signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)})
    raise TypeError(f"no hardware layout for {fmt!r}: expected a Fixed or Minifloat format")


@dataclass
class Decoded:
    """An operand as hardware values: value = (-1)**negative * magnitude << shift (units 2**-F).

    For Fixed operands `magnitude` is the signed code itself (negative is 0, shift is 0).
    """

    negative: Value
    magnitude: Value
    shift: Value
    special: Value  # NaN or Inf code
    signed_magnitude: bool  # True for Fixed: magnitude is a signed two's-complement value


def max_shift(fmt) -> int:
    if isinstance(fmt, Fixed):
        return 0
    top = (1 << fmt.exp_bits) - 1
    return top if not fmt.subnormals else top - 1


def decode(m: Module, fmt, code: Value, name: str) -> Decoded:
    """Combinational logic turning a code (bits, or a View of layout_of(fmt)) into its exact
    integer parts."""
    code = Value.cast(code)
    if isinstance(fmt, Fixed):
        value = Signal(signed(fmt.bits) if fmt.signed else unsigned(fmt.bits), name=f"{name}_int")
        m.d.comb += value.eq(code)
        return Decoded(Const(0, 1), value, Const(0, 1), Const(0, 1), True)
    if not isinstance(fmt, Minifloat):
        raise TypeError(f"{name}: expected a Fixed or Minifloat format, got {fmt!r}")
    view = data.View(layout_of(fmt), code)
    exp, man = view.exp, (view.man if fmt.man_bits else None)
    significand = Signal(fmt.man_bits + 1, name=f"{name}_significand")
    shift = Signal(range(max(max_shift(fmt), 1) + 1), name=f"{name}_shift")  # never 0 bits
    if fmt.subnormals:
        implicit = exp != 0
        m.d.comb += [significand.eq(Cat(man, implicit) if fmt.man_bits else implicit),
                     shift.eq(Mux(exp == 0, 0, exp - 1))]
    else:
        m.d.comb += [significand.eq(Cat(man, Const(1, 1)) if fmt.man_bits else 1),
                     shift.eq(exp)]
    special = Signal(name=f"{name}_special")
    all_ones_exp = exp == (1 << fmt.exp_bits) - 1
    if fmt.nan == "ieee":
        m.d.comb += special.eq(all_ones_exp)
    elif fmt.nan == "outer":
        m.d.comb += special.eq(all_ones_exp & (man == (1 << fmt.man_bits) - 1) if fmt.man_bits
                               else all_ones_exp)
    elif fmt.nan == "negzero":
        m.d.comb += special.eq(code == fmt.nan_code)
    negative = view.sign if fmt.signed else Const(0, 1)
    return Decoded(negative, significand, shift, special, False)


def signed_value(magnitude: Value, shift: Value, negative: Value, special: Value) -> Value:
    """The exact signed integer of decoded parts: magnitude << shift, negated when negative,
    0 for a NaN/Inf code (whose `special` flag travels beside it)."""
    aligned = magnitude << shift
    return Mux(special, 0, Mux(negative, -aligned, aligned))
