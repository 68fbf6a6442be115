"""Property tests: the fast engine against the cycle-stepping reference, case by case."""

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from accelsim import reference as R
from accelsim.analysis import cycle_range, utilization
from accelsim.core import (
    ORDERS,
    SEMANTICS,
    container_shares,
    lane_en,
    lane_ids,
    value_ids,
)
from accelsim.fast import LayerData, simulate_layer
from accelsim.functional import accelerator_outputs
from accelsim.trace import neuron_trace

PALETTE = [-0.5, -0.375, -0.25, -0.125, 0.0, -0.0, 0.125, 0.25, 0.375, 0.5, 0.625]

neuron = st.lists(st.sampled_from(PALETTE), min_size=1, max_size=40)


@st.composite
def layer(draw, max_o=5):
    N = draw(st.integers(1, 40))
    O = draw(st.integers(1, max_o))
    k = draw(st.integers(1, len(PALETTE)))       # how many palette entries this layer may use
    pal = draw(st.permutations(PALETTE))[:k]
    rows = [draw(st.lists(st.sampled_from(pal), min_size=N, max_size=N)) for _ in range(O)]
    return np.array(rows, dtype=np.float64)


@given(w=layer(), S=st.lists(st.integers(1, 12), min_size=1, max_size=3),
       C=st.lists(st.integers(1, 10), min_size=1, max_size=3))
def test_fast_equals_stepping_engine(w, S, C):
    ld = LayerData.from_weights("L", w)
    g = simulate_layer(ld, S, C, ORDERS, SEMANTICS)
    for i, S_ in enumerate(g.S):
        for j, order in enumerate(g.orders):
            for k, C_ in enumerate(g.C):
                for o in range(w.shape[0]):
                    for sem in SEMANTICS:
                        ref = R.step(list(w[o]), int(S_), int(C_), order, sem, trace=False)
                        got = int(g.cycles[sem][i, j, k, o])
                        assert (None if got < 0 else got) == ref.cycles, (o, S_, C_, order, sem)


@given(w=neuron, S=st.integers(1, 12), C=st.integers(1, 10), order=st.sampled_from(ORDERS))
def test_original_loops_agree_with_clean_stepping(w, S, C, order):
    st_ = R.neuron_setup(w, S, C, order)
    assume(st_.quota is not None)
    ens = [R.group_en(g, st_.zero_id, st_.quota, st_.cmap)[0] for g in st_.groups]
    assert R.original_loop_v0624(ens)[0] == R.step(w, S, C, order, "v0624", trace=False).cycles
    assert R.original_fsm_v0618(ens)[0] == R.step(w, S, C, order, "v0618", trace=False).cycles


@given(w=neuron, S=st.integers(1, 12), C=st.integers(1, 10), order=st.sampled_from(ORDERS))
def test_closed_forms(w, S, C, order):
    """T_0624 = G + sum max(0, max(n-q)); T_0618 = 2G - Z + same; and T_0624 >= G."""
    r = R.step(w, S, C, order, trace=False)
    assume(r.cycles is not None)
    st_ = R.neuron_setup(w, S, C, order)
    G = len(st_.groups)
    E = Z = 0
    for g in st_.groups:
        n = {}
        for i in g:
            if i != st_.zero_id:
                n[i] = n.get(i, 0) + 1
        Z += not n
        E += max([0] + [n[i] - st_.quota[i] for i in n])
    assert r.cycles == G + E >= G
    assert R.step(w, S, C, order, "v0618", trace=False).cycles == 2 * G - Z + E


@given(counts=st.lists(st.integers(1, 60), min_size=1, max_size=12), extra=st.integers(0, 40))
def test_shares_match_reference(counts, extra):
    U = len(counts)
    C = U + extra
    w = []
    for i, c in enumerate(counts):
        w += [0.125 * (i + 1)] * c
    ref = R.neuron_setup(w, 4, C).quota
    q = container_shares(np.array([counts]), np.array([U]), C)[0]
    assert q.tolist() == [ref[k] for k in sorted(ref)]
    assert q.sum() == C and q.min() >= 1


@given(w=neuron, S=st.integers(1, 12), C=st.integers(1, 10), order=st.sampled_from(ORDERS),
       improved=st.booleans())
def test_lane_en_and_containers_match_reference(w, S, C, order, improved):
    st_ = R.neuron_setup(w, S, C, order)
    assume(st_.quota is not None)
    ids, _, counts, U = value_ids(np.array([w], dtype=np.float64))
    q = container_shares(counts, U, C)[0]
    en, cont = lane_en(lane_ids(ids, S, order)[0], q, "improved" if improved else "v0624")
    for g, grp in enumerate(st_.groups):
        e, c = R.group_en(grp, st_.zero_id, st_.quota, st_.cmap, improved)
        assert en[g].tolist() == e
        assert cont[g].tolist() == [-1 if x is None else x for x in c]


@given(w=neuron, S=st.integers(1, 12), C=st.integers(1, 10), order=st.sampled_from(ORDERS),
       sem=st.sampled_from(SEMANTICS), mult=st.integers(1, 3))
def test_trace_matches_stepping_engine(w, S, C, order, sem, mult):
    ref = R.step(w, S, C, order, sem, multipliers=mult)
    assume(ref.cycles is not None)
    ids, _, counts, U = value_ids(np.array([w], dtype=np.float64))
    q = container_shares(counts, U, C)[0]
    en, cont = lane_en(lane_ids(ids, S, order)[0], q, sem)
    tr = neuron_trace(en, cont, sem, int(U[0]), mult)
    assert len(tr["cycle"]) == ref.cycles
    for i, (clk, g, phase, step, reg, cc) in enumerate(ref.rows):
        assert tr["cycle"][i] == clk
        assert tr["group"][i] == (-1 if g is None else g)
        assert tr["phase"][i] == phase and tr["step"][i] == step
        assert tr["en_acc"][i].tolist() == reg
        assert tr["container"][i].tolist() == [-1 if x is None else x for x in cc]
        assert tr["fires"][i] == sum(r == 1 for r in reg)


@given(w=layer(max_o=3), S=st.integers(1, 12), C=st.integers(1, 10), order=st.sampled_from(ORDERS))
def test_utilization_matches_stepping_engine(w, S, C, order):
    ld = LayerData.from_weights("L", w)
    u = utilization(ld, S, C, order)
    for o in range(w.shape[0]):
        ref = R.step(list(w[o]), S, C, order, trace=False)
        assert u.feasible[o] == (ref.cycles is not None)
        if ref.cycles is None:
            continue
        flat = [e for g in ref.en for e in g]
        assert u.idle[o] == flat.count(0)
        assert u.immediate[o] == flat.count(1)
        assert u.delayed[o] == sum(e > 1 for e in flat)
        assert u.accumulations[o].tolist() == ref.fires


@given(w=layer(max_o=3), S=st.integers(1, 12), C=st.integers(1, 10), order=st.sampled_from(ORDERS),
       seed=st.integers(0, 2**16))
def test_functional_bit_exact(w, S, C, order, seed):
    rng = np.random.default_rng(seed)
    N = w.shape[1]
    x = rng.integers(-128, 128, size=(3, N))
    x[rng.random((3, N)) < 0.3] = 0
    codes = np.round(w * 8).astype(np.int64)
    ld = LayerData.from_weights("L", w)
    res = accelerator_outputs(ld, codes, x, S, C, order)
    assert np.array_equal(res.dot, x @ codes.T)
    for o in range(w.shape[0]):
        if not res.feasible[o]:
            continue
        assert res.ok[o]
        for b in range(3):
            ref = R.step(list(w[o]), S, C, order, "v0624", acts=list(x[b]), codes=list(codes[o]), trace=False)
            assert ref.output == res.accel[b, o] == res.dot[b, o]


@given(w=layer(max_o=3), S=st.lists(st.integers(1, 10), min_size=1, max_size=2),
       C=st.lists(st.integers(1, 9), min_size=1, max_size=2), seed=st.integers(0, 2**16),
       mult=st.integers(1, 3))
def test_activation_sparsity_matches_stepping_engine(w, S, C, seed, mult):
    rng = np.random.default_rng(seed)
    N = w.shape[1]
    x = rng.integers(1, 5, size=(3, N)) * (rng.random((3, N)) < 0.5)
    ld = LayerData.from_weights("L", w)
    g = simulate_layer(ld, S, C, ORDERS, ("improved",), acts=x, multipliers=mult)
    for i, S_ in enumerate(g.S):
        for j, order in enumerate(g.orders):
            for k, C_ in enumerate(g.C):
                for o in range(w.shape[0]):
                    refs = [R.step(list(w[o]), int(S_), int(C_), order, "improved", acts=list(x[b]),
                                   multipliers=mult, trace=False).cycles for b in range(3)]
                    if refs[0] is None:
                        assert np.isnan(g.act["mean"][i, j, k, o])
                        continue
                    assert math.isclose(g.act["mean"][i, j, k, o], sum(refs) / 3)
                    assert g.act["max"][i, j, k, o] == max(refs) and g.act["min"][i, j, k, o] == min(refs)
                    assert g.act["sum"][i, j, k, o] == sum(refs)


@given(w=layer(max_o=3), S=st.integers(1, 12), C=st.integers(1, 10), order=st.sampled_from(ORDERS))
def test_improvements_never_cost_cycles_before_multiply(w, S, C, order):
    g = simulate_layer(LayerData.from_weights("L", w), [S], [C], (order,), ("v0624", "improved"))
    ok = g.cycles["v0624"] >= 0
    imp = g.improved
    assert np.all(imp["saved_sched"][ok] >= 0) and np.all(imp["saved_skip"][ok] >= 0)
    assert np.array_equal(imp["base"][ok], g.cycles["v0624"][ok])
    assert np.array_equal((imp["base"] - imp["saved_sched"] - imp["saved_skip"] + imp["mult"])[ok],
                          g.cycles["improved"][ok])


@given(w=st.lists(st.sampled_from(PALETTE), min_size=1, max_size=60))
def test_value_ids_rank_nonzero_values(w):
    ids, values, counts, U = value_ids(np.array([w]))
    distinct = sorted({v for v in w if v != 0})
    assert U[0] == len(distinct)
    assert list(values[0, :U[0]]) == distinct
    for v, i in zip(w, ids[0]):
        assert i == (-1 if v == 0 else distinct.index(v))
    assert counts[0].sum() == sum(v != 0 for v in w)


@given(c=st.lists(st.lists(st.integers(-1, 500), min_size=1, max_size=12), min_size=1, max_size=4))
def test_cycle_range_matches_python_statistics(c):
    n = min(len(r) for r in c)
    arr = np.array([r[:n] for r in c])
    got = cycle_range(arr)
    for k, row in enumerate(arr.tolist()):
        ok = [v for v in row if v >= 0]
        assert got["feasible"][k] == len(ok) and got["skipped"][k] == n - len(ok)
        if not ok:
            assert np.isnan(got["min"][k]) and np.isnan(got["mean"][k]) and np.isnan(got["total"][k])
            continue
        assert got["min"][k] == min(ok) and got["max"][k] == max(ok)
        assert math.isclose(got["mean"][k], sum(ok) / len(ok))
        assert got["total_feasible"][k] == sum(ok)
        assert (got["total"][k] == sum(ok)) if len(ok) == n else np.isnan(got["total"][k])
        if len(ok) > 1:
            m = sum(ok) / len(ok)
            assert math.isclose(got["std"][k], math.sqrt(sum((v - m) ** 2 for v in ok) / (len(ok) - 1)),
                                rel_tol=1e-9, abs_tol=1e-9)
        else:
            assert np.isnan(got["std"][k])
