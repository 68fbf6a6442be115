"""Quantization: fake-quant QAT, PTQ calibration, k-means weight sharing.

Two verbs on a trained :class:`~qtrain.graph.GraphNet`:

>>> qnet = quant.prepare_qat(net, "w4a4", calib=batches)     # learned LSQ steps + PACT clips
>>> qnet = quant.ptq(net, pm, calib=batches, act_method="mse") # fixed, calibrated grids

Both fold BatchNorm into a copy of ``net`` (the float weights are copied, not
re-initialised), build the quantizers of the precision map (see
:mod:`qtrain.quant.plan` for the rules) and calibrate them on ``calib``
batches. Train the QAT network with :func:`qtrain.train.fit`; export either
with :func:`qtrain.export.quantized_model`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

import torch

from ..graph import GraphNet
from .calibration import (
    ACT_METHODS,
    WEIGHT_CALIB_METHODS,
    Observer,
    calibrate,
    calibrate_weights,
    choose_clip,
    input_is_signed,
    observe,
    weight_step,
)
from .functional import (
    dorefa_weight,
    fake_quant,
    fake_quant_reference,
    fp16_ste,
    pow2_round,
    pow2_ste,
    qrange,
    round_ste,
)
from .modules import WEIGHT_METHODS, ActQuantizer, WeightQuantizer
from .plan import QuantOptions, QuantPlan, TensorPlan, as_precision_map, attach, plan_quantization, widest

__all__ = [
    "prepare_qat", "ptq", "quantize_net", "QuantOptions", "QuantPlan", "TensorPlan", "plan_quantization", "attach",
    "as_precision_map", "widest", "calibrate", "calibrate_weights", "observe", "Observer", "choose_clip",
    "weight_step", "input_is_signed", "ActQuantizer", "WeightQuantizer", "fake_quant", "fake_quant_reference",
    "dorefa_weight", "fp16_ste", "pow2_ste", "pow2_round", "round_ste", "qrange", "ACT_METHODS",
    "WEIGHT_CALIB_METHODS", "WEIGHT_METHODS",
]


def quantize_net(net: GraphNet, precision, calib: Iterable[torch.Tensor], *, options: Optional[QuantOptions] = None,
                 act_method: str = "percentile", percentile: float = 99.99, weight_calib: str = "mse",
                 strict: bool = True) -> GraphNet:
    """Fold BN into a copy of ``net``, attach the quantizers of ``precision`` and calibrate them on ``calib``."""
    o = options or QuantOptions()
    batches = [xb if isinstance(xb, torch.Tensor) else xb[0] for xb in calib]
    if not batches:
        raise ValueError("calibration needs at least one batch")
    qnet = net.fold_bn()
    dev = next(qnet.parameters()).device
    batches = [b.to(dev) for b in batches]
    plan = plan_quantization(qnet, precision, input_signed=input_is_signed(batches), output_bits=o.output_bits,
                             strict=strict)
    attach(qnet, plan, o)
    qnet.to(dev)
    calibrate(qnet, batches, act_method=act_method, percentile=percentile, weight_method=weight_calib)
    return qnet


def prepare_qat(net: GraphNet, precision, calib: Iterable[torch.Tensor], *, weight_method: str = "lsq",
                per_channel: bool = True, pow2: bool = False, act_method: str = "percentile",
                percentile: float = 99.99, pact_gradient: str = "lsq", output_bits: Optional[int] = None,
                strict: bool = True) -> GraphNet:
    """A QAT-ready copy of ``net``: learned clips (PACT), ``lsq``/``dorefa`` weights, initialised by calibration."""
    o = QuantOptions(weight_method=weight_method, per_channel=per_channel, pow2=pow2, act_learn=True,
                     act_lsq_grad=pact_gradient == "lsq", output_bits=output_bits)
    return quantize_net(net, precision, calib, options=o, act_method=act_method, percentile=percentile,
                        strict=strict)


def ptq(net: GraphNet, precision, calib: Iterable[torch.Tensor], *, act_method: str = "percentile",
        percentile: float = 99.99, weight_calib: str = "mse", per_channel: bool = True, pow2: bool = False,
        output_bits: Optional[int] = None, strict: bool = True) -> GraphNet:
    """Post-training quantization: fixed grids calibrated with ``act_method`` (minmax/percentile/mse)."""
    o = QuantOptions(weight_method="fixed", per_channel=per_channel, pow2=pow2, act_learn=False,
                     output_bits=output_bits)
    return quantize_net(net, precision, calib, options=o, act_method=act_method, percentile=percentile,
                        weight_calib=weight_calib, strict=strict)
