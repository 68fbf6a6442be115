"""Expected error of a uniform quantizer driven by a Gaussian input.

For ``v ~ N(μ, σ²)`` and the quantization error ``q = Q(v) - v`` this returns
``E[q]``, ``E[q²]`` and ``E[q'] = γ - 1`` where ``γ = E[Q'(v)] = Δ·Σ_k pdf(t_k)``
is the Bussgang gain (by Stein's lemma ``E[q·(v - μ)] = σ²·E[q']``).

Narrow inputs (σ ≤ 4Δ) are summed exactly over a window of thresholds around
μ; wide inputs use the uniform-error limit inside the range (exact to
``exp(-2π²σ²/Δ²)``) plus exact Gaussian tail integrals for the two saturating
cells. With σ → 0 this is the deterministic quantizer; with σ ≫ Δ it is
``Δ²/12`` plus the clipping error — the total the issue asks for, including the
dithering of a coarse ADC by noise.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .quant import UniformQuantizer

_INV_SQRT2PI = 1.0 / np.sqrt(2.0 * np.pi)
WIDE = 4.0     # σ/Δ above which the uniform-error limit is used
WINDOW = 96    # thresholds summed exactly around μ in the narrow case


def _pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) * _INV_SQRT2PI


def gauss_quant_moments(mu, sigma, quant: UniformQuantizer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(E[q], E[q²], E[q'])`` for ``v ~ N(mu, sigma²)``, broadcast over ``mu`` and ``sigma``."""
    mu, sigma = np.broadcast_arrays(np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64))
    shape = mu.shape
    mu, sigma = mu.ravel(), sigma.ravel()
    d = quant.delta
    sigma = np.maximum(sigma, 1e-12 * d)
    eq = np.empty_like(mu)
    eq2 = np.empty_like(mu)
    eqp = np.empty_like(mu)
    wide = sigma > WIDE * d
    if np.any(~wide):
        n = ~wide
        eq[n], eq2[n], eqp[n] = _narrow(mu[n], sigma[n], quant)
    if np.any(wide):
        eq[wide], eq2[wide], eqp[wide] = _wide(mu[wide], sigma[wide], quant)
    return eq.reshape(shape), eq2.reshape(shape), eqp.reshape(shape)


def _narrow(mu: np.ndarray, sigma: np.ndarray, q: UniformQuantizer):
    d = q.delta
    kc = np.clip(np.rint((mu - q.origin) / d), q.kmin, q.kmax)
    ks = np.maximum(kc - WINDOW // 2, q.kmin)                       # first threshold index in the window
    k = ks[:, None] + np.arange(WINDOW)[None, :]                   # threshold k sits between levels k and k+1
    valid = k <= q.kmax - 1
    c = q.origin + kc * d                                          # local origin (a level near μ)
    m = mu - c
    t = q.origin + (k + 0.5) * d - c[:, None]                      # thresholds, local coordinates
    z = (m[:, None] - t) / sigma[:, None]
    pk = np.where(valid, ndtr(z), 0.0)                             # P(v > t_k)
    phk = np.where(valid, _pdf(z), 0.0)
    base = q.origin + ks * d - c                                   # level below the window
    lvl = q.origin + k * d - c[:, None]                            # level k (local); level k+1 = lvl + d
    eQ = base + d * pk.sum(axis=1)
    eQ2 = base * base + (((lvl + d) ** 2 - lvl ** 2) * pk).sum(axis=1)
    eQv = base * m + d * (m * pk.sum(axis=1) + sigma * phk.sum(axis=1))
    ev2 = m * m + sigma * sigma
    eq = eQ - m
    eq2 = np.maximum(eQ2 - 2 * eQv + ev2, 0.0)
    eqp = -1.0 + (d / sigma) * phk.sum(axis=1)
    return eq, eq2, eqp


def _wide(mu: np.ndarray, sigma: np.ndarray, q: UniformQuantizer):
    d = q.delta
    lo, hi = q.lo, q.hi
    if q.kmax == q.kmin:
        dm = lo - mu
        return dm, dm * dm + sigma * sigma, np.full_like(mu, -1.0)
    tlo, thi = lo + 0.5 * d, hi - 0.5 * d
    a, b = (tlo - mu) / sigma, (thi - mu) / sigma
    Pa, pa = ndtr(a), _pdf(a)
    Qb, pb = ndtr(-b), _pdf(b)
    cl, ch = lo - mu, hi - mu
    # lower saturating cell: v < tlo -> Q = lo
    e1_lo = cl * Pa + sigma * pa
    e2_lo = cl * cl * Pa + 2 * cl * sigma * pa + sigma * sigma * (Pa - a * pa)
    # upper saturating cell: v > thi -> Q = hi
    e1_hi = ch * Qb - sigma * pb
    e2_hi = ch * ch * Qb - 2 * ch * sigma * pb + sigma * sigma * (Qb + b * pb)
    inner = np.clip(1.0 - Pa - Qb, 0.0, 1.0)
    eq = e1_lo + e1_hi
    eq2 = e2_lo + e2_hi + d * d / 12.0 * inner
    pin = np.clip(ndtr((hi - mu) / sigma) - ndtr((lo - mu) / sigma), 0.0, 1.0)
    return eq, eq2, pin - 1.0


def quant_moments_reference(mu: float, sigma: float, quant: UniformQuantizer, n: int = 400_001) -> tuple[float, float, float]:
    """Slow reference by dense numerical integration (for tests)."""
    sigma = max(sigma, 1e-300)
    v = np.linspace(mu - 12 * sigma, mu + 12 * sigma, n)
    w = _pdf((v - mu) / sigma) / sigma
    w = w / np.trapezoid(w, v)
    qv = quant(v) - v
    eq = float(np.trapezoid(qv * w, v))
    eq2 = float(np.trapezoid(qv * qv * w, v))
    eqp = float(np.trapezoid(qv * (v - mu) * w, v)) / (sigma * sigma)
    return eq, eq2, eqp
