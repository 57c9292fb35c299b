"""`sqhw demo` (what `make demo` runs): the whole flow on a small default, into one folder.

    formats and tour   every preset format, and its quantization error on real data
    ptq                the digits and mnist1d models: int8, int4, float8_e4m3fn, float4_e2m1fn,
                       dense and 2:4, sqhw's exact engine beside ONNX Runtime
    build              alveo_u280 (Yosys counts, the Vitis kernel deliverables) and ulx3s_85f
                       (Yosys + nextpnr-ecp5 + ecppack: a bitstream), each from the digits
                       int8 2:4 row (design.yaml from_ptq), sized down (DEMO_BOARDS)
    bench              `sqhw bench --quick`: the CPU baseline figures
    report             `sqhw report` over all of it: DIR/report/report.html

Trained models, PTQ rows, Yosys counts and cost-per-MAC synthesis are cached in the user cache
folder, so a second demo reruns in a fraction of the time. A step that fails (a tool, a peer)
is reported and the rest goes on; what was computed is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

MODELS = ("digits", "mnist1d")
FORMATS = ("int8", "int4", "float8_e4m3fn", "float4_e2m1fn")
SPARSITY = "2:4"
PEERS = ("onnxruntime",)
DESIGN_ROW = {"model": "digits", "format": "int8", "sparsity": "2:4"}
# The demo's designs, sized down from the default (half the board's DSPs) so that the demo
# stays within minutes: the U280's 564 x 8 array takes minutes to generate and wrap, and the
# ULX3S' 9 x 8 spends 5-7 minutes in nextpnr. `sqhw build --board B` builds the default.
DEMO_BOARDS = {"alveo_u280": {"lanes": 16, "chain": 8}, "ulx3s_85f": {"lanes": 1, "chain": 8}}
MARKER = ".sqhw-demo"  # marks a folder the demo wrote, which a later demo may write over
DEFAULT_OUTPUT = "sqhw-demo"


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the whole flow on the built-in default (PTQ, builds, "
                       "report)")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT,
                   help=f"demo folder (default ./{DEFAULT_OUTPUT}); new, empty, or a previous "
                   "demo's")
    p.add_argument("--no-tour", action="store_true", help="skip the formats table and the "
                   "quantization-error tour")
    p.set_defaults(func=cmd_demo)


def check_output(text: str) -> Path:
    """The demo folder: new, empty or one a previous demo wrote (it has MARKER)."""
    import os

    from .cli import CommandError

    out = Path(text)
    if not text.strip():
        raise CommandError("-o: expected a folder name, got an empty string")
    if out.exists() and not out.is_dir():
        raise CommandError(f"-o {out}: is a file, expected a folder")
    if out.is_dir():
        entries = sorted(p.name for p in out.iterdir())
        if entries and MARKER not in entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise CommandError(f"-o {out}: not empty and not a sqhw demo folder ({shown}); "
                               "pick a new folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise CommandError(f"-o {out}: the folder is not writable")
    else:
        parent = next((p for p in out.absolute().parents if p.exists()), None)
        if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise CommandError(f"-o {out}: cannot be created ({parent} is not a writable "
                               "folder)")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by sqhw demo; a later `sqhw demo -o` may replace what "
                              "is in this folder\n")
    return out


def _design_text(board: str, size: dict) -> str:
    return (f"# sqhw demo: the {DESIGN_ROW['model']} {DESIGN_ROW['format']} "
            f"{DESIGN_ROW['sparsity']} row of the PTQ study on {board}, sized down for the demo\n"
            + "".join(f"{key}: {value}\n" for key, value in size.items())
            + "from_ptq:\n"
            f"  results: ../ptq/{DESIGN_ROW['model']}/results.json\n"
            f"  model: {DESIGN_ROW['model']}\n"
            f"  format: {DESIGN_ROW['format']}\n"
            f"  sparsity: \"{DESIGN_ROW['sparsity']}\"\n")


def _step_ptq(out: Path, model: str) -> Path:
    from .cli_ptq import table
    from .paths import cache_dir, write_text
    from .ptq import study
    from .sparsity import NM

    folder = out / "ptq" / model
    folder.mkdir(parents=True, exist_ok=True)
    result = study.run(model, list(FORMATS), NM.parse(SPARSITY), peers=PEERS,
                       cache_dir=cache_dir("ptq"))
    text = table(result)
    write_text(folder / "results.json", json.dumps(result, indent=1))
    write_text(folder / "results.md", text + "\n")
    print(f"\n== PTQ: {model} (sqhw ptq --model {model} --formats {','.join(FORMATS)} "
          f"--sparsity {SPARSITY} --peers {','.join(PEERS)}) ==\n{text}")
    return folder / "results.json"


def _step_build(out: Path, board: str, size: dict) -> Path:
    from .hw.build import plan, run

    designs = out / "designs"
    designs.mkdir(parents=True, exist_ok=True)
    design = designs / f"{board}.yaml"
    design.write_text(_design_text(board, size))
    folder = out / "builds" / board
    report = run(plan(board, str(design), folder, force=True), progress=sys.stderr.isatty())
    met = "met" if report["timing_met"] else "NOT met"
    fmax = f", Fmax {report['fmax_mhz']:g} MHz (timing {met})" if report["fmax_mhz"] else ""
    print(f"\n== build {board}: {size['lanes']} x {size['chain']} multipliers (sized down for "
          f"the demo), {report['resources']['lut']} LUT, {report['resources']['dsp']} DSP"
          f"{fmax} -> {folder} ==")
    return folder


def cmd_demo(args) -> int:
    from tqdm import tqdm

    from .cli import CommandError, cmd_formats, cmd_tour
    from .cli_report import measure_costs

    out = check_output(args.output)
    started = time.perf_counter()
    if not args.no_tour:
        print("== sqhw formats ==")
        cmd_formats(argparse.Namespace(json=False))
        print("\n== quantization error on real data (sqhw tour) ==")
        cmd_tour(argparse.Namespace(json=False, formats=None))
    steps = ([f"ptq {m}" for m in MODELS] + [f"build {b}" for b in DEMO_BOARDS]
             + ["bench", "report"])
    bar = tqdm(steps, desc="sqhw demo", file=sys.stderr, disable=not sys.stderr.isatty(),
               bar_format="{desc}: step {n_fmt}/{total_fmt} [{elapsed}] {postfix}")
    results, builds, failed, bench = [], [], [], None
    seconds = {}
    for step in bar:
        bar.set_postfix_str(step)
        t0 = time.perf_counter()
        kind, _, name = step.partition(" ")
        try:
            if kind == "ptq":
                results.append(_step_ptq(out, name))
            elif kind == "build":
                if not results:
                    raise RuntimeError("no PTQ results to take the design from")
                builds.append(_step_build(out, name, DEMO_BOARDS[name]))
            elif kind == "bench":
                from .baselines import bench as bench_module

                bench = bench_module.run(quick=True)
                (out / "bench.json").write_text(json.dumps(bench, indent=1) + "\n")
            else:
                report = _report(out, results, builds, bench, measure_costs)
        except CommandError:
            raise
        except Exception as err:  # a tool or a peer failed: say so, keep what was computed
            failed.append(f"{step}: {type(err).__name__}: {' '.join(str(err).split())[:300]}")
            print(f"\nsqhw demo: {failed[-1]} (going on without it)", file=sys.stderr)
            if kind == "report":
                raise
        seconds[step] = round(time.perf_counter() - t0, 1)
    bar.close()
    from .report.tables import text

    print("\n== report (sqhw report) ==")
    print(text(report))
    (out / "demo.json").write_text(json.dumps(
        {"seconds": seconds, "total_seconds": round(time.perf_counter() - started, 1),
         "failed": failed, "sized_down": DEMO_BOARDS}, indent=1) + "\n")
    timing = ", ".join(f"{step} {value:g} s" for step, value in seconds.items())
    sizes = ", ".join(f"{board} {size['lanes']} x {size['chain']}"
                      for board, size in DEMO_BOARDS.items())
    print(f"\ndemo done in {time.perf_counter() - started:.0f} s ({timing}); the builds are "
          f"sized down for the demo ({sizes}; `sqhw build --board B` builds the board-sized "
          "default)")
    if failed:
        print(f"steps that failed: {'; '.join(failed)}")
    print(f"report: {out / 'report' / 'report.html'}")
    return 1 if failed else 0


def _report(out: Path, results, builds, bench, measure_costs) -> dict:
    from .report import CostTable, check_output, cost_keys, load_build, load_ptq, write_report

    rows = [row for path in results for row in load_ptq(path)]
    reports = [load_build(folder) for folder in builds]
    costs = CostTable()
    measure_costs(costs, cost_keys(rows), sys.stderr.isatty())
    folder = check_output(out / "report", force=True)
    inputs = [str(p) for p in results] + [str(b) for b in builds] + (
        [str(out / "bench.json")] if bench else [])
    return write_report(rows, reports, bench, folder, costs, inputs)
