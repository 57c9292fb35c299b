"""`sqhw report`: PTQ accuracy joined with hardware cost, as a terminal table, report.html,
PNG figures and report.json.

    >>> from sqhw.report import write_report          # doctest: +SKIP
    >>> report = write_report(ptq_rows, builds, bench, "out/report")  # doctest: +SKIP

ptq_rows: rows as in a `sqhw ptq` results.json, each with its model, metric, fp32 and peer flag
(`load_ptq(path)` reads one file into that shape); builds: `sqhw build` report.json contents
(`load_build(dir)`); bench: a `sqhw bench --json` result or None; costs: a `CostTable`
(default: Yosys synthesis of each format's MAC, cached in the user cache folder).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .. import __version__
from .cost import CostTable
from .inputs import ReportInputError, load_bench, load_build, load_ptq, ptq_rows
from .join import cost_keys, join, pareto_front

__all__ = ["REPORT_FILES", "CostTable", "ReportInputError", "check_output", "cost_keys",
           "join", "load_bench", "load_build", "load_ptq", "pareto_front", "ptq_rows",
           "write_report"]

REPORT_JSON, REPORT_HTML = "report.json", "report.html"
FIGURES = {"accuracy_vs_lut.png": "Accuracy vs LUTs per dense-equivalent MAC, per model",
           "accuracy_vs_throughput.png": "Accuracy vs dense-equivalent throughput, per board"}
REPORT_FILES = (REPORT_JSON, REPORT_HTML, *FIGURES)
NOTES = [
    "LUT/FF/CARRY/DSP per MAC: Yosys synth_xilinx -family xcup of the format's MAC unit "
    "(sqhw.hdl DotProduct, exact accumulator for 1024 terms; MX / NVFP4: the block dot, one "
    "element pair per cycle), 2 pipeline stages. Per dense-equivalent MAC, an N:M row adds the "
    "chain stage's index mux and divides by m / n.",
    "Board figures come from `sqhw build`: AMD parts are Yosys estimates (placement, timing and "
    "bitstreams need Vivado, not available here, so they have no Fmax); ECP5 / iCE40 builds "
    "are placed and routed by nextpnr (Fmax measured).",
    "Throughput is dense-equivalent: a multiplier working on kept N:M weights stands for m / n "
    "dense MACs. Cycles are the chain's ideal schedule (kept weights / multipliers + pipeline "
    "fill), which the chain reached within 2% in simulation (README, N:M chain figures).",
    "Memory-bound rates count MX / NVFP4 weights at their element width (block scales left "
    "out).",
]


class ReportOutputError(ValueError):
    """An -o the report must not write into; the message names it."""


def check_output(out, force: bool) -> Path:
    """-o: new, empty, or (with force) a previous report's folder; refused otherwise."""
    out = Path(out)
    if not str(out).strip():
        raise ReportOutputError("-o: expected a folder name, got an empty string")
    if out.exists() and not out.is_dir():
        raise ReportOutputError(f"-o {out}: is a file, expected a folder (new or empty)")
    if out.is_dir():
        entries = sorted(p.name for p in out.iterdir())
        if entries and not force:
            raise ReportOutputError(f"-o {out}: not empty ({', '.join(entries[:3])}"
                                    f"{', ...' if len(entries) > 3 else ''}); pass --force to "
                                    "replace a previous report's files there")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ReportOutputError(f"-o {out}: the folder is not writable")
        return out
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ReportOutputError(f"-o {out}: cannot be created ({parent} is not a writable "
                                "folder)")
    return out


def write_report(ptq: list[dict], builds: list[dict], bench: dict | None, out_dir,
                 costs: CostTable | None = None, inputs: list[str] = ()) -> dict:
    """Join, draw and write report.json, report.html and the PNGs into out_dir (all or
    nothing: written in a temporary folder, then renamed); returns report.json's content."""
    from .html import page
    from .plots import accuracy_vs_cost, accuracy_vs_throughput

    if not ptq:
        raise ReportInputError("no PTQ rows to report")
    report = {"generator": f"sqhw {__version__}", "inputs": list(inputs),
              **join(ptq, builds, bench, costs), "files": list(REPORT_FILES), "notes": NOTES}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        tmp = Path(tmp)
        drawn = {"accuracy_vs_lut.png": accuracy_vs_cost(report["accuracy"],
                                                         tmp / "accuracy_vs_lut.png"),
                 "accuracy_vs_throughput.png": accuracy_vs_throughput(
                     report["throughput"], tmp / "accuracy_vs_throughput.png",
                     report["baselines"])}
        report["figures"] = {name: {"title": FIGURES[name], "points": count}
                             for name, count in drawn.items() if count}
        report["files"] = [REPORT_JSON, REPORT_HTML, *report["figures"]]
        (tmp / REPORT_HTML).write_text(page(report, {FIGURES[n]: tmp / n
                                                     for n in report["figures"]}, NOTES))
        (tmp / REPORT_JSON).write_text(json.dumps(report, indent=1) + "\n")
        for name in REPORT_FILES:  # a figure with nothing to draw leaves no stale PNG
            if name not in report["files"]:
                (out / name).unlink(missing_ok=True)
        for name in report["files"]:
            os.replace(tmp / name, out / name)
    return report
