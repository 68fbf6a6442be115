"""Table plots (search, accelsim, ibexgen, cimnoise): rendered from small tables and inspected."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from conftest import bar_heights, data_axes

import qformat as qf
import qviz
import qviz.samples as samples
from qviz import sweep as sw
from qviz.errors import CannotPlot, MissingColumns
from qviz.pareto import pareto_mask

# ---- search -------------------------------------------------------------------------------------


def test_pareto_marks_front_and_chosen():
    t = samples.trials_table(n=30)
    fig = qviz.draw("pareto", t)
    axes = data_axes(fig)
    assert [ax.get_xlabel() for ax in axes] == ["latency (ms)", "peak RAM (bytes)", "flash (bytes)",
                                                 "bit operations (BOPs)"]
    d = t.to_numpy()
    ax = axes[0]
    grey, front, star = ax.collections[:3]
    mask = pareto_mask(d["latency"], d["accuracy"])
    np.testing.assert_allclose(np.sort(front.get_offsets()[:, 0]), np.sort(d["latency"][mask]))
    assert len(grey.get_offsets()) == (~mask).sum()
    np.testing.assert_allclose(star.get_offsets(), [[d["latency"][d["chosen"]][0], d["accuracy"][d["chosen"]][0]]])
    lo, hi = ax.get_xlim()
    assert lo <= d["latency"].min() and hi >= d["latency"].max()
    assert ax.get_ylabel() == "accuracy" and ax.get_title() == "accuracy vs latency"
    assert ax.yaxis.get_major_formatter().__class__.__name__ == "PercentFormatter"


def test_pareto_one_cost_and_budget():
    t = samples.trials_table(n=20)
    t = qf.Table(t.to_arrow(), table_kind="qsearch.pareto", provenance={"budgets": {"flash": 40000}})
    fig = qviz.draw("pareto", t, x="flash")
    ax = data_axes(fig)[0]
    assert len(data_axes(fig)) == 1 and ax.get_xlabel() == "flash (bytes)"
    assert [ln.get_xdata()[0] for ln in ax.lines if ln.get_linestyle() == "--"] == [40000]


def test_pareto_missing_columns_are_named():
    t = qf.Table({"accuracy": [0.9, 0.8]}, table_kind="qsearch.trials")
    with pytest.raises(MissingColumns, match=r"missing column\(s\) latency needed by the 'pareto' plot"):
        qviz.draw("pareto", t)
    t = qf.Table({"latency": [1.0, 2.0]}, table_kind="qsearch.trials")
    with pytest.raises(MissingColumns, match=r"missing column\(s\) accuracy"):
        qviz.draw("pareto", t)


@pytest.mark.parametrize("wide", [False, True])
def test_dnas_lines_and_temperature(wide):
    t = samples.dnas_history(epochs=6, layers=("a", "b"), options=("int8", "int4"), wide=wide)
    fig = qviz.draw("dnas", t)
    tax, a, b = data_axes(fig)[:3]
    T = 0.01 + (5 - 0.01) * (1 - np.arange(6) / 6) ** 3
    np.testing.assert_allclose(tax.lines[0].get_ydata(), T)
    assert tax.get_yscale() == "log" and tax.get_xlabel() == "epoch"
    assert a.get_title() == "a" and [ln.get_label() for ln in a.lines] == ["int8", "int4"]
    ys = np.stack([ln.get_ydata() for ln in a.lines])
    np.testing.assert_allclose(ys.sum(axis=0), 1.0)
    assert a.get_ylabel() == "probability" and a.get_ylim() == (-0.02, 1.02)


def test_dnas_many_layers_becomes_heatmaps():
    layers = [f"l{i}" for i in range(20)]
    t = samples.dnas_history(epochs=5, layers=layers, options=("fp32", "int8", "int4"))
    fig = qviz.draw("dnas", t)
    axes = data_axes(fig)
    assert [ax.get_title() for ax in axes[1:]] == ["P(fp32)", "P(int8)", "P(int4)"]
    img = sum(np.asarray(ax.images[0].get_array()) for ax in axes[1:])
    assert img.shape == (20, 5)
    np.testing.assert_allclose(img, 1.0)


def test_dnas_without_probabilities_says_what_is_missing():
    t = qf.Table({"epoch": [0, 1], "temperature": [5.0, 1.0]}, table_kind="qsearch.dnas_history")
    with pytest.raises(CannotPlot, match="missing column.*layer, option, probability"):
        qviz.draw("dnas", t)


def test_dse_scatter():
    t = samples.trials_table(n=25)
    fig = qviz.draw("dse", t)
    ax = data_axes(fig)[0]
    d = t.to_numpy()
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.c_[d["latency"], d["peak_ram"]])
    np.testing.assert_allclose(ax.collections[0].get_array(), d["accuracy"])
    assert ax.get_xlabel() == "latency (ms)" and ax.get_ylabel() == "peak RAM (bytes)"
    fig = qviz.draw("dse", t, x="flash", y="bitops")
    assert data_axes(fig)[0].get_xlabel() == "flash (bytes)"


# ---- accelsim -----------------------------------------------------------------------------------


def test_sweep_heatmap_layer_totals(sweep):
    fig = qviz.draw("sweep-heatmap", sweep, order="sequential")
    axes = data_axes(fig)
    rows = sw.SweepRows.from_table(sweep, "t")
    assert len(axes) == 2
    for ax, L in zip(axes, ["network.0", "network.2"]):
        cube = sw.build_cube(rows, L, "sequential", "v0624")
        np.testing.assert_array_equal(np.ma.filled(ax.images[0].get_array(), np.nan), cube.total())
        assert ax.get_xlabel() == "containers C" and ax.get_ylabel() == "segments S"
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(c) for c in range(3, 9)]
        assert [t.get_text() for t in ax.get_yticklabels()] == [str(s) for s in range(4, 9)]
        r, c = sw.argmin_cell(cube.total())
        np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[c, r]])
        assert f"min {cube.total()[r, c]:.0f} cycles at S={r + 4}, C={c + 3}" in ax.get_title()
        assert np.isnan(cube.total()[:, 0]).all()          # C=3 < 4 distinct values: infeasible, drawn grey
        assert ax.get_legend() is not None


def test_sweep_heatmap_one_neuron_annotates_cells(sweep):
    fig = qviz.draw("sweep-heatmap", sweep, layer="network.2", neuron="1", order="interleaved")
    ax = data_axes(fig)[0]
    cube = sw.build_cube(sw.SweepRows.from_table(sweep, "t"), "network.2", "interleaved", "v0624")
    g = cube.neuron(1)
    np.testing.assert_array_equal(np.ma.filled(ax.images[0].get_array(), np.nan), g)
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.0f}" for v in g[np.isfinite(g)])
    assert ax.get_title().startswith("network.2, interleaved: neuron 1")
    with pytest.raises(CannotPlot, match="no neuron 99"):
        qviz.draw("sweep-heatmap", sweep, layer="network.2", neuron="99")
    with pytest.raises(CannotPlot, match="no rows with order 'zigzag'"):
        qviz.draw("sweep-heatmap", sweep, order="zigzag")


def test_sweep_surface(sweep):
    fig = qviz.draw("sweep-surface", sweep, layer="network.0")
    axes = data_axes(fig)
    assert len(axes) == 2 and all(ax.name == "3d" for ax in axes)
    ax = axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()) == ("containers C", "segments S", "cycles")
    tot = sw.build_cube(sw.SweepRows.from_table(sweep, "t"), "network.0", "sequential", "v0624").total()
    assert ax.get_zlim()[1] == np.nanmax(tot) and ax.get_zlim()[0] < np.nanmin(tot)
    assert f"min {np.nanmin(tot):.0f}" in ax.get_title()


def test_sweep_neurons_tiles_are_relative_to_each_neuron(sweep):
    fig = qviz.draw("sweep-neurons", sweep, order="sequential")
    axes = data_axes(fig)
    assert [ax.get_title() for ax in axes] == ["network.0, sequential: 8 neurons", "network.2, sequential: 4 neurons"]
    cube = sw.build_cube(sw.SweepRows.from_table(sweep, "t"), "network.2", "sequential", "v0624")
    pic = np.ma.filled(axes[1].images[0].get_array(), np.nan)
    from qviz.plots.accelsim import neuron_tiles

    tiles, best = neuron_tiles(cube)
    n, h, w = tiles.shape
    cols = (pic.shape[1] + 1) // (w + 1)
    for k in range(n):
        r0, c0 = (k // cols) * (h + 1), (k % cols) * (w + 1)
        tile = pic[r0:r0 + h, c0:c0 + w]
        want = cube.cycles[k][::-1] / np.nanmin(cube.cycles[k])
        np.testing.assert_allclose(tile, np.where(np.isfinite(want), want, 0.0))
        assert tile[best[k][0], best[k][1]] == 1.0
    assert len(axes[1].collections[0].get_offsets()) == n


def test_each_neuron_files(tmp_path, sweep):
    from qviz.plots.accelsim import write_each_neuron

    paths = write_each_neuron(sweep, tmp_path, layer="network.2", order="sequential", neurons=[0, 2])
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["network.2/sequential/neuron_0.png",
                                                                   "network.2/sequential/neuron_2.png"]
    import matplotlib.image as mpimg

    a, b = (mpimg.imread(p) for p in paths)
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_cycle_range_from_range_table_and_from_sweep(sweep):
    rt = samples.range_table(sweep)
    f1 = qviz.draw("cycle-range", rt, layer="network.0", order="sequential")
    f2 = qviz.draw("cycle-range", sweep, layer="network.0", order="sequential")
    a1, a2 = data_axes(f1)[0], data_axes(f2)[0]
    r = sw.ranges(sw.build_cube(sw.SweepRows.from_table(sweep, "t"), "network.0", "sequential", "v0624"))
    ok = np.isfinite(r["mean"].ravel())
    for ax in (a1, a2):
        segs = ax.collections[0].get_segments()
        np.testing.assert_allclose([s[0][1] for s in segs], r["min"].ravel()[ok])
        np.testing.assert_allclose([s[1][1] for s in segs], r["max"].ravel()[ok])
        np.testing.assert_allclose(ax.collections[1].get_offsets()[:, 1], r["mean"].ravel()[ok])
        assert [t.get_text() for t in ax.get_xticklabels()] == [f"S={s}" for s in range(4, 9)]
        assert ax.get_ylabel() == "cycles per neuron"
    with pytest.raises(MissingColumns, match="mean, max"):
        qviz.draw("cycle-range", qf.Table({"S": [4], "C": [4], "min": [1]}, table_kind="accelsim.range"))


def test_util_stacked_shares(kmeans):
    t = samples.util_table(samples.model_weights(kmeans), S_values=(4, 8), C_values=(4, 8))
    fig = qviz.draw("util", t, layer="network.0")
    ax = data_axes(fig)[0]
    h = bar_heights(ax).reshape(3, 4)
    np.testing.assert_allclose(h.sum(axis=0), 1.0)
    d = {k: np.asarray(v) for k, v in t.to_arrow().to_pydict().items()}
    sel = d["layer"] == "network.0"
    tot = d["idle"][sel] + d["immediate"][sel] + d["delayed"][sel]
    np.testing.assert_allclose(h[2], d["delayed"][sel] / tot)
    assert ax.get_ylabel() == "share of lane slots" and ax.get_title() == "network.0"
    u = qf.Table({"S": [4, 4, 8], "C": [4, 8, 8], "utilization": [0.5, 0.7, 0.9]}, table_kind="accelsim.util")
    g = np.ma.filled(data_axes(qviz.draw("util", u))[0].images[0].get_array(), np.nan)
    np.testing.assert_allclose(g, [[0.5, 0.7], [np.nan, 0.9]])


def test_trace_raster():
    w = np.array([.25, .25, .25, .25, -.125, 0, .25, -.125, 0, .5])
    t = samples.trace_table(w, 4, 5)
    fig = qviz.draw("trace", t)
    en_ax, cont_ax = data_axes(fig)
    img = np.asarray(en_ax.images[0].get_array())
    d = t.to_arrow().to_pydict()
    np.testing.assert_array_equal(img, np.array([d[f"en_acc_{s}"] for s in range(4)]))
    assert img.shape == (4, 5) and en_ax.get_ylabel() == "lane (segment)" and cont_ax.get_xlabel() == "cycle"
    assert [ln.get_xdata()[0] for ln in en_ax.lines] == [0.5, 3.5]          # groups 1 and 2 load here
    assert "5 cycles" in fig.get_suptitle()
    bad = qf.Table({"cycle": [0], "group": [0]}, table_kind="accelsim.trace")
    with pytest.raises(MissingColumns, match="en_acc_<lane>"):
        qviz.draw("trace", bad)


def test_run_cycles(kmeans):
    w = samples.model_weights(kmeans)
    t = samples.run_table(w, S=4, C=6)
    fig = qviz.draw("run-cycles", t)
    ax = data_axes(fig)[0]
    want = [samples.cycles_v0624(r, 4, 6) for r in w["network.0"]]
    np.testing.assert_allclose(bar_heights(ax), want)
    assert ax.get_title() == f"network.0: total {sum(want):,.0f} cycles" and ax.get_ylabel() == "cycles"
    assert "S=4, C=6" in fig.get_suptitle()


# ---- ibexgen / cimnoise -------------------------------------------------------------------------


def test_ibex_cycles():
    t = samples.ibex_bench()
    fig = qviz.draw("ibex-cycles", t)
    ax, bx = data_axes(fig)
    d = t.to_arrow().to_pydict()
    base = [c for c, g in zip(d["cycles"], d["target"]) if g == "baseline"]
    fast = [c for c, g in zip(d["cycles"], d["target"]) if g == "xmpq"]
    np.testing.assert_array_equal(bar_heights(ax), base + fast)
    assert [t.get_text() for t in ax.texts] == [f"{b / f:.1f}x" for b, f in zip(base, fast)]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "cycles (log scale)"
    assert f"{sum(b for b in base):,.0f} vs {sum(fast):,.0f} cycles" in ax.get_title()
    assert bx.get_ylabel() == "bytes" and [t.get_text() for t in bx.get_xticklabels()] == ["baseline", "xmpq"]
    with pytest.raises(MissingColumns, match="target"):
        qviz.draw("ibex-cycles", qf.Table({"layer": ["a"], "cycles": [1]}, table_kind="ibexgen.bench"))


def test_snr_layer_overlays_estimate_and_simulation():
    est, sim, _, _ = samples.cim_tables()
    fig = qviz.draw("snr-layer", qf.Bundle([est, sim]))
    ax = data_axes(fig)[0]
    assert [ln.get_label() for ln in ax.lines] == ["estimate", "simulate"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), est.to_numpy()["snr_db"])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), sim.to_numpy()["snr_db"])
    assert ax.get_ylabel() == "SNR (dB)" and [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "conv2", "conv3", "fc"]


def test_snr_sweep_one_panel_per_parameter():
    _, _, sweep_t, _ = samples.cim_tables()
    fig = qviz.draw("snr-sweep", sweep_t)
    axes = data_axes(fig)
    assert [ax.get_xlabel() for ax in axes] == ["w_bits", "alpha", "slices"]
    d = {k: np.asarray(v) for k, v in sweep_t.to_arrow().to_pydict().items()}
    ln = axes[0].lines[0]
    assert ln.get_label() == "conv1"
    sel = d["layer"] == "conv1"
    want = [d["snr_db"][sel & (d["w_bits"] == b)].mean() for b in (6, 8, 10, 12)]
    np.testing.assert_allclose(ln.get_xdata(), [6, 8, 10, 12])
    np.testing.assert_allclose(ln.get_ydata(), want)
    assert axes[0].get_ylabel() == "SNR (dB)"
    flat = qf.Table({"w_bits": [8, 8], "snr_db": [1.0, 2.0]}, table_kind="cimnoise.sweep")
    with pytest.raises(CannotPlot, match="no swept parameter"):
        qviz.draw("snr-sweep", flat)


def test_snr_validate_band():
    t = qf.Table({"layer": ["a", "b", "c"], "estimate_db": [10.0, 20.0, 30.0], "mc_db": [10.5, 22.0, 29.2]},
                 table_kind="cimnoise.validate")
    fig = qviz.draw("snr-validate", t)
    ax = data_axes(fig)[0]
    band, inside, outside = ax.collections[:3]
    np.testing.assert_allclose(inside.get_offsets(), [[10, 10.5], [30, 29.2]])
    np.testing.assert_allclose(outside.get_offsets(), [[20, 22]])
    assert ax.get_title() == "2 of 3 layers within 1 dB"
    assert ax.get_xlabel() == "estimated SNR (dB)" and ax.get_ylabel() == "Monte Carlo SNR (dB)"
    lo, hi = ax.get_xlim()
    assert lo < 10 and hi > 30 and ax.get_ylim() == ax.get_xlim()
    with pytest.raises(MissingColumns, match="mc_db"):
        qviz.draw("snr-validate", qf.Table({"estimate_db": [1.0]}, table_kind="cimnoise.validate"))


def test_units_from_field_metadata_and_suffix():
    tab = pa.table({"accuracy": [0.5, 0.6], "latency_us": [3.0, 2.0]})
    tab = tab.append_column(pa.field("flash", pa.int64(), metadata={"unit": "KiB"}), pa.array([10, 20]))
    fig = qviz.draw("pareto", qf.Table(tab, table_kind="qsearch.trials"))
    assert [ax.get_xlabel() for ax in data_axes(fig)] == ["latency (µs)", "flash (KiB)"]


def test_draw_says_what_the_input_lacks(kmeans):
    with pytest.raises(CannotPlot, match="'pareto' plot needs a qsearch.trials.*the input holds model"):
        qviz.draw("pareto", kmeans)
    with pytest.raises(ValueError, match="unknown plot 'nope'"):
        qviz.draw("nope", kmeans)


def test_dnas_from_qsearch_nested_probs():
    """qsearch writes one row per epoch with probs[layer][option]; names in the provenance."""
    probs = [[[0.5, 0.5], [0.2, 0.8]], [[0.9, 0.1], [0.1, 0.9]]]
    tab = pa.table({"epoch": pa.array([0, 1], pa.int32()), "temperature": [5.0, 2.0],
                    "probs": pa.array(probs, pa.list_(pa.list_(pa.float64())))})
    t = qf.Table(tab, table_kind="qsearch.dnas_history", provenance={"layers": ["fc1", "fc2"], "options": ["int8", "int4"]})
    fig = qviz.draw("dnas", t)
    tax, a, b = data_axes(fig)
    assert (a.get_title(), b.get_title()) == ("fc1", "fc2")
    assert [ln.get_label() for ln in b.lines] == ["int8", "int4"]
    np.testing.assert_allclose(b.lines[1].get_ydata(), [0.8, 0.9])
    np.testing.assert_allclose(tax.lines[0].get_ydata(), [5.0, 2.0])


def test_accelsim_util_rows_by_level_with_utilization_line():
    """accelsim writes container, neuron and layer rows (level) with en_idle/en_immediate/en_delayed."""
    rows = {"level": ["container", "neuron", "layer", "layer"], "layer": ["a"] * 4, "S": [8, 8, 8, 16],
            "C": [8, 8, 8, 8], "order": ["sequential"] * 4, "en_idle": [0, 5, 10, 20], "en_immediate": [0, 5, 30, 20],
            "en_delayed": [0, 0, 10, 0], "utilization": [0.9, 0.5, 0.4, 0.6]}
    fig = qviz.draw("util", qf.Table(rows, table_kind="accelsim.util"))
    ax = data_axes(fig)[0]
    np.testing.assert_allclose(bar_heights(ax), [0.2, 0.5, 0.6, 0.5, 0.2, 0.0])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.4, 0.6])


def test_range_table_network_rows_and_semantics():
    rows = {"layer": ["a", "a", "*", "a"], "S": [4, 8, 4, 4], "C": [4, 4, 4, 4],
            "order": ["sequential"] * 4, "semantics": ["v0624", "v0624", "v0624", "v0618"],
            "skipped": [0, 1, 0, 0], "min": [3, 2, None, 5], "mean": [4.0, 3.0, None, 6.0], "max": [5, 4, None, 7]}
    fig = qviz.draw("cycle-range", qf.Table(rows, table_kind="accelsim.range"))
    axes = data_axes(fig)
    assert [ax.get_title() for ax in axes] == ["a, sequential"]              # no empty panel for the '*' rows
    np.testing.assert_allclose(axes[0].collections[1].get_offsets()[:, 1], [4.0, 3.0])   # v0624 only
    assert len(axes[0].collections[2].get_offsets()) == 1                    # S=8 has a skipped neuron
    fig = qviz.draw("cycle-range", qf.Table(rows, table_kind="accelsim.range"), semantics="v0618")
    np.testing.assert_allclose(data_axes(fig)[0].collections[1].get_offsets()[:, 1], [6.0])
