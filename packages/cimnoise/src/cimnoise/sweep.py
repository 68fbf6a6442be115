"""Sweep grids: lists of crossbar parameters whose product is explored."""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .config import CrossbarConfig, HardwareConfig, _first_error

GRID_KEYS = ("input_bits", "weight_bits", "read_noise", "programming_error", "encoding", "weight_slices",
             "input_slice_bits", "adc_bits", "adc_noise", "on_off_ratio", "rows", "noise_model")
ALIASES = {"alpha": "read_noise", "slices": "weight_slices", "input_slices": "input_slice_bits", "x_bits": "input_bits",
           "w_bits": "weight_bits", "adc_sigma": "adc_noise", "sigma": "adc_noise"}


class SweepGrid(BaseModel):
    """Each field is a list of values; the grid is their product (unset fields keep the base config's value)."""

    model_config = ConfigDict(extra="forbid")

    input_bits: Optional[list[Optional[int]]] = None
    weight_bits: Optional[list[Optional[int]]] = None
    read_noise: Optional[list[float]] = None
    programming_error: Optional[list[float]] = None
    encoding: Optional[list[str]] = None
    weight_slices: Optional[list[int]] = None
    input_slice_bits: Optional[list[Optional[int]]] = None
    adc_bits: Optional[list[Optional[int]]] = None
    adc_noise: Optional[list[float]] = None
    on_off_ratio: Optional[list[Optional[float]]] = None
    rows: Optional[list[int]] = None
    noise_model: Optional[list[str]] = None

    @field_validator("*", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        if v is None or isinstance(v, list):
            return v
        if isinstance(v, tuple):
            return list(v)
        return [v]

    @classmethod
    def parse(cls, data: dict) -> SweepGrid:
        data = {ALIASES.get(k, k): v for k, v in data.items()}
        try:
            return cls(**data)
        except ValidationError as e:
            raise ValueError(f"sweep grid: {_first_error(e)}") from None

    @classmethod
    def load(cls, path: str | Path) -> SweepGrid:
        p = Path(path)
        text = p.read_text()
        try:
            data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"{p}: not valid JSON or TOML ({e})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{p}: a sweep grid is a mapping of parameter -> list of values")
        return cls.parse(data.get("grid", data))

    def axes(self) -> dict[str, list]:
        return {k: getattr(self, k) for k in GRID_KEYS if getattr(self, k) is not None}

    def points(self, base: HardwareConfig, skip_invalid: bool = True) -> list[tuple[dict, HardwareConfig]]:
        """Every grid point as ``(overrides, hardware config)``; combinations the config rejects are skipped
        (e.g. more weight slices than bits) unless ``skip_invalid`` is false."""
        axes = self.axes()
        keys = list(axes)
        out = []
        for combo in itertools.product(*(axes[k] for k in keys)):
            over = dict(zip(keys, combo))
            if over.get("adc_bits", base.default.adc_bits) is None and "adc_noise" in over:
                over["adc_noise"] = 0.0
            try:
                hw = base.with_overrides(**over)
                CrossbarConfig(**{**base.default.model_dump(), **over})
            except (ValidationError, ValueError) as e:
                if skip_invalid:
                    continue
                raise ValueError(f"grid point {over}: {e}") from None
            out.append((over, hw))
        if not out:
            raise ValueError("the sweep grid has no valid point")
        return out

    def size(self) -> int:
        n = 1
        for v in self.axes().values():
            n *= len(v)
        return n


def parse_list(text: str, kind: type) -> list:
    """``"4,6,8"`` -> ``[4, 6, 8]``; ``none``/``ideal``/``inf`` -> None."""
    out = []
    for part in str(text).split(","):
        p = part.strip()
        if not p:
            continue
        if p.lower() in ("none", "ideal", "inf", "infinite", "-"):
            out.append(None)
        elif kind is str:
            out.append(p)
        else:
            try:
                out.append(kind(p))
            except ValueError:
                raise ValueError(f"{text!r}: {p!r} is not a valid {kind.__name__}") from None
    return out
