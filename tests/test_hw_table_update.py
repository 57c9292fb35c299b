"""scripts/hw_table.py: remeasured rows go into a saved run (--rows, --update) without
losing the flows they did not run, and a flow that failed is recorded as failed."""

import importlib
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def hw_table():
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module("hw_table")
    finally:
        sys.path.remove(str(SCRIPTS))


def _row(kind, label, fmax=None, lut=None, **extra):
    return {"operator": kind, "formats": label, "latency": 2, "ecp5_target_mhz": 150.0,
            "ecp5_latency": 3, "ecp5_estimated_mhz": None,
            "xcup": {"lut": lut, "ff": None, "carry": None, "dsp48e2": None},
            "xc7": {"lut": None, "dsp48e1": None, "dsp_cascade": None},
            "ecp5": {"fmax_mhz": fmax, "lut4": None, "ff": None, "mult18": None,
                     "critical_path": None}, **extra}


def test_update_replaces_the_flows_run_and_keeps_the_others(hw_table):
    rows = [(kind, label) for kind, label, _, _ in hw_table.ROWS]
    first, second, third = rows[0], rows[13], rows[16]
    saved = [_row(*first, fmax=200.0, lut=10), _row(*third, fmax=150.0, lut=30)]
    measured = [_row(*third, fmax=None, measured=["ecp5"], failed={"ecp5": "yosys failed"}),
                _row(*second, fmax=140.0, measured=["ecp5"])]
    out = hw_table.update(saved, measured)
    assert [(r["operator"], r["formats"]) for r in out] == [first, second, third]
    assert out[0] == saved[0]                                  # not remeasured: as saved
    assert out[2]["xcup"]["lut"] == 30                         # a flow not run: kept
    assert out[2]["ecp5"]["fmax_mhz"] is None                  # a flow that failed: empty
    assert out[2]["failed"] == {"ecp5": "yosys failed"}
    assert out[1]["ecp5"]["fmax_mhz"] == 140.0 and "failed" not in out[1]
    again = hw_table.update(out, [_row(*third, fmax=151.0, measured=["ecp5"])])
    assert again[2]["ecp5"]["fmax_mhz"] == 151.0 and "failed" not in again[2]
    assert "| failed |" in hw_table.markdown(out) and "| 151.0 |" in hw_table.markdown(again)


@pytest.mark.parametrize("argv,message", [
    (["--rows", "("], "--rows: not a regular expression"),
    (["--rows", "no such row"], "--rows: no row matches"),
    (["--update", "x.json"], "--update: goes with --json"),
    (["--dsp", "--rows", "chain"], "--rows / --update: the hardware table's")])
def test_bad_arguments_are_refused_before_any_tool_runs(hw_table, monkeypatch, capsys, argv,
                                                        message):
    monkeypatch.setattr(sys, "argv", ["hw_table.py", *argv])
    with pytest.raises(SystemExit) as stop:
        hw_table.main()
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
