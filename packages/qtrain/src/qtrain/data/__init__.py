"""Datasets: local readers, deterministic splits, a fast batched pipeline.

>>> from qtrain import data
>>> sp = data.load_splits("digits", seed=0)          # train / val (from train) / test
>>> sp.input_shape, sp.classes
((1, 8, 8), 10)
>>> xb, yb = next(iter(sp.loader("train", 64, train=True)))

Names: ``digits`` (embedded, no path), ``mnist``, ``fashion-mnist``,
``cifar10``, ``cifar100``, ``imagefolder``, ``npz``. With a path and no name
(or ``auto``) the format is detected from the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from ..errors import DataError
from .pipeline import (
    TEST_SPLIT_SEED,
    Augment,
    Loader,
    Splits,
    center_crop,
    make_splits,
    random_crop,
    random_flip,
    stratified_split,
)
from .sources import (
    RawDataset,
    decode_images,
    load_cifar10,
    load_cifar100,
    load_digits,
    load_imagefolder,
    load_mnist,
    load_npz,
    read_idx,
)

__all__ = [
    "DATASETS", "RawDataset", "Splits", "Loader", "Augment", "load", "load_splits", "detect_format",
    "make_splits", "stratified_split", "TEST_SPLIT_SEED", "load_digits", "load_mnist", "load_cifar10",
    "load_cifar100", "load_imagefolder", "load_npz", "read_idx", "decode_images", "random_crop", "random_flip",
    "center_crop",
]

DATASETS = {
    "digits": "scikit-learn's bundled 8x8 digits (embedded; no path)",
    "mnist": "MNIST IDX files (directory)",
    "fashion-mnist": "Fashion-MNIST IDX files (directory)",
    "cifar10": "CIFAR-10 python batches (directory or .tar.gz)",
    "cifar100": "CIFAR-100 python batches (directory or .tar.gz)",
    "imagefolder": "ImageFolder tree of JPEG/PNG (root/<class>/* or root/{train,val}/<class>/*)",
    "npz": "NumPy .npz with X and y (optionally X_test, y_test)",
}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
            "cifar-100": "cifar100", "image-folder": "imagefolder", "folder": "imagefolder", "imagenette": "imagefolder"}


def detect_format(path: str | os.PathLike) -> str:
    """Guess the dataset format of ``path`` (raises :class:`DataError` when nothing fits)."""
    p = Path(path)
    if not p.exists():
        raise DataError(str(p), "", "no such file or directory")
    if p.is_file():
        if p.suffix == ".npz":
            return "npz"
        if p.name.endswith((".tar.gz", ".tgz", ".tar")):
            return "cifar100" if "100" in p.name else "cifar10"
        raise DataError(str(p), "", "unknown dataset file type (expected .npz or a CIFAR .tar.gz)")
    names = {q.name for q in p.iterdir()}
    sub = [q for q in p.iterdir() if q.is_dir()]
    for d in [p] + sub:
        n = {q.name for q in d.iterdir()} if d.is_dir() else set()
        if "data_batch_1" in n:
            return "cifar10"
        if "train" in n and "test" in n and (d / "train").is_file():
            return "cifar100"
    if any(n.startswith(("train-images", "t10k-images")) for n in names) or (p / "raw").is_dir():
        return "mnist"
    if sub:
        return "imagefolder"
    raise DataError(str(p), "", "cannot tell the dataset format (no IDX, CIFAR batches or class folders)")


def load(name: str = "digits", path: Optional[str | os.PathLike] = None, **options: Any) -> RawDataset:
    """Read a dataset. ``name`` is one of :data:`DATASETS` (or ``auto`` with a ``path``).

    Options: ``image_size`` (imagefolder, default 64), ``resize``, ``workers``,
    ``cache_dir`` (imagefolder), ``coarse`` (cifar100).
    """
    key = _ALIASES.get(name.lower(), name.lower()) if name else "auto"
    if key == "auto":
        if path is None:
            key = "digits"
        else:
            key = detect_format(path)
    if key not in DATASETS:
        raise DataError(name, "", f"unknown dataset (known: {', '.join(DATASETS)})")
    if key == "digits":
        return load_digits()
    if path is None:
        raise DataError(key, "", "needs a path (--data PATH)")
    if not Path(path).exists():
        raise DataError(str(path), "", "no such file or directory")
    if key in ("mnist", "fashion-mnist"):
        return load_mnist(path, key)
    if key == "cifar10":
        return load_cifar10(path)
    if key == "cifar100":
        return load_cifar100(path, coarse=bool(options.get("coarse", False)))
    if key == "imagefolder":
        return load_imagefolder(path, size=int(options.get("image_size") or 64), resize=options.get("resize"),
                                workers=int(options.get("workers") or 0), cache_dir=options.get("cache_dir"))
    return load_npz(path)


def load_splits(name: str = "digits", path: Optional[str | os.PathLike] = None, *, seed: int = 0,
                val_fraction: float = 0.1, test_fraction: float = 0.2, normalize: Optional[str] = None,
                augment: Optional[Augment] = None, **options: Any) -> Splits:
    """:func:`load` then :func:`make_splits` (train / validation from train / untouched test)."""
    raw = load(name, path, **options)
    sp = make_splits(raw, val_fraction=val_fraction, seed=seed, test_fraction=test_fraction,
                     normalize=normalize, augment=augment)
    if path is None and raw.name != "digits":  # pragma: no cover - defensive
        raise DataError(name, "", "needs a path")
    return sp
