"""Multiplier(a_fmt, b_fmt): the exact product of two codes as a fixed-point integer."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import ref
from ._refuse import refusing
from .operand import decode, layout_of, max_shift, signed_value
from .pipeline import check_stages, delay, split_stages


class Multiplier(wiring.Component):
    """p = a * b * 2**product_format.frac_bits, exactly; `special` flags a NaN/Inf input.

    The significands are multiplied (a small (m+1)x(m+1) multiplier) and the product is
    shifted by the sum of the exponents, as a floating-point multiplier does; Fixed operands
    enter as signed integers with shift 0. Accepts a new pair every cycle; `latency` cycles
    from input to output (0: combinational). p is 0 while `special` is 1.

    >>> from sqhw.formats import parse
    >>> mul = Multiplier(parse("float8_e4m3fn"), parse("int8"), stages=2)
    >>> mul.product_format.name, mul.latency
    ('fixed<s,17,9>', 2)
    """

    @refusing
    def __init__(self, a_fmt, b_fmt, stages: int = 0, width: int | None = None):
        self.a_fmt, self.b_fmt = a_fmt, b_fmt
        layout_of(a_fmt), layout_of(b_fmt)  # refuses formats without hardware
        self.stages = check_stages(stages)
        self.product_format = ref.product_format(a_fmt, b_fmt)
        pf = self.product_format
        if width is not None and (not isinstance(width, int) or width < pf.bits):
            raise ValueError(f"width: the exact product of {a_fmt.name} x {b_fmt.name} needs "
                             f"{pf.bits} bits ({pf.name}), got width={width!r}")
        self.width = width or pf.bits
        super().__init__({
            "a": In(layout_of(a_fmt)),
            "b": In(layout_of(b_fmt)),
            "p": Out(signed(self.width) if pf.signed else unsigned(self.width)),
            "special": Out(1),
        })

    @property
    def latency(self) -> int:
        return self.stages

    def elaborate(self, platform):
        m = Module()
        a = decode(m, self.a_fmt, self.a, "a")
        b = decode(m, self.b_fmt, self.b, "b")
        cut_multiply, cut_output = split_stages(self.stages, 2)

        # stage 1: significand product, sign and exponent sum
        both_unsigned = not (a.signed_magnitude or b.signed_magnitude)
        width = len(a.magnitude) + len(b.magnitude) + (0 if both_unsigned else 1)
        magnitude = Signal(unsigned(width) if both_unsigned else signed(width))
        negative = Signal()
        special = Signal()
        m.d.comb += [magnitude.eq(a.magnitude * b.magnitude),
                     negative.eq(a.negative ^ b.negative),
                     special.eq(a.special | b.special)]
        magnitude, negative, special = (delay(m, v, cut_multiply, n) for v, n in
                                        ((magnitude, "mag"), (negative, "neg"),
                                         (special, "special")))
        shift = 0  # two Fixed operands: no exponents (and no zero-width shift signal)
        top_shift = max_shift(self.a_fmt) + max_shift(self.b_fmt)
        if top_shift:
            shift = Signal(range(top_shift + 1))
            m.d.comb += shift.eq(a.shift + b.shift)
            shift = delay(m, shift, cut_multiply, "shift")

        # stage 2: align and apply the sign
        product = Signal.like(self.p, name="product")
        m.d.comb += product.eq(signed_value(magnitude, shift, negative, special))
        m.d.comb += [self.p.eq(delay(m, product, cut_output, "p")),
                     self.special.eq(delay(m, special, cut_output, "special_out"))]
        return m
