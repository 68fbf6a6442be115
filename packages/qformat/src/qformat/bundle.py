"""A bundle: several artifacts travelling together (a pipe, a stream file).

Tools read the bundle, take what they consume, add what they produce and pass
the rest through, so ``a | b | c`` keeps everything ``a`` produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Optional


class Bundle:
    """An ordered list of artifacts with lookups by kind."""

    kind = "bundle"

    def __init__(self, items: Iterable[Any] = ()):
        self.items: list[Any] = list(items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]

    def of_kind(self, kind: str) -> list[Any]:
        return [a for a in self.items if getattr(a, "kind", None) == kind]

    def first(self, kind: str) -> Any:
        """The first artifact of ``kind``; raises KeyError when there is none."""
        for a in self.items:
            if getattr(a, "kind", None) == kind:
                return a
        raise KeyError(f"the input holds no {kind}")

    def find(self, kind: str) -> Optional[Any]:
        for a in self.items:
            if getattr(a, "kind", None) == kind:
                return a
        return None

    def model(self):
        """The last model in the bundle (the most processed one), or KeyError."""
        models = self.of_kind("model")
        if not models:
            raise KeyError("the input holds no model")
        return models[-1]

    def tables(self, table_kind: str | None = None) -> list[Any]:
        return [t for t in self.of_kind("table") if table_kind is None or t.table_kind == table_kind]

    def add(self, artifact: Any) -> Bundle:
        self.items.append(artifact)
        return self

    def replace(self, old: Any, new: Any) -> Bundle:
        """Put ``new`` where ``old`` was (e.g. a quantized model replacing the float one)."""
        for i, a in enumerate(self.items):
            if a is old:
                self.items[i] = new
                return self
        self.items.append(new)
        return self

    def remove_kind(self, kind: str, table_kind: str | None = None) -> Bundle:
        self.items = [a for a in self.items if not (getattr(a, "kind", None) == kind and
                                                    (table_kind is None or getattr(a, "table_kind", None) == table_kind))]
        return self

    def __repr__(self) -> str:
        return "Bundle([" + ", ".join(repr(a) for a in self.items) + "])"
