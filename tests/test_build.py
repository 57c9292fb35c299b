"""`sqhw build`: every board builds a tiny design with the tools that run here (Yosys for AMD
parts, Yosys + nextpnr + the packer for ECP5 / iCE40 boards), the report's fields agree with
each other and with the board, a design too big for its board is reported and not placed,
and bad requests are refused, naming the file / key / argument, before any tool runs. The
SparseDSPArray the build generates is checked against sqhw.ref under Verilator (rtl)."""

import json
from pathlib import Path

import pytest

from sqhw.cli import main
from sqhw.hw import build as build_module
from sqhw.hw import open_flow, synth
from sqhw.hw.boards import board_names, list_boards, load_board
from sqhw.hw.design import DSP_SHARE, DSPChainDesign, load_design

TINY = "lanes: 1\nchain: 2\n"  # 2 multipliers: each board's flow in seconds
REPORT_KEYS = {"board", "part", "family", "toolchain", "clock_mhz", "design", "synthesis",
               "resources", "units", "estimated_from", "budget", "place_and_route",
               "fmax_mhz", "timing_met", "utilization", "fits", "overflow", "roofline",
               "files", "seconds", "generator"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh synthesis cache for this file: the first xcup board runs Yosys, the other
    xcup boards build the same Verilog and read its counts back."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SQHW_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def design_file(tmp_path):
    def write(text: str, name: str = "design.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


def _build(args, capsys) -> tuple[int, dict]:
    status = main(["build", *args, "--json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out else {}


def _check_report(report: dict, out: Path, board_name: str) -> None:
    board = load_board(board_name)
    design = report["design"]
    assert REPORT_KEYS <= set(report) and report["board"] == board_name
    assert json.loads((out / "report.json").read_text()) == report
    kernel = [build_module.KERNEL_DIR] if report.get("deliverables") else []
    assert sorted(p.name for p in out.iterdir()) == sorted(report["files"] + kernel)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["top"] == design["top"] and manifest["keep_hierarchy"] == ["sqhw_dsp_lane"]
    # one DSP block per int8 multiply on every family
    assert report["resources"]["dsp"] == design["multipliers"] == design["lanes"] * \
        design["chain"]
    assert report["resources"]["lut"] > 0 and report["resources"]["ff"] > 0
    rows = report["budget"]["resources"]
    assert {key: row["available"] for key, row in rows.items()} == \
        {key: have for key, have in board.capacity().items() if key in rows}
    assert report["fits"] == all(row["fits"] for row in rows.values())
    assert report["overflow"] == [f"{key}: {row['used']:g} of {row['available']}"
                                  for key, row in rows.items() if not row["fits"]]
    roof = report["roofline"]
    m, n = (int(v) for v in reversed(design["nm"].split(":")))
    assert roof["peak_macs_per_s"] == design["multipliers"] * board.clock_mhz * 1e6 * m / n
    if roof["memory"] is None:
        assert all(bank.kind == "none" for bank in board.memory)
        assert roof["bound"] == "compute"
    else:
        assert roof["memory"]["bandwidth_gbs"] == max(b.bandwidth_gbs for b in board.memory)
        assert roof["attainable_macs_per_s"] == min(roof["peak_macs_per_s"],
                                                    roof["memory_bound_macs_per_s"])
        assert roof["bound"] == ("memory" if roof["memory_bound_macs_per_s"] <
                                 roof["peak_macs_per_s"] else "compute")
    assert report["seconds"]["total"] > 0


@pytest.mark.parametrize("name", board_names())
def test_every_board_builds_a_tiny_design(name, tmp_path, capsys, cache, design_file):
    out = tmp_path / "out"
    status, report = _build(["--board", name, "--design", design_file(TINY), "-o", str(out)],
                            capsys)
    assert status == 0 and report["fits"] and report["overflow"] == []
    _check_report(report, out, name)
    board = load_board(name)
    if board.toolchain == "vivado":
        assert report["synthesis"]["tool"].startswith(
            f"yosys synth_xilinx -family {board.family}")
        assert "Vivado" in report["place_and_route"] and report["fmax_mhz"] is None
        assert report["estimated_from"].startswith("1 lane synthesised") and \
            report["estimated_from"].endswith("nothing is optimised across lanes")
        assert report["units"]["dsp"] == board.resources.dsp.kind
        assert not any(f.endswith((".bit", ".bin")) for f in report["files"])
        _check_deliverables(report, out, board)
    else:
        assert "deliverables" not in report and not (out / build_module.KERNEL_DIR).exists()
        pnr = report["place_and_route"]
        bitstream = out / f"sqhw_dsp_chain{'.bit' if board.family == 'ecp5' else '.bin'}"
        assert pnr["bitstream"] == bitstream.name and bitstream.stat().st_size > 10_000
        assert 1 < report["fmax_mhz"] < 1000 and report["estimated_from"] is None
        assert report["timing_met"] == (report["fmax_mhz"] >= board.clock_mhz)
        assert report["resources"]["io"] == 3 and report["utilization"]
        assert (out / "sqhw_board.v").read_text().startswith("module sqhw_board (")
        if board.amaranth_platform:  # the board's own clock pin
            constraints = (out / f"board.{'lpf' if board.family == 'ecp5' else 'pcf'}")
            assert pnr["pins"]["clk"]["site"] in constraints.read_text()
        else:
            assert "bare device" in pnr["pins"]


def _check_deliverables(report: dict, out: Path, board) -> None:
    """The Vitis kernel (and on Zynq / Kria the IP integrator Tcl) around the built array:
    every listed file exists, kernel.xml parses and names the kernel and its streams, the
    packaging Tcl adds both Verilog files, and no vendor step claims to have run."""
    import xml.etree.ElementTree as ET

    from sqhw.hw.vitis import board_platform

    kernel = report["deliverables"]
    platform = board_platform(board)
    assert kernel["folder"] == build_module.KERNEL_DIR and kernel["platform"] == platform
    files = kernel["files"]
    want = {"verilog", "verilog:sqhw_dsp_lane.v", "manifest", "kernel_xml", "package_xo",
            "data_movers", "link_cfg", "xdc"} | ({"ip_package"} if platform == "embedded"
                                                  else set())
    assert set(files) == want
    assert sorted(p.name for p in (out / kernel["folder"]).iterdir()) == \
        sorted(Path(f).name for f in files.values())
    assert all((out / f).stat().st_size > 0 for f in files.values())
    root = ET.parse(out / files["kernel_xml"]).getroot()
    assert root.find("kernel").get("name") == kernel["top"]
    assert {p.get("name") for p in root.iter("port")} >= {"s_axi_control", "acts", "weights",
                                                          "result"}
    manifest = json.loads((out / files["manifest"]).read_text())
    assert manifest["parameters"]["lanes"] == report["design"]["lanes"]
    assert manifest["sources"] == ["sqhw_dsp_lane.v", f"{kernel['top']}.v"]
    for tcl in ("package_xo", "ip_package"):
        if tcl in files:
            text = (out / files[tcl]).read_text()
            assert "[file join $here sqhw_dsp_lane.v]" in text and board.part in text
    assert kernel["vendor_steps"] and all(step["ran"] is False and "not run here" in
                                          step["status"] for step in kernel["vendor_steps"])
    assert len(kernel["vendor_steps"]) == (4 if platform == "embedded" else 3)


def test_default_design_takes_half_the_dsps():
    for board in list_boards():
        design = DSPChainDesign().sized_for(board)
        share = max(1, int(board.resources.dsp.count * DSP_SHARE))
        assert design.chain == min(8, 1 << (share.bit_length() - 1)), board.name
        assert design.multipliers <= share < design.multipliers + design.chain, board.name
        assert design.nm == "2:4" and "sized from the board" in design.sizing
    sizes = {b.name: DSPChainDesign().sized_for(b) for b in list_boards()}
    assert (sizes["alveo_u280"].lanes, sizes["alveo_u280"].chain) == (564, 8)
    assert (sizes["icebreaker"].lanes, sizes["icebreaker"].chain) == (1, 4)  # 4 of 8 MAC16
    assert (sizes["ulx3s_85f"].lanes, sizes["ulx3s_85f"].chain) == (9, 8)
    # a design file that gives the chain only gets its lanes from the board
    assert DSPChainDesign(chain=4).sized_for(load_board("pynq_z2")).lanes == 27


def test_too_big_is_reported_not_shrunk_and_force_replaces(tmp_path, capsys, cache,
                                                          design_file):
    """A fitting iCEBreaker build, then the same directory refused without --force, then
    12 multiplies (8 SB_MAC16 on the UP5K) forced into it: fits false, the overflow named,
    nothing placed, and the previous bitstream gone."""
    out = tmp_path / "ice"
    status, first = _build(["--board", "icebreaker", "-o", str(out)], capsys)
    assert status == 0 and first["design"]["multipliers"] == 4 and (out / "sqhw_dsp_chain.bin"
                                                                    ).exists()
    big = design_file("lanes: 3\nchain: 4\n")
    assert main(["build", "--board", "icebreaker", "--design", big, "-o", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    status, report = _build(["--board", "icebreaker", "--design", big, "-o", str(out),
                             "--force"], capsys)
    assert status == 1 and report["fits"] is False
    assert report["overflow"] == ["dsp: 12 of 8"] and report["resources"]["dsp"] == 12
    assert report["design"]["lanes"] == 3 and report["design"]["sizing"] == f"given in {big}"
    assert report["place_and_route"].startswith("not run: the netlist overflows")
    assert report["fmax_mhz"] is None and report["timing_met"] is None
    assert not (out / "sqhw_dsp_chain.bin").exists() and not (out / "board.pcf").exists()
    _check_report(report, out, "icebreaker")


def test_text_output_names_the_fit_and_the_bound(tmp_path, capsys, cache, design_file):
    assert main(["build", "--board", "kv260", "--design", design_file(TINY), "-o",
                 str(tmp_path / "kv")]) == 0
    out = capsys.readouterr().out
    assert "kv260 (xck26-sfvc784-2LV-c, 100 MHz): 1 lane x 2 stages = 2 multipliers" in out
    assert "budget on kv260: fits" in out and "  dsp: 2 of 1248 (0.2%)" in out
    assert "compute-bound" in out and "need Vivado" in out


def _never(*_, **__):
    raise AssertionError("a tool ran for a refused request")


@pytest.mark.parametrize("args,design,message", [
    (["--board", "nope"], None, "boards/nope.yaml: no such board file (known boards: "
     + ", ".join(board_names()) + ")"),
    ([], "weight: int8\nact: int8\nlanes: 0\n",
     "design.yaml:3: lanes: expected a positive integer, got 0"),
    ([], "chain: 6\n", "design.yaml:1: chain: expected a power of two (the chain's group "
     "select is a shift), got 6"),
    ([], "nm: 3:8\n", "design.yaml:1: nm: the chain runs power-of-two n and m, got 3:8 "
     "(n = 3)"),
    ([], "weight: mxfp4\n", "design.yaml:1: weight: the chain multiplies element formats "
     "(integer, fixed, minifloat); mxfp4 is block-scaled"),
    ([], "lanes: 2\nlane: 4\n", "design.yaml:2: lane: unknown key (allowed: kind, weight, "
     "act, out, nm, lanes, chain, k, rows, cols, rounding, stages, target_mhz, from_ptq)"),
    ([], "lanes: 1\nstages: 2\ntarget_mhz: 150\n", "design.yaml:3: target_mhz: give it or "
     "stages, not both (target_mhz places the chain's registers itself)"),
    ([], "rounding: stochastic\n", "design.yaml:1: rounding: expected 'rne', 'rtz', 'rna', "
     "'floor' or 'ceil', got 'stochastic'"),
    ([], "- lanes: 2\n", "design.yaml:1: expected a mapping of design keys at the top, got "
     "a list"),
    ([], "out: float8_e8m0fnu\n", "design.yaml: cannot be built: out_fmt: float8_e8m0fnu has "
     "no zero; it is a scale format, not a requantizer output"),
])
def test_refused_before_any_tool_runs(tmp_path, capsys, monkeypatch, args, design, message):
    monkeypatch.setattr(open_flow, "run", _never)
    monkeypatch.setattr(synth, "synth_xilinx", _never)
    monkeypatch.setattr(build_module, "write_text", _never)
    argv = ["build", "--board", "alveo_u280", *args, "-o", str(tmp_path / "out")]
    if design is not None:
        (tmp_path / "design.yaml").write_text(design)
        argv += ["--design", str(tmp_path / "design.yaml")]
    monkeypatch.chdir(tmp_path)  # so the file is named as the user gave it: design.yaml
    argv = [a.replace(str(tmp_path) + "/", "") for a in argv]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"sqhw build: error: {message}"
    assert not (tmp_path / "out").exists()


PTQ_RESULTS = Path(__file__).parent / "data" / "report" / "results.json"


def _ptq_design(tmp_path, body: str) -> Path:
    (tmp_path / "study").mkdir(exist_ok=True)
    (tmp_path / "study" / "results.json").write_text(PTQ_RESULTS.read_text())
    path = tmp_path / "design.yaml"
    path.write_text(body)
    return path


FROM_PTQ = "lanes: 1\nchain: 2\nfrom_ptq:\n  results: study/results.json\n  format: int8\n" \
    "  sparsity: \"2:4\"\n"


def test_from_ptq_takes_the_rows_formats_pattern_and_layers(tmp_path):
    design = load_design(_ptq_design(tmp_path, FROM_PTQ))
    layers = json.loads(PTQ_RESULTS.read_text())["layers"]
    assert (design.weight, design.act, design.nm) == ("int8", "int8", "2:4")
    assert design.k == max(l["k"] for l in layers) == 512
    assert [l["name"] for l in design.layers] == [l["name"] for l in layers]
    biggest = max(layers, key=lambda l: l["rows"] * l["k"] * l["cols"])
    assert (design.rows, design.cols) == (biggest["rows"], biggest["cols"])
    assert design.ptq["score"] == next(r["score"] for r in json.loads(PTQ_RESULTS.read_text())[
        "rows"] if r["engine"] == "sqhw" and r["format"] == "int8" and r["sparsity"] == "2:4")
    dense = load_design(_ptq_design(tmp_path, FROM_PTQ.replace('"2:4"', "dense")))
    assert dense.nm == "4:4"


@pytest.mark.parametrize("body,message", [
    (FROM_PTQ.replace("format: int8", "format: float6_e2m3fn"),
     "design.yaml:5: from_ptq: {results} has no sqhw row float6_e2m3fn 2:4 (it has: "
     "float8_e4m3fn 2:4, float8_e4m3fn dense, int4 2:4, int4 dense, int8 2:4, int8 dense)"),
    (FROM_PTQ.replace("format: int8", "format: int9x"), "design.yaml:5: from_ptq.format: "),
    (FROM_PTQ.replace("study/results.json", "nope/results.json"),
     "design.yaml:4: from_ptq.results: {nope}: no such PTQ results file"),
    ("weight: int4\n" + FROM_PTQ, "design.yaml:1: weight: from_ptq decides it"),
    (FROM_PTQ + "  model: mnist1d\n", "design.yaml:7: from_ptq.model: {results} is a study "
     "of 'digits', not 'mnist1d'"),
    (FROM_PTQ + "  layer: fc1\n", "design.yaml:7: from_ptq.layer: unknown key (expected "
     "results, format, sparsity, model)"),
    (FROM_PTQ.replace("  sparsity: \"2:4\"\n", ""), "design.yaml:3: from_ptq.sparsity: "
     "expected a string, got None (missing)"),
    ("k: 64\n" + FROM_PTQ, "design.yaml:1: k: 64 is shorter than the longest layer of "
     "{results} (K = 512)"),
    ("from_ptq: 3\n", "design.yaml:1: from_ptq: expected a mapping"),
])
def test_from_ptq_errors_name_file_line_and_key(tmp_path, body, message):
    path = _ptq_design(tmp_path, body)
    with pytest.raises(ValueError) as err:
        load_design(path)
    text = str(err.value).replace(str(tmp_path) + "/", "")
    assert text.startswith(message.format(results="study/results.json",
                                          nope="nope/results.json")), text
    assert "\n" not in text


def test_from_ptq_results_without_layers_is_refused(tmp_path):
    path = _ptq_design(tmp_path, FROM_PTQ)
    data = json.loads((tmp_path / "study" / "results.json").read_text())
    del data["layers"]
    (tmp_path / "study" / "results.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"design.yaml:4: from_ptq.results: .* has no `layers`"):
        load_design(path)


def test_from_ptq_build_reports_every_layer(tmp_path, capsys, cache):
    path = _ptq_design(tmp_path, FROM_PTQ)
    status, report = _build(["--board", "pynq_z2", "--design", str(path), "-o",
                             str(tmp_path / "out")], capsys)
    assert status == 0
    layers = json.loads(PTQ_RESULTS.read_text())["layers"]
    assert [l["name"] for l in report["layers"]] == [l["name"] for l in layers]
    for got, want in zip(report["layers"], layers):
        assert (got["rows"], got["k"], got["cols"]) == (want["rows"], want["k"], want["cols"])
        kept = want["rows"] * want["cols"] * -(-want["k"] // 4) * 2  # 2 of every 4 along k
        assert got["cycles"] == -(-kept // 2) + report["design"]["latency"]
    biggest = max(layers, key=lambda l: l["rows"] * l["k"] * l["cols"])
    assert report["roofline"]["layer"]["k"] == biggest["k"]
    assert report["design"]["ptq"]["format"] == "int8"


def test_output_directory_refusals(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(open_flow, "run", _never)
    monkeypatch.setattr(synth, "synth_xilinx", _never)
    a_file = tmp_path / "report.txt"
    a_file.write_text("x")
    assert main(["build", "--board", "icebreaker", "-o", str(a_file)]) == 2
    assert capsys.readouterr().err.strip() == (f"sqhw build: error: -o {a_file}: is a file, "
                                               "expected a directory (new or empty)")
    assert main(["build", "--board", "icebreaker", "-o", str(a_file / "sub")]) == 2
    assert capsys.readouterr().err.strip() == (f"sqhw build: error: -o {a_file}/sub: {a_file} "
                                               "is a file, not a directory")
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.md").write_text("mine")
    assert main(["build", "--board", "icebreaker", "-o", str(full)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"sqhw build: error: -o {full}: not empty (1 entries: notes.md); pass --force to "
        "build there anyway (the files of a previous build are replaced)")
    assert main(["build", "--board", "icebreaker", "--design", str(tmp_path / "none.yaml"),
                 "-o", str(tmp_path / "new")]) == 2
    assert capsys.readouterr().err.strip() == (f"sqhw build: error: {tmp_path}/none.yaml: no "
                                               "such design file")


def test_design_file_keys_and_defaults(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("weight: float8_e4m3fn\nact: int8\nout: int8\nnm: 1:4\nlanes: 2\n"
                    "chain: 4\nk: 0x400\nrows: 768\ncols: 16\n")
    design = load_design(path)
    assert (design.weight, design.nm, design.n, design.m, design.k, design.multipliers) == \
        ("float8_e4m3fn", "1:4", 1, 4, 1024, 8)  # 1:4 unquoted is a string, not base 60
    path.write_text("")
    assert load_design(path) == DSPChainDesign()


def test_target_mhz_pipelines_the_chain(tmp_path):
    """target_mhz is the build's clock and the frequency the chain's registers are placed
    for: a faster target gives a longer latency, and the manifest says what it was planned for."""
    path = tmp_path / "d.yaml"
    latencies = []
    for target in (50, 150, 250):
        path.write_text(f"lanes: 1\nchain: 4\nk: 64\ntarget_mhz: {target}\n")
        _, description = load_design(path).generate()
        assert description["parameters"]["target_mhz"] == target
        latencies.append(description["latency"])
    _, fixed = DSPChainDesign(lanes=1, chain=4, k=64).generate()
    assert fixed["parameters"]["target_mhz"] is None and fixed["parameters"]["stages"] == 1
    assert latencies == sorted(latencies) and latencies[0] < latencies[-1], latencies


def test_ecp5_boards_plan_the_chain_for_their_clock(tmp_path):
    """On ECP5, where the delay model is calibrated, a design without stages or target_mhz
    has its registers placed for the board's clock; given stages stay; Xilinx and iCE40
    boards keep stages 1."""
    planned = DSPChainDesign().sized_for(load_board("ecp5_25k"))
    assert planned.target_mhz == load_board("ecp5_25k").clock_mhz == 100
    _, description = planned.model_copy(update={"k": 64}).generate()
    assert description["parameters"]["target_mhz"] == 100
    assert description["parameters"]["stages"] is None and planned.row()["stages"] is None
    path = tmp_path / "d.yaml"
    path.write_text("stages: 2\n")
    assert load_design(path).sized_for(load_board("ecp5_25k")).target_mhz is None
    for board in ("alveo_u280", "pynq_z2", "icebreaker"):
        design = DSPChainDesign().sized_for(load_board(board))
        assert (design.target_mhz, design.stages) == (None, 1), board


@pytest.mark.rtl
@pytest.mark.slow
def test_lane_array_equals_the_reference_under_stalls(tmp_path, seed):
    """SparseDSPArray (3 lane instances in lock step) against sqhw.ref.sparse_matmul through
    the chain's own testbench: every run-time N, gaps on both inputs, a stalling sink."""
    from sqhw.hdl.emit import design_dsp_chain, write_design
    from sqhw.verify.runner import run

    dut, description = design_dsp_chain("int8", "int8", 4, 4, 256, "int8", lanes=3,
                                        array=True)
    write_design(dut, description, tmp_path / "array", "array")
    checked = 0
    for n in (1, 2, 4):
        result = next(iter(run("tb_dsp_chain", [tmp_path / "array"], 1, env={
            "SQHW_NM": f"{n}:4", "SQHW_ROWS": "7", "SQHW_K": "200", "SQHW_COLS": "2",
            "SQHW_READY": "0.5", "SQHW_VALID": "0.7", "SQHW_SEED": str(seed)}).values()))
        assert result["mismatches"] == 0, result.get("examples")
        checked += result["vectors"]
    assert checked == 3 * 14
