"""The shared executor: serial and a local pool give the same results; job errors surface."""

import pytest

from qformat.executor import LocalPoolExecutor, SerialExecutor, make_executor, run_jobs


def _square(x):
    return x * x


def _boom(x):
    raise ValueError(f"bad {x}")


@pytest.mark.parametrize("workers", [0, 2])
def test_same_results(workers):
    ex = make_executor(workers)
    try:
        assert isinstance(ex, SerialExecutor if workers == 0 else LocalPoolExecutor)
        assert dict(run_jobs(ex, _square, ((i, (i,)) for i in range(9)), max_in_flight=3)) == {i: i * i for i in range(9)}
    finally:
        ex.close()


def test_errors_surface():
    with pytest.raises(ValueError, match="bad 1"):
        list(run_jobs(SerialExecutor(), _boom, [(1, (1,))]))
