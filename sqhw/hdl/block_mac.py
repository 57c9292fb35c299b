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
from .accumulate import accumulate, accumulate_segment
from .convert import Requantizer, fixed_shape, flagged_code
from .multiplier import Multiplier
from .operand import decode, layout_of
from .multiplier import product_kind
from .pipeline import check_stages, delay, plan_composite, unused
from .product import product_tree, tree_levels
from .shifter import shift_segments, stepped_shift
from .timing import ECP5, Segment, check_target, estimate_mhz


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
                 saturate: bool = True, stages: int | None = None,
                 target_mhz: float | None = None):
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
        target = check_target(target_mhz)
        if stages is not None and target is not None:
            raise ValueError("BlockDotProduct: give one of stages and target_mhz, got both")
        self.stages = None if target is not None else check_stages(1 if stages is None
                                                                   else stages)
        self.target_mhz = target
        self.a_fmt, self.b_fmt, self.out_fmt = a_fmt, b_fmt, out_fmt
        self.block_size = a_fmt.block_size
        self.scale_format = a_fmt.scale_format
        self.rounding = rounding
        self.accumulator = ref.accumulator_format(a_fmt.element, b_fmt.element, self.block_size)
        acc = self.accumulator
        scale_kind = product_kind(self.scale_format, self.scale_format, target)
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
            self.scale_product = None
        else:
            self.scale_multiplier = Multiplier(self.scale_format, self.scale_format,
                                               stages=0, product=scale_kind)
            sp = self.scale_multiplier.product_format
            self.scaled_format = Fixed(acc.bits + sp.bits - (acc.frac_bits + sp.frac_bits),
                                       acc.frac_bits + sp.frac_bits)
            # block sum x scale product: a hard multiplier, or a tree where it is too slow
            self.scale_product = product_kind(acc, sp, target,
                                              extra_ns=ECP5.adder(self.scaled_format.bits))
        rq_args = dict(rounding=rounding, saturate=saturate)
        self.requantizer = Requantizer(self.scaled_format, out_fmt, stages=self.stages,
                                       **rq_args)
        kind = product_kind(a_fmt.element, b_fmt.element, target)
        self.multiplier = Multiplier(a_fmt.element, b_fmt.element, stages=self.stages,
                                     product=kind)
        if target is None:
            self.scale_registers = tuple(min(self.stages, 1) if s.name == "scale" else 0
                                         for s in self._scale_segments())
        else:  # one plan over multiplier, accumulator, scale step and requantizer
            mul_regs, _, scale_regs, rq_regs = plan_composite(target, [
                unused(self.multiplier).segments(),
                [accumulate_segment(acc.bits)], self._scale_segments(),
                unused(self.requantizer).segments()])
            self.requantizer = Requantizer(self.scaled_format, out_fmt, registers=rq_regs,
                                           **rq_args)
            self.multiplier = Multiplier(a_fmt.element, b_fmt.element, registers=mul_regs,
                                         product=kind)
            self.scale_registers = scale_regs
            if self.scale_multiplier is not None:
                smul_regs = scale_regs[:len(unused(self.scale_multiplier).segments())]
                self.scale_multiplier = Multiplier(self.scale_format, self.scale_format,
                                                   registers=smul_regs, product=scale_kind)
        scale = layout_of(self.scale_format)
        terms = data.StructLayout({"a": layout_of(a_fmt.element), "b": layout_of(b_fmt.element),
                                   "sa": scale, "sb": scale, "last": 1})
        result = data.StructLayout({"code": layout_of(out_fmt), "special": 1})
        super().__init__({"terms": In(stream.Signature(terms)),
                          "result": Out(stream.Signature(result))})

    def _scale_segments(self, model=ECP5) -> list[Segment]:
        """The scale step: an exponent sum and a clamped shift (E8M0), or the scale codes'
        product and the block sum times it (E4M3), each product a DSP or a pipelined tree."""
        acc = self.accumulator
        if self.scale_multiplier is None:
            return [Segment("scale_exponent", model.adder(12)),
                    Segment("scale_clamp", model.adder(12) + 2 * model.lut_ns),
                    *shift_segments("scale", self.exp_high - self.exp_low + 1, model)]
        smul = [Segment(f"scale_{s.name}", s.ns)
                for s in unused(self.scale_multiplier).segments(model)]
        narrow = min(acc.bits, self.scale_multiplier.product_format.bits)
        bits = self.scaled_format.bits
        if self.scale_product == "dsp":
            return [*smul, Segment("scale", model.multiplier_ns + model.adder(bits))]
        levels = tree_levels(narrow)
        return [*smul, *(Segment("scale" if k == levels - 1 else f"scale{k}",
                                 (model.lut_ns if k == 0 else 0) + model.adder(bits))
                         for k in range(levels))]

    @property
    def scale_stages(self) -> int:
        """Registers in the scale step (after the shift or the scale product)."""
        return sum(self.scale_registers)

    @property
    def registers(self) -> tuple[int, ...]:
        """The registers added by pipelining (multiplier, scale step, requantizer)."""
        return (*self.multiplier.registers, *self.scale_registers, *self.requantizer.registers)

    @property
    def estimated_mhz(self) -> float:
        """The delay model's Fmax of the whole pipeline (sqhw.hdl.timing)."""
        return estimate_mhz(
            [*self.multiplier.segments(), accumulate_segment(self.accumulator.bits),
             *self._scale_segments(), *self.requantizer.segments()],
            (*self.multiplier.registers, 0, *self.scale_registers,
             *self.requantizer.registers))

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

        # apply the two scales exactly, with a register after each segment the plan gave one;
        # `flagged` (a NaN/Inf element or scale) travels beside the value
        segments = self._scale_segments()
        regs = dict(zip((s.name for s in segments), self.scale_registers))
        scale_a = decode(m, self.scale_format, block_sa, "scale_a")
        scale_b = decode(m, self.scale_format, block_sb, "scale_b")
        scaled = Signal(fixed_shape(self.scaled_format), name="scaled")
        flagged = Signal(name="block_flagged")
        if self.scale_multiplier is None:
            bias = self.scale_format.bias
            exponent = Signal(signed(12), name="scale_exponent")
            m.d.comb += exponent.eq(block_sa + block_sb - 2 * bias)
            m.d.comb += flagged.eq(block_special | scale_a.special | scale_b.special)

            def cut(name, *values):
                return [delay(m, v, regs[name], f"{name}{i}", advance)
                        for i, v in enumerate(values)]

            exponent, block, flagged = cut("scale_exponent", exponent, block, flagged)
            clamped = Signal(range(self.exp_high - self.exp_low + 1), name="scale_shift")
            m.d.comb += clamped.eq(Mux(exponent < self.exp_low, 0,
                                       Mux(exponent > self.exp_high,
                                           self.exp_high - self.exp_low,
                                           exponent - self.exp_low)))
            clamped, block, flagged = cut("scale_clamp", clamped, block, flagged)
            amounts = self.exp_high - self.exp_low + 1
            widened = Signal.like(scaled, name="scaled_block")
            m.d.comb += widened.eq(block)
            shifted, _, (flagged,) = stepped_shift(m, widened, clamped, amounts, "scaled",
                                                   "scale", cut, (flagged,))
            m.d.comb += scaled.eq(shifted)
        else:
            smul_latency = self.scale_multiplier.latency
            m.submodules.scale_multiplier = smul = EnableInserter(advance)(
                self.scale_multiplier)
            m.d.comb += [smul.a.eq(block_sa), smul.b.eq(block_sb)]
            block = delay(m, block, smul_latency, "block_smul", advance)
            m.d.comb += flagged.eq(delay(m, block_special, smul_latency, "special_smul",
                                         advance) | smul.special)
            if self.scale_product == "dsp":
                m.d.comb += scaled.eq(block * smul.p)
                scaled, flagged = (delay(m, v, regs["scale"], f"{n}_scale", advance)
                                   for v, n in ((scaled, "scaled"), (flagged, "flagged")))
            else:
                levels = [r for s, r in zip(segments, self.scale_registers)
                          if s.name == "scale" or (s.name.startswith("scale")
                                                   and s.name[5:].isdigit())]
                wide, narrow = ((block, smul.p) if len(block) >= len(smul.p)
                                else (smul.p, block))
                m.d.comb += scaled.eq(product_tree(m, wide, narrow, levels, "scale_pp",
                                                   advance))
                flagged = delay(m, flagged, sum(levels), "flagged_scale", advance)
        m.d.comb += rq.i.eq(scaled)

        stages = self.requantizer.latency
        special = delay(m, flagged, stages, "special_rq", advance)
        m.d.comb += [out_valid.eq(delay(m, block_valid, self.scale_stages + stages, "valid_rq",
                                        advance)),
                     self.result.valid.eq(out_valid),
                     self.result.payload.code.eq(flagged_code(rq.o, special, self.out_fmt)),
                     self.result.payload.special.eq(special)]
        return m
