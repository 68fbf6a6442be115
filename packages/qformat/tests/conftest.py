"""Shared fixtures: small float models (MLP, CNN with a residual add) and hypothesis profiles."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import qformat as qf
from qformat import Layer

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def make_mlp(widths=(64, 32, 10), seed=0) -> qf.Model:
    rng = np.random.default_rng(seed)
    layers = [Layer("input", "input", attrs={"shape": [widths[0]]})]
    tensors = {}
    prev = "input"
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        name = f"fc{i + 1}"
        last = i == len(widths) - 2
        layers.append(Layer(name, "linear", [prev], {"in_features": a, "out_features": b},
                            activation="none" if last else "relu"))
        tensors[name] = {"weight": rng.normal(0, 1 / np.sqrt(a), (b, a)).astype(np.float32),
                         "bias": rng.normal(0, 0.1, b).astype(np.float32)}
        prev = name
    return qf.Model(layers, provenance={"tool": "test"}, tensors=tensors)


def make_cnn(seed=0, c=4) -> qf.Model:
    """conv -> dwconv -> pw conv, residual add, pools, flatten, linear, softmax."""
    rng = np.random.default_rng(seed)
    L = [
        Layer("input", "input", attrs={"shape": [1, 8, 8]}),
        Layer("conv1", "conv2d", ["input"], {"in_channels": 1, "out_channels": c, "kernel_size": [3, 3],
                                             "stride": [1, 1], "padding": [1, 1], "groups": 1}, "relu"),
        Layer("dw", "conv2d", ["conv1"], {"in_channels": c, "out_channels": c, "kernel_size": [3, 3],
                                          "stride": [1, 1], "padding": [1, 1], "groups": c}, "relu6"),
        Layer("pw", "conv2d", ["dw"], {"in_channels": c, "out_channels": c, "kernel_size": [1, 1],
                                       "stride": [1, 1], "padding": [0, 0], "groups": 1}),
        Layer("res", "add", ["pw", "conv1"], activation="relu"),
        Layer("pool", "maxpool2d", ["res"], {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}),
        Layer("conv2", "conv2d", ["pool"], {"in_channels": c, "out_channels": 2 * c, "kernel_size": [3, 3],
                                            "stride": [2, 2], "padding": [1, 1], "groups": 1}, "relu"),
        Layer("gap", "global_avgpool", ["conv2"]),
        Layer("flat", "flatten", ["gap"]),
        Layer("fc", "linear", ["flat"], {"in_features": 2 * c, "out_features": 10}),
        Layer("prob", "softmax", ["fc"]),
    ]
    m = qf.Model(L, provenance={"tool": "test", "seed": seed})
    for lay in m.compute_layers():
        shp = qf.weight_shape(lay)
        fan = int(np.prod(shp[1:]))
        m.set(lay.name, "weight", rng.normal(0, 1 / np.sqrt(fan), shp).astype(np.float32))
        m.set(lay.name, "bias", rng.normal(0, 0.05, shp[0]).astype(np.float32))
    return m


@pytest.fixture
def mlp() -> qf.Model:
    return make_mlp()


@pytest.fixture
def cnn() -> qf.Model:
    return make_cnn()
