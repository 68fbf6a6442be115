"""Precision options: what a layer may be set to during a search.

An *option* is a named pair (weight precision, input-activation precision),
e.g. ``int4`` = 4-bit weights reading 8-bit activations (``act="int8"``, the
default: what CMSIS-NN, Ibex and the accelerators consume) or 4-bit weights on
4-bit activations (``act="tied"``). ``fp32``/``fp16`` options keep both in
float. The option name is what precision maps and trial tables show.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qformat import LayerPrecision, Precision
from qformat.errors import QFormatError

DEFAULT_OPTIONS = ("fp32", "fp16", "int8", "int4", "int2")
INT_OPTIONS = ("int8", "int4", "int2")
ACT_MODES = ("int8", "tied")

# Logit initialisation per option (the reference's prior towards int8; renormalised by softmax).
ALPHA_INIT = {"fp32": 0.1, "fp16": 0.3, "int8": 1.0, "int4": 0.5, "int2": 0.2}


def bits_of(p: Precision) -> int:
    """Storage bits of one element at precision ``p`` (fp32 -> 32, fp16 -> 16, intN -> N)."""
    return int(p.bits)


@dataclass(frozen=True)
class Option:
    """One choice for a layer: ``name`` (``int4``), weight and input-activation precision."""

    name: str
    weight: Precision
    act: Precision

    @property
    def is_float(self) -> bool:
        return self.weight.is_float

    @property
    def wbits(self) -> int:
        return bits_of(self.weight)

    @property
    def abits(self) -> int:
        return bits_of(self.act)

    @property
    def out_bits(self) -> int:
        """Bits of this layer's output when nothing downstream reads it (the logits): the float width,
        or int8 (wider when the layer reads wider integers), as qtrain's quantization plan does."""
        return self.abits if self.is_float else max(8, self.abits)

    def layer_precision(self) -> LayerPrecision:
        return LayerPrecision(self.weight, self.act)


class OptionSpace:
    """The ordered option list shared by every searchable layer (per-layer subsets via ``allowed``)."""

    def __init__(self, names: Sequence[str] = DEFAULT_OPTIONS, act: str = "int8"):
        if act not in ACT_MODES:
            raise QFormatError("options", "--act", f"must be one of {', '.join(ACT_MODES)}, got {act!r}")
        names = [n.strip().lower() for n in names if n.strip()]
        if not names:
            raise QFormatError("options", "--options", "no precision options given")
        if len(set(names)) != len(names):
            raise QFormatError("options", "--options", f"duplicate options in {names}")
        opts = []
        for n in names:
            try:
                p = Precision.parse(n)
            except ValueError as e:
                raise QFormatError("options", "--options", str(e)) from None
            if p.is_float:
                a = p
            elif act == "tied":
                a = p
            else:
                a = Precision.parse("int8")
            opts.append(Option(str(p), p, a))
        self.act = act
        self.options: list[Option] = opts

    @classmethod
    def from_options(cls, options: Sequence[Option]) -> OptionSpace:
        """A space of explicit options (any weight/activation pairs; names must be unique)."""
        sp = cls.__new__(cls)
        sp.act = "explicit"
        sp.options = list(options)
        if len({o.name for o in sp.options}) != len(sp.options):
            raise QFormatError("options", "", "duplicate option names")
        return sp

    @classmethod
    def parse(cls, text: str | Iterable[str] | None, int_only: bool = False, act: str = "int8") -> OptionSpace:
        """From ``"fp32,fp16,int8,int4,int2"`` (default) or a list; ``int_only`` drops float options."""
        if text is None:
            names = list(DEFAULT_OPTIONS)
        elif isinstance(text, str):
            names = [t for t in text.split(",")]
        else:
            names = list(text)
        if int_only:
            names = [n for n in names if not Precision.parse(n.strip()).is_float]
            if not names:
                raise QFormatError("options", "--int-only", "leaves no option (give integer options)")
        return cls(names, act=act)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.options]

    def __len__(self) -> int:
        return len(self.options)

    def __iter__(self):
        return iter(self.options)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise QFormatError("options", name, f"not one of the options {self.names}") from None

    def __getitem__(self, name: str) -> Option:
        return self.options[self.index(name)]

    def cheapest(self, names: Iterable[str] | None = None) -> Option:
        """The option with the fewest (weight, activation) bits among ``names`` (all by default)."""
        cand = [self[n] for n in names] if names is not None else self.options
        return min(cand, key=lambda o: (o.abits, o.wbits))

    def widest(self, names: Iterable[str] | None = None) -> Option:
        cand = [self[n] for n in names] if names is not None else self.options
        return max(cand, key=lambda o: (o.wbits, o.abits))

    def alpha_init(self) -> list[float]:
        """Initial DNAS logits: the reference prior (int8 highest), unknown options 0.2."""
        return [ALPHA_INIT.get(o.name, 0.2) for o in self.options]

    def to_json(self) -> dict:
        return {"options": self.names, "act": self.act}


def option_for(lp: LayerPrecision, act_default: str = "int8") -> Option:
    """The option of a layer precision; named by its weight precision, plus ``/a<act>`` when the
    activation is not what ``act_default`` implies."""
    w, a = lp.weight, lp.activation
    implied = w if (w.is_float or act_default == "tied") else Precision.parse("int8")
    name = str(w) if a == implied else f"{w}/{a}"
    return Option(name, w, a)


def assignment_string(assign: dict[str, str], layers: Sequence[str]) -> str:
    """``"int8,int4,..."`` in layer order (the ``precisions`` column of trial tables)."""
    return ",".join(assign[n] for n in layers)
