"""Our tiny assembler and decoder agree with LLVM's assembler (through zig) on every form."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ibexgen.iss.asm import Asm
from ibexgen.iss.elf import load_elf
from ibexgen.iss.isa import decode, disasm

BASE = 0x100080

# (assembly text for LLVM, builder call on our Asm). RVC forms are spelled c.* so LLVM does not pick for us.
FULL = [
    ("lui a0, 0xfffff", lambda a: a.lui(10, 0xFFFFF)),
    ("auipc t0, 0x12345", lambda a: a.auipc(5, 0x12345)),
    ("jal ra, .+2044", lambda a: a.jal(1, 2044)),
    ("jal zero, .-1048576", lambda a: a.jal(0, -1048576)),
    ("jalr t1, -2048(t2)", lambda a: a.jalr(6, 7, -2048)),
    ("beq a0, a1, .+4094", lambda a: a.beq(10, 11, 4094)),
    ("bne s0, s1, .-4096", lambda a: a.bne(8, 9, -4096)),
    ("blt t3, t4, .+8", lambda a: a.blt(28, 29, 8)),
    ("bge t5, t6, .-2", lambda a: a.bge(30, 31, -2)),
    ("bltu a2, a3, .+100", lambda a: a.bltu(12, 13, 100)),
    ("bgeu a4, a5, .-100", lambda a: a.bgeu(14, 15, -100)),
    ("lb a0, -1(sp)", lambda a: a.lb(10, -1, 2)),
    ("lh a1, 2047(gp)", lambda a: a.lh(11, 2047, 3)),
    ("lw a2, -2048(tp)", lambda a: a.lw(12, -2048, 4)),
    ("lbu a3, 5(a0)", lambda a: a.lbu(13, 5, 10)),
    ("lhu a4, 6(a1)", lambda a: a.lhu(14, 6, 11)),
    ("sb a5, -7(a2)", lambda a: a.sb(15, -7, 12)),
    ("sh a6, 2047(a3)", lambda a: a.sh(16, 2047, 13)),
    ("sw a7, -2048(a4)", lambda a: a.sw(17, -2048, 14)),
    ("addi s2, s3, -2048", lambda a: a.addi(18, 19, -2048)),
    ("slti s4, s5, 2047", lambda a: a.slti(20, 21, 2047)),
    ("sltiu s6, s7, -1", lambda a: a.sltiu(22, 23, -1)),
    ("xori s8, s9, -1", lambda a: a.xori(24, 25, -1)),
    ("ori s10, s11, 0x555", lambda a: a.ori(26, 27, 0x555)),
    ("andi t3, t4, 0x7ff", lambda a: a.andi(28, 29, 0x7FF)),
    ("slli t5, t6, 31", lambda a: a.slli(30, 31, 31)),
    ("srli a0, a1, 1", lambda a: a.srli(10, 11, 1)),
    ("srai a2, a3, 17", lambda a: a.srai(12, 13, 17)),
    ("add a0, a1, a2", lambda a: a.add(10, 11, 12)),
    ("sub a3, a4, a5", lambda a: a.sub(13, 14, 15)),
    ("sll t0, t1, t2", lambda a: a.sll(5, 6, 7)),
    ("slt s0, s1, a0", lambda a: a.slt(8, 9, 10)),
    ("sltu a1, a2, a3", lambda a: a.sltu(11, 12, 13)),
    ("xor a4, a5, a6", lambda a: a.xor(14, 15, 16)),
    ("srl a7, s2, s3", lambda a: a.srl(17, 18, 19)),
    ("sra s4, s5, s6", lambda a: a.sra(20, 21, 22)),
    ("or s7, s8, s9", lambda a: a.or_(23, 24, 25)),
    ("and s10, s11, t3", lambda a: a.and_(26, 27, 28)),
    ("mul a0, a1, a2", lambda a: a.mul(10, 11, 12)),
    ("mulh a0, a1, a2", lambda a: a.mulh(10, 11, 12)),
    ("mulhsu a0, a1, a2", lambda a: a.mulhsu(10, 11, 12)),
    ("mulhu a0, a1, a2", lambda a: a.mulhu(10, 11, 12)),
    ("div a0, a1, a2", lambda a: a.div(10, 11, 12)),
    ("divu a0, a1, a2", lambda a: a.divu(10, 11, 12)),
    ("rem a0, a1, a2", lambda a: a.rem(10, 11, 12)),
    ("remu a0, a1, a2", lambda a: a.remu(10, 11, 12)),
    ("fence", lambda a: a.fence()),
    ("fence.i", lambda a: a.fence_i()),
    ("ecall", lambda a: a.ecall()),
    ("ebreak", lambda a: a.ebreak()),
    ("mret", lambda a: a.mret()),
    ("wfi", lambda a: a.wfi()),
    ("csrrw a0, mscratch, a1", lambda a: a.csrrw(10, 0x340, 11)),
    ("csrrs a0, mcycle, zero", lambda a: a.csrrs(10, 0xB00, 0)),
    ("csrrc t0, mstatus, t1", lambda a: a.csrrc(5, 0x300, 6)),
    ("csrrwi a0, 0x320, 5", lambda a: a.csrrwi(10, 0x320, 5)),
    ("csrrsi a0, mie, 31", lambda a: a.csrrsi(10, 0x304, 31)),
    ("csrrci a0, mstatus, 8", lambda a: a.csrrci(10, 0x300, 8)),
    (".insn r 0x47, 1, 0, zero, a0, a1", lambda a: a.neur_init(10, 11)),
    (".insn r 0x47, 2, 8, zero, a2, a3", lambda a: a.nn_mac(8, 12, 13)),
    (".insn r 0x47, 2, 4, zero, a2, a3", lambda a: a.nn_mac(4, 12, 13)),
    (".insn r 0x47, 2, 2, zero, a2, a3", lambda a: a.nn_mac(2, 12, 13)),
    (".insn r 0x47, 4, 0, a0, a4, a5", lambda a: a.neur_res(10, 14, 15)),
    (".insn r CUSTOM_0, 0, 1, zero, a0, a1", lambda a: a.xm_init(1, 10, 11)),
    (".insn r CUSTOM_0, 1, 0x1c, zero, a0, a1", lambda a: a.xm_mac(0x1C, 10, 11)),
    (".insn r CUSTOM_0, 2, 3, a0, zero, zero", lambda a: a.xm_get(10, 3)),
    (".insn r CUSTOM_0, 3, 6, a0, a1, a2", lambda a: a.xm_rq(6, 10, 11, 12)),
]

COMPRESSED = [
    ("c.addi4spn s0, sp, 1020", lambda a: a.c_addi4spn(8, 1020)),
    ("c.addi4spn a5, sp, 4", lambda a: a.c_addi4spn(15, 4)),
    ("c.lw a0, 124(a1)", lambda a: a.c_lw(10, 124, 11)),
    ("c.sw s1, 4(a5)", lambda a: a.c_sw(9, 4, 15)),
    ("c.nop", lambda a: a.c_nop()),
    ("c.addi a0, -32", lambda a: a.c_addi(10, -32)),
    ("c.addi t6, 31", lambda a: a.c_addi(31, 31)),
    ("c.jal .+2046", lambda a: a.c_jal(2046)),
    ("c.li a0, -1", lambda a: a.c_li(10, -1)),
    ("c.addi16sp sp, -512", lambda a: a.c_addi16sp(-512)),
    ("c.addi16sp sp, 496", lambda a: a.c_addi16sp(496)),
    ("c.lui a0, 0xfffe1", lambda a: a.c_lui(10, -31)),
    ("c.lui t0, 31", lambda a: a.c_lui(5, 31)),
    ("c.srli s0, 31", lambda a: a.c_srli(8, 31)),
    ("c.srai a5, 1", lambda a: a.c_srai(15, 1)),
    ("c.andi a0, -32", lambda a: a.c_andi(10, -32)),
    ("c.sub s0, s1", lambda a: a.c_sub(8, 9)),
    ("c.xor a0, a1", lambda a: a.c_xor(10, 11)),
    ("c.or a2, a3", lambda a: a.c_or(12, 13)),
    ("c.and a4, a5", lambda a: a.c_and(14, 15)),
    ("c.j .-2048", lambda a: a.c_j(-2048)),
    ("c.beqz s0, .-256", lambda a: a.c_beqz(8, -256)),
    ("c.bnez a5, .+254", lambda a: a.c_bnez(15, 254)),
    ("c.slli t6, 31", lambda a: a.c_slli(31, 31)),
    ("c.lwsp a0, 252(sp)", lambda a: a.c_lwsp(10, 252)),
    ("c.jr ra", lambda a: a.c_jr(1)),
    ("c.mv a0, t6", lambda a: a.c_mv(10, 31)),
    ("c.ebreak", lambda a: a.c_ebreak()),
    ("c.jalr t0", lambda a: a.c_jalr(5)),
    ("c.add s11, t2", lambda a: a.c_add(27, 7)),
    ("c.swsp ra, 252(sp)", lambda a: a.c_swsp(1, 252)),
]


def _llvm_bytes(toolchain, text: str) -> bytes:
    with tempfile.TemporaryDirectory() as td:
        d = Path(td)
        (d / "a.s").write_text(".globl _start\n_start:\n" + text + "\n")
        (d / "a.ld").write_text(f"ENTRY(_start)\nSECTIONS {{ .text 0x{BASE:x} : {{ *(.text*) }} }}\n")
        import subprocess
        subprocess.run(list(toolchain.cc) + toolchain.arch_flags + ["-nostdlib", "-T", str(d / "a.ld"),
                                                                    str(d / "a.s"), "-o", str(d / "a.elf")],
                       check=True, capture_output=True)
        elf = load_elf(d / "a.elf")
        seg = min(elf.segments, key=lambda s: s.addr)
        assert seg.addr == BASE
        return seg.data


def test_encoder_matches_llvm(toolchain):
    text = ".option norvc\n" + "\n".join(t for t, _ in FULL) + "\n.option rvc\n" + "\n".join(t for t, _ in COMPRESSED)
    ours = Asm(BASE)
    for _, f in FULL + COMPRESSED:
        f(ours)
    mine = ours.assemble()
    theirs = _llvm_bytes(toolchain, text)[:len(mine)]
    # compare instruction by instruction for a readable failure
    off = 0
    for t, _ in FULL + COMPRESSED:
        size = 2 if t.startswith("c.") else 4
        assert mine[off:off + size] == theirs[off:off + size], f"{t}: ours {mine[off:off + size].hex()} llvm {theirs[off:off + size].hex()}"
        off += size


def test_every_form_decodes_to_a_named_instruction():
    for t, f in FULL + COMPRESSED:
        a = Asm(BASE)
        f(a)
        b = a.assemble()
        w = int.from_bytes(b.ljust(4, b"\0"), "little")
        ins = decode(w)
        assert ins.op != "illegal", t
        assert ins.size == len(b), t
        assert disasm(ins, BASE)  # printable
