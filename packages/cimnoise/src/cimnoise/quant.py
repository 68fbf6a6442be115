"""Quantizers of the analog core: input DAC, weight grid, bit slicing, ADC.

Conventions follow Cross-Sim 3.2 as measured (see the README): a DAC maps an
input to a normalised value x̂ in [0, 1] (unsigned) or [-1, 1] (signed,
sign-magnitude); weights sit on a symmetric per-tensor (or per-channel) grid of
2^b - 1 levels; an ADC is a uniform quantizer with round-half-to-even and
saturation. Every quantizer here is a :class:`UniformQuantizer`, so the
Monte-Carlo simulator and the statistical estimator share one definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class UniformQuantizer:
    """Levels ``origin + k·delta`` for integer ``k`` in ``[kmin, kmax]``.

    ``q(a) = origin + clip(rint((a - origin) / delta), kmin, kmax)·delta``
    (round half to even, then saturate).
    """

    origin: float
    delta: float
    kmin: int
    kmax: int

    def __post_init__(self) -> None:
        if not (self.delta > 0 and math.isfinite(self.delta)):
            raise ValueError(f"quantizer step must be finite and positive, got {self.delta}")
        if self.kmax < self.kmin:
            raise ValueError("quantizer needs kmax >= kmin")

    @property
    def n_levels(self) -> int:
        return self.kmax - self.kmin + 1

    @property
    def lo(self) -> float:
        return self.origin + self.kmin * self.delta

    @property
    def hi(self) -> float:
        return self.origin + self.kmax * self.delta

    def codes(self, a: np.ndarray) -> np.ndarray:
        """Integer codes k of ``a`` (as floats)."""
        return np.clip(np.rint((np.asarray(a, dtype=np.float64) - self.origin) / self.delta), self.kmin, self.kmax)

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return self.origin + self.codes(a) * self.delta

    def levels(self) -> np.ndarray:
        return self.origin + np.arange(self.kmin, self.kmax + 1, dtype=np.float64) * self.delta

    def thresholds(self) -> np.ndarray:
        """Decision thresholds between consecutive levels, ``(n_levels - 1,)``."""
        return self.origin + (np.arange(self.kmin, self.kmax, dtype=np.float64) + 0.5) * self.delta


# ---------------------------------------------------------------------------- input DAC
@dataclass(frozen=True)
class InputDAC:
    """The input digital-to-analog conversion (and optional bit-serial slicing).

    ``bits=None`` is an ideal DAC: x̂ = x / range, no rounding, no clipping.
    Unsigned: 2^b levels on [0, range], Δx = range/(2^b - 1).
    Signed (sign-magnitude): 2^b - 1 levels including 0, Δx = range/(2^(b-1) - 1).
    ``slice_bits`` splits the integer magnitude LSB-first into slices of that
    many bits; slice i feeds the array with x̂_i = sign·s_i/(2^k - 1) and is
    shifted back by F_i = 2^(i·k)·(2^k - 1) digitally.
    """

    bits: Optional[int]
    signed: bool
    range: float
    slice_bits: Optional[int] = None

    def __post_init__(self) -> None:
        if not (self.range > 0 and math.isfinite(self.range)):
            raise ValueError(f"input range must be finite and positive, got {self.range}")
        if self.bits is not None and self.signed and self.bits < 2:
            raise ValueError("a signed input DAC needs at least 2 bits")
        if self.slice_bits is not None and self.bits is None:
            raise ValueError("input bit slicing needs input_bits")

    @property
    def lmax(self) -> float:
        """Largest integer code magnitude (1 for an ideal DAC, whose 'codes' are x̂)."""
        if self.bits is None:
            return 1.0
        return float((1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1)

    @property
    def step(self) -> float:
        """Δx: the input value of one integer code (range for an ideal DAC)."""
        return self.range / self.lmax

    @property
    def magnitude_bits(self) -> int:
        assert self.bits is not None
        return self.bits - 1 if self.signed else self.bits

    @property
    def n_slices(self) -> int:
        if self.slice_bits is None:
            return 1
        return max(1, math.ceil(self.magnitude_bits / self.slice_bits))

    def slice_factors(self) -> np.ndarray:
        """F_i: integer code = Σ_i F_i·x̂_i."""
        if self.slice_bits is None:
            return np.array([self.lmax])
        k = self.slice_bits
        return np.array([float((1 << (i * k)) * ((1 << k) - 1)) for i in range(self.n_slices)])

    def quantizer(self) -> Optional[UniformQuantizer]:
        """The quantizer in input units (None for an ideal DAC)."""
        if self.bits is None:
            return None
        lm = int(self.lmax)
        return UniformQuantizer(0.0, self.step, -lm if self.signed else 0, lm)

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Integer codes (floats), or x/range for an ideal DAC."""
        q = self.quantizer()
        if q is None:
            return np.asarray(x, dtype=np.float64) / self.range
        return q.codes(x)

    def slice_values(self, codes: np.ndarray) -> np.ndarray:
        """x̂ per slice, shape ``(n_slices, *codes.shape)``."""
        codes = np.asarray(codes, dtype=np.float64)
        if self.slice_bits is None:
            return (codes / self.lmax)[None]
        k = self.slice_bits
        mag = np.abs(codes).astype(np.int64)
        sign = np.sign(codes)
        out = np.empty((self.n_slices,) + codes.shape)
        for i in range(self.n_slices):
            out[i] = sign * ((mag >> (i * k)) & ((1 << k) - 1)) / float((1 << k) - 1)
        return out

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64) * self.step


# ---------------------------------------------------------------------------- weights
@dataclass
class WeightGrid:
    """Symmetric weight quantization of a matrix ``W (M, N)`` (rows are output columns of the array).

    ``w_int = clip(round(W / w_max·L), -L, L)`` with ``L = 2^(b-1) - 1``
    (2^b - 1 levels); ``w_unit = w_max / L`` is the value of one code, per
    output (per-channel) or shared. ``bits=None`` keeps continuous conductances:
    ``w_int = W / w_max`` and ``L = 1``.
    """

    w_int: np.ndarray   # (M, N) float (integer-valued when quantized)
    w_unit: np.ndarray  # (M,)
    lmax: float
    bits: Optional[int]

    @classmethod
    def build(cls, w: np.ndarray, bits: Optional[int], per_channel: bool = False,
              w_range: Optional[float] = None) -> WeightGrid:
        w = np.asarray(w, dtype=np.float64)
        m = w.shape[0]
        if w_range is not None:
            wmax = np.full(m, float(w_range))
        elif per_channel:
            wmax = np.abs(w).max(axis=1)
        else:
            wmax = np.full(m, float(np.abs(w).max(initial=0.0)))
        wmax = np.where(wmax > 0, wmax, 1.0)
        if bits is None:
            return cls(np.clip(w / wmax[:, None], -1.0, 1.0), wmax, 1.0, None)
        lmax = float((1 << (bits - 1)) - 1)
        w_int = np.clip(np.rint(w / wmax[:, None] * lmax), -lmax, lmax)
        return cls(w_int, wmax / lmax, lmax, bits)

    @cached_property
    def quantized(self) -> np.ndarray:
        """The weights the array realises (float units)."""
        return self.w_int * self.w_unit[:, None]


@dataclass
class WeightSlice:
    """One weight slice mapped to devices: conductances (units of Gmax) per side.

    ``sides`` is a list of ``(sign, G (N, M))``: the analog column current is
    ``a = Σ_r x̂_r Σ_side sign·G_side[r]``. ``factor`` (H_s) turns ``a`` (after
    removing the digital offset ``gmin_offset·Σx̂``) into integer weight units,
    shift included.
    """

    sides: list[tuple[float, np.ndarray]]
    factor: float
    gmin_offset: float  # Gmin for OFFSET slices (subtracted digitally), 0 for differential
    levels: float = 1.0  # D: largest cell level; a cell holds Gmin + Gr·c/D for integer c

    def __post_init__(self) -> None:
        g = np.zeros_like(self.sides[0][1])
        g2 = np.zeros_like(self.sides[0][1])
        for sign, gs in self.sides:
            g += sign * gs
            g2 += gs * gs
        self.g = g      # signed conductance seen by the ADC, (N, M)
        self.g2 = g2    # Σ_side G², the device-noise weight, (N, M)


def slice_bits_for(bits: int, n_slices: int, encoding: str) -> int:
    """Bits per weight slice (Cross-Sim rule): b/ns when it divides, else ceil((b-1)/ns) (differential) or ceil(b/ns) (offset)."""
    if bits % n_slices == 0:
        return bits // n_slices
    return math.ceil((bits - 1) / n_slices) if encoding == "differential" else math.ceil(bits / n_slices)


def encode_weights(grid: WeightGrid, encoding: str, n_slices: int, gmin: float) -> tuple[list[WeightSlice], float]:
    """Map integer weights to device conductances.

    Returns the slices and the digital offset ``O`` (``2^(b-1)`` for offset
    encoding, 1 for continuous offset weights, 0 for differential) that is
    subtracted as ``O·Σx̂`` after shift-and-add.
    """
    gr = 1.0 - gmin
    wt = grid.w_int.T  # (N, M)
    if encoding == "differential":
        mag, pos = np.abs(wt), (wt > 0)
        if n_slices == 1:
            d = grid.lmax
            c = mag / d
            gp = gmin + gr * np.where(pos, c, 0.0)
            gn = gmin + gr * np.where(pos, 0.0, c)
            return [WeightSlice([(1.0, gp), (-1.0, gn)], d / gr, 0.0, d)], 0.0
        assert grid.bits is not None
        bs = slice_bits_for(grid.bits, n_slices, encoding)
        d = float((1 << bs) - 1)
        magi = mag.astype(np.int64)
        out = []
        for s in range(n_slices):
            c = ((magi >> (s * bs)) & ((1 << bs) - 1)) / d
            gp = gmin + gr * np.where(pos, c, 0.0)
            gn = gmin + gr * np.where(pos, 0.0, c)
            out.append(WeightSlice([(1.0, gp), (-1.0, gn)], float(1 << (s * bs)) * d / gr, 0.0, d))
        return out, 0.0
    if encoding == "offset":
        if grid.bits is None:
            u = wt + 1.0  # [0, 2]
            return [WeightSlice([(1.0, gmin + gr * u / 2.0)], 2.0 / gr, gmin, 2.0)], 1.0
        off = float(1 << (grid.bits - 1))
        u = (wt + off).astype(np.int64)
        bs = grid.bits if n_slices == 1 else slice_bits_for(grid.bits, n_slices, encoding)
        d = float((1 << bs) - 1)
        out = []
        for s in range(n_slices):
            c = ((u >> (s * bs)) & ((1 << bs) - 1)) / d
            out.append(WeightSlice([(1.0, gmin + gr * c)], float(1 << (s * bs)) * d / gr, gmin, d))
        return out, off
    raise ValueError(f"unknown encoding {encoding!r}")


def tile_rows(n: int, rows_max: int) -> list[slice]:
    """Split ``n`` rows into arrays of at most ``rows_max`` (Cross-Sim: equal when they divide,
    else round(n/tiles) rows each and the rest in the last one)."""
    t = max(1, math.ceil(n / rows_max))
    if n % t == 0:
        sizes = [n // t] * t
    else:
        each = int(round(n / t))
        sizes = [each] * (t - 1) + [n - each * (t - 1)]
        if sizes[-1] > rows_max or sizes[-1] <= 0:  # keep every array within rows_max
            base, extra = divmod(n, t)
            sizes = [base + (1 if i < extra else 0) for i in range(t)]
    out, start = [], 0
    for s in sizes:
        out.append(slice(start, start + s))
        start += s
    return out


def adc_quantizer(bits: int, lo: float, hi: float, encoding: str) -> UniformQuantizer:
    """The ADC of one weight slice.

    Differential: symmetric, 2^b - 1 levels, Δ = 2L/(2^b - 2) with L = max(|lo|, |hi|).
    Offset: [lo, hi], 2^b levels anchored at lo.
    """
    if encoding == "differential":
        if bits < 2:
            raise ValueError("a symmetric (differential) ADC needs at least 2 bits")
        k = (1 << (bits - 1)) - 1
        lim = max(abs(lo), abs(hi))
        if not lim > 0:
            lim = 1e-12
        return UniformQuantizer(0.0, lim / k, -k, k)
    n = (1 << bits) - 1
    if not hi > lo:
        hi = lo + 1e-12
    return UniformQuantizer(lo, (hi - lo) / n, 0, n)
