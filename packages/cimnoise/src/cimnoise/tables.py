"""The Arrow tables cimnoise writes (``qformat.Table`` with a ``table_kind``).

Column meanings are documented in the README; every table carries the
provenance (tool, version, seed, hardware config) in its schema metadata.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Optional

import pyarrow as pa

import qformat as qf

from . import __version__

COMPONENT_COLUMNS = ("var_weight_quant", "var_input_quant", "var_read_noise", "var_programming", "var_adc_thermal", "var_adc")

_F = pa.float64()
LAYER_FIELDS = [
    ("layer", pa.string()), ("kind", pa.string()), ("op", pa.string()), ("rows", pa.int64()), ("cols", pa.int64()),
    ("tiles", pa.int64()), ("topology", pa.string()), ("config", pa.string()),
    ("input_range", _F), ("adc_lo", pa.list_(_F)), ("adc_hi", pa.list_(_F)),
    ("signal_power", _F), ("noise_power", _F), ("snr_db", _F),
]
ESTIMATE_SCHEMA = pa.schema(LAYER_FIELDS + [(c, _F) for c in COMPONENT_COLUMNS] + [
    ("logit_noise", _F), ("acc_clean", _F), ("acc_est", _F), ("acc_drop_est", _F), ("seconds", _F)])
SIMULATE_SCHEMA = pa.schema(LAYER_FIELDS + [
    ("logit_noise", _F), ("snr_db_propagated", _F), ("acc_clean", _F), ("acc_noisy", _F), ("acc_drop", _F),
    ("samples", pa.int64()), ("source", pa.string()), ("seconds", _F)])
CALIBRATION_SCHEMA = pa.schema([
    ("layer", pa.string()), ("topology", pa.string()), ("input_range", _F), ("input_signed", pa.bool_()),
    ("adc_lo", pa.list_(_F)), ("adc_hi", pa.list_(_F)), ("input_method", pa.string()), ("adc_method", pa.string()),
    ("source", pa.string())])
GRID_FIELDS = [
    ("input_bits", pa.int64()), ("weight_bits", pa.int64()), ("read_noise", _F), ("programming_error", _F),
    ("encoding", pa.string()), ("weight_slices", pa.int64()), ("input_slice_bits", pa.int64()), ("adc_bits", pa.int64()),
    ("adc_noise", _F), ("on_off_ratio", _F), ("rows", pa.int64())]
SWEEP_SCHEMA = pa.schema([("trial", pa.int64())] + GRID_FIELDS + [
    ("snr_db", _F), ("snr_first_db", _F), ("acc_drop_est", _F), ("layer_names", pa.list_(pa.string())),
    ("layer_snr_db", pa.list_(_F)), ("seconds", _F)])
VALIDATE_SCHEMA = pa.schema([("trial", pa.int64())] + GRID_FIELDS + [
    ("layer", pa.string()), ("kind", pa.string()), ("est_noise", _F), ("mc_noise", _F), ("diff_db", _F),
    ("within_1db", pa.bool_()), ("est_snr_db", _F), ("mc_snr_db", _F), ("est_seconds", _F), ("mc_seconds", _F)])


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None if math.isnan(v) else v
    return v


def make_table(rows: Iterable[dict], schema: pa.Schema, table_kind: str, provenance: Optional[dict] = None) -> qf.Table:
    """Rows (dicts; missing keys are null) to a qformat Table of ``schema``."""
    rows = list(rows)
    cols = {f.name: [_clean(r.get(f.name)) for r in rows] for f in schema}
    prov = {"tool": "cimnoise", "tool_version": __version__}
    prov.update(provenance or {})
    return qf.Table(pa.table(cols, schema=schema), table_kind=table_kind, provenance=prov)


def grid_values(cfg) -> dict:
    """The grid columns of a crossbar config."""
    return {"input_bits": cfg.input_bits, "weight_bits": cfg.weight_bits, "read_noise": cfg.read_noise,
            "programming_error": cfg.programming_error, "encoding": cfg.encoding, "weight_slices": cfg.weight_slices,
            "input_slice_bits": cfg.input_slice_bits, "adc_bits": cfg.adc_bits, "adc_noise": cfg.adc_noise,
            "on_off_ratio": cfg.on_off_ratio if cfg.on_off_ratio is not None else math.inf, "rows": cfg.rows}


def format_text(table: qf.Table, columns: list[str]) -> str:
    """A fixed-width text rendering of some columns (for terminals and ``--format text``)."""
    data = table.to_pylist()
    cells = [[c for c in columns]]
    for r in data:
        row = []
        for c in columns:
            v = r.get(c)
            if v is None:
                row.append("-")
            elif isinstance(v, float):
                row.append(f"{v:.4g}" if abs(v) < 1e4 and (abs(v) >= 1e-3 or v == 0) else f"{v:.3e}")
            elif isinstance(v, list):
                row.append(",".join(f"{x:.3g}" if isinstance(x, float) else str(x) for x in v))
            else:
                row.append(str(v))
        cells.append(row)
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(x.rjust(w) if j else x.ljust(w) for j, (x, w) in enumerate(zip(r, widths))) for r in cells) + "\n"
