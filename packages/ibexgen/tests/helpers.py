"""Shared test helpers: run hand-assembled programs on both engines and compare them."""

from __future__ import annotations

from ibexgen.iss import simulate
from ibexgen.iss.asm import Asm
from ibexgen.iss.machine import Config

BASE = 0x00100080
DATA = 0x00180000  # a scratch data area inside the simple system's RAM


def assemble(build, base: int = BASE, halt: bool = True) -> bytes:
    a = Asm(base)
    build(a)
    if halt:
        a.halt()
    return a.assemble()


def compare(r1, r2, m1=None, m2=None) -> None:
    """Everything architecturally visible must agree between two runs."""
    assert r1.exit == r2.exit, (r1.fault, r2.fault)
    assert r1.fault == r2.fault
    assert r1.pc == r2.pc
    assert r1.regs == r2.regs
    assert (r1.cycles, r1.instructions, r1.mcycle, r1.minstret) == (r2.cycles, r2.instructions, r2.mcycle, r2.minstret)
    assert r1.csrs == r2.csrs
    assert r1.custom == r2.custom
    assert r1.console == r2.console
    assert r1.unmapped_count == r2.unmapped_count
    assert [(u.kind, u.addr, u.pc, u.target) for u in r1.unmapped] == [(u.kind, u.addr, u.pc, u.target) for u in r2.unmapped]
    if m1 is not None and m2 is not None:
        for a, b in zip(m1.mem, m2.mem):
            assert bytes(a) == bytes(b)


def run_both(build=None, code: bytes | None = None, cfg: Config | None = None, max_instructions: int = 100_000,
             halt: bool = True, chunks=None):
    """Run on the reference and the fast engine; assert they agree; return the reference run."""
    cfg = cfg or Config()
    if chunks is None:
        code = code if code is not None else assemble(build, halt=halt)
        prog = code
    else:
        prog = chunks
    ref = simulate(prog, cfg, engine="ref", max_instructions=max_instructions)
    fast = simulate(prog, cfg, engine="fast", max_instructions=max_instructions)
    compare(ref.result, fast.result, ref.machine, fast.machine)
    return ref
