"""Model plots: weight histograms, neuron heat-maps, centroid usage, pruning masks, bits and bytes per layer."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.ticker import MaxNLocator

from .. import modelstats as ms
from ..errors import CannotPlot
from ..registry import is_kind, register
from ..style import DIVERGING, GREY, MISSING, PALETTE, color, figure, fmt_bytes, grid, missing_cmap, note, styled


def _layer_names(model: Any, layer: Optional[str]) -> list:
    return ms.resolve_layer(model, layer)


def _bar_width(keys: np.ndarray) -> float:
    if len(keys) < 2:
        return 0.1 if len(keys) == 0 or keys[0] == 0 else abs(float(keys[0])) * 0.2
    return float(np.min(np.diff(np.sort(keys)))) * 0.8


@register("weight-hist", "model", "Histogram of the weights of each layer (pruned zeros left out and counted).",
          "a model", is_kind("model"), options=("layer",))
@styled
def weight_hist(model: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """One panel per compute layer: distribution of the non-zero weights.

    Layers with few distinct values (k-means, low-bit codes) get one bar per value;
    others a 60-bin histogram. The fraction of pruned (zero) weights is noted.
    """
    layers = _layer_names(model, layer)
    fig, axes = grid(len(layers), max_cols=3)
    for i, (ax, lay) in enumerate(zip(axes, layers)):
        w = ms.float_weights(model, lay.name).ravel()
        nz = w[w != 0]
        vals, counts = np.unique(nz, return_counts=True)
        c = color(i)
        if 0 < len(vals) <= 64:
            ax.bar(vals, counts, width=_bar_width(vals), color=c, label="weights per value")
        elif len(nz):
            ax.hist(nz, bins=60, color=c, label="weights")
        pruned = 1 - len(nz) / max(1, w.size)
        ax.set_title(f"{lay.name}: {w.size:,} weights" + (f"\n{pruned:.1%} zero/pruned (not drawn)" if pruned > 0 else ""))
        ax.set_xlabel("weight value")
        ax.set_ylabel("count (non-zero weights)")
    fig.suptitle("Weight distribution per layer")
    return fig


@register("neuron-heatmap", "model",
          "Weights of neurons as pictures (a 784-input neuron as 28x28), diverging colours centred at 0.",
          "a model", is_kind("model"), options=("layer", "neuron", "shape"))
@styled
def neuron_heatmap(model: Any, bundle: Any = None, layer: Optional[str] = None, neuron: Optional[str] = None,
                   shape: Optional[tuple[int, int]] = None, **_: Any):
    """Heat-map of one neuron's fan-in (with bars of its distinct values and their shares),
    or a mosaic of many neurons (``neuron="all"``, ``"0-15"``; default: up to 64 of the first layer)."""
    lay = _layer_names(model, layer)[0]
    W = ms.float_weights(model, lay.name)
    layout = ms.neuron_layout(model, lay.name, shape)
    if neuron is None:
        idx = list(range(min(W.shape[0], 64)))
    else:
        idx = ms.parse_neurons(neuron, W.shape[0])
    lim = float(np.max(np.abs(W[idx]))) or 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    cmap = missing_cmap(DIVERGING, bad="white")
    if len(idx) == 1:
        n = idx[0]
        pic = ms.neuron_picture(W[n], layout)
        fig = figure(9.0, 4.0)
        ax, bx = fig.subplots(1, 2, width_ratios=[1.1, 1])
        im = ax.imshow(pic, cmap=cmap, norm=norm, interpolation="nearest")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{lay.name}, neuron {n}: weights as {pic.shape[0]}x{pic.shape[1]}")
        ax.set_xlabel("input column")
        ax.set_ylabel("input row")
        fig.colorbar(im, ax=ax, label="weight value", shrink=0.85)
        vals, counts = np.unique(W[n], return_counts=True)
        share = counts / counts.sum() * 100
        cols = [GREY if v == 0 else (PALETTE[0] if v < 0 else PALETTE[3]) for v in vals]
        if len(vals) <= 32:
            bars = bx.bar(np.arange(len(vals)), share, color=cols)
            bx.set_xticks(np.arange(len(vals)), [f"{v:g}" for v in vals], rotation=60 if len(vals) > 8 else 0)
            for b, s in zip(bars, share):
                bx.annotate(f"{s:.1f}%", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                            fontsize=7, xytext=(0, 1), textcoords="offset points")
            bx.set_xlabel("distinct weight value")
        else:
            bx.hist(W[n], bins=40, weights=np.full(W.shape[1], 100.0 / W.shape[1]), color=PALETTE[0])
            bx.set_xlabel("weight value")
        bx.set_ylabel("share of the neuron's weights (%)")
        bx.set_title(f"{len(vals)} distinct values ({(W[n] == 0).mean():.0%} zero)")
        fig.suptitle(f"Neuron weights: {lay.name}[{n}]")
        return fig
    tiles = np.stack([ms.neuron_picture(W[i], layout) for i in idx])
    n, h, w = tiles.shape
    cols = max(1, min(n, round(math.sqrt(n * h / w * 1.6))))
    pic = ms.mosaic(tiles, cols)
    rows = -(-n // cols)
    fig = figure(min(16.0, 1.2 + 1.15 * cols * max(1.0, w / h)), min(16.0, 1.0 + 1.15 * rows * max(1.0, h / w)))
    ax = fig.add_subplot()
    im = ax.imshow(pic, cmap=cmap, norm=norm, interpolation="nearest")
    for k, i in enumerate(idx):
        r0, c0 = ms.tile_origin(k, cols, h, w)
        ax.text(c0 + 0.3, r0 + 0.3, str(i), fontsize=6, va="top", ha="left", color="#333333")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"each tile: one neuron's {W.shape[1]} input weights as {h}x{w} (number = neuron index)")
    fig.colorbar(im, ax=ax, label="weight value", shrink=0.8)
    ax.set_title(f"{lay.name}: {n} of {W.shape[0]} neurons")
    fig.suptitle("Neuron weight heat-maps")
    return fig


def _has_codebook(model: Any) -> bool:
    return any(model.has(l.name, "weight_codebook") or model.has(l.name, "weight_codes") for l in model.compute_layers())


@register("centroid-usage", "model", "How many weights use each k-means centroid (or each integer code).",
          "a model with weight_codebook + weight_indices (k-means) or weight_codes",
          lambda a: is_kind("model")(a) and _has_codebook(a), options=("layer",))
@styled
def centroid_usage(model: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """One panel per layer: weights per centroid value (k-means), per codebook slot, or per code."""
    layers = [l for l in _layer_names(model, layer)
              if model.has(l.name, "weight_codebook") or model.has(l.name, "weight_codes")]
    if not layers:
        raise CannotPlot("model", "", "no layer has a k-means codebook (weight_codebook, weight_indices) or weight_codes")
    fig, axes = grid(len(layers), max_cols=3)
    kinds = set()
    for i, (ax, lay) in enumerate(zip(axes, layers)):
        u = ms.centroid_usage(model, lay.name)
        kinds.add(u.by)
        x = u.keys.astype(np.float64)
        width = _bar_width(x) if u.by == "value" else 0.8
        ax.bar(x, u.counts, width=width, color=color(i))
        ax.set_xlabel({"value": "centroid value", "slot": "codebook slot", "code": "integer code"}[u.by])
        ax.set_ylabel("weights using it")
        ax.set_title(f"{lay.name}: {len(u.keys)} {'centroids' if u.by != 'code' else 'codes'} in use"
                     + (f"\n{u.pruned:,} pruned weights not counted" if u.pruned else ""))
    fig.suptitle("Code usage per layer" if kinds == {"code"} else "k-means centroid usage per layer")
    return fig


@register("pruning-mask", "model", "Kept (dark) and pruned (light) weights of each layer, and which inputs survive.",
          "a model (weight_mask, else zero weights count as pruned)", is_kind("model"),
          auto=lambda a, b: any(a.has(l.name, "weight_mask") for l in a.compute_layers()), options=("layer",))
@styled
def pruning_mask(model: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """One mask image per layer (neurons x inputs); for a layer reading the input image also the
    fraction of neurons that keep each input pixel."""
    layers = _layer_names(model, layer)
    extra = []
    for lay in layers:
        kind, (c, h, w) = ms.neuron_layout(model, lay.name)
        if kind == "image":
            extra.append((lay, (c, h, w)))
    fig, axes = grid(len(layers) + len(extra), max_cols=3, panel=(3.8, 3.2))
    cmap = ListedColormap([MISSING, PALETTE[0]])
    for ax, lay in zip(axes, layers):
        kept, source = ms.pruning_mask(model, lay.name)
        ax.imshow(kept, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_title(f"{lay.name}: {1 - kept.mean():.1%} pruned")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("input index")
        ax.set_ylabel("neuron (output)")
        if source != "weight_mask":
            note(ax, "from zero weights (no weight_mask)")
    for ax, (lay, (c, h, w)) in zip(axes[len(layers):], extra):
        kept, _ = ms.pruning_mask(model, lay.name)
        frac = kept.mean(axis=0).reshape(c, h, w)
        pic = frac[0] if c == 1 else ms.mosaic(frac, ms.near_square(c)[1])
        im = ax.imshow(pic, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{lay.name}: inputs kept")
        ax.set_xlabel("input column")
        ax.set_ylabel("input row")
        ax.figure.colorbar(im, ax=ax, label="fraction of neurons keeping the input", shrink=0.85)
    fig.suptitle("Pruning masks (dark = kept)")
    return fig


def _pmap_and_model(art: Any, bundle: Any):
    if getattr(art, "kind", None) == "precision_map":
        models = bundle.of_kind("model") if bundle is not None else []
        return art, (models[-1] if models else None)
    pm = bundle.find("precision_map") if bundle is not None else None
    return pm, art


@register("bits", "model", "Weight and activation bit widths of each layer along the network (the precision map).",
          "a precision map and/or a (quantized) model",
          lambda a: getattr(a, "kind", None) in ("precision_map", "model"),
          auto=lambda a, b: a.kind == "precision_map" or (a.is_quantized() and b.find("precision_map") is None
                                                          and a is b.of_kind("model")[-1]))
@styled
def bits(art: Any, bundle: Any = None, **_: Any):
    """Grouped bars (log2 axis) of weight and activation bits per compute layer, labelled with the precision."""
    pm, model = _pmap_and_model(art, bundle)
    rows, source = ms.layer_bits(model, pm)
    fig = figure(max(5.0, 1.0 + 0.55 * len(rows)), 3.8)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    wb = np.array([r.weight_bits for r in rows], dtype=float)
    ab = np.array([r.act_bits for r in rows], dtype=float)
    b1 = ax.bar(x - 0.2, wb, width=0.4, color=PALETTE[0], label="weights")
    b2 = ax.bar(x + 0.2, ab, width=0.4, color=PALETTE[1], label="activations")
    for bars, labels in ((b1, [r.weight_label for r in rows]), (b2, [r.act_label for r in rows])):
        for b, t in zip(bars, labels):
            ax.annotate(t, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=6,
                        rotation=90 if len(rows) > 8 else 0, xytext=(0, 1), textcoords="offset points")
    ax.set_yscale("log", base=2)
    ax.set_yticks([1, 2, 4, 8, 16, 32], ["1", "2", "4", "8", "16", "32"])
    ax.set_ylim(0.8, 64)
    ax.set_xticks(x, [r.layer for r in rows], rotation=45 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center")
    ax.set_xlabel("layer (network order)")
    ax.set_ylabel("bit width (bits)")
    ax.legend(loc="upper right", ncols=2)
    avg = (wb.mean() if len(wb) else 0)
    ax.set_title(f"from the {source}; mean weight bits {avg:.1f}")
    fig.suptitle("Bit widths per layer")
    return fig


@register("weight-bytes", "model", "Bytes of each layer's weights (packed payload, codebook/scale overhead, bias) vs fp32.",
          "a model", is_kind("model"),
          auto=lambda a, b: a is b.of_kind("model")[-1] or a.is_quantized())
@styled
def weight_bytes(model: Any, bundle: Any = None, **_: Any):
    """Stacked bars per layer with the fp32 size marked; totals and compression in the title."""
    pm = bundle.find("precision_map") if bundle is not None else None
    rows, source = ms.layer_bytes(model, pm)
    fig = figure(max(5.0, 1.0 + 0.6 * len(rows)), 3.8)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    pay = np.array([r.payload for r in rows], dtype=float)
    over = np.array([r.overhead for r in rows], dtype=float)
    bias = np.array([r.bias for r in rows], dtype=float)
    fp = np.array([r.fp32 for r in rows], dtype=float)
    ax.bar(x, pay, color=PALETTE[0], label="weights (packed)")
    ax.bar(x, over, bottom=pay, color=PALETTE[1], label="codebook / scales")
    ax.bar(x, bias, bottom=pay + over, color=PALETTE[2], label="bias")
    ax.scatter(x, fp, marker="_", s=400, color="black", linewidths=2, label="fp32 size", zorder=3)
    tot = pay + over + bias
    if len(rows) and tot.min() > 0 and fp.max() / max(tot.min(), 1) > 200:
        ax.set_yscale("log")
    ax.set_xticks(x, [r.layer for r in rows], rotation=45 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center")
    ax.set_xlabel("layer (network order)")
    ax.set_ylabel("bytes")
    ax.legend(loc="upper right")
    total, ftotal = float(tot.sum()), float(fp.sum())
    ax.set_title(f"total {fmt_bytes(total)} vs fp32 {fmt_bytes(ftotal)} ({ftotal / max(total, 1):.1f}x smaller)\n"
                 f"bits from the {source}", fontsize=9)
    fig.suptitle("Weight bytes per layer")
    return fig
