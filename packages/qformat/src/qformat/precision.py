"""Precisions (fp32, fp16, intN, uintN) and per-layer precision maps.

A precision map resolves a layer name in a fixed order: the exact name, then
regex keys (``re:`` prefix, first match in insertion order), then ``_default``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import QFormatError

_PREC_RE = re.compile(r"^(fp32|fp16|float32|float16|(u?int)(\d+))$")


@dataclass(frozen=True)
class Precision:
    """One numeric format: ``kind`` is ``float`` or ``int``; ``bits`` 1..32."""

    kind: str
    bits: int
    signed: bool = True

    @classmethod
    def parse(cls, text: str | Precision) -> Precision:
        """Parse ``fp32``, ``fp16``, ``int8``, ``int4``, ``uint8``, any ``intN`` with 1 <= N <= 16."""
        if isinstance(text, Precision):
            return text
        m = _PREC_RE.match(str(text).strip().lower())
        if not m:
            raise ValueError(f"unknown precision {text!r} (expected fp32, fp16, intN or uintN)")
        if m.group(1) in ("fp32", "float32"):
            return cls("float", 32)
        if m.group(1) in ("fp16", "float16"):
            return cls("float", 16)
        bits = int(m.group(3))
        if not 1 <= bits <= 16:
            raise ValueError(f"bit width {bits} out of range 1..16 in {text!r}")
        return cls("int", bits, signed=m.group(2) == "int")

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    def __str__(self) -> str:
        if self.is_float:
            return f"fp{self.bits}"
        return f"{'' if self.signed else 'u'}int{self.bits}"


@dataclass(frozen=True)
class LayerPrecision:
    """Weight and activation precision of one layer."""

    weight: Precision
    activation: Precision

    def to_json(self) -> dict:
        return {"weight": str(self.weight), "activation": str(self.activation)}


FP32 = Precision("float", 32)


def _parse_entry(key: str, value: Any, default: LayerPrecision | None) -> LayerPrecision:
    if value is None:
        return LayerPrecision(FP32, FP32)
    if isinstance(value, (str, Precision)):
        p = Precision.parse(value)
        act = default.activation if default else Precision.parse("int8") if not p.is_float else p
        return LayerPrecision(p, act)
    if isinstance(value, LayerPrecision):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"weight", "activation"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; expected weight, activation")
        w = value.get("weight", default.weight if default else None)
        a = value.get("activation", default.activation if default else None)
        if w is None:
            raise ValueError("missing 'weight'")
        w = Precision.parse(w)
        if a is None:
            a = w if w.is_float else Precision.parse("int8")
        return LayerPrecision(w, Precision.parse(a))
    raise ValueError(f"expected a precision string or an object, got {type(value).__name__}")


class PrecisionMap:
    """Ordered per-layer precision rules: exact name > ``re:`` regex > ``_default``.

    >>> pm = PrecisionMap({"fc1": "int4", "re:conv.*": {"weight": "int2"}, "_default": "int8"})
    >>> str(pm.resolve("fc1").weight), str(pm.resolve("conv3").weight), str(pm.resolve("x").weight)
    ('int4', 'int2', 'int8')
    """

    kind = "precision_map"

    def __init__(self, rules: Mapping[str, Any] | None = None, provenance: dict | None = None):
        rules = dict(rules or {})
        self.provenance = dict(provenance or {})
        self.default: LayerPrecision | None = None
        if "_default" in rules:
            try:
                self.default = _parse_entry("_default", rules["_default"], None)
            except ValueError as e:
                raise QFormatError("precision map", "_default", str(e)) from None
        self.exact: dict[str, LayerPrecision] = {}
        self.regex: list[tuple[str, re.Pattern, LayerPrecision]] = []
        for key, value in rules.items():
            if key == "_default":
                continue
            try:
                lp = _parse_entry(key, value, self.default)
            except ValueError as e:
                raise QFormatError("precision map", key, str(e)) from None
            if key.startswith("re:"):
                try:
                    self.regex.append((key, re.compile(key[3:]), lp))
                except re.error as e:
                    raise QFormatError("precision map", key, f"bad regex: {e}") from None
            else:
                self.exact[key] = lp

    def resolve(self, layer: str) -> LayerPrecision | None:
        """The precision of ``layer``, or None when no rule applies (keep float)."""
        if layer in self.exact:
            return self.exact[layer]
        for _, rx, lp in self.regex:
            if rx.fullmatch(layer):
                return lp
        return self.default

    def resolve_all(self, layers: Iterable[str] | Any, strict: bool = True) -> dict[str, LayerPrecision]:
        """Resolve every layer; with ``strict`` a rule that matches no layer is an error."""
        if hasattr(layers, "compute_layers"):
            names = [lay.name for lay in layers.compute_layers()]
        else:
            names = list(layers)
        out = {}
        for n in names:
            lp = self.resolve(n)
            if lp is not None:
                out[n] = lp
        if strict:
            for n in self.exact:
                if n not in names:
                    raise QFormatError("precision map", n, "names no layer of the model")
            for key, rx, _ in self.regex:
                if not any(rx.fullmatch(n) for n in names):
                    raise QFormatError("precision map", key, "matches no layer of the model")
        return out

    def rules(self) -> dict[str, dict]:
        """The rules as plain JSON, in precedence-preserving order."""
        out: dict[str, dict] = {k: v.to_json() for k, v in self.exact.items()}
        out.update({k: v.to_json() for k, _, v in self.regex})
        if self.default is not None:
            out["_default"] = self.default.to_json()
        return out

    @classmethod
    def from_layers(cls, assignment: Mapping[str, LayerPrecision | Mapping | str], **kw) -> PrecisionMap:
        return cls({k: (v.to_json() if isinstance(v, LayerPrecision) else v) for k, v in assignment.items()}, **kw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrecisionMap) and self.rules() == other.rules()

    def __repr__(self) -> str:
        body = ", ".join(f"{k}: {v['weight']}/{v['activation']}" for k, v in self.rules().items())
        return f"PrecisionMap({body})"
