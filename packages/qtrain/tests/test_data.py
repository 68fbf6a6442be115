"""Datasets: readers of every format (on synthetic files), splits, the batch pipeline."""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from qtrain import data
from qtrain.data import Augment, DataError


# ----------------------------------------------------------------------------- writers of real formats
def write_idx(path, arr: np.ndarray, gz: bool = False) -> None:
    code = {np.uint8: 0x08}[arr.dtype.type]
    blob = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        blob = gzip.compress(blob)
    path.write_bytes(blob)


def make_mnist(root, n_train=60, n_test=20, gz=False):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    write_idx(root / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), gz)
    write_idx(root / "train-labels-idx1-ubyte", (np.arange(n_train) % 10).astype(np.uint8), gz)
    write_idx(root / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), gz)
    write_idx(root / "t10k-labels-idx1-ubyte", (np.arange(n_test) % 10).astype(np.uint8), gz)
    return root


def make_cifar10(root, per_batch=20):
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        d = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), b"labels": list(np.arange(per_batch) % 10)}
        (root / f"data_batch_{i}").write_bytes(pickle.dumps(d))
    (root / "test_batch").write_bytes(pickle.dumps({b"data": rng.integers(0, 256, (30, 3072), dtype=np.uint8),
                                                    b"labels": list(np.arange(30) % 10)}))
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    return root


def make_images(root, classes=("cat", "dog", "emu"), per_class=6, size=(40, 30), fmt="PNG"):
    from PIL import Image

    rng = np.random.default_rng(2)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.{'png' if fmt == 'PNG' else 'jpg'}", fmt)
    return root


# ----------------------------------------------------------------------------- digits and splits
def test_digits_splits_sizes_and_disjoint(digits):
    assert digits.input_shape == (1, 8, 8) and digits.classes == 10
    n = len(digits.y_train) + len(digits.y_val) + len(digits.y_test)
    assert n == 1797
    assert len(digits.y_test) == pytest.approx(0.2 * 1797, abs=10)
    assert len(digits.y_val) == pytest.approx(0.1 * (1797 - len(digits.y_test)), abs=10)
    # every class in every split (stratified)
    for y in (digits.y_train, digits.y_val, digits.y_test):
        assert set(np.unique(y)) == set(range(10))


def _rows(x):
    return {r.tobytes() for r in x.reshape(len(x), -1)}


def test_test_split_independent_of_seed_and_val_depends_on_it():
    a = data.load_splits("digits", seed=0)
    b = data.load_splits("digits", seed=1)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_val, b.x_val)
    c = data.load_splits("digits", seed=0)
    assert np.array_equal(a.x_val, c.x_val) and np.array_equal(a.x_train, c.x_train)


def test_official_test_set_untouched(tmp_path):
    sp = data.load_splits("mnist", make_mnist(tmp_path / "m"), seed=3)
    raw = data.load_mnist(tmp_path / "m")
    assert np.array_equal(sp.x_test, raw.x_test)
    assert len(sp.y_train) + len(sp.y_val) == 60


@given(st.integers(0, 2**31), st.floats(0.05, 0.5))
def test_stratified_split_properties(seed, frac):
    y = np.repeat(np.arange(7), [3, 10, 25, 4, 8, 30, 2])
    keep, held = data.stratified_split(y, frac, seed)
    assert len(np.intersect1d(keep, held)) == 0 and len(keep) + len(held) == len(y)
    for c in range(7):
        n = (y == c).sum()
        k = (y[held] == c).sum()
        assert abs(k - frac * n) <= 1.0 or (k == 1 and n > 1)
    k2, h2 = data.stratified_split(y, frac, seed)
    assert np.array_equal(held, h2)


# ----------------------------------------------------------------------------- formats
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    root = make_mnist(tmp_path / "mnist", gz=gz)
    raw = data.load("mnist", root)
    assert raw.x_train.shape == (60, 1, 28, 28) and raw.x_test.shape == (20, 1, 28, 28)
    assert raw.y_train[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert data.detect_format(root) == "mnist"
    f = data.load("fashion-mnist", root)
    assert f.class_names[0] == "T-shirt/top"


def test_mnist_malformed(tmp_path):
    root = make_mnist(tmp_path / "m")
    (root / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 60) + b"\x00" * 10)
    with pytest.raises(DataError, match="expected 60 bytes"):
        data.load("mnist", root)
    (root / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-images"):
        data.load("mnist", root)


def test_cifar10_dir_and_tar(tmp_path):
    root = make_cifar10(tmp_path / "cifar-10-batches-py")
    raw = data.load("cifar10", root)
    assert raw.x_train.shape == (100, 3, 32, 32) and raw.x_test.shape == (30, 3, 32, 32)
    assert raw.class_names[3] == "c3"
    # the first row of the batch is the R plane of image 0
    d = pickle.loads((root / "data_batch_1").read_bytes())
    assert np.array_equal(raw.x_train[0, 0].reshape(-1), d[b"data"][0, :1024])
    tgz = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(root, arcname="cifar-10-batches-py")
    raw2 = data.load("auto", tgz)
    assert np.array_equal(raw2.x_train, raw.x_train)
    assert data.detect_format(tmp_path) == "cifar10"   # the parent directory works too


def test_cifar100(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    for part, n in (("train", 40), ("test", 10)):
        (root / part).write_bytes(pickle.dumps({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                                                b"fine_labels": list(np.arange(n) % 100),
                                                b"coarse_labels": list(np.arange(n) % 20)}))
    raw = data.load("cifar100", root)
    assert raw.classes == 100 and raw.x_train.shape[0] == 40
    assert data.load("cifar100", root, coarse=True).classes == 20
    assert data.detect_format(root) == "cifar100"


def test_cifar_malformed(tmp_path):
    root = make_cifar10(tmp_path / "c")
    (root / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3"):
        data.load("cifar10", root)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_imagefolder_flat_and_split(tmp_path, fmt):
    flat = make_images(tmp_path / "flat", fmt=fmt)
    raw = data.load("imagefolder", flat, image_size=16)
    assert raw.x_train.shape == (18, 3, 18, 18) and raw.x_test is None  # decoded at 16*8/7 ~ 18 px
    assert raw.input_shape == (3, 16, 16) and raw.class_names == ["cat", "dog", "emu"]
    sp = data.make_splits(raw, seed=0)
    xb, _ = next(iter(sp.loader("train", 4, train=True)))
    assert xb.shape == (4, 3, 16, 16)
    xb, _ = next(iter(sp.loader("test", 4)))
    assert xb.shape == (3, 3, 16, 16)  # one test image per class, centre-cropped
    # train/val layout: the official val folder is the test split
    make_images(tmp_path / "tree" / "train", fmt=fmt)
    make_images(tmp_path / "tree" / "val", per_class=2, fmt=fmt)
    raw2 = data.load("auto", tmp_path / "tree", image_size=16)
    assert raw2.x_test.shape[0] == 6 and raw2.x_train.shape[0] == 18


def test_imagefolder_cache_and_bad_image(tmp_path):
    root = make_images(tmp_path / "imgs")
    cache = tmp_path / "cache"
    a = data.load("imagefolder", root, image_size=8, cache_dir=str(cache))
    assert len(list(cache.iterdir())) == 1
    b = data.load("imagefolder", root, image_size=8, cache_dir=str(cache))
    assert np.array_equal(a.x_train, b.x_train)
    (root / "cat" / "broken.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="broken.png: cannot decode"):
        data.load("imagefolder", root, image_size=8)


def test_npz_tabular_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "sensor.npz"
    np.savez(p, X=rng.normal(size=(50, 7)), y=np.array(["fall", "ok"] * 25))
    raw = data.load("auto", p)
    assert raw.kind == "tabular" and raw.classes == 2 and raw.class_names == ["fall", "ok"]
    sp = data.make_splits(raw, seed=0)
    assert sp.normalize == "standard" and sp.input_shape == (7,)
    assert abs(float(((sp.x_train - sp.mean) / sp.std).mean())) < 1e-5
    q = tmp_path / "imgs.npz"
    np.savez(q, X=rng.random((20, 12, 12, 3)), y=np.arange(20) % 4, X_test=rng.random((8, 12, 12, 3)),
             y_test=np.arange(8) % 4)
    raw = data.load("npz", q)
    assert raw.kind == "image" and raw.x_train.shape == (20, 3, 12, 12) and raw.x_test.shape == (8, 3, 12, 12)


@pytest.mark.parametrize("arrays,match", [
    ({"X": np.zeros((4, 3))}, "needs arrays X and y"),
    ({"X": np.zeros((4, 3)), "y": np.zeros(5)}, "5 labels for 4 samples"),
    ({"X": np.full((4, 3), np.nan), "y": np.arange(4)}, "NaN"),
    ({"X": np.full((4, 5, 5), 3.5), "y": np.arange(4)}, r"\[0, 1\]"),
])
def test_npz_malformed(tmp_path, arrays, match):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(DataError, match=match):
        data.load("npz", p)


def test_missing_and_unknown(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        data.load("cifar10", tmp_path / "nope")
    with pytest.raises(DataError, match="unknown dataset"):
        data.load("svhn", tmp_path)
    with pytest.raises(DataError, match="needs a path"):
        data.load("mnist")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unknown dataset file type"):
        data.load("auto", tmp_path / "x.txt")


# ----------------------------------------------------------------------------- pipeline
def _crop_reference(x, size, pad, oy, ox):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return np.stack([xp[i, :, oy[i]:oy[i] + size[0], ox[i]:ox[i] + size[1]] for i in range(len(x))])


@given(st.integers(1, 6), st.integers(0, 3), st.integers(4, 9), st.integers(0, 10_000))
def test_random_crop_matches_loop(b, pad, hw, seed):
    x = torch.randint(0, 255, (b, 2, hw, hw + 1), dtype=torch.uint8)
    size = (hw - 1, hw)
    g = torch.Generator().manual_seed(seed)
    got = data.random_crop(x, size, pad, g)
    g2 = torch.Generator().manual_seed(seed)
    hh, ww = hw + 2 * pad, hw + 1 + 2 * pad
    oy = torch.randint(0, hh - size[0] + 1, (b,), generator=g2).numpy()
    ox = torch.randint(0, ww - size[1] + 1, (b,), generator=g2).numpy()
    assert np.array_equal(got.numpy(), _crop_reference(x.numpy(), size, pad, oy, ox))


def test_flip_and_loader_determinism(digits):
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.uint8).reshape(2, 1, 2, 3)
    g = torch.Generator().manual_seed(0)
    y = data.random_flip(x, g)
    for i in range(2):
        assert torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(2))
    sp = data.make_splits(data.load_digits(), seed=0, augment=Augment(pad=1, flip=True))
    la = sp.loader("train", 64, train=True)
    lb = sp.loader("train", 64, train=True)
    for (xa, ya), (xb, yb) in zip(la.epoch(3), lb.epoch(3)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    e0 = next(iter(la.epoch(0)))[1]
    e1 = next(iter(la.epoch(1)))[1]
    assert not torch.equal(e0, e1)
    xs, ys = sp.loader("test", 1000).arrays()
    assert xs.shape == (len(sp.y_test), 1, 8, 8) and xs.max() <= 1.0 and xs.min() >= 0.0
    assert np.array_equal(ys, sp.y_test)


def test_every_sample_once_per_epoch(digits):
    loader = digits.loader("train", 100, train=True)
    seen = torch.cat([yb for _, yb in loader.epoch(5)])
    assert len(seen) == len(digits.y_train)
    assert np.array_equal(np.sort(seen.numpy()), np.sort(digits.y_train))
