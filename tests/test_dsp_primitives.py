"""The Xilinx DSP primitive path: sqhw's DSP48E2 model against Yosys's DSP48E1 model in their
shared modes, and the N:M chain built from instantiated DSP48E2 / DSP48E1 slices (PCOUT ->
PCIN cascades, A/B, M and P registers inside) checked under Verilator against
sqhw.ref.sparse_matmul, the reference the behavioural chain is checked against too."""

import json

import pytest

from sqhw.hdl.emit import design_dsp_chain, write_design
from sqhw.verify.primitives import MODEL_FILES, model_text

pytestmark = pytest.mark.rtl


def test_dsp48e2_model_matches_yosys_dsp48e1(seed):
    """Six register / pre-adder configurations, 20000 random cycles each (operands,
    clock enables, resets, OPMODE, ALUMODE, INMODE drawn every cycle), P compared every
    cycle. A mutated model (Y = all ones read as 0) gave 31993 mismatches here."""
    from sqhw.verify.primitives import crosscheck

    result = crosscheck(seed)
    assert result["mismatches"] == 0, result["log"][-3000:]
    assert [p["checked"] for p in result["pairs"]] == [20000] * 6
    assert result["checked"] == 120000


KINDS = [("DSP48E2", 1), ("DSP48E2", 2), ("DSP48E1", 1)]


def test_primitive_chains_match_reference(tmp_path, seed):
    """One build holding the three kinds (DSP48E2 slices, DSP48E2 slices packed 2 per slice,
    DSP48E1 slices): 2 lanes x 8 stages, m 4, each under 2:4 with stalls on every stream and a
    ragged K, then under 4:4 on a layer of only -128 (the packed fields' extreme)."""
    import numpy as np

    from sqhw.verify.runner import run

    dirs = []
    for primitive, pack in KINDS:
        top = f"prim_{primitive}_{pack}"
        dut, description = design_dsp_chain("int8", "int8", 4, 8, 512, "int8", lanes=2,
                                            pack=pack, primitive=primitive)
        manifest = write_design(dut, description, tmp_path / top, top)
        assert manifest["simulation_models"] == [MODEL_FILES[primitive]]
        # A/B + M registers, 8 P registers, acc, requantizer, the result queue's 3
        assert manifest["latency"] == 15
        assert f"{primitive} #(" in (tmp_path / top / f"{top}.v").read_text()
        dirs.append(tmp_path / top)
    results = run("tb_dsp_chain", dirs, 1, env={
        "SQHW_NM": "2:4", "SQHW_ROWS": "6", "SQHW_K": "300", "SQHW_COLS": "3",
        "SQHW_READY": "0.6", "SQHW_VALID": "0.7", "SQHW_SEED": str(seed)})
    assert sorted(results) == sorted(f"sparse_matmul_2_4_prim_{p}_{n}" for p, n in KINDS)
    for result in results.values():
        assert result["mismatches"] == 0, result["examples"]
        assert result["vectors"] == 18
    np.save(tmp_path / "w.npy", np.full((4, 64), 0x80))
    np.save(tmp_path / "x.npy", np.full((64, 2), 0x80))
    results = run("tb_dsp_chain", dirs, 1, env={
        "SQHW_NM": "4:4", "SQHW_W_NPY": str(tmp_path / "w.npy"),
        "SQHW_X_NPY": str(tmp_path / "x.npy"), "SQHW_SEED": str(seed)})
    assert len(results) == len(KINDS)
    for result in results.values():
        assert result["mismatches"] == 0, result["examples"]
        assert result["vectors"] == 8
        assert result["cycles"] <= result["ideal_cycles"] + 1


def test_models_are_simulation_only(tmp_path):
    """The models ship with sqhw but never reach synthesis: `sources` leaves them out."""
    dut, description = design_dsp_chain("int8", "int8", 4, 2, 64, "int8", primitive="DSP48E2")
    manifest = write_design(dut, description, tmp_path, "prim")
    assert manifest["sources"] == ["prim.v"]
    assert json.loads((tmp_path / "manifest.json").read_text())["simulation_models"] == [
        "dsp48e2.v"]
    assert "module DSP48E2" in model_text("DSP48E2")
    assert model_text("DSP48E1").count("module DSP48E1") == 1
