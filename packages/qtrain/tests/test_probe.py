"""Probe: statistics against numpy, noise propagation against closed forms and Monte-Carlo injection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
from qtrain import zoo
from qtrain.graph import GraphNet
from qtrain.probe import noise_propagation, percentile_rows, probe, site_stats


@given(st.integers(1, 5), st.integers(1, 4), st.integers(2, 40), st.integers(0, 1000))
def test_site_stats_match_numpy(c, nblocks, bins, seed):
    rng = np.random.default_rng(seed)
    blocks = [np.where(rng.random((c, 50)) < 0.3, 0.0, rng.normal(size=(c, 50))).astype(np.float32)
              for _ in range(nblocks)]
    st_ = site_stats([torch.from_numpy(b) for b in blocks], bins=bins, percentiles=(1.0, 50.0, 99.0),
                     sample_cols=10**9)
    allv = np.concatenate(blocks, axis=1).astype(np.float64)
    edges = np.linspace(allv.min(), allv.max(), bins + 1)
    np.testing.assert_allclose(st_.edges, edges)
    for ch in range(c):
        nz = allv[ch][allv[ch] != 0]
        np.testing.assert_array_equal(st_.counts[ch], np.histogram(nz, edges)[0])
        assert st_.p_zero[ch] == pytest.approx((allv[ch] == 0).mean())
        assert st_.mean[ch] == pytest.approx(allv[ch].mean(), abs=1e-9)
        assert st_.var[ch] == pytest.approx(allv[ch].var(), rel=1e-6, abs=1e-9)
        assert st_.min[ch] == allv[ch].min() and st_.max[ch] == allv[ch].max()
        for p in (1.0, 50.0, 99.0):
            assert st_.percentiles[p][ch] == pytest.approx(np.percentile(allv[ch], p), rel=1e-6, abs=1e-9)
    assert st_.n == 50 * nblocks


def test_percentile_rows_interpolation():
    v = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert percentile_rows(v, [50.0])[50.0].tolist() == [2.5]


def _linear_mlp(seed=0):
    arch = zoo.build("mlp:widths=6/5,activation=none", (4,), 3)
    return GraphNet.from_arch(arch, seed=seed).eval()


def test_noise_jacobian_matches_closed_form_on_linear_net():
    net = _linear_mlp()
    w2 = net.module("fc2").weight.detach().double()
    w3 = net.module("fc3").weight.detach().double()
    x = [torch.randn(32, 4)]
    np_ = noise_propagation(net, x, "jacobian")
    np.testing.assert_allclose(np_["fc3"], np.eye(3), atol=1e-12)   # noise on the logits themselves
    np.testing.assert_allclose(np_["fc2"], (w3.T ** 2).numpy(), rtol=1e-6)                 # (C_out=5, classes)
    np.testing.assert_allclose(np_["fc1"], ((w3 @ w2).T ** 2).numpy(), rtol=1e-6)
    assert np_["fc1"].shape == (6, 3)


def test_noise_injection_agrees_with_jacobian():
    net = _linear_mlp(1)
    x = [torch.randn(2000, 4)]
    jac = noise_propagation(net, x, "jacobian")
    inj = noise_propagation(net, x, "inject", noise_std=1.0)
    for k in jac:
        np.testing.assert_allclose(inj[k], jac[k], rtol=0.15, atol=0.02)
    # on a ReLU network, small injected noise converges to the small-signal (Jacobian) value
    relu = GraphNet.from_arch(zoo.build("mlp:widths=8", (4,), 3), seed=2).eval()
    jr = noise_propagation(relu, x, "jacobian")
    ir = noise_propagation(relu, x, "inject", noise_std=1e-3)
    np.testing.assert_allclose(ir["fc1"], jr["fc1"], rtol=0.15, atol=1e-3)


def test_probe_artifact(digits_cnn, digits):
    net, _, _ = digits_cnn
    batches = [xb for xb, _ in digits.loader("val", 64)]
    ps = probe(net, batches, digits.classes, bins=32, provenance={"tool": "test"})
    names = [l.name for l in net.compute_layers()]
    assert sorted(ps.sites()) == sorted([f"{n}.in" for n in names] + [f"{n}.out" for n in names])
    first = ps.site(names[0], "in")
    assert first.channels == 1 and first.min[0] >= 0.0 and first.p_zero[0] > 0.2  # digits are mostly blank
    out = ps.site(names[0], "out")
    assert out.min.min() < 0 < out.max.max()  # pre-activation output keeps signed values
    second_in = ps.site(names[1], "in")
    assert second_in.min.min() >= 0 and second_in.p_zero.mean() > 0  # after ReLU (and pooling)
    for n in names:
        cout = net.layer(n).out_shape[0]
        assert ps.noise_prop[n].shape == (cout, 10) and np.all(ps.noise_prop[n] >= 0)
    np.testing.assert_allclose(ps.noise_prop[names[-1]], np.eye(10), atol=1e-9)
    again = qf.from_bytes(qf.to_bytes(ps))
    assert sorted(again.sites()) == sorted(ps.sites())
    np.testing.assert_allclose(again.site(names[0], "out").counts, out.counts)
