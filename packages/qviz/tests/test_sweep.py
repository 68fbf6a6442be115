"""Sweep tables as cubes: vectorised vs reference, ranges, and the sample cycle model vs the original's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
import qviz.samples as samples
from qviz import sweep as sw
from qviz.errors import CannotPlot, MissingColumns

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mnist_mlp_kmeans_pruned.json"


def _table(rows):
    return qf.Table(pa.table(rows), table_kind="accelsim.sweep")


@st.composite
def sweep_rows(draw):
    layers = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2, unique=True))
    rows = {k: [] for k in ("layer", "neuron", "S", "C", "order", "cycles")}
    for L in layers:
        neurons = draw(st.lists(st.integers(0, 20), min_size=1, max_size=4, unique=True))
        Ss = draw(st.lists(st.integers(1, 16), min_size=1, max_size=3, unique=True))
        Cs = draw(st.lists(st.integers(1, 16), min_size=1, max_size=3, unique=True))
        for n in neurons:
            for s in Ss:
                for c in Cs:
                    if draw(st.booleans()) or (n == neurons[0] and s == Ss[0] and c == Cs[0]):
                        rows["layer"].append(L)
                        rows["neuron"].append(n)
                        rows["S"].append(s)
                        rows["C"].append(c)
                        rows["order"].append(draw(st.sampled_from(["sequential", "interleaved"])))
                        rows["cycles"].append(draw(st.one_of(st.none(), st.integers(1, 10_000))))
    return rows


@given(sweep_rows())
def test_cube_and_ranges_match_reference(rows):
    r = sw.SweepRows.from_table(_table(rows), "t")
    for L in r.layers():
        for o in r.orders():
            if not ((r.layer == L) & (r.order == o)).any():
                continue
            fast, ref = sw.build_cube(r, L, o, ""), sw.build_cube_reference(r, L, o, "")
            np.testing.assert_array_equal(fast.neurons, ref.neurons)
            np.testing.assert_array_equal(fast.S, ref.S)
            np.testing.assert_array_equal(fast.C, ref.C)
            np.testing.assert_array_equal(fast.cycles, ref.cycles)
            a, b = sw.ranges(fast), sw.ranges_reference(fast)
            for k in ("min", "mean", "max", "total", "infeasible"):
                np.testing.assert_allclose(a[k], b[k], equal_nan=True)


def test_duplicate_rows_are_refused():
    rows = {"layer": ["a", "a"], "neuron": [0, 0], "S": [4, 4], "C": [4, 4], "cycles": [10, 11]}
    r = sw.SweepRows.from_table(_table(rows), "t")
    with pytest.raises(CannotPlot, match="duplicate"):
        sw.build_cube(r, "a", "sequential", "")
    with pytest.raises(CannotPlot, match="duplicate"):
        sw.build_cube_reference(r, "a", "sequential", "")


def test_missing_columns_are_named():
    t = _table({"layer": ["a"], "neuron": [0], "S": [4]})
    with pytest.raises(MissingColumns) as e:
        sw.SweepRows.from_table(t, "sweep-heatmap")
    assert e.value.missing == ["C", "cycles"]
    assert "missing column(s) C, cycles needed by the 'sweep-heatmap' plot" in str(e.value)


def test_total_is_nan_where_any_neuron_is_infeasible():
    rows = {"layer": ["a"] * 4, "neuron": [0, 1, 0, 1], "S": [4] * 4, "C": [2, 2, 3, 3], "cycles": [5, None, 6, 7]}
    cube = sw.build_cube(sw.SweepRows.from_table(_table(rows), "t"), "a", "sequential", "")
    tot = cube.total()
    assert np.isnan(tot[0, 0]) and tot[0, 1] == 13
    assert sw.argmin_cell(tot) == (0, 1)
    assert sw.argmin_cell(np.full((2, 2), np.nan)) is None


def _example_weights():
    doc = json.loads(EXAMPLE.read_text())
    return {k[: -len(".weight")]: np.asarray(v, dtype=np.float64) + 0.0 for k, v in doc.items()}


def test_sample_cycle_model_reproduces_the_original_reference_values():
    """reference/accelsim.md section 8 (v0624): the synthetic sweeps qviz draws in tests and benchmarks
    have the original's shape."""
    w = _example_weights()
    n0 = w["network.0"][0]
    assert [samples.cycles_v0624(n0, 16, C) for C in range(5, 17)] == \
        [168, 149, 135, 119, 117, 105, 97, 93, 84, 78, 71, 66]
    assert [samples.cycles_v0624(n0, 16, C, "interleaved") for C in range(5, 17)] == \
        [129, 106, 91, 74, 71, 64, 57, 54, 52, 52, 50, 50]
    assert (samples.cycles_v0624(n0, 15, 15), samples.cycles_v0624(n0, 15, 16)) == (75, 71)
    totals = {L: (sum(samples.cycles_v0624(r, 8, 8) for r in m), sum(samples.cycles_v0624(r, 16, 16) for r in m))
              for L, m in w.items()}
    assert totals == {"network.0": (4454, 2119), "network.2": (537, 252), "network.4": (169, 79)}
    assert samples.cycles_v0624(np.zeros(784), 16, 4) == 49          # all-zero neuron costs G


def test_vectorised_sample_sweep_matches_the_per_neuron_closed_form():
    w = {k: v[:3] for k, v in _example_weights().items()}
    t = samples.sweep_table(w, S_values=(4, 7, 16), C_values=(3, 9, 16))
    for r in t.to_pylist():
        want = samples.cycles_v0624(w[r["layer"]][r["neuron"]], r["S"], r["C"], r["order"])
        assert (r["cycles"] is None and np.isnan(want)) or r["cycles"] == want


def test_sample_trace_matches_the_documented_example():
    """reference/accelsim.md section 1: S=4, C=5, sequential -> 5 cycles with the listed rows."""
    w = np.array([.25, .25, .25, .25, -.125, 0, .25, -.125, 0, .5])
    t = samples.trace_table(w, 4, 5).to_pylist()
    got = [[r["cycle"], r["group"]] + [r[f"en_acc_{s}"] for s in range(4)] for r in t]
    assert got == [[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 2, 3], [2, 1, 0, 0, 1, 2], [3, 1, 0, 0, 0, 1], [4, 2, 1, 0, 1, 1]]
