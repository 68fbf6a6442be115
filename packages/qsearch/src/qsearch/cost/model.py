"""The cost model: every hardware metric of a precision assignment.

:meth:`CostModel.evaluate` is the slow, obvious reference (loops over layers
and steps, used for reports). :meth:`CostModel.batch` evaluates many
assignments at once with numpy (used by exhaustive search); tests check the
two agree. :meth:`CostModel.tables` gives the per-layer, per-option arrays the
ILP and the differentiable DNAS penalty are built from.

Metrics (units): ``latency_ms``, ``peak_ram`` (bytes), ``peak_layer``,
``flash`` (bytes: weights + biases + requantization params), ``weight_bytes``
(packed weights only), ``compression`` (fp32 weight bytes / weight bytes),
``bitops``, ``macs``, ``params``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from qformat.errors import QFormatError

from ..netinfo import NetInfo
from ..options import Option, OptionSpace
from . import size
from .latency import Analytical, CoreLatency, DualCore
from .memory import MemoryConfig, buffer_bits, peak_ram, scratch_bytes

METRICS = ("latency_ms", "peak_ram", "flash", "weight_bytes", "bitops")

Latency = Union[CoreLatency, DualCore]


@dataclass
class Costs:
    latency_ms: float
    peak_ram: int
    peak_layer: str
    flash: int
    weight_bytes: int
    float_weight_bytes: int
    compression: float
    bitops: int
    macs: int
    params: int
    split: dict[str, int] = field(default_factory=dict)
    per_layer: list[dict] = field(default_factory=list)
    peak_breakdown: list[tuple[str, int]] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "peak_ram": self.peak_ram, "peak_layer": self.peak_layer,
                "flash": self.flash, "weight_bytes": self.weight_bytes, "compression": self.compression,
                "bitops": self.bitops, "macs": self.macs, "params": self.params}


class CostModel:
    """Hardware costs of precision assignments for one network, option space and target."""

    def __init__(self, net: NetInfo, space: OptionSpace, latency: Optional[Latency] = None,
                 memory: MemoryConfig = MemoryConfig()):
        self.net = net
        self.space = space
        self.latency = latency if latency is not None else CoreLatency(Analytical(), "analytical")
        self.memory = memory
        self.layers = net.compute_names
        self._tables: Optional[dict[str, np.ndarray]] = None
        self._fast: Optional[dict[str, Any]] = None

    # ------------------------------------------------------------------ helpers
    def options_of(self, assign: Mapping[str, Any]) -> dict[str, Option]:
        out = {}
        for n in self.layers:
            if n not in assign:
                raise QFormatError("assignment", n, "layer has no precision")
            v = assign[n]
            out[n] = v if isinstance(v, Option) else self.space[str(v)]
        return out

    def layer_latency(self, li, opt: Optional[Option]) -> tuple[float, int]:
        if isinstance(self.latency, DualCore):
            return self.latency.split(li, opt)
        return self.latency.ms(li, opt), -1

    def describe_latency(self) -> dict:
        return self.latency.describe()

    # ------------------------------------------------------------------ reference
    def evaluate(self, assign: Mapping[str, Any]) -> Costs:
        """All metrics of one assignment (layer -> option name or Option), layer by layer."""
        opts = self.options_of(assign)
        lat = 0.0
        flash = wbytes = fbytes = bops = 0
        split: dict[str, int] = {}
        rows = []
        bits = buffer_bits(self.net, opts)
        for li in self.net.layers:
            o = opts.get(li.name)
            t, k = self.layer_latency(li, o)
            lat += t
            row = {"layer": li.name, "op": li.kind, "latency_ms": t}
            if li.compute:
                wb, fl = size.weight_bytes(li, o), size.layer_flash(li, o)
                wbytes += wb
                fbytes += size.float_weight_bytes(li)
                flash += fl
                bops += size.bitops(li, o)
                if k >= 0:
                    split[li.name] = k
                row.update(precision=o.name, macs=li.macs, params=li.weights + (li.out_channels if li.bias else 0),
                           weight_bytes=wb, flash=fl, bitops=size.bitops(li, o))
            elif li.kind == "add" and bits[self.net.buffer_of[li.name]] <= 16 and not self._float_add(li, opts):
                flash += size.ADD_REQUANT_BYTES
                row["flash"] = size.ADD_REQUANT_BYTES
            rows.append(row)
        mem = peak_ram(self.net, opts, self.memory)
        for row, s in zip(rows, mem.per_step):
            row["ram"] = s
        return Costs(lat, mem.peak, mem.peak_layer, flash, wbytes, fbytes, size.compression(fbytes, wbytes), bops,
                     self.net.total_macs(), self.net.total_params(), split, rows, mem.breakdown)

    def _float_add(self, li, opts: Mapping[str, Option]) -> bool:
        srcs = self.net.need_sources()[self.net.buffer_of[li.name]]
        return any(opts[layer].is_float for _, layer in srcs)

    # ------------------------------------------------------------------ per-layer tables
    def tables(self) -> dict[str, np.ndarray]:
        """Per compute layer (rows, in order) and option (columns): ``latency_ms``, ``weight_bytes``,
        ``flash``, ``bitops``, ``split`` (dual-core share), plus scalars ``latency_const`` (non-compute
        layers) and ``flash_const`` (integer residual adds, counted as an upper bound)."""
        if self._tables is None:
            L, P = len(self.layers), len(self.space)
            t = {k: np.zeros((L, P)) for k in ("latency_ms", "weight_bytes", "flash", "bitops", "split")}
            for i, n in enumerate(self.layers):
                li = self.net[n]
                for j, o in enumerate(self.space):
                    ms, k = self.layer_latency(li, o)
                    t["latency_ms"][i, j] = ms
                    t["split"][i, j] = k
                    t["weight_bytes"][i, j] = size.weight_bytes(li, o)
                    t["flash"][i, j] = size.layer_flash(li, o)
                    t["bitops"][i, j] = size.bitops(li, o)
            t["latency_const"] = np.array(sum(self.layer_latency(li, None)[0] for li in self.net.layers if not li.compute))
            t["flash_const"] = np.array(size.ADD_REQUANT_BYTES * sum(1 for li in self.net.layers if li.kind == "add"))
            t["float_weight_bytes"] = np.array(sum(size.float_weight_bytes(self.net[n]) for n in self.layers))
            self._tables = t
        return self._tables

    def memory_structure(self) -> dict[str, Any]:
        """What peak RAM is made of, as arrays: ``live`` (steps x buffers), ``elems`` (buffers),
        ``sources`` (per buffer: list of (layer index, 'act'|'out')), ``scratch`` (steps x options)."""
        if self._fast is None:
            net = self.net
            idx = {n: i for i, n in enumerate(self.layers)}
            S, B = len(net.layers), len(net.buffers)
            live = np.zeros((S, B), dtype=bool)
            for b in net.buffers:
                live[b.alloc:b.last_use + 1, b.id] = True
            sources = {bid: [(idx[layer], what) for what, layer in srcs] for bid, srcs in net.need_sources().items()}
            scratch = np.zeros((S, len(self.space)))
            scratch_layer = np.full(S, -1)
            for li in net.layers:
                if li.compute:
                    scratch_layer[li.index] = idx[li.name]
                    for j, o in enumerate(self.space):
                        scratch[li.index, j] = scratch_bytes(li, o, self.memory)
            self._fast = {"live": live, "elems": np.array([b.elems for b in net.buffers], dtype=np.int64),
                          "sources": sources, "scratch": scratch, "scratch_layer": scratch_layer,
                          "abits": np.array([o.abits for o in self.space]),
                          "obits": np.array([o.out_bits for o in self.space]),
                          "is_float": np.array([o.is_float for o in self.space])}
        return self._fast

    # ------------------------------------------------------------------ fast path
    def batch(self, assign_idx: np.ndarray) -> dict[str, np.ndarray]:
        """Metrics of many assignments at once: ``assign_idx`` is (N, layers) option indices."""
        a = np.atleast_2d(np.asarray(assign_idx, dtype=np.int64))
        N, L = a.shape
        if L != len(self.layers):
            raise ValueError(f"assignment has {L} layers, the network {len(self.layers)}")
        t = self.tables()
        rows = np.arange(L)
        out = {k: t[k][rows, a].sum(axis=1) for k in ("latency_ms", "weight_bytes", "flash", "bitops")}
        out["latency_ms"] = out["latency_ms"] + float(t["latency_const"])
        m = self.memory_structure()
        B = len(m["elems"])
        bits = np.zeros((N, B), dtype=np.int64)
        anyfloat = np.zeros((N, B), dtype=bool)
        for bid, srcs in m["sources"].items():
            for li, what in srcs:
                col = m["abits"] if what == "act" else m["obits"]
                bits[:, bid] = np.maximum(bits[:, bid], col[a[:, li]])
                anyfloat[:, bid] |= m["is_float"][a[:, li]]
            if not srcs:
                bits[:, bid] = 32
        nbytes = (m["elems"][None, :] * bits + 7) // 8
        steps = nbytes @ m["live"].T.astype(np.int64)
        sl = m["scratch_layer"]
        has = sl >= 0
        steps[:, has] += m["scratch"][np.nonzero(has)[0][None, :], a[:, sl[has]]].astype(np.int64)
        out["peak_ram"] = steps.max(axis=1)
        out["peak_step"] = steps.argmax(axis=1)
        # Integer residual adds store their requantization parameters.
        for li in self.net.layers:
            if li.kind == "add":
                bid = self.net.buffer_of[li.name]
                out["flash"] = out["flash"] + np.where((bits[:, bid] <= 16) & ~anyfloat[:, bid], size.ADD_REQUANT_BYTES, 0)
        out["compression"] = float(t["float_weight_bytes"]) / out["weight_bytes"]
        return out

    def index_of(self, assign: Mapping[str, str]) -> np.ndarray:
        return np.array([self.space.index(str(assign[n] if not isinstance(assign[n], Option) else assign[n].name))
                         for n in self.layers], dtype=np.int64)

    def assignment(self, idx: Sequence[int]) -> dict[str, str]:
        return {n: self.space.options[int(j)].name for n, j in zip(self.layers, idx)}


def parse_bytes(text: Union[str, int, float, None]) -> Optional[int]:
    """``512KiB`` / ``1MiB`` / ``2MB`` / ``300kB`` / ``4096`` -> bytes (None passes through)."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        return int(text)
    t = str(text).strip().replace(" ", "")
    units = {"b": 1, "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3,
             "k": 1024, "m": 1024 ** 2}
    low = t.lower()
    for u in sorted(units, key=len, reverse=True):
        if low.endswith(u) and low[: -len(u)]:
            try:
                return int(round(float(low[: -len(u)]) * units[u]))
            except ValueError:
                break
    try:
        return int(float(t))
    except ValueError:
        raise QFormatError("budget", str(text), "not a size (e.g. 512KiB, 1MiB, 300kB, 4096)") from None


def parse_latency(text: Union[str, float, None], freq_mhz: Optional[float] = None) -> Optional[float]:
    """``20ms`` / ``500us`` / ``0.1s`` / ``2e6cycles`` -> milliseconds (cycles need ``freq_mhz``)."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        return float(text)
    t = str(text).strip().lower().replace(" ", "")
    try:
        if t.endswith("cycles"):
            if not freq_mhz:
                raise QFormatError("budget", str(text), "a budget in cycles needs a single-core target")
            return float(t[:-6]) / (freq_mhz * 1e3)
        for suf, mult in (("ms", 1.0), ("us", 1e-3), ("µs", 1e-3), ("ns", 1e-6), ("s", 1e3)):
            if t.endswith(suf):
                return float(t[: -len(suf)]) * mult
        return float(t)
    except ValueError:
        raise QFormatError("budget", str(text), "not a latency (e.g. 20ms, 500us, 2e6cycles)") from None
