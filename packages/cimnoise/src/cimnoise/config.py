"""Hardware configurations: one crossbar design per layer, loadable from JSON or TOML.

A :class:`HardwareConfig` holds a ``default`` :class:`CrossbarConfig` and
per-layer overrides keyed by exact layer name or ``re:<regex>``; resolution
order is exact name > first matching regex > default (the qstack precision-map
rule). A file may also be a bare :class:`CrossbarConfig` (global).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


def parse_method(spec: str, what: str) -> tuple[str, Optional[float]]:
    """``"max"``, ``"optimize"``, ``"full"`` or ``"percentile:P"`` (also ``pP``) -> (name, P)."""
    s = str(spec).strip().lower()
    if s in ("max", "optimize", "full"):
        return s, None
    m = re.fullmatch(r"(?:percentile[:=]|p)(\d+(?:\.\d*)?)", s)
    if m:
        p = float(m.group(1))
        if not 0 < p <= 100:
            raise ValueError(f"{what}: percentile must be in (0, 100], got {p}")
        return "percentile", p
    raise ValueError(f"{what}: unknown calibration {spec!r} (use max, optimize, full or percentile:P)")


class CrossbarConfig(BaseModel):
    """One crossbar design (all fields optional in overrides; defaults shown).

    Ranges left at ``None`` are calibrated (from a calibration table in the
    input, else from the probe statistics with ``input_calibration`` /
    ``adc_calibration``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int = Field(1152, ge=1, description="rows per array; taller matrices are tiled, partial sums added digitally")
    input_bits: Optional[int] = Field(8, ge=1, le=16, description="DAC bits; None = ideal")
    input_signed: Optional[bool] = Field(None, description="sign-magnitude DAC; None = signed iff the inputs have negative values")
    input_slice_bits: Optional[int] = Field(None, ge=1, le=16, description="bit-serial input slices of this many bits; None = whole value at once")
    input_range: Optional[float] = Field(None, gt=0, description="DAC full scale (x_max, or L for signed); None = calibrated")
    input_calibration: str = Field("max", description="max | percentile:P | optimize")
    weight_bits: Optional[int] = Field(8, ge=2, le=16, description="weight bits (2^b - 1 levels); None = continuous conductances")
    weight_per_channel: bool = Field(False, description="one weight scale per output channel instead of per tensor")
    weight_range: Optional[float] = Field(None, gt=0, description="weight full scale; None = max |W|")
    weight_slices: int = Field(1, ge=1, le=16, description="weight bit slices across cells (shift-and-add)")
    encoding: Literal["differential", "offset"] = Field("differential", description="differential pair or offset + digital reference subtraction")
    on_off_ratio: Optional[float] = Field(10.0, gt=1, description="Gmax/Gmin; None = infinite")
    read_noise: float = Field(0.0, ge=0, le=1, description="α: G·(1 + N(0, α²)) redrawn on every read")
    programming_error: float = Field(0.0, ge=0, le=1, description="G·(1 + N(0, σ²)) drawn once per programming")
    noise_model: Literal["normal", "lognormal"] = Field("normal", description="normal (clipped at G ≥ 0) or mean-preserving lognormal of the same variance")
    adc_bits: Optional[int] = Field(None, ge=1, le=16, description="ADC bits per column read; None = ideal ADC")
    adc_noise: float = Field(0.0, ge=0, description="ADC thermal noise σ in LSB")
    adc_range: Optional[list[list[float]]] = Field(None, description="[[lo, hi]] per weight slice (differential uses max |lo|, |hi|); None = calibrated")
    adc_calibration: str = Field("max", description="max | percentile:P | optimize | full")

    @field_validator("encoding", mode="before")
    @classmethod
    def _alias_encoding(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() in ("balanced", "diff"):
            return "differential"
        return v.lower() if isinstance(v, str) else v

    @field_validator("on_off_ratio", mode="before")
    @classmethod
    def _infinite(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in ("inf", "infinite", "none"):
            return None
        if isinstance(v, (int, float)) and math.isinf(v):
            return None
        return v

    @field_validator("input_calibration")
    @classmethod
    def _input_method(cls, v: str) -> str:
        name, _ = parse_method(v, "input_calibration")
        if name == "full":
            raise ValueError("input_calibration: 'full' applies to ADCs only")
        return v

    @field_validator("adc_calibration")
    @classmethod
    def _adc_method(cls, v: str) -> str:
        parse_method(v, "adc_calibration")
        return v

    @field_validator("adc_range", mode="before")
    @classmethod
    def _ranges(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, (int, float)):
            return [[-float(v), float(v)]]
        out = []
        for r in v:
            if isinstance(r, (int, float)):
                out.append([-abs(float(r)), abs(float(r))])
            else:
                out.append([float(r[0]), float(r[1])])
        return out

    @model_validator(mode="after")
    def _consistent(self) -> CrossbarConfig:
        if self.weight_slices > 1:
            if self.weight_bits is None:
                raise ValueError("weight_slices > 1 needs weight_bits")
            mag = self.weight_bits - 1 if self.encoding == "differential" else self.weight_bits
            if self.weight_slices > mag:
                raise ValueError(f"weight_slices {self.weight_slices} exceeds the {mag} bits to slice")
        if self.input_slice_bits is not None and self.input_bits is None:
            raise ValueError("input_slice_bits needs input_bits")
        if self.adc_noise > 0 and self.adc_bits is None:
            raise ValueError("adc_noise is in LSB and needs adc_bits")
        if self.adc_bits is not None and self.adc_bits < 2 and self.encoding == "differential":
            raise ValueError("a differential (symmetric) ADC needs adc_bits >= 2")
        if self.adc_range is not None and len(self.adc_range) not in (1, self.weight_slices):
            raise ValueError(f"adc_range needs 1 or {self.weight_slices} [lo, hi] pairs")
        return self

    @property
    def gmin(self) -> float:
        return 0.0 if self.on_off_ratio is None else 1.0 / self.on_off_ratio

    def topology(self) -> str:
        """A key naming everything that changes the calibrated ranges (calibrations are stored per topology)."""
        oo = "inf" if self.on_off_ratio is None else f"{self.on_off_ratio:g}"
        sign = {None: "auto", True: "s", False: "u"}[self.input_signed]
        return (f"{self.encoding}/w{self.weight_bits}s{self.weight_slices}{'pc' if self.weight_per_channel else ''}"
                f"/x{self.input_bits}{sign}b{self.input_slice_bits or 0}/r{self.rows}/oo{oo}"
                f"/a{self.adc_bits}/{self.input_calibration}/{self.adc_calibration}")

    def label(self) -> str:
        """Short human-readable description."""
        adc = "ideal" if self.adc_bits is None else f"{self.adc_bits}b/{self.adc_noise:g}LSB"
        return (f"x{self.input_bits} w{self.weight_bits} {self.encoding[:4]} ws{self.weight_slices} "
                f"xs{self.input_slice_bits or '-'} a={self.read_noise:g} adc={adc}")


class HardwareConfig(BaseModel):
    """A default crossbar design plus per-layer overrides (exact name > ``re:`` regex > default)."""

    model_config = ConfigDict(extra="forbid")

    default: CrossbarConfig = CrossbarConfig()
    layers: dict[str, dict[str, Any]] = {}

    @model_validator(mode="after")
    def _check_layers(self) -> HardwareConfig:
        for key, over in self.layers.items():
            if key.startswith("re:"):
                try:
                    re.compile(key[3:])
                except re.error as e:
                    raise ValueError(f"layers[{key!r}]: bad regex ({e})") from None
            try:
                self._merge(over)
            except ValidationError as e:
                raise ValueError(f"layers[{key!r}]: {_first_error(e)}") from None
        return self

    def _merge(self, over: dict[str, Any]) -> CrossbarConfig:
        return CrossbarConfig(**{**self.default.model_dump(), **over})

    def for_layer(self, name: str) -> CrossbarConfig:
        """The design of layer ``name``."""
        if name in self.layers:
            return self._merge(self.layers[name])
        for key, over in self.layers.items():
            if key.startswith("re:") and re.fullmatch(key[3:], name):
                return self._merge(over)
        return self.default

    def check_layers(self, names: list[str]) -> None:
        """Raise when an override key matches no layer (a typo would otherwise be ignored)."""
        for key in self.layers:
            if key.startswith("re:"):
                if not any(re.fullmatch(key[3:], n) for n in names):
                    raise ValueError(f"hardware config: layers[{key!r}] matches no compute layer")
            elif key not in names:
                raise ValueError(f"hardware config: layers[{key!r}] is not a compute layer (have {', '.join(names)})")

    def with_overrides(self, **fields: Any) -> HardwareConfig:
        """The same design with ``fields`` set on the default and on every layer override."""
        return HardwareConfig(default=CrossbarConfig(**{**self.default.model_dump(), **fields}),
                              layers={k: {**v, **fields} for k, v in self.layers.items()})

    @classmethod
    def parse(cls, data: dict[str, Any]) -> HardwareConfig:
        """From a dict: ``{"default": {...}, "layers": {...}}`` or the fields of one global design."""
        if not isinstance(data, dict):
            raise ValueError("a hardware config must be a mapping")
        if "default" in data or "layers" in data:
            return cls(**data)
        return cls(default=CrossbarConfig(**data))

    @classmethod
    def load(cls, path: str | Path) -> HardwareConfig:
        """Read a JSON or TOML file (by suffix; JSON is tried first otherwise)."""
        p = Path(path)
        text = p.read_text()
        try:
            if p.suffix.lower() == ".toml":
                data = tomllib.loads(text)
            else:
                try:
                    data = json.loads(text)
                except json.JSONDecodeError:
                    data = tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"{p}: not valid JSON or TOML ({e})") from None
        try:
            return cls.parse(data)
        except ValidationError as e:
            raise ValueError(f"{p}: {_first_error(e)}") from None


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ()))
    msg = err.get("msg", str(e))
    return f"{loc}: {msg}" if loc else msg
