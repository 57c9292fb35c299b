"""`sqhw report`: PTQ results joined with board builds, cost per MAC and the CPU / GPU
baselines of `sqhw bench`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="accuracy beside hardware cost: table, report.html, PNGs, "
                       "report.json")
    p.add_argument("--ptq", nargs="+", default=[], metavar="RESULTS",
                   help="results.json files of `sqhw ptq -o DIR` (or the DIRs)")
    p.add_argument("--db", metavar="PATH", help="a `sqhw sweep` store: its PTQ rows and builds "
                   "(with or instead of --ptq / --builds)")
    p.add_argument("--builds", nargs="+", default=[], metavar="DIR",
                   help="`sqhw build -o DIR` folders (their report.json)")
    p.add_argument("--bench", metavar="BENCH.json", help="`sqhw bench --json` output (or "
                   "`--gpu-only --json`): the CPU / GPU baseline figures")
    p.add_argument("--costs", metavar="COSTS.json", help="a cost table {\"mac:FORMAT\": {lut, ff, "
                   "carry, dsp}, \"mux:FORMAT:M\": {...}} used instead of synthesising those keys")
    p.add_argument("--no-synth", action="store_true", help="never run Yosys: formats without a "
                   "given or cached cost have no cost columns")
    p.add_argument("-o", "--output", required=True, help="report folder (new or empty)")
    p.add_argument("--force", action="store_true", help="replace a previous report's files")
    p.add_argument("--json", action="store_true", help="print report.json instead of the tables")
    p.set_defaults(func=cmd_report)


def load_costs(path: str | None, synthesise: bool):
    from .cli import CommandError
    from .report import CostTable

    known = None
    if path:
        try:
            known = json.loads(Path(path).read_text())
        except OSError as err:
            raise CommandError(f"--costs {path}: cannot read it ({err.strerror})") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise CommandError(f"--costs {path}: not valid JSON ({err})") from None
        if not isinstance(known, dict):
            raise CommandError(f"--costs {path}: expected a JSON object of cost rows")
    try:
        return CostTable(known, synthesise=synthesise)
    except ValueError as err:
        raise CommandError(f"--costs {path}: {err}") from None


def measure_costs(costs, keys, show: bool) -> None:
    """Synthesise the missing cost rows, with a progress bar (each is one Yosys run)."""
    from tqdm import tqdm

    missing = costs.missing(keys) if costs.synthesise else []
    if not missing:
        return
    bar = tqdm(missing, desc="cost per MAC (Yosys xcup)", file=sys.stderr, disable=not show,
               leave=False)
    for key in bar:
        bar.set_postfix_str(key)
        costs.get(key)
    bar.close()


def cmd_report(args) -> int:
    from .cli import CommandError
    from .report import (ReportInputError, check_output, cost_keys, load_bench, load_build,
                         load_ptq, write_report)
    from .report.inputs import load_sweep
    from .report import ReportOutputError
    from .report.tables import text

    if not args.ptq and not args.db:
        raise CommandError("report: give --ptq RESULTS (sqhw ptq -o DIR) or --db PATH (a sqhw "
                           "sweep store)")
    try:  # every input read and checked before anything runs or is written
        rows = [row for path in args.ptq for row in load_ptq(path)]
        builds = [load_build(path) for path in args.builds]
        bench = load_bench(args.bench) if args.bench else None
        names = [b["board"] for b in builds]  # --builds: one per board; a sweep has several
        if args.db:
            swept_rows, swept_builds = load_sweep(args.db)
            rows += swept_rows
            builds += swept_builds
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ReportInputError(f"--builds: board {', '.join(twice)} appears twice (one "
                                   "build per board)")
        out = check_output(args.output, args.force)
    except (ReportInputError, ReportOutputError) as err:
        raise CommandError(str(err)) from None
    costs = load_costs(args.costs, not args.no_synth)
    measure_costs(costs, cost_keys(rows), sys.stderr.isatty() and not args.json)
    inputs = [*args.ptq, *args.builds, *([args.bench] if args.bench else []),
              *([args.db] if args.db else [])]
    report = write_report(rows, builds, bench, out, costs, inputs)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(text(report))
        print(f"\nwrote {out / 'report.html'} ({', '.join(report['files'])} in {out})")
    return 0
