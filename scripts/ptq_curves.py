"""The seed paper's figure (FPL 2024, "PTQ with low-precision minifloats and integers on
FPGAs"): accuracy of integer vs minifloat formats from 3 to 8 bits, W{b}A{b}, dense and 2:4,
on the study's models. Writes docs/ptq_curves.png and docs/ptq_curves.md (the table it was
drawn from). Rows come from `sqhw.ptq.study.run`, so they are cached like `sqhw ptq` rows.

    .venv/bin/python scripts/ptq_curves.py [--models digits,mnist1d,...] [--engine emulate]

Minifloats are the eXmY design space (IEEE bias, subnormals, saturating); each bit width
shows its best split. Element formats: weights per output channel, activations per tensor,
min-max. 2:4 rows use the SR-STE fine-tune where the model has training data (digits,
mnist1d) and one-shot magnitude pruning otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import table as markdown_table  # noqa: E402

BITS = range(3, 9)


def formats_for(model: str) -> dict[int, list[str]]:
    from sqhw.formats import design_space

    wide = model in ("digits", "mnist1d")  # small models: every split; big ones: e2..e4
    out = {}
    for b in BITS:
        splits = [f.name for f in design_space(b, b) if wide or 2 <= f.exp_bits <= 4]
        out[b] = [f"int{b}"] + splits
    return out


def run(models, engine, out_dir: Path) -> list[dict]:
    from sqhw.paths import cache_dir
    from sqhw.ptq import study
    from sqhw.sparsity import NM

    rows = []
    for model in models:
        per_bits = formats_for(model)
        names = [n for b in BITS for n in per_bits[b]]
        algo = ("srste",) if model in ("digits", "mnist1d") else ()
        print(f"{model}: {len(names)} formats x dense, 2:4", file=sys.stderr, flush=True)
        result = study.run(model, names, NM(2, 4), algorithms=algo, engine=engine,
                           cache_dir=cache_dir("ptq"))
        for r in result["rows"]:
            name = r["format"]
            bits = next(b for b in BITS if name in per_bits[b])
            rows.append({"model": model, "metric": result["metric"], "fp32": result["fp32"],
                         "bits": bits, "format": name,
                         "kind": "integer" if name.startswith("int") else "minifloat",
                         "sparsity": r["sparsity"], "score": r.get("score")})
    return rows


def best(rows, model, kind, sparsity, bits):
    scores = [(r["score"], r["format"]) for r in rows if r["model"] == model and
              r["kind"] == kind and r["sparsity"] == sparsity and r["bits"] == bits
              and r["score"] is not None]
    return max(scores) if scores else (None, None)


def plot(rows, models, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        fp32 = next(r["fp32"] for r in rows if r["model"] == model)
        metric = next(r["metric"] for r in rows if r["model"] == model)
        for kind, color in (("integer", "tab:blue"), ("minifloat", "tab:orange")):
            for sparsity, style in (("dense", "-"), ("2:4", "--")):
                ys = [best(rows, model, kind, sparsity, b)[0] for b in BITS]
                ax.plot(list(BITS), ys, style, marker="o", color=color,
                        label=f"{kind} {sparsity}")
        ax.axhline(fp32, color="grey", lw=0.8, ls=":", label="FP32")
        ax.set_title(model)
        ax.set_xlabel("bits (weights and activations)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(rows, models) -> str:
    lines = []
    for model in models:
        fp32 = next(r["fp32"] for r in rows if r["model"] == model)
        body = []
        for b in BITS:
            cells = [str(b)]
            for kind in ("integer", "minifloat"):
                for sparsity in ("dense", "2:4"):
                    score, name = best(rows, model, kind, sparsity, b)
                    cells.append("-" if score is None else f"{score:.4f} ({name})")
            body.append(cells)
        lines.append(f"**{model}** (FP32 {fp32:.4f})\n")
        lines.append(markdown_table(["bits", "integer dense", "integer 2:4",
                                     "best minifloat dense", "best minifloat 2:4"], body))
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="digits,mnist1d,efficientnet_lite0,minilm")
    parser.add_argument("--engine", default="emulate", choices=["emulate", "exact"])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs"))
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = run(models, args.engine, out)
    plot(rows, models, out / "ptq_curves.png")
    from sqhw.paths import write_text

    write_text(out / "ptq_curves.md", f"Engine: {args.engine}. Best split per bit width; "
               "score = the model's metric.\n\n" + table(rows, models))
    print(f"wrote {out / 'ptq_curves.png'} and {out / 'ptq_curves.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
