"""A tiny RV32IMC assembler (Python builder API) for hand-assembled test programs.

>>> a = Asm(0x100080)
>>> a.li(5, 42); a.label("loop"); a.addi(5, 5, -1); a.bne(5, 0, "loop")
>>> code = a.assemble()

Every encoder is written from the instruction-format tables of the RISC-V
manual; the test suite checks them against LLVM's assembler (via zig) so that
hand-assembled cases mean what they say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

from .isa import OPC_COMPAT, OPC_XMPQ

Target = Union[str, int]


def _chk(v: int, lo: int, hi: int, what: str) -> int:
    if not lo <= v <= hi:
        raise ValueError(f"{what} {v} outside [{lo}, {hi}]")
    return v


def enc_r(opc: int, f3: int, f7: int, rd: int, rs1: int, rs2: int) -> int:
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc


def enc_i(opc: int, f3: int, rd: int, rs1: int, imm: int) -> int:
    _chk(imm, -2048, 4095, "I-immediate")
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc


def enc_s(opc: int, f3: int, rs1: int, rs2: int, imm: int) -> int:
    _chk(imm, -2048, 2047, "S-immediate")
    imm &= 0xFFF
    return ((imm >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1F) << 7) | opc


def enc_b(f3: int, rs1: int, rs2: int, off: int) -> int:
    _chk(off, -4096, 4094, "branch offset")
    if off & 1:
        raise ValueError("branch offset must be even")
    o = off & 0x1FFF
    return (((o >> 12) & 1) << 31) | (((o >> 5) & 0x3F) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | \
        (((o >> 1) & 0xF) << 8) | (((o >> 11) & 1) << 7) | 0x63


def enc_u(opc: int, rd: int, imm20: int) -> int:
    return ((imm20 & 0xFFFFF) << 12) | (rd << 7) | opc


def enc_j(rd: int, off: int) -> int:
    _chk(off, -(1 << 20), (1 << 20) - 2, "jump offset")
    o = off & 0x1FFFFF
    return (((o >> 20) & 1) << 31) | (((o >> 1) & 0x3FF) << 21) | (((o >> 11) & 1) << 20) | \
        (((o >> 12) & 0xFF) << 12) | (rd << 7) | 0x6F


def _b(v: int, hi: int, lo: int) -> int:
    return (v >> lo) & ((1 << (hi - lo + 1)) - 1)


def _rp(r: int) -> int:
    if not 8 <= r <= 15:
        raise ValueError(f"compressed form needs x8..x15, got x{r}")
    return r - 8


R_OPS = {"add": (0, 0), "sub": (0, 0x20), "sll": (1, 0), "slt": (2, 0), "sltu": (3, 0), "xor": (4, 0),
         "srl": (5, 0), "sra": (5, 0x20), "or": (6, 0), "and": (7, 0),
         "mul": (0, 1), "mulh": (1, 1), "mulhsu": (2, 1), "mulhu": (3, 1), "div": (4, 1), "divu": (5, 1),
         "rem": (6, 1), "remu": (7, 1)}
I_OPS = {"addi": 0, "slti": 2, "sltiu": 3, "xori": 4, "ori": 6, "andi": 7}
SHIFT_OPS = {"slli": (1, 0), "srli": (5, 0), "srai": (5, 0x20)}
LOAD_OPS = {"lb": 0, "lh": 1, "lw": 2, "lbu": 4, "lhu": 5}
STORE_OPS = {"sb": 0, "sh": 1, "sw": 2}
BRANCH_OPS = {"beq": 0, "bne": 1, "blt": 4, "bge": 5, "bltu": 6, "bgeu": 7}
CSR_OPS = {"csrrw": 1, "csrrs": 2, "csrrc": 3, "csrrwi": 5, "csrrsi": 6, "csrrci": 7}


class Asm:
    """Builder for a flat program at ``base``; labels resolve at :meth:`assemble`."""

    def __init__(self, base: int = 0x00100080):
        self.base = base
        self.items: list[tuple[int, Callable[[], int]]] = []  # (size, encoder)
        self.labels: dict[str, int] = {}
        self.pos = 0

    # ---- plumbing --------------------------------------------------------
    @property
    def pc(self) -> int:
        return self.base + self.pos

    def label(self, name: str) -> Asm:
        if name in self.labels:
            raise ValueError(f"label {name!r} defined twice")
        self.labels[name] = self.pc
        return self

    def _emit(self, size: int, fn: Callable[[], int]) -> Asm:
        self.items.append((size, fn))
        self.pos += size
        return self

    def _off(self, target: Target, at: int) -> int:
        if isinstance(target, str):
            if target not in self.labels:
                raise ValueError(f"undefined label {target!r}")
            return self.labels[target] - at
        return target

    def word(self, v: int) -> Asm:
        return self._emit(4, lambda: v & 0xFFFFFFFF)

    def half(self, v: int) -> Asm:
        return self._emit(2, lambda: v & 0xFFFF)

    def raw32(self, v: int) -> Asm:
        return self.word(v)

    def raw16(self, v: int) -> Asm:
        return self.half(v)

    def assemble(self) -> bytes:
        out = bytearray()
        for size, fn in self.items:
            out += (fn() & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        return bytes(out)

    # ---- RV32I / M ---------------------------------------------------------
    def r(self, name: str, rd: int, rs1: int, rs2: int) -> Asm:
        f3, f7 = R_OPS[name]
        return self._emit(4, lambda: enc_r(0x33, f3, f7, rd, rs1, rs2))

    def i(self, name: str, rd: int, rs1: int, imm: int) -> Asm:
        if name in SHIFT_OPS:
            f3, f7 = SHIFT_OPS[name]
            _chk(imm, 0, 31, "shift amount")
            return self._emit(4, lambda: enc_r(0x13, f3, f7, rd, rs1, imm))
        _chk(imm, -2048, 2047, "I-immediate")
        return self._emit(4, lambda: enc_i(0x13, I_OPS[name], rd, rs1, imm))

    def load(self, name: str, rd: int, imm: int, rs1: int) -> Asm:
        return self._emit(4, lambda: enc_i(0x03, LOAD_OPS[name], rd, rs1, imm))

    def store(self, name: str, rs2: int, imm: int, rs1: int) -> Asm:
        return self._emit(4, lambda: enc_s(0x23, STORE_OPS[name], rs1, rs2, imm))

    def branch(self, name: str, rs1: int, rs2: int, target: Target) -> Asm:
        at = self.pc
        return self._emit(4, lambda: enc_b(BRANCH_OPS[name], rs1, rs2, self._off(target, at)))

    def jal(self, rd: int, target: Target) -> Asm:
        at = self.pc
        return self._emit(4, lambda: enc_j(rd, self._off(target, at)))

    def jalr(self, rd: int, rs1: int, imm: int = 0) -> Asm:
        return self._emit(4, lambda: enc_i(0x67, 0, rd, rs1, imm))

    def lui(self, rd: int, imm20: int) -> Asm:
        return self._emit(4, lambda: enc_u(0x37, rd, imm20))

    def auipc(self, rd: int, imm20: int) -> Asm:
        return self._emit(4, lambda: enc_u(0x17, rd, imm20))

    def csr(self, name: str, rd: int, csr: int, rs1_or_uimm: int) -> Asm:
        return self._emit(4, lambda: (csr << 20) | (rs1_or_uimm << 15) | (CSR_OPS[name] << 12) | (rd << 7) | 0x73)

    def fence(self) -> Asm:
        return self.word(0x0FF0000F)

    def fence_i(self) -> Asm:
        return self.word(0x0000100F)

    def ecall(self) -> Asm:
        return self.word(0x00000073)

    def ebreak(self) -> Asm:
        return self.word(0x00100073)

    def mret(self) -> Asm:
        return self.word(0x30200073)

    def wfi(self) -> Asm:
        return self.word(0x10500073)

    def li(self, rd: int, value: int) -> Asm:
        """lui + addi (always 8 bytes, so label arithmetic stays simple)."""
        v = value & 0xFFFFFFFF
        lo = ((v & 0xFFF) ^ 0x800) - 0x800
        hi = ((v - lo) >> 12) & 0xFFFFF
        self.lui(rd, hi)
        return self.i("addi", rd, rd, lo)

    # ---- custom ----------------------------------------------------------
    def insn_r(self, opc: int, f3: int, f7: int, rd: int, rs1: int, rs2: int) -> Asm:
        return self._emit(4, lambda: enc_r(opc, f3, f7, rd, rs1, rs2))

    def neur_init(self, rs1: int, rs2: int, rd: int = 0) -> Asm:
        return self.insn_r(OPC_COMPAT, 1, 0, rd, rs1, rs2)

    def nn_mac(self, bits: int, rs1: int, rs2: int, rd: int = 0) -> Asm:
        return self.insn_r(OPC_COMPAT, 2, {8: 0x08, 4: 0x04, 2: 0x02}[bits], rd, rs1, rs2)

    def neur_res(self, rd: int, rs1: int, rs2: int) -> Asm:
        return self.insn_r(OPC_COMPAT, 4, 0, rd, rs1, rs2)

    def xm_init(self, pair: int, rs1: int, rs2: int) -> Asm:
        return self.insn_r(OPC_XMPQ, 0, pair, 0, rs1, rs2)

    def xm_mac(self, f7: int, rs1: int, rs2: int) -> Asm:
        return self.insn_r(OPC_XMPQ, 1, f7, 0, rs1, rs2)

    def xm_get(self, rd: int, lane: int) -> Asm:
        return self.insn_r(OPC_XMPQ, 2, lane, rd, 0, 0)

    def xm_rq(self, f7: int, rd: int, rs1: int, rs2: int) -> Asm:
        return self.insn_r(OPC_XMPQ, 3, f7, rd, rs1, rs2)

    # ---- RV32C -----------------------------------------------------------
    def c_addi4spn(self, rd: int, imm: int) -> Asm:
        _chk(imm, 4, 1020, "c.addi4spn immediate")
        return self._emit(2, lambda: (_b(imm, 5, 4) << 11) | (_b(imm, 9, 6) << 7) | (_b(imm, 2, 2) << 6) |
                          (_b(imm, 3, 3) << 5) | (_rp(rd) << 2) | 0)

    def c_lw(self, rd: int, imm: int, rs1: int) -> Asm:
        return self._emit(2, lambda: (2 << 13) | (_b(imm, 5, 3) << 10) | (_rp(rs1) << 7) | (_b(imm, 2, 2) << 6) |
                          (_b(imm, 6, 6) << 5) | (_rp(rd) << 2))

    def c_sw(self, rs2: int, imm: int, rs1: int) -> Asm:
        return self._emit(2, lambda: (6 << 13) | (_b(imm, 5, 3) << 10) | (_rp(rs1) << 7) | (_b(imm, 2, 2) << 6) |
                          (_b(imm, 6, 6) << 5) | (_rp(rs2) << 2))

    def _ci(self, f3: int, rd: int, imm: int, q: int = 1) -> Asm:
        _chk(imm, -32, 31, "6-bit immediate")
        return self._emit(2, lambda: (f3 << 13) | (_b(imm, 5, 5) << 12) | (rd << 7) | (_b(imm, 4, 0) << 2) | q)

    def c_nop(self) -> Asm:
        return self._ci(0, 0, 0)

    def c_addi(self, rd: int, imm: int) -> Asm:
        return self._ci(0, rd, imm)

    def c_li(self, rd: int, imm: int) -> Asm:
        return self._ci(2, rd, imm)

    def c_lui(self, rd: int, imm6: int) -> Asm:
        """``imm6`` is nzimm[17:12] as a signed 6-bit value."""
        return self._ci(3, rd, imm6)

    def c_addi16sp(self, imm: int) -> Asm:
        _chk(imm, -512, 496, "c.addi16sp immediate")
        return self._emit(2, lambda: (3 << 13) | (_b(imm, 9, 9) << 12) | (2 << 7) | (_b(imm, 4, 4) << 6) |
                          (_b(imm, 6, 6) << 5) | (_b(imm, 8, 7) << 3) | (_b(imm, 5, 5) << 2) | 1)

    def _cj(self, f3: int, target: Target) -> Asm:
        at = self.pc

        def enc() -> int:
            o = self._off(target, at)
            _chk(o, -2048, 2046, "c.j offset")
            return (f3 << 13) | (_b(o, 11, 11) << 12) | (_b(o, 4, 4) << 11) | (_b(o, 9, 8) << 9) | \
                (_b(o, 10, 10) << 8) | (_b(o, 6, 6) << 7) | (_b(o, 7, 7) << 6) | (_b(o, 3, 1) << 3) | \
                (_b(o, 5, 5) << 2) | 1
        return self._emit(2, enc)

    def c_jal(self, target: Target) -> Asm:
        return self._cj(1, target)

    def c_j(self, target: Target) -> Asm:
        return self._cj(5, target)

    def _cb(self, f3: int, rs1: int, target: Target) -> Asm:
        at = self.pc

        def enc() -> int:
            o = self._off(target, at)
            _chk(o, -256, 254, "c.beqz offset")
            return (f3 << 13) | (_b(o, 8, 8) << 12) | (_b(o, 4, 3) << 10) | (_rp(rs1) << 7) | \
                (_b(o, 7, 6) << 5) | (_b(o, 2, 1) << 3) | (_b(o, 5, 5) << 2) | 1
        return self._emit(2, enc)

    def c_beqz(self, rs1: int, target: Target) -> Asm:
        return self._cb(6, rs1, target)

    def c_bnez(self, rs1: int, target: Target) -> Asm:
        return self._cb(7, rs1, target)

    def _c_shift(self, sub: int, rd: int, sh: int) -> Asm:
        _chk(sh, 0, 31, "shift amount")
        return self._emit(2, lambda: (4 << 13) | (sub << 10) | (_rp(rd) << 7) | (sh << 2) | 1)

    def c_srli(self, rd: int, sh: int) -> Asm:
        return self._c_shift(0, rd, sh)

    def c_srai(self, rd: int, sh: int) -> Asm:
        return self._c_shift(1, rd, sh)

    def c_andi(self, rd: int, imm: int) -> Asm:
        _chk(imm, -32, 31, "c.andi immediate")
        return self._emit(2, lambda: (4 << 13) | (_b(imm, 5, 5) << 12) | (2 << 10) | (_rp(rd) << 7) |
                          (_b(imm, 4, 0) << 2) | 1)

    def _c_alu(self, sel: int, rd: int, rs2: int) -> Asm:
        return self._emit(2, lambda: (4 << 13) | (3 << 10) | (_rp(rd) << 7) | (sel << 5) | (_rp(rs2) << 2) | 1)

    def c_sub(self, rd: int, rs2: int) -> Asm:
        return self._c_alu(0, rd, rs2)

    def c_xor(self, rd: int, rs2: int) -> Asm:
        return self._c_alu(1, rd, rs2)

    def c_or(self, rd: int, rs2: int) -> Asm:
        return self._c_alu(2, rd, rs2)

    def c_and(self, rd: int, rs2: int) -> Asm:
        return self._c_alu(3, rd, rs2)

    def c_slli(self, rd: int, sh: int) -> Asm:
        _chk(sh, 0, 31, "shift amount")
        return self._emit(2, lambda: (0 << 13) | (rd << 7) | (sh << 2) | 2)

    def c_lwsp(self, rd: int, imm: int) -> Asm:
        _chk(imm, 0, 252, "c.lwsp offset")
        return self._emit(2, lambda: (2 << 13) | (_b(imm, 5, 5) << 12) | (rd << 7) | (_b(imm, 4, 2) << 4) |
                          (_b(imm, 7, 6) << 2) | 2)

    def c_swsp(self, rs2: int, imm: int) -> Asm:
        _chk(imm, 0, 252, "c.swsp offset")
        return self._emit(2, lambda: (6 << 13) | (_b(imm, 5, 2) << 9) | (_b(imm, 7, 6) << 7) | (rs2 << 2) | 2)

    def c_jr(self, rs1: int) -> Asm:
        return self._emit(2, lambda: (4 << 13) | (rs1 << 7) | 2)

    def c_jalr(self, rs1: int) -> Asm:
        return self._emit(2, lambda: (4 << 13) | (1 << 12) | (rs1 << 7) | 2)

    def c_mv(self, rd: int, rs2: int) -> Asm:
        return self._emit(2, lambda: (4 << 13) | (rd << 7) | (rs2 << 2) | 2)

    def c_add(self, rd: int, rs2: int) -> Asm:
        return self._emit(2, lambda: (4 << 13) | (1 << 12) | (rd << 7) | (rs2 << 2) | 2)

    def c_ebreak(self) -> Asm:
        return self.half(0x9002)

    # ---- convenience -------------------------------------------------------
    def halt(self, simctrl: int = 0x20000, scratch: int = 31) -> Asm:
        """Store 1 to the simple system's halt register."""
        self.li(scratch, simctrl + 8)
        self.i("addi", 30, 0, 1)
        return self.store("sw", 30, 0, scratch)


def _install() -> None:
    for name in R_OPS:
        setattr(Asm, name if name not in ("and", "or") else name + "_",
                lambda self, rd, rs1, rs2, _n=name: self.r(_n, rd, rs1, rs2))
    for name in list(I_OPS) + list(SHIFT_OPS):
        setattr(Asm, name, lambda self, rd, rs1, imm, _n=name: self.i(_n, rd, rs1, imm))
    for name in LOAD_OPS:
        setattr(Asm, name, lambda self, rd, imm, rs1, _n=name: self.load(_n, rd, imm, rs1))
    for name in STORE_OPS:
        setattr(Asm, name, lambda self, rs2, imm, rs1, _n=name: self.store(_n, rs2, imm, rs1))
    for name in BRANCH_OPS:
        setattr(Asm, name, lambda self, rs1, rs2, target, _n=name: self.branch(_n, rs1, rs2, target))
    for name in CSR_OPS:
        setattr(Asm, name, lambda self, rd, csr, src, _n=name: self.csr(_n, rd, csr, src))


_install()
