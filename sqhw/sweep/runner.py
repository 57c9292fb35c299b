"""Running a sweep: the points of a SPEC that the store lacks, on an executor, each result
stored in its own transaction the moment it comes back.

    >>> # summary = run_sweep(load_spec("examples/sweep_small.yaml"), Store(path),
    >>> #                     make_executor("local", 2, None), points_dir)

A second sweep on the same store waits for nothing and duplicates nothing: the store is
locked (an exclusive lock file beside it) while a sweep writes it. Ctrl-C or SIGTERM stops
the workers, keeps every stored point and raises SweepInterrupted with the summary so far;
a signal that arrives while a result is being stored takes effect right after it, so the
store and the summary's counts always agree.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from pathlib import Path

from .point import task
from .store import Store

__all__ = ["SweepInterrupted", "SweepLocked", "lock_store", "run_sweep"]


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C: the workers were stopped; `summary` says what was stored."""

    def __init__(self, summary: dict):
        super().__init__("interrupted")
        self.summary = summary


class SweepLocked(ValueError):
    """Another sweep is writing the same store (or its lock file cannot be made)."""


def lock_store(db: str):
    """An exclusive lock on `db` (a `.lock` file beside it), held until the returned file is
    closed or the process dies; SweepLocked when another sweep holds it."""
    if db == ":memory:":
        return None
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one sweep per store is then the user's care
        return None
    try:
        handle = open(f"{db}.lock", "a+")
    except OSError as err:
        raise SweepLocked(f"--db {db}: cannot create its lock file {db}.lock: "
                          f"{err.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise SweepLocked(f"--db {db}: another sweep is writing it ({holder or 'unknown'}); "
                          "wait for it or give another --db") from None
    handle.seek(0)
    handle.truncate()
    import os

    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


class _StopSignals:
    """SIGINT and SIGTERM raise KeyboardInterrupt, but never inside `critical()`."""

    def __init__(self):
        self.depth, self.pending, self.previous = 0, False, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def _handle(self, signum, frame):
        if self.depth:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def critical(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:
            self.pending = False
            raise KeyboardInterrupt


def run_sweep(spec, store: Store, executor, points_dir: Path, progress: bool = False,
              retry_failed: bool = False) -> dict:
    """Run the spec's points missing from the store; returns the summary."""
    with _StopSignals() as signals:
        return _run(spec, store, executor, points_dir, progress, retry_failed, signals)


def _run(spec, store, executor, points_dir, progress, retry_failed, signals) -> dict:
    stored = store.keys() if not retry_failed else store.keys("ok")
    jobs = [task(spec, p, points_dir) for p in spec.points]
    todo = [job for job in jobs if job["key"] not in stored]
    summary = {"spec": spec.file, "db": store.path, "executor": executor.name,
               "where": executor.where, "workers": executor.slots,
               "points": len(jobs), "already_stored": len(jobs) - len(todo),
               "ran": 0, "ok": 0, "failed": 0, "interrupted": False, "seconds": 0.0,
               "points_per_minute": None, "points_dir": str(points_dir)}
    started = time.perf_counter()
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="sweep", unit="point", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    pending: dict[object, dict] = {}
    queue = iter(todo)

    def update():
        bar.set_postfix_str(f"running {len(pending)}, failed {summary['failed']}",
                            refresh=True)

    try:
        while True:
            while len(pending) < executor.slots:
                job = next(queue, None)
                if job is None:
                    break
                pending[executor.submit(job)] = job
            if not pending:
                break
            update()
            for handle, result in executor.wait(pending, timeout=1.0):
                with signals.critical():  # stored and counted together, or neither
                    job = pending.pop(handle)
                    if isinstance(result, Exception):
                        result = _lost(job, result)
                    store.record(result)
                    summary["ran"] += 1
                    summary["ok" if result["status"] == "ok" else "failed"] += 1
                bar.update(1)
                update()
    except KeyboardInterrupt:
        summary["interrupted"] = True
        summary["in_flight_dropped"] = len(pending)
        executor.stop(list(pending))
        raise SweepInterrupted(_finish(summary, started, bar)) from None
    except BaseException:
        executor.stop(list(pending))
        bar.close()
        raise
    executor.close()
    return _finish(summary, started, bar)


def _finish(summary: dict, started: float, bar) -> dict:
    bar.close()
    seconds = time.perf_counter() - started
    summary["seconds"] = round(seconds, 2)
    if summary["ran"] and seconds > 0:
        summary["points_per_minute"] = round(summary["ran"] * 60 / seconds, 2)
    return summary


def _lost(job: dict, err: Exception) -> dict:
    """The store row of a point whose worker died."""
    from .point import metrics

    now = time.time()
    return {"key": job["key"], "config": job["config"], "spec": job["spec"],
            "sqhw_version": job["sqhw_version"],
            "folder": job["folder"], "status": "error",
            "error": f"{type(err).__name__}: {err}"[:2000], "traceback": None,
            "ptq": None, "build": None, "seconds": None, "worker": None, "started": None,
            "finished": now, "metrics": metrics(job["config"], None, None)}
