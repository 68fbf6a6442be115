"""Fast engine vs reference engine on random programs: same state, memory, cycles, counts."""

from __future__ import annotations

import random

from helpers import DATA, run_both
from hypothesis import given
from hypothesis import strategies as st

from ibexgen.iss.asm import BRANCH_OPS, I_OPS, LOAD_OPS, R_OPS, SHIFT_OPS, STORE_OPS, Asm
from ibexgen.iss.machine import Config
from ibexgen.iss.timing import Timing

PTR = 5  # x5 keeps a pointer into a scratch data area; never overwritten


def _reg(rng, allow_ptr=False):
    while True:
        r = rng.randrange(32)
        if allow_ptr or r != PTR:
            return r


def _creg(rng):
    while True:
        r = rng.randrange(8, 16)
        if r != PTR:
            return r


def random_program(seed: int, n: int = 150) -> bytes:
    rng = random.Random(seed)
    a = Asm()
    a.li(PTR, DATA + 0x800)
    for r in range(1, 32):
        if r != PTR:
            a.li(r, rng.choice([0, 1, -1, 0x7FFFFFFF, 0x80000000, rng.getrandbits(32), rng.randrange(-300, 300)]))
    pending: list[list] = []  # [label, instructions left]
    lab = 0
    for _ in range(n):
        k = rng.random()
        if k < 0.25:
            a.r(rng.choice(list(R_OPS)), _reg(rng), _reg(rng, True), _reg(rng, True))
        elif k < 0.40:
            name = rng.choice(list(I_OPS) + list(SHIFT_OPS))
            imm = rng.randrange(32) if name in SHIFT_OPS else rng.randrange(-2048, 2048)
            a.i(name, _reg(rng), _reg(rng, True), imm)
        elif k < 0.50:
            a.load(rng.choice(list(LOAD_OPS)), _reg(rng), rng.randrange(-2048, 2048), PTR)
        elif k < 0.58:
            a.store(rng.choice(list(STORE_OPS)), _reg(rng, True), rng.randrange(-2048, 2048), PTR)
        elif k < 0.66:
            name = f"L{lab}"
            lab += 1
            a.branch(rng.choice(list(BRANCH_OPS)), _reg(rng, True), _reg(rng, True), name)
            pending.append([name, rng.randrange(0, 4)])
        elif k < 0.70:
            a.lui(_reg(rng), rng.getrandbits(20)) if rng.random() < 0.5 else a.auipc(_reg(rng), rng.getrandbits(20))
        elif k < 0.80:
            c = rng.randrange(9)
            if c == 0:
                a.c_addi(_reg(rng), rng.randrange(-32, 32))
            elif c == 1:
                a.c_li(_reg(rng), rng.randrange(-32, 32))
            elif c == 2:
                a.c_mv(_reg(rng), rng.randrange(1, 32))
            elif c == 3:
                a.c_add(_reg(rng), rng.randrange(1, 32))
            elif c == 4:
                getattr(a, rng.choice(["c_sub", "c_xor", "c_or", "c_and"]))(_creg(rng), rng.randrange(8, 16))
            elif c == 5:
                getattr(a, rng.choice(["c_srli", "c_srai"]))(_creg(rng), rng.randrange(32))
            elif c == 6:
                a.c_andi(_creg(rng), rng.randrange(-32, 32))
            elif c == 7:
                a.c_slli(_reg(rng), rng.randrange(32))
            else:
                rd = _reg(rng)
                a.c_lui(rd if rd not in (0, 2) else 1, rng.choice([v for v in range(-32, 32) if v]))
        elif k < 0.86:
            c = rng.randrange(3)
            if c == 0:
                a.neur_init(_reg(rng, True), _reg(rng, True))
            elif c == 1:
                a.nn_mac(rng.choice([8, 4, 2]), _reg(rng, True), _reg(rng, True), rd=rng.choice([0, _reg(rng)]))
            else:
                a.neur_res(_reg(rng), _reg(rng, True), _reg(rng, True))
        elif k < 0.93:
            c = rng.randrange(4)
            if c == 0:
                a.xm_init(rng.randrange(2), _reg(rng, True), _reg(rng, True))
            elif c == 1:
                f7 = rng.choice([w | (s << 2) | (sel << 3) for w, n in ((0, 4), (1, 2), (2, 1), (3, 1))
                                 for sel in range(n) for s in (0, 1)])
                a.xm_mac(f7, _reg(rng, True), _reg(rng, True))
            elif c == 2:
                a.xm_get(_reg(rng), rng.randrange(4))
            else:
                a.xm_rq(rng.randrange(8), _reg(rng), _reg(rng, True), _reg(rng, True))
        else:
            c = rng.randrange(4)
            if c == 0:
                a.csrrw(_reg(rng), 0x340, _reg(rng, True))
            elif c == 1:
                a.csrrs(_reg(rng), rng.choice([0xB00, 0xB02, 0xB80, 0x344, 0x300]), 0)
            elif c == 2:
                a.csrrwi(0, 0x320, rng.choice([0, 1, 4, 5]))
            else:
                a.csrrw(0, rng.choice([0xB00, 0xB02]), _reg(rng, True))
        for p in pending:
            p[1] -= 1
        for p in [p for p in pending if p[1] < 0]:
            a.label(p[0])
            pending.remove(p)
    for p in pending:
        a.label(p[0])
    a.halt()
    return a.assemble()


@given(seed=st.integers(0, 2**32 - 1))
def test_random_programs_agree(seed):
    r = run_both(code=random_program(seed)).result
    assert r.exit == "halt"


@given(seed=st.integers(0, 2**32 - 1), mult=st.sampled_from(["single", "fast", "slow"]))
def test_random_programs_agree_other_timings(seed, mult):
    cfg = Config(timing=Timing(multiplier=mult, neur_res_cycles=5, mem_stall=2, branch_taken_stall=1))
    r = run_both(code=random_program(seed, 80), cfg=cfg).result
    assert r.exit == "halt"


@given(seed=st.integers(0, 2**32 - 1))
def test_random_programs_agree_as_built_with_wild_pointers(seed):
    """Loads/stores through a pointer outside RAM: strict faults identically, as-built wraps identically."""
    rng = random.Random(seed)
    a = Asm()
    a.li(6, rng.choice([0x00850000, 0x0, 0xFFFFFFF0, 0x001FFFFE, 0x00020004, 0x00030000]))
    a.li(7, rng.getrandbits(32))
    for _ in range(20):
        if rng.random() < 0.5:
            a.store(rng.choice(list(STORE_OPS)), 7, rng.randrange(-16, 16), 6)
        else:
            a.load(rng.choice(list(LOAD_OPS)), rng.randrange(8, 16), rng.randrange(-16, 16), 6)
    a.halt()
    code = a.assemble()
    for bus in ("strict", "as-built"):
        run_both(code=code, cfg=Config(bus=bus))
