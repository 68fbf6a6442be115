"""Write trained networks back to the qformat model artifact, float or quantized.

Integer export (the contract every back-end follows, see qformat SPEC.md):

* ``weight_codes``: symmetric narrow-range integers, zero point 0, int8 for
  <= 8 bits else int16; ``weight_scale`` float32 ``(O,)`` per channel or ``()``;
  ``pow2`` scheme: the scale is ``2**-weight_shift`` exactly.
* ``weight``: the dequantized weight ``codes * scale`` (so ``mode="float"``
  runs the quantized weights with float activations).
* ``bias_codes = rint(b / (s_in * s_w))`` (round half to even) as int32, or
  int16 with ``bias_bits=16`` (an overflowing layer is an error naming it).
* ``requant_multiplier``/``requant_shift`` per output channel for
  ``s_in * s_w / s_out`` (:func:`qformat.requant.quantize_multiplier` with
  ``multiplier_bits``, default 8 for the Ibex ISA, up to 31); the rounding rule is
  ``y = clamp(zp_out + ((acc * M + 2**(shift-1)) >> shift))`` (round half up,
  int64 product). In power-of-two mode ``M = 1`` (``M = 2**k`` when the ratio
  is ``2**k >= 1``): requantization is a rounding shift only.
* ``add`` layers carry their output grid and one ``(M, shift)`` per input
  (``s_in_i / s_out``); pooling, flatten, ReLU and concat keep their input's grid
  (average pooling rounds half up, per the interpreter).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from qformat.model import Model
from qformat.requant import quantize_multiplier
from qformat.spec import ActQuant, LayerQuant, WeightQuant

from .errors import ConfigError
from .graph import GraphNet, safe_key
from .quant.modules import ActQuantizer, WeightQuantizer

__all__ = ["float_model", "quantized_model", "requant_params", "tensor_quant", "ExportReport"]

INT32_MAX = (1 << 31) - 1


class ExportReport(list):
    """Warnings gathered during export (e.g. possible int32 accumulator overflow)."""


def float_model(net: GraphNet, provenance: Optional[dict] = None) -> Model:
    """The float model artifact of ``net`` (BatchNorm folded)."""
    return net.to_model(provenance)


def tensor_quant(net: GraphNet, name: str) -> Optional[ActQuant]:
    """The integer grid (ActQuant) tensor ``name`` carries, following pass-through ops; None when float."""
    src = net.quant_source(name)
    if src is None:
        return None
    q = net.aq[safe_key(src)]
    return q.act_quant() if isinstance(q, ActQuantizer) else None


def requant_params(real: np.ndarray, multiplier_bits: int, pow2: bool, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer (multiplier, shift) arrays for real requantization ratios."""
    real = np.asarray(real, dtype=np.float64)
    if pow2:
        k = np.log2(real)
        if not np.allclose(k, np.round(k), atol=1e-9):
            raise ConfigError("export", where, "power-of-two mode but a scale ratio is not a power of two")
        k = np.round(k).astype(np.int64)
        m = np.where(k > 0, np.left_shift(1, np.maximum(k, 0)), 1)
        s = np.where(k > 0, 0, -k)
        if np.any(m >= (1 << multiplier_bits)):
            raise ConfigError("export", where, f"scale ratio 2**{int(k.max())} does not fit a {multiplier_bits}-bit multiplier")
        return m.astype(np.int32), s.astype(np.int32)
    try:
        return quantize_multiplier(real, multiplier_bits)
    except ValueError as e:
        raise ConfigError("export", where, f"{e} (scale ratio {float(real.max()):.4g}; raise --multiplier-bits)") from None


def quantized_model(net: GraphNet, provenance: Optional[dict] = None, *, multiplier_bits: int = 8,
                    bias_bits: int = 32, require_integer: bool = False,
                    report: Optional[ExportReport] = None) -> Model:
    """The model artifact of a quantized ``net``: float tensors, codes, scales and, where every grid of a
    layer is an integer grid, the integer-only tensors (``bias_codes``, requantization).

    ``require_integer`` raises when some layer cannot run integer-only (a float
    weight or activation precision).
    """
    if not 2 <= multiplier_bits <= 31:
        raise ConfigError("export", "multiplier_bits", f"{multiplier_bits} outside 2..31")
    if bias_bits not in (16, 32):
        raise ConfigError("export", "bias_bits", f"{bias_bits} must be 16 or 32")
    report = report if report is not None else ExportReport()
    pow2 = bool(getattr(getattr(net, "quant_options", None), "pow2", False))
    m = net.to_model(provenance)
    for lay in m.layers:
        k = safe_key(lay.name)
        if lay.op == "input":
            aq = tensor_quant(net, lay.name)
            if aq is not None:
                lay.quant = LayerQuant(output=aq)
            elif require_integer:
                raise ConfigError("export", lay.name, "the network input is not quantized (float precision)")
        elif lay.is_compute:
            _export_compute(net, m, lay, k, multiplier_bits, bias_bits, pow2, require_integer, report)
        elif lay.op == "add":
            qout = tensor_quant(net, lay.name)
            qins = [tensor_quant(net, s) for s in lay.inputs]
            if qout is None or any(q is None for q in qins):
                if require_integer:
                    raise ConfigError("export", lay.name, "add with a float input or output cannot run integer-only")
                continue
            real = np.array([qins[0].scale / qout.scale, qins[1].scale / qout.scale])
            mm, ss = requant_params(real, multiplier_bits, pow2, f"layer {lay.name}")
            m.set(lay.name, "requant_multiplier", mm)
            m.set(lay.name, "requant_shift", ss)
            lay.quant = LayerQuant(output=qout)
    return m


def _export_compute(net: GraphNet, m: Model, lay, k: str, multiplier_bits: int, bias_bits: int, pow2: bool,
                    require_integer: bool, report: ExportReport) -> None:
    wq: Optional[WeightQuantizer] = net.wq[k] if k in net.wq else None
    qin = tensor_quant(net, lay.inputs[0])
    qout = tensor_quant(net, lay.name)
    w = net.module(lay.name).weight.detach().float().cpu()
    if wq is None:
        if require_integer:
            raise ConfigError("export", lay.name, "fp32 weights cannot run integer-only")
        if qin is not None or qout is not None:
            lay.quant = LayerQuant(input=qin, output=qout)
        return
    if wq.fmt == "fp16":
        if require_integer:
            raise ConfigError("export", lay.name, "fp16 weights cannot run integer-only")
        m.set(lay.name, "weight", w.half().float().numpy())
        lay.quant = LayerQuant(weight=WeightQuant(bits=16, signed=True, scheme="fp16", per_channel=False,
                                                  narrow_range=False), input=qin, output=qout)
        return
    codes, scale = wq.quantize(w)
    codes_np = codes.numpy().astype(np.int8 if wq.bits <= 8 else np.int16)
    scale_np = scale.numpy().astype(np.float32)
    sv = scale_np.reshape((-1,) + (1,) * (w.dim() - 1)) if wq.per_channel else scale_np
    m.set(lay.name, "weight", (codes_np.astype(np.float32) * sv).astype(np.float32))
    m.set(lay.name, "weight_codes", codes_np)
    m.set(lay.name, "weight_scale", scale_np if wq.per_channel else scale_np.reshape(()))
    scheme = "pow2" if wq.pow2 else "affine"
    if wq.pow2:
        sh = -np.log2(scale_np.astype(np.float64))
        m.set(lay.name, "weight_shift", np.round(sh).astype(np.int8 if np.all(np.abs(sh) < 127) else np.int16))
    integer = qin is not None and qout is not None
    if not integer and require_integer:
        raise ConfigError("export", lay.name, "float input or output activations cannot run integer-only")
    lay.quant = LayerQuant(weight=WeightQuant(bits=wq.bits, signed=True, scheme=scheme, per_channel=wq.per_channel,
                                              narrow_range=True), input=qin, output=qout,
                           bias_bits=bias_bits if integer else 32)
    if not integer:
        return
    out_ch = codes_np.shape[0]
    s_w = np.broadcast_to(scale_np.astype(np.float64).reshape(-1), (out_ch,))
    s_acc = qin.scale * s_w
    b = m.get_or_none(lay.name, "bias")
    if b is not None:
        bq = np.rint(b.astype(np.float64) / s_acc)
        lim = (1 << (bias_bits - 1)) - 1
        worst = float(np.abs(bq).max(initial=0))
        if worst > lim:
            hint = ("use --bias-bits 32" if bias_bits == 16 else
                    f"the accumulator step s_in*s_w = {float(s_acc.min()):.3g} is tiny next to the bias; "
                    "the layer's input is nearly constant (check the calibration data)")
            raise ConfigError("export", f"layers/{lay.name}/bias_codes",
                              f"bias code {int(worst)} overflows int{bias_bits} ({hint})")
        m.set(lay.name, "bias_codes", bq.astype(np.int16 if bias_bits == 16 else np.int32))
    mm, ss = requant_params(s_acc / qout.scale, multiplier_bits, pow2, f"layer {lay.name}")
    m.set(lay.name, "requant_multiplier", mm)
    m.set(lay.name, "requant_shift", ss)
    # Worst-case accumulator magnitude: sum |w| * max |x - zp| + |bias|.
    xmax = max(abs(qin.qmin - qin.zero_point), abs(qin.qmax - qin.zero_point))
    wsum = np.abs(codes_np.astype(np.int64)).reshape(out_ch, -1).sum(axis=1)
    bound = wsum * xmax + (np.abs(m.get(lay.name, "bias_codes").astype(np.int64)) if b is not None else 0)
    if bound.max(initial=0) > INT32_MAX:
        report.append(f"{lay.name}: worst-case accumulator {int(bound.max())} exceeds int32 "
                      f"(2**{math.log2(float(bound.max())):.1f}); real inputs may still fit")
