"""Shell-level pipeline tests: the tools composed through pipes, as users run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mnist_mlp_kmeans_pruned.json"


def sh(cmd: str, cwd: Path | None = None, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``cmd`` in bash with pipefail; return the completed process (bytes)."""
    # The tools of the environment running the tests come first on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", PATH=path)
    p = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], cwd=cwd or ROOT, capture_output=True,
                       env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {p.returncode}\nstderr:\n{p.stderr.decode()[-3000:]}")
    return p


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipeline")


@pytest.fixture(scope="session")
def float_model(work) -> Path:
    """A small MLP trained on the embedded digits set (a few seconds)."""
    out = work / "float.qz"
    sh(f"qtrain fit --dataset digits --model mlp:widths=32 --epochs 8 --checkpoint none -q > {out}")
    return out


@pytest.fixture(scope="session")
def int_model(work, float_model) -> Path:
    out = work / "int8.qz"
    sh(f"qtrain ptq - --precision int8 -q < {float_model} > {out}")
    return out
