"""Probe statistics: per-layer activation distributions and noise propagation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .errors import QFormatError

STAT_FIELDS = ("edges", "counts", "p_zero", "min", "max", "mean", "var")


@dataclass
class ActivationStats:
    """Distribution of one activation tensor, per channel.

    ``edges`` (B+1,) are bin edges shared by all channels; ``counts`` (C, B) count
    the *non-zero* values per bin; ``p_zero`` (C,) is the probability of an exact
    zero. Signed values are kept (edges may be negative). ``percentiles`` maps a
    percentile (e.g. 99.9) to a (C,) array. ``n`` is the number of values seen per
    channel.
    """

    edges: np.ndarray
    counts: np.ndarray
    p_zero: np.ndarray
    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    percentiles: dict[float, np.ndarray] = field(default_factory=dict)
    n: int = 0

    def __post_init__(self) -> None:
        self.edges = np.asarray(self.edges, dtype=np.float64)
        self.counts = np.asarray(self.counts, dtype=np.float64)
        for f in ("p_zero", "min", "max", "mean", "var"):
            setattr(self, f, np.asarray(getattr(self, f), dtype=np.float64))
        self.percentiles = {float(k): np.asarray(v, dtype=np.float64) for k, v in self.percentiles.items()}

    @property
    def channels(self) -> int:
        return int(self.counts.shape[0])

    def pdf(self) -> np.ndarray:
        """Probability of each bin per channel, (C, B): non-zero mass only, sums to 1 - p_zero."""
        tot = self.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(tot > 0, self.counts / tot, 0.0)
        return p * (1.0 - self.p_zero[:, None])

    def expect(self, f) -> np.ndarray:
        """E[f(x)] per channel using bin midpoints plus the exact-zero mass."""
        mid = 0.5 * (self.edges[:-1] + self.edges[1:])
        return self.pdf() @ f(mid) + self.p_zero * f(np.zeros(1))[0]

    def check(self, where: str, artifact: str = "probe") -> None:
        b = self.edges.shape[0] - 1
        if self.edges.ndim != 1 or b < 1 or np.any(np.diff(self.edges) < 0):
            raise QFormatError(artifact, where, "edges must be a non-decreasing 1-D array of at least 2 values")
        if self.counts.ndim != 2 or self.counts.shape[1] != b:
            raise QFormatError(artifact, where, f"counts shape {self.counts.shape} does not fit {b} bins")
        c = self.counts.shape[0]
        for f in ("p_zero", "min", "max", "mean", "var"):
            if getattr(self, f).shape != (c,):
                raise QFormatError(artifact, f"{where}/{f}", f"shape {getattr(self, f).shape} != ({c},)")
        if np.any((self.p_zero < 0) | (self.p_zero > 1)):
            raise QFormatError(artifact, f"{where}/p_zero", "probabilities outside [0, 1]")


class ProbeStats:
    """Activation statistics per site (``"<layer>.in"`` / ``"<layer>.out"``) and noise propagation."""

    kind = "probe"

    def __init__(self, classes: Optional[int] = None, provenance: dict | None = None):
        self.classes = classes
        self.provenance: dict[str, Any] = dict(provenance or {})
        self._sites: dict[str, ActivationStats] = {}
        self.noise_prop: dict[str, np.ndarray] = {}

    def add_site(self, layer: str, where: str, stats: ActivationStats) -> None:
        if where not in ("in", "out"):
            raise ValueError("where must be 'in' or 'out'")
        self._sites[f"{layer}.{where}"] = stats

    def site(self, layer: str, where: str = "in") -> ActivationStats:
        key = f"{layer}.{where}"
        if key not in self._sites:
            raise KeyError(f"no probe statistics for {key!r}")
        return self._sites[key]

    def has_site(self, layer: str, where: str = "in") -> bool:
        return f"{layer}.{where}" in self._sites

    def sites(self) -> list[str]:
        return list(self._sites)

    def validate(self, artifact: str = "probe") -> None:
        for key, st in self._sites.items():
            st.check(f"sites/{key}", artifact)
        for layer, m in self.noise_prop.items():
            m = np.asarray(m)
            if m.ndim != 2 or (self.classes is not None and m.shape[1] != self.classes):
                raise QFormatError(artifact, f"noise_prop/{layer}", f"shape {m.shape} is not (channels, {self.classes})")

    def __repr__(self) -> str:
        return f"ProbeStats({len(self._sites)} sites, {len(self.noise_prop)} noise_prop, classes={self.classes})"
