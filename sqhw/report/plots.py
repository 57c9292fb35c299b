"""The report's two figures, drawn with matplotlib's Agg backend (no display needed).

    accuracy_vs_cost(rows, path)         one panel per model: accuracy vs LUTs per
                                         dense-equivalent MAC, Pareto front marked
    accuracy_vs_throughput(rows, path)   one panel per board: accuracy vs dense-equivalent
                                         MAC/s (N:M raises it by m / n)
Each returns the number of points it drew (a figure of nothing is refused by the caller).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["accuracy_vs_cost", "accuracy_vs_throughput"]

MARKERS = {"dense": "o"}  # N:M rows: "^"
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
          "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(plt, count: int, title: str):
    cols = min(count, 2)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.6 * rows), squeeze=False)
    fig.suptitle(title)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _label(ax, labelled: dict) -> None:
    """One label per point, the rows drawn there joined (several formats often coincide)."""
    for (x, y), names in labelled.items():
        ax.annotate(", ".join(names), (x, y), fontsize=6, xytext=(4, 3),
                    textcoords="offset points")


def _short(value: float) -> str:
    """1500 -> '1.5k', 2e9 -> '2G': tick labels that stay short on a log axis."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _log_x(ax, label: str) -> None:
    """A log x axis labelled at 1, 2 and 5 of every decade (every tick when the range is
    inside one decade), so neither a narrow nor a wide range is left unlabelled or crowded."""
    import math

    from matplotlib.ticker import FuncFormatter

    def label_at(value, _position):
        if value <= 0:
            return ""
        lead = round(value / 10 ** math.floor(math.log10(value) + 1e-9), 6)
        low, high = ax.get_xlim()
        narrow = low > 0 and high / low < 10  # inside one decade: label every tick
        return _short(value) if narrow or lead in (1, 2, 5) else ""

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(label_at))
    ax.xaxis.set_minor_formatter(FuncFormatter(label_at))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(label)


def _save(fig, plt, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def accuracy_vs_cost(rows: list[dict], path: Path) -> int:
    plt = _pyplot()
    shown = [r for r in rows if r["score"] is not None and r["lut_per_dense_mac"] is not None]
    models = list(dict.fromkeys(r["model"] for r in shown))
    if not models:
        return 0
    fig, axes = _panels(plt, len(models), "Accuracy vs LUTs per dense-equivalent MAC "
                        "(Yosys synth_xilinx -family xcup)")
    drawn = 0
    for ax, model in zip(axes, models):
        mine = [r for r in shown if r["model"] == model]
        formats = list(dict.fromkeys(r["format"] for r in mine))
        labelled: dict = {}
        for r in mine:
            x = max(r["lut_per_dense_mac"], 0.5)  # a DSP-only MAC has no LUTs; log axis
            color = COLORS[formats.index(r["format"]) % len(COLORS)]
            if r["peer"]:
                ax.scatter(x, r["score"], marker="x", color=color, s=40, alpha=0.7)
            else:
                ax.scatter(x, r["score"], marker=MARKERS.get(r["sparsity"], "^"), color=color,
                           s=45, edgecolors="black" if r["pareto"] else "none", linewidths=1.2)
                labelled.setdefault((x, r["score"]), []).append(f"{r['format']} "
                                                                 f"{r['sparsity']}")
            drawn += 1
        front = sorted((max(r["lut_per_dense_mac"], 0.5), r["score"]) for r in mine
                       if r["pareto"])
        if front:
            ax.step(*zip(*front), where="post", color="black", linewidth=1, linestyle="--",
                    label="Pareto front (sqhw rows)")
        fp32 = mine[0]["fp32"]
        if fp32 is not None:
            ax.axhline(fp32, color="gray", linewidth=0.8, linestyle=":", label="FP32")
        ax.scatter([], [], marker="o", color="gray", label="sqhw dense")
        ax.scatter([], [], marker="^", color="gray", label="sqhw N:M")
        if any(r["peer"] for r in mine):
            ax.scatter([], [], marker="x", color="gray", label="peer (same format's cost)")
        _label(ax, labelled)
        _log_x(ax, "LUTs per dense-equivalent MAC (log)")
        ax.set_ylabel(mine[0]["metric"] or "score")
        ax.set_title(model)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    _save(fig, plt, path)
    return drawn


def accuracy_vs_throughput(rows: list[dict], path: Path, baselines: list[dict] = ()) -> int:
    plt = _pyplot()
    boards = list(dict.fromkeys(r["board"] for r in rows))
    if not boards:
        return 0
    fig, axes = _panels(plt, len(boards), "Accuracy vs attainable dense-equivalent MAC/s "
                        "(roofline of the build's layer)")
    models = list(dict.fromkeys(r["model"] for r in rows))
    drawn = 0
    for ax, board in zip(axes, boards):
        labelled: dict = {}
        for r in (r for r in rows if r["board"] == board):
            color = COLORS[models.index(r["model"]) % len(COLORS)]
            ax.scatter(r["attainable_macs_per_s"], r["score"],
                       marker=MARKERS.get(r["sparsity"], "^"), s=45,
                       color=color if r["as_built"] else "none", edgecolors=color)
            labelled.setdefault((r["attainable_macs_per_s"], r["score"]), []).append(
                f"{r['format']} {r['sparsity']}")
            drawn += 1
        for model in models:
            ax.scatter([], [], color=COLORS[models.index(model) % len(COLORS)], label=model)
        ax.scatter([], [], marker="o", color="none", edgecolors="gray",
                   label="hollow: same multipliers, format not built")
        for i, b in enumerate(baselines[:3]):
            ax.axvline(b["macs_per_s"], color="gray", linewidth=0.8,
                       linestyle=("--", "-.", ":")[i],
                       label=f"{b['where'].split(':')[0]} {b['impl']} {b['format']} "
                             f"{b['shape']}")
        _label(ax, labelled)
        _log_x(ax, "dense-equivalent MAC/s (log)")
        ax.set_ylabel("score")
        ax.set_title(board)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower left")
    _save(fig, plt, path)
    return drawn
