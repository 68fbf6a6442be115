"""The training loop: float training and QAT share it.

* Optimisers: SGD (momentum, Nesterov) or AdamW; weight decay on conv/linear
  weights only (not biases, BatchNorm or quantizer parameters).
* Learning rate: linear warm-up then cosine (or constant), computed from the
  global step, so a resumed run follows the same schedule.
* Model selection on the **validation** split (best epoch, or the last); the
  test split is only ever evaluated, never used to choose.
* A checkpoint is written atomically after every epoch (weights, optimiser,
  RNG state, best state, history). ``resume=True`` continues from it and
  reaches bit-for-bit the same result as an uninterrupted run with the same
  seed on the same machine (data order and augmentation are seeded per epoch).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from .data import Splits
from .errors import ConfigError
from .graph import GraphNet
from .progress import Progress

__all__ = ["TrainConfig", "FitResult", "fit", "evaluate", "config_key", "resolve_device", "step_macs", "TINY_STEP_MACS",
           "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 1


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all recorded in provenance)."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adamw"          # adamw | sgd | adam
    lr: Optional[float] = None        # default: 2e-3 (adam/adamw), 0.05 (sgd)
    weight_decay: Optional[float] = None  # default: 5e-4 (sgd), 1e-4 (adamw)
    momentum: float = 0.9
    schedule: str = "cosine"          # cosine | constant
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: Optional[float] = None
    quant_lr_ratio: float = 1.0       # learning rate of quantizer parameters relative to lr
    select: str = "best"              # best (validation) | last
    seed: int = 0
    device: str = "cpu"
    threads: Optional[int] = None     # CPU threads for the loop; None = auto (1 for tiny networks, see fit)

    def resolved(self) -> TrainConfig:
        c = copy.copy(self)
        if c.optimizer not in ("adamw", "sgd", "adam"):
            raise ConfigError("train", "optimizer", f"unknown optimizer {c.optimizer!r} (adamw, sgd, adam)")
        if c.schedule not in ("cosine", "constant"):
            raise ConfigError("train", "schedule", f"unknown schedule {c.schedule!r} (cosine, constant)")
        if c.select not in ("best", "last"):
            raise ConfigError("train", "select", f"must be best or last, got {c.select!r}")
        if c.epochs < 0 or c.batch_size < 1:
            raise ConfigError("train", "epochs", "epochs must be >= 0 and batch size >= 1")
        if c.lr is None:
            c.lr = 0.05 if c.optimizer == "sgd" else 2e-3
        if c.weight_decay is None:
            c.weight_decay = 5e-4 if c.optimizer == "sgd" else 1e-4
        return c


@dataclass
class FitResult:
    """What :func:`fit` returns: the selected network and how it got there."""

    net: GraphNet
    best_epoch: int
    val_acc: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: Optional[int] = None

    def metrics(self) -> dict:
        return {"val_acc": self.val_acc, "best_epoch": self.best_epoch, "epochs": len(self.history),
                "train_seconds": round(self.seconds, 3)}


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``; asking for CUDA without a GPU is a clear error."""
    d = torch.device(device)
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", device, "CUDA requested but no GPU is available (torch.cuda.is_available() is False)")
    if d.type not in ("cpu", "cuda"):
        raise ConfigError("device", device, "use cpu or cuda")
    return d


def config_key(*parts) -> str:
    """A short stable hash of a run's configuration (checkpoints refuse to resume another run)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@torch.no_grad()
def evaluate(net: GraphNet, loader, device: torch.device | str = "cpu") -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``net`` over a loader, in eval mode."""
    was = net.training
    net.eval()
    correct = 0
    total = 0
    loss = 0.0
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        out = net.logits(xb)
        loss += float(F.cross_entropy(out, yb, reduction="sum"))
        correct += int((out.argmax(1) == yb).sum())
        total += int(yb.numel())
    net.train(was)
    return correct / max(1, total), loss / max(1, total)


def _lr_at(c: TrainConfig, step: int, total: int, steps_per_epoch: int) -> float:
    warm = int(c.warmup_epochs * steps_per_epoch)
    if step < warm:
        return c.lr * (step + 1) / warm
    if c.schedule == "constant" or total <= warm:
        return c.lr
    t = (step - warm) / max(1, total - warm)
    lo = c.lr * c.min_lr_ratio
    return lo + (c.lr - lo) * 0.5 * (1.0 + math.cos(math.pi * t))


# Below this many multiply-accumulates per training step, intra-op threading costs more (thread
# synchronisation) than it saves: such networks train single-threaded unless TrainConfig.threads says otherwise.
TINY_STEP_MACS = 5e7


def step_macs(net: GraphNet, batch_size: int) -> float:
    """Forward multiply-accumulates of one batch (conv + linear)."""
    from qformat.ir import macs

    return float(sum(macs(lay) for lay in net.compute_layers())) * batch_size


def _make_optimizer(net: GraphNet, c: TrainConfig) -> torch.optim.Optimizer:
    groups = net.param_groups(c.weight_decay)
    for g in groups:
        g["lr_ratio"] = c.quant_lr_ratio if g.get("name") == "quantizers" else 1.0
        g["lr"] = c.lr * g["lr_ratio"]
    if c.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, nesterov=c.momentum > 0)
    if c.optimizer == "adam":
        return torch.optim.Adam(groups, lr=c.lr)
    return torch.optim.AdamW(groups, lr=c.lr)


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fit(net: GraphNet, splits: Splits, config: TrainConfig, *, checkpoint: Optional[str | os.PathLike] = None,
        resume: bool = False, run_key: str = "", progress: Optional[Progress] = None,
        on_epoch_end: Optional[Callable[[int, dict], None]] = None, title: str = "train") -> FitResult:
    """Train ``net`` on ``splits.train``, select on ``splits.val``; returns the selected network.

    ``checkpoint``: file written after every epoch (None, ``""`` or ``"none"``: no checkpoint); with ``resume`` an existing
    checkpoint whose ``run_key`` matches is continued (a different key is an
    error). ``on_epoch_end(epoch, record)`` is called after each checkpoint.
    """
    c = config.resolved()
    progress = progress or Progress(quiet=True)
    device = resolve_device(c.device)
    threads = c.threads
    if threads is None and device.type == "cpu" and step_macs(net, c.batch_size) < TINY_STEP_MACS:
        threads = 1
    saved_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _fit(net, splits, c, device, checkpoint, resume, run_key, progress, on_epoch_end, title)
    finally:
        torch.set_num_threads(saved_threads)


def _fit(net: GraphNet, splits: Splits, c: TrainConfig, device: torch.device, checkpoint, resume: bool,
         run_key: str, progress: Progress, on_epoch_end, title: str) -> FitResult:
    net.to(device)
    torch.manual_seed(c.seed)
    train_loader = splits.loader("train", c.batch_size, train=True, seed=c.seed)
    val_loader = splits.loader("val", max(256, c.batch_size))
    steps_per_epoch = len(train_loader)
    total = max(1, c.epochs * steps_per_epoch)
    opt = _make_optimizer(net, c)
    start_epoch = 0
    history: list[dict] = []
    best = {"epoch": -1, "val_acc": -1.0, "state": None}
    resumed_from = None
    ck = Path(checkpoint) if checkpoint and str(checkpoint).lower() != "none" else None
    if resume and ck is not None and ck.is_file():
        try:
            state = torch.load(ck, map_location=device, weights_only=False)
        except Exception as e:  # noqa: BLE001 - any unreadable checkpoint
            raise ConfigError(str(ck), "", f"unreadable checkpoint ({type(e).__name__})") from None
        if state.get("version") != CHECKPOINT_VERSION or state.get("run_key") != run_key:
            raise ConfigError(str(ck), "", "checkpoint belongs to a different run (options changed); "
                                           "drop --resume or use another --checkpoint")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        start_epoch = int(state["epoch"]) + 1
        history = state["history"]
        best = state["best"]
        resumed_from = start_epoch
        progress.log(f"{title}: resuming from {ck} at epoch {start_epoch + 1}/{c.epochs}")
    elif resume and ck is not None:
        progress.log(f"{title}: no checkpoint at {ck}; starting from scratch")

    t0 = time.perf_counter()
    elapsed_before = sum(h.get("seconds", 0.0) for h in history)
    for epoch in range(start_epoch, c.epochs):
        net.train()
        te = time.perf_counter()
        seen = correct = 0
        loss_sum = 0.0
        progress.start(f"{title} {epoch + 1}/{c.epochs}", steps_per_epoch)
        for i, (xb, yb) in enumerate(train_loader.epoch(epoch)):
            step = epoch * steps_per_epoch + i
            lr = _lr_at(c, step, total, steps_per_epoch)
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_ratio", 1.0)
            out = net.logits(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=c.label_smoothing)
            if not torch.isfinite(loss):
                raise ConfigError("train", f"epoch {epoch + 1}", "loss is NaN/inf (lower --lr)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if c.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), c.grad_clip)
            opt.step()
            n = int(yb.numel())
            seen += n
            loss_sum += float(loss.detach()) * n
            correct += int((out.detach().argmax(1) == yb).sum())
            progress.update(i + 1, f"loss {loss_sum / seen:.4f}")
        val_acc, val_loss = evaluate(net, val_loader, device)
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / max(1, seen), "train_acc": correct / max(1, seen),
               "val_acc": val_acc, "val_loss": val_loss, "lr": lr if steps_per_epoch else c.lr,
               "seconds": time.perf_counter() - te}
        history.append(rec)
        if c.select == "last" or val_acc > best["val_acc"]:
            best = {"epoch": epoch, "val_acc": val_acc,
                    "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
        progress.end(f"{title} {epoch + 1}/{c.epochs}: loss {rec['train_loss']:.4f} train {rec['train_acc']:.2%} "
                     f"val {val_acc:.2%} ({rec['seconds']:.1f} s)")
        if ck is not None:
            _atomic_save({"version": CHECKPOINT_VERSION, "run_key": run_key, "epoch": epoch,
                          "model": net.state_dict(), "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                          "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                          "history": history, "best": best, "config": asdict(c)}, ck)
        if on_epoch_end is not None:
            on_epoch_end(epoch, rec)
    if best["state"] is not None:
        net.load_state_dict(best["state"])
        best_epoch, best_acc = int(best["epoch"]) + 1, float(best["val_acc"])
    else:  # zero epochs: the network as given
        best_acc, _ = evaluate(net, val_loader, device)
        best_epoch = 0
    net.eval()
    return FitResult(net, best_epoch, best_acc, history, elapsed_before + time.perf_counter() - t0, resumed_from)
