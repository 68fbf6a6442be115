"""The catalogue of plots: what each draws, from which artifacts, with which options.

A :class:`PlotSpec` names a plot kind (``sweep-heatmap``), the artifacts it can
draw from (``accepts``), whether ``qviz auto`` / ``qviz report`` pick it for an
artifact of a bundle (``auto``), and the function that draws one figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

PLOTS: dict[str, PlotSpec] = {}

GROUPS = ("model", "probe", "search", "accelsim", "ibexgen", "cimnoise")


@dataclass(frozen=True)
class PlotSpec:
    """One plot kind."""

    name: str
    group: str
    summary: str
    needs: str                                   # human description of the input it needs
    draw: Callable[..., Any]                     # draw(artifact, bundle, **options) -> Figure
    accepts: Callable[[Any], bool]               # can it draw from this artifact?
    auto: Callable[[Any, Any], bool]             # does auto/report pick it for this artifact of this bundle?
    options: tuple[str, ...] = field(default=())


def is_table(*kinds: str) -> Callable[[Any], bool]:
    """An ``accepts`` predicate: a table whose ``table_kind`` is one of ``kinds``."""
    return lambda a: getattr(a, "kind", None) == "table" and getattr(a, "table_kind", None) in kinds


def is_kind(kind: str) -> Callable[[Any], bool]:
    return lambda a: getattr(a, "kind", None) == kind


def register(name: str, group: str, summary: str, needs: str, accepts: Callable[[Any], bool],
             auto: Optional[Callable[[Any, Any], bool]] = None, options: tuple[str, ...] = ()):
    """Decorator adding a drawing function to :data:`PLOTS`."""

    def deco(fn: Callable) -> Callable:
        if name in PLOTS:
            raise ValueError(f"plot {name!r} registered twice")
        PLOTS[name] = PlotSpec(name, group, summary, needs, fn, accepts,
                               auto if auto is not None else (lambda a, b: accepts(a)), tuple(options))
        return fn

    return deco
