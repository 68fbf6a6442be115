"""qtrain benchmarks: QAT overhead on MobileNetV2, data-pipeline throughput, digits accuracy, integer-path speed.

Run: ``python bench/qtrain_bench.py [--quick] [--threads N]``. Prints one line per figure
(name, value, unit, compared against) and writes ``bench/out/qtrain.json``.

Figures
-------
* ``mbv2_step_*``: one training step (forward + backward + AdamW) of MobileNetV2 (width 1.0,
  32x32, 10 classes, batch 128) on CPU: float as ``qtrain fit`` trains it (with BatchNorm),
  float with BatchNorm folded, 8-bit QAT (w8a8: LSQ weights, PACT activations) and 4-bit QAT
  (w4a4). QAT runs on the BN-folded network, so the overhead ratio compares QAT against the
  float training it replaces. Median of timed steps after warm-up.
* ``data_*``: images/s of the training pipeline (gather + random crop + flip + normalise) on a
  CIFAR-sized uint8 set, and of JPEG decoding for image folders.
* ``digits_*``: accuracy (test split) and wall time of the digits targets.
* ``int_*``: images/s of qtrain's torch integer path vs the qformat reference interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
FIGS: list[dict] = []


def fig(name: str, value: float, unit: str, compared: str = "", **extra) -> None:
    row = {"name": name, "value": round(float(value), 4), "unit": unit, "compared_against": compared,
           "threads": torch.get_num_threads(), **extra}
    FIGS.append(row)
    print(f"{name:<34} {row['value']:>12} {unit:<10} {compared}", flush=True)


def _stepper(net, batch):
    """One training step (forward, backward, AdamW) of ``net`` on ``batch``, as a closure."""
    import torch.nn.functional as F

    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    x, y = batch
    net.train()

    def step() -> None:
        loss = F.cross_entropy(net.logits(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def bench_qat_overhead(rounds: int) -> None:
    """Configurations are timed interleaved (one step each per round, median over rounds), so the load of a
    shared machine drifting during the run affects all of them alike."""
    from qtrain import quant, zoo
    from qtrain.graph import GraphNet

    arch = zoo.build("mobilenetv2", (3, 32, 32), 10)
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(128, 3, 32, 32, generator=g), torch.randint(0, 10, (128,), generator=g))
    net = GraphNet.from_arch(arch, seed=0)
    folded = net.fold_bn()
    calib = [batch[0][:64]]
    nets = {"float_bn": net, "float_folded": folded,
            "qat8": quant.prepare_qat(folded, "w8a8", calib), "qat4": quant.prepare_qat(folded, "w4a4", calib)}
    steps = {k: _stepper(v, batch) for k, v in nets.items()}
    times: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(rounds + 1):
        for k, step in steps.items():
            t0 = time.perf_counter()
            step()
            if r:  # round 0 is warm-up
                times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    fig("mbv2_step_float_bn", med["float_bn"], "s/step", f"MobileNetV2 32x32 b128, float with BatchNorm ({rounds} rounds)")
    fig("mbv2_step_float_folded", med["float_folded"], "s/step", "float, BatchNorm folded")
    for bits in (8, 4):
        t = med[f"qat{bits}"]
        fig(f"mbv2_step_qat{bits}", t, "s/step", f"w{bits}a{bits} LSQ weights + PACT activations, BN folded")
        fig(f"mbv2_qat{bits}_overhead", t / med["float_bn"], "x", "vs float training with BN (target < 1.5)")
        fig(f"mbv2_qat{bits}_overhead_vs_folded", t / med["float_folded"], "x", "vs float, BN folded")


def bench_data(quick: bool) -> None:
    from qtrain.data import Augment, Loader

    n = 10_000 if quick else 50_000
    x = np.random.default_rng(0).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = np.zeros(n, np.int64)
    mean, std = np.array([125.3, 123.0, 113.9]), np.array([63.0, 62.1, 66.7])
    for name, aug in (("data_cifar_crop_flip", Augment(pad=4, flip=True)), ("data_cifar_plain", Augment())):
        loader = Loader(x, y, 128, mean=mean, std=std, shuffle=True, augment=aug, seed=0)
        t0 = time.perf_counter()
        seen = sum(int(xb.shape[0]) for xb, _ in loader.epoch(0))
        dt = time.perf_counter() - t0
        fig(name + "_imgs_per_s", seen / dt, "images/s", f"{n} CIFAR-sized images, batch 128, {aug.to_json()}")
    # image-folder decode (JPEG 160x120 -> 64 px), the one-off cost before training
    from PIL import Image

    from qtrain.data import load_imagefolder

    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(1)
        per = 50 if quick else 200
        for c in ("a", "b"):
            os.makedirs(f"{d}/{c}")
            for i in range(per):
                Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(f"{d}/{c}/{i}.jpg", quality=90)
        t0 = time.perf_counter()
        raw = load_imagefolder(d, size=64, workers=os.cpu_count() or 1)
        dt = time.perf_counter() - t0
        fig("data_jpeg_decode_imgs_per_s", raw.x_train.shape[0] / dt, "images/s",
            f"160x120 JPEG -> 73 px (crop 64), {os.cpu_count()} workers")


def bench_digits() -> None:
    import qformat as qf
    from qtrain import data, quant, zoo
    from qtrain.export import quantized_model
    from qtrain.graph import GraphNet
    from qtrain.intsim import IntegerModel
    from qtrain.train import TrainConfig, evaluate, fit

    sp = data.load_splits("digits", seed=0)
    x, y = sp.loader("test", 1000).arrays()
    calib = [xb for xb, _ in sp.loader("train", 256, limit=1024)]
    for spec, epochs in (("mlp:widths=128/64", 30), ("cnn", 15)):
        name = spec.split(":")[0]
        t0 = time.perf_counter()
        res = fit(GraphNet.from_arch(zoo.build(spec, sp.input_shape, sp.classes), seed=0), sp,
                  TrainConfig(epochs=epochs, batch_size=64, seed=0))
        wall = time.perf_counter() - t0
        net = res.net.fold_bn()
        facc, _ = evaluate(net, sp.loader("test", 512))
        fig(f"digits_{name}_float_test_acc", 100 * facc, "%", f"{spec}, {epochs} epochs (target >= 95)")
        fig(f"digits_{name}_float_train_s", wall, "s", "training wall time (target < 60 s on 2 cores)")
        m8 = quantized_model(quant.ptq(net, "int8", calib))
        out8 = qf.run(m8, x, mode="int", raw=True)
        fig(f"digits_{name}_int8_ptq_test_acc", 100 * float((out8.argmax(1) == y).mean()), "%",
            f"integer-only (reference interpreter); float {100 * facc:.2f} (target within 1 point)")
        q4 = quant.prepare_qat(net, "w4a4", calib)
        t0 = time.perf_counter()
        r4 = fit(q4, sp, TrainConfig(epochs=8, batch_size=64, lr=5e-4, seed=0))
        m4 = quantized_model(r4.net)
        out4 = qf.run(m4, x, mode="int", raw=True)
        fig(f"digits_{name}_int4_qat_test_acc", 100 * float((out4.argmax(1) == y).mean()), "%",
            f"w4a4 QAT 8 epochs ({time.perf_counter() - t0:.1f} s); float {100 * facc:.2f} (target within 2 points)")
        exact = bool(np.array_equal(IntegerModel(m4).run(torch.from_numpy(x)).numpy(), out4))
        fig(f"digits_{name}_int_bit_exact", float(exact), "bool", "qtrain torch integer path == qformat.run int")


def bench_int_speed() -> None:
    """Integer-only inference of MobileNetV2 (width 0.35, 32x32, 64 images): torch path vs reference."""
    import qformat as qf
    from qtrain import quant, zoo
    from qtrain.export import quantized_model
    from qtrain.graph import GraphNet
    from qtrain.intsim import IntegerModel

    net = GraphNet.from_arch(zoo.build("mobilenetv2:width=0.35", (3, 32, 32), 10), seed=0).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # BN statistics of a trained-looking network (random init makes activations vanish)
        for bn in net.bns.values():
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=g) * 0.1)
            bn.running_mean.copy_(torch.randn(bn.running_mean.shape, generator=g) * 0.1)
            bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g) + 0.5)
    x = torch.randn(64, 3, 32, 32, generator=g)
    m = quantized_model(quant.ptq(net, "int8", [x]))
    t0 = time.perf_counter()
    ref = qf.run(m, x.numpy(), mode="int", raw=True)
    t_ref = time.perf_counter() - t0
    im = IntegerModel(m)
    t0 = time.perf_counter()
    got = im.run(x).numpy()
    t_fast = time.perf_counter() - t0
    fig("int_mbv2_fast_imgs_per_s", len(x) / t_fast, "images/s",
        f"qformat reference interpreter {len(x) / t_ref:.1f} images/s; bit-exact {bool(np.array_equal(ref, got))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and images")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument("--only", choices=["qat", "data", "digits", "int"], default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"{'figure':<34} {'value':>12} {'unit':<10} compared against   (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()})", flush=True)
    if a.only in (None, "digits"):
        bench_digits()
    if a.only in (None, "int"):
        bench_int_speed()
    if a.only in (None, "data"):
        bench_data(a.quick)
    if a.only in (None, "qat"):
        bench_qat_overhead(3 if a.quick else 7)
    out = ROOT / "out" / "qtrain.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    prev = json.loads(out.read_text()) if out.exists() and a.only else {"figures": []}
    keep = [f for f in prev.get("figures", []) if f["name"] not in {g["name"] for g in FIGS}]
    out.write_text(json.dumps({"tool": "qtrain", "torch": torch.__version__, "threads": torch.get_num_threads(),
                               "python": sys.version.split()[0], "machine": platform.machine(),
                               "figures": keep + FIGS}, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
