"""The model artifact: graph IR plus lazily read tensors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional

import numpy as np

from .errors import QFormatError
from .ir import Layer, infer_shapes, weight_shape
from .spec import ActQuant, LayerQuant

# Tensor names a layer may carry, with the dtypes the spec allows.
TENSOR_DTYPES: dict[str, tuple[str, ...]] = {
    "weight": ("float32", "float16", "float64"),
    "bias": ("float32", "float16", "float64"),
    "weight_codes": ("int8", "int16", "int32", "uint8", "uint16"),
    "weight_scale": ("float32", "float64"),
    "weight_zero_point": ("int32", "int16", "int8"),
    "weight_shift": ("int8", "int16", "int32"),
    "weight_codebook": ("float32", "float64"),
    "weight_indices": ("uint8", "uint16", "int32"),
    "weight_mask": ("bool",),
    "bias_codes": ("int32", "int16"),
    "requant_multiplier": ("int32", "int64"),
    "requant_shift": ("int32", "int8", "int16"),
}


class Model:
    """A network: ordered :class:`Layer` list, tensors by ``(layer, name)``, provenance.

    Tensors read from a store are fetched only when asked for (``get``), so
    opening a large model and reading one layer touches only that layer.
    """

    kind = "model"

    def __init__(self, layers: Iterable[Layer] = (), provenance: dict | None = None,
                 tensors: dict[str, dict[str, np.ndarray]] | None = None):
        self.layers: list[Layer] = list(layers)
        self.provenance: dict[str, Any] = dict(provenance or {})
        self._arrays: dict[tuple[str, str], np.ndarray] = {}
        self._lazy: dict[tuple[str, str], Callable[[], np.ndarray]] = {}
        for lname, ts in (tensors or {}).items():
            for tname, arr in ts.items():
                self.set(lname, tname, arr)
        if self.layers and any(lay.out_shape is None for lay in self.layers):
            infer_shapes(self.layers)

    # ---- graph -------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(f"no layer named {name!r}")

    def layer_names(self) -> list[str]:
        return [lay.name for lay in self.layers]

    def compute_layers(self) -> list[Layer]:
        """The linear and conv2d layers, in order (the ones that carry weights)."""
        return [lay for lay in self.layers if lay.is_compute]

    @property
    def input_layer(self) -> Layer:
        for lay in self.layers:
            if lay.op == "input":
                return lay
        raise QFormatError("model", "layers", "the graph has no input layer")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.input_layer.attrs["shape"])

    @property
    def input_quant(self) -> Optional[ActQuant]:
        q = self.input_layer.quant
        return q.output if q else None

    @property
    def output_layer(self) -> Layer:
        return self.layers[-1]

    def quant(self, name: str) -> Optional[LayerQuant]:
        return self.layer(name).quant

    def set_quant(self, name: str, quant: Optional[LayerQuant]) -> None:
        self.layer(name).quant = quant

    def is_quantized(self) -> bool:
        return any(lay.quant is not None and lay.quant.weight is not None for lay in self.compute_layers())

    def consumers(self, name: str) -> list[Layer]:
        return [lay for lay in self.layers if name in lay.inputs]

    # ---- tensors -----------------------------------------------------------
    def get(self, layer: str, tensor: str) -> np.ndarray:
        """The array ``tensor`` of ``layer`` (read from the store on first use)."""
        key = (layer, tensor)
        if key not in self._arrays:
            if key not in self._lazy:
                raise KeyError(f"layer {layer!r} has no tensor {tensor!r}")
            self._arrays[key] = self._lazy.pop(key)()
        return self._arrays[key]

    def get_or_none(self, layer: str, tensor: str) -> Optional[np.ndarray]:
        return self.get(layer, tensor) if self.has(layer, tensor) else None

    def has(self, layer: str, tensor: str) -> bool:
        return (layer, tensor) in self._arrays or (layer, tensor) in self._lazy

    def set(self, layer: str, tensor: str, array: Any) -> None:
        """Attach an array to a layer (replacing any previous one)."""
        if tensor not in TENSOR_DTYPES:
            raise ValueError(f"unknown tensor name {tensor!r} (known: {', '.join(TENSOR_DTYPES)})")
        arr = np.asarray(array)
        if arr.dtype.name not in TENSOR_DTYPES[tensor]:
            arr = arr.astype(TENSOR_DTYPES[tensor][0])
        self._lazy.pop((layer, tensor), None)
        self._arrays[(layer, tensor)] = arr

    def delete(self, layer: str, tensor: str) -> None:
        self._arrays.pop((layer, tensor), None)
        self._lazy.pop((layer, tensor), None)

    def _set_lazy(self, layer: str, tensor: str, loader: Callable[[], np.ndarray]) -> None:
        self._lazy[(layer, tensor)] = loader

    def tensor_names(self, layer: str) -> list[str]:
        names = {t for (lname, t) in list(self._arrays) + list(self._lazy) if lname == layer}
        return [t for t in TENSOR_DTYPES if t in names]

    def tensor_keys(self) -> Iterator[tuple[str, str]]:
        for lay in self.layers:
            for t in self.tensor_names(lay.name):
                yield lay.name, t

    def weight(self, layer: str) -> np.ndarray:
        return self.get(layer, "weight")

    def bias(self, layer: str) -> Optional[np.ndarray]:
        return self.get_or_none(layer, "bias")

    # ---- checks ------------------------------------------------------------
    def validate(self, artifact: str = "model", deep: bool = True) -> None:
        """Check graph, shapes and tensors; raise :class:`QFormatError` naming the problem."""
        names = [lay.name for lay in self.layers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise QFormatError(artifact, "layers", f"duplicate layer name(s) {sorted(dup)}")
        if not self.layers or self.layers[0].op != "input":
            raise QFormatError(artifact, "layers", "the first layer must be the input layer")
        infer_shapes(self.layers, artifact)
        for lay in self.compute_layers():
            where = f"layers/{lay.name}"
            if not self.has(lay.name, "weight") and not self.has(lay.name, "weight_codes"):
                raise QFormatError(artifact, where, "missing array 'weight'")
            expect = weight_shape(lay)
            for t in ("weight", "weight_codes", "weight_indices", "weight_mask"):
                if self.has(lay.name, t):
                    shp = self._shape(lay.name, t)
                    if tuple(shp) != expect:
                        raise QFormatError(artifact, f"{where}/{t}", f"shape {tuple(shp)} does not match {expect} from the layer's attributes")
            o = expect[0]
            for t in ("bias", "bias_codes", "requant_multiplier", "requant_shift"):
                if self.has(lay.name, t) and tuple(self._shape(lay.name, t)) != (o,):
                    raise QFormatError(artifact, f"{where}/{t}", f"shape {tuple(self._shape(lay.name, t))} != ({o},)")
            q = lay.quant
            if q is not None and q.weight is not None and q.weight.scheme != "fp16":
                wq = q.weight
                if deep and self.has(lay.name, "weight_codes"):
                    codes = self.get(lay.name, "weight_codes")
                    lo = -(1 << (wq.bits - 1)) if wq.signed else 0
                    hi = (1 << (wq.bits - 1)) - 1 if wq.signed else (1 << wq.bits) - 1
                    if codes.size and (codes.min() < lo or codes.max() > hi):
                        raise QFormatError(artifact, f"{where}/weight_codes", f"codes outside the {wq.bits}-bit range [{lo}, {hi}]")
                if deep and self.has(lay.name, "weight_scale"):
                    s = self.get(lay.name, "weight_scale")
                    if not np.all(np.isfinite(s)) or np.any(s <= 0):
                        raise QFormatError(artifact, f"{where}/weight_scale", "scale must be finite and positive (found NaN, inf or <= 0)")
            if deep:
                for t in ("weight", "bias"):
                    if self.has(lay.name, t) and not np.all(np.isfinite(self.get(lay.name, t))):
                        raise QFormatError(artifact, f"{where}/{t}", "contains NaN or inf")

    def _shape(self, layer: str, tensor: str) -> tuple[int, ...]:
        key = (layer, tensor)
        if key in self._arrays:
            return self._arrays[key].shape
        loader = self._lazy[key]
        return tuple(getattr(loader, "shape", None) or self.get(layer, tensor).shape)

    # ---- summaries ---------------------------------------------------------
    def copy(self) -> Model:
        """A shallow copy: new layer objects, shared (read-only) arrays."""
        import copy as _copy

        m = Model(provenance=_copy.deepcopy(self.provenance))
        m.layers = [Layer(lay.name, lay.op, list(lay.inputs), _copy.deepcopy(lay.attrs), lay.activation,
                          lay.out_shape, lay.quant) for lay in self.layers]
        m._arrays = dict(self._arrays)
        m._lazy = dict(self._lazy)
        return m

    def __repr__(self) -> str:
        return f"Model({len(self.layers)} layers, {len(self.compute_layers())} compute, quantized={self.is_quantized()})"
