"""Importers from foreign weight formats into the model artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .errors import QFormatError
from .ir import Layer
from .model import Model
from .spec import LayerQuant, WeightQuant


def import_kmeans_json(src, name: str | None = None) -> Model:
    """Import the original accelerator flow's JSON weight file.

    Keys are ``<prefix>.<index>.weight`` of an ``nn.Sequential`` of Linear layers
    with ReLU between them (no biases); each value is a list of rows, one row per
    neuron (PyTorch ``[out, in]``); values are already k-means centroids and exact
    zeros (``0.0`` or ``-0.0``) are pruned weights. The model gets a per-neuron
    codebook (the neuron's distinct non-zero values), indices into it, and the
    pruning mask. Layers keep their key names without ``.weight`` (``network.0``).
    """
    label = name or str(src)
    try:
        text = Path(src).read_text() if not hasattr(src, "read") else src.read()
        doc = json.loads(text)
    except FileNotFoundError:
        raise QFormatError(label, "", "no such file") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise QFormatError(label, "", f"not a JSON weight file ({e})") from None
    if not isinstance(doc, dict) or not doc:
        raise QFormatError(label, "", "expected an object of layer name -> weight rows")
    keys = [k for k in doc if k.endswith(".weight")]
    if not keys:
        raise QFormatError(label, "", "no '<layer>.weight' keys found")

    def order(k: str):
        nums = re.findall(r"\d+", k)
        return [int(n) for n in nums] if nums else [0]

    keys.sort(key=order)
    mats = []
    for k in keys:
        try:
            w = np.asarray(doc[k], dtype=np.float64)
        except (ValueError, TypeError):
            raise QFormatError(label, k, "rows are not a rectangular numeric matrix") from None
        if w.ndim != 2 or w.size == 0:
            raise QFormatError(label, k, f"expected a 2-D [out, in] matrix, got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise QFormatError(label, k, "contains NaN or inf")
        mats.append((k[: -len(".weight")], w + 0.0))  # + 0.0 folds -0.0 into 0.0
    layers = [Layer("input", "input", attrs={"shape": [mats[0][1].shape[1]]})]
    model = Model(provenance={"tool": "qformat import", "imported_from": Path(str(label)).name, "format": "kmeans-json"})
    prev = "input"
    for i, (lname, w) in enumerate(mats):
        if w.shape[1] != (mats[i - 1][1].shape[0] if i else w.shape[1]):
            raise QFormatError(label, f"{lname}.weight", f"{w.shape[1]} inputs do not match the previous layer's {mats[i - 1][1].shape[0]} outputs")
        last = i == len(mats) - 1
        layers.append(Layer(lname, "linear", [prev], {"in_features": w.shape[1], "out_features": w.shape[0]},
                            activation="none" if last else "relu",
                            quant=LayerQuant(weight=WeightQuant(bits=8, signed=True, scheme="kmeans", per_channel=True))))
        prev = lname
    model.layers = layers
    from .ir import infer_shapes

    infer_shapes(model.layers, label)
    for lname, w in mats:
        mask = w != 0
        k = max(1, max(len(np.unique(row[row != 0])) for row in w))
        # Index bits: enough for the neuron's centroids plus the pruned zero.
        lay = model.layer(lname)
        lay.quant = LayerQuant(weight=WeightQuant(bits=max(1, int(np.ceil(np.log2(k + 1)))), signed=False,
                                                  scheme="kmeans", per_channel=True))
        book = np.zeros((w.shape[0], k), dtype=np.float32)
        idx = np.zeros(w.shape, dtype=np.uint16 if k > 255 else np.uint8)
        for r, row in enumerate(w):
            vals = np.unique(row[row != 0])
            book[r, : len(vals)] = vals
            if len(vals):
                idx[r] = np.searchsorted(vals, row).clip(0, len(vals) - 1)
            idx[r][~mask[r]] = 0
        model.set(lname, "weight", w.astype(np.float32))
        model.set(lname, "weight_codebook", book)
        model.set(lname, "weight_indices", idx)
        model.set(lname, "weight_mask", mask)
    return model
