"""From a precision map to quantizers on a GraphNet.

Rules (documented in the README, shared by QAT, PTQ and the integer export):

* A layer's *weight* precision and *activation* precision come from the
  precision map (exact name > ``re:`` regex > ``_default``; a layer no rule
  matches stays fp32). The activation precision is the precision of the
  layer's **input** (what the kernel reads).
* Activations are quantized once, where they are produced: at the network
  input, at every conv/linear output (after its fused activation) and at every
  add. Pooling, flatten, ReLU, concat and softmax pass their input's grid on.
* A tensor read by several layers gets the **widest** precision they ask for
  (fp32 > fp16 > int16 > ... > int2), so shared tensors are never ambiguous.
* A tensor read by no compute layer (the logits) gets the output precision:
  int8, or the widest integer precision its producer's input uses if wider,
  or the producer's float format.
* Grids: weights symmetric narrow-range, zero point 0; activations zero point 0,
  unsigned after ReLU/ReLU6 (ReLU6 caps the clip at 6), signed otherwise; the
  network input is unsigned when the data are non-negative.
* Inputs of a ``concat`` share one quantizer (integer concat needs one scale).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from qformat.precision import LayerPrecision, Precision, PrecisionMap

from ..errors import ConfigError
from ..graph import PASS_THROUGH_OPS, QUANT_POINT_OPS, GraphNet, safe_key
from .modules import ActQuantizer, WeightQuantizer

__all__ = ["QuantOptions", "TensorPlan", "QuantPlan", "as_precision_map", "plan_quantization", "attach",
           "widest", "FP32"]

FP32 = Precision("float", 32)
PrecisionLike = Union[None, str, Mapping[str, Any], PrecisionMap]


def _rank(p: Precision) -> int:
    return 1000 + p.bits if p.is_float else p.bits


def widest(ps) -> Precision:
    """The widest of several precisions (fp32 > fp16 > int16 > ... > int2)."""
    ps = list(ps)
    return max(ps, key=_rank) if ps else FP32


def as_precision_map(spec: PrecisionLike) -> PrecisionMap:
    """A :class:`PrecisionMap` from a map, a rules dict, ``"int8"``/``"fp16"`` (uniform) or ``"w4a8"``."""
    if spec is None:
        return PrecisionMap({"_default": {"weight": "int8", "activation": "int8"}})
    if isinstance(spec, PrecisionMap):
        return spec
    if isinstance(spec, Mapping):
        return PrecisionMap(dict(spec))
    text = str(spec).strip().lower()
    if text.startswith("w") and "a" in text:
        w, a = text[1:].split("a", 1)
        wp = "fp16" if w in ("16f", "fp16") else f"int{w}" if w.isdigit() else w
        ap = "fp16" if a in ("16f", "fp16") else f"int{a}" if a.isdigit() else a
        return PrecisionMap({"_default": {"weight": wp, "activation": ap}})
    try:
        p = Precision.parse(text)
    except ValueError as e:
        raise ConfigError("precision", text, str(e)) from None
    return PrecisionMap({"_default": {"weight": str(p), "activation": str(p)}})


@dataclass
class QuantOptions:
    """How quantizers are built: weight method, granularity, power-of-two scales, learned clips."""

    weight_method: str = "lsq"        # lsq | dorefa | fixed
    per_channel: bool = True
    pow2: bool = False
    act_learn: bool = True            # PACT clips are parameters (QAT); False for PTQ
    act_lsq_grad: bool = True         # LSQ-style clip gradient (False: original PACT gradient)
    output_bits: Optional[int] = None  # precision of the logits (default: see module doc)

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TensorPlan:
    """The grid of one quantization point (the output tensor of ``name``)."""

    name: str
    precision: Precision
    signed: bool
    max_alpha: Optional[float] = None
    group: Optional[str] = None  # quantizer shared with this point (concat inputs)


@dataclass
class QuantPlan:
    """Per compute layer: weight and input precision; per quantization point: its grid."""

    layers: dict[str, LayerPrecision] = field(default_factory=dict)
    tensors: dict[str, TensorPlan] = field(default_factory=dict)

    def is_integer(self) -> bool:
        """True when every weight and every quantized tensor is an integer grid (integer export possible)."""
        return (all(not lp.weight.is_float for lp in self.layers.values())
                and all(not t.precision.is_float for t in self.tensors.values()))

    def describe(self) -> dict:
        return {"layers": {k: v.to_json() for k, v in self.layers.items()},
                "tensors": {k: {"precision": str(t.precision), "signed": t.signed} for k, t in self.tensors.items()}}


def _producer_point(net: GraphNet, name: str) -> str:
    """The quantization point whose grid ``name`` carries (following pass-through ops)."""
    while True:
        lay = net.layer(name)
        if lay.op in QUANT_POINT_OPS:
            return name
        name = lay.inputs[0]


def plan_quantization(net: GraphNet, precision: PrecisionLike, *, input_signed: bool = False,
                      output_bits: Optional[int] = None, strict: bool = True) -> QuantPlan:
    """Resolve a precision map on ``net`` into a :class:`QuantPlan` (see the module doc for the rules)."""
    pm = as_precision_map(precision)
    names = [lay.name for lay in net.compute_layers()]
    resolved = pm.resolve_all(names, strict=strict)
    layers = {n: resolved.get(n, LayerPrecision(FP32, FP32)) for n in names}

    # need[t]: the precision tensor t must carry, from its consumers (reverse order).
    need: dict[str, Precision] = {}
    order = net.layers
    for lay in reversed(order):
        cons = net.consumers(lay.name)
        wants = []
        for c in cons:
            if c.is_compute:
                wants.append(layers[c.name].activation)
            elif c.name in need:
                wants.append(need[c.name])
        if not cons:
            wants.append(_output_precision(net, lay, layers, output_bits))
        need[lay.name] = widest(wants)

    tensors: dict[str, TensorPlan] = {}
    for lay in order:
        if lay.op not in QUANT_POINT_OPS:
            continue
        p = need[lay.name]
        if lay.op == "input":
            signed = bool(input_signed)
        else:
            signed = lay.activation not in ("relu", "relu6")
        tensors[lay.name] = TensorPlan(lay.name, p, signed, 6.0 if lay.activation == "relu6" else None)
    # Pass-through consumers may widen the need of the point they read (e.g. pool -> fc); propagate.
    for lay in order:
        if lay.op in PASS_THROUGH_OPS and lay.inputs:
            for src in lay.inputs:
                pt = _producer_point(net, src)
                tensors[pt].precision = widest([tensors[pt].precision, need[lay.name]])
    # concat: inputs share one quantizer; the group takes the widest precision and signed if any is.
    for lay in order:
        if lay.op == "concat":
            pts = [_producer_point(net, s) for s in lay.inputs]
            head = pts[0]
            p = widest(tensors[x].precision for x in pts)
            sg = any(tensors[x].signed for x in pts)
            for x in pts:
                tensors[x].precision, tensors[x].signed = p, sg
                if x != head:
                    tensors[x].group = head
    return QuantPlan(layers, tensors)


def _output_precision(net: GraphNet, lay, layers: dict[str, LayerPrecision], output_bits: Optional[int]) -> Precision:
    if output_bits:
        return Precision("int", int(output_bits))
    # the compute layer producing this output (through pass-through ops)
    name = lay.name
    while True:
        cur = net.layer(name)
        if cur.is_compute:
            a = layers[cur.name].activation
            if a.is_float:
                return a
            return Precision("int", max(8, a.bits))
        if not cur.inputs:
            return FP32
        name = cur.inputs[0]


def attach(net: GraphNet, plan: QuantPlan, options: Optional[QuantOptions] = None) -> GraphNet:
    """Create the weight and activation quantizers of ``plan`` on ``net`` (in place; returns ``net``).

    Existing quantizers are replaced. Clips start at 1.0 and weight steps at 1.0:
    run :func:`qtrain.quant.calibrate` before training or export.
    """
    o = options or QuantOptions()
    if any(k in net.bns for k in (safe_key(n) for n in plan.layers)):
        raise ConfigError("model", "batchnorm", "fold BatchNorm before quantizing (GraphNet.fold_bn())")
    net.wq.clear()
    net.aq.clear()
    for name, lp in plan.layers.items():
        w = lp.weight
        if w.is_float and w.bits == 32:
            continue
        if not w.is_float and w.bits < 2:
            raise ConfigError("precision", name, "weights need at least 2 bits (int2 is ternary)")
        shape = tuple(net.module(name).weight.shape)
        net.wq[safe_key(name)] = WeightQuantizer(shape, bits=w.bits if not w.is_float else 16,
                                                 method=o.weight_method, per_channel=o.per_channel,
                                                 fmt="fp16" if w.is_float else "int", pow2=o.pow2)
    made: dict[str, ActQuantizer] = {}
    for name, tp in plan.tensors.items():
        p = tp.precision
        if p.is_float and p.bits == 32:
            continue
        if tp.group is not None and tp.group in made:
            q = made[tp.group]
        else:
            if not p.is_float and p.bits < 2:
                raise ConfigError("precision", name, "activations need at least 2 bits")
            q = ActQuantizer(bits=p.bits if not p.is_float else 16, signed=tp.signed,
                             fmt="fp16" if p.is_float else "int", learn=o.act_learn, alpha=1.0,
                             max_alpha=tp.max_alpha, pow2=o.pow2, lsq=o.act_lsq_grad)
        made[name] = q
        net.aq[safe_key(name)] = q
    net.quant_plan = plan  # type: ignore[attr-defined]
    net.quant_options = o  # type: ignore[attr-defined]
    return net
