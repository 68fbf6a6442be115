"""Shared fixtures: hand-sized graph IRs for the cost models, a trained digits model, hypothesis profiles."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import qformat as qf  # noqa: E402
from qformat import Layer  # noqa: E402

torch.set_num_threads(1)

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def conv(name, src, cin, cout, k=3, s=1, p=None, g=1, act="none"):
    p = k // 2 if p is None else p
    return Layer(name, "conv2d", [src], {"in_channels": cin, "out_channels": cout, "kernel_size": [k, k],
                                         "stride": [s, s], "padding": [p, p], "groups": g}, act)


def res_layers(c: int = 4) -> list[Layer]:
    """input 1x8x8 -> conv1 (c, 3x3) -> dw (3x3) -> pw (1x1) -> add(pw, conv1) -> gap -> flatten -> fc(10)."""
    return [
        Layer("input", "input", attrs={"shape": [1, 8, 8]}),
        conv("conv1", "input", 1, c, act="relu"),
        conv("dw", "conv1", c, c, g=c, act="relu6"),
        conv("pw", "dw", c, c, k=1),
        Layer("res", "add", ["pw", "conv1"], activation="relu"),
        Layer("gap", "global_avgpool", ["res"]),
        Layer("flat", "flatten", ["gap"]),
        Layer("fc", "linear", ["flat"], {"in_features": c, "out_features": 10}),
    ]


def with_weights(layers: list[Layer], seed: int = 0, provenance: dict | None = None) -> qf.Model:
    rng = np.random.default_rng(seed)
    m = qf.Model(layers, provenance=provenance or {"tool": "test"})
    for lay in m.compute_layers():
        shp = qf.weight_shape(lay)
        fan = int(np.prod(shp[1:]))
        m.set(lay.name, "weight", rng.normal(0, 1 / np.sqrt(fan), shp).astype(np.float32))
        m.set(lay.name, "bias", rng.normal(0, 0.05, shp[0]).astype(np.float32))
    return m


@pytest.fixture
def res_net_layers() -> list[Layer]:
    return res_layers()


@pytest.fixture(scope="session")
def digits():
    from qtrain import data

    return data.load_splits("digits", seed=0)


@pytest.fixture(scope="session")
def digits_model(digits, tmp_path_factory) -> qf.Model:
    """A small CNN trained in float on digits (BatchNorm folded), ~98 % test accuracy."""
    from qtrain import zoo
    from qtrain.graph import GraphNet
    from qtrain.train import TrainConfig, fit

    torch.manual_seed(0)
    arch = zoo.build("cnn", digits.input_shape, digits.classes)
    r = fit(GraphNet.from_arch(arch, seed=0), digits, TrainConfig(epochs=10, batch_size=64, lr=3e-3, seed=0))
    m = r.net.fold_bn().to_model({"tool": "test", "dataset": digits.describe()})
    path = tmp_path_factory.mktemp("digits") / "float.qz"
    qf.save(m, str(path))
    m.path = str(path)  # type: ignore[attr-defined]
    return m


@pytest.fixture(scope="session")
def digits_mlp(digits) -> qf.Model:
    """A tiny MLP (64-16-10) trained in float on digits: the cheapest real model for executor tests."""
    from qtrain import zoo
    from qtrain.graph import GraphNet
    from qtrain.train import TrainConfig, fit

    arch = zoo.build("mlp:widths=16", digits.input_shape, digits.classes)
    r = fit(GraphNet.from_arch(arch, seed=0), digits, TrainConfig(epochs=8, batch_size=64, lr=5e-3, seed=0))
    return r.net.fold_bn().to_model({"tool": "test", "dataset": digits.describe()})
