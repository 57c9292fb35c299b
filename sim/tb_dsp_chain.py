"""cocotb testbench: SparseDSPChain lanes in lockstep against sqhw.ref.sparse_matmul.

Each lane computes different rows of a random N:M-pruned matrix W (rows x K) times X (K x
cols; cols = 1 is the matrix-vector mode); every output value is checked bit for bit.
Parameters from the environment: SQHW_NM, SQHW_ROWS, SQHW_K, SQHW_COLS, SQHW_READY (the
probability that result.ready is high), SQHW_SEED."""

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from sqhw import ref
from sqhw.formats import parse
from sqhw.hdl.sparse_chain import beats
from sqhw.sparsity import NM
from sqhw.verify.bench import Tally, parameters, port_width, start_clock
from sqhw.verify.harness import port_name
from sqhw.verify.lanes import pack, pack_fields, unpack


@cocotb.test()
async def sparse_matmul(dut):
    manifests, lanes, seed = parameters()
    manifest = manifests[0]
    p = manifest["parameters"]
    rng = np.random.default_rng(seed)
    nm = NM.parse(os.environ.get("SQHW_NM", "2:8"))
    rows, k = int(os.environ.get("SQHW_ROWS", "64")), int(os.environ.get("SQHW_K", "512"))
    cols, p_ready = int(os.environ.get("SQHW_COLS", "1")), float(os.environ.get("SQHW_READY", "1"))
    w_fmt, x_fmt, out_fmt = parse(p["w"]), parse(p["x"]), parse(p["out"])
    rows -= rows % lanes or 0
    tally = Tally()
    if os.environ.get("SQHW_W_NPY"):  # a real layer: codes given by the caller
        w, x = np.load(os.environ["SQHW_W_NPY"]), np.load(os.environ["SQHW_X_NPY"])
        rows, k, cols = w.shape[0], w.shape[1], x.shape[1]
        assert rows % lanes == 0, f"{rows} rows do not fill {lanes} lanes"
    else:
        w = w_fmt.encode(nm.prune(rng.standard_normal((rows, k)) * 40), saturate=True)
        x_finite = np.flatnonzero(np.isfinite(x_fmt.table))
        x = rng.choice(x_finite, (k, cols))
    packed = nm.pack(w, w_fmt)
    w_zero, x_zero = int(w_fmt.encode(np.zeros(1))[0]), int(x_fmt.encode(np.zeros(1))[0])
    # the stream of one lane: for each column, rows lane, lane + lanes, ...
    stream = []
    for j in range(cols):
        b = beats(packed.values, packed.indices, x[:, j], nm, p["chain"], w_zero, x_zero)
        stream.append(b)
    per_row = stream[0]["last"].size
    words = []
    for j in range(cols):
        b = stream[j]
        for r0 in range(0, rows, lanes):
            sel = slice(r0, r0 + lanes)
            words += pack_fields([(b["values"][sel].transpose(1, 0, 2), w_fmt.bits),
                                  (b["indices"][sel].transpose(1, 0, 2), nm_bits(p)),
                                  (np.asarray(b["acts"][sel]).transpose(1, 0, 2), x_fmt.bits),
                                  (np.broadcast_to(b["last"][:, None, None],
                                                   (per_row, lanes, 1)), 1)])
    h = {n: getattr(dut, port_name(0, n)) for n in
         ("beats__valid", "beats__ready", "beats__payload", "result__valid", "result__ready",
          "result__payload", "n_log2")}
    all_lanes = (1 << lanes) - 1
    h["n_log2"].value = pack(np.full((1, lanes), int(np.log2(nm.n))),
                             port_width(manifest, "n_log2"))[0]
    dut.rst.value = 0
    start_clock(dut)
    n_results = cols * rows // lanes
    got, index, cycles = [], 0, 0
    while len(got) < n_results and cycles < 4 * len(words) + 1000:
        await FallingEdge(dut.clk)
        valid = index < len(words)
        ready = rng.random() < p_ready
        h["beats__valid"].value = all_lanes if valid else 0
        h["beats__payload"].value = words[min(index, len(words) - 1)]
        h["result__ready"].value = all_lanes if ready else 0
        await ReadOnly()
        t_ready = h["beats__ready"].value.to_unsigned()
        r_valid = h["result__valid"].value.to_unsigned()
        if t_ready not in (0, all_lanes) or r_valid not in (0, all_lanes):
            raise AssertionError(f"lanes out of lockstep at cycle {cycles}")
        if valid and t_ready:
            index += 1
        if ready and r_valid:
            got.append(h["result__payload"].value.to_unsigned())
        cycles += 1
    assert index == len(words), f"{index} of {len(words)} beats taken"
    fields = manifest["outputs"]["result"]["payload"]
    raw = unpack(got, lanes, port_width(manifest, "result__payload"), False)  # (results, lanes)
    acc_f = fields["acc"]
    acc = (raw >> acc_f["offset"]) & ((1 << acc_f["width"]) - 1)
    acc = np.where(acc >= 1 << (acc_f["width"] - 1), acc - (1 << acc_f["width"]), acc)
    code = (raw >> fields["code"]["offset"]) & ((1 << fields["code"]["width"]) - 1)
    # result i of lane l is row (i % (rows/lanes)) * lanes + l of column i // (rows/lanes)
    want = ref.sparse_matmul(packed, x, x_fmt)  # (rows, cols)
    want_seq = np.concatenate([want[:, j].reshape(-1, lanes) for j in range(cols)])
    assert acc.shape == want_seq.shape, f"{acc.shape} results for {want_seq.shape}"
    tally.check(acc, want_seq)
    tally.check(code, ref.requantize(want_seq, acc_f["frac_bits"], out_fmt,
                                     rounding=p["rounding"], saturate=p["saturate"]),
                count=False)
    slots = rows * cols * packed.values.shape[1] * nm.n  # the N:M work of all lanes
    ideal = -(-slots // (lanes * p["chain"])) + manifest["latency"]
    tally.extra.update(pattern=str(nm), rows=rows, k=k, cols=cols, lanes=lanes,
                       chain=p["chain"], cycles=cycles, ideal_cycles=ideal, seed=seed,
                       dsp_utilisation=round(slots / (lanes * p["chain"] * cycles), 4),
                       dense_equivalent_speedup=round(nm.m / nm.n * slots /
                                                      (lanes * p["chain"] * cycles), 3))
    result = tally.write(f"sparse_matmul_{nm.n}_{nm.m}")
    assert result["mismatches"] == 0, result["examples"]


def nm_bits(p):
    return max(1, int(np.log2(p["m"])))
