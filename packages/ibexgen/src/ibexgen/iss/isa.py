"""RV32IMC + Zicsr + the two custom ISAs: decoding and disassembly (Python side).

This is the decoder of the reference interpreter. It is deliberately written
field by field from the ISA manuals; the fast engine (``csrc/iss.c``) has its
own independent decoder and the two are tested against each other.

A decoded instruction is an :class:`Insn`. Compressed instructions are
expanded to the base instruction they stand for (``size`` stays 2), exactly as
Ibex's compressed decoder does, so the executor sees one form.

Custom instructions
-------------------
* **compat** (major opcode 0x47, the original's encoding, funct3 decides):
  ``neur_init`` (funct3 1), ``nn_mac`` (funct3 2; funct7 0x08/0x04/0x02 only
  names the 8b/4b/2b variant, the hardware ignores it), ``neur_res`` (funct3 4).
* **xmpq** (custom-0, major opcode 0x0B, this package's clean ISA, see README):
  ``xm.init`` (funct3 0), ``xm.mac`` (funct3 1), ``xm.get`` (funct3 2),
  ``xm.rq`` (funct3 3). For these ``imm`` holds funct7.
"""

from __future__ import annotations

from typing import NamedTuple

OPC_COMPAT = 0x47
OPC_XMPQ = 0x0B

ABI = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
       "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6"]

LOADS = {"lb", "lh", "lw", "lbu", "lhu"}
STORES = {"sb", "sh", "sw"}
BRANCHES = {"beq", "bne", "blt", "bge", "bltu", "bgeu"}
MULS = {"mul", "mulh", "mulhsu", "mulhu"}
DIVS = {"div", "divu", "rem", "remu"}
CSRS = {"csrrw", "csrrs", "csrrc", "csrrwi", "csrrsi", "csrrci"}
COMPAT_OPS = {"neur_init", "nn_mac", "neur_res"}
XMPQ_OPS = {"xm.init", "xm.mac", "xm.get", "xm.rq"}


class Insn(NamedTuple):
    """One decoded instruction. ``imm`` is sign-extended; for CSR ops it is the
    CSR number (and ``rs1`` the register or the 5-bit immediate); for custom ops
    it is funct7."""

    op: str
    rd: int = 0
    rs1: int = 0
    rs2: int = 0
    imm: int = 0
    size: int = 4
    raw: int = 0


def sext(value: int, bits: int) -> int:
    """Sign-extend the low ``bits`` bits of ``value``."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def bits(x: int, hi: int, lo: int) -> int:
    """Bit field x[hi:lo]."""
    return (x >> lo) & ((1 << (hi - lo + 1)) - 1)


def insn_size(first_halfword: int) -> int:
    """2 for a compressed instruction, 4 otherwise (no 48/64-bit forms on Ibex)."""
    return 4 if (first_halfword & 3) == 3 else 2


# ---- 32-bit ----------------------------------------------------------------

_BR = {0: "beq", 1: "bne", 4: "blt", 5: "bge", 6: "bltu", 7: "bgeu"}
_LD = {0: "lb", 1: "lh", 2: "lw", 4: "lbu", 5: "lhu"}
_ST = {0: "sb", 1: "sh", 2: "sw"}
_OPI = {0: "addi", 2: "slti", 3: "sltiu", 4: "xori", 6: "ori", 7: "andi"}
_OP0 = {0: "add", 1: "sll", 2: "slt", 3: "sltu", 4: "xor", 5: "srl", 6: "or", 7: "and"}
_OPM = {0: "mul", 1: "mulh", 2: "mulhsu", 3: "mulhu", 4: "div", 5: "divu", 6: "rem", 7: "remu"}
_CSR = {1: "csrrw", 2: "csrrs", 3: "csrrc", 5: "csrrwi", 6: "csrrsi", 7: "csrrci"}


def decode32(w: int) -> Insn:
    """Decode a 32-bit instruction word."""
    opc = w & 0x7F
    rd, f3, rs1, rs2, f7 = bits(w, 11, 7), bits(w, 14, 12), bits(w, 19, 15), bits(w, 24, 20), bits(w, 31, 25)
    imm_i = sext(w >> 20, 12)
    ill = Insn("illegal", raw=w)
    if opc == 0x37:
        return Insn("lui", rd, imm=sext(w & 0xFFFFF000, 32), raw=w)
    if opc == 0x17:
        return Insn("auipc", rd, imm=sext(w & 0xFFFFF000, 32), raw=w)
    if opc == 0x6F:
        imm = (bits(w, 31, 31) << 20) | (bits(w, 19, 12) << 12) | (bits(w, 20, 20) << 11) | (bits(w, 30, 21) << 1)
        return Insn("jal", rd, imm=sext(imm, 21), raw=w)
    if opc == 0x67:
        return Insn("jalr", rd, rs1, imm=imm_i, raw=w) if f3 == 0 else ill
    if opc == 0x63:
        if f3 not in _BR:
            return ill
        imm = (bits(w, 31, 31) << 12) | (bits(w, 7, 7) << 11) | (bits(w, 30, 25) << 5) | (bits(w, 11, 8) << 1)
        return Insn(_BR[f3], 0, rs1, rs2, sext(imm, 13), raw=w)
    if opc == 0x03:
        return Insn(_LD[f3], rd, rs1, imm=imm_i, raw=w) if f3 in _LD else ill
    if opc == 0x23:
        if f3 not in _ST:
            return ill
        return Insn(_ST[f3], 0, rs1, rs2, sext((f7 << 5) | rd, 12), raw=w)
    if opc == 0x13:
        if f3 in _OPI:
            return Insn(_OPI[f3], rd, rs1, imm=imm_i, raw=w)
        if f3 == 1:
            return Insn("slli", rd, rs1, imm=rs2, raw=w) if f7 == 0 else ill
        if f7 == 0:
            return Insn("srli", rd, rs1, imm=rs2, raw=w)
        return Insn("srai", rd, rs1, imm=rs2, raw=w) if f7 == 0x20 else ill
    if opc == 0x33:
        if f7 == 0:
            return Insn(_OP0[f3], rd, rs1, rs2, raw=w)
        if f7 == 0x20 and f3 in (0, 5):
            return Insn("sub" if f3 == 0 else "sra", rd, rs1, rs2, raw=w)
        if f7 == 1:
            return Insn(_OPM[f3], rd, rs1, rs2, raw=w)
        return ill
    if opc == 0x0F:
        if f3 == 0:
            return Insn("fence", raw=w)
        return Insn("fence.i", raw=w) if f3 == 1 else ill
    if opc == 0x73:
        if f3 == 0:
            name = {0x00000073: "ecall", 0x00100073: "ebreak", 0x30200073: "mret", 0x10500073: "wfi"}.get(w)
            return Insn(name, raw=w) if name else ill
        if f3 in _CSR:
            return Insn(_CSR[f3], rd, rs1, imm=bits(w, 31, 20), raw=w)
        return ill
    if opc == OPC_COMPAT:
        name = {1: "neur_init", 2: "nn_mac", 4: "neur_res"}.get(f3)
        return Insn(name, rd, rs1, rs2, f7, raw=w) if name else ill
    if opc == OPC_XMPQ:
        name = {0: "xm.init", 1: "xm.mac", 2: "xm.get", 3: "xm.rq"}.get(f3)
        if name is None or not xmpq_funct7_ok(name, f7):
            return ill
        return Insn(name, rd, rs1, rs2, f7, raw=w)
    return ill


def xmpq_funct7_ok(name: str, f7: int) -> bool:
    """Reserved funct7 encodings of the clean ISA are illegal (see README)."""
    if name == "xm.init":
        return f7 <= 1
    if name == "xm.get":
        return f7 <= 3
    if name == "xm.rq":
        return f7 <= 7
    # xm.mac: [1:0] width (0 8b, 1 4b, 2 2b, 3 depthwise), [2] signed x, [4:3] select, [6:5] zero
    width, sel = f7 & 3, (f7 >> 3) & 3
    if f7 >> 5:
        return False
    if width == 1:
        return sel <= 1
    if width in (2, 3):
        return sel == 0
    return True


# ---- 16-bit ----------------------------------------------------------------

def decode16(h: int) -> Insn:
    """Decode (and expand) a compressed instruction."""
    q, f3 = h & 3, bits(h, 15, 13)
    ill = Insn("illegal", size=2, raw=h)
    rdp, rs1p = 8 + bits(h, 4, 2), 8 + bits(h, 9, 7)
    r_full, rs2_full = bits(h, 11, 7), bits(h, 6, 2)

    def mk(op, rd=0, rs1=0, rs2=0, imm=0):
        return Insn(op, rd, rs1, rs2, imm, 2, h)

    if q == 0:
        if f3 == 0:  # c.addi4spn
            imm = (bits(h, 12, 11) << 4) | (bits(h, 10, 7) << 6) | (bits(h, 6, 6) << 2) | (bits(h, 5, 5) << 3)
            return mk("addi", rdp, 2, imm=imm) if imm else ill
        off = (bits(h, 12, 10) << 3) | (bits(h, 6, 6) << 2) | (bits(h, 5, 5) << 6)
        if f3 == 2:
            return mk("lw", rdp, rs1p, imm=off)
        if f3 == 6:
            return mk("sw", 0, rs1p, rdp, off)
        return ill
    if q == 1:
        imm6 = sext((bits(h, 12, 12) << 5) | bits(h, 6, 2), 6)
        if f3 == 0:
            return mk("addi", r_full, r_full, imm=imm6)
        if f3 in (1, 5):
            j = (bits(h, 12, 12) << 11) | (bits(h, 11, 11) << 4) | (bits(h, 10, 9) << 8) | (bits(h, 8, 8) << 10) | \
                (bits(h, 7, 7) << 6) | (bits(h, 6, 6) << 7) | (bits(h, 5, 3) << 1) | (bits(h, 2, 2) << 5)
            return mk("jal", 1 if f3 == 1 else 0, imm=sext(j, 12))
        if f3 == 2:
            return mk("addi", r_full, 0, imm=imm6)
        if f3 == 3:
            if r_full == 2:
                imm = (bits(h, 12, 12) << 9) | (bits(h, 6, 6) << 4) | (bits(h, 5, 5) << 6) | \
                      (bits(h, 4, 3) << 7) | (bits(h, 2, 2) << 5)
                return mk("addi", 2, 2, imm=sext(imm, 10)) if imm else ill
            imm = sext((bits(h, 12, 12) << 17) | (bits(h, 6, 2) << 12), 18)
            return mk("lui", r_full, imm=imm) if imm else ill
        if f3 == 4:
            sub = bits(h, 11, 10)
            if sub in (0, 1):
                if bits(h, 12, 12):
                    return ill  # shamt[5] set: reserved on RV32
                return mk("srli" if sub == 0 else "srai", rs1p, rs1p, imm=bits(h, 6, 2))
            if sub == 2:
                return mk("andi", rs1p, rs1p, imm=imm6)
            if bits(h, 12, 12):
                return ill  # c.subw / c.addw: RV64 only
            op = ("sub", "xor", "or", "and")[bits(h, 6, 5)]
            return mk(op, rs1p, rs1p, rdp)
        off = (bits(h, 12, 12) << 8) | (bits(h, 11, 10) << 3) | (bits(h, 6, 5) << 6) | \
              (bits(h, 4, 3) << 1) | (bits(h, 2, 2) << 5)
        return mk("beq" if f3 == 6 else "bne", 0, rs1p, 0, sext(off, 9))
    # q == 2
    if f3 == 0:
        if bits(h, 12, 12):
            return ill
        return mk("slli", r_full, r_full, imm=bits(h, 6, 2))
    if f3 == 2:
        if r_full == 0:
            return ill
        off = (bits(h, 12, 12) << 5) | (bits(h, 6, 4) << 2) | (bits(h, 3, 2) << 6)
        return mk("lw", r_full, 2, imm=off)
    if f3 == 4:
        if not bits(h, 12, 12):
            if rs2_full == 0:
                return mk("jalr", 0, r_full, imm=0) if r_full else ill
            return mk("add", r_full, 0, rs2_full)
        if rs2_full == 0:
            if r_full == 0:
                return mk("ebreak")
            return mk("jalr", 1, r_full, imm=0)
        return mk("add", r_full, r_full, rs2_full)
    if f3 == 6:
        off = (bits(h, 12, 9) << 2) | (bits(h, 8, 7) << 6)
        return mk("sw", 0, 2, rs2_full, off)
    return ill


def decode(word: int) -> Insn:
    """Decode the instruction whose first bytes are ``word`` (low half first)."""
    if (word & 3) == 3:
        return decode32(word & 0xFFFFFFFF)
    return decode16(word & 0xFFFF)


# ---- disassembly -----------------------------------------------------------

def disasm(i: Insn, pc: int | None = None) -> str:
    """A readable one-line form (ABI register names; compressed marked ``c:``)."""
    r = ABI
    p = "c:" if i.size == 2 else ""
    op = i.op
    if op == "illegal":
        return f"illegal 0x{i.raw:0{2 * i.size}x}"
    if op in ("lui", "auipc"):
        return f"{p}{op} {r[i.rd]}, 0x{(i.imm >> 12) & 0xFFFFF:x}"
    if op == "jal":
        tgt = f"0x{(pc + i.imm) & 0xFFFFFFFF:x}" if pc is not None else f"{i.imm:+d}"
        return f"{p}jal {r[i.rd]}, {tgt}"
    if op == "jalr":
        return f"{p}jalr {r[i.rd]}, {i.imm}({r[i.rs1]})"
    if op in BRANCHES:
        tgt = f"0x{(pc + i.imm) & 0xFFFFFFFF:x}" if pc is not None else f"{i.imm:+d}"
        return f"{p}{op} {r[i.rs1]}, {r[i.rs2]}, {tgt}"
    if op in LOADS:
        return f"{p}{op} {r[i.rd]}, {i.imm}({r[i.rs1]})"
    if op in STORES:
        return f"{p}{op} {r[i.rs2]}, {i.imm}({r[i.rs1]})"
    if op in ("addi", "slti", "sltiu", "xori", "ori", "andi", "slli", "srli", "srai"):
        return f"{p}{op} {r[i.rd]}, {r[i.rs1]}, {i.imm}"
    if op in CSRS:
        src = str(i.rs1) if op.endswith("i") else r[i.rs1]
        return f"{op} {r[i.rd]}, 0x{i.imm:03x}, {src}"
    if op in ("fence", "fence.i", "ecall", "ebreak", "mret", "wfi"):
        return p + op
    if op == "nn_mac":
        name = {0x08: "nn_mac_8b", 0x04: "nn_mac_4b", 0x02: "nn_mac_2b"}.get(i.imm, f"nn_mac.f7={i.imm:#x}")
        return f"{name} {r[i.rd]}, {r[i.rs1]}, {r[i.rs2]}"
    if op in COMPAT_OPS or op in XMPQ_OPS:
        suffix = f" (f7={i.imm:#x})" if op in XMPQ_OPS else ""
        return f"{op} {r[i.rd]}, {r[i.rs1]}, {r[i.rs2]}{suffix}"
    return f"{p}{op} {r[i.rd]}, {r[i.rs1]}, {r[i.rs2]}"
