"""Training-side glue to qtrain: data, fine-tuning a precision map, accuracy, integer export.

qsearch does not train on its own: it uses qtrain's :class:`~qtrain.graph.GraphNet`,
quantizers (:func:`qtrain.quant.prepare_qat`), training loop
(:func:`qtrain.train.fit`, selection on the validation split) and integer
export (:func:`qtrain.export.quantized_model`). This module adds what a search
needs around them: a picklable data spec (workers reload the data once per
process), the uniform "fine-tune this map" job, and honest final numbers
(fake-quant and integer-only test accuracy).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from qformat import PrecisionMap
from qformat.errors import QFormatError

from .options import OptionSpace

_SPLITS_CACHE: dict[tuple, Any] = {}


@dataclass(frozen=True)
class DataSpec:
    """Which data and split (picklable; every worker rebuilds identical splits from it).

    Read from the model's provenance (``dataset``, as ``qtrain fit`` records it)
    unless given: the validation split is carved from train with the same
    seed, the test split is fixed by the dataset (never by the seed).
    """

    name: str = "digits"
    path: Optional[str] = None
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    image_size: Optional[int] = None
    normalize: Optional[str] = None

    def key(self) -> tuple:
        return (self.name, self.path, self.seed, self.val_fraction, self.test_fraction, self.image_size,
                self.normalize)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_provenance(cls, prov: Mapping, name: Optional[str] = None, path: Optional[str] = None,
                        seed: Optional[int] = None) -> DataSpec:
        """The data a model was trained on, from its provenance (``dataset``), overridden by arguments."""
        ds = prov.get("dataset") if isinstance(prov, Mapping) else None
        ds = ds if isinstance(ds, Mapping) and (name is None and path is None) else {}
        return cls(name=name or str(ds.get("name") or ("auto" if path else "digits")),
                   path=path if path is not None else ds.get("path"),
                   seed=int(seed if seed is not None else ds.get("seed", 0) or 0),
                   val_fraction=float(ds.get("val_fraction", 0.1) or 0.1),
                   image_size=ds.get("image_size"), normalize=ds.get("normalize"))


def load_splits(spec: DataSpec):
    """qtrain splits for ``spec`` (cached per process)."""
    from qtrain import data

    k = spec.key()
    if k not in _SPLITS_CACHE:
        opts = {"image_size": spec.image_size} if spec.image_size else {}
        _SPLITS_CACHE[k] = data.load_splits(spec.name, spec.path, seed=spec.seed, val_fraction=spec.val_fraction,
                                            test_fraction=spec.test_fraction, normalize=spec.normalize, **opts)
    return _SPLITS_CACHE[k]


@dataclass(frozen=True)
class TrainSpec:
    """Fine-tuning (QAT) hyper-parameters of one candidate."""

    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    seed: int = 0
    calib_batches: int = 4
    grad_clip: Optional[float] = 1.0

    def to_json(self) -> dict:
        return asdict(self)


def precision_map(assign: Mapping[str, str], space: OptionSpace, provenance: Optional[dict] = None) -> PrecisionMap:
    """A qformat precision map with one exact rule per layer (weight and input-activation precision)."""
    return PrecisionMap({n: space[o].layer_precision().to_json() for n, o in assign.items()},
                        provenance=provenance or {})


def calib_batches(splits, n: int, batch_size: int) -> list[torch.Tensor]:
    out = []
    for i, (xb, _) in enumerate(splits.loader("train", batch_size, train=False)):
        if i >= n:
            break
        out.append(xb)
    return out


def float_net(model):
    """A trainable GraphNet holding a float model artifact's weights."""
    from qtrain.graph import GraphNet

    return GraphNet.from_model(model)


def accuracy(net, splits, split: str = "val", batch_size: int = 256) -> float:
    from qtrain.train import evaluate

    return float(evaluate(net, splits.loader(split, batch_size))[0])


def finetune(net, pm: PrecisionMap, splits, spec: TrainSpec) -> tuple[Any, float, list[dict]]:
    """QAT of ``net`` (a float GraphNet, not modified) under ``pm``; returns (qnet, val accuracy, history)."""
    from qtrain.quant import prepare_qat
    from qtrain.train import TrainConfig, fit

    torch.manual_seed(spec.seed)
    qnet = prepare_qat(net, pm, calib_batches(splits, spec.calib_batches, spec.batch_size))
    if spec.epochs <= 0:
        return qnet, accuracy(qnet, splits, "val"), []
    cfg = TrainConfig(epochs=spec.epochs, batch_size=spec.batch_size, optimizer=spec.optimizer, lr=spec.lr,
                      weight_decay=spec.weight_decay, seed=spec.seed, grad_clip=spec.grad_clip, select="best")
    res = fit(qnet, splits, cfg, title="finetune")
    return res.net, float(res.val_acc), res.history


def export_model(qnet, provenance: dict) -> Any:
    """The quantized model artifact (integer-only tensors wherever every grid of a layer is an integer grid)."""
    from qtrain.export import quantized_model

    plan = getattr(qnet, "quant_plan", None)
    integer = bool(plan.is_integer()) if plan is not None else False
    return quantized_model(qnet, provenance, require_integer=integer)


def integer_accuracy(model, splits, split: str = "test", batch_size: int = 512) -> Optional[float]:
    """Accuracy of the exported model run integer-only (qtrain's bit-exact simulator of ``qformat.run(mode="int")``)."""
    if not all(lay.quant is not None and lay.quant.weight is not None and lay.quant.weight.scheme != "fp16"
               for lay in model.compute_layers()):
        return None
    from qtrain.intsim import IntegerModel

    im = IntegerModel(model)
    correct = total = 0
    for xb, yb in splits.loader(split, batch_size):
        pred = np.asarray(im.predict(xb.numpy()))
        correct += int((pred == yb.numpy()).sum())
        total += int(yb.numel())
    return correct / max(1, total)


@dataclass
class Job:
    """One candidate evaluation, self-contained so it can run on any worker."""

    cid: str
    assign: dict[str, str]
    data: DataSpec
    train: TrainSpec
    options: dict = field(default_factory=dict)   # OptionSpace.to_json()
    cost_cmd: Optional[str] = None
    cost_freq_mhz: Optional[float] = None
    cache_dir: Optional[str] = None


def evaluate_job(job: Job, model_bytes: bytes) -> dict:
    """Fine-tune a candidate and return its validation accuracy (plus measured costs with ``cost_cmd``).

    Runs in a worker process: data come from the spec, the float model from
    ``model_bytes`` (its stream form; on a cluster, scattered once and passed
    by reference).
    """
    import qformat as qf

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    space = OptionSpace(job.options.get("options", ["int8", "int4", "int2"]), act=job.options.get("act", "int8"))
    model = qf.from_bytes(model_bytes, name="candidate model")
    if getattr(model, "kind", None) != "model":
        raise QFormatError("job", job.cid, "model bytes hold no model")
    splits = load_splits(job.data)
    pm = precision_map(job.assign, space)
    qnet, val_acc, _ = finetune(float_net(model), pm, splits, job.train)
    out: dict[str, Any] = {"accuracy": val_acc}
    if job.cost_cmd:
        from .checkpoint import ResultCache
        from .cost.measured import measure

        qm = export_model(qnet, {"tool": "qsearch", "candidate": job.cid})
        out.update(measure(job.cost_cmd, qf.to_bytes(qm), job.cost_freq_mhz, ResultCache(job.cache_dir)))
    out["eval_seconds"] = time.perf_counter() - t0
    return out
