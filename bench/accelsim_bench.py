"""accelsim benchmark: the full S x C x order x semantics grid on the MNIST MLP, the cycle-stepping
reference engine on a sample of the same cases (speed ratio), and a MobileNetV2-sized layer.

Run: ``python bench/accelsim_bench.py`` (prints figures, writes bench/out/accelsim.json).
Set OMP_NUM_THREADS=1 for comparable numbers.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
from _timing import best_of  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
JSON = ROOT / "examples" / "mnist_mlp_kmeans_pruned.json"
GRID = {"S": range(4, 17), "C": range(4, 17), "orders": ("sequential", "interleaved"), "semantics": ("v0624", "v0618")}


def _best(fn, repeat: int = 5) -> float:
    return best_of(fn, repeat)


def main(out: Path | None = None) -> list[dict]:
    from accelsim import reference as R
    from accelsim.fast import LayerData, simulate_layer
    from accelsim.tables import sweep_table

    mats = {k[: -len(".weight")]: np.asarray(v, dtype=np.float64) for k, v in json.loads(JSON.read_text()).items()}
    figures: list[dict] = []

    def fig(name, value, unit, against=""):
        figures.append({"name": name, "value": value, "unit": unit, "compared_against": against})
        print(f"{name:58s} {value:>14,.6g} {unit:10s} {against}")

    # 1. full grid, engine only (ids computed inside the timed region) and with the Arrow table
    def engine():
        return [simulate_layer(LayerData.from_weights(k, w), **GRID) for k, w in mats.items()]

    grids = engine()
    cases = sum(g.cycles[s].size for g in grids for s in g.semantics)
    t_engine = _best(engine)
    t_table = _best(lambda: sweep_table(engine()))
    fig("grid cases (S,C 4..16 x 2 orders x 2 semantics, 106 neurons)", cases, "cases")
    fig("grid time, fast engine", t_engine, "s")
    fig("grid throughput, fast engine", cases / t_engine, "cases/s")
    fig("grid time, fast engine + sweep table", t_table, "s")

    # 2. the cycle-stepping reference engine on a random sample of the same cases
    rng = random.Random(0)
    names = list(mats)
    sample = []
    for _ in range(400):
        k = rng.choice(names)
        sample.append((k, rng.randrange(mats[k].shape[0]), rng.randrange(4, 17), rng.randrange(4, 17),
                       rng.choice(GRID["orders"]), rng.choice(GRID["semantics"])))
    lookup = {g.layer.name: g for g in grids}
    t0 = time.perf_counter()
    agree = 0
    for k, o, S, C, order, sem in sample:
        ref = R.step(list(mats[k][o]), S, C, order, sem, trace=False).cycles
        g = lookup[k]
        got = int(g.cycles[sem][S - 4, GRID["orders"].index(order), C - 4, o])
        agree += (None if got < 0 else got) == ref
    t_ref = (time.perf_counter() - t0) / len(sample)
    fig("reference stepping engine, per case (sample of 400)", t_ref * 1e3, "ms/case")
    fig("reference engine, whole grid (extrapolated)", t_ref * cases, "s")
    fig("speed-up fast vs stepping engine", t_ref * cases / t_engine, "x", "reference engine on the same cases")
    fig("speed-up fast vs original (3.4 ms/case, from the issue)", 3.4e-3 * cases / t_engine, "x",
        "original combine_0624 per-cycle loop (quoted, not measured here)")
    fig("sample cases agreeing with the stepping engine", agree, f"of {len(sample)}")

    # 3. MobileNetV2-sized layer: the last 1x1 conv, 320 -> 1280 (1280 neurons of fan-in 320),
    #    int4 codes (<= 14 distinct non-zero values per neuron), half pruned
    r = np.random.default_rng(0)
    w = np.clip(np.round(r.normal(0, 2.5, size=(1280, 320))), -7, 7).astype(np.int64)
    w[r.random(w.shape) < 0.5] = 0
    big = LayerData.from_weights("conv_1x1_320x1280", w)
    one = lambda: simulate_layer(big, [16], [16], ("sequential",), ("v0624",))
    t_one = _best(one)
    fig("MobileNetV2 320x1280 int4 layer, one configuration (S16 C16)", t_one * 1e3, "ms")
    fig("  same, per neuron", t_one / 1280 * 1e6, "us/neuron")
    full = lambda: simulate_layer(big, **GRID)
    t_full = _best(full, 3)
    n_full = 2 * 13 * 13 * 2 * 1280
    fig("MobileNetV2 layer, full grid (676 configs x 2 semantics)", t_full, "s")
    fig("MobileNetV2 layer, full grid per (S, C, order, semantics)", t_full / (13 * 13 * 2 * 2) * 1e3, "ms/config")
    fig("MobileNetV2 layer, full grid throughput", n_full / t_full, "cases/s")
    t_imp = _best(lambda: simulate_layer(big, [16], [16], ("sequential",), ("improved",)))
    fig("MobileNetV2 layer, improved semantics, one configuration", t_imp * 1e3, "ms")
    refo = R.step(list(w[0]), 16, 16, "sequential", "v0624", trace=False)
    t0 = time.perf_counter()
    for o in range(20):
        R.step(list(w[o]), 16, 16, "sequential", "v0624", trace=False)
    t_ref_big = (time.perf_counter() - t0) / 20
    fig("MobileNetV2 layer, stepping engine per neuron (S16 C16)", t_ref_big * 1e3, "ms/neuron")
    fig("MobileNetV2 layer, speed-up one configuration", t_ref_big * 1280 / t_one, "x", "stepping engine")
    assert refo.cycles == int(one().cycles["v0624"][0, 0, 0, 0])

    info = {"python": platform.python_version(), "machine": platform.machine(),
            "omp_threads": os.environ.get("OMP_NUM_THREADS"), "numpy": np.__version__}
    out = out or ROOT / "bench" / "out" / "accelsim.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tool": "accelsim", "env": info, "figures": figures}, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
