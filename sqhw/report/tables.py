"""The report's tables as (title, headers, rows of strings): the same cells on the terminal
(`text`) and in report.html, so every row printed is a row of the page."""

from __future__ import annotations

__all__ = ["tables", "text"]


def _n(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _rate(value) -> str:
    return "-" if value is None else f"{value / 1e9:,.3g}"


def tables(report: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    out = []
    acc = report["accuracy"]
    out.append(("Accuracy and cost per MAC (LUT/FF/DSP of the format's MAC unit, Yosys xcup; "
                "per dense-equivalent MAC: (MAC + index mux) x n/m; * = Pareto front)",
                ["model", "engine", "format", "sparsity", "algo", "score", "FP32", "LUT/MAC",
                 "FF/MAC", "DSP/MAC", "LUT/dense MAC", "pareto"],
                [[r["model"], r["engine"] + (" (peer)" if r["peer"] else ""), r["format"],
                  r["sparsity"], _n(r["algo"]),
                  _n(r["score"]) if r["score"] is not None else (r.get("status") or "-"),
                  _n(r["fp32"]), _n(r["lut_per_mac"]), _n(r["ff_per_mac"]),
                  _n(r["dsp_per_mac"]), _n(r["lut_per_dense_mac"]),
                  "*" if r["pareto"] else ""] for r in acc]))
    if report["boards"]:
        out.append(("Board builds (chain resources, the layer's ideal cycles, roofline; GMAC/s "
                    "dense-equivalent)",
                    ["board", "design", "LUT", "FF", "DSP", "fits", "clock MHz",
                     "Fmax MHz", "layer", "cycles", "latency us", "model cycles", "peak GMAC/s",
                     "memory GMAC/s", "bound"],
                    [[b["board"], f"{b['design']['lanes']}x{b['design']['chain']} "
                      f"{b['design']['weight']}x{b['design']['act']} {b['design']['nm']}",
                      _n(b["resources"].get("lut")), _n(b["resources"].get("ff")),
                      _n(b["resources"].get("dsp")), _n(b["fits"]), _n(b["clock_mhz"]),
                      _n(b["fmax_mhz"]) if b["fmax_mhz"] is not None else "- (not placed)",
                      (f"{b['layer']['rows']}x{b['layer']['k']}x{b['layer']['cols']}"
                       if b["layer"] else "-"), _n(b["layer_cycles"]),
                      _n(None if b["layer_seconds"] is None else b["layer_seconds"] * 1e6),
                      (f"{b['model_cycles']} ({b['model']})" if b["model_cycles"] else "-"),
                      _rate(b["peak_macs_per_s"]), _rate(b["memory_bound_macs_per_s"]),
                      _n(b["bound"])] for b in report["boards"]]))
    if report["throughput"]:
        out.append(("Accuracy vs dense-equivalent throughput per board (as built: the build's "
                    "chain runs this format and pattern)",
                    ["board", "model", "format", "sparsity", "score", "x m/n", "peak GMAC/s",
                     "memory GMAC/s", "attainable GMAC/s", "as built"],
                    [[t["board"], t["model"], t["format"], t["sparsity"], _n(t["score"]),
                      _n(t["dense_per_multiply"]), _rate(t["peak_macs_per_s"]),
                      _rate(t["memory_bound_macs_per_s"]), _rate(t["attainable_macs_per_s"]),
                      "yes" if t["as_built"] else "no"] for t in report["throughput"]]))
    if report["baselines"]:
        out.append(("Baselines (sqhw bench; dense-equivalent)", ["implementation", "format",
                                                                 "shape", "GMAC/s", "where"],
                    [[b["impl"], b["format"], b["shape"], _rate(b["macs_per_s"]), b["where"]]
                     for b in report["baselines"]]))
    return out


def text(report: dict) -> str:
    from ..cli import _table

    parts = []
    for title, headers, rows in tables(report):
        parts += [title, _table(headers, rows, left=(0, 1, 2, 3)), ""]
    return "\n".join(parts).rstrip()
