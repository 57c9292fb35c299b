"""cocotb testbench: streaming dot-product units against sqhw.ref, lanes in lockstep.

Per design, a driver feeds the product terms of a vector set (sqhw.verify.vectors: every
pair of the two formats first where there are at most 2**16, then random finite codes;
block dots: whole blocks with their scale codes), a sink takes results, and each lane's
results are compared in order with sqhw.ref.dot + sqhw.ref.requantize (block_dot for MX /
NVFP4). `backpressure` drops valid and ready at random; no result may be lost, repeated or
reordered. Several designs run at once, each with its own handshake bookkeeping.
`given` runs the vectors `sqhw verify` hands over (SQHW_VECTORS) on one design."""

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from sqhw.verify import vectors
from sqhw.verify.bench import Tally, given_vectors, parameters, port_width, start_clock, write_got
from sqhw.verify.harness import port_name
from sqhw.verify.lanes import pack, unpack
from sqhw.verify.streams import mac_terms

GIVEN = bool(os.environ.get("SQHW_VECTORS"))


class Case:
    """One design's term words per lane, and its handshake state.

    Dot products of a vector set made for these lanes (vs.group == lanes) go to lane
    d % lanes; any other set (a replay) runs whole on every lane."""

    def __init__(self, dut, k, manifest, lanes, vs):
        self.manifest, self.lanes, self.vs = manifest, lanes, vs
        starts, lengths = vectors.dots(vs)
        self.grouped = vs.group == lanes
        every = np.arange(starts.size)
        self.lane_dots = ([every[lane::lanes] for lane in range(lanes)] if self.grouped
                          else [every] * lanes)
        lane_words = []
        for dots in self.lane_dots:
            terms = vectors.ranges(starts[dots], lengths[dots])
            inputs = {n: vs.inputs[n][terms] for n in ("a", "b", "last")}
            inputs.update({n: vs.inputs[n][dots] for n in ("sa", "sb") if n in vs.inputs})
            lane_words.append(mac_terms(manifest, inputs, lengths[dots]))
        if len({len(w) for w in lane_words}) != 1:
            raise ValueError(f"{manifest['top']}: lanes must take equal numbers of terms")
        width = port_width(manifest, "terms__payload")
        self.words = pack(np.array(lane_words, dtype=np.int64 if width <= 62 else object).T,
                          width)
        self.handles = {n: getattr(dut, port_name(k, n)) for n in
                        ("terms__valid", "terms__ready", "terms__payload", "result__valid",
                         "result__ready", "result__payload")}
        self.n_results = len(self.lane_dots[0])
        self.index, self.got, self.valid, self.ready = 0, [], False, False

    @property
    def done(self):
        return len(self.got) >= self.n_results

    def drive(self, want_valid, want_ready):
        all_lanes = (1 << self.lanes) - 1
        self.valid = want_valid and self.index < len(self.words)
        self.ready = want_ready
        self.handles["terms__valid"].value = all_lanes if self.valid else 0
        self.handles["terms__payload"].value = self.words[min(self.index, len(self.words) - 1)]
        self.handles["result__ready"].value = all_lanes if want_ready else 0

    def observe(self, cycle):
        all_lanes = (1 << self.lanes) - 1
        t_ready = self.handles["terms__ready"].value.to_unsigned()
        r_valid = self.handles["result__valid"].value.to_unsigned()
        if t_ready not in (0, all_lanes) or r_valid not in (0, all_lanes):
            raise AssertionError(f"{self.manifest['top']}: lanes out of lockstep, cycle {cycle}")
        if self.valid and t_ready:
            self.index += 1
        if self.ready and r_valid:
            self.got.append(self.handles["result__payload"].value.to_unsigned())

    def results(self) -> dict[str, np.ndarray]:
        """Outputs per dot product of the vector set, in its order."""
        fields = self.manifest["outputs"]["result"]["payload"]
        raw = unpack(self.got, self.lanes, port_width(self.manifest, "result__payload"))
        if raw.shape[0] != self.n_results:
            raise AssertionError(f"{self.manifest['top']}: {raw.shape[0]} results for "
                                 f"{self.n_results} dot products per lane")
        out = {}
        for name, f in fields.items():
            v = (raw >> f["offset"]) & ((1 << f["width"]) - 1)
            if f.get("signed"):
                v = np.where(v >= 1 << (f["width"] - 1), v - (1 << f["width"]), v)
            # raw is (results, lanes): dot d sits at (d // lanes, d % lanes) when grouped
            out[name] = v.ravel() if self.grouped else v[:, 0]
        return out


async def stream(dut, cases, p_valid, p_ready, rng) -> int:
    """Run every case to its last result; returns the cycles it took."""
    dut.rst.value = 0
    start_clock(dut)
    cycles = 0
    limit = 4 * max(len(c.words) + c.n_results for c in cases) / (p_valid * p_ready) + 1000
    while not all(c.done for c in cases) and cycles < limit:
        await FallingEdge(dut.clk)
        want_valid, want_ready = rng.random() < p_valid, rng.random() < p_ready
        for c in cases:
            c.drive(want_valid, want_ready)
        await ReadOnly()
        for c in cases:
            c.observe(cycles)
        cycles += 1
    for c in cases:
        assert c.index == len(c.words), f"{c.manifest['top']}: {c.index} of {len(c.words)} taken"
    return cycles


async def check(dut, test, total, p_valid, p_ready, all_pairs):
    manifests, lanes, seed = parameters()
    rng = np.random.default_rng(seed)
    tally = Tally()  # times the whole run, stimulus included
    sets = []
    for m in manifests:
        pairs = vectors.input_space(m)
        sets.append(vectors.generate(m, seed, count=total, group=lanes,
                                     exhaustive=all_pairs and pairs <= min(1 << 16, total)))
    cases = [Case(dut, k, m, lanes, vs) for k, (m, vs) in enumerate(zip(manifests, sets))]
    cycles = await stream(dut, cases, p_valid, p_ready, rng)
    for c in cases:
        tally.compare(c.vs, c.results())
    latency = max(m["latency"] for m in manifests)
    tally.extra.update(terms=int(sum(vs.count for vs in sets)),
                       dot_products=int(sum(vs.size for vs in sets)), cycles=cycles,
                       ideal_cycles=max(len(c.words) for c in cases) + latency, lanes=lanes,
                       designs=[m["top"] for m in manifests])
    result = tally.write(test)
    assert result["mismatches"] == 0, result["examples"]
    return result


@cocotb.test(skip=GIVEN)
async def throughput(dut):
    """valid and ready held high: one term per lane per cycle, SQHW_MAC_TERMS per design."""
    result = await check(dut, "throughput", int(os.environ.get("SQHW_MAC_TERMS", "1000000")),
                         1.0, 1.0, True)
    assert result["cycles"] <= result["ideal_cycles"] + 1


@cocotb.test(skip=GIVEN)
async def backpressure(dut):
    """valid 70% and ready 40% of the cycles, at random."""
    await check(dut, "backpressure", 20000, 0.7, 0.4, False)


@cocotb.test(skip=not GIVEN)
async def given(dut):
    """The vectors of `sqhw verify` on one design; the host compares them (SQHW_GOT).
    SQHW_READY / SQHW_VALID < 1 add backpressure."""
    manifests, lanes, seed = parameters()
    tally = Tally()
    vs = given_vectors()
    case = Case(dut, 0, manifests[0], lanes, vs)
    p_valid = float(os.environ.get("SQHW_VALID", "1"))
    p_ready = float(os.environ.get("SQHW_READY", "1"))
    cycles = await stream(dut, [case], p_valid, p_ready, np.random.default_rng(seed))
    got = case.results()
    write_got(got)
    tally.compare(vs, got)
    tally.extra.update(cycles=cycles, dot_products=vs.size)
    tally.write("given")
