"""Where sweep points run: a process pool on this machine (`local`) or Ray (`ray`).

Both take plain-data tasks (sqhw.sweep.point.task), run `point.run_point` on them, and hand
the results back to the parent, which alone writes the store. Both keep at most `slots`
points in flight, so a stop loses only those, and `stop()` ends the workers at once.

- local: concurrent.futures.ProcessPoolExecutor with the spawn context (no fork of a parent
  that holds an SQLite handle, threads and a progress bar). Workers ignore SIGINT (the
  parent stops them) and exit when the parent dies (a SIGKILLed sweep leaves no worker
  building into a point folder that the restarted sweep builds into again).
- ray: `ray.init()` on this machine with `workers` CPUs, or `ray.init(address=...)` to join
  a running cluster (or the Ray session the caller already started); one task per point
  with num_cpus=1 and no retries (a point that kills its worker is recorded as failed).
"""

from __future__ import annotations

import os
import threading
import time

from .point import run_point

__all__ = ["EXECUTORS", "LocalExecutor", "RayExecutor", "WorkerLost", "make_executor"]

EXECUTORS = ("local", "ray")


class WorkerLost(RuntimeError):
    """The process running a point died (killed, out of memory, crashed)."""


def _worker_init(parent: int, threads: int) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))  # before torch / numpy load in this worker

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)  # the sweep died (SIGKILL): stop building into its point folders

    threading.Thread(target=watch, daemon=True, name="sqhw-parent-watch").start()


class LocalExecutor:
    """A pool of `workers` processes on this machine."""

    name = "local"

    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.slots = workers
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.pool = ProcessPoolExecutor(max_workers=workers,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_init,
                                        initargs=(os.getpid(), threads))
        self.where = f"{workers} local process{'es' if workers > 1 else ''}"

    def submit(self, job: dict):
        return self.pool.submit(run_point, job)

    def wait(self, handles, timeout: float) -> list[tuple[object, dict | Exception]]:
        """(handle, result or exception) of the handles that finished within `timeout`."""
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait_futures(list(handles), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            try:
                out.append((future, future.result()))
            except BrokenProcessPool as err:
                out.append((future, WorkerLost(
                    f"the worker process died abruptly (killed, out of memory, or crashed; "
                    f"with --workers > 1 every point in flight is lost with it): {err}")))
            except Exception as err:  # run_point never raises: a pickling problem
                out.append((future, err))
        if any(isinstance(r, WorkerLost) for _, r in out):
            self._renew()
        return out

    def _renew(self) -> None:
        """A broken pool takes no more work: start a fresh one for the remaining points."""
        self.stop()
        self.__init__(self.slots)

    def stop(self, handles=()) -> None:
        """End the workers now; points in flight are dropped (not stored)."""
        # Python 3.11 has no ProcessPoolExecutor.terminate_workers (3.14): kill its processes
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:
            process.join(10)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class RayExecutor:
    """Ray tasks: on a cluster (`address`), in the caller's Ray session, or on a local Ray
    started here with `workers` CPUs (and shut down at the end)."""

    name = "ray"

    def __init__(self, workers: int | None, address: str | None):
        try:
            import ray
        except ImportError:
            raise ValueError("--executor ray: Ray is not installed: pip install 'sqhw[sweep]'"
                             ) from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False,
                          configure_logging=False)
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, **kwargs)
            self.started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = workers or max(1, cpus)
        self.where = (f"Ray at {address}" if address else "Ray on this machine" if
                      self.started else "the running Ray session") + f" ({cpus} CPUs)"
        self.remote = ray.remote(num_cpus=1, max_retries=0)(run_point)

    def submit(self, job: dict):
        return self.remote.remote(job)

    def wait(self, handles, timeout: float) -> list[tuple[object, dict | Exception]]:
        ray = self.ray
        done, _ = ray.wait(list(handles), num_returns=1, timeout=timeout)
        if done:  # collect every finished one, not only the first
            done, _ = ray.wait(list(handles), num_returns=len(handles), timeout=0)
        out = []
        for ref in done:
            try:
                out.append((ref, ray.get(ref)))
            except ray.exceptions.RayError as err:
                out.append((ref, WorkerLost(f"the Ray worker running it failed: "
                                            f"{type(err).__name__}: {str(err)[:300]}")))
        return out

    def stop(self, handles=()) -> None:
        """Cancel the tasks in flight (their workers are killed) and leave Ray."""
        for ref in handles:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # already finished or gone: nothing left to stop
                pass
        self.close()

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False


def make_executor(name: str, workers: int | None, address: str | None):
    if name == "local":
        return LocalExecutor(workers or 1)
    if name == "ray":
        return RayExecutor(workers, address)
    raise ValueError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {name!r}")
