"""The fast engine: ctypes front end of the C interpreter in ``csrc/iss.c``.

Why a small C interpreter rather than the alternatives (see README "ISS speed"):
a Python basic-block translator tops out around 5-10 M instr/s and makes
self-modifying code and exact per-instruction timing awkward; unicorn (QEMU)
has no hook for custom opcodes except the invalid-instruction trap, which
would cost a Python round trip on every ``nn_mac`` - the instruction our
kernels execute most - and cannot reproduce the as-built bus without mapping
4096 aliases. A 900-line C interpreter over a pre-decoded instruction cache
runs hundreds of millions of instructions per second, keeps timing exact per
instruction, and is compiled on first use by the host C compiler or by pip's
``ziglang``.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from typing import Optional

import numpy as np

from .build import engine_library
from .isa import decode, disasm
from .machine import EXIT_FAULT, EXIT_HALT, EXIT_LIMIT, Config, RunResult, UnmappedAccess, fault_line

# state indices (enum S_* in iss.c)
S_X, S_PC = 0, 32
(S_MSTATUS, S_MIE, S_MTVEC, S_MEPC, S_MCAUSE, S_MTVAL, S_MSCRATCH, S_MCOUNTINHIBIT, S_CPUCTRL, S_MCYCLE,
 S_MINSTRET, S_CYCLES, S_INSTRET, S_MTIME, S_MTIMECMP) = range(33, 48)
S_CACC = 48
S_CMODE, S_CIT = 52, 53
S_XACC = 54
S_HALTED, S_EXIT, S_FKIND, S_FADDR, S_FPC, S_FINSN, S_UMCOUNT, S_UMN = range(58, 66)
S_UMLOG = 66
UNMAPPED_LOG = 16
S_CONSOLE_LEN = S_UMLOG + 4 * UNMAPPED_LOG
S_TRACE_N = S_CONSOLE_LEN + 1
ABI_VERSION = 3

X_HALT, X_FAULT, X_LIMIT, X_TRACE, X_CONSOLE = 1, 2, 3, 4, 5
FAULT_KINDS = {1: "load", 2: "store", 3: "fetch", 4: "illegal", 5: "ecall", 6: "ebreak", 7: "wfi"}
CONSOLE_CAP = 1 << 16

_LIB = None


def _lib():
    global _LIB
    if _LIB is None:
        lib = ctypes.CDLL(str(engine_library()))
        lib.iss_new.restype = ctypes.c_void_p
        lib.iss_free.argtypes = [ctypes.c_void_p]
        lib.iss_add_region.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p]
        lib.iss_set_device.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_uint32]
        lib.iss_configure.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
        lib.iss_set_console.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
        lib.iss_set_trace.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
        lib.iss_get.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.iss_get.restype = ctypes.c_uint64
        lib.iss_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64]
        lib.iss_run.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]
        lib.iss_run.restype = ctypes.c_int
        if lib.iss_abi_version() != ABI_VERSION:  # pragma: no cover - stale cache
            raise RuntimeError("stale ISS engine library; remove the ibexgen cache directory")
        _LIB = lib
    return _LIB


def available() -> bool:
    """True when the C engine can be built/loaded on this machine."""
    try:
        _lib()
        return True
    except Exception:
        return False


class FastMachine:
    """Same interface as :class:`~ibexgen.iss.refsim.RefMachine`, backed by C."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.mm = cfg.memmap
        self.lib = _lib()
        self.h = self.lib.iss_new()
        self.mem = [np.zeros(r.size, dtype=np.uint8) for r in self.mm.regions]
        for r, m in zip(self.mm.regions, self.mem):
            self.lib.iss_add_region(self.h, r.base, r.size, m.ctypes.data)
        for d in self.mm.devices:
            self.lib.iss_set_device(self.h, 0 if d.kind == "simctrl" else 1, d.base, d.size)
        t = cfg.timing
        c = (ctypes.c_uint32 * 14)(
            1 if cfg.bus == "as-built" else 0, self.mm.fallback_mask, int(cfg.compat), int(cfg.xmpq),
            t.mem_stall, t.misaligned_stall, t.branch_taken_stall, t.jump_stall, t.div_cycles, t.div_zero_cycles,
            t.custom_cycles, t.neur_res_cycles, t.xm_rq_cycles, ("single", "fast", "slow").index(t.multiplier))
        boot = self.mm.reset_pc - 0x80
        self.lib.iss_set(self.h, S_MTVEC, (boot & ~0xFF) | 1)
        self.lib.iss_configure(self.h, c)
        self.lib.iss_set(self.h, S_PC, cfg.entry if cfg.entry is not None else self.mm.reset_pc)
        self.console_buf = np.zeros(CONSOLE_CAP, dtype=np.uint8)
        self.lib.iss_set_console(self.h, self.console_buf.ctypes.data, CONSOLE_CAP)
        self.console = bytearray()
        self.trace_hook: Optional[Callable] = None  # (pc array, insn array, cycles array) per chunk
        self.trace_chunk = 1 << 16

    def __del__(self):
        h, self.h = getattr(self, "h", None), None
        if h:
            self.lib.iss_free(h)

    def load(self, chunks: list[tuple[int, bytes, int]]) -> None:
        for addr, data, memsz in chunks:
            i = self.mm.region_of(addr)
            off = addr - self.mm.regions[i].base
            self.mem[i][off:off + len(data)] = np.frombuffer(data, dtype=np.uint8)
            self.mem[i][off + len(data):off + memsz] = 0

    def get(self, i: int) -> int:
        return int(self.lib.iss_get(self.h, i))

    @property
    def pc(self) -> int:
        return self.get(S_PC)

    @property
    def x(self) -> list[int]:
        return [self.get(S_X + i) for i in range(32)]

    def _drain_console(self) -> None:
        n = self.get(S_CONSOLE_LEN)
        if n:
            self.console += self.console_buf[:n].tobytes()
            self.lib.iss_set(self.h, S_CONSOLE_LEN, 0)

    def run(self, max_instructions: Optional[int] = None) -> RunResult:
        limit = self.cfg.max_instructions if max_instructions is None else max_instructions
        tracing = self.trace_hook is not None
        if tracing:
            n = self.trace_chunk
            self._tr = [np.zeros(n, dtype=np.uint32) for _ in range(3)]
            self.lib.iss_set_trace(self.h, *(a.ctypes.data for a in self._tr), n)
        start = time.perf_counter()
        while True:
            code = self.lib.iss_run(self.h, limit, 1 if tracing else 0)
            self._drain_console()
            if tracing:
                k = self.get(S_TRACE_N)
                if k:
                    self.trace_hook(self._tr[0][:k].copy(), self._tr[1][:k].copy(), self._tr[2][:k].copy())
                    self.lib.iss_set(self.h, S_TRACE_N, 0)
            if code in (X_TRACE, X_CONSOLE):
                continue
            break
        seconds = time.perf_counter() - start
        exit_ = {X_HALT: EXIT_HALT, X_FAULT: EXIT_FAULT, X_LIMIT: EXIT_LIMIT}[code]
        return self.result(exit_, self._fault_text() if code == X_FAULT else "", seconds)

    def _insn_text(self, pc: int) -> str:
        i = self.mm.region_of(pc)
        if i is None:
            return "no instruction there"
        off = pc - self.mm.regions[i].base
        w = int.from_bytes(self.mem[i][off:off + 4].tobytes().ljust(4, b"\0"), "little")
        return disasm(decode(w), pc)

    def _fault_text(self) -> str:
        kind = FAULT_KINDS.get(self.get(S_FKIND), "?")
        addr, pc = self.get(S_FADDR), self.get(S_FPC)
        if kind in ("load", "store", "fetch"):
            return fault_line(kind, addr, pc, self._insn_text(pc))
        if kind == "illegal":
            ins = decode(self.get(S_FINSN))
            return f"illegal instruction 0x{ins.raw:0{2 * ins.size}x} ({disasm(ins, pc)}) at pc 0x{pc:08x}"
        if kind == "wfi":
            return f"wfi at pc 0x{pc:08x} with no enabled interrupt that could wake the core"
        return f"{kind} at pc 0x{pc:08x}"

    def result(self, exit_: str, fault: str, seconds: float) -> RunResult:
        g = self.get
        um = []
        for j in range(min(g(S_UMN), UNMAPPED_LOG)):
            b = S_UMLOG + 4 * j
            um.append(UnmappedAccess(FAULT_KINDS[g(b)], g(b + 1), g(b + 2), g(b + 3)))
        return RunResult(
            exit=exit_, fault=fault, pc=g(S_PC), regs=self.x, cycles=g(S_CYCLES), instructions=g(S_INSTRET),
            mcycle=g(S_MCYCLE), minstret=g(S_MINSTRET), console=bytes(self.console), unmapped_count=g(S_UMCOUNT),
            unmapped=um, csrs=self.csr_snapshot(),
            custom={"compat_acc": [g(S_CACC + k) for k in range(4)], "compat_mode_it": [g(S_CMODE), g(S_CIT)],
                    "xmpq_acc": [g(S_XACC + k) for k in range(4)]},
            engine="fast", seconds=seconds)

    def csr_snapshot(self) -> dict[str, int]:
        g = self.get
        return {"mstatus": g(S_MSTATUS), "mie": g(S_MIE), "mtvec": g(S_MTVEC), "mepc": g(S_MEPC),
                "mcause": g(S_MCAUSE), "mtval": g(S_MTVAL), "mscratch": g(S_MSCRATCH),
                "mcountinhibit": g(S_MCOUNTINHIBIT), "mtimecmp": g(S_MTIMECMP), "mtime": g(S_MTIME)}

    def read_mem(self, addr: int, n: int) -> bytes:
        i = self.mm.region_of(addr)
        if i is None or self.mm.region_of(addr + n - 1) != i:
            raise ValueError(f"0x{addr:08x}+{n} is not inside one memory")
        off = addr - self.mm.regions[i].base
        return self.mem[i][off:off + n].tobytes()
