"""The accelerator hex images: formats of the original, with the correct weight scale."""

import numpy as np
import pytest
from conftest import make_cnn

import qformat as qf
from qformat.export import export_hex, hex_layers
from qformat.reference_ptq import reference_ptq


def _pow2_model():
    return reference_ptq(make_cnn(), np.random.default_rng(0).random((8, 1, 8, 8)), per_channel=False, pow2=True)


def test_hex_files_follow_the_original_format(tmp_path):
    q = _pow2_model()
    export_hex(q, tmp_path / "hex")
    lines = (tmp_path / "hex" / "conv1_weight.hex").read_text().splitlines()
    assert lines[0] == "4 1 3 3"                          # shape in hex, no 0x
    codes = q.get("conv1", "weight_codes").reshape(-1)
    assert lines[1:] == [f"{int(v) & 0xff:02x}" for v in codes]
    assert all(len(x) == 2 for x in lines[1:])
    fc = (tmp_path / "hex" / "fc_weight.hex").read_text().splitlines()[0]
    assert fc == "a 8"                                     # 10 x 8


def test_bias_and_shift_use_the_weight_scale():
    q = _pow2_model()
    layers = {L["layer"]: L for L in hex_layers(q)}
    lay = q.layer("conv1")
    s_in, s_out = lay.quant.input.scale, lay.quant.output.scale
    s_w = float(q.get("conv1", "weight_scale"))
    assert layers["conv1"]["shift"] == round(np.log2(s_in * s_w / s_out))
    # the original's bug used the output scale in place of s_w; ours does not
    np.testing.assert_array_equal(layers["conv1"]["bias"], q.get("conv1", "bias_codes"))


def test_worked_example_of_the_reference():
    """features.0 of the reference: bias 0.20426676, s_in 2^-6, s_w 2^-7 -> 1673 (the original wrote 209)."""
    m = qf.Model([qf.Layer("input", "input", attrs={"shape": [1]}),
                  qf.Layer("f0", "linear", ["input"], {"in_features": 1, "out_features": 1})])
    m.set("f0", "weight", np.array([[0.5]], np.float32))
    m.set("f0", "bias", np.array([0.20426676], np.float32))
    m.set("f0", "weight_codes", np.array([[64]], np.int8))
    m.set("f0", "weight_scale", np.array(2.0 ** -7, np.float32))
    m.set_quant("f0", qf.LayerQuant(weight=qf.WeightQuant(bits=8, scheme="pow2"),
                                    input=qf.ActQuant(bits=8, scale=2.0 ** -6), output=qf.ActQuant(bits=8, scale=2.0 ** -5)))
    (L,) = hex_layers(m)
    assert int(L["bias"][0]) == 1673 and L["shift"] == -8


def test_dram_layout_is_packed(tmp_path):
    q = _pow2_model()
    export_hex(q, tmp_path / "h")
    rows = (tmp_path / "h" / "layout.csv").read_text().splitlines()[1:]
    base = 0
    for r in rows:
        name, addr, wb, bb, *_ = r.split(",")
        assert int(addr) == base
        base += int(wb) + int(bb)
    assert len((tmp_path / "h" / "dram.hex").read_text().split()) == base


def test_per_channel_scales_refused():
    q = reference_ptq(make_cnn(), np.random.default_rng(0).random((8, 1, 8, 8)), per_channel=True)
    with pytest.raises(qf.QFormatError, match="per-tensor weight scale"):
        hex_layers(q)
