"""Instruction-set simulator for Ibex (RV32IMC + Zicsr + compat/xmpq custom ISAs).

>>> from ibexgen.iss import simulate
>>> sim = simulate("prog.elf")                       # doctest: +SKIP
>>> sim.result.mcycle, sim.result.console             # doctest: +SKIP
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from ..errors import IbexgenError
from .elf import Elf, load_elf, parse_elf
from .machine import Config, RunResult, image_from_elf
from .memmap import MemoryMap, get_memmap, load_presets, simple_system
from .timing import Timing

ENGINES = ("fast", "ref", "auto")

__all__ = ["Config", "ENGINES", "Elf", "MemoryMap", "RunResult", "Simulation", "Timing", "get_memmap",
           "load_elf", "load_presets", "make_machine", "parse_elf", "simple_system", "simulate"]


def make_machine(cfg: Config, engine: str = "auto"):
    """A fresh machine of the chosen engine (``auto``: fast when it builds, else ref)."""
    if engine not in ENGINES:
        raise IbexgenError("engine", f"must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine in ("fast", "auto"):
        from . import fastsim
        if engine == "fast" or fastsim.available():
            return fastsim.FastMachine(cfg)
        print("ibexgen: fast ISS engine unavailable (no C compiler); using the slow reference engine",
              file=sys.stderr)
    from .refsim import RefMachine
    return RefMachine(cfg)


@dataclass
class Simulation:
    """A finished run: its result, the machine (memory stays readable) and the ELF."""

    result: RunResult
    machine: Any
    elf: Optional[Elf] = None

    def symbol_bytes(self, name: str, size: Optional[int] = None) -> bytes:
        """The memory contents of an ELF symbol after the run."""
        if self.elf is None or name not in self.elf.symbols:
            raise KeyError(name)
        addr, sz = self.elf.symbols[name]
        return self.machine.read_mem(addr, size if size is not None else sz)


def simulate(program: Union[str, Path, Elf, bytes, list], cfg: Optional[Config] = None, engine: str = "auto",
             max_instructions: Optional[int] = None, trace: Any = None, base: Optional[int] = None) -> Simulation:
    """Load and run a program until it halts, faults or hits the instruction limit.

    ``program``: an ELF path, a parsed :class:`Elf`, raw code bytes (placed at
    ``base``, default the reset PC), or a list of ``(addr, data, memsz)``
    chunks. ``trace``: a destination (path, ``"-"`` or binary stream) for the
    instruction trace as a streamed Arrow table.
    """
    cfg = cfg or Config()
    elf = None
    name = "<program>"
    if isinstance(program, (str, Path)):
        name = str(program)
        elf = load_elf(program)
    elif isinstance(program, Elf):
        elf = program
    if elf is not None:
        chunks = image_from_elf(elf, cfg.memmap, name)
    elif isinstance(program, (bytes, bytearray)):
        at = base if base is not None else (cfg.entry if cfg.entry is not None else cfg.memmap.reset_pc)
        chunks = [(at, bytes(program), len(program))]
    else:
        chunks = list(program)
    m = make_machine(cfg, engine)
    m.load(chunks)
    writer = None
    if trace is not None:
        from .trace import TraceWriter
        writer = TraceWriter(trace, provenance={"tool": "ibexgen", "program": name})
        m.trace_hook = writer.add_chunk if hasattr(m, "trace_chunk") else writer.add_one
    ok = False
    try:
        res = m.run(max_instructions)
        ok = True
    finally:
        if writer is not None:
            writer.close(ok)
    return Simulation(res, m, elf)
