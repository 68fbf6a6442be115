"""The statistical estimator: closed-form output-noise power of a layer on crossbars.

Inputs of a layer are modelled as independent per row, each row reading the
probe distribution of its channel (with padding zeros mixed in for conv
borders). For every output channel the estimator returns the mean squared
error ``E[(y_cim - y_float)²]`` and its parts:

* deterministic: ``f = w·(Q(x) - x) + e·Q(x)`` per row (input quantization and
  weight-quantization error ``e``), summed exactly under independence — the
  classic ``Σe²Var(x) + (ΣeE[x])²`` and ``Σw²Δx²/12`` are its two limits;
* per ADC read (tile × weight slice × input slice × column): the column current
  ``a`` is an atom at 0 (every row's x̂ zero) plus a Gaussian of the exact mean
  and variance, seen through device noise ``κa + n`` (programming error and
  read noise, ``Var n = Σ x̂²G²·v``) and thermal noise, then the ADC; the read
  error ``Q(v) - a`` comes from :mod:`cimnoise.gauss` (quantization, clipping
  and the noise-quantizer interaction in one total);
* reads are independent except programming error shared by the input slices
  of one value (added through the Bussgang gains of their ADCs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional

import numpy as np

from .adcmodel import CurrentStats, lattice_unit, read_error
from .crossbar import Crossbar, LayerMapping, LayerRanges, factor_moments
from .dist import ChannelDist, DacMoments, SliceStats, dac_moments, expand_rows, slice_stats
from .gauss import gauss_quant_moments

COMPONENTS = ("weight_quant", "input_quant", "read_noise", "programming", "adc_thermal", "adc")


@dataclass
class LayerEstimate:
    """Per-output-channel noise power of one layer (float output units squared)."""

    name: str
    mse: np.ndarray                       # (O,) total E[err²]
    components: dict[str, np.ndarray]     # (O,) each, see COMPONENTS ('adc' holds the ADC excess incl. interaction)
    mean_err: np.ndarray                  # (O,) E[err]
    signal: Optional[np.ndarray] = None   # (O,) E[y²] of the clean pre-activation output
    extra: dict = field(default_factory=dict)

    @property
    def noise_power(self) -> float:
        return float(np.mean(self.mse))

    @property
    def snr_db(self) -> float:
        if self.signal is None:
            return float("nan")
        return snr_db(float(np.mean(self.signal)), self.noise_power)


def snr_db(signal: float, noise: float) -> float:
    """10·log10(signal/noise) with the limits +inf (no noise) and nan (no signal)."""
    if noise <= 0:
        return float("inf") if signal > 0 else float("nan")
    if signal <= 0:
        return float("nan")
    return float(10.0 * np.log10(signal / noise))


def _prod_rows(p0: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        s = np.log(np.clip(p0, 0.0, 1.0)).sum()
    return float(np.exp(s))


class _CF:
    """Characteristic function of one tile's column currents for one input slice, conditional on a non-zero row.

    ``vals`` are integer multiples of ``unit``; ``probs`` (N, V) each row's pmf
    over ``vals`` (its channel's, before padding), ``valid`` (N,) the share of
    non-padding reads, ``g`` (N, M). ``E[exp(iω x̂ g)]`` is a polynomial in
    ``z = exp(iω·unit·g)``: summed term by term over the values that occur when
    they are few, else by Horner's rule. Rows whose conductance is zero in the
    requested columns contribute 1 and are skipped.
    """

    SERIES_TERMS = 16     # terms of the log-series for sparse binary inputs (error < 1e-6 per row)

    def __init__(self, vals, unit, probs, valid, g, p0t, chunk: int = 1 << 20, levels=None):
        self.unit, self.valid, self.g, self.p0t, self.chunk = unit, valid, g, p0t, chunk
        ints = np.rint(vals / unit).astype(np.int64)
        support = np.flatnonzero(probs.any(axis=0))
        self.sparse = support.size <= 24
        if self.sparse:
            self.s_ints, self.s_probs = ints[support], probs[:, support]
        else:
            self.lo = int(ints[support].min())
            self.coef = np.zeros((probs.shape[0], int(ints[support].max()) - self.lo + 1))
            self.coef[:, ints[support] - self.lo] = probs[:, support]
        self.series = None
        if self.sparse and set(self.s_ints.tolist()) <= {0, 1} and 1 in self.s_ints.tolist():
            p = valid * self.s_probs[:, list(self.s_ints).index(1)]      # P(x̂ = 1) per row, padding included
            levels = np.unique(g) if levels is None else levels
            if p.max() < 0.25 and levels.size <= 64:
                self.series = self._power_sums(p, g, levels)

    def _power_sums(self, p: np.ndarray, g: np.ndarray, levels: np.ndarray):
        """S[j, l, m] = Σ_{rows with g = level l} p^(j+1), for the log-series of binary inputs."""
        levels = levels[levels != 0]
        pw = np.stack([p ** (j + 1) for j in range(self.SERIES_TERMS)])           # (J, N)
        if levels.size == 0:                       # every conductance zero: no current, Φ = 1
            return levels, np.zeros((self.SERIES_TERMS, 0, g.shape[1]))
        sums = np.stack([pw @ (g == lv) for lv in levels], axis=1)                 # (J, L, M)
        return levels, sums

    def _series_cf(self, cols: np.ndarray, omegas: np.ndarray) -> np.ndarray:
        """log Φ = Σ_l Σ_j (-1)^(j+1)/j · S_jl · (e^{iωl} - 1)^j  (exact to the truncation; p < 1/4).

        The pairs repeat few columns and few frequencies: the series is one
        (columns × terms·levels) @ (terms·levels × frequencies) product over the
        distinct ones, then read off per pair. :meth:`_series_cf_reference` sums it pair by pair.
        """
        levels, sums = self.series
        uc, ci = np.unique(cols, return_inverse=True)
        uw, wi = np.unique(omegas, return_inverse=True)
        y = np.exp(1j * self.unit * uw[:, None] * levels[None, :]) - 1.0           # (W, L)
        yp = np.empty((self.SERIES_TERMS,) + y.shape, dtype=complex)               # (J, W, L): c_j y^(j+1)
        yj = np.ones_like(y)
        for j in range(self.SERIES_TERMS):
            yj = yj * y
            yp[j] = ((-1) ** j / (j + 1)) * yj
        s = sums[:, :, uc]                                                         # (J, L, U)
        tab = s.reshape(-1, uc.size).T @ yp.transpose(0, 2, 1).reshape(-1, uw.size)  # (U, W)
        logs = tab[ci, wi]
        return (np.exp(logs) - self.p0t) / (1.0 - self.p0t)

    def _series_cf_reference(self, cols: np.ndarray, omegas: np.ndarray) -> np.ndarray:
        """Pair-by-pair original of :meth:`_series_cf`."""
        levels, sums = self.series
        y = np.exp(1j * self.unit * omegas[:, None] * levels[None, :]) - 1.0       # (P, L)
        s = sums[:, :, cols]                                                       # (J, L, P)
        logs = np.zeros(cols.size, dtype=complex)
        yj = np.ones_like(y)
        for j in range(self.SERIES_TERMS):
            yj = yj * y
            logs += ((-1) ** j / (j + 1)) * np.einsum("lp,pl->p", s[j], yj)
        return (np.exp(logs) - self.p0t) / (1.0 - self.p0t)

    def _psi(self, rows: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """E[exp(i·s·θ)] of rows ``rows`` (x̂ = s·unit), padding mixed in."""
        if self.sparse:
            acc = np.zeros(theta.shape, dtype=np.complex64)
            for k, s_ in enumerate(self.s_ints):
                acc += self.s_probs[rows, k].astype(np.float32) * (np.exp(1j * np.float32(s_) * theta) if s_ else 1.0)
        else:
            z = np.exp(1j * theta)
            acc = self.coef[rows, -1].astype(complex)
            for k in range(self.coef.shape[1] - 2, -1, -1):
                acc = acc * z + self.coef[rows, k]
            if self.lo:
                acc = acc * np.exp(1j * self.lo * theta)
        v = self.valid[rows].astype(np.float32)
        return v * acc + (1.0 - v)

    def __call__(self, cols: np.ndarray, omegas: np.ndarray) -> np.ndarray:
        if self.series is not None:
            return self._series_cf(cols, omegas)
        if not hasattr(self, "_csr"):
            gt = self.g.T                                   # (M, N): non-zero rows per column
            nz = gt != 0
            self._csr = (np.concatenate([[0], np.cumsum(nz.sum(axis=1))]), np.nonzero(nz)[1])
        indptr, indices = self._csr
        counts = indptr[cols + 1] - indptr[cols]
        logs = np.zeros(cols.size, dtype=complex)
        # flatten (pair, non-zero row) in chunks; sum log ψ per pair
        bounds = np.concatenate([[0], np.cumsum(counts)])
        start = 0
        while start < cols.size:
            stop = int(np.searchsorted(bounds, bounds[start] + self.chunk, side="right")) - 1
            stop = max(stop, start + 1)
            c, n = cols[start:stop], counts[start:stop]
            tot = int(n.sum())
            if tot:
                pair = np.repeat(np.arange(start, stop), n)
                first = np.repeat(indptr[c] - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
                rows = indices[first + np.arange(tot)]
                theta = (self.unit * self.g[rows, cols[pair]] * omegas[pair]).astype(np.float32)
                with np.errstate(divide="ignore"):
                    lp = np.log(self._psi(rows, theta))     # complex64: ample for a product of factors of modulus <= 1
                logs[start:stop] = np.bincount(pair - start, weights=lp.real, minlength=stop - start) + \
                    1j * np.bincount(pair - start, weights=lp.imag, minlength=stop - start)
            start = stop
        phi = np.exp(logs)
        return (phi - self.p0t) / (1.0 - self.p0t)


class _TileCache:
    """Powers of one tile's conductances, computed on first use and reused by every input slice.

    They only feed sums of variances, so they are kept in float32 (half the memory traffic).
    """

    def __init__(self, g: np.ndarray, dev2: np.ndarray):
        self.g, self.dev2 = g, dev2

    @cached_property
    def g2(self) -> np.ndarray:
        return np.square(self.g, dtype=np.float32)

    @cached_property
    def g3(self) -> np.ndarray:
        return self.g2 * self.g.astype(np.float32)

    @cached_property
    def g4(self) -> np.ndarray:
        return np.square(self.g2)

    @cached_property
    def levels(self) -> np.ndarray:
        """The distinct conductance values of the tile."""
        return np.unique(self.g)

    @cached_property
    def gneg(self) -> Optional[np.ndarray]:
        """min(g, 0), or None when no conductance is negative (offset arrays)."""
        neg = np.minimum(self.g, 0.0)
        return neg.astype(np.float32) if neg.any() else None

    def bounds(self, xlo: np.ndarray, xhi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest column current when every row's x̂ lies in [xlo, xhi]."""
        lo, hi = xlo @ self.g, xhi @ self.g
        if self.gneg is not None:
            d = (xhi - xlo) @ self.gneg
            lo, hi = lo + d, hi - d
        return lo, hi


def estimate_crossbar(cb: Crossbar, w: np.ndarray, mom: DacMoments, sstats, row_channel: np.ndarray,
                      row_valid: np.ndarray, rho: Optional[np.ndarray] = None,
                      shape: Optional[tuple[np.ndarray, ...]] = None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Noise of one crossbar's columns: ``(mse (M,), mean_err (M,), components)``.

    ``rho`` (M,) scales the variance of every column current (see
    :func:`correlation_gain`); 1 = rows independent. ``shape`` is the measured
    standardized output distribution per column (see :func:`output_shape`),
    used for saturation when a read covers whole input values.

    Every ADC read of a weight slice (all tiles, input slices and columns) goes
    through the ADC model in one batched call; :func:`estimate_crossbar_reference`
    is the per-read original it is tested against.
    """
    cfg = cb.cfg
    w = np.asarray(w, dtype=np.float64)
    f, ch = row_valid, row_channel
    # ---- deterministic part: f = w·δ + e·Q per row, independent rows ------------------
    eq, eq2 = f * mom.eq[ch], f * mom.eq2[ch]
    ed, ed2, edq = f * mom.ed[ch], f * mom.ed2[ch], f * mom.edq[ch]
    e = cb.grid.quantized - w
    ww, ee, we = w * w, e * e, w * e
    var_q, var_d = eq2 - eq * eq, ed2 - ed * ed
    var_wq = ee @ var_q + (e @ eq) ** 2
    var_iq = ww @ var_d + (w @ ed) ** 2
    var_det = ww @ var_d + 2 * (we @ (edq - ed * eq)) + ee @ var_q
    mean_det = w @ ed + e @ eq
    # ---- analog part: per ADC read ---------------------------------------------------
    ss: SliceStats = sstats
    if not output_like(cfg):
        shape = None
    if not correlated_reads(cfg):
        rho = None
    m1 = expand_rows(ss.m1, ch, f)                 # (I, N)
    m2 = expand_rows(ss.m2, ch, f)                 # (I, I, N)
    m3 = expand_rows(ss.m3, ch, f)
    p0 = expand_rows(ss.p0, ch, f, zero_value=1.0)
    pad = f < 1.0
    xlo = np.where(pad, np.minimum(ss.lo[:, ch], 0.0), ss.lo[:, ch])
    xhi = np.where(pad, np.maximum(ss.hi[:, ch], 0.0), ss.hi[:, ch])
    n_in = m1.shape[0]
    rho_s = None if rho is None else slice_rho(cb, m2[0, 0] - m1[0] ** 2, rho)
    m1p, m2p = factor_moments(cfg.programming_error, cfg.noise_model)
    m1r, m2r = factor_moments(cfg.read_noise, cfg.noise_model)
    kappa = m1p * m1r
    v_tot = m2p * m2r - kappa * kappa             # variance of a device factor within one read
    v_cor = m2p * m1r * m1r - kappa * kappa       # its covariance between two reads (programming)
    v_read = m2p * (m2r - m1r * m1r)
    scale = cb.output_scale()
    fac = cb.dac.slice_factors()
    m = cb.n_cols
    var_an = np.zeros(m)
    mean_an = np.zeros(m)
    comp_read = np.zeros(m)
    comp_prog = np.zeros(m)
    comp_th = np.zeros(m)
    alphabets: dict = {}
    for si, sl in enumerate(cb.slices):
        adc = cb.adcs[si] if cb.adcs is not None else None
        th2 = (cfg.adc_noise * adc.delta) ** 2 if adc is not None else 0.0
        g_all, dev2_all = sl.g, sl.g2
        lat = None
        if ss.pmf is not None and cb.grid.bits is not None and adc is not None:
            lat = lattice_unit(ss.unit, (1.0 - cfg.gmin) / sl.levels, sl.gmin_offset)
        atom_e, atom_e2 = _zero_read(adc, th2)
        pending: list[_Read] = []           # this slice's reads that go through the ADC model together
        tiles = []
        for ti, t in enumerate(cb.tiles):
            tc = _TileCache(g_all[t], dev2_all[t])
            reads = []
            for i in range(n_in):
                rd = _Read(k=scale * fac[i] * sl.factor)
                mx, mxx, mx3 = m1[i, t], m2[i, i, t], m3[i, t]
                vr = np.maximum(mxx - mx * mx, 0.0)
                mu_a = mx @ tc.g
                var_a = (vr.astype(np.float32) @ tc.g2).astype(np.float64)
                k3 = ((mx3 - 3 * mx * mxx + 2 * mx ** 3).astype(np.float32) @ tc.g3).astype(np.float64) \
                    if adc is not None else np.zeros(m)
                if rho_s is not None:
                    var_a = var_a * rho_s[si]
                    k3 = k3 * rho_s[si] ** 1.5
                rd.sxx = mxx @ tc.dev2
                rd.p0t = p0t = _prod_rows(p0[i, t])
                rd.w1 = w1 = 1.0 - p0t
                if w1 > 1e-15 and adc is None:
                    # ideal ADC: the read error is the device noise (and the mean shift κ - 1)
                    e2 = (var_a + mu_a * mu_a) / w1
                    rd.ee_g = (kappa - 1.0) * mu_a / w1
                    rd.ee2_g = (kappa - 1.0) ** 2 * e2 + v_tot * rd.sxx / w1
                    rd.gain = np.ones(m)
                elif w1 > 1e-15:
                    e1 = mu_a / w1
                    e2 = (var_a + mu_a * mu_a) / w1
                    e3 = (k3 + 3 * mu_a * var_a + mu_a ** 3) / w1
                    c_lo, c_hi = tc.bounds(xlo[i, t], xhi[i, t])
                    rd.cs = CurrentStats(mean=e1, var=np.maximum(e2 - e1 * e1, 0.0), m3=e3 - 3 * e1 * e2 + 2 * e1 ** 3,
                                         lo=c_lo, hi=c_hi, second=e2, shape=shape if p0t < 0.01 else None)
                    if ss.pmf is not None:
                        vals, probs = ss.pmf[i]
                        if (ti, i) not in alphabets:        # the same for every weight slice
                            alphabets[ti, i] = int(np.count_nonzero(probs[np.unique(ch[t])].any(axis=0)))
                        rd.alphabet = alphabets[ti, i]
                        rd.cf = _lazy_cf(vals, ss.unit, probs, ch[t], f[t], tc, p0t)
                    quad = ((vr * vr).astype(np.float32) @ tc.g4).astype(np.float64)
                    rd.n_eff = np.divide(var_a ** 2, quad, out=np.zeros(m), where=quad > 0)
                    rd.sn2 = v_tot * rd.sxx / w1
                    pending.append(rd)
                else:
                    rd.ee_g = rd.ee2_g = rd.gain = np.zeros(m)
                reads.append(rd)
            for name in ("g2", "g3", "g4"):     # only the (lazy) characteristic functions need the tile again
                tc.__dict__.pop(name, None)
            tiles.append((t, tc, reads))
        _read_errors(adc, pending, kappa, th2, lat)
        for t, tc, reads in tiles:
            for rd in reads:
                k = rd.k
                ee1 = rd.w1 * rd.ee_g + rd.p0t * atom_e
                ee2 = rd.w1 * rd.ee2_g + rd.p0t * atom_e2
                var_an += k * k * np.maximum(ee2 - ee1 * ee1, 0.0)
                mean_an += k * ee1
                comp_read += k * k * v_read * rd.sxx
                comp_prog += k * k * v_cor * rd.sxx
                comp_th += k * k * th2
            if v_cor > 0 and n_in > 1:
                for i in range(n_in):
                    for j in range(n_in):
                        if i != j:
                            c = v_cor * (m2[i, j, t] @ tc.dev2)
                            var_an += reads[i].k * reads[j].k * reads[i].gain * reads[j].gain * c
                            comp_prog += reads[i].k * reads[j].k * c
    mse = var_det + var_an + (mean_det + mean_an) ** 2
    det = var_det + mean_det ** 2
    comps = {
        "weight_quant": var_wq,
        "input_quant": var_iq,
        "read_noise": comp_read,
        "programming": comp_prog,
        "adc_thermal": comp_th,
        "adc": mse - det - comp_read - comp_prog - comp_th,
    }
    return mse, mean_det + mean_an, comps


def estimate_crossbar_reference(cb: Crossbar, w: np.ndarray, mom: DacMoments, sstats, row_channel: np.ndarray,
                      row_valid: np.ndarray, rho: Optional[np.ndarray] = None,
                      shape: Optional[tuple[np.ndarray, ...]] = None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Slow obvious reference of :func:`estimate_crossbar`: one ADC-model call per read (tile × slice × input slice).

    Kept to test the batched fast path against; same arguments and results.

    ``rho`` (M,) scales the variance of every column current (see
    :func:`correlation_gain`); 1 = rows independent. ``shape`` is the measured
    standardized output distribution per column (see :func:`output_shape`),
    used for saturation when a read covers whole input values.
    """
    cfg = cb.cfg
    w = np.asarray(w, dtype=np.float64)
    f, ch = row_valid, row_channel
    # ---- deterministic part: f = w·δ + e·Q per row, independent rows ------------------
    eq, eq2 = f * mom.eq[ch], f * mom.eq2[ch]
    ed, ed2, edq = f * mom.ed[ch], f * mom.ed2[ch], f * mom.edq[ch]
    e = cb.grid.quantized - w
    ww, ee, we = w * w, e * e, w * e
    var_q, var_d = eq2 - eq * eq, ed2 - ed * ed
    var_wq = ee @ var_q + (e @ eq) ** 2
    var_iq = ww @ var_d + (w @ ed) ** 2
    var_det = ww @ var_d + 2 * (we @ (edq - ed * eq)) + ee @ var_q
    mean_det = w @ ed + e @ eq
    # ---- analog part: per ADC read ---------------------------------------------------
    ss: SliceStats = sstats
    if not output_like(cfg):
        shape = None
    if not correlated_reads(cfg):
        rho = None
    m1 = expand_rows(ss.m1, ch, f)                 # (I, N)
    m2 = expand_rows(ss.m2, ch, f)                 # (I, I, N)
    m3 = expand_rows(ss.m3, ch, f)
    p0 = expand_rows(ss.p0, ch, f, zero_value=1.0)
    pad = f < 1.0
    xlo = np.where(pad, np.minimum(ss.lo[:, ch], 0.0), ss.lo[:, ch])
    xhi = np.where(pad, np.maximum(ss.hi[:, ch], 0.0), ss.hi[:, ch])
    n_in = m1.shape[0]
    rho_s = None if rho is None else slice_rho(cb, m2[0, 0] - m1[0] ** 2, rho)
    m1p, m2p = factor_moments(cfg.programming_error, cfg.noise_model)
    m1r, m2r = factor_moments(cfg.read_noise, cfg.noise_model)
    kappa = m1p * m1r
    v_tot = m2p * m2r - kappa * kappa             # variance of a device factor within one read
    v_cor = m2p * m1r * m1r - kappa * kappa       # its covariance between two reads (programming)
    v_read = m2p * (m2r - m1r * m1r)
    scale = cb.output_scale()
    fac = cb.dac.slice_factors()
    m = cb.n_cols
    var_an = np.zeros(m)
    mean_an = np.zeros(m)
    comp_read = np.zeros(m)
    comp_prog = np.zeros(m)
    comp_th = np.zeros(m)
    for si, sl in enumerate(cb.slices):
        adc = cb.adcs[si] if cb.adcs is not None else None
        th2 = (cfg.adc_noise * adc.delta) ** 2 if adc is not None else 0.0
        g_all, dev2_all = sl.g, sl.g2
        lat = None
        if ss.pmf is not None and cb.grid.bits is not None and adc is not None:
            lat = lattice_unit(ss.unit, (1.0 - cfg.gmin) / sl.levels, sl.gmin_offset)
        atom_e, atom_e2 = _zero_read(adc, th2)
        for t in cb.tiles:
            tc = _TileCache(g_all[t], dev2_all[t])
            gains, coefs = [], []
            for i in range(n_in):
                k = scale * fac[i] * sl.factor
                mx, mxx, mx3 = m1[i, t], m2[i, i, t], m3[i, t]
                vr = np.maximum(mxx - mx * mx, 0.0)
                mu_a = mx @ tc.g
                var_a = (vr.astype(np.float32) @ tc.g2).astype(np.float64)
                k3 = ((mx3 - 3 * mx * mxx + 2 * mx ** 3).astype(np.float32) @ tc.g3).astype(np.float64) \
                    if adc is not None else np.zeros(m)
                if rho_s is not None:
                    var_a = var_a * rho_s[si]
                    k3 = k3 * rho_s[si] ** 1.5
                sxx = mxx @ tc.dev2
                p0t = _prod_rows(p0[i, t])
                w1 = 1.0 - p0t
                if w1 > 1e-15 and adc is None:
                    # ideal ADC: the read error is the device noise (and the mean shift κ - 1)
                    e2 = (var_a + mu_a * mu_a) / w1
                    ee_g = (kappa - 1.0) * mu_a / w1
                    ee2_g = (kappa - 1.0) ** 2 * e2 + v_tot * sxx / w1
                    gain = np.ones(m)
                elif w1 > 1e-15:
                    e1 = mu_a / w1
                    e2 = (var_a + mu_a * mu_a) / w1
                    e3 = (k3 + 3 * mu_a * var_a + mu_a ** 3) / w1
                    c_lo, c_hi = tc.bounds(xlo[i, t], xhi[i, t])
                    cs = CurrentStats(mean=e1, var=np.maximum(e2 - e1 * e1, 0.0), m3=e3 - 3 * e1 * e2 + 2 * e1 ** 3,
                                      lo=c_lo, hi=c_hi, second=e2, shape=shape if p0t < 0.01 else None)
                    cf, alphabet = None, 10 ** 9
                    if ss.pmf is not None and adc is not None:
                        vals, probs = ss.pmf[i]
                        used = probs[np.unique(ch[t])]
                        alphabet = int(np.count_nonzero(used.any(axis=0)))
                        cf = _lazy_cf(vals, ss.unit, probs, ch[t], f[t], tc, p0t)
                    quad = ((vr * vr).astype(np.float32) @ tc.g4).astype(np.float64)
                    n_eff = np.divide(var_a ** 2, quad, out=np.zeros(m), where=quad > 0)
                    ee_g, ee2_g, gain = read_error(adc, cs, kappa, v_tot * sxx / w1, th2, cf=cf, lattice=lat,
                                                   alphabet=alphabet, n_eff=n_eff)
                else:
                    ee_g = ee2_g = gain = np.zeros(m)
                ee1 = w1 * ee_g + p0t * atom_e
                ee2 = w1 * ee2_g + p0t * atom_e2
                var_an += k * k * np.maximum(ee2 - ee1 * ee1, 0.0)
                mean_an += k * ee1
                comp_read += k * k * v_read * sxx
                comp_prog += k * k * v_cor * sxx
                comp_th += k * k * th2
                gains.append(gain)
                coefs.append(k)
            if v_cor > 0 and n_in > 1:
                for i in range(n_in):
                    for j in range(n_in):
                        if i != j:
                            c = v_cor * (m2[i, j, t] @ tc.dev2)
                            var_an += coefs[i] * coefs[j] * gains[i] * gains[j] * c
                            comp_prog += coefs[i] * coefs[j] * c
    mse = var_det + var_an + (mean_det + mean_an) ** 2
    det = var_det + mean_det ** 2
    comps = {
        "weight_quant": var_wq,
        "input_quant": var_iq,
        "read_noise": comp_read,
        "programming": comp_prog,
        "adc_thermal": comp_th,
        "adc": mse - det - comp_read - comp_prog - comp_th,
    }
    return mse, mean_det + mean_an, comps


@dataclass
class _Read:
    """One ADC read (tile × weight slice × input slice) of every column: its statistics, then its error moments."""

    k: float
    sxx: np.ndarray = None
    p0t: float = 1.0
    w1: float = 0.0
    cs: Optional[CurrentStats] = None
    sn2: Optional[np.ndarray] = None
    cf: object = None
    alphabet: int = 10 ** 9
    n_eff: Optional[np.ndarray] = None
    ee_g: Optional[np.ndarray] = None
    ee2_g: Optional[np.ndarray] = None
    gain: Optional[np.ndarray] = None


BATCH_COLUMNS = 1 << 14     # column reads per batched ADC-model call: bounds its (column reads × harmonics) arrays


def _read_errors(adc, reads: list, kappa: float, th2: float, lat) -> None:
    """Fill ``ee_g, ee2_g, gain`` of ``reads`` (one ADC, shared κ and lattice) with batched :func:`read_error` calls.

    The read model is column-wise, so stacking the columns of many reads gives
    each the numbers of its own call. Reads with a measured output shape are
    not stacked (its use is decided per read) and go one by one.
    """
    alone = [r for r in reads if r.cs.shape is not None]
    for r in alone:
        r.ee_g, r.ee2_g, r.gain = read_error(adc, r.cs, kappa, r.sn2, th2, cf=r.cf, lattice=lat,
                                             alphabet=r.alphabet, n_eff=r.n_eff)
    stack = [r for r in reads if r.cs.shape is None]
    start = 0
    while start < len(stack):
        stop, cols = start, 0
        while stop < len(stack) and (stop == start or cols + stack[stop].cs.mean.size <= BATCH_COLUMNS):
            cols += stack[stop].cs.mean.size
            stop += 1
        _read_error_batch(adc, stack[start:stop], kappa, th2, lat)
        start = stop


def _read_error_batch(adc, reads: list, kappa: float, th2: float, lat) -> None:
    sizes = np.array([r.cs.mean.size for r in reads])
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    def cat(get):
        return np.concatenate([get(r) for r in reads])
    cs = CurrentStats(mean=cat(lambda r: r.cs.mean), var=cat(lambda r: r.cs.var), m3=cat(lambda r: r.cs.m3),
                      lo=cat(lambda r: r.cs.lo), hi=cat(lambda r: r.cs.hi), second=cat(lambda r: r.cs.second))
    has_cf = reads[0].cf is not None

    def cf(cols, omegas):
        out = np.empty(cols.size, dtype=complex)
        order = None if np.all(cols[1:] >= cols[:-1]) else np.argsort(cols, kind="stable")
        c, o = (cols, omegas) if order is None else (cols[order], omegas[order])
        res = np.empty(cols.size, dtype=complex)
        cut = np.searchsorted(c, offsets)                  # each read's pairs are one run of the sorted pairs
        for j in np.flatnonzero(cut[1:] > cut[:-1]):
            sl = slice(cut[j], cut[j + 1])
            res[sl] = reads[j].cf(c[sl] - offsets[j], o[sl])
        if order is None:
            return res
        out[order] = res
        return out
    ee, ee2, gain = read_error(adc, cs, kappa, cat(lambda r: r.sn2), th2, cf=cf if has_cf else None, lattice=lat,
                               alphabet=np.repeat([r.alphabet for r in reads], sizes), n_eff=cat(lambda r: r.n_eff))
    for j, r in enumerate(reads):
        sl = slice(offsets[j], offsets[j + 1])
        r.ee_g, r.ee2_g, r.gain = ee[sl], ee2[sl], gain[sl]
        r.cs = r.cf = r.sn2 = r.n_eff = None        # release the statistics and characteristic functions


def _lazy_cf(vals, unit, probs, rows_channel, valid, tc, p0t):
    """A characteristic function built on first use (most reads never need one)."""
    box: list = []

    def cf(cols, omegas):
        if not box:
            box.append(_CF(vals, unit, probs[rows_channel], valid, tc.g, p0t, levels=tc.levels))
        return box[0](cols, omegas)
    return cf


def _zero_read(adc, th2: float) -> tuple[float, float]:
    """E[e], E[e²] of the all-zero read: no current, only thermal noise through the ADC."""
    if adc is None:
        return 0.0, 0.0
    if th2 > 0:
        qa, qa2, qap = gauss_quant_moments(0.0, np.sqrt(th2), adc)
        return float(qa), float(qa2 + 2 * th2 * qap + th2)
    z = float(adc(np.zeros(1))[0])
    return z, z * z


def signal_power_iid(layer, dist: ChannelDist) -> np.ndarray:
    """E[y²] per output channel of the clean pre-activation output under the independent-rows model."""
    ex_c, ex2_c = dist.moments()
    out = np.zeros(layer.out_channels)
    for g, wm in enumerate(layer.matrices()):
        ch, f = layer.row_channels(g), layer.row_valid(g)
        ex, ex2 = f * ex_c[ch], f * ex2_c[ch]
        b = layer.bias[layer.out_index(g)] if layer.bias is not None else 0.0
        out[layer.out_index(g)] = (wm * wm) @ (ex2 - ex * ex) + (wm @ ex + b) ** 2
    return out


def output_like(cfg) -> bool:
    """Whether a read's current is affine in the layer output (so the measured output shape applies to it).

    True for differential arrays read with whole input values and one weight
    slice; offset currents carry ``Σx̂`` terms, input bit planes and weight
    digits have distributions of their own.
    """
    return cfg.encoding == "differential" and cfg.input_slice_bits is None and cfg.weight_slices == 1


def correlated_reads(cfg) -> bool:
    """Whether the correlation gain ρ can be carried to the reads (differential, whole input values)."""
    return cfg.encoding == "differential" and cfg.input_slice_bits is None


def slice_rho(cb: Crossbar, var_rows: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Correlation gain of every weight slice's column currents, ``(S, M)``.

    In the metric of the row variances a slice's weights split into a part
    along the layer's weights, which sees the measured gain ρ, and a residual
    that behaves like a random direction (gain 1): ``ρ_s = 1 + (ρ - 1)·cos²``
    with ``cos`` the angle between the two. One slice: ``ρ_s = ρ``.
    """
    sd = np.sqrt(np.maximum(var_rows, 0.0))[:, None]
    u = sd * cb.grid.w_int.T
    out = []
    for sl in cb.slices:
        us = sd * sl.g
        num = (us * u).sum(axis=0) ** 2
        den = (us * us).sum(axis=0) * (u * u).sum(axis=0)
        cos2 = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        out.append(1.0 + (rho - 1.0) * cos2)
    return np.array(out)


def output_var_iid(layer, dist: ChannelDist) -> np.ndarray:
    """Var[y] per output channel under the independent-rows model (float weights)."""
    ex_c, ex2_c = dist.moments()
    out = np.zeros(layer.out_channels)
    for g, wm in enumerate(layer.matrices()):
        ch, f = layer.row_channels(g), layer.row_valid(g)
        ex, ex2 = f * ex_c[ch], f * ex2_c[ch]
        out[layer.out_index(g)] = (wm * wm) @ (ex2 - ex * ex)
    return out


def correlation_gain(layer, dist: ChannelDist, out_var: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """ρ = measured output variance / independent-rows variance, per output channel.

    Real inputs are correlated, so column currents spread more (or less) than
    the independent-rows model says; the probe's ``<layer>.out`` site measured
    the truth. ρ rescales the spread of every ADC read of that column (clipping
    and calibration); it is clipped to [0.05, 20].
    """
    if out_var is None:
        return None
    iid = output_var_iid(layer, dist)
    out_var = np.asarray(out_var, dtype=np.float64)
    if out_var.shape != iid.shape:
        raise ValueError(f"layer {layer.name!r}: output statistics have {out_var.shape[0]} channels, the layer has {iid.shape[0]}")
    rho = np.divide(out_var, iid, out=np.ones_like(iid), where=iid > 0)
    return np.clip(rho, 0.05, 20.0)


def output_shape(out_stats) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Standardized per-channel distribution of a probe output site, as bins ``(z_lo, z_hi, probs)`` (C, B+1).

    The histogram's bins plus a zero-width bin holding the exact zeros.
    """
    if out_stats is None:
        return None
    probs = out_stats.pdf()
    mean = np.asarray(out_stats.mean, dtype=np.float64)[:, None]
    sd = np.sqrt(np.maximum(np.asarray(out_stats.var, dtype=np.float64), 1e-300))[:, None]
    edges = np.asarray(out_stats.edges, dtype=np.float64)[None, :]
    z0 = (0.0 - mean) / sd
    z_lo = np.concatenate([(edges[:, :-1] - mean) / sd, z0], axis=1)
    z_hi = np.concatenate([(edges[:, 1:] - mean) / sd, z0], axis=1)
    return z_lo, z_hi, np.concatenate([probs, np.asarray(out_stats.p_zero, dtype=np.float64)[:, None]], axis=1)


def estimate_mapping(mapping: LayerMapping, dist: ChannelDist, signal: Optional[np.ndarray] = None,
                     rho: Optional[np.ndarray] = None, out_stats=None) -> LayerEstimate:
    """Estimate every output channel of a mapped layer.

    ``rho``: see :func:`correlation_gain`; ``out_stats``: the probe's
    ``<layer>.out`` statistics (measured output shape for ADC saturation).
    """
    layer = mapping.layer
    if dist.channels != layer.in_channels:
        raise ValueError(f"layer {layer.name!r}: probe has {dist.channels} input channels, the layer reads {layer.in_channels}")
    dac = mapping.crossbars[0].dac
    shape = output_shape(out_stats)
    mom = dac_moments(dist, dac)
    ss = slice_stats(mom, dac, dist)
    o = layer.out_channels
    mse, mean = np.zeros(o), np.zeros(o)
    comps = {k: np.zeros(o) for k in COMPONENTS}
    for g, (cb, wm) in enumerate(zip(mapping.crossbars, layer.matrices())):
        idx = layer.out_index(g)
        a, b, c = estimate_crossbar(cb, wm, mom, ss, layer.row_channels(g), layer.row_valid(g),
                                    None if rho is None else rho[idx],
                                    None if shape is None else tuple(a[idx] for a in shape))
        mse[idx], mean[idx] = a, b
        for k in COMPONENTS:
            comps[k][idx] = c[k]
    if signal is None:
        signal = signal_power_iid(layer, dist)
    return LayerEstimate(layer.name, mse, comps, mean, signal)


def estimate_layer(layer, dist: ChannelDist, cfg, ranges: LayerRanges, signal: Optional[np.ndarray] = None,
                   rho: Optional[np.ndarray] = None) -> LayerEstimate:
    """Map ``layer`` with ``cfg`` and ``ranges`` and estimate its output noise."""
    return estimate_mapping(LayerMapping.build(layer, cfg, ranges), dist, signal, rho)
