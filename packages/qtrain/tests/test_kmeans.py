"""k-means weight sharing with pruning: the fast 1-D k-means vs Lloyd's, shared gradients, the artifact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
from qtrain.errors import ConfigError
from qtrain.graph import GraphNet, safe_key
from qtrain.quant.kmeans import (
    SharedWeight,
    apply_kmeans,
    apply_pruning,
    kmeans_1d,
    kmeans_1d_reference,
    kmeans_model,
    magnitude_mask,
)
from qtrain.train import TrainConfig, evaluate, fit


@given(st.integers(1, 12), st.integers(0, 10_000), st.integers(5, 300))
def test_kmeans_1d_matches_lloyd_reference(k, seed, n):
    rng = np.random.default_rng(seed)
    v = np.concatenate([rng.normal(0, 1, n), rng.normal(3, 0.2, n // 3 + 1)])
    c, a = kmeans_1d(torch.from_numpy(v), k)
    cr, ar = kmeans_1d_reference(v, k)
    np.testing.assert_allclose(c.numpy(), cr, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(a.numpy(), ar)


def test_magnitude_mask_exact_sparsity():
    w = torch.arange(-50, 50, dtype=torch.float32).reshape(10, 10)
    m = magnitude_mask(w, 0.3)
    assert int((~m).sum()) == 30
    assert float(w[~m].abs().max()) <= float(w[m].abs().min())
    with pytest.raises(ConfigError):
        magnitude_mask(w, 1.0)


def test_shared_weight_gradient_is_sum_over_cluster():
    codebook = torch.tensor([-1.0, 0.5, 2.0])
    idx = torch.tensor([[0, 1, 2], [1, 1, 0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    sw = SharedWeight(codebook, idx, mask)
    w = sw()
    assert w.tolist() == [[-1.0, 0.5, 0.0], [0.5, 0.5, -1.0]]
    g = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    (w * g).sum().backward()
    assert sw.codebook.grad.tolist() == [1.0 + 6.0, 2.0 + 4.0 + 5.0, 0.0]  # pruned entries give no gradient
    per_neuron = SharedWeight(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), torch.tensor([[1, 0], [0, 1]]),
                              torch.ones(2, 2, dtype=torch.bool))
    assert per_neuron().tolist() == [[1.0, 0.0], [2.0, 3.0]]


@pytest.mark.parametrize("per,k", [("layer", 8), ("neuron", 4)])
def test_kmeans_pipeline_and_artifact(per, k, digits_mlp, digits):
    net0, float_acc, _ = digits_mlp
    net = GraphNet.from_model(net0.to_model())
    apply_pruning(net, 0.5)
    res = fit(net, digits, TrainConfig(epochs=2, batch_size=64, lr=1e-3))
    net = res.net
    for lay in net.compute_layers():  # pruned weights stay zero through fine-tuning
        q = net.wq[safe_key(lay.name)]
        assert torch.all(net.weight(lay.name)[~q.mask] == 0)
    apply_kmeans(net, k, per)
    res = fit(net, digits, TrainConfig(epochs=3, batch_size=64, lr=1e-3))
    acc, _ = evaluate(res.net, digits.loader("test", 512))
    assert acc >= float_acc - 0.03
    m = kmeans_model(res.net, {"tool": "test"})
    m.validate()
    for lay in m.compute_layers():
        w = m.get(lay.name, "weight")
        cb, idx, mask = (m.get(lay.name, t) for t in ("weight_codebook", "weight_indices", "weight_mask"))
        assert lay.quant.weight.scheme == "kmeans" and lay.quant.weight.per_channel == (per == "neuron")
        sub = cb[idx] if cb.ndim == 1 else np.take_along_axis(cb, idx.reshape(cb.shape[0], -1).astype(np.int64), 1).reshape(w.shape)
        np.testing.assert_array_equal(w, np.where(mask, sub, 0.0).astype(np.float32))
        assert not np.any(np.signbit(w[~mask]))           # exact +0.0 where pruned
        assert 0.49 <= 1 - mask.mean() <= 0.51
        rows = w.reshape(w.shape[0], -1)
        if per == "neuron":
            assert max(len(np.unique(r[r != 0])) for r in rows) <= k
        else:
            assert len(np.unique(w[w != 0])) <= k
    # the artifact round-trips and runs in the reference interpreter
    again = qf.from_bytes(qf.to_bytes(m))
    x, _ = digits.loader("test", 64).arrays()
    np.testing.assert_allclose(qf.run(again, x[:16], mode="float"), qf.run(m, x[:16], mode="float"), rtol=1e-6)


def test_kmeans_errors(digits_mlp):
    net = GraphNet.from_model(digits_mlp[0].to_model())
    with pytest.raises(ConfigError, match="per"):
        apply_kmeans(net, 4, "row")
    with pytest.raises(ConfigError, match="not compute layers"):
        apply_kmeans(net, 4, "layer", layers=["nope"])
