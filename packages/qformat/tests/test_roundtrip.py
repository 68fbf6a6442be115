"""Every kind through every container comes back bit-exact (property-tested)."""

import uuid

import numpy as np
import pyarrow as pa
import pytest
from conftest import make_cnn, make_mlp
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
from qformat.reference_ptq import reference_ptq

CONTAINERS = ["dir", "zip", "stream", "bytes", "memory-dir", "memory-stream"]


def roundtrip(obj, container, tmp_path):
    if container == "bytes":
        return qf.from_bytes(qf.to_bytes(obj))
    if container.startswith("memory"):
        url = f"memory://rt-{uuid.uuid4().hex}/" + ("a.zarr" if container == "memory-dir" else "a.qz")
        qf.save(obj, url)
        return qf.open(url)
    ext = {"dir": "a.zarr", "zip": "a.zip", "stream": "a.qz"}[container]
    path = tmp_path / f"{uuid.uuid4().hex}-{ext}"
    qf.save(obj, path)
    return qf.open(path)


def assert_models_equal(a: qf.Model, b: qf.Model):
    assert a.layer_names() == b.layer_names()
    for x, y in zip(a.layers, b.layers):
        assert (x.op, x.inputs, x.attrs, x.activation, tuple(x.out_shape), x.quant) == \
               (y.op, y.inputs, y.attrs, y.activation, tuple(y.out_shape), y.quant)
    assert sorted(a.tensor_keys()) == sorted(b.tensor_keys())
    for k in a.tensor_keys():
        u, v = a.get(*k), b.get(*k)
        assert u.dtype == v.dtype and u.shape == v.shape
        assert u.tobytes() == v.tobytes()  # bit-exact, NaN payloads and -0.0 included
    assert a.provenance == b.provenance


widths = st.lists(st.integers(1, 40), min_size=2, max_size=4)


@pytest.mark.parametrize("container", CONTAINERS)
@given(w=widths, seed=st.integers(0, 2**16), quantize=st.booleans())
def test_model_roundtrip(tmp_path, container, w, seed, quantize):
    m = make_mlp(tuple(w), seed)
    if quantize:
        m = reference_ptq(m, np.random.default_rng(seed).normal(size=(8, w[0])), weight_bits=(seed % 7) + 2)
    assert_models_equal(m, roundtrip(m, container, tmp_path))


@pytest.mark.parametrize("container", CONTAINERS)
def test_cnn_and_kmeans_roundtrip(tmp_path, container):
    from pathlib import Path

    from qformat.importers import import_kmeans_json
    km = import_kmeans_json(Path(__file__).resolve().parents[3] / "examples" / "mnist_mlp_kmeans_pruned.json")
    for m in (make_cnn(), km):
        assert_models_equal(m, roundtrip(m, container, tmp_path))


arrays = st.integers(1, 5).flatmap(lambda c: st.integers(2, 8).map(lambda b: (c, b)))


@pytest.mark.parametrize("container", CONTAINERS)
@given(cb=arrays, seed=st.integers(0, 2**16))
def test_probe_roundtrip(tmp_path, container, cb, seed):
    c, b = cb
    rng = np.random.default_rng(seed)
    ps = qf.ProbeStats(classes=3, provenance={"tool": "t"})
    for layer in ("fc1", "fc2"):
        ps.add_site(layer, "in", qf.ActivationStats(
            edges=np.sort(rng.normal(size=b + 1)), counts=rng.integers(0, 9, (c, b)), p_zero=rng.random(c),
            min=rng.normal(size=c), max=rng.normal(size=c), mean=rng.normal(size=c), var=rng.random(c),
            percentiles={99.9: rng.normal(size=c), 0.1: rng.normal(size=c)}, n=int(seed)))
        ps.noise_prop[layer] = rng.random((c, 3))
    back = roundtrip(ps, container, tmp_path)
    assert back.sites() == ps.sites() and back.classes == 3 and back.provenance == ps.provenance
    for s in ps.sites():
        a, z = ps.site(*s.rsplit(".", 1)), back.site(*s.rsplit(".", 1))
        for f in ("edges", "counts", "p_zero", "min", "max", "mean", "var"):
            np.testing.assert_array_equal(getattr(a, f), getattr(z, f))
        assert sorted(a.percentiles) == sorted(z.percentiles) and a.n == z.n
    for k in ps.noise_prop:
        np.testing.assert_array_equal(ps.noise_prop[k], back.noise_prop[k])


precisions = st.sampled_from(["fp32", "fp16", "int8", "int4", "int2", "uint8", "int3"])


@pytest.mark.parametrize("container", CONTAINERS)
@given(rules=st.dictionaries(st.sampled_from(["fc1", "fc2", "re:conv.*", "re:.*", "_default"]),
                             st.fixed_dictionaries({"weight": precisions, "activation": precisions}), max_size=5))
def test_precision_map_roundtrip(tmp_path, container, rules):
    pm = qf.PrecisionMap(rules)
    back = roundtrip(pm, container, tmp_path)
    assert back == pm and list(back.rules()) == list(pm.rules())


@pytest.mark.parametrize("container", CONTAINERS)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**16))
def test_table_roundtrip(tmp_path, container, n, seed):
    rng = np.random.default_rng(seed)
    cyc = pa.array([None if v < 0.2 else int(v * 1000) for v in rng.random(n)], pa.int64())
    t = qf.Table(pa.table({"layer": pa.array([f"l{i % 3}" for i in range(n)]), "cycles": cyc,
                           "x": pa.array(rng.normal(size=n))}), table_kind="accelsim.sweep", provenance={"seed": seed})
    back = roundtrip(t, container, tmp_path)
    assert back == t and back.provenance == t.provenance


@pytest.mark.parametrize("container", ["dir", "zip", "stream", "bytes", "memory-stream"])
def test_bundle_roundtrip_keeps_order(tmp_path, container):
    b = qf.Bundle([make_mlp(), qf.PrecisionMap({"_default": "int8"}), qf.Table({"a": [1, 2]}, table_kind="t.x"),
                   make_cnn()])
    back = roundtrip(b, container, tmp_path)
    assert [a.kind for a in back] == ["model", "precision_map", "table", "model"]
    assert_models_equal(b[3], back[3])
    assert back.model().layer_names() == b[3].layer_names()


def test_stream_of_several_artifacts_on_one_pipe():
    data = qf.to_bytes(make_mlp()) + qf.to_bytes(qf.Table({"a": [1]}, table_kind="t"))
    back = qf.from_bytes(data)
    assert [a.kind for a in back] == ["model", "table"]


def test_plain_arrow_stream_is_a_table():
    sink = pa.BufferOutputStream()
    tab = pa.table({"v": [1, 2, 3]})
    with pa.ipc.new_stream(sink, tab.schema) as w:
        w.write_table(tab)
    t = qf.from_bytes(sink.getvalue().to_pybytes())
    assert t.kind == "table" and t.num_rows == 3


def test_table_files_parquet_and_arrow(tmp_path):
    t = qf.Table({"a": [1, None, 3]}, table_kind="k.x", provenance={"p": 1})
    for name in ("t.parquet", "t.arrow", "t.arrows"):
        qf.save(t, tmp_path / name)
        back = qf.open(tmp_path / name)
        assert back == t and back.table_kind == "k.x"


def test_table_stream_writer_streams(tmp_path):
    schema = pa.schema([("cycle", pa.int64())])
    with qf.TableStreamWriter(tmp_path / "trace.qz", schema, "accelsim.trace") as w:
        for i in range(5):
            w.write_batch(pa.record_batch([pa.array(range(i * 10, i * 10 + 10))], schema=schema))
    t = qf.open(tmp_path / "trace.qz")
    assert t.table_kind == "accelsim.trace" and t.num_rows == 50
    assert t.column("cycle").to_pylist() == list(range(50))


def test_save_into_devices_and_fifos_writes_a_stream(tmp_path):
    import os
    import threading
    qf.save(make_mlp(), "/dev/null")
    assert os.path.exists("/dev/null") and not os.path.isdir("/dev/null")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("data", fifo.read_bytes()))
    t.start()
    qf.save(make_mlp(), fifo)
    t.join(10)
    assert qf.from_bytes(got["data"]).kind == "model"


def test_existing_file_is_not_replaced_by_a_directory(tmp_path):
    p = tmp_path / "model.bin"
    p.write_bytes(b"old")
    qf.save(make_mlp(), p)
    assert p.is_file() and qf.open(p).kind == "model"
