"""Activation buffers: HWC, channels padded to a multiple of 4, 4 channels per word.

Each tensor gets its own static buffer. A buffer read by a padded convolution
carries a halo of the input zero point around the map, so convolutions never
test bounds and the zero point folded into the bias stays exact at the borders.

Element order inside a word depends on the target: the baseline and the xmpq
ISA keep memory order (channel 4j+e at byte e of word j, i.e. bits 8e+7:8e);
the compat ISA numbers elements MSB-first (channel 4j+e in bits 31-8e:24-8e),
which on a little-endian core puts channel c at byte ``c ^ 3``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .netir import NetIR, TensorInfo

TARGETS = ("baseline", "baseline-naive", "xmpq", "xmpq-compat")


def pad4(n: int) -> int:
    return (n + 3) // 4 * 4


def element_xor(target: str) -> int:
    """Byte address of element c within its pixel is ``c ^ element_xor``."""
    return 3 if target == "xmpq-compat" else 0


def c_ident(name: str) -> str:
    s = re.sub(r"\W", "_", name)
    return s if s and not s[0].isdigit() else "_" + s


@dataclass
class Buf:
    """Where a tensor lives: padded HWC with a halo."""

    t: TensorInfo
    sym: str
    cp: int
    hh: int
    hw: int

    @property
    def ha(self) -> int:
        return self.t.H + 2 * self.hh

    @property
    def wa(self) -> int:
        return self.t.W + 2 * self.hw

    @property
    def cw(self) -> int:
        return self.cp // 4

    @property
    def nbytes(self) -> int:
        return self.ha * self.wa * self.cp

    @property
    def words(self) -> int:
        return self.nbytes // 4

    def index(self, c, h, w, xor: int = 0):
        """Byte offset of element (c, h, w) (numpy-broadcastable)."""
        return ((np.asarray(h) + self.hh) * self.wa + (np.asarray(w) + self.hw)) * self.cp + (np.asarray(c) ^ xor)

    def pack(self, values: np.ndarray, xor: int, fill: int) -> np.ndarray:
        """A (C, H, W) code array laid out as the buffer's bytes (halo = ``fill``)."""
        out = np.full(self.nbytes, fill & 0xFF, dtype=np.uint8)
        c, h, w = np.meshgrid(np.arange(self.t.C), np.arange(self.t.H), np.arange(self.t.W), indexing="ij")
        out[self.index(c, h, w, xor).reshape(-1)] = (np.asarray(values).reshape(-1) & 0xFF).astype(np.uint8)
        return out

    def unpack(self, raw: bytes, xor: int) -> np.ndarray:
        b = np.frombuffer(raw, dtype=np.int8 if self.t.signed else np.uint8).astype(np.int64)
        c, h, w = np.meshgrid(np.arange(self.t.C), np.arange(self.t.H), np.arange(self.t.W), indexing="ij")
        return b[self.index(c, h, w, xor)].reshape(self.t.shape)


def plan_buffers(ir: NetIR) -> dict[str, Buf]:
    """One buffer per tensor, with the halo its padded convolutions need."""
    bufs: dict[str, Buf] = {}
    for name, t in ir.tensors.items():
        hh = hw = 0
        for op in ir.consumers(name):
            if op.kind in ("conv", "dwconv"):
                hh, hw = max(hh, op.pad[0]), max(hw, op.pad[1])
        bufs[name] = Buf(t, "T_" + c_ident(name), pad4(t.C), hh, hw)
    return bufs
