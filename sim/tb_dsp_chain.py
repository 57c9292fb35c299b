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

from sqhw.sparsity import NM
from sqhw.verify.bench import Tally, parameters, start_clock
from sqhw.verify.chain_stimulus import chain_run, check_results
from sqhw.verify.harness import port_name


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
    tally = Tally()
    w = x = None
    if os.environ.get("SQHW_W_NPY"):  # a real layer: codes given by the caller
        w, x = np.load(os.environ["SQHW_W_NPY"]), np.load(os.environ["SQHW_X_NPY"])
    run = chain_run(p, manifest["inputs"]["weights"]["payload"]["indices"]["bits"], nm, rows,
                    k, cols, rng, w, x)
    rows, k, cols = run.rows, run.k, run.cols
    act_words, weight_words = run.act_words, run.weight_words
    sources = [Source(dut, "acts", act_words, p_valid, rng),
               Source(dut, "weights", weight_words, p_valid, rng)]
    r_valid = getattr(dut, port_name(0, "result__valid"))
    r_ready = getattr(dut, port_name(0, "result__ready"))
    r_payload = getattr(dut, port_name(0, "result__payload"))
    getattr(dut, port_name(0, "n_log2")).value = int(np.log2(nm.n))
    dut.rst.value = 0
    start_clock(dut)
    n_results = run.result_beats
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
    check_results(tally, got, run, manifest["outputs"]["result"]["payload"], p)
    slots = run.slots
    ideal = -(-slots // (lanes * chain)) + manifest["latency"]
    tally.extra.update(pattern=str(nm), rows=rows, k=k, cols=cols, lanes=lanes, chain=chain,
                       cycles=cycles, ideal_cycles=ideal, seed=seed,
                       dsp_utilisation=round(slots / (lanes * chain * cycles), 4),
                       dense_equivalent_speedup=round(nm.m / nm.n * slots /
                                                      (lanes * chain * cycles), 3))
    result = tally.write(f"sparse_matmul_{nm.n}_{nm.m}")
    assert result["mismatches"] == 0, result["examples"]
