"""Finding and driving a RISC-V C toolchain for rv32imc.

Two kinds are supported:

* ``zig``: ``python -m ziglang cc -target riscv32-freestanding-none
  -mcpu=generic_rv32+m+c`` - the ``ziglang`` wheel is a dependency of this
  package, so ``pip install`` alone gives a working cross compiler (clang +
  lld + compiler-rt, no libc needed: the generated code brings its own
  ``memset``/``memcpy``).
* ``gcc``: a ``riscv*-unknown-elf-gcc`` / ``riscv*-elf-gcc`` on ``PATH``
  (Debian's ``gcc-riscv64-unknown-elf``): ``-march=rv32imc_zicsr -mabi=ilp32``,
  linked with ``-lgcc``.

Selection: ``$IBEXGEN_TOOLCHAIN`` (``zig``, ``gcc`` or a compiler path), else
zig, else the first gcc found. Nothing found -> one clear error line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import ToolchainError

GCC_NAMES = ("riscv64-unknown-elf-gcc", "riscv32-unknown-elf-gcc", "riscv64-elf-gcc", "riscv32-elf-gcc",
             "riscv-none-elf-gcc", "riscv64-linux-gnu-gcc")
COMMON_CFLAGS = ["-ffreestanding", "-fno-builtin", "-fno-common", "-fwrapv", "-ffunction-sections",
                 "-fdata-sections", "-Wall"]


@dataclass(frozen=True)
class Toolchain:
    kind: str            # zig | gcc
    cc: tuple[str, ...]  # argv prefix

    @property
    def arch_flags(self) -> list[str]:
        if self.kind == "zig":
            return ["-target", "riscv32-freestanding-none", "-mcpu=generic_rv32+m+c"]
        return ["-march=rv32imc_zicsr", "-mabi=ilp32"]

    def describe(self) -> str:
        return f"{self.kind}: {' '.join(self.cc)}"

    def version(self) -> str:
        try:
            r = subprocess.run(list(self.cc) + ["--version"], capture_output=True, text=True, timeout=60)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except Exception:  # pragma: no cover - diagnostics only
            return "?"

    def compile(self, sources: Sequence[Path], out: Path, linker_script: Path, opt: str = "-O2",
                extra: Sequence[str] = (), cwd: Optional[Path] = None) -> None:
        """Compile and link ``sources`` into the ELF ``out``; ToolchainError with the first error on failure."""
        cmd = list(self.cc) + self.arch_flags + [opt, *COMMON_CFLAGS, *extra, "-T", str(linker_script),
                                                 "-Wl,--gc-sections", "-o", str(out), *map(str, sources)]
        if self.kind == "gcc":
            cmd += ["-nostdlib", "-static", "-lgcc", "-Wl,--no-warn-rwx-segments"]
        else:
            cmd += ["-fno-sanitize=all"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ToolchainError(" ".join(self.cc), str(e)) from None
        if r.returncode != 0:
            raise ToolchainError(f"build of {out.name}", _first_error(r.stderr or r.stdout))


def _first_error(text: str) -> str:
    """The most telling line of a compiler/linker log (our linker-script assertion first)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for pick in (lambda ln: "ibexgen:" in ln,
                 lambda ln: "error" in ln.lower() and "collect2" not in ln and "returned 1 exit status" not in ln,
                 lambda ln: "overflow" in ln or "will not fit" in ln):
        hit = next((ln for ln in lines if pick(ln)), None)
        if hit:
            return hit
    return lines[-1] if lines else "failed"


def _zig() -> Optional[Toolchain]:
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return None
    return Toolchain("zig", (sys.executable, "-m", "ziglang", "cc"))


def _gcc() -> Optional[Toolchain]:
    for n in GCC_NAMES:
        p = shutil.which(n)
        if p:
            return Toolchain("gcc", (p,))
    return None


def find_toolchain(prefer: Optional[str] = None) -> Toolchain:
    """The toolchain to use (see module docstring); raises ToolchainError if none."""
    choice = prefer or os.environ.get("IBEXGEN_TOOLCHAIN") or ""
    if choice == "zig":
        tc = _zig()
        if tc is None:
            raise ToolchainError("toolchain", "zig requested but the ziglang package is not installed (pip install ziglang)")
        return tc
    if choice == "gcc":
        tc = _gcc()
        if tc is None:
            raise ToolchainError("toolchain", f"gcc requested but none of {', '.join(GCC_NAMES)} is on PATH")
        return tc
    if choice:
        p = shutil.which(choice) or (choice if Path(choice).exists() else None)
        if p is None:
            raise ToolchainError("toolchain", f"{choice!r} is neither zig, gcc nor an existing compiler")
        return Toolchain("zig" if "zig" in Path(p).name else "gcc", (p,))
    tc = _zig() or _gcc()
    if tc is None:
        raise ToolchainError("toolchain", "no RISC-V C compiler found: pip install ziglang (a dependency of "
                                          "qstack-ibexgen) or install gcc-riscv64-unknown-elf")
    return tc
