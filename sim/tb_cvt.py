"""cocotb testbench: converters and requantizers against sqhw.ref over every input code."""

import cocotb
import numpy as np

from sqhw import ref
from sqhw.formats import Fixed, parse
from sqhw.verify.bench import Tally, parameters, run_datapath, spread


def case(manifest, rng):
    """(inputs 1-D by port, expected outputs 1-D by port, output signedness)."""
    params = manifest["parameters"]
    src, dst = parse(params["from"]), parse(params["to"])
    codes = np.arange(1 << src.bits)
    rng.shuffle(codes)
    if not isinstance(src, Fixed):  # minifloat -> exact fixed
        finite = np.isfinite(src.table[codes])
        want = np.zeros(codes.size, dtype=np.int64)
        want[finite] = ref.to_ints(codes[finite], src)
        return {"i": codes}, {"o": want, "special": (~finite).astype(np.int64)}, \
            {"o": True, "special": False}
    ints = src.to_int(codes)
    inputs = {"i": codes}
    if "dyadic_shift" in params:
        m = rng.integers(0, 1 << params["multiplier_bits"], codes.size)
        zero_point = rng.integers(-8, 9, codes.size)
        inputs.update(m=m, zero_point=zero_point & ((1 << (dst.bits + 1)) - 1))
        want = ref.requantize_dyadic(ints, m, params["dyadic_shift"], dst,
                                     zero_point=zero_point, rounding=params["rounding"],
                                     saturate=params["saturate"])
        return inputs, {"o": want}, {"o": False}
    random = None
    if params["rounding"] == "stochastic":
        random = rng.integers(0, 1 << params["random_bits"], codes.size)
        inputs["random"] = random
    want = ref.requantize(ints, src.frac_bits, dst, rounding=params["rounding"],
                          saturate=params["saturate"], random=random,
                          random_bits=params["random_bits"])
    return inputs, {"o": want}, {"o": False}


@cocotb.test()
async def every_code_of_every_design(dut):
    manifests, lanes, seed = parameters()
    rng = np.random.default_rng(seed)
    cases = [case(m, rng) for m in manifests]
    batches = max(-(-c[0]["i"].size // lanes) for c in cases)
    tally = Tally()
    inputs = [{k: spread(v, lanes, batches) for k, v in c[0].items()} for c in cases]
    results = await run_datapath(dut, manifests, lanes, inputs, [c[2] for c in cases])
    for (ins, want, _), got in zip(cases, results):
        n = ins["i"].size
        for i, (port, expected) in enumerate(want.items()):
            tally.check(got[port].ravel()[:n], expected, ins["i"], count=i == 0)
    tally.extra["designs"] = [m["top"] for m in manifests]
    result = tally.write("every_code")
    assert result["mismatches"] == 0, result["examples"]
    assert result["vectors"] == sum(c[0]["i"].size for c in cases)
