"""Bad input gets one clear line and nothing left behind; the reader survives fuzzing."""

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import make_mlp
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
from qformat.reference_ptq import reference_ptq

MODEL = make_mlp((12, 6, 3))
STREAM = qf.to_bytes(MODEL)
TABLE_STREAM = qf.to_bytes(qf.Table({"a": list(range(100))}, table_kind="t.x"))


def _zip_bytes(obj) -> bytes:
    buf = io.BytesIO()
    from qformat.store import write_zip
    write_zip(obj, buf)
    return buf.getvalue()


ZIP = _zip_bytes(MODEL)


def read_ok_or_clean_error(data: bytes):
    """Reading returns artifacts or raises QFormatError with one line, never anything else."""
    try:
        obj = qf.from_bytes(data)
        items = list(obj) if isinstance(obj, qf.Bundle) else [obj]
        for it in items:
            if isinstance(it, qf.Model):
                for k in it.tensor_keys():
                    it.get(*k)
                it.validate()
    except qf.QFormatError as e:
        assert "\n" not in str(e) and str(e)


@given(st.data())
def test_fuzz_byte_flips(data):
    for blob in (STREAM, ZIP, TABLE_STREAM):
        b = bytearray(blob)
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(b) - 1))
            b[i] ^= data.draw(st.integers(1, 255))
        read_ok_or_clean_error(bytes(b))


@given(st.data())
def test_fuzz_truncations(data):
    for blob in (STREAM, ZIP, TABLE_STREAM):
        n = data.draw(st.integers(0, len(blob) - 1))
        with pytest.raises(qf.QFormatError):
            obj = qf.from_bytes(blob[:n])
            for k in obj.tensor_keys():
                obj.get(*k)


def test_truncated_stream_says_truncated():
    with pytest.raises(qf.QFormatError, match="truncated"):
        qf.from_bytes(STREAM[: len(STREAM) - 20])


def test_corrupted_chunk_detected(tmp_path):
    qf.save(MODEL, tmp_path / "m.zarr")
    chunk = next(p for p in (tmp_path / "m.zarr" / "layers" / "fc1" / "weight").rglob("*") if p.is_file() and p.name != "zarr.json")
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    m = qf.open(tmp_path / "m.zarr")
    with pytest.raises(qf.QFormatError, match="layers/fc1/weight: corrupted"):
        m.get("fc1", "weight")


def test_wrong_kind(tmp_path):
    qf.save(qf.Table({"a": [1]}, table_kind="accelsim.trace"), tmp_path / "t.qz")
    with pytest.raises(qf.QFormatError, match="expected a model, found table"):
        qf.open(tmp_path / "t.qz", expect="model")


def test_missing_array(tmp_path):
    qf.save(MODEL, tmp_path / "m.zarr")
    import shutil
    shutil.rmtree(tmp_path / "m.zarr" / "layers" / "fc2" / "weight")
    with pytest.raises(qf.QFormatError, match="fc2.*missing array 'weight'"):
        qf.open(tmp_path / "m.zarr")


def test_shape_mismatch():
    m = make_mlp((12, 6, 3))
    m.set("fc1", "weight", np.zeros((5, 12), np.float32))
    with pytest.raises(qf.QFormatError, match="layers/fc1/weight: shape"):
        m.validate()


def test_nan_scale_and_codes_out_of_range():
    x = np.random.default_rng(0).normal(size=(4, 12))
    q = reference_ptq(MODEL, x, weight_bits=4)
    q.set("fc1", "weight_scale", np.full(6, np.nan, np.float32))
    with pytest.raises(qf.QFormatError, match="weight_scale: scale must be finite"):
        q.validate()
    q = reference_ptq(MODEL, x, weight_bits=4)
    q.set("fc2", "weight_codes", np.full((3, 6), 9, np.int8))
    with pytest.raises(qf.QFormatError, match="outside the 4-bit range"):
        q.validate()


@pytest.mark.parametrize("blob,msg", [(b"", "empty input"), (b"hello world", "not a qformat artifact"),
                                      (b"{not json", "invalid JSON"), (b"PK\x03\x04garbage", "corrupted zip")])
def test_garbage(blob, msg):
    with pytest.raises(qf.QFormatError, match=msg):
        qf.from_bytes(blob)


def test_zip_without_zarr_json():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(qf.QFormatError, match="zarr.json"):
        qf.from_bytes(buf.getvalue())


def test_directory_that_is_not_an_artifact(tmp_path):
    with pytest.raises(qf.QFormatError, match="not a qformat artifact"):
        qf.open(tmp_path)


def test_cli_bad_inputs_exit_2_one_line_no_files(tmp_path):
    cases = [b"", b"garbage", STREAM[:100]]
    for data in cases:
        p = subprocess.run([sys.executable, "-m", "qformat.cli", "convert", "-", str(tmp_path / "out.zarr")],
                           input=data, capture_output=True, cwd=tmp_path)
        assert p.returncode == 2, p.stderr
        err = p.stderr.decode().strip()
        assert len(err.splitlines()) == 1 and err.startswith("qformat: "), err
        assert "Traceback" not in err
        assert os.listdir(tmp_path) == []


def test_killed_writer_leaves_old_or_nothing(tmp_path):
    """A writer killed mid-write leaves the previous artifact intact and no debris under the name."""
    dest = tmp_path / "m.zarr"
    qf.save(make_mlp((12, 6, 3), seed=1), dest)
    script = (
        "import os, signal, qformat as qf, qformat.store as s\n"
        "from conftest import make_mlp\n"
        "orig = s._write_array\n"
        "n = [0]\n"
        "def boom(*a, **k):\n"
        "    n[0] += 1\n"
        "    if n[0] == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return orig(*a, **k)\n"
        "s._write_array = boom\n"
        f"qf.save(make_mlp((12, 6, 3), seed=2), {str(dest)!r})\n")
    p = subprocess.run([sys.executable, "-c", script], cwd=os.path.dirname(__file__), capture_output=True)
    assert p.returncode == -9
    back = qf.open(dest)  # the old artifact, complete
    np.testing.assert_array_equal(back.get("fc1", "weight"), make_mlp((12, 6, 3), seed=1).get("fc1", "weight"))
