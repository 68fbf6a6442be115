"""Memory maps: where RAM and the simple system's devices are, from a preset file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

from ..errors import IbexgenError

DEVICE_KINDS = ("simctrl", "timer")
# Register offsets inside the devices (lowRISC simulator_ctrl.sv and timer.sv).
SIMCTRL_OUT = 0x0
SIMCTRL_CTRL = 0x8
TIMER_MTIME_LO, TIMER_MTIME_HI, TIMER_CMP_LO, TIMER_CMP_HI = 0x0, 0x4, 0x8, 0xC


@dataclass(frozen=True)
class Region:
    """A memory (RAM/ROM image) the core can fetch from and load/store to."""

    name: str
    base: int
    size: int

    def contains(self, addr: int) -> bool:
        return 0 <= addr - self.base < self.size


@dataclass(frozen=True)
class Device:
    """A memory-mapped device window."""

    kind: str
    base: int
    size: int

    def contains(self, addr: int) -> bool:
        return 0 <= addr - self.base < self.size


@dataclass(frozen=True)
class MemoryMap:
    """Memories, devices and the reset PC of one system."""

    name: str
    regions: tuple[Region, ...]
    devices: tuple[Device, ...]
    reset_pc: int
    description: str = ""

    def region_of(self, addr: int) -> Optional[int]:
        for i, r in enumerate(self.regions):
            if r.contains(addr):
                return i
        return None

    def device_of(self, addr: int) -> Optional[Device]:
        hit = None
        for d in self.devices:  # like bus.sv: the last matching device wins
            if d.contains(addr):
                hit = d
        return hit

    def device(self, kind: str) -> Optional[Device]:
        for d in self.devices:
            if d.kind == kind:
                return d
        return None

    @property
    def fallback_mask(self) -> int:
        """As-built wrap mask: the RAM index uses the low log2(size) address bits."""
        size = self.regions[0].size
        return (1 << (size - 1).bit_length()) - 1


def _int(v, where: str) -> int:
    if isinstance(v, int) and 0 <= v <= 0xFFFFFFFF:
        return v
    raise IbexgenError(where, f"expected a 32-bit unsigned integer, got {v!r}")


def _parse(name: str, d: dict, src: str) -> MemoryMap:
    where = f"{src}: [{name}]"
    mems = d.get("memory")
    if not mems:
        raise IbexgenError(where, "needs at least one entry in memory = [...]")
    regions = []
    for i, m in enumerate(mems):
        base, size = _int(m.get("base"), f"{where} memory[{i}].base"), _int(m.get("size"), f"{where} memory[{i}].size")
        if size == 0 or base + size > 1 << 32:
            raise IbexgenError(f"{where} memory[{i}]", "size must be positive and the region inside 4 GiB")
        regions.append(Region(str(m.get("name", f"mem{i}")), base, size))
    devices = []
    for i, dv in enumerate(d.get("devices", [])):
        kind = dv.get("kind")
        if kind not in DEVICE_KINDS:
            raise IbexgenError(f"{where} devices[{i}]", f"kind must be one of {', '.join(DEVICE_KINDS)}, got {kind!r}")
        devices.append(Device(kind, _int(dv.get("base"), f"{where} devices[{i}].base"),
                              _int(dv.get("size", 0x400), f"{where} devices[{i}].size")))
    rs = sorted(regions, key=lambda r: r.base)
    for a, b in zip(rs, rs[1:]):
        if a.base + a.size > b.base:
            raise IbexgenError(where, f"memories {a.name} and {b.name} overlap")
    for dv in devices:
        for r in regions:
            if dv.base < r.base + r.size and r.base < dv.base + dv.size:
                raise IbexgenError(where, f"device {dv.kind} overlaps memory {r.name}")
    reset = _int(d.get("reset_pc", regions[0].base + 0x80), f"{where}.reset_pc")
    return MemoryMap(name, tuple(regions), tuple(devices), reset, str(d.get("description", "")))


def load_presets(path: str | Path | None = None) -> dict[str, MemoryMap]:
    """All presets of a TOML file (the packaged ``presets.toml`` by default)."""
    if path is None:
        text = resources.files("ibexgen.iss").joinpath("presets.toml").read_text()
        src = "presets.toml"
    else:
        p = Path(path)
        if not p.exists():
            raise IbexgenError(str(p), "no such memory-map file")
        text, src = p.read_text(), str(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise IbexgenError(src, f"not valid TOML: {e}") from None
    return {k: _parse(k, v, src) for k, v in data.items() if isinstance(v, dict)}


def get_memmap(name: str = "simple_system", path: str | Path | None = None) -> MemoryMap:
    """One preset by name."""
    presets = load_presets(path)
    if name not in presets:
        raise IbexgenError("memory map", f"unknown preset {name!r} (known: {', '.join(sorted(presets))})")
    return presets[name]


SIMPLE_SYSTEM = None


def simple_system() -> MemoryMap:
    """The default map: lowRISC Ibex simple system."""
    global SIMPLE_SYSTEM
    if SIMPLE_SYSTEM is None:
        SIMPLE_SYSTEM = get_memmap("simple_system")
    return SIMPLE_SYSTEM
