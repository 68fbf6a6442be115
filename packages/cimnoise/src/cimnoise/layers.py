"""Compute layers as matrices on crossbars: unrolling, folding, row geometry.

A linear layer ``(out, in)`` is one matrix; a conv2d layer is one matrix per
group, ``(O/g, C/g·kh·kw)``, applied to im2col patches whose rows are ordered
``(c, i, j)`` like ``weight.reshape(O, -1)``. Padding rows read zeros; the
estimator models them through each row's *valid fraction* (the share of output
positions where that kernel tap lands inside the image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _dequantized(model, name: str) -> np.ndarray:
    """Float weights of a layer stored only as integer codes: (codes - zero_point) * scale, per channel or not."""
    codes = np.asarray(model.get(name, "weight_codes"), dtype=np.float64)
    shape = (-1,) + (1,) * (codes.ndim - 1)
    scale = np.asarray(model.get(name, "weight_scale"), dtype=np.float64)
    zp = np.asarray(model.get(name, "weight_zero_point"), dtype=np.float64) if model.has(name, "weight_zero_point") else 0.0
    scale = scale.reshape(shape) if np.ndim(scale) == 1 else scale
    zp = zp.reshape(shape) if np.ndim(zp) == 1 else zp
    return (codes - zp) * scale


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


@dataclass
class AnalogLayer:
    """A linear or conv2d layer with its float weights.

    ``in_shape`` is ``(F,)`` for linear and ``(C, H, W)`` for conv2d.
    """

    name: str
    op: str
    weight: np.ndarray
    bias: Optional[np.ndarray] = None
    in_shape: tuple[int, ...] = ()
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    activation: str = "none"
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.weight = np.asarray(self.weight, dtype=np.float64)
        if self.bias is not None:
            self.bias = np.asarray(self.bias, dtype=np.float64)
        if self.op == "linear":
            if self.weight.ndim != 2:
                raise ValueError(f"layer {self.name!r}: linear weight must be 2-D, got {self.weight.shape}")
            if not self.in_shape:
                self.in_shape = (self.weight.shape[1],)
        elif self.op == "conv2d":
            if self.weight.ndim != 4:
                raise ValueError(f"layer {self.name!r}: conv2d weight must be 4-D, got {self.weight.shape}")
            if len(self.in_shape) != 3:
                raise ValueError(f"layer {self.name!r}: conv2d needs in_shape (C, H, W)")
            self.stride, self.padding = _pair(self.stride), _pair(self.padding)
        else:
            raise ValueError(f"layer {self.name!r}: op {self.op!r} is not a compute layer")

    @classmethod
    def from_qformat(cls, model, layer) -> AnalogLayer:
        """Build from a :class:`qformat.Model` and one of its compute layers."""
        src = model.layer(layer.inputs[0]) if layer.inputs else None
        in_shape = tuple(src.out_shape) if src is not None and src.out_shape is not None else ()
        w = model.get(layer.name, "weight") if model.has(layer.name, "weight") else _dequantized(model, layer.name)
        b = model.get_or_none(layer.name, "bias")
        if layer.op == "conv2d":
            return cls(layer.name, "conv2d", w, b, in_shape, layer.stride(), layer.padding(), layer.groups(), layer.activation)
        return cls(layer.name, "linear", w, b, in_shape, activation=layer.activation)

    # ---- geometry ------------------------------------------------------------
    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.in_shape[0])

    @property
    def kernel(self) -> tuple[int, int]:
        return (int(self.weight.shape[2]), int(self.weight.shape[3])) if self.op == "conv2d" else (1, 1)

    @property
    def out_spatial(self) -> tuple[int, int]:
        if self.op != "conv2d":
            return (1, 1)
        _, h, w = self.in_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)

    @property
    def out_shape(self) -> tuple[int, ...]:
        if self.op == "linear":
            return (self.out_channels,)
        return (self.out_channels,) + self.out_spatial

    @property
    def n_groups(self) -> int:
        return self.groups if self.op == "conv2d" else 1

    def matrices(self) -> list[np.ndarray]:
        """One ``(M_g, N_g)`` matrix per group."""
        if self.op == "linear":
            return [self.weight]
        g = self.groups
        og = self.out_channels // g
        return [self.weight[k * og:(k + 1) * og].reshape(og, -1) for k in range(g)]

    def out_index(self, g: int) -> slice:
        og = self.out_channels // self.n_groups
        return slice(g * og, (g + 1) * og)

    def row_channels(self, g: int) -> np.ndarray:
        """Input channel read by every row of group ``g``'s matrix."""
        if self.op == "linear":
            return np.arange(self.in_channels)
        cg = self.in_channels // self.groups
        kh, kw = self.kernel
        return np.repeat(np.arange(g * cg, (g + 1) * cg), kh * kw)

    def row_valid(self, g: int) -> np.ndarray:
        """Share of output positions at which each row reads inside the image (1 for linear)."""
        if self.op == "linear":
            return np.ones(self.in_channels)
        key = ("valid",)
        if key not in self._cache:
            _, h, w = self.in_shape
            (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
            ho, wo = self.out_spatial
            fh = np.array([np.mean((np.arange(ho) * sh - ph + i >= 0) & (np.arange(ho) * sh - ph + i < h)) for i in range(kh)])
            fw = np.array([np.mean((np.arange(wo) * sw - pw + j >= 0) & (np.arange(wo) * sw - pw + j < w)) for j in range(kw)])
            self._cache[key] = np.outer(fh, fw).ravel()
        cg = self.in_channels // self.groups
        return np.tile(self._cache[key], cg)

    # ---- data movement --------------------------------------------------------
    def unroll(self, x: np.ndarray) -> list[np.ndarray]:
        """Input batch ``(B, *in_shape)`` to one ``(B·P, N_g)`` array of input vectors per group."""
        x = np.asarray(x, dtype=np.float64)
        if self.op == "linear":
            return [x.reshape(x.shape[0], -1)]
        b = x.shape[0]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # B, C, Ho, Wo, kh, kw
        ho, wo = win.shape[2], win.shape[3]
        cg = self.in_channels // self.groups
        out = []
        for g in range(self.groups):
            wg = win[:, g * cg:(g + 1) * cg]
            out.append(np.ascontiguousarray(wg.transpose(0, 2, 3, 1, 4, 5)).reshape(b * ho * wo, cg * kh * kw))
        return out

    def fold(self, ys: list[np.ndarray], batch: int) -> np.ndarray:
        """Per-group outputs ``(B·P, M_g)`` back to ``(B, *out_shape)``."""
        y = np.concatenate(ys, axis=1)
        if self.op == "linear":
            return y.reshape(batch, -1)
        ho, wo = self.out_spatial
        return y.reshape(batch, ho, wo, -1).transpose(0, 3, 1, 2)

    def ideal(self, x: np.ndarray) -> np.ndarray:
        """Float output (pre-activation, bias included) of a batch."""
        ys = [v @ m.T for v, m in zip(self.unroll(x), self.matrices())]
        y = self.fold(ys, x.shape[0])
        if self.bias is not None:
            y = y + self.bias.reshape((1, -1) + (1,) * (y.ndim - 2))
        return y

    def channel_mean(self, v: np.ndarray) -> np.ndarray:
        """Mean over batch and positions per output channel of ``(B, O, ...)``."""
        axes = (0,) + tuple(range(2, v.ndim))
        return v.mean(axis=axes)
