"""Post-training calibration of quantizer ranges.

Activations (observed in float, quantizers off): ``minmax`` (the largest
magnitude seen), ``percentile`` (e.g. the 99.99th percentile of the values'
magnitude), ``mse`` (the clip minimising the quantization MSE on a sample of
the values). Weights: ``minmax`` (``max|w| / qmax``) or ``mse`` (clip ratio
searched per channel). With power-of-two scales the better of the two
neighbouring powers of two (by MSE) is taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

import torch

from ..graph import GraphNet, safe_key
from .functional import qrange
from .modules import ActQuantizer, WeightQuantizer

__all__ = ["Observer", "observe", "calibrate", "calibrate_weights", "choose_clip", "weight_step", "ACT_METHODS",
           "WEIGHT_CALIB_METHODS", "input_is_signed"]

ACT_METHODS = ("minmax", "percentile", "mse")
WEIGHT_CALIB_METHODS = ("minmax", "mse")


class Observer:
    """Running min/max and a bounded uniform sample of a tensor's values (deterministic)."""

    def __init__(self, budget: int = 1 << 18, seed: int = 0):
        self.min = float("inf")
        self.max = float("-inf")
        self.budget = budget
        self.samples: list[torch.Tensor] = []
        self.kept = 0
        self.gen = torch.Generator().manual_seed(seed)

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().reshape(-1).float().cpu()
        if x.numel() == 0:
            return
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        per_batch = max(1, self.budget // 8)
        if x.numel() > per_batch:
            x = x[torch.randint(0, x.numel(), (per_batch,), generator=self.gen)]
        self.samples.append(x)
        self.kept += x.numel()
        if self.kept > 2 * self.budget:  # thin out, keep it bounded
            allv = torch.cat(self.samples)
            allv = allv[torch.randperm(allv.numel(), generator=self.gen)[: self.budget]]
            self.samples, self.kept = [allv], allv.numel()

    def values(self) -> torch.Tensor:
        return torch.cat(self.samples) if self.samples else torch.zeros(1)


def _quant_mse(v: torch.Tensor, s: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    """MSE of quantizing ``v`` (N,) for each step in ``s`` (K,) -> (K,)."""
    q = torch.clamp(torch.round(v[None, :] / s[:, None]), qmin, qmax) * s[:, None]
    return ((q - v[None, :]) ** 2).mean(dim=1)


def choose_clip(values: torch.Tensor, vmin: float, vmax: float, bits: int, signed: bool, method: str = "percentile",
                percentile: float = 99.99, pow2: bool = False) -> float:
    """The clip ``alpha`` (scale = alpha / qmax) for observed values."""
    qmin, qmax = qrange(bits, signed)
    mag = max(abs(vmin), abs(vmax)) if signed else max(vmax, 0.0)
    mag = max(mag, 1e-8)
    v = values.float()
    if not signed:
        v = v.clamp_min(0)
    if method == "minmax":
        alpha = mag
    elif method == "percentile":
        a = v.abs() if signed else v
        alpha = float(torch.quantile(a[: 1 << 24].double(), min(percentile, 100.0) / 100.0))
        alpha = min(max(alpha, 1e-8), mag)
        if alpha <= 1e-8:
            alpha = mag
    elif method == "mse":
        cand = torch.linspace(0.02, 1.0, 100, dtype=torch.float32) * mag
        err = torch.stack([_quant_mse(v, cand[i:i + 25] / qmax, qmin, qmax) for i in range(0, 100, 25)]).reshape(-1)
        alpha = float(cand[int(torch.argmin(err))])
    else:
        raise ValueError(f"activation calibration must be one of {ACT_METHODS}, got {method!r}")
    if pow2:
        s = alpha / qmax
        lo = 2.0 ** torch.floor(torch.log2(torch.tensor(s, dtype=torch.float64)))
        cands = torch.tensor([float(lo), float(lo) * 2.0])
        err = _quant_mse(v, cands, qmin, qmax)
        alpha = float(cands[int(torch.argmin(err))]) * qmax
    return alpha


def weight_step(w: torch.Tensor, bits: int, per_channel: bool = True, method: str = "mse",
                pow2: bool = False) -> torch.Tensor:
    """Calibrated weight step, ``(O,)`` per channel or ``()``; symmetric narrow range."""
    qmin, qmax = qrange(bits, True, narrow=True)
    w2 = w.detach().float().reshape(w.shape[0], -1) if per_channel else w.detach().float().reshape(1, -1)
    m = w2.abs().amax(dim=1).clamp_min(1e-12)
    if method == "minmax":
        s = m / qmax
    elif method == "mse":
        ratios = torch.linspace(0.3, 1.0, 36)
        best = torch.full_like(m, float("inf"))
        s = m / qmax
        for r in ratios:
            st = m * r / qmax
            q = torch.clamp(torch.round(w2 / st[:, None]), qmin, qmax) * st[:, None]
            e = ((q - w2) ** 2).sum(dim=1)
            better = e < best
            best = torch.where(better, e, best)
            s = torch.where(better, st, s)
    else:
        raise ValueError(f"weight calibration must be one of {WEIGHT_CALIB_METHODS}, got {method!r}")
    if pow2:
        lo = torch.exp2(torch.floor(torch.log2(s)))
        errs = []
        for c in (lo, lo * 2):
            q = torch.clamp(torch.round(w2 / c[:, None]), qmin, qmax) * c[:, None]
            errs.append(((q - w2) ** 2).sum(dim=1))
        s = torch.where(errs[0] <= errs[1], lo, lo * 2)
    return s if per_channel else s.reshape(())


@torch.no_grad()
def calibrate_weights(net: GraphNet, method: str = "mse") -> None:
    """Set the step of every integer ``lsq``/``fixed`` weight quantizer from the current weights."""
    for lay in net.compute_layers():
        k = safe_key(lay.name)
        q = net.wq[k] if k in net.wq else None
        if not isinstance(q, WeightQuantizer) or q.fmt != "int" or q.method == "dorefa":
            continue
        w = net.module(lay.name).weight
        q.step.copy_(weight_step(w, q.bits, q.per_channel, method, q.pow2).to(q.step.device))


@torch.no_grad()
def observe(net: GraphNet, batches: Iterable[torch.Tensor], names: Optional[set[str]] = None,
            budget: int = 1 << 18) -> dict[str, Observer]:
    """Run ``net`` in float (quantizers off, eval mode) and observe the outputs of ``names`` (default: every layer)."""
    obs: dict[str, Observer] = {}

    def tap(name: str, y: torch.Tensor):
        if names is None or name in names:
            if name not in obs:
                obs[name] = Observer(budget, seed=len(obs))
            obs[name].update(y)
        return None

    was_training, was_q = net.training, net.quant_enabled
    net.eval()
    net.quant_enabled = False
    net.tap = tap
    try:
        for xb in batches:
            net(xb)
    finally:
        net.tap = None
        net.quant_enabled = was_q
        net.train(was_training)
    return obs


def input_is_signed(batches: Iterable[torch.Tensor]) -> bool:
    """Whether any input value is negative (the network input then gets a signed grid)."""
    return any(bool((xb < 0).any()) for xb in batches)


@torch.no_grad()
def calibrate(net: GraphNet, batches: Iterable[torch.Tensor], act_method: str = "percentile",
              percentile: float = 99.99, weight_method: str = "mse") -> dict[str, float]:
    """Calibrate every quantizer of ``net``: weight steps, then activation clips. Returns the clips by tensor."""
    if act_method not in ACT_METHODS:
        raise ValueError(f"activation calibration must be one of {ACT_METHODS}, got {act_method!r}")
    calibrate_weights(net, weight_method)
    points = {lay.name for lay in net.layers if safe_key(lay.name) in net.aq}
    obs = observe(net, list(batches), points)
    clips: dict[str, float] = {}
    # A quantizer shared by several points (concat) sees all of their values.
    by_q: dict[int, list[str]] = {}
    for name in points:
        by_q.setdefault(id(net.aq[safe_key(name)]), []).append(name)
    for _, names in by_q.items():
        q: ActQuantizer = net.aq[safe_key(names[0])]
        if q.fmt != "int":
            continue
        vals = torch.cat([obs[n].values() for n in names if n in obs])
        vmin = min(obs[n].min for n in names if n in obs)
        vmax = max(obs[n].max for n in names if n in obs)
        hi = vmax if q.max_alpha is None else min(vmax, q.max_alpha)
        a = choose_clip(vals, vmin, hi, q.bits, q.signed, act_method, percentile, q.pow2)
        q.set_alpha(a)
        for n in names:
            clips[n] = float(q.clip())
    return clips
