"""Find the columns a plot needs in a table, tolerating the usual spellings.

Every role (``cycles``, ``accuracy``, ``latency`` ...) has a canonical name and
aliases; :class:`Columns` resolves roles to the table's real column names and
raises :class:`~qviz.errors.MissingColumns` naming every role it could not find.
Units come from the column's Arrow field metadata (``unit``), else from a unit
suffix of the name (``latency_ms``), else from the role's default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Optional

import numpy as np

from .errors import MissingColumns

#: role -> accepted column names (first = canonical, shown in error messages)
ALIASES: dict[str, tuple[str, ...]] = {
    "layer": ("layer", "layer_name"),
    "neuron": ("neuron", "neuron_index", "channel"),
    "S": ("S", "segments", "s"),
    "C": ("C", "containers", "c"),
    "order": ("order",),
    "semantics": ("semantics",),
    "cycles": ("cycles", "cycle_count", "total_cycles"),
    "status": ("status",),
    "min": ("min", "cycles_min", "min_cycles"),
    "mean": ("mean", "cycles_mean", "mean_cycles"),
    "max": ("max", "cycles_max", "max_cycles"),
    "total": ("total", "cycles_total", "total_cycles", "sum"),
    "cycle": ("cycle", "clk", "clock"),
    "group": ("group", "current_group", "next_group_index"),
    "target": ("target", "variant", "isa"),
    "instructions": ("instructions", "instret", "n_instructions"),
    "code_bytes": ("code_bytes", "text_bytes"),
    "data_bytes": ("data_bytes", "weight_bytes"),
    "speedup": ("speedup", "speed_up"),
    "accuracy": ("accuracy", "acc", "top1", "val_accuracy", "test_accuracy"),
    "latency": ("latency", "latency_ms", "latency_us", "latency_cycles", "cycles"),
    "peak_ram": ("peak_ram", "peak_ram_bytes", "ram", "ram_bytes", "peak_ram_kib"),
    "flash": ("flash", "flash_bytes", "rom", "flash_kib"),
    "bitops": ("bitops", "bops", "bit_ops"),
    "chosen": ("chosen", "selected", "is_chosen"),
    "epoch": ("epoch", "epochs"),
    "temperature": ("temperature", "tau", "temp"),
    "option": ("option", "precision", "choice"),
    "probability": ("probability", "prob", "p", "alpha_prob"),
    "snr_db": ("snr_db", "snr", "snr_dB", "snr_est_db", "snr_estimate_db", "snr_sim_db", "snr_mc_db"),
    "estimate_db": ("estimate_db", "snr_est_db", "snr_estimate_db", "est_snr_db", "snr_estimate", "estimate"),
    "mc_db": ("mc_db", "snr_mc_db", "snr_sim_db", "mc_snr_db", "snr_simulate_db", "snr_monte_carlo_db",
              "monte_carlo_db", "simulated_db", "simulate_db"),
    "diff_db": ("diff_db", "difference_db", "delta_db", "error_db"),
    "idle": ("idle", "en_idle", "en0", "n_idle", "idle_lanes"),
    "immediate": ("immediate", "en_immediate", "en1", "n_immediate", "immediate_lanes"),
    "delayed": ("delayed", "en_delayed", "en_gt1", "n_delayed", "delayed_lanes"),
    "infeasible": ("infeasible", "skipped", "n_infeasible"),
    "level": ("level",),
    "utilization": ("utilization", "util", "container_utilization", "utilisation"),
}

#: default unit of a role when the table does not say (None: no unit)
DEFAULT_UNITS: dict[str, Optional[str]] = {
    "cycles": "cycles", "min": "cycles", "mean": "cycles", "max": "cycles", "total": "cycles",
    "peak_ram": "bytes", "flash": "bytes", "code_bytes": "bytes", "data_bytes": "bytes",
    "bitops": "BOPs", "snr_db": "dB", "estimate_db": "dB", "mc_db": "dB", "diff_db": "dB",
    "temperature": None, "accuracy": None, "latency": None,
}

#: units the producing tool documents but does not (yet) put in field metadata: (table kind prefix, role) -> unit
KIND_UNITS: dict[tuple[str, str], str] = {("qsearch.", "latency"): "ms"}

_SUFFIX_UNITS = {"ms": "ms", "us": "µs", "s": "s", "bytes": "bytes", "kib": "KiB", "kb": "kB", "mib": "MiB",
                 "cycles": "cycles", "db": "dB", "pct": "%", "percent": "%"}

PRETTY = {
    "accuracy": "accuracy", "latency": "latency", "peak_ram": "peak RAM", "flash": "flash",
    "bitops": "bit operations", "cycles": "cycles", "snr_db": "SNR",
}


def table_label(table: Any) -> str:
    """How error messages name a table: ``table accelsim.sweep``."""
    return f"table {getattr(table, 'table_kind', 'table')}"


class Columns:
    """Role-based access to one table's columns (numpy arrays, nulls as NaN / None)."""

    def __init__(self, table: Any, plot: str):
        self.table = table
        self.plot = plot
        self.names: list[str] = list(table.schema.names)
        self._lower = {n.lower(): n for n in self.names}
        self._cache: dict[str, np.ndarray] = {}

    # -- resolution -----------------------------------------------------------
    def find(self, role: str) -> Optional[str]:
        """The table's column for ``role`` (exact alias first, then case-insensitive), or None."""
        for alias in ALIASES.get(role, (role,)):
            if alias in self.names:
                return alias
        for alias in ALIASES.get(role, (role,)):
            if alias.lower() in self._lower:
                return self._lower[alias.lower()]
        return None

    def has(self, *roles: str) -> bool:
        return all(self.find(r) is not None for r in roles)

    def require(self, *roles: str) -> dict[str, str]:
        """Resolve every role or raise :class:`MissingColumns` listing all that are absent."""
        found, missing = {}, []
        for r in roles:
            name = self.find(r)
            if name is None:
                missing.append(ALIASES.get(r, (r,))[0])
            else:
                found[r] = name
        if missing:
            raise MissingColumns(table_label(self.table), self.plot, missing, self.names)
        return found

    # -- data -----------------------------------------------------------------
    def raw(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self.table.column(name).to_numpy(zero_copy_only=False)
        return self._cache[name]

    def get(self, role: str) -> np.ndarray:
        """The column for ``role`` (must exist: call :meth:`require` first)."""
        name = self.find(role)
        if name is None:
            raise MissingColumns(table_label(self.table), self.plot, [ALIASES.get(role, (role,))[0]], self.names)
        return self.raw(name)

    def floats(self, role: str) -> np.ndarray:
        """A numeric column as float64 with nulls as NaN."""
        a = self.get(role)
        if a.dtype == object:
            return np.array([np.nan if v is None else float(v) for v in a], dtype=np.float64)
        return a.astype(np.float64)

    def strings(self, role: str) -> np.ndarray:
        """A column as an array of str (nulls as '')."""
        a = self.get(role)
        return np.array(["" if v is None else str(v) for v in a], dtype=object)

    def bools(self, role: str) -> np.ndarray:
        a = self.get(role)
        if a.dtype == bool:
            return a
        return np.array([bool(v) and v not in ("false", "False", "0", 0) for v in a], dtype=bool)

    def unit(self, role: str) -> Optional[str]:
        """The unit of a role's column: field metadata, a name suffix, or the role's default."""
        name = self.find(role)
        if name is not None:
            field = self.table.schema.field(name)
            md = field.metadata or {}
            for key in (b"unit", b"units"):
                if key in md:
                    return md[key].decode()
            m = re.search(r"_([A-Za-z]+)$", name)
            if m and m.group(1).lower() in _SUFFIX_UNITS and name.lower() != role.lower():
                return _SUFFIX_UNITS[m.group(1).lower()]
            kind = str(getattr(self.table, "table_kind", ""))
            for (prefix, r), u in KIND_UNITS.items():
                if r == role and kind.startswith(prefix) and name == role:
                    return u
        return DEFAULT_UNITS.get(role)

    def label(self, role: str, pretty: Optional[str] = None) -> str:
        """An axis label with the unit: ``latency (ms)``."""
        text = pretty or PRETTY.get(role, role)
        u = self.unit(role)
        return f"{text} ({u})" if u else text


def select_rows(cols: Columns, n: int, wanted: dict[str, Optional[Any]]) -> tuple[np.ndarray, list[str]]:
    """Rows whose column for each role equals the wanted value (the first value present when the wanted
    value is None); roles the table lacks are ignored. Returns the mask and ``role=value`` strings of
    the choices made among several values (for titles)."""
    from .errors import CannotPlot

    mask = np.ones(n, dtype=bool)
    chosen = []
    for role, want in wanted.items():
        if not cols.has(role):
            continue
        vals = cols.strings(role)
        present = unique_in_order(vals[mask])
        if want is None:
            if not present:
                continue
            pick = present[0]
        else:
            pick = str(want)
            if pick not in present:
                raise CannotPlot(table_label(cols.table), role,
                                 f"no rows with {role} {pick!r} (present: {', '.join(map(str, present))})")
        mask &= vals == pick
        if len(present) > 1 or want is not None:
            chosen.append(f"{role}={pick}")
    return mask, chosen


def unique_in_order(values: Iterable) -> list:
    """Distinct values in first-seen order."""
    seen: dict = {}
    for v in values:
        if v not in seen:
            seen[v] = None
    return list(seen)


def natural_key(text: str):
    """Sort key putting ``layer2`` before ``layer10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]
