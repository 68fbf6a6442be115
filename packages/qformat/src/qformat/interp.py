"""The reference interpreter: what a model artifact computes, in plain numpy.

Slow and obvious on purpose; every tool is tested against it. Three modes:

* ``float``: float weights and biases, float arithmetic;
* ``fake``: dequantized weight codes, activations rounded to their grids,
  float arithmetic (what fake-quant training simulates);
* ``int``: integer-only inference with spec v1's rules (SPEC.md §Integer
  semantics): int codes, int32 accumulation, requantization by integer
  multiplier and rounding right shift, saturation.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import QFormatError
from .ir import Layer
from .model import Model
from .requant import requantize, rshift_round
from .spec import ActQuant

MODES = ("float", "fake", "int")
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


# ---- primitive ops -----------------------------------------------------------

def _windows(x: np.ndarray, k: tuple[int, int], s: tuple[int, int], p: tuple[int, int], pad_value=0) -> np.ndarray:
    """(N, C, Ho, Wo, kh, kw) views of the padded input."""
    if p[0] or p[1]:
        x = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=pad_value)
    w = sliding_window_view(x, k, axis=(2, 3))
    return w[:, :, :: s[0], :: s[1]]


def _exact_dot_dtype(x: np.ndarray, w: np.ndarray, k: int):
    """float64 gives exact integer sums when every partial sum stays below 2**52."""
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * k
    return np.float64 if bound < 2.0 ** 52 else np.int64


def conv2d(x: np.ndarray, w: np.ndarray, stride, padding, groups: int, integer: bool = False) -> np.ndarray:
    """Grouped 2-D convolution (cross-correlation, like torch). x (N,C,H,W), w (O,C/g,kh,kw)."""
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    win = _windows(x, (kh, kw), stride, padding)  # N, C, Ho, Wo, kh, kw
    ho, wo = win.shape[2], win.shape[3]
    win = win.reshape(n, groups, cg, ho, wo, kh, kw)
    wg = w.reshape(groups, o // groups, cg, kh, kw)
    if integer:
        dt = _exact_dot_dtype(x, w, cg * kh * kw)
        out = np.einsum("ngchwij,gocij->ngohw", win.astype(dt), wg.astype(dt), optimize=True)
        return np.rint(out).astype(np.int64).reshape(n, o, ho, wo) if dt == np.float64 else out.reshape(n, o, ho, wo)
    out = np.einsum("ngchwij,gocij->ngohw", win, wg, optimize=True)
    return out.reshape(n, o, ho, wo)


def linear(x: np.ndarray, w: np.ndarray, integer: bool = False) -> np.ndarray:
    if integer:
        dt = _exact_dot_dtype(x, w, w.shape[1])
        out = x.astype(dt) @ w.astype(dt).T
        return np.rint(out).astype(np.int64) if dt == np.float64 else out
    return x @ w.T


def _pool_sum(x: np.ndarray, lay: Layer) -> tuple[np.ndarray, int]:
    kh, kw = lay.kernel()
    win = _windows(x, (kh, kw), lay.stride(), lay.padding(), 0)
    return win.sum(axis=(-1, -2)), kh * kw


def maxpool(x: np.ndarray, lay: Layer, pad_value) -> np.ndarray:
    win = _windows(x, lay.kernel(), lay.stride(), lay.padding(), pad_value)
    return win.max(axis=(-1, -2))


def div_round_half_up(num: np.ndarray, den: int) -> np.ndarray:
    """floor(num / den + 1/2) for integers (round half up), the pooling rounding rule."""
    return np.floor_divide(2 * np.asarray(num, dtype=np.int64) + den, 2 * den)


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def quantize(x: np.ndarray, q: ActQuant) -> np.ndarray:
    """Real values to codes: round half to even, add the zero point, saturate."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) / q.scale) + q.zero_point, q.qmin, q.qmax).astype(np.int64)


def dequantize(codes: np.ndarray, q: ActQuant) -> np.ndarray:
    return (np.asarray(codes, dtype=np.float64) - q.zero_point) * q.scale


def _act_bounds(q: ActQuant, activation: str) -> tuple[int, int]:
    lo, hi = q.qmin, q.qmax
    if activation in ("relu", "relu6"):
        lo = max(lo, q.zero_point)
    if activation == "relu6":
        hi = min(hi, q.zero_point + int(round(6.0 / q.scale)))
    return lo, hi


def _float_act(y: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "relu6":
        return np.clip(y, 0, 6)
    return y


def _bshape(v: np.ndarray, ndim: int) -> np.ndarray:
    """Broadcast a per-output-channel vector over (N, O[, H, W])."""
    v = np.asarray(v)
    return v.reshape((1, -1) + (1,) * (ndim - 2)) if v.ndim == 1 and v.size > 1 else v.reshape(-1)[0] if v.size == 1 else v


# ---- the interpreter -----------------------------------------------------------

def quantize_input(model: Model, x: np.ndarray) -> np.ndarray:
    """Codes of the network input under the model's input quantization."""
    q = model.input_quant
    if q is None:
        raise QFormatError("model", f"layer {model.input_layer.name!r}", "no input quantization (quant.output of the input layer)")
    return quantize(x, q)


def _dequant_weight(model: Model, lay: Layer) -> np.ndarray:
    codes = model.get(lay.name, "weight_codes").astype(np.float64)
    scale = model.get(lay.name, "weight_scale").astype(np.float64)
    zp = model.get(lay.name, "weight_zero_point").astype(np.float64) if model.has(lay.name, "weight_zero_point") else 0.0
    shape = (-1,) + (1,) * (codes.ndim - 1)
    scale = scale.reshape(shape) if np.ndim(scale) == 1 else scale
    zp = zp.reshape(shape) if np.ndim(zp) == 1 else zp
    return (codes - zp) * scale


def _compute_float(model: Model, lay: Layer, x: np.ndarray, mode: str) -> np.ndarray:
    q = lay.quant
    wq = q.weight if q is not None else None
    if mode == "fake" and wq is not None and wq.scheme != "kmeans":
        if wq.scheme == "fp16":
            w = model.get(lay.name, "weight").astype(np.float16).astype(np.float64)
        elif model.has(lay.name, "weight_codes"):
            w = _dequant_weight(model, lay)
        else:
            raise QFormatError("model", f"layer {lay.name!r}", "quantized layer has no weight_codes")
    else:
        w = model.get(lay.name, "weight").astype(np.float64)
    b = model.get_or_none(lay.name, "bias")
    if mode == "fake" and q is not None and q.input is not None and model.has(lay.name, "bias_codes") and wq is not None and wq.scheme != "fp16":
        s_w = model.get(lay.name, "weight_scale").astype(np.float64)
        b = model.get(lay.name, "bias_codes").astype(np.float64) * q.input.scale * s_w
    if mode == "fake" and wq is not None and wq.scheme == "fp16" and b is not None:
        b = b.astype(np.float16)
    if lay.op == "linear":
        y = linear(x, w)
    else:
        y = conv2d(x, w, lay.stride(), lay.padding(), lay.groups())
    if b is not None:
        y = y + _bshape(b.astype(np.float64), y.ndim)
    y = _float_act(y, lay.activation)
    if mode == "fake" and wq is not None and wq.scheme == "fp16":
        y = y.astype(np.float16).astype(np.float64)
    if mode == "fake" and q is not None and q.output is not None:
        y = dequantize(quantize(y, q.output), q.output)
    return y


def _need(model: Model, lay: Layer, tensor: str) -> np.ndarray:
    if not model.has(lay.name, tensor):
        raise QFormatError("model", f"layer {lay.name!r}", f"integer mode needs the tensor {tensor!r}")
    return model.get(lay.name, tensor)


def _same_quant(a: ActQuant, b: ActQuant) -> bool:
    return a.zero_point == b.zero_point and abs(a.scale - b.scale) <= 1e-6 * max(a.scale, b.scale)


def _compute_int(model: Model, lay: Layer, x: np.ndarray, qin: ActQuant) -> tuple[np.ndarray, ActQuant]:
    q = lay.quant
    if q is None or q.output is None or q.weight is None:
        raise QFormatError("model", f"layer {lay.name!r}", "integer mode needs weight and output quantization")
    if q.weight.scheme == "fp16":
        raise QFormatError("model", f"layer {lay.name!r}", "fp16 layers have no integer form")
    if q.input is not None and not _same_quant(q.input, qin):
        raise QFormatError("model", f"layer {lay.name!r}", f"input quantization {q.input} differs from what its producer emits {qin}")
    w = _need(model, lay, "weight_codes").astype(np.int64)
    if model.has(lay.name, "weight_zero_point"):
        zpw = model.get(lay.name, "weight_zero_point").astype(np.int64)
        w = w - (zpw.reshape((-1,) + (1,) * (w.ndim - 1)) if zpw.ndim == 1 else zpw)
    xs = x - qin.zero_point
    if lay.op == "linear":
        acc = linear(xs, w, integer=True)
    else:
        acc = conv2d(xs, w, lay.stride(), lay.padding(), lay.groups(), integer=True)
    if model.has(lay.name, "bias_codes"):
        acc = acc + _bshape(model.get(lay.name, "bias_codes").astype(np.int64), acc.ndim)
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise QFormatError("model", f"layer {lay.name!r}", "int32 accumulator overflow")
    m = _bshape(_need(model, lay, "requant_multiplier").astype(np.int64), acc.ndim)
    s = _bshape(_need(model, lay, "requant_shift").astype(np.int64), acc.ndim)
    y = requantize(acc, m, s) + q.output.zero_point
    lo, hi = _act_bounds(q.output, lay.activation)
    return np.clip(y, lo, hi), q.output


def run(model: Model, x: np.ndarray, mode: str = "float", raw: bool = False, return_all: bool = False):
    """Run ``model`` on a batch ``x`` of shape ``(N, *input_shape)``.

    ``mode`` is ``float``, ``fake`` or ``int``. In ``int`` mode ``x`` may be
    floats (quantized with the input quantization) or integer codes; the output
    is dequantized unless ``raw`` is true (then int64 codes). ``return_all``
    returns a dict of every layer's output. Softmax is skipped in ``int`` mode
    with ``raw`` (it does not change the argmax); otherwise applied in float.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    x = np.asarray(x)
    if x.shape[1:] != tuple(model.input_shape):
        raise QFormatError("input", "", f"batch shape {x.shape} does not match the model input {tuple(model.input_shape)} (with a leading batch axis)")
    vals: dict[str, np.ndarray] = {}
    quants: dict[str, Optional[ActQuant]] = {}
    for lay in model.layers:
        ins = [vals[i] for i in lay.inputs]
        op = lay.op
        if op == "input":
            if mode == "int":
                qin = model.input_quant
                if qin is None:
                    raise QFormatError("model", f"layer {lay.name!r}", "integer mode needs the input quantization")
                y = x.astype(np.int64) if np.issubdtype(x.dtype, np.integer) else quantize(x, qin)
                quants[lay.name] = qin
            else:
                y = x.astype(np.float64)
                if mode == "fake" and model.input_quant is not None:
                    y = dequantize(quantize(y, model.input_quant), model.input_quant)
        elif op in ("linear", "conv2d"):
            if mode == "int":
                y, quants[lay.name] = _compute_int(model, lay, ins[0], quants[lay.inputs[0]])
            else:
                y = _compute_float(model, lay, ins[0], mode)
        elif op in ("relu", "relu6"):
            if mode == "int":
                qi = quants[lay.inputs[0]]
                lo, hi = _act_bounds(qi, op)
                y, quants[lay.name] = np.clip(ins[0], lo, hi), qi
            else:
                y = _float_act(ins[0], op)
        elif op == "maxpool2d":
            if mode == "int":
                qi = quants[lay.inputs[0]]
                y, quants[lay.name] = maxpool(ins[0], lay, qi.qmin), qi
            else:
                y = maxpool(ins[0], lay, -np.inf)
        elif op in ("avgpool2d", "global_avgpool"):
            if op == "global_avgpool":
                pool = Layer(lay.name, "avgpool2d", attrs={"kernel_size": list(ins[0].shape[2:]), "stride": 1})
            else:
                pool = lay
            if mode == "int":
                y, quants[lay.name] = _int_avgpool(model, lay, pool, ins[0], quants[lay.inputs[0]])
            else:
                ssum, n = _pool_sum(ins[0], pool)
                y = ssum / n
                if mode == "fake" and lay.quant is not None and lay.quant.output is not None:
                    y = dequantize(quantize(y, lay.quant.output), lay.quant.output)
        elif op == "flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
            if mode == "int":
                quants[lay.name] = quants[lay.inputs[0]]
        elif op == "add":
            if mode == "int":
                y, quants[lay.name] = _int_add(model, lay, ins, [quants[i] for i in lay.inputs])
            else:
                y = _float_act(ins[0] + ins[1], lay.activation)
                if mode == "fake" and lay.quant is not None and lay.quant.output is not None:
                    y = dequantize(quantize(y, lay.quant.output), lay.quant.output)
        elif op == "concat":
            if mode == "int":
                qs = [quants[i] for i in lay.inputs]
                if not all(_same_quant(qs[0], qq) for qq in qs[1:]):
                    raise QFormatError("model", f"layer {lay.name!r}", "integer concat needs inputs of one scale and zero point")
                quants[lay.name] = qs[0]
            y = np.concatenate(ins, axis=1)
        elif op == "softmax":
            if mode == "int":
                y, quants[lay.name] = ins[0], quants[lay.inputs[0]]
            else:
                y = softmax(ins[0])
        else:  # pragma: no cover
            raise QFormatError("model", f"layer {lay.name!r}", f"op {op!r} is not supported")
        vals[lay.name] = y
    if return_all:
        if mode == "int" and not raw:
            return {k: dequantize(v, quants[k]) if quants.get(k) else v for k, v in vals.items()}
        return vals
    out = vals[model.layers[-1].name]
    if mode == "int" and not raw:
        last = model.layers[-1]
        real = dequantize(out, quants[last.name])
        return softmax(real) if last.op == "softmax" else real
    return out


def _int_avgpool(model: Model, lay: Layer, pool: Layer, x: np.ndarray, qin: ActQuant):
    ssum, n = _pool_sum(x - qin.zero_point, pool)
    qout = lay.quant.output if lay.quant is not None and lay.quant.output is not None else qin
    if model.has(lay.name, "requant_multiplier"):
        m = model.get(lay.name, "requant_multiplier").astype(np.int64).reshape(-1)[0]
        s = model.get(lay.name, "requant_shift").astype(np.int64).reshape(-1)[0]
        y = requantize(ssum, m, s)
    elif _same_quant(qin, qout):
        y = div_round_half_up(ssum, n)
    else:
        raise QFormatError("model", f"layer {lay.name!r}", "integer average pooling that changes scale needs requant_multiplier/requant_shift")
    return np.clip(y + qout.zero_point, qout.qmin, qout.qmax), qout


def _int_add(model: Model, lay: Layer, ins, qs):
    qout = lay.quant.output if lay.quant is not None and lay.quant.output is not None else qs[0]
    if model.has(lay.name, "requant_multiplier"):
        m = model.get(lay.name, "requant_multiplier").astype(np.int64).reshape(-1)
        s = model.get(lay.name, "requant_shift").astype(np.int64).reshape(-1)
        if m.size != 2 or s.size != 2:
            raise QFormatError("model", f"layer {lay.name!r}", "add needs one multiplier and shift per input (shape (2,))")
        y = rshift_round((ins[0] - qs[0].zero_point) * m[0], s[0]) + rshift_round((ins[1] - qs[1].zero_point) * m[1], s[1])
    elif _same_quant(qs[0], qout) and _same_quant(qs[1], qout):
        y = (ins[0] - qs[0].zero_point) + (ins[1] - qs[1].zero_point)
    else:
        raise QFormatError("model", f"layer {lay.name!r}", "integer add of different scales needs requant_multiplier/requant_shift")
    lo, hi = _act_bounds(qout, lay.activation)
    return np.clip(y + qout.zero_point, lo, hi), qout
