"""Design-space sweeps: many (model, formats, sparsity, board, chain, clock) points, each a
PTQ evaluation plus a board build, run on a local process pool or on Ray, with every result
in a resumable SQLite store.

    from sqhw.sweep import Store, load_spec, make_executor, run_sweep
    spec = load_spec("examples/sweep_small.yaml")      # errors: file:line: key: message
    store = Store("sweep.sqlite")
    summary = run_sweep(spec, store, make_executor("local", 2, None), Path("points"))
    store.ptq_results(), store.build_reports()         # results.json / report.json shapes

The CLI is `sqhw sweep` and `sqhw results` (sqhw/cli_sweep.py).
"""

from .executors import EXECUTORS, make_executor
from .runner import SweepInterrupted, SweepLocked, lock_store, run_sweep
from .spec import Point, Spec, SpecError, load_spec, parse_spec
from .store import Store, StoreError, default_db

__all__ = ["EXECUTORS", "Point", "Spec", "SpecError", "Store", "StoreError", "SweepInterrupted",
           "SweepLocked", "default_db", "load_spec", "lock_store", "make_executor",
           "parse_spec", "run_sweep"]
