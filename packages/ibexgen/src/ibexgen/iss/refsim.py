"""The reference engine: fetch, decode and execute one instruction at a time.

Slow and obvious on purpose (about half a million instructions per second):
every access goes through :meth:`RefMachine._access` byte by byte, counters
are incremented per instruction exactly as ``ibex_cs_registers.sv`` does
(the inhibit bit *before* the instruction decides), and the cost of each
instruction comes from :class:`~ibexgen.iss.timing.Timing`. The fast C engine
is tested against this one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Optional

from . import isa
from .custom import CompatUnit, XmpqUnit
from .isa import Insn, decode, disasm, sext
from .machine import (
    CSR_CPUCTRL,
    CSR_CYCLE,
    CSR_CYCLEH,
    CSR_INSTRET,
    CSR_INSTRETH,
    CSR_MARCHID,
    CSR_MCAUSE,
    CSR_MCONFIGPTR,
    CSR_MCOUNTINHIBIT,
    CSR_MCYCLE,
    CSR_MCYCLEH,
    CSR_MEPC,
    CSR_MHARTID,
    CSR_MIE,
    CSR_MIMPID,
    CSR_MINSTRET,
    CSR_MINSTRETH,
    CSR_MIP,
    CSR_MISA,
    CSR_MSCRATCH,
    CSR_MSTATUS,
    CSR_MSTATUSH,
    CSR_MTVAL,
    CSR_MTVEC,
    CSR_MVENDORID,
    EXC_BREAKPOINT,
    EXC_ECALL_M,
    EXC_ILLEGAL,
    EXIT_FAULT,
    EXIT_HALT,
    EXIT_LIMIT,
    IRQ_TIMER_CAUSE,
    MARCHID_VALUE,
    MCOUNTINHIBIT_MASK,
    MIE_MASK,
    MIP_MTIP,
    MISA_VALUE,
    MSTATUS_MASK,
    MSTATUS_MIE,
    MSTATUS_MPIE,
    MSTATUS_MPP,
    Config,
    RunResult,
    SimFault,
    UnmappedAccess,
    fault_line,
)
from .memmap import SIMCTRL_CTRL, SIMCTRL_OUT, TIMER_CMP_HI, TIMER_CMP_LO, TIMER_MTIME_HI, TIMER_MTIME_LO

M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1
MAX_UNMAPPED_LOG = 16


class _Trap(Exception):
    """An instruction raised an exception (illegal instruction, ecall, ebreak)."""

    def __init__(self, cause: int = EXC_ILLEGAL, tval: int = 0, text: str = ""):
        super().__init__(text)
        self.cause, self.tval, self.text = cause, tval, text


_Illegal = _Trap


class RefMachine:
    """Architectural state plus memories of one simulated Ibex system."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.mm = cfg.memmap
        self.t = cfg.timing
        self.mem = [bytearray(r.size) for r in self.mm.regions]
        self.x = [0] * 32
        self.pc = cfg.entry if cfg.entry is not None else self.mm.reset_pc
        boot = self.mm.reset_pc - 0x80
        self.mstatus, self.mie, self.mtvec = 0, 0, (boot & ~0xFF) | 1
        self.mscratch = self.mepc = self.mcause = self.mtval = self.cpuctrl = 0
        self.mcountinhibit = 0
        self.mcycle = 0
        self.minstret = 0
        self.cycles = 0
        self.instret = 0
        self.mtime_off = 0      # mtime = cycles + mtime_off
        self.mtimecmp = 0
        self.compat = CompatUnit()
        self.xmpq = XmpqUnit()
        self.console = bytearray()
        self.halted = False
        self.unmapped_count = 0
        self.unmapped: list[UnmappedAccess] = []
        self.timer = self.mm.device("timer")
        self.trace_hook: Optional[Callable[[int, Insn, int], None]] = None
        self._wrote_mcycle = self._wrote_minstret = False

    # ---- loading -----------------------------------------------------------
    def load(self, chunks: list[tuple[int, bytes, int]]) -> None:
        """Copy (addr, data, memsz) chunks into memory; the bytes past data are zero."""
        for addr, data, memsz in chunks:
            i = self.mm.region_of(addr)
            r = self.mm.regions[i]
            off = addr - r.base
            self.mem[i][off:off + len(data)] = data
            self.mem[i][off + len(data):off + memsz] = bytes(memsz - len(data))

    # ---- memory --------------------------------------------------------------
    def _locate(self, addr: int, kind: str, pc: int) -> tuple[int, int]:
        """(region index, offset) of one byte; strict faults, as-built wraps into memory 0."""
        addr &= M32
        i = self.mm.region_of(addr)
        if i is not None:
            return i, addr - self.mm.regions[i].base
        if self.cfg.bus == "strict":
            raise SimFault(fault_line(kind, addr, pc, self._text_at(pc)))
        return 0, addr & self.mm.fallback_mask

    def _places(self, addr: int, size: int, kind: str, pc: int) -> _Places:
        """Where each byte of an access goes (located before any side effect)."""
        i = self.mm.region_of(addr)
        if i is not None and self.mm.regions[i].contains(addr + size - 1):
            off = addr - self.mm.regions[i].base
            return _Places([(i, off + b) for b in range(size)], False)
        return _Places([self._locate(addr + b, kind, pc) for b in range(size)],
                       any(self.mm.region_of((addr + b) & M32) is None for b in range(size)))

    def _note_unmapped(self, kind: str, addr: int, pc: int) -> None:
        self.unmapped_count += 1
        if len(self.unmapped) < MAX_UNMAPPED_LOG:
            self.unmapped.append(UnmappedAccess(kind, addr & M32, pc, addr & self.mm.fallback_mask))

    def _span(self, addr: int, size: int) -> Optional[tuple[int, int]]:
        """(region, offset) when all ``size`` bytes lie in one memory; else None."""
        i = self.mm.region_of(addr)
        if i is not None and addr - self.mm.regions[i].base + size <= self.mm.regions[i].size:
            return i, addr - self.mm.regions[i].base
        return None

    def _access(self, addr: int, size: int, kind: str, pc: int, value: int = 0) -> int:
        """One data access (a load unless kind == 'store'); a device by its first byte.

        Every byte is located before anything happens, so a strict-mode fault has
        no side effect."""
        addr &= M32
        dev = self.mm.device_of(addr)
        if dev is not None:
            return self._device(dev, addr, size, kind, value)
        span = self._span(addr, size)
        if span is not None:  # the common case: inside one memory
            i, off = span
            if kind == "store":
                self.mem[i][off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
                return 0
            return int.from_bytes(self.mem[i][off:off + size], "little")
        places = self._places(addr, size, kind, pc)
        out = 0
        for b, (i, off) in enumerate(places):
            if off >= self.mm.regions[i].size:  # as-built: beyond a non-power-of-two memory
                continue
            if kind == "store":
                self.mem[i][off] = (value >> (8 * b)) & 0xFF
            else:
                out |= self.mem[i][off] << (8 * b)
        if places.unmapped:
            self._note_unmapped(kind, addr, pc)
        return out

    def _device(self, dev, addr: int, size: int, kind: str, value: int) -> int:
        word_off = (addr - dev.base) & ~3
        lane = addr & 3
        covers_byte0 = lane == 0
        now = self.cycles + self.mtime_off
        if dev.kind == "simctrl":
            if kind == "store" and covers_byte0:
                if word_off == SIMCTRL_OUT:
                    self.console.append(value & 0xFF)
                elif word_off == SIMCTRL_CTRL and value & 1:
                    self.halted = True
            return 0
        # timer: 32-bit registers; sub-word accesses see the addressed bytes
        if kind == "store":
            wv = (value << (8 * lane)) & M32
            mask = (((1 << (8 * size)) - 1) << (8 * lane)) & M32
            if word_off == TIMER_MTIME_LO:
                self.mtime_off = ((now & ~M32) | ((now & M32 & ~mask) | wv)) - self.cycles
            elif word_off == TIMER_MTIME_HI:
                hi = (((now >> 32) & ~mask) | wv) & M32
                self.mtime_off = ((hi << 32) | (now & M32)) - self.cycles
            elif word_off == TIMER_CMP_LO:
                lo = ((self.mtimecmp & M32) & ~mask) | wv
                self.mtimecmp = (self.mtimecmp & ~M32) | lo
            elif word_off == TIMER_CMP_HI:
                hi = (((self.mtimecmp >> 32) & ~mask) | wv) & M32
                self.mtimecmp = (hi << 32) | (self.mtimecmp & M32)
            return 0
        regs = {TIMER_MTIME_LO: now & M32, TIMER_MTIME_HI: (now >> 32) & M32,
                TIMER_CMP_LO: self.mtimecmp & M32, TIMER_CMP_HI: (self.mtimecmp >> 32) & M32}
        return (regs.get(word_off, 0) >> (8 * lane)) & ((1 << (8 * size)) - 1)

    def _fetch16(self, addr: int, pc: int) -> int:
        addr &= M32
        span = self._span(addr, 2)
        if span is not None:
            i, off = span
            return self.mem[i][off] | (self.mem[i][off + 1] << 8)
        places = self._places(addr, 2, "fetch", pc)
        lo = 0
        for b, (i, off) in enumerate(places):
            if off < self.mm.regions[i].size:
                lo |= self.mem[i][off] << (8 * b)
        if places.unmapped:
            self._note_unmapped("fetch", addr, pc)
        return lo

    def _text_at(self, pc: int) -> str:
        try:
            i = self.mm.region_of(pc)
            if i is None:
                return "no instruction there"
            off = pc - self.mm.regions[i].base
            w = int.from_bytes(self.mem[i][off:off + 4].ljust(4, b"\0"), "little")
            return disasm(decode(w), pc)
        except Exception:  # pragma: no cover - diagnostics only
            return "?"

    # ---- CSRs --------------------------------------------------------------
    def mtime(self) -> int:
        return (self.cycles + self.mtime_off) & M64

    def mip(self) -> int:
        if self.timer is not None and self.mtime() >= self.mtimecmp:
            return MIP_MTIP
        return 0

    def csr_read(self, n: int) -> int:
        table = {
            CSR_MSTATUS: self.mstatus, CSR_MSTATUSH: 0, CSR_MISA: MISA_VALUE, CSR_MIE: self.mie,
            CSR_MTVEC: self.mtvec, CSR_MCOUNTINHIBIT: self.mcountinhibit, CSR_MSCRATCH: self.mscratch,
            CSR_MEPC: self.mepc, CSR_MCAUSE: self.mcause, CSR_MTVAL: self.mtval, CSR_MIP: self.mip(),
            CSR_MCYCLE: self.mcycle & M32, CSR_MCYCLEH: (self.mcycle >> 32) & M32,
            CSR_MINSTRET: self.minstret & M32, CSR_MINSTRETH: (self.minstret >> 32) & M32,
            CSR_CYCLE: self.mcycle & M32, CSR_CYCLEH: (self.mcycle >> 32) & M32,
            CSR_INSTRET: self.minstret & M32, CSR_INSTRETH: (self.minstret >> 32) & M32,
            CSR_MVENDORID: 0, CSR_MARCHID: MARCHID_VALUE, CSR_MIMPID: 0, CSR_MHARTID: 0, CSR_MCONFIGPTR: 0,
            CSR_CPUCTRL: self.cpuctrl,
        }
        if n in table:
            return table[n]
        if 0xB03 <= n <= 0xB1F or 0xB83 <= n <= 0xB9F or 0x323 <= n <= 0x33F or 0x7A0 <= n <= 0x7A3:
            return 0  # mhpmcounter3..31(h), mhpmevent3..31, trigger CSRs: not implemented, read as zero
        raise _Illegal()

    def csr_write(self, n: int, v: int) -> None:
        v &= M32
        if (n >> 10) == 3:
            raise _Illegal()  # read-only CSR space
        if n == CSR_MSTATUS:
            self.mstatus = v & MSTATUS_MASK
        elif n == CSR_MIE:
            self.mie = v & MIE_MASK
        elif n == CSR_MTVEC:
            self.mtvec = (v & ~0xFF) | 1   # Ibex: vectored mode only, 256-byte aligned
        elif n == CSR_MCOUNTINHIBIT:
            self.mcountinhibit = v & MCOUNTINHIBIT_MASK
        elif n == CSR_MSCRATCH:
            self.mscratch = v
        elif n == CSR_MEPC:
            self.mepc = v & ~1
        elif n == CSR_MCAUSE:
            self.mcause = v
        elif n == CSR_MTVAL:
            self.mtval = v
        elif n == CSR_MCYCLE:
            self.mcycle = (self.mcycle & ~M32) | v
            self._wrote_mcycle = True
        elif n == CSR_MCYCLEH:
            self.mcycle = (v << 32) | (self.mcycle & M32)
            self._wrote_mcycle = True
        elif n == CSR_MINSTRET:
            self.minstret = (self.minstret & ~M32) | v
            self._wrote_minstret = True
        elif n == CSR_MINSTRETH:
            self.minstret = (v << 32) | (self.minstret & M32)
            self._wrote_minstret = True
        elif n == CSR_CPUCTRL:
            self.cpuctrl = v & 0xFF
        elif n in (CSR_MISA, CSR_MIP, CSR_MSTATUSH) or 0xB03 <= n <= 0xB1F or 0xB83 <= n <= 0xB9F \
                or 0x323 <= n <= 0x33F or 0x7A0 <= n <= 0x7A3:
            pass  # WARL / not implemented: writes ignored
        else:
            raise _Illegal()

    # ---- traps ---------------------------------------------------------------
    def _trap(self, cause: int, epc: int, tval: int = 0) -> None:
        self.mepc = epc & ~1
        self.mcause = cause
        self.mtval = tval & M32
        mie = self.mstatus & MSTATUS_MIE
        self.mstatus = (self.mstatus & ~(MSTATUS_MIE | MSTATUS_MPIE)) | (MSTATUS_MPIE if mie else 0) | MSTATUS_MPP
        base = self.mtvec & ~0xFF
        self.pc = (base + 4 * (cause & 0x1F)) & M32 if cause & 0x80000000 else base

    def _irq_ready(self) -> bool:
        return bool(self.mstatus & MSTATUS_MIE) and bool(self.mie & self.mip())

    # ---- execution -----------------------------------------------------------
    def rx(self, r: int) -> int:
        return self.x[r]

    def wx(self, r: int, v: int) -> None:
        if r:
            self.x[r] = v & M32

    def step(self) -> None:
        """Execute one instruction (or take a pending interrupt first)."""
        t = self.t
        if self._irq_ready():
            self._trap(IRQ_TIMER_CAUSE, self.pc)
            self._count(1 + t.jump_stall, retired=False)
        pc = self.pc
        lo = self._fetch16(pc, pc)
        word = lo | (self._fetch16((pc + 2) & M32, pc) << 16) if (lo & 3) == 3 else lo
        ins = decode(word)
        inhibit = self.mcountinhibit
        self._wrote_mcycle = self._wrote_minstret = False
        try:
            cost = self.execute(ins, pc)
        except _Trap as tr:
            if tr.cause == EXC_ILLEGAL:
                tr.tval, tr.text = ins.raw, f"illegal instruction 0x{ins.raw:0{2 * ins.size}x} ({disasm(ins, pc)})"
            if self.cfg.bus == "strict":
                raise SimFault(f"{tr.text} at pc 0x{pc:08x}") from None
            self._trap(tr.cause, pc, tr.tval)
            self._count(1 + t.jump_stall, retired=False)
            return
        if self.trace_hook is not None:
            self.trace_hook(pc, ins, cost)
        self.cycles += cost
        self.instret += 1
        if not inhibit & 1 and not self._wrote_mcycle:
            self.mcycle = (self.mcycle + cost) & M64
        if not inhibit & 4 and not self._wrote_minstret:
            self.minstret = (self.minstret + 1) & M64

    def _count(self, cost: int, retired: bool) -> None:
        self.cycles += cost
        if not self.mcountinhibit & 1:
            self.mcycle = (self.mcycle + cost) & M64
        if retired:
            self.instret += 1
            if not self.mcountinhibit & 4:
                self.minstret = (self.minstret + 1) & M64

    def execute(self, i: Insn, pc: int) -> int:
        """Execute ``i`` at ``pc``; set the next pc; return its cycle count."""
        t = self.t
        op = i.op
        a = self.x[i.rs1]
        b = self.x[i.rs2]
        nxt = (pc + i.size) & M32
        cost = 1
        if op == "illegal":
            raise _Illegal()
        elif op == "lui":
            self.wx(i.rd, i.imm)
        elif op == "auipc":
            self.wx(i.rd, pc + i.imm)
        elif op == "jal":
            self.wx(i.rd, nxt)
            nxt = (pc + i.imm) & M32
            cost += t.jump_stall
        elif op == "jalr":
            target = (a + i.imm) & M32 & ~1
            self.wx(i.rd, nxt)
            nxt = target
            cost += t.jump_stall
        elif op in isa.BRANCHES:
            if _BRANCH[op](a, b):
                nxt = (pc + i.imm) & M32
                cost += t.branch_taken_stall
        elif op in isa.LOADS:
            addr = (a + i.imm) & M32
            size = _SIZES[op]
            v = self._access(addr, size, "load", pc)
            if op == "lb":
                v = sext(v, 8)
            elif op == "lh":
                v = sext(v, 16)
            self.wx(i.rd, v)
            cost += t.mem_stall + (t.misaligned_stall if (addr & 3) + size > 4 else 0)
        elif op in isa.STORES:
            addr = (a + i.imm) & M32
            size = _SIZES[op]
            self._access(addr, size, "store", pc, b & ((1 << (8 * size)) - 1))
            cost += t.mem_stall + (t.misaligned_stall if (addr & 3) + size > 4 else 0)
        elif op in _ALU_I:
            self.wx(i.rd, _ALU_I[op](a, i.imm))
        elif op == "slli":
            self.wx(i.rd, a << i.imm)
        elif op == "srli":
            self.wx(i.rd, a >> i.imm)
        elif op == "srai":
            self.wx(i.rd, sext(a, 32) >> i.imm)
        elif op in _ALU_R:
            self.wx(i.rd, _ALU_R[op](a, b))
        elif op in isa.MULS:
            self.wx(i.rd, _MUL[op](a, b))
            cost = t.mul_cycles(op, b)
        elif op in isa.DIVS:
            self.wx(i.rd, _divide(op, a, b))
            cost = t.div_cost(b)
        elif op == "fence":
            pass
        elif op == "fence.i":
            cost += t.jump_stall
        elif op in isa.CSRS:
            cost = self._csr(i)
        elif op == "ecall":
            raise _Trap(EXC_ECALL_M, 0, "ecall")
        elif op == "ebreak":
            raise _Trap(EXC_BREAKPOINT, pc, "ebreak")
        elif op == "mret":
            mpie = self.mstatus & MSTATUS_MPIE
            self.mstatus = (self.mstatus & ~MSTATUS_MIE) | (MSTATUS_MIE if mpie else 0) | MSTATUS_MPIE
            nxt = self.mepc
            cost += t.jump_stall
        elif op == "wfi":
            cost += self._wfi(pc)
        elif op in isa.COMPAT_OPS:
            if not self.cfg.compat:
                raise _Illegal()
            if op == "neur_init":
                self.wx(i.rd, self.compat.init(a, b))
                cost = t.custom_cycles
            elif op == "nn_mac":
                self.wx(i.rd, self.compat.mac(a, b))
                cost = t.custom_cycles
            else:
                self.wx(i.rd, self.compat.res(a, b))
                cost = t.neur_res_cycles
        elif op in isa.XMPQ_OPS:
            if not self.cfg.xmpq:
                raise _Illegal()
            f7 = i.imm
            if op == "xm.init":
                self.xmpq.init(f7, a, b)
                cost = t.custom_cycles
            elif op == "xm.mac":
                self.xmpq.mac(f7, a, b)
                cost = t.custom_cycles
            elif op == "xm.get":
                self.wx(i.rd, self.xmpq.get(f7))
                cost = t.custom_cycles
            else:
                self.wx(i.rd, self.xmpq.rq(f7, a, b))
                cost = t.xm_rq_cycles
        else:  # pragma: no cover - every decoded op is handled above
            raise _Illegal()
        self.pc = nxt
        return cost

    def _csr(self, i: Insn) -> int:
        op, n = i.op, i.imm
        src = i.rs1 if op.endswith("i") else self.x[i.rs1]
        old = self.csr_read(n)
        if op in ("csrrw", "csrrwi"):
            new, write = src, True
        elif op in ("csrrs", "csrrsi"):
            new, write = old | src, i.rs1 != 0
        else:
            new, write = old & ~src, i.rs1 != 0
        if write:
            self.csr_write(n, new)
        self.wx(i.rd, old)
        return 1

    def _wfi(self, pc: int) -> int:
        if self.mie & self.mip():
            return 0
        if self.timer is not None and self.mie & MIP_MTIP:
            return max(0, self.mtimecmp - self.mtime() - 1)
        raise SimFault(f"wfi at pc 0x{pc:08x} with no enabled interrupt that could wake the core")

    # ---- running ---------------------------------------------------------------
    def run(self, max_instructions: Optional[int] = None) -> RunResult:
        limit = self.cfg.max_instructions if max_instructions is None else max_instructions
        start = time.perf_counter()
        exit_, fault = EXIT_LIMIT, ""
        try:
            while self.instret < limit:
                self.step()
                if self.halted:
                    exit_ = EXIT_HALT
                    break
        except SimFault as e:
            exit_, fault = EXIT_FAULT, str(e)
        return self.result(exit_, fault, time.perf_counter() - start)

    def result(self, exit_: str, fault: str, seconds: float) -> RunResult:
        return RunResult(
            exit=exit_, fault=fault, pc=self.pc, regs=list(self.x), cycles=self.cycles,
            instructions=self.instret, mcycle=self.mcycle, minstret=self.minstret, console=bytes(self.console),
            unmapped_count=self.unmapped_count, unmapped=list(self.unmapped), csrs=self.csr_snapshot(),
            custom={"compat_acc": [v & M32 for v in self.compat.acc], "compat_mode_it": [self.compat.mode, self.compat.it],
                    "xmpq_acc": [v & M32 for v in self.xmpq.acc]},
            engine="ref", seconds=seconds)

    def csr_snapshot(self) -> dict[str, int]:
        return {"mstatus": self.mstatus, "mie": self.mie, "mtvec": self.mtvec, "mepc": self.mepc,
                "mcause": self.mcause, "mtval": self.mtval, "mscratch": self.mscratch,
                "mcountinhibit": self.mcountinhibit, "mtimecmp": self.mtimecmp, "mtime": self.mtime()}

    def read_mem(self, addr: int, n: int) -> bytes:
        i = self.mm.region_of(addr)
        if i is None or self.mm.region_of(addr + n - 1) != i:
            raise ValueError(f"0x{addr:08x}+{n} is not inside one memory")
        off = addr - self.mm.regions[i].base
        return bytes(self.mem[i][off:off + n])


class _Places(list):
    def __init__(self, items, unmapped: bool):
        super().__init__(items)
        self.unmapped = unmapped


_SIZES = {"lb": 1, "lbu": 1, "lh": 2, "lhu": 2, "lw": 4, "sb": 1, "sh": 2, "sw": 4}


def _s(v: int) -> int:
    return sext(v, 32)


# Operand values are unsigned 32-bit; results are masked by wx().
_BRANCH = {"beq": lambda a, b: a == b, "bne": lambda a, b: a != b, "blt": lambda a, b: _s(a) < _s(b),
           "bge": lambda a, b: _s(a) >= _s(b), "bltu": lambda a, b: a < b, "bgeu": lambda a, b: a >= b}
_ALU_I = {"addi": lambda a, imm: a + imm, "slti": lambda a, imm: int(_s(a) < imm),
          "sltiu": lambda a, imm: int(a < (imm & M32)), "xori": lambda a, imm: a ^ (imm & M32),
          "ori": lambda a, imm: a | (imm & M32), "andi": lambda a, imm: a & (imm & M32)}
_ALU_R = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "sll": lambda a, b: a << (b & 31),
          "slt": lambda a, b: int(_s(a) < _s(b)), "sltu": lambda a, b: int(a < b), "xor": lambda a, b: a ^ b,
          "srl": lambda a, b: a >> (b & 31), "sra": lambda a, b: _s(a) >> (b & 31), "or": lambda a, b: a | b,
          "and": lambda a, b: a & b}
_MUL = {"mul": lambda a, b: a * b, "mulh": lambda a, b: (_s(a) * _s(b)) >> 32,
        "mulhsu": lambda a, b: (_s(a) * b) >> 32, "mulhu": lambda a, b: (a * b) >> 32}


def _divide(op: str, a: int, b: int) -> int:
    """RISC-V M division semantics, including divide by zero and overflow."""
    if op in ("div", "rem"):
        sa, sb = sext(a, 32), sext(b, 32)
        if sb == 0:
            return -1 if op == "div" else sa
        if sa == -(1 << 31) and sb == -1:
            return sa if op == "div" else 0
        q = abs(sa) // abs(sb)
        if (sa < 0) != (sb < 0):
            q = -q
        return q if op == "div" else sa - q * sb
    if b == 0:
        return M32 if op == "divu" else a
    return a // b if op == "divu" else a % b
