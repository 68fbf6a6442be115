"""Quantizers: fast paths against obvious references, gradients, grids, plan rules, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from qformat.precision import Precision, PrecisionMap
from qtrain import quant, zoo
from qtrain.graph import GraphNet, safe_key
from qtrain.quant import functional as fq
from qtrain.quant.modules import ActQuantizer, WeightQuantizer

bits_st = st.integers(2, 16)


@given(bits_st, st.booleans(), st.booleans(), st.floats(0.01, 3.0), st.integers(0, 10_000))
def test_fake_quant_matches_reference_forward_and_grads(bits, signed, lsq, scale, seed):
    g = torch.Generator().manual_seed(seed)
    qmin, qmax = fq.qrange(bits, signed)
    x = (torch.randn(257, generator=g) * scale * qmax / 2).double()
    x1 = x.clone().requires_grad_(True)
    s1 = torch.tensor(scale, dtype=torch.float64, requires_grad=True)
    y1 = fq.fake_quant(x1, s1, qmin, qmax, lsq, 0.5)
    x2 = x.clone().requires_grad_(True)
    s2 = torch.tensor(scale, dtype=torch.float64, requires_grad=True)
    y2 = fq.fake_quant_reference(x2, s2, qmin, qmax, lsq, 0.5)
    torch.testing.assert_close(y1, y2)
    w = torch.randn(257, generator=g, dtype=torch.float64)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(s1.grad, s2.grad, rtol=1e-9, atol=1e-9)


@given(bits_st, st.integers(1, 6), st.integers(0, 10_000))
def test_per_channel_fake_quant_matches_reference(bits, o, seed):
    g = torch.Generator().manual_seed(seed)
    qmin, qmax = fq.qrange(bits, True, narrow=True)
    s0 = (torch.rand(o, generator=g, dtype=torch.float64) + 0.1) * 0.1
    w = (torch.randn(o, 3, 2, 2, generator=g, dtype=torch.float64) * s0.reshape(-1, 1, 1, 1) * qmax * 0.7)
    outs = []
    for impl in (fq.fake_quant, fq.fake_quant_reference):
        wi = w.clone().requires_grad_(True)
        si = s0.clone().requires_grad_(True)
        y = impl(wi, si.reshape(-1, 1, 1, 1), qmin, qmax, True, 0.25)
        (y * torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape).sin()).sum().backward()
        outs.append((y.detach(), wi.grad, si.grad))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)


@given(bits_st, st.floats(0.05, 2.0))
def test_fake_quant_grid(bits, scale):
    qmin, qmax = fq.qrange(bits, True)
    x = torch.linspace(-3 * scale * qmax, 3 * scale * qmax, 1001)
    y = fq.fake_quant(x, torch.tensor(scale), qmin, qmax)
    codes = y / scale
    assert torch.allclose(codes, codes.round(), atol=1e-3)
    assert codes.min() >= qmin - 1e-3 and codes.max() <= qmax + 1e-3
    # round to nearest: error at most half a step inside the range
    inside = (x > qmin * scale) & (x < qmax * scale)
    assert float((y - x)[inside].abs().max()) <= scale / 2 + 1e-6 * float(x.abs().max())  # float32 ulp


def test_round_to_nearest_not_floor():
    y = fq.fake_quant(torch.tensor([0.74, 0.76, 1.26]), torch.tensor(0.5), 0, 255)
    assert y.tolist() == [0.5, 1.0, 1.5]


@given(st.integers(2, 8), st.booleans(), st.integers(0, 1000))
def test_dorefa_tanh_grid(bits, per_channel, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(6, 5, generator=g) * 0.7
    wq = WeightQuantizer(tuple(w.shape), bits, "dorefa", per_channel)
    out = wq(w)
    codes, scale = wq.quantize(w)
    q = (1 << (bits - 1)) - 1
    sv = scale.reshape(-1, 1) if per_channel else scale
    torch.testing.assert_close(out, codes.float() * sv)
    assert int(codes.abs().max()) == q  # the largest |tanh| maps to +-Q
    # symmetric narrow range, zero representable, tanh normalisation (not max-abs scaling)
    wn = torch.tanh(w) / (torch.tanh(w).abs().amax(1, keepdim=True) if per_channel else torch.tanh(w).abs().max())
    torch.testing.assert_close(codes.float(), torch.round(wn * q))
    assert torch.allclose(scale, (w.abs().amax(1) if per_channel else w.abs().max()) / q)


def test_dorefa_symmetric_unlike_maxabs_floor_bug():
    """The original's 'DoReFa' (max-abs + floor, dnas.md bug 5) is asymmetric; ours is odd-symmetric with zero."""
    w = torch.tensor([[-1.0, -0.3, 0.0, 0.3, 1.0]])
    codes, _ = WeightQuantizer((1, 5), 4, "dorefa", True).quantize(w)
    assert codes.tolist() == [[-7, -3, 0, 3, 7]]  # round(7 * tanh(0.3) / tanh(1)) = round(2.68) = 3
    # the original: u = (w/m + 1)/2, q = floor(u * 15) / 15, w = (2q - 1) m  ->  -0.3 and +0.3 differ in magnitude
    u = (w / w.abs().max() + 1) / 2
    orig = 2 * torch.floor(u * 15) / 15 - 1
    assert abs(float(orig[0, 1])) != abs(float(orig[0, 3]))
    neg, _ = WeightQuantizer((1, 5), 4, "dorefa", True).quantize(-w)
    assert torch.equal(neg, -codes)


def test_lsq_weight_step_learns_and_gradients_flow():
    torch.manual_seed(0)
    w = torch.randn(8, 16, requires_grad=True)
    q = WeightQuantizer((8, 16), 4, "lsq", True)
    with torch.no_grad():
        q.step.copy_(quant.weight_step(w, 4, True, "mse"))
    y = q(w)
    (y ** 2).sum().backward()
    assert q.step.grad is not None and torch.all(torch.isfinite(q.step.grad)) and q.step.grad.abs().sum() > 0
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_fp16_and_pow2():
    x = torch.tensor([1.0 + 2 ** -12, 70000.0, 1e-9], requires_grad=True)
    y = fq.fp16_ste(x)
    assert y.tolist() == [1.0, 65504.0, 0.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]
    s = torch.tensor([0.3, 0.24, 0.06], requires_grad=True)
    p = fq.pow2_ste(s)
    assert p.tolist() == [0.25, 0.25, 0.0625]
    p.sum().backward()
    assert torch.allclose(s.grad, p.detach() / s.detach())


@given(st.integers(2, 8), st.booleans(), st.integers(0, 1000))
def test_weight_step_mse_never_worse_than_minmax(bits, per_channel, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(5, 40, generator=g) ** 3
    qmin, qmax = fq.qrange(bits, True, narrow=True)

    def err(s):
        sv = s.reshape(-1, 1) if per_channel else s
        return float(((torch.clamp(torch.round(w / sv), qmin, qmax) * sv - w) ** 2).sum())

    mm = quant.weight_step(w, bits, per_channel, "minmax")
    ms = quant.weight_step(w, bits, per_channel, "mse")
    assert err(ms) <= err(mm) + 1e-9
    assert torch.allclose(mm, (w.abs().amax(1) if per_channel else w.abs().max()) / qmax)
    p2 = quant.weight_step(w, bits, per_channel, "mse", pow2=True)
    assert torch.allclose(torch.log2(p2), torch.round(torch.log2(p2)))


def test_choose_clip_methods():
    torch.manual_seed(0)
    v = torch.cat([torch.rand(100_000), torch.tensor([50.0])])  # one outlier
    a_mm = quant.choose_clip(v, 0.0, 50.0, 8, False, "minmax")
    a_p = quant.choose_clip(v, 0.0, 50.0, 8, False, "percentile", 99.9)
    a_mse = quant.choose_clip(v, 0.0, 50.0, 4, False, "mse")
    assert a_mm == 50.0
    assert 0.99 < a_p <= 1.0
    assert 0.8 < a_mse < 2.0
    a2 = quant.choose_clip(v, 0.0, 50.0, 8, False, "percentile", 99.9, pow2=True)
    s = a2 / 255
    assert s == 2.0 ** round(np.log2(s))
    with pytest.raises(ValueError):
        quant.choose_clip(v, 0.0, 1.0, 8, False, "kl")


def test_act_quantizer_signed_unsigned_and_relu6():
    q = ActQuantizer(bits=8, signed=False, alpha=2.0, max_alpha=6.0, learn=True)
    x = torch.tensor([-1.0, 0.5, 3.0])
    y = q(x).detach()
    assert y[0] == 0 and abs(float(y[2]) - 2.0) < 1e-6
    assert q.implies("relu") and q.implies("relu6") and not q.implies("none")
    q.set_alpha(10.0)
    assert float(q.clip().detach()) == 6.0
    qs = ActQuantizer(bits=4, signed=True, alpha=1.0)
    a = qs.act_quant()
    assert a.signed and a.qmin == -8 and a.qmax == 7 and abs(a.scale - 1 / 7) < 1e-7
    assert not qs.implies("relu")


def _mbv2():
    return GraphNet.from_arch(zoo.build("mobilenetv2:width=0.35", (3, 32, 32), 10), seed=0).fold_bn()


def test_plan_rules_widest_output_and_signedness():
    net = _mbv2()
    pm = PrecisionMap({"b2.dw": {"weight": "int4", "activation": "int4"},
                       "re:b3\\..*": {"weight": "int2", "activation": "int16"},
                       "classifier": {"weight": "fp16", "activation": "fp16"},
                       "_default": {"weight": "int8", "activation": "int4"}})
    plan = quant.plan_quantization(net, pm, input_signed=True)
    assert plan.layers["b2.dw"].weight == Precision.parse("int4")
    assert plan.layers["b3.expand"].weight == Precision.parse("int2")
    assert plan.layers["stem"].weight == Precision.parse("int8")
    # the input of block 3 (output of b2.project) feeds b3.expand (int16) and the b3 add (whose output feeds
    # b4.expand at int4): widest wins
    assert plan.tensors["b2.project"].precision == Precision.parse("int16")
    assert plan.tensors["b2.project"].signed and not plan.tensors["b2.expand"].signed
    assert plan.tensors["b2.expand"].max_alpha == 6.0
    assert plan.tensors["input"].signed
    # head feeds pool -> flatten -> classifier (fp16 activation)
    assert plan.tensors["head"].precision == Precision.parse("fp16")
    assert plan.tensors["classifier"].precision.is_float  # logits of an fp16 layer stay float
    assert not plan.is_integer()
    plan8 = quant.plan_quantization(net, "w4a4")
    assert plan8.tensors["classifier"].precision == Precision.parse("int8") and plan8.tensors["classifier"].signed
    assert plan8.is_integer()
    with pytest.raises(Exception, match="names no layer"):
        quant.plan_quantization(net, {"nope": "int8"})


def test_as_precision_map_forms():
    assert quant.as_precision_map("w4a8").resolve("x").to_json() == {"weight": "int4", "activation": "int8"}
    assert quant.as_precision_map("fp16").resolve("x").to_json() == {"weight": "fp16", "activation": "fp16"}
    assert quant.as_precision_map({"_default": "int2"}).resolve("x").weight == Precision.parse("int2")


def test_prepare_qat_copies_float_weights(digits_mlp, calib, digits):
    """The Ibex flow's QAT retrained from random weights; ours starts from the float model."""
    net, float_acc, _ = digits_mlp
    qnet = quant.prepare_qat(net, "int8", calib)
    for lay in net.compute_layers():
        assert torch.equal(qnet.module(lay.name).weight, net.module(lay.name).weight)
        assert qnet.module(lay.name).weight.data_ptr() != net.module(lay.name).weight.data_ptr()
    from qtrain.train import evaluate
    acc, _ = evaluate(qnet, digits.loader("test", 512))
    assert acc >= float_acc - 0.01
    assert all(isinstance(qnet.wq[safe_key(l.name)], WeightQuantizer) for l in net.compute_layers())
