"""What the model plots show, computed from a :class:`qformat.Model` (and an optional precision map).

Weights come from whichever tensors the layer carries: float ``weight``, else the
dequantized ``weight_codes``, else the k-means codebook lookup. Fast paths are
numpy; slow ``*_reference`` twins exist for the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .errors import CannotPlot


def compute_layers(model: Any) -> list:
    """The layers that carry weights (linear, conv2d), in network order."""
    layers = model.compute_layers()
    if not layers:
        raise CannotPlot("model", "layers", "the model has no linear or conv2d layer")
    return layers


def resolve_layer(model: Any, name: Optional[str]):
    """The named compute layer (or, for ``None``, every compute layer)."""
    layers = compute_layers(model)
    if name is None:
        return layers
    for lay in layers:
        if lay.name == name:
            return [lay]
    raise CannotPlot("model", "layer", f"no compute layer {name!r} (layers: {', '.join(l.name for l in layers)})")


def float_weights(model: Any, layer: str) -> np.ndarray:
    """The layer's weights as float64 ``(out, fan_in)``: float, dequantized codes, or codebook lookup."""
    if model.has(layer, "weight"):
        w = np.asarray(model.get(layer, "weight"), dtype=np.float64)
    elif model.has(layer, "weight_codes"):
        codes = np.asarray(model.get(layer, "weight_codes"), dtype=np.float64)
        scale = np.asarray(model.get(layer, "weight_scale"), dtype=np.float64) if model.has(layer, "weight_scale") else np.ones(())
        zp = np.asarray(model.get(layer, "weight_zero_point"), dtype=np.float64) if model.has(layer, "weight_zero_point") else np.zeros(())
        shape = (-1,) + (1,) * (codes.ndim - 1)
        w = (codes - zp.reshape(shape) if zp.ndim else codes - zp) * (scale.reshape(shape) if scale.ndim else scale)
    elif model.has(layer, "weight_codebook") and model.has(layer, "weight_indices"):
        book = np.asarray(model.get(layer, "weight_codebook"), dtype=np.float64)
        idx = np.asarray(model.get(layer, "weight_indices")).astype(np.int64)
        o = idx.shape[0]
        flat = idx.reshape(o, -1)
        w = np.take_along_axis(book, flat, axis=1) if book.ndim == 2 else book[flat]
        if model.has(layer, "weight_mask"):
            w = np.where(np.asarray(model.get(layer, "weight_mask")).reshape(o, -1), w, 0.0)
        w = w.reshape(idx.shape)
    else:
        raise CannotPlot("model", f"layers/{layer}", "carries no weight, weight_codes or weight_codebook")
    return w.reshape(w.shape[0], -1)


def pruning_mask(model: Any, layer: str) -> tuple[np.ndarray, str]:
    """``(kept (out, fan_in) bool, source)``: the ``weight_mask`` tensor, else non-zero weights."""
    if model.has(layer, "weight_mask"):
        m = np.asarray(model.get(layer, "weight_mask"), dtype=bool)
        return m.reshape(m.shape[0], -1), "weight_mask"
    return float_weights(model, layer) != 0, "non-zero weights"


@dataclass
class Usage:
    """How many kept weights use each centroid (or code) of a layer."""

    keys: np.ndarray       # centroid values (by="value"), slot indices (by="slot") or integer codes (by="code")
    counts: np.ndarray     # weights per key
    pruned: int            # weights removed by pruning
    by: str


def centroid_usage(model: Any, layer: str, max_values: int = 64) -> Usage:
    """Usage of a layer's k-means centroids (by distinct value, or by codebook slot when there are many
    distinct values), or of its integer codes for a quantized layer."""
    if model.has(layer, "weight_indices") and model.has(layer, "weight_codebook"):
        idx = np.asarray(model.get(layer, "weight_indices")).astype(np.int64)
        o = idx.shape[0]
        idx = idx.reshape(o, -1)
        kept, _ = pruning_mask(model, layer)
        book = np.asarray(model.get(layer, "weight_codebook"), dtype=np.float64)
        vals = np.take_along_axis(book, idx, axis=1) if book.ndim == 2 else book[idx]
        keys, counts = np.unique(vals[kept], return_counts=True)
        pruned = int(kept.size - kept.sum())
        if len(keys) <= max_values:
            return Usage(keys, counts, pruned, "value")
        slots = np.bincount(idx[kept], minlength=book.shape[-1])
        return Usage(np.arange(len(slots)), slots, pruned, "slot")
    if model.has(layer, "weight_codes"):
        codes = np.asarray(model.get(layer, "weight_codes")).astype(np.int64).ravel()
        keys, counts = np.unique(codes, return_counts=True)
        return Usage(keys, counts, 0, "code")
    raise CannotPlot("model", f"layers/{layer}", "has no k-means codebook (weight_codebook, weight_indices) "
                                                 "and no weight_codes")


def centroid_usage_reference(model: Any, layer: str, max_values: int = 64) -> Usage:
    """Slow twin of :func:`centroid_usage`: walk every weight."""
    if model.has(layer, "weight_indices") and model.has(layer, "weight_codebook"):
        idx = np.asarray(model.get(layer, "weight_indices")).astype(np.int64)
        o = idx.shape[0]
        idx = idx.reshape(o, -1)
        mask = (np.asarray(model.get(layer, "weight_mask")).reshape(o, -1) if model.has(layer, "weight_mask")
                else float_weights(model, layer) != 0)
        book = np.asarray(model.get(layer, "weight_codebook"), dtype=np.float64)
        by_value: dict = {}
        by_slot: dict = {}
        pruned = 0
        for r in range(o):
            for c in range(idx.shape[1]):
                if not mask[r, c]:
                    pruned += 1
                    continue
                slot = int(idx[r, c])
                v = float(book[r, slot] if book.ndim == 2 else book[slot])
                by_value[v] = by_value.get(v, 0) + 1
                by_slot[slot] = by_slot.get(slot, 0) + 1
        if len(by_value) <= max_values:
            keys = sorted(by_value)
            return Usage(np.array(keys), np.array([by_value[k] for k in keys]), pruned, "value")
        n = book.shape[-1]
        return Usage(np.arange(n), np.array([by_slot.get(s, 0) for s in range(n)]), pruned, "slot")
    codes = np.asarray(model.get(layer, "weight_codes")).astype(np.int64).ravel()
    tally: dict = {}
    for v in codes.tolist():
        tally[v] = tally.get(v, 0) + 1
    keys = sorted(tally)
    return Usage(np.array(keys), np.array([tally[k] for k in keys]), 0, "code")


# ---- precision: bits and bytes per layer ------------------------------------------------------

def _prec_bits(p: Any) -> int:
    return int(p.bits)


@dataclass
class LayerBits:
    layer: str
    weight_bits: int
    act_bits: int
    weight_label: str
    act_label: str


def layer_bits(model: Any = None, pmap: Any = None) -> tuple[list[LayerBits], str]:
    """Weight and activation bits of every compute layer and where they come from.

    Precision map resolved over the model's layers when both are given; the model's
    own quantization metadata when it is quantized and no map is given; the map's
    explicit rules when there is no model. fp32 layers count 32 bits.
    """
    if pmap is not None and model is not None:
        names = [lay.name for lay in compute_layers(model)]
        res = pmap.resolve_all(names, strict=False)
        out = []
        for n in names:
            lp = res.get(n)
            if lp is None:
                out.append(LayerBits(n, 32, 32, "fp32", "fp32"))
            else:
                out.append(LayerBits(n, _prec_bits(lp.weight), _prec_bits(lp.activation), str(lp.weight), str(lp.activation)))
        return out, "precision map"
    if model is not None:
        out = []
        for lay in compute_layers(model):
            q = lay.quant
            wq = q.weight if q is not None else None
            if wq is None:
                wb, wl = 32, "fp32"
            elif wq.scheme == "fp16":
                wb, wl = 16, "fp16"
            else:
                wb, wl = wq.bits, f"{'int' if wq.signed else 'uint'}{wq.bits}" + (" k-means" if wq.scheme == "kmeans" else
                                                                                 " pow2" if wq.scheme == "pow2" else "")
            aq = q.input if q is not None else None
            ab, al = (aq.bits, f"{'int' if aq.signed else 'uint'}{aq.bits}") if aq is not None else (32, "fp32")
            out.append(LayerBits(lay.name, wb, ab, wl, al))
        return out, "model quantization"
    if pmap is not None:
        rules = pmap.rules()
        out = []
        for key, v in rules.items():
            from qformat import Precision

            w, a = Precision.parse(v["weight"]), Precision.parse(v["activation"])
            out.append(LayerBits(key, w.bits, a.bits, str(w), str(a)))
        if not out:
            raise CannotPlot("precision map", "", "has no rules")
        return out, "precision map rules"
    raise CannotPlot("input", "", "needs a model or a precision map")


@dataclass
class LayerBytes:
    layer: str
    params: int
    bits: int
    payload: int       # ceil(params * bits / 8)
    overhead: int      # codebooks, scales, zero points, shifts
    bias: int          # 4 bytes per output when the layer has a bias
    fp32: int          # the same layer in fp32 (weights + bias)


_OVERHEAD_TENSORS = ("weight_codebook", "weight_scale", "weight_zero_point", "weight_shift")


def layer_bytes(model: Any, pmap: Any = None) -> tuple[list[LayerBytes], str]:
    """Bytes of every compute layer's weights: packed payload, quantization overhead, bias."""
    bits, source = layer_bits(model, pmap if pmap is not None and not model.is_quantized() else None)
    out = []
    for lay, lb in zip(compute_layers(model), bits):
        shape = _weight_shape(model, lay)
        params = int(np.prod(shape))
        o = shape[0]
        over = 0
        for t in _OVERHEAD_TENSORS:
            if model.has(lay.name, t):
                over += int(np.asarray(model.get(lay.name, t)).nbytes)
        bias = 4 * o if (model.has(lay.name, "bias") or model.has(lay.name, "bias_codes")) else 0
        out.append(LayerBytes(lay.name, params, lb.weight_bits, math.ceil(params * lb.weight_bits / 8), over, bias,
                              params * 4 + bias))
    return out, source


def _weight_shape(model: Any, lay: Any) -> tuple[int, ...]:
    try:
        from qformat import weight_shape

        return tuple(weight_shape(lay))
    except Exception:  # pragma: no cover - unusual layer attributes
        for t in ("weight", "weight_codes", "weight_indices"):
            if model.has(lay.name, t):
                return tuple(model.get(lay.name, t).shape)
        raise


# ---- neuron pictures ---------------------------------------------------------------------------

def near_square(n: int) -> tuple[int, int]:
    """(rows, cols) with rows * cols >= n, as square as possible, exact when n has a close divisor."""
    n = max(1, int(n))
    r = int(math.isqrt(n))
    for d in range(r, max(1, r // 2) - 1, -1):
        if d > 0 and n % d == 0:
            return d, n // d
    return r, -(-n // r)


def _network_input_shape(model: Any, layer: Any) -> Optional[tuple[int, ...]]:
    """The input shape when ``layer`` reads the network input directly (through flatten/relu only)."""
    cur = layer
    for _ in range(len(model.layers)):
        if not cur.inputs:
            return None
        prev = model.layer(cur.inputs[0])
        if prev.op == "input":
            return tuple(prev.attrs.get("shape", ()))
        if prev.op not in ("flatten", "relu", "relu6"):
            return None
        cur = prev
    return None


def neuron_layout(model: Any, layer: str, shape: Optional[tuple[int, int]] = None):
    """How to draw one neuron's fan-in as a picture.

    Returns ``("image", (channels, h, w))`` when the layer reads the network input
    (a 784-input neuron of an MNIST MLP becomes 28x28), ``("kernels", (in, kh, kw))``
    for conv filters, or ``("grid", (1, rows, cols))`` (near-square, NaN-padded).
    """
    lay = model.layer(layer)
    wshape = _weight_shape(model, lay)
    n = int(np.prod(wshape[1:]))
    if shape is not None:
        h, w = shape
        if h * w < n:
            raise CannotPlot("model", f"layers/{layer}", f"shape {h}x{w} holds fewer than the {n} inputs of a neuron")
        return "grid", (1, h, w)
    if lay.op == "conv2d":
        return "kernels", tuple(int(v) for v in wshape[1:])
    ishape = _network_input_shape(model, lay)
    if ishape and int(np.prod(ishape)) == n:
        if len(ishape) == 3:
            return "image", (int(ishape[0]), int(ishape[1]), int(ishape[2]))
        if len(ishape) == 2:
            return "image", (1, int(ishape[0]), int(ishape[1]))
    r = math.isqrt(n)
    if r * r == n:
        return "image" if ishape else "grid", (1, r, r)
    h, w = near_square(n)
    return "grid", (1, h, w)


def neuron_picture(vec: np.ndarray, layout: tuple[str, tuple[int, int, int]]) -> np.ndarray:
    """One neuron's fan-in as a 2-D array (channels / kernels tiled, NaN between and after)."""
    kind, (c, h, w) = layout
    vec = np.asarray(vec, dtype=np.float64).ravel()
    if kind == "grid":
        out = np.full(h * w, np.nan)
        out[: len(vec)] = vec
        return out.reshape(h, w)
    tiles = vec.reshape(c, h, w)
    if c == 1:
        return tiles[0]
    rows, cols = near_square(c)
    return mosaic(tiles, cols)


def mosaic(tiles: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """Lay ``tiles`` ``(n, h, w)`` row by row into one 2-D array, ``gap`` NaN pixels between tiles."""
    tiles = np.asarray(tiles, dtype=np.float64)
    n, h, w = tiles.shape
    cols = max(1, min(int(cols), n))
    rows = -(-n // cols)
    padded = np.full((rows * cols, h + gap, w + gap), np.nan)
    padded[:n, :h, :w] = tiles
    out = padded.reshape(rows, cols, h + gap, w + gap).transpose(0, 2, 1, 3).reshape(rows * (h + gap), cols * (w + gap))
    return out[: rows * (h + gap) - gap, : cols * (w + gap) - gap]


def mosaic_reference(tiles: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """Slow twin of :func:`mosaic`: copy tile by tile."""
    n, h, w = np.shape(tiles)
    cols = max(1, min(int(cols), n))
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tiles[i]
    return out


def tile_origin(i: int, cols: int, h: int, w: int, gap: int = 1) -> tuple[int, int]:
    """(row, col) pixel of tile ``i``'s top-left corner in a :func:`mosaic`."""
    r, c = divmod(i, cols)
    return r * (h + gap), c * (w + gap)


def parse_neurons(text: Optional[str], count: int) -> list[int]:
    """``"all"``, ``"3"``, ``"0,4,7"``, ``"0-15"`` (or mixes) -> sorted neuron indices below ``count``."""
    if text is None or str(text).strip().lower() == "all":
        return list(range(count))
    out: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, part)
                lo, hi = int(a), int(b)
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise CannotPlot("--neuron", "", f"cannot read {part!r} (use all, 3, 0,4,7 or 0-15)") from None
    bad = [n for n in out if not 0 <= n < count]
    if bad:
        raise CannotPlot("--neuron", "", f"neuron {bad[0]} out of range 0..{count - 1}")
    return sorted(out)
