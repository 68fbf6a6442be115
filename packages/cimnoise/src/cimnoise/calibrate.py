"""Calibration of input (DAC) and ADC ranges, per layer and per crossbar topology.

Input ranges come from the layer's input distribution: its maximum, a
percentile of the pooled values, or the range that minimises the layer's
input-quantization error (estimated in closed form through the float weights).
ADC ranges come from the noise-free ADC inputs of the mapped layer (Cross-Sim's
rule: pooled over tiles, columns, vectors and input slices, one range per
weight slice), computed on real layer inputs when given, else on inputs drawn
from the probe distribution: max, percentile, the range minimising the
empirical quantization error, or the theoretical full scale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from .config import CrossbarConfig, parse_method
from .crossbar import Crossbar, LayerMapping, LayerRanges
from .dist import ChannelDist, dac_moments
from .estimator import correlated_reads, slice_rho
from .quant import InputDAC, adc_quantizer

N_CAL = 2048  # input vectors drawn from the probe distribution when no data is given


def input_signed(cfg: CrossbarConfig, dist: Optional[ChannelDist], x: Optional[np.ndarray] = None) -> bool:
    """Whether the DAC is signed: the config's choice, else whether the inputs go negative."""
    if cfg.input_signed is not None:
        return bool(cfg.input_signed)
    if dist is not None:
        return dist.signed
    return bool(x is not None and np.any(np.asarray(x) < 0))


def _max_range(dist: ChannelDist, signed: bool) -> float:
    r = dist.max_abs() if signed else dist.max_value()
    return r if r > 0 else 1.0


def input_quant_error(layer, dist: ChannelDist, dac: InputDAC) -> float:
    """Σ over outputs of the input-quantization error power (float weights, independent rows)."""
    mom = dac_moments(dist, dac)
    tot = 0.0
    for g, wm in enumerate(layer.matrices()):
        ch, f = layer.row_channels(g), layer.row_valid(g)
        ed, ed2 = f * mom.ed[ch], f * mom.ed2[ch]
        tot += float(((wm * wm) @ (ed2 - ed * ed) + (wm @ ed) ** 2).sum())
    return tot


def calibrate_input(layer, dist: ChannelDist, cfg: CrossbarConfig, method: Optional[str] = None) -> float:
    """The DAC full scale of ``layer`` under ``cfg`` (``method`` defaults to ``cfg.input_calibration``)."""
    name, p = parse_method(method or cfg.input_calibration, "input calibration")
    signed = input_signed(cfg, dist)
    top = _max_range(dist, signed)
    if name == "max" or cfg.input_bits is None:
        return top
    if name == "percentile":
        r = dist.pooled_quantile(p / 100.0, absolute=signed)
        return r if r > 0 else top
    # optimize: minimise the input-quantization error through the layer's weights
    def err(r: float) -> float:
        return input_quant_error(layer, dist, InputDAC(cfg.input_bits, signed, float(r)))
    grid = top * np.geomspace(0.02, 1.0, 41)
    vals = np.array([err(r) for r in grid])
    k = int(np.argmin(vals))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    if hi > lo:
        res = minimize_scalar(err, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4 * top})
        if res.success and res.fun <= vals[k]:
            return float(res.x)
    return float(grid[k])


def sample_rows(layer, dist: ChannelDist, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Input vectors ``(n, N_g)`` per group drawn from the probe distribution (rows independent, padding mixed in)."""
    out = []
    for g in range(layer.n_groups):
        ch, f = layer.row_channels(g), layer.row_valid(g)
        x = dist.sample(rng, n, ch)
        if np.any(f < 1):
            x = np.where(rng.random(x.shape) < f, x, 0.0)
        out.append(x)
    return out


def _adc_from_samples(vals: np.ndarray, wts: np.ndarray, method: str, p: Optional[float], bits: int,
                      encoding: str, rng: np.random.Generator) -> tuple[float, float]:
    if vals.size == 0 or not np.any(vals != 0):
        return (0.0, 0.0)
    if method == "max":
        return (float(vals.min()), float(vals.max())) if encoding == "offset" else (-float(np.abs(vals).max()), float(np.abs(vals).max()))
    if method == "percentile":
        if encoding == "offset":
            return float(np.percentile(vals, 100 - p)), float(np.percentile(vals, p))
        lim = float(np.percentile(np.abs(vals), p))
        return -lim, lim
    # optimize: minimise the weighted noise-free quantization error
    if vals.size > 200_000:
        pick = rng.choice(vals.size, 200_000, replace=False)
        vals, wts = vals[pick], wts[pick]
    wts = wts / wts.sum()
    if encoding == "offset":
        def err2(r):
            lo, hi = float(r[0]), float(r[1])
            if not hi > lo:
                return 1e300
            q = adc_quantizer(bits, lo, hi, "offset")
            return float(wts @ (q(vals) - vals) ** 2)
        x0 = np.array([vals.min(), vals.max()])
        span = x0[1] - x0[0]
        res = minimize(err2, x0, method="Nelder-Mead", options={"xatol": 1e-4 * span, "fatol": 0, "maxiter": 400,
                                                                 "initial_simplex": [x0, x0 + [0.1 * span, 0], x0 - [0, 0.1 * span]]})
        r = res.x if res.fun <= err2(x0) else x0
        return float(r[0]), float(r[1])
    top = float(np.abs(vals).max())

    def err(lim):
        q = adc_quantizer(bits, -lim, lim, "differential")
        return float(wts @ (q(vals) - vals) ** 2)
    grid = top * np.geomspace(0.02, 1.0, 41)
    errs = np.array([err(v) for v in grid])
    k = int(np.argmin(errs))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = minimize_scalar(err, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4 * top})
    lim = float(res.x) if res.fun <= errs[k] else float(grid[k])
    return -lim, lim


def calibrate_adc(crossbars: list[Crossbar], cfg: CrossbarConfig, vectors: list[np.ndarray], method: Optional[str] = None,
                  rng: Optional[np.random.Generator] = None, rho: Optional[list[np.ndarray]] = None) -> np.ndarray:
    """ADC ranges ``(S, 2)`` per weight slice from the noise-free ADC inputs of ``vectors`` (one array per group's crossbar)."""
    name, p = parse_method(method or cfg.adc_calibration, "adc calibration")
    rng = rng if rng is not None else np.random.default_rng(0)
    full = np.array([cb.full_scale_adc() for cb in crossbars])  # (G, S, 2)
    full = np.stack([full[:, :, 0].min(axis=0), full[:, :, 1].max(axis=0)], axis=1)
    if cfg.encoding == "differential":
        lim = np.abs(full).max(axis=1)
        full = np.stack([-lim, lim], axis=1)
    if name == "full":
        return full
    per_slice = [([], []) for _ in crossbars[0].slices]
    for k, (cb, v) in enumerate(zip(crossbars, vectors)):
        for s, (a, w) in enumerate(cb.adc_inputs(v, None if rho is None else rho[k])):
            per_slice[s][0].append(a)
            per_slice[s][1].append(w)
    out = []
    for s, (vs, ws) in enumerate(per_slice):
        lo, hi = _adc_from_samples(np.concatenate(vs), np.concatenate(ws), name, p, cfg.adc_bits, cfg.encoding, rng)
        if not hi > lo:
            lo, hi = full[s]
        out.append([lo, hi])
    return np.array(out)


# ---------------------------------------------------------------------------- calibration sets
@dataclass
class CalibrationEntry:
    layer: str
    topology: str
    ranges: LayerRanges
    input_method: str = ""
    adc_method: str = ""
    source: str = "stats"


@dataclass
class Calibration:
    """Calibrated ranges keyed by ``(layer, topology)``; travels as a ``cimnoise.calibration`` table."""

    entries: dict[tuple[str, str], CalibrationEntry] = field(default_factory=dict)

    def add(self, e: CalibrationEntry) -> None:
        self.entries[(e.layer, e.topology)] = e

    def get(self, layer: str, topology: str) -> Optional[CalibrationEntry]:
        return self.entries.get((layer, topology))

    def __len__(self) -> int:
        return len(self.entries)

    def rows(self) -> list[dict]:
        out = []
        for e in self.entries.values():
            adc = e.ranges.adc
            out.append({
                "layer": e.layer, "topology": e.topology,
                "input_range": float(e.ranges.input_range), "input_signed": bool(e.ranges.input_signed),
                "adc_lo": None if adc is None else [float(v) for v in adc[:, 0]],
                "adc_hi": None if adc is None else [float(v) for v in adc[:, 1]],
                "input_method": e.input_method, "adc_method": e.adc_method, "source": e.source,
            })
        return out

    @classmethod
    def from_rows(cls, rows: Iterable[dict]) -> Calibration:
        cal = cls()
        for r in rows:
            adc = None
            if r.get("adc_lo") is not None:
                adc = np.stack([np.asarray(r["adc_lo"], float), np.asarray(r["adc_hi"], float)], axis=1)
            cal.add(CalibrationEntry(r["layer"], r["topology"], LayerRanges(float(r["input_range"]), bool(r["input_signed"]), adc),
                                     r.get("input_method", ""), r.get("adc_method", ""), r.get("source", "")))
        return cal

    def to_json(self) -> str:
        return json.dumps(self.rows(), indent=1)


def resolve_ranges(layer, cfg: CrossbarConfig, dist: Optional[ChannelDist], calibration: Optional[Calibration] = None,
                   vectors: Optional[list[np.ndarray]] = None, seed: int = 0, rho: Optional[np.ndarray] = None) -> LayerRanges:
    """The ranges a layer runs with: explicit in the config > calibration table > calibrated now.

    Calibrating now uses ``vectors`` (real layer input vectors, one array per
    group) when given, else :data:`N_CAL` vectors drawn from ``dist`` with
    each column's spread corrected by ``rho`` (see
    :func:`cimnoise.estimator.correlation_gain`).
    """
    entry = calibration.get(layer.name, cfg.topology()) if calibration is not None else None
    if dist is None and vectors is None:
        raise ValueError(f"layer {layer.name!r}: no probe statistics and no data to calibrate ranges from")
    signed = entry.ranges.input_signed if entry is not None and cfg.input_signed is None else input_signed(
        cfg, dist, None if vectors is None else vectors[0])
    if cfg.input_range is not None:
        rin = float(cfg.input_range)
    elif entry is not None:
        rin = entry.ranges.input_range
    elif dist is not None:
        rin = calibrate_input(layer, dist, cfg)
    else:
        top = float(np.abs(vectors[0]).max()) if signed else float(np.max(vectors[0]))
        rin = top if top > 0 else 1.0
    ranges = LayerRanges(rin, signed, None)
    if cfg.adc_bits is None:
        return ranges
    if cfg.adc_range is not None:
        r = np.asarray(cfg.adc_range, dtype=np.float64)
        ranges.adc = np.repeat(r, cfg.weight_slices, axis=0) if r.shape[0] == 1 else r
        return ranges
    if entry is not None and entry.ranges.adc is not None and entry.ranges.adc.shape[0] == cfg.weight_slices \
            and cfg.input_range is None:
        ranges.adc = entry.ranges.adc
        return ranges
    rng = np.random.default_rng(seed)
    rho_g = None
    crossbars = ideal_adc_crossbars(layer, cfg, ranges)
    if vectors is None:
        vectors = sample_rows(layer, dist, N_CAL, rng)
        if rho is not None and correlated_reads(cfg):
            ex, ex2 = dist.moments()
            rho_g = []
            for g, cb in enumerate(crossbars):
                ch, f = layer.row_channels(g), layer.row_valid(g)
                var_rows = f * ex2[ch] - (f * ex[ch]) ** 2
                rho_g.append(slice_rho(cb, var_rows, rho[layer.out_index(g)]))
    ranges.adc = calibrate_adc(crossbars, cfg, vectors, rng=rng, rho=rho_g)
    return ranges


def ideal_adc_crossbars(layer, cfg: CrossbarConfig, ranges: LayerRanges) -> list[Crossbar]:
    """The layer's crossbars without ADC (what calibration reads the ADC inputs from)."""
    return LayerMapping.build(layer, cfg.model_copy(update={"adc_bits": None, "adc_noise": 0.0}), ranges).crossbars
