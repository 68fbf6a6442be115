"""Searches end to end: read a float model, search, fine-tune the choice, write artifacts.

:class:`Session` holds what every method shares (network, option space,
cost model, budgets, memory filter, data, reference accuracy) and produces
trial rows and the final fine-tuned, integer-exported model. :func:`run_dse`,
:func:`run_dnas_search` and :func:`run_ilp` are the three methods; the CLI
only parses options and calls them.

Selection never looks at the test split: candidates are compared on the
validation split (carved from train); the test split is evaluated once, for
the final model, and reported.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

import qformat as qf
from qformat.errors import QFormatError

from . import __version__
from .checkpoint import TrialLog
from .cost.latency import DualCore, make_latency
from .cost.memory import MemoryConfig, memory_filter
from .cost.model import CostModel, parse_bytes, parse_latency
from .executor import SerialExecutor, run_jobs
from .netinfo import NetInfo
from .options import OptionSpace, assignment_string
from .report import Progress, trials_table
from .search.pareto import pareto_flags
from .training import (
    DataSpec,
    Job,
    TrainSpec,
    accuracy,
    evaluate_job,
    export_model,
    finetune,
    float_net,
    integer_accuracy,
    load_splits,
    precision_map,
)


@dataclass
class TargetSpec:
    """The hardware: latency table(s) and core(s), memory model."""

    core: str = "m7"
    lut: Optional[str] = None
    core_b: Optional[str] = None
    lut_b: Optional[str] = None
    sync_us: float = 5.0
    split_step: int = 1
    freq_mhz: Optional[float] = None
    select: dict = field(default_factory=dict)
    im2col_cols: Any = 2

    def build(self):
        lat = make_latency(self.core, self.lut, self.core_b, self.lut_b, self.sync_us, self.split_step,
                           self.freq_mhz, self.select)
        cols = self.im2col_cols
        if isinstance(cols, str) and cols != "full":
            try:
                cols = int(cols)
            except ValueError:
                raise QFormatError("--im2col", cols, "expected a column count or 'full'") from None
        return lat, MemoryConfig(im2col_cols=cols)

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class BudgetSpec:
    """Budgets as the user wrote them (``512KiB``, ``20ms``, ``4`` for compression)."""

    ram: Optional[str] = None
    flash: Optional[str] = None
    latency: Optional[str] = None
    weight_bytes: Optional[str] = None
    compression: Optional[float] = None
    bitops: Optional[float] = None

    def resolve(self, cm: CostModel) -> dict[str, Optional[float]]:
        freq = None if isinstance(cm.latency, DualCore) else cm.latency.freq_mhz
        wb = parse_bytes(self.weight_bytes)
        if self.compression:
            if float(self.compression) <= 0:
                raise QFormatError("--compression", str(self.compression), "must be positive")
            lim = float(cm.tables()["float_weight_bytes"]) / float(self.compression)
            wb = lim if wb is None else min(wb, lim)
        return {"peak_ram": parse_bytes(self.ram), "flash": parse_bytes(self.flash),
                "latency_ms": parse_latency(self.latency, freq), "weight_bytes": wb,
                "bitops": float(self.bitops) if self.bitops else None}

    def to_json(self) -> dict:
        return dict(self.__dict__)


def versions() -> dict:
    import torch

    out = {"qsearch": __version__, "qformat": qf.__version__, "torch": torch.__version__, "numpy": np.__version__,
           "python": platform.python_version()}
    try:
        import qtrain

        out["qtrain"] = qtrain.__version__
    except Exception:  # pragma: no cover
        pass
    return out


class Session:
    """What one search needs, built from a float model and the options."""

    def __init__(self, model, space: OptionSpace, target: TargetSpec = TargetSpec(), budgets: BudgetSpec = BudgetSpec(),
                 data: Optional[DataSpec] = None, use_filter: bool = True, log: Callable[[str], None] = lambda s: None):
        if getattr(model, "kind", None) != "model":
            raise QFormatError("input", "", "expected a model artifact")
        if model.is_quantized():
            log("input model carries quantization; the search starts from its float weights")
        model.validate(deep=False)
        self.model = model
        self.model_bytes = qf.to_bytes(model)
        self.model_digest = hashlib.sha256(self.model_bytes).hexdigest()[:16]
        self.space = space
        self.target = target
        self.budget_spec = budgets
        self.log = log
        self.net = NetInfo.from_model(model)
        lat, mem = target.build()
        self.cm = CostModel(self.net, space, lat, mem)
        self.budgets = budgets.resolve(self.cm)
        self.layers = self.net.compute_names
        self.notes: list[str] = []
        self.allowed = {n: space.names for n in self.layers}
        if use_filter and self.budgets.get("peak_ram"):
            self.allowed, warns = memory_filter(self.net, space, int(self.budgets["peak_ram"]), mem)
            removed = sum(len(space) - len(v) for v in self.allowed.values())
            if removed:
                log(f"memory filter ({int(self.budgets['peak_ram'])} B): removed {removed} layer options")
            for w in warns:
                self.notes.append(w)
                log(w)
        self.data = data or DataSpec.from_provenance(model.provenance)
        self._splits = None
        self._ref: Optional[dict] = None

    # ------------------------------------------------------------------ data and reference
    @property
    def splits(self):
        if self._splits is None:
            self._splits = load_splits(self.data)
            shape = tuple(self._splits.input_shape)
            if shape != tuple(self.model.input_shape):
                raise QFormatError("--data", self.data.name,
                                   f"input shape {shape} does not match the model's {tuple(self.model.input_shape)}")
        return self._splits

    def reference(self) -> dict:
        """Float accuracy: validation (the reference for --max-acc-drop) and test (reported only)."""
        if self._ref is None:
            net = float_net(self.model)
            self._ref = {"val_accuracy": accuracy(net, self.splits, "val"),
                         "test_accuracy": accuracy(net, self.splits, "test")}
        return self._ref

    # ------------------------------------------------------------------ rows
    def costs_row(self, assign: Mapping[str, str]) -> dict:
        c = self.cm.evaluate(assign)
        split = ",".join(str(c.split[n]) for n in self.layers) if c.split else None
        return {"latency": c.latency_ms, "peak_ram": int(c.peak_ram), "peak_layer": c.peak_layer,
                "flash": int(c.flash), "weight_bytes": int(c.weight_bytes), "compression": float(c.compression),
                "bitops": int(c.bitops), "split": split}

    def meets_budgets(self, row: Mapping) -> bool:
        m = {"peak_ram": row["peak_ram"], "flash": row["flash"], "latency_ms": row["latency"],
             "weight_bytes": row["weight_bytes"], "bitops": row["bitops"]}
        return all(b is None or m[k] <= b * (1 + 1e-9) for k, b in self.budgets.items())

    def row(self, cid: str, method: str, stage: str, assign: Mapping[str, str], acc: Optional[float],
            max_drop: Optional[float] = None, **extra) -> dict:
        r = {"candidate": cid, "method": method, "stage": stage, "precisions": assignment_string(assign, self.layers),
             "accuracy": acc, "test_accuracy": None, "int_test_accuracy": None, "chosen": False}
        r.update(self.costs_row(assign))
        ok = self.meets_budgets(r)
        if max_drop is not None and acc is not None:
            ok = ok and self.reference()["val_accuracy"] - acc <= max_drop + 1e-12
        r["qualifies"] = bool(ok)
        r.update(extra)
        return r

    def provenance(self, method: str, config: Mapping) -> dict:
        return {"tool": "qsearch", "tool_version": __version__, "method": method, "layers": self.layers,
                "options": self.space.to_json(), "allowed": self.allowed, "budgets": self.budgets,
                "budgets_as_given": self.budget_spec.to_json(), "target": self.cm.describe_latency(),
                "memory": {"im2col_cols": self.cm.memory.im2col_cols}, "dataset": self.data.to_json(),
                "reference": self.reference(), "config": dict(config), "seed": self.data.seed,
                "versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    # ------------------------------------------------------------------ final model
    def finalize(self, weights_model, assign: Mapping[str, str], spec: TrainSpec, method: str,
                 provenance: dict, cost_cmd: Optional[str] = None, cost_freq: Optional[float] = None) -> tuple:
        """Fine-tune ``assign`` from ``weights_model``'s float weights; evaluate val, test, integer test; export."""
        self.log(f"{method}: fine-tuning the chosen map for {spec.epochs} epoch(s)")
        costs = self.cm.evaluate(assign)
        pm_prov = {"tool": "qsearch", "tool_version": __version__, "method": method,
                   "dual_core_split": costs.split or None, "target": self.cm.describe_latency()}
        pm = precision_map(assign, self.space, pm_prov)
        qnet, val, _ = finetune(float_net(weights_model), pm, self.splits, spec)
        test = accuracy(qnet, self.splits, "test")
        metrics = {"val_accuracy": val, "test_accuracy": test, **costs.metrics()}
        prov = dict(provenance)
        prov.update({"precision_map": pm.rules(), "metrics": metrics})
        prov.setdefault("architecture", self.model.provenance.get("architecture"))
        if "preprocess" in self.model.provenance:
            prov["preprocess"] = self.model.provenance["preprocess"]
        qmodel = export_model(qnet, prov)
        int_test = integer_accuracy(qmodel, self.splits, "test")
        qmodel.provenance["metrics"]["int_test_accuracy"] = int_test
        extra = {}
        if cost_cmd:
            from .cost.measured import measure

            extra = measure(cost_cmd, qf.to_bytes(qmodel), cost_freq)
            qmodel.provenance["metrics"].update(extra)
        pm.provenance["metrics"] = dict(qmodel.provenance["metrics"])
        return qmodel, pm, {"accuracy": val, "test_accuracy": test, "int_test_accuracy": int_test, **extra}


def finish_rows(rows: list[dict]) -> list[dict]:
    """Add the Pareto flags (over rows with a validation accuracy)."""
    flags = pareto_flags(rows)
    for i, r in enumerate(rows):
        for k, v in flags.items():
            r[k] = bool(v[i])
    return rows


def _cid(prefix: str, assign_str: str) -> str:
    import hashlib

    return f"{prefix}-{hashlib.sha1(assign_str.encode()).hexdigest()[:10]}"


@dataclass
class Outcome:
    """A finished search: the artifacts and the numbers for the summary."""

    qmodel: Any
    pm: Any
    trials: Any
    history: Any
    assignment: dict
    final: dict
    rows: list
    notes: list
    split: Optional[dict] = None


# ============================================================================ DSE
def run_dse(s: Session, *, grouping: str = "ibex", method: str = "binary", max_drop: float = 1.0,
            objective: str = "latency_ms", train: TrainSpec = TrainSpec(), final_train: Optional[TrainSpec] = None,
            executor=None, checkpoint: Optional[str] = None, cost_cmd: Optional[str] = None,
            cost_freq: Optional[float] = None, cache_dir: Optional[str] = None, quiet: bool = False,
            max_candidates: int = 2_000_000) -> Outcome:
    """Exhaustive or binary search over the grouped choice space (``max_drop`` in accuracy points, e.g. 1.0)."""
    from .search.dse import binary_search, pick_exhaustive, sort_candidates
    from .search.space import make_choice_space

    if method not in ("binary", "exhaustive"):
        raise QFormatError("--method", method, "expected binary or exhaustive")
    measured_objective = objective.startswith("measured_")
    if measured_objective and (method != "exhaustive" or not cost_cmd):
        raise QFormatError("--objective", objective, "a measured objective needs --cost-cmd and --method exhaustive "
                                                     "(binary search sorts by a cost known before evaluation)")
    sort_key = "latency_ms" if measured_objective else objective
    drop = float(max_drop) / 100.0
    executor = executor or SerialExecutor()
    cs = make_choice_space(s.net, s.space, grouping, s.allowed, max_candidates)
    idx = cs.index_matrix()
    met = s.cm.batch(idx)
    order, feasible = sort_candidates(met, s.budgets, sort_key)
    if not feasible:
        note = "no candidate meets the hardware budgets; searching the least-violating one"
        s.notes.append(note)
        s.log(note)
    cands = [s.cm.assignment(idx[i]) for i in order]
    s.log(f"dse: {len(cs):,} candidates ({len(cs.groups)} groups, grouping {grouping}), {len(cands):,} within budgets; "
          f"{method} search on {executor.describe()['executor']} executor ({executor.workers} worker(s))")
    ref = s.reference()["val_accuracy"]
    config = {"method": "dse", "search": method, "grouping": grouping, "max_drop": max_drop, "objective": objective,
              "train": train.to_json(), "options": s.space.to_json(), "budgets": s.budgets, "data": s.data.to_json(),
              "target": s.target.to_json(), "model": s.model_digest, "cost_cmd": cost_cmd}
    log = TrialLog(checkpoint, config)
    if log.done:
        s.log(f"dse: resuming: {len(log.done)} candidate(s) already evaluated in {checkpoint}")
    shared = executor.share(s.model_bytes)
    w = max(1, executor.workers)
    total = len(cands) if method == "exhaustive" else \
        min(len(cands), w * int(np.ceil(np.log(len(cands) + 1) / np.log(w + 1))))
    prog = Progress("dse", total, executor.workers, quiet=quiet)
    cache_dir = cache_dir or (f"{checkpoint}.cache" if checkpoint else None)
    best = {"acc": -1.0}

    def evaluate(indices: list[int]) -> dict[int, float]:
        out: dict[int, float] = {}
        jobs = []
        for i in indices:
            cid = _cid("dse", assignment_string(cands[i], s.layers))
            if cid in log:
                out[i] = float(log.done[cid]["accuracy"])
                prog.step(1, fresh=False)
                continue
            jobs.append((i, (Job(cid, cands[i], s.data, train, s.space.to_json(), cost_cmd, cost_freq, cache_dir),
                             shared)))
        for i, res in run_jobs(executor, evaluate_job, jobs):
            cid = _cid("dse", assignment_string(cands[i], s.layers))
            log.record(cid, res)
            out[i] = float(res["accuracy"])
            desc = None
            if out[i] > best["acc"]:
                best["acc"] = out[i]
            desc = f"val {100 * best['acc']:.2f}%"
            prog.step(1, desc)
        return out

    costs = [float(met[sort_key][i]) for i in order]
    if method == "exhaustive":
        prog.total = len(cands)
        accs_map = evaluate(list(range(len(cands))))
        accs = [accs_map[i] for i in range(len(cands))]
        if measured_objective:
            costs = []
            for i in range(len(cands)):
                res = log.done[_cid("dse", assignment_string(cands[i], s.layers))]
                if objective not in res:
                    raise QFormatError("--objective", objective,
                                       f"the --cost-cmd table has no such column (got {sorted(res)})")
                costs.append(float(res[objective]))
        pick = pick_exhaustive(costs, accs, ref, drop)
        evaluated = accs_map
    else:
        pick, evaluated = binary_search(len(cands), evaluate, ref, drop, width=executor.workers)
    prog.step(0, force=True)
    if not pick.qualifies:
        s.notes.append(pick.reason)
        s.log(f"dse: {pick.reason}")
    rows = []
    for i in sorted(evaluated):
        cid = _cid("dse", assignment_string(cands[i], s.layers))
        res = log.done.get(cid, {})
        extra = {k: v for k, v in res.items() if k.startswith("measured_")}
        rows.append(s.row(cid, "dse", "candidate", cands[i], evaluated[i], max_drop=drop,
                          eval_seconds=res.get("eval_seconds"), **extra))
    chosen = cands[pick.index]
    prov = s.provenance("dse", config)
    prov["pick"] = {"reason": pick.reason, "qualifies": pick.qualifies, "candidates": len(cs),
                    "within_budgets": len(cands), "evaluated": len(evaluated), "groups": cs.describe()}
    qmodel, pm, final = s.finalize(s.model, chosen, final_train or train, "dse", prov, cost_cmd, cost_freq)
    cid = _cid("dse", assignment_string(chosen, s.layers))
    for r in rows:
        if r["candidate"] == cid:
            # The row keeps the validation accuracy the search compared; the final (longer) fine-tuning's
            # numbers go to the test columns and the model's provenance.
            r.update({k: v for k, v in final.items() if k != "accuracy"})
            r["stage"] = "final"
            r["chosen"] = True
            r["qualifies"] = bool(r["qualifies"] and pick.qualifies)
    rows = finish_rows(rows)
    table = trials_table(rows, prov)
    crow = next(r for r in rows if r["chosen"])
    return Outcome(qmodel, pm, table, None, chosen, {**crow, "accuracy": final["accuracy"]}, rows, s.notes,
                   _split(s, chosen))


def _split(s: Session, assign) -> Optional[dict]:
    c = s.cm.evaluate(assign)
    return c.split or None


# ============================================================================ DNAS
def run_dnas_search(s: Session, cfg, *, final_train: TrainSpec = TrainSpec(), checkpoint: Optional[str] = None,
                    cost_cmd: Optional[str] = None, cost_freq: Optional[float] = None) -> Outcome:
    """DNAS (:mod:`qsearch.search.dnas`), then fine-tuning of the discretised map from the supernet's weights."""
    from .report import history_table
    from .search.dnas import run_dnas

    budgets = {k: v for k, v in s.budgets.items() if v is not None}
    cfg.budgets = budgets
    config = {"method": "dnas", "dnas": cfg.to_json(), "options": s.space.to_json(), "allowed": s.allowed,
              "data": s.data.to_json(), "target": s.target.to_json(),
              "model": s.model_digest}
    res = run_dnas(s.model, s.splits, s.space, s.cm, cfg, s.allowed, checkpoint, config, s.log)
    for r in res.repaired:
        s.notes.append(f"repair: {r}")
    prov = s.provenance("dnas", config)
    prov.update({"argmax": res.argmax, "repaired": res.repaired, "search_seconds": res.seconds,
                 "step_seconds": {"weights": res.step_seconds, "alpha": res.alpha_step_seconds}})
    rows, seen = [], {}
    for h in res.history:
        a = dict(zip(s.layers, h["argmax"].split(",")))
        seen[h["argmax"]] = (h["epoch"], h["val_acc"], a)
    for key, (ep, acc, a) in seen.items():
        rows.append(s.row(_cid("dnas", key), "dnas", f"supernet@epoch{ep}", a, acc))
    weights_model = res.net.to_model({})
    qmodel, pm, final = s.finalize(weights_model, res.assignment, final_train, "dnas", prov, cost_cmd, cost_freq)
    fr = s.row(_cid("dnas-final", assignment_string(res.assignment, s.layers)), "dnas", "final", res.assignment,
               final["accuracy"], chosen=True)
    fr.update(final)
    fr["chosen"] = True
    rows.append(fr)
    rows = finish_rows(rows)
    hist = history_table(res.history, {**prov, "layers": s.layers, "options": s.space.names})
    return Outcome(qmodel, pm, trials_table(rows, prov), hist, res.assignment, fr, rows, s.notes,
                   _split(s, res.assignment))


# ============================================================================ ILP
def run_ilp(s: Session, *, sens_method: str = "noise", n_samples: int = 512, sweep: int = 0,
            objective: str = "latency_ms", train: TrainSpec = TrainSpec(), final_train: Optional[TrainSpec] = None,
            executor=None, checkpoint: Optional[str] = None, seed: int = 0, cost_cmd: Optional[str] = None,
            cost_freq: Optional[float] = None, quiet: bool = False) -> Outcome:
    """Sensitivity analysis, then the exact ILP optimum under the budgets (plus an optional budget sweep)."""
    from .search.dnas import build_supernet
    from .search.ilp import solve_ilp
    from .search.sensitivity import sensitivity

    executor = executor or SerialExecutor()
    calib = [xb for i, (xb, _) in zip(range(4), s.splits.loader("train", 64))]
    sup = build_supernet(s.model, s.space, s.allowed, calib)
    t0 = time.perf_counter()
    sens = sensitivity(sup, s.splits, sens_method, n_samples, seed)
    s.log(f"ilp: {sens_method} sensitivity of {len(s.layers)} layers x {len(s.space)} options in "
          f"{time.perf_counter() - t0:.1f} s")
    res = solve_ilp(s.cm, sens, s.budgets, s.allowed)
    if not res.feasible:
        note = f"the ILP has no solution within the budgets ({res.status}); using the cheapest assignment by {objective}"
        s.notes.append(note)
        s.log(note)
        t = s.cm.tables()[objective]
        names = s.space.names
        assign = {}
        for li, n in enumerate(s.layers):
            ok = [j for j, o in enumerate(names) if o in s.allowed[n]]
            assign[n] = names[min(ok, key=lambda j: t[li, j])]
    else:
        assign = res.assignment
    points = [assign]
    if sweep and sweep > 0:
        t = s.cm.tables()
        lo = float(t[objective].min(axis=1).sum()) + (float(t["latency_const"]) if objective == "latency_ms" else 0)
        hi = float(t[objective].max(axis=1).sum()) + (float(t["latency_const"]) if objective == "latency_ms" else 0)
        for b in np.linspace(lo, hi, int(sweep)):
            bud = dict(s.budgets)
            bud[objective] = b if bud.get(objective) is None else min(b, bud[objective])
            r = solve_ilp(s.cm, sens, bud, s.allowed)
            if r.feasible and r.assignment not in points:
                points.append(r.assignment)
    config = {"method": "ilp", "sensitivity": sens_method, "n_samples": n_samples, "sweep": sweep,
              "objective": objective, "train": train.to_json(), "options": s.space.to_json(), "budgets": s.budgets,
              "data": s.data.to_json(), "target": s.target.to_json(),
              "model": s.model_digest}
    log = TrialLog(checkpoint, config)
    rows = []
    others = points[1:]
    if others:
        shared = executor.share(s.model_bytes)
        prog = Progress("ilp sweep", len(others), executor.workers, quiet=quiet)
        jobs = []
        for a in others:
            cid = _cid("ilp", assignment_string(a, s.layers))
            if cid in log:
                prog.step(1, fresh=False)
                continue
            jobs.append((cid, (Job(cid, a, s.data, train, s.space.to_json(), cost_cmd, cost_freq), shared)))
        for cid, r in run_jobs(executor, evaluate_job, jobs):
            log.record(cid, r)
            prog.step(1, f"val {100 * r['accuracy']:.2f}%")
        for a in others:
            cid = _cid("ilp", assignment_string(a, s.layers))
            r = log.done[cid]
            extra = {k: v for k, v in r.items() if k.startswith("measured_")}
            rows.append(s.row(cid, "ilp", "sweep", a, r["accuracy"], eval_seconds=r.get("eval_seconds"), **extra))
    prov = s.provenance("ilp", config)
    prov.update({"sensitivity": sens.tolist(), "ilp_status": res.status, "ilp_objective": res.objective})
    qmodel, pm, final = s.finalize(s.model, assign, final_train or train, "ilp", prov, cost_cmd, cost_freq)
    fr = s.row(_cid("ilp", assignment_string(assign, s.layers)), "ilp", "final", assign, final["accuracy"])
    fr.update(final)
    fr["chosen"] = True
    fr["qualifies"] = bool(fr["qualifies"] and res.feasible)
    rows.append(fr)
    rows = finish_rows(rows)
    return Outcome(qmodel, pm, trials_table(rows, prov), None, assign, fr, rows, s.notes, _split(s, assign))


def output_bundle(inp, outcome: Outcome, keep_float: bool = False):
    """The input bundle with the float model replaced (or joined, ``keep_float``) by the quantized model,
    plus the precision map and the qsearch tables (earlier qsearch artifacts of the same kinds are dropped)."""
    b = qf.Bundle(list(inp.items) if hasattr(inp, "items") else [inp])
    old = b.model()
    if keep_float:
        b.add(outcome.qmodel)
    else:
        b.replace(old, outcome.qmodel)
    b.remove_kind("precision_map")
    b.remove_kind("table", "qsearch.trials")
    b.remove_kind("table", "qsearch.dnas_history")
    b.add(outcome.pm)
    b.add(outcome.trials)
    if outcome.history is not None:
        b.add(outcome.history)
    return b
