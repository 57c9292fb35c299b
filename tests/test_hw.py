"""Board files and the synthesis wrappers (real Yosys / nextpnr runs on a small design)."""

import json

import pytest

from sqhw.cli import main
from sqhw.hdl.emit import design_dsp_chain, design_mul, read_manifest, write_design
from sqhw.hw.boards import BoardError, load_board
from sqhw.hw.synth import synth_ecp5, synth_xc7, synth_xcup, timing_wrapper


def test_boards_load():
    u280, ecp5 = load_board("u280"), load_board("ecp5-25k")
    assert u280.resources["dsp"] == 9024 and u280.family == "xcup"
    assert ecp5.nextpnr["package"] == "CABGA256" and ecp5.clock_mhz == 100.0


@pytest.mark.parametrize("text,message", [
    ("name: x\nfamily: [", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping at the top"),
    ("name: x\npart: p\nfamily: xcup\ntoolchain: t\nclock_mhz: 100\n"
     "resources: {dsp: many}\n", "resources.dsp: expected a non-negative integer, got 'many'"),
    ("name: x\npart: p\nfamily: stratix\ntoolchain: t\nclock_mhz: 1\nresources: {}\n",
     "family: expected one of"),
    ("name: x\nfamily: xcup\n", "missing key 'resources'"),
    ("name: x\npart: p\nfamily: xcup\ntoolchain: t\nclock_mhz: fast\nresources: {}\n",
     "clock_mhz: expected a number, got 'fast'"),
])
def test_bad_board_files_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BoardError) as err:
        load_board(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_unknown_board_lists_known():
    with pytest.raises(BoardError, match="known boards: ecp5-25k, u280"):
        load_board("zcu104")


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


def test_chain_cascade_lands_in_dsp_pcin_on_xc7(tmp_path):
    """The N:M chain's adders form PCOUT -> PCIN cascades when Yosys can pack them (7-series):
    every multiplier on a DSP, every stage but the first fed by its neighbour's PCOUT."""
    dut, description = design_dsp_chain("int8", "int8", 4, 4, 512, "int8", lanes=2)
    write_design(dut, description, tmp_path, "chain")
    report = synth_xc7(tmp_path)
    assert report["dsp48e1"] == 8 and report["dsp_cascade"] == 2 * 3
    xcup = synth_xcup(tmp_path)  # Yosys maps only the bare multiplier into a DSP48E2
    assert xcup["dsp48e2"] == 8 and xcup["dsp_cascade"] == 0


def test_synth_ecp5_places_and_routes(int8_mul, capsys):
    report = synth_ecp5(int8_mul)
    assert report["mult18"] == 1 and 20 < report["fmax_mhz"] < 1000
    assert main(["synth", str(int8_mul), "--target", "ecp5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fmax_mhz"] == report["fmax_mhz"]  # seeded


def test_synth_errors_are_one_line(tmp_path, capsys):
    assert main(["synth", str(tmp_path)]) == 2
    assert "no manifest" in capsys.readouterr().err


def test_narrow_timing_wrapper_when_pins_run_out(int8_mul):
    manifest = read_manifest(int8_mul)
    text = timing_wrapper(manifest, max_io=8)
    assert "input din, output reg dout" in text and "dout <= ^outs;" in text
    assert "shift <= {shift[" in text and timing_wrapper(manifest, max_io=500) == \
        timing_wrapper(manifest)
