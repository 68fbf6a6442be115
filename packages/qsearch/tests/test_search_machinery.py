"""DSE machinery (spaces, grouping, exhaustive and binary search), Pareto fronts and the ILP: no training."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import res_layers
from hypothesis import given
from hypothesis import strategies as st

from qformat import Layer
from qsearch.cost import CostModel, make_latency
from qsearch.netinfo import NetInfo
from qsearch.options import OptionSpace
from qsearch.search.dse import binary_search, pick_exhaustive, sort_candidates, staircase
from qsearch.search.ilp import solve_bruteforce, solve_ilp
from qsearch.search.pareto import non_dominated, pareto_flags
from qsearch.search.space import make_choice_space

INT = OptionSpace.parse("int8,int4,int2")


def reference_binary_search(n, acc, ref, drop):
    """The original loop, transcribed literally (ibex.md section 2)."""
    lo, hi, rec, last = 0, n - 1, None, None
    while lo <= hi:
        mid = (lo + hi) // 2
        last = mid
        if ref - acc[mid] <= drop:
            rec = mid
            hi = mid - 1
        else:
            lo = mid + 1
    return rec if rec is not None else last


# ----------------------------------------------------------------------------- exhaustive / binary
def test_staircase_and_exhaustive_pick():
    costs = [1, 2, 3, 4, 5]
    accs = [0.90, 0.88, 0.95, 0.94, 0.97]
    assert staircase(costs, accs) == [0, 2, 4]
    p = pick_exhaustive(costs, accs, ref_acc=0.97, max_drop=0.025)
    assert p.index == 2 and p.qualifies
    p = pick_exhaustive(costs, accs, ref_acc=0.99, max_drop=0.001)
    assert p.index == 4 and not p.qualifies and "most accurate" in p.reason
    assert pick_exhaustive([], [], 0.9, 0.01).index is None


def test_binary_search_width_one_is_the_reference_loop():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        acc = list(rng.uniform(0.8, 1.0, n))
        ref, drop = 0.97, float(rng.uniform(0, 0.1))
        calls = []

        def ev(ix, acc=acc, calls=calls):
            calls.append(ix)
            return {i: acc[i] for i in ix}

        pick, evaluated = binary_search(n, ev, ref, drop, width=1)
        want = reference_binary_search(n, acc, ref, drop)
        if pick.qualifies:
            assert pick.index == want
        else:  # the reference returned the last evaluated; we return the most accurate evaluated
            assert pick.index == max(evaluated, key=lambda k: (evaluated[k], -k))
        assert all(len(c) == 1 for c in calls)


@given(st.lists(st.floats(0.5, 1.0, allow_nan=False), min_size=1, max_size=60), st.floats(0.0, 0.2),
       st.integers(1, 4))
def test_binary_and_exhaustive_agree_when_accuracy_grows_with_cost(accs, drop, width):
    accs = sorted(accs)                      # monotone in cost (index = cost rank)
    n = len(accs)
    ref = 0.98
    costs = list(range(n))
    ex = pick_exhaustive(costs, accs, ref, drop)
    bs, evaluated = binary_search(n, lambda ix: {i: accs[i] for i in ix}, ref, drop, width)
    assert bs.qualifies == ex.qualifies
    if ex.qualifies:
        assert bs.index == ex.index
    else:
        assert accs[bs.index] == max(evaluated.values())
    assert len(evaluated) <= n
    if width == 1:
        assert len(evaluated) <= int(np.ceil(np.log2(n + 1)))


@given(st.lists(st.floats(0.5, 1.0, allow_nan=False), min_size=1, max_size=30), st.floats(0.0, 0.2))
def test_searches_never_fail_for_lack_of_a_qualifying_candidate(accs, drop):
    ref = 2.0   # nothing can be within drop
    ex = pick_exhaustive(list(range(len(accs))), accs, ref, drop)
    bs, ev = binary_search(len(accs), lambda ix: {i: accs[i] for i in ix}, ref, drop, 2)
    assert not ex.qualifies and not bs.qualifies
    assert accs[ex.index] == max(accs)
    assert bs.index in ev


def test_sort_candidates_filters_budgets_and_falls_back():
    met = {"latency_ms": np.array([3.0, 1.0, 2.0, 0.5]), "peak_ram": np.array([10, 30, 20, 40])}
    order, ok = sort_candidates(met, {"peak_ram": 25}, "latency_ms")
    assert list(order) == [2, 0] and ok
    order, ok = sort_candidates(met, {"peak_ram": 5}, "latency_ms")
    assert list(order) == [0] and not ok          # least violating (10 vs 5) is index 0
    with pytest.raises(KeyError):
        sort_candidates(met, {}, "energy")


# ----------------------------------------------------------------------------- choice spaces
def chain(macs_scale):
    """A chain of linear layers whose MACs are in_features*out_features."""
    layers = [Layer("input", "input", attrs={"shape": [8]})]
    prev, cin = "input", 8
    for i, c in enumerate(macs_scale):
        layers.append(Layer(f"l{i}", "linear", [prev], {"in_features": cin, "out_features": c}))
        prev, cin = f"l{i}", c
    return NetInfo(layers)


def test_grouping_small_nets_enumerate_everything():
    net = chain([8, 8, 8, 8])
    cs = make_choice_space(net, INT, "ibex")
    assert len(cs) == 3 ** 4 and len(cs.groups) == 4


def test_grouping_medium_nets_fix_tiny_layers():
    # 8 layers; the last two are tiny (MACs 8*1 and 1*1 vs 64*64)
    net = chain([64, 64, 64, 64, 64, 64, 1, 1])
    macs = [net[n].macs for n in net.compute_names]
    small = [n for n, m in zip(net.compute_names, macs) if m / max(macs) < 0.05]
    cs = make_choice_space(net, INT, "ibex")
    fixed = [g for g in cs.groups if len(g.options) == 1]
    assert sorted(n for g in fixed for n in g.layers) == sorted(small)
    assert all(g.options == ["int8"] for g in fixed)
    assert len(cs) == 3 ** (8 - len(small))


def test_grouping_deep_nets_buckets_and_runs():
    # 12 layers: MACs chosen so normalised values land in each bucket
    widths = [8, 8, 8, 8, 2, 2, 1, 8, 8, 8, 8, 8]
    net = chain(widths)
    cs = make_choice_space(net, INT, "ibex")
    macs = np.array([net[n].macs for n in net.compute_names], float)
    norm = dict(zip(net.compute_names, macs / macs.max()))
    for g in cs.groups:
        b = {0 if norm[n] < 0.1 else 1 if norm[n] < 0.3 else 2 for n in g.layers}
        assert len(b) == 1 and len(g.layers) <= 3
        idx = [net.compute_names.index(n) for n in g.layers]
        assert idx == list(range(idx[0], idx[0] + len(idx)))    # consecutive
        (bk,) = b
        assert g.options == (["int8"] if bk == 0 else ["int8", "int4"] if bk == 1 else INT.names)
    # the product has no duplicates
    cands = [tuple(a.values()) for a in cs.candidates()]
    assert len(cands) == len(set(cands)) == len(cs)


def test_index_matrix_equals_candidates():
    net = NetInfo(res_layers())
    cs = make_choice_space(net, INT, "runs:2")
    mat = cs.index_matrix()
    ref = np.array([[INT.index(a[n]) for n in net.compute_names] for a in cs.candidates()])
    assert (mat == ref).all() and len(cs) == 9


def test_space_limits_and_errors():
    from qformat.errors import QFormatError

    net = chain([8] * 12)
    with pytest.raises(QFormatError, match="exceed the limit"):
        make_choice_space(net, INT, "none", max_candidates=1000)
    with pytest.raises(QFormatError):
        make_choice_space(net, INT, "clusters")
    cs = make_choice_space(net, INT, "runs:4", allowed={"l0": ["int8"]})
    assert cs.groups[0].options == ["int8"]


# ----------------------------------------------------------------------------- Pareto
def test_non_dominated_by_hand():
    acc = [0.9, 0.8, 0.95, 0.9, float("nan")]
    lat = [2.0, 1.0, 3.0, 2.5, 0.1]
    ram = [10, 10, 10, 5, 1]
    assert list(non_dominated(acc, [lat])) == [True, True, True, False, False]
    assert list(non_dominated(acc, [lat, ram])) == [True, True, True, True, False]
    rows = [{"accuracy": a, "latency": l, "peak_ram": r, "flash": 1, "bitops": 1} for a, l, r in zip(acc, lat, ram)]
    f = pareto_flags(rows)
    assert list(f["pareto_latency"]) == [True, True, True, False, False]
    assert list(f["pareto"]) == [True, True, True, True, False]
    assert list(non_dominated([0.9, 0.9], [[1.0, 1.0]])) == [True, True]   # exact ties both stay


# ----------------------------------------------------------------------------- ILP = brute force
def ilp_net():
    return NetInfo(res_layers())


@given(st.integers(0, 10_000), st.sampled_from(["int8", "tied"]))
def test_ilp_matches_brute_force(seed, act):
    rng = np.random.default_rng(seed)
    sp = OptionSpace.parse(None, act=act)
    cm = CostModel(ilp_net(), sp, make_latency("m7"))
    L, P = len(cm.layers), len(sp)
    sens = rng.random((L, P))
    sens[:, 0] = 0.0                                     # fp32 costs no accuracy
    allidx = np.array(list(itertools.product(range(P), repeat=L)))
    met = cm.batch(allidx)
    budgets = {}
    for k in ("latency_ms", "peak_ram", "flash", "weight_bytes", "bitops"):
        if rng.random() < 0.6:
            budgets[k] = float(np.quantile(met[k], rng.uniform(0.02, 0.9)))
    allowed = {n: [o for o in sp.names if rng.random() < 0.8] or ["int8"] for n in cm.layers}
    a = solve_ilp(cm, sens, budgets, allowed)
    b = solve_bruteforce(cm, sens, budgets, allowed)
    assert a.feasible == b.feasible
    if a.feasible:
        assert a.objective == pytest.approx(b.objective, abs=1e-9)
        c = cm.evaluate(a.assignment)
        for k, v in budgets.items():
            got = {"latency_ms": c.latency_ms, "peak_ram": c.peak_ram, "flash": c.flash,
                   "weight_bytes": c.weight_bytes, "bitops": c.bitops}[k]
            assert got <= v * (1 + 1e-9)
        assert all(a.assignment[n] in allowed[n] for n in cm.layers)


def test_ilp_ram_constraint_is_exact_on_mobilenetv2_blocks():
    from qtrain import zoo

    net = NetInfo.from_model(zoo.build("mobilenetv2:width=0.25", (3, 32, 32), 10))
    sp = OptionSpace.parse("fp32,int8,int4")
    cm = CostModel(net, sp, make_latency("m7"))
    sens = np.tile(np.array([0.0, 1.0, 3.0]), (len(cm.layers), 1))
    # every layer in fp32 would need ~4x the int8 peak; give 2x the int8 peak
    int8_peak = cm.evaluate({n: "int8" for n in cm.layers}).peak_ram
    r = solve_ilp(cm, sens, {"peak_ram": 2 * int8_peak})
    assert r.feasible
    c = cm.evaluate(r.assignment)
    assert c.peak_ram <= 2 * int8_peak
    assert any(v == "fp32" for v in r.assignment.values())       # spends the slack on float layers
    assert solve_ilp(cm, sens, {"peak_ram": 10}).feasible is False
