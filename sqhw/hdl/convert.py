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
from .operand import decode, layout_of, signed_value
from .pipeline import check_stages, delay, split_stages


def fixed_shape(fmt: Fixed):
    return signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)


def saturate_or_wrap(m: Module, value: Value, out: Fixed, saturate: bool) -> Signal:
    """The code of an integer in `out`: clamped to its range, or its low bits (wrap)."""
    code = Signal(out.bits, name="code")
    if saturate:
        m.d.comb += code.eq(Mux(value > out.max_int, out.max_int,
                                Mux(value < out.min_int, out.min_int, value)))
    else:
        m.d.comb += code.eq(value)
    return code


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


class MinifloatToFixed(wiring.Component):
    """Exact conversion of a minifloat code to the format's exact_fixed integer.

    >>> from sqhw.formats import parse
    >>> MinifloatToFixed(parse("float8_e4m3fn")).out_format.name
    'fixed<s,10,9>'
    """

    @refusing
    def __init__(self, fmt: Minifloat, stages: int = 0):
        if not isinstance(fmt, Minifloat):
            raise TypeError(f"MinifloatToFixed: expected a Minifloat, got {fmt!r}")
        self.fmt, self.stages = fmt, check_stages(stages)
        self.out_format = fmt.exact_fixed
        super().__init__({"i": In(layout_of(fmt)), "o": Out(fixed_shape(self.out_format)),
                          "special": Out(1)})

    @property
    def latency(self) -> int:
        return self.stages

    def elaborate(self, platform):
        m = Module()
        d = decode(m, self.fmt, self.i, "i")
        value = Signal.like(self.o, name="value")
        m.d.comb += value.eq(signed_value(d.magnitude, d.shift, d.negative, d.special))
        m.d.comb += [self.o.eq(delay(m, value, self.stages, "o")),
                     self.special.eq(delay(m, d.special, self.stages, "special"))]
        return m


class Requantizer(wiring.Component):
    """Round a Fixed value (integer i, frac_bits of in_fmt) once into out_fmt's codes.

    Ports: i (the fixed-point integer), o (the output code), and `random` (random_bits wide)
    when rounding="stochastic". `latency` = stages.

    >>> from sqhw.formats import Fixed, parse
    >>> rq = Requantizer(Fixed(20, 18), parse("float8_e4m3fn"), rounding="rne", saturate=True)
    >>> rq.latency, rq.o.shape().size   # o is a float8_e4m3fn code: layout_of(out_fmt)
    (0, 8)
    """

    @refusing
    def __init__(self, in_fmt: Fixed, out_fmt, rounding: str = "rne", saturate: bool = True,
                 stages: int = 0, random_bits: int = 16):
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
        self.stages, self.random_bits = check_stages(stages), random_bits
        members = {"i": In(fixed_shape(in_fmt)), "o": Out(layout_of(out_fmt))}
        if rounding == "stochastic":
            members["random"] = In(random_bits)
        super().__init__(members)

    @property
    def latency(self) -> int:
        return self.stages

    def elaborate(self, platform):
        m = Module()
        random = self.random if self.rounding == "stochastic" else None
        # registers go after the alignment step (mid) and at the output
        self._cut_mid, cut_out = split_stages(self.stages, 2)
        if isinstance(self.out_fmt, Fixed):
            code = self._to_fixed(m, self.i, random)
        else:
            code = self._to_minifloat(m, self.i, random)
        m.d.comb += self.o.eq(delay(m, code, cut_out, "o"))
        return m

    def _mid(self, m: Module, *values):
        """The values after the mid-pipeline registers (none for stages < 2)."""
        return [v if v is None else delay(m, v, self._cut_mid, f"mid{i}")
                for i, v in enumerate(values)]

    # -- Fixed -> Fixed ------------------------------------------------------------------
    def _to_fixed(self, m: Module, n: Value, random) -> Value:
        out, r = self.out_fmt, self.random_bits
        shift = self.in_fmt.frac_bits - out.frac_bits
        negative = n[-1] if self.in_fmt.signed else Const(0, 1)
        if shift <= 0:
            result = n << -shift
            aligned = Signal(signed(len(n) - shift + 1), name="aligned")
            m.d.comb += aligned.eq(result)
            (wide,) = self._mid(m, aligned)
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
            truncated, guard, sticky, fraction, random, negative = self._mid(
                m, truncated_q, guard, sticky, fraction, random, negative)
            up = round_up(self.rounding, negative, truncated[0], guard, sticky, fraction, random,
                          twos_complement=True)
            wide = Signal(signed(len(truncated) + 2), name="rounded")
            m.d.comb += wide.eq(truncated + up)
        return saturate_or_wrap(m, wide, out, self.saturate)

    # -- Fixed -> Minifloat ----------------------------------------------------------------
    def _to_minifloat(self, m: Module, n: Value, random) -> Value:
        out, r = self.out_fmt, self.random_bits
        man, width, frac = out.man_bits, self.in_fmt.bits, self.in_fmt.frac_bits
        stochastic = self.rounding == "stochastic"
        negative = n[-1] if self.in_fmt.signed else Const(0, 1)
        magnitude = Signal(width, name="magnitude")
        m.d.comb += magnitude.eq(Mux(negative, -n, n))
        # zeros on top so the normalising shift limit is >= 0; below for guard (+ fraction)
        top = max(0, out.emin + frac - (width - 1))
        bottom = max(0, man + 2 + (r if stochastic else 0) - (width + top))
        w = width + top + bottom
        f = frac + bottom
        mag = Cat(Const(0, bottom), magnitude, Const(0, top)) if bottom or top else magnitude
        limit = w - 1 - out.emin - f  # the largest left shift: below it, results are subnormal
        lzc = Signal(range(w + 1), name="lzc")
        m.d.comb += lzc.eq(w)
        for i in range(w):  # priority encoder: the highest set bit wins
            with m.If(mag[i]):
                m.d.comb += lzc.eq(w - 1 - i)
        shift = Signal(range(limit + 1), name="norm_shift")
        m.d.comb += shift.eq(Mux(lzc < limit, lzc, limit))
        normalised = Signal(w, name="normalised")
        m.d.comb += normalised.eq(mag << shift)
        nonzero = Signal(name="nonzero")
        m.d.comb += nonzero.eq(n != 0)
        normalised, shift, negative, random, nonzero = self._mid(
            m, normalised, shift, negative, random, nonzero)
        significand = normalised[w - 1 - man:]
        guard = normalised[w - 2 - man]
        sticky = normalised[:w - 2 - man].any() if w - 2 - man > 0 else Const(0, 1)
        fraction = normalised[w - 1 - man - r:w - 1 - man] if stochastic else None
        # exponent field: biased exponent of a normal result, 0 for subnormals and zero
        exp_width = max(limit, out.bias + w, 1).bit_length() + 2
        exp_field = Signal(signed(exp_width), name="exp_field")
        m.d.comb += exp_field.eq(Mux(significand[man], w - 1 - f + out.bias - shift, 0))
        code_width = exp_width + man + 1
        truncated = Signal(code_width, name="truncated_code")
        m.d.comb += truncated.eq(Cat(significand[:man], exp_field) if man else exp_field)
        up = round_up(self.rounding, negative, significand[0], guard, sticky, fraction, random)
        rounded = Signal(code_width + 1, name="rounded_code")
        m.d.comb += rounded.eq(truncated + up)  # a carry walks into the exponent by itself

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
        return code


class DyadicRequantizer(wiring.Component):
    """Integer-path requantizer (HAWQ-V3 style): o = sat(round(i * m / 2**shift) + zero_point).

    m (multiplier_bits, unsigned) and zero_point (signed, the output's width + 1) are run-time
    inputs, so one unit serves per-channel scales; shift is a parameter. sqhw.ref
    .requantize_dyadic is its model.

    >>> from sqhw.formats import Fixed, parse
    >>> DyadicRequantizer(Fixed(24, 0), parse("int8"), multiplier_bits=16, shift=20).latency
    0
    """

    @refusing
    def __init__(self, in_fmt: Fixed, out_fmt: Fixed, multiplier_bits: int = 16,
                 shift: int = 16, rounding: str = "rne", saturate: bool = True,
                 stages: int = 0):
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
        self.stages = check_stages(stages)
        super().__init__({"i": In(fixed_shape(in_fmt)), "m": In(multiplier_bits),
                          "zero_point": In(signed(out_fmt.bits + 1)),
                          "o": Out(layout_of(out_fmt))})

    @property
    def latency(self) -> int:
        return self.stages

    def elaborate(self, platform):
        m = Module()
        cut_mid, cut_out = split_stages(self.stages, 2)
        product = Signal(signed(len(self.i) + self.multiplier_bits + 1), name="product")
        m.d.comb += product.eq(self.i * self.m)
        product = delay(m, product, cut_mid, "product")
        zero_point = delay(m, self.zero_point, cut_mid, "zero_point")
        s = self.shift
        truncated = product[s:].as_signed()
        guard = product[s - 1]
        sticky = product[:s - 1].any() if s > 1 else Const(0, 1)
        up = round_up(self.rounding, product[-1], truncated[0], guard, sticky,
                      twos_complement=True)
        total = Signal(signed(len(truncated) + 3), name="total")
        m.d.comb += total.eq(truncated + up + zero_point)
        code = saturate_or_wrap(m, total, self.out_fmt, self.saturate)
        m.d.comb += self.o.eq(delay(m, code, cut_out, "o"))
        return m


def flagged_code(code: Value, special: Value, out_fmt) -> Value:
    """The requantized code, or sqhw.ref.special_code(out_fmt) (NaN, else Inf, else 0)
    while `special` says a term or a scale was NaN/Inf."""
    return Mux(special, special_code(out_fmt), code)
