"""Per-cycle traces (clean: no stale values, every cycle logged once).

One row per clock cycle. ``en_acc_i`` is lane i's countdown register during that
cycle (the lane accumulates into ``container_i`` in the cycle its register reads
1); ``container_i`` is null for a lane that is idle in the group (zero weight,
padding, or - improved mode with activations - a zero activation). Phases:
``acc`` (accumulate; ``step`` = 1-based cycle inside the group), ``fetch``
(v0618's extra load cycle per group) and ``mul`` (improved mode's final
multiply-by-centroid stage; ``group`` null).

Differences from the original's ``dispatch_simulation.csv``: its row 0 is all
zeros and shows the state *before* the first load, loads are max-ed into leftover
1s, and the last loaded state is never logged. Totals agree.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .core import container_shares, lane_en, lane_ids


def neuron_trace(en: np.ndarray, cont: np.ndarray, semantics: str, U: int = 0, multipliers: int = 1) -> dict:
    """Trace arrays of one neuron from its per-lane ``en`` and ``container`` ``(G, S)``.

    Returns ``cycle, group, phase, step, fires`` (``(R,)``) and ``en_acc``,
    ``container`` (``(R, S)``; container -1 = idle).
    """
    en = np.asarray(en, dtype=np.int64)
    cont = np.asarray(cont, dtype=np.int64)
    G, S = en.shape
    M = en.max(axis=1) if G else np.zeros(0, dtype=np.int64)
    if semantics == "v0624":
        nfetch, nacc = 0, np.maximum(M, 1)
    elif semantics == "v0618":
        nfetch, nacc = 1, M
    elif semantics == "improved":
        nfetch, nacc = 0, M
    else:
        raise ValueError(f"unknown semantics {semantics!r}")
    rows = nfetch + nacc
    total = int(rows.sum())
    grp = np.repeat(np.arange(G), rows)
    off = np.cumsum(rows) - rows
    t = np.arange(total) - off[grp]
    is_acc = t >= nfetch
    step = np.where(is_acc, t - nfetch + 1, 0)
    reg = np.where(is_acc[:, None], np.maximum(en[grp] - (step[:, None] - 1), 0), 0)
    cc = np.where(en[grp] > 0, cont[grp], -1)
    phase = np.where(is_acc, "acc", "fetch").astype(object)
    group = grp.astype(np.int64)
    if semantics == "improved" and U:
        m = -(-int(U) // multipliers)
        reg = np.concatenate([reg, np.zeros((m, S), dtype=np.int64)])
        cc = np.concatenate([cc, np.full((m, S), -1, dtype=np.int64)])
        phase = np.concatenate([phase, np.array(["mul"] * m, dtype=object)])
        step = np.concatenate([step, np.arange(1, m + 1)])
        group = np.concatenate([group, np.full(m, -1)])
        total += m
    return {"cycle": np.arange(total, dtype=np.int64), "group": group, "phase": phase, "step": step,
            "fires": (reg == 1).sum(axis=1), "en_acc": reg, "container": cc}


def trace_schema(S: int) -> pa.Schema:
    """Schema of the ``accelsim.trace`` table for ``S`` lanes."""
    fields = [pa.field("layer", pa.string()), pa.field("neuron", pa.int32()), pa.field("S", pa.int32()),
              pa.field("C", pa.int32()), pa.field("order", pa.string()), pa.field("semantics", pa.string()),
              pa.field("cycle", pa.int64()), pa.field("group", pa.int32()), pa.field("phase", pa.string()),
              pa.field("step", pa.int32()), pa.field("fires", pa.int32())]
    fields += [pa.field(f"en_acc_{i}", pa.int16()) for i in range(S)]
    fields += [pa.field(f"container_{i}", pa.int16()) for i in range(S)]
    return pa.schema(fields)


def trace_batches(ld, neurons, S: int, C: int, order: str, semantics: str, acts=None, multipliers: int = 1):
    """Yield one ``pa.RecordBatch`` per feasible neuron of ``ld`` (a LayerData).

    ``acts`` (``(N,)`` ints, one sample, zero point removed) makes zero-activation
    lanes idle in improved mode. Infeasible neurons yield nothing; their indices
    are collected in the generator's return value.
    """
    schema = trace_schema(S)
    umax = ld.counts.shape[1]
    skipped = []
    for o in neurons:
        o = int(o)
        if ld.U[o] > C:
            skipped.append(o)
            continue
        ids = ld.ids[o:o + 1]
        if semantics == "improved" and acts is not None:
            ids = np.where(np.asarray(acts)[None, :] != 0, ids, -1)
        q = container_shares(ld.counts[o:o + 1, :umax], ld.U[o:o + 1], C)
        en, cont = lane_en(lane_ids(ids, S, order)[0], q[0], semantics)
        tr = neuron_trace(en, cont, semantics, int(ld.U[o]), multipliers)
        R = len(tr["cycle"])
        cols = [pa.array([ld.name] * R, pa.string()), pa.array(np.full(R, o), pa.int32()),
                pa.array(np.full(R, S), pa.int32()), pa.array(np.full(R, C), pa.int32()),
                pa.array([order] * R, pa.string()), pa.array([semantics] * R, pa.string()),
                pa.array(tr["cycle"], pa.int64()),
                pa.array(tr["group"], pa.int32(), mask=tr["group"] < 0),
                pa.array(list(tr["phase"]), pa.string()), pa.array(tr["step"], pa.int32()),
                pa.array(tr["fires"], pa.int32())]
        cols += [pa.array(tr["en_acc"][:, i], pa.int16()) for i in range(S)]
        cols += [pa.array(tr["container"][:, i], pa.int16(), mask=tr["container"][:, i] < 0) for i in range(S)]
        yield pa.RecordBatch.from_arrays(cols, schema=schema)
    return skipped
