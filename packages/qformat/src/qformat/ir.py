"""The graph IR: layers, their attributes, and shape inference.

Tensors are NCHW without the batch axis. Linear weights are ``(out, in)``,
conv weights ``(O, I/groups, kh, kw)``. ``inputs`` name producer layers, so
sequential, residual (``add``) and ``concat`` edges all fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import QFormatError
from .spec import COMPUTE_OPS, LayerQuant, LayerSpec


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


@dataclass
class Layer:
    """One node of the network graph (see SPEC.md for every op's attributes)."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    activation: str = "none"
    out_shape: Optional[tuple[int, ...]] = None
    quant: Optional[LayerQuant] = None

    @property
    def is_compute(self) -> bool:
        return self.op in COMPUTE_OPS

    def to_spec(self) -> LayerSpec:
        return LayerSpec(name=self.name, op=self.op, inputs=list(self.inputs), attrs=_jsonable(self.attrs),
                         activation=self.activation,
                         out_shape=list(self.out_shape) if self.out_shape is not None else None, quant=self.quant)

    @classmethod
    def from_spec(cls, s: LayerSpec) -> Layer:
        return cls(s.name, s.op, list(s.inputs), dict(s.attrs), s.activation,
                   tuple(s.out_shape) if s.out_shape is not None else None, s.quant)

    # Convenience accessors for conv-like attributes.
    def kernel(self) -> tuple[int, int]:
        return _pair(self.attrs.get("kernel_size", 1))

    def stride(self) -> tuple[int, int]:
        return _pair(self.attrs.get("stride", self.attrs.get("kernel_size", 1) if self.op.endswith("pool2d") else 1))

    def padding(self) -> tuple[int, int]:
        return _pair(self.attrs.get("padding", 0))

    def groups(self) -> int:
        return int(self.attrs.get("groups", 1))


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


def conv_out(size: int, k: int, s: int, p: int) -> int:
    """Output length of a convolution or pooling window (floor mode)."""
    return (size + 2 * p - k) // s + 1


def infer_shapes(layers: list[Layer], artifact: str = "model") -> None:
    """Fill ``out_shape`` of every layer from the input shape and the attributes.

    Raises :class:`QFormatError` naming the layer when shapes do not fit.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for lay in layers:
        where = f"layer {lay.name!r}"
        for src in lay.inputs:
            if src not in shapes:
                raise QFormatError(artifact, where, f"input {src!r} is not an earlier layer")
        ins = [shapes[s] for s in lay.inputs]
        op, a = lay.op, lay.attrs
        try:
            if op == "input":
                out = tuple(int(x) for x in a["shape"])
            elif op in ("relu", "relu6", "softmax"):
                out = ins[0]
            elif op == "linear":
                (f,) = ins[0] if len(ins[0]) == 1 else (None,)
                if f is None:
                    raise QFormatError(artifact, where, f"linear needs a flat input, got shape {ins[0]} (add a flatten)")
                if int(a["in_features"]) != f:
                    raise QFormatError(artifact, where, f"in_features {a['in_features']} != input size {f}")
                out = (int(a["out_features"]),)
            elif op == "conv2d":
                c, h, w = ins[0]
                if int(a["in_channels"]) != c:
                    raise QFormatError(artifact, where, f"in_channels {a['in_channels']} != input channels {c}")
                g = lay.groups()
                if c % g or int(a["out_channels"]) % g:
                    raise QFormatError(artifact, where, f"groups {g} does not divide the channels")
                (kh, kw), (sh, sw), (ph, pw) = lay.kernel(), lay.stride(), lay.padding()
                out = (int(a["out_channels"]), conv_out(h, kh, sh, ph), conv_out(w, kw, sw, pw))
            elif op in ("maxpool2d", "avgpool2d"):
                c, h, w = ins[0]
                (kh, kw), (sh, sw), (ph, pw) = lay.kernel(), lay.stride(), lay.padding()
                out = (c, conv_out(h, kh, sh, ph), conv_out(w, kw, sw, pw))
            elif op == "global_avgpool":
                out = (ins[0][0], 1, 1)
            elif op == "flatten":
                n = 1
                for d in ins[0]:
                    n *= d
                out = (n,)
            elif op == "add":
                if len(ins) != 2 or ins[0] != ins[1]:
                    raise QFormatError(artifact, where, f"add needs two inputs of one shape, got {ins}")
                out = ins[0]
            elif op == "concat":
                if len(ins) < 2 or any(s[1:] != ins[0][1:] for s in ins):
                    raise QFormatError(artifact, where, f"concat needs inputs equal but for channels, got {ins}")
                out = (sum(s[0] for s in ins),) + ins[0][1:]
            else:  # pragma: no cover - guarded by the spec model
                raise QFormatError(artifact, where, f"unknown op {op!r}")
        except QFormatError:
            raise
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise QFormatError(artifact, where, f"bad attributes for {op}: {e!r}") from None
        if any(d <= 0 for d in out):
            raise QFormatError(artifact, where, f"output shape {out} is empty")
        if lay.out_shape is not None and tuple(lay.out_shape) != out:
            raise QFormatError(artifact, where, f"declared out_shape {tuple(lay.out_shape)} != inferred {out}")
        lay.out_shape = out
        shapes[lay.name] = out


def weight_shape(lay: Layer) -> tuple[int, ...]:
    """The weight shape a compute layer's attributes imply."""
    a = lay.attrs
    if lay.op == "linear":
        return (int(a["out_features"]), int(a["in_features"]))
    kh, kw = lay.kernel()
    return (int(a["out_channels"]), int(a["in_channels"]) // lay.groups(), kh, kw)


def macs(lay: Layer, in_shape: tuple[int, ...] | None = None) -> int:
    """Multiply-accumulates of one forward pass of a compute layer (0 for others)."""
    if lay.op == "linear":
        return int(lay.attrs["in_features"]) * int(lay.attrs["out_features"])
    if lay.op == "conv2d":
        o, i, kh, kw = weight_shape(lay)
        _, h, w = lay.out_shape
        return o * i * kh * kw * h * w
    return 0
