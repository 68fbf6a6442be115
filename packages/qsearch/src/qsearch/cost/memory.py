"""Peak RAM over the whole network, and the memory filter.

While layer *i* runs, RAM holds every buffer alive at step *i*: its inputs,
its output, any tensor kept for a later residual ``add`` (or concat), plus the
layer's scratch (im2col). Each buffer is stored at the precision its producer
emits, which is the widest precision any reader needs
(:meth:`~qsearch.netinfo.NetInfo.need_sources`). Peak RAM is the maximum over
steps; the step that sets it is reported with its breakdown.

Scratch: a regular (non-pointwise, non-depthwise) convolution expands
``im2col_cols`` output columns of ``(C_in/groups)*kh*kw`` input values each; an
integer kernel expands to 16-bit (``int_scratch_bits``, CMSIS-NN's q15 buffer),
a float kernel to its own width. ``im2col_cols=0`` disables scratch,
``"full"`` models a whole-image im2col.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional, Union

from ..netinfo import LayerInfo, NetInfo, packed_bytes
from ..options import Option, OptionSpace


@dataclass(frozen=True)
class MemoryConfig:
    """How scratch buffers are modelled (see the module docstring)."""

    im2col_cols: Union[int, str] = 2
    int_scratch_bits: int = 16


@dataclass
class MemoryReport:
    peak: int
    peak_layer: str
    per_step: list[int]
    breakdown: list[tuple[str, int]] = field(default_factory=list)   # (tensor or "scratch:<layer>", bytes) at the peak
    buffer_bits: dict[str, int] = field(default_factory=dict)         # producer layer -> bits it is stored at


def scratch_bytes(li: LayerInfo, opt: Optional[Option], cfg: MemoryConfig) -> int:
    """Scratch bytes of one layer running at option ``opt`` (im2col of regular convolutions)."""
    if li.kind != "conv" or opt is None:
        return 0
    col = (li.in_shapes[0][0] // li.groups) * li.kernel[0] * li.kernel[1]
    if cfg.im2col_cols == "full":
        cols = li.out_shape[1] * li.out_shape[2]
    else:
        cols = int(cfg.im2col_cols)
    bits = opt.abits if opt.is_float else int(cfg.int_scratch_bits)
    return packed_bytes(cols * col, bits)


def buffer_bits(net: NetInfo, assign: Mapping[str, Option]) -> dict[int, int]:
    """Bits each buffer is stored at under ``assign`` (layer -> option)."""
    out = {}
    for bid, srcs in net.need_sources().items():
        bits = 0
        for what, layer in srcs:
            o = assign[layer]
            bits = max(bits, o.abits if what == "act" else o.out_bits)
        out[bid] = bits or 32
    return out


def peak_ram(net: NetInfo, assign: Mapping[str, Option], cfg: MemoryConfig = MemoryConfig()) -> MemoryReport:
    """Peak RAM (bytes) of ``net`` with each compute layer at ``assign[layer]``.

    The slow, obvious reference: every step sums every live buffer.
    """
    bits = buffer_bits(net, assign)
    per_step, best, best_i = [], -1, 0
    for li in net.layers:
        live = net.live_at(li.index)
        total = sum(packed_bytes(b.elems, bits[b.id]) for b in live)
        total += scratch_bytes(li, assign.get(li.name), cfg)
        per_step.append(total)
        if total > best:
            best, best_i = total, li.index
    li = net.layers[best_i]
    breakdown = [(net.buffers[b.id].producer, packed_bytes(b.elems, bits[b.id])) for b in net.live_at(best_i)]
    sc = scratch_bytes(li, assign.get(li.name), cfg)
    if sc:
        breakdown.append((f"scratch:{li.name}", sc))
    return MemoryReport(best, li.name, per_step, breakdown,
                        {net.buffers[b].producer: v for b, v in bits.items()})


def memory_filter(net: NetInfo, space: OptionSpace, threshold: int, cfg: MemoryConfig = MemoryConfig(),
                  allowed: Optional[Mapping[str, list[str]]] = None) -> tuple[dict[str, list[str]], list[str]]:
    """Remove options a layer cannot fit under ``threshold`` bytes of RAM, before any search.

    An option ``p`` of layer ``l`` is removed when, with ``l`` at ``p`` and
    every other layer at its cheapest allowed option, some step whose RAM
    depends on ``l``'s choice (or ``l``'s own step) exceeds ``threshold``.
    Every step counts all co-live tensors, so this never removes an option a
    feasible assignment uses. Returns the allowed options per layer and
    warnings (a layer left with no option keeps its cheapest one).
    """
    allowed = {n: list(allowed[n]) if allowed and n in allowed else space.names for n in net.compute_names}
    base = {n: space.cheapest(allowed[n]) for n in net.compute_names}
    base_steps = peak_ram(net, base, cfg).per_step
    warnings = []
    if max(base_steps) > threshold:
        i = max(range(len(base_steps)), key=base_steps.__getitem__)
        warnings.append(f"no assignment fits {threshold} B: even the cheapest options need {base_steps[i]} B "
                        f"at layer {net.layers[i].name!r}")
    out: dict[str, list[str]] = {}
    for name in net.compute_names:
        keep = []
        own = net[name].index
        for opt_name in allowed[name]:
            trial = dict(base)
            trial[name] = space[opt_name]
            steps = peak_ram(net, trial, cfg).per_step
            affected = [s for i, s in enumerate(steps) if s != base_steps[i] or i == own]
            if max(affected, default=0) <= threshold:
                keep.append(opt_name)
        if not keep:
            cheapest = base[name].name
            warnings.append(f"layer {name!r}: no option fits {threshold} B; keeping {cheapest}")
            keep = [cheapest]
        out[name] = keep
    return out, warnings
