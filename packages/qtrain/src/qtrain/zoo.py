"""Model zoo: every architecture is a qformat graph IR (a list of :class:`qformat.ir.Layer`).

An :class:`Architecture` is the IR plus the training-only extras the IR does
not carry: which conv/linear layers are followed by BatchNorm during float
training (folded into the weights on export) and where dropout applies.
:class:`qtrain.graph.GraphNet` builds a trainable torch module from it.

>>> from qtrain import zoo
>>> a = zoo.build("mobilenetv2", (3, 32, 32), 10)
>>> len(a.compute_layers()), a.params(), a.macs()
(53, 2202570, 24461312)

Models (options in brackets, see :data:`MODELS`):

* ``mlp`` [widths=(32, 64), activation=relu, batchnorm=False]
* ``lenet5`` [activation=relu, pool=max]
* ``cnn``  a small VGG-style CNN [channels, convs, head=flatten|gap, hidden=0, batchnorm=True]
* ``mobilenetv2`` [width=1.0, activation=relu6|relu, dropout=0.2]; stem stride 1 for inputs <= 64 px
* ``resnet18`` [width=1.0]; CIFAR stem (3x3, stride 1, no max-pool) for inputs <= 64 px
* ``resnet20`` [width=1.0]; CIFAR ResNet, 1x1 projection shortcuts (option B)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from qformat.ir import Layer, infer_shapes, weight_shape
from qformat.ir import macs as layer_macs

from .errors import ConfigError, QFormatError

__all__ = ["Architecture", "MODELS", "build", "parse_spec", "summary", "from_model",
           "mlp", "lenet5", "cnn", "mobilenetv2", "resnet18", "resnet20"]


@dataclass
class Architecture:
    """A network in qformat IR plus the training-only extras.

    ``batchnorm``: compute layers followed by BatchNorm in float training (their
    IR bias is the folded BN shift). ``dropout``: layer -> probability of
    dropout on that layer's *input* during training. ``spec``: the string that
    rebuilds it with :func:`build` (recorded in provenance).
    """

    name: str
    layers: list[Layer]
    batchnorm: set[str] = field(default_factory=set)
    dropout: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for lay in self.layers:
            lay.out_shape = None
        try:
            infer_shapes(self.layers, self.name)
        except QFormatError as e:
            raise ConfigError(f"model {self.name}", e.where, e.why) from None
        names = [lay.name for lay in self.layers]
        if len(set(names)) != len(names):
            raise ConfigError(f"model {self.name}", "layers", "duplicate layer names")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.layers[0].attrs["shape"])

    @property
    def classes(self) -> int:
        return int(self.layers[-1].out_shape[0])

    @property
    def spec(self) -> str:
        opts = ",".join(f"{k}={_fmt(v)}" for k, v in sorted(self.options.items()))
        return f"{self.name}:{opts}" if opts else self.name

    def compute_layers(self) -> list[Layer]:
        return [lay for lay in self.layers if lay.is_compute]

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass (conv + linear)."""
        return int(sum(layer_macs(lay) for lay in self.compute_layers()))

    def params(self) -> int:
        """Trainable conv/linear parameters as trained: weights, plus biases of layers without BatchNorm."""
        n = 0
        for lay in self.compute_layers():
            n += int(np.prod(weight_shape(lay)))
            if lay.name not in self.batchnorm:
                n += int(weight_shape(lay)[0])
        return n

    def deployed_params(self) -> int:
        """Parameters after BatchNorm folding (every compute layer carries a bias)."""
        return int(sum(np.prod(weight_shape(lay)) + weight_shape(lay)[0] for lay in self.compute_layers()))

    def copy_layers(self) -> list[Layer]:
        import copy

        return [Layer(lay.name, lay.op, list(lay.inputs), copy.deepcopy(lay.attrs), lay.activation, lay.out_shape,
                      lay.quant) for lay in self.layers]


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "/".join(_fmt(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# --------------------------------------------------------------------------- IR helpers
class _G:
    """A tiny graph builder: keeps the current tensor and unique names."""

    def __init__(self, input_shape: Sequence[int]):
        self.layers: list[Layer] = [Layer("input", "input", [], {"shape": [int(d) for d in input_shape]})]
        self.cur = "input"
        self.bn: set[str] = set()
        self.dropout: dict[str, float] = {}
        infer_shapes(self.layers)

    def shape(self, name: Optional[str] = None) -> tuple[int, ...]:
        name = name or self.cur
        for lay in self.layers:
            if lay.name == name:
                return lay.out_shape
        raise KeyError(name)

    def add(self, lay: Layer) -> str:
        self.layers.append(lay)
        infer_shapes(self.layers)  # shapes stay checked as we go
        self.cur = lay.name
        return lay.name

    def conv(self, name: str, out: int, k: int, stride: int = 1, padding: Optional[int] = None, groups: int = 1,
             act: str = "none", bn: bool = False, src: Optional[str] = None) -> str:
        src = src or self.cur
        c = self.shape(src)[0]
        pad = (k // 2) if padding is None else padding
        n = self.add(Layer(name, "conv2d", [src], {
            "in_channels": c, "out_channels": int(out), "kernel_size": [k, k], "stride": [stride, stride],
            "padding": [pad, pad], "groups": int(groups)}, act))
        if bn:
            self.bn.add(n)
        return n

    def linear(self, name: str, out: int, act: str = "none", src: Optional[str] = None) -> str:
        src = src or self.cur
        f = self.shape(src)
        if len(f) != 1:
            self.flatten("flatten", src)
            src = self.cur
            f = self.shape(src)
        return self.add(Layer(name, "linear", [src], {"in_features": int(f[0]), "out_features": int(out)}, act))

    def _uniq(self, base: str) -> str:
        names = {lay.name for lay in self.layers}
        if base not in names:
            return base
        i = 1
        while f"{base}{i}" in names:
            i += 1
        return f"{base}{i}"

    def flatten(self, name: str = "flatten", src: Optional[str] = None) -> str:
        return self.add(Layer(self._uniq(name), "flatten", [src or self.cur]))

    def pool(self, name: str, op: str = "maxpool2d", k: int = 2, stride: Optional[int] = None, padding: int = 0) -> str:
        return self.add(Layer(name, op, [self.cur], {"kernel_size": [k, k], "stride": [stride or k, stride or k],
                                                      "padding": [padding, padding]}))

    def gap(self, name: str = "pool") -> str:
        return self.add(Layer(name, "global_avgpool", [self.cur]))

    def addition(self, name: str, a: str, b: str, act: str = "none") -> str:
        return self.add(Layer(name, "add", [a, b], {}, act))


# --------------------------------------------------------------------------- models
def mlp(input_shape: Sequence[int], classes: int, widths: Sequence[int] = (32, 64), activation: str = "relu",
        batchnorm: bool = False, dropout: float = 0.0) -> Architecture:
    """Multi-layer perceptron ``in - widths... - classes`` (e.g. 784-32-64-10); images are flattened first."""
    g = _G(input_shape)
    if len(input_shape) != 1:
        g.flatten("flatten")
    for i, w in enumerate(widths, start=1):
        n = g.linear(f"fc{i}", int(w), activation)
        if batchnorm:
            g.bn.add(n)
        if dropout:
            g.dropout[f"fc{i + 1}"] = float(dropout)
    g.linear(f"fc{len(widths) + 1}", classes)
    return Architecture("mlp", g.layers, g.bn, g.dropout,
                        {"widths": list(widths), "activation": activation, "batchnorm": batchnorm, "dropout": dropout})


def lenet5(input_shape: Sequence[int], classes: int, activation: str = "relu", pool: str = "max") -> Architecture:
    """LeNet-5: conv 6@5x5 - pool - conv 16@5x5 - pool - fc 120 - fc 84 - fc classes.

    The first conv pads by 2 when the input is smaller than 32 px (MNIST 28x28),
    as in the usual MNIST adaptation. Needs inputs of at least 16 px.
    """
    c, h, w = _image_shape(input_shape, "lenet5")
    if min(h, w) < 16:
        raise ConfigError("model lenet5", "input", f"needs images of at least 16x16 px, got {h}x{w} (try cnn)")
    g = _G(input_shape)
    op = "maxpool2d" if pool == "max" else "avgpool2d"
    g.conv("conv1", 6, 5, padding=2 if min(h, w) < 32 else 0, act=activation)
    g.pool("pool1", op)
    g.conv("conv2", 16, 5, padding=0, act=activation)
    g.pool("pool2", op)
    g.flatten()
    g.linear("fc1", 120, activation)
    g.linear("fc2", 84, activation)
    g.linear("fc3", classes)
    return Architecture("lenet5", g.layers, set(), {}, {"activation": activation, "pool": pool})


def cnn(input_shape: Sequence[int], classes: int, channels: Optional[Sequence[int]] = None, convs: Optional[int] = None,
        head: Optional[str] = None, hidden: int = 0, batchnorm: bool = True, activation: str = "relu",
        dropout: float = 0.0) -> Architecture:
    """A small VGG-style CNN: stages of ``convs`` x (conv3x3 [BN] ReLU) then 2x2 max-pool.

    Defaults adapt to the input: <= 16 px (digits) -> channels (16, 32), 1 conv
    per stage, flatten head; larger (MNIST, CIFAR: "the small CIFAR CNN") ->
    (32, 64, 128), 2 convs per stage, global-average-pool head.
    """
    c, h, w = _image_shape(input_shape, "cnn")
    small = min(h, w) <= 16
    channels = list(channels or ((16, 32) if small else (32, 64, 128)))
    convs = int(convs or (1 if small else 2))
    head = head or ("flatten" if small else "gap")
    g = _G(input_shape)
    for s, ch in enumerate(channels, start=1):
        for j in range(1, convs + 1):
            g.conv(f"conv{s}_{j}" if convs > 1 else f"conv{s}", int(ch), 3, act=activation, bn=batchnorm)
        if min(g.shape()[1:]) >= 2:
            g.pool(f"pool{s}")
    if head == "gap":
        g.gap("gap")
    elif head != "flatten":
        raise ConfigError("model cnn", "head", f"unknown head {head!r} (flatten or gap)")
    g.flatten()
    if hidden:
        g.linear("fc1", int(hidden), activation)
        if dropout:
            g.dropout["fc"] = float(dropout)
    elif dropout:
        g.dropout["fc"] = float(dropout)
    g.linear("fc", classes)
    return Architecture("cnn", g.layers, g.bn, g.dropout,
                        {"channels": channels, "convs": convs, "head": head, "hidden": hidden, "batchnorm": batchnorm,
                         "activation": activation, "dropout": dropout})


MBV2_CFG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenetv2(input_shape: Sequence[int], classes: int, width: float = 1.0, activation: str = "relu6",
                dropout: float = 0.2, stem_stride: Optional[int] = None) -> Architecture:
    """MobileNetV2 as in the AdaptQNet reference (no make-divisible rounding).

    Widths: stem ``int(32*w)``, blocks ``int(c*w)``, last ``int(1280*max(1, w))``;
    stem stride 1 when the input is <= 64 px (else 2). Every conv is followed by
    BatchNorm (folded on export); ``activation`` is ``relu6`` or ``relu``; the
    projection convs are linear; residual adds where stride 1 and shapes match;
    dropout before the classifier. Layer names: ``stem``, ``b<k>.expand``,
    ``b<k>.dw``, ``b<k>.project``, ``b<k>.add`` (k = 1..17), ``head``, ``classifier``.
    """
    c, h, w = _image_shape(input_shape, "mobilenetv2")
    if activation not in ("relu6", "relu"):
        raise ConfigError("model mobilenetv2", "activation", f"must be relu6 or relu, got {activation!r}")
    if not 0 < width <= 4:
        raise ConfigError("model mobilenetv2", "width", f"width multiplier {width} outside (0, 4]")
    s0 = stem_stride or (1 if max(h, w) <= 64 else 2)
    g = _G(input_shape)
    g.conv("stem", int(32 * width), 3, stride=s0, act=activation, bn=True)
    cin = int(32 * width)
    k = 0
    for t, ch, n, s in MBV2_CFG:
        cout = int(ch * width)
        for i in range(n):
            k += 1
            stride = s if i == 0 else 1
            src = g.cur
            hid = cin * t
            if t != 1:
                g.conv(f"b{k}.expand", hid, 1, act=activation, bn=True)
            g.conv(f"b{k}.dw", hid, 3, stride=stride, groups=hid, act=activation, bn=True)
            g.conv(f"b{k}.project", cout, 1, act="none", bn=True)
            if stride == 1 and cin == cout:
                g.addition(f"b{k}.add", src, g.cur)
            cin = cout
    g.conv("head", int(1280 * max(1.0, width)), 1, act=activation, bn=True)
    g.gap("pool")
    g.flatten()
    g.linear("classifier", classes)
    if dropout:
        g.dropout["classifier"] = float(dropout)
    return Architecture("mobilenetv2", g.layers, g.bn, g.dropout,
                        {"width": width, "activation": activation, "dropout": dropout, "stem_stride": s0})


def _basic_block(g: _G, name: str, cout: int, stride: int) -> None:
    src = g.cur
    cin = g.shape(src)[0]
    g.conv(f"{name}.conv1", cout, 3, stride=stride, act="relu", bn=True, src=src)
    main = g.conv(f"{name}.conv2", cout, 3, act="none", bn=True)
    short = src
    if stride != 1 or cin != cout:
        short = g.conv(f"{name}.down", cout, 1, stride=stride, padding=0, act="none", bn=True, src=src)
    g.addition(f"{name}.add", main, short, act="relu")


def resnet18(input_shape: Sequence[int], classes: int, width: float = 1.0, stem: Optional[str] = None) -> Architecture:
    """ResNet-18 (BasicBlock x [2, 2, 2, 2]); ``stem`` ``cifar`` (3x3 s1, no max-pool; default for <= 64 px) or ``imagenet``."""
    c, h, w = _image_shape(input_shape, "resnet18")
    stem = stem or ("cifar" if max(h, w) <= 64 else "imagenet")
    base = max(1, int(64 * width))
    g = _G(input_shape)
    if stem == "cifar":
        g.conv("stem", base, 3, act="relu", bn=True)
    elif stem == "imagenet":
        g.conv("stem", base, 7, stride=2, padding=3, act="relu", bn=True)
        g.pool("maxpool", "maxpool2d", k=3, stride=2, padding=1)
    else:
        raise ConfigError("model resnet18", "stem", f"unknown stem {stem!r} (cifar or imagenet)")
    for si, (mult, stride) in enumerate(((1, 1), (2, 2), (4, 2), (8, 2)), start=1):
        for bi in range(2):
            _basic_block(g, f"s{si}.b{bi + 1}", base * mult, stride if bi == 0 else 1)
    g.gap("pool")
    g.flatten()
    g.linear("fc", classes)
    return Architecture("resnet18", g.layers, g.bn, {}, {"width": width, "stem": stem})


def resnet20(input_shape: Sequence[int], classes: int, width: float = 1.0) -> Architecture:
    """CIFAR ResNet-20 (3 stages of 3 BasicBlocks, 16/32/64 channels x width); 1x1 projection shortcuts."""
    _image_shape(input_shape, "resnet20")
    base = max(1, int(16 * width))
    g = _G(input_shape)
    g.conv("stem", base, 3, act="relu", bn=True)
    for si, (mult, stride) in enumerate(((1, 1), (2, 2), (4, 2)), start=1):
        for bi in range(3):
            _basic_block(g, f"s{si}.b{bi + 1}", base * mult, stride if bi == 0 else 1)
    g.gap("pool")
    g.flatten()
    g.linear("fc", classes)
    return Architecture("resnet20", g.layers, g.bn, {}, {"width": width})


def _image_shape(shape: Sequence[int], model: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ConfigError(f"model {model}", "input", f"needs image input (C, H, W), got {tuple(shape)}")
    return int(shape[0]), int(shape[1]), int(shape[2])


MODELS: dict[str, Callable[..., Architecture]] = {
    "mlp": mlp, "lenet5": lenet5, "cnn": cnn, "mobilenetv2": mobilenetv2, "resnet18": resnet18, "resnet20": resnet20,
}
_ALIASES = {"lenet": "lenet5", "lenet-5": "lenet5", "cifar_cnn": "cnn", "cifar-cnn": "cnn", "mobilenet_v2": "mobilenetv2",
            "mobilenet-v2": "mobilenetv2", "resnet-18": "resnet18", "resnet-20": "resnet20"}


def _value(text: str) -> Any:
    t = text.strip()
    if "/" in t:
        return [_value(x) for x in t.split("/") if x]
    if t.lower() in ("true", "yes"):
        return True
    if t.lower() in ("false", "no"):
        return False
    if re.fullmatch(r"[+-]?\d+", t):
        return int(t)
    try:
        return float(t)
    except ValueError:
        return t


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"mobilenetv2:width=0.5,activation=relu"`` -> ``("mobilenetv2", {...})``; lists use ``/`` (``widths=32/64``)."""
    name, _, rest = spec.partition(":")
    name = name.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in MODELS:
        raise ConfigError(f"model {spec!r}", "", f"unknown model (known: {', '.join(MODELS)})")
    opts: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        if "=" not in part:
            raise ConfigError(f"model {spec!r}", part, "options are key=value")
        k, v = part.split("=", 1)
        opts[k.strip().replace("-", "_")] = _value(v)
    return name, opts


def build(spec: str, input_shape: Sequence[int], classes: int, **options: Any) -> Architecture:
    """Build a zoo model from a spec string (``name[:k=v,...]``) for an input shape and class count."""
    name, opts = parse_spec(spec)
    opts.update(options)
    if "widths" in opts and not isinstance(opts["widths"], list):
        opts["widths"] = [opts["widths"]]
    if "channels" in opts and not isinstance(opts["channels"], list):
        opts["channels"] = [opts["channels"]]
    try:
        return MODELS[name](tuple(int(d) for d in input_shape), int(classes), **opts)
    except TypeError as e:
        raise ConfigError(f"model {spec!r}", "", f"bad option ({e})") from None


def from_model(model) -> Architecture:
    """The :class:`Architecture` of a qformat model (no BatchNorm: its weights are already folded)."""
    layers = [Layer(lay.name, lay.op, list(lay.inputs), dict(lay.attrs), lay.activation, None, None)
              for lay in model.layers]
    return Architecture(str(model.provenance.get("architecture", {}).get("name", "model"))
                        if isinstance(model.provenance.get("architecture"), dict) else "model", layers)


def summary(arch: Architecture) -> list[dict[str, Any]]:
    """Per compute layer: name, op, weight shape, params, MACs, output shape."""
    rows = []
    for lay in arch.compute_layers():
        ws = weight_shape(lay)
        rows.append({"layer": lay.name, "op": lay.op + ("(dw)" if lay.op == "conv2d" and lay.groups() > 1 else ""),
                     "weight": list(ws), "params": int(np.prod(ws)) + (0 if lay.name in arch.batchnorm else ws[0]),
                     "macs": int(layer_macs(lay)), "out": list(lay.out_shape)})
    return rows
