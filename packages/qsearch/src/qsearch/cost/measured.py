"""Measured cost through a pipe: any back-end becomes a search objective.

``--cost-cmd "ibexgen bench -"`` runs that command once per candidate, writes
the candidate's quantized model artifact to its stdin (qformat stream form)
and reads a qformat table of costs from its stdout. qsearch never imports the
back-end. How the table becomes numbers (:func:`summarize`):

* a per-layer table (a ``layer`` column): every numeric column is summed over
  the rows (``cycles`` per layer or neuron -> total cycles), except columns
  equal on every row (configurations such as ``S=16``), kept as they are;
* otherwise the first row's numeric columns are taken as they are.

The numbers join the candidate's metrics prefixed ``measured_`` (e.g.
``measured_cycles``); a cycles column with a known clock also gives
``measured_latency_ms``. Results are cached by (command, model bytes).
"""

from __future__ import annotations

import hashlib
import numbers
import shlex
import subprocess
from typing import Any, Optional

from qformat.errors import QFormatError

from ..checkpoint import ResultCache

CYCLE_KEYS = ("cycles", "total_cycles", "latency_cycles", "cycles_mean")


def summarize(table: Any) -> dict[str, float]:
    """Total numeric costs of a qformat table (see module doc)."""
    rows = table.to_pylist()
    if not rows:
        raise QFormatError("--cost-cmd", "output", "the cost table is empty")
    numeric = [k for k, v in rows[0].items() if isinstance(v, numbers.Number) and not isinstance(v, bool)]
    if "layer" in rows[0]:
        out = {}
        for k in numeric:
            vals = [float(r[k] or 0) for r in rows]
            # a column equal on every row is a configuration (S=16), not a per-layer cost: keep it as is
            out[k] = vals[0] if len(rows) > 1 and all(v == vals[0] for v in vals) else float(sum(vals))
        return out
    return {k: float(rows[0][k]) for k in numeric}


def run_cost_cmd(cmd: str, model_bytes: bytes, timeout: float = 600.0) -> Any:
    """Run ``cmd`` with ``model_bytes`` on stdin; return the qformat table it printed."""
    import qformat as qf

    try:
        argv = shlex.split(cmd)
    except ValueError as e:
        raise QFormatError("--cost-cmd", cmd, f"cannot parse the command ({e})") from None
    if not argv:
        raise QFormatError("--cost-cmd", cmd, "empty command")
    try:
        proc = subprocess.run(argv, input=model_bytes, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise QFormatError("--cost-cmd", cmd, f"command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise QFormatError("--cost-cmd", cmd, f"no answer within {timeout:g} s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise QFormatError("--cost-cmd", cmd, f"exited with {proc.returncode}: {err[-1] if err else 'no message'}")
    try:
        obj = qf.from_bytes(proc.stdout, name="--cost-cmd output")
    except QFormatError as e:
        raise QFormatError("--cost-cmd", cmd, f"did not print a qformat table ({e.why})") from None
    if getattr(obj, "kind", None) == "table":
        return obj
    # Back-ends pass the bundle through and append their table: take the last one that is not qsearch's.
    tables = [a for a in getattr(obj, "items", []) if getattr(a, "kind", None) == "table"
              and not str(getattr(a, "table_kind", "")).startswith("qsearch.")]
    if not tables:
        raise QFormatError("--cost-cmd", cmd, "printed no table")
    return tables[-1]


def measure(cmd: str, model_bytes: bytes, freq_mhz: Optional[float] = None, cache: Optional[ResultCache] = None,
            timeout: float = 600.0) -> dict[str, float]:
    """Measured metrics of one candidate (cached by command and model bytes)."""
    key = ResultCache.key(cmd, hashlib.sha256(model_bytes).hexdigest(), freq_mhz)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    totals = summarize(run_cost_cmd(cmd, model_bytes, timeout))
    out = {f"measured_{k}": v for k, v in totals.items()}
    if "latency_ms" in totals:
        out["measured_latency_ms"] = totals["latency_ms"]
    elif freq_mhz:
        for k in CYCLE_KEYS:
            if k in totals:
                out["measured_latency_ms"] = totals[k] / (freq_mhz * 1e3)
                break
    if cache is not None:
        cache.put(key, out)
    return out
