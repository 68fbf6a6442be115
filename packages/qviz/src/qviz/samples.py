"""Small synthetic artifacts of every kind qviz draws: for tests, the README, demos and benchmarks.

Built directly with qformat (no other qstack tool needed). Table shapes follow
what the tools produce (``accelsim.sweep``, ``qsearch.trials``, ``ibexgen.bench``,
``cimnoise.*`` ...). The accelerator sweep uses :func:`cycles_v0624`, a tiny
closed form of the original v0624 cycle model (reference/accelsim.md §1), so the
pictures look like the real thing; it is for pictures only, not a simulator.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Optional

import numpy as np
import pyarrow as pa

import qformat as qf

# ---- models ------------------------------------------------------------------------------------


def kmeans_model(sizes: tuple[int, ...] = (16, 8, 4), k: int = 4, prune: float = 0.5, seed: int = 0) -> qf.Model:
    """An MLP ``sizes[0] -> ... -> sizes[-1]`` with per-neuron k-means codebooks and pruning masks.

    Centroids are multiples of 1/8 (like the original accelerator's weights).
    """
    rng = np.random.default_rng(seed)
    layers = [qf.Layer("input", "input", attrs={"shape": [sizes[0]]})]
    tensors = {}
    prev = "input"
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        name = f"network.{2 * i}"
        last = i == len(sizes) - 2
        layers.append(qf.Layer(name, "linear", [prev], {"in_features": fi, "out_features": fo},
                               activation="none" if last else "relu",
                               quant=qf.LayerQuant(weight=qf.WeightQuant(bits=max(1, math.ceil(math.log2(k + 1))),
                                                                         signed=False, scheme="kmeans", per_channel=True))))
        book = np.zeros((fo, k), dtype=np.float32)
        for r in range(fo):
            vals = rng.choice(np.r_[np.arange(-8, 0), np.arange(1, 9)], size=k, replace=False) / 8.0
            book[r] = np.sort(vals)
        idx = rng.integers(0, k, size=(fo, fi)).astype(np.uint8)
        mask = rng.random((fo, fi)) >= prune
        w = np.where(mask, np.take_along_axis(book, idx.astype(np.int64), axis=1), 0).astype(np.float32)
        idx[~mask] = 0
        tensors[name] = {"weight": w, "weight_codebook": book, "weight_indices": idx, "weight_mask": mask}
        prev = name
    return qf.Model(layers, provenance={"tool": "qviz.samples", "seed": seed}, tensors=tensors)


def quantized_model(sizes: tuple[int, ...] = (16, 12, 4), bits: tuple[int, ...] = (4, 8), seed: int = 1) -> qf.Model:
    """An affine per-channel quantized MLP with biases and input quantization (``weight_codes``)."""
    rng = np.random.default_rng(seed)
    layers = [qf.Layer("input", "input", attrs={"shape": [sizes[0]]},
                       quant=qf.LayerQuant(output=qf.ActQuant(bits=8, signed=False, scale=1 / 255)))]
    tensors = {}
    prev = "input"
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        name = f"fc{i + 1}"
        b = bits[i % len(bits)]
        qmax = (1 << (b - 1)) - 1
        w = rng.normal(0, 0.3, (fo, fi)).astype(np.float32)
        scale = (np.abs(w).max(axis=1) / qmax).astype(np.float32)
        codes = np.clip(np.round(w / scale[:, None]), -qmax, qmax).astype(np.int8 if b <= 8 else np.int16)
        layers.append(qf.Layer(name, "linear", [prev], {"in_features": fi, "out_features": fo},
                               activation="relu" if i < len(sizes) - 2 else "none",
                               quant=qf.LayerQuant(weight=qf.WeightQuant(bits=b, signed=True, per_channel=True),
                                                   input=qf.ActQuant(bits=8, signed=False, scale=0.05))))
        tensors[name] = {"weight": codes.astype(np.float32) * scale[:, None], "weight_codes": codes,
                         "weight_scale": scale, "weight_zero_point": np.zeros(fo, np.int32),
                         "bias": rng.normal(0, 0.1, fo).astype(np.float32)}
        prev = name
    return qf.Model(layers, provenance={"tool": "qviz.samples", "seed": seed,
                                        "metrics": {"accuracy": 0.91}}, tensors=tensors)


def conv_model(seed: int = 2) -> qf.Model:
    """A float CNN on 1x8x8 images: conv(4, 3x3) -> relu -> flatten -> linear(10)."""
    rng = np.random.default_rng(seed)
    layers = [qf.Layer("input", "input", attrs={"shape": [1, 8, 8]}),
              qf.Layer("conv1", "conv2d", ["input"], {"in_channels": 1, "out_channels": 4, "kernel_size": [3, 3],
                                                      "stride": [1, 1], "padding": [1, 1], "groups": 1},
                       activation="relu"),
              qf.Layer("flat", "flatten", ["conv1"]),
              qf.Layer("fc", "linear", ["flat"], {"in_features": 256, "out_features": 10})]
    return qf.Model(layers, provenance={"tool": "qviz.samples", "seed": seed}, tensors={
        "conv1": {"weight": rng.normal(0, 0.4, (4, 1, 3, 3)).astype(np.float32)},
        "fc": {"weight": rng.normal(0, 0.1, (10, 256)).astype(np.float32), "bias": np.zeros(10, np.float32)}})


def precision_map(model: qf.Model, bits: Iterable[str] = ("int4", "int8", "int2")) -> qf.PrecisionMap:
    """A precision map giving the model's compute layers the precisions in ``bits`` in turn."""
    bits = list(bits)
    rules = {lay.name: {"weight": bits[i % len(bits)], "activation": "int8"} for i, lay in enumerate(model.compute_layers())}
    rules["_default"] = {"weight": "int8", "activation": "int8"}
    return qf.PrecisionMap(rules, provenance={"tool": "qviz.samples"})


def probe(model: qf.Model, bins: int = 32, seed: int = 3) -> qf.ProbeStats:
    """Activation statistics at the input and output of every compute layer (ReLU outputs have zeros)."""
    rng = np.random.default_rng(seed)
    ps = qf.ProbeStats(classes=int(model.compute_layers()[-1].attrs.get("out_features", 10)),
                       provenance={"tool": "qviz.samples", "seed": seed})
    for i, lay in enumerate(model.compute_layers()):
        for where in ("in", "out"):
            c = int(lay.attrs.get("out_features" if where == "out" else "in_features",
                                  lay.attrs.get("out_channels" if where == "out" else "in_channels", 1)))
            relu = where == "out" and lay.activation == "relu" or (where == "in" and i > 0)
            x = rng.normal(0.2 * (i + 1), 1.0 + 0.5 * i, (512, c))
            if relu:
                x = np.maximum(x, 0)
            edges = np.linspace(x.min(), x.max() + 1e-9, bins + 1)
            nz = x != 0
            counts = np.stack([np.histogram(x[nz[:, j], j], edges)[0] for j in range(c)])
            ps.add_site(lay.name, where, qf.ActivationStats(
                edges=edges, counts=counts, p_zero=1 - nz.mean(axis=0), min=x.min(axis=0), max=x.max(axis=0),
                mean=x.mean(axis=0), var=x.var(axis=0), percentiles={99.9: np.percentile(x, 99.9, axis=0)}, n=512))
    return ps


# ---- accelsim ----------------------------------------------------------------------------------


def _ids(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value ids of a neuron's weights (rank among distinct non-zero values; -1 for zero) and counts per id."""
    row = np.asarray(row, dtype=np.float64)
    vals = np.unique(row[row != 0])
    ids = np.where(row != 0, np.searchsorted(vals, row), -1)
    return ids, np.bincount(ids[ids >= 0], minlength=len(vals))


def shares(counts: np.ndarray, C: int) -> Optional[np.ndarray]:
    """Containers per value id (largest remainder, each >= 1, ties to the lowest id); None when U > C."""
    U = len(counts)
    if U > C:
        return None
    if U == 0 or C == U:
        return np.ones(U, dtype=np.int64)
    rem = C - U
    raw = counts / counts.sum() * rem           # the original's float order
    base = np.floor(raw)
    frac = raw - base
    base = base.astype(np.int64)
    picks = rem - int(base.sum())
    base[np.argsort(-frac, kind="stable")[:picks]] += 1
    return base + 1


def cycles_v0624(row: np.ndarray, S: int, C: int, order: str = "sequential") -> float:
    """Cycles of one neuron in the original v0624 model: G + sum_g max(0, max_w(n_gw - q_w)); NaN if U > C."""
    ids, counts = _ids(row)
    q = shares(counts, C)
    if q is None:
        return float("nan")
    N = len(ids)
    G = -(-N // S)
    pos = (np.arange(G)[:, None] * S + np.arange(S)[None, :]) if order == "sequential" else \
        (np.arange(S)[None, :] * G + np.arange(G)[:, None])
    padded = np.full(G * S, -1)
    padded[:N] = ids
    lanes = padded[pos]
    if not len(q):
        return float(G)
    n = np.stack([(lanes == w).sum(axis=1) for w in range(len(q))], axis=1)    # (G, U)
    return float(G + np.maximum(0, (n - q[None, :]).max(axis=1)).sum())


def sweep_rows(weights: dict[str, np.ndarray], S_values: Iterable[int] = range(4, 17),
               C_values: Iterable[int] = range(4, 17), orders: Iterable[str] = ("sequential", "interleaved"),
               semantics: str = "v0624") -> dict[str, list]:
    """Rows of an ``accelsim.sweep`` table for every (layer, neuron, S, C, order) (vectorised per S)."""
    cols: dict[str, list] = {k: [] for k in ("layer", "neuron", "S", "C", "order", "semantics", "cycles", "distinct",
                                             "status")}
    S_values, C_values, orders = list(S_values), list(C_values), list(orders)
    for layer, w in weights.items():
        w = np.asarray(w, dtype=np.float64)
        O, N = w.shape
        prepared = [_ids(r) for r in w]
        U = np.array([len(c) for _, c in prepared])
        umax = max(1, int(U.max()))
        cnt = np.zeros((O, umax), dtype=np.int64)
        for o, (_, c) in enumerate(prepared):
            cnt[o, : len(c)] = c
        q_by_C = {}
        for C in C_values:
            q = np.zeros((O, umax), dtype=np.int64)
            for o in range(O):
                s = shares(cnt[o, : U[o]], C)
                if s is not None:
                    q[o, : U[o]] = s
            q_by_C[C] = q
        ids = np.stack([i for i, _ in prepared])
        for order in orders:
            for S in S_values:
                G = -(-N // S)
                pos = (np.arange(G)[:, None] * S + np.arange(S)[None, :]) if order == "sequential" else \
                    (np.arange(S)[None, :] * G + np.arange(G)[:, None])
                padded = np.full((O, G * S), -1)
                padded[:, :N] = ids
                lanes = padded[:, pos]                                                  # (O, G, S)
                n = (lanes[..., None] == np.arange(umax)).sum(axis=2)                   # (O, G, umax)
                for C in C_values:
                    q = q_by_C[C]
                    over = np.where(np.arange(umax)[None, None, :] < U[:, None, None], n - q[:, None, :], 0)
                    cyc = G + np.maximum(0, over.max(axis=2)).sum(axis=1)
                    for o in range(O):
                        ok = U[o] <= C
                        cols["layer"].append(layer)
                        cols["neuron"].append(o)
                        cols["S"].append(S)
                        cols["C"].append(C)
                        cols["order"].append(order)
                        cols["semantics"].append(semantics)
                        cols["cycles"].append(int(cyc[o]) if ok else None)
                        cols["distinct"].append(int(U[o]))
                        cols["status"].append("SUCCESS" if ok else f"SKIP (unique_NNZ={U[o]} > container={C})")
    return cols


SWEEP_SCHEMA = pa.schema([("layer", pa.utf8()), ("neuron", pa.int32()), ("S", pa.int32()), ("C", pa.int32()),
                          ("order", pa.utf8()), ("semantics", pa.utf8()), ("cycles", pa.int64()),
                          ("distinct", pa.int32()), ("status", pa.utf8())])


def sweep_table(weights: dict[str, np.ndarray], **kw) -> qf.Table:
    """An ``accelsim.sweep`` table (cycles null where infeasible)."""
    return qf.Table(pa.Table.from_pydict(sweep_rows(weights, **kw), schema=SWEEP_SCHEMA), table_kind="accelsim.sweep",
                    provenance={"tool": "qviz.samples"})


def model_weights(model: qf.Model) -> dict[str, np.ndarray]:
    """Float weights of every compute layer, ``(out, fan_in)``."""
    return {lay.name: np.asarray(model.get(lay.name, "weight"), dtype=np.float64).reshape(
        model.get(lay.name, "weight").shape[0], -1) for lay in model.compute_layers()}


def range_table(sweep: qf.Table) -> qf.Table:
    """An ``accelsim.range`` table: per (layer, S, C, order) min/mean/max/total over neurons."""
    from .sweep import SweepRows, build_cube, ranges

    rows = SweepRows.from_table(sweep, "range")
    out: dict[str, list] = {k: [] for k in ("layer", "S", "C", "order", "semantics", "neurons", "infeasible",
                                            "min", "mean", "max", "total")}
    for layer in rows.layers():
        for order in rows.orders():
            cube = build_cube(rows, layer, order, rows.semantics_values()[0])
            r = ranges(cube)
            for i, S in enumerate(cube.S):
                for j, C in enumerate(cube.C):
                    out["layer"].append(layer)
                    out["S"].append(int(S))
                    out["C"].append(int(C))
                    out["order"].append(order)
                    out["semantics"].append(cube.semantics)
                    out["neurons"].append(len(cube.neurons))
                    out["infeasible"].append(int(r["infeasible"][i, j]))
                    for k in ("min", "mean", "max", "total"):
                        v = r[k][i, j]
                        out[k].append(None if not np.isfinite(v) else float(v))
    return qf.Table(out, table_kind="accelsim.range", provenance={"tool": "qviz.samples"})


def trace_table(row: np.ndarray, S: int, C: int, order: str = "sequential") -> qf.Table:
    """An ``accelsim.trace`` table of one neuron: the v0624 per-cycle loop (en_acc per lane, container per lane)."""
    ids, counts = _ids(row)
    q = shares(counts, C)
    if q is None:
        raise ValueError(f"neuron has {len(counts)} distinct values > C={C}")
    start = np.cumsum(q) - q
    N = len(ids)
    G = -(-N // S)
    pos = (np.arange(G)[:, None] * S + np.arange(S)[None, :]) if order == "sequential" else \
        (np.arange(S)[None, :] * G + np.arange(G)[:, None])
    padded = np.full(G * S, -1)
    padded[:N] = ids
    lanes = padded[pos]
    en = np.zeros((G, S), dtype=np.int64)
    cont = np.full((G, S), -1, dtype=np.int64)
    for g in range(G):
        seen: dict = {}
        for s in range(S):
            w = int(lanes[g, s])
            if w < 0:
                continue
            k = seen.get(w, 0) + 1
            seen[w] = k
            en[g, s] = 1 if k <= q[w] else k - q[w] + 1
            cont[g, s] = start[w] + (k - 1) % q[w]
    rows: dict[str, list] = {"cycle": [], "group": []}
    for s in range(S):
        rows[f"en_acc_{s}"] = []
    for s in range(S):
        rows[f"container_{s}"] = []
    clk, g, acc, cur = 0, 0, np.zeros(S, dtype=np.int64), np.full(S, -1)
    while not (g >= G and np.all(acc <= 1)):
        rows["cycle"].append(clk)
        rows["group"].append(g)
        for s in range(S):
            rows[f"en_acc_{s}"].append(int(acc[s]))
            rows[f"container_{s}"].append(int(cur[s]) if acc[s] > 0 else -1)
        if np.all(acc <= 1) and g < G:
            acc = np.maximum(acc, en[g])
            cur = np.where(en[g] > 0, cont[g], cur)
            g += 1
        else:
            acc = np.maximum(acc - 1, 0)
        clk += 1
    return qf.Table(rows, table_kind="accelsim.trace", provenance={"tool": "qviz.samples", "S": S, "C": C,
                                                                   "order": order})


def util_table(weights: dict[str, np.ndarray], S_values=(8, 12, 16), C_values=(8, 12, 16)) -> qf.Table:
    """An ``accelsim.util`` table: lanes idle (en 0), immediate (en 1) and delayed (en > 1) per (layer, S, C)."""
    out: dict[str, list] = {k: [] for k in ("layer", "S", "C", "order", "idle", "immediate", "delayed")}
    for layer, w in weights.items():
        for S in S_values:
            for C in C_values:
                idle = imm = dl = 0
                for row in np.asarray(w):
                    ids, counts = _ids(row)
                    q = shares(counts, C)
                    if q is None:
                        continue
                    G = -(-len(ids) // S)
                    padded = np.full(G * S, -1)
                    padded[: len(ids)] = ids
                    for grp in padded.reshape(G, S):
                        seen: dict = {}
                        for v in grp:
                            if v < 0:
                                idle += 1
                                continue
                            seen[v] = seen.get(v, 0) + 1
                            if seen[v] <= q[v]:
                                imm += 1
                            else:
                                dl += 1
                for k, v in (("layer", layer), ("S", S), ("C", C), ("order", "sequential"), ("idle", idle),
                             ("immediate", imm), ("delayed", dl)):
                    out[k].append(v)
    return qf.Table(out, table_kind="accelsim.util", provenance={"tool": "qviz.samples"})


def run_table(weights: dict[str, np.ndarray], S: int = 16, C: int = 16, order: str = "sequential") -> qf.Table:
    """An ``accelsim.run`` table: cycles per neuron for one configuration."""
    out: dict[str, list] = {k: [] for k in ("layer", "neuron", "S", "C", "order", "cycles")}
    for layer, w in weights.items():
        for n, row in enumerate(np.asarray(w)):
            c = cycles_v0624(row, S, C, order)
            for k, v in (("layer", layer), ("neuron", n), ("S", S), ("C", C), ("order", order),
                         ("cycles", None if not np.isfinite(c) else int(c))):
                out[k].append(v)
    return qf.Table(out, table_kind="accelsim.run", provenance={"tool": "qviz.samples"})


# ---- qsearch -----------------------------------------------------------------------------------


def trials_table(n: int = 40, seed: int = 4, table_kind: str = "qsearch.trials") -> qf.Table:
    """``qsearch.trials``: one row per candidate (accuracy, latency ms, peak RAM, flash, BOPs, chosen)."""
    rng = np.random.default_rng(seed)
    avg_bits = rng.uniform(2, 8, n)
    acc = 0.98 - 0.25 * np.exp(-(avg_bits - 1.5)) + rng.normal(0, 0.004, n)
    lat = 0.4 * avg_bits + rng.uniform(0, 0.6, n)
    ram = (20_000 * avg_bits / 8 + rng.uniform(0, 4000, n)).astype(np.int64)
    flash = (60_000 * avg_bits / 8 + rng.uniform(0, 8000, n)).astype(np.int64)
    bops = (1e6 * avg_bits ** 2 + rng.uniform(0, 1e6, n)).astype(np.int64)
    from .pareto import pareto_mask

    front = np.flatnonzero(pareto_mask(lat, acc))
    chosen = np.zeros(n, dtype=bool)
    chosen[front[len(front) // 2]] = True
    tab = pa.table({"trial": np.arange(n), "avg_bits": avg_bits, "accuracy": acc, "latency": lat, "peak_ram": ram,
                    "flash": flash, "bitops": bops, "chosen": chosen})
    tab = tab.set_column(3, pa.field("latency", pa.float64(), metadata={"unit": "ms"}), tab.column("latency"))
    return qf.Table(tab, table_kind=table_kind, provenance={"tool": "qviz.samples", "seed": seed})


def dnas_history(epochs: int = 12, layers: Iterable[str] = ("conv1", "conv2", "fc"),
                 options: Iterable[str] = ("fp32", "fp16", "int8", "int4", "int2"), seed: int = 5,
                 wide: bool = False) -> qf.Table:
    """``qsearch.dnas_history``: temperature and alpha probabilities per epoch (long form, or wide
    ``alpha/<layer>/<option>`` columns)."""
    rng = np.random.default_rng(seed)
    layers, options = list(layers), list(options)
    T = 0.01 + (5 - 0.01) * (1 - np.arange(epochs) / epochs) ** 3
    logits = {lay: np.cumsum(rng.normal(0, 0.4, (epochs, len(options))), axis=0) for lay in layers}
    for lay in layers:
        logits[lay][:, min(2, len(options) - 1)] += np.linspace(0, 2.5, epochs)
    probs = {lay: np.exp(v / T[:, None] * 0.2) / np.exp(v / T[:, None] * 0.2).sum(axis=1, keepdims=True)
             for lay, v in logits.items()}
    if wide:
        cols: dict = {"epoch": np.arange(epochs), "temperature": T}
        for lay in layers:
            for j, o in enumerate(options):
                cols[f"alpha/{lay}/{o}"] = probs[lay][:, j]
        return qf.Table(cols, table_kind="qsearch.dnas_history", provenance={"tool": "qviz.samples"})
    rows: dict[str, list] = {"epoch": [], "temperature": [], "layer": [], "option": [], "probability": []}
    for e in range(epochs):
        for lay in layers:
            for j, o in enumerate(options):
                for k, v in (("epoch", e), ("temperature", float(T[e])), ("layer", lay), ("option", o),
                             ("probability", float(probs[lay][e, j]))):
                    rows[k].append(v)
    return qf.Table(rows, table_kind="qsearch.dnas_history", provenance={"tool": "qviz.samples"})


# ---- ibexgen / cimnoise ------------------------------------------------------------------------


def ibex_bench(layers: Iterable[str] = ("fc1", "fc2", "fc3"), seed: int = 6) -> qf.Table:
    """``ibexgen.bench``: cycles, instructions and bytes per layer for the baseline and the xmpq target."""
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {k: [] for k in ("target", "layer", "cycles", "instructions", "code_bytes", "data_bytes",
                                            "speedup")}
    for lay in layers:
        base = int(rng.integers(20_000, 200_000))
        fast = int(base / rng.uniform(8, 17))
        for tgt, cyc in (("baseline", base), ("xmpq", fast)):
            for k, v in (("target", tgt), ("layer", lay), ("cycles", cyc), ("instructions", int(cyc * 0.8)),
                         ("code_bytes", int(rng.integers(400, 2000))),
                         ("data_bytes", int(rng.integers(1000, 9000)) * (4 if tgt == "baseline" else 1)),
                         ("speedup", base / cyc)):
                out[k].append(v)
    return qf.Table(out, table_kind="ibexgen.bench", provenance={"tool": "qviz.samples"})


def cim_tables(layers: Iterable[str] = ("conv1", "conv2", "conv3", "fc"), seed: int = 7) -> list[qf.Table]:
    """``cimnoise.estimate``, ``cimnoise.simulate``, ``cimnoise.sweep`` and ``cimnoise.validate`` tables."""
    rng = np.random.default_rng(seed)
    layers = list(layers)
    est = 30 - 3 * np.arange(len(layers)) + rng.normal(0, 0.5, len(layers))
    sim = est + rng.normal(0, 0.7, len(layers))
    t_est = qf.Table({"layer": layers, "snr_db": est, "noise_var": 10 ** (-est / 10)}, table_kind="cimnoise.estimate",
                     provenance={"tool": "qviz.samples"})
    t_sim = qf.Table({"layer": layers, "snr_db": sim, "noise_var": 10 ** (-sim / 10)}, table_kind="cimnoise.simulate",
                     provenance={"tool": "qviz.samples"})
    sw: dict[str, list] = {"w_bits": [], "alpha": [], "slices": [], "layer": [], "snr_db": []}
    for wb in (6, 8, 10, 12):
        for a in (0.0, 0.02, 0.08):
            for s in (1, 2):
                for i, lay in enumerate(layers):
                    snr = 6.0 * wb - 20 * a * 10 - 1.5 * (s - 1) - 2 * i + rng.normal(0, 0.3)
                    for k, v in (("w_bits", wb), ("alpha", a), ("slices", s), ("layer", lay), ("snr_db", snr)):
                        sw[k].append(v)
    t_sweep = qf.Table(sw, table_kind="cimnoise.sweep", provenance={"tool": "qviz.samples"})
    mc = est + rng.normal(0, 0.8, len(layers))
    t_val = qf.Table({"layer": layers, "estimate_db": est, "mc_db": mc, "diff_db": est - mc},
                     table_kind="cimnoise.validate", provenance={"tool": "qviz.samples"})
    return [t_est, t_sim, t_sweep, t_val]


def trace_row(n: int = 48, seed: int = 8) -> np.ndarray:
    """One neuron's weights for a readable trace: four distinct values, a third of them zero."""
    rng = np.random.default_rng(seed)
    return rng.choice([-0.25, 0.0, 0.0, 0.125, 0.25, 0.25, 0.5], size=n)


def everything(seed: int = 0) -> qf.Bundle:
    """A bundle with one artifact of every kind qviz draws (what a long pipeline could carry)."""
    km = kmeans_model(seed=seed)
    qm = quantized_model(seed=seed + 1)
    w = model_weights(km)
    sweep = sweep_table(w, S_values=range(4, 9), C_values=range(4, 9))
    items = [km, qm, precision_map(qm), probe(qm), sweep, range_table(sweep),
             util_table(w, S_values=(4, 8), C_values=(4, 8)), trace_table(trace_row(), 8, 5),
             run_table(w, S=8, C=8), trials_table(), dnas_history(), ibex_bench()] + cim_tables()
    return qf.Bundle(items)
