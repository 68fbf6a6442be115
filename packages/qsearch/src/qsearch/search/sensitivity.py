"""Per-layer, per-option sensitivity: what the ILP minimises.

Two estimators, both on a subset of the **validation** split and both using
the calibrated quantizers of the supernet (so sensitivity, DNAS and
fine-tuning agree on what "int4" means):

* ``noise`` - quantization-noise perturbation: the increase of the
  validation loss when only layer ``l`` runs at option ``p`` (its weights and
  its input activations quantized), every other layer in float. One forward
  pass per (layer, option).
* ``hessian`` - HAWQ-V2: ``Tr(H_l) / n_l * ||Q_p(w_l) - w_l||^2`` with the
  Hessian trace of the loss w.r.t. layer ``l``'s weights estimated by
  Hutchinson's method (Rademacher vectors, Hessian-vector products by double
  back-propagation).

Float fp32 options have sensitivity 0 by definition; values are clipped at 0.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

METHODS = ("noise", "hessian")


def _val_batches(splits, n: int, batch_size: int = 256) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out, seen = [], 0
    for xb, yb in splits.loader("val", batch_size):
        out.append((xb, yb))
        seen += int(yb.numel())
        if seen >= n:
            break
    return out


@torch.no_grad()
def _loss(net, batches) -> float:
    tot = n = 0.0
    for xb, yb in batches:
        tot += float(F.cross_entropy(net.logits(xb), yb, reduction="sum"))
        n += int(yb.numel())
    return tot / max(1.0, n)


@torch.no_grad()
def noise_sensitivity(net, splits, n_samples: int = 512) -> np.ndarray:
    """Loss increase (nats) per (layer, option) with that layer alone quantized (see module doc)."""
    net.eval()
    batches = _val_batches(splits, n_samples)
    net.set_probs(None)
    base = _loss(net, batches)
    L, P = len(net.search_layers), len(net.space)
    sens = np.zeros((L, P))
    for li in range(L):
        for j, o in enumerate(net.space.options):
            if o.is_float and o.wbits == 32:
                continue
            probs = torch.zeros(L, P)
            probs[li, j] = 1.0
            net.set_probs(probs)
            sens[li, j] = max(0.0, _loss(net, batches) - base)
    net.set_probs(None)
    return sens


def hessian_trace(net, splits, n_samples: int = 256, n_vectors: int = 8, seed: int = 0) -> np.ndarray:
    """Hutchinson estimate of ``Tr(H_l)`` of the validation loss for each searchable layer's weights."""
    from qtrain.graph import safe_key

    net.eval()
    net.set_probs(None)
    batches = _val_batches(splits, n_samples, batch_size=n_samples)
    params = [net.mods[safe_key(n)].weight for n in net.search_layers]
    gen = torch.Generator().manual_seed(seed)
    traces = np.zeros(len(params))
    total = sum(int(yb.numel()) for _, yb in batches)
    for xb, yb in batches:
        loss = F.cross_entropy(net.logits(xb), yb) * (int(yb.numel()) / total)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        for _ in range(n_vectors):
            vs = [torch.randint(0, 2, p.shape, generator=gen).to(p.dtype) * 2 - 1 for p in params]
            hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
            for i, (v, h) in enumerate(zip(vs, hv)):
                traces[i] += float((v * h).sum()) / n_vectors
    return traces


def hessian_sensitivity(net, splits, n_samples: int = 256, n_vectors: int = 8, seed: int = 0) -> np.ndarray:
    """HAWQ-V2 sensitivity ``Tr(H_l)/n_l * ||Q_p(w_l) - w_l||^2`` per (layer, option)."""
    from qtrain.graph import safe_key

    tr = hessian_trace(net, splits, n_samples, n_vectors, seed)
    L, P = len(net.search_layers), len(net.space)
    sens = np.zeros((L, P))
    with torch.no_grad():
        for li, n in enumerate(net.search_layers):
            w = net.mods[safe_key(n)].weight
            mq = net.mixed[safe_key(n)]
            for j, o in enumerate(net.space.options):
                if o.is_float and o.wbits == 32:
                    continue
                d = float(((mq.quant_weight(w, j) - w) ** 2).sum())
                sens[li, j] = max(0.0, float(tr[li]) / w.numel() * d)
    return sens


def sensitivity(net, splits, method: str = "noise", n_samples: int = 512, seed: int = 0) -> np.ndarray:
    if method == "noise":
        return noise_sensitivity(net, splits, n_samples)
    if method == "hessian":
        return hessian_sensitivity(net, splits, min(n_samples, 256), seed=seed)
    raise ValueError(f"unknown sensitivity method {method!r} (one of {', '.join(METHODS)})")
