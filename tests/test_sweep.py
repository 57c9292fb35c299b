"""sqhw sweep / sqhw results: SPEC validation, the SQLite store, local vs Ray rows, kill -9
and Ctrl-C then resume, a failing point."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqhw.cli import main
from sqhw.sweep import SpecError, Store, StoreError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sweep_small.yaml"

# PTQ-only points on the emulate engine, recomputed each run (no row cache): a few seconds
# each, so a sweep of them can be stopped in the middle
PTQ_POINTS = """\
ptq: {engine: emulate, cache: false}
grid:
  model: digits
  weight: [int8, int4, float8_e4m3fn, float4_e2m1fn]
"""


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return con.execute("SELECT count(*) FROM points").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


# ---------------------------------------------------------------- SPEC


def test_example_spec_has_six_real_points():
    spec = load_spec(EXAMPLE)
    assert len(spec.points) == 6
    keys = {spec.key(p) for p in spec.points}
    assert len(keys) == 6
    for point in spec.points:  # every shipped point runs the PTQ and a real board build
        assert point.model == "digits" and point.board == "ecp5_25k"
    assert spec.ptq.engine == "exact"


def test_grid_and_points_expand_and_dedupe():
    spec = parse_spec("grid: {model: digits, weight: [int8, int4], sparsity: [dense, '2:4']}\n"
                      "points:\n  - {model: digits, weight: int8}\n"
                      "  - {weight: int8, board: ecp5_25k, lanes: 1, chain: 2}\n", "s.yaml")
    got = [(p.weight, p.sparsity, p.board) for p in spec.points]
    assert got == [("int8", "dense", None), ("int8", "2:4", None), ("int4", "dense", None),
                   ("int4", "2:4", None), ("int8", "dense", "ecp5_25k")]
    # the key is a hash of the configuration: the same text gives the same keys
    again = parse_spec("grid: {model: digits, weight: [int8, int4], sparsity: [dense, '2:4']}",
                       "t.yaml")
    assert [again.key(p) for p in again.points] == [spec.key(p) for p in spec.points[:4]]


def test_key_changes_with_the_sqhw_version(monkeypatch):
    import sqhw.sweep.spec as spec_module

    spec = parse_spec("grid: {model: digits, weight: int8}", "s.yaml")
    before = spec.key(spec.points[0])
    monkeypatch.setattr(spec_module, "__version__", "99.0")
    assert spec.key(spec.points[0]) != before


@pytest.mark.parametrize("text, message", [
    ("grid:\n  model: digits\n  weight: [int8, int8x]\n",
     "s.yaml:3: grid.weight[1]: unknown format"),
    ("grid:\n  model: digits\n  wieght: int8\n",
     "s.yaml:3: grid.wieght: unknown key (allowed: model, weight, act, sparsity, board, lanes, "
     "chain, target_mhz)"),
    ("points:\n  - {model: digits, weight: int8}\n  - {model: digitz, weight: int8}\n",
     "s.yaml:3: points[1].model: unknown model 'digitz'"),
    ("points:\n  - {weight: int8, board: ecp5_25k, lanes: 0, chain: 2}\n",
     "s.yaml:2: points[0].lanes: expected a number >= 1, got 0"),
    ("points:\n  - weight: int8\n    board: ecp5_25k\n    lanes: 1\n    chain: 3\n",
     "s.yaml:5: points[0].chain: expected a power of two"),
    ("points:\n  - {weight: int8, board: nosuchboard, lanes: 1, chain: 2}\n",
     "s.yaml:2: points[0].board: boards/nosuchboard.yaml: no such board file"),
    ("points:\n  - {weight: int8, board: ecp5_25k, lanes: 1, chain: 2, target_mhz: -5}\n",
     "s.yaml:2: points[0].target_mhz: expected a number > 0, got -5"),
    ("points:\n  - {weight: mxfp4, board: ecp5_25k, lanes: 1, chain: 2}\n",
     "s.yaml:2: points[0].weight: the chain multiplies element formats"),
    ("points:\n  - {model: digits, weight: int8, sparsity: 'two:four'}\n",
     "s.yaml:2: points[0].sparsity: expected 'dense' or an N:M pattern"),
    ("points:\n  - {weight: int8, board: ecp5_25k, chain: 2}\n",
     "s.yaml:2: points[0]: missing key 'lanes'"),
    ("points:\n  - {model: digits, weight: int8, lanes: 2}\n",
     "s.yaml:2: points[0].lanes: lanes is a build setting; the point has no board"),
    ("points:\n  - {model: digits}\n", "s.yaml:2: points[0]: missing key 'weight'"),
    ("design:\n  k: 0\ngrid: {model: digits, weight: int8}\n",
     "s.yaml:2: design.k: expected a positive integer, got 0"),
    ("design:\n  nm: '2:4'\ngrid: {model: digits, weight: int8}\n",
     "s.yaml:2: design.nm: not a shared design key"),
    ("ptq:\n  engine: fast\ngrid: {model: digits, weight: int8}\n",
     "s.yaml:2: ptq.engine: expected 'exact' or 'emulate', got 'fast'"),
    ("grid: {model: digits, weight: int8}\ngrid: {model: digits, weight: int4}\n",
     "s.yaml:2: grid: duplicate key (first at line 1)"),
    ("grid: [model, digits\n", "s.yaml:2: not valid YAML"),
    ("- model: digits\n", "s.yaml:1: expected a mapping with keys ptq, design, grid, points"),
    ("ptq: {engine: emulate}\n", "s.yaml:1: no points"),
    ("grid:\n  model: digits\n  weight: [int8, int4, int6, int5]\n  lanes: [1, 2, 3, 4, 5]\n"
     "  chain: [1, 2, 4, 8, 16]\n  board: [ecp5_25k]\n  target_mhz: "
     f"{list(range(1, 1101))}\n", "s.yaml:1: grid: 1 x 4 x 1 x 1 x 1 x 5 x 5 x 1100 = 110000 "
     "points, more than 100000"),
])
def test_malformed_spec_refused_with_file_line_key(tmp_path, capsys, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    shown = str(err.value).replace(str(tmp_path) + "/", "")
    assert shown.startswith(message), shown
    # the CLI: exit 2, one error line on stderr naming file:line: key, no traceback, no store
    db = tmp_path / "x.sqlite"
    assert main(["sweep", str(path), "--db", str(db)]) == 2
    stderr = capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    assert stderr.startswith(f"sqhw sweep: error: {message}"), stderr
    assert "Traceback" not in stderr
    assert not db.exists()


def test_bad_arguments_refused(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("grid: {model: digits, weight: int8}\n")
    assert main(["sweep", str(spec), "--workers", "0", "--db", str(tmp_path / "a")]) == 2
    assert "--workers: expected 1 to" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--address", "auto", "--db", str(tmp_path / "a")]) == 2
    assert "--address: joins a Ray cluster; give --executor ray" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml: no such SPEC file" in capsys.readouterr().err
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    assert main(["sweep", str(spec), "--db", str(garbage)]) == 2
    assert f"--db {garbage}: not an sqhw sweep database" in capsys.readouterr().err
    assert main(["results", "--db", str(garbage)]) == 2
    assert main(["results", "--db", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err


# ---------------------------------------------------------------- store


def _row(key, status="ok", score=0.5):
    config = {"model": "digits", "weight": "int8", "act": None, "sparsity": "dense",
              "board": None, "lanes": None, "chain": None, "target_mhz": None}
    ptq = {"model": "digits", "metric": "accuracy", "fp32": 0.9, "sqhw_version": "0",
           "rows": [{"engine": "sqhw", "format": "int8", "status": status, "score": score,
                     "seconds": 1.0}]}
    return {"key": key, "sqhw_version": "0", "config": config, "status": status,
            "error": None if status == "ok" else "boom", "metrics": {"score": score},
            "ptq": ptq, "build": None, "finished": time.time()}


def test_store_keeps_one_row_per_key(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.record(_row("a", "error"))
    store.record(_row("a", "ok", 0.7))     # a failed point retried: replaced
    store.record(_row("a", "error"))       # an ok point is final
    store.record(_row("b", "ok", 0.7))     # same PTQ row as a's (apart from seconds)
    rows = store.rows()
    assert [(r["key"], r["status"]) for r in rows] == [("a", "ok"), ("b", "ok")]
    assert store.keys() == {"a", "b"} and store.keys("error") == set()
    [result] = store.ptq_results()
    assert result["model"] == "digits" and len(result["rows"]) == 1  # each row once
    assert store.ptq_rows()[0]["model"] == "digits" and store.build_reports() == []
    store.close()
    # another process sees the same rows; an sqlite file that is no store is refused
    assert len(Store(tmp_path / "s.sqlite", create=False).rows()) == 2
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="no sqhw sweep store"):
        Store(other)


def test_target_mhz_reaches_roofline_and_constraints():
    from sqhw.hw.boards import load_board
    from sqhw.hw.design import DSPChainDesign
    from sqhw.hw.open_flow import constraints
    from sqhw.hw.roofline import roofline

    u280 = load_board("alveo_u280")
    base = roofline(DSPChainDesign(lanes=4, chain=8), u280)
    faster = roofline(DSPChainDesign(lanes=4, chain=8, target_mhz=450), u280)
    assert base["clock_mhz"] == u280.clock_mhz and faster["clock_mhz"] == 450
    assert faster["peak_macs_per_s"] == 4 * 8 * 450e6 * 2  # 2:4: two dense MACs per multiply
    ecp5 = load_board("ecp5_25k")
    pins = {"clk": {"site": "A1", "attrs": {}}}
    assert 'FREQUENCY PORT "clk" 80 MHZ;' in constraints(ecp5, pins, 80.0)
    assert f'FREQUENCY PORT "clk" {ecp5.clock_mhz:g} MHZ;' in constraints(ecp5, pins)


@pytest.mark.slow
def test_a_sweep_point_is_the_study_row():
    from sqhw.ptq import study
    from sqhw.sparsity import NM

    def untimed(row):
        return {k: v for k, v in row.items() if k != "seconds"}

    whole = study.run("digits", ["int4"], NM(2, 4), engine="emulate")
    point = study.run_point("digits", "int4", None, NM(2, 4), engine="emulate")
    assert {k: v for k, v in point.items() if k != "rows"} == \
        {k: v for k, v in whole.items() if k != "rows"}
    assert untimed(point["rows"][0]) == untimed(whole["rows"][1])  # rows: dense, then 2:4
    mixed = study.run_point("digits", "int4", "int8", None, engine="emulate")["rows"][0]
    assert mixed["act_format"] == "int8" and mixed["config"] == "W:int4/channel A:int8/tensor"
    assert mixed["status"] == "ok" and 0.5 < mixed["score"] <= 1


# ---------------------------------------------------------------- running sweeps

# PTQ points and one real ECP5 build (tiny chain): the rows compared across executors
MIXED = """\
ptq: {engine: emulate, cache: false}
design: {k: 16, rows: 16}
grid:
  model: digits
  weight: [int8, float8_e4m3fn]
  sparsity: "2:4"
points:
  - {weight: int8, sparsity: "2:4", board: ecp5_25k, lanes: 1, chain: 2, target_mhz: 40}
"""
TIMING = {"seconds", "started", "finished", "worker"}


def _comparable(value):
    """A stored row without what differs between two runs of the same point: timings and
    the worker's name."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.slow
def test_local_and_ray_give_the_same_rows(tmp_path):
    ray = pytest.importorskip("ray")
    from sqhw.sweep import make_executor, run_sweep

    spec_file = tmp_path / "mixed.yaml"
    spec_file.write_text(MIXED)
    spec = load_spec(spec_file)
    assert len(spec.points) == 3
    results = {}
    for name in ("local", "ray"):
        store = Store(tmp_path / f"{name}.sqlite")
        if name == "ray":
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            summary = run_sweep(spec, store, make_executor(name, 2, None), tmp_path / "points")
        finally:
            if name == "ray":
                ray.shutdown()
        assert summary["ran"] == 3 and summary["ok"] == 3, summary
        results[name] = {r["key"]: _comparable(r) for r in store.rows()}
    assert set(results["local"]) == {spec.key(p) for p in spec.points}
    assert results["local"] == results["ray"]
    build = [r for r in results["ray"].values() if r["build"]]
    assert len(build) == 1
    report = build[0]["build"]
    assert report["clock_mhz"] == 40 and report["fmax_mhz"] > 0
    assert report["timing_met"] == (report["fmax_mhz"] >= 40)
    assert (tmp_path / "points" / build[0]["key"] / "build" / "report.json").is_file()
    scores = [r["metrics"]["score"] for r in results["local"].values() if r["ptq"]]
    assert len(scores) == 2 and all(0.5 < s <= 1 for s in scores)


def _sweep(spec: Path, db: Path, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "sqhw", "sweep", str(spec), "--db", str(db),
                             "--json", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env, cwd=ROOT)


def _wait_for_rows(process: subprocess.Popen, db: Path, count: int, limit=240.0) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        stored = _stored(db)
        if stored >= count:
            return stored
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} points stored after {limit} s")


def _no_process_left(pgid: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError(f"processes of the killed sweep (group {pgid}) still run")


@pytest.mark.slow
def test_kill_9_then_ctrl_c_then_resume_runs_every_point_once(tmp_path):
    spec_file = tmp_path / "ptq.yaml"
    # 4 PTQ points and one that fails (an .onnx file that is no ONNX model)
    (tmp_path / "broken.onnx").write_bytes(b"this is not an onnx model")
    spec_file.write_text(PTQ_POINTS + "points:\n  - {model: broken.onnx, weight: int8}\n")
    spec = load_spec(spec_file)
    keys = {spec.key(p) for p in spec.points}
    assert len(keys) == 5
    db = tmp_path / "sweep.sqlite"

    # 1. SIGKILL the sweep (parent and its worker) once a point is stored
    first = _sweep(spec_file, db, "--workers", "1")
    _wait_for_rows(first, db, 1)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    _no_process_left(first.pid)
    after_kill = _stored(db)
    assert 1 <= after_kill < 5

    # 2. Ctrl-C (SIGINT to the parent): exit 130, stored points kept, workers ended
    second = _sweep(spec_file, db, "--workers", "1")
    _wait_for_rows(second, db, after_kill + 1)
    os.killpg(second.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole group
    out, err = second.communicate(timeout=60)
    assert second.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    summary = json.loads(out)
    assert summary["interrupted"] and summary["already_stored"] == after_kill
    _no_process_left(second.pid)
    after_stop = _stored(db)
    assert after_stop == after_kill + summary["ran"] and after_stop < 5

    # 3. resume: only the missing points run; every point stored exactly once
    third = _sweep(spec_file, db, "--workers", "2")
    out, err = third.communicate(timeout=300)
    summary = json.loads(out)
    assert third.returncode == (1 if summary["failed"] else 0), err  # 1: a point failed
    assert summary["already_stored"] == after_stop
    assert summary["ran"] == 5 - after_stop
    with sqlite3.connect(db) as con:
        stored = con.execute("SELECT key, status, error FROM points").fetchall()
    assert len(stored) == 5 and {k for k, _, _ in stored} == keys
    broken = spec.key(spec.points[-1])
    failed = [(k, e) for k, s, e in stored if s == "error"]
    assert [k for k, _ in failed] == [broken] and failed[0][1].startswith("ptq: "), failed
    assert sum(s == "ok" for _, s, _ in stored) == 4

    # `sqhw results` prints every point
    shown = subprocess.run([sys.executable, "-m", "sqhw", "results", "--db", str(db), "--json"],
                           capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert shown.returncode == 0
    assert sorted(r["key"] for r in json.loads(shown.stdout)) == sorted(keys)
