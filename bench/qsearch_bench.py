"""qsearch benchmarks: DNAS step cost vs QAT, DSE throughput per executor, cost-model speed, digits results.

Run: ``python bench/qsearch_bench.py [--quick] [--threads N] [--only cost|digits|dnas|dse ...]``. Prints one
line per figure (figure, value, unit, compared against) and writes ``bench/out/qsearch.json``.

Figures
-------
* ``dnas_step_*``: one weight step (forward + backward + AdamW) of the MobileNetV2 supernet (width 1.0,
  32x32, 10 classes, batch 64, CPU) with soft Gumbel-softmax probabilities, against one 8-bit QAT step of
  qtrain on the same BN-folded network (``qat_step_w8a8``). ``dnas_step_ratio*`` = DNAS / QAT (the issue
  aims under 2x). Also the alpha step (``qsearch.search.dnas.alpha_step``: validation batch, weights
  frozen) and ``dnas_iteration_ratio*`` = (weight + alpha step) / QAT. Figures ending ``_ref`` run the
  composite reference activation mix (the implementation before the fused one); QAT, fused and reference
  steps are interleaved round by round so load on the shared machine hits them alike. Median after warm-up.
* ``dse_*_cand_per_min``: candidates evaluated per minute by an exhaustive DSE on digits (CNN, 27
  candidates, 2 QAT epochs each) with the serial, local-pool (2 workers) and Dask (local cluster on
  loopback, 2 single-thread workers) executors: steady state (second pass on the same executor) and
  first pass (worker start-up, imports and data loading included).
* ``cost_batch_*``: assignments costed per second on MobileNetV2 (all metrics, peak RAM included) by the
  vectorised path vs the reference.
* ``digits_*``: test accuracy and weight compression of the maps DNAS / DSE / ILP choose on digits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
FIGS: list[dict] = []


def fig(name: str, value: float, unit: str, compared: str = "", **extra) -> None:
    row = {"figure": name, "value": round(float(value), 4), "unit": unit, "compared_against": compared, **extra}
    FIGS.append(row)
    print(f"{name:<34} {row['value']:>12} {unit:<14} {compared}", flush=True)


def median_time(step, warm: int, rounds: int) -> float:
    for _ in range(warm):
        step()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def bench_dnas(rounds: int, batch: int) -> None:
    import torch
    import torch.nn.functional as F

    from qsearch.options import OptionSpace
    from qsearch.search.dnas import build_supernet
    from qtrain import zoo
    from qtrain.graph import GraphNet
    from qtrain.quant import prepare_qat

    torch.manual_seed(0)
    arch = zoo.build("mobilenetv2", (3, 32, 32), 10)
    fnet = GraphNet.from_arch(arch, seed=0).fold_bn()
    model = fnet.to_model({})
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    calib = [x]

    def trainer(net, params, before=None):
        opt = torch.optim.AdamW(params, lr=1e-4)
        net.train()

        def step():
            if before:
                before()
            loss = F.cross_entropy(net.logits(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    from qsearch.search import dnas

    def interleaved(steps: dict, warm: int, rounds: int) -> dict:
        """Median seconds of each step, rounds interleaved (A B C A B C ...) so machine load hits all alike;
        a step named ``*_ref`` runs with the composite (reference) activation mix."""
        def run(name):
            dnas.FAST_MIX = not name.endswith("_ref")
            try:
                steps[name]()
            finally:
                dnas.FAST_MIX = True
        for _ in range(warm):
            for name in steps:
                run(name)
        ts = {name: [] for name in steps}
        for _ in range(rounds):
            for name in steps:
                t0 = time.perf_counter()
                run(name)
                ts[name].append(time.perf_counter() - t0)
        return {name: statistics.median(v) for name, v in ts.items()}

    qat = prepare_qat(GraphNet.from_model(model), "w8a8", calib)
    qat_step = trainer(qat, list(qat.parameters()))
    for label, opts in (("all5", "fp32,fp16,int8,int4,int2"), ("int_only", "int8,int4,int2")):
        sp = OptionSpace.parse(opts)
        sup = build_supernet(model, sp, {}, calib)
        wp = sup.weight_parameters()

        def sample(sup=sup):
            with torch.no_grad():
                sup.set_probs(F.gumbel_softmax(sup.logits_alpha(), tau=1.0))

        w_step = trainer(sup, wp, sample)
        a_opt = torch.optim.Adam([sup.alpha], lr=0.05)

        def alpha_step(sup=sup, wp=wp, a_opt=a_opt):
            dnas.alpha_step(sup, wp, a_opt, x, y, tau=1.0)

        t = interleaved({"qat": qat_step, "w": w_step, "a": alpha_step, "w_ref": w_step, "a_ref": alpha_step},
                        1, rounds)
        t_qat = t["qat"]
        if label == "all5":
            fig("qat_step_w8a8", t_qat * 1e3, "ms/step", f"MobileNetV2 32x32 batch {batch}, CPU, qtrain LSQ+PACT")
        fig(f"qat_step_w8a8_{label}_run", t_qat * 1e3, "ms/step",
            f"MobileNetV2 32x32 batch {batch}, CPU, qtrain LSQ+PACT (interleaved with the {label} runs)")
        for suf, what in (("", "fused activation mix (default)"), ("_ref", "composite reference mix (before)")):
            tw, ta = t["w" + suf], t["a" + suf]
            fig(f"dnas_step_{label}{suf}", tw * 1e3, "ms/step", f"supernet weight step, options {opts}, {what}")
            fig(f"dnas_step_ratio_{label}{suf}", tw / t_qat, "x", "vs qat_step_w8a8 (aim < 2)")
            fig(f"dnas_alpha_step_{label}{suf}", ta * 1e3, "ms/step", f"alpha step (weights frozen), {what}")
            fig(f"dnas_iteration_ratio_{label}{suf}", (tw + ta) / t_qat, "x",
                f"weight + alpha step vs one QAT step (default --alpha-every 1), {what}")
            fig(f"dnas_iteration_ratio_{label}{suf}_alpha_every9", (tw + ta / 9) / t_qat, "x",
                "--alpha-every 9 (one validation pass per epoch at a 45k/5k split)")
        n_sup = sum(p.numel() for p in sup.mods.parameters())
        n_float = sum(p.numel() for p in fnet.parameters())
        fig(f"dnas_supernet_params_{label}", n_sup / n_float, "x", "conv/linear parameters vs the float net (shared)")


def bench_dse(epochs: int) -> None:
    import torch

    import qformat as qf
    from qsearch.executor import make_executor
    from qsearch.options import OptionSpace
    from qsearch.runner import BudgetSpec, Session, TargetSpec, run_dse
    from qsearch.training import TrainSpec
    from qtrain import data, zoo
    from qtrain.graph import GraphNet
    from qtrain.train import TrainConfig, fit

    torch.set_num_threads(1)
    sp = data.load_splits("digits", seed=0)
    arch = zoo.build("cnn", sp.input_shape, sp.classes)
    r = fit(GraphNet.from_arch(arch, seed=0), sp, TrainConfig(epochs=8, batch_size=64, lr=3e-3, seed=0))
    model = r.net.fold_bn().to_model({"dataset": sp.describe()})

    def session():
        return Session(qf.from_bytes(qf.to_bytes(model)), OptionSpace.parse("int8,int4,int2"), TargetSpec(core="ibex-mp"),
                       BudgetSpec())

    def run(ex, label, compared, warm=True):
        """Candidates per minute; with ``warm`` a first pass (imports, data loading in the workers) is
        timed separately and the figure is the steady state of a second pass."""
        times = []
        for _ in range(2 if warm else 1):
            t0 = time.perf_counter()
            out = run_dse(session(), grouping="none", method="exhaustive", train=TrainSpec(epochs=epochs),
                          final_train=TrainSpec(epochs=0), executor=ex, quiet=True)
            times.append(time.perf_counter() - t0)
        n = len(out.rows)
        fig(f"dse_{label}_cand_per_min", n / times[-1] * 60, "cand/min", compared, candidates=n,
            seconds=round(times[-1], 2))
        if warm:
            fig(f"dse_{label}_first_pass_cand_per_min", n / times[0] * 60, "cand/min",
                "same, first pass (worker start-up, imports, data loading included)")

    ex = make_executor(None, 0)
    run(ex, "serial", f"in-process, {epochs} QAT epoch(s) per candidate, steady state", warm=False)
    ex = make_executor(None, 2)
    try:
        run(ex, "local_pool", "2 spawned worker processes, steady state")
    finally:
        ex.close()
    from distributed import LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=40) as cluster:
        fig("dse_dask_cluster_start", time.perf_counter() - t0, "s", "LocalCluster (2 workers) start on loopback")
        ex = make_executor(cluster.scheduler_address)
        try:
            run(ex, "dask", "Dask LocalCluster on loopback, 2 workers x 1 thread, steady state")
        finally:
            ex.close()


def bench_cost() -> None:
    import numpy as np

    from qsearch.cost import CostModel, make_latency
    from qsearch.netinfo import NetInfo
    from qsearch.options import OptionSpace
    from qtrain import zoo

    net = NetInfo.from_model(zoo.build("mobilenetv2", (3, 32, 32), 10))
    cm = CostModel(net, OptionSpace.parse(None), make_latency("m7", core_b="m4", split_step=8))
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 5, (4096, len(cm.layers)))
    cm.batch(idx[:2])
    t0 = time.perf_counter()
    cm.batch(idx)
    fast = len(idx) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for row in idx[:20]:
        cm.evaluate(cm.assignment(row))
    slow = 20 / (time.perf_counter() - t0)
    fig("cost_batch_assignments_per_s", fast, "assign/s", "MobileNetV2, dual-core M7+M4, all metrics")
    fig("cost_reference_assignments_per_s", slow, "assign/s", "the layer-by-layer reference (evaluate)")


def bench_digits() -> None:
    import torch

    from qsearch.options import OptionSpace
    from qsearch.runner import BudgetSpec, Session, TargetSpec, run_dnas_search, run_dse, run_ilp
    from qsearch.search.dnas import DnasConfig
    from qsearch.training import TrainSpec
    from qtrain import data, zoo
    from qtrain.graph import GraphNet
    from qtrain.train import TrainConfig, fit

    torch.set_num_threads(1)
    sp = data.load_splits("digits", seed=0)
    arch = zoo.build("cnn", sp.input_shape, sp.classes)
    r = fit(GraphNet.from_arch(arch, seed=0), sp, TrainConfig(epochs=10, batch_size=64, lr=3e-3, seed=0))
    model = r.net.fold_bn().to_model({"dataset": sp.describe()})
    ft = TrainSpec(epochs=4)
    runs = {
        "dnas": lambda s: run_dnas_search(s, DnasConfig(epochs=6), final_train=ft),
        "dse": lambda s: run_dse(s, method="binary", final_train=ft, quiet=True),
        "ilp": lambda s: run_ilp(s, final_train=ft),
    }
    spaces = {"dnas": (OptionSpace.parse(None), TargetSpec(core="m7"), BudgetSpec(compression=5)),
              "dse": (OptionSpace.parse("int8,int4,int2"), TargetSpec(core="ibex-mp"), BudgetSpec()),
              "ilp": (OptionSpace.parse(None, int_only=True), TargetSpec(core="m7"), BudgetSpec(compression=6))}
    for name, go in runs.items():
        sp_, tg, bud = spaces[name]
        s = Session(model, sp_, tg, bud)
        t0 = time.perf_counter()
        out = go(s)
        dt = time.perf_counter() - t0
        ref = s.reference()["test_accuracy"]
        fig(f"digits_{name}_test_acc", 100 * out.final["test_accuracy"], "%", f"float {100 * ref:.2f}%",
            map=",".join(out.assignment.values()), seconds=round(dt, 1))
        fig(f"digits_{name}_int_test_acc", 100 * (out.final["int_test_accuracy"] or 0), "%", "integer-only export")
        fig(f"digits_{name}_compression", out.final["compression"], "x", "weight bytes vs fp32 (aim >= 4)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-dnas", action="store_true")
    ap.add_argument("--skip-dse", action="store_true")
    ap.add_argument("--only", choices=["cost", "digits", "dnas", "dse"], action="append")
    a = ap.parse_args()
    want = set(a.only or ["cost", "digits", "dnas", "dse"])
    if a.skip_dnas:
        want.discard("dnas")
    if a.skip_dse:
        want.discard("dse")
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import torch

    torch.set_num_threads(a.threads)
    if "cost" in want:
        bench_cost()
    if "digits" in want:
        bench_digits()
    if "dnas" in want:
        bench_dnas(rounds=3 if a.quick else 8, batch=64)
        torch.set_num_threads(a.threads)
    if "dse" in want:
        bench_dse(epochs=2)
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    doc = {"tool": "qsearch", "figures": FIGS, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                           "torch": torch.__version__, "threads": a.threads},
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "qsearch.json").write_text(json.dumps(doc, indent=1))
    print(f"wrote {out / 'qsearch.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
