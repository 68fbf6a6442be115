"""A small ELF32 little-endian RISC-V loader: loadable segments and symbols."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import IbexgenError

PT_LOAD = 1
SHT_SYMTAB = 2
EM_RISCV = 243


@dataclass
class Segment:
    addr: int      # physical load address (p_paddr), as the simple system's loader uses
    data: bytes    # file contents (p_filesz bytes)
    memsz: int     # bytes in memory (the rest is zero: .bss)
    flags: int


@dataclass
class Elf:
    """The parts of an executable the ISS needs."""

    entry: int
    segments: list[Segment]
    symbols: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (value, size)
    flags: int = 0
    sections: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # name -> (addr, size, flags)

    def symbol(self, name: str) -> tuple[int, int] | None:
        return self.symbols.get(name)


def parse_elf(data: bytes, name: str = "<elf>") -> Elf:
    """Parse an ELF32 RISC-V executable from bytes."""
    if len(data) < 52 or data[:4] != b"\x7fELF":
        raise IbexgenError(name, "not an ELF file")
    if data[4] != 1 or data[5] != 1:
        raise IbexgenError(name, "not a 32-bit little-endian ELF (Ibex is RV32, little-endian)")
    (e_type, e_machine, _ver, e_entry, e_phoff, e_shoff, e_flags, _ehsize, e_phentsize, e_phnum,
     e_shentsize, e_shnum, _shstrndx) = struct.unpack_from("<HHIIIIIHHHHHH", data, 16)
    if e_machine != EM_RISCV:
        raise IbexgenError(name, f"ELF machine {e_machine} is not RISC-V ({EM_RISCV})")
    if e_type != 2:
        raise IbexgenError(name, "not an executable ELF (link it first)")
    segs: list[Segment] = []
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        if off + 32 > len(data):
            raise IbexgenError(name, "truncated program header table")
        p_type, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, p_flags, _align = struct.unpack_from("<IIIIIIII", data, off)
        if p_type != PT_LOAD or p_memsz == 0:
            continue
        if p_offset + p_filesz > len(data):
            raise IbexgenError(name, f"segment {i} extends past the end of the file")
        segs.append(Segment(p_paddr, bytes(data[p_offset:p_offset + p_filesz]), p_memsz, p_flags))
    syms: dict[str, tuple[int, int]] = {}
    sections: dict[str, tuple[int, int, int]] = {}
    if e_shoff and e_shnum:
        shdrs = []
        for i in range(e_shnum):
            off = e_shoff + i * e_shentsize
            if off + 40 > len(data):
                break
            shdrs.append(struct.unpack_from("<IIIIIIIIII", data, off))
        if _shstrndx < len(shdrs):
            names_off = shdrs[_shstrndx][4]
            for sh in shdrs:
                end = data.find(b"\0", names_off + sh[0])
                nm = data[names_off + sh[0]:end].decode("utf-8", "replace")
                if nm:
                    sections[nm] = (sh[3], sh[5], sh[2])
        for sh in shdrs:
            if sh[1] != SHT_SYMTAB:
                continue
            _n, _t, _f, _a, s_off, s_size, s_link, _i, _al, s_entsize = sh
            if s_link >= len(shdrs):
                continue
            str_off = shdrs[s_link][4]
            for j in range(s_size // (s_entsize or 16)):
                st_name, st_value, st_size, _info, _other, _shndx = struct.unpack_from("<IIIBBH", data, s_off + j * 16)
                if not st_name:
                    continue
                end = data.find(b"\0", str_off + st_name)
                nm = data[str_off + st_name:end].decode("utf-8", "replace")
                syms.setdefault(nm, (st_value, st_size))
    return Elf(e_entry, segs, syms, e_flags, sections)


def load_elf(path: str | Path) -> Elf:
    """Read and parse an ELF file."""
    p = Path(path)
    if not p.exists():
        raise IbexgenError(str(p), "no such file")
    return parse_elf(p.read_bytes(), str(p))
