"""cocotb testbench: generated packed multipliers (sqhw.hdl.packed) against sqhw.ref.mul.

Every design of the harness: inputs with at most 2**20 combinations are checked whole
(four int4 products: 16**5); wider ones (an int8 pair) over every (x[0], w) with x[1] in a
set of edges (both signs, 0, +-1, +-2, the extremes) and 8 random codes, since the fields
are independent once split."""

import itertools

import cocotb
import numpy as np

from sqhw import ref
from sqhw.formats import parse
from sqhw.verify.bench import Tally, parameters, run_datapath, spread

EDGES = [-128, -127, -2, -1, 0, 1, 2, 126, 127]


def vectors(manifest, rng):
    """(x codes (n, pack), w codes (n,)) for one design."""
    p = manifest["parameters"]
    x_fmt, w_fmt, pack = parse(p["x"]), parse(p["w"]), p["pack"]
    if (x_fmt.bits * pack + w_fmt.bits) <= 20:
        grid = np.array(list(itertools.product(range(1 << x_fmt.bits), repeat=pack + 1)))
        return grid[:, :pack], grid[:, pack]
    lo, hi = ref.int_range(x_fmt)
    edges = [v for v in EDGES if lo <= v <= hi]
    others = [int(x_fmt.encode(np.array([float(v)]))[0]) for v in edges]
    others += rng.integers(0, 1 << x_fmt.bits, 8).tolist()
    x0, w, x1 = (v.ravel() for v in np.meshgrid(np.arange(1 << x_fmt.bits),
                                                np.arange(1 << w_fmt.bits), others,
                                                indexing="ij"))
    rest = [np.roll(x1, i) for i in range(pack - 1)]  # pack > 2: the others shifted
    return np.stack([x0, *rest], axis=-1), w


@cocotb.test()
async def every_input(dut):
    manifests, lanes, seed = parameters()
    rng = np.random.default_rng(seed)
    sets = [vectors(m, rng) for m in manifests]
    batches = max(-(-len(w) // lanes) for _, w in sets)
    inputs, outputs = [], []
    for m, (x, w) in zip(manifests, sets):
        bits = m["inputs"]["x"]["bits"]
        word = (x & ((1 << bits) - 1)) << (np.arange(x.shape[1]) * bits)
        inputs.append({"x": spread(word.sum(axis=1), lanes, batches),
                       "w": spread(w, lanes, batches)})
        outputs.append({"p": False})
    results = await run_datapath(dut, manifests, lanes, inputs, outputs)
    tally = Tally()
    for m, (x, w), out in zip(manifests, sets, results):
        p = m["parameters"]
        x_fmt, w_fmt = parse(p["x"]), parse(p["w"])
        bits, pack = m["outputs"]["p"]["bits"], p["pack"]
        raw = out["p"].ravel()[:len(w)]
        fields = (raw[:, None] >> (np.arange(pack) * bits)) & ((1 << bits) - 1)
        got = np.where(fields >= 1 << (bits - 1), fields - (1 << bits), fields)
        want = np.stack([ref.mul(w, w_fmt, x[:, i], x_fmt) for i in range(pack)], axis=-1)
        tally.check(got, want, context=np.concatenate([x, w[:, None]], axis=1)
                    .repeat(pack, axis=0))
        tally.vectors -= got.size - len(w)  # a vector is one input (x[0..pack), w)
    tally.extra["designs"] = [m["top"] for m in manifests]
    result = tally.write("every_input")
    assert result["mismatches"] == 0, result["examples"]
