"""Quantized test models (no torch): qformat models built directly, weights random, PTQ by qformat."""

from __future__ import annotations

import functools

import numpy as np

import qformat as qf
from ibexgen import models


@functools.cache
def mlp(bits: tuple = (("_default", 8),), multiplier_bits: int = 31, sizes=(64, 32, 10), signed_input: bool = False):
    return models.quantize(models.mlp(sizes), {"_default": 8, **dict(bits)}, multiplier_bits=multiplier_bits,
                           signed_input=signed_input)


@functools.cache
def cnn(pool: str = "max", bits: tuple = (("_default", 8),), residual: bool = True, multiplier_bits: int = 31,
        in_shape=(1, 8, 8), channels: int = 8):
    return models.quantize(models.cnn(in_shape=in_shape, channels=channels, pool=pool, residual=residual),
                           {"_default": 8, **dict(bits)}, multiplier_bits=multiplier_bits)


def with_zero_points(model: qf.Model, zp_in: int = 37, zp_w: int = 1) -> qf.Model:
    """Give the input an asymmetric quantization and the first layer a weight zero point."""
    m = model.copy()
    q = m.input_quant
    q2 = q.model_copy(update={"zero_point": zp_in, "signed": False})
    m.layers[0].quant = m.layers[0].quant.model_copy(update={"output": q2})
    first = m.compute_layers()[0]
    first.quant = first.quant.model_copy(update={"input": q2})
    codes = m.get(first.name, "weight_codes").astype(np.int64)
    m.set(first.name, "weight_codes", np.clip(codes + zp_w, -128, 127).astype(np.int8))
    m.set(first.name, "weight_zero_point", np.full(codes.shape[0], zp_w, dtype=np.int32))
    return m


def sample(model: qf.Model, seed: int = 0) -> np.ndarray:
    q = model.input_quant
    return np.random.default_rng(seed).integers(q.qmin, q.qmax + 1, size=tuple(model.input_shape))


def reference(model: qf.Model, codes: np.ndarray) -> np.ndarray:
    return qf.run(model, codes[None], mode="int", raw=True)[0]


def handmade(seed: int = 0, zp: int = 3, compat_friendly: bool = False) -> qf.Model:
    """Integer codes written directly (no PTQ): stride-2 and non-square kernels, asymmetric padding,
    a standalone ReLU whose producer has two consumers, concat, padded pooling, relu6 and zero points."""
    rng = np.random.default_rng(seed)
    A = qf.ActQuant

    def q8(zp_=0, signed=False, scale=0.05):
        return A(bits=8, signed=signed, scale=scale, zero_point=zp_)

    qin = q8(zp)
    qa = q8(0, True, 0.04)
    layers = [
        qf.Layer("input", "input", attrs={"shape": [3, 7, 6]}, quant=qf.LayerQuant(output=qin)),
        qf.Layer("a", "conv2d", ["input"], {"in_channels": 3, "out_channels": 5, "kernel_size": [3, 1], "stride": [2, 1],
                                            "padding": [1, 0], "groups": 1},
                 quant=qf.LayerQuant(weight=qf.WeightQuant(bits=4), input=qin, output=qa)),
        qf.Layer("b", "conv2d", ["input"], {"in_channels": 3, "out_channels": 3, "kernel_size": [1, 1], "stride": [2, 1],
                                            "padding": [0, 0], "groups": 1},
                 activation="relu" if compat_friendly else "relu6",
                 quant=qf.LayerQuant(weight=qf.WeightQuant(bits=2), input=qin,
                                     output=q8(0 if compat_friendly else 2, False, 0.04))),
        qf.Layer("ra", "relu", ["a"]),
        qf.Layer("cat", "concat", ["a", "ra"]),
        qf.Layer("dw", "conv2d", ["cat"], {"in_channels": 10, "out_channels": 10, "kernel_size": [3, 3],
                                           "stride": [2, 2], "padding": [1, 1], "groups": 10}, activation="relu",
                 quant=qf.LayerQuant(weight=qf.WeightQuant(bits=8), input=qa, output=q8(0, False, 0.03))),
        qf.Layer("mp", "maxpool2d", ["dw"], {"kernel_size": [2, 2], "stride": [1, 1], "padding": [1, 1]}),
        qf.Layer("ap", "avgpool2d", ["b"], {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1]}),
        qf.Layer("flat", "flatten", ["mp"]),
        qf.Layer("fc", "linear", ["flat"], {"in_features": 0, "out_features": 6},
                 quant=qf.LayerQuant(weight=qf.WeightQuant(bits=4), input=q8(0, False, 0.03),
                                     output=q8(0 if compat_friendly else -4, True, 0.1))),
    ]
    # infer shapes to size the linear layer
    from qformat.ir import infer_shapes
    tmp = [lay for lay in layers if lay.name != "fc"]
    infer_shapes(tmp)
    feat = int(np.prod(tmp[-1].out_shape))
    layers[-1].attrs["in_features"] = feat
    m = qf.Model(layers, provenance={"tool": "tests.handmade"})
    for lay in m.compute_layers():
        shape = qf.weight_shape(lay)
        wb = lay.quant.weight.bits
        lim = (1 << (wb - 1)) - 1
        m.set(lay.name, "weight_codes", rng.integers(-lim - 1, lim + 1, size=shape).astype(np.int8))
        m.set(lay.name, "weight_scale", np.full(shape[0], 0.02, np.float32))
        m.set(lay.name, "weight", rng.standard_normal(shape).astype(np.float32))
        m.set(lay.name, "bias_codes", rng.integers(-3000, 3000, size=shape[0]).astype(np.int32))
        m.set(lay.name, "requant_multiplier", rng.integers(1 << 29, 1 << 30, size=shape[0]).astype(np.int32))
        m.set(lay.name, "requant_shift", rng.integers(36, 40, size=shape[0]).astype(np.int32))
    return m
