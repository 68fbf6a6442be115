"""``qsearch cost``: which precision each layer has, and the report in text, JSON or a qformat table."""

from __future__ import annotations

from typing import Any, Optional

import pyarrow as pa

import qformat as qf
from qformat import LayerPrecision, Precision

from .cost.model import CostModel
from .netinfo import NetInfo, packed_bytes
from .options import Option, OptionSpace, option_for
from .report import fmt_bytes

FP32 = Precision("float", 32)
BY_PRECISION = (32, 16, 8, 4, 2)


def _from_quant(lay) -> Optional[LayerPrecision]:
    q = lay.quant
    if q is None or q.weight is None:
        return None
    w = Precision("float", 16) if q.weight.scheme == "fp16" else Precision("int", q.weight.bits)
    if q.input is not None:
        a = Precision("int", q.input.bits)
    else:
        a = Precision("float", 16) if q.weight.scheme == "fp16" else FP32
    return LayerPrecision(w, a)


def layer_options(model: Any, net: NetInfo, bundle: Any, precision: Optional[str], map_path: Optional[str],
                  act: str = "int8") -> dict[str, Option]:
    """Each compute layer's option: ``--precision`` (uniform), ``--map``, the bundle's precision map,
    the model's own quantization, or fp32 (in that order)."""
    names = net.compute_names
    if precision:
        o = OptionSpace.parse([precision], act=act).options[0]
        return {n: o for n in names}
    pm = None
    if map_path:
        pm = qf.open(map_path, expect="precision_map")
    elif bundle is not None and bundle.find("precision_map") is not None:
        pm = bundle.first("precision_map")
    if pm is not None:
        res = pm.resolve_all(names)
        return {n: option_for(res.get(n, LayerPrecision(FP32, FP32)), act) for n in names}
    out = {}
    for n in names:
        lay = next(l for l in model.layers if l.name == n)
        lp = _from_quant(lay) or LayerPrecision(FP32, FP32)
        out[n] = option_for(lp, act)
    return out


def cost_report(cm: CostModel, assign: dict[str, str]) -> dict:
    """Totals and per-layer rows of one assignment (JSON-able)."""
    c = cm.evaluate(assign)
    totals = c.metrics()
    totals.update({"weights": cm.net.total_weights(), "float_weight_bytes": c.float_weight_bytes,
                   "peak_breakdown": [{"tensor": t, "bytes": b} for t, b in c.peak_breakdown],
                   "target": cm.describe_latency(), "memory": {"im2col_cols": cm.memory.im2col_cols}})
    if c.split:
        totals["dual_core_split"] = c.split
    layers = []
    for r in c.per_layer:
        li = cm.net[r["layer"]]
        row = {"layer": r["layer"], "op": r["op"], "precision": r.get("precision"), "macs": li.macs,
               "params": r.get("params", 0), "weight_bytes": r.get("weight_bytes", 0), "flash": r.get("flash", 0),
               "ram": r["ram"], "latency_ms": r["latency_ms"], "out_shape": "x".join(str(d) for d in li.out_shape)}
        if li.compute:
            row["weight_bytes_by_precision"] = {str(b): packed_bytes(li.weights, b) for b in BY_PRECISION}
        if c.split and r["layer"] in c.split:
            row["core_a_channels"] = c.split[r["layer"]]
        layers.append(row)
    return {"totals": totals, "layers": layers}


def cost_text(rep: dict) -> str:
    t = rep["totals"]
    lines = [f"{'layer':<24}{'op':<8}{'prec':<10}{'out':>12}{'MACs':>12}{'params':>10}{'w bytes':>10}"
             f"{'flash':>10}{'RAM':>10}{'ms':>10}"]
    for r in rep["layers"]:
        lines.append(f"{r['layer'][:23]:<24}{r['op']:<8}{(r['precision'] or '-'):<10}{r['out_shape']:>12}{r['macs']:>12,}"
                     f"{r['params']:>10,}{r['weight_bytes']:>10,}{r['flash']:>10,}{r['ram']:>10,}{r['latency_ms']:>10.4f}")
    tgt = t["target"]
    lines += [
        f"MACs {t['macs']:,}   params {t['params']:,} (weights {t['weights']:,})",
        f"weight bytes {t['weight_bytes']:,} ({fmt_bytes(t['weight_bytes'])}; {t['compression']:.2f}x smaller than fp32)"
        f"   flash {t['flash']:,} ({fmt_bytes(t['flash'])})",
        f"peak RAM {t['peak_ram']:,} ({fmt_bytes(t['peak_ram'])}) at layer {t['peak_layer']}: "
        + " + ".join(f"{b['tensor']} {b['bytes']:,}" for b in t["peak_breakdown"]),
        f"latency {t['latency_ms']:.4f} ms on {describe_target(tgt)}   bit-ops {t['bitops']:,}",
    ]
    return "\n".join(lines)


def describe_target(t: dict) -> str:
    """``m7 @ 480 MHz (stm32h7.csv)`` or the two cores of a dual-core target."""
    if "dual_core" in t:
        a, b = t["dual_core"]
        return f"{describe_target(a)} + {describe_target(b)} (channel split, sync {t['sync_us']:g} us)"
    return f"{t['core']} @ {t['freq_mhz']:g} MHz ({t['table']})"


def cost_table(rep: dict) -> qf.Table:
    """The per-layer report as a ``qsearch.cost`` table (totals in provenance); ``weight_bytes_<p>``
    columns give each layer's packed weight bytes at fp32, fp16, int8, int4 and int2."""
    rows = rep["layers"]
    by = [(f"weight_bytes_{'fp' if b >= 16 else 'int'}{b}", b) for b in BY_PRECISION]
    schema = pa.schema([("layer", pa.string()), ("op", pa.string()), ("precision", pa.string()), ("out_shape", pa.string()),
                        ("macs", pa.int64()), ("params", pa.int64()), ("weight_bytes", pa.int64()), ("flash", pa.int64()),
                        ("ram", pa.int64()), ("latency_ms", pa.float64())] + [(n, pa.int64()) for n, _ in by])
    rows = [dict(r, **{n: r.get("weight_bytes_by_precision", {}).get(str(b), 0) for n, b in by}) for r in rows]
    data = {f.name: [r.get(f.name) for r in rows] for f in schema}
    totals = {k: v for k, v in rep["totals"].items()}
    return qf.Table(pa.Table.from_pydict(data, schema=schema), table_kind="qsearch.cost",
                    provenance={"tool": "qsearch", "totals": totals})
