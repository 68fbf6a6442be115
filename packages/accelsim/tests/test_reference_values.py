"""The original's reference numbers (accelsim.md section 8) and its worked example (section 1)."""

import numpy as np
import pytest

from accelsim import reference as R
from accelsim.core import container_shares, lane_en, lane_ids, n_groups, value_ids
from accelsim.fast import LayerData, simulate_layer

L0N0_S16 = [168, 149, 135, 119, 117, 105, 97, 93, 84, 78, 71, 66]          # C = 5..16
L0N0_S16_INTERLEAVED = [129, 106, 91, 74, 71, 64, 57, 54, 52, 52, 50, 50]
TOTALS = {"network.0": (4454, 2119), "network.2": (537, 252), "network.4": (169, 79)}   # S8C8 / S16C16


@pytest.fixture(scope="module")
def grids(mats):
    return {k: simulate_layer(LayerData.from_weights(k, w), range(4, 17), range(4, 17),
                              ("sequential", "interleaved"), ("v0624", "v0618")) for k, w in mats.items()}


def cyc(grid, S, C, order="sequential", sem="v0624"):
    return grid.cycles[sem][list(grid.S).index(S), list(grid.orders).index(order), list(grid.C).index(C)]


def test_layer0_neuron0_corners(grids):
    g = grids["network.0"]
    assert [int(cyc(g, S, C)[0]) for S, C in [(15, 15), (15, 16), (16, 15), (16, 16)]] == [75, 71, 71, 66]


def test_layer0_neuron0_S16_sweep(grids):
    g = grids["network.0"]
    assert [int(cyc(g, 16, C)[0]) for C in range(5, 17)] == L0N0_S16
    assert [int(cyc(g, 16, C, "interleaved")[0]) for C in range(5, 17)] == L0N0_S16_INTERLEAVED


def test_layer0_neuron0_C4_infeasible(grids):
    g = grids["network.0"]
    assert g.layer.U[0] == 5
    assert cyc(g, 16, 4)[0] == -1 and not g.feasible[0, 0]


@pytest.mark.parametrize("layer", list(TOTALS))
def test_layer_totals(grids, layer):
    g = grids[layer]
    assert (int(cyc(g, 8, 8).sum()), int(cyc(g, 16, 16).sum())) == TOTALS[layer]


@pytest.mark.parametrize("layer", list(TOTALS))
def test_layer_totals_reference_engine(mats, layer):
    got = tuple(sum(R.step(list(r), S, C, trace=False).cycles for r in mats[layer]) for S, C in [(8, 8), (16, 16)])
    assert got == TOTALS[layer]


def test_reference_engine_neuron0(mats):
    w = list(mats["network.0"][0])
    assert [R.step(w, 16, C, trace=False).cycles for C in range(5, 17)] == L0N0_S16
    assert [R.step(w, 16, C, "interleaved", trace=False).cycles for C in range(5, 17)] == L0N0_S16_INTERLEAVED
    assert R.step(w, 16, 4).cycles is None


def test_all_zero_neuron_costs_G(mats, grids):
    w0 = mats["network.0"]
    zero = np.nonzero(~w0.any(axis=1))[0]
    assert zero.size == 1       # neuron 4 of layer 0 is fully pruned
    g = grids["network.0"]
    for S in range(4, 17):
        for C in range(4, 17):
            assert cyc(g, S, C)[zero[0]] == n_groups(784, S)
            assert cyc(g, S, C, "interleaved")[zero[0]] == n_groups(784, S)
            assert cyc(g, S, C, sem="v0618")[zero[0]] == n_groups(784, S)   # one fetch cycle per empty group
    assert R.step([0.0] * 30, 4, 4).cycles == 8


def test_v0618_minus_v0624_is_nonempty_groups(grids):
    for g in grids.values():
        d = g.cycles["v0618"] - g.cycles["v0624"]
        G = g.groups[:, None, None, None]
        nonempty = (G - g.empty_groups[:, :, None, :])
        ok = g.cycles["v0624"] >= 0
        assert np.array_equal(d[ok], np.broadcast_to(nonempty, d.shape)[ok])


# ---- the synthetic example of accelsim.md section 1 ----------------------------------------
EX = [.25, .25, .25, .25, -.125, 0, .25, -.125, 0, .5]


def test_example_ids_and_shares():
    st = R.neuron_setup(EX, 4, 5)
    assert st.values == [-.125, 0.0, .25, .5] and st.zero_id == 1
    assert st.freq == {2: 5, 0: 2, 3: 1} and st.quota == {0: 2, 2: 2, 3: 1}
    _, values, counts, U = value_ids(np.array([EX]))
    assert list(values[0]) == [-.125, .25, .5] and list(counts[0]) == [2, 5, 1] and U[0] == 3
    assert list(container_shares(counts, U, 5)[0]) == [2, 2, 1]


def test_example_groups_en_and_cycles():
    st = R.neuron_setup(EX, 4, 5)
    assert st.groups == [[2, 2, 2, 2], [0, 1, 2, 0], [1, 3, 1, 1]]
    ens = [R.group_en(g, st.zero_id, st.quota, st.cmap)[0] for g in st.groups]
    assert ens == [[1, 1, 2, 3], [1, 0, 1, 1], [0, 1, 0, 0]]
    ids, _, counts, U = value_ids(np.array([EX]))
    en, _ = lane_en(lane_ids(ids, 4, "sequential")[0], container_shares(counts, U, 5)[0])
    assert en.tolist() == ens
    assert R.step(EX, 4, 5).cycles == 5 and R.step(EX, 4, 5, semantics="v0618").cycles == 8
    assert R.step(EX, 4, 5, "interleaved").cycles == 4
    g = simulate_layer(LayerData.from_weights("x", np.array([EX])), [4], [5], ("sequential", "interleaved"),
                       ("v0624", "v0618"))
    assert g.cycles["v0624"][0, :, 0, 0].tolist() == [5, 4]
    assert g.cycles["v0618"][0, 0, 0, 0] == 8


def test_example_interleaved_groups():
    st = R.neuron_setup(EX, 4, 5, "interleaved")
    assert st.groups == [[2, 2, 2, 3], [2, 0, 0, 1], [2, 1, 1, 1]]


def test_example_original_trace_rows():
    st = R.neuron_setup(EX, 4, 5)
    ens = [R.group_en(g, st.zero_id, st.quota, st.cmap)[0] for g in st.groups]
    T, rows = R.original_loop_v0624(ens)
    assert T == 5
    assert rows == [(0, 0, 0, 0, 0, 0), (1, 1, 1, 1, 2, 3), (2, 1, 0, 0, 1, 2), (3, 1, 0, 0, 0, 1), (4, 2, 1, 0, 1, 1)]
    T18, _ = R.original_fsm_v0618(ens)
    assert T18 == 8


def test_example_clean_trace():
    r = R.step(EX, 4, 5)
    assert [(c, g, e) for c, g, _, _, e, _ in r.rows] == [
        (0, 0, [1, 1, 2, 3]), (1, 0, [0, 0, 1, 2]), (2, 0, [0, 0, 0, 1]), (3, 1, [1, 0, 1, 1]), (4, 2, [0, 1, 0, 0])]


def test_share_float_order_matters():
    """Only ``freq/total*rem`` in float64 (not ``rem*freq/total``, not exact fractions) gives
    layer 2 S16C16 = 252. Layer 2 neuron 33 at C=16 is one of the neurons where the order
    decides an exact-arithmetic tie: counts [3,3,4,9,4,2], rem 10, total 25.
    """
    counts = np.array([[3, 3, 4, 9, 4, 2]])
    assert container_shares(counts, np.array([6]), 16)[0].tolist() == [2, 2, 3, 4, 3, 2]   # not [2,2,3,5,2,2]
    w = [-.5] * 3 + [-.25] * 3 + [.125] * 4 + [.25] * 9 + [.375] * 4 + [.5] * 2
    st = R.neuron_setup(w, 16, 16)
    assert [st.quota[k] for k in sorted(st.quota)] == [2, 2, 3, 4, 3, 2]
