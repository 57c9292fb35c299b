"""Packed products in hardware: `pack` integer products sharing one operand computed by one
DSP-sized multiply, as sqhw.ref.packed.PackPlan lays them out (WP486 for int8 pairs).

`packed_operand`, `bias` and `split_fields` are the three steps the N:M chain's packed
stages use too: pack the operands (a DSP48E2's pre-adder), add the bias once per cascade (its
C input), read the fields off the total (fabric wiring, one small adder per lower field).
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..ref.packed import PackPlan
from ._refuse import refusing
from .pipeline import check_stages, delay, split_stages


def operand(fmt, code: Value) -> Value:
    """A code of an integer format as its signed / unsigned integer value."""
    return code.as_signed() if fmt.signed else code.as_unsigned()


def packed_operand(plan: PackPlan, values: list[Value]) -> Value:
    """sum_i values[i] * 2**(i * spacing): the packed operand (plan.packed_bits, signed)."""
    total = Const(0, signed(plan.packed_bits))
    for i, value in enumerate(values):
        total = total + (value << (i * plan.spacing))
    return total.as_signed()[:plan.packed_bits].as_signed()


def bias(plan: PackPlan) -> Const:
    """The constant added once per cascade so every lower field is read as plain bits."""
    return Const(plan.bias, signed(plan.total_bits))


def split_fields(m: Module, plan: PackPlan, total: Value, name: str) -> list[Signal]:
    """The pack field sums of a biased total: the lower fields are s-bit unsigned slices plus
    chain * (smallest product), the top field the arithmetic shift of what is left."""
    lo, hi = plan.product_range
    s = plan.spacing
    field_shape = signed(max(_bits(plan.chain * lo, plan.chain * hi),
                             plan.total_bits - (plan.pack - 1) * s))
    fields = []
    for i in range(plan.pack):
        field = Signal(field_shape, name=f"{name}_field{i}")
        if i < plan.pack - 1:
            m.d.comb += field.eq(total[i * s:(i + 1) * s].as_unsigned() + plan.chain * lo)
        else:
            m.d.comb += field.eq(total[i * s:].as_signed())
        fields.append(field)
    return fields


def _bits(lo: int, hi: int) -> int:
    return max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length()) + 1


class PackedMultiplier(wiring.Component):
    """p[i] = x[i] * w for i < pack, through one (packed_bits x w_bits) multiply.

    x: `pack` codes of x_fmt side by side (x[i] at bits [i*b, (i+1)*b)); w: one code of
    w_fmt, shared; p: the pack exact products (signed, product_bits each). Accepts a new
    input every cycle; `latency` = stages (registers after the multiply, then at the output:
    a DSP48E2's MREG and PREG).

    >>> from sqhw.formats import parse
    >>> mul = PackedMultiplier(parse("int8"), parse("int8"), pack=2, stages=2)
    >>> mul.plan.spacing, mul.product_bits, mul.latency
    (18, 16, 2)
    """

    @refusing
    def __init__(self, x_fmt, w_fmt, pack: int, stages: int = 0):
        self.plan = PackPlan(x_fmt, w_fmt, pack)
        self.x_fmt, self.w_fmt, self.pack = x_fmt, w_fmt, pack
        self.stages = check_stages(stages)
        self.product_bits = _bits(*self.plan.product_range)
        super().__init__({
            "x": In(data.ArrayLayout(x_fmt.bits, pack)),
            "w": In(w_fmt.bits),
            "p": Out(data.ArrayLayout(signed(self.product_bits), pack))})

    @property
    def latency(self) -> int:
        return self.stages

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        cut_multiply, cut_output = split_stages(self.stages, 2)
        product = Signal(signed(plan.total_bits), name="packed_product")
        m.d.comb += product.eq(packed_operand(plan, [operand(self.x_fmt, self.x[i])
                                                     for i in range(self.pack)])
                               * operand(self.w_fmt, self.w))
        total = Signal(signed(plan.total_bits), name="biased_total")
        m.d.comb += total.eq(delay(m, product, cut_multiply, "m") + bias(plan))
        total = delay(m, total, cut_output, "p")
        for i, field in enumerate(split_fields(m, plan, total, "p")):
            m.d.comb += self.p[i].eq(field)
        return m
