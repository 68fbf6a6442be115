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


# The shared split convention lives next to the executor as the other cross-tool helper.
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qformat.splits import stratified_split  # noqa: E402


@given(st.lists(st.integers(0, 4), min_size=1, max_size=200), st.floats(0, 0.9), st.integers(0, 2**31))
def test_stratified_split_partitions_per_class(labels, fraction, seed):
    import numpy as np
    y = np.array(labels)
    keep, held = stratified_split(y, fraction, seed)
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(len(y)))
    for c in np.unique(y):
        n = int((y == c).sum())
        k = int(round(fraction * n))
        if fraction > 0 and k == 0 and n > 1:
            k = 1
        assert int((y[held] == c).sum()) == k
    again = stratified_split(y, fraction, seed)
    assert (again[1] == held).all()
