"""Per-channel input distributions and what a quantizer does to them.

A :class:`ChannelDist` is the qformat probe statistic of one activation site:
bin edges shared by all channels, the non-zero probability mass of every bin
per channel (uniform inside a bin) and the probability of an exact zero.
:func:`dac_moments` integrates a DAC over it exactly (piecewise-uniform
density against piecewise-constant quantizer), giving the code distribution
and the moments the estimator needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .quant import InputDAC


@dataclass
class ChannelDist:
    """Distribution of one activation tensor per channel.

    ``edges`` (B+1,) shared; ``probs`` (C, B) non-zero mass per bin (rows sum
    to ``1 - p_zero``); ``p_zero`` (C,). Values are uniform inside a bin;
    a zero-width bin is a point mass at its edge.
    """

    edges: np.ndarray
    probs: np.ndarray
    p_zero: np.ndarray

    def __post_init__(self) -> None:
        self.edges = np.asarray(self.edges, dtype=np.float64)
        self.probs = np.clip(np.asarray(self.probs, dtype=np.float64), 0.0, None)
        self.p_zero = np.clip(np.asarray(self.p_zero, dtype=np.float64), 0.0, 1.0)
        if self.probs.ndim != 2 or self.probs.shape[1] != self.edges.size - 1:
            raise ValueError(f"probs shape {self.probs.shape} does not fit {self.edges.size - 1} bins")
        if self.p_zero.shape != (self.probs.shape[0],):
            raise ValueError("p_zero must have one value per channel")

    @property
    def channels(self) -> int:
        return int(self.probs.shape[0])

    # ---- construction -------------------------------------------------------
    @classmethod
    def from_stats(cls, stats) -> ChannelDist:
        """From a :class:`qformat.ActivationStats` (counts of non-zero values + p_zero)."""
        return cls(stats.edges, stats.pdf(), stats.p_zero)

    @classmethod
    def from_samples(cls, x: np.ndarray, bins: int = 64, edges: Optional[np.ndarray] = None) -> ChannelDist:
        """From samples ``x (n, C)``: exact zeros counted apart, the rest histogrammed on shared edges."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        n, c = x.shape
        nz = x != 0
        if edges is None:
            edges = histogram_edges(x, bins)
        probs = np.empty((c, edges.size - 1))
        for j in range(c):
            v = x[nz[:, j], j]
            probs[j] = np.histogram(v, bins=edges)[0] / max(n, 1)
        p_zero = 1.0 - nz.mean(axis=0) if n else np.ones(c)
        return cls(edges, probs, p_zero)

    # ---- properties ---------------------------------------------------------
    @property
    def signed(self) -> bool:
        """True when any channel has mass below zero."""
        neg = self.edges[:-1] < 0
        return bool(np.any(self.probs[:, neg] > 0))

    def _point_bins(self) -> np.ndarray:
        return np.diff(self.edges) <= 0

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """E[x] and E[x²] per channel (exact for the piecewise-uniform density)."""
        lo, hi = self.edges[:-1], self.edges[1:]
        m1 = (lo + hi) / 2
        m2 = (lo * lo + lo * hi + hi * hi) / 3
        return self.probs @ m1, self.probs @ m2

    def pooled_quantile(self, q: float, absolute: bool = False) -> float:
        """Quantile ``q`` (0..1) of the values pooled over channels (of |x| when ``absolute``)."""
        p = self.probs.sum(axis=0) / self.channels
        pz = float(self.p_zero.mean())
        lo, hi = self.edges[:-1], self.edges[1:]
        if absolute:
            # |x|: fold negative bins onto the positive axis through a fine common grid.
            top = float(max(abs(self.edges[0]), abs(self.edges[-1])))
            grid = np.unique(np.concatenate([np.abs(self.edges), [0.0, top]]))
            cdf = np.zeros(grid.size)
            for b in range(p.size):
                a0, a1 = sorted((abs(lo[b]), abs(hi[b])))
                if lo[b] < 0 < hi[b]:  # straddles zero: split proportionally
                    w = hi[b] - lo[b]
                    cdf += p[b] * (np.clip(grid, 0, -lo[b]) + np.clip(grid, 0, hi[b])) / w
                elif a1 > a0:
                    cdf += p[b] * np.clip((grid - a0) / (a1 - a0), 0, 1)
                else:
                    cdf += p[b] * (grid >= a0)
            cdf += pz
            return float(np.interp(q, cdf, grid)) if cdf[-1] > 0 else 0.0
        # signed values: cdf at every edge with the zero atom inserted
        grid = np.unique(np.concatenate([self.edges, [0.0]]))
        cdf = np.zeros(grid.size)
        for b in range(p.size):
            if hi[b] > lo[b]:
                cdf += p[b] * np.clip((grid - lo[b]) / (hi[b] - lo[b]), 0, 1)
            else:
                cdf += p[b] * (grid >= lo[b])
        cdf += pz * (grid >= 0)
        return float(np.interp(q, cdf, grid))

    def max_abs(self) -> float:
        """Largest |x| with non-zero probability."""
        used = np.flatnonzero(self.probs.sum(axis=0) > 0)
        if used.size == 0:
            return 0.0
        return float(max(abs(self.edges[used[0]]), abs(self.edges[used[-1] + 1])))

    def max_value(self) -> float:
        used = np.flatnonzero(self.probs.sum(axis=0) > 0)
        return float(self.edges[used[-1] + 1]) if used.size else 0.0

    # ---- sampling -----------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int, channels: Optional[np.ndarray] = None) -> np.ndarray:
        """Draw ``n`` iid values for each channel (or for each entry of ``channels``): ``(n, len)``."""
        ch = np.arange(self.channels) if channels is None else np.asarray(channels)
        out = np.empty((n, ch.size))
        lo, w = self.edges[:-1], np.diff(self.edges)
        for j, c in enumerate(ch):
            pb = self.probs[c]
            p = np.concatenate([[self.p_zero[c]], pb])
            tot = p.sum()
            p = p / tot if tot > 0 else np.concatenate([[1.0], np.zeros(pb.size)])
            k = rng.choice(p.size, size=n, p=p)
            u = rng.random(n)
            b = np.maximum(k - 1, 0)
            out[:, j] = np.where(k == 0, 0.0, lo[b] + u * w[b])
        return out


def histogram_edges(x: np.ndarray, bins: int) -> np.ndarray:
    """Shared edges over the non-zero values of ``x``; 0 is an edge when the range straddles it."""
    v = x[x != 0]
    if v.size == 0:
        return np.array([0.0, 1.0])
    lo, hi = float(v.min()), float(v.max())
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        hi = lo + 1.0
    if lo < 0 < hi:
        # put an edge at 0 so no bin mixes signs
        nneg = max(1, int(round(bins * -lo / (hi - lo))))
        npos = max(1, bins - nneg)
        return np.concatenate([np.linspace(lo, 0.0, nneg + 1)[:-1], np.linspace(0.0, hi, npos + 1)])
    return np.linspace(lo, hi, bins + 1)


@dataclass
class DacMoments:
    """What a DAC does to each channel's distribution.

    ``P`` (C, J) code probabilities (None for an ideal DAC), ``codes`` (J,) the
    integer codes; moments per channel of x, of the DAC output Q (input units)
    and of the error δ = Q - x.
    """

    P: Optional[np.ndarray]
    codes: Optional[np.ndarray]
    ex: np.ndarray
    ex2: np.ndarray
    eq: np.ndarray
    eq2: np.ndarray
    ed: np.ndarray
    ed2: np.ndarray
    edq: np.ndarray
    p_zero: np.ndarray  # P(code == 0) (or P(x == 0) for an ideal DAC)


def dac_moments(dist: ChannelDist, dac: InputDAC) -> DacMoments:
    """Integrate the DAC over every channel's distribution (exact for piecewise-uniform bins)."""
    edges, probs = dist.edges, dist.probs
    c = dist.channels
    quant = dac.quantizer()
    point = np.diff(edges) <= 0
    if quant is None:
        ex, ex2 = dist.moments()
        p0 = dist.p_zero + probs[:, point & (edges[:-1] == 0)].sum(axis=1)
        z = np.zeros(c)
        return DacMoments(None, None, ex, ex2, ex, ex2, z, z, z, p0)
    levels, thr = quant.levels(), quant.thresholds()
    codes = np.arange(quant.kmin, quant.kmax + 1, dtype=np.float64)
    J = levels.size
    inner = thr[(thr > edges[0]) & (thr < edges[-1])]
    bp = np.unique(np.concatenate([edges, inner]))
    u, v = bp[:-1], bp[1:]
    keep = v > u
    u, v = u[keep], v[keep]
    mid = 0.5 * (u + v)
    b = np.clip(np.searchsorted(edges, mid, side="right") - 1, 0, edges.size - 2)
    width = np.diff(edges)[b]
    ok = width > 0
    u, v, mid, b, width = u[ok], v[ok], mid[ok], b[ok], width[ok]
    j = np.searchsorted(thr, mid)  # level index of each elementary interval
    q = levels[j]
    dens = probs[:, b] / width  # (C, E)
    i0 = v - u
    i1 = (v * v - u * u) / 2
    i2 = (v ** 3 - u ** 3) / 3
    d1 = ((q - u) ** 2 - (q - v) ** 2) / 2        # ∫ (q - x) dx
    d2 = ((q - u) ** 3 - (q - v) ** 3) / 3        # ∫ (q - x)² dx
    mass = dens * i0
    P = np.zeros((c, J))
    # intervals are sorted, so j is non-decreasing: sum runs of equal j
    if j.size:
        starts = np.flatnonzero(np.r_[True, j[1:] != j[:-1]])
        P[:, j[starts]] = np.add.reduceat(mass, starts, axis=1)
    ex, ex2 = dens @ i1, dens @ i2
    eq, eq2 = mass @ q, mass @ (q * q)
    ed, ed2 = dens @ d1, dens @ d2
    edq = dens @ (q * d1)
    # point masses: exact zeros and zero-width bins
    atoms = [(0.0, dist.p_zero)]
    for bb in np.flatnonzero(point):
        atoms.append((float(edges[bb]), probs[:, bb]))
    for a, m in atoms:
        qa = float(quant(np.array([a]))[0])
        ja = int(quant.codes(np.array([a]))[0]) - quant.kmin
        P[:, ja] += m
        ex = ex + m * a
        ex2 = ex2 + m * a * a
        eq = eq + m * qa
        eq2 = eq2 + m * qa * qa
        ed = ed + m * (qa - a)
        ed2 = ed2 + m * (qa - a) ** 2
        edq = edq + m * qa * (qa - a)
    p0 = P[:, -quant.kmin]
    return DacMoments(P, codes, ex, ex2, eq, eq2, ed, ed2, edq, p0)


@dataclass
class SliceStats:
    """Per-channel statistics of the normalised DAC outputs x̂_i of every input slice.

    ``m1`` (I, C) E[x̂_i]; ``m2`` (I, I, C) E[x̂_i x̂_j]; ``m3`` (I, C) E[x̂_i³];
    ``p0`` (I, C) P(x̂_i = 0); ``lo``/``hi`` (I, C) the smallest/largest x̂_i
    with non-zero probability; ``pmf`` per slice ``(values (V,), probs (C, V))``
    (None for an ideal DAC); ``unit`` the spacing of the x̂ values (0 = continuous).
    """

    m1: np.ndarray
    m2: np.ndarray
    m3: np.ndarray
    p0: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    pmf: Optional[list[tuple[np.ndarray, np.ndarray]]]
    unit: float


def slice_stats(mom: DacMoments, dac: InputDAC, dist: ChannelDist) -> SliceStats:
    """What every input slice of ``dac`` feeds the array, per channel of ``dist``."""
    if mom.P is None:
        r = dac.range
        lo, hi = dist.edges[:-1], dist.edges[1:]
        w = np.where(hi > lo, hi - lo, 1.0)
        m3b = np.where(hi > lo, (hi ** 4 - lo ** 4) / (4 * w), lo ** 3)
        used = dist.probs > 0
        big = np.where(used, hi[None, :], -np.inf).max(axis=1)
        small = np.where(used, lo[None, :], np.inf).min(axis=1)
        big = np.where(np.isfinite(big), np.maximum(big, 0.0), 0.0)
        small = np.where(np.isfinite(small), np.minimum(small, 0.0), 0.0)
        return SliceStats((mom.ex / r)[None], (mom.ex2 / r ** 2)[None, None], ((dist.probs @ m3b) / r ** 3)[None],
                          mom.p_zero[None], (small / r)[None], (big / r)[None], None, 0.0)
    xs = dac.slice_values(mom.codes)  # (I, J)
    P = mom.P
    m1 = xs @ P.T
    m2 = np.einsum("ij,kj,cj->ikc", xs, xs, P)
    m3 = (xs ** 3) @ P.T
    p0 = (xs == 0).astype(np.float64) @ P.T
    used = P > 0
    lo = np.where(used[None], xs[:, None, :], np.inf).min(axis=2)
    hi = np.where(used[None], xs[:, None, :], -np.inf).max(axis=2)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, 0.0)
    pmf = []
    for i in range(xs.shape[0]):
        vals, inv = np.unique(xs[i], return_inverse=True)
        if vals.size == inv.size:          # one value per code (no slicing): the code pmf itself
            pmf.append((vals, P[:, np.argsort(inv)]))
            continue
        onehot = np.zeros((inv.size, vals.size))
        onehot[np.arange(inv.size), inv] = 1.0
        pmf.append((vals, P @ onehot))
    unit = 1.0 / (float((1 << dac.slice_bits) - 1) if dac.slice_bits is not None else dac.lmax)
    return SliceStats(m1, m2, m3, p0, lo, hi, pmf, unit)


def expand_rows(per_channel: np.ndarray, row_channel: np.ndarray, row_valid: np.ndarray, zero_value: float = 0.0) -> np.ndarray:
    """Per-row values of a per-channel statistic (last axis = channel), mixing in padding.

    A row reads channel ``row_channel[r]`` with probability ``row_valid[r]`` and
    a padding zero otherwise, so every expectation of a function vanishing at 0
    scales by ``row_valid``; ``zero_value`` is the statistic's value at a padding
    zero (1 for P(x̂ = 0)).
    """
    v = per_channel[..., row_channel]
    return row_valid * v + (1.0 - row_valid) * zero_value
