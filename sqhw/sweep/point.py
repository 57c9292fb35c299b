"""One sweep point, run inside a worker (a pool process or a Ray task): the PTQ evaluation
of its (model, weight, act, sparsity) and the build of its (board, design) into the point's
folder. The worker only computes and writes the point's own folder; it returns the result
as a plain dict for the parent to store, and never raises (a failure is a result too).

The task a worker receives is plain data (see `task`): the point's axes, the shared PTQ and
design settings, and its folder, so it pickles the same way to a local process and to a Ray
node.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from pathlib import Path

from .. import __version__

__all__ = ["metrics", "run_point", "task"]


def task(spec, point, folder: Path) -> dict:
    """What a worker needs to run `point` of `spec`, as plain data (the design without the
    fields sqhw fills in, which a design file may not carry)."""
    from ..hw.design import FILLED_IN

    return {"key": spec.key(point), "config": point.config(),
            "model": spec.model_path(point), "ptq": spec.ptq.model_dump(),
            "design": spec.design_for(point).model_dump(mode="json", exclude=set(FILLED_IN),
                                                        exclude_unset=True)
            if point.board else None,
            "spec": spec.file, "folder": str(Path(folder).absolute() / spec.key(point)),
            "sqhw_version": __version__}


def run_point(job: dict) -> dict:
    """Run one point; returns the store's row (status 'ok' or 'error'), never raises."""
    started = time.time()
    folder = Path(job["folder"])
    config = job["config"]
    row = {"key": job["key"], "config": config, "spec": job["spec"], "folder": str(folder),
           "worker": f"{socket.gethostname()}:{os.getpid()}", "started": started,
           "ptq": None, "build": None, "status": "ok", "error": None, "traceback": None,
           "sqhw_version": __version__}
    seconds = {}
    errors = []
    try:
        if job["sqhw_version"] != __version__:  # a cluster node with another sqhw installed
            raise RuntimeError(f"this worker runs sqhw {__version__}, the sweep sqhw "
                               f"{job['sqhw_version']}: install the same sqhw on every node")
        folder.mkdir(parents=True, exist_ok=True)
        if job["model"] is not None:
            begin = time.perf_counter()
            try:
                row["ptq"] = _ptq(job, folder)
                failed = [r for r in row["ptq"]["rows"] if r.get("status", "ok") != "ok"]
                if failed:
                    errors.append(f"ptq: {failed[0].get('error', 'failed')}")
            except Exception as err:
                errors.append(f"ptq: {type(err).__name__}: {err}")
                row["traceback"] = traceback.format_exc()
            seconds["ptq"] = round(time.perf_counter() - begin, 2)
        if job["design"] is not None:
            begin = time.perf_counter()
            try:
                row["build"] = _build(job, folder)
            except Exception as err:
                errors.append(f"build: {type(err).__name__}: {err}")
                row["traceback"] = (row["traceback"] or "") + traceback.format_exc()
            seconds["build"] = round(time.perf_counter() - begin, 2)
    except Exception as err:  # the folder itself: nothing ran
        errors.append(f"{type(err).__name__}: {err}")
        row["traceback"] = traceback.format_exc()
    if errors:
        row["status"] = "error"
        row["error"] = " ".join("; ".join(errors).split())[:2000]
    row["finished"] = time.time()
    seconds["total"] = round(row["finished"] - started, 2)
    row["seconds"] = seconds
    row["metrics"] = metrics(config, row["ptq"], row["build"])
    return row


def _ptq(job: dict, folder: Path) -> dict:
    from ..paths import cache_dir, write_text
    from ..ptq import study
    from ..sparsity import NM

    config, ptq = job["config"], job["ptq"]
    result = study.run_point(
        job["model"], config["weight"], config["act"],
        None if config["sparsity"] == "dense" else NM.parse(config["sparsity"]),
        ptq["weights_only"], tuple(ptq["algo"]), ptq["engine"],
        cache_dir("ptq") if ptq["cache"] else None, ptq["calibration"], ptq["act_granularity"])
    write_text(folder / "results.json", json.dumps(result, indent=1))
    return result


def _build(job: dict, folder: Path) -> dict:
    import yaml

    from ..hw import build
    from ..paths import write_text

    design_file = folder / "design.yaml"
    write_text(design_file, "# the design of sweep point " + job["key"] + "\n" +
               yaml.safe_dump({k: v for k, v in job["design"].items() if v is not None},
                              sort_keys=False))
    # force: a point killed mid-build left a partial folder; the new build replaces it
    plan = build.plan(job["config"]["board"], str(design_file), folder / "build", force=True)
    return build.run(plan)


def metrics(config: dict, ptq: dict | None, report: dict | None) -> dict:
    """The headline numbers of a point, for tables and queries."""
    out = dict(config)
    if ptq:
        row = ptq["rows"][0]
        out.update(metric=ptq["metric"], fp32=ptq["fp32"], score=row.get("score"))
    if report:
        res = report.get("resources", {})
        roof = report.get("roofline", {})
        out.update({key: res.get(key) for key in ("lut", "ff", "dsp", "bram")},
                   clock_mhz=report.get("clock_mhz"), fmax_mhz=report.get("fmax_mhz"),
                   timing_met=report.get("timing_met"), fits=report.get("fits"),
                   peak_macs_per_s=roof.get("peak_macs_per_s"),
                   attainable_macs_per_s=roof.get("attainable_macs_per_s"))
    return out
