"""The report's inputs, read and checked before anything is computed or written.

    load_ptq(path)     a `sqhw ptq -o DIR` results.json (or DIR itself) -> its rows, each with
                       the study's model, metric and FP32 score
    load_build(path)   a `sqhw build -o DIR` folder (or its report.json) -> report.json
    load_bench(path)   a `sqhw bench --json` file -> its content
    load_sweep(path)   a `sqhw sweep` SQLite store -> (its PTQ rows, its build reports)

Every problem is a `ReportInputError` naming the path and the key: one line, nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["ReportInputError", "check_build", "load_bench", "load_build", "load_ptq",
           "load_sweep", "ptq_rows"]

PTQ_KEYS = ("model", "metric", "fp32", "rows")
ROW_KEYS = ("engine", "format", "sparsity", "score")
BUILD_KEYS = ("board", "clock_mhz", "design", "resources", "roofline")
DESIGN_KEYS = ("weight", "act", "nm", "lanes", "chain", "multipliers", "latency")


class ReportInputError(ValueError):
    """A report input that cannot be used; the message names the path and key."""


def _json(path: Path, what: str):
    if not path.is_file():
        raise ReportInputError(f"{path}: no such {what}")
    try:
        return json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ReportInputError(f"{path}: not a text file (expected {what} JSON)") from None
    except json.JSONDecodeError as err:
        raise ReportInputError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None


def _need(data, keys, path, where: str = "") -> None:
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: {where or 'top level'}: expected a JSON object, got "
                               f"{type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ReportInputError(f"{path}: {where + ': ' if where else ''}missing key "
                               f"{', '.join(map(repr, missing))}")


def ptq_rows(result: dict, source: str = "results.json") -> list[dict]:
    """A study's rows flattened, each with model, metric, fp32 and peer (every engine but
    sqhw's is a peer); checks the keys the report reads."""
    _need(result, PTQ_KEYS, source)
    if not isinstance(result["rows"], list):
        raise ReportInputError(f"{source}: rows: expected a list, got "
                               f"{type(result['rows']).__name__}")
    rows = []
    for i, row in enumerate(result["rows"]):
        _need(row, ROW_KEYS, source, f"rows[{i}]")
        score = row["score"]
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise ReportInputError(f"{source}: rows[{i}].score: expected a number or null, got "
                                   f"{score!r}")
        rows.append({**row, "model": result["model"], "metric": result["metric"],
                     "fp32": result["fp32"], "peer": row["engine"] != "sqhw",
                     "layers": result.get("layers")})
    return rows


def load_ptq(path) -> list[dict]:
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    return ptq_rows(_json(path, "PTQ results file (sqhw ptq -o DIR writes DIR/results.json)"),
                    str(path))


def load_build(path) -> dict:
    path = Path(path)
    file = path / "report.json" if path.is_dir() or not path.suffix else path
    if path.is_dir() and not file.is_file():
        raise ReportInputError(f"{path}: no report.json in this folder (is it a `sqhw build "
                               "-o` folder?)")
    report = _json(file, "build report (sqhw build -o DIR writes DIR/report.json)")
    return check_build(report, str(file))


def check_build(report, source: str) -> dict:
    """A build report (report.json's content) with the keys the report reads, tagged with
    where it came from."""
    _need(report, BUILD_KEYS, source)
    _need(report["design"], DESIGN_KEYS, source, "design")
    _need(report["roofline"], ("peak_macs_per_s", "multipliers"), source, "roofline")
    return {**report, "source": source}


def load_sweep(path) -> tuple[list[dict], list[dict]]:
    """(PTQ rows, build reports) of a `sqhw sweep` store: each PTQ row once, every build of
    a point that built (a board may appear with several designs)."""
    from ..sweep.store import Store, StoreError

    try:
        store = Store(path, create=False)
    except StoreError as err:
        raise ReportInputError(str(err)) from None
    try:
        rows = [row for i, result in enumerate(store.ptq_results())
                for row in ptq_rows(result, f"{path} (PTQ result {i})")]
        builds = [check_build(build, f"{path} (build {i})")
                  for i, build in enumerate(store.build_reports())]
    finally:
        store.close()
    return rows, builds


def load_bench(path) -> dict:
    """A `sqhw bench --json` file (CPU rows, and GPU rows under "gpu" where it ran on one),
    or a `sqhw bench --gpu-only --json` file (GPU rows only)."""
    path = Path(path)
    bench = _json(path, "benchmark file (sqhw bench --json > FILE)")
    if not (isinstance(bench, dict) and set(bench) == {"gpu"}):  # not a --gpu-only file
        _rows(bench, path, "matmul", ("impl", "w", "shape", "dense_macs_per_s"))
    gpu = bench.get("gpu")
    if gpu is not None and "skipped" not in gpu:
        _need(gpu, ("machine",), path, "gpu")
        _need(gpu["machine"], ("gpu",), path, "gpu: machine")
        _rows(gpu, path, "matmul", ("impl", "shape", "pattern"), "gpu: ")
    return bench


def _rows(data, path, key: str, keys, where: str = "") -> None:
    _need(data, (key,), path, where.rstrip(": "))
    if not isinstance(data[key], list):
        raise ReportInputError(f"{path}: {where}{key}: expected a list of rows")
    for i, row in enumerate(data[key]):
        _need(row, keys, path, f"{where}{key}[{i}]")
