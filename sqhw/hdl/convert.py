"""Converters: Minifloat -> Fixed (exact) and the output requantizer Fixed -> Minifloat / Fixed.

The requantizer rounds once with the modes of sqhw.formats.rounding that make sense in
hardware (rne, rtz, rna, floor, ceil, and stochastic from a random input word, e.g. an
LFSR) and follows the same overflow rules as encode: sqhw.ref.requantize is its model.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import Fixed, Minifloat
from ..ref import special_code
from ..formats.rounding import DETERMINISTIC_MODES, Rounding, check_mode
from ._refuse import refusing
from .adder import chunk_segments, chunked_add
from .multiplier import product_kind
from .operand import decode, layout_of, max_shift
from .pipeline import Pipelined, delay, effective_stages, resolve_registers
from .product import product_tree, tree_levels
from .shifter import shift_segments, stepped_shift
from .timing import ECP5, Segment, check_target


def fixed_shape(fmt: Fixed):
    return signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)


def saturate_or_wrap(m: Module, value: Value, out: Fixed, saturate: bool,
                     cut=lambda *values: values) -> Signal:
    """The code of an integer in `out`: clamped to its range, or its low bits (wrap).
    `cut(low_bits, over, under)` may register the range tests before the clamp."""
    code = Signal(out.bits, name="code")
    low = Signal(out.bits, name="low_bits")
    over, under = Signal(name="over"), Signal(name="under")
    m.d.comb += [low.eq(value), over.eq(value > out.max_int if saturate else 0),
                 under.eq(value < out.min_int if saturate else 0)]
    low, over, under = cut(low, over, under)
    m.d.comb += code.eq(Mux(over, out.max_int, Mux(under, out.min_int, low)))
    return code


def range_segments(bits: int, model=ECP5) -> list[Segment]:
    """`saturate_or_wrap`'s two segments on a `bits`-wide value: the range test (two compares,
    carry chains side by side) and the clamp: `over` / `under` select, in a LUT level, every
    output bit, so their routes fan out: one LUT level's route more (`spread(2)`, whatever
    the output's width). Refitted 2026-11-22: the 4-lane int8 chain took 6.3 ns for test and clamp between
    registers (7.36 ns with them), the e4m3fn x int8 chain 6.2 ns; the model said 5.45 and
    left them in one cycle at 150 MHz. The test alone fits (the int8 MAC: 234.6 MHz)."""
    return [Segment("compare", model.adder(bits)),
            Segment("saturate", 2 * model.lut_ns + model.spread(2))]

LZC_BLOCK = 16  # bits per block of the leading-zero count's first step


def _zeros_tree(nodes):
    """(all zero, zeros above the first one) of nodes (zero, count) of equal size, top first:
    one level of 2:1 muxes per halving."""
    if len(nodes) == 1:
        return nodes[0]
    half = len(nodes) // 2
    (hi_zero, hi_count), (lo_zero, lo_count) = _zeros_tree(nodes[:half]), _zeros_tree(
        nodes[half:])
    count = Cat(Mux(hi_zero, lo_count, hi_count), hi_zero) if len(hi_count) else hi_zero
    return hi_zero & lo_zero, count


def lzc_blocks(width: int) -> tuple[int, int]:
    """(block size, blocks) of the leading-zero count of `width` bits (a power of two each)."""
    size = 1 << max(1, (width - 1).bit_length())
    block = min(size, LZC_BLOCK)
    return block, size // block


def leading_zeros(m: Module, value: Value, name: str, cut=lambda *values: values) -> Signal:
    """The number of zero bits above value's highest set bit (len(value) when it is 0), as a
    tree of 2:1 muxes (log2(width) levels, not a priority chain as long as the value) in two
    steps: the count inside each block of LZC_BLOCK bits, then across the blocks;
    cut(*values) may register the blocks' results between the two."""
    width = len(value)
    block, blocks = lzc_blocks(width)
    bits = [value[i] for i in range(width)][::-1] + [Const(0, 1)] * (block * blocks - width)
    leaves = [(~bit, Const(0, 0)) for bit in bits]  # top first
    parts = []
    for j in range(blocks):
        zero, count = _zeros_tree(leaves[j * block:(j + 1) * block])
        zero_q = Signal(name=f"{name}_block{j}_zero")
        count_q = Signal(len(count), name=f"{name}_block{j}_count")
        m.d.comb += [zero_q.eq(zero), count_q.eq(count)]
        parts += [zero_q, count_q]
    parts = cut(*parts)
    zero, count = _zeros_tree([(parts[2 * j], parts[2 * j + 1]) for j in range(blocks)])
    lzc = Signal(range(width + 1), name=name)
    m.d.comb += lzc.eq(Mux(zero, width, count))
    return lzc


def round_up(mode: str, negative: Value, lsb: Value, guard: Value, sticky: Value,
             fraction: Value | None = None, random: Value | None = None,
             twos_complement: bool = False) -> Value:
    """Whether to add one ulp to a truncated result.

    Sign-magnitude truncation is toward zero; two's-complement truncation is floor.
    `fraction` (the discarded bits, top first) and `random` serve stochastic rounding:
    round up when fraction + random carries out of their width.
    """
    inexact = guard | sticky
    mode = Rounding.of(mode)
    if mode is Rounding.RNE:
        return guard & (sticky | lsb)
    if mode is Rounding.RNA:
        return guard & (sticky | ~negative) if twos_complement else guard
    if mode is Rounding.RTZ:
        return inexact & negative if twos_complement else Const(0, 1)
    if mode is Rounding.FLOOR:
        return Const(0, 1) if twos_complement else inexact & negative
    if mode is Rounding.CEIL:
        return inexact if twos_complement else inexact & ~negative
    # stochastic: up when the discarded fraction plus the random word carries out
    return (fraction + random)[len(fraction)]


class MinifloatToFixed(Pipelined, wiring.Component):
    """Exact conversion of a minifloat code to the format's exact_fixed integer.

    >>> from sqhw.formats import parse
    >>> MinifloatToFixed(parse("float8_e4m3fn")).out_format.name
    'fixed<s,10,9>'
    """

    @refusing
    def __init__(self, fmt: Minifloat, stages: int | None = None,
                 target_mhz: float | None = None, registers=None):
        if not isinstance(fmt, Minifloat):
            raise TypeError(f"MinifloatToFixed: expected a Minifloat, got {fmt!r}")
        self.fmt = fmt
        self.stages = effective_stages(stages, target_mhz, registers)
        self.out_format = fmt.exact_fixed
        segments = self.segments()
        self.registers, self.target_mhz = resolve_registers(
            "MinifloatToFixed", segments, stages, target_mhz, registers,
            lambda n: (0,) * (len(segments) - 1) + (n,))  # `stages` registers the output
        super().__init__({"i": In(layout_of(fmt)), "o": Out(fixed_shape(self.out_format)),
                          "special": Out(1)})

    def segments(self, model=ECP5) -> list[Segment]:
        return [Segment("align", model.lut_ns + model.shifter(max_shift(self.fmt) + 1)),
                *chunk_segments("sign", self.out_format.bits, model.lut_ns, model)]

    def elaborate(self, platform):
        m = Module()
        d = decode(m, self.fmt, self.i, "i")
        aligned = Signal.like(self.o, name="aligned")  # |aligned| <= |value|: it fits
        m.d.comb += aligned.eq(d.magnitude << d.shift)
        aligned, negative, special = self.cut(m, "align", aligned, d.negative, d.special)
        negate = Signal(name="negate")
        kept = Signal(len(self.o), name="kept")
        m.d.comb += [negate.eq(negative & ~special),
                     kept.eq(Mux(special, 0, Mux(negate, ~aligned, aligned)))]
        m.d.comb += [self.o.eq(chunked_add(m, kept, negate, self.registers_of("sign"), "o")),
                     self.special.eq(delay(m, special, sum(self.registers_of("sign")),
                                           "special_out"))]
        return m


class Requantizer(Pipelined, wiring.Component):
    """Round a Fixed value (integer i, frac_bits of in_fmt) once into out_fmt's codes.

    Ports: i (the fixed-point integer), o (the output code), and `random` (random_bits wide)
    when rounding="stochastic". `latency` = its registers: `stages` go after the alignment
    (normalising) shift and at the output; `target_mhz` places them after any of `segments`
    (into a minifloat: magnitude, leading zeros, normalise, round, overflow).

    >>> from sqhw.formats import Fixed, parse
    >>> rq = Requantizer(Fixed(20, 18), parse("float8_e4m3fn"), rounding="rne", saturate=True)
    >>> rq.latency, rq.o.shape().size   # o is a float8_e4m3fn code: layout_of(out_fmt)
    (0, 8)
    """

    @refusing
    def __init__(self, in_fmt: Fixed, out_fmt, rounding: str = "rne", saturate: bool = True,
                 stages: int | None = None, random_bits: int = 16,
                 target_mhz: float | None = None, registers=None):
        if not isinstance(in_fmt, Fixed):
            raise TypeError(f"in_fmt: expected a Fixed format, got {in_fmt!r}")
        layout_of(out_fmt)
        if isinstance(out_fmt, Minifloat) and not out_fmt.has_zero:
            raise ValueError(f"out_fmt: {out_fmt.name} has no zero; it is a scale format, "
                             "not a requantizer output")
        check_mode(rounding)
        if not isinstance(random_bits, int) or random_bits < 1:
            raise ValueError(f"random_bits: expected a positive integer, got {random_bits!r}")
        self.in_fmt, self.out_fmt = in_fmt, out_fmt
        self.rounding, self.saturate = rounding, bool(saturate)
        self.random_bits = random_bits
        self.stages = effective_stages(stages, target_mhz, registers)
        mid, out = (("normalise", "overflow") if isinstance(out_fmt, Minifloat)
                    else ("align", "saturate"))
        self.registers, self.target_mhz = resolve_registers(
            "Requantizer", self.segments(), stages, target_mhz, registers,
            lambda n: self._legacy_at(n, mid, out))
        members = {"i": In(fixed_shape(in_fmt)), "o": Out(layout_of(out_fmt))}
        if rounding == "stochastic":
            members["random"] = In(random_bits)
        super().__init__(members)

    def _minifloat_geometry(self):
        """(w, f, top, bottom, limit, code_width) of the normalising datapath."""
        out, r = self.out_fmt, self.random_bits
        man, width, frac = out.man_bits, self.in_fmt.bits, self.in_fmt.frac_bits
        # zeros on top so the normalising shift limit is >= 0; below for guard (+ fraction)
        top = max(0, out.emin + frac - (width - 1))
        bottom = max(0, man + 2 + (r if self.rounding == "stochastic" else 0) - (width + top))
        w = width + top + bottom
        f = frac + bottom
        limit = w - 1 - out.emin - f  # the largest left shift: below it, results are subnormal
        exp_width = max(limit, out.bias + w, 1).bit_length() + 2
        return w, f, top, bottom, limit, exp_width, exp_width + man + 1

    def segments(self, model=ECP5) -> list[Segment]:
        width = self.in_fmt.bits
        if isinstance(self.out_fmt, Minifloat):
            w, _, _, _, limit, _, code_width = self._minifloat_geometry()
            man = self.out_fmt.man_bits
            # |n| = (n ^ mask) + negative: the complement (and the zero test) in one LUT
            # level, then the add in chunks
            return [Segment("complement", max(model.lut_ns, model.reduce(width))),
                    *chunk_segments("magnitude", width, 0.0, model),
                    # the leading-zero count: inside blocks, then across them
                    Segment("leading_zeros_blocks", model.luts(lzc_blocks(w)[0].bit_length() - 1)),
                    Segment("leading_zeros", model.luts(lzc_blocks(w)[1].bit_length())),
                    Segment("clamp", model.adder(limit.bit_length()) + model.lut_ns),
                    *shift_segments("normalise", limit + 1, model),
                    Segment("sticky", max(model.reduce(w - 2 - man) + model.lut_ns,
                                          model.adder(code_width))),  # beside: exp field
                    Segment("round", model.adder(code_width)),
                    Segment("overflow", model.adder(code_width) + 2 * model.lut_ns)]
        shift = self.in_fmt.frac_bits - self.out_fmt.frac_bits
        low = shift + max(0, self.random_bits - shift)
        kept = width - shift + 2
        return [Segment("align", model.reduce(low - 1) if shift > 0 else 0.0),
                Segment("round", model.lut_ns + model.adder(kept) if shift > 0 else 0.0),
                *range_segments(kept, model)]

    def elaborate(self, platform):
        m = Module()
        random = self.random if self.rounding == "stochastic" else None
        if isinstance(self.out_fmt, Fixed):
            code = self._to_fixed(m, self.i, random)
        else:
            code = self._to_minifloat(m, self.i, random)
        m.d.comb += self.o.eq(code)
        return m

    # -- Fixed -> Fixed ------------------------------------------------------------------
    def _to_fixed(self, m: Module, n: Value, random) -> Value:
        out, r = self.out_fmt, self.random_bits
        shift = self.in_fmt.frac_bits - out.frac_bits
        negative = n[-1] if self.in_fmt.signed else Const(0, 1)
        if shift <= 0:
            result = n << -shift
            aligned = Signal(signed(len(n) - shift + 1), name="aligned")
            m.d.comb += aligned.eq(result)
            (wide,) = self.cut(m, "align", aligned)
            (wide,) = self.cut(m, "round", wide)
        else:
            # pad below so that guard and the stochastic fraction always exist
            pad = max(0, r - shift)
            padded = Cat(Const(0, pad), n) if pad else n
            padded = padded.as_signed() if self.in_fmt.signed else padded.as_unsigned()
            low = shift + pad
            truncated = padded[low:]
            truncated = truncated.as_signed() if self.in_fmt.signed else truncated.as_unsigned()
            guard = padded[low - 1]
            sticky = padded[:low - 1].any() if low > 1 else Const(0, 1)
            fraction = padded[low - r:low] if self.rounding == "stochastic" else None
            truncated_q = Signal.like(truncated, name="truncated")
            m.d.comb += truncated_q.eq(truncated)
            truncated, guard, sticky, fraction, random, negative = self.cut(
                m, "align", truncated_q, guard, sticky, fraction, random, negative)
            up = round_up(self.rounding, negative, truncated[0], guard, sticky, fraction, random,
                          twos_complement=True)
            wide = Signal(signed(len(truncated) + 2), name="rounded")
            m.d.comb += wide.eq(truncated + up)
            (wide,) = self.cut(m, "round", wide)
        code = saturate_or_wrap(m, wide, out, self.saturate,
                                lambda *v: self.cut(m, "compare", *v))
        (code,) = self.cut(m, "saturate", code)
        return code

    # -- Fixed -> Minifloat ----------------------------------------------------------------
    def _to_minifloat(self, m: Module, n: Value, random) -> Value:
        out, r = self.out_fmt, self.random_bits
        man, width = out.man_bits, self.in_fmt.bits
        stochastic = self.rounding == "stochastic"
        w, f, top, bottom, limit, exp_width, code_width = self._minifloat_geometry()
        negative = n[-1] if self.in_fmt.signed else Const(0, 1)
        ones = Signal(width, name="ones")  # |n| = (n ^ mask) + negative, added in chunks
        m.d.comb += ones.eq(Mux(negative, ~n, n))
        nonzero = Signal(name="nonzero")
        m.d.comb += nonzero.eq(n != 0)
        ones, negative, nonzero, random = self.cut(m, "complement", ones, negative, nonzero,
                                                   random)
        magnitude = chunked_add(m, ones, negative, self.registers_of("magnitude"), "magnitude")
        negative, nonzero, random = (None if v is None else
                                     delay(m, v, sum(self.registers_of("magnitude")), name)
                                     for v, name in ((negative, "neg_mag"),
                                                     (nonzero, "nonzero_mag"),
                                                     (random, "random_mag")))
        mag = Signal(w, name="padded")
        m.d.comb += mag.eq(Cat(Const(0, bottom), magnitude, Const(0, top)) if bottom or top
                           else magnitude)
        lzc_regs = self.registers_of("leading_zeros_blocks")[0]
        lzc = leading_zeros(m, mag, "lzc", lambda *v: [delay(m, x, lzc_regs, x.name) for x in v])
        mag, negative, nonzero, random = self.cut(
            m, "leading_zeros_blocks", mag, negative, nonzero, random)
        mag, lzc, negative, nonzero, random = self.cut(
            m, "leading_zeros", mag, lzc, negative, nonzero, random)
        shift = Signal(range(limit + 1), name="norm_shift")
        m.d.comb += shift.eq(Mux(lzc < limit, lzc, limit))
        mag, shift, negative, nonzero, random = self.cut(
            m, "clamp", mag, shift, negative, nonzero, random)
        # the normalising shift in 4:1 steps; the shift amount travels on (exponent field)
        normalised, shift, (negative, random, nonzero) = stepped_shift(
            m, mag, shift, limit + 1, "normalised", "normalise",
            lambda name, *v: self.cut(m, name, *v), (negative, random, nonzero))
        significand = normalised[w - 1 - man:]
        guard = normalised[w - 2 - man]
        sticky = normalised[:w - 2 - man].any() if w - 2 - man > 0 else Const(0, 1)
        fraction = normalised[w - 1 - man - r:w - 1 - man] if stochastic else None
        # exponent field: biased exponent of a normal result, 0 for subnormals and zero
        exp_field = Signal(signed(exp_width), name="exp_field")
        m.d.comb += exp_field.eq(Mux(significand[man], w - 1 - f + out.bias - shift, 0))
        truncated = Signal(code_width, name="truncated_code")
        m.d.comb += truncated.eq(Cat(significand[:man], exp_field) if man else exp_field)
        up = Signal(name="round_up")
        m.d.comb += up.eq(round_up(self.rounding, negative, significand[0], guard, sticky,
                                   fraction, random))
        truncated, up, negative, nonzero = self.cut(m, "sticky", truncated, up, negative,
                                                    nonzero)
        rounded = Signal(code_width + 1, name="rounded_code")
        m.d.comb += rounded.eq(truncated + up)  # a carry walks into the exponent by itself
        rounded, negative, nonzero = self.cut(m, "round", rounded, negative, nonzero)

        overflow = rounded > out.max_magnitude_code
        toward_zero = {Rounding.RTZ: Const(1, 1), Rounding.FLOOR: ~negative,
                       Rounding.CEIL: negative}.get(Rounding.of(self.rounding), Const(0, 1))
        clamp = Const(1, 1) if (self.saturate or not (out.inf or out.nan)) else toward_zero
        special = out.inf_code if out.inf else out.nan_code
        magnitude_code = Signal(out.bits, name="magnitude_code")
        m.d.comb += magnitude_code.eq(Mux(overflow, out.max_magnitude_code, rounded))
        code = Signal(out.bits, name="code")
        sign_bit = 1 << (out.bits - 1)
        if out.signed:
            keep_sign = negative if out.nan != "negzero" else negative & (magnitude_code != 0)
            signed_code = magnitude_code | Mux(keep_sign, sign_bit, 0)
            special_code = special | Mux(negative & out.inf, sign_bit, 0) if special is not None \
                else 0
            m.d.comb += code.eq(Mux(overflow & ~clamp, special_code, signed_code))
        else:  # negatives have no code: 0 when saturating or without NaN, else NaN
            neg_code = out.nan_code if (out.nan and not self.saturate) else 0
            m.d.comb += code.eq(Mux(negative & nonzero, neg_code,
                                    Mux(overflow & ~clamp, special or 0, magnitude_code)))
        (code,) = self.cut(m, "overflow", code)
        return code


class DyadicRequantizer(Pipelined, wiring.Component):
    """Integer-path requantizer (HAWQ-V3 style): o = sat(round(i * m / 2**shift) + zero_point).

    m (multiplier_bits, unsigned) and zero_point (signed, the output's width + 1) are run-time
    inputs, so one unit serves per-channel scales; shift is a parameter. sqhw.ref
    .requantize_dyadic is its model. `stages` go after the product and at the output;
    `target_mhz` places registers after any of `segments` (the product becomes a pipelined
    partial-product tree where a hard multiplier cannot meet the target).

    >>> from sqhw.formats import Fixed, parse
    >>> DyadicRequantizer(Fixed(24, 0), parse("int8"), multiplier_bits=16, shift=20).latency
    0
    """

    @refusing
    def __init__(self, in_fmt: Fixed, out_fmt: Fixed, multiplier_bits: int = 16,
                 shift: int = 16, rounding: str = "rne", saturate: bool = True,
                 stages: int | None = None, target_mhz: float | None = None, registers=None,
                 product: str | None = None):
        for arg, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
            if not isinstance(fmt, Fixed) or fmt.frac_bits:
                raise TypeError(f"{arg}: expected an integer format (Fixed, frac_bits=0), "
                                f"got {fmt!r}")
        if rounding not in DETERMINISTIC_MODES:
            raise ValueError(f"rounding: expected one of {', '.join(DETERMINISTIC_MODES)}, "
                             f"got {rounding!r}")
        for arg, value in (("multiplier_bits", multiplier_bits), ("shift", shift)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}: expected a positive integer, got {value!r}")
        self.in_fmt, self.out_fmt = in_fmt, out_fmt
        self.multiplier_bits, self.shift = multiplier_bits, shift
        self.rounding, self.saturate = rounding, bool(saturate)
        self.stages = effective_stages(stages, target_mhz, registers)
        if product is not None and product not in ("dsp", "logic"):
            raise ValueError(f"product: expected dsp or logic, got {product!r}")
        self.product = product or product_kind(
            in_fmt, Fixed(multiplier_bits, 0, signed=False), check_target(target_mhz),
            extra_ns=ECP5.adder(in_fmt.bits + multiplier_bits + 1))  # wider than one MULT18
        self.registers, self.target_mhz = resolve_registers(
            "DyadicRequantizer", self.segments(), stages, target_mhz, registers,
            lambda n: self._legacy_at(n, "product", "saturate"))
        super().__init__({"i": In(fixed_shape(in_fmt)), "m": In(multiplier_bits),
                          "zero_point": In(signed(out_fmt.bits + 1)),
                          "o": Out(layout_of(out_fmt))})

    def segments(self, model=ECP5) -> list[Segment]:
        bits = self.in_fmt.bits + self.multiplier_bits + 1
        kept = bits - self.shift + 3
        if self.product == "dsp":
            product = [Segment("product", model.multiplier_ns + model.adder(bits))]
        else:
            levels = tree_levels(min(self.in_fmt.bits, self.multiplier_bits))
            product = [Segment("product" if k == levels - 1 else f"product{k}",
                               (model.lut_ns if k == 0 else 0) + model.adder(bits))
                       for k in range(levels)]
        return [*product,
                Segment("sticky", model.reduce(self.shift - 1) + model.lut_ns),
                Segment("round", model.adder(kept)),
                Segment("offset", model.adder(kept)),
                *range_segments(kept, model)]

    def elaborate(self, platform):
        m = Module()
        segments = self.segments()
        product = Signal(signed(len(self.i) + self.multiplier_bits + 1), name="product")
        if self.product == "dsp":
            m.d.comb += product.eq(self.i * self.m)
            (product,) = self.cut(m, "product", product)
            product_regs = self.registers[[s.name for s in segments].index("product")]
        else:
            levels = [r for s, r in zip(segments, self.registers)
                      if s.name.startswith("product")]
            wide, narrow = ((self.i, self.m) if len(self.i) >= len(self.m)
                            else (self.m, self.i))
            m.d.comb += product.eq(product_tree(m, wide, narrow, levels, "pp"))
            product_regs = sum(levels)
        zero_point = delay(m, self.zero_point, product_regs, "zero_point")
        s = self.shift
        truncated = product[s:].as_signed()
        guard = product[s - 1]
        sticky = product[:s - 1].any() if s > 1 else Const(0, 1)
        up = Signal(name="round_up")
        m.d.comb += up.eq(round_up(self.rounding, product[-1], truncated[0], guard, sticky,
                                   twos_complement=True))
        kept = Signal.like(truncated, name="truncated")
        m.d.comb += kept.eq(truncated)
        truncated, up, zero_point = self.cut(m, "sticky", kept, up, zero_point)
        rounded = Signal(signed(len(truncated) + 1), name="rounded")
        m.d.comb += rounded.eq(truncated + up)
        rounded, zero_point = self.cut(m, "round", rounded, zero_point)
        total = Signal(signed(len(truncated) + 3), name="total")
        m.d.comb += total.eq(rounded + zero_point)
        (total,) = self.cut(m, "offset", total)
        code = saturate_or_wrap(m, total, self.out_fmt, self.saturate,
                                lambda *v: self.cut(m, "compare", *v))
        (code,) = self.cut(m, "saturate", code)
        m.d.comb += self.o.eq(code)
        return m


def flagged_code(code: Value, special: Value, out_fmt) -> Value:
    """The requantized code, or sqhw.ref.special_code(out_fmt) (NaN, else Inf, else 0)
    while `special` says a term or a scale was NaN/Inf."""
    return Mux(special, special_code(out_fmt), code)
