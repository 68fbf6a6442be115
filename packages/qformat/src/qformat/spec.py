"""Spec v1 metadata models and the version rules (detect, refuse, migrate).

Every artifact carries one namespaced metadata object under the key
``qformat``: ``{"kind": ..., "version": "1.0", "provenance": {...}, ...}``.
Zarr artifacts keep it in the root group's attributes; Arrow tables in the
schema metadata (``qformat.kind``, ``qformat.version``, ``qformat.meta``).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import QFormatError

SPEC_VERSION = "1.0"
SPEC_MAJOR = 1
NAMESPACE = "qformat"
KINDS = ("model", "precision_map", "probe", "table", "bundle")

OPS = {
    "input", "linear", "conv2d", "maxpool2d", "avgpool2d", "global_avgpool",
    "add", "concat", "relu", "relu6", "flatten", "softmax",
}
COMPUTE_OPS = {"linear", "conv2d"}
ACTIVATIONS = ("none", "relu", "relu6")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActQuant(_Strict):
    """Quantization of an activation tensor: real = scale * (q - zero_point)."""

    bits: int = Field(8, ge=1, le=16)
    signed: bool = False
    scale: float
    zero_point: int = 0

    @field_validator("scale")
    @classmethod
    def _finite_scale(cls, v: float) -> float:
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"scale must be a finite positive number, got {v}")
        return v

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @model_validator(mode="after")
    def _zp_in_range(self) -> ActQuant:
        if not self.qmin <= self.zero_point <= self.qmax:
            raise ValueError(f"zero_point {self.zero_point} outside [{self.qmin}, {self.qmax}]")
        return self


class WeightQuant(_Strict):
    """Quantization of a weight tensor (codes, scales and the scheme that made them)."""

    bits: int = Field(8, ge=1, le=16)
    signed: bool = True
    scheme: Literal["affine", "pow2", "kmeans", "fp16"] = "affine"
    per_channel: bool = False
    narrow_range: bool = True


class LayerQuant(_Strict):
    """Per-layer quantization metadata; the arrays live next to the weights."""

    weight: Optional[WeightQuant] = None
    input: Optional[ActQuant] = None
    output: Optional[ActQuant] = None
    bias_bits: int = Field(32, ge=8, le=32)


class LayerSpec(_Strict):
    """One node of the graph IR."""

    name: str = Field(min_length=1)
    op: str
    inputs: list[str] = []
    attrs: dict[str, Any] = {}
    activation: Literal["none", "relu", "relu6"] = "none"
    out_shape: Optional[list[int]] = None
    quant: Optional[LayerQuant] = None

    @field_validator("name")
    @classmethod
    def _no_slash(cls, v: str) -> str:
        if "/" in v or v.startswith("."):
            raise ValueError(f"layer name {v!r} may not contain '/' or start with '.'")
        return v

    @field_validator("op")
    @classmethod
    def _known_op(cls, v: str) -> str:
        if v not in OPS:
            raise ValueError(f"unknown op {v!r} (known: {', '.join(sorted(OPS))})")
        return v


class Header(BaseModel):
    """The namespaced metadata object common to every artifact."""

    model_config = ConfigDict(extra="allow")
    kind: Literal["model", "precision_map", "probe", "table", "bundle"]
    version: str
    provenance: dict[str, Any] = {}


class ModelMeta(Header):
    kind: Literal["model"]
    layers: list[LayerSpec]


class PrecisionMapMeta(Header):
    kind: Literal["precision_map"]
    rules: dict[str, dict[str, str]]


class ProbeMeta(Header):
    kind: Literal["probe"]
    classes: Optional[int] = None
    sites: list[str] = []
    noise_prop: list[str] = []


class TableMeta(Header):
    kind: Literal["table"]
    table_kind: str = "table"


class BundleMeta(Header):
    kind: Literal["bundle"]
    members: list[str]


META_MODELS = {
    "model": ModelMeta, "precision_map": PrecisionMapMeta, "probe": ProbeMeta,
    "table": TableMeta, "bundle": BundleMeta,
}


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """Condense a pydantic error into 'at <loc>: <msg>' for the first problem (+N more)."""
    errs = err.errors()
    first = errs[0]
    loc = prefix
    for part in first.get("loc", ()):
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    msg = first.get("msg", "invalid").removeprefix("Value error, ")
    more = f" (and {len(errs) - 1} more problem(s))" if len(errs) > 1 else ""
    return f"at {loc or '<root>'}: {msg}{more}"


def parse_version(v: Any, artifact: str) -> tuple[int, int]:
    try:
        major, minor = str(v).split(".")[:2]
        return int(major), int(minor)
    except Exception:
        raise QFormatError(artifact, f"{NAMESPACE}.version", f"unreadable version {v!r}") from None


def check_version(meta: dict, artifact: str) -> dict:
    """Refuse newer majors; upgrade older ones through the migration chain."""
    from .migrations import migrate

    major, _ = parse_version(meta.get("version"), artifact)
    if major > SPEC_MAJOR:
        raise QFormatError(
            artifact, f"{NAMESPACE}.version",
            f"written with spec {meta.get('version')}, newer than this qformat reads (up to {SPEC_MAJOR}.x); upgrade qformat",
        )
    if major < SPEC_MAJOR:
        meta = migrate(meta, artifact)
    return meta


def validate_meta(meta: Any, artifact: str, expect: str | None = None) -> Header:
    """Validate the ``qformat`` metadata object of an artifact; errors say where."""
    if not isinstance(meta, dict):
        raise QFormatError(artifact, NAMESPACE, "metadata is missing or not an object (is this a qformat artifact?)")
    kind = meta.get("kind")
    if kind not in META_MODELS:
        raise QFormatError(artifact, f"{NAMESPACE}.kind", f"unknown artifact kind {kind!r}")
    if expect is not None and kind != expect:
        raise QFormatError(artifact, f"{NAMESPACE}.kind", f"expected a {expect}, found a {kind}")
    meta = check_version(meta, artifact)
    try:
        return META_MODELS[kind].model_validate(meta)
    except ValidationError as e:
        raise QFormatError(artifact, "", format_validation_error(e, NAMESPACE)) from None
