"""Table artifacts: any Arrow table with its kind, version and provenance in the schema."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from .spec import SPEC_VERSION


def table_schema_metadata(table_kind: str, provenance: dict | None, extra: dict | None = None) -> dict[bytes, bytes]:
    meta = {"kind": "table", "version": SPEC_VERSION, "table_kind": table_kind, "provenance": provenance or {}}
    if extra:
        meta.update(extra)
    return {b"qformat": json.dumps(meta, sort_keys=True, default=str).encode()}


class Table:
    """A qformat table: an Arrow table plus ``table_kind`` and ``provenance``.

    ``table_kind`` says what the rows are (``accelsim.sweep``, ``qsearch.trials``,
    ``ibexgen.bench``, ``cimnoise.estimate`` ...); consumers pick tables by it.
    """

    kind = "table"

    def __init__(self, data: Any, table_kind: str = "table", provenance: dict | None = None):
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        elif isinstance(data, dict):
            data = pa.table(data)
        elif not isinstance(data, pa.Table):
            try:
                import pandas as pd  # noqa: F401
                data = pa.Table.from_pandas(data, preserve_index=False)
            except Exception as e:  # pragma: no cover
                raise TypeError(f"cannot make a table from {type(data).__name__}") from e
        self.table_kind = table_kind
        self.provenance: dict[str, Any] = dict(provenance or {})
        # Keep the schema free of stale qformat metadata; it is re-added on write.
        md = dict(data.schema.metadata or {})
        md.pop(b"qformat", None)
        md.pop(b"pandas", None)
        self._table = data.replace_schema_metadata(md or None)

    @property
    def schema(self) -> pa.Schema:
        return self._table.schema

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    def to_arrow(self) -> pa.Table:
        """The table with qformat metadata in its schema (what is written)."""
        md = dict(self._table.schema.metadata or {})
        md.update(table_schema_metadata(self.table_kind, self.provenance))
        return self._table.replace_schema_metadata(md)

    def to_pandas(self):
        return self._table.to_pandas()

    def to_numpy(self) -> dict:
        """Columns as numpy arrays (nulls become NaN for numbers, None for objects)."""
        return {name: col.to_numpy(zero_copy_only=False) for name, col in zip(self._table.column_names, self._table.columns)}

    def to_pylist(self) -> list[dict]:
        return self._table.to_pylist()

    def column(self, name: str):
        return self._table.column(name)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Table) and self.table_kind == other.table_kind
                and self._table.equals(other._table))

    def __repr__(self) -> str:
        return f"Table({self.table_kind!r}, {self.num_rows} rows, columns={self._table.column_names})"
