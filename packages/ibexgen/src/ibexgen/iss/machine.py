"""What both simulation engines share: configuration, results, CSR numbers, loading.

The ISS has two engines with the same observable behaviour:

* :mod:`ibexgen.iss.refsim` - the reference: decode and execute one
  instruction at a time in plain Python (slow, obvious, about 0.5 M instr/s);
* :mod:`ibexgen.iss.fastsim` - the fast engine: a C interpreter over a
  pre-decoded instruction cache, compiled on first use (hundreds of M instr/s).

Both produce a :class:`RunResult`; the tests run many programs on both and
compare registers, CSRs, memory, cycles and instruction counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import IbexgenError
from .elf import Elf
from .memmap import MemoryMap, simple_system
from .timing import Timing

BUS_MODES = ("strict", "as-built")

# CSR numbers (Ibex subset; see README "ISS")
CSR_MSTATUS, CSR_MISA, CSR_MIE, CSR_MTVEC = 0x300, 0x301, 0x304, 0x305
CSR_MSTATUSH = 0x310
CSR_MCOUNTINHIBIT = 0x320
CSR_MSCRATCH, CSR_MEPC, CSR_MCAUSE, CSR_MTVAL, CSR_MIP = 0x340, 0x341, 0x342, 0x343, 0x344
CSR_MCYCLE, CSR_MINSTRET, CSR_MCYCLEH, CSR_MINSTRETH = 0xB00, 0xB02, 0xB80, 0xB82
CSR_CYCLE, CSR_INSTRET, CSR_CYCLEH, CSR_INSTRETH = 0xC00, 0xC02, 0xC80, 0xC82
CSR_MVENDORID, CSR_MARCHID, CSR_MIMPID, CSR_MHARTID, CSR_MCONFIGPTR = 0xF11, 0xF12, 0xF13, 0xF14, 0xF15
CSR_CPUCTRL = 0x7C0
MISA_VALUE = 0x40101104        # RV32 I M C U, as Ibex reports
MARCHID_VALUE = 22             # lowRISC Ibex
MSTATUS_MASK = 0x00221888      # MIE, MPIE, MPP, MPRV, TW
MIE_MASK = 0x7FFF0888
MCOUNTINHIBIT_MASK = 0x5       # CY and IR (the simple system has no mhpmcounters)
MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP = 1 << 3, 1 << 7, 3 << 11
MIP_MTIP = 1 << 7
IRQ_TIMER_CAUSE = 0x80000007
EXC_ILLEGAL, EXC_BREAKPOINT, EXC_ECALL_M = 2, 3, 11

EXIT_HALT, EXIT_FAULT, EXIT_LIMIT = "halt", "fault", "limit"


@dataclass(frozen=True)
class Config:
    """How to simulate: memory map, timing, bus behaviour, enabled custom ISAs."""

    memmap: MemoryMap = field(default_factory=simple_system)
    timing: Timing = field(default_factory=Timing)
    bus: str = "strict"
    compat: bool = True     # opcode 0x47: the original's neur_* / nn_mac instructions
    xmpq: bool = True       # custom-0: this package's clean ISA
    entry: Optional[int] = None  # None: the memory map's reset PC (boot address + 0x80)
    max_instructions: int = 2_000_000_000

    def __post_init__(self) -> None:
        if self.bus not in BUS_MODES:
            raise IbexgenError("bus", f"must be one of {', '.join(BUS_MODES)}, got {self.bus!r}")


@dataclass
class UnmappedAccess:
    kind: str     # load / store / fetch
    addr: int
    pc: int
    target: int   # the RAM offset it landed on


@dataclass
class RunResult:
    """Outcome of a run; identical fields from both engines."""

    exit: str                       # halt / fault / limit
    fault: str = ""                 # one line, when exit == fault
    pc: int = 0
    regs: list[int] = field(default_factory=lambda: [0] * 32)
    cycles: int = 0                 # whole run, from reset to halt
    instructions: int = 0
    mcycle: int = 0                 # region counters (mcountinhibit-controlled), like the pcount dump
    minstret: int = 0
    console: bytes = b""
    unmapped_count: int = 0         # as-built bus: accesses that fell through to RAM
    unmapped: list[UnmappedAccess] = field(default_factory=list)
    csrs: dict[str, int] = field(default_factory=dict)
    custom: dict[str, list[int]] = field(default_factory=dict)
    engine: str = ""
    seconds: float = 0.0

    @property
    def mips(self) -> float:
        return self.instructions / self.seconds / 1e6 if self.seconds > 0 else float("nan")


class SimFault(Exception):
    """Raised inside an engine to stop the run with a clear message."""


def fault_line(kind: str, addr: int, pc: int, insn_text: str) -> str:
    return f"{kind} at address 0x{addr:08x} outside mapped memory, pc 0x{pc:08x} ({insn_text})"


def image_from_elf(elf: Elf, memmap: MemoryMap, name: str = "<elf>") -> list[tuple[int, bytes, int]]:
    """Check an ELF's segments fit the map; return (addr, data, memsz) chunks."""
    chunks = []
    for s in elf.segments:
        end = s.addr + s.memsz
        ok = any(r.base <= s.addr and end <= r.base + r.size for r in memmap.regions)
        if not ok:
            regions = ", ".join(f"{r.name} 0x{r.base:08x}-0x{r.base + r.size - 1:08x}" for r in memmap.regions)
            raise IbexgenError(name, f"segment 0x{s.addr:08x}-0x{end - 1:08x} does not fit the memory map "
                                     f"'{memmap.name}' ({regions}); was it linked for another system?")
        chunks.append((s.addr, s.data, s.memsz))
    return chunks
