"""cocotb testbench: streaming dot-product units against sqhw.ref, lanes in lockstep.

Per design, a driver feeds product terms (every pair of the two formats first where there
are at most 2**16, then random finite codes), a sink takes results, and an in-order
checker compares each lane's results with sqhw.ref.dot + sqhw.ref.requantize.
`backpressure` drops valid and ready at random; no result may be lost, repeated or
reordered. Several designs run at once, each with its own handshake bookkeeping."""

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from sqhw import ref
from sqhw.formats import BlockEncoded, parse
from sqhw.verify.bench import Tally, parameters, port_width, start_clock
from sqhw.verify.harness import port_name
from sqhw.verify.lanes import pack, unpack


class Case:
    """One design's terms, expected results and handshake state."""

    def __init__(self, dut, k, manifest, lanes, total, rng, all_pairs):
        p = manifest["parameters"]
        self.manifest, self.lanes = manifest, lanes
        self.block = "block_size" in p
        a_fmt, b_fmt = parse(p["a"]), parse(p["b"])
        if self.block:  # element codes; scales drawn per block below
            a_block, b_block = a_fmt, b_fmt
            a_fmt, b_fmt = a_fmt.element, b_fmt.element
        fa = np.flatnonzero(np.isfinite(a_fmt.table))
        fb = np.flatnonzero(np.isfinite(b_fmt.table))
        per_lane = -(-total // lanes)
        a = rng.choice(fa, size=(lanes, per_lane))
        b = rng.choice(fb, size=(lanes, per_lane))
        if all_pairs and fa.size * fb.size <= min(1 << 16, a.size):  # every pair, over lanes
            pa, pb = np.meshgrid(fa, fb, indexing="ij")
            order = rng.permutation(pa.size)
            a.reshape(-1)[:order.size] = pa.ravel()[order]
            b.reshape(-1)[:order.size] = pb.ravel()[order]
        if self.block:
            size = p["block_size"]
            per_lane -= per_lane % size
            a, b = a[:, :per_lane], b[:, :per_lane]
            lengths = [size] * (per_lane // size)
        else:
            lengths, left = [], per_lane
            while left:
                n = int(min(rng.integers(1, p["max_length"] + 1), left))
                lengths.append(n)
                left -= n
        ends = np.cumsum(lengths)
        last = np.zeros(per_lane, dtype=np.int64)
        last[ends - 1] = 1
        columns = [a, b]
        names = ["a", "b"]
        if self.block:
            scales = [self._scales(a_block.scale_format, lanes, len(lengths), rng)
                      for _ in range(2)]
            self.want_code = self._block_expected(a, b, scales, a_block, b_block, p)
            self.want_acc = None
            # the scale codes go with every term of their block (sampled with the last)
            columns += [np.repeat(sc, size, axis=1) for sc in scales]
            names += ["sa", "sb"]
        else:
            # expected: exact sums of each dot product, then the requantizer
            prods = ref.mul(a, a_fmt, b, b_fmt)
            csum = np.concatenate([np.zeros((lanes, 1), dtype=prods.dtype),
                                   np.cumsum(prods, 1)], 1)
            self.want_acc = csum[:, ends] - csum[:, ends - np.array(lengths)]
            acc_frac = manifest["outputs"]["result"]["payload"]["acc"]["frac_bits"]
            self.want_code = ref.requantize(self.want_acc, acc_frac, parse(p["out"]),
                                            rounding=p["rounding"], saturate=p["saturate"])
        # stimulus words, one per term index
        payload = manifest["inputs"]["terms"]["payload"]
        fields = np.stack(columns + [np.broadcast_to(last, a.shape)], axis=-1)
        shifts = np.array([payload[f]["offset"] for f in names + ["last"]])
        self.words = pack((fields << shifts).sum(axis=-1).T,
                          port_width(manifest, "terms__payload"))
        self.handles = {n: getattr(dut, port_name(k, n)) for n in
                        ("terms__valid", "terms__ready", "terms__payload", "result__valid",
                         "result__ready", "result__payload")}
        self.terms, self.n_results = a.size, len(lengths)
        self.index, self.got, self.valid, self.ready = 0, [], False, False

    @staticmethod
    def _scales(fmt, lanes, blocks, rng):
        """Scale codes: mostly near 1.0, with the extremes of the format mixed in."""
        finite = np.flatnonzero(np.isfinite(fmt.table) & (fmt.table > 0))
        one = int(fmt.encode(np.array([1.0]))[0])
        near = np.clip(one + rng.integers(-24, 25, (lanes, blocks)), finite.min(), finite.max())
        extreme = rng.choice(finite, (lanes, blocks))
        return np.where(rng.random((lanes, blocks)) < 0.2, extreme, near)

    @staticmethod
    def _block_expected(a, b, scales, a_fmt, b_fmt, p):
        """Exact element dot * both scales per block (sqhw.ref.block_dot), rounded once."""
        lanes, size = a.shape[0], a_fmt.block_size
        rows = a.reshape(-1, size), b.reshape(-1, size)
        sa, sb = (s.reshape(-1, 1) for s in scales)
        exact = ref.block_dot(BlockEncoded(rows[0], sa, 1.0), a_fmt,
                              BlockEncoded(rows[1], sb, 1.0), b_fmt)
        codes = ref.requantize(exact.ints, exact.frac_bits, parse(p["out"]),
                               rounding=p["rounding"], saturate=p["saturate"])
        return codes.reshape(lanes, -1)

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

    def results(self):
        fields = self.manifest["outputs"]["result"]["payload"]
        raw = unpack(self.got, self.lanes, port_width(self.manifest, "result__payload"))
        out = {}
        for name in ("code", "special") if self.block else ("acc", "code", "special"):
            f = fields[name]
            v = (raw >> f["offset"]) & ((1 << f["width"]) - 1)
            if f.get("signed"):
                v = np.where(v >= 1 << (f["width"] - 1), v - (1 << f["width"]), v)
            out[name] = v.T
        return out


async def check(dut, test, total, p_valid, p_ready, all_pairs):
    manifests, lanes, seed = parameters()
    rng = np.random.default_rng(seed)
    tally = Tally()
    cases = [Case(dut, k, m, lanes, total, rng, all_pairs) for k, m in enumerate(manifests)]
    dut.rst.value = 0
    start_clock(dut)
    cycles = 0
    limit = 4 * max(c.terms // lanes + c.n_results for c in cases) + 1000
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
        got = c.results()
        assert c.index == len(c.words), f"{c.manifest['top']}: {c.index} of {len(c.words)} taken"
        assert got["code"].shape == c.want_code.shape, \
            f"{c.manifest['top']}: {got['code'].shape[1]} results for {c.n_results} dot products"
        if not c.block:
            tally.check(got["acc"], c.want_acc, count=False)
        tally.check(got["code"], c.want_code, count=False)
        tally.check(got["special"], np.zeros_like(got["special"]), count=False)
        tally.vectors += c.terms  # every term entered a checked dot product
    per_lane = max(len(c.words) for c in cases)
    latency = max(m["latency"] for m in manifests)
    tally.extra.update(terms=int(sum(c.terms for c in cases)),
                       dot_products=int(sum(c.want_code.size for c in cases)), cycles=cycles,
                       ideal_cycles=per_lane + latency, lanes=lanes,
                       designs=[m["top"] for m in manifests])
    result = tally.write(test)
    assert result["mismatches"] == 0, result["examples"]
    return result


@cocotb.test()
async def throughput(dut):
    """valid and ready held high: one term per lane per cycle, SQHW_MAC_TERMS per design."""
    result = await check(dut, "throughput", int(os.environ.get("SQHW_MAC_TERMS", "1000000")),
                         1.0, 1.0, True)
    assert result["cycles"] <= result["ideal_cycles"] + 1


@cocotb.test()
async def backpressure(dut):
    """valid 70% and ready 40% of the cycles, at random."""
    await check(dut, "backpressure", 20000, 0.7, 0.4, False)
