"""The integer network IR the code generator works from, built from a qformat model.

Every activation is an int8/uint8 tensor (C, H, W) (vectors are (F, 1, 1)).
Every op carries exactly what the generated C needs - weights with the weight
zero point already subtracted, the bias with the input zero point folded in,
requantization multiplier/shift, output clamp bounds - and :func:`run_ir`
executes the IR in numpy with the same folded arithmetic the C code uses
(padding with the input zero point, raw codes times weights plus the folded
bias), so the tests can check the folding against ``qformat.run`` before any
C is compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import IbexgenError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass
class TensorInfo:
    """An int8/uint8 activation tensor (C, H, W)."""

    name: str
    C: int
    H: int
    W: int
    signed: bool
    zp: int
    qmin: int
    qmax: int
    vector: bool = False   # qformat shape (F,)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.C,) if self.vector else (self.C, self.H, self.W)


@dataclass
class Op:
    """One generated kernel."""

    name: str
    kind: str                     # linear | conv | dwconv | maxpool | avgpool | add | clamp | concat
    inputs: list[str]
    output: str
    w: Optional[np.ndarray] = None        # linear (O, I) logical; conv/dwconv (O, I/g, kh, kw); int64, zp_w removed
    bias: Optional[np.ndarray] = None     # (O,) int64, input zero point folded in
    mult: Optional[np.ndarray] = None     # (O,) or (2,) for add, (1,) for avgpool
    shift: Optional[np.ndarray] = None
    lo: int = 0
    hi: int = 0
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    bits: int = 8                          # declared weight bits (a hint; targets pick the narrowest that fits)
    flat_from: Optional[tuple[int, int, int]] = None   # linear after flatten: the (C, H, W) it flattens
    macs: int = 0

    @property
    def is_compute(self) -> bool:
        return self.kind in ("linear", "conv", "dwconv")

    def weight_range(self) -> tuple[int, int]:
        return (int(self.w.min()), int(self.w.max())) if self.w is not None and self.w.size else (0, 0)


@dataclass
class NetIR:
    tensors: dict[str, TensorInfo]
    ops: list[Op]
    input: str
    output: str
    provenance: dict = field(default_factory=dict)

    def tensor(self, name: str) -> TensorInfo:
        return self.tensors[name]

    def consumers(self, tname: str) -> list[Op]:
        return [op for op in self.ops if tname in op.inputs]

    def total_macs(self) -> int:
        return sum(op.macs for op in self.ops)


def narrowest_width(lo: int, hi: int, widths=(2, 4, 8)) -> Optional[int]:
    """Smallest signed field width (2, 4 or 8) holding every value in [lo, hi]."""
    for b in widths:
        if -(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1:
            return b
    return None


# ---- from qformat ------------------------------------------------------------

def _act(name: str, q, shape, where: str) -> TensorInfo:
    if q is None:
        raise IbexgenError(where, "needs activation quantization (quant.output) for integer code generation")
    if q.bits > 8:
        raise IbexgenError(where, f"{q.bits}-bit activations: the targets keep activations in bytes (8 bits at most)")
    vec = len(shape) == 1
    c, h, w = (shape[0], 1, 1) if vec else shape
    return TensorInfo(name, int(c), int(h), int(w), bool(q.signed), int(q.zero_point), int(q.qmin), int(q.qmax), vec)


def _bounds(q, activation: str) -> tuple[int, int]:
    lo, hi = q.qmin, q.qmax
    if activation in ("relu", "relu6"):
        lo = max(lo, q.zero_point)
    if activation == "relu6":
        hi = min(hi, q.zero_point + int(round(6.0 / q.scale)))
    return int(lo), int(hi)


def from_qformat(model, name: str = "model") -> NetIR:
    """Translate a quantized ``qformat.Model`` into the IR; one clear error for what is unsupported."""
    model.validate(name, deep=False)
    tensors: dict[str, TensorInfo] = {}
    quants: dict[str, object] = {}
    alias: dict[str, str] = {}      # qformat layer -> tensor holding its value
    ops: list[Op] = []
    inp = None

    def src(layer_name: str) -> str:
        return alias.get(layer_name, layer_name)

    for lay in model.layers:
        where = f"{name}: layer {lay.name!r}"
        op = lay.op
        shape = tuple(lay.out_shape)
        if op == "input":
            q = model.input_quant
            tensors[lay.name] = _act(lay.name, q, shape, where)
            quants[lay.name] = q
            inp = lay.name
            continue
        ins = [src(i) for i in lay.inputs]
        qin = quants[ins[0]] if ins else None
        if op in ("flatten", "softmax"):
            alias[lay.name] = ins[0]   # flatten is free: linear layers read (C, H, W) maps in CHW order
            continue
        if op in ("linear", "conv2d"):
            q = lay.quant
            if q is None or q.weight is None or q.output is None:
                raise IbexgenError(where, "is not quantized (needs weight and output quantization)")
            if q.weight.scheme == "fp16":
                raise IbexgenError(where, "fp16 weights have no integer form")
            if not model.has(lay.name, "weight_codes"):
                raise IbexgenError(where, "has no weight_codes")
            for t in ("requant_multiplier", "requant_shift"):
                if not model.has(lay.name, t):
                    raise IbexgenError(where, f"has no {t} (integer-only inference needs it)")
            w = model.get(lay.name, "weight_codes").astype(np.int64)
            if model.has(lay.name, "weight_zero_point"):
                zpw = model.get(lay.name, "weight_zero_point").astype(np.int64)
                w = w - (zpw.reshape((-1,) + (1,) * (w.ndim - 1)) if zpw.ndim == 1 and zpw.size > 1 else zpw.reshape(-1)[0])
            lo_w, hi_w = int(w.min()), int(w.max())
            if lo_w < -128 or hi_w > 127:
                raise IbexgenError(where, f"weights span [{lo_w}, {hi_w}] after the zero point: more than 8 bits")
            o = w.shape[0]
            bias = model.get(lay.name, "bias_codes").astype(np.int64) if model.has(lay.name, "bias_codes") \
                else np.zeros(o, np.int64)
            mult = model.get(lay.name, "requant_multiplier").astype(np.int64).reshape(-1)
            shift = model.get(lay.name, "requant_shift").astype(np.int64).reshape(-1)
            if mult.size == 1:
                mult = np.full(o, mult[0])
            if shift.size == 1:
                shift = np.full(o, shift[0])
            if np.any(mult < 0) or np.any(mult > INT32_MAX) or np.any(shift < 0) or np.any(shift > 62):
                raise IbexgenError(where, "requant multiplier must be in [0, 2^31) and shift in [0, 62]")
            xin = tensors[ins[0]]
            zp_in = xin.zp
            if q.input is not None and (q.input.zero_point != zp_in or bool(q.input.signed) != xin.signed):
                raise IbexgenError(where, f"input quantization {q.input} differs from what its producer emits")
            out = _act(lay.name, q.output, shape, where)
            lo, hi = _bounds(q.output, lay.activation)
            if op == "linear":
                kind = "linear"
                fold = w.sum(axis=1)
                macs = int(w.shape[0] * w.shape[1])
                ff = None if xin.vector else (xin.C, xin.H, xin.W)
                irop = Op(lay.name, kind, [ins[0]], lay.name, w=w, bias=bias - zp_in * fold, mult=mult, shift=shift,
                          lo=lo, hi=hi, bits=int(q.weight.bits), flat_from=ff, macs=macs)
            else:
                g = lay.groups()
                cin = int(lay.attrs["in_channels"])
                if g == 1:
                    kind = "conv"
                elif g == cin and g == o:
                    kind = "dwconv"
                else:
                    raise IbexgenError(where, f"grouped convolution (groups={g}) is not supported; only 1 or depthwise")
                if xin.vector:
                    raise IbexgenError(where, "conv2d needs a (C, H, W) input")
                fold = w.reshape(o, -1).sum(axis=1)
                macs = int(np.prod(w.shape) * shape[1] * shape[2])
                irop = Op(lay.name, kind, [ins[0]], lay.name, w=w, bias=bias - zp_in * fold, mult=mult, shift=shift,
                          lo=lo, hi=hi, kernel=lay.kernel(), stride=lay.stride(), pad=lay.padding(),
                          bits=int(q.weight.bits), macs=macs)
            ops.append(irop)
            tensors[lay.name] = out
            quants[lay.name] = q.output
            continue
        if op in ("relu", "relu6"):
            t = tensors[ins[0]]
            lo, hi = _bounds(qin, op)
            ops.append(Op(lay.name, "clamp", ins, lay.name, lo=lo, hi=hi))
            tensors[lay.name] = TensorInfo(lay.name, t.C, t.H, t.W, t.signed, t.zp, t.qmin, t.qmax, t.vector)
            quants[lay.name] = qin
            continue
        if op in ("maxpool2d", "avgpool2d", "global_avgpool"):
            t = tensors[ins[0]]
            if t.vector:
                raise IbexgenError(where, "pooling needs a (C, H, W) input")
            if op == "global_avgpool":
                k, s, p = (t.H, t.W), (1, 1), (0, 0)
            else:
                k, s, p = lay.kernel(), lay.stride(), lay.padding()
            if op == "maxpool2d":
                ops.append(Op(lay.name, "maxpool", ins, lay.name, kernel=k, stride=s, pad=p))
                tensors[lay.name] = TensorInfo(lay.name, *shape, t.signed, t.zp, t.qmin, t.qmax)
                quants[lay.name] = qin
                continue
            qout = lay.quant.output if lay.quant is not None and lay.quant.output is not None else qin
            m = s_ = None
            if model.has(lay.name, "requant_multiplier"):
                m = model.get(lay.name, "requant_multiplier").astype(np.int64).reshape(-1)[:1]
                s_ = model.get(lay.name, "requant_shift").astype(np.int64).reshape(-1)[:1]
            elif not (qout.zero_point == qin.zero_point and abs(qout.scale - qin.scale) <= 1e-6 * max(qout.scale, qin.scale)):
                raise IbexgenError(where, "average pooling that changes scale needs requant_multiplier/requant_shift")
            out = _act(lay.name, qout, shape if op != "global_avgpool" else (t.C, 1, 1), where)
            ops.append(Op(lay.name, "avgpool", ins, lay.name, mult=m, shift=s_, kernel=k, stride=s, pad=p,
                          lo=out.qmin, hi=out.qmax))
            tensors[lay.name] = out
            quants[lay.name] = qout
            continue
        if op == "add":
            qs = [quants[i] for i in ins]
            qout = lay.quant.output if lay.quant is not None and lay.quant.output is not None else qs[0]
            m = s_ = None
            if model.has(lay.name, "requant_multiplier"):
                m = model.get(lay.name, "requant_multiplier").astype(np.int64).reshape(-1)
                s_ = model.get(lay.name, "requant_shift").astype(np.int64).reshape(-1)
                if m.size != 2 or s_.size != 2:
                    raise IbexgenError(where, "add needs one multiplier and shift per input (shape (2,))")
            else:
                for qq in qs:
                    if not (qq.zero_point == qout.zero_point and abs(qq.scale - qout.scale) <= 1e-6 * max(qq.scale, qout.scale)):
                        raise IbexgenError(where, "integer add of different scales needs requant_multiplier/requant_shift")
            lo, hi = _bounds(qout, lay.activation)
            out = _act(lay.name, qout, shape, where)
            ops.append(Op(lay.name, "add", ins, lay.name, mult=m, shift=s_, lo=lo, hi=hi))
            tensors[lay.name] = out
            quants[lay.name] = qout
            continue
        if op == "concat":
            ts = [tensors[i] for i in ins]
            if any(t.vector for t in ts):
                raise IbexgenError(where, "concat of vectors is not supported")
            q0 = quants[ins[0]]
            ops.append(Op(lay.name, "concat", ins, lay.name))
            t = ts[0]
            tensors[lay.name] = TensorInfo(lay.name, *shape, t.signed, t.zp, t.qmin, t.qmax)
            quants[lay.name] = q0
            continue
        raise IbexgenError(where, f"op {op!r} is not supported by ibexgen")  # pragma: no cover
    if inp is None:
        raise IbexgenError(name, "the model has no input layer")
    last = src(model.layers[-1].name)
    if last == inp:
        raise IbexgenError(name, "the model computes nothing (its output is its input)")
    ir = NetIR(tensors, ops, inp, last, dict(model.provenance or {}))
    _fuse_clamps(ir)
    return ir


def _fuse_clamps(ir: NetIR) -> None:
    """A standalone ReLU whose producer has no other consumer becomes the producer's clamp."""
    for op in list(ir.ops):
        if op.kind != "clamp":
            continue
        srcname = op.inputs[0]
        prod = next((p for p in ir.ops if p.output == srcname), None)
        if prod is None or prod.kind not in ("linear", "conv", "dwconv", "add", "avgpool") or len(ir.consumers(srcname)) != 1 \
                or srcname == ir.output:
            continue
        prod.lo, prod.hi = max(prod.lo, op.lo), min(prod.hi, op.hi)
        old = prod.output
        prod.output = op.output
        ir.ops.remove(op)
        del ir.tensors[old]
        for o in ir.ops:
            o.inputs = [op.output if i == old else i for i in o.inputs]


# ---- reference execution of the IR --------------------------------------------

def _pad(x: np.ndarray, ph: int, pw: int, value: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (ph, ph), (pw, pw)), constant_values=value) if ph or pw else x


def requant(acc, m, s):
    acc = np.asarray(acc, dtype=object) * np.asarray(m, dtype=object)
    s = np.asarray(s)
    half = np.where(s > 0, np.array([1 << int(max(v - 1, 0)) for v in s.reshape(-1)], dtype=object).reshape(s.shape), 0)
    return np.asarray((acc + half) >> s.astype(object), dtype=object)


def run_ir(ir: NetIR, x_codes: np.ndarray, return_all: bool = False):
    """Execute the IR on one input (codes, shape of the model input) with the generated code's arithmetic."""
    vals: dict[str, np.ndarray] = {}
    t0 = ir.tensors[ir.input]
    vals[ir.input] = np.asarray(x_codes, dtype=np.int64).reshape(t0.C, t0.H, t0.W)
    for op in ir.ops:
        xs = [vals[i] for i in op.inputs]
        tin = ir.tensors[op.inputs[0]]
        tout = ir.tensors[op.output]
        if op.kind == "linear":
            v = xs[0].reshape(-1)  # CHW order = qformat flatten order
            acc = op.w @ v + op.bias
            y = requant(acc, op.mult, op.shift).astype(np.int64) + tout.zp
            vals[op.output] = np.clip(y, op.lo, op.hi).reshape(tout.C, 1, 1)
        elif op.kind in ("conv", "dwconv"):
            (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.pad
            xp = _pad(xs[0], ph, pw, tin.zp)
            o = op.w.shape[0]
            ho, wo = tout.H, tout.W
            acc = np.zeros((o, ho, wo), dtype=np.int64)
            for ky in range(kh):
                for kx in range(kw):
                    patch = xp[:, ky:ky + sh * ho:sh, kx:kx + sw * wo:sw]  # (C, ho, wo)
                    if op.kind == "conv":
                        acc += np.einsum("oc,chw->ohw", op.w[:, :, ky, kx], patch)
                    else:
                        acc += op.w[:, 0, ky, kx][:, None, None] * patch
            acc += op.bias[:, None, None]
            y = requant(acc, op.mult[:, None, None], op.shift[:, None, None]).astype(np.int64) + tout.zp
            vals[op.output] = np.clip(y, op.lo, op.hi)
        elif op.kind == "clamp":
            vals[op.output] = np.clip(xs[0], op.lo, op.hi)
        elif op.kind in ("maxpool", "avgpool"):
            (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.pad
            x = xs[0] if op.kind == "maxpool" else xs[0] - tin.zp
            xp = _pad(x, ph, pw, tin.qmin if op.kind == "maxpool" else 0)
            ho, wo = tout.H, tout.W
            stack = np.stack([xp[:, ky:ky + sh * ho:sh, kx:kx + sw * wo:sw] for ky in range(kh) for kx in range(kw)])
            if op.kind == "maxpool":
                vals[op.output] = stack.max(axis=0)
            else:
                ssum = stack.sum(axis=0)
                n = kh * kw
                if op.mult is not None:
                    y = requant(ssum, op.mult[0], op.shift[0]).astype(np.int64)
                else:
                    y = np.floor_divide(2 * ssum + n, 2 * n)
                vals[op.output] = np.clip(y + tout.zp, op.lo, op.hi)
        elif op.kind == "add":
            ta, tb = (ir.tensors[i] for i in op.inputs)
            a, b = xs[0] - ta.zp, xs[1] - tb.zp
            if op.mult is not None:
                y = requant(a, op.mult[0], op.shift[0]) + requant(b, op.mult[1], op.shift[1])
                y = y.astype(np.int64)
            else:
                y = a + b
            vals[op.output] = np.clip(y + tout.zp, op.lo, op.hi)
        elif op.kind == "concat":
            vals[op.output] = np.concatenate(xs, axis=0)
        else:  # pragma: no cover
            raise AssertionError(op.kind)
    if return_all:
        return vals
    out = vals[ir.output]
    t = ir.tensors[ir.output]
    return out.reshape(t.shape)
