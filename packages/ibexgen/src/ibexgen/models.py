"""Small quantized example models (no torch): for tests, benchmarks and the README.

Float weights are random (seeded); :func:`quantize` runs qformat's numpy
post-training quantizer with a per-layer weight precision map. Cycle counts
do not depend on the weight values, and bit-exactness is checked against
``qformat.run`` of the very same artifact, so random weights lose nothing
here; trained artifacts come from qtrain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional, Union

import numpy as np

import qformat as qf


def _lin(name, inp, fin, fout, act="none"):
    return qf.Layer(name, "linear", [inp], {"in_features": fin, "out_features": fout}, activation=act)


def _conv(name, inp, cin, cout, k=3, s=1, p=1, groups=1, act="none"):
    return qf.Layer(name, "conv2d", [inp], {"in_channels": cin, "out_channels": cout, "kernel_size": [k, k],
                                            "stride": [s, s], "padding": [p, p], "groups": groups}, activation=act)


def _fill(model: qf.Model, rng: np.random.Generator) -> qf.Model:
    for lay in model.compute_layers():
        shape = qf.weight_shape(lay)
        fan_in = int(np.prod(shape[1:]))
        model.set(lay.name, "weight", (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))
        model.set(lay.name, "bias", (rng.standard_normal(shape[0]) * 0.1).astype(np.float32))
    return model


def mlp(sizes=(64, 32, 10), seed: int = 0, name: str = "mlp") -> qf.Model:
    """A float MLP ``sizes[0] -> ... -> sizes[-1]`` with ReLU between layers."""
    layers = [qf.Layer("input", "input", attrs={"shape": [sizes[0]]})]
    prev = "input"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(_lin(f"fc{i + 1}", prev, a, b, "none" if last else "relu"))
        prev = f"fc{i + 1}"
    return _fill(qf.Model(layers, provenance={"tool": "ibexgen.models", "model": name}), np.random.default_rng(seed))


def cnn(in_shape=(1, 8, 8), channels: int = 8, classes: int = 10, seed: int = 0, residual: bool = True,
        pool: str = "max") -> qf.Model:
    """conv3x3 -> depthwise 3x3 -> pointwise 1x1 (+ residual add) -> pool -> linear."""
    c0, h, w = in_shape
    L = [qf.Layer("input", "input", attrs={"shape": list(in_shape)}),
         _conv("conv1", "input", c0, channels, act="relu"),
         _conv("dw2", "conv1", channels, channels, groups=channels, act="relu"),
         _conv("pw3", "dw2", channels, channels, k=1, p=0, act="none" if residual else "relu")]
    prev = "pw3"
    if residual:
        L.append(qf.Layer("add4", "add", ["conv1", "pw3"], activation="relu"))
        prev = "add4"
    if pool == "max":
        L.append(qf.Layer("pool", "maxpool2d", [prev], {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}))
        feat = channels * (h // 2) * (w // 2)
    elif pool == "avg":
        L.append(qf.Layer("pool", "avgpool2d", [prev], {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}))
        feat = channels * (h // 2) * (w // 2)
    else:
        L.append(qf.Layer("pool", "global_avgpool", [prev]))
        feat = channels
    L.append(qf.Layer("flat", "flatten", ["pool"]))
    L.append(_lin("fc", "flat", feat, classes))
    return _fill(qf.Model(L, provenance={"tool": "ibexgen.models", "model": "cnn"}), np.random.default_rng(seed))


def calibration(model: qf.Model, n: int = 64, seed: int = 1, signed_input: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(model.input_shape)
    x = rng.random(shape).astype(np.float32)
    return (2 * x - 1).astype(np.float32) if signed_input else x


def quantize(model: qf.Model, bits: Union[int, Mapping[str, int]] = 8, multiplier_bits: int = 31,
             signed_input: bool = False, seed: int = 1, x_calib: Optional[np.ndarray] = None) -> qf.Model:
    """qformat's reference PTQ with per-layer weight bits (``{"fc1": 2, "_default": 8}``)."""
    from qformat.reference_ptq import reference_ptq

    if x_calib is None:
        x_calib = calibration(model, seed=seed, signed_input=signed_input)
    return reference_ptq(model, x_calib, weight_bits=bits, multiplier_bits=multiplier_bits)


def elderly_fall_mlp(seed: int = 0) -> qf.Model:
    """The shape of the original's elderly_fall network: 117 -> 20 -> 2."""
    return mlp((117, 20, 2), seed=seed, name="elderly_fall")


def digits_mlp(hidden: int = 32, seed: int = 0) -> qf.Model:
    """An MLP for sklearn's 8x8 digits: 64 -> hidden -> 10."""
    return mlp((64, hidden, 10), seed=seed, name="digits_mlp")


def lenet5(seed: int = 0) -> qf.Model:
    """LeNet-5 for 1x28x28 inputs: conv5x5(6, pad 2) - maxpool - conv5x5(16) - maxpool - 120 - 84 - 10."""
    L = [qf.Layer("input", "input", attrs={"shape": [1, 28, 28]}),
         _conv("conv1", "input", 1, 6, k=5, p=2, act="relu"),
         qf.Layer("pool1", "maxpool2d", ["conv1"], {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}),
         _conv("conv2", "pool1", 6, 16, k=5, p=0, act="relu"),
         qf.Layer("pool2", "maxpool2d", ["conv2"], {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}),
         qf.Layer("flat", "flatten", ["pool2"]),
         _lin("fc1", "flat", 400, 120, "relu"), _lin("fc2", "fc1", 120, 84, "relu"), _lin("fc3", "fc2", 84, 10)]
    return _fill(qf.Model(L, provenance={"tool": "ibexgen.models", "model": "lenet5"}), np.random.default_rng(seed))
