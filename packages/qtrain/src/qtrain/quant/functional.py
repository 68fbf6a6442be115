"""Fake-quantization primitives with straight-through gradients.

All grids are integer grids with zero point 0: ``q = clamp(round(x / s), qmin, qmax)``
and ``x_hat = q * s`` (round to nearest, ties to even, like ``np.rint`` and
the qformat interpreter).

* :func:`fake_quant` - activations and LSQ weights. Gradient to ``x``: 1
  inside the clip range, 0 outside (straight-through). Gradient to ``s``:
  LSQ (``round(v) - v`` inside, ``qmin``/``qmax`` outside), or PACT's (only the
  clipped part) when ``lsq=False``; both scaled by ``grad_factor``.
* :func:`dorefa_weight` - DoReFa-Net's tanh weight transform on a symmetric
  narrow-range grid (see the function for why it differs from the paper's grid).
* :func:`fp16_ste` - FP16 by casting (identity gradient).
* :func:`pow2_ste` - scale rounded to a power of two (identity gradient).
"""

from __future__ import annotations

import math
from typing import Optional

import torch


def qrange(bits: int, signed: bool, narrow: bool = False) -> tuple[int, int]:
    """Integer range of a grid: signed ``[-2^(b-1), 2^(b-1)-1]`` (narrow: ``[-(2^(b-1)-1), ...]``), unsigned ``[0, 2^b-1]``."""
    if not 2 <= bits <= 16:
        raise ValueError(f"bit width {bits} outside 2..16")
    if signed:
        hi = (1 << (bits - 1)) - 1
        return (-hi if narrow else -hi - 1), hi
    return 0, (1 << bits) - 1


class _FakeQuant(torch.autograd.Function):
    """Scalar-scale fake quantization: forward 4 in-place passes; backward 1 fused masked copy and 2 dots.

    ``gx = g`` where ``qmin*s < x < qmax*s`` else 0 is exactly ``hardtanh_backward`` (one vectorised
    pass; ``g * mask`` is an order of magnitude slower on CPU). The scale gradient
    ``sum(g * dy/ds)`` is ``(g.y - gx.x) / s`` for LSQ (``round(v) - v`` inside, ``qmin``/``qmax``
    outside, because ``y/s`` is exactly ``qmin``/``qmax`` there) and ``(g.y - gx.y) / s`` for PACT
    (clipped values only): no temporaries beyond the mask and ``gx``.
    """

    @staticmethod
    def forward(ctx, x, s, qmin, qmax, lsq, grad_factor):  # type: ignore[override]
        y = torch.div(x, s)
        y.round_().clamp_(qmin, qmax).mul_(s)
        ctx.save_for_backward(x, y, s)
        ctx.qmin, ctx.qmax, ctx.lsq, ctx.gf = qmin, qmax, lsq, grad_factor
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, y, s = ctx.saved_tensors
        sf = float(s)
        gx = torch.ops.aten.hardtanh_backward(g.contiguous(), x, ctx.qmin * sf, ctx.qmax * sf)
        gs = None
        if ctx.needs_input_grad[1]:
            g1, y1 = g.reshape(-1), y.reshape(-1)
            other = x.reshape(-1) if ctx.lsq else y1
            gs = ((torch.dot(g1, y1) - torch.dot(gx.reshape(-1), other)) / s.reshape(()) * ctx.gf).reshape(s.shape)
        return gx, gs, None, None, None, None


class _FakeQuantPerChannel(torch.autograd.Function):
    """Per-output-channel fake quantization (axis 0), LSQ gradient; a handful of ops on small weight tensors."""

    @staticmethod
    def forward(ctx, w, s, qmin, qmax, grad_factor):  # type: ignore[override]
        sv = s.reshape((-1,) + (1,) * (w.dim() - 1))
        y = torch.div(w, sv)
        y.round_().clamp_(qmin, qmax).mul_(sv)
        ctx.save_for_backward(w, y, s)
        ctx.qmin, ctx.qmax, ctx.gf = qmin, qmax, grad_factor
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        w, y, s = ctx.saved_tensors
        sv = s.reshape((-1,) + (1,) * (w.dim() - 1))
        inside = (w > ctx.qmin * sv) & (w < ctx.qmax * sv)
        gw = g * inside
        gs = None
        if ctx.needs_input_grad[1]:
            o = w.shape[0]
            gs = ((g * y).reshape(o, -1).sum(1) - (gw * w).reshape(o, -1).sum(1)) / s * ctx.gf
        return gw, gs, None, None, None


def fake_quant(x: torch.Tensor, s: torch.Tensor, qmin: int, qmax: int, lsq: bool = True,
               grad_factor: float = 1.0) -> torch.Tensor:
    """Fake-quantize ``x`` on the grid ``s * [qmin..qmax]``.

    ``s`` is a scalar tensor (per-tensor) or broadcastable to ``x`` (per
    channel, composite autograd). Straight-through gradient for ``x``; LSQ or
    PACT gradient for ``s`` (see module doc).
    """
    if s.numel() == 1:
        return _FakeQuant.apply(x, s.reshape(()), int(qmin), int(qmax), bool(lsq), float(grad_factor))
    if lsq and s.dim() >= 1 and s.shape[0] == x.shape[0] and s.numel() == x.shape[0]:
        return _FakeQuantPerChannel.apply(x, s.reshape(-1), int(qmin), int(qmax), float(grad_factor))
    return fake_quant_reference(x, s, qmin, qmax, lsq, grad_factor)


def fake_quant_reference(x: torch.Tensor, s: torch.Tensor, qmin: int, qmax: int, lsq: bool = True,
                         grad_factor: float = 1.0) -> torch.Tensor:
    """The obvious composite implementation (per-channel path and test oracle for :func:`fake_quant`)."""
    sg = grad_scale(s, grad_factor)
    v = x / sg
    if lsq:
        q = round_ste(v.clamp(qmin, qmax))
        return q * sg
    # PACT: scale gradient only through the clipped values.
    vin = x / sg.detach()
    q = round_ste(vin.clamp(qmin, qmax))
    clip_hi = (vin >= qmax).to(x.dtype)
    clip_lo = (vin <= qmin).to(x.dtype)
    out = q * sg.detach()
    return out + (clip_hi * qmax + clip_lo * qmin) * (sg - sg.detach())


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest (ties to even) with an identity gradient."""
    return (torch.round(x) - x).detach() + x


def grad_scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity forward; gradient multiplied by ``factor`` (LSQ's step-size gradient scale)."""
    if factor == 1.0:
        return x
    return (x - x * factor).detach() + x * factor


def fp16_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to IEEE half precision (saturating at +-65504) with an identity gradient."""
    xh = x.clamp(-65504.0, 65504.0).to(torch.float16).to(x.dtype)
    return (xh - x).detach() + x


def pow2_ste(s: torch.Tensor) -> torch.Tensor:
    """``2 ** round(log2 s)`` with an identity gradient (power-of-two scales for shift-only requantization)."""
    p = torch.exp2(torch.round(torch.log2(s.detach())))
    return s * (p / s.detach())


def pow2_round(s: float | torch.Tensor, mode: str = "nearest"):
    """Round a positive scale to a power of two: ``nearest`` (in log2), ``up`` or ``down``."""
    t = torch.as_tensor(s, dtype=torch.float64)
    lg = torch.log2(t)
    e = {"nearest": torch.round, "up": torch.ceil, "down": torch.floor}[mode](lg)
    out = torch.exp2(e)
    return float(out) if out.dim() == 0 and not isinstance(s, torch.Tensor) else out


def channel_view(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape a per-output-channel vector ``(O,)`` to broadcast over a weight of ``ndim`` dims."""
    return v.reshape((-1,) + (1,) * (ndim - 1))


def max_abs(w: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """``max |w|`` per output channel ``(O,)`` or for the whole tensor ``()``."""
    if per_channel:
        return w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
    return w.detach().abs().amax()


def dorefa_weight(w: torch.Tensor, bits: int, per_channel: bool = True,
                  gamma: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DoReFa-Net weights, the real tanh form: ``w_n = tanh(w) / max|tanh(w)|`` quantized on ``[-1, 1]``.

    Returns ``(w_hat, codes, scale)``. Two deliberate differences from the
    paper, both for integer export: (1) the grid is symmetric narrow-range with
    zero (``round(w_n * Q) / Q``, ``Q = 2^(b-1)-1``; the paper's
    ``2 quantize_k((w_n+1)/2) - 1`` grid has no zero and needs a half-integer
    zero point), and (2) the result is rescaled by ``gamma = max|w|`` (detached;
    per channel or tensor) so a BN-folded network keeps its magnitudes
    (the paper relies on a following BatchNorm). Gradient flows through tanh
    and the normalisation (rounding is straight-through).
    """
    q = (1 << (bits - 1)) - 1
    t = torch.tanh(w)
    m = max_abs(t, per_channel).clamp_min(1e-12)
    wn = t / (channel_view(m, w.dim()) if per_channel else m)
    codes = round_ste(wn * q)
    if gamma is None:
        gamma = max_abs(w, per_channel).clamp_min(1e-12)
    scale = gamma / q
    sv = channel_view(scale, w.dim()) if per_channel else scale
    return codes * sv, codes.detach(), scale.detach()


def lsq_grad_factor(numel: int, qmax: int) -> float:
    """LSQ's step-size gradient scale ``1 / sqrt(numel * qmax)``."""
    return 1.0 / math.sqrt(max(1, numel) * max(1, qmax))
