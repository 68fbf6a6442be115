"""Model, precision-map and probe plots: each rendered from a small artifact, then inspected."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bar_heights, bar_x, data_axes

import qformat as qf
import qviz
import qviz.samples as samples
from qviz.errors import CannotPlot


def test_weight_hist_bars_are_the_value_counts(kmeans):
    fig = qviz.draw("weight-hist", kmeans)
    axes = data_axes(fig)
    assert len(axes) == 2 and fig.get_suptitle() == "Weight distribution per layer"
    for ax, lay in zip(axes, kmeans.compute_layers()):
        w = kmeans.get(lay.name, "weight").ravel()
        vals, counts = np.unique(w[w != 0], return_counts=True)
        np.testing.assert_allclose(bar_x(ax), vals, atol=1e-6)
        np.testing.assert_array_equal(bar_heights(ax), counts)
        assert ax.get_xlabel() == "weight value" and ax.get_ylabel() == "count (non-zero weights)"
        pruned = (w == 0).mean()
        assert ax.get_title() == f"{lay.name}: {w.size:,} weights\n{pruned:.1%} zero/pruned (not drawn)"


def test_weight_hist_uses_a_histogram_for_many_values():
    m = samples.conv_model()
    fig = qviz.draw("weight-hist", m, layer="fc")
    ax = data_axes(fig)[0]
    assert len(ax.patches) == 60 and bar_heights(ax).sum() == 2560


def test_neuron_heatmap_single_neuron_is_the_28x28_picture():
    from test_modelstats import EXAMPLE

    from qformat.importers import import_kmeans_json

    m = import_kmeans_json(EXAMPLE)
    fig = qviz.draw("neuron-heatmap", m, layer="network.0", neuron="5")
    ax, bx = data_axes(fig)
    img = ax.images[0].get_array()
    assert img.shape == (28, 28)
    np.testing.assert_allclose(np.asarray(img).ravel(), m.get("network.0", "weight")[5])
    assert ax.images[0].norm.vmin == -ax.images[0].norm.vmax          # centred at zero
    vals, counts = np.unique(m.get("network.0", "weight")[5], return_counts=True)
    np.testing.assert_allclose(bar_heights(bx), counts / counts.sum() * 100)
    assert [t.get_text() for t in bx.get_xticklabels()] == [f"{v:g}" for v in vals]
    assert "28x28" in ax.get_title() and bx.get_ylabel() == "share of the neuron's weights (%)"
    assert any(c.get_label() == "<colorbar>" and c.get_ylabel() == "weight value" for c in fig.axes)


def test_neuron_heatmap_mosaic(kmeans):
    fig = qviz.draw("neuron-heatmap", kmeans, neuron="0-5")
    ax = data_axes(fig)[0]
    pic = np.ma.filled(ax.images[0].get_array(), np.nan)
    w = kmeans.get("network.0", "weight")
    tiles = np.stack([w[i].reshape(4, 4) for i in range(6)])
    cols = round(np.sqrt(6 * 1.6))
    from qviz.modelstats import mosaic

    np.testing.assert_array_equal(pic, mosaic(tiles, cols))
    assert [t.get_text() for t in ax.texts] == [str(i) for i in range(6)]
    assert ax.get_title() == "network.0: 6 of 8 neurons"


def test_neuron_heatmap_conv_kernels():
    m = samples.conv_model()
    fig = qviz.draw("neuron-heatmap", m, layer="conv1", neuron="2")
    assert data_axes(fig)[0].images[0].get_array().shape == (3, 3)


def test_centroid_usage(kmeans, quantized):
    from qviz.modelstats import centroid_usage

    fig = qviz.draw("centroid-usage", kmeans)
    for ax, lay in zip(data_axes(fig), kmeans.compute_layers()):
        u = centroid_usage(kmeans, lay.name)
        np.testing.assert_array_equal(bar_heights(ax), u.counts)
        assert ax.get_xlabel() == "centroid value" and ax.get_ylabel() == "weights using it"
    assert fig.get_suptitle() == "k-means centroid usage per layer"
    fig = qviz.draw("centroid-usage", quantized)
    assert data_axes(fig)[0].get_xlabel() == "integer code" and fig.get_suptitle() == "Code usage per layer"
    with pytest.raises(CannotPlot, match="needs a model with weight_codebook"):
        qviz.draw("centroid-usage", samples.conv_model())


def test_pruning_mask(kmeans):
    fig = qviz.draw("pruning-mask", kmeans)
    axes = data_axes(fig)
    assert len(axes) == 3            # two masks + inputs kept of the layer reading the input
    mask = kmeans.get("network.0", "weight_mask")
    np.testing.assert_array_equal(np.asarray(axes[0].images[0].get_array()), mask)
    assert axes[0].get_title() == f"network.0: {1 - mask.mean():.1%} pruned"
    assert axes[0].get_xlabel() == "input index" and axes[0].get_ylabel() == "neuron (output)"
    np.testing.assert_allclose(np.asarray(axes[2].images[0].get_array()), mask.mean(axis=0).reshape(4, 4))


def test_bits_from_precision_map_and_model(quantized):
    pm = qf.PrecisionMap({"fc1": {"weight": "int2", "activation": "uint8"}, "_default": "int8"})
    fig = qviz.draw("bits", qf.Bundle([quantized, pm]))
    ax = data_axes(fig)[0]
    assert bar_heights(ax).tolist() == [2, 8, 8, 8]                 # weights fc1, fc2; activations fc1, fc2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc1", "fc2"]
    assert ax.get_ylabel() == "bit width (bits)" and ax.get_yscale() == "log"
    assert "precision map" in ax.get_title()
    assert {t.get_text() for t in ax.texts} >= {"int2", "uint8", "int8"}
    fig = qviz.draw("bits", quantized)
    assert bar_heights(data_axes(fig)[0]).tolist() == [4, 8, 8, 8]


def test_weight_bytes(quantized):
    fig = qviz.draw("weight-bytes", quantized)
    ax = data_axes(fig)[0]
    from qviz.modelstats import layer_bytes

    rows, _ = layer_bytes(quantized)
    h = bar_heights(ax).reshape(3, -1)
    np.testing.assert_array_equal(h[0], [r.payload for r in rows])
    np.testing.assert_array_equal(h[1], [r.overhead for r in rows])
    np.testing.assert_array_equal(h[2], [r.bias for r in rows])
    np.testing.assert_array_equal(ax.collections[0].get_offsets()[:, 1], [r.fp32 for r in rows])
    assert ax.get_ylabel() == "bytes" and "smaller" in ax.get_title()


def test_probe_plots(quantized):
    ps = samples.probe(quantized)
    fig = qviz.draw("act-hist", ps)
    axes = data_axes(fig)
    assert len(axes) == len(ps.sites()) == 4
    st = ps.site("fc1", "out")
    ax = axes[1]
    assert ax.get_title().startswith("fc1.out")
    np.testing.assert_allclose(ax.patches[0].get_data()[0], st.counts.sum(axis=0))
    assert ax.patches[1].get_height() == pytest.approx(float((st.p_zero * st.n).sum()))
    assert ax.get_xlabel() == "activation value" and ax.get_yscale() == "log"

    fig = qviz.draw("zero-fraction", ps)
    ax = data_axes(fig)[0]
    np.testing.assert_allclose(bar_heights(ax), [ps.site(*s.rsplit(".", 1)).p_zero.mean() for s in ps.sites()])
    assert ax.get_ylim() == (0, 1.05) and ax.get_ylabel() == "fraction of exact zeros"

    fig = qviz.draw("act-range", ps, layer="fc2")
    ax = data_axes(fig)[0]
    segs = ax.collections[0].get_segments()
    assert len(segs) == 2
    s = ps.site("fc2", "in")
    assert segs[0][0][1] == pytest.approx(s.min.min()) and segs[0][1][1] == pytest.approx(s.max.max())
    with pytest.raises(CannotPlot, match="no statistics for layer 'nope'"):
        qviz.draw("act-range", ps, layer="nope")
