"""GraphNet: a trainable torch module built from any qformat graph IR.

One generic executor runs every op of the IR (``input``, ``linear``,
``conv2d`` with groups, ``maxpool2d``, ``avgpool2d``, ``global_avgpool``,
``add``, ``concat``, ``relu``, ``relu6``, ``flatten``, ``softmax``; fused
activations on linear/conv/add), so any model artifact can be rebuilt,
trained, quantized and written back.

Training-only extras: BatchNorm after the conv/linear layers named in
``Architecture.batchnorm`` (folded into weight and bias by :meth:`GraphNet.fold_bn`
and on export, as ``w * gamma / sqrt(var + eps)``) and dropout on the inputs
of the layers in ``Architecture.dropout``.

Quantization hooks (filled by :mod:`qtrain.quant`): ``wq[layer]`` fake-quantizes
a compute layer's weight; ``aq[tensor]`` fake-quantizes the output of a
*quantization point* (the network input, every conv/linear and every add).
Pass-through ops (pooling, flatten, ReLU, concat, softmax) keep their input's
grid; average pooling rounds back to it (round half up, like the integer
interpreter).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from qformat.ir import Layer
from qformat.model import Model

from .zoo import Architecture

__all__ = ["GraphNet", "QUANT_POINT_OPS", "PASS_THROUGH_OPS", "safe_key"]

QUANT_POINT_OPS = ("input", "linear", "conv2d", "add")
PASS_THROUGH_OPS = ("relu", "relu6", "maxpool2d", "avgpool2d", "global_avgpool", "flatten", "concat", "softmax")


def safe_key(name: str) -> str:
    """A ModuleDict key for a layer name (``.`` is not allowed there)."""
    return name.replace(".", "__")


def _act(y: torch.Tensor, act: str) -> torch.Tensor:
    if act == "relu":
        return F.relu(y)
    if act == "relu6":
        return F.relu6(y)
    return y


class _RoundHalfUpSTE(torch.autograd.Function):
    """floor(x + 1/2) forward, identity backward."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return torch.floor(x + 0.5)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        return g


class GraphNet(nn.Module):
    """A torch module executing a qformat graph IR.

    Build with :meth:`from_arch` (zoo architecture, random init) or
    :meth:`from_model` (a model artifact's float weights); write back with
    :meth:`to_model`. ``forward`` returns the last layer's output;
    :meth:`logits` stops before a trailing softmax (what losses want).
    """

    def __init__(self, layers: Iterable[Layer], batchnorm: Iterable[str] = (), dropout: Optional[dict] = None,
                 bias: Optional[dict[str, bool]] = None, name: str = "model"):
        super().__init__()
        self.layers: list[Layer] = [Layer(l.name, l.op, list(l.inputs), copy.deepcopy(l.attrs), l.activation,
                                          l.out_shape, l.quant) for l in layers]
        self.arch_name = name
        self.bn_layers = set(batchnorm)
        self.dropout = dict(dropout or {})
        self.mods = nn.ModuleDict()
        self.bns = nn.ModuleDict()
        self.wq = nn.ModuleDict()   # weight quantizers, by safe_key(layer)
        self.aq = nn.ModuleDict()   # activation quantizers, by safe_key(tensor producer)
        bias = bias or {}
        for lay in self.layers:
            k = safe_key(lay.name)
            if lay.op == "conv2d":
                a = lay.attrs
                has_b = bias.get(lay.name, lay.name not in self.bn_layers)
                self.mods[k] = nn.Conv2d(int(a["in_channels"]), int(a["out_channels"]), tuple(lay.kernel()),
                                         tuple(lay.stride()), tuple(lay.padding()), groups=lay.groups(), bias=has_b)
                if lay.name in self.bn_layers:
                    self.bns[k] = nn.BatchNorm2d(int(a["out_channels"]))
            elif lay.op == "linear":
                a = lay.attrs
                has_b = bias.get(lay.name, lay.name not in self.bn_layers)
                self.mods[k] = nn.Linear(int(a["in_features"]), int(a["out_features"]), bias=has_b)
                if lay.name in self.bn_layers:
                    self.bns[k] = nn.BatchNorm1d(int(a["out_features"]))
        self._index = {lay.name: i for i, lay in enumerate(self.layers)}
        # last use of every tensor, to free intermediates early
        last = {}
        for i, lay in enumerate(self.layers):
            for src in lay.inputs:
                last[src] = i
        self._free_after = [[s for s in lay.inputs if last.get(s) == i] for i, lay in enumerate(self.layers)]
        # Hooks: tap(name, y) sees every layer's output; pre_tap(name, y) sees conv/linear/add outputs
        # before their fused activation and quantizer. Either may return a replacement tensor.
        self.tap: Optional[Callable[[str, torch.Tensor], Optional[torch.Tensor]]] = None
        self.pre_tap: Optional[Callable[[str, torch.Tensor], Optional[torch.Tensor]]] = None
        self.quant_enabled = True
        self.reset_parameters()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arch(cls, arch: Architecture, seed: Optional[int] = None) -> GraphNet:
        """A randomly initialised network for a zoo architecture (seeded when ``seed`` is given)."""
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return cls(arch.layers, arch.batchnorm, arch.dropout, name=arch.name)
        return cls(arch.layers, arch.batchnorm, arch.dropout, name=arch.name)

    @classmethod
    def from_model(cls, model: Model, dropout: Optional[dict] = None) -> GraphNet:
        """A network holding a model artifact's float ``weight``/``bias`` (BatchNorm already folded)."""
        bias = {lay.name: model.has(lay.name, "bias") for lay in model.compute_layers()}
        arch = model.provenance.get("architecture") if isinstance(model.provenance.get("architecture"), dict) else {}
        net = cls(model.layers, (), dropout if dropout is not None else arch.get("dropout", {}), bias=bias,
                  name=str(arch.get("name", "model")))
        with torch.no_grad():
            for lay in model.compute_layers():
                m = net.mods[safe_key(lay.name)]
                w = model.get(lay.name, "weight")
                if tuple(w.shape) != tuple(m.weight.shape):
                    from .errors import ConfigError
                    raise ConfigError("model", f"layers/{lay.name}/weight",
                                      f"shape {tuple(w.shape)} does not match {tuple(m.weight.shape)}")
                m.weight.copy_(torch.from_numpy(np.asarray(w, dtype=np.float32)))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(np.asarray(model.get(lay.name, "bias"), dtype=np.float32)))
        return net

    def reset_parameters(self) -> None:
        """torchvision-style init: Kaiming-normal (fan-out) convs, default linears, BN gamma 1 / beta 0."""
        for lay in self.layers:
            k = safe_key(lay.name)
            if lay.op == "conv2d":
                m = self.mods[k]
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            if k in self.bns:
                nn.init.ones_(self.bns[k].weight)
                nn.init.zeros_(self.bns[k].bias)

    # ------------------------------------------------------------------ info
    def layer(self, name: str) -> Layer:
        return self.layers[self._index[name]]

    def compute_layers(self) -> list[Layer]:
        return [lay for lay in self.layers if lay.is_compute]

    def module(self, name: str) -> nn.Module:
        """The conv/linear module of a compute layer."""
        return self.mods[safe_key(name)]

    def consumers(self, name: str) -> list[Layer]:
        return [lay for lay in self.layers if name in lay.inputs]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.layers[0].attrs["shape"])

    @property
    def classes(self) -> int:
        return int(self.layers[-1].out_shape[0])

    def quant_source(self, name: str) -> Optional[str]:
        """The quantization point whose grid tensor ``name`` lies on (through pass-through ops), if any."""
        seen = name
        while True:
            lay = self.layer(seen)
            if safe_key(seen) in self.aq:
                return seen
            if lay.op in PASS_THROUGH_OPS and lay.op != "concat" and lay.inputs:
                seen = lay.inputs[0]
                continue
            if lay.op == "concat" and lay.inputs:
                seen = lay.inputs[0]
                continue
            return None

    # ------------------------------------------------------------------ execution
    def weight(self, name: str) -> torch.Tensor:
        """The (fake-quantized, when a weight quantizer is attached) weight of a compute layer."""
        k = safe_key(name)
        w = self.mods[k].weight
        if self.quant_enabled and k in self.wq:
            w = self.wq[k](w)
        return w

    def _compute(self, lay: Layer, x: torch.Tensor, k: str) -> torch.Tensor:
        m = self.mods[k]
        w = self.weight(lay.name)
        b = m.bias
        if self.quant_enabled and k in self.wq and b is not None and getattr(self.wq[k], "fmt", "") == "fp16":
            b = b.half().float()
        if lay.op == "conv2d":
            y = F.conv2d(x, w, b, m.stride, m.padding, m.dilation, m.groups)
        else:
            y = F.linear(x, w, b)
        if k in self.bns:
            y = self.bns[k](y)
        return y

    def _apply_act_and_quant(self, y: torch.Tensor, act: str, k: str, name: str) -> torch.Tensor:
        if self.pre_tap is not None:
            r = self.pre_tap(name, y)
            if r is not None:
                y = r
        q = self.aq[k] if (self.quant_enabled and k in self.aq) else None
        if q is not None and getattr(q, "implies", lambda a: False)(act):
            return q(y)  # the quantizer's clamp at 0 (and <= 6) is the activation
        y = _act(y, act)
        return q(y) if q is not None else y

    def forward(self, x: torch.Tensor, *, stop_before_softmax: bool = False) -> torch.Tensor:
        vals: dict[str, torch.Tensor] = {}
        tap = self.tap
        n = len(self.layers)
        if stop_before_softmax and self.layers[-1].op == "softmax":
            n -= 1
        y = x
        for i in range(n):
            lay = self.layers[i]
            op = lay.op
            k = safe_key(lay.name)
            ins = [vals[s] for s in lay.inputs]
            if op == "input":
                y = x
                if self.quant_enabled and k in self.aq:
                    y = self.aq[k](y)
            elif op in ("conv2d", "linear"):
                xin = ins[0]
                if self.training and lay.name in self.dropout:
                    xin = F.dropout(xin, self.dropout[lay.name], True)
                y = self._apply_act_and_quant(self._compute(lay, xin, k), lay.activation, k, lay.name)
            elif op == "add":
                y = self._apply_act_and_quant(ins[0] + ins[1], lay.activation, k, lay.name)
            elif op == "relu":
                y = F.relu(ins[0])
            elif op == "relu6":
                y = F.relu6(ins[0])
            elif op == "maxpool2d":
                y = F.max_pool2d(ins[0], tuple(lay.kernel()), tuple(lay.stride()), tuple(lay.padding()))
            elif op in ("avgpool2d", "global_avgpool"):
                if op == "global_avgpool":
                    y = ins[0].mean(dim=(2, 3), keepdim=True)
                else:
                    y = F.avg_pool2d(ins[0], tuple(lay.kernel()), tuple(lay.stride()), tuple(lay.padding()),
                                     count_include_pad=True)
                src = self.quant_source(lay.inputs[0]) if self.quant_enabled and len(self.aq) else None
                if src is not None:
                    q = self.aq[safe_key(src)]
                    s = q.scale() if hasattr(q, "scale") and getattr(q, "fmt", "int") == "int" else None
                    if s is not None:
                        y = _RoundHalfUpSTE.apply(y / s) * s  # integer pooling: round half up to the input grid
            elif op == "flatten":
                y = ins[0].flatten(1)
            elif op == "concat":
                y = torch.cat(ins, dim=1)
            elif op == "softmax":
                y = F.softmax(ins[0], dim=1)
            else:  # pragma: no cover - guarded by the IR
                raise ValueError(f"unsupported op {op!r}")
            if tap is not None:
                r = tap(lay.name, y)
                if r is not None:
                    y = r
            vals[lay.name] = y
            for s in self._free_after[i]:
                vals.pop(s, None)
        return y

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The network output before a trailing softmax (for losses and argmax)."""
        return self.forward(x, stop_before_softmax=True)

    # ------------------------------------------------------------------ BN folding / export
    def folded_weights(self, name: str) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Float weight and bias of a compute layer with its BatchNorm folded in (detached)."""
        k = safe_key(name)
        m = self.mods[k]
        w = m.weight.detach().float()
        b = m.bias.detach().float() if m.bias is not None else None
        if k in self.bns:
            bn = self.bns[k]
            inv = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            w = w * inv.reshape((-1,) + (1,) * (w.dim() - 1))
            b0 = b if b is not None else torch.zeros_like(bn.running_mean)
            b = bn.bias.detach() + (b0 - bn.running_mean) * inv
        return w, b

    def fold_bn(self) -> GraphNet:
        """A copy with every BatchNorm folded into its conv/linear (no BN left); quantizers are not copied."""
        bias = {}
        for lay in self.compute_layers():
            k = safe_key(lay.name)
            bias[lay.name] = self.mods[k].bias is not None or k in self.bns
        net = GraphNet(self.layers, (), self.dropout, bias=bias, name=self.arch_name)
        with torch.no_grad():
            for lay in self.compute_layers():
                w, b = self.folded_weights(lay.name)
                m = net.mods[safe_key(lay.name)]
                m.weight.copy_(w)
                if b is not None:
                    m.bias.copy_(b)
        return net.to(next(self.parameters()).device)

    def to_model(self, provenance: Optional[dict] = None) -> Model:
        """The float model artifact (BatchNorm folded): graph IR + ``weight``/``bias`` per compute layer."""
        layers = [Layer(l.name, l.op, list(l.inputs), copy.deepcopy(l.attrs), l.activation, None, None)
                  for l in self.layers]
        m = Model(layers, provenance=dict(provenance or {}))
        for lay in self.compute_layers():
            w, b = self.folded_weights(lay.name)
            m.set(lay.name, "weight", w.cpu().numpy().astype(np.float32))
            if b is not None:
                m.set(lay.name, "bias", b.cpu().numpy().astype(np.float32))
        return m

    def architecture(self) -> dict[str, Any]:
        """Training extras for provenance (name, dropout) so a rebuilt model trains the same way."""
        return {"name": self.arch_name, "dropout": dict(self.dropout)}

    # ------------------------------------------------------------------ parameter groups
    def param_groups(self, weight_decay: float) -> list[dict]:
        """Optimizer groups: decay on conv/linear weights only; none on biases, BN and quantizer parameters."""
        decay, no_decay, quant = [], [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            if name.startswith(("wq.", "aq.")):
                quant.append(p)
            elif name.startswith("mods.") and name.endswith(".weight"):
                decay.append(p)
            else:
                no_decay.append(p)
        groups = [{"params": decay, "weight_decay": weight_decay, "name": "weights"},
                  {"params": no_decay, "weight_decay": 0.0, "name": "bias_bn"}]
        if quant:
            groups.append({"params": quant, "weight_decay": 0.0, "name": "quantizers"})
        return [g for g in groups if g["params"]]
