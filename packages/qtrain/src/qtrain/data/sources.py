"""Readers for the supported dataset formats (all local, no downloads).

Every reader returns a :class:`RawDataset`: uint8 images ``(N, C, H, W)`` (or
float32 features ``(N, F)`` for tabular data), int64 labels, and the official
test split when the format has one. Problems raise :class:`DataError` with one
line naming the file and the reason.

Formats
-------
``digits``        scikit-learn's bundled 8x8 handwritten digits (1,797 images, values 0..16)
``mnist``         IDX files (``train-images-idx3-ubyte[.gz]`` ...); also Fashion-MNIST
``cifar10``       the CIFAR-10 python batches (directory or ``cifar-10-python.tar.gz``)
``cifar100``      the CIFAR-100 python batches (fine labels; ``coarse`` option)
``imagefolder``   ``root/<class>/*.jpg|png`` or ``root/{train,val|test}/<class>/...``
``npz``           NumPy archive with ``X``/``y`` (and optionally ``X_test``/``y_test``)
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DataError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


@dataclass
class RawDataset:
    """A dataset as read from disk, before splitting and normalisation.

    ``x_train``/``x_test`` are uint8 ``(N, C, H, W)`` for images (``max_value``
    is the largest possible pixel value: 16 for digits, 255 otherwise) or
    float32 ``(N, F)`` for tabular data. ``x_test`` is None when the format has
    no official test split (one is then carved, see :func:`qtrain.data.make_splits`).
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None
    classes: int = 0
    class_names: list[str] = field(default_factory=list)
    kind: str = "image"  # "image" | "tabular"
    max_value: float = 255.0
    # For image-folder data decoded larger than the training size: the crop size.
    crop: Optional[int] = None

    def __post_init__(self) -> None:
        self.y_train = np.asarray(self.y_train, dtype=np.int64)
        if self.y_test is not None:
            self.y_test = np.asarray(self.y_test, dtype=np.int64)
        if not self.classes:
            ys = [self.y_train] + ([self.y_test] if self.y_test is not None else [])
            self.classes = int(max(int(y.max()) for y in ys if y.size) + 1)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one stored sample (before any crop)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one network input (after the crop of image-folder data)."""
        if self.crop is not None and self.kind == "image":
            return (self.x_train.shape[1], self.crop, self.crop)
        return self.sample_shape


# --------------------------------------------------------------------------- digits
def load_digits() -> RawDataset:
    """scikit-learn's bundled 8x8 digits (no download; 1,797 samples, pixel values 0..16)."""
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    x = d.images.astype(np.uint8)[:, None, :, :]
    return RawDataset("digits", "sklearn.datasets.load_digits", x, d.target.astype(np.int64),
                      classes=10, class_names=[str(i) for i in range(10)], max_value=16.0)


# --------------------------------------------------------------------------- IDX (MNIST)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed); checks magic and size."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(str(path), "", f"cannot read: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(str(path), "", f"corrupt gzip: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(str(path), "header", "not an IDX file (bad magic number)")
    ndim = raw[3]
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise DataError(str(path), "header", "truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dt = np.dtype(_IDX_DTYPES[raw[2]])
    n = int(np.prod(dims)) * dt.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != n:
        raise DataError(str(path), "data", f"expected {n} bytes for shape {dims}, found {len(body)}")
    return np.frombuffer(body, dtype=dt).reshape(dims)


def _find(root: Path, stems: tuple[str, ...]) -> Optional[Path]:
    for stem in stems:
        for suffix in ("", ".gz"):
            for cand in (root / (stem + suffix), root / "raw" / (stem + suffix)):
                if cand.is_file():
                    return cand
    return None


def load_mnist(path: str | os.PathLike, name: str = "mnist") -> RawDataset:
    """MNIST or Fashion-MNIST from a directory of IDX files."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(str(root), "", "no such directory (expected the MNIST IDX files)")
    files = {}
    for key, stems in {
        "xtr": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
        "ytr": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
        "xte": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
        "yte": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
    }.items():
        f = _find(root, stems)
        if f is None:
            raise DataError(str(root), "", f"missing {stems[0]}[.gz]")
        files[key] = f
    xtr, ytr, xte, yte = (read_idx(files[k]) for k in ("xtr", "ytr", "xte", "yte"))
    for x, y, fx in ((xtr, ytr, files["xtr"]), (xte, yte, files["xte"])):
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.dtype != np.uint8:
            raise DataError(str(fx), "", f"images {x.shape} {x.dtype} and labels {y.shape} do not match")
    names = ([str(i) for i in range(10)] if name == "mnist" else
             ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"])
    return RawDataset(name, str(root), xtr[:, None].copy(), ytr, xte[:, None].copy(), yte, classes=10, class_names=names)


# --------------------------------------------------------------------------- CIFAR
def _unpickle(blob: bytes, where: str) -> dict:
    try:
        d = pickle.loads(blob, encoding="bytes")
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a malformed file
        raise DataError(where, "", f"not a CIFAR python batch ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise DataError(where, "", "not a CIFAR python batch (not a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def _cifar_files(path: Path) -> Callable[[str], Optional[bytes]]:
    """A reader of CIFAR member files from a directory, its parent, or a tar.gz."""
    if path.is_file():
        try:
            tf = tarfile.open(path)
        except (tarfile.TarError, OSError) as e:
            raise DataError(str(path), "", f"not a directory nor a readable tar archive ({e})") from None
        members = {Path(m.name).name: m for m in tf.getmembers() if m.isfile()}

        def read(name: str) -> Optional[bytes]:
            m = members.get(name)
            return tf.extractfile(m).read() if m is not None else None
        return read
    if not path.is_dir():
        raise DataError(str(path), "", "no such file or directory (expected the CIFAR python batches)")
    dirs = [path] + [p for p in sorted(path.iterdir()) if p.is_dir() and p.name.startswith("cifar")]

    def read_dir(name: str) -> Optional[bytes]:
        for d in dirs:
            if (d / name).is_file():
                return (d / name).read_bytes()
        return None
    return read_dir


def _cifar_arrays(d: dict, label_key: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in d or label_key not in d:
        raise DataError(where, "", f"missing 'data' or '{label_key}'")
    x = np.asarray(d["data"], dtype=np.uint8)
    y = np.asarray(d[label_key], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 3072 or x.shape[0] != y.shape[0]:
        raise DataError(where, "data", f"expected (N, 3072) uint8 rows and N labels, got {x.shape} / {y.shape}")
    return x.reshape(-1, 3, 32, 32), y


def load_cifar10(path: str | os.PathLike) -> RawDataset:
    """CIFAR-10 python batches (``data_batch_1..5`` and ``test_batch``)."""
    p = Path(path)
    read = _cifar_files(p)
    xs, ys = [], []
    for i in range(1, 6):
        blob = read(f"data_batch_{i}")
        if blob is None:
            raise DataError(str(p), "", f"missing data_batch_{i}")
        x, y = _cifar_arrays(_unpickle(blob, f"{p}/data_batch_{i}"), "labels", f"{p}/data_batch_{i}")
        xs.append(x)
        ys.append(y)
    blob = read("test_batch")
    if blob is None:
        raise DataError(str(p), "", "missing test_batch")
    xte, yte = _cifar_arrays(_unpickle(blob, f"{p}/test_batch"), "labels", f"{p}/test_batch")
    names = [str(i) for i in range(10)]
    meta = read("batches.meta")
    if meta is not None:
        m = _unpickle(meta, f"{p}/batches.meta")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in m.get("label_names", names)]
    return RawDataset("cifar10", str(p), np.concatenate(xs), np.concatenate(ys), xte, yte, classes=10, class_names=names)


def load_cifar100(path: str | os.PathLike, coarse: bool = False) -> RawDataset:
    """CIFAR-100 python batches (``train``, ``test``); fine labels unless ``coarse``."""
    p = Path(path)
    read = _cifar_files(p)
    key = "coarse_labels" if coarse else "fine_labels"
    out = []
    for part in ("train", "test"):
        blob = read(part)
        if blob is None:
            raise DataError(str(p), "", f"missing {part}")
        out.append(_cifar_arrays(_unpickle(blob, f"{p}/{part}"), key, f"{p}/{part}"))
    k = 20 if coarse else 100
    names = [str(i) for i in range(k)]
    meta = read("meta")
    if meta is not None:
        m = _unpickle(meta, f"{p}/meta")
        raw = m.get("coarse_label_names" if coarse else "fine_label_names")
        if raw is not None:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw]
    return RawDataset("cifar100", str(p), out[0][0], out[0][1], out[1][0], out[1][1], classes=k, class_names=names)


# --------------------------------------------------------------------------- image folder
def _decode_one(args: tuple[str, int]) -> np.ndarray:
    """Decode one image: RGB, shorter side resized to ``size``, centre-cropped square."""
    from PIL import Image

    path, size = args
    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("RGB", (size, size))  # DCT-domain downscale: much faster decode
        im = im.convert("RGB")
        w, h = im.size
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=2.0)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


def _safe_decode(args: tuple[str, int]):
    try:
        return _decode_one(args)
    except Exception as e:  # noqa: BLE001 - reported per file
        return f"{type(e).__name__}: {e}"


def _scan_classes(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = []
    for ci, c in enumerate(classes):
        for dirpath, _, files in os.walk(root / c):
            for f in sorted(files):
                if f.lower().endswith(IMAGE_EXTS):
                    items.append((os.path.join(dirpath, f), ci))
    items.sort()
    return classes, items


def decode_images(items: list[tuple[str, int]], size: int, workers: int = 0, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Decode a list of (path, label) into uint8 ``(N, 3, size, size)``, in parallel when ``workers`` > 1."""
    args = [(p, size) for p, _ in items]
    workers = workers or min(8, os.cpu_count() or 1)
    if workers > 1 and len(args) > 64:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            arrs = list(ex.map(_safe_decode, args, chunksize=32))
    else:
        arrs = [_safe_decode(a) for a in args]
    for (p, _), a in zip(items, arrs):
        if isinstance(a, str):
            raise DataError(p, "", f"cannot decode image ({a})")
    x = np.stack(arrs) if arrs else np.zeros((0, 3, size, size), np.uint8)
    return x, np.array([c for _, c in items], dtype=np.int64)


def load_imagefolder(path: str | os.PathLike, size: int = 64, resize: Optional[int] = None,
                     workers: int = 0, cache_dir: Optional[str] = None) -> RawDataset:
    """An ImageFolder tree of JPEG/PNG images, decoded once to ``resize`` px (then cropped to ``size``).

    ``root/train/<class>/*`` with ``root/val`` or ``root/test`` (Imagenette,
    ImageNet subsets: the official validation set is the *test* set; our
    validation split is carved from train), or a flat ``root/<class>/*``.
    ``resize`` defaults to ``round(size * 8 / 7)`` so training can random-crop.
    With ``cache_dir`` the decoded arrays are cached (keyed by path, size and
    the file list's mtimes).
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(str(root), "", "no such directory (expected an ImageFolder tree)")
    resize = resize or int(round(size * 8 / 7))
    test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
    train_dir = root / "train" if (root / "train").is_dir() and test_dir is not None else root
    classes, tr_items = _scan_classes(train_dir)
    if not classes or not tr_items:
        raise DataError(str(train_dir), "", f"no class folders with images ({', '.join(IMAGE_EXTS)})")
    te_items: list[tuple[str, int]] = []
    if test_dir is not None and train_dir != root:
        te_classes, te_items = _scan_classes(test_dir)
        index = {c: i for i, c in enumerate(classes)}
        unknown = [c for c in te_classes if c not in index]
        if unknown:
            raise DataError(str(test_dir), "", f"class folder(s) {unknown[:3]} absent from {train_dir}")
        te_items = [(p, index[te_classes[c]]) for p, c in te_items]

    key = None
    if cache_dir:
        import hashlib

        h = hashlib.sha256(f"{root.resolve()}|{resize}".encode())
        for p, c in tr_items + te_items:
            st = os.stat(p)
            h.update(f"{p}|{c}|{st.st_size}|{st.st_mtime_ns}".encode())
        key = Path(cache_dir) / f"imagefolder-{h.hexdigest()[:20]}.npz"
        if key.is_file():
            with np.load(key) as z:
                return RawDataset("imagefolder", str(root), z["xtr"], z["ytr"],
                                  z["xte"] if te_items else None, z["yte"] if te_items else None,
                                  classes=len(classes), class_names=classes, crop=size)
    xtr, ytr = decode_images(tr_items, resize, workers)
    xte, yte = decode_images(te_items, resize, workers) if te_items else (None, None)
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        tmp = key.with_suffix(".tmp.npz")
        np.savez(tmp, xtr=xtr, ytr=ytr, xte=xte if xte is not None else np.zeros(0, np.uint8),
                 yte=yte if yte is not None else np.zeros(0, np.int64))
        os.replace(tmp, key)
    return RawDataset("imagefolder", str(root), xtr, ytr, xte, yte, classes=len(classes),
                      class_names=classes, crop=size)


# --------------------------------------------------------------------------- npz
_NPZ_KEYS = {"x": ("X", "x", "X_train", "x_train", "data"), "y": ("y", "Y", "y_train", "labels", "target"),
             "xt": ("X_test", "x_test"), "yt": ("y_test", "Y_test")}


def _npz_x(x: np.ndarray, where: str) -> tuple[np.ndarray, str, float]:
    if x.ndim == 2:
        if not np.issubdtype(x.dtype, np.number):
            raise DataError(where, "X", f"features must be numeric, got {x.dtype}")
        x = x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            raise DataError(where, "X", "contains NaN or inf (impute missing values first)")
        return x, "tabular", 1.0
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4:
        raise DataError(where, "X", f"expected (N, F), (N, H, W) or (N, C, H, W) / (N, H, W, C), got {x.shape}")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x), "image", 255.0
    xf = x.astype(np.float32)
    if not np.all(np.isfinite(xf)):
        raise DataError(where, "X", "contains NaN or inf")
    lo, hi = float(xf.min()), float(xf.max())
    if lo >= 0 and hi <= 1.0:
        return np.round(xf * 255).astype(np.uint8), "image", 255.0
    if lo >= 0 and hi <= 255 and np.all(xf == np.round(xf)):
        return xf.astype(np.uint8), "image", 255.0
    raise DataError(where, "X", f"float images must lie in [0, 1] (or be integers 0..255), found [{lo:g}, {hi:g}]")


def load_npz(path: str | os.PathLike) -> RawDataset:
    """A NumPy ``.npz`` with ``X``/``y`` (optionally ``X_test``/``y_test``).

    ``X`` is ``(N, F)`` tabular/sensor features (any numeric dtype) or images
    ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` as uint8 or floats in
    [0, 1]. Labels may be any integers or strings; they are mapped to 0..K-1
    in sorted order.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(str(p), "", "no such file (expected a .npz with X and y)")
    try:
        z = np.load(p, allow_pickle=False)
        files = set(z.files)
    except Exception as e:  # noqa: BLE001 - any failure to open is a malformed archive
        raise DataError(str(p), "", f"not a readable .npz archive ({type(e).__name__})") from None

    def pick(k: str) -> Optional[np.ndarray]:
        for name in _NPZ_KEYS[k]:
            if name in files:
                return z[name]
        return None

    x, y = pick("x"), pick("y")
    if x is None or y is None:
        raise DataError(str(p), "", f"needs arrays X and y (found {sorted(files)})")
    xt, yt = pick("xt"), pick("yt")
    if (xt is None) != (yt is None):
        raise DataError(str(p), "", "X_test and y_test must come together")
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise DataError(str(p), "y", f"{y.shape[0]} labels for {x.shape[0]} samples")
    x, kind, maxv = _npz_x(np.asarray(x), str(p))
    labels = np.unique(np.concatenate([y, np.asarray(yt).reshape(-1)]) if yt is not None else y)
    ytr = np.searchsorted(labels, y)
    xte = yte = None
    if xt is not None:
        yt = np.asarray(yt).reshape(-1)
        xte, kind_t, _ = _npz_x(np.asarray(xt), str(p) + ":X_test")
        if kind_t != kind or xte.shape[1:] != x.shape[1:] or yt.shape[0] != xte.shape[0]:
            raise DataError(str(p), "X_test", f"shape {xte.shape} / {yt.shape} does not match X {x.shape}")
        yte = np.searchsorted(labels, yt)
    if labels.size < 2:
        raise DataError(str(p), "y", "needs at least two classes")
    return RawDataset(p.stem, str(p), x, ytr, xte, yte, classes=int(labels.size),
                      class_names=[str(v) for v in labels], kind=kind, max_value=maxv)
