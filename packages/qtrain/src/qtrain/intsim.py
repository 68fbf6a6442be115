"""Integer-only inference of an exported model, in torch (the fast path).

:class:`IntegerModel` runs a quantized qformat model with exactly the integer
semantics of ``qformat.run(model, x, mode="int")`` (SPEC.md, qformat/interp.py):

* input codes ``clip(rint(x / s) + zp)`` (round half to even);
* conv/linear: ``acc = sum((x - zp_in) * (w - zp_w)) + bias_codes`` (exact:
  float64 products of integers stay far below 2**52; an int32 overflow is an
  error), ``y = clamp(zp_out + ((acc * M + 2**(shift-1)) >> shift))`` in int64
  with an arithmetic shift, clamped to the output grid and the activation
  (ReLU: ``>= zp``; ReLU6: ``<= zp + round(6 / s)``);
* max-pool pads with ``qmin``; average pooling sums ``x - zp`` (zero padding
  counted) and divides rounding half up, or requantizes when the layer has a
  multiplier; ``add`` requantizes each input with its own ``(M, shift)``;
  concat, flatten, softmax pass codes through.

It is bit-exact with the reference interpreter (tested) and several times
faster on real networks (batched torch convolutions; see bench/qtrain_bench.py),
so whole test sets can be scored integer-only (``qtrain eval --integer --engine fast``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from qformat.errors import QFormatError
from qformat.model import Model
from qformat.spec import ActQuant

__all__ = ["IntegerModel", "rshift_round", "quantize"]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def rshift_round(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``(x + 2**(shift-1)) >> shift`` in int64 (no rounding term where shift is 0)."""
    s = shift.to(torch.int64)
    half = torch.where(s > 0, torch.bitwise_left_shift(torch.ones_like(s), (s - 1).clamp_min(0)), torch.zeros_like(s))
    return torch.bitwise_right_shift(x + half, s)


def quantize(x: torch.Tensor, q: ActQuant) -> torch.Tensor:
    """Real values to int64 codes: round half to even, add the zero point, saturate."""
    return torch.clamp(torch.round(x.to(torch.float64) / q.scale) + q.zero_point, q.qmin, q.qmax).to(torch.int64)


def _bounds(q: ActQuant, act: str) -> tuple[int, int]:
    lo, hi = q.qmin, q.qmax
    if act in ("relu", "relu6"):
        lo = max(lo, q.zero_point)
    if act == "relu6":
        hi = min(hi, q.zero_point + int(round(6.0 / q.scale)))
    return lo, hi


def _same(a: ActQuant, b: ActQuant) -> bool:
    return a.zero_point == b.zero_point and abs(a.scale - b.scale) <= 1e-6 * max(a.scale, b.scale)


def _chan(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.reshape((1, -1) + (1,) * (ndim - 2)) if v.numel() > 1 else v.reshape(())


class IntegerModel:
    """Integer-only execution of a quantized model artifact (see the module doc)."""

    def __init__(self, model: Model, device: str | torch.device = "cpu"):
        self.model = model
        self.device = torch.device(device)
        self.t: dict[str, dict[str, torch.Tensor]] = {}
        self.q: dict[str, ActQuant] = {}
        if model.input_quant is None:
            raise QFormatError("model", f"layer {model.input_layer.name!r}", "integer mode needs the input quantization")
        for lay in model.layers:
            if lay.is_compute:
                lq = lay.quant
                if lq is None or lq.weight is None or lq.output is None or lq.weight.scheme in ("fp16", "kmeans"):
                    raise QFormatError("model", f"layer {lay.name!r}", "integer mode needs integer weights and output quantization")
                d = {}
                for name in ("weight_codes", "requant_multiplier", "requant_shift"):
                    if not model.has(lay.name, name):
                        raise QFormatError("model", f"layer {lay.name!r}", f"integer mode needs the tensor {name!r}")
                w = model.get(lay.name, "weight_codes").astype(np.int64)
                if model.has(lay.name, "weight_zero_point"):
                    zp = model.get(lay.name, "weight_zero_point").astype(np.int64)
                    w = w - (zp.reshape((-1,) + (1,) * (w.ndim - 1)) if zp.ndim == 1 else zp)
                d["w"] = torch.from_numpy(w.astype(np.float64)).to(self.device)
                d["wmax"] = torch.tensor(float(np.abs(w).max(initial=0)))
                if model.has(lay.name, "bias_codes"):
                    d["b"] = torch.from_numpy(model.get(lay.name, "bias_codes").astype(np.int64)).to(self.device)
                d["m"] = torch.from_numpy(model.get(lay.name, "requant_multiplier").astype(np.int64)).to(self.device)
                d["s"] = torch.from_numpy(model.get(lay.name, "requant_shift").astype(np.int64)).to(self.device)
                self.t[lay.name] = d
            elif lay.op in ("add", "avgpool2d", "global_avgpool") and model.has(lay.name, "requant_multiplier"):
                self.t[lay.name] = {
                    "m": torch.from_numpy(model.get(lay.name, "requant_multiplier").astype(np.int64).reshape(-1)).to(self.device),
                    "s": torch.from_numpy(model.get(lay.name, "requant_shift").astype(np.int64).reshape(-1)).to(self.device)}

    def quantize_input(self, x) -> torch.Tensor:
        xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(self.device)
        if not torch.is_floating_point(xt):
            return xt.to(torch.int64)
        return quantize(xt, self.model.input_quant)

    @torch.no_grad()
    def run(self, x, return_all: bool = False):
        """Integer output codes (int64 tensor) for a batch ``x`` (floats, or input codes if integer)."""
        m = self.model
        vals: dict[str, torch.Tensor] = {}
        qs: dict[str, ActQuant] = {}
        for lay in m.layers:
            op = lay.op
            ins = [vals[i] for i in lay.inputs]
            if op == "input":
                y, qs[lay.name] = self.quantize_input(x), m.input_quant
                if tuple(y.shape[1:]) != tuple(m.input_shape):
                    raise QFormatError("input", "", f"batch shape {tuple(y.shape)} does not match the model input {tuple(m.input_shape)}")
            elif lay.is_compute:
                y, qs[lay.name] = self._compute(lay, ins[0], qs[lay.inputs[0]])
            elif op in ("relu", "relu6"):
                qi = qs[lay.inputs[0]]
                lo, hi = _bounds(qi, op)
                y, qs[lay.name] = ins[0].clamp(lo, hi), qi
            elif op == "maxpool2d":
                qi = qs[lay.inputs[0]]
                kh, kw = lay.kernel()
                (ph, pw) = lay.padding()
                xin = ins[0]
                if ph or pw:
                    xin = F.pad(xin, (pw, pw, ph, ph), value=qi.qmin)
                y = F.max_pool2d(xin.to(torch.float64), (kh, kw), tuple(lay.stride())).to(torch.int64)
                qs[lay.name] = qi
            elif op in ("avgpool2d", "global_avgpool"):
                y, qs[lay.name] = self._avgpool(lay, ins[0], qs[lay.inputs[0]])
            elif op == "flatten":
                y, qs[lay.name] = ins[0].reshape(ins[0].shape[0], -1), qs[lay.inputs[0]]
            elif op == "add":
                y, qs[lay.name] = self._add(lay, ins, [qs[i] for i in lay.inputs])
            elif op == "concat":
                q0 = qs[lay.inputs[0]]
                if not all(_same(q0, qs[i]) for i in lay.inputs[1:]):
                    raise QFormatError("model", f"layer {lay.name!r}", "integer concat needs inputs of one scale and zero point")
                y, qs[lay.name] = torch.cat(ins, dim=1), q0
            elif op == "softmax":
                y, qs[lay.name] = ins[0], qs[lay.inputs[0]]
            else:  # pragma: no cover
                raise QFormatError("model", f"layer {lay.name!r}", f"op {op!r} is not supported")
            vals[lay.name] = y
        self.quants = qs
        if return_all:
            return vals
        return vals[m.layers[-1].name]

    __call__ = run

    def dequantize(self, codes: torch.Tensor, layer: Optional[str] = None) -> torch.Tensor:
        q = self.quants[layer or self.model.layers[-1].name]
        return (codes.to(torch.float64) - q.zero_point) * q.scale

    def predict(self, x) -> np.ndarray:
        """Class predictions (argmax of the output codes)."""
        return self.run(x).argmax(dim=1).cpu().numpy()

    # ------------------------------------------------------------------ ops
    def _compute(self, lay, x: torch.Tensor, qin: ActQuant) -> tuple[torch.Tensor, ActQuant]:
        lq = lay.quant
        if lq.input is not None and not _same(lq.input, qin):
            raise QFormatError("model", f"layer {lay.name!r}", f"input quantization {lq.input} differs from what its producer emits {qin}")
        d = self.t[lay.name]
        xs = (x - qin.zero_point).to(torch.float64)
        k = d["w"][0].numel()
        bound = float(max(abs(qin.qmin - qin.zero_point), abs(qin.qmax - qin.zero_point))) * float(d["wmax"]) * k
        if bound >= 2.0 ** 52:  # pragma: no cover - needs > 16-bit grids
            raise QFormatError("model", f"layer {lay.name!r}", "accumulator too wide for exact float64 evaluation")
        if lay.op == "linear":
            acc = xs @ d["w"].T
        else:
            acc = F.conv2d(xs, d["w"], None, tuple(lay.stride()), tuple(lay.padding()), 1, lay.groups())
        acc = torch.round(acc).to(torch.int64)
        if "b" in d:
            acc = acc + _chan(d["b"], acc.dim())
        if acc.numel() and (int(acc.min()) < INT32_MIN or int(acc.max()) > INT32_MAX):
            raise QFormatError("model", f"layer {lay.name!r}", "int32 accumulator overflow")
        y = rshift_round(acc * _chan(d["m"], acc.dim()), _chan(d["s"], acc.dim())) + lq.output.zero_point
        lo, hi = _bounds(lq.output, lay.activation)
        return y.clamp(lo, hi), lq.output

    def _avgpool(self, lay, x: torch.Tensor, qin: ActQuant) -> tuple[torch.Tensor, ActQuant]:
        xs = (x - qin.zero_point).to(torch.float64)
        if lay.op == "global_avgpool":
            kh, kw = x.shape[2], x.shape[3]
            ssum = xs.sum(dim=(2, 3), keepdim=True)
        else:
            kh, kw = lay.kernel()
            ssum = F.avg_pool2d(xs, (kh, kw), tuple(lay.stride()), tuple(lay.padding()), count_include_pad=True) * (kh * kw)
        ssum = torch.round(ssum).to(torch.int64)
        n = kh * kw
        qout = lay.quant.output if lay.quant is not None and lay.quant.output is not None else qin
        if lay.name in self.t:
            y = rshift_round(ssum * self.t[lay.name]["m"][0], self.t[lay.name]["s"][0])
        elif _same(qin, qout):
            y = torch.div(2 * ssum + n, 2 * n, rounding_mode="floor")
        else:
            raise QFormatError("model", f"layer {lay.name!r}", "integer average pooling that changes scale needs requant_multiplier/requant_shift")
        return (y + qout.zero_point).clamp(qout.qmin, qout.qmax), qout

    def _add(self, lay, ins, qs) -> tuple[torch.Tensor, ActQuant]:
        qout = lay.quant.output if lay.quant is not None and lay.quant.output is not None else qs[0]
        a, b = ins[0] - qs[0].zero_point, ins[1] - qs[1].zero_point
        if lay.name in self.t:
            mm, ss = self.t[lay.name]["m"], self.t[lay.name]["s"]
            if mm.numel() != 2:
                raise QFormatError("model", f"layer {lay.name!r}", "add needs one multiplier and shift per input (shape (2,))")
            y = rshift_round(a * mm[0], ss[0]) + rshift_round(b * mm[1], ss[1])
        elif _same(qs[0], qout) and _same(qs[1], qout):
            y = a + b
        else:
            raise QFormatError("model", f"layer {lay.name!r}", "integer add of different scales needs requant_multiplier/requant_shift")
        lo, hi = _bounds(qout, lay.activation)
        return (y + qout.zero_point).clamp(lo, hi), qout
