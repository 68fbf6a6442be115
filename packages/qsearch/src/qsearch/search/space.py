"""Choice spaces for exhaustive search: per-layer options and the grouping rules that keep deep nets tractable.

A :class:`ChoiceSpace` is a list of *groups*; each group ties one or more
compute layers to one common option, chosen from the group's option list.
The candidates are the Cartesian product of the groups' choices (no
duplicates by construction).

Grouping rules (``--grouping``):

* ``none``: every layer its own group.
* ``ibex``: the reference DSE's rules, made explicit and duplicate-free.
  With ``L`` compute layers and MACs normalised by the largest layer:
  ``L < 6`` every layer free; ``6 <= L < 10`` layers under 5 % of the MACs
  fixed at the widest integer option, the rest free; ``L >= 10`` layers
  bucketed by normalised MACs: ``[0, .1)`` fixed at the widest integer
  option, ``[.1, .3)`` restricted to the two widest integer options, ``[.3, 1]``
  free; inside a bucket, runs of up to 3 consecutive layers share one option.
* ``runs:K``: runs of ``K`` consecutive layers share one option.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from qformat.errors import QFormatError

from ..netinfo import NetInfo
from ..options import OptionSpace


@dataclass
class Group:
    layers: list[str]
    options: list[str]


class ChoiceSpace:
    """Groups of layers sharing one option each; enumerates candidate assignments."""

    def __init__(self, layers: Sequence[str], groups: Sequence[Group], space: OptionSpace):
        self.layers = list(layers)
        self.groups = list(groups)
        self.space = space
        seen = [n for g in self.groups for n in g.layers]
        if sorted(seen) != sorted(self.layers):
            raise ValueError("groups must cover every layer exactly once")
        self._col = {n: i for i, n in enumerate(self.layers)}

    def __len__(self) -> int:
        return int(np.prod([len(g.options) for g in self.groups], dtype=object))

    def size(self) -> int:
        return len(self)

    def describe(self) -> list[dict]:
        return [{"layers": g.layers, "options": g.options} for g in self.groups]

    def candidates(self) -> Iterator[dict[str, str]]:
        """Every assignment (layer -> option name), in lexicographic group order."""
        for combo in itertools.product(*[g.options for g in self.groups]):
            a = {}
            for g, o in zip(self.groups, combo):
                for n in g.layers:
                    a[n] = o
            yield {n: a[n] for n in self.layers}

    def index_matrix(self) -> np.ndarray:
        """All candidates as option indices, shape (N, layers) (vectorised :meth:`candidates`)."""
        idx_lists = [np.array([self.space.index(o) for o in g.options]) for g in self.groups]
        n = len(self)
        out = np.empty((n, len(self.layers)), dtype=np.int64)
        if n == 0:
            return out
        grids = np.meshgrid(*[np.arange(len(x)) for x in idx_lists], indexing="ij")
        for g, gi, opts in zip(self.groups, grids, idx_lists):
            col = opts[gi.reshape(-1)]
            for name in g.layers:
                out[:, self._col[name]] = col
        return out


def make_choice_space(net: NetInfo, space: OptionSpace, grouping: str = "ibex",
                      allowed: Optional[Mapping[str, list[str]]] = None, max_candidates: int = 2_000_000) -> ChoiceSpace:
    """Build the groups for ``net`` by ``grouping`` (see module doc); ``allowed`` restricts options per layer."""
    layers = net.compute_names
    allowed = {n: [o for o in space.names if allowed is None or n not in allowed or o in allowed[n]] for n in layers}
    int_opts = [o for o in space.names if not space[o].is_float]
    widest_int = sorted(int_opts, key=lambda o: -space[o].wbits)
    groups: list[Group] = []
    if grouping == "none":
        groups = [Group([n], allowed[n]) for n in layers]
    elif grouping.startswith("runs:"):
        try:
            k = int(grouping.split(":", 1)[1])
        except ValueError:
            raise QFormatError("--grouping", grouping, "expected runs:K with an integer K") from None
        if k < 1:
            raise QFormatError("--grouping", grouping, "K must be at least 1")
        for i in range(0, len(layers), k):
            run = layers[i:i + k]
            groups.append(Group(run, _common(run, allowed)))
    elif grouping == "ibex":
        L = len(layers)
        macs = np.array([net[n].macs for n in layers], dtype=np.float64)
        norm = macs / max(macs.max(), 1.0)
        if L < 6:
            groups = [Group([n], allowed[n]) for n in layers]
        elif L < 10:
            for n, v in zip(layers, norm):
                groups.append(Group([n], _fixed(n, allowed, widest_int[:1]) if v < 0.05 else allowed[n]))
        else:
            def bucket(v: float) -> int:
                return 0 if v < 0.1 else 1 if v < 0.3 else 2
            run: list[str] = []
            cur = None
            runs: list[tuple[int, list[str]]] = []
            for n, v in zip(layers, norm):
                b = bucket(v)
                if b != cur or len(run) == 3 or b == 0:
                    if run:
                        runs.append((cur, run))
                    run, cur = [], b
                run.append(n)
            if run:
                runs.append((cur, run))
            for b, members in runs:
                if b == 0:
                    for n in members:
                        groups.append(Group([n], _fixed(n, allowed, widest_int[:1])))
                elif b == 1:
                    opts = [o for o in _common(members, allowed) if o in widest_int[:2]] or _common(members, allowed)
                    groups.append(Group(members, opts))
                else:
                    groups.append(Group(members, _common(members, allowed)))
    else:
        raise QFormatError("--grouping", grouping, "expected none, ibex or runs:K")
    cs = ChoiceSpace(layers, groups, space)
    if len(cs) > max_candidates:
        raise QFormatError("--grouping", grouping,
                           f"{len(cs):,} candidates exceed the limit of {max_candidates:,}; group more layers "
                           f"(e.g. --grouping runs:4) or restrict --options")
    return cs


def _common(run: Sequence[str], allowed: Mapping[str, list[str]]) -> list[str]:
    opts = [o for o in allowed[run[0]] if all(o in allowed[n] for n in run)]
    if not opts:
        raise QFormatError("choice space", ",".join(run), "the layers of one group share no allowed option")
    return opts


def _fixed(name: str, allowed: Mapping[str, list[str]], pref: Sequence[str]) -> list[str]:
    for o in pref:
        if o in allowed[name]:
            return [o]
    return allowed[name][:1]
