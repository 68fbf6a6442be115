"""Seeded splits, normalisation and a fast batched tensor pipeline.

The whole split lives in memory as a uint8 tensor; a batch is gathered,
augmented (random crop / flip, vectorised over the batch) and normalised in a
few tensor ops. Shuffling and augmentation draw from a generator seeded by
``(seed, epoch)``, so epoch ``e`` yields the same batches whether or not the
run was interrupted before it (this is what makes ``--resume`` exact).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from qformat.splits import TEST_SPLIT_SEED, stratified_split  # the shared split convention

from .sources import RawDataset

# The test split carved from datasets without an official one uses this fixed
# seed, independent of the training seed: changing --seed never moves a sample
# into or out of the test set.


@dataclass
class Augment:
    """Training-time augmentation of images: random crop (after zero padding ``pad``) and horizontal flip.

    ``crop`` (image-folder data decoded larger than the network input) takes a
    random ``crop x crop`` window at train time and the centre at eval time.
    """

    pad: int = 0
    flip: bool = False
    crop: Optional[int] = None
    random_crop: bool = True

    @property
    def active(self) -> bool:
        return self.pad > 0 or self.flip or (self.crop is not None and self.random_crop)

    def to_json(self) -> dict:
        return {"pad": self.pad, "flip": self.flip, "crop": self.crop, "random_crop": self.random_crop}


def random_crop(x: torch.Tensor, size: tuple[int, int], pad: int, gen: torch.Generator) -> torch.Tensor:
    """Per-sample random ``size`` crops of a batch ``(B, C, H, W)`` after zero padding by ``pad``."""
    b, c, h, w = x.shape
    if pad:
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    hh, ww = x.shape[2], x.shape[3]
    oy = torch.randint(0, hh - size[0] + 1, (b,), generator=gen)
    ox = torch.randint(0, ww - size[1] + 1, (b,), generator=gen)
    rows = (oy[:, None] + torch.arange(size[0]))[:, :, None]          # (B, h, 1)
    cols = (ox[:, None] + torch.arange(size[1]))[:, None, :]          # (B, 1, w)
    bi = torch.arange(b)[:, None, None]
    # Advanced indexing moves the indexed dims first: (B, h, w, C) -> (B, C, h, w).
    return x.permute(0, 2, 3, 1)[bi, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip each image of the batch horizontally with probability 1/2."""
    m = torch.rand(x.shape[0], generator=gen) < 0.5
    if not bool(m.any()):
        return x
    x = x.clone()
    x[m] = x[m].flip(3)
    return x


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[2], x.shape[3]
    t, l = (h - size) // 2, (w - size) // 2
    return x[:, :, t:t + size, l:l + size]


class Loader:
    """Batches of one split: ``for xb, yb in loader.epoch(e)`` (float32 normalised inputs, int64 labels).

    ``x`` is a uint8 image array ``(N, C, H, W)`` or float32 features ``(N, F)``;
    inputs are normalised as ``(x - mean) / std`` per channel (per feature).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, *, mean: np.ndarray, std: np.ndarray,
                 shuffle: bool = False, augment: Optional[Augment] = None, seed: int = 0,
                 drop_last: bool = False, device: str | torch.device = "cpu", eval_crop: Optional[int] = None):
        self.x = torch.from_numpy(np.ascontiguousarray(x))
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64))
        self.n = int(self.x.shape[0])
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.augment = augment if augment is not None and augment.active else None
        self.eval_crop = eval_crop
        self.seed = int(seed)
        self.drop_last = drop_last
        self.device = torch.device(device)
        shape = (1, -1) + (1,) * (self.x.dim() - 2)
        std = np.asarray(std, np.float32)
        self._mean = torch.as_tensor(np.asarray(mean, np.float32)).reshape(shape)
        self._inv = torch.as_tensor(1.0 / std).reshape(shape)

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return (self.n + self.batch_size - 1) // self.batch_size

    def generator(self, epoch: int) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed((self.seed * 1_000_003 + epoch * 7919 + 1) % (2**63 - 1))
        return g

    def transform(self, xb: torch.Tensor, gen: Optional[torch.Generator]) -> torch.Tensor:
        """Augment (when ``gen`` is given and augmentation is on) and normalise one raw batch."""
        if xb.dim() == 4:
            aug = self.augment
            if gen is not None and aug is not None:
                if (aug.crop is not None and aug.random_crop) or aug.pad:
                    size = (aug.crop, aug.crop) if aug.crop else (xb.shape[2], xb.shape[3])
                    xb = random_crop(xb, size, aug.pad, gen)
                elif aug.crop is not None:
                    xb = center_crop(xb, aug.crop)
                if aug.flip:
                    xb = random_flip(xb, gen)
            elif self.eval_crop is not None:
                xb = center_crop(xb, self.eval_crop)
        xb = xb.to(torch.float32)
        return (xb - self._mean) * self._inv

    def epoch(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of epoch ``epoch`` (deterministic in ``(seed, epoch)``)."""
        gen = self.generator(epoch)
        order = torch.randperm(self.n, generator=gen) if self.shuffle else None
        for i in range(len(self)):
            sl = slice(i * self.batch_size, min(self.n, (i + 1) * self.batch_size))
            if order is not None:
                idx = order[sl]
                xb, yb = self.x[idx], self.y[idx]
            else:
                xb, yb = self.x[sl], self.y[sl]
            xb = self.transform(xb, gen if self.augment is not None else None)
            if self.device.type != "cpu":
                xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            yield xb, yb

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.epoch(0)

    def arrays(self, limit: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """The whole split (or its first ``limit`` samples) as normalised float32 numpy, no augmentation."""
        n = self.n if limit is None else min(self.n, int(limit))
        x = self.transform(self.x[:n], None)
        return x.numpy(), self.y[:n].numpy()


@dataclass
class Splits:
    """Train / validation (carved from train) / test (untouched) splits of one dataset.

    ``mean``/``std`` (per channel, or per feature for tabular data) are computed
    from the *training split only* and define the network input:
    ``x_in = (x_raw - mean) / std``. They are recorded in every artifact's
    provenance (``preprocess``) so other tools feed the network identically.
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    class_names: list[str]
    kind: str
    input_shape: tuple[int, ...]
    mean: np.ndarray
    std: np.ndarray
    augment: Augment = field(default_factory=Augment)
    seed: int = 0
    val_fraction: float = 0.1
    normalize: str = "unit"

    def loader(self, split: str, batch_size: int = 128, *, train: bool = False, seed: Optional[int] = None,
               device: str | torch.device = "cpu", limit: Optional[int] = None) -> Loader:
        """A :class:`Loader` over ``split`` (``train``/``val``/``test``); ``train`` shuffles and augments."""
        x, y = {"train": (self.x_train, self.y_train), "val": (self.x_val, self.y_val),
                "test": (self.x_test, self.y_test)}[split]
        if limit is not None:
            x, y = x[:limit], y[:limit]
        return Loader(x, y, batch_size, mean=self.mean, std=self.std, shuffle=train,
                      augment=self.augment if train else None, seed=self.seed if seed is None else seed,
                      drop_last=False, device=device, eval_crop=self.augment.crop)

    def preprocess(self) -> dict:
        """The input transform as JSON (for provenance)."""
        return {"mean": [float(v) for v in np.asarray(self.mean).reshape(-1)],
                "std": [float(v) for v in np.asarray(self.std).reshape(-1)],
                "crop": self.augment.crop, "normalize": self.normalize,
                "layout": "NCHW" if self.kind == "image" else "NF"}

    def describe(self) -> dict:
        """Provenance entry: where the data came from and how it was split."""
        return {"name": self.name, "source": self.source, "classes": self.classes, "seed": self.seed,
                "val_fraction": self.val_fraction, "sizes": {"train": int(len(self.y_train)),
                                                             "val": int(len(self.y_val)), "test": int(len(self.y_test))},
                "input_shape": list(self.input_shape), "augment": self.augment.to_json()}


def make_splits(raw: RawDataset, *, val_fraction: float = 0.1, seed: int = 0, test_fraction: float = 0.2,
                normalize: Optional[str] = None, augment: Optional[Augment] = None) -> Splits:
    """Carve deterministic splits from a :class:`RawDataset`.

    The test split is the official one when the format has it, else a
    stratified ``test_fraction`` carved with the fixed :data:`TEST_SPLIT_SEED`
    (never with ``seed``). The validation split is a stratified ``val_fraction``
    of the remaining training data, carved with ``seed``.
    ``normalize``: ``unit`` (x / max, the default for grayscale images),
    ``standard`` (per-channel mean/std of the train split; default for colour
    images and tabular data) or ``none``.
    """
    xtr, ytr = raw.x_train, raw.y_train
    if raw.x_test is None:
        keep, test = stratified_split(ytr, test_fraction, TEST_SPLIT_SEED)
        xte, yte = xtr[test], ytr[test]
        xtr, ytr = xtr[keep], ytr[keep]
    else:
        xte, yte = raw.x_test, raw.y_test
    keep, val = stratified_split(ytr, val_fraction, seed)
    xva, yva = xtr[val], ytr[val]
    xtr, ytr = xtr[keep], ytr[keep]

    if normalize is None:
        normalize = "standard" if raw.kind == "tabular" or raw.sample_shape[0] == 3 else "unit"
    if normalize not in ("unit", "standard", "none"):
        raise ValueError(f"normalize must be unit, standard or none, got {normalize!r}")
    axes = (0,) if raw.kind == "tabular" else (0, 2, 3)
    c = raw.sample_shape[0]
    if normalize == "none":
        mean, std = np.zeros(c, np.float32), np.ones(c, np.float32)
    elif normalize == "unit":
        mean, std = np.zeros(c, np.float32), np.full(c, raw.max_value, np.float32)
    else:
        mean, std = _moments(xtr, axes)
        if raw.kind == "tabular":
            std = np.where(std > 1e-8, std, 1.0).astype(np.float32)
    if augment is None:
        augment = default_augment(raw)
    return Splits(raw.name, raw.source, xtr, ytr, xva, yva, xte, yte, raw.classes, list(raw.class_names), raw.kind,
                  raw.input_shape, np.asarray(mean, np.float32), np.asarray(std, np.float32), augment, seed,
                  val_fraction, normalize)


def _moments(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over ``axes`` (float64 accumulation, chunked: no full float copy of a uint8 set)."""
    s = s2 = 0.0
    for i in range(0, x.shape[0], 4096):
        ch = x[i:i + 4096].astype(np.float64)
        s = s + ch.sum(axis=axes)
        s2 = s2 + (ch * ch).sum(axis=axes)
    n = max(1, int(np.prod([x.shape[a] for a in axes])))
    mean = s / n
    var = np.maximum(s2 / n - mean * mean, 0.0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def default_augment(raw: RawDataset) -> Augment:
    """Per-format default: crop+flip for CIFAR, random crop+flip for image folders, none otherwise."""
    if raw.kind != "image":
        return Augment()
    if raw.crop is not None:
        return Augment(pad=0, flip=True, crop=raw.crop)
    if raw.name.startswith("cifar"):
        return Augment(pad=4, flip=True)
    return Augment()
