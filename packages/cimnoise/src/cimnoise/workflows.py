"""What the commands do, as library functions: estimate, simulate, calibrate, sweep, validate.

A :class:`Study` bundles what every command reads (the network, its probe
statistics, an optional calibration table and an optional labelled dataset);
each function returns result objects plus the ``qformat.Table`` the CLI writes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

import qformat as qf

from .calibrate import (
    Calibration,
    CalibrationEntry,
    calibrate_adc,
    calibrate_input,
    ideal_adc_crossbars,
    input_signed,
    resolve_ranges,
)
from .config import HardwareConfig
from .crossbar import LayerRanges
from .estimator import COMPONENTS
from .executor import SerialExecutor, run_jobs
from .network import (
    Network,
    NetworkEstimate,
    NetworkSim,
    build_mappings,
    estimate_accuracy,
    estimate_network,
    layer_dist,
    layer_rho,
    propagate,
    simulate_layers_from_stats,
    simulate_network,
)
from .sweep import SweepGrid
from .tables import (
    CALIBRATION_SCHEMA,
    ESTIMATE_SCHEMA,
    SIMULATE_SCHEMA,
    SWEEP_SCHEMA,
    VALIDATE_SCHEMA,
    grid_values,
    make_table,
)


@dataclass
class Study:
    """A network with its probe statistics, optional calibration and optional labelled data."""

    net: Network
    probe: Any
    calibration: Optional[Calibration] = None
    x: Optional[np.ndarray] = None
    y: Optional[np.ndarray] = None
    seed: int = 0

    @classmethod
    def from_model(cls, model, probe, calibration: Optional[Calibration] = None, x=None, y=None, seed: int = 0) -> Study:
        net = Network(model)
        if probe is None:
            raise KeyError("no probe statistics (run `qtrain probe` or `cimnoise probe`, or pass --probe)")
        probe = materialize_probe(probe)
        for name in net.compute_names:
            layer_dist(probe, name)  # raises naming the missing site
            st = probe.site(name, "in")
            if st.channels != net.analog[name].in_channels:
                raise ValueError(f"probe site '{name}.in' has {st.channels} channels, layer {name!r} reads "
                                 f"{net.analog[name].in_channels}")
        return cls(net, probe, calibration, x, y, seed)

    def clean_logits(self) -> Optional[np.ndarray]:
        if self.x is None:
            return None
        if not hasattr(self, "_logits"):
            self._logits = self.net.forward(self.x)
        return self._logits

    def layer_vectors(self) -> Optional[dict]:
        """Real input vectors of every compute layer (from the dataset), for calibration."""
        if self.x is None:
            return None
        rec: dict = {}
        self.net.forward(self.x, record=rec)
        return {n: self.net.analog[n].unroll(rec[n][0]) for n in self.net.compute_names}


def materialize_probe(probe):
    """A picklable copy of probe statistics with every array in memory."""
    out = qf.ProbeStats(classes=probe.classes, provenance=dict(probe.provenance))
    for key in probe.sites():
        layer, where = key.rsplit(".", 1)
        st = probe.site(layer, where)
        out.add_site(layer, where, qf.ActivationStats(
            edges=np.asarray(st.edges), counts=np.asarray(st.counts), p_zero=np.asarray(st.p_zero), min=np.asarray(st.min),
            max=np.asarray(st.max), mean=np.asarray(st.mean), var=np.asarray(st.var),
            percentiles={k: np.asarray(v) for k, v in st.percentiles.items()}, n=int(st.n)))
    for k, v in probe.noise_prop.items():
        out.noise_prop[k] = np.asarray(v, dtype=np.float64)
    return out


def calibration_notes(study: Study, hw: HardwareConfig) -> list[str]:
    """Warnings about ADC ranges that will be calibrated from probe statistics where those are known to fall short."""
    from .estimator import correlated_reads

    out = []
    if study.x is not None:
        return out
    for name in study.net.compute_names:
        cfg = hw.for_layer(name)
        if cfg.adc_bits is None or cfg.adc_range is not None or correlated_reads(cfg):
            continue
        if study.calibration is not None and study.calibration.get(name, cfg.topology()) is not None:
            continue
        out.append(f"layer {name}: ADC ranges of {'offset' if cfg.encoding == 'offset' else 'bit-serial'} arrays "
                   "calibrated from probe statistics assume independent inputs; correlated inputs clip more "
                   "(calibrate with `cimnoise calibrate --data`)")
    return out


def _ranges_row(mp) -> dict:
    adc = mp.ranges.adc
    return {"input_range": float(mp.ranges.input_range),
            "adc_lo": None if adc is None else [float(v) for v in adc[:, 0]],
            "adc_hi": None if adc is None else [float(v) for v in adc[:, 1]]}


def _layer_row(name: str, net: Network, mp) -> dict:
    al = net.analog[name]
    cb = mp.crossbars[0]
    return {"layer": name, "kind": "layer", "op": al.op, "rows": cb.n_rows, "cols": al.out_channels, "tiles": len(cb.tiles),
            "topology": mp.cfg.topology(), "config": mp.cfg.model_dump_json(), **_ranges_row(mp)}


def _provenance(study: Study, hw: HardwareConfig, **extra) -> dict:
    p = {"seed": study.seed, "hardware": json.loads(hw.model_dump_json())}
    p.update(extra)
    return p


# ---------------------------------------------------------------------------- estimate
def estimate(study: Study, hw: HardwareConfig, draws: int = 32) -> tuple[NetworkEstimate, qf.Table]:
    """Per-layer and network SNR from the probe statistics (plus estimated accuracy when data is given)."""
    mappings = build_mappings(study.net, hw, study.probe, study.calibration, study.seed)
    est = estimate_network(study.net, study.probe, hw, mappings=mappings)
    logits = study.clean_logits()
    if logits is not None and est.logit_var is not None:
        est.acc_clean, noisy = estimate_accuracy(logits, study.y, est.logit_var, draws, study.seed)
        est.acc_drop = est.acc_clean - noisy
    rows = []
    for le in est.layers:
        row = _layer_row(le.name, study.net, mappings[le.name])
        row.update({"signal_power": float(np.mean(le.signal)) if le.signal is not None else None,
                    "noise_power": le.noise_power, "snr_db": le.snr_db,
                    "logit_noise": float(np.mean(est.layer_logit_var[le.name])) if le.name in est.layer_logit_var else None})
        row.update({f"var_{k}": float(np.mean(le.components[k])) for k in COMPONENTS})
        rows.append(row)
    rows.append({"layer": "network", "kind": "network", "signal_power": est.logit_power,
                 "noise_power": float(np.mean(est.logit_var)) if est.logit_var is not None else None,
                 "snr_db": est.snr_db, "logit_noise": float(np.mean(est.logit_var)) if est.logit_var is not None else None,
                 "acc_clean": est.acc_clean, "acc_est": None if est.acc_drop is None else est.acc_clean - est.acc_drop,
                 "acc_drop_est": est.acc_drop, "seconds": est.seconds})
    return est, make_table(rows, ESTIMATE_SCHEMA, "cimnoise.estimate", _provenance(study, hw))


# ---------------------------------------------------------------------------- simulate
def simulate(study: Study, hw: HardwareConfig, samples: int = 2048, repeats: int = 4, mode: str = "auto"
             ) -> tuple[NetworkSim, qf.Table]:
    """Monte Carlo: per layer (clean inputs) and, with data, the whole noisy network and its accuracy."""
    t0 = time.perf_counter()
    mappings = build_mappings(study.net, hw, study.probe, study.calibration, study.seed)
    if study.x is not None:
        x, y = study.x[:samples], (study.y[:samples] if study.y is not None else None)
        sim = simulate_network(study.net, x, mappings, y, seed=study.seed, repeats=repeats, mode=mode)
        source, n = "data", int(x.shape[0])
    else:
        layers = simulate_layers_from_stats(study.net, study.probe, mappings, samples, study.seed, mode=mode)
        sim = NetworkSim(layers, None, float("nan"))
        source, n = "stats", samples
    prop = None
    rows = []
    for ls in sim.layers:
        row = _layer_row(ls.name, study.net, mappings[ls.name])
        p = propagate(study.probe, study.net, ls.name, ls.mse)
        if p is not None:
            prop = p if prop is None else prop + p
        row.update({"signal_power": float(np.mean(ls.signal)), "noise_power": ls.noise_power, "snr_db": ls.snr_db,
                    "logit_noise": float(np.mean(p)) if p is not None else None, "samples": n, "source": source})
        rows.append(row)
    est_power = None
    if study.probe is not None and study.probe.has_site(study.net.logits_name, "out"):
        st = study.probe.site(study.net.logits_name, "out")
        est_power = float(np.mean(np.asarray(st.var) + np.asarray(st.mean) ** 2))
    power = sim.logit_power if sim.logit_mse is not None else est_power
    from .estimator import snr_db
    snr_prop = snr_db(power, float(np.mean(prop))) if prop is not None and power is not None else None
    sim.seconds = time.perf_counter() - t0
    rows.append({"layer": "network", "kind": "network", "signal_power": power,
                 "noise_power": float(np.mean(sim.logit_mse)) if sim.logit_mse is not None else None,
                 "snr_db": sim.snr_db if sim.logit_mse is not None else snr_prop, "snr_db_propagated": snr_prop,
                 "logit_noise": float(np.mean(sim.logit_mse)) if sim.logit_mse is not None else
                 (float(np.mean(prop)) if prop is not None else None),
                 "acc_clean": sim.acc_clean, "acc_noisy": sim.acc_noisy, "acc_drop": sim.acc_drop, "samples": n,
                 "source": source, "seconds": sim.seconds})
    return sim, make_table(rows, SIMULATE_SCHEMA, "cimnoise.simulate", _provenance(study, hw, repeats=repeats))


# ---------------------------------------------------------------------------- calibrate
def calibrate(study: Study, hw: HardwareConfig, grid: Optional[SweepGrid] = None,
              input_method: Optional[str] = None, adc_method: Optional[str] = None) -> tuple[Calibration, qf.Table]:
    """Input and ADC ranges of every layer for every topology in ``grid`` (or just ``hw``), from data when given."""
    points = [hw] if grid is None else [h for _, h in grid.points(hw)]
    vectors = study.layer_vectors()
    cal = Calibration()
    for hwp in points:
        if input_method or adc_method:
            fields = {}
            if input_method:
                fields["input_calibration"] = input_method
            if adc_method:
                fields["adc_calibration"] = adc_method
            hwp = hwp.with_overrides(**fields)
        hwp.check_layers(study.net.compute_names)
        for k, name in enumerate(study.net.compute_names):
            cfg = hwp.for_layer(name)
            if cal.get(name, cfg.topology()) is not None:
                continue
            al = study.net.analog[name]
            dist = layer_dist(study.probe, name)
            vec = vectors.get(name) if vectors else None
            signed = input_signed(cfg, dist)
            rin = float(cfg.input_range) if cfg.input_range is not None else calibrate_input(al, dist, cfg)
            ranges = LayerRanges(rin, signed, None)
            if cfg.adc_bits is not None:
                if cfg.adc_range is not None:
                    ranges = resolve_ranges(al, cfg, dist, None, seed=study.seed + k)
                elif vec is not None:
                    ranges.adc = calibrate_adc(ideal_adc_crossbars(al, cfg, ranges), cfg, vec,
                                               rng=np.random.default_rng(study.seed + k))
                else:
                    ranges = resolve_ranges(al, cfg.model_copy(update={"input_range": rin}), dist, None, seed=study.seed + k,
                                            rho=layer_rho(study.probe, study.net, name))
            cal.add(CalibrationEntry(name, cfg.topology(), ranges, cfg.input_calibration, cfg.adc_calibration,
                                     "data" if vec is not None else "stats"))
    table = make_table(cal.rows(), CALIBRATION_SCHEMA, "cimnoise.calibration",
                       _provenance(study, hw, topologies=len(points), source="data" if vectors else "stats"))
    return cal, table


# ---------------------------------------------------------------------------- sweep and validate
def _estimate_trial(study: Study, hw: HardwareConfig) -> dict:
    t0 = time.perf_counter()
    mappings = build_mappings(study.net, hw, study.probe, study.calibration, study.seed)
    est = estimate_network(study.net, study.probe, hw, mappings=mappings)
    drop = None
    logits = study.clean_logits()
    if logits is not None and est.logit_var is not None:
        clean, noisy = estimate_accuracy(logits, study.y, est.logit_var, 16, study.seed)
        drop = clean - noisy
    return {"snr_db": est.snr_db, "snr_first_db": est.snr_first_db, "acc_drop_est": drop,
            "layer_names": [le.name for le in est.layers], "layer_snr_db": [le.snr_db for le in est.layers],
            "seconds": time.perf_counter() - t0}


def _sweep_job(study: Study, hw: HardwareConfig) -> dict:
    return _estimate_trial(study, hw)


def sweep(study: Study, hw: HardwareConfig, grid: SweepGrid, executor=None, progress=None) -> qf.Table:
    """Estimate every grid point (one row per point) on ``executor`` (serial when None)."""
    points = grid.points(hw)
    executor = executor or SerialExecutor()
    shared = executor.share(study)
    rows = {}
    jobs = ((i, (shared, h)) for i, (_, h) in enumerate(points))
    for i, res in run_jobs(executor, _sweep_job, jobs):
        rows[i] = {"trial": i, **grid_values(points[i][1].default), **res}
        if progress:
            progress(len(rows), len(points))
    return make_table([rows[i] for i in sorted(rows)], SWEEP_SCHEMA, "cimnoise.sweep",
                      _provenance(study, hw, grid=grid.model_dump(exclude_none=True)))


def _validate_job(study: Study, hw: HardwareConfig, samples: int, repeats: int) -> list[dict]:
    t0 = time.perf_counter()
    mappings = build_mappings(study.net, hw, study.probe, study.calibration, study.seed)
    est = estimate_network(study.net, study.probe, hw, mappings=mappings)
    t_est = time.perf_counter() - t0
    t0 = time.perf_counter()
    if study.x is not None:
        sim = simulate_network(study.net, study.x[:samples], mappings, None, seed=study.seed + 1, repeats=repeats)
        layers = sim.layers
        mc_net, mc_power = (float(np.mean(sim.logit_mse)), sim.logit_power)
    else:
        layers = simulate_layers_from_stats(study.net, study.probe, mappings, samples, study.seed + 1)
        prop = None
        for ls in layers:
            p = propagate(study.probe, study.net, ls.name, ls.mse)
            prop = None if p is None else (p if prop is None else prop + p)
        mc_net, mc_power = (float(np.mean(prop)) if prop is not None else None), est.logit_power
    t_mc = time.perf_counter() - t0
    out = []
    for le, ls in zip(est.layers, layers):
        out.append(_compare(le.name, "layer", le.noise_power, ls.noise_power, le.snr_db, ls.snr_db, t_est, t_mc))
    if est.logit_var is not None and mc_net is not None:
        from .estimator import snr_db
        out.append(_compare("network", "network", float(np.mean(est.logit_var)), mc_net, est.snr_db,
                            snr_db(mc_power, mc_net) if mc_power is not None else None, t_est, t_mc))
    return out


def _compare(name, kind, est, mc, est_snr, mc_snr, t_est, t_mc) -> dict:
    diff = float(10 * np.log10(est / mc)) if est > 0 and mc > 0 else (0.0 if est == mc else None)
    return {"layer": name, "kind": kind, "est_noise": est, "mc_noise": mc, "diff_db": diff,
            "within_1db": None if diff is None else bool(abs(diff) <= 1.0), "est_snr_db": est_snr, "mc_snr_db": mc_snr,
            "est_seconds": t_est, "mc_seconds": t_mc}


def validate(study: Study, hw: HardwareConfig, grid: SweepGrid, executor=None, samples: int = 2048, repeats: int = 2,
             progress=None) -> qf.Table:
    """Estimate vs Monte Carlo on every grid point: one row per (point, layer) plus the network."""
    points = grid.points(hw)
    executor = executor or SerialExecutor()
    shared = executor.share(study)
    rows = {}
    jobs = ((i, (shared, h, samples, repeats)) for i, (_, h) in enumerate(points))
    for i, res in run_jobs(executor, _validate_job, jobs):
        rows[i] = [{"trial": i, **grid_values(points[i][1].default), **r} for r in res]
        if progress:
            progress(len(rows), len(points))
    flat = [r for i in sorted(rows) for r in rows[i]]
    return make_table(flat, VALIDATE_SCHEMA, "cimnoise.validate",
                      _provenance(study, hw, grid=grid.model_dump(exclude_none=True), samples=samples,
                                  source="data" if study.x is not None else "stats"))
