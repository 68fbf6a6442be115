"""CSRs, counters, traps and interrupts, the bus modes, devices, traces - on both engines."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BASE, DATA, run_both

from ibexgen.iss import simulate
from ibexgen.iss.asm import Asm
from ibexgen.iss.machine import Config

M = 0xFFFFFFFF
AS_BUILT = Config(bus="as-built")


def test_csr_read_modify_write_forms():
    def prog(p):
        p.li(5, 0xF0)
        p.csrrw(10, 0x340, 5)      # a0 = old mscratch (0), mscratch = 0xF0
        p.li(6, 0x0F)
        p.csrrs(11, 0x340, 6)      # a1 = 0xF0, mscratch = 0xFF
        p.li(7, 0x3C)
        p.csrrc(12, 0x340, 7)      # a2 = 0xFF, mscratch = 0xC3
        p.csrrwi(13, 0x340, 17)    # a3 = 0xC3, mscratch = 17
        p.csrrsi(14, 0x340, 8)     # a4 = 17, mscratch = 25
        p.csrrci(15, 0x340, 1)     # a5 = 25, mscratch = 24
        p.csrrs(16, 0x340, 0)      # a6 = 24 (read only)
        p.csrrs(17, 0x301, 0)      # misa
        p.csrrs(18, 0xF12, 0)      # marchid (read-only CSR, no write: legal)
        p.csrrs(19, 0x305, 0)      # mtvec reset value: boot address, vectored
    r = run_both(prog).result
    assert r.regs[10:20] == [0, 0xF0, 0xFF, 0xC3, 17, 25, 24, 0x40101104, 22, 0x00100001]


@pytest.mark.parametrize("build", [
    lambda p: p.csrrw(10, 0xF11, 5),      # write to a read-only CSR
    lambda p: p.csrrs(10, 0x7FF, 0),      # no such CSR
    lambda p: p.csrrwi(0, 0xC00, 1),      # user cycle counter is read-only
])
def test_illegal_csr_accesses_fault(build):
    r = run_both(build, halt=False).result
    assert r.exit == "fault" and "illegal instruction" in r.fault and f"pc 0x{BASE:08x}" in r.fault


def test_mcountinhibit_region_counts_like_ibex():
    def prog(p):
        p.csrrwi(0, 0x320, 5)        # inhibit cycle and instret
        p.csrrw(0, 0xB00, 0)         # mcycle = 0
        p.csrrw(0, 0xB02, 0)         # minstret = 0
        p.li(5, DATA)
        p.csrrwi(0, 0x320, 0)        # enable: this instruction is not counted
        p.addi(6, 0, 1)
        p.addi(6, 6, 1)
        p.csrrs(7, 0xB00, 0)         # reads the 2 cycles so far
        p.lw(8, 0, 5)                # 2 cycles
        p.mulh(9, 6, 6)              # 2 cycles
        p.csrrwi(0, 0x320, 5)        # disable: this one is counted
        p.addi(6, 6, 1)              # not counted
    r = run_both(prog).result
    assert r.regs[7] == 2
    assert r.mcycle == 1 + 1 + 1 + 2 + 2 + 1
    assert r.minstret == 6
    assert r.instructions == 13 + 4 and r.cycles > r.mcycle


def test_counter_writes_and_high_halves():
    def prog(p):
        p.csrrwi(0, 0x320, 5)
        p.li(5, 0xFFFFFFFE)
        p.csrrw(0, 0xB00, 5)          # mcycle low
        p.li(6, 7)
        p.csrrw(0, 0xB80, 6)          # mcycleh
        p.csrrw(0, 0xB82, 6)          # minstreth
        p.csrrwi(0, 0x320, 0)
        p.addi(0, 0, 0)
        p.addi(0, 0, 0)
        p.addi(0, 0, 0)
        p.csrrs(10, 0xB80, 0)         # mcycleh after the carry
        p.csrrs(11, 0xB00, 0)
        p.csrrs(12, 0xB82, 0)
        p.csrrwi(0, 0x320, 5)
    r = run_both(prog).result
    assert r.regs[10] == 8 and r.regs[11] == 2  # 0x7_FFFFFFFE + 3 addi + the csrr of mcycleh
    assert r.regs[12] == 7
    assert r.mcycle == (8 << 32) + 5            # ... + csrr, csrr, and the disabling csrrwi


def test_strict_bus_faults_with_address_pc_and_instruction():
    def prog(p):
        p.li(5, 0x00850000)        # the original's stack address: outside the 1 MiB RAM
        p.sw(6, -4, 5)
    r = run_both(prog).result
    assert r.exit == "fault"
    assert r.fault == f"store at address 0x0084fffc outside mapped memory, pc 0x{BASE + 8:08x} (sw t1, -4(t0))"


def test_as_built_bus_wraps_into_ram_and_counts():
    def prog(p):
        p.li(5, 0x00850000)
        p.li(6, 0xCAFEF00D)
        p.sw(6, 0, 5)              # lands on RAM offset 0x50000 = 0x150000
        p.li(7, 0x00150000)
        p.lw(8, 0, 7)
        p.lw(9, 4, 5)              # unmapped load, reads RAM offset 0x50004
    sim = run_both(prog, cfg=AS_BUILT)
    r = sim.result
    assert r.exit == "halt" and r.regs[8] == 0xCAFEF00D
    assert r.unmapped_count == 2
    assert [(u.kind, u.addr, u.target) for u in r.unmapped] == [("store", 0x00850000, 0x50000), ("load", 0x00850004, 0x50004)]
    assert sim.machine.read_mem(0x150000, 4) == (0xCAFEF00D).to_bytes(4, "little")


def test_strict_fetch_fault_and_as_built_fetch_wrap():
    r = run_both(lambda p: (p.li(5, 0x40), p.jalr(0, 5, 0)), halt=False).result
    assert r.exit == "fault" and r.fault.startswith("fetch at address 0x00000040")
    # as built, pc 0x00000080 aliases RAM offset 0x80: the program itself, which loops forever
    r = run_both(lambda p: (p.li(5, 0x80), p.jalr(0, 5, 0)), cfg=AS_BUILT, halt=False, max_instructions=50).result
    assert r.exit == "limit" and r.unmapped_count > 0


def test_exceptions_trap_as_built():
    def prog(p):
        p.li(5, BASE + 0x100 - 0x80)       # handler base (256-byte aligned): 0x100100
        p.csrrw(0, 0x305, 5)
        p.ecall()
        p.addi(20, 0, 1)                    # resumed here
        p.word(0xFFFFFFFF)                  # illegal instruction
        p.addi(21, 0, 1)
        p.jal(0, "done")
        while p.pc < 0x100100:
            p.c_nop()
        p.csrrs(10, 0x342, 0)               # handler: record mcause
        p.csrrs(11, 0x341, 0)
        p.csrrs(12, 0x343, 0)
        p.add(22, 22, 10)
        p.addi(11, 11, 4)
        p.csrrw(0, 0x341, 11)
        p.mret()
        p.label("done")
    r = run_both(prog, cfg=AS_BUILT).result
    assert r.exit == "halt"
    assert r.regs[20] == 1 and r.regs[21] == 1
    assert r.regs[22] == 11 + 2                  # ecall then illegal
    assert r.regs[12] == 0xFFFFFFFF              # mtval of the illegal instruction


def test_timer_interrupt_and_wfi():
    def prog(p):
        p.li(5, BASE + 0x100 - 0x80)
        p.csrrw(0, 0x305, 5)
        p.li(6, 0x30000)
        p.li(7, 300)
        p.sw(7, 8, 6)                  # mtimecmp = 300
        p.sw(0, 12, 6)
        p.li(7, 0x80)
        p.csrrs(0, 0x304, 7)           # mie.MTIE
        p.csrrsi(0, 0x300, 8)          # mstatus.MIE
        p.label("wait")
        p.wfi()
        p.beq(20, 0, "wait")
        p.lw(21, 0, 6)                 # mtime now
        p.jal(0, "done")
        while p.pc < 0x100100 + 7 * 4:
            p.c_nop()
        p.csrrs(10, 0x342, 0)          # timer vector: base + 4 * 7
        p.addi(20, 0, 1)
        p.li(7, -1)
        p.sw(7, 12, 6)                 # mtimecmp = huge: clears the interrupt
        p.mret()
        p.label("done")
    r = run_both(prog).result
    assert r.exit == "halt"
    assert r.regs[10] == 0x80000007 and r.regs[20] == 1
    assert r.regs[21] >= 300


def test_wfi_without_wake_source_faults():
    r = run_both(lambda p: p.wfi(), halt=False).result
    assert r.exit == "fault" and "wfi" in r.fault


def test_halt_needs_bit0_and_console_output():
    def prog(p):
        p.li(5, 0x20000)
        for ch in b"hi\n":
            p.addi(6, 0, ch)
            p.sb(6, 0, 5)
        p.addi(6, 0, 2)
        p.sw(6, 8, 5)          # bit 0 clear: keeps running
        p.sb(6, 1, 5)          # byte lane 1: not the character register's byte 0
    r = run_both(prog).result
    assert r.exit == "halt" and r.console == b"hi\n"


def test_console_longer_than_the_engine_buffer():
    n = 70_000

    def prog(p):
        p.li(5, 0x20000)
        p.li(6, n)
        p.label("l")
        p.andi(7, 6, 63)
        p.addi(7, 7, 48)
        p.sb(7, 0, 5)
        p.addi(6, 6, -1)
        p.bne(6, 0, "l")
    a = Asm(BASE)
    prog(a)
    a.halt()
    r = simulate(a.assemble(), engine="fast").result
    want = bytes(48 + (k & 63) for k in range(n, 0, -1))
    assert r.console == want


def test_self_modifying_code_is_seen_by_the_fast_engine():
    def prog(p):
        p.addi(10, 0, 0)
        p.addi(11, 0, 2)
        p.label("again")
        p.label_pc = p.pc
        p.addi(10, 10, 1)              # to be patched into addi a0, a0, 100
        p.addi(11, 11, -1)
        p.beq(11, 0, "done")
        p.li(5, 0x06450513)            # encoding of addi a0, a0, 100
        p.li(6, p.label_pc)
        p.sw(5, 0, 6)
        p.fence_i()
        p.jal(0, "again")
        p.label("done")
    r = run_both(prog).result
    assert r.regs[10] == 101


def test_timer_registers_read_time():
    def prog(p):
        p.li(5, 0x30000)
        p.lw(10, 0, 5)     # mtime low: cycles elapsed before this load (2 for the li)
        p.lw(11, 4, 5)
        p.li(6, 1000)
        p.sw(6, 0, 5)      # set mtime
        p.lw(12, 0, 5)
    r = run_both(prog).result
    assert r.regs[10] == 2 and r.regs[11] == 0
    assert r.regs[12] == 1000 + 2


def test_trace_is_the_same_from_both_engines(tmp_path):
    import qformat as qf

    def prog(p):
        p.li(5, 30)
        p.label("l")
        p.addi(5, 5, -1)
        p.mul(6, 5, 5)
        p.bne(5, 0, "l")
    a = Asm(BASE)
    prog(a)
    a.halt()
    code = a.assemble()
    tabs = []
    for eng in ("ref", "fast"):
        path = tmp_path / f"{eng}.arrow"
        sim = simulate(code, engine=eng, trace=str(path))
        t = qf.open(str(path))
        assert t.table_kind == "ibexgen.trace"
        tabs.append((sim.result, t.to_arrow()))
    (r1, t1), (r2, t2) = tabs
    assert t1.num_rows == r1.instructions == t2.num_rows
    for col in ("seq", "pc", "insn", "cycles", "cycle"):
        assert t1.column(col).to_pylist() == t2.column(col).to_pylist()
    cyc = np.array(t1.column("cycles").to_pylist())
    assert cyc.sum() == r1.cycles
    assert t1.column("text").to_pylist()[2] == "addi t0, t0, -1"
