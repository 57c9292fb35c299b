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

The datapath never stalls: no register of it has a clock enable (a stall signal from the
result stream's ready reached every flip-flop, the 4-lane chain's worst path on ECP5). A
valid bit travels beside the data and qualifies the accumulators; the results enter an
output queue (sqhw.hdl.result_queue) deep enough for every result in flight, and its
registered credit gates the input streams' ready.

`pack` > 1 (integer formats): each beat brings `pack` columns of X, and every stage computes
the products of its weight with its activation in each column in one DSP-sized multiply
(sqhw.ref.packed: WP486's two int8 products per DSP48E2 for pack=2). What two products can
share in an N:M chain is the weight: the lanes' index muxes pick different activations, but
one weight slot and its index meet the same position of every column's group. The packed
partial sums travel down the cascade; after the last stage the fields are read off and each
column has its own exact accumulator and requantizer.

`primitive="DSP48E2"` / `"DSP48E1"` (integer formats) builds each stage from an instantiated
Xilinx DSP slice instead of behavioural arithmetic: A/B register, M register and P register
inside the slice, the partial sums on PCOUT -> PCIN, the slices' clock enables tied high,
a packed pair through the DSP48E2's pre-adder (D = x1 << spacing, A = x0) and the packing's
bias on its C input. Simulation uses sqhw's DSP48E2 model (sim/dsp48e2.v) or Yosys's DSP48E1
model (sqhw.verify.primitives); synthesis sees the real cells.
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import (Array, ClockSignal, Const, Instance, Module,
                          ResetSignal, Signal, signed)
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import ref
from ._refuse import refusing
from .accumulate import accumulate
from ..ref.packed import PackPlan
from .convert import Requantizer, fixed_shape, flagged_code
from .multiplier import Multiplier
from .operand import layout_of
from .accumulate import accumulate_segment
from .multiplier import product_kind
from .packed import bias, operand, packed_operand, split_fields
from .pipeline import check_stages, delay, plan_composite, unused
from .result_queue import ResultQueue
from .shifter import shift_segments, shift_steps
from .timing import ECP5, Segment, check_target, estimate_mhz

PRIMITIVES = {"DSP48E2": {"a": 27, "b": 18, "opmode_bits": 9},
              "DSP48E1": {"a": 25, "b": 18, "opmode_bits": 7}}


class IndexMuxBank(wiring.Component):
    """The chain's activation select, on its own so its cost can be synthesised apart:
    slot c takes group c >> n_log2 of the window (chain * m activations) and, through an
    m-way mux, the activation at its index. Only the log2(m) + 1 groups a run-time n can
    give slot c are wired, one index mux per distinct group. The index mux runs in 4:1 steps
    (shifter.shift_steps over the m indices), `registers[i]` after step i; then the group
    is picked by n_log2.

    >>> from sqhw.formats import parse
    >>> len(IndexMuxBank(parse("int8"), m=8, chain=8).selected)  # one activation per slot
    8
    """

    def __init__(self, x_fmt, m: int, chain: int, registers=None):
        self.x_fmt, self.m, self.chain = x_fmt, m, chain
        self.index_bits = max(1, int(math.log2(m)))
        self.registers = tuple(registers or (0,) * len(shift_steps(m)))
        super().__init__({
            "acts": In(data.ArrayLayout(layout_of(x_fmt), chain * m)),
            "indices": In(data.ArrayLayout(self.index_bits, chain)),
            "n_log2": In(range(int(math.log2(m)) + 1)),
            "selected": Out(data.ArrayLayout(layout_of(x_fmt), chain))})

    def groups(self, c: int) -> dict[int, int]:
        """Slot c's candidate groups: run-time n_log2 -> the group's first activation."""
        return {k: (c >> k) * self.m for k in range(int(math.log2(self.m)) + 1)
                if (c >> k) * self.m < self.chain * self.m}

    def elaborate(self, platform):
        m = Module()
        latency = sum(self.registers)
        n_log2 = delay(m, self.n_log2, latency, "n_log2")
        for c in range(self.chain):
            firsts = sorted(set(self.groups(c).values()))
            # candidates[g][j]: group g's activations whose index has high bits j (the low
            # bits the steps so far consumed)
            candidates = [[self.acts[first + j].as_value() for j in range(self.m)]
                          for first in firsts]
            index = self.indices[c]
            for step, ((lo, hi), count) in enumerate(zip(shift_steps(self.m), self.registers)):
                width = hi - lo
                picked = []
                for g, values in enumerate(candidates):
                    row = []
                    for j in range(len(values) >> width):
                        out = Signal(self.x_fmt.bits, name=f"slot{c}_g{g}_s{step}_{j}")
                        choices = Array(values[(j << width) | k] for k in range(1 << width))
                        m.d.comb += out.eq(choices[index[lo:hi]] if width else values[j])
                        row.append(delay(m, out, count, out.name))
                    picked.append(row)
                candidates = picked
                index = delay(m, index, count, f"slot{c}_index_s{step}")
            chosen = {first: row[0] for first, row in zip(firsts, candidates)}
            with m.Switch(n_log2):
                for k, first in self.groups(c).items():
                    with m.Case(k):
                        m.d.comb += self.selected[c].as_value().eq(chosen[first])
                with m.Default():  # an n_log2 that reaches no group: 0 (said, for lint)
                    m.d.comb += self.selected[c].as_value().eq(0)
        return m


def chain_signature(w_fmt, x_fmt, m: int, chain: int, out_fmt, accumulator,
                    lanes: int, pack: int = 1) -> wiring.Signature:
    """The ports of a chain of `lanes` lanes (SparseDSPChain's, and SparseDSPArray's); every
    code is its format's layout (operand.layout_of: an int8 is {value}, an e4m3fn
    {man, exp, sign}); with pack > 1 the acts hold `pack` windows (column p at
    [p*chain*m, (p+1)*chain*m)) and the results lanes * pack entries (column p, lane l at
    p*lanes + l)."""
    index_bits = max(1, int(math.log2(m)))
    weights = data.StructLayout({
        "values": data.ArrayLayout(data.ArrayLayout(layout_of(w_fmt), chain), lanes),
        "indices": data.ArrayLayout(data.ArrayLayout(index_bits, chain), lanes),
        "last": 1})
    outputs = lanes * pack
    result = data.StructLayout({"code": data.ArrayLayout(layout_of(out_fmt), outputs),
                                "acc": data.ArrayLayout(fixed_shape(accumulator), outputs),
                                "special": data.ArrayLayout(1, outputs)})
    return wiring.Signature({
        "acts": In(stream.Signature(data.ArrayLayout(layout_of(x_fmt), pack * chain * m))),
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
    c-1's registered partial sum. The pipeline never stalls (no clock enable on its
    registers): finished results wait in a ResultQueue, whose registered `room` gates the
    input streams' ready, so `result.ready` drives no datapath register.

    >>> from sqhw.formats import parse
    >>> chain = SparseDSPChain(parse("int8"), parse("int8"), m=8, chain=8, max_k=4096,
    ...                        out_fmt=parse("int8"), lanes=4)
    >>> chain.index_bits, chain.accumulator.bits, chain.latency, chain.result_queue_depth
    (3, 28, 14, 15)
    >>> packed = SparseDSPChain(parse("int8"), parse("int8"), m=8, chain=8, max_k=4096,
    ...                         out_fmt=parse("int8"), lanes=4, pack=2)
    >>> packed.plan.spacing, packed.plan.bias, packed.latency  # WP486: 18 bits apart
    (18, 130048, 14)
    """

    @refusing
    def __init__(self, w_fmt, x_fmt, m: int, chain: int, max_k: int, out_fmt,
                 rounding: str = "rne", saturate: bool = True, stages: int | None = None,
                 lanes: int = 1, pack: int = 1, primitive: str | None = None,
                 target_mhz: float | None = None):
        layout_of(w_fmt), layout_of(x_fmt)
        for arg, value in (("m", m), ("chain", chain), ("max_k", max_k), ("lanes", lanes),
                           ("pack", pack)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}: expected a positive integer, got {value!r}")
        if m & (m - 1) or chain & (chain - 1):
            raise ValueError(f"m and chain must be powers of two, got m={m}, chain={chain}")
        if rounding == "stochastic":
            raise ValueError("rounding: stochastic rounding is not offered by the chain")
        self.w_fmt, self.x_fmt, self.out_fmt = w_fmt, x_fmt, out_fmt
        self.m, self.chain, self.max_k, self.lanes, self.pack = m, chain, max_k, lanes, pack
        self.index_bits = max(1, int(math.log2(m)))
        target = check_target(target_mhz)
        if stages is not None and target is not None:
            raise ValueError("SparseDSPChain: give one of stages and target_mhz, got both")
        if target is not None and (pack != 1 or primitive is not None):
            raise ValueError("SparseDSPChain: target_mhz plans the behavioural chain's "
                             "registers; the packed and DSP-primitive chains keep their own "
                             "(leave target_mhz out)")
        self.stages = None if target is not None else check_stages(1 if stages is None
                                                                   else stages)
        self.target_mhz = target
        # the activations (one per column) are packed, the weight is the shared operand
        self.plan = PackPlan(x_fmt, w_fmt, pack, chain) if pack > 1 else None
        self.primitive = self._check_primitive(primitive)
        behavioural = pack == 1 and self.primitive is None
        self.accumulator = ref.accumulator_format(w_fmt, x_fmt, max_k)
        rq_args = dict(rounding=rounding, saturate=saturate)
        kind = product_kind(w_fmt, x_fmt, target)
        # registers after each index-mux step and after the group step
        self.select_plan = (0,) * len(self._select_segments())
        mul_args = dict(stages=self.stages)
        rq_regs = dict(stages=self.stages)
        if target is not None:  # one plan: index mux, multiplier, cascade, accumulator, rq
            probe_mul = unused(Multiplier(w_fmt, x_fmt, product=kind))
            probe_rq = unused(Requantizer(self.accumulator, out_fmt, **rq_args))
            self.select_plan, mul_regs, _, _, rq_plan, _ = plan_composite(
                target, [self._select_segments(), probe_mul.segments(),
                         [Segment("cascade", ECP5.adder(self.accumulator.bits),
                                  registered=True)],
                         [accumulate_segment(self.accumulator.bits)], probe_rq.segments(),
                         self._result_segments()])
            mul_args, rq_regs = dict(registers=mul_regs), dict(registers=rq_plan)
        self.requantizers = [Requantizer(self.accumulator, out_fmt, **rq_args, **rq_regs)
                             for _ in range(lanes * pack)]
        self.multipliers = [[Multiplier(w_fmt, x_fmt, product=kind, **mul_args)
                             for _ in range(chain)] for _ in range(lanes)] if behavioural else []
        self.index_muxes = [IndexMuxBank(x_fmt, m, chain, registers=self.select_plan[:-1])
                            for _ in range(lanes * pack)]
        super().__init__(chain_signature(w_fmt, x_fmt, m, chain, out_fmt, self.accumulator,
                                         lanes, pack))

    def _check_primitive(self, primitive):
        if primitive is None:
            return None
        if primitive not in PRIMITIVES:
            raise ValueError(f"primitive: expected one of {', '.join(PRIMITIVES)}, got "
                             f"{primitive!r}")
        ports = PRIMITIVES[primitive]
        for arg, fmt, port in (("weight", self.w_fmt, "b"), ("act", self.x_fmt, "a")):
            signed_bits = fmt.bits + (0 if getattr(fmt, "signed", True) else 1)
            if getattr(fmt, "frac_bits", None) != 0 or signed_bits > ports[port]:
                raise ValueError(f"primitive: the {primitive} path multiplies integer formats "
                                 f"that fit its {ports[port]}-bit signed {port.upper()} port, "
                                 f"got {arg} {fmt.name}")
        if self.pack > 1 and primitive != "DSP48E2":
            raise ValueError(f"primitive: packed products need the DSP48E2's 27-bit "
                             f"pre-adder, not the {primitive}'s")
        return primitive

    @property
    def multiply_stages(self) -> int:
        """Registers from a stage's operands to its product: the A/B and M registers inside a
        DSP primitive, the behavioural multiplier's (planned or `stages`), else `stages`."""
        if self.primitive:
            return 2
        return self.multipliers[0][0].latency if self.multipliers else self.stages

    @property
    def runtime_patterns(self) -> list[str]:
        """The N:M patterns one build runs: every power-of-two n <= min(m, chain)."""
        return [f"{1 << k}:{self.m}" for k in range(int(math.log2(min(self.m, self.chain))) + 1)]

    def _select_segments(self, model=ECP5) -> list[Segment]:
        """The index mux: 4:1 steps by the slot's index (the first one reaching into the act
        window that every lane shares), then one of log2(m) + 1 groups."""
        return [*shift_segments("select_index", self.m, model, model.spread(self.lanes)),
                Segment("select", model.mux(int(math.log2(self.m)) + 1))]

    @staticmethod
    def _result_segments(model=ECP5) -> list[Segment]:
        """After the requantizer: the pick of the NaN/Inf code (flagged_code), one LUT level
        in front of the result queue's push register (which always follows it)."""
        return [Segment("special_code", model.lut_ns, registered=True)]

    @property
    def select_registers(self) -> int:
        """Registers in the index muxes (between their two steps) and after them."""
        return sum(self.select_plan)

    @property
    def registers(self) -> tuple[int, ...]:
        """The registers added by pipelining (index mux, multiplier, requantizer); none for
        the packed and primitive chains, whose registers are fixed."""
        if not self.multipliers:
            return ()
        return (*self.select_plan, *self.multipliers[0][0].registers,
                *self.requantizers[0].registers)

    @property
    def estimated_mhz(self) -> float:
        """The delay model's Fmax of a lane (sqhw.hdl.timing); None for the packed and
        primitive chains (the model prices the behavioural one)."""
        if not self.multipliers:
            return None
        bits = self.accumulator.bits
        return estimate_mhz(
            [*self._select_segments(), *self.multipliers[0][0].segments(),
             Segment("cascade", ECP5.adder(bits), registered=True), accumulate_segment(bits),
             *self.requantizers[0].segments(), *self._result_segments()],
            (*self.select_plan, *self.multipliers[0][0].registers, 0, 0,
             *self.requantizers[0].registers, 0))

    @property
    def pipeline_latency(self) -> int:
        """Cycles from a beat to its lane results at the pipeline's end (when it ends a row):
        the index-mux and multiplier registers, one cascade register per stage, the
        accumulator and the requantizer."""
        return (self.select_registers + self.multiply_stages + self.chain + 1
                + self.requantizers[0].latency)

    @property
    def result_queue_depth(self) -> int:
        """Results the output queue holds: every result the pipeline may hold, so that the
        datapath never stalls and still takes one beat per cycle (ResultQueue.depth_for)."""
        return ResultQueue.depth_for(self.pipeline_latency)

    @property
    def latency(self) -> int:
        """Cycles from a beat to its lane results on the result stream (when it ends a row
        and the sink is ready): the pipeline's, then the result queue's."""
        return self.pipeline_latency + ResultQueue.LATENCY

    def _cascade(self, m, lane: int, selected, values):
        """Stage c multiplies (value c, activation c) delayed c cycles and adds the product
        to stage c-1's partial sum; returns the registered sum and NaN/Inf flag of the last."""
        partial = flag = None
        for c, mul in enumerate(self.multipliers[lane]):
            m.submodules[f"lane{lane}_stage{c}"] = stage = mul
            # the index muxes' registers (the first inside the bank), then the cascade's
            skew = c + self.select_registers
            m.d.comb += [stage.a.eq(delay(m, values[c], skew, f"w{lane}_{c}")),
                         stage.b.eq(delay(m, selected[c], c + self.select_plan[-1],
                                          f"x{lane}_{c}"))]
            total = Signal(fixed_shape(self.accumulator), name=f"cascade{lane}_{c}")
            any_special = Signal(name=f"cascade{lane}_{c}_special")
            m.d.comb += [total.eq(stage.p if partial is None else partial + stage.p),
                         any_special.eq(stage.special if flag is None else flag | stage.special)]
            partial = delay(m, total, 1, f"pcout{lane}_{c}")
            flag = delay(m, any_special, 1, f"pcout{lane}_{c}_special")
        return partial, flag

    def _packed_cascade(self, m, lane: int, selected: list, values):
        """The packed stages of one lane: stage c multiplies the packed activations of every
        column (delayed c cycles) by its weight and adds the product to stage c-1's partial
        sum, the first stage adding the plan's bias (a DSP48E2's C input); returns each
        column's sum of the chain's products, read off the last registered total."""
        plan = self.plan
        partial = None
        for c in range(self.chain):
            acts = [operand(self.x_fmt, delay(m, column[c].as_value(), c,
                                                     f"x{lane}_{p}_{c}"))
                    for p, column in enumerate(selected)]
            weight = operand(self.w_fmt, delay(m, values[c].as_value(), c, f"w{lane}_{c}"))
            product = Signal(signed(plan.total_bits), name=f"packed{lane}_{c}")
            m.d.comb += product.eq(packed_operand(plan, acts) * weight)
            product = delay(m, product, self.stages, f"packed{lane}_{c}_m")
            total = Signal(signed(plan.total_bits), name=f"cascade{lane}_{c}")
            m.d.comb += total.eq((bias(plan) if partial is None else partial) + product)
            partial = delay(m, total, 1, f"pcout{lane}_{c}")
        return split_fields(m, plan, partial, f"lane{lane}")

    def _primitive_cascade(self, m, lane: int, selected: list, values):
        """The lane's stages as DSP slices: stage c's operands (delayed c cycles in the
        fabric) enter its A/B registers, the product its M register, P = PCIN + M (stage 0:
        C + M, C the packing's bias or 0) its P register, PCOUT feeding stage c+1's PCIN.
        Returns the column sums (with NaN/Inf flags: none for integers) of the last P."""
        e2 = self.primitive == "DSP48E2"
        pcin = Const(0, 48)
        for c in range(self.chain):
            acts = [operand(self.x_fmt, delay(m, column[c].as_value(), c,
                                                     f"x{lane}_{p}_{c}"))
                    for p, column in enumerate(selected)]
            a = Signal(signed(30), name=f"dsp{lane}_{c}_a")
            b = Signal(signed(18), name=f"dsp{lane}_{c}_b")
            d = Signal(signed(27), name=f"dsp{lane}_{c}_d")
            weight = delay(m, values[c].as_value(), c, f"w{lane}_{c}")
            m.d.comb += b.eq(operand(self.w_fmt, weight))
            pre_add = self.pack == 2  # x1 << spacing on D, x0 on A: AD = the packed operand
            if self.pack == 1:
                m.d.comb += a.eq(acts[0])
            elif pre_add:
                m.d.comb += [a.eq(acts[0]), d.eq(acts[1] << self.plan.spacing)]
            else:
                m.d.comb += a.eq(packed_operand(self.plan, acts))
            bias_in = self.plan is not None and c == 0
            opmode = (0b11 << 7 if bias_in else 0) | (0b001 if c else 0) << 4 | 0b0101
            pcout = Signal(48, name=f"dsp{lane}_{c}_pcout")
            p = Signal(48, name=f"dsp{lane}_{c}_p")
            # D is registered like A (DREG = AREG = 1), so the pre-adder sees one stage's pair
            params = dict(p_AREG=1, p_BREG=1, p_ACASCREG=1, p_BCASCREG=1, p_CREG=0,
                          p_DREG=1 if pre_add else 0,
                          p_ADREG=0, p_MREG=1, p_PREG=1, p_INMODEREG=0, p_OPMODEREG=0,
                          p_ALUMODEREG=0, p_CARRYINREG=0, p_CARRYINSELREG=0,
                          p_A_INPUT="DIRECT", p_B_INPUT="DIRECT", p_USE_MULT="MULTIPLY")
            if e2:
                params.update(p_AMULTSEL="AD" if pre_add else "A", p_BMULTSEL="B",
                              p_PREADDINSEL="A")
            else:
                params.update(p_USE_DPORT="FALSE")
            on, off, rst = Const(1, 1), Const(0, 1), ResetSignal()
            m.submodules[f"dsp{lane}_{c}"] = Instance(
                self.primitive, **params,
                i_CLK=ClockSignal(), i_A=a, i_B=b,
                i_C=Const(self.plan.bias if bias_in else 0, 48),
                i_D=d if e2 else Const(0, 25), i_PCIN=pcin,
                i_OPMODE=Const(opmode if e2 else opmode & 0x7F,
                               PRIMITIVES[self.primitive]["opmode_bits"]),
                i_ALUMODE=Const(0, 4), i_INMODE=Const(0b00100 if pre_add else 0, 5),
                i_CARRYIN=off, i_CARRYINSEL=Const(0, 3),
                i_CEA1=off, i_CEA2=on, i_CEB1=off, i_CEB2=on, i_CEC=off,
                i_CED=on if pre_add else off, i_CEAD=off, i_CEM=on, i_CEP=on, i_CECTRL=off,
                i_CEINMODE=off, i_CEALUMODE=off, i_CECARRYIN=off,
                i_RSTA=rst, i_RSTB=rst, i_RSTC=off, i_RSTD=rst, i_RSTM=rst, i_RSTP=rst,
                i_RSTCTRL=off, i_RSTINMODE=off, i_RSTALUMODE=off, i_RSTALLCARRYIN=off,
                **({} if e2 else {"i_ACIN": Const(0, 30), "i_BCIN": Const(0, 18),
                                  "i_CARRYCASCIN": off, "i_MULTSIGNIN": off}),
                o_PCOUT=pcout, o_P=p)
            pcin = pcout
        if self.plan is None:
            total = Signal(fixed_shape(self.accumulator), name=f"lane{lane}_chain_sum")
            m.d.comb += total.eq(p.as_signed())
            return [(total, Const(0, 1))]
        return [(s, Const(0, 1)) for s in
                split_fields(m, self.plan, p[:self.plan.total_bits].as_signed(), f"lane{lane}")]

    def elaborate(self, platform):
        m = Module()
        # the datapath never stalls: its registers load every cycle, a valid bit travels
        # beside the data and qualifies the accumulators; finished results wait in the
        # queue, and a beat enters only while the queue's registered `room` allows it
        m.submodules.result_queue = queue = ResultQueue(
            self.result.payload.shape(), self.result_queue_depth)
        wiring.connect(m, wiring.flipped(self.result), queue.result)
        both = self.acts.valid & self.weights.valid
        enter = both & queue.room
        m.d.comb += [self.acts.ready.eq(queue.room & self.weights.valid),
                     self.weights.ready.eq(queue.room & self.acts.valid),
                     queue.claim.eq(enter & self.weights.payload.last)]
        depth = self.select_registers + self.multiply_stages + self.chain
        valid = delay(m, enter, depth, "valid_mul")
        last = delay(m, self.weights.payload.last, depth, "last_mul")
        acc_shape = fixed_shape(self.accumulator)
        stages = self.requantizers[0].latency
        finished = Signal(self.result.payload.shape(), name="finished")
        result_valid = None
        window = self.chain * self.m
        for lane in range(self.lanes):
            selected = []
            for p in range(self.pack):  # one index mux bank per column, the lane's indices
                name = f"index_muxes{lane}" + (f"_{p}" if self.pack > 1 else "")
                m.submodules[name] = muxes = self.index_muxes[p * self.lanes + lane]
                m.d.comb += [muxes.acts.eq(self.acts.payload.as_value()[
                                 p * window * self.x_fmt.bits:(p + 1) * window * self.x_fmt.bits]),
                             muxes.indices.eq(self.weights.payload.indices[lane]),
                             muxes.n_log2.eq(self.n_log2)]
                selected.append(muxes.selected)
            values = self.weights.payload.values[lane]
            if self.primitive:
                sums = self._primitive_cascade(m, lane, selected, values)
            elif self.pack == 1:
                chain_sum, flag = self._cascade(m, lane, selected[0], values)
                sums = [(chain_sum, flag)]
            else:  # integer formats: no NaN / Inf
                sums = [(s, Const(0, 1)) for s in
                        self._packed_cascade(m, lane, selected, values)]
            for p, (chain_sum, flag) in enumerate(sums):
                out = p * self.lanes + lane
                lane_acc, lane_special, result_valid, _ = accumulate(
                    m, chain_sum, flag, valid, last, Const(1, 1), acc_shape)
                m.submodules[f"requantizer{out}"] = rq = self.requantizers[out]
                special = delay(m, lane_special, stages, f"special_rq{out}")
                m.d.comb += [rq.i.eq(lane_acc),
                             finished.code[out].eq(flagged_code(rq.o, special, self.out_fmt)),
                             finished.acc[out].eq(delay(m, lane_acc, stages, f"acc_rq{out}")),
                             finished.special[out].eq(special)]
        m.d.comb += [queue.push_valid.eq(delay(m, result_valid, stages, "valid_rq")),
                     queue.push_payload.eq(finished)]
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
