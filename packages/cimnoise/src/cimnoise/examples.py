"""Small models without torch: qformat MLPs from weight lists, and a digits MLP trained with scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

import qformat as qf

from .data import TEST_FRACTION, TEST_SPLIT_SEED, stratified_split


def mlp_model(weights: Sequence[np.ndarray], biases: Sequence[Optional[np.ndarray]], activation: str = "relu",
              provenance: Optional[dict] = None) -> qf.Model:
    """A qformat MLP: ``weights[k]`` is ``(out, in)``; hidden layers get ``activation``, the last none."""
    layers = [qf.Layer("input", "input", attrs={"shape": [int(weights[0].shape[1])]})]
    tensors = {}
    prev = "input"
    for k, (w, b) in enumerate(zip(weights, biases)):
        name = f"fc{k + 1}"
        last = k == len(weights) - 1
        layers.append(qf.Layer(name, "linear", [prev], {"in_features": int(w.shape[1]), "out_features": int(w.shape[0])},
                               activation="none" if last else activation))
        tensors[name] = {"weight": np.asarray(w, np.float32)}
        if b is not None:
            tensors[name]["bias"] = np.asarray(b, np.float32)
        prev = name
    return qf.Model(layers, provenance=provenance or {"tool": "cimnoise"}, tensors=tensors)


def digits_mlp(hidden: Sequence[int] = (32,), seed: int = 0, max_iter: int = 400):
    """Train a ReLU MLP on scikit-learn's digits (x / 16), qtrain's test split held out.

    Returns ``(model, x_train, y_train, x_test, y_test)``; needs scikit-learn.
    """
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    d = load_digits()
    x, y = d.data.astype(np.float64) / 16.0, d.target.astype(np.int64)
    keep, test = stratified_split(y, TEST_FRACTION, TEST_SPLIT_SEED)
    clf = MLPClassifier(tuple(hidden), max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x[keep], y[keep])
    prov = {"tool": "cimnoise", "command": "example", "seed": seed,
            "dataset": {"name": "digits", "preprocess": {"mean": [0.0], "std": [16.0], "layout": "NF"}},
            "metrics": {"test_acc": float(clf.score(x[test], y[test]))}}
    model = mlp_model([c.T for c in clf.coefs_], list(clf.intercepts_), provenance=prov)
    return model, x[keep], y[keep], x[test], y[test]
