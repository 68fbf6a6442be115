"""Integer requantization: a real multiplier as integer multiplier + right shift.

The rounding rule of spec v1 (used by every back-end):

    requantize(acc, M, s) = (acc * M + 2**(s-1)) >> s      (s >= 1)
                          = acc * M                         (s == 0)

computed in 64-bit with an arithmetic shift, i.e. round half up (towards
+inf). ``M`` is a positive integer below 2**31 and ``0 <= s <= 62``.
"""

from __future__ import annotations

import math

import numpy as np


def quantize_multiplier(real, bits: int = 8, max_shift: int = 62):
    """Best ``(M, shift)`` with ``M * 2**-shift ~= real`` and ``2**(bits-1) <= M < 2**bits``.

    Works elementwise on arrays. ``real`` must be finite and positive. When
    ``real`` is too large for a non-negative shift, the shift is 0 and ``M`` is
    ``round(real)`` (which must still fit in ``bits`` bits).
    """
    if not 2 <= bits <= 31:
        raise ValueError("multiplier bits must be in 2..31")
    r = np.asarray(real, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise ValueError("requantization scale must be finite and positive")
    flat = r.reshape(-1)
    ms = np.empty(flat.shape, dtype=np.int64)
    ss = np.empty(flat.shape, dtype=np.int64)
    for i, v in enumerate(flat):
        mant, exp = math.frexp(float(v))  # v = mant * 2**exp, mant in [0.5, 1)
        shift = bits - exp
        m = round(mant * (1 << bits))
        if m == (1 << bits):  # rounding overflowed the mantissa
            m //= 2
            shift -= 1
        if shift < 0:
            m, shift = round(v), 0
            if m >= (1 << bits):
                raise ValueError(f"multiplier {v} does not fit {bits} bits")
        if shift > max_shift:
            m = max(1, round(v * (1 << max_shift)))
            shift = max_shift
        ms[i], ss[i] = m, shift
    return ms.reshape(r.shape).astype(np.int32), ss.reshape(r.shape).astype(np.int32)


def rshift_round(x, shift):
    """``(x + 2**(shift-1)) >> shift`` in int64, elementwise; no rounding term when shift is 0."""
    x = np.asarray(x, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    half = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)
    return np.right_shift(x + half, s)


def requantize(acc, multiplier, shift):
    """Apply the integer multiplier and rounding right shift to int32 accumulators."""
    return rshift_round(np.asarray(acc, dtype=np.int64) * np.asarray(multiplier, dtype=np.int64), shift)


def effective_scale(multiplier, shift) -> np.ndarray:
    """The real number an (M, shift) pair stands for."""
    return np.asarray(multiplier, dtype=np.float64) * np.exp2(-np.asarray(shift, dtype=np.float64))
