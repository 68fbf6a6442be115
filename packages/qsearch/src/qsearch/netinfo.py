"""What the cost models need to know about a network, read from the qformat graph IR.

:class:`NetInfo` is built from a :class:`qformat.Model` (tensors optional) or a
qtrain zoo ``Architecture``. It classifies every compute layer (``conv``,
``pwconv``, ``dwconv``, ``linear``), counts MACs, weights and biases, and
derives the *buffers* of the network: the tensors that occupy RAM while it
runs, which layers read each of them and for how long they stay alive.

Aliasing: ``flatten`` is a view of its input; a standalone ``relu``/``relu6``
runs in place when its input has no other reader. Every other layer writes a
new buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from qformat.ir import Layer, infer_shapes, weight_shape
from qformat.ir import macs as ir_macs

COMPUTE_KINDS = ("conv", "pwconv", "dwconv", "linear")


@dataclass
class LayerInfo:
    """One layer as the cost models see it."""

    index: int
    name: str
    op: str                      # the IR op (conv2d, linear, add, ...)
    kind: str                    # conv | pwconv | dwconv | linear | add | pool | other
    inputs: list[str]
    out_shape: tuple[int, ...]
    in_shapes: list[tuple[int, ...]]
    macs: int = 0
    weights: int = 0             # weight elements
    bias: bool = False           # carries a bias as trained (BatchNorm layers: no)
    deployed_bias: bool = False  # carries a bias once deployed (BatchNorm folded)
    out_channels: int = 0
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def compute(self) -> bool:
        return self.kind in COMPUTE_KINDS

    @property
    def shape_class(self) -> str:
        """Key of latency tables: ``k3s1``, ``k1s2``, ... for convs and pools, ``fc`` for linear, ``*`` else."""
        if self.kind == "linear":
            return "fc"
        if self.op in ("conv2d", "maxpool2d", "avgpool2d"):
            return f"k{self.kernel[0]}s{self.stride[0]}"
        return "*"

    @property
    def out_elems(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def in_elems(self) -> int:
        return int(np.prod(self.in_shapes[0])) if self.in_shapes else 0


@dataclass
class Buffer:
    """A tensor in RAM: produced at step ``alloc``, last read at step ``last_use``."""

    id: int
    producer: str                 # layer whose output it holds (the first of an alias chain)
    elems: int
    alloc: int
    last_use: int
    readers: list[str] = field(default_factory=list)   # layers reading it (any alias)
    layers: list[str] = field(default_factory=list)    # layers whose output is this buffer


class NetInfo:
    """Layers, their costs and the buffer liveness of a network."""

    def __init__(self, layers: list[Layer], batchnorm: Optional[set[str]] = None,
                 has_bias: Optional[dict[str, bool]] = None, name: str = "model"):
        lays = [Layer(lay.name, lay.op, list(lay.inputs), dict(lay.attrs), lay.activation, None, lay.quant)
                for lay in layers]
        infer_shapes(lays, name)
        self.name = name
        self.ir = lays
        batchnorm = set(batchnorm or ())
        shapes = {lay.name: lay.out_shape for lay in lays}
        self.layers: list[LayerInfo] = []
        for i, lay in enumerate(lays):
            info = LayerInfo(i, lay.name, lay.op, _kind(lay), list(lay.inputs), tuple(lay.out_shape),
                             [tuple(shapes[s]) for s in lay.inputs])
            if lay.is_compute:
                ws = weight_shape(lay)
                info.macs = int(ir_macs(lay))
                info.weights = int(np.prod(ws))
                info.out_channels = int(ws[0])
                if has_bias is not None:
                    # An artifact's bias of a BatchNorm layer is the folded BN shift: deployed, not trained.
                    info.deployed_bias = bool(has_bias.get(lay.name, False))
                    info.bias = info.deployed_bias and lay.name not in batchnorm
                else:
                    info.bias = lay.name not in batchnorm
                    info.deployed_bias = True
                if lay.op == "conv2d":
                    info.kernel, info.stride, info.groups = lay.kernel(), lay.stride(), lay.groups()
            elif lay.op in ("maxpool2d", "avgpool2d"):
                info.kernel, info.stride = lay.kernel(), lay.stride()
                info.macs = 0
            self.layers.append(info)
        self.by_name = {li.name: li for li in self.layers}
        self._needs: Optional[dict[int, list[tuple[str, str]]]] = None
        self._buffers()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model: Any) -> NetInfo:
        """From a :class:`qformat.Model` (biases as its tensors say) or a qtrain ``Architecture``."""
        if hasattr(model, "has") and hasattr(model, "tensor_keys"):
            has_tensors = any(True for _ in model.tensor_keys())
            hb = None
            if has_tensors:
                hb = {lay.name: (model.has(lay.name, "bias") or model.has(lay.name, "bias_codes"))
                      for lay in model.compute_layers()}
            arch = model.provenance.get("architecture") if isinstance(model.provenance, dict) else None
            bn = set(arch.get("batchnorm", [])) if isinstance(arch, dict) else set()
            return cls(model.layers, batchnorm=bn, has_bias=hb, name="model")
        if hasattr(model, "batchnorm") and hasattr(model, "layers"):
            return cls(model.layers, batchnorm=set(model.batchnorm), name=getattr(model, "name", "model"))
        if isinstance(model, list):
            return cls(model)
        raise TypeError(f"cannot read a network from {type(model).__name__}")

    def _buffers(self) -> None:
        readers: dict[str, list[str]] = {li.name: [] for li in self.layers}
        for li in self.layers:
            for s in li.inputs:
                readers[s].append(li.name)
        self.readers = readers
        self.buffer_of: dict[str, int] = {}
        self.buffers: list[Buffer] = []
        for li in self.layers:
            alias = None
            if li.op == "flatten":
                alias = li.inputs[0]
            elif li.op in ("relu", "relu6") and len(readers[li.inputs[0]]) == 1:
                alias = li.inputs[0]
            if alias is not None:
                b = self.buffers[self.buffer_of[alias]]
                b.layers.append(li.name)
                self.buffer_of[li.name] = b.id
            else:
                b = Buffer(len(self.buffers), li.name, li.out_elems, li.index, li.index, [], [li.name])
                self.buffers.append(b)
                self.buffer_of[li.name] = b.id
        for li in self.layers:
            for s in li.inputs:
                b = self.buffers[self.buffer_of[s]]
                if li.name not in b.readers:
                    b.readers.append(li.name)
                b.last_use = max(b.last_use, li.index)
        # Buffers nobody reads (the network output) stay alive to the end.
        n = len(self.layers)
        for b in self.buffers:
            if not b.readers:
                b.last_use = n - 1

    # ------------------------------------------------------------------ queries
    def compute_layers(self) -> list[LayerInfo]:
        return [li for li in self.layers if li.compute]

    @property
    def compute_names(self) -> list[str]:
        return [li.name for li in self.layers if li.compute]

    def __getitem__(self, name: str) -> LayerInfo:
        return self.by_name[name]

    def live_at(self, step: int) -> list[Buffer]:
        """Buffers alive while layer ``step`` runs (its inputs, its output and anything kept for later)."""
        return [b for b in self.buffers if b.alloc <= step <= b.last_use]

    def total_macs(self) -> int:
        return int(sum(li.macs for li in self.compute_layers()))

    def total_weights(self) -> int:
        return int(sum(li.weights for li in self.compute_layers()))

    def total_params(self) -> int:
        """Weights plus biases as trained (the reference's parameter count: BatchNorm not included)."""
        return int(sum(li.weights + (li.out_channels if li.bias else 0) for li in self.compute_layers()))

    def need_sources(self) -> dict[int, list[tuple[str, str]]]:
        """For each buffer, what decides its precision: ``("act", layer)`` or ``("out", layer)`` entries.

        A buffer is stored at the widest precision any reader needs: a compute
        reader needs its input-activation precision; a non-compute reader
        (add, pool, concat) needs whatever its own output buffer is stored at.
        A buffer no compute layer ever reads (the logits) is stored at the
        output precision of the compute layer that produced it.
        """
        if self._needs is not None:
            return self._needs
        memo: dict[int, list[tuple[str, str]]] = {}

        def upstream_compute(layer: str) -> Optional[str]:
            li = self.by_name[layer]
            if li.compute:
                return layer
            for s in li.inputs:
                u = upstream_compute(s)
                if u is not None:
                    return u
            return None

        def rec(bid: int) -> list[tuple[str, str]]:
            if bid in memo:
                return memo[bid]
            b = self.buffers[bid]
            out: list[tuple[str, str]] = []
            for r in b.readers:
                li = self.by_name[r]
                if li.compute:
                    out.append(("act", r))
                else:
                    ob = self.buffer_of[r]
                    if ob != bid:
                        out.extend(rec(ob))
            if not out:
                u = upstream_compute(b.layers[-1])
                if u is not None:
                    out.append(("out", u))
            # Deduplicate, keep order.
            seen, uniq = set(), []
            for e in out:
                if e not in seen:
                    seen.add(e)
                    uniq.append(e)
            memo[bid] = uniq
            return uniq

        for b in reversed(self.buffers):
            rec(b.id)
        self._needs = {b.id: memo[b.id] for b in self.buffers}
        return self._needs


def _kind(lay: Layer) -> str:
    if lay.op == "linear":
        return "linear"
    if lay.op == "conv2d":
        g = lay.groups()
        cin = int(lay.attrs["in_channels"])
        if g > 1 and g == cin:
            return "dwconv"
        kh, kw = lay.kernel()
        if kh == 1 and kw == 1 and g == 1:
            return "pwconv"
        return "conv"
    if lay.op == "add":
        return "add"
    if lay.op in ("maxpool2d", "avgpool2d", "global_avgpool"):
        return "pool"
    return "other"


def packed_bytes(elems: int, bits: int) -> int:
    """Bytes of ``elems`` values of ``bits`` bits each, packed densely (sub-byte packing), rounded up."""
    return int(math.ceil(int(elems) * int(bits) / 8))
