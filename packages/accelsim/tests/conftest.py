import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("QSTACK_ROOT", HERE.parents[2]))


def _json_path() -> Path:
    for p in (ROOT / "examples" / "mnist_mlp_kmeans_pruned.json", Path("/work/shared/data/mnist_mlp_kmeans_pruned.json")):
        if p.exists():
            return p
    raise FileNotFoundError("mnist_mlp_kmeans_pruned.json not found (examples/ of the repo)")


@pytest.fixture(scope="session")
def json_path() -> Path:
    return _json_path()


@pytest.fixture(scope="session")
def mats(json_path) -> dict:
    """The original JSON as plain numpy matrices (our own tiny loader, no qformat)."""
    d = json.loads(json_path.read_text())
    return {k[: -len(".weight")]: np.asarray(v, dtype=np.float64) for k, v in d.items()}
