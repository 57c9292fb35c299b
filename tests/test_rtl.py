"""Generated Verilog under Verilator + cocotb, checked bit for bit against sqhw.ref.

Each test generates its designs with the same code as `sqhw gen`, builds them into one
harness (cached in the user cache folder by content), and runs a sim/ testbench that counts
what it checked. Exhaustive: every input pair / code; the MAC sees >= 10**6 terms."""

import itertools

import pytest

from sqhw.formats import DETERMINISTIC_MODES, ROUNDING_MODES
from sqhw.hdl.emit import design_cvt, design_mac, design_mul, write_design
from sqhw.verify.runner import run

pytestmark = pytest.mark.rtl

EIGHT_BIT = ["float8_e4m3fn", "float8_e5m2", "int8"]
NARROW = ["float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"]
LANES = 64
HIGH_TARGET = 250  # MHz: a target the delay model pipelines every kind for (latency > 0)


def _pipelining(i: int) -> dict:
    """Every fourth design planned for HIGH_TARGET (partial-product trees, chunked
    negations, registers in every segment the model cuts), the others fixed stages 0-2:
    the same build checks the fixed and the planned latencies."""
    return {"target_mhz": HIGH_TARGET} if i % 4 == 3 else {"stages": i % 4}


def _top(*parts):
    return "_".join(str(p).replace("float", "f").replace("<", "").replace(">", "")
                    .replace(",", "_") for p in parts)


def _generate(tmp_path, designs):
    dirs = []
    for i, (builder, kwargs, top) in enumerate(designs):
        dut, description = builder(**kwargs)
        out = tmp_path / f"d{i}"
        write_design(dut, description, out, top)
        dirs.append(out)
    return dirs


def _bits(name):
    from sqhw.formats import parse

    return parse(name).bits


@pytest.mark.parametrize("formats", [EIGHT_BIT, NARROW], ids=["8bit", "fp6_fp4"])
def test_multiplier_every_pair(tmp_path, formats, seed):
    pairs = list(itertools.product(formats, repeat=2))
    designs = [(design_mul, {"a": a, "b": b, **_pipelining(i)}, _top("mul", a, b))
               for i, (a, b) in enumerate(pairs)]
    result = run("tb_mul", _generate(tmp_path, designs), LANES,
                 env={"SQHW_SEED": str(seed)})["every_pair"]
    assert result["mismatches"] == 0, result["examples"]
    assert result["vectors"] == sum(1 << (_bits(a) + _bits(b)) for a, b in pairs)
    print(f"{result['vectors']} pairs, {result['vectors_per_second']} pairs/s")


REQUANT_OUT = ["float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn",
               "float4_e2m1fn", "int8"]


def test_converters_every_code(tmp_path, seed):
    designs = [(design_cvt, {"src": f, "dst": None, **_pipelining(i)}, _top("tofixed", f))
               for i, f in enumerate(EIGHT_BIT[:2] + NARROW)]
    designs += [(design_cvt, {"src": "fixed<s,8,8>", "dst": out, "rounding": mode,
                              "saturate": sat, **_pipelining(i), "random_bits": 8},
                 _top("rq", out, mode, int(sat)))
                for i, (out, mode, sat) in enumerate(itertools.product(
                    REQUANT_OUT, ROUNDING_MODES, (True, False)))]
    designs += [(design_cvt, {"src": "int16", "dst": out, "rounding": mode, "saturate": sat,
                              **_pipelining(i), "dyadic_shift": 18, "multiplier_bits": 12},
                 _top("dyadic", out, mode, int(sat)))
                for i, (out, mode, sat) in enumerate(itertools.product(
                    ["int8", "uint8"], DETERMINISTIC_MODES, (True, False)))]
    result = run("tb_cvt", _generate(tmp_path, designs), LANES,
                 env={"SQHW_SEED": str(seed)})["every_code"]
    assert result["mismatches"] == 0, result["examples"]
    assert result["vectors"] == 2 * 256 + 2 * 64 + 16 + 72 * 65536 + 20 * 65536
    print(f"{result['vectors']} codes, {result['vectors_per_second']} codes/s")


# the last field: fixed stages, or "target" (planned for HIGH_TARGET)
MACS = [
    ("int8", "int8", "int8", "rne", 1),
    ("float8_e4m3fn", "float8_e4m3fn", "float8_e4m3fn", "rne", 2),
    ("float8_e4m3fn", "int8", "float8_e5m2", "rtz", "target"),
    ("float8_e5m2", "float8_e5m2", "float8_e4m3fn", "rna", 3),
    ("int8", "int8", "int8", "rna", "target"),
] + [(a, b, "float8_e4m3fn", "rne", "target" if a == b == "float4_e2m1fn" else 1)
       for a, b in itertools.product(NARROW, repeat=2)] + [
    # block-scaled: one result per block, element dot x both scales, rounded once
    ("mxfp8_e4m3", "mxfp8_e4m3", "float8_e4m3fn", "rne", "target"),
    ("mxfp8_e5m2", "mxfp8_e5m2", "float8_e5m2", "rna", 2),
    ("mxfp6_e2m3", "mxfp6_e2m3", "float8_e4m3fn", "floor", 1),
    ("mxfp6_e3m2", "mxfp6_e3m2", "float6_e3m2fn", "rne", 0),
    ("mxfp4", "mxfp4", "float4_e2m1fn", "ceil", 1),
    ("mxint8", "mxint8", "int8", "rne", 1),
    ("nvfp4", "nvfp4", "float8_e4m3fn", "rtz", 2),
    ("nvfp4", "nvfp4", "float8_e4m3fn", "rne", "target"),
]


def test_mac_random_dot_products(tmp_path, seed):
    designs = [(design_mac, {"a": a, "b": b, "length": 96, "out": out, "rounding": mode,
                             **({"target_mhz": HIGH_TARGET} if stages == "target"
                                else {"stages": stages})}, _top("mac", i))
               for i, (a, b, out, mode, stages) in enumerate(MACS)]
    results = run("tb_mac", _generate(tmp_path, designs), 32,
                  env={"SQHW_SEED": str(seed), "SQHW_MAC_TERMS": "1000000"})
    through, back = results["throughput"], results["backpressure"]
    assert through["mismatches"] == back["mismatches"] == 0
    assert through["terms"] >= (10**6 - 32 * 32) * len(MACS)  # block MACs: whole blocks
    assert through["cycles"] <= through["ideal_cycles"] + 1
    assert back["terms"] >= (20000 - 32 * 32) * len(MACS)
    assert back["cycles"] > back["ideal_cycles"]
    print(f"{through['terms']} terms, {through['vectors_per_second']} terms/s")
