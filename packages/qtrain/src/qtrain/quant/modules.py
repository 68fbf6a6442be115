"""Quantizer modules attached to a :class:`qtrain.graph.GraphNet`.

:class:`ActQuantizer` - one activation tensor: PACT clip ``alpha`` (learned in
QAT, fixed after PTQ calibration), scale ``alpha / qmax``, signed or unsigned
grid with zero point 0, FP16 by casting, or pass-through (fp32).

:class:`WeightQuantizer` - one conv/linear weight: ``lsq`` (learned step,
per channel or per tensor), ``dorefa`` (tanh), ``fixed`` (calibrated scale,
straight-through rounding: what PTQ uses), ``fp16`` cast. Symmetric
narrow-range integer grid (``[-(2^(b-1)-1), 2^(b-1)-1]``, zero point 0), as
the integer export requires.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from qformat.spec import ActQuant

from .functional import channel_view, fake_quant, fp16_ste, lsq_grad_factor, max_abs, pow2_ste, qrange

__all__ = ["ActQuantizer", "WeightQuantizer", "WEIGHT_METHODS"]

WEIGHT_METHODS = ("lsq", "dorefa", "fixed")


class ActQuantizer(nn.Module):
    """Fake quantization of one activation tensor.

    ``fmt`` is ``int`` (``bits``, ``signed``), ``fp16`` or ``fp32`` (identity).
    ``alpha`` is the positive clip: unsigned values are clipped to ``[0, alpha]``,
    signed ones to ``[-alpha * 2^(b-1) / (2^(b-1)-1), alpha]`` (the full signed
    integer range). ``max_alpha`` caps it (6 after ReLU6). ``learn`` makes
    alpha a parameter (PACT clip, LSQ-style gradient unless ``lsq=False``).
    """

    def __init__(self, bits: int = 8, signed: bool = False, fmt: str = "int", learn: bool = True,
                 alpha: float = 1.0, max_alpha: Optional[float] = None, pow2: bool = False, lsq: bool = True):
        super().__init__()
        if fmt not in ("int", "fp16", "fp32"):
            raise ValueError(f"activation format must be int, fp16 or fp32, got {fmt!r}")
        self.fmt = fmt
        self.bits = int(bits)
        self.signed = bool(signed)
        self.pow2 = bool(pow2)
        self.lsq = bool(lsq)
        self.max_alpha = max_alpha
        if fmt == "int":
            self.qmin, self.qmax = qrange(self.bits, self.signed)
        else:
            self.qmin, self.qmax = 0, 1
        a = torch.tensor(float(alpha))
        if learn and fmt == "int":
            self.alpha = nn.Parameter(a)
        else:
            self.register_buffer("alpha", a)
        self._gf: Optional[float] = None

    @property
    def learned(self) -> bool:
        return isinstance(self.alpha, nn.Parameter)

    def clip(self) -> torch.Tensor:
        a = self.alpha.abs().clamp_min(1e-8)
        if self.max_alpha is not None:
            a = a.clamp(max=self.max_alpha)
        return a

    def scale(self) -> torch.Tensor:
        """The grid step (a scalar tensor; a power of two in pow2 mode)."""
        s = self.clip() / self.qmax
        return pow2_ste(s) if self.pow2 else s

    def implies(self, act: str) -> bool:
        """Whether the quantizer's clamp already applies ``act`` (so the caller can skip it)."""
        if self.fmt != "int" or self.signed:
            return False
        if act == "relu":
            return True
        return act == "relu6" and self.max_alpha is not None and self.max_alpha <= 6.0 and not self.pow2

    def set_alpha(self, value: float) -> None:
        with torch.no_grad():
            v = float(value)
            if self.max_alpha is not None:
                v = min(v, self.max_alpha)
            self.alpha.fill_(max(v, 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fmt == "fp32":
            return x
        if self.fmt == "fp16":
            return fp16_ste(x)
        if self._gf is None:
            self._gf = lsq_grad_factor(x[0].numel() if x.dim() > 1 else x.numel(), self.qmax)
        return fake_quant(x, self.scale(), self.qmin, self.qmax, self.lsq, self._gf)

    def act_quant(self) -> Optional[ActQuant]:
        """The qformat :class:`~qformat.spec.ActQuant` of this grid (None for float formats)."""
        if self.fmt != "int":
            return None
        return ActQuant(bits=self.bits, signed=self.signed, scale=float(self.scale().detach()), zero_point=0)

    def extra_repr(self) -> str:
        if self.fmt != "int":
            return self.fmt
        return (f"{'int' if self.signed else 'uint'}{self.bits}, alpha={float(self.clip().detach()):.4g}"
                f"{', pow2' if self.pow2 else ''}{', learned' if self.learned else ''}")


class WeightQuantizer(nn.Module):
    """Fake quantization of one weight tensor (axis 0 = output channel)."""

    def __init__(self, shape: tuple[int, ...], bits: int = 8, method: str = "lsq", per_channel: bool = True,
                 fmt: str = "int", pow2: bool = False):
        super().__init__()
        if fmt not in ("int", "fp16", "fp32"):
            raise ValueError(f"weight format must be int, fp16 or fp32, got {fmt!r}")
        if fmt == "int" and method not in WEIGHT_METHODS:
            raise ValueError(f"weight method must be one of {WEIGHT_METHODS}, got {method!r}")
        self.fmt = fmt
        self.bits = int(bits)
        self.method = method
        self.per_channel = bool(per_channel)
        self.pow2 = bool(pow2)
        if fmt == "int":
            self.qmin, self.qmax = qrange(self.bits, True, narrow=True)
        else:
            self.qmin, self.qmax = -1, 1
        n = shape[0] if per_channel else 1
        s = torch.ones(n) if per_channel else torch.tensor(1.0)
        if fmt == "int" and method == "lsq":
            self.step = nn.Parameter(s)
        else:
            self.register_buffer("step", s)
        self.register_buffer("gamma", torch.ones(n) if per_channel else torch.tensor(1.0))
        self._gf = lsq_grad_factor(int(torch.tensor(shape).prod()) // (shape[0] if per_channel else 1), self.qmax)

    def scale(self) -> torch.Tensor:
        """Grid step, ``(O,)`` per channel or ``()`` (positive; a power of two in pow2 mode)."""
        s = self.step.abs().clamp_min(1e-12)
        return pow2_ste(s) if self.pow2 else s

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.fmt == "fp32":
            return w
        if self.fmt == "fp16":
            return fp16_ste(w)
        if self.method == "dorefa":
            wn, sv = self._dorefa(w)
            return _round_clamp(wn * self.qmax, self.qmin, self.qmax) * sv
        s = self.scale()
        if self.per_channel:
            s = channel_view(s, w.dim())
        gf = self._gf if self.method == "lsq" else 1.0
        st = s if self.method == "lsq" else s.detach()
        return fake_quant(w, st, self.qmin, self.qmax, lsq=True, grad_factor=gf)

    @torch.no_grad()
    def quantize(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer codes (int32, same shape as ``w``) and the scale ``(O,)`` or ``()`` of ``w``.

        ``codes * scale`` is exactly what :meth:`forward` returns (for int formats).
        """
        if self.fmt != "int":
            raise ValueError("only integer weights have codes")
        if self.method == "dorefa":
            wn, sv = self._dorefa(w)
            codes = torch.round(wn * self.qmax).clamp(self.qmin, self.qmax)
            return codes.to(torch.int32), sv.reshape(-1 if self.per_channel else ()).float()
        s = self.scale().detach()
        sv = channel_view(s, w.dim()) if self.per_channel else s
        codes = torch.round(w / sv).clamp(self.qmin, self.qmax)
        return codes.to(torch.int32), s.float()

    def _dorefa(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """DoReFa's normalised ``tanh(w) / max|tanh(w)|`` and the (detached) step ``max|w| / Q``, broadcastable."""
        t = torch.tanh(w)
        m = max_abs(t, self.per_channel).clamp_min(1e-12)
        s = max_abs(w, self.per_channel).clamp_min(1e-12) / self.qmax
        if self.pow2:
            s = torch.exp2(torch.round(torch.log2(s)))
        if self.per_channel:
            return t / channel_view(m, w.dim()), channel_view(s, w.dim())
        return t / m, s

    def extra_repr(self) -> str:
        if self.fmt != "int":
            return self.fmt
        return (f"int{self.bits} {self.method}, {'per-channel' if self.per_channel else 'per-tensor'}"
                f"{', pow2' if self.pow2 else ''}")


def _round_clamp(x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    return ((torch.round(x) - x).detach() + x).clamp(lo, hi)
