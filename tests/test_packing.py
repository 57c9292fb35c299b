"""Packed DSP products (sqhw.ref.packed, sqhw.hdl.packed, SparseDSPChain(pack=...)):
the packing arithmetic exhaustively in numpy against sqhw.ref, the generated packed
multipliers over every input they have (or every (a, c) with a set of b covering every
sign and edge) and the packed N:M chain under Verilator against sqhw.ref.sparse_matmul."""

import itertools

import numpy as np
import pytest

from sqhw import ref
from sqhw.formats import parse
from sqhw.ref.packed import PackError, PackPlan

INT8, INT4 = parse("int8"), parse("int4")


def _codes(fmt):
    return np.arange(1 << fmt.bits, dtype=np.int64)


@pytest.mark.parametrize("x_name,w_name", [
    ("int8", "int8"),
    pytest.param("uint8", "int8", marks=pytest.mark.slow),  # ~8 s each on 2 shared cores
    pytest.param("int8", "uint8", marks=pytest.mark.slow)])
def test_int8_pair_every_triple(x_name, w_name):
    """WP486: ((a << 18) + b) * c gives a * c and b * c for every (a, b, c): 2**24 triples."""
    x_fmt, w_fmt = parse(x_name), parse(w_name)
    plan = PackPlan(x_fmt, w_fmt, pack=2)
    assert plan.spacing == 18 and plan.packed_bits <= 27
    a, b = (v.ravel() for v in np.meshgrid(_codes(x_fmt), _codes(x_fmt), indexing="ij"))
    checked = 0
    for c in range(1 << w_fmt.bits):
        w = np.full(a.size, c)
        got = plan.products(np.stack([a, b], axis=-1), w)
        np.testing.assert_array_equal(got[:, 0], ref.mul(w, w_fmt, a, x_fmt), strict=True)
        np.testing.assert_array_equal(got[:, 1], ref.mul(w, w_fmt, b, x_fmt), strict=True)
        checked += a.size
    assert checked == 1 << 24


def test_int4_four_products_every_input():
    """Four int4 x int4 products in one multiply, 7 bits apart: all 16**5 inputs."""
    plan = PackPlan(INT4, INT4, pack=4)
    assert (plan.spacing, plan.max_chain) == (7, 1)
    grid = np.array(list(itertools.product(range(16), repeat=5)))
    got = plan.products(grid[:, :4], grid[:, 4])
    want = np.stack([ref.mul(grid[:, 4], INT4, grid[:, i], INT4) for i in range(4)], axis=-1)
    np.testing.assert_array_equal(got, want, strict=True)
    assert got.size == 4 * 16**5


@pytest.mark.parametrize("x_name,pack,chain", [("int8", 2, 8), ("uint8", 2, 4),
                                               ("int4", 3, 17)])
def test_cascade_sums_every_field_extreme(x_name, pack, chain, seed):
    """Sums of `chain` packed products (a PCOUT -> PCIN cascade) split exactly: every field
    at its smallest and largest sum (every stage at the extreme product), every mix of
    extremes across the fields, and 20000 random cascades."""
    x_fmt, w_fmt = parse(x_name), parse(x_name)
    plan = PackPlan(x_fmt, w_fmt, pack=pack, chain=chain)
    lo, hi = ref.int_range(x_fmt)
    w_lo, w_hi = ref.int_range(w_fmt)
    cases = []
    for w in {w_lo, w_hi, -1 if w_lo < 0 else 0, 1}:  # every extreme of each field, mixed
        for xs in itertools.product(sorted({lo, hi, 0}), repeat=pack):
            cases.append((np.tile(xs, (chain, 1)), np.full(chain, w)))
    rng = np.random.default_rng(seed)
    xs = rng.integers(lo, hi + 1, (20000, chain, pack))
    ws = rng.integers(w_lo, w_hi + 1, (20000, chain))
    xs = np.concatenate([xs, np.stack([c[0] for c in cases])])
    ws = np.concatenate([ws, np.stack([c[1] for c in cases])])
    got = plan.split(plan.total(xs, ws))
    want = (xs * ws[..., None]).sum(axis=1)
    np.testing.assert_array_equal(got, want, strict=True)
    assert got.shape == (20000 + len(cases), pack)
    assert want.min() == chain * min(lo * w_hi, hi * w_lo) or x_fmt.signed is False
    assert want.max() == chain * max(lo * w_lo, hi * w_hi)


def test_refusals():
    with pytest.raises(PackError, match="at most 8 stages"):
        PackPlan(INT8, INT8, pack=2, chain=9)
    with pytest.raises(PackError, match="use a smaller pack"):
        PackPlan(parse("uint4"), INT4, pack=4)
    with pytest.raises(PackError, match="integer formats"):
        PackPlan(parse("float8_e4m3fn"), INT8, pack=2)
    with pytest.raises(PackError, match="18-bit shared port"):
        PackPlan(INT8, parse("int24"), pack=2)
    for bad in (0, 9, True, 2.0):
        with pytest.raises(PackError, match="pack: expected an integer from 1 to 8"):
            PackPlan(INT8, INT8, pack=bad)


def test_chain_refuses_a_pack_it_cannot_make_exact():
    from sqhw.hdl.sparse_chain import SparseDSPChain

    with pytest.raises(ValueError, match="at most 8 stages"):
        SparseDSPChain(INT8, INT8, m=4, chain=16, max_k=512, out_fmt=INT8, pack=2)
    with pytest.raises(ValueError, match="integer formats"):
        SparseDSPChain(parse("float8_e4m3fn"), INT8, m=4, chain=8, max_k=512, out_fmt=INT8,
                       pack=2)


# --- generated Verilog under Verilator -------------------------------------------------

EDGES = [-128, -127, -2, -1, 0, 1, 2, 126, 127]


@pytest.mark.rtl
def test_packed_multipliers_verilator(tmp_path, seed):
    """One build: the int8 pair (every (a, c) x b in EDGES and 8 random b: 1.1 M vectors)
    and the four-int4 multiplier (every input: 16**5 vectors), outputs checked against
    sqhw.ref.mul."""
    from sqhw.hdl.emit import design_packed_mul, write_design
    from sqhw.verify.runner import run

    dirs = []
    for i, (fmt, pack, stages) in enumerate([("int8", 2, 2), ("int4", 4, 1)]):
        dut, description = design_packed_mul(fmt, fmt, pack, stages)
        write_design(dut, description, tmp_path / f"d{i}", f"packed_mul_{fmt}_{pack}")
        dirs.append(tmp_path / f"d{i}")
    result = run("tb_packed_mul", dirs, 64, env={"SQHW_SEED": str(seed)})["every_input"]
    assert result["mismatches"] == 0, result["examples"]
    assert result["vectors"] == 256 * 256 * (len(EDGES) + 8) + 16**5
    print(f"{result['vectors']} packed products vectors, {result['vectors_per_second']}/s")


@pytest.mark.rtl
def test_packed_chain_verilator(tmp_path, seed):
    """SparseDSPChain(pack=2), int8: one build runs 1:4, 2:4 and dense 4:4 on an odd number of
    columns (a zero column pads the last pair), ragged K, with stalls; then a layer of only
    -128 weights and activations, where every field of the cascade reaches its extreme
    (8 x 16384 = 2**17 in the lower field)."""
    from sqhw.hdl.emit import design_dsp_chain, write_design
    from sqhw.verify.runner import run

    dut, description = design_dsp_chain("int8", "int8", 4, 8, 512, "int8", lanes=2, pack=2)
    write_design(dut, description, tmp_path / "chain", "packed_chain")
    checked = 0
    for n, k, cols, ready in [(1, 300, 5, "1"), (2, 256, 4, "0.5"), (4, 128, 3, "1")]:
        result = next(iter(run("tb_dsp_chain", [tmp_path / "chain"], 1, env={
            "SQHW_NM": f"{n}:4", "SQHW_ROWS": "6", "SQHW_K": str(k), "SQHW_COLS": str(cols),
            "SQHW_READY": ready, "SQHW_VALID": "0.8", "SQHW_SEED": str(seed)}).values()))
        assert result["mismatches"] == 0, result["examples"]
        assert result["vectors"] == 6 * cols and result["pack"] == 2
        checked += result["vectors"]
    np.save(tmp_path / "w.npy", np.full((4, 64), 0x80))  # int8 code of -128
    np.save(tmp_path / "x.npy", np.full((64, 2), 0x80))
    result = next(iter(run("tb_dsp_chain", [tmp_path / "chain"], 1, env={
        "SQHW_NM": "4:4", "SQHW_W_NPY": str(tmp_path / "w.npy"),
        "SQHW_X_NPY": str(tmp_path / "x.npy"), "SQHW_SEED": str(seed)}).values()))
    assert result["mismatches"] == 0, result["examples"]
    assert result["vectors"] == 8
    assert result["cycles"] <= result["ideal_cycles"] + 1
    checked += result["vectors"]
    assert checked == 6 * 12 + 8


def test_primitive_path_refusals():
    from sqhw.hdl.sparse_chain import SparseDSPChain

    for kwargs, message in [
            ({"primitive": "DSP48E1", "pack": 2}, "packed products need the DSP48E2"),
            ({"primitive": "DSP58"}, "expected one of DSP48E2, DSP48E1"),
            ({"primitive": "DSP48E2", "w_fmt": parse("uint18")}, "18-bit signed B port"),
            ({"primitive": "DSP48E2", "w_fmt": parse("float8_e4m3fn")}, "integer formats")]:
        args = {"w_fmt": INT8, "x_fmt": INT8, "m": 4, "chain": 8, "max_k": 64,
                "out_fmt": INT8, **kwargs}
        with pytest.raises(ValueError, match=message):
            SparseDSPChain(**args)
