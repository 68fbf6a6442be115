"""Integer export: qtrain's torch integer path is bit-exact with qformat's reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
from qformat.ir import Layer
from qformat.reference_ptq import reference_ptq
from qformat.requant import requantize as qf_requantize
from qformat.requant import rshift_round as qf_rshift_round
from qtrain import quant, zoo
from qtrain.errors import ConfigError
from qtrain.export import quantized_model
from qtrain.graph import GraphNet
from qtrain.intsim import IntegerModel, rshift_round
from qtrain.train import evaluate


def _bit_exact(m: qf.Model, x: np.ndarray) -> np.ndarray:
    ref = qf.run(m, x, mode="int", raw=True)
    got = IntegerModel(m).run(torch.from_numpy(x)).numpy()
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref)
    allref = qf.run(m, x, mode="int", raw=True, return_all=True)
    allgot = IntegerModel(m).run(torch.from_numpy(x), return_all=True)
    for k in allref:
        np.testing.assert_array_equal(allgot[k].numpy(), allref[k], err_msg=k)
    return ref


@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=50), st.integers(0, 40))
def test_rshift_round_matches_qformat(vals, shift):
    x = np.array(vals, dtype=np.int64)
    got = rshift_round(torch.from_numpy(x), torch.tensor(shift)).numpy()
    np.testing.assert_array_equal(got, qf_rshift_round(x, shift))


@given(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=50), st.integers(1, 2**31 - 1),
       st.integers(0, 40))
def test_requantize_matches_qformat(acc, m, s):
    a = np.array(acc, dtype=np.int64)
    got = rshift_round(torch.from_numpy(a) * m, torch.tensor(s)).numpy()
    np.testing.assert_array_equal(got, qf_requantize(a, m, s))


@pytest.mark.parametrize("which", ["digits_mlp", "digits_cnn"])
def test_digits_int8_ptq_within_one_point_and_bit_exact(which, request, digits, calib):
    net, float_acc, _ = request.getfixturevalue(which)
    qnet = quant.ptq(net, "int8", calib)
    m = quantized_model(qnet, {"tool": "test"})
    m.validate()
    x, y = digits.loader("test", 1000).arrays()
    out = _bit_exact(m, x)
    int_acc = float((out.argmax(1) == y).mean())
    assert float_acc >= 0.95
    assert int_acc >= float_acc - 0.01, (float_acc, int_acc)
    fake_acc, _ = evaluate(qnet, digits.loader("test", 512))
    assert abs(fake_acc - int_acc) <= 0.01
    # the fake-quant interpreter mode agrees with the integer outputs almost everywhere
    fake = qf.run(m, x, mode="fake")
    assert float((fake.argmax(1) == out.argmax(1)).mean()) >= 0.98
    # tensors of the contract
    fc = m.compute_layers()[0].name
    assert m.get(fc, "weight_codes").dtype == np.int8 and m.get(fc, "bias_codes").dtype == np.int32
    assert m.get(fc, "requant_multiplier").min() >= 128 and m.get(fc, "requant_multiplier").max() <= 255
    last = m.compute_layers()[-1]
    assert last.quant.output.signed  # logits are signed, never clamped at 0 (Ibex bug)


def test_matches_qformat_reference_ptq(digits_mlp, calib):
    """Min/max per-channel PTQ gives the same codes and scales as qformat's independent numpy quantizer."""
    net, _, _ = digits_mlp
    qnet = quant.ptq(net, "int8", calib, act_method="minmax", weight_calib="minmax")
    ours = quantized_model(qnet)
    x = torch.cat(calib).numpy()
    ref = reference_ptq(net.to_model(), x, weight_bits=8, act_bits=8, per_channel=True, multiplier_bits=8)
    for lay in ref.compute_layers():
        np.testing.assert_allclose(ours.get(lay.name, "weight_scale"), ref.get(lay.name, "weight_scale"), rtol=1e-6)
        codes_a, codes_b = ours.get(lay.name, "weight_codes"), ref.get(lay.name, "weight_codes")
        assert (codes_a == codes_b).mean() > 0.999
        qa, qb = ours.layer(lay.name).quant, ref.layer(lay.name).quant
        assert qa.output.signed == qb.output.signed
        assert qa.output.scale == pytest.approx(qb.output.scale, rel=1e-5)
    assert ours.input_quant.scale == pytest.approx(ref.input_quant.scale, rel=1e-6)


def _random_calib(shape, n=64, seed=0, signed=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g)
    return [x if signed else x.abs()]


@pytest.mark.parametrize("spec,shape,precision,opts", [
    ("mobilenetv2:width=0.35", (3, 32, 32), "int8", {}),
    ("mobilenetv2:width=0.35,activation=relu", (3, 32, 32), "w4a8", {"pow2": True}),
    ("resnet20:width=0.25", (3, 16, 16), "int8", {"per_channel": False}),
    ("lenet5", (1, 28, 28), {"conv1": "int2", "_default": {"weight": "int8", "activation": "int16"}}, {}),
])
def test_bit_exact_on_residual_and_mixed_networks(spec, shape, precision, opts):
    net = GraphNet.from_arch(zoo.build(spec, shape, 10), seed=0).eval()
    from test_graph import _randomise_bn
    _randomise_bn(net)
    calib = _random_calib(shape)
    qnet = quant.ptq(net, precision, calib, act_method="mse", **opts)
    for mb in (8, 31):
        m = quantized_model(qnet, multiplier_bits=mb)
        m.validate()
        _bit_exact(m, calib[0][:4].numpy())
    if opts.get("pow2"):
        for lay in m.compute_layers():
            assert np.all(m.get(lay.name, "requant_multiplier") == 1) or np.all(
                np.log2(m.get(lay.name, "requant_multiplier")) % 1 == 0)
            s = m.get(lay.name, "weight_scale").astype(np.float64)
            np.testing.assert_array_equal(s, 2.0 ** -m.get(lay.name, "weight_shift").astype(np.float64))


def test_concat_pooling_graph_bit_exact():
    layers = [
        Layer("input", "input", [], {"shape": [2, 8, 8]}),
        Layer("a", "conv2d", ["input"], {"in_channels": 2, "out_channels": 3, "kernel_size": [3, 3], "stride": [1, 1],
                                         "padding": [1, 1], "groups": 1}, "relu"),
        Layer("b", "conv2d", ["input"], {"in_channels": 2, "out_channels": 2, "kernel_size": [1, 1], "stride": [1, 1],
                                         "padding": [0, 0], "groups": 1}),
        Layer("cat", "concat", ["a", "b"]),
        Layer("mp", "maxpool2d", ["cat"], {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1]}),
        Layer("ap", "avgpool2d", ["mp"], {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}),
        Layer("r", "relu6", ["ap"]),
        Layer("fl", "flatten", ["r"]),
        Layer("fc", "linear", ["fl"], {"in_features": 20, "out_features": 4}),
    ]
    net = GraphNet(layers).eval()
    calib = _random_calib((2, 8, 8), seed=3)
    qnet = quant.ptq(net, "int8", calib)
    assert qnet.aq["a"] is qnet.aq["b"]  # concat inputs share one grid
    assert qnet.aq["a"].signed  # b is signed, so the shared grid is
    m = quantized_model(qnet)
    _bit_exact(m, calib[0][:8].numpy())


def test_bias16_overflow_and_float_layers(digits_mlp, calib):
    net, _, _ = digits_mlp
    qnet = quant.ptq(net, "int8", calib)
    with torch.no_grad():
        qnet.module("fc1").bias[0] = 1e4
    with pytest.raises(ConfigError, match="fc1/bias_codes.*overflows int16"):
        quantized_model(qnet, bias_bits=16)
    m = quantized_model(qnet, bias_bits=32)
    assert m.get("fc1", "bias_codes").dtype == np.int32
    mixed = quant.ptq(net, {"fc2": "fp16", "_default": "int8"}, calib)
    mm = quantized_model(mixed)
    assert mm.layer("fc2").quant.weight.scheme == "fp16" and not mm.has("fc2", "requant_multiplier")
    with pytest.raises(ConfigError, match="integer-only"):
        quantized_model(mixed, require_integer=True)
    with pytest.raises(Exception, match="fp16 layers have no integer form|integer"):
        qf.run(mm, torch.cat(calib)[:2].numpy(), mode="int")
    fake = qf.run(mm, torch.cat(calib)[:8].numpy(), mode="fake")
    assert fake.shape == (8, 10)


def test_int16_activations_and_big_multiplier(digits_cnn, calib, digits):
    net, float_acc, _ = digits_cnn
    qnet = quant.ptq(net, "w8a16", calib, act_method="minmax")
    m = quantized_model(qnet, multiplier_bits=31)
    x, y = digits.loader("test", 1000).arrays()
    out = _bit_exact(m, x[:64])
    assert m.input_quant.bits == 16
    assert float((out.argmax(1) == y[:64]).mean()) >= 0.9
