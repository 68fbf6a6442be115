"""Instruction traces as a streamed Arrow table (table kind ``ibexgen.trace``).

One row per retired instruction: ``seq`` (retire index), ``pc``, ``insn``
(raw encoding, 16 or 32 bits), ``cycles`` (this instruction's cost),
``cycle`` (cycle count before it) and ``text`` (disassembly, dictionary
encoded: one string per distinct encoding, so a long trace stays small).
Batches are written as they come, so a trace of a billion instructions never
sits in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from .isa import decode, disasm

TRACE_KIND = "ibexgen.trace"
SCHEMA = pa.schema([
    ("seq", pa.uint64()), ("pc", pa.uint32()), ("insn", pa.uint32()), ("cycles", pa.uint32()),
    ("cycle", pa.uint64()), ("text", pa.dictionary(pa.int32(), pa.string())),
])


class TraceWriter:
    """Collects (pc, insn, cycles) chunks and streams them to ``dest``."""

    def __init__(self, dest: Any, provenance: dict | None = None, batch_rows: int = 1 << 16):
        import qformat as qf

        self._w = qf.TableStreamWriter(dest, SCHEMA, TRACE_KIND, provenance)
        self.seq = 0
        self.cycle = 0
        self.batch_rows = batch_rows
        self._pending: list[tuple[int, int, int]] = []
        self._text: dict[int, str] = {}

    # for the fast engine: whole numpy chunks
    def add_chunk(self, pc: np.ndarray, insn: np.ndarray, cycles: np.ndarray) -> None:
        n = len(pc)
        if not n:
            return
        uniq, inv = np.unique(insn, return_inverse=True)
        texts = [self._disasm(int(u)) for u in uniq]
        cyc = cycles.astype(np.uint64)
        start = np.empty(n, dtype=np.uint64)
        start[0] = self.cycle
        np.cumsum(cyc[:-1], out=start[1:])
        start[1:] += np.uint64(self.cycle)
        batch = pa.RecordBatch.from_arrays([
            pa.array(np.arange(self.seq, self.seq + n, dtype=np.uint64)), pa.array(pc.astype(np.uint32)),
            pa.array(insn.astype(np.uint32)), pa.array(cycles.astype(np.uint32)), pa.array(start),
            pa.DictionaryArray.from_arrays(pa.array(inv.astype(np.int32)), pa.array(texts, pa.string())),
        ], schema=SCHEMA)
        self._w.write_batch(batch)
        self.seq += n
        self.cycle += int(cyc.sum())

    # for the reference engine: one instruction at a time
    def add_one(self, pc: int, ins, cost: int) -> None:
        self._pending.append((pc, ins.raw, cost))
        if len(self._pending) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            arr = np.array(self._pending, dtype=np.uint64)
            self._pending = []
            self.add_chunk(arr[:, 0].astype(np.uint32), arr[:, 1].astype(np.uint32), arr[:, 2].astype(np.uint32))

    def close(self, ok: bool = True) -> None:
        if ok:
            self.flush()
        self._w.close(ok)

    def _disasm(self, raw: int) -> str:
        t = self._text.get(raw)
        if t is None:
            t = self._text[raw] = disasm(decode(raw))
        return t
