"""The analog core: a weight matrix mapped onto crossbars, and its Monte-Carlo simulation.

Per array tile ``t``, weight slice ``s`` and input slice ``i`` the column
current is ``a = Σ_rows x̂_i·G`` (differential: ``G+ - G-``; offset: raw ``G``
with the offset still inside), converted by one ADC read per column; the
digital side removes ``Gmin·Σx̂`` (offset), shifts and adds slices, subtracts
the offset ``O·Σx̂`` and scales by ``Δx·w_unit``. Device noise multiplies every
device (both of a pair, every slice, every tile) by ``1 + N(0, α²)``:
programming error once per programming, read noise on every read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.special import ndtr

from .config import CrossbarConfig
from .quant import InputDAC, UniformQuantizer, WeightGrid, WeightSlice, adc_quantizer, encode_weights, tile_rows

_SQRT2PI = np.sqrt(2 * np.pi)


def factor_moments(alpha: float, kind: str) -> tuple[float, float]:
    """E[φ] and E[φ²] of one device factor φ: ``max(0, 1 + αZ)`` (normal) or lognormal with mean 1, variance α²."""
    if alpha <= 0:
        return 1.0, 1.0
    if kind == "lognormal":
        return 1.0, 1.0 + alpha * alpha
    t = 1.0 / alpha
    cdf, pdf = float(ndtr(t)), float(np.exp(-0.5 * t * t) / _SQRT2PI)
    return cdf + alpha * pdf, cdf * (1 + alpha * alpha) + alpha * pdf


def sample_factor(rng: np.random.Generator, shape, alpha: float, kind: str) -> np.ndarray:
    """Draw device factors φ (see :func:`factor_moments`)."""
    z = rng.standard_normal(shape)
    if kind == "lognormal":
        s2 = np.log1p(alpha * alpha)
        return np.exp(np.sqrt(s2) * z - s2 / 2)
    return np.maximum(1.0 + alpha * z, 0.0)


@dataclass
class LayerRanges:
    """Calibrated ranges of one layer under one crossbar topology."""

    input_range: float
    input_signed: bool
    adc: Optional[np.ndarray] = None  # (S, 2) [lo, hi] per weight slice, None = ideal ADC


@dataclass
class Crossbar:
    """One matrix ``W (M, N)`` programmed onto arrays of at most ``cfg.rows`` rows."""

    cfg: CrossbarConfig
    grid: WeightGrid
    slices: list[WeightSlice]
    offset: float
    tiles: list[slice]
    dac: InputDAC
    adcs: Optional[list[UniformQuantizer]]

    @classmethod
    def build(cls, w: np.ndarray, cfg: CrossbarConfig, ranges: LayerRanges) -> Crossbar:
        w = np.asarray(w, dtype=np.float64)
        grid = WeightGrid.build(w, cfg.weight_bits, cfg.weight_per_channel, cfg.weight_range)
        slices, offset = encode_weights(grid, cfg.encoding, cfg.weight_slices, cfg.gmin)
        dac = InputDAC(cfg.input_bits, ranges.input_signed, ranges.input_range, cfg.input_slice_bits)
        adcs = None
        if cfg.adc_bits is not None:
            if ranges.adc is None:
                raise ValueError("an ADC needs calibrated ranges")
            r = np.asarray(ranges.adc, dtype=np.float64).reshape(-1, 2)
            if r.shape[0] == 1 and len(slices) > 1:
                r = np.repeat(r, len(slices), axis=0)
            adcs = [adc_quantizer(cfg.adc_bits, float(lo), float(hi), cfg.encoding) for lo, hi in r]
        return cls(cfg, grid, slices, offset, tile_rows(w.shape[1], cfg.rows), dac, adcs)

    @property
    def n_rows(self) -> int:
        return int(self.grid.w_int.shape[1])

    @property
    def n_cols(self) -> int:
        return int(self.grid.w_int.shape[0])

    def output_scale(self) -> np.ndarray:
        """Float value of one integer accumulator unit per output column: Δx·w_unit."""
        return self.dac.step * self.grid.w_unit

    def full_scale_adc(self) -> np.ndarray:
        """Largest possible |a| per weight slice (x̂ = ±1 on every row of the tallest tile), as (S, 2)."""
        out = []
        for sl in self.slices:
            worst = 0.0
            lo_all = 0.0
            for t in self.tiles:
                g = sl.g[t]
                pos = np.clip(g, 0, None).sum(axis=0)
                neg = np.clip(g, None, 0).sum(axis=0)
                if self.dac.signed:
                    hi = float(np.max(pos - neg))
                    lo = -hi
                else:
                    hi, lo = float(pos.max()), float(neg.min())
                worst = max(worst, hi)
                lo_all = min(lo_all, lo)
            out.append([lo_all, worst])
        return np.array(out)

    # ---- noise-free ADC inputs (calibration) ------------------------------------
    def adc_inputs(self, x: np.ndarray, rho: Optional[np.ndarray] = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Noise-free ADC inputs per weight slice, pooled over tiles, input slices, columns and vectors.

        Returns ``[(a values, weight F_i² of each value)]`` per weight slice.
        ``rho`` (S, M) widens each slice's column spread around its mean by
        ``sqrt(rho)`` (inputs drawn independently lack the real inputs' correlations).
        """
        xs = self.dac.slice_values(self.dac.codes(x))  # (I, B, N)
        fac = self.dac.slice_factors()
        out = []
        for si, sl in enumerate(self.slices):
            g = sl.g
            vals, wts = [], []
            for i in range(xs.shape[0]):
                for t in self.tiles:
                    a = xs[i][:, t] @ g[t]
                    if rho is not None:
                        mu = a.mean(axis=0, keepdims=True)
                        a = mu + np.sqrt(rho[si])[None, :] * (a - mu)
                    vals.append(a.ravel())
                    wts.append(np.full(a.size, fac[i] ** 2))
            out.append((np.concatenate(vals), np.concatenate(wts)))
        return out

    # ---- Monte Carlo -------------------------------------------------------------
    def program(self, rng: np.random.Generator) -> list[list[tuple[float, np.ndarray]]]:
        """Programmed conductances per slice and side (programming error drawn once)."""
        a = self.cfg.programming_error
        out = []
        for sl in self.slices:
            sides = []
            for sign, g in sl.sides:
                gp = g * sample_factor(rng, g.shape, a, self.cfg.noise_model) if a > 0 else g
                sides.append((sign, gp))
            out.append(sides)
        return out

    def run(self, x: np.ndarray, rng: np.random.Generator, *, mode: str = "auto", n_programs: int = 1,
            chunk_elems: int = 1 << 22) -> np.ndarray:
        """Monte-Carlo outputs ``(B, M)`` (bias excluded) for input vectors ``x (B, N)``.

        ``mode="device"`` draws every device's read-noise factor for every
        vector (the reference); ``"aggregate"`` draws the column sum of the
        read noise as one Gaussian of the exact variance (exact for normal
        noise unless a factor would clip at 0; a CLT approximation for
        lognormal); ``"auto"`` is aggregate for normal noise, device for
        lognormal. ``n_programs`` splits the batch over that many programming
        draws.
        """
        x = np.asarray(x, dtype=np.float64)
        b = x.shape[0]
        if mode == "auto":
            mode = "device" if (self.cfg.noise_model == "lognormal" and self.cfg.read_noise > 0) else "aggregate"
        if mode not in ("device", "aggregate"):
            raise ValueError(f"mode must be auto, device or aggregate, got {mode!r}")
        codes = self.dac.codes(x)
        xs = self.dac.slice_values(codes)  # (I, B, N)
        fac = self.dac.slice_factors()
        alpha = self.cfg.read_noise
        m1r, m2r = factor_moments(alpha, self.cfg.noise_model)
        vr = max(m2r - m1r * m1r, 0.0)
        acc = np.zeros((b, self.n_cols))
        bounds = np.linspace(0, b, max(1, min(n_programs, b)) + 1).astype(int)
        for p0, p1 in zip(bounds[:-1], bounds[1:]):
            if p1 <= p0:
                continue
            prog = self.program(rng)
            for si, (sl, sides) in enumerate(zip(self.slices, prog)):
                adc = self.adcs[si] if self.adcs is not None else None
                gsum = sum(sign * g for sign, g in sides)
                g2 = sum(g * g for _, g in sides) if alpha > 0 else None
                for i in range(xs.shape[0]):
                    xi = xs[i, p0:p1]
                    part = np.zeros((p1 - p0, self.n_cols))
                    for t in self.tiles:
                        xt = xi[:, t]
                        if alpha > 0 and mode == "device":
                            a = self._device_read(xt, [(s, g[t]) for s, g in sides], rng, chunk_elems)
                        else:
                            a = xt @ gsum[t]
                            if alpha > 0:
                                a = m1r * a + np.sqrt(vr * ((xt * xt) @ g2[t])) * rng.standard_normal(a.shape)
                        if adc is not None:
                            if self.cfg.adc_noise > 0:
                                a = a + self.cfg.adc_noise * adc.delta * rng.standard_normal(a.shape)
                            a = adc(a)
                        if sl.gmin_offset:
                            a = a - sl.gmin_offset * xt.sum(axis=1, keepdims=True)
                        part += a
                    acc[p0:p1] += fac[i] * sl.factor * part
            if self.offset:
                acc[p0:p1] -= self.offset * (xs[:, p0:p1].sum(axis=2).T @ fac)[:, None]
        return acc * self.output_scale()[None, :]

    def _device_read(self, xt: np.ndarray, sides, rng: np.random.Generator, chunk_elems: int) -> np.ndarray:
        """One read with a fresh noise factor on every device for every vector."""
        n, m = sides[0][1].shape
        out = np.empty((xt.shape[0], m))
        step = max(1, chunk_elems // max(n * m, 1))
        alpha, kind = self.cfg.read_noise, self.cfg.noise_model
        for c0 in range(0, xt.shape[0], step):
            c1 = min(c0 + step, xt.shape[0])
            tot = np.zeros((c1 - c0, m))
            for sign, g in sides:
                phi = sample_factor(rng, (c1 - c0, n, m), alpha, kind)
                tot += sign * np.einsum("bn,bnm->bm", xt[c0:c1], g[None] * phi, optimize=True)
            out[c0:c1] = tot
        return out

    def run_reference(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Slow, obvious reference: one vector, one column, one device at a time (for tests)."""
        x = np.asarray(x, dtype=np.float64)
        cfg = self.cfg
        prog = self.program(rng)
        fac = self.dac.slice_factors()
        out = np.zeros((x.shape[0], self.n_cols))
        for v in range(x.shape[0]):
            xs = self.dac.slice_values(self.dac.codes(x[v]))
            for m in range(self.n_cols):
                total = 0.0
                for i in range(xs.shape[0]):
                    for si, (sl, sides) in enumerate(zip(self.slices, prog)):
                        for t in self.tiles:
                            a = 0.0
                            for r in range(t.start, t.stop):
                                for sign, g in sides:
                                    gg = g[r, m]
                                    if cfg.read_noise > 0:
                                        gg = gg * float(sample_factor(rng, (), cfg.read_noise, cfg.noise_model))
                                    a += xs[i, r] * sign * gg
                            if self.adcs is not None:
                                adc = self.adcs[si]
                                if cfg.adc_noise > 0:
                                    a += cfg.adc_noise * adc.delta * float(rng.standard_normal())
                                a = float(adc(np.array(a)))
                            a -= sl.gmin_offset * xs[i, t].sum()
                            total += fac[i] * sl.factor * a
                    total -= fac[i] * self.offset * xs[i].sum()
                out[v, m] = total * self.output_scale()[m]
        return out


@dataclass
class LayerMapping:
    """A compute layer on crossbars: one :class:`Crossbar` per group."""

    layer: object  # AnalogLayer
    cfg: CrossbarConfig
    ranges: LayerRanges
    crossbars: list[Crossbar]

    @classmethod
    def build(cls, layer, cfg: CrossbarConfig, ranges: LayerRanges) -> LayerMapping:
        return cls(layer, cfg, ranges, [Crossbar.build(m, cfg, ranges) for m in layer.matrices()])

    def run(self, x: np.ndarray, rng: np.random.Generator, **kw) -> np.ndarray:
        """Monte-Carlo layer output ``(B, *out_shape)`` (pre-activation, bias added)."""
        vecs = self.layer.unroll(x)
        ys = [cb.run(v, rng, **kw) for cb, v in zip(self.crossbars, vecs)]
        y = self.layer.fold(ys, x.shape[0])
        if self.layer.bias is not None:
            y = y + self.layer.bias.reshape((1, -1) + (1,) * (y.ndim - 2))
        return y
