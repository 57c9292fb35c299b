"""Multiplier(a_fmt, b_fmt): the exact product of two codes as a fixed-point integer."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import ref
from ..formats import Fixed
from ._refuse import refusing
from .adder import chunk_segments, chunked_add
from .operand import decode, layout_of, max_shift
from .pipeline import Pipelined, delay, effective_stages, resolve_registers
from .product import product_tree, tree_levels
from .shifter import shift_segments, stepped_shift
from .timing import ECP5, Segment, check_target

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
    `segments` - the decode, the product (one `*`, or with product="logic" a partial-product
    tree with a cut after each adder level), each 4:1 step of the exponent shift, the
    complement and each chunk of the sign's add - until every path fits.

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
        top_shift = max_shift(self.a_fmt) + max_shift(self.b_fmt)
        # decode: the significands' implicit bits and each exponent (exp - 1 for normals);
        # the exponent sum runs beside the first product segment
        exponent_bits = max(top_shift.bit_length(), 1)
        decode_exp = model.adder(exponent_bits) + model.lut_ns if top_shift else 0.0
        decode = Segment("decode", max(0.0 if both_fixed else model.lut_ns, decode_exp))
        sum_exp = model.adder(exponent_bits) if top_shift else 0.0
        if self.product == "dsp":
            multiply = model.multiplier_ns if min(self._operands()) >= 2 else model.lut_ns
            product = [Segment("multiply", max(multiply, sum_exp))]
        else:
            wide, narrow = self._operands()
            levels = tree_levels(narrow)
            # level k adds two sums of 2**k partial products: wide + 2**(k+1) bits
            product = [Segment("multiply" if k == levels - 1 else f"product{k}",
                               max((model.lut_ns if k == 0 else 0.0)
                                   + model.adder(min(wide + (2 << k), wide + narrow + 1)),
                                   sum_exp if k == 0 else 0.0))
                       for k in range(levels)]
        # sign: 0 for NaN/Inf, else ~x when negative (one LUT level), then + 1 in chunks
        sign = ([Segment("complement", 0.0), Segment("sign", 0.0)] if both_fixed else
                [Segment("complement", model.lut_ns),
                 *chunk_segments("sign", self.width, 0.0, model)])
        return [decode, *product, *shift_segments("align", top_shift + 1, model), *sign]

    def _legacy(self, stages: int) -> tuple[int, ...]:
        return self._legacy_at(stages, "multiply", "sign")

    def elaborate(self, platform):
        m = Module()
        segments = self.segments()
        a = decode(m, self.a_fmt, self.a, "a")
        b = decode(m, self.b_fmt, self.b, "b")
        top_shift = max_shift(self.a_fmt) + max_shift(self.b_fmt)
        negative, special = Signal(name="negative"), Signal(name="special")
        m.d.comb += [negative.eq(a.negative ^ b.negative), special.eq(a.special | b.special)]
        a_mag, b_mag, a_shift, b_shift, negative, special = self.cut(
            m, "decode", a.magnitude, b.magnitude, a.shift if top_shift else None,
            b.shift if top_shift else None, negative, special)

        # the significand product, with the exponent sum, sign and NaN/Inf flag beside it
        both_unsigned = not (a.signed_magnitude or b.signed_magnitude)
        width = len(a_mag) + len(b_mag) + (0 if both_unsigned else 1)
        magnitude = Signal(unsigned(width) if both_unsigned else signed(width))
        shift = Const(0, 1)  # two Fixed operands: no exponents (and no zero-width signal)
        if top_shift:
            shift = Signal(range(top_shift + 1), name="shift")
            m.d.comb += shift.eq(a_shift + b_shift)
        if self.product == "dsp":
            m.d.comb += magnitude.eq(a_mag * b_mag)
            magnitude, shift, negative, special = self.cut(
                m, "multiply", magnitude, shift, negative, special)
        else:
            wide, narrow = (a_mag, b_mag) if len(a_mag) >= len(b_mag) else (b_mag, a_mag)
            levels = [r for s, r in zip(segments, self.registers)
                      if s.name == "multiply" or s.name.startswith("product")]
            m.d.comb += magnitude.eq(product_tree(m, wide, narrow, levels, "pp"))
            shift, negative, special = (delay(m, v, sum(levels), n) for v, n in
                                        ((shift, "shift_pp"), (negative, "neg_pp"),
                                         (special, "special_pp")))

        # align: the exponent shift in 4:1 steps (the magnitude fits p's shape:
        # |aligned| <= |product|)
        product = Signal.like(self.p, name="product")
        m.d.comb += product.eq(magnitude)
        aligned, _, (negative, special) = stepped_shift(
            m, product, shift, top_shift + 1, "aligned", "align",
            lambda name, *v: self.cut(m, name, *v), (negative, special))

        # sign: 0 for a NaN/Inf operand, else negate (~x + 1) when negative, in chunks
        negate = Signal(name="negate")
        kept = Signal(len(self.p), name="kept")
        m.d.comb += [negate.eq(negative & ~special),
                     kept.eq(Mux(special, 0, Mux(negate, ~aligned, aligned)))]
        kept, negate, special = self.cut(m, "complement", kept, negate, special)
        sign_regs = self.registers_of("sign")
        m.d.comb += [self.p.eq(chunked_add(m, kept, negate, sign_regs, "p")),
                     self.special.eq(delay(m, special, sum(sign_regs), "special_out"))]
        return m
