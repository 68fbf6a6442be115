"""The executor interface sweeps run on (the same shape as qsearch's).

``submit(fn, *args)`` returns a future, ``as_completed(futures)`` yields them
as they finish, ``share(obj)`` gives jobs a handle to a large shared object,
``close()`` releases workers. :func:`run_jobs` keeps a bounded number of jobs
in flight and yields ``(key, result)`` in completion order. Local process pool
by default (``spawn`` workers, one thread each); ``workers=0`` runs serially.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional, Protocol


class Executor(Protocol):
    name: str
    workers: int

    def share(self, obj: Any) -> Any: ...

    def submit(self, fn: Callable, *args: Any) -> Any: ...

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


class _DoneFuture:
    """A finished future (serial execution); exceptions surface on ``result()``."""

    def __init__(self, fn: Callable, args: tuple):
        self._exc: Optional[BaseException] = None
        self._res: Any = None
        try:
            self._res = fn(*args)
        except Exception as e:  # noqa: BLE001 - delivered like a real future's
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
        return obj

    def submit(self, fn: Callable, *args: Any) -> _DoneFuture:
        return _DoneFuture(fn, args)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        return iter(list(futures))

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"executor": self.name, "workers": 1}


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


class LocalPoolExecutor:
    """A local process pool (spawned workers, one BLAS thread each)."""

    name = "local"

    def __init__(self, workers: Optional[int] = None):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init)

    def share(self, obj: Any) -> Any:
        return obj

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        return self._pool.submit(fn, *args)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        return cf.as_completed(list(futures))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers}


def make_executor(workers: Optional[int] = None) -> Any:
    """``workers == 0`` -> serial; else a local pool of ``workers`` (default: all cores)."""
    if workers is not None and int(workers) <= 0:
        return SerialExecutor()
    return LocalPoolExecutor(workers)


def run_jobs(executor: Any, fn: Callable, jobs: Iterable[tuple[Any, tuple]], max_in_flight: Optional[int] = None
             ) -> Iterator[tuple[Any, Any]]:
    """Submit ``fn(*args)`` for every ``(key, args)``; yield ``(key, result)`` as each finishes."""
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
        for fut in executor.as_completed(list(pending)):
            key = pending.pop(fut)
            yield key, fut.result()
            fill()
            break
