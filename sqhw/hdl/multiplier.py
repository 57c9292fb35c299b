"""Multiplier(a_fmt, b_fmt): the exact product of two codes as a fixed-point integer."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import ref
from ..formats import Fixed
from ._refuse import refusing
from .adder import chunk_segments, chunked_add
from .operand import decode, layout_of, max_shift
from .pipeline import Pipelined, delay, effective_stages, resolve_registers
from .product import product_tree, tree_levels
from .timing import ECP5, Segment, check_target, split_shift

PRODUCTS = ("dsp", "logic")


def significand_bits(fmt) -> int:
    """Width of the integer a code's significand becomes (the multiplier's operand)."""
    return fmt.bits if isinstance(fmt, Fixed) else fmt.man_bits + 1


def product_kind(a_fmt, b_fmt, target_mhz, model=ECP5, extra_ns: float = 0.0) -> str:
    """'logic' (a pipelined partial-product tree) where the target leaves less than a hard
    multiplier used combinationally needs (with `extra_ns` of logic in its cycle), else
    'dsp' (one `*`, mapped to a DSP block)."""
    if target_mhz is None or min(significand_bits(a_fmt), significand_bits(b_fmt)) < 2:
        return "dsp"
    decode_ns = 0 if isinstance(a_fmt, Fixed) and isinstance(b_fmt, Fixed) else model.lut_ns
    budget = 1000 / target_mhz - model.register_ns
    return "logic" if decode_ns + model.multiplier_ns + extra_ns > budget else "dsp"


class Multiplier(Pipelined, wiring.Component):
    """p = a * b * 2**product_format.frac_bits, exactly; `special` flags a NaN/Inf input.

    The significands are multiplied (a small (m+1)x(m+1) multiplier) and the product is
    shifted by the sum of the exponents, as a floating-point multiplier does; Fixed operands
    enter as signed integers with shift 0. Accepts a new pair every cycle; `latency` cycles
    from input to output (0: combinational). p is 0 while `special` is 1.

    Pipelining: `stages` fills the fixed cut points (after the significand product, then the
    output); `target_mhz` lets the delay model (sqhw.hdl.timing) place registers after any of
    `segments` - the product (one `*`, or with product="logic" a partial-product tree with a
    cut after each adder level), the exponent shift and the sign - until every path fits.

    >>> from sqhw.formats import parse
    >>> mul = Multiplier(parse("float8_e4m3fn"), parse("int8"), stages=2)
    >>> mul.product_format.name, mul.latency
    ('fixed<s,17,9>', 2)
    >>> Multiplier(parse("int8"), parse("int8"), target_mhz=250).product
    'logic'
    """

    @refusing
    def __init__(self, a_fmt, b_fmt, stages: int | None = None, width: int | None = None,
                 target_mhz: float | None = None, registers=None, product: str | None = None):
        self.a_fmt, self.b_fmt = a_fmt, b_fmt
        layout_of(a_fmt), layout_of(b_fmt)  # refuses formats without hardware
        self.product_format = ref.product_format(a_fmt, b_fmt)
        pf = self.product_format
        if width is not None and (not isinstance(width, int) or width < pf.bits):
            raise ValueError(f"width: the exact product of {a_fmt.name} x {b_fmt.name} needs "
                             f"{pf.bits} bits ({pf.name}), got width={width!r}")
        if product is not None and product not in PRODUCTS:
            raise ValueError(f"product: expected one of {', '.join(PRODUCTS)}, got {product!r}")
        self.product = product or product_kind(a_fmt, b_fmt, check_target(target_mhz))
        self.width = width or pf.bits
        self.registers, self.target_mhz = resolve_registers(
            "Multiplier", self.segments(), stages, target_mhz, registers, self._legacy)
        self.stages = effective_stages(stages, target_mhz, registers)
        super().__init__({
            "a": In(layout_of(a_fmt)),
            "b": In(layout_of(b_fmt)),
            "p": Out(signed(self.width) if pf.signed else unsigned(self.width)),
            "special": Out(1),
        })

    def _operands(self):
        """(wide, narrow) significand widths: the tree adds one partial product per bit of
        the narrow one."""
        a, b = significand_bits(self.a_fmt), significand_bits(self.b_fmt)
        return (a, b) if a >= b else (b, a)

    def segments(self, model=ECP5) -> list[Segment]:
        both_fixed = isinstance(self.a_fmt, Fixed) and isinstance(self.b_fmt, Fixed)
        decode_ns = 0.0 if both_fixed else model.lut_ns
        top_shift = max_shift(self.a_fmt) + max_shift(self.b_fmt)
        # the exponents: decoded (exp - 1 for normals) beside the first product segment,
        # summed beside the next one (a DSP product: both in its one segment)
        exponent_bits = max(top_shift.bit_length(), 1)
        decode_exp = model.adder(exponent_bits) + model.lut_ns if top_shift else 0.0
        sum_exp = model.adder(exponent_bits) if top_shift else 0.0
        low_extra = 0.0  # a one-level tree: the exponent sum waits for the align step
        if self.product == "dsp":
            multiply = model.multiplier_ns if min(self._operands()) >= 2 else model.lut_ns
            product = [Segment("multiply", max(decode_ns + multiply, decode_exp + sum_exp))]
        else:
            wide, narrow = self._operands()
            levels = tree_levels(narrow)
            product = [Segment("multiply" if k == levels - 1 else f"product{k}",
                               max((decode_ns + model.lut_ns if k == 0 else 0)
                                   + model.adder(wide + narrow + 1),
                                   decode_exp if k == 0 else sum_exp if k == 1 else 0.0))
                       for k in range(levels)]
            if levels == 1:
                low_extra = sum_exp
        sign = ([Segment("sign", 0.0)] if both_fixed else
                chunk_segments("sign", self.width, model.lut_ns, model))
        low, high = self._shift_split()
        return [*product, Segment("align_low", low_extra + model.shifter(1 << low)),
                Segment("align", model.shifter(high)), *sign]

    def _shift_split(self) -> tuple[int, int]:
        """The exponent shift in two steps: (low bits, distinct high shifts)."""
        return split_shift(max_shift(self.a_fmt) + max_shift(self.b_fmt) + 1)

    def _legacy(self, stages: int) -> tuple[int, ...]:
        return self._legacy_at(stages, "multiply", "sign")

    def elaborate(self, platform):
        m = Module()
        segments = self.segments()
        a = decode(m, self.a_fmt, self.a, "a")
        b = decode(m, self.b_fmt, self.b, "b")
        regs = dict(zip((s.name for s in segments), self.registers))

        # the significand product, with the sign, NaN/Inf flag and exponent sum beside it
        both_unsigned = not (a.signed_magnitude or b.signed_magnitude)
        width = len(a.magnitude) + len(b.magnitude) + (0 if both_unsigned else 1)
        magnitude = Signal(unsigned(width) if both_unsigned else signed(width))
        if self.product == "dsp":
            m.d.comb += magnitude.eq(a.magnitude * b.magnitude)
            product_regs = regs["multiply"]
        else:
            wide, narrow = ((a.magnitude, b.magnitude) if len(a.magnitude) >= len(b.magnitude)
                            else (b.magnitude, a.magnitude))
            levels = [r for s, r in zip(segments, self.registers)
                      if s.name == "multiply" or s.name.startswith("product")]
            m.d.comb += magnitude.eq(product_tree(m, wide, narrow, levels, "pp"))
            product_regs = sum(levels)
        negative, special = Signal(), Signal()
        m.d.comb += [negative.eq(a.negative ^ b.negative), special.eq(a.special | b.special)]
        negative, special = (delay(m, v, product_regs, n) for v, n in
                             ((negative, "neg"), (special, "special")))
        if self.product == "dsp":
            magnitude = delay(m, magnitude, product_regs, "mag")
        shift = 0  # two Fixed operands: no exponents (and no zero-width shift signal)
        top_shift = max_shift(self.a_fmt) + max_shift(self.b_fmt)
        if top_shift:
            # decoded exponents registered with the first product level, summed after it
            first = self.registers[0] if self.product == "logic" else 0
            shift_a = delay(m, a.shift, first, "shift_a")
            shift_b = delay(m, b.shift, first, "shift_b")
            shift = Signal(range(top_shift + 1))
            m.d.comb += shift.eq(shift_a + shift_b)
            shift = delay(m, shift, product_regs - first, "shift")

        # align: the exponent shift, by its low bits then by the rest (the magnitude fits
        # p's shape: |aligned| <= |product|)
        low, _ = self._shift_split()
        shifted_low = Signal.like(self.p, name="aligned_low")
        m.d.comb += shifted_low.eq(magnitude << shift[:low] if top_shift else magnitude)
        shifted_low, negative, special = (
            delay(m, v, regs["align_low"], n) for v, n in
            ((shifted_low, "aligned_low"), (negative, "neg_low"), (special, "special_low")))
        aligned = Signal.like(self.p, name="aligned")
        if top_shift >> low:
            high = delay(m, shift[low:], regs["align_low"], "shift_high")
            m.d.comb += aligned.eq(shifted_low << Cat(Const(0, low), high))
        else:
            m.d.comb += aligned.eq(shifted_low)
        aligned, negative, special = (delay(m, v, regs["align"], n) for v, n in
                                      ((aligned, "aligned"), (negative, "neg_aligned"),
                                       (special, "special_aligned")))

        # sign: 0 for a NaN/Inf operand, else negate (~x + 1) when negative, in chunks
        sign_regs = [r for s, r in zip(segments, self.registers) if s.name.startswith("sign")]
        negate = Signal(name="negate")
        kept = Signal(len(self.p), name="kept")
        m.d.comb += [negate.eq(negative & ~special),
                     kept.eq(Mux(special, 0, Mux(negate, ~aligned, aligned)))]
        m.d.comb += [self.p.eq(chunked_add(m, kept, negate, sign_regs, "p")),
                     self.special.eq(delay(m, special, sum(sign_regs), "special_out"))]
        return m
