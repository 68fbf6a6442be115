"""qviz benchmark: drawing the accelerator sweep of all 106 neurons of the MNIST MLP.

The original analysis scripts wrote one 300-dpi PNG per neuron (3-D surfaces and a heat-map of
cycles over S x C) at about 3 s each. qviz draws (a) every neuron in one picture
(``sweep-neurons``), (b) one heat-map file per neuron from a single reused figure
(``qviz plot sweep-heatmap --neuron all -o DIR``), (c) the whole report of the pipeline's end.

The sweep table (106 neurons x S, C in 4..16 x 2 orders, 35,828 rows, the shape accelsim
writes) is synthesised with qviz.samples' closed form of the v0624 cycle model (accelsim is not
imported). Run: ``python bench/qviz_bench.py`` (prints figures, writes bench/out/qviz.json).
Set OMP_NUM_THREADS=1 for comparable numbers.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import best_of  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
JSON = ROOT / "examples" / "mnist_mlp_kmeans_pruned.json"
ORIGINAL_S_PER_NEURON = 3.0     # the issue: the original scripts took about 3 s per neuron picture


def _best(fn, repeat: int = 3) -> float:
    return best_of(fn, repeat)


def main(out: Path | None = None) -> list[dict]:
    t0 = time.perf_counter()
    import qformat as qf
    import qviz
    import qviz.samples as samples
    from qviz.plots.accelsim import write_each_neuron

    t_import = time.perf_counter() - t0
    mats = {k[: -len(".weight")]: np.asarray(v, dtype=np.float64) + 0.0 for k, v in json.loads(JSON.read_text()).items()}
    t0 = time.perf_counter()
    sweep = samples.sweep_table(mats)
    t_table = time.perf_counter() - t0
    n = sum(m.shape[0] for m in mats.values())
    figures: list[dict] = []

    def fig(name, value, unit, against=""):
        figures.append({"name": name, "value": value, "unit": unit, "compared_against": against})
        print(f"{name:62s} {value:>12,.4g} {unit:8s} {against}")

    fig("neurons in the sweep", n, "neurons")
    fig("sweep rows (S, C 4..16 x 2 orders)", sweep.num_rows, "rows")
    fig("import qviz (matplotlib included)", t_import, "s")
    fig("synthesise the sweep table (closed form, not timed below)", t_table, "s")

    def mosaic(fmt, dpi):
        f = qviz.draw("sweep-neurons", sweep)
        return qviz.figure_bytes(f, fmt, dpi)

    original = n * ORIGINAL_S_PER_NEURON
    for fmt, dpi in (("png", 100), ("png", 300), ("svg", 100)):
        t = _best(lambda fmt=fmt, dpi=dpi: mosaic(fmt, dpi))
        fig(f"sweep-neurons, all {n} neurons x 2 orders, one {fmt.upper()} @ {dpi} dpi", t, "s",
            f"original ~{original:.0f} s ({ORIGINAL_S_PER_NEURON:g} s x {n} neurons): {original / t:,.0f}x faster")
    with tempfile.TemporaryDirectory() as d:
        for dpi in (100, 300):
            t = _best(lambda dpi=dpi: write_each_neuron(sweep, Path(d) / str(dpi), fmt="png", dpi=dpi,
                                                        order="sequential"), repeat=1)
            files = len(list((Path(d) / str(dpi)).rglob("*.png")))
            fig(f"sweep-heatmap --neuron all: {files} PNG files @ {dpi} dpi", t, "s",
                f"original ~{files * ORIGINAL_S_PER_NEURON:.0f} s: {files * ORIGINAL_S_PER_NEURON / t:,.0f}x faster")
            fig(f"  per neuron file @ {dpi} dpi", t / files, "s", f"original ~{ORIGINAL_S_PER_NEURON:g} s")
    for kind, opts in (("sweep-heatmap", {}), ("sweep-surface", {"layer": "network.0"}),
                       ("sweep-heatmap", {"layer": "network.0", "neuron": "0"})):
        t = _best(lambda kind=kind, opts=opts: qviz.figure_bytes(qviz.draw(kind, sweep, **opts), "png", 100))
        fig(f"{kind} {opts or '(layer totals, 3 layers x 2 orders)'} PNG @ 100 dpi", t, "s")
    from qformat.importers import import_kmeans_json

    bundle = qf.Bundle([import_kmeans_json(JSON), sweep, samples.range_table(sweep)])
    t = _best(lambda: qviz.build_html(bundle), repeat=1)
    items = qviz.auto(bundle)
    fig(f"report: MNIST model + sweep + range ({sum(i.figure is not None for i in items)} plots, HTML)", t, "s")

    info = {"python": platform.python_version(), "machine": platform.machine(),
            "matplotlib": __import__("matplotlib").__version__, "numpy": np.__version__}
    out = out or ROOT / "bench" / "out" / "qviz.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tool": "qviz", "env": info, "figures": figures}, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
