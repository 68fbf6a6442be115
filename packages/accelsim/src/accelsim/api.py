"""High-level Python API: models in, qformat tables (Arrow) out.

Every function takes either a ``qformat.Model`` or a dict ``name -> (neurons,
fan_in)`` weight matrix (no qformat needed then), plus an optional layer/neuron
selection (``["network.0:0-3", "network.4"]``).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from . import tables as T
from .analysis import utilization
from .core import ORDERS, SEMANTICS, check_order, check_semantics
from .fast import LayerData, LayerGrid, concat_grids, simulate_layer
from .functional import accelerator_outputs
from .memimage import Memory, neuron_memories
from .network import (
    LayerActs,
    LayerError,
    SimLayer,
    from_matrices,
    layer_inputs,
    parse_index_list,
    select,
    sim_layer,
)
from .trace import trace_batches, trace_schema


@dataclass
class Selected:
    """A layer and the neurons chosen in it (the layer data restricted to them)."""

    layer: SimLayer
    neurons: np.ndarray
    data: LayerData


def is_weight_json(data: bytes) -> bool:
    """Does this look like the original's JSON weight file (``{"x.weight": [[...]]}``)?"""
    head = data.lstrip()[:4096]
    return head.startswith(b"{") and b'.weight"' in head


def load_model(src: str = "-"):
    """Read the input: a qformat artifact/bundle (path, ``-`` = stdin) or the original JSON.

    Returns ``(bundle, model)``; the bundle's other artifacts pass through.
    """
    import qformat as qf
    from qformat.importers import import_kmeans_json

    if src == "-":
        data = sys.stdin.buffer.read()
        if not data:
            raise qf.QFormatError("<stdin>", "", "empty input (pipe a model in or give a path)")
        if is_weight_json(data):
            m = import_kmeans_json(io.StringIO(data.decode("utf-8", "replace")), name="<stdin>")
            return qf.Bundle([m]), m
        try:
            b = qf.read_bundle(io.BytesIO(data))
        except qf.QFormatError as e:
            raise qf.QFormatError("<stdin>", e.where, e.why) from None
    else:
        p = Path(src)
        if p.is_file() and p.suffix.lower() == ".json":
            with p.open("rb") as f:
                head = f.read(4096)
            if is_weight_json(head):
                m = import_kmeans_json(p)
                return qf.Bundle([m]), m
        b = qf.read_bundle(src)
    try:
        model = b.model()
    except KeyError:
        raise qf.QFormatError(src if src != "-" else "<stdin>", "", "the input holds no model") from None
    return b, model


def sim_layers_of(model) -> tuple[list[str], Any]:
    """Compute layer names and a per-name factory of :class:`SimLayer` (qformat model or matrices)."""
    if isinstance(model, dict):
        layers = {sl.name: sl for sl in from_matrices(model)}
        return list(layers), layers.__getitem__
    comp = model.compute_layers()
    byname = {lay.name: lay for lay in comp}
    cache: dict = {}

    def get(name: str) -> SimLayer:
        if name not in cache:
            cache[name] = sim_layer(model, byname[name])
        return cache[name]

    return [lay.name for lay in comp], get


def choose(model, specs: Sequence[str] | None = None, skip_unsupported: bool = False) -> list[Selected]:
    """Selected layers and neurons (``NAME``, ``NAME:0-3,7``, globs; default every layer).

    A layer that cannot be simulated raises :class:`~accelsim.network.LayerError`
    (naming it and why) unless ``skip_unsupported``, which logs it on stderr and
    leaves it out.
    """
    names, get = sim_layers_of(model)
    if not names:
        raise ValueError("the model has no linear or conv2d layers")
    out = []
    for name, nspec in select(names, list(specs or [])):
        try:
            sl = get(name)
        except LayerError as e:
            if not skip_unsupported:
                raise
            print(f"accelsim: skipping {e}", file=sys.stderr)
            continue
        idx = parse_index_list(nspec, sl.O, f"layer {name!r}: neuron")
        ld = sl.data if len(idx) == sl.O else sl.data.subset(idx)
        out.append(Selected(sl, idx, ld))
    return out


def _layer_acts(model, sel: list[Selected], acts, is_codes: bool | None, max_windows: int) -> dict:
    """``layer -> LayerActs`` from network-input samples or a ``layer -> (B, N)`` dict."""
    if acts is None:
        return {}
    if isinstance(acts, dict):
        return {k: LayerActs([(slice(None), np.asarray(v, dtype=np.int64))], "given") for k, v in acts.items()}
    x = np.asarray(acts)
    codes = x.dtype.kind in "iu" if is_codes is None else is_codes
    if isinstance(model, dict):
        from .activations import quantize_acts
        from .network import acts_from_matrix_chain

        layers = [sim_layers_of(model)[1](n) for n in model]
        xc = x.astype(np.int64) if codes else quantize_acts(x)
        return {k: LayerActs([(slice(None), v)], "chain") for k, v in acts_from_matrix_chain(layers, xc).items()}
    return layer_inputs(model, [s.layer for s in sel], x, codes, max_windows)


def _simulate_selected(s: Selected, S, C, orders, semantics, la: LayerActs | None, multipliers: int) -> LayerGrid:
    if la is None or "improved" not in semantics:
        return simulate_layer(s.data, S, C, orders, semantics, None, multipliers)
    parts = []
    for sl, x in la.parts:
        rows = np.arange(s.layer.O)[sl]
        keep = np.nonzero(np.isin(s.neurons, rows))[0]
        if keep.size:
            parts.append((keep, x))
    if len(parts) == 1 and len(parts[0][0]) == s.data.O:
        return simulate_layer(s.data, S, C, orders, semantics, parts[0][1], multipliers)
    grids = [simulate_layer(s.data.subset(k), S, C, orders, semantics, x, multipliers) for k, x in parts]
    return concat_grids(s.data, grids)


def _as_list(v, allowed, what):
    vals = [v] if isinstance(v, str) else list(v)
    out = []
    for x in vals:
        if x in ("both", "all", "*"):
            out.extend(a for a in allowed if a not in out)
        else:
            if x not in allowed:
                raise ValueError(f"unknown {what} {x!r} (use {', '.join(allowed)})")
            if x not in out:
                out.append(x)
    return tuple(out)


def sweep(model, S: Sequence[int] = range(4, 17), C: Sequence[int] = range(4, 17),
          orders: Sequence[str] = ORDERS, semantics: Sequence[str] = ("v0624",), layers: Sequence[str] | None = None,
          acts=None, is_codes: bool | None = None, multipliers: int = 1, max_windows: int = 4096,
          grids_out: list | None = None, skip_unsupported: bool = False) -> pa.Table:
    """The ``accelsim.sweep`` table over ``S x C x orders x semantics`` for the selected neurons."""
    orders = _as_list(orders, ORDERS, "order")
    semantics = _as_list(semantics, SEMANTICS, "semantics")
    sel = choose(model, layers, skip_unsupported)
    la = _layer_acts(model, sel, acts, is_codes, max_windows)
    grids = [_simulate_selected(s, S, C, orders, semantics, la.get(s.layer.name), multipliers) for s in sel]
    if grids_out is not None:
        grids_out.extend(grids)
    return T.sweep_table(grids)


def cycle_ranges(model, S=range(4, 17), C=range(4, 17), orders=ORDERS, semantics=("v0624",), layers=None,
                 multipliers: int = 1, skip_unsupported: bool = False) -> pa.Table:
    """The ``accelsim.range`` table: min/mean/max/std/total cycles over neurons per configuration."""
    grids: list = []
    sweep(model, S, C, orders, semantics, layers, multipliers=multipliers, grids_out=grids,
          skip_unsupported=skip_unsupported)
    return T.range_table(grids)


def run(model, S: int, C: int, order: str = "sequential", semantics: Sequence[str] = ("v0624",),
        layers: Sequence[str] | None = None, acts=None, is_codes: bool | None = None, multipliers: int = 1,
        max_windows: int = 4096, check: bool = True, skip_unsupported: bool = False) -> pa.Table:
    """The ``accelsim.run`` table for one ``(S, C, order)``; with ``acts`` also activation
    sparsity (improved) and the bit-exact functional check (``func_ok``)."""
    check_order(order)
    semantics = _as_list(semantics, SEMANTICS, "semantics")
    sel = choose(model, layers, skip_unsupported)
    la = _layer_acts(model, sel, acts, is_codes, max_windows)
    grids, extra = [], {}
    for s in sel:
        g = _simulate_selected(s, [S], [C], (order,), semantics, la.get(s.layer.name), multipliers)
        grids.append(g)
        if check and s.layer.name in la:
            ok, n = functional_check(s, la[s.layer.name], S, C, order)
            nsem = len(semantics)
            m = s.data.U > C
            extra[s.layer.name] = {"func_samples": (np.repeat(n, nsem), np.repeat(np.zeros(len(ok), bool), nsem)),
                                   "func_ok": (np.repeat(ok, nsem), np.repeat(m, nsem))}
    return T.sweep_table(grids, extra=extra, schema=T.RUN_SCHEMA)


def functional_check(s: Selected, la: LayerActs, S: int, C: int, order: str) -> tuple[np.ndarray, np.ndarray]:
    """Per selected neuron: bit-exact (accelerator vs dot product) on every sample, and samples checked."""
    sl = s.layer
    if sl.codes is None:
        raise ValueError(f"layer {sl.name!r}: weights have no exact integer form, cannot check outputs")
    ok = np.ones(len(s.neurons), dtype=bool)
    n = np.zeros(len(s.neurons), dtype=np.int64)
    for part, x in la.parts:
        rows = np.arange(sl.O)[part]
        keep = np.nonzero(np.isin(s.neurons, rows))[0]
        if not keep.size:
            continue
        ld = s.data.subset(keep)
        res = accelerator_outputs(ld, sl.codes[s.neurons[keep]], x, S, C, order)
        ok[keep] = res.ok
        n[keep] = x.shape[0]
    return ok, n


def util(model, S: Sequence[int] = (8,), C: Sequence[int] = (8,), orders=("sequential",),
         semantics=("v0624",), layers=None, multipliers: int = 1, skip_unsupported: bool = False) -> pa.Table:
    """The ``accelsim.util`` table: per container, per neuron and per layer use."""
    orders = _as_list(orders, ORDERS, "order")
    semantics = _as_list(semantics, SEMANTICS, "semantics")
    recs = T.new_util_recs()
    for s in choose(model, layers, skip_unsupported):
        g = simulate_layer(s.data, S, C, orders, semantics, None, multipliers)
        for i, S_ in enumerate(g.S):
            for j, order in enumerate(g.orders):
                for k, C_ in enumerate(g.C):
                    u = utilization(s.data, int(S_), int(C_), order)
                    for sem in semantics:
                        T.util_rows(s.layer.name, s.data, u, g.cycles[sem][i, j, k], int(S_), int(C_), order, sem,
                                    np.arange(s.data.O), recs, numbers=s.data.neuron_numbers)
    return T.util_table(recs)


def trace(model, S: int, C: int, order: str = "sequential", semantics: str = "v0624", layers=None,
          acts=None, sample: int = 0, is_codes: bool | None = None, multipliers: int = 1,
          skipped: list | None = None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Schema and a generator of ``accelsim.trace`` batches (one per neuron) for one configuration.

    Infeasible neurons produce no rows; ``(layer, neuron)`` pairs are appended to ``skipped``.
    """
    check_order(order)
    check_semantics(semantics)
    sel = choose(model, layers)
    la = _layer_acts(model, sel, acts, is_codes, 1 << 30) if acts is not None and semantics == "improved" else {}

    def gen():
        for s in sel:
            x = None
            if s.layer.name in la:
                parts = la[s.layer.name].parts
                if len(parts) != 1:
                    raise ValueError(f"layer {s.layer.name!r}: traces with activations need a linear or ungrouped layer")
                xs = parts[0][1]
                if not 0 <= sample < len(xs):
                    raise ValueError(f"sample {sample} out of range (0..{len(xs) - 1})")
                x = xs[sample]
            it = trace_batches(s.layer.data, s.neurons, S, C, order, semantics, x, multipliers)
            while True:
                try:
                    yield next(it)
                except StopIteration as e:
                    if skipped is not None:
                        skipped.extend((s.layer.name, o) for o in (e.value or []))
                    break

    return trace_schema(S), gen()


def memories(model, S: int, C: int, order: str = "sequential", semantics: str = "v0624", layers=None,
             weight_bits: int | None = None, weight_frac: int | None = None) -> Iterator[tuple[str, int, list[Memory]]]:
    """``(layer, neuron, [weight, container_idx, en_acc])`` for every selected feasible neuron."""
    check_order(order)
    for s in choose(model, layers):
        for o in s.neurons:
            if s.layer.data.U[o] > C:
                continue
            yield s.layer.name, int(o), neuron_memories(s.layer, int(o), S, C, order, semantics, weight_bits, weight_frac)
