"""cocotb testbench: generated multipliers against sqhw.ref.mul over every input pair."""

import cocotb
import numpy as np

from sqhw import ref
from sqhw.formats import parse
from sqhw.verify.bench import Tally, parameters, run_datapath, spread


def every_pair(manifest, seed):
    a_fmt = parse(manifest["inputs"]["a"]["format"])
    b_fmt = parse(manifest["inputs"]["b"]["format"])
    a, b = np.meshgrid(np.arange(1 << a_fmt.bits), np.arange(1 << b_fmt.bits), indexing="ij")
    order = np.random.default_rng(seed).permutation(a.size)  # lanes see mixed pairs
    return a_fmt, b_fmt, a.ravel()[order], b.ravel()[order]


@cocotb.test()
async def every_pair_of_every_design(dut):
    manifests, lanes, seed = parameters()
    cases = [every_pair(m, seed) for m in manifests]
    batches = max(-(-c[2].size // lanes) for c in cases)
    tally = Tally()
    inputs = [{"a": spread(a, lanes, batches), "b": spread(b, lanes, batches)}
              for _, _, a, b in cases]
    outputs = [{"p": m["outputs"]["p"]["signed"], "special": False} for m in manifests]
    results = await run_datapath(dut, manifests, lanes, inputs, outputs)
    for (a_fmt, b_fmt, a, b), out in zip(cases, results):
        n = a.size
        finite = np.isfinite(a_fmt.table[a]) & np.isfinite(b_fmt.table[b])
        want = np.zeros(n, dtype=object)
        want[finite] = ref.mul(a[finite], a_fmt, b[finite], b_fmt)
        tally.check(out["p"].ravel()[:n].astype(object), want, np.stack([a, b], 1))
        tally.check(out["special"].ravel()[:n], (~finite).astype(np.int64), count=False)
    tally.extra["designs"] = [m["top"] for m in manifests]
    result = tally.write("every_pair")
    assert result["mismatches"] == 0, result["examples"]
    assert result["vectors"] == sum(1 << (a.bits + b.bits) for a, b, _, _ in cases)
