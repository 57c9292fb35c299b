"""`sqhw sweep` and `sqhw results`: design-space sweeps on a local pool or Ray, stored in SQLite."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

MAX_WORKERS = 4096  # a larger pool is a typo (and a fork bomb on a laptop)


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="a design-space sweep (PTQ + build per point) on a local "
                       "process pool or Ray, resumable, stored in SQLite")
    p.add_argument("spec", metavar="SPEC.yaml", help="the sweep's axes (grid and/or points); "
                   "see examples/sweep_small.yaml")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: a process pool on this machine (default); ray: Ray, started "
                   "here or joined with --address")
    p.add_argument("--address", help="with --executor ray: a running Ray cluster's address "
                   "(e.g. ray://head:10001 or auto)")
    p.add_argument("--workers", type=int, help="points run at once (local default: 1; ray: "
                   "the cluster's CPUs)")
    p.add_argument("--db", help="the SQLite store (default: <user data folder>/sweeps/"
                   "<SPEC name>.sqlite)")
    p.add_argument("--out", help="the folder of the points' files (Verilog, report.json, "
                   "results.json; default: beside the store, <db>-points)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run the points that failed before again (default: only missing ones)")
    p.add_argument("--json", action="store_true", help="print the summary and rows as JSON")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("results", help="the points of a sweep's SQLite store as a table")
    p.add_argument("--db", required=True, help="the store `sqhw sweep` wrote")
    p.add_argument("--status", choices=["ok", "error"], help="only points of this status")
    p.add_argument("--json", action="store_true", help="every stored row as JSON")
    p.set_defaults(func=cmd_results)


def _check_args(args):
    from .cli import CommandError

    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise CommandError(f"--workers: expected 1 to {MAX_WORKERS}, got {args.workers}")
    if args.address is not None and args.executor != "ray":
        raise CommandError("--address: joins a Ray cluster; give --executor ray")
    if args.address is not None and not args.address.strip():
        raise CommandError("--address: expected a Ray address (host:port, ray://host:port or "
                           "auto), got an empty string")


def _points_dir(args, db: Path) -> Path:
    from .cli import CommandError

    out = Path(args.out) if args.out else db.with_name(db.stem + "-points")
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"--out {out}: cannot be created: {err.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise CommandError(f"--out {out}: the folder is not writable")
    return out.absolute()


def cmd_sweep(args) -> int:
    from .cli import CommandError
    from .sweep import (SpecError, Store, StoreError, SweepInterrupted, SweepLocked, default_db,
                        load_spec, lock_store, make_executor, run_sweep)

    _check_args(args)
    try:
        spec = load_spec(args.spec)
    except SpecError as err:
        raise CommandError(str(err)) from None
    db = Path(args.db) if args.db else default_db(Path(args.spec).stem)
    try:
        store = Store(db)
    except StoreError as err:
        raise CommandError(str(err)) from None
    points_dir = _points_dir(args, db)
    try:
        lock = lock_store(str(db))
    except SweepLocked as err:
        raise CommandError(str(err)) from None
    try:
        try:
            executor = make_executor(args.executor, args.workers, args.address)
        except ValueError as err:
            raise CommandError(str(err)) from None
        except Exception as err:  # Ray could not start or reach the cluster
            raise CommandError(f"--executor ray: {type(err).__name__}: "
                               f"{' '.join(str(err).split())[:300]}") from None
        if not args.json:
            stored = len(store.keys() & {spec.key(p) for p in spec.points})
            print(f"sweep {args.spec}: {len(spec.points)} points, {stored} already in {db}; "
                  f"running the rest on {executor.where}", file=sys.stderr)
        try:
            summary = run_sweep(spec, store, executor, points_dir,
                                progress=sys.stderr.isatty() and not args.json,
                                retry_failed=args.retry_failed)
        except SweepInterrupted as stop:
            summary = stop.summary
            left = summary["points"] - summary["already_stored"] - summary["ran"]
            if args.json:
                print(json.dumps(summary, indent=1))
            print(f"sqhw sweep: interrupted: {summary['ran']} points stored in this run, "
                  f"{summary.get('in_flight_dropped', 0)} in flight dropped; {left} left: run "
                  "the same command again to finish", file=sys.stderr)
            return 130
    finally:
        if lock is not None:
            lock.close()
    keys = {spec.key(p) for p in spec.points}
    rows = [r for r in store.rows() if r["key"] in keys]
    if args.json:
        print(json.dumps({**summary, "rows": rows}, indent=1))
    else:
        print(table(rows))
        rate = summary["points_per_minute"]
        print(f"\n{summary['ran']} points run ({summary['ok']} ok, {summary['failed']} failed) "
              f"in {summary['seconds']:.1f} s" + (f", {rate:g} points/min" if rate else "") +
              f"; {summary['already_stored']} were stored before. Store: {db} (sqhw results "
              f"--db {db}); files: {points_dir}")
    return 0 if summary["failed"] == 0 else 1


def _num(v, spec=".4f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    from .cli import _table

    out = []
    for r in rows:
        m = r["metrics"]
        act = m.get("act") or m.get("weight")
        out.append([r["key"][:10], m.get("model") or "-", m.get("weight") or "-",
                    act if m.get("model") or m.get("board") else "-", m.get("sparsity"),
                    m.get("board") or "-",
                    f"{m['lanes']}x{m['chain']}" if m.get("board") else "-",
                    _num(m.get("clock_mhz"), "g"), r["status"], _num(m.get("score")),
                    _num(m.get("lut"), "g"), _num(m.get("ff"), "g"), _num(m.get("dsp"), "g"),
                    _num(m.get("fmax_mhz"), "g"),
                    _num((r.get("seconds") or {}).get("total"), ".1f"),
                    (r.get("error") or "")[:70]])
    return _table(["key", "model", "weight", "act", "sparsity", "board", "lanes x chain",
                   "MHz", "status", "score", "LUT", "FF", "DSP", "Fmax MHz", "seconds",
                   "error"], out, left=(0, 1, 2, 3, 4, 5, 8, 15))


def cmd_results(args) -> int:
    from .cli import CommandError
    from .sweep import Store, StoreError

    try:
        store = Store(args.db, create=False)
    except StoreError as err:
        raise CommandError(str(err)) from None
    rows = store.rows()
    if args.status:
        rows = [r for r in rows if r["status"] == args.status]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"{args.db}: no points stored" + (f" with status {args.status}"
                                                 if args.status else ""))
        return 0
    print(table(rows))
    failed = sum(r["status"] == "error" for r in rows)
    print(f"\n{len(rows)} points ({failed} failed)")
    return 0
