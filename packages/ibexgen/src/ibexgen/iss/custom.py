"""Semantics of the custom instructions, in plain Python (reference).

Two independent ISAs live side by side, each with its own accumulator unit:

**compat** (opcode 0x47): the original's encoding, reproduced from its RTL
(``neural_unit.sv``, ``neur_decoder.sv``, ``mul_add_block.sv``,
``neur_out_unit.sv``). Elements are numbered MSB-first: element 0 of a word is
bits 31:24. Hidden state: ``acc[4]``, ``mode`` (3 bits) and ``it`` (2 bits).

* ``neur_init rs1, rs2``: ``acc[k] = sext8(rs1.elem[k]) << sh_k`` with
  ``sh_k`` at rs2 bits 31:27, 24:20, 17:13, 10:6; ``mode = rs2[2:0]``;
  ``it = 3``.
* ``nn_mac rs1=w, rs2=x``: ``it += 1`` first (the RTL latches the operands
  and the incremented counter in the same cycle); inputs are uint8, or int8
  when ``mode[2]``. Mode 0 (8-bit): ``acc[k] += w8[k] * x[it]``; mode 1
  (depthwise): ``acc[k] += w8[k] * x[k]``; mode 2 (4-bit):
  ``acc[k] += w4[k] * x[a] + w4[k+4] * x[b]`` with ``(a, b) = (0, 1)`` for an
  even ``it``, ``(2, 3)`` for an odd one; mode 3 (2-bit):
  ``acc[k] += sum_j w2[4j+k] * x[j]`` (exact: every partial product fits the
  soft-SIMD fields for 2-bit weights and 8-bit inputs).
* ``neur_res rs1=m, rs2=sv``: per lane, bit-exact with the RTL: ``p =
  (|acc| * m) mod 2**32``; a negative accumulator is restored by one's
  complement plus ``sign | 1 << (s-1)`` (so ``s == 1`` loses the rounding
  term of negative values, and ``s == 0`` adds none); arithmetic shift by
  ``s``; clamp to [0, 255] when ``sv[0]`` (the "ReLU" flag) else [-128, 127].
  Result bytes MSB-first.

**xmpq** (custom-0, opcode 0x0B): this package's clean ISA. Elements are
numbered LSB-first (element ``e`` at bits ``8e+7:8e``, the memory order of a
little-endian word), nothing but the four accumulators is stateful, and they
can be read and written (``xm.get``/``xm.init``), so an interrupt handler can
save them. See the package README for the encoding table.
"""

from __future__ import annotations

from .isa import sext

M32 = 0xFFFFFFFF
COMPAT_SHIFT_POS = (27, 20, 13, 6)


def wrap32(v: int) -> int:
    """Two's-complement wrap to a signed 32-bit value."""
    return sext(v & M32, 32)


def _byte(word: int, e: int, signed: bool, msb_first: bool) -> int:
    sh = 24 - 8 * e if msb_first else 8 * e
    v = (word >> sh) & 0xFF
    return sext(v, 8) if signed else v


def _field(word: int, i: int, width: int, msb_first: bool) -> int:
    """Signed ``width``-bit field ``i`` of a 32-bit word."""
    n = 32 // width
    sh = (n - 1 - i) * width if msb_first else i * width
    return sext(word >> sh, width)


def mac_lanes(w: int, x: int, width: int, sel: int, signed: bool, msb_first: bool, depthwise: bool = False) -> list[int]:
    """The four per-lane dot products one MAC instruction adds.

    ``width`` is 8, 4 or 2; ``sel`` picks the input element (8-bit) or the
    element pair (4-bit). Shared by both ISAs (they differ in bit order and in
    where ``sel`` comes from).
    """
    xs = [_byte(x, e, signed, msb_first) for e in range(4)]
    if depthwise:
        return [_field(w, k, 8, msb_first) * xs[k] for k in range(4)]
    if width == 8:
        return [_field(w, k, 8, msb_first) * xs[sel] for k in range(4)]
    if width == 4:
        a, b = 2 * sel, 2 * sel + 1
        return [_field(w, k, 4, msb_first) * xs[a] + _field(w, k + 4, 4, msb_first) * xs[b] for k in range(4)]
    if width == 2:
        return [sum(_field(w, 4 * j + k, 2, msb_first) * xs[j] for j in range(4)) for k in range(4)]
    raise ValueError(f"width {width}")


class CompatUnit:
    """The original's neural unit: hidden accumulators, mode and iteration counter."""

    def __init__(self) -> None:
        self.acc = [0, 0, 0, 0]
        self.mode = 0
        self.it = 0

    def init(self, rs1: int, rs2: int) -> int:
        old = self.acc[0]
        for k in range(4):
            b = sext(rs1 >> (24 - 8 * k), 8)
            sh = (rs2 >> COMPAT_SHIFT_POS[k]) & 31
            self.acc[k] = wrap32(b << sh)
        self.mode = rs2 & 7
        self.it = 3
        return old & M32

    def mac(self, w: int, x: int) -> int:
        old = self.acc[0]
        self.it = (self.it + 1) & 3
        m = self.mode & 3
        signed = bool(self.mode & 4)
        if m == 0:
            add = mac_lanes(w, x, 8, self.it, signed, True)
        elif m == 1:
            add = mac_lanes(w, x, 8, 0, signed, True, depthwise=True)
        elif m == 2:
            add = mac_lanes(w, x, 4, self.it & 1, signed, True)
        else:
            add = mac_lanes(w, x, 2, 0, signed, True)
        self.acc = [wrap32(a + d) for a, d in zip(self.acc, add)]
        return old & M32

    def res(self, mvals: int, sv: int) -> int:
        return compat_requant(self.acc, mvals, sv)


def compat_requant(acc: list[int], mvals: int, sv: int) -> int:
    """``neur_res``: four requantized bytes, bit-exact with neur_out_unit.sv."""
    relu = sv & 1
    out = 0
    for k in range(4):
        m = (mvals >> (24 - 8 * k)) & 0xFF
        s = (sv >> COMPAT_SHIFT_POS[k]) & 31
        a = wrap32(acc[k])
        neg = a < 0
        ua = (-a) & M32 if neg else a
        p = (ua * m) & M32
        q = (~p & M32) if neg else p
        radd = (1 if neg else 0) | ((1 << (s - 1)) if s >= 1 else 0)
        r = wrap32(q + radd) >> s
        lo, hi = (0, 255) if relu else (-128, 127)
        r = min(max(r, lo), hi)
        out |= (r & 0xFF) << (24 - 8 * k)
    return out


class XmpqUnit:
    """The clean ISA's accumulator unit: four readable, writable accumulators."""

    def __init__(self) -> None:
        self.acc = [0, 0, 0, 0]

    def init(self, f7: int, rs1: int, rs2: int) -> None:
        p = f7 & 1
        self.acc[2 * p] = wrap32(rs1)
        self.acc[2 * p + 1] = wrap32(rs2)

    def mac(self, f7: int, w: int, x: int) -> None:
        width_code, signed, sel = f7 & 3, bool(f7 & 4), (f7 >> 3) & 3
        if width_code == 3:
            add = mac_lanes(w, x, 8, 0, signed, False, depthwise=True)
        else:
            add = mac_lanes(w, x, (8, 4, 2)[width_code], sel, signed, False)
        self.acc = [wrap32(a + d) for a, d in zip(self.acc, add)]

    def get(self, f7: int) -> int:
        return self.acc[f7 & 3] & M32

    def rq(self, f7: int, mult: int, params: int) -> int:
        return xmpq_requant(self.acc[f7 & 3], f7, mult, params)


def xmpq_requant(acc: int, f7: int, mult: int, params: int) -> int:
    """``xm.rq``: one lane, exact 64-bit-product requantization, zero point, clamp.

    ``params`` = shift[5:0] | zp[15:8] | lo[23:16] | hi[31:24]; the three bytes
    are signed when ``f7[2]`` (signed output), unsigned otherwise. The byte lands
    at lane ``f7[1:0]`` of the result (LSB-first), other bytes zero.
    """
    lane, signed = f7 & 3, bool(f7 & 4)
    s = params & 63
    zp, lo, hi = (_byte(params, e, signed, False) for e in (1, 2, 3))
    y = wrap32(acc) * sext(mult, 32)
    if s:
        y = (y + (1 << (s - 1))) >> s
    y += zp
    y = lo if y < lo else y
    y = hi if y > hi else y
    return (y & 0xFF) << (8 * lane)
