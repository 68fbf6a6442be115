"""Latency: lookup tables per (op type, shape class, precision, core), an analytical default, dual core.

A latency table has one row per key with three coefficients, so a row covers
every layer of that kind::

    cycles = cycles_fixed + cycles_per_mac * work + cycles_per_output * outputs

``work`` is the layer's MACs (for pools: window size x outputs; adds: 0) and
``outputs`` its output elements; ``freq_mhz`` converts cycles to time. Rows may
instead name one ``layer`` with its measured ``cycles`` (what ibexgen and
accelsim write); those win over the generic rows.

Lookup order for a compute layer ``(core, op, shape_class, precision)``:
exact layer row, then the op with ``shape_class`` then ``*``, then ``op=*``;
``precision`` falls back to ``*``. A compute layer nobody covers is an error
that names it; a non-compute layer (add, pool) nobody covers costs 0.

Shipped tables (``qsearch/cost/luts``): ``stm32h7.csv`` (cores ``m7`` at
480 MHz, ``m4`` at 240 MHz: CMSIS-NN-style kernels; no sub-byte SIMD, so
int4/int2 *cost* unpacking cycles) and ``ibex.csv`` (``ibex``: RV32IMC
baseline; ``ibex-mp``: with the mixed-precision MAC instructions). Their
coefficients are coarse figures calibrated against published cycle counts
(see the package README); measure your own with a back-end and load its table.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from qformat.errors import QFormatError

from ..netinfo import LayerInfo, packed_bytes
from ..options import Option

LUT_COLUMNS = ("core", "op", "shape_class", "precision", "cycles_fixed", "cycles_per_mac", "cycles_per_output",
               "freq_mhz")
SHIPPED = {"m7": "stm32h7.csv", "m4": "stm32h7.csv", "ibex": "ibex.csv", "ibex-mp": "ibex.csv"}
CYCLE_COLUMNS = ("cycles", "total_cycles", "latency_cycles", "cycles_mean")
PRECISION_COLUMNS = ("precision", "weight_precision")
BITS_COLUMNS = ("bits", "weight_bits", "wbits")


@dataclass(frozen=True)
class Row:
    core: str
    op: str
    shape_class: str
    precision: str
    cycles_fixed: float
    cycles_per_mac: float
    cycles_per_output: float
    freq_mhz: float
    layer: Optional[str] = None
    cycles: Optional[float] = None


def work(li: LayerInfo) -> int:
    """The MAC-like work count a table's ``cycles_per_mac`` multiplies."""
    if li.compute:
        return int(li.macs)
    if li.kind == "pool":
        if li.op == "global_avgpool":
            return li.in_elems
        return li.kernel[0] * li.kernel[1] * li.out_elems
    return 0


class LatencyTable:
    """Rows of a latency lookup table (generic per-kind rows and exact per-layer rows)."""

    def __init__(self, rows: Iterable[Row], source: str = "table"):
        self.rows = list(rows)
        self.source = source
        self._generic: dict[tuple[str, str, str, str], Row] = {}
        self._exact: dict[tuple[str, str, str], Row] = {}
        for r in self.rows:
            if r.layer:
                self._exact[(r.core, r.layer, r.precision)] = r
            else:
                self._generic[(r.core, r.op, r.shape_class, r.precision)] = r

    # ------------------------------------------------------------------ loading
    @classmethod
    def shipped(cls, name: str) -> LatencyTable:
        """A table shipped with qsearch by core (``m7``, ``m4``, ``ibex``, ``ibex-mp``) or file name."""
        fname = SHIPPED.get(name, name if name.endswith(".csv") else f"{name}.csv")
        try:
            text = resources.files("qsearch.cost").joinpath("luts", fname).read_text()
        except (FileNotFoundError, OSError):
            raise QFormatError("latency table", name, f"no shipped table (known cores: {', '.join(SHIPPED)})") from None
        return cls.from_records(list(csv.DictReader(io.StringIO(text))), source=fname)

    @classmethod
    def load(cls, src: str | Path, core: Optional[str] = None, freq_mhz: Optional[float] = None,
             select: Optional[Mapping[str, str]] = None) -> LatencyTable:
        """Read a table from CSV, Arrow IPC/Parquet or any qformat artifact holding a table.

        Tables without the LUT columns are read as back-end tables (``layer`` +
        cycles per layer and precision); ``core``/``freq_mhz`` label them.
        """
        p = Path(src)
        if not p.exists():
            raise QFormatError(str(src), "", "no such latency table")
        if p.suffix.lower() == ".csv":
            records = list(csv.DictReader(io.StringIO(p.read_text())))
        elif p.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            records = pq.read_table(p).to_pylist()
        else:
            records = _records_from_artifact(p)
        if not records:
            raise QFormatError(str(src), "", "the latency table is empty")
        if "cycles_per_mac" in records[0]:
            return cls.from_records(records, source=str(src))
        return cls.from_backend(records, core=core, freq_mhz=freq_mhz, select=select, source=str(src))

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]], source: str = "table") -> LatencyTable:
        rows = []
        for i, r in enumerate(records):
            try:
                layer = r.get("layer") or None
                cyc = r.get("cycles")
                rows.append(Row(str(r["core"]), str(r.get("op") or "*"), str(r.get("shape_class") or "*"),
                                str(r.get("precision") or "*"), float(r.get("cycles_fixed") or 0),
                                float(r.get("cycles_per_mac") or 0), float(r.get("cycles_per_output") or 0),
                                float(r["freq_mhz"]), layer,
                                float(cyc) if cyc not in (None, "") else None))
            except (KeyError, ValueError, TypeError) as e:
                raise QFormatError(source, f"row {i}", f"bad latency row ({e!r}); columns: {', '.join(LUT_COLUMNS)}") from None
            if rows[-1].freq_mhz <= 0:
                raise QFormatError(source, f"row {i}", "freq_mhz must be positive")
        return cls(rows, source)

    @classmethod
    def from_backend(cls, records: Sequence[Mapping[str, Any]], core: Optional[str] = None,
                     freq_mhz: Optional[float] = None, select: Optional[Mapping[str, str]] = None,
                     source: str = "table") -> LatencyTable:
        """Per-layer cycles from a back-end table (ibexgen: per layer and precision; accelsim: per layer and configuration).

        Recognised columns: ``layer``; cycles in one of ``cycles``,
        ``total_cycles``, ``latency_cycles``, ``cycles_mean``; precision in
        ``precision`` or bits in ``bits``/``weight_bits`` (``intN``; absent means
        any precision); optional ``core``. Every other column is a
        configuration: keep one with ``select={"S": "8", ...}``; a layer left
        with two rows for one precision is an error naming the columns.
        """
        if not records:
            raise QFormatError(source, "", "empty table")
        cols = list(records[0].keys())
        if "layer" not in cols:
            raise QFormatError(source, "", f"a back-end latency table needs a 'layer' column (has {cols})")
        cyc_col = next((c for c in CYCLE_COLUMNS if c in cols), None)
        if cyc_col is None:
            raise QFormatError(source, "", f"no cycles column (one of {', '.join(CYCLE_COLUMNS)}) in {cols}")
        prec_col = next((c for c in PRECISION_COLUMNS if c in cols), None)
        bits_col = next((c for c in BITS_COLUMNS if c in cols), None) if prec_col is None else None
        select = dict(select or {})
        for k in select:
            if k not in cols:
                raise QFormatError(source, k, f"--select names no column (columns: {cols})")
        used = {"layer", cyc_col, prec_col, bits_col, "core", "freq_mhz"}
        config_cols = [c for c in cols if c not in used]
        rows: dict[tuple[str, str, str], Row] = {}
        for r in records:
            if any(str(r.get(k)) != str(v) for k, v in select.items()):
                continue
            if prec_col:
                prec = str(r[prec_col])
            elif bits_col:
                prec = f"int{int(r[bits_col])}"
            else:
                prec = "*"
            c = str(r.get("core") or core or "backend")
            f = float(r.get("freq_mhz") or freq_mhz or 0) or None
            if f is None:
                raise QFormatError(source, "", "back-end table without freq_mhz: pass --freq-mhz")
            key = (c, str(r["layer"]), prec)
            if key in rows:
                varying = [k for k in config_cols if k not in select]
                raise QFormatError(source, f"layer {r['layer']!r}",
                                   f"several rows for precision {prec}: choose a configuration with --select "
                                   f"COLUMN=VALUE (columns: {', '.join(varying) or 'none'})")
            rows[key] = Row(c, "*", "*", prec, 0.0, 0.0, 0.0, f, str(r["layer"]), float(r[cyc_col]))
        if not rows:
            raise QFormatError(source, "", f"no row matches --select {select}")
        return cls(rows.values(), source)

    def cores(self) -> list[str]:
        return sorted({r.core for r in self.rows})

    def freq(self, core: str) -> float:
        for r in self.rows:
            if r.core == core:
                return r.freq_mhz
        raise QFormatError(self.source, core, f"no rows for core {core!r} (cores: {', '.join(self.cores())})")

    def merged(self, other: LatencyTable) -> LatencyTable:
        """This table's rows, then ``other``'s for keys this one lacks (``self`` wins)."""
        return LatencyTable(list(self.rows) + [r for r in other.rows if not self._has(r)], f"{self.source}+{other.source}")

    def _has(self, r: Row) -> bool:
        if r.layer:
            return (r.core, r.layer, r.precision) in self._exact
        return (r.core, r.op, r.shape_class, r.precision) in self._generic

    # ------------------------------------------------------------------ lookup
    def lookup(self, core: str, li: LayerInfo, precision: str) -> Optional[Row]:
        for prec in (precision, "*"):
            r = self._exact.get((core, li.name, prec))
            if r is not None:
                return r
        for op in (li.kind, "*"):
            for sc in (li.shape_class, "*"):
                for prec in (precision, "*"):
                    r = self._generic.get((core, op, sc, prec))
                    if r is not None:
                        return r
        return None

    def cycles(self, core: str, li: LayerInfo, opt: Optional[Option], fraction: float = 1.0) -> float:
        """Cycles of ``li`` at ``opt`` on ``core`` computing ``fraction`` of its output channels."""
        if fraction <= 0:
            return 0.0
        prec = str(opt.weight) if opt is not None else "*"
        r = self.lookup(core, li, prec)
        if r is None:
            if li.compute:
                raise QFormatError(self.source, f"layer {li.name!r}",
                                   f"no latency row for core={core} op={li.kind} shape={li.shape_class} precision={prec}")
            return 0.0
        if r.cycles is not None:
            return float(r.cycles) * fraction
        return r.cycles_fixed + fraction * (r.cycles_per_mac * work(li) + r.cycles_per_output * li.out_elems)

    def to_records(self) -> list[dict]:
        return [{"core": r.core, "op": r.op, "shape_class": r.shape_class, "precision": r.precision,
                 "cycles_fixed": r.cycles_fixed, "cycles_per_mac": r.cycles_per_mac,
                 "cycles_per_output": r.cycles_per_output, "freq_mhz": r.freq_mhz, "layer": r.layer or "",
                 "cycles": r.cycles} for r in self.rows]


def _records_from_artifact(p: Path) -> list[dict]:
    import qformat as qf

    obj = qf.open(str(p))
    tables = [obj] if getattr(obj, "kind", None) == "table" else [a for a in getattr(obj, "items", []) if
                                                                    getattr(a, "kind", None) == "table"]
    if not tables:
        raise QFormatError(str(p), "", "holds no table")
    return tables[0].to_pylist()


@dataclass(frozen=True)
class Analytical:
    """The analytical default: a 32-bit SIMD datapath and a memory roofline.

    ``compute = work / lanes`` with ``lanes = datapath_bits // max(wbits, abits)``
    (int8: 4 MACs/cycle, int4: 8, int2: 16, fp16: 2, fp32: 1);
    ``memory = (weight bytes + input bytes + output bytes) / bytes_per_cycle``,
    activations counted at the layer's input-activation width;
    ``cycles = max(compute, memory) + per_output * outputs + fixed``.
    Non-compute layers: memory only, at one byte per element.
    """

    datapath_bits: int = 32
    bytes_per_cycle: float = 4.0
    per_output: float = 1.0
    fixed: float = 50.0
    freq_mhz: float = 100.0
    core: str = "analytical"

    def cycles(self, core: str, li: LayerInfo, opt: Optional[Option], fraction: float = 1.0) -> float:
        if fraction <= 0:
            return 0.0
        if li.compute and opt is not None:
            lanes = max(1, self.datapath_bits // max(opt.wbits, opt.abits))
            compute = li.macs / lanes
            mem = (packed_bytes(li.weights, opt.wbits) + packed_bytes(li.in_elems, opt.abits)
                   + packed_bytes(li.out_elems, opt.abits)) / self.bytes_per_cycle
            return self.fixed + fraction * (max(compute, mem) + self.per_output * li.out_elems)
        if li.kind in ("add", "pool"):
            elems = sum(int(math.prod(s)) for s in li.in_shapes) + li.out_elems
            return self.fixed + fraction * elems / self.bytes_per_cycle
        return 0.0

    def freq(self, core: str) -> float:
        return self.freq_mhz

    def cores(self) -> list[str]:
        return [self.core]


class CoreLatency:
    """Latency of layers on one core of a table (or the analytical model)."""

    def __init__(self, table: LatencyTable | Analytical, core: str):
        self.table = table
        self.core = core
        if core not in table.cores():
            raise QFormatError(getattr(table, "source", "latency"), core,
                               f"no such core in the table (cores: {', '.join(table.cores())})")
        self.freq_mhz = table.freq(core)

    def cycles(self, li: LayerInfo, opt: Optional[Option], fraction: float = 1.0) -> float:
        return self.table.cycles(self.core, li, opt, fraction)

    def ms(self, li: LayerInfo, opt: Optional[Option], fraction: float = 1.0) -> float:
        return self.cycles(li, opt, fraction) / (self.freq_mhz * 1e3)

    def describe(self) -> dict:
        return {"core": self.core, "freq_mhz": self.freq_mhz, "table": getattr(self.table, "source", "analytical")}


class DualCore:
    """Two cores sharing each compute layer by output channels.

    Core A computes ``k`` of the layer's ``O`` output channels, core B the
    other ``O - k``; the layer takes ``max(t_A(k), t_B(O - k)) + sync`` (no
    sync when one core does it all). ``split`` chooses ``k`` per layer and
    precision to minimise that time, over multiples of ``step`` (and ``O``).
    Non-compute layers run on core A.
    """

    def __init__(self, a: CoreLatency, b: CoreLatency, sync_us: float = 5.0, step: int = 1):
        self.a, self.b = a, b
        self.sync_ms = float(sync_us) / 1e3
        self.step = max(1, int(step))

    def split(self, li: LayerInfo, opt: Optional[Option]) -> tuple[float, int]:
        """``(milliseconds, k)``: the best time of ``li`` at ``opt`` and core A's share of output channels."""
        if not li.compute:
            return self.a.ms(li, opt), -1
        o = li.out_channels
        ks = sorted(set(list(range(0, o + 1, self.step)) + [o]))
        best = (math.inf, o)
        for k in ks:
            ta = self.a.ms(li, opt, k / o)
            tb = self.b.ms(li, opt, (o - k) / o)
            t = max(ta, tb) + (self.sync_ms if 0 < k < o else 0.0)
            if t < best[0] - 1e-15:
                best = (t, k)
        return best

    def describe(self) -> dict:
        return {"dual_core": [self.a.describe(), self.b.describe()], "sync_us": self.sync_ms * 1e3, "step": self.step}


def make_latency(core: str = "m7", table: Optional[str] = None, core_b: Optional[str] = None,
                 table_b: Optional[str] = None, sync_us: float = 5.0, split_step: int = 1,
                 freq_mhz: Optional[float] = None, select: Optional[Mapping[str, str]] = None):
    """Build the latency model the CLI options describe.

    ``core`` names a shipped core (``m7``, ``m4``, ``ibex``, ``ibex-mp``) or
    ``analytical``; ``table`` a user table (CSV/Arrow/qformat; back-end tables
    fall back to the shipped rows of ``core`` for anything they lack).
    ``core_b`` adds a second core (dual-core channel split).
    """
    def one(c: str, t: Optional[str]) -> CoreLatency:
        if t is None:
            if c == "analytical":
                return CoreLatency(Analytical(freq_mhz=freq_mhz or 100.0), "analytical")
            return CoreLatency(LatencyTable.shipped(c), c)
        user = LatencyTable.load(t, core=c, freq_mhz=freq_mhz or _shipped_freq(c), select=select)
        if c in SHIPPED:
            user = user.merged(LatencyTable.shipped(c))
        return CoreLatency(user, c if c in user.cores() else user.cores()[0])

    a = one(core, table)
    if core_b:
        return DualCore(a, one(core_b, table_b), sync_us=sync_us, step=split_step)
    return a


def _shipped_freq(core: str) -> Optional[float]:
    if core in SHIPPED:
        return LatencyTable.shipped(core).freq(core)
    return None
