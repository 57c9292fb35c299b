"""The same sweep with 1 and 2 workers, on the local pool and on Ray: wall time and points per
minute, in one run (the README's "Sweeps" figure).

    python scripts/sweep_bench.py [--spec examples/sweep_small.yaml] [--runs local:1,...]
                                  [-o bench.json]

Each run is `sqhw sweep SPEC --executor E --workers N --json` in a fresh store and points
folder, with the PTQ row cache switched off (a copy of the SPEC with ptq.cache: false), so
every run computes every point: the PTQ evaluation and the board build. (The trained digits
model, YoWASP's compiled tools and Verilog are cached in the user cache folder and shared by
all runs, as they are by any second use of sqhw.) Wall time is the whole command, from
process start to exit (Python and Ray start-up included); `sweep s` is the sweep loop alone
(first submit to last stored point). The machine's load average is printed beside each row:
on a shared machine, other work slows the runs it overlaps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "examples" / "sweep_small.yaml"))
    parser.add_argument("--runs", default="local:1,local:2,ray:1,ray:2",
                        help="executor:workers, comma-separated")
    parser.add_argument("-o", "--output", help="write the rows as JSON here too")
    args = parser.parse_args()
    runs = [(r.split(":")[0], int(r.split(":")[1])) for r in args.runs.split(",")]
    spec = yaml.safe_load(Path(args.spec).read_text())
    spec.setdefault("ptq", {})["cache"] = False
    rows = []
    with tempfile.TemporaryDirectory(prefix="sqhw-sweep-bench-") as tmp:
        spec_file = Path(tmp) / Path(args.spec).name
        spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
        for executor, workers in runs:
            db = Path(tmp) / f"{executor}-{workers}.sqlite"
            load = os.getloadavg()[0]
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "sqhw", "sweep", str(spec_file),
                                   "--executor", executor, "--workers", str(workers),
                                   "--db", str(db), "--json"], capture_output=True, text=True,
                                  cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            wall = time.perf_counter() - start
            if done.returncode not in (0, 1):
                print(done.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{executor}:{workers}: sqhw sweep exited {done.returncode}")
            summary = json.loads(done.stdout)
            point_seconds = [r["seconds"]["total"] for r in summary["rows"] if r["seconds"]]
            row = {"executor": executor, "workers": workers, "points": summary["ran"],
                   "failed": summary["failed"], "wall_s": round(wall, 1),
                   "points_per_min": round(summary["ran"] * 60 / wall, 2),
                   "sweep_s": summary["seconds"],
                   "mean_point_s": round(sum(point_seconds) / max(1, len(point_seconds)), 1),
                   "load_before": round(load, 1), "load_after": round(os.getloadavg()[0], 1)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    base = next((r for r in rows if r["workers"] == 1 and r["executor"] == "local"), rows[0])
    for row in rows:
        row["speedup_vs_local_1"] = round(base["wall_s"] / row["wall_s"], 2)
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=1) + "\n")
    from _markdown import table

    print(f"{Path(args.spec).name}: {base['points']} points, {os.cpu_count()} CPUs\n")
    print(table(["executor", "workers", "points", "wall s", "points/min", "vs local 1",
                 "sweep loop s", "mean s / point", "load avg before / after"],
                [[r["executor"], r["workers"], r["points"], r["wall_s"], r["points_per_min"],
                  f"{r['speedup_vs_local_1']:.2f}x", r["sweep_s"], r["mean_point_s"],
                  f"{r['load_before']} / {r['load_after']}"] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
