"""The executor cimnoise runs its jobs on: qformat's, shared with the other tools."""

from qformat.executor import (  # noqa: F401
    DaskExecutor,
    Executor,
    LocalPoolExecutor,
    SerialExecutor,
    make_executor,
    run_jobs,
)

__all__ = ["DaskExecutor", "Executor", "LocalPoolExecutor", "SerialExecutor", "make_executor", "run_jobs"]
