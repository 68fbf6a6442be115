"""Input activations: the original's quantizer, interleaving, loading, testbench stimuli."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: the original's activation format: 8-bit words, 6 fractional bits
TOTAL_BITS = 8
FRAC_BITS = 6


def quantize_acts(x, total_bits: int = TOTAL_BITS, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """``clamp(round_half_even(x * 2**frac_bits), -2**(T-1), 2**(T-1)-1)`` as int64 (the original's rule)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("activations contain NaN or inf")
    lo, hi = -(1 << (total_bits - 1)), (1 << (total_bits - 1)) - 1
    return np.clip(np.rint(x * float(2 ** frac_bits)), lo, hi).astype(np.int64)


def interleave(values, groups: int) -> np.ndarray:
    """Reorder the last axis as the original's stimulus writer (and the simulator's interleaved order).

    The values are cut into ``groups`` zero-padded segments of ``ceil(n/groups)``
    and written round-robin: element j of every segment, then j+1. ``groups=1``
    keeps the serial order.
    """
    v = np.asarray(values)
    n = v.shape[-1]
    if groups < 1:
        raise ValueError("groups must be >= 1")
    seg = -(-n // groups)
    pad = np.zeros(v.shape[:-1] + (seg * groups,), dtype=v.dtype)
    pad[..., :n] = v
    return pad.reshape(v.shape[:-1] + (groups, seg)).swapaxes(-1, -2).reshape(v.shape[:-1] + (seg * groups,))


def to_binary_lines(codes, bits: int = TOTAL_BITS) -> str:
    """Two's-complement binary words, one per line (with a final newline; the original had none)."""
    mask = (1 << bits) - 1
    return "".join(format(int(c) & mask, f"0{bits}b") + "\n" for c in np.asarray(codes).ravel())


def load_acts(path: str, input_shape: tuple | None = None) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Read activations: ``.npy``, ``.npz`` (array ``x`` or the first one) or the original's JSON.

    Returns ``(x, labels, is_codes)``: ``x`` is ``(samples, *input_shape)``; integer
    arrays are taken as already-quantized codes (``is_codes``), floats are quantized
    later. The JSON form is ``{"samples": [{"data": [[...]], "label": ...}]}`` with
    ``data[0]`` used, as the original.
    """
    p = Path(path)
    labels = None
    if not p.exists():
        raise FileNotFoundError(2, "no such file", str(p))
    suf = p.suffix.lower()
    try:
        if suf == ".npy":
            x = np.load(p, allow_pickle=False)
        elif suf == ".npz":
            with np.load(p, allow_pickle=False) as z:
                key = "x" if "x" in z.files else z.files[0]
                x = z[key]
                labels = z["y"] if "y" in z.files else None
        elif suf == ".json":
            doc = json.loads(p.read_text())
            samples = doc["samples"] if isinstance(doc, dict) else doc
            rows = []
            labs = []
            for s in samples:
                d = s["data"] if isinstance(s, dict) else s
                rows.append(np.asarray(d[0] if np.ndim(d) >= 3 else d, dtype=np.float64))
                labs.append(s.get("label") if isinstance(s, dict) else None)
            x = np.stack(rows)
            labels = np.asarray(labs) if all(v is not None for v in labs) else None
        else:
            raise ValueError(f"{p}: unknown activation file type {suf!r} (use .npy, .npz or .json)")
    except (KeyError, TypeError, ValueError, OSError) as e:
        if isinstance(e, ValueError) and str(e).startswith(str(p)):
            raise
        raise ValueError(f"{p}: cannot read activations ({e})") from None
    x = np.asarray(x)
    if x.ndim == 0 or x.size == 0:
        raise ValueError(f"{p}: no activation samples")
    is_codes = x.dtype.kind in "iu"
    if input_shape is not None:
        n = int(np.prod(input_shape))
        per = int(np.prod(x.shape[1:])) if x.ndim > 1 else x.shape[0]
        if x.ndim == 1 and x.shape[0] == n:
            x = x[None]
        elif per != n:
            raise ValueError(f"{p}: samples of shape {x.shape[1:]} do not fit the model input {tuple(input_shape)}")
        x = x.reshape((x.shape[0],) + tuple(input_shape))
    if not is_codes and not np.all(np.isfinite(x)):
        raise ValueError(f"{p}: activations contain NaN or inf")
    return x, labels, is_codes
