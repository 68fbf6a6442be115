"""Print the demo's short summary from the bundle at the end of the pipeline."""

from __future__ import annotations

import sys

import qformat as qf


def kib(n) -> str:
    return f"{n / 1024:.1f} KiB"


def main(path: str) -> int:
    b = qf.read_bundle(path)
    lines = ["", "qstack demo summary (digits, small CNN)", "-" * 60]
    models = b.of_kind("model")
    quant = next((m for m in reversed(models) if m.is_quantized()), None)
    flt = next((m for m in models if not m.is_quantized()), None)
    ref = (quant.provenance.get("reference", {}) if quant is not None else {}) or {}
    f_acc = ref.get("test_accuracy") or (flt.provenance.get("metrics", {}).get("test_acc") if flt else None)
    trials = b.tables("qsearch.trials")
    if trials:
        t = trials[0].to_pandas()
        c = t[t["chosen"]].iloc[-1]
        pm = b.find("precision_map")
        rules = ", ".join(f"{k}={v['weight']}" for k, v in pm.rules().items()) if pm else c["precisions"]
        lines.append(f"precision map           {rules}")
        lines.append(f"test accuracy           float {f_acc:.2%} -> quantized {c['test_accuracy']:.2%} "
                     f"(integer-only {c['int_test_accuracy']:.2%})")
        lines.append(f"weight bytes            {kib(c['weight_bytes'])} ({c['compression']:.2f}x smaller than fp32)")
        lines.append(f"peak RAM                {kib(c['peak_ram'])} (set by {c['peak_layer']}); flash {kib(c['flash'])}")
        lines.append(f"MCU latency (model)     {c['latency']:.3f} ms")
    sweep = b.tables("accelsim.sweep")
    if sweep:
        s = sweep[0].to_pandas()
        s = s[(s["semantics"] == "v0624") & (s["order"] == "sequential")]
        head = "accelerator cycles"
        for layer, g in s.groupby("layer", sort=False):
            tot = g.groupby(["S", "C"])["cycles"].agg(lambda v: v.sum() if v.notna().all() else None).dropna()
            if len(tot):
                S, C = tot.idxmin()
                lines.append(f"{head:<24}{layer}: {int(tot[(S, C)]):,} at S{S}/C{C} (best of the S x C grid)")
            else:
                lines.append(f"{head:<24}{layer}: infeasible up to C={g['C'].max()} "
                             f"(neurons use up to {int(g['distinct'].max())} distinct weight values)")
            head = ""
    bench = b.tables("ibexgen.bench")
    if bench:
        t = bench[0].to_pandas()
        tot = t[t["layer"] == "total"].set_index("target")
        parts = [f"{k} {int(v):,}" for k, v in tot["cycles"].items()]
        lines.append(f"Ibex cycles             {', '.join(parts)}")
        if "xmpq" in tot.index:
            lines.append(f"                        xmpq speed-up {tot.loc['xmpq', 'speedup']:.1f}x; bit-exact: {bool(t['bit_exact'].all())}")
    est = b.tables("cimnoise.estimate")
    if est:
        e = est[0].to_pandas()
        net = e[e[e.columns[0]].astype(str).str.contains("network|total|\\*", regex=True)]
        col = next((c for c in e.columns if "snr" in c.lower() and "db" in c.lower()), None)
        if col is not None and len(net):
            lines.append(f"crossbar network SNR    {float(net[col].iloc[0]):.1f} dB (statistical estimate)")
        drop = next((c for c in e.columns if "drop" in c.lower()), None)
        if drop is not None and len(net) and net[drop].notna().any():
            lines.append(f"                        estimated accuracy drop {float(net[drop].iloc[0]):.2%}")
    lines.append("-" * 60)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
