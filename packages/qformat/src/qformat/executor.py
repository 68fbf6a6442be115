"""One executor interface for the tools' many independent jobs: serial, a local process pool, or a Dask cluster.

qsearch's candidate evaluations and cimnoise's sweeps run on it (tools share
only qformat, so it lives here; it needs nothing beyond the standard library,
and Dask only when a cluster address is given).

Callers only use :func:`run_jobs`, which submits ``fn(*args)`` per job,
yields ``(key, result)`` as they complete (so progress and checkpoints are
written as they arrive) and keeps at most ``max_in_flight`` jobs queued.

* :class:`SerialExecutor` - in the calling process (``--workers 0``; tests).
* :class:`LocalPoolExecutor` - ``concurrent.futures.ProcessPoolExecutor`` with
  the ``spawn`` start method (torch and fork do not mix), one torch thread per
  worker. The default.
* :class:`DaskExecutor` - ``distributed.Client(address)`` for ``--cluster
  tcp://host:port`` (install ``distributed``, e.g. ``qsearch[cluster]``). Workers
  need the calling tool installed; jobs carry everything they need.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional, Protocol

from .errors import QFormatError


class Executor(Protocol):
    name: str
    workers: int

    def share(self, obj: Any) -> Any: ...

    def submit(self, fn: Callable, *args: Any) -> Any: ...

    def wait_first(self, futures: Iterable[Any]) -> list[Any]: ...

    def close(self) -> None: ...


class _DoneFuture:
    """A finished future (serial execution)."""

    def __init__(self, fn: Callable, args: tuple):
        self._exc: Optional[BaseException] = None
        self._res: Any = None
        try:
            self._res = fn(*args)
        except Exception as e:  # delivered on .result(), like a real future
            self._exc = e

    def result(self, timeout: Optional[float] = None) -> Any:
        if self._exc is not None:
            raise self._exc
        return self._res


class SerialExecutor:
    """Runs each job when submitted, in this process."""

    name = "serial"
    workers = 1

    def share(self, obj: Any) -> Any:
        """A handle jobs take instead of ``obj`` (the object itself here)."""
        return obj

    def submit(self, fn: Callable, *args: Any) -> _DoneFuture:
        return _DoneFuture(fn, args)

    def wait_first(self, futures: Iterable[Any]) -> list[Any]:
        """The futures among ``futures`` that are done (all of them here)."""
        return list(futures)

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"executor": self.name, "workers": 1}


def _worker_init() -> None:
    """One torch thread per worker process (set before torch is first imported there)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"


class LocalPoolExecutor:
    """A local process pool (spawned workers, one torch thread each)."""

    name = "local"

    def __init__(self, workers: Optional[int] = None):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init)

    def share(self, obj: Any) -> Any:
        return obj

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        return self._pool.submit(fn, *args)

    def wait_first(self, futures: Iterable[Any]) -> list[Any]:
        return list(cf.wait(list(futures), return_when=cf.FIRST_COMPLETED).done)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers}


class DaskExecutor:
    """Jobs on a Dask distributed cluster (``tcp://host:port`` of a running scheduler)."""

    name = "dask"

    def __init__(self, address: str, timeout: float = 30.0):
        try:
            from distributed import Client
        except ImportError:
            raise QFormatError("--cluster", address, "needs Dask distributed: pip install distributed (or 'qstack-qsearch[cluster]')") from None
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except OSError as e:
            raise QFormatError("--cluster", address, f"cannot reach the scheduler ({e})") from None
        info = self.client.scheduler_info()
        self.workers = max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))
        self.address = address

    def share(self, obj: Any) -> Any:
        """Send ``obj`` to every worker once; jobs get a future the workers resolve locally."""
        return self.client.scatter(obj, broadcast=True)

    def submit(self, fn: Callable, *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def wait_first(self, futures: Iterable[Any]) -> list[Any]:
        from distributed import as_completed

        futures = list(futures)
        first = next(iter(as_completed(futures, loop=self.client.loop)))
        return [first] + [f for f in futures if f is not first and f.done()]

    def close(self) -> None:
        self.client.close()

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers, "address": self.address}


def make_executor(workers: Optional[int] = None, cluster: Optional[str] = None, timeout: float = 30.0) -> Any:
    """``--cluster ADDRESS`` -> Dask; ``workers == 0`` -> serial; else a local pool of ``workers``."""
    if cluster:
        return DaskExecutor(cluster, timeout=timeout)
    if workers is not None and int(workers) <= 0:
        return SerialExecutor()
    return LocalPoolExecutor(workers)


def run_jobs(executor: Any, fn: Callable, jobs: Iterable[tuple[Any, tuple]], max_in_flight: Optional[int] = None
             ) -> Iterator[tuple[Any, Any]]:
    """Submit ``fn(*args)`` for every ``(key, args)`` and yield ``(key, result)`` as each finishes.

    At most ``max_in_flight`` (default: 2 x workers) jobs are outstanding, so a
    huge candidate list is never materialised as futures at once. An exception
    in a job is re-raised here.
    """
    limit = max_in_flight or max(1, 2 * int(getattr(executor, "workers", 1)))
    it = iter(jobs)
    pending: dict[Any, Any] = {}

    def fill() -> None:
        while len(pending) < limit:
            try:
                key, args = next(it)
            except StopIteration:
                return
            pending[executor.submit(fn, *args)] = key

    fill()
    while pending:
        for fut in executor.wait_first(list(pending)):
            key = pending.pop(fut)
            try:
                res = fut.result()
            except cf.process.BrokenProcessPool:
                raise QFormatError("executor", str(key), "a worker process died (killed, or out of memory?); "
                                                         "rerun with --checkpoint to keep finished candidates") from None
            yield key, res
        fill()
