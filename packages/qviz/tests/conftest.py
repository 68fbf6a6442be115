"""Shared fixtures: small synthetic artifacts of every kind (built with qformat only)."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import qviz.samples as samples

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def kmeans():
    return samples.kmeans_model()


@pytest.fixture(scope="session")
def quantized():
    return samples.quantized_model()


@pytest.fixture(scope="session")
def bundle():
    return samples.everything()


@pytest.fixture(scope="session")
def sweep(kmeans):
    return samples.sweep_table(samples.model_weights(kmeans), S_values=range(4, 9), C_values=range(3, 9))


def titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def bar_heights(ax) -> np.ndarray:
    from matplotlib.patches import Rectangle

    return np.array([p.get_height() for p in ax.patches if isinstance(p, Rectangle)])


def bar_x(ax) -> np.ndarray:
    from matplotlib.patches import Rectangle

    return np.array([p.get_x() + p.get_width() / 2 for p in ax.patches if isinstance(p, Rectangle)])


def data_axes(fig):
    """Axes that are not colorbars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
