"""Error of one ADC read of a column current, from the statistics of that current.

The column current ``c = Σ_r x̂_r·g_r`` (rows independent) is seen by the ADC
as ``v = κc + n`` with ``n`` Gaussian (device read/programming noise and ADC
thermal noise). The read error ``e = Q(v) - c`` splits into the quantization
error ``q = Q(v) - v`` and ``v - c``:

* **inside the range** the quantization error is periodic in ``v``; its
  moments are Fourier series in the characteristic function of ``v`` at the
  harmonics ``2πn/Δ`` (Widrow's quantization theory). The characteristic
  function is computed exactly under independence (a product over rows), so
  lattice-valued currents (bit-serial inputs, coarse weight slices) and the
  dithering of a coarse ADC by noise come out right. Harmonics are evaluated
  only where they can matter: all of them for narrow currents with few input
  levels, else only near the revivals of the current's lattice; without any,
  the error is the uniform ``Δ²/12``;
* **saturation** (clipping) uses a shifted-gamma distribution matched to the
  mean, variance and skewness of ``v`` (Gaussian when nearly symmetric),
  restricted to the currents the layer can physically produce.

``E[q·n] = σ_n²·E[q']`` (Stein's lemma on the Gaussian noise) gives the
noise-quantizer cross term; ``γ = 1 + E[q']`` is the Bussgang gain.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np
from scipy.special import gammainc, gammaincc, ndtr

from .gauss import WIDE, gauss_quant_moments
from .quant import UniformQuantizer

N_HARMONICS = 48      # Fourier harmonics of the quantization error
SMALL_ALPHABET = 64   # narrow currents over more distinct x̂ values use the exact Gaussian quantizer
MIN_SKEW = 0.05       # below this the tails are Gaussian
FEW_ROWS = 40.0       # currents of fewer effective rows get every harmonic
_INV_SQRT2PI = 1.0 / np.sqrt(2.0 * np.pi)


# ---------------------------------------------------------------------------- tails
def _interval_gauss(mu, sd, a, b, c0):
    """∫_a^b {1, (v-c0), (v-c0)²} N(v; mu, sd²) dv."""
    za, zb = (a - mu) / sd, (b - mu) / sd
    pa, pb = np.exp(-0.5 * za * za) * _INV_SQRT2PI, np.exp(-0.5 * zb * zb) * _INV_SQRT2PI
    pa = np.where(np.isfinite(za), pa, 0.0)
    pb = np.where(np.isfinite(zb), pb, 0.0)
    # mass: use the tail on the far side for accuracy
    m0 = np.where(za > 0, ndtr(-za) - ndtr(-zb), ndtr(zb) - ndtr(za))
    # E[(v-mu) 1] = sd (pa - pb); E[(v-mu)² 1] = sd² (m0 + za pa - zb pb)
    zpa = np.where(np.isfinite(za), za * pa, 0.0)
    zpb = np.where(np.isfinite(zb), zb * pb, 0.0)
    e1 = sd * (pa - pb)
    e2 = sd * sd * (m0 + zpa - zpb)
    d = mu - c0
    return m0, e1 + d * m0, e2 + 2 * d * e1 + d * d * m0


def _interval_gamma(loc, k, theta, a, b, c0):
    """Same for v = loc + G, G ~ Gamma(k, theta)."""
    xa = np.clip((a - loc) / theta, 0.0, None)
    xb = np.clip((b - loc) / theta, 0.0, None)
    k = np.broadcast_to(k, xa.shape)

    up = xa > k          # in the upper tail, differences of the upper function keep their precision

    def part(kk):
        out = np.empty_like(xa)
        if np.any(up):
            out[up] = gammaincc(kk[up], xa[up]) - gammaincc(kk[up], xb[up])
        lo_ = ~up
        if np.any(lo_):
            out[lo_] = gammainc(kk[lo_], xb[lo_]) - gammainc(kk[lo_], xa[lo_])
        return out
    m0 = part(k)
    g1 = k * theta * part(k + 1)
    g2 = k * (k + 1) * theta * theta * part(k + 2)
    d = loc - c0
    return m0, g1 + d * m0, g2 + 2 * d * g1 + d * d * m0


def _interval(mu, sd, skew, a, b, c0):
    """∫_a^b {1, (v-c0), (v-c0)²} f(v) dv for the skew-matched model of v."""
    mu, sd, skew, a, b, c0 = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (mu, sd, skew, a, b, c0)))
    out = [np.empty(mu.shape) for _ in range(3)]
    gam = np.abs(skew) >= MIN_SKEW
    if np.any(~gam):
        n = ~gam
        for o, r in zip(out, _interval_gauss(mu[n], sd[n], a[n], b[n], c0[n])):
            o[n] = r
    if np.any(gam):
        g = gam
        s = np.sign(skew[g])
        # mirror negative skew: v -> -v
        m, lo, hi, cc = s * mu[g], np.where(s > 0, a[g], -b[g]), np.where(s > 0, b[g], -a[g]), s * c0[g]
        k = 4.0 / (skew[g] ** 2)
        theta = sd[g] * np.abs(skew[g]) / 2.0
        loc = m - k * theta
        r0, r1, r2 = _interval_gamma(loc, k, theta, lo, hi, cc)
        out[0][g], out[1][g], out[2][g] = r0, s * r1, r2
    return out


def _interval_hist(lo: np.ndarray, hi: np.ndarray, probs: np.ndarray, a, b, c0):
    """∫_a^b {1, (v-c0), (v-c0)²} over bins uniform on ``[lo, hi]`` with mass ``probs`` (all (M, B)); zero-width bins are point masses."""
    a = np.asarray(a, dtype=np.float64)[:, None]
    b = np.asarray(b, dtype=np.float64)[:, None]
    c0 = np.broadcast_to(np.asarray(c0, dtype=np.float64), (lo.shape[0],))[:, None]
    w = hi - lo
    u, v = np.clip(lo, a, b), np.clip(hi, a, b)
    dens = np.divide(probs, w, out=np.zeros_like(probs), where=w > 0)
    m0 = dens * (v - u)
    m1 = dens * ((v - c0) ** 2 - (u - c0) ** 2) / 2
    m2 = dens * ((v - c0) ** 3 - (u - c0) ** 3) / 3
    point = (w <= 0) & (lo >= a) & (lo < b)
    m0 = m0 + np.where(point, probs, 0.0)
    m1 = m1 + np.where(point, probs * (lo - c0), 0.0)
    m2 = m2 + np.where(point, probs * (lo - c0) ** 2, 0.0)
    return m0.sum(axis=1), m1.sum(axis=1), m2.sum(axis=1)


@dataclass
class CurrentStats:
    """Statistics of the column current of one read, per column (conditional on some row being non-zero).

    ``shape`` optionally gives the measured standardized distribution of the
    current as bins ``(z_lo, z_hi, probs)`` (each (M, B)), used for saturation.
    """

    mean: np.ndarray
    var: np.ndarray
    m3: np.ndarray          # third central moment
    lo: np.ndarray          # smallest current the layer can produce
    hi: np.ndarray          # largest
    second: np.ndarray      # E[c²]
    shape: Optional[tuple[np.ndarray, np.ndarray]] = None


def saturation(quant: UniformQuantizer, mu_v, sd_v, skew_v, lo_f, hi_f, shape=None):
    """Mass and error moments where the ADC saturates: ``(P_sat, E[q; sat], E[q²; sat])``.

    The region is more than half a step beyond the end levels, where an
    unbounded quantizer would have kept going (inside it the periodic error
    model holds).

    ``shape=(z_lo, z_hi, probs)`` uses a measured standardized distribution
    instead of the skew-matched model.
    """
    # beyond half a step past the end levels an unbounded quantizer would keep going; this one saturates
    tlo, thi = quant.lo - 0.5 * quant.delta, quant.hi + 0.5 * quant.delta
    if shape is not None:
        zl, zh, pr = shape
        mu_c, sd_c = np.asarray(mu_v)[:, None], np.asarray(sd_v)[:, None]
        vl, vh = mu_c + sd_c * zl, mu_c + sd_c * zh
        inf = np.full(vl.shape[0], np.inf)
        r_lo = _interval_hist(vl, vh, pr, -inf, np.full(vl.shape[0], tlo), quant.lo)
        r_hi = _interval_hist(vl, vh, pr, np.full(vl.shape[0], thi), inf, quant.hi)
        return r_lo[0] + r_hi[0], -(r_lo[1] + r_hi[1]), r_lo[2] + r_hi[2]
    m = [0.0, 0.0, 0.0]
    # regions more than 20 standard deviations away carry no mass worth integrating (moderate skew)
    far = np.abs(skew_v) < 2.0
    a_lo, b_lo = lo_f, np.minimum(tlo, hi_f)
    ok = (b_lo > a_lo) & ~(far & (b_lo < mu_v - 20.0 * sd_v))
    if np.any(ok):
        r = [np.zeros(np.shape(mu_v)) for _ in range(3)]
        sub = _interval(mu_v[ok], sd_v[ok], skew_v[ok], a_lo[ok], b_lo[ok], quant.lo)
        for k_ in range(3):
            r[k_][ok] = sub[k_]
        # q = Q(v) - v = lo - v = -(v - lo)
        m = [m[0] + np.where(ok, r[0], 0.0), m[1] - np.where(ok, r[1], 0.0), m[2] + np.where(ok, r[2], 0.0)]
    a_hi, b_hi = np.maximum(thi, lo_f), hi_f
    ok = (b_hi > a_hi) & ~(far & (a_hi > mu_v + 20.0 * sd_v))
    if np.any(ok):
        r = [np.zeros(np.shape(mu_v)) for _ in range(3)]
        sub = _interval(mu_v[ok], sd_v[ok], skew_v[ok], a_hi[ok], b_hi[ok], quant.hi)
        for k_ in range(3):
            r[k_][ok] = sub[k_]
        m = [m[0] + np.where(ok, r[0], 0.0), m[1] - np.where(ok, r[1], 0.0), m[2] + np.where(ok, r[2], 0.0)]
    return tuple(np.broadcast_to(np.asarray(x, dtype=np.float64), np.shape(mu_v)) for x in m)


# ---------------------------------------------------------------------------- lattice
def lattice_unit(x_unit: float, g_unit: Optional[float], gmin: float) -> Optional[float]:
    """Unit of the lattice the column currents live on, or None.

    x̂ is a multiple of ``x_unit``; device conductances are multiples of
    ``g_unit`` (differential: the pair difference) or ``gmin`` plus multiples
    of ``g_unit`` (offset, ``gmin > 0``). Offset currents form a 2-D lattice
    that is 1-D only when ``gmin/g_unit`` is a small rational.
    """
    if g_unit is None or x_unit <= 0:
        return None
    if gmin <= 0:
        return x_unit * g_unit
    r = gmin / g_unit
    f = Fraction(r).limit_denominator(256)
    if abs(float(f) - r) > 1e-9 * max(r, 1.0):
        return None
    return x_unit * g_unit / f.denominator


# ---------------------------------------------------------------------------- the read
def read_error(quant: Optional[UniformQuantizer], cs: CurrentStats, kappa: float, sn2: np.ndarray, th2: float,
               cf=None, lattice: Optional[float] = None, alphabet: int = 10 ** 9, n_eff: Optional[np.ndarray] = None):
    """Moments of the read error ``e = Q(κc + n) - c`` per column: ``(E[e], E[e²], γ)``.

    ``sn2`` is the device-noise variance (per column), ``th2`` the thermal
    noise variance. ``cf(cols, omegas)`` returns the characteristic function
    of ``c`` at ``omegas`` for those columns (exact product over rows), or
    None. ``alphabet`` is the number of distinct x̂ values the rows take;
    ``n_eff`` (per column) the effective number of rows making up the current
    (participation ratio): few rows make a spiky distribution whose
    characteristic function never decays, so every harmonic is summed.
    """
    mu_c, var_c = cs.mean, cs.var
    m = mu_c.shape[0]
    n2 = sn2 + th2
    vc = (kappa - 1.0)
    if quant is None:
        ee = vc * mu_c
        ee2 = vc * vc * cs.second + n2
        return ee, ee2, np.ones(m)
    d = quant.delta
    mu_v = kappa * mu_c
    var_v = kappa * kappa * var_c + n2
    sd_v = np.sqrt(np.maximum(var_v, 1e-300))
    skew_v = np.divide(kappa ** 3 * cs.m3, var_v ** 1.5, out=np.zeros(m), where=var_v > 1e-300)
    skew_v = np.clip(skew_v, -20.0, 20.0)
    pad = 6.0 * np.sqrt(n2)
    lo_f, hi_f = kappa * cs.lo - pad, kappa * cs.hi + pad
    eq = np.zeros(m)
    eq2 = np.full(m, d * d / 12.0)
    eqp = np.zeros(m)
    narrow = sd_v <= WIDE * d
    # narrow currents over many input levels: the exact Gaussian quantizer (saturation included)
    gauss = narrow & (cf is None or alphabet >= SMALL_ALPHABET)
    if np.any(gauss):
        eq[gauss], eq2[gauss], eqp[gauss] = gauss_quant_moments(mu_v[gauss], sd_v[gauss], quant)
    rest = ~gauss
    if not np.any(rest):
        return _combine(eq, eq2, eqp, vc, mu_c, cs.second, n2)
    # ---- interior: Fourier series of the periodic error (uniform Δ²/12 when no harmonic matters)
    nh = np.arange(1, N_HARMONICS + 1, dtype=np.float64)
    omega = 2.0 * np.pi * nh / d                                      # harmonics seen by v
    wc = kappa * omega                                                # ... and by c (v = κc + n)
    damp = 0.5 * (omega[None, :] ** 2) * n2[:, None]                  # Gaussian noise: e^{-σ²ω²/2}
    sig_c = np.sqrt(np.maximum(var_c, 0.0))
    # currents made of few effective rows, or spread over few lattice points, are spiky: exact CF
    spiky = np.zeros(m, dtype=bool)
    if cf is not None:
        spiky = n_eff < FEW_ROWS if n_eff is not None else np.ones(m, dtype=bool)
        if lattice is not None:
            spiky |= sig_c < 3.0 * lattice
        spiky &= rest
    phi = np.zeros((m, N_HARMONICS), dtype=complex)
    smooth = rest & ~spiky
    if np.any(smooth):
        # cumulant expansion of the CF near zero frequency; a lattice current's CF is periodic in
        # 2π/U, so every harmonic sees it at its offset from the nearest revival
        off = wc - np.rint(wc * lattice / (2 * np.pi)) * (2 * np.pi / lattice) if lattice is not None else wc
        mu_s, var_s, m3_s = mu_c[smooth, None], var_c[smooth, None], cs.m3[smooth, None]
        expo = 1j * off[None, :] * mu_s - 0.5 * off[None, :] ** 2 * var_s - 1j * off[None, :] ** 3 * m3_s / 6.0
        phi[smooth] = np.where(expo.real > -40.0, np.exp(np.maximum(expo.real, -40.0) + 1j * expo.imag), 0.0)
    if np.any(spiky):
        act = spiky[:, None] & (damp < 18.0)
        cols, harm = np.nonzero(act)
        if cols.size:
            phi[cols, harm] = cf(cols, wc[harm])
    cn = phi * np.exp(-np.minimum(damp, 40.0)) * np.exp(-1j * omega * quant.origin)[None, :]
    sgn = (-1.0) ** nh
    eqr = -(d / np.pi) * (cn.imag * (-sgn / nh)).sum(axis=1)
    eq2r = d * d / 12.0 + (d * d / np.pi ** 2) * (cn.real * (sgn / nh ** 2)).sum(axis=1)
    eqpr = 2.0 * (cn.real * sgn).sum(axis=1)
    shape = None
    if cs.shape is not None:
        shape = tuple(a[rest] for a in cs.shape)
        # measured shapes describe the current; noise much wider than it would change the shape
        if np.any(n2[rest] > 0.25 * kappa * kappa * var_c[rest]):
            shape = None
    ps, t1, t2 = saturation(quant, mu_v[rest], sd_v[rest], skew_v[rest], lo_f[rest], hi_f[rest], shape)
    eq[rest] = eqr[rest] + t1
    eq2[rest] = np.maximum(eq2r[rest] - d * d / 12.0 * ps, 0.0) + t2
    eqp[rest] = np.clip(eqpr[rest] - ps, -1.0, None)
    return _combine(eq, eq2, eqp, vc, mu_c, cs.second, n2)


def _combine(eq, eq2, eqp, vc, mu_c, second, n2):
    """E[e], E[e²], γ from the quantization-error moments (e = q + (κ-1)c + n)."""
    ee = eq + vc * mu_c
    ee2 = eq2 + 2.0 * (vc * mu_c * eq + n2 * eqp) + vc * vc * second + n2
    return ee, np.maximum(ee2, 0.0), 1.0 + eqp
