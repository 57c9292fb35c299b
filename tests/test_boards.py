"""Board files: every file in boards/ loads, every malformed file is refused with
`file:line: key: message`, alias bombs fail fast, and the `sqhw boards` / `sqhw synth
--board` verbs use them (no synthesis runs here: the tool wrappers are replaced)."""

import json
import time

import pytest
from pydantic import ValidationError

from sqhw.cli import main
from sqhw.hw import synth
from sqhw.hw.boards import BOARD_DIR, BoardError, board_names, list_boards, load_board

EXPECTED_BOARDS = ["alveo_u250", "alveo_u280", "alveo_u50", "alveo_u55c", "ecp5_25k",
                   "icebreaker", "kv260", "orangecrab_25f", "pynq_z2", "ultra96v2",
                   "ulx3s_85f", "vcu1525", "zcu104"]

# line numbers below count from this text: dsp is on line 9, memory on line 12
VIVADO = """\
description: a test board
part: xcu280-fsvh2892-2L-e
family: xcup
toolchain: vivado
clock_mhz: 300
resources:
  lut: 1303680
  ff: 2607360
  dsp: {kind: DSP48E2, count: 9024}
  bram: {kind: RAMB36E2, count: 2016, kbit: 36}
  uram: {kind: URAM288, count: 960, kbit: 288}
memory:
  - {kind: hbm, size_gib: 8, bandwidth_gbs: 460}
"""

OPEN = """\
description: a test ECP5 board
part: LFE5U-25F-6BG256C
family: ecp5
toolchain: open
clock_mhz: 100
resources:
  lut: 24288
  ff: 24288
  dsp: {kind: MULT18X18D, count: 28}
  bram: {kind: DP16KD, count: 56, kbit: 18}
  io: 197
memory:
  - {kind: none}
nextpnr: {device: 25k, package: CABGA256, speed: 6}
"""

ALLOWED_TOP = ("description, part, family, toolchain, clock_mhz, resources, memory, "
               "amaranth_platform, nextpnr")


def test_every_board_file_loads():
    boards = list_boards()
    assert [b.name for b in boards] == EXPECTED_BOARDS == board_names()
    for board in boards:
        assert board.file == f"boards/{board.name}.yaml"
        assert board.resources.ff >= board.resources.lut > 0 and board.clock_mhz > 0
        assert board.resources.dsp.count > 0 and board.resources.bram.count > 0
        assert (board.nextpnr is not None) == (board.toolchain == "open")
    assert len(boards) == 13


def test_board_values_from_the_data_sheets():
    u280 = load_board("alveo_u280")
    assert (u280.part, u280.resources.dsp.count, u280.resources.uram.count) == \
        ("xcu280-fsvh2892-2L-e", 9024, 960)
    assert [(m.kind, m.size_gib, m.bandwidth_gbs) for m in u280.memory] == \
        [("hbm", 8, 460), ("ddr4", 32, 38)]
    ulx3s = load_board("ulx3s_85f")
    assert ulx3s.amaranth_platform == "amaranth_boards.ulx3s.ULX3S_85F_Platform"
    assert (ulx3s.nextpnr.device, ulx3s.nextpnr.package, ulx3s.nextpnr.speed) == \
        ("85k", "CABGA381", 6)
    crab = load_board("orangecrab_25f")
    assert crab.amaranth_platform.endswith("OrangeCrabR0_2_25FPlatform")
    assert crab.nextpnr.speed == 8 and crab.resources.io == 118
    ice = load_board("icebreaker")
    assert ice.nextpnr.speed is None and ice.memory[0].kind == "none"
    assert load_board("pynq_z2").resources.dsp.kind == "DSP48E1"
    assert load_board(BOARD_DIR / "kv260.yaml") == load_board("kv260")  # by path or name


def test_board_is_frozen():
    board = load_board("alveo_u280")
    with pytest.raises(ValidationError):
        board.clock_mhz = 500.0
    with pytest.raises(ValidationError):
        board.resources.dsp.count = 1


BAD = [
    # (base, old text, new text, expected message after "<file>:")
    (VIVADO, "count: 9024", "count: many", "9: resources.dsp.count: expected an integer, "
     "got 'many'"),
    (VIVADO, "{kind: DSP48E2, count: 9024}", "many", "9: resources.dsp: expected a mapping "
     "with keys kind, count, got 'many'"),
    (VIVADO, "count: 9024", "count: true", "9: resources.dsp.count: expected an integer, "
     "got true"),
    (VIVADO, "count: 9024", "count: -1", "9: resources.dsp.count: expected a number >= 0, "
     "got -1"),
    (VIVADO, "clock_mhz: 300", "clock_mhz: .nan", "5: clock_mhz: expected a finite number, "
     "got .nan"),
    (VIVADO, "clock_mhz: 300", "clock_mhz: .inf", "5: clock_mhz: expected a finite number, "
     "got .inf"),
    (VIVADO, "clock_mhz: 300", "clock_mhz: -.inf", "5: clock_mhz: expected a finite number, "
     "got -.inf"),
    (VIVADO, "clock_mhz: 300", "clock_mhz: 0", "5: clock_mhz: expected a number > 0, got 0"),
    (VIVADO, "clock_mhz: 300", "clock_mhz: -300", "5: clock_mhz: expected a number > 0, "
     "got -300"),
    (VIVADO, "clock_mhz: 300", "clock_mhz: fast", "5: clock_mhz: expected a number, "
     "got 'fast'"),
    (VIVADO, "clock_mhz: 300", 'clock_mhz: "300"', "5: clock_mhz: expected a number, "
     "got '300'"),
    (VIVADO, "clock_mhz: 300", "clock_mhz:", "5: clock_mhz: expected a number, got null"),
    (VIVADO, "family: xcup", "family: stratix", "3: family: expected 'xcup', 'xc7', 'ecp5' "
     "or 'ice40', got 'stratix'"),
    (VIVADO, "toolchain: vivado", "toolchain: quartus", "4: toolchain: expected 'vivado' or "
     "'open', got 'quartus'"),
    (VIVADO, "toolchain: vivado", "toolchain: open", "4: toolchain: xcup boards use "
     "'vivado', got 'open'"),
    (VIVADO, "  - {kind: hbm, size_gib: 8, bandwidth_gbs: 460}\n", "  - 5\n",
     f"13: memory[0]: expected a mapping with keys kind, size_gib, bandwidth_gbs, got 5"),
    (VIVADO, "DSP48E2", "DSP48E1", "9: resources.dsp.kind: xcup parts have 'DSP48E2', got "
     "'DSP48E1'"),
    (VIVADO, "kbit: 36", "kbit: 18", "10: resources.bram.kbit: xcup parts have 36, got 18"),
    (VIVADO, "  ff: 2607360\n", "", "6: resources: missing key 'ff'"),
    (VIVADO, "part: xcu280-fsvh2892-2L-e\n", "", "1: missing key 'part'"),
    (VIVADO, "  lut: 1303680\n", "  lut: 1303680\n  luts: 5\n", "8: resources.luts: unknown "
     "key (allowed: lut, ff, dsp, bram, uram, io)"),
    (VIVADO, "memory:", "colour: red\nmemory:", f"12: colour: unknown key (allowed: "
     f"{ALLOWED_TOP})"),
    (VIVADO, "memory:", "nextpnr: 5\nmemory:", "12: nextpnr: expected a mapping with keys "
     "device, package, speed, got 5"),
    (VIVADO, "memory:", "nextpnr: {device: 25k, package: CABGA256}\nmemory:",
     "12: nextpnr: only for open-toolchain (ecp5, ice40) boards"),
    (VIVADO, "memory:", "name: u280\nmemory:", "12: name: not a board-file key (a board's "
     "name is its file's stem: bad)"),
    (VIVADO, "memory:", "amaranth_platform: ULX3S\nmemory:", "12: amaranth_platform: "
     r"expected a string matching ^amaranth_boards(\.\w+)+Platform$, got 'ULX3S'"),
    (VIVADO, "memory:", "part: again\nmemory:", "12: part: duplicate key (first at line 2)"),
    (VIVADO, "size_gib: 8, ", "", "13: memory[0]: missing key 'size_gib' (required for "
     "kind 'hbm')"),
    (VIVADO, "{kind: hbm, size_gib: 8, bandwidth_gbs: 460}", "{kind: hbm, size_gib: 8, "
     "bandwidth_gbs: 0}", "13: memory[0].bandwidth_gbs: expected a number > 0, got 0"),
    (VIVADO, "  - {kind: hbm", "  - {kind: none}\n  - {kind: hbm", "12: memory: kind 'none' "
     "must be the only entry"),
    (VIVADO, "memory:\n  - {kind: hbm, size_gib: 8, bandwidth_gbs: 460}\n", "memory: []\n",
     "12: memory: expected at least 1 entry, got a list"),
    (OPEN, "nextpnr: {device: 25k, package: CABGA256, speed: 6}", "nextpnr: 5",
     "14: nextpnr: expected a mapping with keys device, package, speed, got 5"),
    (OPEN, "nextpnr: {device: 25k, package: CABGA256, speed: 6}\n", "",
     "1: missing key 'nextpnr' (required for open-toolchain boards)"),
    (OPEN, "speed: 6", "speed: 9", "14: nextpnr.speed: expected one of 6, 7, 8, got 9"),
    (OPEN, "device: 25k", "device: 25K", "14: nextpnr.device: expected one of 12k, 25k, 45k, "
     "85k, um-25k, um-45k, um-85k, um5g-25k, um5g-45k, um5g-85k, got '25K'"),
    (OPEN, "  io: 197\n", "", "6: resources: missing key 'io' (required for open-toolchain "
     "boards: the timing wrapper must fit the package's pins)"),
    (OPEN, "  io: 197\n", "  io: 197\n  uram: {kind: URAM288, count: 1, kbit: 288}\n",
     "12: resources.uram.kind: ecp5 parts have no uram key (the family has no such blocks), "
     "got 'URAM288'"),
    (OPEN.replace("family: ecp5", "family: ice40").replace("MULT18X18D", "SB_MAC16")
     .replace("DP16KD, count: 56, kbit: 18", "SB_RAM40_4K, count: 30, kbit: 4")
     .replace("device: 25k, package: CABGA256", "device: up5k, package: sg48"),
     "speed: 6", "speed: 6", "14: nextpnr.speed: ice40 parts have no speed grade"),
    (OPEN, "{kind: none}", "{kind: none, size_gib: 1}", "13: memory[0].size_gib: not allowed "
     "with kind 'none' (no external memory)"),
    (VIVADO, "clock_mhz: 300", "clock_mhz: 300: 5", "5: not valid YAML: mapping values are "
     "not allowed here"),
    (VIVADO, "part: xcu280-fsvh2892-2L-e", "part: !!python/object/apply:os.system [ls]",
     "2: not valid YAML: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object/apply:os.system'"),
]


@pytest.mark.parametrize("base,old,new,message", BAD)
def test_malformed_board_files_name_file_line_and_key(tmp_path, base, old, new, message):
    assert old in base
    path = tmp_path / "bad.yaml"
    path.write_text(base.replace(old, new, 1))
    with pytest.raises(BoardError) as err:
        load_board(path)
    assert str(err.value) == f"{path}:{message}"


def test_the_documented_example_is_what_a_user_sees(tmp_path):
    """README and boards.py quote this message for boards/alveo_u280.yaml."""
    path = tmp_path / "alveo_u280.yaml"
    path.write_text((BOARD_DIR / "alveo_u280.yaml").read_text().replace("count: 9024",
                                                                         "count: many"))
    with pytest.raises(BoardError) as err:
        load_board(path)
    assert str(err.value) == f"{path}:17: resources.dsp.count: expected an integer, got 'many'"


def test_malformed_cases_cover_every_kind_of_error():
    assert len(BAD) == 41


@pytest.mark.parametrize("text,message", [
    ("- a\n- b\n", "1: expected a mapping of board keys at the top, got a list"),
    ("", "1: expected a mapping of board keys at the top, got an empty file"),
    ("just text\n", "1: expected a mapping of board keys at the top, got a string"),
])
def test_board_file_must_be_a_mapping(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BoardError) as err:
        load_board(path)
    assert str(err.value) == f"{path}:{message}"


def test_several_problems_are_all_reported_in_file_order(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(VIVADO.replace("clock_mhz: 300", "clock_mhz: .nan")
                    .replace("count: 9024", "count: many"))
    with pytest.raises(BoardError) as err:
        load_board(path)
    assert str(err.value).splitlines() == [
        f"{path}:5: clock_mhz: expected a finite number, got .nan",
        f"{path}:9: resources.dsp.count: expected an integer, got 'many'"]


BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
"""  # 10^9 strings once expanded


@pytest.mark.parametrize("text,message", [
    (BILLION_LAUGHS, "expands past 5000 YAML nodes (aliases repeating aliases?); a board file "
     "has fewer than 100"),
    (VIVADO.replace("clock_mhz: 300", "clock_mhz: &x [*x]"), "clock_mhz[0][0]: nests deeper "
     "than 16 levels (an alias inside itself?)"),
])
def test_alias_bombs_fail_fast(tmp_path, text, message):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    start = time.process_time()  # CPU seconds: a hang burns them, a loaded machine does not
    with pytest.raises(BoardError) as err:
        load_board(path)
    assert time.process_time() - start < 1.0
    assert str(err.value) == f"{path}: {message}"


def test_deep_nesting_and_huge_files_fail_fast(tmp_path):
    deep, huge = tmp_path / "deep.yaml", tmp_path / "huge.yaml"
    deep.write_text("a: " + "[" * 20000 + "]" * 20000 + "\n")
    huge.write_text("# padding\n" * 10000)
    start = time.process_time()  # CPU seconds: a hang burns them, a loaded machine does not
    with pytest.raises(BoardError, match=r"deep\.yaml:1: not valid YAML: nested deeper than "
                       r"16 levels$"):
        load_board(deep)
    with pytest.raises(BoardError, match=r"huge\.yaml: 100000 bytes, more than a board "
                       r"file's limit of 65536$"):
        load_board(huge)
    assert time.process_time() - start < 1.0


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(BoardError) as err:
        load_board("zcu102")
    assert str(err.value) == ("boards/zcu102.yaml: no such board file (known boards: "
                              + ", ".join(EXPECTED_BOARDS) + ")")


def test_budget_fits_and_overflows():
    budget = load_board("alveo_u280").budget({"lut": 100, "dsp": 9600, "bram": 0.5})
    assert budget == {"board": "alveo_u280", "fits": False, "resources": {
        "lut": {"used": 100, "available": 1303680, "fits": True},
        "dsp": {"used": 9600, "available": 9024, "fits": False},
        "bram": {"used": 0.5, "available": 2016, "fits": True}}}
    assert load_board("ecp5_25k").budget({"io": 197})["fits"]


def test_synth_target_comes_from_the_board():
    assert synth.plan() == ("xcup", None) and synth.plan("ecp5") == ("ecp5", None)
    for name, target in [("alveo_u280", "xcup"), ("kv260", "xcup"), ("pynq_z2", "xc7"),
                         ("ulx3s_85f", "ecp5"), ("orangecrab_25f", "ecp5"),
                         ("icebreaker", "ice40")]:
        chosen, board = synth.plan(board=name)
        assert (chosen, board.name) == (target, name)
    assert synth.plan("xcup", "zcu104")[0] == "xcup"


@pytest.mark.parametrize("args,message", [
    (["--board", "nope"], "sqhw synth: error: boards/nope.yaml: no such board file (known "
     "boards: " + ", ".join(EXPECTED_BOARDS) + ")"),
    (["--board", "alveo_u280", "--target", "xc7"], "sqhw synth: error: --target xc7 "
     "contradicts --board alveo_u280 (family xcup, target xcup): drop --target or pick a "
     "board of family xc7"),
    (["--board", "pynq_z2", "--target", "ecp5"], "sqhw synth: error: --target ecp5 "
     "contradicts --board pynq_z2 (family xc7, target xc7): drop --target or pick a board of "
     "family ecp5"),
    (["--board", "icebreaker", "--target", "ecp5"], "sqhw synth: error: --target ecp5 "
     "contradicts --board icebreaker (family ice40, target ice40): drop --target or pick a "
     "board of family ecp5"),
])
def test_synth_refuses_bad_boards_before_any_synthesis(tmp_path, capsys, monkeypatch, args,
                                                       message):
    def never(*_, **__):
        raise AssertionError("a tool ran for a refused request")

    monkeypatch.setattr(synth, "synth_xilinx", never)
    monkeypatch.setattr(synth, "synth_ecp5", never)
    monkeypatch.setattr(synth, "synth_ice40", never)
    # tmp_path has no manifest: the board must be refused before the design is read
    assert main(["synth", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err.strip() == message


def test_synth_reports_the_board_budget(tmp_path, capsys, monkeypatch):
    fake = {"target": "xcup", "tool": "yosys (replaced in this test)", "top": "chain",
            "lut": 2000, "ff": 1500, "carry": 10, "dsp48e2": 9600, "bram": 3, "lutram": 0,
            "srl": 0, "dsp_cascade": 0,
            "cells": {"RAMB36E2": 2, "RAMB18E2": 1, "URAM288": 1, "DSP48E2": 9600}}
    monkeypatch.setattr(synth, "synth_xilinx", lambda design, family: dict(fake))
    assert main(["synth", str(tmp_path), "--board", "alveo_u280"]) == 0
    out = capsys.readouterr().out
    assert "budget on alveo_u280: does not fit" in out
    assert "  dsp: 9600 of 9024 (106.4%, overflow)" in out.splitlines()
    assert "  bram: 2.5 of 2016 (0.1%)" in out.splitlines()
    assert main(["synth", str(tmp_path), "--board", "alveo_u250", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["board"] == "alveo_u250" and report["budget"]["fits"] is True
    assert report["budget"]["resources"]["uram"] == {"used": 1, "available": 1280,
                                                      "fits": True}


def test_boards_verb_lists_every_board(capsys):
    assert main(["boards", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == EXPECTED_BOARDS
    u280 = rows[EXPECTED_BOARDS.index("alveo_u280")]
    assert u280["path"] == "boards/alveo_u280.yaml"
    assert u280["resources"]["dsp"] == {"kind": "DSP48E2", "count": 9024}
    assert u280["memory"][0] == {"kind": "hbm", "size_gib": 8.0, "bandwidth_gbs": 460.0}
    assert main(["boards"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["board", "part", "family", "LUT", "FF"]
    assert len(lines) == 2 + len(EXPECTED_BOARDS)
    assert any(line.startswith("alveo_u280 ") and "9024 DSP48E2" in line and
               "8 GiB hbm 460 GB/s + 32 GiB ddr4 38 GB/s" in line for line in lines)
    assert any(line.startswith("ulx3s_85f ") and "32 MiB sdram" in line for line in lines)
