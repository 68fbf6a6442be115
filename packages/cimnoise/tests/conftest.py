"""Shared fixtures: trained digits MLP (scikit-learn, no torch), its probe, random and trained layers."""

from __future__ import annotations

import os

# Single-threaded BLAS before numpy loads: the trained fixtures (and so the agreement
# figures) must not depend on the machine's thread count.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1)

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def digits_mlp():
    """A 64-32-32-10 ReLU MLP trained on digits, plus train/test data (x / 16)."""
    from cimnoise.examples import digits_mlp as make

    return make((32, 32), seed=0)


@pytest.fixture(scope="session")
def digits_probe(digits_mlp):
    from cimnoise.probe import probe_model

    model, xtr, _, _, _ = digits_mlp
    return probe_model(model, xtr, seed=0)


@pytest.fixture(scope="session")
def bundle_path(tmp_path_factory, digits_mlp, digits_probe):
    """The example bundle (model + probe) on disk."""
    import qformat as qf

    path = tmp_path_factory.mktemp("cim") / "digits.qz"
    qf.save(qf.Bundle([digits_mlp[0], digits_probe]), str(path))
    return path


@pytest.fixture(scope="session")
def digits_images():
    from sklearn.datasets import load_digits

    return load_digits().images[:, None].astype(np.float64) / 16.0
