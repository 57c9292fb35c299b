"""Generated multipliers and converters under Verilator, checked bit for bit against sqhw.ref
over every input pair / code (bf16 x e4m3fn included): the designs share self-driving sweep
harnesses (sqhw.verify.sweep), built once each and cached in the user cache folder by
content; every test counts what it checked. The MACs and block dots: tests/test_rtl_mac.py."""

import itertools

import numpy as np
import pytest

from sqhw.hdl.emit import design_mul
from sqhw.verify import suite, sweep_run
from sqhw.manifest import port_width
from sqhw.verify.sweep import UNHELD

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


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    """An int4 x fp4 multiplier (8-bit p) and an e5m2 x e5m2 one (65-bit p: the wide
    comparison) in one small sweep program: (design folders, program, manifests)."""
    dirs = _generate(tmp_path_factory.mktemp("small"), [
        (design_mul, {"a": "int4", "b": "float4_e2m1fn"}, "mul_int4_fp4"),
        (design_mul, {"a": "float8_e5m2", "b": "float8_e5m2", "stages": 2}, "mul_e5m2_wide")])
    program, manifests = sweep_run.build(dirs, 16)
    assert [port_width(m, "p") for m in manifests] == [8, 65]
    return dirs, program, manifests


def test_sweep_counts_the_mismatches_of_a_misstated_design(small_sweep, seed):
    """The sweep's comparison can fail: an int4 x fp4 multiplier whose manifest calls a
    uint4 mismatches exactly where a is negative (a >= 8) and b is not zero: 8 x 14 pairs
    (some of the products it expects do not fit p at all). The honest manifest (the same
    build) matches on all 256; the listed mismatches replay as records."""
    import json

    from sqhw.formats import parse
    from sqhw.verify.replay import from_records

    dirs, _, _ = small_sweep
    honest = dirs[0]
    result = sweep_run.run(dirs, 16, seed=seed)
    assert (result["vectors"], result["mismatches"]) == (256 + 65536, 0)
    manifest = json.loads((honest / "manifest.json").read_text())
    manifest["inputs"]["a"]["format"] = "uint4"
    (honest / "manifest.json").write_text(json.dumps(manifest))
    try:
        result = sweep_run.run(dirs, 16, seed=seed)
    finally:
        manifest["inputs"]["a"]["format"] = "int4"
        (honest / "manifest.json").write_text(json.dumps(manifest))
    b_values = parse("float4_e2m1fn").table
    independent = 8 * int((b_values != 0).sum())
    assert independent == 112
    row = result["designs"]["mul_int4_fp4"]
    assert (row["vectors"], row["mismatches"]) == (256, independent)
    assert result["mismatches"] == independent
    examples = result["examples"]
    assert len(examples) == sweep_run.EXAMPLES
    assert all(e["inputs"]["a"] >= 8 and e["got"] != e["want"] for e in examples)
    manifest["inputs"]["a"]["format"] = "uint4"
    replayed = from_records(manifest, examples)
    assert [int(p) for p in replayed.expected["p"]] == [e["want"]["p"] for e in examples]


def test_sweep_finds_exactly_the_wrong_expectations(small_sweep, seed, tmp_path):
    """Wrong expected values written into the files the program compares with are found at
    their vectors and nowhere else: one bit of a wide (65-bit) product's odd part, a shift
    marked as a value the port cannot hold, a special flag, and one narrow p."""
    from sqhw.verify import sweep_expected

    _, program, manifests = small_sweep
    prefix = str(tmp_path / "s")
    for k, manifest in enumerate(manifests):
        sweep_expected.write_expected(prefix, k, manifest, seed)
    wrong = {("1_p.want", "<i4", 40000): lambda x: x ^ 4,
             ("1_p.shift", "<i2", 12345): lambda x: UNHELD,
             ("1_special.want", "u1", 777): lambda x: x ^ 1,
             ("0_p.want", "<u2", 100): lambda x: (x + 1) & 0xFF}
    for (name, dtype, index), change in wrong.items():
        values = np.fromfile(f"{prefix}{name}", dtype=dtype)
        values[index] = change(values[index])
        values.tofile(f"{prefix}{name}")
    summary = sweep_run.execute(program, manifests, 16, prefix, seed)
    result = sweep_run.collect(prefix, manifests, seed, summary)
    assert [r["mismatches"] for r in result["designs"].values()] == [1, 3]
    assert [(e["design"], e["index"]) for e in result["examples"]] == [
        ("mul_int4_fp4", 100), ("mul_e5m2_wide", 777), ("mul_e5m2_wide", 12345),
        ("mul_e5m2_wide", 40000)]
    for e in result["examples"]:  # the design was right: what came out is sqhw.ref's value
        assert e["got"] == e["want"]
    assert result["vectors"] == 256 + 65536
