"""Latency tables, the analytical default and the dual-core split, against hand computations."""

from __future__ import annotations

import csv

import pyarrow as pa
import pytest
from conftest import conv, res_layers

import qformat as qf
from qformat import Layer
from qformat.errors import QFormatError
from qsearch.cost import Analytical, CoreLatency, CostModel, DualCore, LatencyTable, make_latency
from qsearch.cost.latency import Row, work
from qsearch.netinfo import NetInfo
from qsearch.options import OptionSpace

SP = OptionSpace.parse(None)


def small_net():
    return NetInfo([Layer("input", "input", attrs={"shape": [4, 6, 6]}), conv("c", "input", 4, 8),
                    Layer("p", "maxpool2d", ["c"], {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}),
                    Layer("f", "flatten", ["p"]),
                    Layer("fc", "linear", ["f"], {"in_features": 72, "out_features": 10})])


def test_lut_row_arithmetic_by_hand():
    net = small_net()
    t = LatencyTable([Row("x", "conv", "*", "int8", 100, 2.0, 3.0, 10.0),
                      Row("x", "linear", "*", "*", 10, 1.0, 0.0, 10.0),
                      Row("x", "pool", "*", "*", 5, 0.5, 1.0, 10.0)])
    c = net["c"]                                   # 288 weights x 36 outputs = 10,368 MACs, 288 outputs
    assert t.cycles("x", c, SP["int8"]) == 100 + 2.0 * 10_368 + 3.0 * 288
    assert t.cycles("x", net["fc"], SP["int4"]) == 10 + 720          # '*' precision row
    assert work(net["p"]) == 4 * 72 and t.cycles("x", net["p"], None) == 5 + 0.5 * 288 + 72
    assert t.cycles("x", net["f"], None) == 0                       # uncovered non-compute: free
    lat = CoreLatency(t, "x")
    assert lat.ms(c, SP["int8"]) == pytest.approx((100 + 20_736 + 864) / 10e3)
    with pytest.raises(QFormatError, match="no latency row"):
        t.cycles("x", c, SP["int4"])                                # uncovered compute layer: error naming it
    with pytest.raises(QFormatError, match="no such core"):
        CoreLatency(t, "y")


def test_lookup_order_exact_then_shape_then_wildcards():
    net = small_net()
    c = net["c"]
    assert c.shape_class == "k3s1" and c.kind == "conv"
    t = LatencyTable([Row("x", "*", "*", "*", 0, 9.0, 0, 1.0),
                      Row("x", "conv", "*", "int8", 0, 3.0, 0, 1.0),
                      Row("x", "conv", "k3s1", "*", 0, 2.0, 0, 1.0),
                      Row("x", "conv", "k3s1", "int8", 0, 1.0, 0, 1.0),
                      Row("x", "*", "*", "int8", 0, 0, 0, 1.0, layer="c", cycles=42.0)])
    assert t.lookup("x", c, "int8").cycles == 42.0                  # exact layer row
    assert t.lookup("x", c, "int4").cycles_per_mac == 2.0           # shape class, any precision
    assert t.lookup("x", net["fc"], "int8").cycles_per_mac == 9.0   # global wildcard
    t2 = LatencyTable([r for r in t.rows if r.cycles_per_mac != 1.0 and r.layer is None])
    assert t2.lookup("x", c, "int8").cycles_per_mac == 2.0          # shape class beats op-wide precision


def test_analytical_roofline_by_hand():
    net = small_net()
    a = Analytical()
    fc = net["fc"]                                  # 720 MACs, 72 in, 10 out
    # int8: 4 lanes -> 180 compute; memory (720 + 72 + 10) / 4 = 200.5 -> memory bound
    assert a.cycles("analytical", fc, SP["int8"]) == 50 + 200.5 + 10
    # int2 weights on int8 inputs: lanes = 32 // 8 = 4 -> 180; memory (180 + 72 + 10) / 4 = 65.5
    assert a.cycles("analytical", fc, SP["int2"]) == 50 + 180 + 10
    # fp32: 1 lane -> 720; memory (2880 + 288 + 40) / 4 = 802
    assert a.cycles("analytical", fc, SP["fp32"]) == 50 + 802 + 10
    tied = OptionSpace.parse("int2", act="tied")["int2"]
    # int2 x int2: 16 lanes -> 45; memory (180 + 18 + 3) / 4 = 50.25
    assert a.cycles("analytical", fc, tied) == 50 + 50.25 + 10


def test_dual_core_split_by_hand():
    net = NetInfo([Layer("input", "input", attrs={"shape": [10]}),
                   Layer("fc", "linear", ["input"], {"in_features": 10, "out_features": 4})])
    li = net["fc"]                                  # 40 MACs
    t = LatencyTable([Row("a", "*", "*", "*", 0, 10.0, 0, 1.0), Row("b", "*", "*", "*", 0, 10.0, 0, 1.0)])
    # one core: 400 cycles at 1 MHz = 0.4 ms; two equal halves: 0.2 ms + sync
    dc = DualCore(CoreLatency(t, "a"), CoreLatency(t, "b"), sync_us=50)
    ms, k = dc.split(li, SP["int8"])
    assert (ms, k) == (pytest.approx(0.25), 2)
    dc = DualCore(CoreLatency(t, "a"), CoreLatency(t, "b"), sync_us=300)
    ms, k = dc.split(li, SP["int8"])
    assert ms == pytest.approx(0.4) and k in (0, 4)  # sync too dear: one core does it all
    # a core twice as fast takes 2/3 of the channels when the split is continuous; with 4 channels: 3
    t2 = LatencyTable([Row("a", "*", "*", "*", 0, 10.0, 0, 2.0), Row("b", "*", "*", "*", 0, 10.0, 0, 1.0)])
    ms, k = DualCore(CoreLatency(t2, "a"), CoreLatency(t2, "b"), sync_us=0).split(li, SP["int8"])
    assert k == 3 and ms == pytest.approx(max(300 / 2e3, 100 / 1e3))


def test_dual_core_helps_mobilenetv2_on_stm32h7():
    from qtrain import zoo

    net = NetInfo.from_model(zoo.build("mobilenetv2:width=0.5", (3, 32, 32), 10))
    a = {n: "int8" for n in net.compute_names}
    one = CostModel(net, SP, make_latency("m7")).evaluate(a)
    two = CostModel(net, SP, make_latency("m7", core_b="m4", split_step=4)).evaluate(a)
    assert two.latency_ms < one.latency_ms
    assert set(two.split) == set(net.compute_names)
    # the M4 (half the clock, twice the cycles per MAC) never gets more than a third of a big layer
    big = max(net.compute_layers(), key=lambda li: li.macs)
    assert two.split[big.name] >= 2 * big.out_channels // 3 - 4


def test_shipped_ibex_tables_reproduce_published_cycle_counts():
    """Calibrated against the reference's reported counts (ibex.md section 6): MLPs within 3 %, LeNet-5 within 15 %."""
    from qtrain import zoo

    cases = [(zoo.build("mlp:widths=20", (117,), 2), [2, 2], 26_760, 1_748, 0.03),
             (zoo.build("mlp:widths=300/200/100", (76,), 10), [2, 2, 2, 2], 1_155_579, 68_499, 0.03),
             (zoo.build("lenet5", (1, 28, 28), 10), [4, 8, 2, 8, 8], 10.63e6, 0.82e6, 0.15)]
    sp = OptionSpace.parse("int8,int4,int2")
    for arch, bits, base, mp, tol in cases:
        net = NetInfo.from_model(arch)
        for core, want in (("ibex", base), ("ibex-mp", mp)):
            lat = make_latency(core)
            got = sum(lat.cycles(net[n], sp[f"int{b}"]) for n, b in zip(net.compute_names, bits))
            assert abs(got / want - 1) < tol, (core, got, want)


def test_shipped_tables_cover_every_option_and_core():
    from qtrain import zoo

    net = NetInfo.from_model(zoo.build("mobilenetv2:width=0.25", (3, 32, 32), 10))
    for core in ("m7", "m4", "ibex", "ibex-mp"):
        cm = CostModel(net, SP, make_latency(core))
        t = cm.tables()["latency_ms"]
        assert (t > 0).all()
    m7 = make_latency("m7")
    li = net["b3.expand"]
    # honest: on a Cortex-M7 sub-byte weights cost unpacking, fp16 has no arithmetic of its own
    assert m7.ms(li, SP["int4"]) > m7.ms(li, SP["int8"])
    assert m7.ms(li, SP["fp16"]) > m7.ms(li, SP["fp32"])
    mp = make_latency("ibex-mp")
    assert mp.ms(li, SP["int2"]) < mp.ms(li, SP["int4"]) < mp.ms(li, SP["int8"])
    with pytest.raises(QFormatError):
        make_latency("cortex-a53")


def test_backend_tables_load_directly(tmp_path):
    net = NetInfo(res_layers())
    # ibexgen-style: cycles per layer and weight bits
    rows = [{"layer": n, "bits": b, "cycles": 1000 * (i + 1) + b} for i, n in enumerate(net.compute_names)
            for b in (8, 4, 2)]
    t = qf.Table(pa.Table.from_pylist(rows), table_kind="ibexgen.bench")
    p = tmp_path / "ibex.qz"
    qf.save(t, str(p))
    lat = make_latency("ibex-mp", table=str(p))
    assert lat.cycles(net["dw"], SP["int4"]) == 2004
    assert lat.cycles(net["res"], None) > 0            # the add falls back to the shipped rows of the core
    # accelsim-style: cycles per layer and configuration; ambiguous until a configuration is selected
    rows = [{"layer": n, "S": s, "C": c, "cycles": 10 * s + c} for n in net.compute_names for s in (4, 8) for c in (1, 2)]
    p2 = tmp_path / "acc.csv"
    with p2.open("w", newline="") as f:
        w = csv.DictWriter(f, ["layer", "S", "C", "cycles"])
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(QFormatError, match="--select"):
        make_latency("accel", table=str(p2), freq_mhz=100)
    lat = make_latency("accel", table=str(p2), freq_mhz=100, select={"S": "8", "C": "2"})
    assert lat.cycles(net["pw"], SP["int8"]) == 82 and lat.freq_mhz == 100
    with pytest.raises(QFormatError, match="freq_mhz"):
        make_latency("accel", table=str(p2), select={"S": "8", "C": "2"})
    with pytest.raises(QFormatError, match="names no column"):
        make_latency("accel", table=str(p2), freq_mhz=100, select={"Q": "1"})


def test_user_lut_csv_roundtrip(tmp_path):
    t = LatencyTable.shipped("m4")
    p = tmp_path / "m.csv"
    recs = t.to_records()
    with p.open("w", newline="") as f:
        w = csv.DictWriter(f, list(recs[0]))
        w.writeheader()
        w.writerows(recs)
    t2 = LatencyTable.load(str(p))
    net = NetInfo(res_layers())
    for n in net.compute_names:
        assert t2.cycles("m4", net[n], SP["int4"]) == t.cycles("m4", net[n], SP["int4"])
    bad = tmp_path / "bad.csv"
    bad.write_text("core,op,cycles_per_mac,freq_mhz\nm7,conv,abc,480\n")
    with pytest.raises(QFormatError, match="row 0"):
        LatencyTable.load(str(bad))
