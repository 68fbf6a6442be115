"""Older versions upgrade through the explicit migration; large models read lazily."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import make_mlp

import qformat as qf
from qformat.migrations import v0_to_v1

V0 = Path(__file__).parent / "fixtures" / "v0_mlp.zarr"


def test_v0_fixture_reads_as_v1():
    m = qf.open(V0)
    assert [lay.op for lay in m.layers] == ["input", "linear", "linear"]
    assert m.layer("hidden").activation == "relu"
    assert m.provenance["migrated_from"] == "0"
    raw = zarr.open_group(str(V0), mode="r")
    np.testing.assert_array_equal(m.get("hidden", "weight"), raw["params/hidden/w"][...])
    np.testing.assert_array_equal(m.get("out", "bias"), raw["params/out/b"][...])
    y = qf.run(m, np.ones((2, 6)))
    h = np.maximum(np.ones((2, 6)) @ raw["params/hidden/w"][...].T + raw["params/hidden/b"][...], 0)
    np.testing.assert_allclose(y, h @ raw["params/out/w"][...].T + raw["params/out/b"][...], rtol=1e-6)


def test_v0_converts_to_v1_on_write(tmp_path):
    m = qf.open(V0)
    qf.save(m, tmp_path / "v1.zarr")
    attrs = dict(zarr.open_group(str(tmp_path / "v1.zarr"), mode="r").attrs)
    assert attrs["qformat"]["version"] == qf.SPEC_VERSION and "qstack_model" not in attrs
    assert (tmp_path / "v1.zarr" / "layers" / "hidden" / "weight").exists()
    back = qf.open(tmp_path / "v1.zarr")
    np.testing.assert_array_equal(back.get("hidden", "weight"), m.get("hidden", "weight"))


def test_v0_migration_refuses_unknown_ops():
    with pytest.raises(qf.QFormatError, match="lstm"):
        v0_to_v1({"layers": [{"name": "x", "type": "lstm"}]}, "old.zarr")


def test_newer_major_refused(tmp_path):
    qf.save(make_mlp(), tmp_path / "m.zarr")
    g = zarr.open_group(str(tmp_path / "m.zarr"), mode="r+")
    meta = dict(g.attrs["qformat"])
    meta["version"] = "2.0"
    g.attrs["qformat"] = meta
    with pytest.raises(qf.QFormatError, match="newer than this qformat reads"):
        qf.open(tmp_path / "m.zarr")


def test_reading_one_layer_does_not_read_the_others(tmp_path):
    m = make_mlp((300, 200, 100, 10))
    qf.save(m, tmp_path / "m.zarr")
    # Remove the data of every other layer: if open() or get("fc1") touched it, this would fail.
    for name in ("fc2", "fc3"):
        shutil.rmtree(tmp_path / "m.zarr" / "layers" / name / "weight" / "c")
    back = qf.open(tmp_path / "m.zarr")
    np.testing.assert_array_equal(back.get("fc1", "weight"), m.get("fc1", "weight"))
    with pytest.raises(qf.QFormatError, match="layers/fc2/weight: missing data"):
        back.get("fc2", "weight")


def test_stream_file_is_memory_mapped(tmp_path):
    m = make_mlp((300, 200, 10))
    qf.save(m, tmp_path / "m.qz")
    back = qf.open(tmp_path / "m.qz")
    w = back.get("fc1", "weight")
    np.testing.assert_array_equal(w, m.get("fc1", "weight"))
