"""Shared fixtures: one thread, hypothesis profiles, digits splits and small trained networks (trained once)."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def digits():
    from qtrain import data

    return data.load_splits("digits", seed=0)


def _train(spec: str, sp, epochs: int, seed: int = 0):
    from qtrain import zoo
    from qtrain.graph import GraphNet
    from qtrain.train import TrainConfig, evaluate, fit

    arch = zoo.build(spec, sp.input_shape, sp.classes)
    net = GraphNet.from_arch(arch, seed=seed)
    res = fit(net, sp, TrainConfig(epochs=epochs, batch_size=64, seed=seed))
    folded = res.net.fold_bn()
    test, _ = evaluate(folded, sp.loader("test", 512))
    return folded, test, res


@pytest.fixture(scope="session")
def digits_mlp(digits):
    """(net, float test accuracy, FitResult) of a 64-128-64-10 MLP on digits."""
    return _train("mlp:widths=128/64", digits, 30)


@pytest.fixture(scope="session")
def digits_cnn(digits):
    """(net, float test accuracy, FitResult) of the small CNN (BN folded) on digits."""
    return _train("cnn", digits, 15)


@pytest.fixture(scope="session")
def calib(digits):
    from qtrain.workflows import calibration_batches

    return calibration_batches(digits, 1024)
