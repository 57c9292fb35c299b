"""SparseDSPChain: a FlightLLM-style array of DSP chains for N:M sparse weights.

`lanes` chains (one output row each) share one activation stream: each beat brings the
window of groups that `chain` consecutive packed slots can index (chain / n groups of m;
n = the run-time non-zeros per group, 2**n_log2). From the weight stream, every lane gets its
`chain` packed slots (weight value + index inside its group). Stage c of a lane picks its
group (c >> n_log2) and, with an m-way index mux, its activation, multiplies (a DSP48E2-sized
product for 8-bit formats) and adds to the cascade coming from stage c-1; the last stage's
sum enters an exact accumulator, and `last` ends an output value, rounded once into out_fmt.

One bitstream runs every n that divides `chain` (1:8, 2:8, 4:8 and dense 8:8 with m = 8,
chain = 8): n only moves the group select in front of each stage.
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Array, EnableInserter, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import ref
from ._refuse import refusing
from .accumulate import accumulate
from .convert import Requantizer, fixed_shape
from .multiplier import Multiplier
from .operand import layout_of
from .accumulate import accumulate_segment
from .multiplier import product_kind
from .pipeline import check_stages, delay, plan_composite, unused
from .timing import ECP5, Segment, check_target, estimate_mhz


class IndexMuxBank(wiring.Component):
    """The chain's activation select, on its own so its cost can be synthesised apart:
    slot c takes group c >> n_log2 of the window (chain * m activations) and, through an
    m-way mux, the activation at its index. Only the log2(m) + 1 groups a run-time n can
    give slot c are wired, so each slot's mux is at most (log2(m) + 1) * m wide.

    >>> from sqhw.formats import parse
    >>> len(IndexMuxBank(parse("int8"), m=8, chain=8).selected)  # one activation per slot
    8
    """

    def __init__(self, x_fmt, m: int, chain: int):
        self.x_fmt, self.m, self.chain = x_fmt, m, chain
        self.index_bits = max(1, int(math.log2(m)))
        super().__init__({
            "acts": In(data.ArrayLayout(x_fmt.bits, chain * m)),
            "indices": In(data.ArrayLayout(self.index_bits, chain)),
            "n_log2": In(range(int(math.log2(m)) + 1)),
            "selected": Out(data.ArrayLayout(x_fmt.bits, chain))})

    def elaborate(self, platform):
        m = Module()
        for c in range(self.chain):
            with m.Switch(self.n_log2):
                for k in range(int(math.log2(self.m)) + 1):
                    first = (c >> k) * self.m
                    if first >= self.chain * self.m:
                        continue
                    with m.Case(k):
                        group = Array(self.acts[first + j] for j in range(self.m))
                        m.d.comb += self.selected[c].eq(group[self.indices[c]])
                with m.Default():  # an n_log2 that reaches no group: 0 (said, for lint)
                    m.d.comb += self.selected[c].eq(0)
        return m


def chain_signature(w_fmt, x_fmt, m: int, chain: int, out_fmt, accumulator,
                    lanes: int) -> wiring.Signature:
    """The ports of a chain of `lanes` lanes (SparseDSPChain's, and SparseDSPArray's)."""
    index_bits = max(1, int(math.log2(m)))
    weights = data.StructLayout({
        "values": data.ArrayLayout(data.ArrayLayout(w_fmt.bits, chain), lanes),
        "indices": data.ArrayLayout(data.ArrayLayout(index_bits, chain), lanes),
        "last": 1})
    result = data.StructLayout({"code": data.ArrayLayout(out_fmt.bits, lanes),
                                "acc": data.ArrayLayout(fixed_shape(accumulator), lanes),
                                "special": data.ArrayLayout(1, lanes)})
    return wiring.Signature({
        "acts": In(stream.Signature(data.ArrayLayout(x_fmt.bits, chain * m))),
        "weights": In(stream.Signature(weights)),
        "result": Out(stream.Signature(result)),
        "n_log2": In(range(int(math.log2(m)) + 1))})


class SparseDSPChain(wiring.Component):
    """`lanes` chains of `chain` multiply stages sharing one activation window.

    Streams (valid/ready): `acts` beats carry the activation window {acts[chain*m]} shared
    by every lane; `weights` beats carry each lane's packed slots {values[lanes][chain],
    indices[lanes][chain], last}; a beat enters when both streams offer one. `result` beats
    carry one output per lane {code[lanes], acc[lanes], special[lanes]}. Config input n_log2
    (held while a row streams). Products are summed by a systolic cascade, as DSP48E2 PCOUT
    -> PCIN chains do: stage c's inputs are delayed c cycles and it adds its product to stage
    c-1's registered partial sum. The whole pipeline stalls while a result waits.

    >>> from sqhw.formats import parse
    >>> chain = SparseDSPChain(parse("int8"), parse("int8"), m=8, chain=8, max_k=4096,
    ...                        out_fmt=parse("int8"), lanes=4)
    >>> chain.index_bits, chain.accumulator.bits, chain.latency
    (3, 28, 11)
    """

    @refusing
    def __init__(self, w_fmt, x_fmt, m: int, chain: int, max_k: int, out_fmt,
                 rounding: str = "rne", saturate: bool = True, stages: int | None = None,
                 lanes: int = 1, target_mhz: float | None = None):
        layout_of(w_fmt), layout_of(x_fmt)
        for arg, value in (("m", m), ("chain", chain), ("max_k", max_k), ("lanes", lanes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}: expected a positive integer, got {value!r}")
        if m & (m - 1) or chain & (chain - 1):
            raise ValueError(f"m and chain must be powers of two, got m={m}, chain={chain}")
        if rounding == "stochastic":
            raise ValueError("rounding: stochastic rounding is not offered by the chain")
        self.w_fmt, self.x_fmt, self.out_fmt = w_fmt, x_fmt, out_fmt
        self.m, self.chain, self.max_k, self.lanes = m, chain, max_k, lanes
        self.index_bits = max(1, int(math.log2(m)))
        target = check_target(target_mhz)
        if stages is not None and target is not None:
            raise ValueError("SparseDSPChain: give one of stages and target_mhz, got both")
        self.stages = None if target is not None else check_stages(1 if stages is None
                                                                   else stages)
        self.target_mhz = target
        self.accumulator = ref.accumulator_format(w_fmt, x_fmt, max_k)
        rq_args = dict(rounding=rounding, saturate=saturate)
        kind = product_kind(w_fmt, x_fmt, target)
        self.select_registers = 0
        mul_args = dict(stages=self.stages)
        rq_regs = dict(stages=self.stages)
        if target is not None:  # one plan: index mux, multiplier, cascade, accumulator, rq
            probe_mul = unused(Multiplier(w_fmt, x_fmt, product=kind))
            probe_rq = unused(Requantizer(self.accumulator, out_fmt, **rq_args))
            (self.select_registers,), mul_regs, _, _, rq_plan = plan_composite(target, [
                [self._select_segment()], probe_mul.segments(),
                [Segment("cascade", ECP5.adder(self.accumulator.bits), registered=True)],
                [accumulate_segment(self.accumulator.bits)], probe_rq.segments()])
            mul_args, rq_regs = dict(registers=mul_regs), dict(registers=rq_plan)
        self.requantizers = [Requantizer(self.accumulator, out_fmt, **rq_args, **rq_regs)
                             for _ in range(lanes)]
        self.multipliers = [[Multiplier(w_fmt, x_fmt, product=kind, **mul_args)
                             for _ in range(chain)] for _ in range(lanes)]
        self.index_muxes = [IndexMuxBank(x_fmt, m, chain) for _ in range(lanes)]
        super().__init__(chain_signature(w_fmt, x_fmt, m, chain, out_fmt, self.accumulator,
                                         lanes))

    @property
    def runtime_patterns(self) -> list[str]:
        """The N:M patterns one build runs: every power-of-two n <= min(m, chain)."""
        return [f"{1 << k}:{self.m}" for k in range(int(math.log2(min(self.m, self.chain))) + 1)]

    def _select_segment(self, model=ECP5) -> Segment:
        """The index mux: one of (log2(m) + 1) * m activations per slot."""
        return Segment("select", model.mux((int(math.log2(self.m)) + 1) * self.m))

    @property
    def registers(self) -> tuple[int, ...]:
        """The registers added by pipelining (index mux, multiplier, requantizer)."""
        return (self.select_registers, *self.multipliers[0][0].registers,
                *self.requantizers[0].registers)

    @property
    def estimated_mhz(self) -> float:
        """The delay model's Fmax of a lane (sqhw.hdl.timing)."""
        bits = self.accumulator.bits
        return estimate_mhz(
            [self._select_segment(), *self.multipliers[0][0].segments(),
             Segment("cascade", ECP5.adder(bits), registered=True), accumulate_segment(bits),
             *self.requantizers[0].segments()],
            (self.select_registers, *self.multipliers[0][0].registers, 0, 0,
             *self.requantizers[0].registers))

    @property
    def latency(self) -> int:
        """Cycles from a beat to its lane results (when it ends a row): the index-mux and
        multiplier registers, one cascade register per stage, the accumulator and the
        requantizer."""
        return (self.select_registers + self.multipliers[0][0].latency + self.chain + 1
                + self.requantizers[0].latency)

    def _cascade(self, m, lane: int, selected, values, advance):
        """Stage c multiplies (value c, activation c) delayed c cycles and adds the product
        to stage c-1's partial sum; returns the registered sum and NaN/Inf flag of the last."""
        partial = flag = None
        for c, mul in enumerate(self.multipliers[lane]):
            m.submodules[f"lane{lane}_stage{c}"] = stage = EnableInserter(advance)(mul)
            skew = c + self.select_registers  # the index mux's registers, then the cascade's
            m.d.comb += [stage.a.eq(delay(m, values[c], skew, f"w{lane}_{c}", advance)),
                         stage.b.eq(delay(m, selected[c], skew, f"x{lane}_{c}", advance))]
            total = Signal(fixed_shape(self.accumulator), name=f"cascade{lane}_{c}")
            any_special = Signal(name=f"cascade{lane}_{c}_special")
            m.d.comb += [total.eq(stage.p if partial is None else partial + stage.p),
                         any_special.eq(stage.special if flag is None else flag | stage.special)]
            partial = delay(m, total, 1, f"pcout{lane}_{c}", advance)
            flag = delay(m, any_special, 1, f"pcout{lane}_{c}_special", advance)
        return partial, flag

    def elaborate(self, platform):
        m = Module()
        out_valid = Signal()
        advance = ~out_valid | self.result.ready
        both = self.acts.valid & self.weights.valid
        m.d.comb += [self.acts.ready.eq(advance & self.weights.valid),
                     self.weights.ready.eq(advance & self.acts.valid)]
        depth = self.select_registers + self.multipliers[0][0].latency + self.chain
        valid = delay(m, both & advance, depth, "valid_mul", advance)
        last = delay(m, self.weights.payload.last, depth, "last_mul", advance)
        acc_shape = fixed_shape(self.accumulator)
        stages = self.requantizers[0].latency
        result_valid = None
        for lane in range(self.lanes):
            m.submodules[f"index_muxes{lane}"] = muxes = self.index_muxes[lane]
            m.d.comb += [muxes.acts.eq(self.acts.payload),
                         muxes.indices.eq(self.weights.payload.indices[lane]),
                         muxes.n_log2.eq(self.n_log2)]
            chain_sum, flag = self._cascade(m, lane, muxes.selected,
                                            self.weights.payload.values[lane], advance)
            lane_acc, lane_special, result_valid, _ = accumulate(
                m, chain_sum, flag, valid, last, advance, acc_shape)
            m.submodules[f"requantizer{lane}"] = rq = EnableInserter(advance)(
                self.requantizers[lane])
            payload = self.result.payload
            m.d.comb += [rq.i.eq(lane_acc), payload.code[lane].eq(rq.o),
                         payload.acc[lane].eq(delay(m, lane_acc, stages, f"acc_rq{lane}",
                                                    advance)),
                         payload.special[lane].eq(delay(m, lane_special, stages,
                                                        f"special_rq{lane}", advance))]
        m.d.comb += [out_valid.eq(delay(m, result_valid, stages, "valid_rq", advance)),
                     self.result.valid.eq(out_valid)]
        return m


def beats(values, indices, x_codes, nm, chain: int, w_zero: int, x_zero: int) -> dict:
    """The two input streams of SparseDSPChain for packed rows (rows, G, n) and activations
    x (K): {values (rows, B, chain), indices (rows, B, chain), last (B,)} per row and the
    shared activation windows acts (B, chain*m). Slot s of a row is group s // n; beat b
    carries slots [b*chain, (b+1)*chain) and the chain // n groups they index (the one group
    when n > chain); missing slots are zero weights."""
    values, indices = np.asarray(values), np.asarray(indices)
    rows, groups, n = values.shape
    m = nm.m
    x = np.full(groups * m, x_zero, dtype=np.int64)
    x[:len(x_codes)] = x_codes
    slots = groups * n
    count = -(-slots // chain)
    flat_v = np.full((rows, count * chain), w_zero, dtype=np.int64)
    flat_i = np.zeros((rows, count * chain), dtype=np.int64)
    flat_v[:, :slots] = values.reshape(rows, slots)
    flat_i[:, :slots] = indices.reshape(rows, slots)
    per_beat = max(1, chain // n)
    first = (np.arange(count) * chain) // n  # the window's first group, per beat
    window = first[:, None] + np.arange(per_beat)[None, :]
    x_groups = np.concatenate([x.reshape(groups, m), np.full((per_beat, m), x_zero)])
    acts = x_groups[np.minimum(window, groups + per_beat - 1)].reshape(count, per_beat * m)
    acts_full = np.full((count, chain * m), x_zero, dtype=np.int64)
    acts_full[:, :per_beat * m] = acts
    last = np.zeros(count, dtype=np.int64)
    last[-1] = 1
    return {"values": flat_v.reshape(rows, count, chain),
            "indices": flat_i.reshape(rows, count, chain), "acts": acts_full, "last": last}
