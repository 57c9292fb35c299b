"""cocotb testbench: the generated multiplier against sqhw.ref.mul over every input pair."""

import cocotb
import numpy as np

from sqhw import ref
from sqhw.formats import parse
from sqhw.verify.bench import Tally, parameters, run_datapath


@cocotb.test()
async def every_pair(dut):
    manifest, lanes, seed = parameters()
    a_fmt = parse(manifest["inputs"]["a"]["format"])
    b_fmt = parse(manifest["inputs"]["b"]["format"])
    a, b = np.meshgrid(np.arange(1 << a_fmt.bits), np.arange(1 << b_fmt.bits), indexing="ij")
    a, b = a.ravel(), b.ravel()
    np.random.default_rng(seed).shuffle(order := np.arange(a.size))  # lanes see mixed pairs
    a, b = a[order], b[order]
    pad = -a.size % lanes
    a, b = np.concatenate([a, a[:pad]]), np.concatenate([b, b[:pad]])
    tally = Tally()
    out = await run_datapath(dut, manifest, lanes, {"a": a.reshape(-1, lanes),
                                                    "b": b.reshape(-1, lanes)},
                             {"p": manifest["outputs"]["p"]["signed"], "special": False})
    finite = np.isfinite(a_fmt.table[a]) & np.isfinite(b_fmt.table[b])
    want = np.zeros(a.size, dtype=object)
    want[finite] = ref.mul(a[finite], a_fmt, b[finite], b_fmt)
    n = a.size - pad
    tally.check(out["p"].ravel()[:n].astype(object), want[:n], np.stack([a, b], 1)[:n])
    tally.check(out["special"].ravel()[:n], (~finite[:n]).astype(np.int64), count=False)
    tally.extra["pairs"] = int(n)
    result = tally.write()
    assert result["mismatches"] == 0, result["examples"]
    assert n == (1 << (a_fmt.bits + b_fmt.bits))
