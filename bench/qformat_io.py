"""qformat I/O benchmarks: pipe throughput of a 100 MB model, lazy open of a 1 GB artifact.

Run: python bench/qformat_io.py [--big-mb 1024] [--pipe-mb 100]
Writes bench/out/qformat.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import qformat as qf

OUT = Path(__file__).resolve().parent / "out"


def make_model(total_mb: float, layers: int = 8, seed: int = 0) -> qf.Model:
    """A linear stack whose float32 weights total about ``total_mb`` MB (weights like a trained net)."""
    per = int(np.sqrt(total_mb * 1e6 / 4 / layers))
    rng = np.random.default_rng(seed)
    L = [qf.Layer("input", "input", attrs={"shape": [per]})]
    m = qf.Model()
    for i in range(layers):
        L.append(qf.Layer(f"fc{i}", "linear", [L[-1].name], {"in_features": per, "out_features": per}, "relu"))
    m.layers = L
    qf.infer_shapes(m.layers)
    for i in range(layers):
        m.set(f"fc{i}", "weight", (rng.standard_normal((per, per), dtype=np.float32) * 0.02))
        m.set(f"fc{i}", "bias", np.zeros(per, np.float32))
    return m


def bench_pipe(mb: float, tmp: Path) -> dict:
    m = make_model(mb)
    size = sum(m.get(*k).nbytes for k in m.tensor_keys()) / 1e6
    t0 = time.perf_counter()
    back = qf.from_bytes(qf.to_bytes(m))
    n = sum(back.get(*k).nbytes for k in back.tensor_keys())
    t_mem = time.perf_counter() - t0
    assert n == int(size * 1e6) or abs(n - size * 1e6) < 1e3
    src = tmp / "pipe.qz"
    t0 = time.perf_counter()
    qf.save(m, src)
    t_write = time.perf_counter() - t0
    # writer process -> pipe -> reader process that reads every tensor
    reader = ("import sys, qformat as qf; m = qf.open('-'); "
              "n = sum(m.get(*k).nbytes for k in m.tensor_keys()); print(n)")
    writer = f"import qformat as qf; qf.save(qf.open({str(src)!r}), '-')"
    t0 = time.perf_counter()
    p1 = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    p2 = subprocess.run([sys.executable, "-c", reader], stdin=p1.stdout, capture_output=True, check=True)
    p1.wait()
    t_pipe = time.perf_counter() - t0
    assert int(p2.stdout) == int(size * 1e6) or abs(int(p2.stdout) - size * 1e6) < 1e3
    return {"model_mb": round(size, 1), "write_s": t_write, "pipe_s": t_pipe, "pipe_mb_per_s": size / t_pipe,
            "inprocess_s": t_mem, "inprocess_mb_per_s": size / t_mem}


def bench_lazy(mb: float, tmp: Path) -> dict:
    m = make_model(mb, layers=16)
    res = {}
    for form, name in (("dir", "big.zarr"), ("stream", "big.qz")):
        path = tmp / name
        t0 = time.perf_counter()
        qf.save(m, path)
        t_save = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = qf.open(path)
        t_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        w = back.get("fc7", "weight")
        t_layer = time.perf_counter() - t0
        assert np.array_equal(w, m.get("fc7", "weight"))
        res[form] = {"save_s": t_save, "open_s": t_open, "read_one_layer_s": t_layer, "layer_mb": w.nbytes / 1e6}
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipe-mb", type=float, default=100)
    ap.add_argument("--big-mb", type=float, default=1024)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qformat-bench-") as d:
        tmp = Path(d)
        pipe = bench_pipe(a.pipe_mb, tmp)
        lazy = bench_lazy(a.big_mb, tmp)
    figures = [
        {"figure": f"qformat: {pipe['model_mb']:.0f} MB model to stream bytes and back (in process)", "value": round(pipe["inprocess_mb_per_s"], 1),
         "unit": "MB/s", "compared_against": "encode + decode + read every tensor, one process"},
        {"figure": f"qformat: {pipe['model_mb']:.0f} MB model written and read through a pipe", "value": round(pipe["pipe_mb_per_s"], 1),
         "unit": "MB/s", "compared_against": "end to end: writer process | reader process reading every tensor"},
        {"figure": f"qformat: open a {a.big_mb / 1024:.1f} GB directory artifact and read one layer",
         "value": round(lazy["dir"]["open_s"] + lazy["dir"]["read_one_layer_s"], 3), "unit": "s",
         "compared_against": f"one layer is {lazy['dir']['layer_mb']:.0f} MB; save took {lazy['dir']['save_s']:.1f} s"},
        {"figure": f"qformat: open a {a.big_mb / 1024:.1f} GB stream file (.qz, memory-mapped) and read one layer",
         "value": round(lazy["stream"]["open_s"] + lazy["stream"]["read_one_layer_s"], 3), "unit": "s",
         "compared_against": f"save took {lazy['stream']['save_s']:.1f} s"},
    ]
    OUT.mkdir(exist_ok=True)
    (OUT / "qformat.json").write_text(json.dumps({"tool": "qformat", "figures": figures, "raw": {"pipe": pipe, "lazy": lazy}}, indent=2))
    for f in figures:
        print(f"{f['figure']}: {f['value']} {f['unit']} ({f['compared_against']})")


if __name__ == "__main__":
    main()
