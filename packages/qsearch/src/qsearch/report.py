"""What qsearch says and writes: progress on stderr, the human summary, and the two tables.

Tables (schemas documented in the README; ``qformat.kind = table``):

* ``qsearch.trials`` - one row per evaluated candidate (:data:`TRIAL_FIELDS`,
  plus ``measured_*`` columns when a ``--cost-cmd`` was used).
* ``qsearch.dnas_history`` - one row per DNAS epoch (:data:`HISTORY_FIELDS`);
  ``probs`` is a list (layers, in the order of ``provenance.layers``) of lists
  (options, in the order of ``provenance.options``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional, TextIO

import pyarrow as pa

import qformat as qf

TRIAL_FIELDS = [
    ("candidate", pa.string()), ("method", pa.string()), ("stage", pa.string()), ("precisions", pa.string()),
    ("accuracy", pa.float64()), ("test_accuracy", pa.float64()), ("int_test_accuracy", pa.float64()),
    ("latency", pa.float64()), ("peak_ram", pa.int64()), ("peak_layer", pa.string()), ("flash", pa.int64()),
    ("weight_bytes", pa.int64()), ("compression", pa.float64()), ("bitops", pa.int64()), ("split", pa.string()),
    ("qualifies", pa.bool_()), ("chosen", pa.bool_()), ("pareto", pa.bool_()), ("pareto_latency", pa.bool_()),
    ("pareto_peak_ram", pa.bool_()), ("pareto_flash", pa.bool_()), ("pareto_bitops", pa.bool_()),
    ("eval_seconds", pa.float64()),
]

HISTORY_FIELDS = [
    ("epoch", pa.int32()), ("temperature", pa.float64()), ("loss", pa.float64()), ("ce", pa.float64()),
    ("penalty", pa.float64()), ("train_acc", pa.float64()), ("val_acc", pa.float64()), ("alpha_search", pa.bool_()),
    ("expected_latency_ms", pa.float64()), ("expected_weight_bytes", pa.float64()), ("expected_flash", pa.float64()),
    ("expected_bitops", pa.float64()), ("expected_peak_ram", pa.float64()),
    ("probs", pa.list_(pa.list_(pa.float64()))), ("argmax", pa.string()),
]


def trials_table(rows: Sequence[Mapping[str, Any]], provenance: dict) -> qf.Table:
    """The ``qsearch.trials`` table (extra ``measured_*`` columns are appended as float64)."""
    fields = list(TRIAL_FIELDS)
    extra = sorted({k for r in rows for k in r if k.startswith("measured_")})
    fields += [(k, pa.float64()) for k in extra]
    schema = pa.schema(fields)
    data = {name: [r.get(name) for r in rows] for name, _ in fields}
    return qf.Table(pa.Table.from_pydict(data, schema=schema), table_kind="qsearch.trials", provenance=provenance)


def history_table(history: Sequence[Mapping[str, Any]], provenance: dict) -> qf.Table:
    """The ``qsearch.dnas_history`` table (``lambda_<budget>`` columns appended when budgets were used)."""
    fields = list(HISTORY_FIELDS)
    extra = sorted({k for r in history for k in r if k.startswith("lambda_")})
    fields += [(k, pa.float64()) for k in extra]
    schema = pa.schema(fields)
    data = {name: [r.get(name) for r in history] for name, _ in fields}
    return qf.Table(pa.Table.from_pydict(data, schema=schema), table_kind="qsearch.dnas_history",
                    provenance=provenance)


def fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def fmt_time(s: float) -> str:
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


class Progress:
    """Progress lines on stderr: candidates done, best so far, time left (at most every ``every`` s)."""

    def __init__(self, label: str, total: int, workers: int = 1, stream: Optional[TextIO] = None,
                 quiet: bool = False, every: float = 1.0):
        self.label, self.total, self.workers = label, max(0, int(total)), max(1, int(workers))
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.every = every
        self.t0 = time.perf_counter()
        self.done = 0
        self.new = 0
        self._last = -1e9
        self.best = ""

    def log(self, line: str) -> None:
        if not self.quiet:
            self.stream.write(f"{self.label}: {line}\n")
            self.stream.flush()

    def step(self, n: int = 1, best: Optional[str] = None, fresh: bool = True, force: bool = False) -> None:
        """Count ``n`` finished candidates (``fresh``: evaluated now, not from a checkpoint)."""
        self.done += n
        if fresh:
            self.new += n
        if best:
            self.best = best
        now = time.perf_counter()
        if self.quiet or (now - self._last < self.every and not force and self.done < self.total):
            return
        self._last = now
        self.total = max(self.total, self.done)
        el = now - self.t0
        left = (el / self.new) * max(0, self.total - self.done) if self.new else 0.0
        self.stream.write(f"{self.label}: {self.done}/{self.total} candidates, best {self.best or '-'}, "
                          f"elapsed {fmt_time(el)}, ~{fmt_time(left)} left\n")
        self.stream.flush()


def summary_lines(method: str, layers: Sequence[str], assign: Mapping[str, str], final: Mapping[str, Any],
                  ref: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], split: Optional[Mapping[str, int]] = None,
                  notes: Sequence[str] = ()) -> list[str]:
    """The short human summary printed on stderr at the end of a search."""
    out = [f"qsearch {method}: chosen precision map ({len(layers)} layers)"]
    width = min(32, max((len(n) for n in layers), default=5))
    for n in layers:
        s = f"  {n[:width]:<{width}}  {assign[n]}"
        if split and n in split:
            s += f"   (core A: {split[n]} channels)"
        out.append(s)
    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"
    out.append(f"  accuracy: val {pct(final.get('accuracy'))}, test {pct(final.get('test_accuracy'))}"
               f", integer-only test {pct(final.get('int_test_accuracy'))}"
               f"  (float: val {pct(ref.get('val_accuracy'))}, test {pct(ref.get('test_accuracy'))})")
    out.append(f"  weight bytes {fmt_bytes(final.get('weight_bytes'))} ({final.get('compression', 0):.2f}x smaller than fp32), "
               f"flash {fmt_bytes(final.get('flash'))}, peak RAM {fmt_bytes(final.get('peak_ram'))} at "
               f"{final.get('peak_layer')}, latency {final.get('latency', 0):.4g} ms, bit-ops {final.get('bitops', 0):.3g}")
    front = [r for r in trials if r.get("pareto_latency")]
    joint = sum(1 for r in trials if r.get("pareto"))
    if front:
        out.append(f"  Pareto front accuracy vs latency ({len(front)} of {len(trials)} candidates; "
                   f"{joint} on the joint latency/RAM/flash/bit-ops front):")
        for r in sorted(front, key=lambda r: r["latency"])[:12]:
            acc = "-" if r.get("accuracy") is None else f"{100 * r['accuracy']:.2f}%"
            out.append(f"    {acc:>7}  {r['latency']:.4g} ms  RAM {fmt_bytes(r['peak_ram'])}  flash {fmt_bytes(r['flash'])}"
                       f"  [{r['precisions']}]{'  <- chosen' if r.get('chosen') else ''}")
        if len(front) > 12:
            out.append(f"    ... {len(front) - 12} more in the qsearch.trials table")
    out.extend(f"  note: {n}" for n in notes)
    return out
