"""Activation statistics and noise propagation (the input of cimnoise).

Sites, per compute layer (conv/linear):

* ``<layer>.in``: the tensor the layer reads (after the producer's activation);
* ``<layer>.out``: the layer's output **before** its fused activation, i.e.
  the accumulator value an ADC digitises (signed values kept).

Per site and channel: a histogram over bin edges shared by all channels (the
site's global min..max; ``counts`` hold non-zero values only, exact zeros go
to ``p_zero``), min/max/mean/var and percentiles (linear interpolation, like
numpy, on all values or a bounded per-channel sample).

Noise propagation, per compute layer: a ``(C_out, classes)`` matrix, the
variance reaching each logit per unit variance of i.i.d. Gaussian noise added
to every position of one output channel (before the activation, where CIM
noise arises). ``jacobian`` (default) measures it in the small-signal limit
exactly, as ``E_x[sum_p (d logit_k / d y_{c,p})^2]`` with one backward pass
per class; ``inject`` measures it by Monte-Carlo injection (noise std
``noise_std``, variance divided by ``noise_std**2``; one pass per channel,
the slow reference). The two agree exactly on linear networks (tested).

The probe runs the float network (a quantized artifact's dequantized weights).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np
import torch

from qformat.probe import ActivationStats, ProbeStats

from .graph import GraphNet

__all__ = ["probe", "site_stats", "noise_propagation", "DEFAULT_PERCENTILES", "percentile_rows"]

DEFAULT_PERCENTILES = (0.1, 1.0, 50.0, 99.0, 99.9, 99.99)


def _rows(y: torch.Tensor) -> torch.Tensor:
    """(N, C, ...) -> (C, N*...) values per channel."""
    y = y.detach().float()
    if y.dim() == 2:
        return y.t()
    return y.transpose(0, 1).reshape(y.shape[1], -1)


def percentile_rows(v: torch.Tensor, ps: Sequence[float]) -> dict[float, np.ndarray]:
    """Per-row percentiles of ``v`` (C, M) with numpy's linear interpolation."""
    s, _ = torch.sort(v.double(), dim=1)
    m = s.shape[1]
    out = {}
    for p in ps:
        pos = (m - 1) * float(p) / 100.0
        lo = int(np.floor(pos))
        hi = min(lo + 1, m - 1)
        frac = pos - lo
        out[float(p)] = (s[:, lo] * (1 - frac) + s[:, hi] * frac).cpu().numpy()
    return out


class _Acc:
    """Per-channel running moments, extrema, zero counts and a bounded sample."""

    def __init__(self, sample_cols: int, seed: int):
        self.n = 0
        self.s = self.s2 = self.mn = self.mx = self.zeros = None
        self.samples: list[torch.Tensor] = []
        self.cols = sample_cols
        self.gen = torch.Generator().manual_seed(seed)

    def update(self, r: torch.Tensor) -> None:
        r64 = r.double()
        if self.s is None:
            c = r.shape[0]
            self.s = torch.zeros(c, dtype=torch.float64)
            self.s2 = torch.zeros(c, dtype=torch.float64)
            self.mn = torch.full((c,), float("inf"), dtype=torch.float64)
            self.mx = torch.full((c,), float("-inf"), dtype=torch.float64)
            self.zeros = torch.zeros(c, dtype=torch.float64)
        self.n += r.shape[1]
        self.s += r64.sum(1)
        self.s2 += (r64 * r64).sum(1)
        self.mn = torch.minimum(self.mn, r64.amin(1))
        self.mx = torch.maximum(self.mx, r64.amax(1))
        self.zeros += (r == 0).sum(1).double()
        if r.shape[1] > self.cols:
            idx = torch.randperm(r.shape[1], generator=self.gen)[: self.cols]
            r = r[:, idx]
        self.samples.append(r.cpu())


def site_stats(rows: Iterable[torch.Tensor], bins: int = 256, percentiles: Sequence[float] = DEFAULT_PERCENTILES,
               sample_cols: int = 1 << 16, seed: int = 0) -> ActivationStats:
    """Statistics of one site from an iterable of (C, M) value blocks (iterated twice)."""
    rows = list(rows)
    acc = _Acc(max(1, sample_cols // max(1, len(rows))), seed)
    for r in rows:
        acc.update(r)
    lo, hi = float(acc.mn.min()), float(acc.mx.max())
    if not hi > lo:
        hi = lo + 1e-6
    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    c = acc.s.shape[0]
    counts = torch.zeros(c * bins, dtype=torch.float64)
    for r in rows:
        nz = r != 0
        b = torch.bucketize(r.double().contiguous(), edges[1:-1].contiguous(), right=True)  # 0..bins-1
        ch = torch.arange(c).reshape(-1, 1).expand_as(b)
        flat = (ch * bins + b)[nz]
        counts += torch.bincount(flat, minlength=c * bins).double()
    n = acc.n
    mean = acc.s / n
    var = torch.clamp(acc.s2 / n - mean * mean, min=0.0)
    pct = percentile_rows(torch.cat(acc.samples, dim=1), percentiles) if percentiles else {}
    return ActivationStats(edges=edges.numpy(), counts=counts.reshape(c, bins).numpy(), p_zero=(acc.zeros / n).numpy(),
                           min=acc.mn.numpy(), max=acc.mx.numpy(), mean=mean.numpy(), var=var.numpy(),
                           percentiles=pct, n=int(n))


def noise_propagation(net: GraphNet, batches: Sequence[torch.Tensor], method: str = "jacobian",
                      noise_std: float = 1.0, layers: Optional[Sequence[str]] = None,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """``(C_out, classes)`` logit variance per unit noise variance, per compute layer (see module doc)."""
    names = [l.name for l in net.compute_layers()] if layers is None else list(layers)
    was_t, was_q = net.training, net.quant_enabled
    net.eval()
    net.quant_enabled = False
    try:
        if method == "jacobian":
            return _noise_jacobian(net, batches, names)
        if method == "inject":
            return _noise_inject(net, batches, names, noise_std, seed)
        raise ValueError(f"noise method must be jacobian or inject, got {method!r}")
    finally:
        net.pre_tap = None
        net.quant_enabled = was_q
        net.train(was_t)


def _noise_jacobian(net: GraphNet, batches, names) -> dict[str, np.ndarray]:
    want = set(names)
    out: dict[str, torch.Tensor] = {}
    total = 0
    for xb in batches:
        caught: dict[str, torch.Tensor] = {}

        def pre(name, y, caught=caught):
            if name in want:
                if not y.requires_grad:
                    y = y.detach().requires_grad_(True)
                caught[name] = y
                return y
            return None

        net.pre_tap = pre
        with torch.enable_grad():
            z = net.logits(xb)
            keys = [n for n in names if n in caught]
            k = z.shape[1]
            for j in range(k):
                grads = torch.autograd.grad(z[:, j].sum(), [caught[n] for n in keys], retain_graph=j < k - 1,
                                            allow_unused=True)
                for n, g in zip(keys, grads):
                    if n not in out:
                        out[n] = torch.zeros(caught[n].shape[1], k, dtype=torch.float64)
                    if g is not None:
                        gg = g.detach().double() ** 2
                        out[n][:, j] += gg.sum(dim=tuple(d for d in range(gg.dim()) if d != 1))
        net.pre_tap = None
        total += xb.shape[0]
    return {n: (v / max(1, total)).numpy() for n, v in out.items()}


@torch.no_grad()
def _noise_inject(net: GraphNet, batches, names, noise_std: float, seed: int) -> dict[str, np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    res: dict[str, np.ndarray] = {}
    clean = [net.logits(xb).double() for xb in batches]
    for name in names:
        cout = int(net.layer(name).out_shape[0])
        mat = np.zeros((cout, clean[0].shape[1]))
        for c in range(cout):
            var = torch.zeros(clean[0].shape[1], dtype=torch.float64)
            total = 0
            for xb, z0 in zip(batches, clean):
                def pre(nm, y, c=c, name=name):
                    if nm != name:
                        return None
                    y = y.clone()
                    noise = torch.randn(y[:, c].shape, generator=gen) * noise_std
                    y[:, c] += noise.to(y.dtype)
                    return y
                net.pre_tap = pre
                d = net.logits(xb).double() - z0
                var += (d * d).sum(0)
                total += xb.shape[0]
            net.pre_tap = None
            mat[c] = (var / total / noise_std ** 2).numpy()
        res[name] = mat
    return res


@torch.no_grad()
def _collect(net: GraphNet, batches, names) -> tuple[dict[str, list], dict[str, list]]:
    """Per-channel value blocks of every ``.in`` and ``.out`` site."""
    want = set(names)
    producer = {n: net.layer(n).inputs[0] for n in names}
    needed_in = set(producer.values())
    ins: dict[str, list] = {p: [] for p in needed_in}
    outs: dict[str, list] = {n: [] for n in names}

    def tap(name, y):
        if name in needed_in:
            ins[name].append(_rows(y))
        return None

    def pre(name, y):
        if name in want:
            outs[name].append(_rows(y))
        return None

    net.tap, net.pre_tap = tap, pre
    try:
        for xb in batches:
            net(xb)
    finally:
        net.tap = net.pre_tap = None
    return {n: ins[producer[n]] for n in names}, outs


def probe(net: GraphNet, batches: Sequence[torch.Tensor], classes: Optional[int] = None, *, bins: int = 256,
          percentiles: Sequence[float] = DEFAULT_PERCENTILES, noise: Optional[str] = "jacobian",
          noise_batches: Optional[Sequence[torch.Tensor]] = None, noise_std: float = 1.0,
          layers: Optional[Sequence[str]] = None, provenance: Optional[dict] = None, seed: int = 0) -> ProbeStats:
    """Probe ``net`` on ``batches``: a :class:`qformat.ProbeStats` with sites and noise propagation."""
    names = [l.name for l in net.compute_layers()] if layers is None else list(layers)
    was_t, was_q = net.training, net.quant_enabled
    net.eval()
    net.quant_enabled = False
    try:
        ins, outs = _collect(net, batches, names)
    finally:
        net.quant_enabled = was_q
        net.train(was_t)
    ps = ProbeStats(classes=classes or net.classes, provenance=dict(provenance or {}))
    for i, n in enumerate(names):
        ps.add_site(n, "in", site_stats(ins[n], bins, percentiles, seed=seed + 2 * i))
        ps.add_site(n, "out", site_stats(outs[n], bins, percentiles, seed=seed + 2 * i + 1))
    if noise:
        nb = noise_batches if noise_batches is not None else batches
        for n, mat in noise_propagation(net, nb, noise, noise_std, names, seed).items():
            ps.noise_prop[n] = mat
    ps.validate()
    return ps
