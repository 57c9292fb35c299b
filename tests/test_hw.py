"""The synthesis wrappers (real Yosys / nextpnr runs on a small design); board files and the
board-driven `sqhw synth` refusals are tested in test_boards.py."""

import json

import pytest

from sqhw.cli import main
from sqhw.hdl.emit import design_dsp_chain, design_mul, read_manifest, write_design
from sqhw.hw.synth import synth_ecp5, synth_xc7, synth_xcup, timing_wrapper


@pytest.fixture(scope="module")
def int8_mul(tmp_path_factory):
    out = tmp_path_factory.mktemp("mul")
    dut, description = design_mul("int8", "int8", stages=1)
    write_design(dut, description, out, "mul_int8")
    return out


def test_timing_wrapper_registers_every_port(int8_mul):
    text = timing_wrapper(read_manifest(int8_mul))
    assert "a_q <= a;" in text and "p <= p_w;" in text and ".clk(clk)" in text


def test_synth_xcup_maps_int8_product_to_one_dsp(int8_mul):
    report = synth_xcup(int8_mul)
    assert report["dsp48e2"] == 1 and report["lut"] < 20
    assert report["cells"]["DSP48E2"] == 1


@pytest.mark.parametrize("array", [False, True], ids=["flat", "array"])
def test_chain_cascade_lands_in_dsp_pcin_on_xc7(tmp_path, array):
    """The N:M chain's adders form PCOUT -> PCIN cascades when Yosys can pack them (7-series):
    every multiplier on a DSP, every stage but the first fed by its neighbour's PCOUT. As a
    SparseDSPArray the lane module is mapped once and instantiated per lane: its cascades
    count once per instance."""
    dut, description = design_dsp_chain("int8", "int8", 4, 4, 512, "int8", lanes=2,
                                        array=array)
    write_design(dut, description, tmp_path, "chain")
    report = synth_xc7(tmp_path)
    assert report["dsp48e1"] == 8 and report["dsp_cascade"] == 2 * 3
    xcup = synth_xcup(tmp_path)  # Yosys maps only the bare multiplier into a DSP48E2
    assert xcup["dsp48e2"] == 8 and xcup["dsp_cascade"] == 0


def test_synth_ecp5_places_and_routes(int8_mul, capsys):
    report = synth_ecp5(int8_mul)  # the default part: boards/ecp5_25k.yaml
    assert report["board"] == "ecp5_25k"
    assert report["mult18"] == 1 and 20 < report["fmax_mhz"] < 1000
    assert main(["synth", str(int8_mul), "--target", "ecp5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fmax_mhz"] == report["fmax_mhz"]  # seeded


def test_synth_on_a_board_reports_its_budget(int8_mul, capsys):
    assert main(["synth", str(int8_mul), "--board", "alveo_u280", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "xcup" and report["board"] == "alveo_u280"
    assert report["budget"]["fits"] and report["budget"]["resources"]["dsp"] == {
        "used": 1, "available": 9024, "fits": True}


def test_synth_errors_are_one_line(tmp_path, capsys):
    assert main(["synth", str(tmp_path)]) == 2
    assert "no manifest" in capsys.readouterr().err


def test_narrow_timing_wrapper_when_pins_run_out(int8_mul):
    manifest = read_manifest(int8_mul)
    text = timing_wrapper(manifest, max_io=8)
    assert "input din, output reg dout" in text and "dout <= ^outs;" in text
    assert "shift <= {shift[" in text and timing_wrapper(manifest, max_io=500) == \
        timing_wrapper(manifest)
