"""Figures to bytes and files (PNG, SVG, PDF), always with the headless Agg-based canvases."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

FORMATS = ("png", "svg", "pdf")
DEFAULT_DPI = 120


def format_for(dest: str, fmt: Optional[str] = None) -> str:
    """The image format: ``fmt`` if given, else the destination's extension, else PNG."""
    if fmt:
        f = fmt.lower().lstrip(".")
    else:
        f = Path(str(dest)).suffix.lower().lstrip(".") or "png"
        if dest == "-":
            f = "png"
    if f not in FORMATS:
        raise ValueError(f"unknown image format {f!r} (use {', '.join(FORMATS)})")
    return f


def figure_bytes(fig: Any, fmt: str = "png", dpi: int = DEFAULT_DPI) -> bytes:
    """Encode a figure. SVG/PDF output carries no timestamp, so it is reproducible."""
    buf = io.BytesIO()
    meta = {"Date": None} if fmt in ("svg", "pdf") else {}
    if fmt == "pdf":
        meta = {"CreationDate": None, "ModDate": None}
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "qviz"}):        # stable SVG ids
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta or None)
    return buf.getvalue()


def save_figure(fig: Any, dest: str | os.PathLike, fmt: Optional[str] = None, dpi: int = DEFAULT_DPI) -> Path:
    """Write a figure atomically (temp file + rename); returns the path."""
    return write_atomic(dest, figure_bytes(fig, format_for(str(dest), fmt), dpi))


def write_atomic(dest: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``dest`` through a temp file and a rename; returns the path."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())      # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
