"""cocotb testbench: SparseDSPChain (lanes sharing one activation stream) against
sqhw.ref.sparse_matmul.

The lanes compute rows r0 .. r0+lanes-1 of a random N:M-pruned matrix W (rows x K) times one
column of X (K x cols; cols = 1 is the matrix-vector mode) at once: the activation stream
carries each beat's window once for all lanes, the weight stream every lane's packed slots.
Every output value is checked bit for bit. Parameters from the environment: SQHW_NM,
SQHW_ROWS, SQHW_K, SQHW_COLS, SQHW_READY (the probability that result.ready is high),
SQHW_VALID (the probability that an idle source offers its next beat), SQHW_SEED; a real
layer from SQHW_W_NPY / SQHW_X_NPY (codes)."""

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from sqhw import ref
from sqhw.formats import parse
from sqhw.hdl.sparse_chain import beats
from sqhw.sparsity import NM
from sqhw.verify.bench import Tally, parameters, start_clock
from sqhw.verify.harness import port_name
from sqhw.verify.lanes import pack_fields, unpack


class Source:
    """A valid/ready source that offers its next word with probability p_valid per idle
    cycle and, once valid, holds the word until it is taken (the AXI-Stream rule)."""

    def __init__(self, dut, name, words, p_valid, rng):
        self.valid = getattr(dut, port_name(0, f"{name}__valid"))
        self.ready = getattr(dut, port_name(0, f"{name}__ready"))
        self.payload = getattr(dut, port_name(0, f"{name}__payload"))
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


def field_values(words, field) -> np.ndarray:
    """(results, count) values of a manifest payload field out of Python-int words."""
    mask = (1 << field["width"]) - 1
    return unpack([(w >> field["offset"]) & mask for w in words], field["count"], field["bits"],
                  bool(field.get("signed")))


@cocotb.test()
async def sparse_matmul(dut):
    manifests, _, seed = parameters()
    manifest = manifests[0]
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
    w_zero, x_zero = int(w_fmt.encode(np.zeros(1))[0]), int(x_fmt.encode(np.zeros(1))[0])
    padded = -(-rows // lanes) * lanes  # the last row block is filled with zero rows
    w = np.concatenate([w, np.full((padded - rows, k), w_zero, dtype=w.dtype)])
    packed = nm.pack(w, w_fmt)
    fields = manifest["inputs"]["weights"]["payload"]
    # per column j, per row block: the same activation windows, each block's weights
    act_words, weight_words = [], []
    for j in range(cols):
        b = beats(packed.values, packed.indices, x[:, j], nm, chain, w_zero, x_zero)
        count = b["last"].size
        acts = pack_fields([(b["acts"][:, None, :], x_fmt.bits)])
        for r0 in range(0, padded, lanes):
            sel = slice(r0, r0 + lanes)
            act_words += acts
            weight_words += pack_fields([
                (b["values"][sel].transpose(1, 0, 2).reshape(count, 1, -1), w_fmt.bits),
                (b["indices"][sel].transpose(1, 0, 2).reshape(count, 1, -1),
                 fields["indices"]["bits"]),
                (b["last"][:, None, None], 1)])
    sources = [Source(dut, "acts", act_words, p_valid, rng),
               Source(dut, "weights", weight_words, p_valid, rng)]
    r_valid = getattr(dut, port_name(0, "result__valid"))
    r_ready = getattr(dut, port_name(0, "result__ready"))
    r_payload = getattr(dut, port_name(0, "result__payload"))
    getattr(dut, port_name(0, "n_log2")).value = int(np.log2(nm.n))
    dut.rst.value = 0
    start_clock(dut)
    n_results = cols * padded // lanes
    got, cycles = [], 0
    while len(got) < n_results and cycles < 4 * len(weight_words) / p_valid + 1000:
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
    out = manifest["outputs"]["result"]["payload"]
    acc, code = field_values(got, out["acc"]), field_values(got, out["code"])
    # result i, lane l is row (i % blocks) * lanes + l of column i // blocks
    want = ref.sparse_matmul(packed, x, x_fmt)  # (padded, cols)
    want_seq = np.concatenate([want[:, j].reshape(-1, lanes) for j in range(cols)])
    assert acc.shape == want_seq.shape, f"{acc.shape} results for {want_seq.shape}"
    real = np.concatenate([np.arange(padded).reshape(-1, lanes) < rows] * cols)
    tally.check(acc[real], want_seq[real])
    tally.check(code[real], ref.requantize(want_seq[real], out["acc"]["frac_bits"], out_fmt,
                                           rounding=p["rounding"], saturate=p["saturate"]),
                count=False)
    slots = padded * cols * packed.values.shape[1] * nm.n  # the N:M work of all lanes
    ideal = -(-slots // (lanes * chain)) + manifest["latency"]
    tally.extra.update(pattern=str(nm), rows=rows, k=k, cols=cols, lanes=lanes, chain=chain,
                       cycles=cycles, ideal_cycles=ideal, seed=seed,
                       dsp_utilisation=round(slots / (lanes * chain * cycles), 4),
                       dense_equivalent_speedup=round(nm.m / nm.n * slots /
                                                      (lanes * chain * cycles), 3))
    result = tally.write(f"sparse_matmul_{nm.n}_{nm.m}")
    assert result["mismatches"] == 0, result["examples"]
