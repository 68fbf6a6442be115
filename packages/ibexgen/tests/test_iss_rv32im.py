"""Hand-assembled cases for every RV32IM instruction: values and cycles, on both engines.

Expected values are worked out by hand from the ISA manual (not computed by
the simulator's own code), including signed/unsigned edges, division by zero
and the INT_MIN / -1 overflow.
"""

from __future__ import annotations

import pytest
from helpers import DATA, run_both

from ibexgen.iss.machine import Config
from ibexgen.iss.timing import Timing

M = 0xFFFFFFFF
INT_MIN = 0x80000000

R_CASES = [
    ("add", 0x7FFFFFFF, 1, 0x80000000), ("add", M, 1, 0), ("sub", 0, 1, M), ("sub", INT_MIN, 1, 0x7FFFFFFF),
    ("sll", 1, 31, INT_MIN), ("sll", 1, 32, 1), ("sll", 0xF, 36, 0xF0),
    ("srl", INT_MIN, 31, 1), ("srl", INT_MIN, 33, 0x40000000),
    ("sra", INT_MIN, 31, M), ("sra", INT_MIN, 1, 0xC0000000), ("sra", 0x40000000, 30, 1),
    ("slt", M, 0, 1), ("slt", 0, M, 0), ("slt", 5, 5, 0), ("slt", INT_MIN, 0x7FFFFFFF, 1),
    ("sltu", M, 0, 0), ("sltu", 0, M, 1), ("sltu", 5, 5, 0),
    ("xor", 0xF0F0F0F0, 0xFF00FF00, 0x0FF00FF0), ("or", 0xF0F0F0F0, 0x0F000000, 0xFFF0F0F0),
    ("and", 0xF0F0F0F0, 0xFF00FF00, 0xF000F000),
    ("mul", M, M, 1), ("mul", INT_MIN, M, INT_MIN), ("mul", 100000, 100000, 0x540BE400),
    ("mulh", INT_MIN, INT_MIN, 0x40000000), ("mulh", M, M, 0), ("mulh", INT_MIN, 0x7FFFFFFF, 0xC0000000),
    ("mulh", 0x7FFFFFFF, 0x7FFFFFFF, 0x3FFFFFFF),
    ("mulhsu", M, M, M), ("mulhsu", INT_MIN, M, 0x80000000), ("mulhsu", 2, M, 1),
    ("mulhu", M, M, 0xFFFFFFFE), ("mulhu", INT_MIN, 2, 1), ("mulhu", 0x10000, 0x10000, 1),
    ("div", 7, 2, 3), ("div", (-7) & M, 2, (-3) & M), ("div", 7, (-2) & M, (-3) & M), ("div", (-7) & M, (-2) & M, 3),
    ("div", 5, 0, M), ("div", INT_MIN, M, INT_MIN), ("div", 0, 0, M),
    ("divu", 7, 2, 3), ("divu", M, 2, 0x7FFFFFFF), ("divu", 5, 0, M),
    ("rem", 7, 2, 1), ("rem", (-7) & M, 2, M), ("rem", 7, (-2) & M, 1), ("rem", (-7) & M, (-2) & M, M),
    ("rem", 5, 0, 5), ("rem", INT_MIN, M, 0), ("rem", (-5) & M, 0, (-5) & M),
    ("remu", 7, 2, 1), ("remu", M, 10, 5), ("remu", 5, 0, 5),
]

# cycles of each R-type op with RV32MSingleCycle (divisor != 0)
R_CYCLES = {"mul": 1, "mulh": 2, "mulhsu": 2, "mulhu": 2, "div": 37, "divu": 37, "rem": 37, "remu": 37}


@pytest.mark.parametrize("op,a,b,want", R_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(R_CASES)])
def test_r_type(op, a, b, want):
    def prog(p):
        p.li(5, a)
        p.li(6, b)
        getattr(p, op if op not in ("and", "or") else op + "_")(7, 5, 6)
    r = run_both(prog).result
    assert r.regs[7] == want
    base_cycles = 2 + 2 + 5  # two li (lui+addi) and the halt sequence (li + addi + sw)
    cyc = R_CYCLES.get(op, 1)
    if op in ("div", "divu", "rem", "remu") and b == 0:
        cyc = 2
    assert r.cycles == base_cycles + cyc


I_CASES = [
    ("addi", 5, -1, 4), ("addi", 0x7FFFFFFF, 1, INT_MIN), ("addi", 0, -2048, 0xFFFFF800),
    ("slti", M, 0, 1), ("slti", 0, -1, 0), ("slti", INT_MIN, 2047, 1),
    ("sltiu", 0, -1, 1), ("sltiu", M, -1, 0), ("sltiu", 5, 6, 1),
    ("xori", 0x0F, -1, 0xFFFFFFF0), ("ori", 0xF000, 0x0F0, 0xF0F0), ("andi", M, 0x7FF, 0x7FF), ("andi", M, -2048, 0xFFFFF800),
    ("slli", 1, 31, INT_MIN), ("slli", 3, 0, 3), ("srli", INT_MIN, 31, 1), ("srai", INT_MIN, 4, 0xF8000000),
    ("srai", 0x70000000, 4, 0x07000000),
]


@pytest.mark.parametrize("op,a,imm,want", I_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(I_CASES)])
def test_i_type(op, a, imm, want):
    r = run_both(lambda p: (p.li(5, a), getattr(p, op)(7, 5, imm))).result
    assert r.regs[7] == want


def test_lui_auipc_and_x0():
    def prog(p):
        p.lui(5, 0xFFFFF)          # at BASE
        p.auipc(6, 1)              # at BASE+4
        p.addi(0, 0, 123)          # writes to x0 are discarded
        p.add(7, 0, 0)
    r = run_both(prog).result
    assert r.regs[5] == 0xFFFFF000
    assert r.regs[6] == 0x00100084 + 0x1000
    assert r.regs[0] == 0 and r.regs[7] == 0


def test_loads_stores_extension_and_cycles():
    def prog(p):
        p.li(5, DATA)
        p.li(6, 0x80FF7F01)
        p.sw(6, 0, 5)
        p.lb(10, 0, 5)    # 0x01
        p.lb(11, 2, 5)    # 0xFF -> -1
        p.lbu(12, 2, 5)   # 0xFF
        p.lh(13, 2, 5)    # 0x80FF -> sign extended
        p.lhu(14, 2, 5)
        p.lw(15, 0, 5)
        p.sh(6, 6, 5)     # store 0x7F01 at DATA+6
        p.lhu(16, 6, 5)
        p.sb(6, 9, 5)
        p.lbu(17, 9, 5)
    r = run_both(prog).result
    assert r.regs[10:18] == [0x01, M, 0xFF, 0xFFFF80FF, 0x80FF, 0x80FF7F01, 0x7F01, 0x01]
    # 2 li (4) + 11 memory ops x 2 cycles + halt 5
    assert r.cycles == 4 + 11 * 2 + 5


def test_misaligned_accesses_cost_one_more_cycle():
    def prog(p):
        p.li(5, DATA)
        p.li(6, 0x11223344)
        p.sw(6, 1, 5)     # misaligned word: 3 cycles
        p.lw(7, 1, 5)     # 3
        p.lh(8, 1, 5)     # inside one word: 2
        p.lh(9, 3, 5)     # crosses: 3
        p.lhu(10, 2, 5)   # aligned: 2
    r = run_both(prog).result
    assert r.regs[7] == 0x11223344
    assert r.regs[8] == 0x3344   # bytes DATA+1..2
    assert r.regs[9] == 0x1122   # bytes DATA+3..4, crossing the word boundary
    assert r.regs[10] == 0x2233
    assert r.cycles == 4 + 3 + 3 + 2 + 3 + 2 + 5


BRANCHES = [
    ("beq", 5, 5, True), ("beq", 5, 6, False), ("bne", 5, 6, True), ("bne", 7, 7, False),
    ("blt", M, 0, True), ("blt", 0, M, False), ("blt", 3, 3, False),
    ("bge", 0, M, True), ("bge", 3, 3, True), ("bge", M, 0, False),
    ("bltu", 0, M, True), ("bltu", M, 0, False), ("bgeu", M, 0, True), ("bgeu", 0, M, False), ("bgeu", 4, 4, True),
]


@pytest.mark.parametrize("op,a,b,taken", BRANCHES, ids=[f"{c[0]}-{i}" for i, c in enumerate(BRANCHES)])
def test_branches(op, a, b, taken):
    def prog(p):
        p.li(5, a)
        p.li(6, b)
        p.addi(7, 0, 0)
        getattr(p, op)(5, 6, "skip")
        p.addi(7, 0, 1)    # executed only when not taken
        p.label("skip")
    r = run_both(prog).result
    assert r.regs[7] == (0 if taken else 1)
    assert r.cycles == 2 + 2 + 1 + (3 if taken else 1 + 1) + 5


def test_jal_jalr_links_and_targets():
    def prog(p):
        p.jal(1, "f")                 # BASE: 2 cycles, ra = BASE+4
        p.addi(10, 0, 99)             # BASE+4: after return
        p.jal(0, "end")
        p.label("f")
        p.addi(11, 1, 0)              # copy ra
        p.li(5, 0)
        p.addi(5, 1, 1)               # odd address: jalr clears bit 0
        p.jalr(5, 5, 0)               # rd == rs1: the old value is the target, then rd = link
        p.label("end")
    r = run_both(prog).result
    assert r.regs[11] == 0x00100084
    assert r.regs[10] == 99
    assert r.regs[5] == 0x00100080 + 32  # link of the jalr at +28


def test_fence_and_fence_i_timing():
    r = run_both(lambda p: (p.fence(), p.fence_i())).result
    assert r.cycles == 1 + 2 + 5


@pytest.mark.parametrize("mult,mul,mulh,div", [("single", 1, 2, 37), ("fast", 3, 4, 37), ("slow", None, 33, 37)])
def test_multiplier_configurations(mult, mul, mulh, div):
    cfg = Config(timing=Timing(multiplier=mult))
    for b, slow_mul in ((1, 1), (2, 2), (5, 4), (0x80000000, 32), (0, 1)):
        r = run_both(lambda p, b=b: (p.li(5, 7), p.li(6, b), p.mul(7, 5, 6)), cfg=cfg).result
        want = mul if mul is not None else slow_mul
        assert r.cycles == 4 + want + 5, (mult, b)
    r = run_both(lambda p: (p.li(5, 7), p.li(6, 3), p.mulhu(7, 5, 6), p.divu(8, 5, 6)), cfg=cfg).result
    assert r.cycles == 4 + mulh + div + 5
