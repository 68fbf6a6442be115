"""Any integer-quantized qformat model: codes as shared values, conv filters as neurons, errors."""

import numpy as np
import pytest
from qmodels import float_model, fp16_model, int_model

import qformat as qf
from accelsim import api
from accelsim.fast import LayerData, simulate_layer
from accelsim.network import LayerError, sim_layer


def test_codes_are_the_shared_values_and_conv_filters_are_neurons():
    m = int_model()
    t = api.sweep(m, [4], [4], ["sequential"]).to_pydict()
    rows = {(lay, n): i for i, (lay, n) in enumerate(zip(t["layer"], t["neuron"]))}
    for lname in ("conv1", "dw", "fc"):
        codes = m.get(lname, "weight_codes").astype(np.int64)
        flat = codes.reshape(codes.shape[0], -1)
        for o in range(flat.shape[0]):
            i = rows[(lname, o)]
            assert t["distinct"][i] == len(np.unique(flat[o][flat[o] != 0]))
            assert t["fan_in"][i] == flat.shape[1]          # I/groups*kh*kw for conv
    assert t["fan_in"][rows[("dw", 0)]] == 9 and t["positions"][rows[("dw", 0)]] == 36
    assert t["fan_in"][rows[("fc", 0)]] == 144 and t["positions"][rows[("fc", 0)]] == 1


def test_cycles_equal_engine_on_the_code_matrix():
    m = int_model()
    codes = m.get("conv1", "weight_codes").astype(np.int64).reshape(4, -1)
    g = simulate_layer(LayerData.from_weights("conv1", codes), [2, 3], [3, 5], ("sequential", "interleaved"))
    t = api.sweep(m, [2, 3], [3, 5], ["sequential", "interleaved"], layers=["conv1"]).to_pydict()
    i = 0
    for o in range(4):
        for a, S in enumerate((2, 3)):
            for c, C in enumerate((3, 5)):
                for r, order in enumerate(("sequential", "interleaved")):
                    want = int(g.cycles["v0624"][a, r, c, o])
                    assert (t["neuron"][i], t["S"][i], t["C"][i], t["order"][i]) == (o, S, C, order)
                    assert t["cycles"][i] == (None if want < 0 else want)
                    i += 1


def test_two_bit_layer_has_at_most_three_values():
    m = int_model(bits=(2, 2, 2), narrow=False, prune=0.0)
    t = api.sweep(m, [4], [3, 4]).to_pydict()
    assert max(t["distinct"]) <= 3
    assert all(c is not None for c in t["cycles"])        # C=3 always suffices for 2-bit codes


def test_precision_changes_cycles_and_container_needs():
    lo = api.sweep(int_model(bits=(2, 2, 2), seed=1), [8], [4], layers=["fc"]).to_pydict()
    hi = api.sweep(int_model(bits=(8, 8, 8), seed=1), [8], [4], layers=["fc"]).to_pydict()
    assert max(lo["distinct"]) <= 3 < min(hi["distinct"])
    assert all(c is not None for c in lo["cycles"]) and all(c is None for c in hi["cycles"])


def test_activations_from_integer_run_functional_check_and_sparsity():
    m = int_model()
    x = np.random.default_rng(3).random((2, 1, 6, 6)).astype(np.float32)
    x[x < 0.4] = 0
    t = api.run(m, 4, 8, "sequential", ["v0624", "improved"], acts=x).to_pydict()
    feasible = [i for i, c in enumerate(t["cycles"]) if c is not None]
    assert feasible and all(t["func_ok"][i] is True for i in feasible)
    assert all(t["func_ok"][i] is None for i, c in enumerate(t["cycles"]) if c is None)
    for i in feasible:
        if t["semantics"][i] == "improved":
            assert t["act_cycles_mean"][i] <= t["cycles"][i]
            assert t["act_samples"][i] == (72 if t["layer"][i] != "fc" else 2)
        else:
            assert t["act_cycles_mean"][i] is None


def test_fp16_layer_is_refused_with_its_name():
    m = fp16_model()
    with pytest.raises(LayerError, match="'dw'.*fp16"):
        api.sweep(m, [4], [4])
    t = api.sweep(m, [4], [4], skip_unsupported=True).to_pydict()
    assert set(t["layer"]) == {"conv1", "fc"}
    assert set(api.sweep(m, [4], [4], layers=["conv1"]).to_pydict()["layer"]) == {"conv1"}


def test_unquantized_float_layer_is_refused():
    with pytest.raises(LayerError, match="'fc'.*not quantized"):
        sim_layer(float_model(), float_model().layer("fc"))


def test_kmeans_json_import_matches_plain_matrices(json_path, mats):
    from qformat.importers import import_kmeans_json

    m = import_kmeans_json(json_path)
    t = api.sweep(m, [8, 16], [8, 16], ["sequential"]).to_pydict()
    t2 = api.sweep(mats, [8, 16], [8, 16], ["sequential"]).to_pydict()
    assert t["cycles"] == t2["cycles"] and t["layer"] == t2["layer"]
    tot = {}
    for lay, S, C, c in zip(t["layer"], t["S"], t["C"], t["cycles"]):
        tot[(lay, S, C)] = tot.get((lay, S, C), 0) + c
    assert tot[("network.2", 16, 16)] == 252 and tot[("network.0", 8, 8)] == 4454


def test_neuron_selection(mats):
    t = api.sweep(mats, [16], [16], ["sequential"], layers=["network.0:0,4", "network.4:2-3"]).to_pydict()
    assert list(zip(t["layer"], t["neuron"])) == [("network.0", 0), ("network.0", 4), ("network.4", 2), ("network.4", 3)]
    assert t["cycles"][0] == 66 and t["cycles"][1] == 49          # neuron 4 is all zero: G = 49
    with pytest.raises(ValueError, match="no compute layer matches"):
        api.sweep(mats, [16], [16], layers=["conv9"])


def test_range_is_null_aware(mats):
    t = api.cycle_ranges(mats, [16], [4, 16], ["sequential"]).to_pydict()
    rows = {(lay, C): i for i, (lay, C) in enumerate(zip(t["layer"], t["C"]))}
    i = rows[("network.0", 4)]
    assert t["skipped"][i] > 0 and t["total"][i] is None and t["layer_cycles"][i] is None
    assert t["feasible"][i] + t["skipped"][i] == 32 and t["total_feasible"][i] is not None
    j = rows[("network.0", 16)]
    assert t["total"][j] == 2119 and t["skipped"][j] == 0 and t["min"][j] <= t["mean"][j] <= t["max"][j]
    assert t["layer_cycles"][rows[("*", 16)]] == 2119 + 252 + 79


def test_util_rows_add_up(mats):
    t = api.util(mats, [8], [8], layers=["network.4"]).to_pydict()
    lvl = np.array(t["level"])
    acc_c = sum(a for a, lv in zip(t["accumulations"], lvl) if lv == "container")
    acc_n = sum(a for a, lv in zip(t["accumulations"], lvl) if lv == "neuron")
    (li,) = np.nonzero(lvl == "layer")[0]
    assert acc_c == acc_n == t["accumulations"][li] == t["en_immediate"][li] + t["en_delayed"][li]
    assert t["en_idle"][li] + acc_n == t["lanes"][li]
    assert t["cycles"][li] == 169                                  # layer 4 at S8C8
    assert 0 < t["utilization"][li] <= 1


def test_int_model_roundtrip_through_qformat(tmp_path):
    m = int_model()
    qf.save(m, tmp_path / "m.qz")
    b = qf.read_bundle(tmp_path / "m.qz")
    assert api.sweep(b.model(), [4], [8]).equals(api.sweep(m, [4], [8]))


def test_float_centroids_without_fixed_point_form_still_check_bit_exact():
    rng = np.random.default_rng(5)
    book = rng.normal(size=(6,)) / 7            # arbitrary float centroids
    idx = rng.integers(0, 6, size=(4, 30))
    w = book[idx]
    w[rng.random(w.shape) < 0.3] = 0
    m = qf.Model([qf.Layer("input", "input", attrs={"shape": [30]}),
                  qf.Layer("fc", "linear", ["input"], {"in_features": 30, "out_features": 4},
                           quant=qf.LayerQuant(weight=qf.WeightQuant(bits=3, signed=False, scheme="kmeans")))])
    m.set("fc", "weight", w.astype(np.float32))
    sl = sim_layer(m, m.layer("fc"))
    assert sl.code_frac == 12 and "rounded" in sl.source
    x = rng.random((3, 30))
    t = api.run(m, 4, 8, acts=x).to_pydict()
    assert t["func_ok"] == [True] * 4 and t["func_samples"] == [3] * 4
