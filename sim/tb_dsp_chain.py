"""cocotb testbench: SparseDSPChain (lanes sharing one activation stream) against
sqhw.ref.sparse_matmul.

The lanes compute rows r0 .. r0+lanes-1 of a random N:M-pruned matrix W (rows x K) times one
column of X (K x cols; cols = 1 is the matrix-vector mode) at once: the activation stream
carries each beat's window once for all lanes, the weight stream every lane's packed slots.
Every output value is checked bit for bit; the stimulus words and the result fields are packed
and read at the offsets the design's manifest gives (sqhw.verify.chain_stimulus). Parameters from the environment: SQHW_NM,
SQHW_ROWS, SQHW_K, SQHW_COLS, SQHW_READY (the probability that result.ready is high),
SQHW_VALID (the probability that an idle source offers its next beat), SQHW_SEED; a real
layer from SQHW_W_NPY / SQHW_X_NPY (codes). `given` runs the vectors `sqhw verify` hands over
(SQHW_VECTORS)."""

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from sqhw import ref
from sqhw.formats import parse
from sqhw.sparsity import NM
from sqhw.verify.bench import Tally, given_vectors, parameters, start_clock, write_got
from sqhw.verify.chain_stimulus import chain_beats, field_values
from sqhw.verify.harness import port_name
from sqhw.verify.streams import result_order

GIVEN = bool(os.environ.get("SQHW_VECTORS"))


class Source:
    """A valid/ready source that offers its next word with probability p_valid per idle
    cycle and, once valid, holds the word until it is taken (the AXI-Stream rule)."""

    def __init__(self, dut, name, words, p_valid, rng, design=0):
        self.valid = getattr(dut, port_name(design, f"{name}__valid"))
        self.ready = getattr(dut, port_name(design, f"{name}__ready"))
        self.payload = getattr(dut, port_name(design, f"{name}__payload"))
        self.words, self.p_valid, self.rng = words, p_valid, rng
        self.index, self.offering = 0, False

    def drive(self):
        if not self.offering and self.index < len(self.words):
            self.offering = self.rng.random() < self.p_valid
        self.valid.value = int(self.offering)
        self.payload.value = self.words[min(self.index, len(self.words) - 1)]

    def sample(self):
        if self.offering and self.ready.value.to_unsigned():
            self.index, self.offering = self.index + 1, False


_clocked = []  # the harness clock, started once per simulation


async def stream(dut, manifest, w, x, nm, p_valid, p_ready, rng, design=0):
    """W (rows, K) @ X (K, cols) through design `design` of the harness under pattern nm;
    returns (acc, code) of shape (rows, cols) and the cycles it took."""
    p = manifest["parameters"]
    lanes, pack = p["lanes"], p.get("pack", 1)
    act_words, weight_words, padded = chain_beats(manifest, w, x, nm)
    rows, cols = w.shape[0], x.shape[1]
    if _clocked:  # a design before this one ran: leave its last ReadOnly phase
        await FallingEdge(dut.clk)
    sources = [Source(dut, "acts", act_words, p_valid, rng, design),
               Source(dut, "weights", weight_words, p_valid, rng, design)]
    r_valid = getattr(dut, port_name(design, "result__valid"))
    r_ready = getattr(dut, port_name(design, "result__ready"))
    r_payload = getattr(dut, port_name(design, "result__payload"))
    getattr(dut, port_name(design, "n_log2")).value = int(np.log2(nm.n))
    dut.rst.value = 0
    if not _clocked:
        start_clock(dut)
        _clocked.append(True)
    n_results = -(-cols // pack) * padded // lanes
    got, cycles = [], 0
    while len(got) < n_results and cycles < 4 * len(weight_words) / (p_valid * p_ready) + 1000:
        await FallingEdge(dut.clk)
        for source in sources:
            source.drive()
        ready = rng.random() < p_ready
        r_ready.value = int(ready)
        await ReadOnly()
        for source in sources:
            source.sample()
        if ready and r_valid.value.to_unsigned():
            got.append(r_payload.value.to_unsigned())
        cycles += 1
    taken = [source.index for source in sources]
    assert taken == [len(weight_words)] * 2, f"{taken} of {len(weight_words)} beats taken"
    assert len(got) == n_results, f"{len(got)} results for {n_results}"
    out = manifest["outputs"]["result"]["payload"]
    acc, code = (result_order(manifest, field_values(got, out[name]), rows, cols)
                 for name in ("acc", "code"))
    return acc, code, cycles


@cocotb.test(skip=GIVEN)
async def sparse_matmul(dut):
    """Every design of the harness in turn (several chain designs share one build), each
    with the same pattern, shapes and seed; one result per design."""
    manifests, _, seed = parameters()
    for design, manifest in enumerate(manifests):
        name = "" if len(manifests) == 1 else f"_{manifest['top']}"
        await _sparse_matmul(dut, design, manifest, seed, name)


async def _sparse_matmul(dut, design, manifest, seed, name):
    p = manifest["parameters"]
    lanes, chain = p["lanes"], p["chain"]
    rng = np.random.default_rng(seed)
    nm = NM.parse(os.environ.get("SQHW_NM", "2:8"))
    rows, k = int(os.environ.get("SQHW_ROWS", "64")), int(os.environ.get("SQHW_K", "512"))
    cols = int(os.environ.get("SQHW_COLS", "1"))
    p_ready = float(os.environ.get("SQHW_READY", "1"))
    p_valid = float(os.environ.get("SQHW_VALID", "1"))
    w_fmt, x_fmt, out_fmt = parse(p["w"]), parse(p["x"]), parse(p["out"])
    tally = Tally()
    if os.environ.get("SQHW_W_NPY"):  # a real layer: codes given by the caller
        w, x = np.load(os.environ["SQHW_W_NPY"]), np.load(os.environ["SQHW_X_NPY"])
        rows, k, cols = w.shape[0], w.shape[1], x.shape[1]
    else:
        w = w_fmt.encode(nm.prune(rng.standard_normal((rows, k)) * 40), saturate=True)
        x_finite = np.flatnonzero(np.isfinite(x_fmt.table))
        x = rng.choice(x_finite, (k, cols))
    acc, code, cycles = await stream(dut, manifest, w, x, nm, p_valid, p_ready, rng, design)
    want = ref.sparse_matmul(nm.pack(w, w_fmt), x, x_fmt)  # (rows, cols)
    out = manifest["outputs"]["result"]["payload"]
    tally.check(acc, want)
    tally.check(code, ref.requantize(want, out["acc"]["frac_bits"], out_fmt,
                                     rounding=p["rounding"], saturate=p["saturate"]),
                count=False)
    pack = p.get("pack", 1)
    padded = -(-rows // lanes) * lanes
    groups = -(-k // nm.m)
    slots = padded * cols * groups * nm.n  # the N:M work of all lanes
    padded_slots = padded * -(-cols // pack) * pack * groups * nm.n
    ideal = -(-padded_slots // (lanes * chain * pack)) + manifest["latency"]
    tally.extra.update(pattern=str(nm), rows=rows, k=k, cols=cols, lanes=lanes, chain=chain,
                       pack=pack, cycles=cycles, ideal_cycles=ideal, seed=seed,
                       dsp_utilisation=round(slots / (lanes * chain * pack * cycles), 4),
                       macs_per_dsp_cycle=round(slots / (lanes * chain * cycles), 4),
                       dense_equivalent_speedup=round(nm.m / nm.n * slots /
                                                      (lanes * chain * cycles), 3))
    tally.extra["dsp_utilisation_note"] = "of lanes * chain * pack products per cycle"
    result = tally.write(f"sparse_matmul_{nm.n}_{nm.m}{name}")
    assert result["mismatches"] == 0, result["examples"]


@cocotb.test(skip=not GIVEN)
async def given(dut):
    """The vectors of `sqhw verify` (one pattern) on the chain; the host compares them
    (SQHW_GOT). SQHW_READY / SQHW_VALID < 1 add backpressure."""
    manifests, _, seed = parameters()
    tally = Tally()
    vs = given_vectors()
    acc, code, cycles = await stream(
        dut, manifests[0], vs.inputs["w"], vs.inputs["x"], NM.parse(vs.nm),
        float(os.environ.get("SQHW_VALID", "1")), float(os.environ.get("SQHW_READY", "1")),
        np.random.default_rng(seed))
    got = {"acc": acc.ravel(), "code": code.ravel()}
    write_got(got)
    tally.compare(vs, got)
    tally.extra.update(cycles=cycles, pattern=vs.nm)
    tally.write("given")
