"""DotProduct: a streaming MAC with an exact wide accumulator and one output requantizer."""

from __future__ import annotations

from amaranth.hdl import EnableInserter, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import ref
from ._refuse import refusing
from .accumulate import accumulate, accumulate_segment
from .convert import Requantizer, fixed_shape, flagged_code
from .multiplier import Multiplier
from .operand import layout_of
from .multiplier import product_kind
from .pipeline import check_stages, delay, plan_composite, unused
from .timing import check_target, estimate_mhz


class DotProduct(wiring.Component):
    """Sum of a[i] * b[i] over a stream of terms, exact, then rounded once into out_fmt.

    Streams (valid/ready):
      terms  in:  {a, b, last}     one product term per transfer; `last` ends a dot product
      result out: {code, acc, special}  code in out_fmt; acc the exact sum in units of
                                         2**-accumulator.frac_bits; special: a NaN/Inf term
                                         (code is then sqhw.ref.special_code(out_fmt))
    The accumulator width is derived from the formats and max_length (the longest dot
    product the unit is built for). Backpressure on `result` stalls the whole pipeline, so
    no result is lost or repeated. `latency` = cycles from the `last` term to its result.

    >>> from sqhw.formats import parse
    >>> mac = DotProduct(parse("int8"), parse("int8"), 4096, parse("int8"))
    >>> mac.accumulator.bits, mac.latency
    (28, 3)
    """

    @refusing
    def __init__(self, a_fmt, b_fmt, max_length: int, out_fmt, rounding: str = "rne",
                 saturate: bool = True, stages: int | None = None, random_bits: int = 16,
                 target_mhz: float | None = None):
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length: expected a positive integer, got {max_length!r}")
        target = check_target(target_mhz)
        if stages is not None and target is not None:
            raise ValueError("DotProduct: give one of stages and target_mhz, got both")
        self.stages = None if target is not None else check_stages(1 if stages is None
                                                                   else stages)
        self.target_mhz = target
        layout_of(a_fmt), layout_of(b_fmt)  # refuse formats without hardware first
        self.accumulator = ref.accumulator_format(a_fmt, b_fmt, max_length)
        # build the parts that can refuse their arguments before any other sub-component
        rq_args = dict(rounding=rounding, saturate=saturate, random_bits=random_bits)
        self.requantizer = Requantizer(self.accumulator, out_fmt, stages=self.stages, **rq_args)
        kind = product_kind(a_fmt, b_fmt, target)
        self.multiplier = Multiplier(a_fmt, b_fmt, stages=self.stages, product=kind)
        if target is not None:  # one plan over multiplier, accumulator and requantizer
            mul_regs, _, rq_regs = plan_composite(target, [
                unused(self.multiplier).segments(),
                [accumulate_segment(self.accumulator.bits)],
                unused(self.requantizer).segments()])
            self.requantizer = Requantizer(self.accumulator, out_fmt, registers=rq_regs,
                                           **rq_args)
            self.multiplier = Multiplier(a_fmt, b_fmt, registers=mul_regs, product=kind)
        self.a_fmt, self.b_fmt, self.out_fmt = a_fmt, b_fmt, out_fmt
        self.max_length, self.rounding = max_length, rounding
        terms = data.StructLayout({"a": layout_of(a_fmt), "b": layout_of(b_fmt), "last": 1})
        result = data.StructLayout({"code": layout_of(out_fmt),
                                    "acc": fixed_shape(self.accumulator),
                                    "special": 1})
        members = {"terms": In(stream.Signature(terms)), "result": Out(stream.Signature(result))}
        if rounding == "stochastic":
            members["random"] = In(random_bits)
        super().__init__(members)

    @property
    def latency(self) -> int:
        """Cycles from the `last` term's transfer to its result: multiplier, accumulator,
        requantizer (`stages` registers each in the multiplier and the requantizer)."""
        return self.multiplier.latency + 1 + self.requantizer.latency

    @property
    def estimated_mhz(self) -> float:
        """The delay model's Fmax of the whole pipeline (sqhw.hdl.timing)."""
        return estimate_mhz(
            [*self.multiplier.segments(), accumulate_segment(self.accumulator.bits),
             *self.requantizer.segments()],
            (*self.multiplier.registers, 0, *self.requantizer.registers))

    @property
    def registers(self) -> tuple[int, ...]:
        """The registers added by pipelining (multiplier and requantizer)."""
        return (*self.multiplier.registers, *self.requantizer.registers)

    def elaborate(self, platform):
        m = Module()
        out_valid = Signal()
        advance = ~out_valid | self.result.ready  # the pipeline moves unless a result waits
        m.submodules.multiplier = mul = EnableInserter(advance)(self.multiplier)
        m.submodules.requantizer = rq = EnableInserter(advance)(self.requantizer)
        m.d.comb += [self.terms.ready.eq(advance),
                     mul.a.eq(self.terms.payload.a), mul.b.eq(self.terms.payload.b)]

        # valid and last travel beside the multiplier's pipeline
        valid, last = self.terms.valid & advance, self.terms.payload.last
        valid = delay(m, valid, self.multiplier.latency, "valid_mul", advance)
        last = delay(m, last, self.multiplier.latency, "last_mul", advance)

        # the accumulator: a finished dot product moves into the result register
        result_acc, result_special, result_valid, _ = accumulate(
            m, mul.p, mul.special, valid, last, advance, fixed_shape(self.accumulator))

        # the requantizer's pipeline, with the exact sum and the flags beside it
        m.d.comb += rq.i.eq(result_acc)
        if self.rounding == "stochastic":
            m.d.comb += rq.random.eq(self.random)
        stages = self.requantizer.latency
        special = delay(m, result_special, stages, "special_rq", advance)
        m.d.comb += [out_valid.eq(delay(m, result_valid, stages, "valid_rq", advance)),
                     self.result.valid.eq(out_valid),
                     self.result.payload.acc.eq(delay(m, result_acc, stages, "acc_rq",
                                                      advance)),
                     self.result.payload.special.eq(special),
                     self.result.payload.code.eq(flagged_code(rq.o, special, self.out_fmt))]
        return m
