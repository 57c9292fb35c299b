"""The join: PTQ rows (accuracy per model, format, sparsity; peers marked) beside what the
format costs per MAC, what each board build gives (resources, cycles, roofline, Fmax), and the
CPU baseline figures. Plain lists of dicts in, plain dicts out (report.json), so rows from a
results.json, a build folder or a sweep database join the same way.

    join(ptq_rows, builds, bench, costs) -> {"accuracy", "boards", "throughput", "baselines"}

accuracy rows: lut / ff / carry / dsp per MAC (the format's MAC unit) and, per
dense-equivalent MAC, (MAC + the chain stage's index mux) x n / m for an N:M row (one kept
weight stands for m / n weights of the dense layer), the MAC alone for a dense row; `pareto`
marks the sqhw rows no other sqhw row of the same model beats on both accuracy and LUTs.
throughput rows: every sqhw row on every board: the build's multipliers at the board clock,
x m / n of the row's pattern (dense runs as m:m of the build's M), the memory-bound rate of
the build's layer for the row's formats and pattern (sqhw.hw.roofline); `as_built` says
whether the build's chain runs that format and pattern (otherwise: a chain of the same
multiplier count in the row's format, which was not built).
"""

from __future__ import annotations

from types import SimpleNamespace

from ..hw.roofline import ideal_cycles
from .cost import COUNTS, CostTable, cost_key, mux_key

__all__ = ["cost_keys", "join", "pareto_front"]


def _format(name):
    from ..formats import parse

    try:
        return parse(name)
    except (ValueError, TypeError):
        return None


def _pattern(sparsity) -> tuple[int, int] | None:
    """(n, m) of an 'n:m' sparsity, None for dense (or anything else)."""
    if not isinstance(sparsity, str) or ":" not in sparsity:
        return None
    n, _, m = sparsity.partition(":")
    try:
        return int(n), int(m)
    except ValueError:
        return None


def cost_keys(ptq_rows) -> list[str]:
    """The cost-table keys the rows need (formats sqhw can parse; rows that ran)."""
    keys = []
    for row in ptq_rows:
        fmt = _format(row["format"])
        if fmt is None or row.get("score") is None:
            continue
        keys.append(cost_key(fmt.name))
        nm = _pattern(row["sparsity"])
        if nm is not None:
            keys.append(mux_key(fmt.name, nm[1]))
    return list(dict.fromkeys(keys))


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For (cost, score) points: True where no other point costs no more and scores no less,
    being better in one of the two."""
    return [not any(c2 <= c and s2 >= s and (c2 < c or s2 > s) for c2, s2 in points)
            for c, s in points]


def _accuracy_rows(ptq_rows, costs: CostTable) -> list[dict]:
    rows = []
    for row in ptq_rows:
        fmt = _format(row["format"])
        out = {k: row.get(k) for k in ("model", "metric", "engine", "peer", "format",
                                       "sparsity", "algo", "status", "score", "fp32")}
        out["format"] = fmt.name if fmt is not None else row["format"]
        mac = costs.get(cost_key(fmt.name)) if fmt is not None and row["score"] is not None \
            else None
        for c in COUNTS:
            out[f"{c}_per_mac"] = None if mac is None else mac[c]
        nm = _pattern(row["sparsity"])
        out["dense_per_multiply"] = 1.0 if nm is None else nm[1] / nm[0]
        dense_lut = None
        if mac is not None and mac["lut"] is not None:
            if nm is None:
                dense_lut = mac["lut"]
            else:
                mux = costs.get(mux_key(fmt.name, nm[1]))
                if mux is not None and mux["lut"] is not None:
                    out["mux_lut_per_stage"] = mux["lut"]
                    dense_lut = (mac["lut"] + mux["lut"]) * nm[0] / nm[1]
        out["lut_per_dense_mac"] = dense_lut
        rows.append(out)
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model and not r["peer"]
                and r["score"] is not None and r["lut_per_dense_mac"] is not None]
        for r, front in zip(mine, pareto_front([(r["lut_per_dense_mac"], r["score"])
                                                for r in mine])):
            r["pareto"] = front
    for r in rows:
        r.setdefault("pareto", False)
    return rows


def _board(build: dict) -> dict:
    design, roof = build["design"], build["roofline"]
    layer = roof.get("layer") or {}
    n, m = _pattern(design["nm"]) or (1, 1)
    cycles = None
    if layer:  # the ideal schedule: every multiplier busy on a kept weight, plus the fill
        cycles = ideal_cycles(roof["multipliers"], n, m, layer["rows"], layer["k"],
                              layer["cols"], design["latency"])
    clock = build["clock_mhz"]
    return {"board": build["board"], "part": build.get("part"), "family": build.get("family"),
            "toolchain": build.get("toolchain"), "clock_mhz": clock,
            "design": {k: design.get(k) for k in ("weight", "act", "out", "nm", "lanes",
                                                  "chain", "multipliers", "latency",
                                                  "runtime_patterns")},
            "resources": build["resources"], "fits": build.get("fits"),
            "overflow": build.get("overflow", []),
            "fmax_mhz": build.get("fmax_mhz"), "timing_met": build.get("timing_met"),
            "peak_macs_per_s": roof["peak_macs_per_s"],
            "memory_bound_macs_per_s": roof.get("memory_bound_macs_per_s"),
            "bound": roof.get("bound"), "memory": roof.get("memory"), "layer": layer,
            "layer_cycles": cycles,
            # from_ptq builds: every layer of the model, one after the other
            "model": (build["design"].get("ptq") or {}).get("model"),
            "model_cycles": (sum(l["cycles"] for l in build["layers"])
                             if build.get("layers") else None),
            "layer_seconds": None if cycles is None else cycles / (clock * 1e6),
            "source": build.get("source")}


def _throughput(row: dict, build: dict, board_obj) -> dict:
    from ..hw.roofline import roofline

    design = build["design"]
    built_n, built_m = _pattern(design["nm"]) or (1, 1)
    nm = _pattern(row["sparsity"])
    n, m = (built_m, built_m) if nm is None else nm
    pattern = f"{n}:{m}"
    fmt = _format(row["format"])
    as_built = (fmt is not None and fmt.name == design["weight"] == design["act"]
                and pattern in (design.get("runtime_patterns") or [design["nm"]]))
    layer = build["roofline"].get("layer") or {}
    peak = build["roofline"]["multipliers"] * build["clock_mhz"] * 1e6 * m / n
    memory_bound = None
    if board_obj is not None and layer and fmt is not None:
        shape = SimpleNamespace(n=n, m=m, nm=pattern, multipliers=build["roofline"]["multipliers"],
                                weight=fmt.name, act=fmt.name, out=design.get("out") or "int8",
                                rows=layer["rows"], k=layer["k"], cols=layer["cols"],
                                clock_mhz=lambda _board: build["clock_mhz"])
        memory_bound = roofline(shape, board_obj)["memory_bound_macs_per_s"]
    attainable = peak if memory_bound is None else min(peak, memory_bound)
    return {"model": row["model"], "engine": row["engine"], "format": row["format"],
            "sparsity": row["sparsity"], "score": row["score"], "board": build["board"],
            "pattern": pattern, "dense_per_multiply": m / n, "peak_macs_per_s": peak,
            "memory_bound_macs_per_s": memory_bound, "attainable_macs_per_s": attainable,
            "bound": "compute" if memory_bound is None or peak <= memory_bound else "memory",
            "as_built": as_built}


def _load_board(name):
    from ..hw.boards import BoardError, load_board

    try:
        return load_board(name)
    except (BoardError, ValueError, OSError):
        return None  # a board file no longer at hand: the peak alone


def _baselines(bench: dict | None) -> list[dict]:
    """The bench file's matmul rows, CPU then GPU, as dense-equivalent MAC/s (an N:M row
    counts the MACs of the dense shape, as the chain's figures do)."""
    if not bench:
        return []
    machine = bench.get("machine", {})
    where = f"CPU: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
    rows = [{"impl": r["impl"], "format": r["w"], "shape": r["shape"],
             "macs_per_s": r["dense_macs_per_s"], "where": where}
            for r in bench.get("matmul") or []]
    rows += [{"impl": r["impl"], "format": r["format"], "shape": r["shape"],
              "macs_per_s": r["macs_per_s"], "where": where}
             for r in bench.get("exact_linear") or []]
    gpu = bench.get("gpu") or {}
    if "matmul" in gpu:
        where = f"GPU: {gpu['machine']['gpu']}"
        rows += [{"impl": r["impl"], "shape": r["shape"], "where": where,
                  "format": "int8" if r["pattern"] == "dense" else f"int8 {r['pattern']}",
                  "macs_per_s": r["dense_ops_per_s"] / 2}  # 2 ops (multiply, add) per MAC
                 for r in gpu["matmul"] if "dense_ops_per_s" in r]  # rows that ran
    return rows


def join(ptq_rows: list[dict], builds: list[dict], bench: dict | None = None,
         costs: CostTable | None = None) -> dict:
    """The report's rows (see the module docstring). ptq_rows: rows as in results.json, each
    with its model, metric, fp32 and peer flag (sqhw.report.inputs.ptq_rows flattens a
    results.json); builds: report.json contents of `sqhw build`; bench: `sqhw bench --json`."""
    costs = costs if costs is not None else CostTable()
    boards = {b["board"]: _load_board(b["board"]) for b in builds}
    ran = [r for r in ptq_rows if not r["peer"] and r.get("score") is not None]
    return {"accuracy": _accuracy_rows(ptq_rows, costs),
            "boards": [_board(b) for b in builds],
            "throughput": [_throughput(r, b, boards[b["board"]]) for b in builds for r in ran],
            "baselines": _baselines(bench)}
