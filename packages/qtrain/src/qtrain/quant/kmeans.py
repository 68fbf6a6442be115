"""k-means weight sharing with magnitude pruning (Deep Compression style).

For each selected compute layer:

1. **Prune**: zero the smallest-magnitude weights to the target sparsity (per
   layer; ``weight_mask`` False = pruned). Optionally fine-tune the surviving
   weights with the mask fixed (:class:`MaskedWeight`).
2. **Cluster**: 1-D k-means (linear initialisation between min and max, which
   Deep Compression found best; Lloyd iterations to convergence) of the
   surviving weights, with ``k`` centroids per layer or per neuron (output row).
3. **Fine-tune with shared centroids** (:class:`SharedWeight`): the weight is
   ``codebook[indices] * mask``; the gradient of a centroid is the sum of the
   gradients of the weights that share it.

Export: ``weight_codebook`` ``(k,)`` or ``(O, k)``, ``weight_indices`` (same shape
as the weight), ``weight_mask``, and ``weight`` = centroids substituted with
exact zeros where pruned (what the weight-sharing accelerator reads).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from qformat.model import Model
from qformat.spec import LayerQuant, WeightQuant

from ..errors import ConfigError
from ..graph import GraphNet, safe_key

__all__ = ["kmeans_1d", "kmeans_1d_reference", "magnitude_mask", "SharedWeight", "MaskedWeight", "apply_pruning",
           "apply_kmeans", "kmeans_model"]


def kmeans_1d(values: torch.Tensor, k: int, iters: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means of 1-D ``values`` with linear init; returns ``(centroids (k,), assignment (N,))``.

    Fast path: values are sorted once, so each assignment step is a
    ``searchsorted`` against the midpoints between sorted centroids.
    Empty clusters keep their previous centroid.
    """
    v = values.detach().double().reshape(-1)
    if v.numel() == 0:
        return torch.zeros(k, dtype=torch.float64), torch.zeros(0, dtype=torch.long)
    lo, hi = float(v.min()), float(v.max())
    c = torch.linspace(lo, hi, k, dtype=torch.float64) if k > 1 else v.mean().reshape(1)
    vs, order = torch.sort(v)
    csum = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(vs, 0)])
    for _ in range(iters):
        c, _ = torch.sort(c)
        mids = (c[1:] + c[:-1]) / 2
        bounds = torch.cat([torch.zeros(1, dtype=torch.long), torch.searchsorted(vs, mids, right=True),
                            torch.tensor([vs.numel()])])
        cnt = bounds[1:] - bounds[:-1]
        sums = csum[bounds[1:]] - csum[bounds[:-1]]
        new = torch.where(cnt > 0, sums / cnt.clamp_min(1), c)
        if torch.allclose(new, c, rtol=0, atol=1e-12):
            c = new
            break
        c = new
    c, _ = torch.sort(c)
    assign = _nearest(v, c)
    return c, assign


def _nearest(v: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (ties to the lower one); ``c`` sorted ascending."""
    if c.numel() == 1:
        return torch.zeros(v.numel(), dtype=torch.long)
    mids = (c[1:] + c[:-1]) / 2
    return torch.searchsorted(mids, v.contiguous(), right=False)


def kmeans_1d_reference(values: np.ndarray, k: int, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The obvious O(N k) Lloyd's algorithm, same init and tie rules (test oracle for :func:`kmeans_1d`)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    c = np.linspace(v.min(), v.max(), k) if k > 1 else np.array([v.mean()])
    for _ in range(iters):
        c = np.sort(c)
        d = np.abs(v[:, None] - c[None, :])
        a = np.argmin(d, axis=1)  # first minimum = lower centroid on ties
        new = np.array([v[a == j].mean() if np.any(a == j) else c[j] for j in range(k)])
        if np.allclose(new, c, rtol=0, atol=1e-12):
            c = new
            break
        c = new
    c = np.sort(c)
    a = np.argmin(np.abs(v[:, None] - c[None, :]), axis=1)
    return c, a


def magnitude_mask(w: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask pruning the ``sparsity`` fraction of smallest-|w| entries of a layer (ties broken by position)."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError("kmeans", "sparsity", f"must be in [0, 1), got {sparsity}")
    n = w.numel()
    k = int(round(sparsity * n))
    mask = torch.ones(n, dtype=torch.bool)
    if k > 0:
        idx = torch.argsort(w.detach().abs().reshape(-1).cpu(), stable=True)[:k]
        mask[idx] = False
    return mask.reshape(w.shape)


class MaskedWeight(nn.Module):
    """Weight quantizer stand-in during pruning fine-tune: ``w * mask``."""

    fmt = "prune"

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.clone())

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask


class SharedWeight(nn.Module):
    """k-means shared weights: ``codebook[indices] * mask`` (codebook per layer ``(k,)`` or per neuron ``(O, k)``)."""

    fmt = "kmeans"

    def __init__(self, codebook: torch.Tensor, indices: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.codebook = nn.Parameter(codebook.float().clone())
        self.register_buffer("indices", indices.long().clone())
        self.register_buffer("mask", mask.bool().clone())
        self.shape = tuple(indices.shape)

    @property
    def per_neuron(self) -> bool:
        return self.codebook.dim() == 2

    @property
    def k(self) -> int:
        return int(self.codebook.shape[-1])

    def forward(self, w: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.per_neuron:
            o = self.shape[0]
            out = torch.gather(self.codebook, 1, self.indices.reshape(o, -1)).reshape(self.shape)
        else:
            out = self.codebook[self.indices]
        return out * self.mask

    def extra_repr(self) -> str:
        return f"k={self.k}, {'per-neuron' if self.per_neuron else 'per-layer'}, sparsity={1 - float(self.mask.float().mean()):.2f}"


def _targets(net: GraphNet, layers: Optional[Iterable[str]]) -> list[str]:
    names = [lay.name for lay in net.compute_layers()]
    if layers is None:
        return names
    out = list(layers)
    bad = [n for n in out if n not in names]
    if bad:
        raise ConfigError("kmeans", "layers", f"not compute layers of the model: {bad}")
    return out


@torch.no_grad()
def apply_pruning(net: GraphNet, sparsity: float, layers: Optional[Iterable[str]] = None) -> GraphNet:
    """Attach :class:`MaskedWeight` (magnitude pruning to ``sparsity`` per layer) to ``net`` in place."""
    for name in _targets(net, layers):
        w = net.module(name).weight
        mask = magnitude_mask(w, sparsity).to(w.device)
        w.mul_(mask)
        net.wq[safe_key(name)] = MaskedWeight(mask)
    return net


@torch.no_grad()
def apply_kmeans(net: GraphNet, k: int, per: str = "layer", sparsity: float = 0.0,
                 layers: Optional[Iterable[str]] = None) -> GraphNet:
    """Replace the weights of ``layers`` (default all) by k-means shared weights, in place.

    Layers already pruned (a :class:`MaskedWeight`) keep their mask; others are
    pruned to ``sparsity`` first. The float weight parameters are frozen; only
    codebooks (and biases) train afterwards.
    """
    if k < 1 or k > 65536:
        raise ConfigError("kmeans", "k", f"must be in 1..65536, got {k}")
    if per not in ("layer", "neuron"):
        raise ConfigError("kmeans", "per", f"must be layer or neuron, got {per!r}")
    for name in _targets(net, layers):
        mod = net.module(name)
        w = mod.weight.detach().float().cpu()
        key = safe_key(name)
        prev = net.wq[key] if key in net.wq else None
        mask = prev.mask.cpu() if isinstance(prev, MaskedWeight) else magnitude_mask(w, sparsity)
        if per == "layer":
            kept = w[mask]
            c, a = kmeans_1d(kept, k)
            idx = torch.zeros(w.numel(), dtype=torch.long)
            idx[mask.reshape(-1)] = a
            codebook = c.float()
        else:
            o = w.shape[0]
            rows = w.reshape(o, -1)
            mrows = mask.reshape(o, -1)
            codebook = torch.zeros(o, k)
            idx = torch.zeros_like(rows, dtype=torch.long)
            for r in range(o):
                kept = rows[r][mrows[r]]
                if kept.numel() == 0:
                    continue
                c, a = kmeans_1d(kept, k)
                codebook[r] = c.float()
                idx[r][mrows[r]] = a
        net.wq[key] = SharedWeight(codebook, idx.reshape(w.shape), mask).to(mod.weight.device)
        mod.weight.copy_(net.wq[key]())
        mod.weight.requires_grad_(False)
    return net


def kmeans_model(net: GraphNet, provenance: Optional[dict] = None) -> Model:
    """The model artifact of a k-means network (codebook, indices, mask, substituted float weight)."""
    m = net.to_model(provenance)
    for lay in m.compute_layers():
        key = safe_key(lay.name)
        q = net.wq[key] if key in net.wq else None
        if not isinstance(q, SharedWeight):
            continue
        w = q().detach().float().cpu().numpy()
        w = w + 0.0  # no negative zeros
        idx = q.indices.cpu().numpy()
        m.set(lay.name, "weight", w.astype(np.float32))
        m.set(lay.name, "weight_codebook", q.codebook.detach().float().cpu().numpy())
        m.set(lay.name, "weight_indices", idx.astype(np.uint8 if q.k <= 256 else np.uint16))
        m.set(lay.name, "weight_mask", q.mask.cpu().numpy())
        lay.quant = LayerQuant(weight=WeightQuant(bits=max(1, math.ceil(math.log2(max(2, q.k)))), signed=True,
                                                  scheme="kmeans", per_channel=q.per_neuron, narrow_range=False))
    return m
