"""Torch adapter (``pip install qformat[torch]``): state_dict <-> model, nn.Module -> graph IR.

* :func:`state_dict` / :func:`load_state_dict` map a model's float tensors to
  ``{"<layer>.weight": tensor, "<layer>.bias": tensor}`` and back.
* :func:`from_module` traces a user's ``torch.nn.Module`` with ``torch.fx`` and
  writes it as a qformat model: Linear, Conv2d (BatchNorm2d after it is folded
  in), ReLU/ReLU6, Max/AvgPool2d, AdaptiveAvgPool2d(1), Flatten, ``+``
  (residuals), ``torch.cat``, softmax; Dropout and Identity vanish. Anything
  else is refused with the node's name.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .errors import QFormatError
from .ir import Layer, infer_shapes
from .model import Model

try:  # pragma: no cover - exercised only where torch is installed
    import torch
    import torch.fx as fx
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    raise ImportError("qformat.torch_adapter needs torch: pip install 'qstack-qformat[torch]'") from e


def state_dict(model: Model) -> dict[str, torch.Tensor]:
    """The model's float weights and biases as a torch state_dict."""
    out = {}
    for lay in model.compute_layers():
        out[f"{lay.name}.weight"] = torch.from_numpy(np.ascontiguousarray(model.get(lay.name, "weight"), dtype=np.float32))
        if model.has(lay.name, "bias"):
            out[f"{lay.name}.bias"] = torch.from_numpy(np.ascontiguousarray(model.get(lay.name, "bias"), dtype=np.float32))
    return out


def load_state_dict(model: Model, sd: dict[str, Any], strict: bool = True) -> Model:
    """Copy ``<layer>.weight`` / ``<layer>.bias`` tensors into the model (shapes checked)."""
    used = set()
    for lay in model.compute_layers():
        for t in ("weight", "bias"):
            key = f"{lay.name}.{t}"
            if key in sd:
                arr = sd[key].detach().cpu().numpy() if hasattr(sd[key], "detach") else np.asarray(sd[key])
                if model.has(lay.name, t) and model.get(lay.name, t).shape != arr.shape:
                    raise QFormatError("state_dict", key, f"shape {arr.shape} != {model.get(lay.name, t).shape}")
                model.set(lay.name, t, arr.astype(np.float32))
                used.add(key)
            elif strict and t == "weight":
                raise QFormatError("state_dict", key, "missing")
    extra = set(sd) - used
    if strict and extra:
        raise QFormatError("state_dict", sorted(extra)[0], "does not name a layer tensor of the model")
    return model


def _pair(v) -> list[int]:
    return [int(v[0]), int(v[1])] if isinstance(v, (tuple, list)) else [int(v), int(v)]


def _fold_bn(w: np.ndarray, b: np.ndarray, bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    g = bn.weight.detach().numpy() if bn.affine else np.ones(bn.num_features)
    beta = bn.bias.detach().numpy() if bn.affine else np.zeros(bn.num_features)
    mu, var = bn.running_mean.numpy(), bn.running_var.numpy()
    k = g / np.sqrt(var + bn.eps)
    return w * k.reshape(-1, 1, 1, 1), (b - mu) * k + beta


def from_module(module: nn.Module, input_shape: tuple[int, ...], provenance: dict | None = None) -> Model:
    """Trace ``module`` (eval mode) into a qformat model with input shape ``input_shape`` (no batch)."""
    module = module.eval()
    try:
        gm = fx.symbolic_trace(module)
    except Exception as e:
        raise QFormatError("nn.Module", type(module).__name__, f"torch.fx cannot trace it ({e})") from None
    mods = dict(gm.named_modules())
    layers: list[Layer] = []
    tensors: dict[str, dict[str, np.ndarray]] = {}
    alias: dict[str, str] = {}  # fx node name -> IR layer name producing its value

    def src(arg) -> str:
        if not isinstance(arg, fx.Node):
            raise QFormatError("nn.Module", str(arg), "constant operands are not supported")
        return alias[arg.name]

    def add(name: str, op: str, inputs: list[str], attrs: dict | None = None, activation: str = "none") -> None:
        layers.append(Layer(name.replace("/", "_"), op, inputs, attrs or {}, activation))

    for node in gm.graph.nodes:
        n = node.name
        if node.op == "placeholder":
            add("input", "input", [], {"shape": list(input_shape)})
            alias[n] = "input"
            continue
        if node.op == "output":
            continue
        target = mods.get(node.target) if node.op == "call_module" else node.target
        a0 = node.args[0] if node.args else None
        if node.op == "call_module" and isinstance(target, (nn.Dropout, nn.Identity)):
            alias[n] = src(a0)
        elif node.op == "call_module" and isinstance(target, nn.Linear):
            name = str(node.target)
            add(name, "linear", [src(a0)], {"in_features": target.in_features, "out_features": target.out_features})
            tensors[name] = {"weight": target.weight.detach().numpy().copy()}
            if target.bias is not None:
                tensors[name]["bias"] = target.bias.detach().numpy().copy()
            alias[n] = name
        elif node.op == "call_module" and isinstance(target, nn.Conv2d):
            name = str(node.target)
            if target.dilation != (1, 1) or target.padding_mode != "zeros" or isinstance(target.padding, str):
                raise QFormatError("nn.Module", name, "only zero padding with explicit sizes and no dilation is supported")
            add(name, "conv2d", [src(a0)], {"in_channels": target.in_channels, "out_channels": target.out_channels,
                                            "kernel_size": _pair(target.kernel_size), "stride": _pair(target.stride),
                                            "padding": _pair(target.padding), "groups": target.groups})
            w = target.weight.detach().numpy().copy()
            b = target.bias.detach().numpy().copy() if target.bias is not None else np.zeros(w.shape[0], np.float32)
            tensors[name] = {"weight": w, "bias": b}
            alias[n] = name
        elif node.op == "call_module" and isinstance(target, nn.BatchNorm2d):
            prev = src(a0)
            lay = layers[-1]
            if lay.name != prev or lay.op != "conv2d" or lay.activation != "none":
                raise QFormatError("nn.Module", str(node.target), "BatchNorm2d must directly follow a Conv2d to be folded")
            w, b = _fold_bn(tensors[prev]["weight"], tensors[prev]["bias"], target)
            tensors[prev] = {"weight": w.astype(np.float32), "bias": b.astype(np.float32)}
            alias[n] = prev
        elif (node.op == "call_module" and isinstance(target, (nn.ReLU, nn.ReLU6))) or target in (F.relu, F.relu6, torch.relu):
            act = "relu6" if isinstance(target, nn.ReLU6) or target is F.relu6 else "relu"
            prev = src(a0)
            lay = layers[-1]
            if lay.name == prev and lay.op in ("linear", "conv2d", "add") and lay.activation == "none":
                lay.activation = act
                alias[n] = prev
            else:
                add(n, act, [prev])
                alias[n] = n
        elif node.op == "call_module" and isinstance(target, (nn.MaxPool2d, nn.AvgPool2d)):
            if getattr(target, "ceil_mode", False) or (isinstance(target, nn.MaxPool2d) and target.dilation not in (1, (1, 1))):
                raise QFormatError("nn.Module", str(node.target), "ceil_mode and dilation are not supported")
            add(n, "maxpool2d" if isinstance(target, nn.MaxPool2d) else "avgpool2d", [src(a0)],
                {"kernel_size": _pair(target.kernel_size), "stride": _pair(target.stride or target.kernel_size),
                 "padding": _pair(target.padding)})
            alias[n] = n
        elif node.op == "call_module" and isinstance(target, nn.AdaptiveAvgPool2d):
            if _pair(target.output_size) != [1, 1]:
                raise QFormatError("nn.Module", str(node.target), "only AdaptiveAvgPool2d(1) is supported")
            add(n, "global_avgpool", [src(a0)])
            alias[n] = n
        elif (node.op == "call_module" and isinstance(target, nn.Flatten)) or target is torch.flatten or \
                (node.op == "call_method" and node.target in ("flatten", "view", "reshape")):
            add(n, "flatten", [src(a0)])
            alias[n] = n
        elif target in (operator.add, torch.add) or (node.op == "call_method" and node.target == "add"):
            add(n, "add", [src(node.args[0]), src(node.args[1])])
            alias[n] = n
        elif target is torch.cat:
            add(n, "concat", [src(x) for x in node.args[0]])
            alias[n] = n
        elif (node.op == "call_module" and isinstance(target, nn.Softmax)) or target in (F.softmax, torch.softmax):
            add(n, "softmax", [src(a0)])
            alias[n] = n
        else:
            raise QFormatError("nn.Module", n, f"unsupported operation {node.op} {node.target!r}")
    model = Model(provenance=dict(provenance or {}, imported_from=type(module).__name__))
    model.layers = layers
    infer_shapes(model.layers, "nn.Module")
    for lname, ts in tensors.items():
        for t, arr in ts.items():
            model.set(lname, t, arr.astype(np.float32))
    model.validate("nn.Module")
    return model
