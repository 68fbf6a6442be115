"""Arrow tables (qformat table kinds ``accelsim.*``) built from the engines' arrays.

Schemas are documented in the README. Infeasible configurations are nulls (never
NaN); the ``status`` column says why.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from .analysis import Utilization, cycle_range
from .fast import LayerGrid

SWEEP_SCHEMA = pa.schema([
    ("layer", pa.string()), ("neuron", pa.int32()), ("S", pa.int32()), ("C", pa.int32()),
    ("order", pa.string()), ("semantics", pa.string()), ("cycles", pa.int64()), ("status", pa.string()),
    ("distinct", pa.int32()), ("nnz", pa.int32()), ("fan_in", pa.int32()), ("groups", pa.int32()),
    ("empty_groups", pa.int32()), ("positions", pa.int32()),
    ("base_cycles", pa.int64()), ("saved_sched", pa.int64()), ("saved_skip", pa.int64()), ("mult_cycles", pa.int64()),
    ("act_samples", pa.int32()), ("act_cycles_mean", pa.float64()), ("act_cycles_min", pa.int64()),
    ("act_cycles_max", pa.int64()), ("saved_act_mean", pa.float64()),
])

RUN_SCHEMA = SWEEP_SCHEMA.append(pa.field("func_samples", pa.int32())).append(pa.field("func_ok", pa.bool_()))

RANGE_SCHEMA = pa.schema([
    ("layer", pa.string()), ("S", pa.int32()), ("C", pa.int32()), ("order", pa.string()), ("semantics", pa.string()),
    ("neurons", pa.int32()), ("feasible", pa.int32()), ("skipped", pa.int32()),
    ("min", pa.int64()), ("mean", pa.float64()), ("max", pa.int64()), ("std", pa.float64()),
    ("total", pa.int64()), ("total_feasible", pa.int64()), ("positions", pa.int32()), ("layer_cycles", pa.int64()),
])

UTIL_SCHEMA = pa.schema([
    ("level", pa.string()), ("layer", pa.string()), ("neuron", pa.int32()), ("container", pa.int32()),
    ("value_id", pa.int32()), ("value", pa.float64()),
    ("S", pa.int32()), ("C", pa.int32()), ("order", pa.string()), ("semantics", pa.string()),
    ("cycles", pa.int64()), ("lanes", pa.int64()), ("en_idle", pa.int64()), ("en_immediate", pa.int64()),
    ("en_delayed", pa.int64()), ("accumulations", pa.int64()), ("utilization", pa.float64()),
    ("containers_used", pa.int32()), ("skipped", pa.int32()), ("status", pa.string()),
])


def _col(values, typ: pa.DataType, null: np.ndarray | None = None) -> pa.Array:
    v = np.asarray(values)
    if null is not None and np.any(null):
        return pa.array(v, typ, mask=np.asarray(null, dtype=bool))
    return pa.array(v, typ)


def _strings(values: Sequence[str], idx: np.ndarray) -> pa.Array:
    """A string column from a small vocabulary and per-row indices (fast for big tables)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(idx, dtype=np.int32)),
                                          pa.array(list(values), pa.string())).cast(pa.string())


def _status(U: np.ndarray, C: np.ndarray, infeasible: np.ndarray) -> pa.Array:
    """``ok`` or ``skip: distinct=U > C=C`` per row, built through a small dictionary."""
    key = np.where(infeasible, U.astype(np.int64) * 100003 + C.astype(np.int64) + 1, 0)
    uniq, inv = np.unique(key, return_inverse=True)
    vocab = ["ok" if k == 0 else f"skip: distinct={(k - 1) // 100003} > C={(k - 1) % 100003}" for k in uniq.tolist()]
    return _strings(vocab, inv.reshape(-1))


def grid_columns(grid: LayerGrid) -> dict:
    """Flat columns (rows ordered neuron, S, C, order, semantics) of one :class:`LayerGrid`."""
    ld = grid.layer
    O = ld.O
    nS, nO, nC = len(grid.S), len(grid.orders), len(grid.C)
    sems = grid.semantics
    nM = len(sems)
    full = (O, nS, nC, nO, nM)

    def arrange(a4):   # (nS, nO, nC, O) -> (O, nS, nC, nO) broadcast over semantics
        return np.broadcast_to(np.transpose(a4, (3, 0, 2, 1))[..., None], full)

    cyc = np.stack([np.transpose(grid.cycles[s], (3, 0, 2, 1)) for s in sems], axis=-1)      # full
    o_i, s_i, c_i, r_i, m_i = np.indices(full)
    rows = int(np.prod(full))
    flat = lambda a: np.ascontiguousarray(a).reshape(rows)
    cycles = flat(cyc)
    infeasible = cycles < 0
    U = ld.U
    status_idx = np.where(flat(infeasible), 1, 0)
    cols = {
        "neuron": flat(o_i), "S": grid.S[flat(s_i)], "C": grid.C[flat(c_i)],
        "order_idx": flat(r_i), "sem_idx": flat(m_i), "cycles": cycles, "infeasible": infeasible,
        "distinct": U[flat(o_i)], "nnz": ld.nnz[flat(o_i)], "fan_in": np.full(rows, ld.N),
        "groups": grid.groups[flat(s_i)], "empty_groups": flat(np.broadcast_to(
            np.transpose(grid.empty_groups, (2, 0, 1))[:, :, None, :, None], full)),
        "positions": np.full(rows, ld.positions), "status_idx": status_idx,
    }
    is_imp = np.array([s == "improved" for s in sems])[flat(m_i)]
    for k, name in (("base", "base_cycles"), ("saved_sched", "saved_sched"), ("saved_skip", "saved_skip"),
                    ("mult", "mult_cycles")):
        if grid.improved:
            v = flat(arrange(grid.improved[k]))
            cols[name] = (v, ~is_imp | (v < 0) | infeasible)
        else:
            cols[name] = (np.zeros(rows, dtype=np.int64), np.ones(rows, dtype=bool))
    if grid.act:
        mean = flat(arrange(grid.act["mean"]))
        nul = ~is_imp | infeasible
        cols["act_samples"] = (np.full(rows, grid.act["samples"]), ~is_imp)
        cols["act_cycles_mean"] = (np.nan_to_num(mean), nul)
        cols["act_cycles_min"] = (flat(arrange(grid.act["min"])), nul)
        cols["act_cycles_max"] = (flat(arrange(grid.act["max"])), nul)
        B = max(int(grid.act["samples"]), 1)
        cols["saved_act_mean"] = ((cycles * B - flat(arrange(grid.act["sum"]))) / B, nul)
    else:
        for k, dt in (("act_samples", np.int64), ("act_cycles_mean", np.float64), ("act_cycles_min", np.int64),
                      ("act_cycles_max", np.int64), ("saved_act_mean", np.float64)):
            cols[k] = (np.zeros(rows, dtype=dt), np.ones(rows, dtype=bool))
    return cols


def _selector(keep: np.ndarray | None):
    if keep is None:
        return lambda a: a
    return lambda a: a[keep]


def sweep_table(grids: Sequence[LayerGrid], neurons: dict | None = None,
                extra: dict | None = None, schema: pa.Schema = SWEEP_SCHEMA) -> pa.Table:
    """The ``accelsim.sweep`` table: one row per layer/neuron/S/C/order/semantics.

    ``neurons`` (layer -> index array) keeps only those neurons; ``extra``
    (layer -> {column: (values per kept row, null mask)}) adds run-only columns.
    """
    batches = []
    for g in grids:
        cols = grid_columns(g)
        rows = len(cols["cycles"])
        keep = None
        if neurons is not None and g.layer.name in neurons:
            keep = np.isin(g.layer.neuron_numbers[cols["neuron"]], neurons[g.layer.name])
        sel = _selector(keep)
        n = int(keep.sum()) if keep is not None else rows
        arrays = {
            "layer": _strings([g.layer.name], np.zeros(n, dtype=np.int32)),
            "neuron": _col(g.layer.neuron_numbers[sel(cols["neuron"])], pa.int32()), "S": _col(sel(cols["S"]), pa.int32()),
            "C": _col(sel(cols["C"]), pa.int32()),
            "order": _strings(g.orders, sel(cols["order_idx"])),
            "semantics": _strings(g.semantics, sel(cols["sem_idx"])),
            "cycles": _col(sel(cols["cycles"]), pa.int64(), sel(cols["infeasible"])),
        }
        U = sel(cols["distinct"])
        C = sel(cols["C"])
        inf = sel(cols["infeasible"])
        arrays["status"] = _status(U, C, inf)
        for k in ("distinct", "nnz", "fan_in", "groups", "empty_groups", "positions"):
            arrays[k] = _col(sel(cols[k]), pa.int32())
        for k in ("base_cycles", "saved_sched", "saved_skip", "mult_cycles", "act_samples", "act_cycles_mean",
                  "act_cycles_min", "act_cycles_max", "saved_act_mean"):
            v, m = cols[k]
            arrays[k] = _col(sel(v), schema.field(k).type, sel(m))
        for k, (v, m) in ((extra or {}).get(g.layer.name, {})).items():
            arrays[k] = _col(v, schema.field(k).type, m)
        for f in schema:
            if f.name not in arrays:
                arrays[f.name] = pa.nulls(n, f.type)
        batches.append(pa.table([arrays[f.name] for f in schema], schema=schema))
    if not batches:
        return schema.empty_table()
    return pa.concat_tables(batches)


def range_table(grids: Sequence[LayerGrid], neurons: dict | None = None, network: bool = True) -> pa.Table:
    """The ``accelsim.range`` table: per layer and configuration, statistics over neurons.

    With ``network`` an extra row per configuration has ``layer = "*"``: the sum of
    the layers' ``layer_cycles`` (null when any layer is incomplete).
    """
    recs = {f.name: [] for f in RANGE_SCHEMA}
    net: dict = {}
    for g in grids:
        sel = neurons.get(g.layer.name) if neurons else None
        for sem in g.semantics:
            c = g.cycles[sem]                                   # (nS, nO, nC, O)
            if sel is not None:
                c = c[..., sel]
            st = cycle_range(c)
            for i, S in enumerate(g.S):
                for j, order in enumerate(g.orders):
                    for k, C in enumerate(g.C):
                        tot = st["total"][i, j, k]
                        lc = None if np.isnan(tot) else int(tot) * g.layer.positions
                        row = {"layer": g.layer.name, "S": int(S), "C": int(C), "order": order, "semantics": sem,
                               "neurons": int(st["neurons"][i, j, k]), "feasible": int(st["feasible"][i, j, k]),
                               "skipped": int(st["skipped"][i, j, k]),
                               "min": _opt_int(st["min"][i, j, k]), "mean": _opt_float(st["mean"][i, j, k]),
                               "max": _opt_int(st["max"][i, j, k]), "std": _opt_float(st["std"][i, j, k]),
                               "total": _opt_int(tot), "total_feasible": _opt_int(st["total_feasible"][i, j, k]),
                               "positions": g.layer.positions, "layer_cycles": lc}
                        for kk, v in row.items():
                            recs[kk].append(v)
                        key = (int(S), int(C), order, sem)
                        a = net.setdefault(key, {"n": 0, "f": 0, "lc": 0, "ok": True, "tf": 0})
                        a["n"] += row["neurons"]
                        a["f"] += row["feasible"]
                        a["ok"] &= lc is not None
                        a["lc"] += lc or 0
                        a["tf"] += row["total_feasible"] or 0
    if network and len(grids) > 1:
        for (S, C, order, sem), a in net.items():
            row = {"layer": "*", "S": S, "C": C, "order": order, "semantics": sem, "neurons": a["n"],
                   "feasible": a["f"], "skipped": a["n"] - a["f"], "min": None, "mean": None, "max": None,
                   "std": None, "total": None, "total_feasible": None, "positions": None,
                   "layer_cycles": a["lc"] if a["ok"] else None}
            for kk, v in row.items():
                recs[kk].append(v)
    return pa.table({k: pa.array(v, RANGE_SCHEMA.field(k).type) for k, v in recs.items()}, schema=RANGE_SCHEMA)


def _opt_int(x):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) or np.isnan(float(x)) else int(x)


def _opt_float(x):
    return None if x is None or np.isnan(float(x)) else float(x)


def util_rows(layer: str, ld, util: Utilization, cycles: np.ndarray, S: int, C: int, order: str, semantics: str,
              neurons: np.ndarray, recs: dict, numbers: np.ndarray | None = None) -> None:
    """Append container, neuron and layer rows of one layer/configuration to ``recs`` (column lists)."""
    def add(**kw):
        for f in UTIL_SCHEMA:
            recs[f.name].append(kw.get(f.name))

    base = {"layer": layer, "S": S, "C": C, "order": order, "semantics": semantics}
    tot = {"cycles": 0, "lanes": 0, "idle": 0, "imm": 0, "del": 0, "acc": 0, "slots": 0, "skipped": 0, "used": 0}
    for o in neurons:
        o = int(o)
        num = int(numbers[o]) if numbers is not None else o
        if not util.feasible[o]:
            tot["skipped"] += 1
            add(level="neuron", neuron=num, status=f"skip: distinct={int(ld.U[o])} > C={C}", skipped=1, **base)
            continue
        T = int(cycles[o])
        acc = util.accumulations[o]
        used = int((acc > 0).sum())
        for c in range(C):
            w = int(util.container_id[o, c])
            add(level="container", neuron=num, container=c, value_id=w if w >= 0 else None,
                value=float(ld.values[o, w]) if w >= 0 else None, cycles=T, accumulations=int(acc[c]),
                utilization=(acc[c] / T) if T else None, status="ok", **base)
        add(level="neuron", neuron=num, cycles=T, lanes=int(util.lanes[o]), en_idle=int(util.idle[o]),
            en_immediate=int(util.immediate[o]), en_delayed=int(util.delayed[o]), accumulations=int(acc.sum()),
            utilization=(acc.sum() / (T * C)) if T else None, containers_used=used, skipped=0, status="ok", **base)
        tot["cycles"] += T
        tot["lanes"] += int(util.lanes[o])
        tot["idle"] += int(util.idle[o])
        tot["imm"] += int(util.immediate[o])
        tot["del"] += int(util.delayed[o])
        tot["acc"] += int(acc.sum())
        tot["slots"] += T * C
        tot["used"] += used
    status = "ok" if not tot["skipped"] else f"{tot['skipped']} neuron(s) skipped"
    if tot["skipped"] == len(neurons):     # nothing ran: numbers are null, not 0
        add(level="layer", skipped=tot["skipped"], status=status, **base)
        return
    add(level="layer", cycles=tot["cycles"], lanes=tot["lanes"], en_idle=tot["idle"], en_immediate=tot["imm"],
        en_delayed=tot["del"], accumulations=tot["acc"],
        utilization=(tot["acc"] / tot["slots"]) if tot["slots"] else None, containers_used=tot["used"],
        skipped=tot["skipped"], status=status, **base)


def util_table(recs: dict) -> pa.Table:
    return pa.table({f.name: pa.array(recs[f.name], f.type) for f in UTIL_SCHEMA}, schema=UTIL_SCHEMA)


def new_util_recs() -> dict:
    return {f.name: [] for f in UTIL_SCHEMA}
