"""Sizes and peak RAM against hand computations (the specification of the cost library)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import conv, res_layers
from hypothesis import given
from hypothesis import strategies as st

from qformat import Layer
from qsearch.cost import CostModel, MemoryConfig, make_latency, memory_filter, peak_ram, size
from qsearch.netinfo import NetInfo, packed_bytes
from qsearch.options import Option, OptionSpace


def opts(space, **kw):
    return {k: space[v] for k, v in kw.items()}


# ----------------------------------------------------------------------------- sizes
def test_packed_bytes_rounds_up_sub_byte_packing():
    assert packed_bytes(7, 4) == 4          # 28 bits -> 4 bytes
    assert packed_bytes(8, 4) == 4
    assert packed_bytes(9, 2) == 3          # 18 bits -> 3 bytes
    assert packed_bytes(3, 32) == 12
    assert packed_bytes(0, 8) == 0


def test_layer_sizes_by_hand():
    net = NetInfo([Layer("input", "input", attrs={"shape": [4, 6, 6]}), conv("c", "input", 4, 8)])
    li = net["c"]
    sp = OptionSpace.parse(None)
    assert li.weights == 8 * 4 * 3 * 3 == 288
    assert li.macs == 288 * 36
    assert size.weight_bytes(li, sp["fp32"]) == 1152
    assert size.weight_bytes(li, sp["fp16"]) == 576
    assert size.weight_bytes(li, sp["int8"]) == 288
    assert size.weight_bytes(li, sp["int4"]) == 144
    assert size.weight_bytes(li, sp["int2"]) == 72
    # bias: deployed (BN folded) int32 per channel for integer layers, fp16 2 B, fp32 4 B
    assert size.bias_bytes(li, sp["int4"]) == 32
    assert size.bias_bytes(li, sp["fp16"]) == 16
    assert size.requant_bytes(li, sp["int4"]) == 64 and size.requant_bytes(li, sp["fp32"]) == 0
    assert size.layer_flash(li, sp["int4"]) == 144 + 32 + 64
    assert size.layer_flash(li, sp["fp32"]) == 1152 + 32
    assert size.bitops(li, sp["int4"]) == li.macs * 4 * 8
    assert size.bitops(li, sp["fp32"]) == li.macs * 32 * 32
    tied = OptionSpace.parse("int4", act="tied")
    assert size.bitops(li, tied["int4"]) == li.macs * 16
    assert size.compression(1152, 144) == 8.0


def test_mobilenetv2_oracles_53_layers_macs_params():
    from qtrain import zoo

    net = NetInfo.from_model(zoo.build("mobilenetv2", (3, 32, 32), 10))
    assert len(net.compute_names) == 53
    assert net.total_macs() == 24_461_312
    assert net.total_params() == 2_202_570
    cm = CostModel(net, OptionSpace.parse(None), make_latency("m7"))
    c = cm.evaluate({n: "int8" for n in net.compute_names})
    assert c.macs == 24_461_312 and c.params == 2_202_570
    assert c.weight_bytes == 2_202_560 and c.compression == 4.0
    c4 = cm.evaluate({n: "int4" for n in net.compute_names})
    assert c4.weight_bytes == 1_101_280 and c4.compression == 8.0


def test_mobilenetv2_peak_ram_layer_by_hand():
    """Stem stride 1 at 32 px, so block 2's expand writes 96x32x32; its depthwise (stride 2) writes 96x16x16.
    While b2.dw runs both are alive: 98,304 + 24,576 B at int8. No earlier or later step holds more
    (b2.expand: 16x32x32 in + 98,304 out = 114,688; stem: 3,072 + 32,768 + 108 im2col; blocks >= 3 are at
    16x16 or smaller, residual inputs included)."""
    from qtrain import zoo

    net = NetInfo.from_model(zoo.build("mobilenetv2", (3, 32, 32), 10))
    sp = OptionSpace.parse(None)
    rep = peak_ram(net, {n: sp["int8"] for n in net.compute_names})
    assert rep.peak_layer == "b2.dw"
    assert rep.peak == 98_304 + 24_576 == 122_880
    assert sorted(rep.breakdown) == [("b2.dw", 24_576), ("b2.expand", 98_304)]
    steps = dict(zip([li.name for li in net.layers], rep.per_step))
    assert steps["b2.expand"] == 16 * 32 * 32 + 98_304
    assert steps["stem"] == 3 * 32 * 32 + 32 * 32 * 32 + 2 * 27 * 2
    fp = peak_ram(net, {n: sp["fp32"] for n in net.compute_names})
    assert fp.peak == 4 * 122_880 and fp.peak_layer == "b2.dw"


# ----------------------------------------------------------------------------- peak RAM, small residual net
def test_liveness_of_the_residual_net():
    net = NetInfo(res_layers())
    b = {net.buffers[net.buffer_of[n]].producer: net.buffers[net.buffer_of[n]] for n in net.by_name}
    assert (b["conv1"].alloc, b["conv1"].last_use) == (1, 4)      # kept alive for the add
    assert net.buffer_of["flat"] == net.buffer_of["gap"]            # flatten is a view
    assert b["gap"].last_use == 7                                   # read by fc through the flatten
    assert b["fc"].last_use == 7                                    # the output stays to the end


def test_peak_ram_residual_int8_by_hand():
    net = NetInfo(res_layers())
    sp = OptionSpace.parse(None)
    rep = peak_ram(net, opts(sp, conv1="int8", dw="int8", pw="int8", fc="int8"))
    # steps: input 64 | input 64 + conv1 256 + im2col 2 cols x 9 x 16 bit = 36 | conv1 + dw | conv1 + dw + pw |
    #        conv1 + pw + res | res + gap 4 | gap | gap + logits 10
    assert rep.per_step == [64, 64 + 256 + 36, 512, 768, 768, 260, 4, 14]
    assert rep.peak == 768 and rep.peak_layer == "pw"
    assert sorted(rep.breakdown) == [("conv1", 256), ("dw", 256), ("pw", 256)]


def test_peak_ram_uses_the_precision_the_producer_emits():
    """pw reads fp32, so dw emits fp32 (1,024 B); conv1 feeds an int8 depthwise and (through the add) int8 fc."""
    net = NetInfo(res_layers())
    sp = OptionSpace.parse(None)
    rep = peak_ram(net, opts(sp, conv1="int8", dw="int8", pw="fp32", fc="int8"))
    assert rep.per_step == [64, 356, 256 + 1024, 256 + 1024 + 256, 768, 260, 4, 14]
    assert rep.peak == 1536 and rep.peak_layer == "pw"
    assert rep.buffer_bits["dw"] == 32 and rep.buffer_bits["conv1"] == 8


def test_shared_tensor_takes_the_widest_reader():
    """Tied activations: dw reads 2-bit, fc (via add, pool) 8-bit -> conv1's buffer is 8-bit; the input
    read by a 4-bit conv1 is 4-bit (32 B)."""
    net = NetInfo(res_layers())
    sp = OptionSpace.parse("int8,int4,int2", act="tied")
    rep = peak_ram(net, opts(sp, conv1="int4", dw="int2", pw="int8", fc="int8"))
    assert rep.buffer_bits["input"] == 4 and rep.buffer_bits["conv1"] == 8
    assert rep.buffer_bits["dw"] == 8                 # pw reads 8-bit
    assert rep.per_step[0] == 32
    # conv1 runs at int4: im2col still expands to 16 bit
    assert rep.per_step[1] == 32 + 256 + 36


def test_scratch_models():
    net = NetInfo([Layer("input", "input", attrs={"shape": [3, 10, 10]}), conv("c", "input", 3, 4, s=2)])
    sp = OptionSpace.parse(None)
    from qsearch.cost import scratch_bytes

    li = net["c"]
    assert scratch_bytes(li, sp["int8"], MemoryConfig()) == 2 * 27 * 2
    assert scratch_bytes(li, sp["fp32"], MemoryConfig()) == 2 * 27 * 4
    assert scratch_bytes(li, sp["int8"], MemoryConfig(im2col_cols="full")) == 25 * 27 * 2
    assert scratch_bytes(li, sp["int8"], MemoryConfig(im2col_cols=0)) == 0
    dw = NetInfo([Layer("input", "input", attrs={"shape": [4, 6, 6]}), conv("d", "input", 4, 4, g=4)])
    assert scratch_bytes(dw["d"], sp["int8"], MemoryConfig()) == 0


def test_memory_filter_removes_only_what_cannot_fit():
    net = NetInfo(res_layers())
    sp = OptionSpace.parse(None)
    # With everything else at int8 (act 8), pw at fp32 needs 1,536 B (above); fp16 needs 256 + 512 + 256 = 1,024.
    allowed, warns = memory_filter(net, sp, 1100)
    assert "fp32" not in allowed["pw"] and "fp16" in allowed["pw"] and "int2" in allowed["pw"]
    assert not warns
    # conv1 at fp32 reads a 256 B fp32 input and the pw step (768 B) is unaffected -> fits 1,100
    assert "fp32" in allowed["conv1"]
    # A threshold nothing fits: every layer keeps its cheapest option and it is reported.
    allowed, warns = memory_filter(net, sp, 100)
    assert allowed["conv1"] == allowed["dw"] == allowed["pw"] == ["int2"]   # cheapest: 8-bit input, fewest weight bits
    # fc's own step (4 + 10 B) fits; its integer options change nothing elsewhere, its float ones widen
    # every tensor it reads (gap, res, ...) at steps already over the threshold.
    assert allowed["fc"] == ["int8", "int4", "int2"]
    assert any("even the cheapest" in w for w in warns)


def test_original_filter_would_admit_what_co_live_tensors_exclude():
    """The reference kept p iff max(in, out) <= threshold; with the residual kept alive, 3 tensors coexist."""
    net = NetInfo(res_layers())
    sp = OptionSpace.parse(None)
    allowed, _ = memory_filter(net, sp, 700)
    # in+out of pw at int8 = 512 <= 700, but conv1 is alive too: 768 > 700 -> nothing fits at pw's step
    assert allowed["pw"] == ["int2"]


# ----------------------------------------------------------------------------- fast path = reference
@given(st.lists(st.integers(0, 4), min_size=4, max_size=4), st.sampled_from(["int8", "tied"]),
       st.sampled_from([2, 0, "full"]))
def test_batch_costs_equal_the_reference(idx, act, cols):
    net = NetInfo(res_layers())
    sp = OptionSpace.parse(None, act=act)
    cm = CostModel(net, sp, make_latency("m7"), MemoryConfig(im2col_cols=cols))
    a = cm.assignment(idx)
    ref = cm.evaluate(a)
    fast = cm.batch(np.array([idx]))
    for k in ("latency_ms", "peak_ram", "flash", "weight_bytes", "bitops", "compression"):
        assert fast[k][0] == pytest.approx(getattr(ref, k), rel=1e-12), k
    assert net.layers[int(fast["peak_step"][0])].name == ref.peak_layer


def test_flash_counts_requant_of_integer_adds_only():
    net = NetInfo(res_layers())
    sp = OptionSpace.parse(None)
    cm = CostModel(net, sp)
    ints = cm.evaluate({n: "int8" for n in net.compute_names})
    per_layer = sum(size.layer_flash(net[n], sp["int8"]) for n in net.compute_names)
    assert ints.flash == per_layer + 16
    floats = cm.evaluate({n: "fp32" for n in net.compute_names})
    assert floats.flash == sum(size.layer_flash(net[n], sp["fp32"]) for n in net.compute_names)


def test_option_space_parsing():
    sp = OptionSpace.parse(None)
    assert sp.names == ["fp32", "fp16", "int8", "int4", "int2"]
    assert OptionSpace.parse(None, int_only=True).names == ["int8", "int4", "int2"]
    assert sp["int4"].abits == 8 and OptionSpace.parse("int4", act="tied")["int4"].abits == 4
    assert sp["fp16"].abits == 16 and sp["int2"].out_bits == 8
    from qformat.errors import QFormatError

    with pytest.raises(QFormatError):
        OptionSpace.parse("int8,int8")
    with pytest.raises(QFormatError):
        OptionSpace.parse("int9x")
    with pytest.raises(QFormatError):
        OptionSpace.parse("fp32,fp16", int_only=True)
    assert isinstance(sp.cheapest(), Option) and sp.cheapest().name == "int2"


def test_parse_budgets():
    from qformat.errors import QFormatError
    from qsearch.cost import parse_bytes, parse_latency

    assert parse_bytes("512KiB") == 524_288
    assert parse_bytes("1MiB") == 1_048_576
    assert parse_bytes("300kB") == 300_000
    assert parse_bytes("4096") == 4096 and parse_bytes(None) is None
    assert parse_latency("20ms") == 20.0 and parse_latency("500us") == pytest.approx(0.5)
    assert parse_latency("0.1s") == pytest.approx(100.0)
    assert parse_latency("480000cycles", 480.0) == pytest.approx(1.0)
    with pytest.raises(QFormatError):
        parse_bytes("lots")
    with pytest.raises(QFormatError):
        parse_latency("1000cycles")
