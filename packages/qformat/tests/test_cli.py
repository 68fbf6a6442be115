"""The qformat CLI as a user runs it, including the double pipe through convert."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import make_cnn, make_mlp
from typer.testing import CliRunner

import qformat as qf
from qformat.cli import app
from qformat.reference_ptq import reference_ptq

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mnist_mlp_kmeans_pruned.json"


def test_convert_twice_through_pipes_is_identical(tmp_path):
    src = tmp_path / "m.qz"
    qf.save(reference_ptq(make_cnn(), np.random.default_rng(0).random((8, 1, 8, 8))), src)
    cmd = f"set -o pipefail; {sys.executable} -m qformat.cli convert - - < {src} | {sys.executable} -m qformat.cli convert - - > {tmp_path / 'out.qz'}"
    subprocess.run(["bash", "-c", cmd], check=True)
    assert (tmp_path / "out.qz").read_bytes() == src.read_bytes()


def test_convert_between_containers(tmp_path):
    m = make_mlp()
    qf.save(m, tmp_path / "a.qz")
    for dest in ("b.zip", "c.zarr", "d.qz"):
        r = runner.invoke(app, ["convert", str(tmp_path / "a.qz"), str(tmp_path / dest)])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["diff", str(tmp_path / "a.qz"), str(tmp_path / dest)])
        assert r.exit_code == 0, r.output


def test_inspect_summary(tmp_path):
    qf.save(reference_ptq(make_mlp(), np.random.default_rng(0).normal(size=(4, 64)), weight_bits=4), tmp_path / "m.qz")
    r = runner.invoke(app, ["inspect", str(tmp_path / "m.qz")])
    assert r.exit_code == 0
    assert "fc1" in r.stdout and "compression" in r.stdout and "linear+relu" in r.stdout


def test_validate_json(tmp_path):
    qf.save(make_mlp(), tmp_path / "m.zarr")
    r = runner.invoke(app, ["validate", "--json", str(tmp_path / "m.zarr")])
    assert r.exit_code == 0 and json.loads(r.stdout) == {"valid": True, "message": "valid: model"}
    (tmp_path / "bad.qz").write_bytes(b"\xff\xff\xff\xff\x10\x00")
    r = runner.invoke(app, ["validate", "--json", str(tmp_path / "bad.qz")])
    assert r.exit_code == 1 and json.loads(r.stdout)["valid"] is False


def test_diff_reports_changed_layer(tmp_path):
    a, b = make_mlp(seed=0), make_mlp(seed=0)
    w = b.get("fc2", "weight").copy()
    w[0, 0] += 1
    b.set("fc2", "weight", w)
    qf.save(a, tmp_path / "a.qz")
    qf.save(b, tmp_path / "b.qz")
    r = runner.invoke(app, ["diff", str(tmp_path / "a.qz"), str(tmp_path / "b.qz")])
    assert r.exit_code == 1 and "fc2/weight: max |diff| 1" in r.stdout


def test_import_kmeans_json(tmp_path):
    r = runner.invoke(app, ["import", str(EXAMPLE), "-o", str(tmp_path / "k.zarr")])
    assert r.exit_code == 0, r.output
    m = qf.open(tmp_path / "k.zarr")
    assert [lay.name for lay in m.compute_layers()] == ["network.0", "network.2", "network.4"]
    w = m.get("network.0", "weight")
    assert w.shape == (32, 784)
    # values are the neuron's centroids; pruned weights are exact zeros and masked
    assert np.array_equal(m.get("network.0", "weight_mask"), w != 0)
    book, idx = m.get("network.0", "weight_codebook"), m.get("network.0", "weight_indices")
    rebuilt = np.where(w != 0, np.take_along_axis(book, idx.astype(int), axis=1), 0)
    np.testing.assert_array_equal(rebuilt, w)
    assert len(np.unique(w[0][w[0] != 0])) == 5  # layer 0 neuron 0: five distinct values
    assert not np.signbit(w[w == 0]).any()       # -0.0 folded into 0.0


def test_export_targets(tmp_path):
    q = reference_ptq(make_cnn(), np.random.default_rng(0).random((8, 1, 8, 8)), per_channel=False, pow2=True)
    qf.save(q, tmp_path / "q.qz")
    for target, out in [("npz", "m.npz"), ("c-header", "m.h"), ("csv", "m.csv"), ("parquet", "m.parquet"), ("hex", "hex")]:
        r = runner.invoke(app, ["export", str(tmp_path / "q.qz"), "--to", target, "-o", str(tmp_path / out)])
        assert r.exit_code == 0, (target, r.output)
    npz = np.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(npz["conv1/weight_codes"], q.get("conv1", "weight_codes"))
    assert "static const int8_t conv1_weight_codes[36]" in (tmp_path / "m.h").read_text()
    assert (tmp_path / "m.csv").read_text().startswith('"layer","op"')


def test_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "qformat.cli", "inspect", str(tmp_path / "nope.qz")], capture_output=True)
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1 and "no such file" in r.stderr.decode()


def test_head_ends_quietly(tmp_path):
    big = make_mlp((800, 800, 800, 10))
    qf.save(big, tmp_path / "big.qz")
    p = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m qformat.cli convert {tmp_path / 'big.qz'} - | head -c 100 > /dev/null"],
                       capture_output=True)
    assert p.stderr == b"", p.stderr
    assert p.returncode == 0


def test_stdin_accepts_every_container(tmp_path):
    qf.save(make_mlp(), tmp_path / "m.zip")
    for data, expect in ((b'{"fc1": "int4", "_default": "int8"}', "precision map"),
                         ((tmp_path / "m.zip").read_bytes(), "model:")):
        p = subprocess.run([sys.executable, "-m", "qformat.cli", "inspect", "-"], input=data, capture_output=True)
        assert p.returncode == 0 and p.stdout.decode().startswith(expect), p.stderr
