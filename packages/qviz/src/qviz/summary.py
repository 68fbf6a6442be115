"""One summary row per artifact: what it is, how big, who wrote it, its key facts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .style import fmt_bytes


def _facts(prov: dict) -> str:
    parts = []
    for k in ("dataset", "seed"):
        if k in prov:
            parts.append(f"{k} {prov[k]}")
    m = prov.get("metrics")
    if isinstance(m, dict):
        for k, v in list(m.items())[:4]:
            parts.append(f"{k} {v:.4g}" if isinstance(v, (int, float)) else f"{k} {v}")
    return "; ".join(parts)


def describe(art: Any) -> dict[str, str]:
    """``{kind, what, size, tool, created, facts}`` for the report's summary table."""
    prov = dict(getattr(art, "provenance", {}) or {})
    tool = str(prov.get("tool", ""))
    if prov.get("tool_version"):
        tool += f" {prov['tool_version']}"
    row = {"kind": art.kind, "what": "", "size": "", "tool": tool, "created": str(prov.get("created", "")),
           "facts": _facts(prov)}
    if art.kind == "model":
        comp = art.compute_layers()
        params = 0
        for lay in comp:
            try:
                from qformat import weight_shape

                params += int(np.prod(weight_shape(lay)))
            except Exception:
                pass
        shape = "x".join(str(d) for d in art.input_shape) if art.layers and art.layers[0].op == "input" else "?"
        row["what"] = (f"{len(art.layers)} layers ({len(comp)} compute), input {shape}, "
                       f"{'quantized' if art.is_quantized() else 'float'}")
        row["size"] = f"{params:,} parameters (fp32 {fmt_bytes(params * 4)})"
    elif art.kind == "precision_map":
        rules = art.rules()
        row["what"] = ", ".join(f"{k}={v['weight']}/{v['activation']}" for k, v in list(rules.items())[:6]) + \
            (" ..." if len(rules) > 6 else "")
        row["size"] = f"{len(rules)} rules"
    elif art.kind == "probe":
        row["what"] = f"activation statistics, {art.classes} classes"
        row["size"] = f"{len(art.sites())} sites, noise propagation for {len(art.noise_prop)} layers"
    elif art.kind == "table":
        row["kind"] = f"table {art.table_kind}"
        names = list(art.schema.names)
        row["what"] = "columns " + ", ".join(names[:10]) + (f" ... ({len(names)})" if len(names) > 10 else "")
        row["size"] = f"{art.num_rows:,} rows"
    else:  # pragma: no cover - future kinds
        row["what"] = json.dumps(prov)[:80]
    return row
