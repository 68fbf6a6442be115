"""From a model to what the simulator needs: per-layer neuron weight matrices,
integer codes, layer/neuron selection and per-layer input activations.

Only ``qformat`` is imported (lazily, for the model helpers); the engines work on
plain numpy matrices, so :func:`from_matrices` needs no model at all.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .activations import FRAC_BITS, TOTAL_BITS, quantize_acts
from .fast import LayerData

#: a layer without quantization metadata with more distinct values per neuron than this is refused
MAX_FLOAT_DISTINCT = 256
#: largest number of fractional bits tried when looking for exact fixed-point weight codes
MAX_FRAC_BITS = 16
#: centroids with no exact fixed-point form are rounded to this many fractional bits for the
#: functional model and activation propagation (both sides of the check use the same codes)
FALLBACK_FRAC_BITS = 12


class LayerError(ValueError):
    """A layer the simulator cannot handle: names the layer and says why."""

    def __init__(self, layer: str, why: str):
        self.layer = layer
        self.why = why
        super().__init__(f"layer {layer!r}: {why}")


@dataclass
class SimLayer:
    """One compute layer as the accelerator sees it (rows of ``weights`` are neurons)."""

    name: str
    op: str
    weights: np.ndarray                  # (O, N) the shared-value source (floats or integer codes)
    codes: np.ndarray | None = None   # (O, N) int64 integer weights for the functional model / memories
    code_frac: int | None = None      # fractional bits of ``codes`` when they are fixed point
    code_bits: int = 8                   # word width of a weight code
    source: str = ""                     # where the values came from (for logs and tables)
    positions: int = 1                   # dot products per neuron per input (conv: Ho*Wo)
    activation: str = "none"
    groups: int = 1                      # conv groups (neurons of group i read input channels of group i)
    _data: LayerData | None = field(default=None, repr=False)

    @property
    def data(self) -> LayerData:
        if self._data is None:
            self._data = LayerData.from_weights(self.name, self.weights, self.positions)
        return self._data

    @property
    def O(self) -> int:
        return self.weights.shape[0]

    @property
    def N(self) -> int:
        return self.weights.shape[1]


def fixed_point_codes(w: np.ndarray, max_frac: int = MAX_FRAC_BITS) -> tuple[np.ndarray | None, int | None]:
    """Smallest ``f`` with ``w * 2**f`` all integers, and those integers (or ``(None, None)``)."""
    w = np.asarray(w, dtype=np.float64)
    for f in range(max_frac + 1):
        s = w * float(2 ** f)
        if np.all(s == np.round(s)) and np.all(np.abs(s) < 2 ** 31):
            return s.astype(np.int64), f
    return None, None


def _rounded_codes(w: np.ndarray) -> tuple[np.ndarray, int]:
    """``round_half_even(w * 2**FALLBACK_FRAC_BITS)`` (one code per distinct value, so the
    accelerator-vs-dot-product check stays exact; only the weights are approximated)."""
    return np.rint(np.asarray(w, dtype=np.float64) * float(2 ** FALLBACK_FRAC_BITS)).astype(np.int64), FALLBACK_FRAC_BITS


def signed_bits(codes: np.ndarray) -> int:
    """Bits of the narrowest two's-complement word holding every code."""
    if codes.size == 0:
        return 1
    lo, hi = int(codes.min()), int(codes.max())
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def from_matrices(mats: dict, activation: str = "relu") -> list[SimLayer]:
    """Simulator layers from ``name -> (neurons, fan_in)`` matrices (floats or integer codes).

    Integer matrices are used as codes; float ones as k-means centroids (codes are
    their exact fixed-point form when one exists). Every layer but the last gets
    ``activation`` (a ReLU MLP like the original's).
    """
    out = []
    names = list(mats)
    for i, name in enumerate(names):
        w = np.asarray(mats[name])
        if w.ndim != 2:
            raise LayerError(name, f"weights must be 2-D (neurons, fan-in), got shape {w.shape}")
        act = activation if i < len(names) - 1 else "none"
        if w.dtype.kind in "iu":
            codes = w.astype(np.int64)
            out.append(SimLayer(name, "linear", codes, codes, 0, signed_bits(codes), "integer codes", 1, act))
        else:
            if not np.all(np.isfinite(w)):
                raise LayerError(name, "weights contain NaN or inf")
            w = w.astype(np.float64) + 0.0
            codes, f = fixed_point_codes(w)
            if codes is None:
                codes, f = _rounded_codes(w)
            out.append(SimLayer(name, "linear", w, codes, f, signed_bits(codes) if codes is not None else 8,
                                "float centroids", 1, act))
    return out


def _kmeans_weight(model, name: str) -> np.ndarray:
    if model.has(name, "weight"):
        return np.asarray(model.get(name, "weight"), dtype=np.float64)
    if model.has(name, "weight_codebook") and model.has(name, "weight_indices"):
        book = np.asarray(model.get(name, "weight_codebook"), dtype=np.float64)
        idx = np.asarray(model.get(name, "weight_indices")).astype(np.int64)
        O = idx.shape[0]
        if book.ndim == 1:
            w = book[idx]
        else:
            w = np.take_along_axis(book, idx.reshape(O, -1), axis=1).reshape(idx.shape)
        if model.has(name, "weight_mask"):
            w = np.where(model.get(name, "weight_mask"), w, 0.0)
        return w
    raise LayerError(name, "k-means layer has neither 'weight' nor 'weight_codebook' + 'weight_indices'")


def sim_layer(model, lay) -> SimLayer:
    """The :class:`SimLayer` of one compute layer of a qformat model (raises :class:`LayerError`)."""
    name = lay.name
    if lay.op not in ("linear", "conv2d"):
        raise LayerError(name, f"op {lay.op!r} has no weights to simulate")
    wq = lay.quant.weight if lay.quant is not None else None
    scheme = wq.scheme if wq is not None else None
    positions = 1
    groups = 1
    if lay.op == "conv2d":
        shp = lay.out_shape
        positions = int(shp[1] * shp[2]) if shp is not None and len(shp) == 3 else 1
        groups = lay.groups()
    try:
        if scheme in ("affine", "pow2") and model.has(name, "weight_codes"):
            codes = np.asarray(model.get(name, "weight_codes")).astype(np.int64)
            if model.has(name, "weight_zero_point"):
                zp = np.asarray(model.get(name, "weight_zero_point")).astype(np.int64)
                codes = codes - (zp.reshape((-1,) + (1,) * (codes.ndim - 1)) if zp.ndim == 1 and zp.size > 1 else zp.reshape(-1)[0])
            codes = codes.reshape(codes.shape[0], -1)
            frac = None
            if scheme == "pow2" and model.has(name, "weight_shift"):
                sh = np.asarray(model.get(name, "weight_shift")).reshape(-1)
                frac = int(sh[0]) if np.all(sh == sh[0]) else None
            return SimLayer(name, lay.op, codes, codes, frac, int(wq.bits), f"weight_codes ({wq.bits}-bit {scheme})",
                            positions, lay.activation, groups)
        if scheme == "fp16":
            raise LayerError(name, "fp16 layer: no shared integer values (quantize it to intN or k-means)")
        if scheme in ("affine", "pow2"):
            raise LayerError(name, f"{scheme} layer without 'weight_codes'")
        w = _kmeans_weight(model, name).reshape(lay_shape0(model, lay), -1)
    except KeyError as e:
        raise LayerError(name, f"missing tensor ({e.args[0] if e.args else e})") from None
    if not np.all(np.isfinite(w)):
        raise LayerError(name, "weights contain NaN or inf")
    w = w + 0.0
    if scheme is None:
        ids_u = max((len(np.unique(r[r != 0])) for r in w), default=0)
        if ids_u > MAX_FLOAT_DISTINCT:
            raise LayerError(name, f"float weights are not quantized ({ids_u} distinct values in a neuron; "
                                   "quantize the model first, e.g. qtrain, or select other layers)")
    codes, f = fixed_point_codes(w)
    src = "k-means centroids" if scheme == "kmeans" else "float weights"
    if codes is None:
        codes, f = _rounded_codes(w)
        src += f" (rounded to {f} fractional bits for the functional model)"
    return SimLayer(name, lay.op, w, codes, f, signed_bits(codes) if codes is not None else 8, src,
                    positions, lay.activation, groups)


def lay_shape0(model, lay) -> int:
    a = lay.attrs
    return int(a["out_features"] if lay.op == "linear" else a["out_channels"])


def sim_layers(model, names: Sequence[str] | None = None) -> list[SimLayer]:
    """Simulator layers of a model's compute layers (all, or those named)."""
    comp = model.compute_layers()
    if names is not None:
        keep = set(names)
        comp = [lay for lay in comp if lay.name in keep]
    return [sim_layer(model, lay) for lay in comp]


# ---- selection -------------------------------------------------------------------

def parse_index_list(spec: str, n: int, what: str = "neuron") -> np.ndarray:
    """``"*"``, ``"3"``, ``"0-7,12"`` or ``"0..7"`` -> sorted unique indices below ``n``."""
    spec = spec.strip()
    if spec in ("*", "", "all"):
        return np.arange(n)
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)\s*(?:-|\.\.)\s*(\d+)", part)
        try:
            if m:
                a, b = int(m.group(1)), int(m.group(2))
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"bad {what} list {spec!r} (use e.g. 0-7,12 or *)") from None
    arr = np.unique(np.asarray(out, dtype=np.int64))
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{what} {int(arr.max())} is out of range (0..{n - 1})")
    return arr


def select(names: Sequence[str], specs: Sequence[str]) -> list[tuple[str, str]]:
    """Resolve ``NAME[:NEURONS]`` specs (NAME may be a glob) to ``(layer, neuron_spec)`` in model order."""
    if not specs:
        return [(n, "*") for n in names]
    chosen: dict[str, str] = {}
    for spec in specs:
        pat, _, neurons = spec.partition(":")
        pat = pat.strip()
        hits = [n for n in names if n == pat] or [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise ValueError(f"no compute layer matches {pat!r} (layers: {', '.join(names)})")
        for h in hits:
            chosen[h] = neurons or "*"
    return [(n, chosen[n]) for n in names if n in chosen]


# ---- activations per layer -----------------------------------------------------------

@dataclass
class LayerActs:
    """Input activations of one layer, zero point removed (0 = zero activation).

    ``parts`` lists ``(neuron_slice, samples)`` with ``samples`` ``(B', N)`` int64;
    one part for linear and ungrouped conv (samples = batch x output positions),
    one per group for grouped conv.
    """

    parts: list
    note: str = ""


def _zero_point(model, name: str) -> int:
    lay = model.layer(name)
    while True:
        if lay.op == "input":
            q = model.input_quant
            return int(q.zero_point) if q is not None else 0
        if lay.quant is not None and lay.quant.output is not None:
            return int(lay.quant.output.zero_point)
        if not lay.inputs:
            return 0
        lay = model.layer(lay.inputs[0])


def _windows(x: np.ndarray, lay, max_windows: int, seed: int = 0) -> list:
    """Per conv group, the flattened input windows (samples x I/g*kh*kw), at most ``max_windows``."""
    from numpy.lib.stride_tricks import sliding_window_view

    (kh, kw), (sh, sw), (ph, pw) = lay.kernel(), lay.stride(), lay.padding()
    g = lay.groups()
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    v = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]      # (B, C, Ho, Wo, kh, kw)
    B, Cin, Ho, Wo = v.shape[:4]
    total = B * Ho * Wo
    pick = None
    if total > max_windows:
        pick = np.random.default_rng(seed).choice(total, max_windows, replace=False)
        pick.sort()
    cpg = Cin // g
    O = int(lay.attrs["out_channels"])
    opg = O // g
    parts = []
    for gi in range(g):
        vv = v[:, gi * cpg:(gi + 1) * cpg]                                   # (B, cpg, Ho, Wo, kh, kw)
        flat = vv.transpose(0, 2, 3, 1, 4, 5).reshape(total, cpg * kh * kw)
        if pick is not None:
            flat = flat[pick]
        parts.append((slice(gi * opg, (gi + 1) * opg), np.ascontiguousarray(flat, dtype=np.int64)))
    return parts


def _chain_linear(model, layers: list[SimLayer]) -> bool:
    """True when the graph is input -> (flatten|relu)* -> linear -> ... (the original's MLP shape)."""
    ok_ops = {"input", "flatten", "relu", "relu6", "linear", "softmax"}
    prev = None
    for lay in model.layers:
        if lay.op not in ok_ops:
            return False
        if prev is not None and lay.inputs != [prev]:
            return False
        prev = lay.name
    return True


def layer_inputs(model, layers: list[SimLayer], x: np.ndarray, is_codes: bool,
                 max_windows: int = 4096, act_bits: int = TOTAL_BITS, act_frac: int = FRAC_BITS) -> dict:
    """Integer input activations of every given layer for the batch ``x`` (network input).

    * With input/output activation quantization in the model (integer models from
      qtrain), the codes come from ``qformat.run(mode="int")`` and the zero points
      are removed.
    * Otherwise (the original's k-means MLP), the network input is quantized as the
      original (``act_bits`` words, ``act_frac`` fractional bits, half to even,
      clamp) and propagated through the linear chain with fixed-point weights:
      ``acc`` -> activation -> back to the same format (half to even, clamp). The
      original never propagated activations; this is our choice, documented.
    Returns ``name -> LayerActs``.
    """
    import qformat as qf

    want = {sl.name for sl in layers}
    out: dict = {}
    if model.input_quant is not None:
        outs = qf.run(model, x, mode="int", raw=True, return_all=True)
        for lay in model.compute_layers():
            if lay.name not in want:
                continue
            src = lay.inputs[0]
            xin = (outs[src] if src in outs else qf.quantize_input(model, x)).astype(np.int64) - _zero_point(model, src)
            if lay.op == "linear":
                out[lay.name] = LayerActs([(slice(None), xin.reshape(xin.shape[0], -1))], "qformat int run")
            else:
                out[lay.name] = LayerActs(_windows(xin, lay, max_windows), "qformat int run, conv windows")
        return out
    if not _chain_linear(model, layers):
        raise ValueError("activations need either activation quantization in the model (qformat int mode) "
                         "or a plain linear chain like the original MLP")
    h = (np.asarray(x).astype(np.int64) if is_codes else quantize_acts(x, act_bits, act_frac)).reshape(len(x), -1)
    fx = act_frac
    by_name = {sl.name: sl for sl in layers}
    for lay in model.compute_layers():
        sl = by_name.get(lay.name) or sim_layer(model, lay)
        if sl.name in want:
            out[sl.name] = LayerActs([(slice(None), h)], f"q{act_bits}f{act_frac} chain")
        if sl.codes is None or sl.code_frac is None:
            raise LayerError(sl.name, "weights have no exact fixed-point form, cannot propagate activations")
        acc = h @ sl.codes.T
        if model.has(lay.name, "bias"):
            b = np.asarray(model.get(lay.name, "bias"), dtype=np.float64)
            acc = acc + np.rint(b * 2.0 ** (fx + sl.code_frac)).astype(np.int64)
        if lay.activation in ("relu", "relu6") or any(c.op in ("relu", "relu6") for c in model.consumers(lay.name)):
            acc = np.maximum(acc, 0)
        shift = fx + sl.code_frac - act_frac
        y = np.rint(acc / float(2 ** shift)) if shift >= 0 else acc * (1 << -shift)
        lo, hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
        h = np.clip(y, lo, hi).astype(np.int64)
        fx = act_frac
    return out


def acts_from_matrix_chain(layers: list[SimLayer], x_codes: np.ndarray, act_bits: int = TOTAL_BITS,
                           act_frac: int = FRAC_BITS) -> dict:
    """:func:`layer_inputs` for :func:`from_matrices` layers (no model): ``name -> (B, N)`` codes."""
    h = np.asarray(x_codes, dtype=np.int64).reshape(len(x_codes), -1)
    out = {}
    for sl in layers:
        out[sl.name] = h
        if sl.codes is None or sl.code_frac is None:
            raise LayerError(sl.name, "weights have no exact fixed-point form, cannot propagate activations")
        acc = h @ sl.codes.T
        if sl.activation in ("relu", "relu6"):
            acc = np.maximum(acc, 0)
        y = np.rint(acc / float(2 ** sl.code_frac))
        h = np.clip(y, -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1).astype(np.int64)
    return out

