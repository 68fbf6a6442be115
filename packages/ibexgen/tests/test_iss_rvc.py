"""Hand-assembled cases for every RV32C instruction (expanded forms, links, reserved encodings)."""

from __future__ import annotations

import pytest
from helpers import BASE, DATA, run_both

from ibexgen.iss.isa import decode16

M = 0xFFFFFFFF


def test_stack_and_register_forms():
    def prog(p):
        p.li(2, DATA)                 # sp
        p.c_addi4spn(8, 1020)         # s0 = sp + 1020
        p.c_li(9, -5)                 # s1 = -5
        p.c_sw(9, 124, 8)             # [s0+124] = -5
        p.c_lw(10, 124, 8)            # a0 = -5
        p.c_swsp(9, 252)
        p.c_lwsp(11, 252)             # a1 = -5
        p.c_addi(10, 31)              # a0 = 26
        p.c_addi16sp(-512)            # sp -= 512
        p.c_mv(12, 2)                 # a2 = sp
        p.c_lui(13, -1)               # a3 = 0xfffff000
        p.c_lui(14, 31)               # a4 = 31 << 12
        p.c_li(15, 16)
        p.c_slli(15, 27)              # a5 = 0x80000000
        p.c_mv(9, 15)
        p.c_srai(9, 3)                # s1 = 0xf0000000
        p.c_mv(8, 15)
        p.c_srli(8, 3)                # s0 = 0x10000000
        p.c_andi(15, -32)             # a5 & ~31
        p.c_add(14, 13)               # a4 = a4 + a3
        p.c_nop()
    r = run_both(prog).result
    x = r.regs
    assert x[10] == 26 and x[11] == (-5 & M)
    assert x[2] == DATA - 512 and x[12] == DATA - 512
    assert x[13] == 0xFFFFF000 and x[14] == ((31 << 12) + 0xFFFFF000) & M
    assert x[9] == 0xF0000000 and x[8] == 0x10000000 and x[15] == 0x80000000


def test_compressed_alu_pairs():
    def prog(p):
        p.li(8, 0xF0F0F0F0)
        p.li(9, 0xFF00FF00)
        p.c_mv(10, 8)
        p.c_sub(10, 9)
        p.c_mv(11, 8)
        p.c_xor(11, 9)
        p.c_mv(12, 8)
        p.c_or(12, 9)
        p.c_mv(13, 8)
        p.c_and(13, 9)
    r = run_both(prog).result
    assert r.regs[10:14] == [(0xF0F0F0F0 - 0xFF00FF00) & M, 0x0FF00FF0, 0xFFF0FFF0, 0xF000F000]


def test_compressed_jumps_and_links():
    def prog(p):
        p.c_jal("f")                  # BASE: ra = BASE + 2, 2 cycles
        p.c_j("end")                  # BASE+2
        p.label("f")
        p.c_mv(10, 1)                 # a0 = ra
        p.li(5, 0)
        p.auipc(5, 0)                 # t0 = pc of this auipc
        p.addi(5, 5, 10)              # auipc at BASE+14, "g" at BASE+24
        p.c_jalr(5)                   # ra = pc + 2
        p.label("g")
        p.c_mv(11, 1)
        p.c_jr(10)                    # back to BASE+2
        p.label("end")
    r = run_both(prog).result
    assert r.regs[10] == BASE + 2
    assert r.regs[11] == BASE + 24   # c.jalr at BASE+22 links pc + 2
    assert r.regs[1] == BASE + 24


@pytest.mark.parametrize("val,op,taken", [(0, "c_beqz", True), (1, "c_beqz", False), (0, "c_bnez", False), (7, "c_bnez", True)])
def test_compressed_branches(val, op, taken):
    def prog(p):
        p.li(8, val)
        p.c_li(10, 0)
        getattr(p, op)(8, "skip")
        p.c_li(10, 1)
        p.label("skip")
    r = run_both(prog).result
    assert r.regs[10] == (0 if taken else 1)
    assert r.cycles == 2 + 1 + (3 if taken else 2) + 5


@pytest.mark.parametrize("h,why", [
    (0x0000, "all zero"), (0x4002, "c.lwsp rd=0"), (0x8002, "c.jr x0"), (0x6101, "c.addi16sp 0"),
    (0x6501, "c.lui imm 0"), (0x9005 | (1 << 12), "c.srli shamt[5]"), (0x1002 | (1 << 12), "c.slli shamt[5]"),
    (0x9C01 | (1 << 12), "c.subw"), (0x2000, "c.fld"), (0x6000, "c.flw"), (0xA002, "c.fsdsp"),
])
def test_reserved_compressed_encodings_are_illegal(h, why):
    assert decode16(h).op == "illegal", why
    r = run_both(lambda p: p.half(h), halt=False).result
    assert r.exit == "fault" and "illegal instruction" in r.fault


def test_hints_are_harmless():
    # c.addi x0, c.li x0, c.mv x0, c.add x0, c.slli x0: writes to x0 discarded
    def prog(p):
        p.c_addi(0, 5)
        p.c_li(0, 3)
        p.c_mv(0, 2)
        p.c_add(0, 2)
        p.c_slli(0, 3)
    r = run_both(prog).result
    assert r.exit == "halt" and r.regs[0] == 0


def test_c_ebreak_stops_in_strict_mode():
    r = run_both(lambda p: p.c_ebreak(), halt=False).result
    assert r.exit == "fault" and r.fault.startswith("ebreak")
