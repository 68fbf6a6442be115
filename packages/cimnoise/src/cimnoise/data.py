"""Datasets for Monte-Carlo accuracy: NumPy archives or scikit-learn's digits.

``PATH.npz`` holds ``x`` (or ``X``) and ``y``: inputs already preprocessed
for the network, or raw when the model records qtrain's ``preprocess``
(``x_in = (x_raw - mean) / std`` per channel) and ``--raw`` is given.
``digits[:split]`` is scikit-learn's bundled 8x8 digits (needs scikit-learn),
preprocessed from the model's provenance (default ``x / 16``); ``split`` is
``all``, ``test`` or ``train``, carved like qtrain carves it (stratified 20 %,
fixed seed 20240601), so cimnoise evaluates the same test images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from qformat.splits import DEFAULT_TEST_FRACTION as TEST_FRACTION
from qformat.splits import TEST_SPLIT_SEED, stratified_split  # noqa: F401  (shared with qtrain)


def preprocess_of(model) -> Optional[dict]:
    """qtrain's recorded input transform (``provenance.dataset.preprocess``), if any."""
    prov = getattr(model, "provenance", None) or {}
    ds = prov.get("dataset") if isinstance(prov.get("dataset"), dict) else None
    pre = (ds or {}).get("preprocess") or prov.get("preprocess")
    return pre if isinstance(pre, dict) and "mean" in pre and "std" in pre else None


def apply_preprocess(x: np.ndarray, pre: Optional[dict], default_scale: float = 1.0) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if pre is None:
        return x / default_scale
    mean = np.asarray(pre["mean"], dtype=np.float64)
    std = np.asarray(pre["std"], dtype=np.float64)
    shape = (1, -1) + (1,) * (x.ndim - 2) if x.ndim > 2 else (1, -1)
    if mean.size == 1:
        return (x - mean.item()) / std.item()
    return (x - mean.reshape(shape)) / std.reshape(shape)


def load_data(spec: str, model=None, raw: bool = False, limit: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` for ``spec`` (``digits[:split]`` or an ``.npz`` path), shaped for ``model``'s input."""
    if spec.split(":")[0] == "digits":
        split = spec.split(":", 1)[1] if ":" in spec else "test"
        try:
            from sklearn.datasets import load_digits
        except ImportError:  # pragma: no cover - depends on the environment
            raise ValueError("--data digits needs scikit-learn (pip install scikit-learn)") from None
        d = load_digits()
        x, y = d.images.astype(np.float64)[:, None], d.target.astype(np.int64)
        if split in ("test", "train"):
            keep, test = stratified_split(y, TEST_FRACTION, TEST_SPLIT_SEED)
            idx = test if split == "test" else keep
            x, y = x[idx], y[idx]
        elif split != "all":
            raise ValueError(f"--data digits:{split}: split must be all, train or test")
        x = apply_preprocess(x, preprocess_of(model) if model is not None else None, 16.0)
    else:
        p = Path(spec)
        if not p.is_file():
            raise FileNotFoundError(2, "no such file", spec)
        try:
            with np.load(p) as z:
                keys = set(z.files)
                xk = "x" if "x" in keys else "X" if "X" in keys else None
                if xk is None or "y" not in keys:
                    raise ValueError(f"{spec}: an .npz dataset needs arrays 'x' (or 'X') and 'y'")
                x, y = z[xk].astype(np.float64), z["y"].astype(np.int64)
        except (OSError, ValueError) as e:
            if isinstance(e, ValueError) and "needs arrays" in str(e):
                raise
            raise ValueError(f"{spec}: not a NumPy .npz archive ({e})") from None
        if raw:
            x = apply_preprocess(x, preprocess_of(model) if model is not None else None)
    if model is not None:
        shape = tuple(model.input_shape)
        if x.shape[1:] != shape:
            if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
                x = x.reshape((x.shape[0],) + shape)
            else:
                raise ValueError(f"{spec}: inputs of shape {x.shape[1:]} do not fit the model input {shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{spec}: {x.shape[0]} inputs but {y.shape[0]} labels")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y
