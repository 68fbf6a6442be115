"""Reading and writing artifacts: directory stores, zips, pipe streams, fsspec URLs.

Three containers carry the same artifacts:

* **directory** (a Zarr v3 store on disk or behind an fsspec URL) and **zip**
  (the same keys in a zip file) hold one artifact or a bundle;
* **stream** (stdin/stdout, ``*.qz`` files): a sequence of Arrow IPC streams,
  one per artifact. Zarr artifacts travel as ``(key, value)`` rows of their
  store; tables travel as themselves, batch by batch. Every stream ends with an
  empty batch whose custom metadata ``qformat.end`` counts what was sent, so a
  truncated pipe is detected.

Readers detect the container from the first bytes, never from the name.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import sys
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Union

import numpy as np
import pyarrow as pa
import zarr
from zarr.core.buffer import cpu

from .bundle import Bundle
from .errors import QFormatError
from .ir import Layer
from .migrations import ARRAY_ALIASES_V0, V0_KEY, detect_v0, v0_to_v1
from .model import Model
from .precision import PrecisionMap
from .probe import STAT_FIELDS, ActivationStats, ProbeStats
from .spec import NAMESPACE, SPEC_VERSION, validate_meta
from .table import Table, table_schema_metadata

Artifact = Union[Model, PrecisionMap, ProbeStats, Table]
Source = Union[str, os.PathLike, BinaryIO, bytes]

STREAM_MAGIC = b"\xff\xff\xff\xff"
ZIP_MAGIC = b"PK\x03\x04"
ZIP_EMPTY_MAGIC = b"PK\x05\x06"
ARROW_FILE_MAGIC = b"ARROW1"
PARQUET_MAGIC = b"PAR1"
BATCH_BYTES = 16 << 20  # size of one (key, value) batch in a stream
KV_SCHEMA = pa.schema([("key", pa.utf8()), ("value", pa.large_binary())])
END_KEY = b"qformat.end"
CRC_KEY = b"qformat.crc32"
_CHUNK_BYTES = 4 << 20


def _compressors():
    # zstd for size, then a CRC32C so a flipped bit in a chunk is detected on read.
    from zarr.codecs import Crc32cCodec, ZstdCodec

    return (ZstdCodec(level=3), Crc32cCodec())


# =============================================================================
# Zarr form: artifact <-> zarr group
# =============================================================================

def _chunks_for(arr: np.ndarray) -> tuple[int, ...]:
    if arr.ndim == 0:
        return ()
    row = max(1, int(np.prod(arr.shape[1:])) * arr.dtype.itemsize)
    rows = max(1, min(arr.shape[0], _CHUNK_BYTES // row))
    return (rows,) + tuple(arr.shape[1:])


def _write_array(group: zarr.Group, name: str, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 0:
        a = group.create_array(name, shape=(), dtype=arr.dtype, compressors=None, fill_value=0)
        a[...] = arr
        return
    chunks = _chunks_for(arr) if arr.size else tuple(max(1, d) for d in arr.shape)
    # Every chunk is written (even all-zero ones) so a missing chunk file means damage, not zeros.
    a = group.create_array(name, shape=arr.shape, dtype=arr.dtype, chunks=chunks, compressors=_compressors(),
                           fill_value=0, config={"write_empty_chunks": True})
    if arr.size:
        a[...] = arr


def write_zarr(obj: Any, group: zarr.Group) -> None:
    """Write one artifact (or a bundle) into an empty zarr group."""
    if isinstance(obj, Bundle):
        members = []
        for i, art in enumerate(obj):
            name = f"{i:03d}"
            write_zarr(art, group.create_group(name))
            members.append(name)
        group.attrs[NAMESPACE] = {"kind": "bundle", "version": SPEC_VERSION, "provenance": {}, "members": members}
        return
    if isinstance(obj, Model):
        obj.validate(deep=False)
        layers = group.create_group("layers")
        for lname, tname in obj.tensor_keys():
            g = layers[lname] if lname in layers else layers.create_group(lname)
            _write_array(g, tname, obj.get(lname, tname))
        meta = {"kind": "model", "version": SPEC_VERSION, "provenance": obj.provenance,
                "layers": [lay.to_spec().model_dump(mode="json", exclude_none=True) for lay in obj.layers]}
    elif isinstance(obj, PrecisionMap):
        meta = {"kind": "precision_map", "version": SPEC_VERSION, "provenance": obj.provenance, "rules": obj.rules()}
    elif isinstance(obj, ProbeStats):
        obj.validate()
        sites = group.create_group("sites")
        pct_meta = {}
        for key in obj.sites():
            layer, where = key.rsplit(".", 1)
            st = obj.site(layer, where)
            g = sites.create_group(key)
            for f in STAT_FIELDS:
                _write_array(g, f, getattr(st, f))
            pcts = sorted(st.percentiles)
            if pcts:
                _write_array(g, "percentiles", np.stack([st.percentiles[p] for p in pcts]))
            pct_meta[key] = {"percentiles": pcts, "n": int(st.n)}
        npg = group.create_group("noise_prop")
        for layer, m in obj.noise_prop.items():
            _write_array(npg, layer, np.asarray(m, dtype=np.float64))
        meta = {"kind": "probe", "version": SPEC_VERSION, "provenance": obj.provenance, "classes": obj.classes,
                "sites": obj.sites(), "noise_prop": list(obj.noise_prop), "site_info": pct_meta}
    elif isinstance(obj, Table):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, obj.to_arrow().schema) as w:
            w.write_table(obj.to_arrow())
        _write_array(group, "arrow_ipc", np.frombuffer(sink.getvalue(), dtype=np.uint8))
        meta = {"kind": "table", "version": SPEC_VERSION, "provenance": obj.provenance, "table_kind": obj.table_kind}
    else:
        raise TypeError(f"not a qformat artifact: {type(obj).__name__}")
    group.attrs[NAMESPACE] = json.loads(json.dumps(meta, default=_json_default))


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


class _LazyArray:
    """Reads one zarr array on call; knows its shape without reading data."""

    def __init__(self, group: zarr.Group, path: str, artifact: str):
        self.group, self.path, self.artifact = group, path, artifact
        try:
            self.shape = tuple(group[path].shape)
        except Exception as e:
            raise QFormatError(artifact, path, f"unreadable array ({_short(e)})") from None

    def __call__(self) -> np.ndarray:
        try:
            arr = self.group[self.path]
            # Stream-form stores were checked whole (entry count, checksums); directories,
            # zips and URLs can lose chunk files, which zarr would silently read as zeros.
            if not isinstance(arr.store, zarr.storage.MemoryStore) and arr.ndim and arr.size:
                present = _count_chunks(arr)
                if present < arr.nchunks:
                    raise QFormatError(self.artifact, self.path,
                                       f"missing data: {arr.nchunks - present} of {arr.nchunks} chunks absent")
            return np.asarray(arr[...])
        except QFormatError:
            raise
        except Exception as e:
            raise QFormatError(self.artifact, self.path, f"corrupted or unreadable array data ({_short(e)})") from None


def _count_chunks(arr) -> int:
    """Chunk objects present under an array (listing with a trailing slash, so that
    ``weight`` does not also count ``weight_codes``)."""
    from zarr.core.sync import sync

    prefix = f"{arr.path}/c/"

    async def count() -> int:
        return sum([1 async for _ in arr.store.list_prefix(prefix)])

    return sync(count())


def _short(e: BaseException) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return s[:160]


def read_zarr(group: zarr.Group, artifact: str, expect: str | None = None) -> Any:
    """Build the artifact stored in ``group`` (arrays stay lazy). Bundles give a :class:`Bundle`."""
    try:
        return _read_zarr(group, artifact, expect)
    except QFormatError:
        raise
    except Exception as e:  # damaged zarr metadata surfaces as many exception types
        raise QFormatError(artifact, "", f"corrupted artifact metadata ({_short(e)})") from None


def _read_zarr(group: zarr.Group, artifact: str, expect: str | None = None) -> Any:
    try:
        attrs = dict(group.attrs)
    except Exception as e:
        raise QFormatError(artifact, "zarr.json", f"unreadable group metadata ({_short(e)})") from None
    if NAMESPACE not in attrs and detect_v0(attrs):
        raw = v0_to_v1(attrs[V0_KEY], artifact)
    else:
        raw = attrs.get(NAMESPACE)
    if isinstance(raw, dict) and raw.get("kind") == "bundle":
        meta = validate_meta(raw, artifact)
        return Bundle([read_zarr(_subgroup(group, m, artifact), f"{artifact}[{m}]") for m in meta.members])
    meta = validate_meta(raw, artifact, expect)
    prov = dict(meta.provenance)
    if meta.kind == "model":
        layers = [Layer.from_spec(s) for s in meta.layers]
        model = Model(provenance=prov)
        model.layers = layers
        layout = getattr(meta, "array_layout", None) or (meta.model_extra or {}).get("array_layout")
        for lay in layers:
            if layout == "v0":
                for tname, pattern in ARRAY_ALIASES_V0.items():
                    path = pattern.format(layer=lay.name)
                    if _exists(group, path):
                        model._set_lazy(lay.name, tname, _LazyArray(group, path, artifact))
                continue
            base = f"layers/{lay.name}"
            if not _exists(group, base):
                continue
            for tname in _member_names(group, base):
                from .model import TENSOR_DTYPES

                if tname not in TENSOR_DTYPES:
                    raise QFormatError(artifact, f"{base}/{tname}", "unknown tensor name")
                model._set_lazy(lay.name, tname, _LazyArray(group, f"{base}/{tname}", artifact))
        model.validate(artifact, deep=False)
        return model
    if meta.kind == "precision_map":
        return PrecisionMap(meta.rules, provenance=prov)
    if meta.kind == "probe":
        ps = ProbeStats(classes=meta.classes, provenance=prov)
        info = (meta.model_extra or {}).get("site_info", {})
        for key in meta.sites:
            layer, where = key.rsplit(".", 1)
            base = f"sites/{key}"
            vals = {f: _LazyArray(group, f"{base}/{f}", artifact)() for f in STAT_FIELDS}
            pinfo = info.get(key, {})
            pct = {}
            if pinfo.get("percentiles"):
                arr = _LazyArray(group, f"{base}/percentiles", artifact)()
                pct = {float(p): arr[i] for i, p in enumerate(pinfo["percentiles"])}
            ps.add_site(layer, where, ActivationStats(**vals, percentiles=pct, n=int(pinfo.get("n", 0))))
        for layer in meta.noise_prop:
            ps.noise_prop[layer] = _LazyArray(group, f"noise_prop/{layer}", artifact)()
        ps.validate(artifact)
        return ps
    if meta.kind == "table":
        raw_ipc = _LazyArray(group, "arrow_ipc", artifact)()
        tab = _read_ipc_bytes(memoryview(raw_ipc.tobytes()), artifact)
        return Table(tab, table_kind=meta.table_kind, provenance=prov)
    raise QFormatError(artifact, "qformat.kind", f"cannot read kind {meta.kind!r}")  # pragma: no cover


def _exists(group: zarr.Group, path: str) -> bool:
    try:
        group[path]
        return True
    except KeyError:
        return False
    except Exception:
        return False


def _member_names(group: zarr.Group, path: str) -> list[str]:
    return sorted(k for k, _ in group[path].members())


def _subgroup(group: zarr.Group, name: str, artifact: str) -> zarr.Group:
    try:
        return group[name]
    except Exception:
        raise QFormatError(artifact, name, "bundle member is missing") from None


def _read_ipc_bytes(buf, artifact: str) -> pa.Table:
    try:
        return pa.ipc.open_stream(pa.py_buffer(buf)).read_all()
    except Exception as e:
        raise QFormatError(artifact, "arrow_ipc", f"corrupted table data ({_short(e)})") from None


# =============================================================================
# Stores in memory (dict of key -> bytes)
# =============================================================================

def to_store_dict(obj: Any) -> dict[str, bytes]:
    """Serialise an artifact or bundle into zarr store keys (in memory)."""
    d: dict = {}
    store = zarr.storage.MemoryStore(store_dict=d)
    group = zarr.open_group(store=store, mode="w", zarr_format=3)
    write_zarr(obj, group)
    return {k: v.to_bytes() for k, v in d.items()}


def open_store_dict(d: dict[str, Any], artifact: str) -> zarr.Group:
    """Open a read-only zarr group over a dict of key -> bytes-like."""
    bufs = {k: cpu.Buffer.from_array_like(np.frombuffer(v, dtype=np.uint8)) for k, v in d.items()}
    if "zarr.json" not in bufs:
        raise QFormatError(artifact, "zarr.json", "missing: this is not a qformat artifact")
    store = zarr.storage.MemoryStore(store_dict=bufs, read_only=True)
    try:
        return zarr.open_group(store=store, mode="r", zarr_format=3)
    except Exception as e:
        raise QFormatError(artifact, "zarr.json", f"unreadable group metadata ({_short(e)})") from None


# =============================================================================
# Stream form (pipes, *.qz)
# =============================================================================

def _artifact_kind(obj: Any) -> str:
    return getattr(obj, "kind", type(obj).__name__)


def write_stream(obj: Any, out: BinaryIO) -> None:
    """Write an artifact or a bundle to a binary stream as Arrow IPC streams."""
    items = list(obj) if isinstance(obj, Bundle) else [obj]
    for art in items:
        if isinstance(art, Table):
            _write_table_stream(art, out)
        else:
            _write_kv_stream(art, out)
    out.flush()


def _write_kv_stream(art: Any, out: BinaryIO) -> None:
    d = to_store_dict(art)
    header = {"container": "zarr", "kind": _artifact_kind(art), "version": SPEC_VERSION, "entries": len(d)}
    schema = KV_SCHEMA.with_metadata({b"qformat": json.dumps(header).encode()})
    sink = pa.PythonFile(out, mode="w")
    w = pa.ipc.new_stream(sink, schema)
    keys, vals, size = [], [], 0
    for k in sorted(d):
        keys.append(k)
        vals.append(d[k])
        size += len(d[k])
        if size >= BATCH_BYTES:
            _write_checked(w, pa.record_batch([pa.array(keys, pa.utf8()), pa.array(vals, pa.large_binary())], schema=schema))
            keys, vals, size = [], [], 0
    if keys:
        _write_checked(w, pa.record_batch([pa.array(keys, pa.utf8()), pa.array(vals, pa.large_binary())], schema=schema))
    w.write_batch(pa.record_batch([pa.array([], pa.utf8()), pa.array([], pa.large_binary())], schema=schema),
                  custom_metadata={END_KEY: str(len(d)).encode()})
    w.close()


def _batch_crc(batch: pa.RecordBatch) -> bytes:
    """CRC-32 of a batch's canonical IPC form (identical on the writing and reading side)."""
    return str(zlib.crc32(batch.serialize())).encode()


def _write_checked(w, batch: pa.RecordBatch) -> None:
    w.write_batch(batch, custom_metadata={CRC_KEY: _batch_crc(batch)})


def _write_table_stream(t: Table, out: BinaryIO) -> None:
    tab = t.to_arrow()
    sink = pa.PythonFile(out, mode="w")
    w = pa.ipc.new_stream(sink, tab.schema)
    for b in tab.to_batches(max_chunksize=65536):
        _write_checked(w, b)
    w.write_batch(pa.RecordBatch.from_pylist([], schema=tab.schema), custom_metadata={END_KEY: str(tab.num_rows).encode()})
    w.close()


class TableStreamWriter:
    """Write a (possibly huge) table batch by batch into a stream or file.

    >>> with TableStreamWriter("-", schema, "accelsim.trace") as w:   # doctest: +SKIP
    ...     w.write_batch(batch)

    ``dest`` is ``"-"``, a path (written atomically), or an open binary stream
    (other artifacts may precede it there, e.g. the bundle being passed through).
    """

    def __init__(self, dest: Any, schema: pa.Schema, table_kind: str, provenance: dict | None = None):
        self.schema = schema.with_metadata({**(schema.metadata or {}), **table_schema_metadata(table_kind, provenance)})
        self._rows = 0
        self._tmp = None
        self._final = None
        if dest == "-" or dest is None:
            self._out = sys.stdout.buffer
        elif hasattr(dest, "write"):
            self._out = dest
        else:
            self._final = Path(dest)
            self._tmp = self._final.with_name(f".{self._final.name}.tmp-{uuid.uuid4().hex[:8]}")
            self._out = builtins.open(self._tmp, "wb")
        self._w = pa.ipc.new_stream(pa.PythonFile(self._out, mode="w"), self.schema)

    def write_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        batches = batch.to_batches() if isinstance(batch, pa.Table) else [batch]
        for b in batches:
            b = b.replace_schema_metadata(self.schema.metadata) if b.schema.metadata != self.schema.metadata else b
            _write_checked(self._w, b)
            self._rows += b.num_rows

    def close(self, ok: bool = True) -> None:
        if self._w is None:
            return
        try:
            if ok:
                self._w.write_batch(pa.RecordBatch.from_pylist([], schema=self.schema),
                                    custom_metadata={END_KEY: str(self._rows).encode()})
            self._w.close()
            self._out.flush()
        finally:
            self._w = None
            if self._tmp is not None:
                self._out.close()
                if ok:
                    os.replace(self._tmp, self._final)
                else:
                    self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableStreamWriter:
        return self

    def __exit__(self, et, ev, tb) -> None:
        self.close(ok=et is None)


class _PeekReader(io.RawIOBase):
    """A read-only stream over another, with a peek so EOF between artifacts is seen."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.buf = b""

    def readable(self) -> bool:
        return True

    def peek(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.raw.read(n - len(self.buf))
            if not chunk:
                break
            self.buf += chunk
        return self.buf[:n]

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            data = self.buf + self.raw.read()
            self.buf = b""
            return data
        if self.buf:
            data, self.buf = self.buf[:n], self.buf[n:]
            if len(data) < n:
                data += self.raw.read(n - len(data)) or b""
            return data
        return self.raw.read(n) or b""

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def iter_stream(src: BinaryIO | pa.NativeFile, artifact: str) -> Iterator[Any]:
    """Yield the artifacts of a stream one by one (tables and zarr artifacts)."""
    native = isinstance(src, pa.NativeFile)
    peek = None if native else _PeekReader(src)
    count = 0
    while True:
        if native:
            if src.tell() >= src.size():
                break
            reader_src = src
        else:
            head = peek.peek(8)
            if not head:
                break
            if head[:4] != STREAM_MAGIC:
                if count == 0:
                    raise QFormatError(artifact, "", "not a qformat artifact (unrecognised first bytes)")
                raise QFormatError(artifact, f"after artifact {count - 1}", "unexpected bytes where a qformat stream should continue")
            reader_src = pa.PythonFile(peek, mode="r")
        where = f"artifact {count}"
        try:
            reader = pa.ipc.open_stream(reader_src)
        except Exception as e:
            raise QFormatError(artifact, where, f"not a readable stream ({_short(e)})") from None
        # A memory-mapped file is read lazily: batch checksums would touch every page, so
        # there the per-chunk CRC32C of the zarr arrays guards the data instead.
        yield _read_one_stream(reader, artifact, where, verify=not isinstance(src, pa.MemoryMappedFile))
        count += 1
    if count == 0:
        raise QFormatError(artifact, "", "empty input: no artifact found")


def _read_one_stream(reader, artifact: str, where: str, verify: bool = True) -> Any:
    schema = reader.schema
    raw = (schema.metadata or {}).get(b"qformat")
    try:
        header = json.loads(raw) if raw else None
    except Exception:
        raise QFormatError(artifact, where, "unreadable qformat schema metadata") from None
    batches, end = [], None
    try:
        while True:
            b, md = reader.read_next_batch_with_custom_metadata()
            b.validate(full=True)
            if md is not None and END_KEY in md:
                end = int(md[END_KEY])
            else:
                if verify and md is not None and CRC_KEY in md and md[CRC_KEY] != _batch_crc(b):
                    raise QFormatError(artifact, where, f"corrupted stream: checksum mismatch in batch {len(batches)}")
                batches.append(b)
    except StopIteration:
        pass
    except QFormatError:
        raise
    except Exception as e:
        raise QFormatError(artifact, where, f"truncated or corrupted stream ({_short(e)})") from None
    if header is None:
        # A plain Arrow stream from another program: accept it as a generic table.
        return Table(pa.Table.from_batches(batches, schema=schema), table_kind="table")
    if end is None:
        raise QFormatError(artifact, where, "truncated stream: the end marker is missing")
    if header.get("container") == "zarr":
        keys, vals = [], []
        for b in batches:
            keys.extend(b.column(0).to_pylist())
            vals.extend(_binary_views(b.column(1)))
        if len(keys) != end or len(keys) != header.get("entries", end):
            raise QFormatError(artifact, where, f"truncated stream: {len(keys)} of {header.get('entries')} entries")
        group = open_store_dict(dict(zip(keys, vals)), artifact)
        return read_zarr(group, artifact)
    tab = pa.Table.from_batches(batches, schema=schema)
    if tab.num_rows != end:
        raise QFormatError(artifact, where, f"truncated stream: {tab.num_rows} of {end} rows")
    meta = validate_meta(header, artifact, "table")
    md = dict(schema.metadata or {})
    return Table(tab.replace_schema_metadata(md), table_kind=meta.table_kind, provenance=meta.provenance)


def _binary_views(col) -> list:
    """Zero-copy memoryviews of a large_binary column's values."""
    arr = col if isinstance(col, pa.Array) else col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    mv = memoryview(data) if data is not None else memoryview(b"")
    return [mv[offsets[i]: offsets[i + 1]] for i in range(len(arr))]


# =============================================================================
# Public entry points
# =============================================================================

def _name_of(src: Any) -> str:
    if isinstance(src, (str, os.PathLike)):
        return "<stdin>" if str(src) == "-" else str(src)
    return getattr(src, "name", None) if isinstance(getattr(src, "name", None), str) else "<stream>"


def read_bundle(src: Source, expect: str | None = None) -> Bundle:
    """Read every artifact in ``src`` (path, URL, ``-``, binary stream, bytes)."""
    name = _name_of(src)
    try:
        items = _read_any(src, name)
    except QFormatError:
        raise
    except (OSError, ValueError) as e:
        raise QFormatError(name, "", _short(e)) from None
    bundle = Bundle(items)
    if expect is not None and not any(getattr(a, "kind", None) == expect for a in bundle):
        kinds = ", ".join(sorted({a.kind for a in bundle})) or "nothing"
        raise QFormatError(name, "", f"expected a {expect}, found {kinds}")
    return bundle


def open(src: Source, expect: str | None = None) -> Any:  # noqa: A001 - mirrors zarr.open
    """Open ``src``: the artifact it holds, or a :class:`Bundle` if it holds several.

    ``expect`` (``"model"``, ``"table"`` ...) refuses other kinds with a clear error;
    from a bundle it returns the first artifact of that kind.
    """
    b = read_bundle(src, expect)
    if expect is not None:
        return b.first(expect)
    return b[0] if len(b) == 1 else b


def _read_any(src: Source, name: str) -> list:
    if isinstance(src, bytes):
        return _read_bytes(src, name)
    if isinstance(src, (str, os.PathLike)):
        s = str(src)
        if s == "-":
            _stdin_ok(name)
            return _read_binary_stream(sys.stdin.buffer, name)
        if "://" in s and not s.startswith("file://"):
            return _read_url(s, name)
        path = Path(s.removeprefix("file://"))
        if path.is_dir():
            return _read_group_items(_open_dir(path, name), name)
        if not path.exists():
            raise QFormatError(name, "", "no such file or directory")
        with path.open("rb") as f:
            head = f.read(8)
        if head.startswith(STREAM_MAGIC):
            mm = pa.memory_map(str(path), "r")
            return list(iter_stream(mm, name))
        if head.startswith(ZIP_MAGIC) or head.startswith(ZIP_EMPTY_MAGIC):
            return _read_zip_path(path, name)
        return _read_bytes(path.read_bytes(), name)
    # a binary file object: the stream form is read incrementally, other forms whole
    return _read_binary_stream(src, name)


def _read_binary_stream(raw: BinaryIO, name: str) -> list:
    """The stream form is read incrementally; anything else (zip, JSON, Parquet) whole."""
    peek = _PeekReader(raw)
    head = peek.peek(4)
    if head == STREAM_MAGIC:
        return list(iter_stream(peek, name))
    return _read_bytes(peek.read(), name)


def _stdin_ok(name: str) -> bool:
    if sys.stdin is None or sys.stdin.isatty():
        raise QFormatError(name, "", "no input: stdin is a terminal (pipe an artifact in or give a path)")
    return True


def _read_bytes(data: bytes, name: str) -> list:
    if not data:
        raise QFormatError(name, "", "empty input: no artifact found")
    if data.startswith(STREAM_MAGIC):
        return list(iter_stream(pa.BufferReader(data), name))
    if data.startswith(ZIP_MAGIC) or data.startswith(ZIP_EMPTY_MAGIC):
        return _read_zip_bytes(data, name)
    if data.startswith(ARROW_FILE_MAGIC):
        try:
            tab = pa.ipc.open_file(pa.BufferReader(data)).read_all()
        except Exception as e:
            raise QFormatError(name, "", f"corrupted Arrow file ({_short(e)})") from None
        return [_table_from_arrow(tab, name)]
    if data.startswith(PARQUET_MAGIC):
        import pyarrow.parquet as pq

        try:
            tab = pq.read_table(pa.BufferReader(data))
        except Exception as e:
            raise QFormatError(name, "", f"corrupted Parquet file ({_short(e)})") from None
        return [_table_from_arrow(tab, name)]
    if data.lstrip()[:1] == b"{":
        return [_read_json_artifact(data, name)]
    raise QFormatError(name, "", "not a qformat artifact (unrecognised first bytes)")


def _table_from_arrow(tab: pa.Table, name: str) -> Table:
    raw = (tab.schema.metadata or {}).get(b"qformat")
    if raw:
        meta = validate_meta(json.loads(raw), name, "table")
        return Table(tab, table_kind=meta.table_kind, provenance=meta.provenance)
    return Table(tab, table_kind="table")


def _read_json_artifact(data: bytes, name: str) -> Any:
    """JSON documents: a precision map, either ``{"qformat": {...}}`` or a flat layer->precision object."""
    try:
        doc = json.loads(data)
    except Exception as e:
        raise QFormatError(name, "", f"invalid JSON ({_short(e)})") from None
    if isinstance(doc, dict) and NAMESPACE in doc:
        meta = validate_meta(doc[NAMESPACE], name, "precision_map")
        return PrecisionMap(meta.rules, provenance=meta.provenance)
    if isinstance(doc, dict) and all(isinstance(v, (str, dict)) for v in doc.values()):
        return PrecisionMap(doc, provenance={"imported_from": "json"})
    raise QFormatError(name, "", "JSON document is neither a qformat artifact nor a precision map")


def _read_group_items(group: zarr.Group, name: str) -> list:
    obj = read_zarr(group, name)
    return list(obj) if isinstance(obj, Bundle) else [obj]


def _open_dir(path: Path, name: str) -> zarr.Group:
    if not (path / "zarr.json").exists():
        raise QFormatError(name, "zarr.json", "missing: this directory is not a qformat artifact")
    try:
        return zarr.open_group(store=zarr.storage.LocalStore(str(path), read_only=True), mode="r", zarr_format=3)
    except Exception as e:
        raise QFormatError(name, "zarr.json", f"unreadable group metadata ({_short(e)})") from None


def _read_zip_path(path: Path, name: str) -> list:
    try:
        store = zarr.storage.ZipStore(str(path), mode="r")
        group = zarr.open_group(store=store, mode="r", zarr_format=3)
    except zipfile.BadZipFile as e:
        raise QFormatError(name, "", f"corrupted zip ({_short(e)})") from None
    except FileNotFoundError:
        raise QFormatError(name, "zarr.json", "missing: this zip is not a qformat artifact") from None
    except Exception as e:
        raise QFormatError(name, "zarr.json", f"unreadable ({_short(e)})") from None
    return _read_group_items(group, name)


def _read_zip_bytes(data: bytes, name: str) -> list:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            d = {info.filename: zf.read(info) for info in zf.infolist() if not info.is_dir()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as e:
        raise QFormatError(name, "", f"corrupted zip ({_short(e)})") from None
    except Exception as e:  # zlib errors, bad CRC
        raise QFormatError(name, "", f"corrupted zip ({_short(e)})") from None
    return _read_group_items(open_store_dict(d, name), name)


def _read_url(url: str, name: str) -> list:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except Exception as e:
        raise QFormatError(name, "", f"cannot open URL ({_short(e)})") from None
    try:
        if fs.isdir(path):
            store = zarr.storage.FsspecStore(fs=_async_fs(fs), path=path, read_only=True)
            return _read_group_items(zarr.open_group(store=store, mode="r", zarr_format=3), name)
        if not fs.exists(path):
            raise QFormatError(name, "", "no such file or directory")
        with fs.open(path, "rb") as f:
            data = f.read()
    except QFormatError:
        raise
    except Exception as e:
        raise QFormatError(name, "", f"cannot read ({_short(e)})") from None
    return _read_bytes(data, name)


def _async_fs(fs):
    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

    return fs if getattr(fs, "async_impl", False) else AsyncFileSystemWrapper(fs, asynchronous=True)


# ---- writing ----------------------------------------------------------------

def _form_for(dest: str, form: str | None) -> str:
    if form:
        return form
    low = dest.lower().rstrip("/")
    if low.endswith(".zip"):
        return "zip"
    if low.endswith((".qz", ".arrows", ".qstream")):
        return "stream"
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith(".arrow"):
        return "arrow"
    return "dir"


def save(obj: Any, dest: Any, form: str | None = None) -> None:
    """Write an artifact or bundle atomically to ``dest``.

    ``dest`` is ``"-"`` (stdout, stream form), a binary stream, a path or an fsspec
    URL. The container follows the name unless ``form`` says otherwise:
    ``*.zip`` zip, ``*.qz``/``*.arrows`` stream, ``*.parquet``/``*.arrow`` a table
    file, anything else a Zarr directory. A killed writer leaves the old artifact
    or none, never a half-written one.
    """
    if isinstance(obj, list):
        obj = Bundle(obj)
    if dest == "-" or dest is None:
        write_stream(obj, sys.stdout.buffer)
        return
    if hasattr(dest, "write"):
        write_stream(obj, dest)
        return
    dest = str(dest)
    kind = _form_for(dest, form)
    if "://" in dest and not dest.startswith("file://"):
        _save_url(obj, dest, kind)
        return
    path = Path(dest.removeprefix("file://"))
    if path.exists() and not path.is_dir() and not path.is_file():
        # A device or FIFO (/dev/null, a named pipe): write the stream form into it, in place.
        with builtins.open(path, "wb") as f:
            _write_file_form(obj, f, "stream" if kind == "dir" else kind, dest)
        return
    if kind == "dir" and path.is_file() and form is None:
        kind = "stream"  # never replace an existing file with a directory
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "dir":
        _save_dir_atomic(obj, path)
        return
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with tmp.open("wb") as f:
            _write_file_form(obj, f, kind, dest)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_file_form(obj: Any, f: BinaryIO, kind: str, dest: str) -> None:
    if kind == "stream":
        write_stream(obj, f)
    elif kind == "zip":
        write_zip(obj, f)
    elif kind in ("parquet", "arrow"):
        if not isinstance(obj, Table):
            raise QFormatError(dest, "", f"a .{kind} file holds one table, not a {_artifact_kind(obj)}")
        if kind == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(obj.to_arrow(), f)
        else:
            with pa.ipc.new_file(pa.PythonFile(f, mode="w"), obj.to_arrow().schema) as w:
                w.write_table(obj.to_arrow())
    else:
        raise ValueError(f"unknown form {kind!r}")


def write_zip(obj: Any, f: BinaryIO) -> None:
    """A zip of the zarr store keys, each written once, sorted (works on unseekable output)."""
    d = to_store_dict(obj)
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for k in sorted(d):
            zf.writestr(k, d[k])


def _save_dir_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        group = zarr.open_group(store=zarr.storage.LocalStore(str(tmp)), mode="w", zarr_format=3)
        write_zarr(obj, group)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _save_url(obj: Any, url: str, kind: str) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    tmp = f"{path.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        if kind == "dir":
            store = zarr.storage.FsspecStore(fs=_async_fs(fs), path=tmp, read_only=False)
            write_zarr(obj, zarr.open_group(store=store, mode="w", zarr_format=3))
            if fs.exists(path):
                fs.rm(path, recursive=True)
            fs.mv(tmp, path, recursive=True)
        else:
            buf = io.BytesIO()
            _write_file_form(obj, buf, kind, url)
            with fs.open(tmp, "wb") as f:
                f.write(buf.getvalue())
            fs.mv(tmp, path)
    finally:
        try:
            if fs.exists(tmp):
                fs.rm(tmp, recursive=True)
        except Exception:
            pass


def to_bytes(obj: Any) -> bytes:
    """The stream form of an artifact or bundle as bytes."""
    buf = io.BytesIO()
    write_stream(obj, buf)
    return buf.getvalue()


def from_bytes(data: bytes, name: str = "<bytes>") -> Any:
    items = _read_bytes(data, name)
    return items[0] if len(items) == 1 else Bundle(items)


__all__ = ["open", "read_bundle", "save", "to_bytes", "from_bytes", "TableStreamWriter", "iter_stream",
           "write_stream", "write_zip", "to_store_dict", "open_store_dict", "read_zarr", "write_zarr"]
