"""A self-contained C project for one network and one target: generate, build, read results.

Layout of a generated directory::

    ibexgen.json      manifest: target, layers, buffers, the input sample and the expected output
    network.c         the layers and main()
    params.h          packed parameters
    input.h           one input sample (padded, packed)
    ibexgen_rt.h/.c   console, counters, requantization, custom instructions (inline .insn)
    crt0.S            vector table at the boot address, reset handler, trap handler
    link.ld           memory map of the target system; fails the link if it does not fit RAM
    Makefile          for users with make and a riscv gcc; `ibexgen build` needs neither
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import IbexgenError
from ..iss.memmap import MemoryMap, simple_system
from ..toolchain import Toolchain, find_toolchain
from .emit import Emitter
from .layout import TARGETS, element_xor, plan_buffers
from .netir import NetIR, run_ir
from .pack import pack_all

RUNTIME_FILES = ("crt0.S", "ibexgen_rt.h", "ibexgen_rt.c")
MANIFEST = "ibexgen.json"
ELF_NAME = "network.elf"
DEFAULT_STACK = 4096


@dataclass
class Generated:
    outdir: Path
    manifest: dict


def _ram(memmap: MemoryMap):
    return memmap.regions[0]


def generate(ir: NetIR, target: str, outdir: str | Path, x_codes: Optional[np.ndarray] = None,
             memmap: Optional[MemoryMap] = None, stack_size: int = DEFAULT_STACK, seed: int = 0,
             expected: Optional[np.ndarray] = None) -> Generated:
    """Write the C project for ``ir`` on ``target`` into ``outdir``.

    ``x_codes``: the input sample as integer codes (shape of the model input);
    default a deterministic random sample of valid codes. ``expected``: the
    reference output codes to record (default: the IR's own numpy execution).
    """
    if target not in TARGETS:
        raise IbexgenError("target", f"must be one of {', '.join(TARGETS)}, got {target!r}")
    memmap = memmap or simple_system()
    out = Path(outdir)
    t_in = ir.tensors[ir.input]
    if x_codes is None:
        rng = np.random.default_rng(seed)
        x_codes = rng.integers(t_in.qmin, t_in.qmax + 1, size=t_in.shape)
    x_codes = np.asarray(x_codes, dtype=np.int64).reshape(t_in.shape)
    if x_codes.min() < t_in.qmin or x_codes.max() > t_in.qmax:
        raise IbexgenError("input", f"codes outside the input range [{t_in.qmin}, {t_in.qmax}]")
    bufs = plan_buffers(ir)
    packed = pack_all(ir, target, bufs)
    em = Emitter(ir, target, bufs, packed)
    ref = run_ir(ir, x_codes) if expected is None else np.asarray(expected).reshape(ir.tensors[ir.output].shape)
    ram = _ram(memmap)
    out.mkdir(parents=True, exist_ok=True)
    csize = {"int8_t": 1, "uint8_t": 1, "int32_t": 4, "uint32_t": 4}
    est = sum(b.nbytes for b in bufs.values()) + sum(a.values.size * csize[a.ctype] for p in packed.values()
                                                     for a in p.arrays)
    if est + stack_size > ram.size:
        raise IbexgenError(str(out), f"parameters and buffers need about {est} bytes plus a {stack_size}-byte stack, "
                                     f"more than the {ram.size}-byte RAM of '{memmap.name}'")
    (out / "params.h").write_text(em.params_h())
    (out / "input.h").write_text(em.input_h(x_codes))
    (out / "network.c").write_text(em.network_c())
    rt = resources.files("ibexgen.codegen").joinpath("runtime")
    for f in RUNTIME_FILES:
        (out / f).write_text(rt.joinpath(f).read_text())
    ld = rt.joinpath("link.ld.in").read_text()
    ld = (ld.replace("@RAM_BASE@", f"0x{ram.base:08x}").replace("@RAM_SIZE@", f"0x{ram.size:08x}")
          .replace("@RAM_SIZE_TEXT@", f"{ram.size // 1024} KiB").replace("@MAP@", memmap.name)
          .replace("@STACK_SIZE@", f"0x{stack_size:x}"))
    (out / "link.ld").write_text(ld)
    (out / "Makefile").write_text(_makefile())
    ob = bufs[ir.output]
    layers = []
    for op in ir.ops:
        p = packed.get(op.name)
        layers.append({
            "name": op.name, "kind": op.kind, "function": em.fn[op.name], "macs": int(op.macs),
            "declared_bits": int(op.bits) if op.is_compute else None,
            "width": int(p.width) if p is not None else None,
            "params": list(em.arr.get(op.name, {}).values()),
        })
    manifest = {
        "ibexgen": 1, "target": target, "memmap": memmap.name, "reset_pc": memmap.reset_pc,
        "ram": [ram.base, ram.size], "stack_size": stack_size, "layers": layers,
        "output": {"symbol": ob.sym, "shape": list(ob.t.shape), "C": ob.t.C, "H": ob.t.H, "W": ob.t.W,
                   "cp": ob.cp, "hh": ob.hh, "hw": ob.hw, "signed": ob.t.signed, "xor": element_xor(target)},
        "input_codes": x_codes.reshape(-1).tolist(), "input_shape": list(t_in.shape),
        "expected": np.asarray(ref).reshape(-1).tolist(), "macs": int(ir.total_macs()),
        "provenance": ir.provenance,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
    return Generated(out, manifest)


def _makefile() -> str:
    return """# Build with a RISC-V gcc (e.g. Debian gcc-riscv64-unknown-elf); `ibexgen build .` needs no make.
RISCV_CC ?= riscv64-unknown-elf-gcc
RISCV_CFLAGS ?= -march=rv32imc_zicsr -mabi=ilp32 -O2 -ffreestanding -fno-builtin -fwrapv -ffunction-sections -fdata-sections
network.elf: network.c ibexgen_rt.c crt0.S params.h input.h ibexgen_rt.h link.ld
\t$(RISCV_CC) $(RISCV_CFLAGS) -nostdlib -static -T link.ld -Wl,--gc-sections -Wl,--no-warn-rwx-segments -o $@ network.c ibexgen_rt.c crt0.S -lgcc
clean:
\trm -f network.elf
"""


def load_manifest(outdir: str | Path) -> dict:
    p = Path(outdir) / MANIFEST
    if not p.exists():
        raise IbexgenError(str(outdir), f"no {MANIFEST} here: not a directory made by `ibexgen gen`")
    return json.loads(p.read_text())


def build(outdir: str | Path, toolchain: Optional[Toolchain] = None, opt: str = "-O2") -> Path:
    """Compile the generated project into ``outdir/network.elf``."""
    out = Path(outdir)
    load_manifest(out)
    tc = toolchain or find_toolchain()
    elf = out / ELF_NAME
    tc.compile([out / "network.c", out / "ibexgen_rt.c", out / "crt0.S"], elf, out / "link.ld", opt=opt,
               extra=["-I", str(out)])
    return elf


def read_output(sim, manifest: dict) -> np.ndarray:
    """The output codes (qformat shape) from a finished simulation's memory."""
    from .layout import Buf
    from .netir import TensorInfo

    o = manifest["output"]
    t = TensorInfo("out", o["C"], o["H"], o["W"], o["signed"], 0, 0, 0, len(o["shape"]) == 1)
    b = Buf(t, o["symbol"], o["cp"], o["hh"], o["hw"])
    raw = sim.symbol_bytes(o["symbol"], b.nbytes)
    return b.unpack(raw, o["xor"])


def read_marks(sim, manifest: dict) -> list[tuple[int, int]]:
    """Per-layer (cycles, instructions) from the counter marks the program stored."""
    n = len(manifest["layers"])
    raw = np.frombuffer(sim.symbol_bytes("ibexgen_marks", 8 * (n + 1)), dtype="<u4").reshape(n + 1, 2).astype(np.int64)
    d = (raw[1:] - raw[:-1]) % (1 << 32)
    return [(int(c), int(i)) for c, i in d]
