"""Compile the fast engine (``csrc/iss.c``) into a shared library on first use.

The library is cached under ``$IBEXGEN_CACHE`` (default ``~/.cache/ibexgen``),
keyed by a hash of the source, the compiler and the platform, and written
atomically so concurrent first uses are safe. Compilers tried, in order:
``$IBEXGEN_HOST_CC``, the host ``cc``/``gcc``/``clang`` when present (fast to
start), and ``python -m ziglang cc`` - a pip dependency of this package, so
a machine with nothing but pip still gets the fast engine.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from ..errors import ToolchainError

_CACHE: dict[str, Path] = {}


def cache_dir() -> Path:
    """``$IBEXGEN_CACHE``, else ``~/.cache/ibexgen``, else a per-user temp directory."""
    for d in (os.environ.get("IBEXGEN_CACHE"), Path.home() / ".cache" / "ibexgen",
              Path(tempfile.gettempdir()) / f"ibexgen-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}"):
        if not d:
            continue
        try:
            Path(d).mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return Path(d)
        except OSError:
            continue
    raise ToolchainError("fast ISS engine", "no writable cache directory (set IBEXGEN_CACHE)")


def _source() -> bytes:
    return resources.files("ibexgen.iss").joinpath("csrc/iss.c").read_bytes()


def host_compilers() -> list[list[str]]:
    """Candidate host C compilers, as argv prefixes."""
    cands: list[list[str]] = []
    env = os.environ.get("IBEXGEN_HOST_CC")
    if env:
        cands.append(env.split())
    for name in ("cc", "gcc", "clang"):
        p = shutil.which(name)
        if p:
            cands.append([p])
            break
    try:
        import ziglang  # noqa: F401
        cands.append([sys.executable, "-m", "ziglang", "cc"])
    except ImportError:
        pass
    return cands


def _ext() -> str:
    return ".dll" if sys.platform == "win32" else ".dylib" if sys.platform == "darwin" else ".so"


def engine_library() -> Path:
    """Path of the compiled engine, compiling it if needed; raises ToolchainError."""
    src = _source()
    errors = []
    for cc in host_compilers():
        key = hashlib.sha256(src + " ".join(cc).encode() + platform.platform().encode()
                             + platform.machine().encode()).hexdigest()[:16]
        if key in _CACHE:
            return _CACHE[key]
        out = cache_dir() / f"iss-{key}{_ext()}"
        if out.exists():
            _CACHE[key] = out
            return out
        with tempfile.TemporaryDirectory(dir=cache_dir()) as td:
            c = Path(td) / "iss.c"
            c.write_bytes(src)
            tmp = Path(td) / f"iss{_ext()}"
            cmd = cc + ["-O2", "-shared", "-fPIC", "-o", str(tmp), str(c)]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as e:
                errors.append(f"{' '.join(cc)}: {e}")
                continue
            if r.returncode != 0 or not tmp.exists():
                errors.append(f"{' '.join(cc)}: {(r.stderr or r.stdout).strip().splitlines()[-1:] or ['failed']}")
                continue
            os.replace(tmp, out)
        _CACHE[key] = out
        return out
    raise ToolchainError("fast ISS engine", "no host C compiler could build it ("
                         + ("; ".join(errors) if errors else "none found: install ziglang or a C compiler") + ")")
