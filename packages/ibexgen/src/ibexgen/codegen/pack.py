"""Packing weights, biases and requantization parameters for each target.

Words hold 32/width signed fields. The xmpq ISA numbers fields from the LSB
(field i at bits width*i), the compat ISA from the MSB (field i at bits
31-width*i), like the original's generator. For a group of 4 output channels
and one input word (elements 4j..4j+3):

* 8-bit: 4 words, word t holds the weights of element 4j+t for lanes 0..3;
* 4-bit: 2 words, word t holds fields (lane k, element 4j+2t) for k<4 and
  (lane k-4, element 4j+2t+1) for k>=4 - "4 neurons x 2 inputs";
* 2-bit: 1 word, field 4e+k is (lane k, element 4j+e) - "4 neurons x 4 inputs, input-major";
* depthwise: 1 word per kernel tap, field k is channel 4g+k (8-bit).

Words are stored in the order the kernels consume them: group, input word, t.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import IbexgenError
from .layout import Buf
from .netir import NetIR, Op, narrowest_width

COMPAT_SHIFT_POS = (27, 20, 13, 6)
COMPAT_MODE = {8: 0, 4: 2, 2: 3}


def pack_fields(vals: np.ndarray, width: int, msb_first: bool) -> np.ndarray:
    """Pack the last axis (32/width signed values) into uint32 words."""
    n = 32 // width
    v = np.asarray(vals, dtype=np.int64)
    assert v.shape[-1] == n
    mask = (1 << width) - 1
    out = np.zeros(v.shape[:-1], dtype=np.uint64)
    for i in range(n):
        sh = (n - 1 - i) * width if msb_first else i * width
        out |= ((v[..., i] & mask).astype(np.uint64) << np.uint64(sh))
    return out.astype(np.uint32)


def pack_matrix(wm: np.ndarray, width: int, msb_first: bool) -> np.ndarray:
    """(Op, K) weights (Op, K multiples of 4) -> (G, words per group) uint32 in consumption order."""
    op, k = wm.shape
    g, j = op // 4, k // 4
    t = wm.reshape(g, 4, j, 4)          # [group, lane, input word, element]
    if width == 8:
        f = t.transpose(0, 2, 3, 1)     # [g, j, element t, lane]
    elif width == 4:
        e = t.transpose(0, 2, 3, 1)     # [g, j, element, lane]
        f = np.concatenate([e[:, :, 0::2, :], e[:, :, 1::2, :]], axis=3)  # [g, j, t, (lanes of 2t) + (lanes of 2t+1)]
    elif width == 2:
        f = t.transpose(0, 2, 3, 1).reshape(g, j, 1, 16)   # field 4e+k
    else:
        raise ValueError(width)
    return pack_fields(f, width, msb_first).reshape(g, -1)


def words_per_input_word(width: int) -> int:
    return {8: 4, 4: 2, 2: 1}[width]


@dataclass
class Array:
    ctype: str
    name: str
    values: np.ndarray


@dataclass
class Packed:
    """Everything the C emitter needs for one compute op on one target."""

    op: Op
    width: int = 8                     # field width used (2/4/8), 8 for baseline
    arrays: list[Array] = field(default_factory=list)
    k_mem: int = 0                     # input elements per output (linear), memory order
    signed_in: bool = False
    notes: list[str] = field(default_factory=list)

    def add(self, ctype: str, name: str, values) -> None:
        self.arrays.append(Array(ctype, name, np.asarray(values)))


def linear_matrix(op: Op, inbuf: Buf) -> np.ndarray:
    """(O, K_mem) weights in the input buffer's memory order (zeros on padding and halo)."""
    o, i = op.w.shape
    _, h_, w_ = op.flat_from if op.flat_from is not None else (i, 1, 1)
    idx = np.arange(i)
    c, h, w = idx // (h_ * w_), (idx // w_) % h_, idx % w_
    m = ((h + inbuf.hh) * inbuf.wa + (w + inbuf.hw)) * inbuf.cp + c
    kmem = inbuf.ha * inbuf.wa * inbuf.cp
    wm = np.zeros((o, kmem), dtype=np.int64)
    wm[:, m] = op.w
    return wm


def conv_matrix(op: Op, inbuf: Buf) -> np.ndarray:
    """(O, KH*KW*Cp) conv weights in (ky, kx, channel) order, zero on padded channels."""
    o, c, kh, kw = op.w.shape
    wm = np.zeros((o, kh, kw, inbuf.cp), dtype=np.int64)
    wm[:, :, :, :c] = op.w.transpose(0, 2, 3, 1)
    return wm.reshape(o, -1)


def _pad_rows(a: np.ndarray, n: int, value=0) -> np.ndarray:
    if a.shape[0] == n:
        return a
    pad = np.full((n - a.shape[0],) + a.shape[1:], value, dtype=a.dtype)
    return np.concatenate([a, pad])


def choose_width(op: Op) -> int:
    """Narrowest of 2/4/8 holding the layer's weights (the declared bits are only a hint)."""
    if op.kind == "dwconv":
        return 8
    lo, hi = op.weight_range()
    w = narrowest_width(lo, hi)
    assert w is not None  # from_qformat already refused weights wider than 8 bits
    return w


# ---- per target ----------------------------------------------------------------

def pack_baseline(op: Op, bufs: dict[str, Buf], naive: bool) -> Packed:
    inb = bufs[op.inputs[0]]
    p = Packed(op, 8, signed_in=inb.t.signed)
    wt = "int32_t" if naive else "int8_t"
    if op.kind == "linear":
        if op.flat_from is None and inb.hh == 0 and inb.hw == 0:
            wm = op.w                              # vector input: exactly the real inputs
        else:
            wm = linear_matrix(op, inb)
        p.k_mem = wm.shape[1]
        p.add(wt, "W", wm)
    elif op.kind == "conv":
        p.add(wt, "W", op.w.transpose(0, 2, 3, 1))   # (O, KH, KW, C)
    else:
        p.add(wt, "W", op.w[:, 0])                   # (C, KH, KW)
    p.add("int32_t", "B", op.bias)
    p.add("int32_t", "M", op.mult)
    p.add("int8_t", "S", op.shift)
    return p


def pack_xmpq(op: Op, bufs: dict[str, Buf]) -> Packed:
    inb, outb = bufs[op.inputs[0]], bufs[op.output]
    p = Packed(op, choose_width(op), signed_in=inb.t.signed)
    opad = outb.cp
    if op.kind == "dwconv":
        c, _, kh, kw = op.w.shape
        w = _pad_rows(op.w[:, 0], opad)                       # (Cp, KH, KW)
        t = w.reshape(opad // 4, 4, kh, kw).transpose(0, 2, 3, 1)   # [g, ky, kx, lane]
        p.add("uint32_t", "W", pack_fields(t, 8, False).reshape(-1))
    else:
        wm = linear_matrix(op, inb) if op.kind == "linear" else conv_matrix(op, inb)
        p.k_mem = wm.shape[1]
        p.add("uint32_t", "W", pack_matrix(_pad_rows(wm, opad), p.width, False).reshape(-1))
    t = bufs[op.output].t
    b = _pad_rows(op.bias, opad)
    if np.any(b < -(1 << 31)) or np.any(b > (1 << 31) - 1):
        raise IbexgenError(f"layer {op.name!r}", "folded bias does not fit int32")
    p.add("int32_t", "B", b)
    p.add("int32_t", "M", _pad_rows(op.mult, opad))
    sh = _pad_rows(op.shift, opad)
    params = (sh & 63) | ((t.zp & 0xFF) << 8) | ((op.lo & 0xFF) << 16) | ((op.hi & 0xFF) << 24)
    p.add("uint32_t", "P", params.astype(np.uint32))
    return p


def compat_bias(b: int) -> Optional[tuple[int, int]]:
    """(mantissa, shift) with b == mantissa << shift, mantissa int8, shift <= 31; None if impossible."""
    b = int(b)
    if b == 0:
        return 0, 0
    for sh in range(32):
        if b % (1 << sh):
            break
        m = b >> sh
        if -128 <= m <= 127:
            return m, sh
    return None


def compat_check(op: Op, bufs: dict[str, Buf]) -> None:
    """Refuse (one line naming the layer) what the compat ISA cannot compute exactly."""
    where = f"layer {op.name!r}"
    tin, tout = bufs[op.inputs[0]].t, bufs[op.output].t
    if tout.zp != 0:
        raise IbexgenError(where, f"output zero point {tout.zp}: the compat ISA's neur_res has none")
    if (op.lo, op.hi) not in ((0, 255), (-128, 127)):
        raise IbexgenError(where, f"output clamp [{op.lo}, {op.hi}]: the compat ISA clamps only to [0, 255] (ReLU flag) "
                                  "or [-128, 127]")
    if (op.lo, op.hi) == (0, 255) and tout.signed:
        raise IbexgenError(where, "signed output with a [0, 255] clamp")
    m, s = op.mult, op.shift
    bad = np.nonzero((m > 255) | (s > 31) | (s == 1))[0]
    if bad.size:
        k = int(bad[0])
        raise IbexgenError(where, f"requantization multiplier {int(m[k])} / shift {int(s[k])} (channel {k}) does not fit "
                                  "the compat ISA (8-bit unsigned multiplier, 5-bit shift, shift != 1); "
                                  "use --target xmpq, or fit the model with --fit-compat")
    for k, b in enumerate(op.bias):
        if compat_bias(int(b)) is None:
            raise IbexgenError(where, f"bias {int(b)} (channel {k}, zero point folded in) is not an int8 mantissa "
                                      "times a power of two, all neur_init can load; use --target xmpq, or fit the "
                                      "model with --fit-compat")
    xmax = max(abs(tin.qmin), abs(tin.qmax))
    w = op.w.reshape(op.w.shape[0], -1)
    taps = np.abs(w).sum(axis=1) * xmax + np.abs(op.bias)
    worst = (taps * m + np.where(s > 0, 1 << np.maximum(s - 1, 0), 0)).max()
    if worst >= 1 << 31:
        raise IbexgenError(where, f"|accumulator x multiplier| may reach {int(worst)} >= 2^31: the compat ISA's "
                                  "32-bit requantization would wrap")


def pack_compat(op: Op, bufs: dict[str, Buf]) -> Packed:
    compat_check(op, bufs)
    inb, outb = bufs[op.inputs[0]], bufs[op.output]
    p = Packed(op, choose_width(op), signed_in=inb.t.signed)
    opad = outb.cp
    mode = 1 if op.kind == "dwconv" else COMPAT_MODE[p.width]
    mode |= 4 if inb.t.signed else 0
    if op.kind == "dwconv":
        c, _, kh, kw = op.w.shape
        w = _pad_rows(op.w[:, 0], opad)
        t = w.reshape(opad // 4, 4, kh, kw).transpose(0, 2, 3, 1)
        p.add("uint32_t", "W", pack_fields(t, 8, True).reshape(-1))
    else:
        wm = linear_matrix(op, inb) if op.kind == "linear" else conv_matrix(op, inb)
        p.k_mem = wm.shape[1]
        p.add("uint32_t", "W", pack_matrix(_pad_rows(wm, opad), p.width, True).reshape(-1))
    ms = [compat_bias(int(b)) for b in _pad_rows(op.bias, opad)]
    mant = np.array([x[0] for x in ms]).reshape(-1, 4)
    bsh = np.array([x[1] for x in ms]).reshape(-1, 4)
    p.add("uint32_t", "B", pack_fields(mant, 8, True))
    sb = sum(bsh[:, k].astype(np.uint64) << np.uint64(COMPAT_SHIFT_POS[k]) for k in range(4)) | np.uint64(mode)
    p.add("uint32_t", "SB", sb.astype(np.uint32))
    mv = _pad_rows(op.mult, opad, 0).reshape(-1, 4)
    sv = _pad_rows(op.shift, opad, 0).reshape(-1, 4)
    p.add("uint32_t", "MV", pack_fields(mv, 8, True))
    relu = 1 if (op.lo, op.hi) == (0, 255) else 0
    svw = sum(sv[:, k].astype(np.uint64) << np.uint64(COMPAT_SHIFT_POS[k]) for k in range(4)) | np.uint64(relu)
    p.add("uint32_t", "SV", svw.astype(np.uint32))
    return p


def pack_op(op: Op, target: str, bufs: dict[str, Buf]) -> Packed:
    if target == "baseline":
        return pack_baseline(op, bufs, naive=False)
    if target == "baseline-naive":
        return pack_baseline(op, bufs, naive=True)
    if target == "xmpq":
        return pack_xmpq(op, bufs)
    if target == "xmpq-compat":
        return pack_compat(op, bufs)
    raise IbexgenError("target", f"unknown target {target!r}")


def pack_all(ir: NetIR, target: str, bufs: dict[str, Buf]) -> dict[str, Packed]:
    return {op.name: pack_op(op, target, bufs) for op in ir.ops if op.is_compute}

