"""Generated multipliers and converters under Verilator, checked bit for bit against sqhw.ref
over every input pair / code (bf16 x e4m3fn included): the designs share self-driving sweep
harnesses (sqhw.verify.sweep), built once each and cached in the user cache folder by
content; every test counts what it checked. The MACs and block dots: tests/test_rtl_mac.py."""

import itertools

import numpy as np
import pytest

from sqhw.hdl.emit import design_mul
from sqhw.verify import suite, sweep_run

pytestmark = pytest.mark.rtl

EIGHT_BIT, NARROW = suite.EIGHT_BIT, suite.NARROW
SWEEP = suite.groups()  # group -> designs


def _generate(tmp_path, designs):
    return suite.generate(tmp_path, designs)


def _bits(name):
    from sqhw.formats import parse

    return parse(name).bits


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, seed):
    """checked(group): run the harness holding the group (once per module) in the sweep
    harness (sqhw.verify.sweep); assert every one of its designs matched; return how many
    vectors its designs checked."""
    results = {}

    def checked(group: str) -> int:
        groups = next(h for h in suite.SWEEP_HARNESSES if group in h)
        if groups not in results:
            designs = [d for g in groups for d in SWEEP[g]]
            results[groups] = sweep_run.run(_generate(tmp_path_factory.mktemp("sweep"),
                                                      designs), suite.SWEEP_HARNESSES[groups],
                                            seed=seed)
            r = results[groups]
            print(f"sweep {'+'.join(groups)}: {r['vectors']} vectors, "
                  f"{r['vectors_per_second']} vectors/s ({r['simulated_seconds']} s "
                  f"simulated, {r['seconds']} s in all)")
        result = results[groups]
        rows = [result["designs"][top] for _, _, top in SWEEP[group]]
        mismatches = np.array([r["mismatches"] for r in rows], dtype=np.int64)
        np.testing.assert_array_equal(mismatches, np.zeros(len(rows), dtype=np.int64),
                                      strict=True, err_msg=f"{group}: {result['examples']}")
        return sum(r["vectors"] for r in rows)

    return checked


@pytest.mark.parametrize("group,formats", [("mul8", EIGHT_BIT), ("mulnarrow", NARROW)])
def test_multiplier_every_pair(sweep, group, formats):
    pairs = list(itertools.product(formats, repeat=2))
    assert sweep(group) == sum(1 << (_bits(a) + _bits(b)) for a, b in pairs)


def test_bf16_times_e4m3fn_every_pair(sweep):
    """All 65536 x 256 = 16.7 M pairs of bfloat16 x float8_e4m3fn (280-bit exact products
    compared as words; NaN/Inf operands give special = 1 and p = 0)."""
    assert sweep("bf16") == 1 << 24


def test_converters_every_code(sweep):
    assert sweep("cvt") == 2 * 256 + 2 * 64 + 16 + 72 * 65536 + 20 * 65536


def test_sweep_counts_the_mismatches_of_a_misstated_design(tmp_path, seed):
    """The sweep's comparison can fail: an int4 x fp4 multiplier whose manifest calls a
    uint4 mismatches exactly where a is negative (a >= 8) and b is not zero: 8 x 14 pairs.
    The honest manifest (the same build) matches on all 256."""
    import json

    from sqhw.formats import parse

    (honest,) = _generate(tmp_path / "honest",
                          [(design_mul, {"a": "int4", "b": "float4_e2m1fn"}, "mul_int4_fp4")])
    result = sweep_run.run([honest], 16, seed=seed)
    assert (result["vectors"], result["mismatches"]) == (256, 0)
    manifest = json.loads((honest / "manifest.json").read_text())
    manifest["inputs"]["a"]["format"] = "uint4"
    (honest / "manifest.json").write_text(json.dumps(manifest))
    result = sweep_run.run([honest], 16, seed=seed)
    b_values = parse("float4_e2m1fn").table
    independent = 8 * int((b_values != 0).sum())
    assert independent == 112
    assert (result["vectors"], result["mismatches"]) == (256, independent)
    assert all(e["inputs"]["a"] >= 8 for e in result["examples"]) and result["examples"]
