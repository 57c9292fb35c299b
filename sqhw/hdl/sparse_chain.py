"""SparseDSPChain: a FlightLLM-style chain of multiply stages for N:M sparse weights.

Each cycle one stream beat brings `chain` packed slots (weight value + index inside its
group of m) and the activations of the groups those slots belong to: chain / n groups of m
activations (n = the run-time non-zeros per group, 2**n_log2). Stage c serves slot c: it
picks its group (c >> n_log2) and, with an m-way index mux, its activation, multiplies
(a DSP48E2-sized product for 8-bit formats) and the chain's products are summed into an
exact accumulator; `last` ends an output value, which is rounded once into out_fmt.

One bitstream runs every n that divides `chain` (1:8, 2:8, 4:8 and dense 8:8 with m = 8,
chain = 8): n only moves the group select in front of each stage.
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Array, Cat, EnableInserter, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import ref
from ._refuse import refusing
from .accumulate import accumulate
from .convert import Requantizer, fixed_shape
from .multiplier import Multiplier
from .operand import layout_of
from .pipeline import check_stages, delay


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
        return m


def adder_tree(m: Module, values: list, width_shape, levels_registered: int, enable, name):
    """Sum of values as a balanced tree; the first `levels_registered` levels (from the
    leaves) end in registers that load while `enable` is high. Returns (sum, registers)."""
    level, registers = list(values), 0
    depth = 0
    while len(level) > 1:
        pairs = []
        for i in range(0, len(level), 2):
            total = Signal(width_shape, name=f"{name}_l{depth}_{i // 2}")
            m.d.comb += total.eq(level[i] + level[i + 1] if i + 1 < len(level) else level[i])
            if depth < levels_registered:
                total = delay(m, total, 1, f"{name}_r{depth}_{i // 2}", enable)
            pairs.append(total)
        registers += depth < levels_registered
        level, depth = pairs, depth + 1
    return level[0], registers


class SparseDSPChain(wiring.Component):
    """Streams: beats {values[chain], indices[chain], acts[chain*m], last} in, results
    {code, acc, special} out; config input n_log2 (held while a row streams).

    >>> from sqhw.formats import parse
    >>> chain = SparseDSPChain(parse("int8"), parse("int8"), m=8, chain=8, max_k=4096,
    ...                        out_fmt=parse("int8"))
    >>> chain.index_bits, chain.accumulator.bits, chain.latency
    (3, 28, 4)
    """

    @refusing
    def __init__(self, w_fmt, x_fmt, m: int, chain: int, max_k: int, out_fmt,
                 rounding: str = "rne", saturate: bool = True, stages: int = 1):
        layout_of(w_fmt), layout_of(x_fmt)
        for arg, value in (("m", m), ("chain", chain), ("max_k", max_k)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}: expected a positive integer, got {value!r}")
        if m & (m - 1) or chain & (chain - 1):
            raise ValueError(f"m and chain must be powers of two, got m={m}, chain={chain}")
        if rounding == "stochastic":
            raise ValueError("rounding: stochastic rounding is not offered by the chain")
        self.w_fmt, self.x_fmt, self.out_fmt = w_fmt, x_fmt, out_fmt
        self.m, self.chain, self.max_k = m, chain, max_k
        self.index_bits = max(1, int(math.log2(m)))
        self.stages = check_stages(stages)
        self.accumulator = ref.accumulator_format(w_fmt, x_fmt, max_k)
        self.requantizer = Requantizer(self.accumulator, out_fmt, rounding=rounding,
                                       saturate=saturate, stages=self.stages)
        self.multipliers = [Multiplier(w_fmt, x_fmt, stages=self.stages) for _ in range(chain)]
        self.index_muxes = IndexMuxBank(x_fmt, m, chain)
        # the products' adder tree is pipelined like a DSP cascade: one register per level,
        # up to `stages` levels
        self.tree_stages = min(self.stages, int(math.log2(chain)))
        beat = data.StructLayout({
            "values": data.ArrayLayout(w_fmt.bits, chain),
            "indices": data.ArrayLayout(self.index_bits, chain),
            "acts": data.ArrayLayout(x_fmt.bits, chain * m),
            "last": 1})
        result = data.StructLayout({"code": out_fmt.bits, "acc": fixed_shape(self.accumulator),
                                    "special": 1})
        super().__init__({"beats": In(stream.Signature(beat)),
                          "result": Out(stream.Signature(result)),
                          "n_log2": In(range(int(math.log2(m)) + 1))})

    @property
    def runtime_patterns(self) -> list[str]:
        """The N:M patterns one build runs: every power-of-two n <= min(m, chain)."""
        return [f"{1 << k}:{self.m}" for k in range(int(math.log2(min(self.m, self.chain))) + 1)]

    @property
    def latency(self) -> int:
        return self.stages + self.tree_stages + 1 + self.requantizer.latency

    def elaborate(self, platform):
        m = Module()
        out_valid = Signal()
        advance = ~out_valid | self.result.ready
        beat = self.beats.payload
        m.d.comb += self.beats.ready.eq(advance)
        m.submodules.index_muxes = muxes = self.index_muxes
        m.d.comb += [muxes.acts.eq(beat.acts), muxes.indices.eq(beat.indices),
                     muxes.n_log2.eq(self.n_log2)]
        products, flags = [], []
        for c, mul in enumerate(self.multipliers):
            m.submodules[f"stage{c}"] = stage = EnableInserter(advance)(mul)
            m.d.comb += [stage.a.eq(beat.values[c]), stage.b.eq(muxes.selected[c])]
            products.append(stage.p)
            flags.append(stage.special)

        chain_sum, _ = adder_tree(m, products, fixed_shape(self.accumulator), self.tree_stages,
                                  advance, "tree")
        depth = self.stages + self.tree_stages
        valid = delay(m, self.beats.valid & advance, depth, "valid_mul", advance)
        last = delay(m, beat.last, depth, "last_mul", advance)
        flagged = Signal(name="flagged")
        m.d.comb += flagged.eq(Cat(*flags).any())
        flagged = delay(m, flagged, self.tree_stages, "flagged", advance)
        result_acc, result_special, result_valid, _ = accumulate(
            m, chain_sum, flagged, valid, last, advance, fixed_shape(self.accumulator))

        m.submodules.requantizer = rq = EnableInserter(advance)(self.requantizer)
        m.d.comb += rq.i.eq(result_acc)
        stages = self.requantizer.latency
        m.d.comb += [out_valid.eq(delay(m, result_valid, stages, "valid_rq", advance)),
                     self.result.valid.eq(out_valid),
                     self.result.payload.code.eq(rq.o),
                     self.result.payload.acc.eq(delay(m, result_acc, stages, "acc_rq", advance)),
                     self.result.payload.special.eq(delay(m, result_special, stages,
                                                          "special_rq", advance))]
        return m


def beats(values, indices, x_codes, nm, chain: int, w_zero: int, x_zero: int) -> dict:
    """The beat stream of SparseDSPChain for packed rows (rows, G, n) and activations x (K):
    {values (rows, B, chain), indices (rows, B, chain), acts (rows, B, chain*m),
    last (B,)}. Slot s of a row is group s // n; beat b carries slots [b*chain, (b+1)*chain)
    and the chain // n groups they index (the one group when n > chain); missing slots are
    zero weights."""
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
            "indices": flat_i.reshape(rows, count, chain),
            "acts": np.broadcast_to(acts_full, (rows, count, chain * m)), "last": last}
