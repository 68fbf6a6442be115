"""A small numpy post-training quantizer: the reference integer export.

It turns a float model plus calibration data into a spec-v1 integer model with
min/max scales. qtrain has the real PTQ (percentile, MSE, per-layer maps);
this one exists so torch-free tools can make integer artifacts in their tests
and so qtrain's export can be checked against an independent implementation.

Rules (the same qtrain follows):
* weights: symmetric, narrow range ([-(2^(b-1)-1), 2^(b-1)-1]), zero point 0,
  per output channel or per tensor; ``pow2`` rounds scales up to powers of two;
* activations: zero point 0; unsigned after ReLU/ReLU6 (or when the calibration
  range is non-negative), signed symmetric otherwise; the last layer is signed;
* bias codes ``round(b / (s_in * s_w))`` in int32; requantization
  ``s_in * s_w / s_out`` as an integer multiplier of ``multiplier_bits`` bits and
  a right shift; pass-through ops (pooling, flatten, ReLU) keep their input's
  quantization; ``add`` gets one multiplier and shift per input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

import numpy as np

from .interp import run
from .model import Model
from .precision import PrecisionMap
from .requant import quantize_multiplier
from .spec import ActQuant, LayerQuant, WeightQuant

Bits = Union[int, Mapping[str, int], PrecisionMap]


def _act_quant(values: np.ndarray, bits: int, unsigned: bool) -> ActQuant:
    if unsigned:
        hi = float(np.max(values, initial=0.0))
        return ActQuant(bits=bits, signed=False, scale=max(hi, 1e-8) / ((1 << bits) - 1), zero_point=0)
    m = float(np.max(np.abs(values), initial=0.0))
    return ActQuant(bits=bits, signed=True, scale=max(m, 1e-8) / ((1 << (bits - 1)) - 1), zero_point=0)


def _weight_bits(spec: Bits, name: str) -> int | None:
    if isinstance(spec, int):
        return spec
    if isinstance(spec, PrecisionMap):
        lp = spec.resolve(name)
        if lp is None or lp.weight.is_float:
            return None
        return lp.weight.bits
    return spec.get(name, spec.get("_default"))


def quantize_weights(w: np.ndarray, bits: int, per_channel: bool = True, pow2: bool = False):
    """Symmetric narrow-range codes and scales of a weight tensor (axis 0 = output channel)."""
    qmax = (1 << (bits - 1)) - 1 if bits > 1 else 1
    axes = tuple(range(1, w.ndim))
    m = np.max(np.abs(w), axis=axes) if per_channel else np.full(w.shape[0], np.max(np.abs(w)))
    scale = np.maximum(m, 1e-12) / qmax
    if pow2:
        scale = np.exp2(np.ceil(np.log2(scale)))
    if not per_channel:
        scale = scale[:1]
    s = scale.reshape((-1,) + (1,) * (w.ndim - 1))
    codes = np.clip(np.rint(w / s), -qmax, qmax)
    return codes.astype(np.int8 if bits <= 8 else np.int16), scale.astype(np.float32)


def reference_ptq(model: Model, x_calib: np.ndarray, weight_bits: Bits = 8, act_bits: int = 8,
                  per_channel: bool = True, multiplier_bits: int = 8, pow2: bool = False) -> Model:
    """Quantize ``model`` with min/max calibration on ``x_calib``; returns a new integer model.

    Layers whose ``weight_bits`` resolves to None (a float precision) raise, since
    an integer-only model needs every compute layer in integers.
    """
    out = model.copy()
    acts = run(model, x_calib, mode="float", return_all=True)
    quants: dict[str, ActQuant] = {}
    last = model.layers[-1].name
    for lay in out.layers:
        y = acts[lay.name]
        if lay.op == "input":
            q = _act_quant(y, act_bits, unsigned=bool(np.min(y) >= 0))
            lay.quant = LayerQuant(output=q)
        elif lay.op in ("maxpool2d", "avgpool2d", "global_avgpool", "flatten", "relu", "relu6", "softmax"):
            q = quants[lay.inputs[0]]
        elif lay.op == "concat":
            raise NotImplementedError("reference_ptq does not quantize concat (use qtrain ptq)")
        else:
            is_last = lay.name == last or (out.consumers(lay.name) and all(c.op == "softmax" for c in out.consumers(lay.name)))
            unsigned = lay.activation in ("relu", "relu6") or (not is_last and lay.op != "add" and bool(np.min(y) >= 0))
            q = _act_quant(y, act_bits, unsigned=unsigned and not is_last)
            if lay.op == "add":
                qa, qb = quants[lay.inputs[0]], quants[lay.inputs[1]]
                floor = max(qa.scale, qb.scale) / 2 ** (multiplier_bits - 1)
                if q.scale < floor:
                    q = q.model_copy(update={"scale": floor})
                m, s = quantize_multiplier(np.array([qa.scale / q.scale, qb.scale / q.scale]), multiplier_bits)
                out.set(lay.name, "requant_multiplier", m)
                out.set(lay.name, "requant_shift", s)
                lay.quant = LayerQuant(output=q)
            else:
                qin = quants[lay.inputs[0]]
                bits = _weight_bits(weight_bits, lay.name)
                if bits is None:
                    raise ValueError(f"layer {lay.name!r} has a float precision; integer export needs integers")
                w = model.get(lay.name, "weight").astype(np.float64)
                codes, scale = quantize_weights(w, bits, per_channel, pow2)
                out.set(lay.name, "weight_codes", codes)
                out.set(lay.name, "weight_scale", scale if per_channel else scale.reshape(()))
                sw = np.broadcast_to(scale, (w.shape[0],)).astype(np.float64)
                # A (nearly) dead output range would need a huge multiplier: widen it instead.
                floor = qin.scale * float(sw.max()) / 2 ** (multiplier_bits - 1)
                if q.scale < floor:
                    q = q.model_copy(update={"scale": floor})
                if model.has(lay.name, "bias"):
                    bq = np.rint(model.get(lay.name, "bias").astype(np.float64) / (qin.scale * sw))
                    out.set(lay.name, "bias_codes", np.clip(bq, -(1 << 31), (1 << 31) - 1).astype(np.int32))
                m, s = quantize_multiplier(qin.scale * sw / q.scale, multiplier_bits)
                out.set(lay.name, "requant_multiplier", m)
                out.set(lay.name, "requant_shift", s)
                lay.quant = LayerQuant(weight=WeightQuant(bits=bits, signed=True, scheme="pow2" if pow2 else "affine",
                                                          per_channel=per_channel, narrow_range=True),
                                       input=qin, output=q)
        quants[lay.name] = q
    out.provenance = dict(model.provenance, quantized_by="qformat.reference_ptq",
                          calibration={"samples": int(len(x_calib)), "method": "minmax"})
    return out
