"""Probe statistics in numpy (what ``qtrain probe`` writes, computed without torch).

For every compute layer: ``<layer>.in`` — the distribution of its input per
channel (shared bin edges, counts of non-zero values, exact-zero probability,
min/max/mean/var, percentiles); ``<layer>.out`` — the same for its
pre-activation output (the matrix-vector product plus bias, where analog noise
appears); and ``noise_prop[layer]`` ``(channels, classes)`` — the logit
variance per unit variance of i.i.d. Gaussian noise injected at every position
of one output channel (pre-activation), measured by small-noise injection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

import numpy as np

import qformat as qf

from .dist import histogram_edges
from .network import Network

PERCENTILES = (99.0, 99.9, 99.99)


def channel_samples(a: np.ndarray) -> np.ndarray:
    """``(B, C, ...)`` activations to ``(n, C)`` samples (batch and positions pooled)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        return a
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def activation_stats(a: np.ndarray, bins: int = 64, percentiles: Iterable[float] = PERCENTILES) -> qf.ActivationStats:
    """Per-channel statistics of activations ``(B, C, ...)`` (qformat's ActivationStats)."""
    x = channel_samples(a)
    n, c = x.shape
    edges = histogram_edges(x, bins)
    nz = x != 0
    counts = np.empty((c, edges.size - 1))
    for j in range(c):
        counts[j] = np.histogram(x[nz[:, j], j], bins=edges)[0]
    pct = {float(p): np.percentile(x, p, axis=0) for p in percentiles}
    return qf.ActivationStats(edges=edges, counts=counts, p_zero=1.0 - nz.mean(axis=0), min=x.min(axis=0),
                              max=x.max(axis=0), mean=x.mean(axis=0), var=x.var(axis=0), percentiles=pct, n=int(n))


def noise_propagation(net: Network, x: np.ndarray, rel_sigma: float = 1e-3, seed: int = 0,
                      draws: int = 2) -> dict[str, np.ndarray]:
    """``layer -> (channels, classes)``: logit variance per unit noise variance injected in one channel."""
    rng = np.random.default_rng(seed)
    rec: dict = {}
    clean = net.forward(x, record=rec)
    cache = dict(net.values())
    out = {}
    for name in net.compute_names:
        _, pre = rec[name]
        c = pre.shape[1]
        scale = float(np.sqrt(np.mean(pre * pre))) or 1.0
        sigma = rel_sigma * scale
        m = np.zeros((c, clean.shape[1]))
        for ch in range(c):
            acc = np.zeros(clean.shape[1])
            for _ in range(draws):
                noisy = pre.copy()
                noisy[:, ch] += sigma * rng.standard_normal(noisy[:, ch].shape)
                z = net.forward(None, start=(cache, name, noisy))
                acc += np.mean((z - clean) ** 2, axis=0)
            m[ch] = acc / draws / sigma ** 2
        out[name] = m
    return out


def probe_model(model, x: np.ndarray, bins: int = 64, noise_prop: bool = True, classes: Optional[int] = None,
                noise_images: int = 512, seed: int = 0, provenance: Optional[dict] = None) -> qf.ProbeStats:
    """Probe statistics of ``model`` on the batch ``x`` (float inputs, already preprocessed)."""
    net = Network(model)
    rec: dict = {}
    logits = net.forward(x, record=rec)
    k = classes if classes is not None else int(logits.shape[1])
    ps = qf.ProbeStats(classes=k, provenance=dict(provenance or {"tool": "cimnoise", "images": int(x.shape[0])}))
    for name in net.compute_names:
        xin, pre = rec[name]
        ps.add_site(name, "in", activation_stats(xin, bins))
        ps.add_site(name, "out", activation_stats(pre, bins))
    if noise_prop:
        sub = x[:noise_images]
        for name, m in noise_propagation(net, sub, seed=seed).items():
            ps.noise_prop[name] = m
    return ps
