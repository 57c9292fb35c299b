"""BlockDotProduct: the block-scaled (OCP MX, NVFP4) dot product of one block pair.

result = round(exact element dot product * scale_a * scale_b), one result per block.
NVFP4's per-tensor FP32 scales are applied outside the unit (they multiply every result).
"""

from __future__ import annotations

from amaranth.hdl import EnableInserter, Module, Mux, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import ref
from ..formats import BlockScaled, Fixed
from ._refuse import refusing
from .accumulate import accumulate
from .convert import Requantizer, fixed_shape, flagged_code
from .multiplier import Multiplier
from .operand import decode, layout_of
from .pipeline import check_stages, delay


class BlockDotProduct(wiring.Component):
    """Streams: terms {a, b, sa, sb, last} in (element codes; the block's scale codes,
    sampled with its `last` term), result {code, special} out (one per block).

    Power-of-two scales (E8M0) add exponents: the exact element sum is shifted by
    ea + eb, clamped to the range where the output's rounding can still tell values apart
    (below it every value rounds like the smallest, above it every value overflows), so
    the shifter stays about twice the accumulator wide. Other scales (E4M3) are multiplied
    exactly. Either way the value is rounded once into out_fmt.

    >>> from sqhw.formats import parse
    >>> mx = BlockDotProduct(parse("mxfp4"), parse("mxfp4"), parse("float8_e4m3fn"))
    >>> mx.block_size, mx.accumulator.bits, mx.latency
    (32, 14, 4)
    """

    @refusing
    def __init__(self, a_fmt: BlockScaled, b_fmt: BlockScaled, out_fmt, rounding: str = "rne",
                 saturate: bool = True, stages: int = 1):
        for arg, fmt in (("a_fmt", a_fmt), ("b_fmt", b_fmt)):
            if not isinstance(fmt, BlockScaled):
                raise TypeError(f"{arg}: expected a block-scaled format, got {fmt!r}")
        if a_fmt.block_size != b_fmt.block_size or a_fmt.scale_format != b_fmt.scale_format:
            raise ValueError(f"{a_fmt.name} and {b_fmt.name} need the same block size and "
                             "scale format")
        if rounding == "stochastic":
            raise ValueError("rounding: stochastic rounding is not offered for block dots")
        if isinstance(out_fmt, Fixed) and not saturate:
            raise ValueError("saturate: a block dot into a Fixed format must saturate (a "
                             "wrapped result would depend on bits far above the format)")
        layout_of(out_fmt)
        self.stages = check_stages(stages)
        self.a_fmt, self.b_fmt, self.out_fmt = a_fmt, b_fmt, out_fmt
        self.block_size = a_fmt.block_size
        self.scale_format = a_fmt.scale_format
        self.rounding = rounding
        self.accumulator = ref.accumulator_format(a_fmt.element, b_fmt.element, self.block_size)
        acc = self.accumulator
        if a_fmt.power_of_two_scale:
            out_min_exp = out_fmt.emin - out_fmt.man_bits if hasattr(out_fmt, "emin") else \
                -out_fmt.frac_bits
            out_top = out_fmt.emax + 1 if hasattr(out_fmt, "emax") else out_fmt.bits - \
                out_fmt.frac_bits
            # exponents beyond [low, high] give the same rounded result as the bound
            self.exp_low = out_min_exp - acc.bits + acc.frac_bits - 1
            self.exp_high = out_top + acc.frac_bits
            span = self.exp_high - self.exp_low
            self.scaled_format = Fixed(acc.bits + span - (acc.frac_bits - self.exp_low),
                                       acc.frac_bits - self.exp_low)
            self.scale_multiplier = None
        else:
            self.scale_multiplier = Multiplier(self.scale_format, self.scale_format)
            sp = self.scale_multiplier.product_format
            self.scaled_format = Fixed(acc.bits + sp.bits - (acc.frac_bits + sp.frac_bits),
                                       acc.frac_bits + sp.frac_bits)
        self.requantizer = Requantizer(self.scaled_format, out_fmt, rounding=rounding,
                                       saturate=saturate, stages=self.stages)
        self.multiplier = Multiplier(a_fmt.element, b_fmt.element, stages=self.stages)
        scale = layout_of(self.scale_format)
        terms = data.StructLayout({"a": layout_of(a_fmt.element), "b": layout_of(b_fmt.element),
                                   "sa": scale, "sb": scale, "last": 1})
        result = data.StructLayout({"code": layout_of(out_fmt), "special": 1})
        super().__init__({"terms": In(stream.Signature(terms)),
                          "result": Out(stream.Signature(result))})

    @property
    def scale_stages(self) -> int:
        """A register after the scale step (the shift or the scale product) when stages > 0."""
        return min(self.stages, 1)

    @property
    def latency(self) -> int:
        return self.multiplier.latency + 1 + self.scale_stages + self.requantizer.latency

    def elaborate(self, platform):
        m = Module()
        out_valid = Signal()
        advance = ~out_valid | self.result.ready
        m.submodules.multiplier = mul = EnableInserter(advance)(self.multiplier)
        m.submodules.requantizer = rq = EnableInserter(advance)(self.requantizer)
        payload = self.terms.payload
        m.d.comb += [self.terms.ready.eq(advance), mul.a.eq(payload.a), mul.b.eq(payload.b)]
        lat = self.multiplier.latency
        valid = delay(m, self.terms.valid & advance, lat, "valid_mul", advance)
        last = delay(m, payload.last, lat, "last_mul", advance)
        sa = delay(m, Value.cast(payload.sa), lat, "sa_mul", advance)
        sb = delay(m, Value.cast(payload.sb), lat, "sb_mul", advance)

        # the block's element sum, with its two scale codes captured beside it
        block, block_special, block_valid, (block_sa, block_sb) = accumulate(
            m, mul.p, mul.special, valid, last, advance, fixed_shape(self.accumulator),
            extras=(sa, sb))

        # apply the two scales exactly
        scaled = Signal(fixed_shape(self.scaled_format), name="scaled")
        scale_a = decode(m, self.scale_format, block_sa, "scale_a")
        scale_b = decode(m, self.scale_format, block_sb, "scale_b")
        scale_special = scale_a.special | scale_b.special
        if self.scale_multiplier is None:
            bias = self.scale_format.bias
            exponent = Signal(signed(12), name="scale_exponent")
            m.d.comb += exponent.eq(block_sa + block_sb - 2 * bias)
            clamped = Signal(range(self.exp_high - self.exp_low + 1), name="scale_shift")
            m.d.comb += clamped.eq(Mux(exponent < self.exp_low, 0,
                                       Mux(exponent > self.exp_high,
                                           self.exp_high - self.exp_low,
                                           exponent - self.exp_low)))
            m.d.comb += scaled.eq(block << clamped)
        else:
            m.submodules.scale_multiplier = smul = self.scale_multiplier
            m.d.comb += [smul.a.eq(block_sa), smul.b.eq(block_sb), scaled.eq(block * smul.p)]
            scale_special = smul.special
        flagged = Signal(name="block_flagged")
        m.d.comb += flagged.eq(block_special | scale_special)
        m.d.comb += rq.i.eq(delay(m, scaled, self.scale_stages, "scaled", advance))

        stages = self.scale_stages + self.requantizer.latency
        special = delay(m, flagged, stages, "special_rq", advance)
        m.d.comb += [out_valid.eq(delay(m, block_valid, stages, "valid_rq", advance)),
                     self.result.valid.eq(out_valid),
                     self.result.payload.code.eq(flagged_code(rq.o, special, self.out_fmt)),
                     self.result.payload.special.eq(special)]
        return m
