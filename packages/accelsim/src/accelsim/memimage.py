"""Memory images the RTL loads, per neuron and configuration.

* ``weight``: C words, the weight code held by each container (container order);
* ``container_idx``: G*S words, lane by lane (address ``g*S + s``), the container a
  lane accumulates into;
* ``en_acc``: G*S words, the lane's en (0 = idle).

Word widths are derived from the configuration, not from the original's global
maxima (its index width ``ceil(log2 SEG_MAX)`` and en width ``ceil(log2(CONT_MAX+1))``
were swapped, and binary formatting never truncated, giving ragged lines):
index width ``max(1, ceil(log2 C))``; en width ``bit_length(S)`` (the largest en
is ``S``: all lanes one value with one container). Idle lanes get container 0
(the original wrote the zero value's id); their en of 0 marks them idle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core import container_shares, lane_en, lane_ids

FORMATS = ("hex", "bin", "mif")
#: the original's .mif weight words: 8 bits, 5 fractional bits
DEFAULT_WEIGHT_BITS = 8
DEFAULT_WEIGHT_FRAC = 5


@dataclass
class Memory:
    """One memory image: unsigned words (two's complement already applied) and their width."""

    name: str
    words: np.ndarray
    width: int
    signed: bool = False
    comment: str = ""

    @property
    def depth(self) -> int:
        return len(self.words)


def _twos(vals: np.ndarray, width: int, signed: bool, what: str) -> np.ndarray:
    v = np.asarray(vals, dtype=np.int64)
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if v.size and (v.min() < lo or v.max() > hi):
        bad = int(v[(v < lo) | (v > hi)][0])
        raise ValueError(f"{what}: value {bad} does not fit a {width}-bit {'signed' if signed else 'unsigned'} word")
    return v & ((1 << width) - 1)


def index_width(C: int) -> int:
    """Bits of a container index: ``max(1, ceil(log2 C))``."""
    return max(1, int(C - 1).bit_length())


def en_width(S: int) -> int:
    """Bits of an en word: the largest en is S."""
    return int(S).bit_length()


def neuron_memories(sl, neuron: int, S: int, C: int, order: str = "sequential", semantics: str = "v0624",
                    weight_bits: int | None = None, weight_frac: int | None = None) -> list[Memory]:
    """The three memory images of one neuron of a :class:`~accelsim.network.SimLayer`.

    Weight words: integer-code layers use their codes at ``code_bits`` (or
    ``weight_bits``); float/k-means layers use ``round_half_even(v * 2**weight_frac)``
    in ``weight_bits`` (defaults 8 and 5, as the original's ``.mif``).
    Raises ``ValueError`` when the configuration is infeasible or a word overflows.
    """
    ld = sl.data
    o = int(neuron)
    where = f"layer {sl.name!r} neuron {o}"
    if not 0 <= o < ld.O:
        raise ValueError(f"{where}: out of range (0..{ld.O - 1})")
    if ld.U[o] > C:
        raise ValueError(f"{where}: S={S} C={C} infeasible ({int(ld.U[o])} distinct values > {C} containers)")
    umax = ld.counts.shape[1]
    q = container_shares(ld.counts[o:o + 1, :umax], ld.U[o:o + 1], C)[0]
    en, cont = lane_en(lane_ids(ld.ids[o:o + 1], S, order)[0], q, "improved" if semantics == "improved" else "v0624")
    vals = ld.values[o, :umax]
    integer = sl.source.startswith("weight_codes") or sl.source == "integer codes"
    if integer:
        wb = int(weight_bits or sl.code_bits)
        wcode = vals.astype(np.int64)
        wdesc = f"{wb}-bit integer codes"
    else:
        wb = int(weight_bits or DEFAULT_WEIGHT_BITS)
        wf = DEFAULT_WEIGHT_FRAC if weight_frac is None else int(weight_frac)
        wcode = np.rint(vals * float(2 ** wf)).astype(np.int64)
        wdesc = f"{wb}-bit, {wf} fractional bits"
    cw = np.zeros(C, dtype=np.int64)
    start = np.cumsum(q) - q
    for w in range(int(ld.U[o])):
        cw[start[w]:start[w] + q[w]] = wcode[w]
    iw, ew = index_width(C), en_width(S)
    tag = f"{sl.name} neuron {o} S={S} C={C} {order} {semantics}"
    return [
        Memory("weight", _twos(cw, wb, True, f"{where} weight"), wb, True, f"weight per container ({wdesc}); {tag}"),
        Memory("container_idx", _twos(np.where(cont >= 0, cont, 0).reshape(-1), iw, False, f"{where} container index"),
               iw, False, f"container index per lane (address g*S+s); {tag}"),
        Memory("en_acc", _twos(en.reshape(-1), ew, False, f"{where} en_acc"), ew, False,
               f"en_acc per lane (0 idle, 1 immediate, >1 delayed); {tag}"),
    ]


def render(mem: Memory, fmt: str) -> str:
    """Text of a memory image: ``hex`` ($readmemh), ``bin`` ($readmemb) or ``mif`` (Quartus)."""
    if fmt == "hex":
        digits = max(1, -(-mem.width // 4))
        body = "".join(format(int(w), f"0{digits}x") + "\n" for w in mem.words)
        return f"// {mem.comment}\n// width {mem.width}, depth {mem.depth}\n" + body
    if fmt == "bin":
        body = "".join(format(int(w), f"0{mem.width}b") + "\n" for w in mem.words)
        return f"// {mem.comment}\n// width {mem.width}, depth {mem.depth}\n" + body
    if fmt == "mif":
        lines = [f"-- {mem.comment}", f"WIDTH={mem.width};", f"DEPTH={max(mem.depth, 1)};",
                 "ADDRESS_RADIX=UNS;", "DATA_RADIX=BIN;", "CONTENT BEGIN"]
        lines += [f"    {a} : {int(w):0{mem.width}b};" for a, w in enumerate(mem.words)]
        if mem.depth == 0:
            lines.append(f"    0 : {0:0{mem.width}b};")
        lines.append("END;")
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown memory format {fmt!r} (use {', '.join(FORMATS)})")


def parse(text: str, fmt: str) -> list[int]:
    """Words back from :func:`render` output (for tests and round trips)."""
    if fmt in ("hex", "bin"):
        base = 16 if fmt == "hex" else 2
        return [int(line, base) for line in text.splitlines() if line and not line.startswith("//")]
    if fmt == "mif":
        out = []
        body = text.split("CONTENT BEGIN", 1)[1].split("END;", 1)[0]
        for line in body.splitlines():
            if ":" in line:
                out.append(int(line.split(":")[1].strip().rstrip(";"), 2))
        return out
    raise ValueError(f"unknown memory format {fmt!r}")


EXT = {"hex": "hex", "bin": "bin", "mif": "mif"}


def write_memories(mems: list[Memory], directory, fmt: str = "hex") -> list[Path]:
    """Write each memory as ``<directory>/<name>.<ext>``; returns the paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for m in mems:
        p = d / f"{m.name}.{EXT[fmt]}"
        p.write_text(render(m, fmt))
        paths.append(p)
    return paths
