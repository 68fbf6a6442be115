"""Model statistics: weights from every tensor form, usage, mosaics, layouts, bits and bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
import qviz.samples as samples
from qviz import modelstats as ms
from qviz.errors import CannotPlot

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mnist_mlp_kmeans_pruned.json"


@given(st.integers(1, 9), st.integers(1, 5), st.integers(1, 6), st.integers(1, 7), st.integers(0, 2))
def test_mosaic_matches_reference(n, h, w, cols, gap):
    tiles = np.arange(n * h * w, dtype=float).reshape(n, h, w)
    np.testing.assert_array_equal(ms.mosaic(tiles, cols, gap), ms.mosaic_reference(tiles, cols, gap))
    r0, c0 = ms.tile_origin(n - 1, min(cols, n), h, w, gap)
    assert ms.mosaic(tiles, cols, gap)[r0, c0] == tiles[n - 1, 0, 0]


@pytest.mark.parametrize("make", [samples.kmeans_model, samples.quantized_model])
def test_usage_matches_reference(make):
    m = make()
    for lay in m.compute_layers():
        a, b = ms.centroid_usage(m, lay.name), ms.centroid_usage_reference(m, lay.name)
        assert a.by == b.by and a.pruned == b.pruned
        np.testing.assert_array_equal(a.keys, b.keys)
        np.testing.assert_array_equal(a.counts, b.counts)


def test_usage_counts_kept_weights_by_centroid_value(kmeans):
    lay = "network.0"
    u = ms.centroid_usage(kmeans, lay)
    w = kmeans.get(lay, "weight")
    assert u.by == "value" and u.counts.sum() == int((w != 0).sum())
    assert u.pruned == int((~kmeans.get(lay, "weight_mask")).sum())
    vals, counts = np.unique(w[w != 0], return_counts=True)
    np.testing.assert_allclose(u.keys, vals)
    np.testing.assert_array_equal(u.counts, counts)


def test_usage_by_slot_when_many_distinct_values():
    m = samples.kmeans_model(sizes=(40, 30), k=4)
    book = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)   # 120 distinct values
    m.set("network.0", "weight_codebook", book)
    u = ms.centroid_usage(m, "network.0")
    assert u.by == "slot" and list(u.keys) == [0, 1, 2, 3]
    assert u.counts.sum() == int(m.get("network.0", "weight_mask").sum())


def test_float_weights_from_codes_and_codebook(quantized, kmeans):
    for lay in quantized.compute_layers():
        m = quantized.copy()
        m.delete(lay.name, "weight")
        np.testing.assert_allclose(ms.float_weights(m, lay.name), quantized.get(lay.name, "weight"), rtol=1e-6)
    for lay in kmeans.compute_layers():
        m = kmeans.copy()
        m.delete(lay.name, "weight")
        np.testing.assert_allclose(ms.float_weights(m, lay.name), kmeans.get(lay.name, "weight"))


def test_layouts():
    from qformat.importers import import_kmeans_json

    m = import_kmeans_json(EXAMPLE)
    assert ms.neuron_layout(m, "network.0") == ("image", (1, 28, 28))
    assert ms.neuron_layout(m, "network.2")[1] == (1, 4, 8)
    assert ms.neuron_layout(m, "network.4")[1] == (1, 8, 8)
    c = samples.conv_model()
    assert ms.neuron_layout(c, "conv1") == ("kernels", (1, 3, 3))
    assert ms.neuron_layout(c, "fc")[1] == (1, 16, 16)
    assert ms.neuron_layout(c, "fc", (8, 32)) == ("grid", (1, 8, 32))
    with pytest.raises(CannotPlot, match="fewer"):
        ms.neuron_layout(c, "fc", (2, 2))
    pic = ms.neuron_picture(np.arange(10.0), ("grid", (1, 3, 4)))
    assert pic.shape == (3, 4) and np.isnan(pic[2, 2:]).all() and pic[2, 1] == 9


@given(st.integers(1, 5000))
def test_near_square_covers(n):
    r, c = ms.near_square(n)
    assert r * c >= n and r <= c and r * (c - 1) < n + c


def test_parse_neurons():
    assert ms.parse_neurons("all", 3) == [0, 1, 2]
    assert ms.parse_neurons("0,2-4, 7", 8) == [0, 2, 3, 4, 7]
    with pytest.raises(CannotPlot, match="out of range"):
        ms.parse_neurons("9", 8)
    with pytest.raises(CannotPlot, match="cannot read"):
        ms.parse_neurons("x", 8)


def test_bits_and_bytes(quantized, kmeans):
    rows, src = ms.layer_bits(quantized)
    assert src == "model quantization" and [r.weight_bits for r in rows] == [4, 8] and rows[0].act_bits == 8
    pm = qf.PrecisionMap({"fc1": "int2", "_default": {"weight": "fp16", "activation": "int8"}})
    rows, src = ms.layer_bits(quantized, pm)
    assert src == "precision map" and [(r.weight_bits, r.weight_label) for r in rows] == [(2, "int2"), (16, "fp16")]
    rows, _ = ms.layer_bits(None, pm)
    assert [r.layer for r in rows] == ["fc1", "_default"]
    b, _ = ms.layer_bytes(quantized)
    assert b[0].payload == (16 * 12 * 4 + 7) // 8 and b[0].bias == 48 and b[0].fp32 == 16 * 12 * 4 + 48
    assert b[0].overhead == 12 * 4 + 12 * 4            # float32 scales + int32 zero points
    b, _ = ms.layer_bytes(kmeans)
    assert b[0].overhead == kmeans.get("network.0", "weight_codebook").nbytes and b[0].bits == 3
