"""Import a user's ``torch.nn.Module`` into the qformat IR with torch.fx.

>>> model = qtrain.importer.from_torch(my_module, input_shape=(3, 32, 32))   # a qformat Model
>>> net = GraphNet.from_model(model)                                          # trainable again

Sequential and residual (``x + y``, ``torch.add``, ``torch.cat``) networks are
traced symbolically. Supported: ``Conv2d`` (groups, zero padding, no
dilation), ``Linear``, ``BatchNorm1d/2d`` (folded into the preceding
conv/linear), ``ReLU``/``ReLU6``/``Hardtanh(0, 6)`` (fused into the producer when
it is its only consumer), ``MaxPool2d``, ``AvgPool2d`` (count_include_pad),
``AdaptiveAvgPool2d(1)``, ``Flatten``/``torch.flatten``/``x.view(N, -1)``,
``Dropout``/``Identity`` (dropped), ``Softmax``. Anything else is a clear
error naming the node. The imported network's output is checked against the
module's on a random input.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from qformat.ir import Layer
from qformat.model import Model

from .errors import ConfigError

__all__ = ["from_torch"]


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(v[0]), int(v[1])]


def _err(node: fx.Node, why: str) -> ConfigError:
    return ConfigError("torch module", f"node {node.name!r} ({node.op} {node.target})", why)


def from_torch(module: nn.Module, input_shape: Sequence[int], *, check: bool = True, atol: float = 1e-4,
               provenance: Optional[dict] = None) -> Model:
    """Trace ``module`` (eval mode) and return an equivalent qformat :class:`~qformat.model.Model`."""
    module = module.eval()
    try:
        gm = fx.symbolic_trace(module)
    except Exception as e:  # noqa: BLE001 - tracing errors are user-facing
        raise ConfigError("torch module", "", f"torch.fx cannot trace it ({type(e).__name__}: {e})") from None
    ex = torch.randn(2, *[int(d) for d in input_shape])
    from torch.fx.passes.shape_prop import ShapeProp

    ShapeProp(gm).propagate(ex)
    mods = dict(gm.named_modules())
    layers: list[Layer] = []
    tensors: dict[str, dict[str, np.ndarray]] = {}
    alias: dict[str, str] = {}          # fx node name -> IR layer name
    users = {n.name: len(n.users) for n in gm.graph.nodes}

    def src(n: Any) -> str:
        if not isinstance(n, fx.Node):
            raise ConfigError("torch module", "", f"unsupported constant argument {n!r}")
        return alias[n.name]

    def layer_of(name: str) -> Layer:
        for lay in layers:
            if lay.name == name:
                return lay
        raise KeyError(name)

    def uniq(base: str) -> str:
        base = base.replace("/", "_").lstrip(".") or "layer"
        names = {l.name for l in layers}
        if base not in names:
            return base
        i = 1
        while f"{base}_{i}" in names:
            i += 1
        return f"{base}_{i}"

    def fuse_act(node: fx.Node, act: str) -> None:
        prev = node.args[0]
        p = layer_of(src(prev))
        if p.op in ("conv2d", "linear", "add") and p.activation == "none" and users[prev.name] == 1:
            p.activation = act
            alias[node.name] = p.name
        else:
            n = uniq(node.name)
            layers.append(Layer(n, act, [src(prev)]))
            alias[node.name] = n

    def fold_bn(node: fx.Node, bn: nn.Module) -> None:
        prev = node.args[0]
        p = layer_of(src(prev))
        if p.op not in ("conv2d", "linear") or users[prev.name] != 1 or p.activation != "none":
            raise _err(node, "BatchNorm must directly follow a conv/linear used only by it")
        w = tensors[p.name]["weight"].astype(np.float64)
        b = tensors[p.name].get("bias", np.zeros(w.shape[0])).astype(np.float64)
        g = bn.weight.detach().double().numpy() if bn.affine else np.ones(w.shape[0])
        beta = bn.bias.detach().double().numpy() if bn.affine else np.zeros(w.shape[0])
        mean, var = bn.running_mean.double().numpy(), bn.running_var.double().numpy()
        inv = g / np.sqrt(var + bn.eps)
        tensors[p.name]["weight"] = (w * inv.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
        tensors[p.name]["bias"] = (beta + (b - mean) * inv).astype(np.float32)
        alias[node.name] = p.name

    def pool(node: fx.Node, op: str, k, s, p) -> None:
        n = uniq(node.name)
        layers.append(Layer(n, op, [src(node.args[0])], {"kernel_size": _pair(k), "stride": _pair(s if s else k),
                                                          "padding": _pair(p)}))
        alias[node.name] = n

    def simple(node: fx.Node, op: str, inputs: list, name: Optional[str] = None) -> None:
        n = uniq(name or node.name)
        layers.append(Layer(n, op, [src(i) for i in inputs]))
        alias[node.name] = n

    out_node = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if layers:
                raise _err(node, "only one input is supported")
            layers.append(Layer("input", "input", [], {"shape": [int(d) for d in input_shape]}))
            alias[node.name] = "input"
        elif node.op == "call_module":
            m = mods[node.target]
            if isinstance(m, nn.Conv2d):
                if _pair(m.dilation) != [1, 1] or m.padding_mode != "zeros":
                    raise _err(node, "only dilation 1 and zero padding are supported")
                pad = m.padding
                if isinstance(pad, str):
                    if pad == "valid":
                        pad = (0, 0)
                    elif pad == "same" and all(k % 2 == 1 for k in _pair(m.kernel_size)) and _pair(m.stride) == [1, 1]:
                        pad = tuple(k // 2 for k in _pair(m.kernel_size))
                    else:
                        raise _err(node, f"padding {pad!r} is not supported")
                n = uniq(str(node.target))
                layers.append(Layer(n, "conv2d", [src(node.args[0])], {
                    "in_channels": m.in_channels, "out_channels": m.out_channels, "kernel_size": _pair(m.kernel_size),
                    "stride": _pair(m.stride), "padding": _pair(pad), "groups": m.groups}))
                tensors[n] = {"weight": m.weight.detach().float().numpy().copy()}
                if m.bias is not None:
                    tensors[n]["bias"] = m.bias.detach().float().numpy().copy()
                alias[node.name] = n
            elif isinstance(m, nn.Linear):
                prev = node.args[0]
                shp = prev.meta.get("tensor_meta").shape if prev.meta.get("tensor_meta") is not None else None
                inp = src(prev)
                if shp is not None and len(shp) != 2:
                    raise _err(node, f"Linear on a {len(shp)}-D tensor (flatten it first)")
                n = uniq(str(node.target))
                layers.append(Layer(n, "linear", [inp], {"in_features": m.in_features, "out_features": m.out_features}))
                tensors[n] = {"weight": m.weight.detach().float().numpy().copy()}
                if m.bias is not None:
                    tensors[n]["bias"] = m.bias.detach().float().numpy().copy()
                alias[node.name] = n
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                fold_bn(node, m)
            elif isinstance(m, nn.ReLU):
                fuse_act(node, "relu")
            elif isinstance(m, nn.ReLU6) or (isinstance(m, nn.Hardtanh) and m.min_val == 0 and m.max_val == 6):
                fuse_act(node, "relu6")
            elif isinstance(m, nn.MaxPool2d):
                if m.ceil_mode or _pair(m.dilation) != [1, 1]:
                    raise _err(node, "MaxPool2d with ceil_mode or dilation is not supported")
                pool(node, "maxpool2d", m.kernel_size, m.stride, m.padding)
            elif isinstance(m, nn.AvgPool2d):
                if m.ceil_mode or not m.count_include_pad or m.divisor_override:
                    raise _err(node, "AvgPool2d needs count_include_pad=True, no ceil_mode/divisor_override")
                pool(node, "avgpool2d", m.kernel_size, m.stride, m.padding)
            elif isinstance(m, nn.AdaptiveAvgPool2d):
                if _pair(m.output_size) != [1, 1]:
                    raise _err(node, "only AdaptiveAvgPool2d(1) is supported")
                simple(node, "global_avgpool", [node.args[0]], str(node.target))
            elif isinstance(m, nn.Flatten):
                if m.start_dim != 1 or m.end_dim != -1:
                    raise _err(node, "only Flatten(1, -1) is supported")
                simple(node, "flatten", [node.args[0]], str(node.target))
            elif isinstance(m, (nn.Dropout, nn.Identity)):
                alias[node.name] = src(node.args[0])
            elif isinstance(m, nn.Softmax):
                simple(node, "softmax", [node.args[0]], str(node.target))
            else:
                raise _err(node, f"module type {type(m).__name__} is not supported")
        elif node.op in ("call_function", "call_method"):
            t = node.target
            if t in (operator.add, torch.add, operator.iadd, "add", "add_"):
                a, b = node.args[0], node.args[1]
                if not isinstance(b, fx.Node) or node.kwargs.get("alpha", 1) != 1:
                    raise _err(node, "only tensor + tensor additions are supported")
                simple(node, "add", [a, b])
            elif t in (F.relu, torch.relu, "relu", "relu_"):
                fuse_act(node, "relu")
            elif t in (F.relu6,):
                fuse_act(node, "relu6")
            elif t in (torch.flatten, "flatten"):
                start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0 if t is torch.flatten else 0)
                if start != 1:
                    raise _err(node, "only flatten from dim 1 is supported")
                simple(node, "flatten", [node.args[0]])
            elif t in ("view", "reshape"):
                shp = node.meta.get("tensor_meta").shape
                if len(shp) != 2:
                    raise _err(node, "only view/reshape to (N, -1) is supported")
                simple(node, "flatten", [node.args[0]])
            elif t in ("size", getattr):
                alias[node.name] = "__size__"
            elif t in (torch.cat, torch.concat):
                dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
                if dim != 1:
                    raise _err(node, "only concatenation along channels (dim=1) is supported")
                simple(node, "concat", list(node.args[0]))
            elif t in (F.adaptive_avg_pool2d,):
                if _pair(node.args[1]) != [1, 1]:
                    raise _err(node, "only adaptive_avg_pool2d(x, 1) is supported")
                simple(node, "global_avgpool", [node.args[0]])
            elif t in (F.max_pool2d,):
                a = list(node.args) + [None] * 4
                pool(node, "maxpool2d", a[1], a[2] or node.kwargs.get("stride"), a[3] or node.kwargs.get("padding", 0))
            elif t in (F.avg_pool2d,):
                a = list(node.args) + [None] * 4
                pool(node, "avgpool2d", a[1], a[2] or node.kwargs.get("stride"), a[3] or node.kwargs.get("padding", 0))
            elif t in (F.dropout, "contiguous"):
                alias[node.name] = src(node.args[0])
            elif t in (F.softmax, torch.softmax, "softmax"):
                simple(node, "softmax", [node.args[0]])
            else:
                raise _err(node, f"function {getattr(t, '__name__', t)} is not supported")
        elif node.op == "output":
            out_node = node.args[0]
        elif node.op == "get_attr":
            raise _err(node, "parameters used outside modules are not supported")
    if not isinstance(out_node, fx.Node):
        raise ConfigError("torch module", "output", "the module must return one tensor")
    last = src(out_node)
    if layers[-1].name != last:
        raise ConfigError("torch module", "output", f"the output {last!r} is not the last layer")
    # Drop layers whose output nobody uses (e.g. dead branches).
    model = Model(layers, provenance=dict(provenance or {"tool": "qtrain", "imported_from": type(module).__name__}),
                  tensors=tensors)
    model.validate("torch module")
    if check:
        from .graph import GraphNet

        net = GraphNet.from_model(model).eval()
        with torch.no_grad():
            ref = module(ex)
            got = net(ex)
        if ref.shape != got.shape or not torch.allclose(ref, got, atol=atol, rtol=1e-4):
            diff = float((ref - got).abs().max()) if ref.shape == got.shape else float("nan")
            raise ConfigError("torch module", "", f"imported graph does not reproduce the module (max diff {diff:.3g})")
    return model
