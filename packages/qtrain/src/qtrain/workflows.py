"""The commands as library functions: each takes plain options, returns artifacts and a summary.

The CLI (:mod:`qtrain.cli`) only parses arguments and calls these, so every
command is scriptable from Python (qsearch uses them) and tested in process.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

import qformat as qf

from . import quant, zoo
from .data import Splits
from .errors import ConfigError
from .export import ExportReport, quantized_model
from .graph import GraphNet
from .intsim import IntegerModel
from .io import dataset_from, model_fingerprint, provenance
from .progress import Progress
from .quant.kmeans import apply_kmeans, apply_pruning, kmeans_model
from .train import FitResult, TrainConfig, config_key, evaluate, fit, resolve_device

__all__ = ["DataOptions", "RunOptions", "fit_model", "qat_model", "ptq_model", "kmeans_compress", "eval_model",
           "probe_model", "calibration_batches", "zoo_table"]


@dataclass
class DataOptions:
    """Which dataset and how it is split (None: the input model's recorded dataset, else digits)."""

    dataset: Optional[str] = None
    data: Optional[str] = None
    seed: Optional[int] = None
    val_fraction: Optional[float] = None
    image_size: Optional[int] = None
    normalize: Optional[str] = None
    augment: bool = True

    def load(self, model_prov: Optional[dict] = None) -> tuple[Splits, dict]:
        return dataset_from(model_prov, self.dataset, self.data, seed=self.seed, val_fraction=self.val_fraction,
                            image_size=self.image_size, normalize=self.normalize, augment=self.augment)


@dataclass
class RunOptions:
    """Where checkpoints go and how chatty the run is."""

    checkpoint: Optional[str] = None
    resume: bool = False
    progress: Progress = field(default_factory=lambda: Progress(quiet=True))


def _ckpt(run: RunOptions, command: str, key: str) -> Optional[str]:
    if run.checkpoint == "none":
        return None
    return run.checkpoint or str(Path(".qtrain") / f"{command}-{key}.ckpt")


def _test_acc(net: GraphNet, sp: Splits, device) -> float:
    acc, _ = evaluate(net, sp.loader("test", 512), device)
    return acc


def calibration_batches(sp: Splits, samples: int = 1024, batch_size: int = 256) -> list[torch.Tensor]:
    """The first ``samples`` training inputs (no augmentation), as batches (never the test split)."""
    loader = sp.loader("train", batch_size, limit=samples)
    return [xb for xb, _ in loader]


# ----------------------------------------------------------------------------- fit
def fit_model(model_spec: str, data: DataOptions, train: TrainConfig, run: RunOptions) -> tuple[qf.Model, FitResult, dict]:
    """Train a zoo model in float; returns the model artifact (BN folded), the fit result and metrics."""
    sp, drec = data.load()
    arch = zoo.build(model_spec, sp.input_shape, sp.classes)
    torch.manual_seed(train.seed)
    net = GraphNet.from_arch(arch, seed=train.seed)
    key = config_key("fit", arch.spec, drec, asdict(train))
    res = fit(net, sp, train, checkpoint=_ckpt(run, "fit", key), resume=run.resume, run_key=key,
              progress=run.progress, title=f"fit {arch.name}")
    device = resolve_device(train.device)
    folded = res.net.fold_bn() if res.net.bns else res.net
    test = _test_acc(folded, sp, device)
    metrics = {**res.metrics(), "test_acc": test, "params": arch.params(), "macs": arch.macs()}
    prov = provenance("fit", dataset=drec, seed=train.seed, metrics=metrics, train=asdict(train),
                      architecture={"name": arch.name, "spec": arch.spec, "dropout": arch.dropout,
                                    "batchnorm": sorted(arch.batchnorm)})
    return folded.to("cpu").to_model(prov), res, metrics


# ----------------------------------------------------------------------------- qat / ptq
def _start_net(model: Optional[qf.Model], model_spec: Optional[str], data: DataOptions, float_train: TrainConfig,
               run: RunOptions) -> tuple[GraphNet, Splits, dict, dict, Optional[float]]:
    """The float network QAT/PTQ starts from: the input model's weights (copied), or a freshly trained one."""
    if model is not None:
        sp, drec = data.load(model.provenance)
        if tuple(model.input_shape) != tuple(sp.input_shape):
            raise ConfigError("model", "input", f"model input {tuple(model.input_shape)} does not match the dataset "
                                                f"{tuple(sp.input_shape)}")
        net = GraphNet.from_model(model)
        return net, sp, drec, dict(model.provenance), None
    if not model_spec:
        raise ConfigError("input", "", "give an input model (path or -) or --model to train one first")
    m, res, metrics = fit_model(model_spec, data, float_train, run)
    sp, drec = data.load()
    return GraphNet.from_model(m), sp, drec, dict(m.provenance), metrics["test_acc"]


def qat_model(model: Optional[qf.Model], precision, data: DataOptions, train: TrainConfig, run: RunOptions, *,
              model_spec: Optional[str] = None, float_train: Optional[TrainConfig] = None,
              weight_method: str = "lsq", per_channel: bool = True, pow2: bool = False,
              pact_gradient: str = "lsq", calibration: str = "percentile", calib_samples: int = 1024,
              multiplier_bits: int = 8, bias_bits: int = 32, output_bits: Optional[int] = None,
              precision_source: str = "") -> tuple[qf.Model, dict]:
    """Quantization-aware training from a float model (its weights are copied); returns the quantized model."""
    net, sp, drec, parent, float_test = _start_net(model, model_spec, data, float_train or train, run)
    device = resolve_device(train.device)
    net.to(device)
    if float_test is None:
        float_test = _test_acc(net, sp, device)
    calib = [b.to(device) for b in calibration_batches(sp, calib_samples)]
    qnet = quant.prepare_qat(net, precision, calib, weight_method=weight_method, per_channel=per_channel,
                             pow2=pow2, act_method=calibration, pact_gradient=pact_gradient, output_bits=output_bits)
    init_val, _ = evaluate(qnet, sp.loader("val", 512), device)
    key = config_key("qat", model_fingerprint(net.to_model()), precision.rules() if hasattr(precision, "rules") else str(precision),
                     drec, asdict(train), weight_method, per_channel, pow2, pact_gradient, calibration, calib_samples,
                     output_bits)
    res = fit(qnet, sp, train, checkpoint=_ckpt(run, "qat", key), resume=run.resume, run_key=key,
              progress=run.progress, title="qat")
    qnet = res.net
    fake_test = _test_acc(qnet, sp, device)
    report = ExportReport()
    plan = qnet.quant_plan
    out = quantized_model(qnet.to("cpu"), None, multiplier_bits=multiplier_bits, bias_bits=bias_bits, report=report)
    metrics = {**res.metrics(), "float_test_acc": float_test, "qat_init_val_acc": init_val, "fake_test_acc": fake_test}
    if plan.is_integer():
        metrics["int_test_acc"] = int_accuracy(out, sp)
    out.provenance = provenance("qat", dataset=drec, seed=train.seed, metrics=metrics, parent=parent,
                                train=asdict(train), architecture=parent.get("architecture"),
                                quantization={"precision": precision.rules() if hasattr(precision, "rules") else str(precision),
                                              "precision_source": precision_source, "plan": plan.describe(),
                                              "weight_method": weight_method, "per_channel": per_channel, "pow2": pow2,
                                              "pact_gradient": pact_gradient, "calibration": calibration,
                                              "multiplier_bits": multiplier_bits, "bias_bits": bias_bits},
                                export_warnings=list(report) or None)
    for w in report:
        run.progress.log(f"qat: warning: {w}")
    return out, metrics


def ptq_model(model: Optional[qf.Model], precision, data: DataOptions, run: RunOptions, *,
              model_spec: Optional[str] = None, float_train: Optional[TrainConfig] = None,
              calibration: str = "percentile", percentile: float = 99.99, weight_calibration: str = "mse",
              calib_samples: int = 1024, per_channel: bool = True, pow2: bool = False, multiplier_bits: int = 8,
              bias_bits: int = 32, output_bits: Optional[int] = None, device: str = "cpu",
              precision_source: str = "") -> tuple[qf.Model, dict]:
    """Post-training quantization with calibration on training samples; returns the quantized model."""
    t0 = time.perf_counter()
    net, sp, drec, parent, float_test = _start_net(model, model_spec, data, float_train or TrainConfig(), run)
    dev = resolve_device(device)
    net.to(dev)
    if float_test is None:
        float_test = _test_acc(net, sp, dev)
    calib = [b.to(dev) for b in calibration_batches(sp, calib_samples)]
    qnet = quant.ptq(net, precision, calib, act_method=calibration, percentile=percentile,
                     weight_calib=weight_calibration, per_channel=per_channel, pow2=pow2, output_bits=output_bits)
    fake_test = _test_acc(qnet, sp, dev)
    val, _ = evaluate(qnet, sp.loader("val", 512), dev)
    report = ExportReport()
    out = quantized_model(qnet.to("cpu"), None, multiplier_bits=multiplier_bits, bias_bits=bias_bits, report=report)
    metrics = {"float_test_acc": float_test, "fake_test_acc": fake_test, "val_acc": val,
               "seconds": round(time.perf_counter() - t0, 3)}
    if qnet.quant_plan.is_integer():
        metrics["int_test_acc"] = int_accuracy(out, sp)
    out.provenance = provenance("ptq", dataset=drec, seed=sp.seed, metrics=metrics, parent=parent,
                                architecture=parent.get("architecture"),
                                quantization={"precision": precision.rules() if hasattr(precision, "rules") else str(precision),
                                              "precision_source": precision_source,
                                              "plan": qnet.quant_plan.describe(), "calibration": calibration,
                                              "percentile": percentile, "weight_calibration": weight_calibration,
                                              "calib_samples": calib_samples, "per_channel": per_channel, "pow2": pow2,
                                              "multiplier_bits": multiplier_bits, "bias_bits": bias_bits},
                                export_warnings=list(report) or None)
    for w in report:
        run.progress.log(f"ptq: warning: {w}")
    return out, metrics


def int_accuracy(model: qf.Model, sp: Splits, split: str = "test", batch: int = 512) -> float:
    """Accuracy of the integer-only model (torch integer path, bit-exact with the reference interpreter)."""
    im = IntegerModel(model)
    correct = total = 0
    for xb, yb in sp.loader(split, batch):
        pred = im.run(xb).argmax(1)
        correct += int((pred == yb).sum())
        total += int(yb.numel())
    return correct / max(1, total)


# ----------------------------------------------------------------------------- kmeans
def kmeans_compress(model: qf.Model, data: DataOptions, train: TrainConfig, run: RunOptions, *, k: int = 16,
                    per: str = "layer", sparsity: float = 0.5, prune_epochs: int = 0,
                    layers: Optional[list[str]] = None) -> tuple[qf.Model, dict]:
    """Magnitude pruning + k-means weight sharing + fine-tuning with shared centroids."""
    sp, drec = data.load(model.provenance)
    device = resolve_device(train.device)
    net = GraphNet.from_model(model).to(device)
    float_test = _test_acc(net, sp, device)
    key = config_key("kmeans", model_fingerprint(model), drec, asdict(train), k, per, sparsity, prune_epochs, layers)
    pruned_test = None
    if prune_epochs > 0 and sparsity > 0:
        apply_pruning(net, sparsity, layers)
        ptrain = TrainConfig(**{**asdict(train), "epochs": prune_epochs})
        res = fit(net, sp, ptrain, checkpoint=_ckpt(run, "kmeans-prune", key), resume=run.resume, run_key=key + "p",
                  progress=run.progress, title="prune")
        net = res.net
        pruned_test = _test_acc(net, sp, device)
    apply_kmeans(net, k, per, sparsity, layers)
    cluster_test = _test_acc(net, sp, device)
    res = fit(net, sp, train, checkpoint=_ckpt(run, "kmeans", key), resume=run.resume, run_key=key,
              progress=run.progress, title="kmeans")
    net = res.net
    test = _test_acc(net, sp, device)
    metrics = {**res.metrics(), "float_test_acc": float_test, "pruned_test_acc": pruned_test,
               "clustered_test_acc": cluster_test, "test_acc": test}
    out = kmeans_model(net.to("cpu"), provenance("kmeans", dataset=drec, seed=train.seed, metrics=metrics,
                                                 parent=model.provenance, train=asdict(train),
                                                 architecture=model.provenance.get("architecture"),
                                                 kmeans={"k": k, "per": per, "sparsity": sparsity,
                                                         "prune_epochs": prune_epochs, "layers": layers}))
    return out, metrics


# ----------------------------------------------------------------------------- eval / probe
def eval_model(model: qf.Model, data: DataOptions, *, split: str = "test", mode: str = "float",
               engine: str = "reference", limit: Optional[int] = None, batch: int = 256,
               device: str = "cpu") -> dict:
    """Accuracy of a model artifact on a split: ``float`` (torch), ``fake`` or ``int`` (reference interpreter
    or the torch integer path with ``engine="fast"``; ``engine="both"`` also checks they agree bit-exactly)."""
    if split not in ("train", "val", "test"):
        raise ConfigError("eval", "split", f"must be train, val or test, got {split!r}")
    sp, drec = data.load(model.provenance)
    loader = sp.loader(split, batch, limit=limit)
    t0 = time.perf_counter()
    correct = total = 0
    agree = True
    if mode == "float":
        net = GraphNet.from_model(model).to(resolve_device(device)).eval()
        with torch.no_grad():
            for xb, yb in loader:
                correct += int((net.logits(xb.to(net_device(net))).argmax(1).cpu() == yb).sum())
                total += int(yb.numel())
    elif mode in ("fake", "int"):
        if mode == "int" and engine not in ("reference", "fast", "both"):
            raise ConfigError("eval", "engine", f"must be reference, fast or both, got {engine!r}")
        im = IntegerModel(model) if mode == "int" and engine in ("fast", "both") else None
        for xb, yb in loader:
            x = xb.numpy()
            if mode == "fake":
                out = qf.run(model, x, mode="fake")
            elif engine == "fast":
                out = im.run(xb).numpy()
            else:
                out = qf.run(model, x, mode="int", raw=True)
                if engine == "both":
                    agree = agree and bool(np.array_equal(out, im.run(xb).numpy()))
            correct += int((np.asarray(out).argmax(1) == yb.numpy()).sum())
            total += int(yb.numel())
    else:
        raise ConfigError("eval", "mode", f"must be float, fake or int, got {mode!r}")
    res = {"split": split, "mode": mode, "samples": total, "accuracy": correct / max(1, total),
           "seconds": round(time.perf_counter() - t0, 3), "dataset": drec.get("name")}
    if mode == "int":
        res["engine"] = engine
        if engine == "both":
            res["bit_exact"] = agree
    return res


def net_device(net: GraphNet) -> torch.device:
    return next(net.parameters()).device


def probe_model(model: qf.Model, data: DataOptions, *, samples: int = 1024, split: str = "val", bins: int = 256,
                noise: Optional[str] = "jacobian", noise_samples: int = 256, noise_std: float = 1.0,
                batch: int = 256) -> qf.ProbeStats:
    """Probe statistics of a model on ``samples`` inputs of ``split`` (validation by default, never chosen on test)."""
    from .probe import probe

    sp, drec = data.load(model.provenance)
    net = GraphNet.from_model(model)
    batches = [xb for xb, _ in sp.loader(split, batch, limit=samples)]
    nb = [xb for xb, _ in sp.loader(split, min(batch, noise_samples), limit=noise_samples)] if noise else None
    return probe(net, batches, sp.classes, bins=bins, noise=noise, noise_batches=nb, noise_std=noise_std,
                 provenance=provenance("probe", dataset=drec, split=split, samples=samples, bins=bins, noise=noise,
                                       noise_samples=noise_samples if noise else None))


# ----------------------------------------------------------------------------- zoo
def zoo_table(input_shape: tuple[int, ...], classes: int, models: Optional[list[str]] = None) -> list[dict[str, Any]]:
    """One row per zoo model (or per given spec): compute layers, parameters, MACs."""
    rows = []
    for spec in models or list(zoo.MODELS):
        try:
            a = zoo.build(spec, input_shape, classes)
        except ConfigError as e:
            rows.append({"model": spec, "error": e.why})
            continue
        rows.append({"model": a.spec, "layers": len(a.compute_layers()), "params": a.params(),
                     "deployed_params": a.deployed_params(), "macs": a.macs(), "input": list(input_shape),
                     "classes": classes})
    return rows
