"""Explicit, tested migrations from older spec versions to the current one.

Spec v0 (the prototype format, still found in early artifacts) kept its
metadata under ``attributes.qstack_model`` with ``format_version: 0``, called
ops ``type`` (``dense``, ``conv``), their attributes ``params``, and stored
tensors as ``params/<layer>/w`` and ``params/<layer>/b``. Each migration is a
pure function of the metadata dict; array paths move through ``ARRAY_ALIASES``.
"""

from __future__ import annotations

from .errors import QFormatError

V0_KEY = "qstack_model"
_V0_OPS = {"dense": "linear", "conv": "conv2d", "input": "input", "relu": "relu", "flatten": "flatten",
           "maxpool": "maxpool2d", "avgpool": "avgpool2d", "add": "add", "softmax": "softmax"}
# v0 array path -> v1 array path, per layer
ARRAY_ALIASES_V0 = {"weight": "params/{layer}/w", "bias": "params/{layer}/b"}


def detect_v0(attrs: dict) -> bool:
    return isinstance(attrs.get(V0_KEY), dict)


def v0_to_v1(old: dict, artifact: str) -> dict:
    """Upgrade a v0 model's metadata to v1 (keeps what v1 can express, nothing silent)."""
    layers = []
    for i, lay in enumerate(old.get("layers", [])):
        t = lay.get("type")
        if t not in _V0_OPS:
            raise QFormatError(artifact, f"{V0_KEY}.layers[{i}].type", f"v0 op {t!r} has no v1 equivalent")
        attrs = dict(lay.get("params", {}))
        act = attrs.pop("activation", "none")
        layers.append({"name": lay["name"], "op": _V0_OPS[t], "inputs": list(lay.get("inputs", [])),
                       "attrs": attrs, "activation": act})
    return {"kind": "model", "version": "1.0", "provenance": dict(old.get("provenance", {}),
            migrated_from="0"), "layers": layers, "array_layout": "v0"}


def migrate(meta: dict, artifact: str) -> dict:
    """Run the chain of migrations from ``meta['version']`` up to the current major."""
    version = str(meta.get("version", "0"))
    if version.startswith("0"):
        return meta if meta.get("kind") else v0_to_v1(meta, artifact)
    raise QFormatError(artifact, "qformat.version", f"no migration from version {version}")
