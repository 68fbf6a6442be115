"""Reading and writing artifacts for the CLI: bundles, precision maps, provenance, datasets."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

import qformat as qf
from qformat.cli_util import binary_stdout
from qformat.precision import PrecisionMap

from . import __version__
from .data import Augment, Splits, load_splits
from .errors import ConfigError
from .quant.plan import as_precision_map

__all__ = ["read_bundle", "write_bundle", "read_precision", "provenance", "model_fingerprint", "dataset_from",
           "dataset_record"]


def read_bundle(src: str) -> qf.Bundle:
    """The bundle at ``src`` (path, URL, ``-`` = stdin)."""
    return qf.read_bundle(src)


def write_bundle(bundle: qf.Bundle, dest: str) -> None:
    """Write ``bundle`` to ``dest`` (``-`` = stdout as a qformat stream; refused on a terminal)."""
    if dest in ("-", "", None):
        binary_stdout()
        qf.save(bundle, "-")
        sys.stdout.buffer.flush()
        return
    p = Path(dest)
    if p.exists() and not (p.is_file() or p.is_dir()):
        # A device or FIFO (/dev/null, a named pipe): write the stream form into it. qformat.save would
        # atomically *replace* the path with a file or directory.
        with open(p, "wb") as f:
            qf.save(bundle, f)
        return
    qf.save(bundle, dest)


def read_precision(precision: Optional[str], precision_map: Optional[str], bundle: Optional[qf.Bundle],
                   default: str = "int8") -> tuple[PrecisionMap, str]:
    """Resolve the precision to use and say where it came from.

    Order: ``--precision-map SRC`` (qformat artifact or JSON; ``-`` = stdin),
    ``--precision TEXT`` (``int8``, ``w4a8``, ``fp16`` ...), a precision map in the
    input bundle, then ``default``.
    """
    if precision_map:
        if precision_map == "-":
            # qformat reads only the stream form from stdin; a JSON map on stdin is read here.
            if sys.stdin is None or sys.stdin.isatty():
                raise ConfigError("<stdin>", "", "no precision map: stdin is a terminal")
            obj = qf.from_bytes(sys.stdin.buffer.read(), "<stdin>")
        else:
            obj = qf.open(precision_map)
        if isinstance(obj, qf.Bundle):
            obj = obj.first("precision_map")
        if not isinstance(obj, PrecisionMap):
            raise ConfigError(precision_map, "", f"expected a precision map, found a {getattr(obj, 'kind', type(obj).__name__)}")
        return obj, f"map {precision_map}"
    if precision:
        return as_precision_map(precision), precision
    if bundle is not None:
        pm = bundle.find("precision_map")
        if pm is not None:
            return pm, "map from the input"
    return as_precision_map(default), default


def model_fingerprint(model: qf.Model) -> str:
    """A hash of a model's graph and float weights (checkpoints refuse a different starting model)."""
    h = hashlib.sha256()
    for lay in model.layers:
        h.update(f"{lay.name}|{lay.op}|{lay.inputs}|{sorted(lay.attrs.items())}|{lay.activation}".encode())
    for lay in model.compute_layers():
        for t in ("weight", "bias"):
            if model.has(lay.name, t):
                h.update(np.ascontiguousarray(model.get(lay.name, t)).tobytes())
    return h.hexdigest()[:16]


def provenance(command: str, *, dataset: Optional[dict] = None, seed: Optional[int] = None,
               metrics: Optional[dict] = None, parent: Optional[dict] = None, **extra: Any) -> dict:
    """Provenance of an artifact qtrain writes (tool, versions, dataset, seed, metrics, the command's settings)."""
    p: dict[str, Any] = {
        "tool": "qtrain", "tool_version": __version__, "command": command,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__, "python": platform.python_version(),
    }
    if dataset is not None:
        p["dataset"] = dataset
    if seed is not None:
        p["seed"] = int(seed)
    if metrics is not None:
        p["metrics"] = metrics
    if parent:
        p["parent"] = {k: parent[k] for k in ("tool", "command", "created", "metrics", "architecture") if k in parent}
    p.update({k: v for k, v in extra.items() if v is not None})
    return p


def dataset_record(sp: Splits, name: str, path: Optional[str], image_size: Optional[int]) -> dict:
    """What provenance stores so a later command rebuilds the same splits and input transform."""
    rec = sp.describe()
    rec.update({"name": name, "path": str(Path(path).resolve()) if path else None, "image_size": image_size,
                "normalize": sp.normalize, "preprocess": sp.preprocess()})
    return rec


def dataset_from(model_prov: Optional[dict], name: Optional[str], path: Optional[str], *, seed: Optional[int],
                 val_fraction: Optional[float], image_size: Optional[int], normalize: Optional[str],
                 augment: bool = True) -> tuple[Splits, dict]:
    """The splits a command works on: explicit options, else the input model's recorded dataset, else digits."""
    rec = (model_prov or {}).get("dataset") if isinstance((model_prov or {}).get("dataset"), dict) else None
    if name is None and path is None and rec is not None:
        name, path = rec.get("name", "digits"), rec.get("path")
        if seed is None:
            seed = rec.get("seed", 0)
        if val_fraction is None:
            val_fraction = rec.get("val_fraction", 0.1)
        image_size = image_size or rec.get("image_size")
        normalize = normalize or rec.get("normalize")
        if path and not os.path.exists(path):
            raise ConfigError(path, "", "the dataset recorded in the model is missing here (give --dataset/--data)")
    name = name or ("auto" if path else "digits")
    seed = 0 if seed is None else seed
    val_fraction = 0.1 if val_fraction is None else val_fraction
    sp = load_splits(name, path, seed=seed, val_fraction=val_fraction, normalize=normalize, image_size=image_size)
    if not augment:
        sp.augment = Augment(crop=sp.augment.crop, random_crop=False)  # centre crop only
    return sp, dataset_record(sp, sp.name if name == "auto" else name, path, image_size)
