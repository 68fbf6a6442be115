"""The DNAS supernet: shared weights, composite convolution, expected costs, schedules, resume, sensitivity."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qsearch.cost import CostModel, make_latency
from qsearch.netinfo import NetInfo
from qsearch.options import OptionSpace
from qsearch.search.dnas import DnasConfig, ExpectedCost, build_supernet, repair, run_dnas, temperature

ALL = OptionSpace.parse(None)


def calib(splits, n=2):
    return [xb for _, (xb, _) in zip(range(n), splits.loader("train", 64))]


def test_supernet_shares_one_weight_tensor_per_layer(digits_model, digits):
    from qtrain.graph import GraphNet

    net = build_supernet(digits_model, ALL, {}, calib(digits))
    float_params = sum(p.numel() for p in GraphNet.from_model(digits_model).parameters())
    conv_params = sum(p.numel() for p in net.mods.parameters())
    assert conv_params == float_params                         # one copy, not five
    extra = sum(p.numel() for p in net.mixed.parameters()) + net.alpha.numel()
    assert extra < 0.1 * float_params                          # per-option steps and clips only
    # every option's path is a function of the same parameter
    for j in range(len(ALL)):
        net.zero_grad()
        probs = F.one_hot(torch.full((3,), j), len(ALL)).float()
        net.set_probs(probs)
        x, y = next(iter(digits.loader("train", 32)))
        F.cross_entropy(net.logits(x), y).backward()
        assert net.module("conv2").weight.grad is not None and net.module("conv2").weight.grad.abs().sum() > 0


def test_one_hot_supernet_matches_qtrain_qat_network(digits_model, digits):
    """With one option per layer, the supernet computes what qtrain's QAT network of that map computes
    (same steps and clips copied over; the logits grid, which the supernet does not model, removed)."""
    from qsearch.training import precision_map
    from qtrain.graph import safe_key
    from qtrain.quant import prepare_qat

    sp = OptionSpace.parse("int8,int4,int2")
    cal = calib(digits)
    net = build_supernet(digits_model, sp, {}, cal)
    choice = {"conv1": "int8", "conv2": "int4", "fc": "int2"}
    qnet = prepare_qat(net.__class__.__mro__[1].from_model(digits_model), precision_map(choice, sp), cal)
    with torch.no_grad():
        for name, opt in choice.items():
            mq = net.mixed[safe_key(name)]
            qnet.wq[safe_key(name)].step.copy_(mq.wsteps[f"w{sp[opt].wbits}"])
            src = {"conv1": "input", "conv2": "conv1", "fc": "conv2"}[name]
            qnet.aq[safe_key(src)].set_alpha(float(mq.aq["a8"].clip()))
        del qnet.aq[safe_key("fc")]
    probs = torch.stack([F.one_hot(torch.tensor(sp.index(choice[n])), len(sp)).float() for n in net.search_layers])
    net.eval()
    qnet.eval()
    net.set_probs(probs)
    x, _ = next(iter(digits.loader("test", 128)))
    a, b = net.logits(x), qnet.logits(x)
    assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())
    net.set_probs(None)
    assert not torch.allclose(net.logits(x), b, atol=1e-3)      # and float differs


def test_composite_conv_equals_per_option_sum(digits_model, digits):
    """One convolution with the mixed weight = the probability-weighted sum of one convolution per option
    (exact when the options share an activation format, as with --int-only and int8 activations)."""
    from qtrain.graph import safe_key

    sp = OptionSpace.parse("int8,int4,int2")
    net = build_supernet(digits_model, sp, {}, calib(digits))
    mq = net.mixed[safe_key("conv2")]
    conv = net.module("conv2")
    x = torch.relu(torch.randn(8, 16, 4, 4))
    probs = torch.softmax(torch.randn(3), 0)
    xq = mq.mix_input(x, probs)
    fast = F.conv2d(xq, mq.mix_weight(conv.weight, probs), conv.bias, conv.stride, conv.padding)
    slow = sum(probs[j] * F.conv2d(mq.quant_input(x, "a8"), mq.quant_weight(conv.weight, j), conv.bias,
                                   conv.stride, conv.padding) for j in range(3))
    assert torch.allclose(fast, slow, atol=1e-5)
    # with float options the activation formats differ: the composite mixes inputs too (EdMIPS), not equal
    net2 = build_supernet(digits_model, ALL, {}, calib(digits))
    mq2 = net2.mixed[safe_key("conv2")]
    assert [k for k, _ in mq2.act_groups] == ["fp32", "fp16", "a8"]


def test_alpha_gets_gradients_and_masked_options_get_none(digits_model, digits):
    allowed = {"conv1": ["int8", "int4"], "conv2": ALL.names, "fc": ["fp32", "int8"]}
    net = build_supernet(digits_model, ALL, allowed, calib(digits))
    x, y = next(iter(digits.loader("val", 64)))
    logits_a = net.logits_alpha()
    probs = F.gumbel_softmax(logits_a, tau=1.0)
    assert float(probs.detach()[0, ALL.index("fp32")]) < 1e-6
    net.set_probs(probs)
    F.cross_entropy(net.logits(x), y).backward()
    g = net.alpha.grad
    assert g is not None
    for i, n in enumerate(net.search_layers):
        for j, o in enumerate(ALL.names):
            if o in allowed[n]:
                assert g[i, j] != 0
            else:
                assert abs(float(g[i, j])) < 1e-9


def test_temperature_schedules_by_hand():
    c = DnasConfig(epochs=5, t0=5.0, tmin=0.1, schedule="exponential")
    assert temperature(0, c) == pytest.approx(5.0) and temperature(4, c) == pytest.approx(0.1)
    assert temperature(2, c) == pytest.approx(5.0 * math.sqrt(0.02))
    c.schedule = "cosine"
    assert temperature(2, c) == pytest.approx(2.55) and temperature(4, c) == pytest.approx(0.1)
    c.schedule = "linear"
    with pytest.raises(ValueError):
        temperature(1, c)


def test_expected_cost_equals_the_cost_model_at_one_hot(res_net_layers):
    for act in ("int8", "tied"):
        sp = OptionSpace.parse("int8,int4,int2", act=act)
        cm = CostModel(NetInfo(res_net_layers), sp, make_latency("m7"))
        ec = ExpectedCost(cm)
        for idx in itertools.product(range(3), repeat=4):
            probs = F.one_hot(torch.tensor(idx), 3).double()
            e = ec(probs)
            m = cm.batch(np.array([idx]))
            for k in ("latency_ms", "weight_bytes", "flash", "bitops", "peak_ram"):
                assert float(e[k]) == pytest.approx(float(m[k][0]), rel=1e-12), (k, idx)
    # in between one-hot points the expectation is linear in the probabilities (except the max terms)
    probs = torch.full((4, 3), 1 / 3, dtype=torch.float64, requires_grad=True)
    e = ec(probs)
    e["peak_ram"].backward()
    assert probs.grad.abs().sum() > 0


def test_repair_brings_a_map_within_budget(res_net_layers):
    sp = OptionSpace.parse("int8,int4,int2")
    cm = CostModel(NetInfo(res_net_layers), sp, make_latency("m7"))
    a = {n: "int8" for n in cm.layers}
    wb = cm.evaluate(a).weight_bytes
    probs = np.full((4, 3), 1 / 3)
    fixed, changes = repair(cm, a, probs, {"weight_bytes": 0.6 * wb}, {n: sp.names for n in cm.layers})
    assert cm.evaluate(fixed).weight_bytes <= 0.6 * wb and changes
    same, none = repair(cm, a, probs, {}, {})
    assert same == a and none == []


def test_dnas_resume_reaches_the_same_result(digits_mlp, digits, tmp_path):
    sp = OptionSpace.parse("int8,int4,int2")
    cm = CostModel(NetInfo.from_model(digits_mlp), sp, make_latency("m7"))
    cfg = DnasConfig(epochs=3, warmup_epochs=1, batch_size=128, budgets={"weight_bytes": 600.0})
    full = run_dnas(digits_mlp, digits, sp, cm, cfg)
    ck = tmp_path / "dnas.pt"

    class Killed(Exception):
        pass

    def killer(msg):
        if msg.startswith("dnas epoch 2/"):
            raise Killed

    with pytest.raises(Killed):
        run_dnas(digits_mlp, digits, sp, cm, cfg, checkpoint=str(ck), log=killer)
    msgs = []
    resumed = run_dnas(digits_mlp, digits, sp, cm, cfg, checkpoint=str(ck), log=msgs.append)
    assert any("resuming" in m and "after epoch 2" in m for m in msgs)
    assert torch.equal(full.net.alpha, resumed.net.alpha)
    assert [h["val_acc"] for h in full.history] == [h["val_acc"] for h in resumed.history]
    from qformat.errors import QFormatError

    with pytest.raises(QFormatError, match="different search configuration"):
        run_dnas(digits_mlp, digits, sp, cm, DnasConfig(epochs=4), checkpoint=str(ck))


def test_sensitivity_noise_and_hessian(digits_mlp, digits):
    from qsearch.search.sensitivity import hessian_trace, noise_sensitivity, sensitivity
    from qtrain.graph import safe_key

    net = build_supernet(digits_mlp, ALL, {}, calib(digits))
    s = noise_sensitivity(net, digits, 256)
    assert s.shape == (2, 5) and (s[:, 0] == 0).all() and (s >= 0).all()
    assert s[:, ALL.index("int2")].sum() > s[:, ALL.index("int8")].sum()
    # Hutchinson vs the exact trace (sum of e_i^T H e_i over the fc weights) on the same batch
    tr = hessian_trace(net, digits, n_samples=128, n_vectors=300, seed=1)
    xb, yb = next(iter(digits.loader("val", 128)))
    w = net.mods[safe_key("fc2")].weight
    net.set_probs(None)
    loss = F.cross_entropy(net.logits(xb), yb)
    (g,) = torch.autograd.grad(loss, [w], create_graph=True)
    exact = 0.0
    for i in range(w.numel()):
        e = torch.zeros(w.numel())
        e[i] = 1
        (h,) = torch.autograd.grad(g, [w], grad_outputs=e.reshape(w.shape), retain_graph=True)
        exact += float(h.reshape(-1)[i])
    assert tr[1] == pytest.approx(exact, rel=0.15)
    hs = sensitivity(net, digits, "hessian", 128)
    assert (hs[:, 0] == 0).all() and (hs[:, ALL.index("int2")] > hs[:, ALL.index("int8")]).all()
    with pytest.raises(ValueError):
        sensitivity(net, digits, "fisher")


@pytest.fixture
def fast_mix():
    """Restore the fused mix after a test toggles the reference."""
    from qsearch.search import dnas

    yield dnas
    dnas.FAST_MIX = True


def _mix_grads(dnas, mq, fn, x0, probs_fn, params_extra, fast):
    dnas.FAST_MIX = fast
    x = x0.clone().requires_grad_(True)
    logits = torch.linspace(-1.0, 1.5, len(mq.options)).requires_grad_(True)
    y = fn(x, probs_fn(logits))
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    params = [x, logits] + params_extra
    return y.detach(), torch.autograd.grad((y * g).sum(), params)


@pytest.mark.parametrize("opts", ["fp32,fp16,int8,int4,int2", "int8,int4,int2", "fp16,int4", "int8"])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("big", [False, True])
def test_fused_mix_matches_composite_reference(fast_mix, opts, signed, big):
    """The fused activation/weight mixes (_MixAct, _MixWeight) give the composite's values and the
    gradients to the input, the probabilities and the quantizer steps/clips (fp16 overflow included)."""
    from qsearch.search.dnas import MixedQuant

    sp = OptionSpace.parse(opts)
    torch.manual_seed(0)
    mq = MixedQuant((6, 4, 3, 3), sp.options, signed, None if signed else 6.0)
    with torch.no_grad():
        for q in mq.aq.values():
            q.set_alpha(1.7)
        for st in mq.wsteps.values():
            st.copy_(torch.rand(6) * 0.2 + 0.02)
    x0 = torch.randn(5, 4, 7, 7) * 2
    w0 = torch.randn(6, 4, 3, 3) * 0.5
    if big:
        x0[0, 0, 0, :3] = torch.tensor([7e4, -9e4, 65504.0])
    soft = lambda lg: F.softmax(lg, 0)                      # noqa: E731
    for fn, t0, extra in ((mq.mix_input, x0, [q.alpha for q in mq.aq.values()]),
                          (mq.mix_weight, w0, list(mq.wsteps.values()))):
        ya, ga = _mix_grads(fast_mix, mq, fn, t0, soft, extra, True)
        yb, gb = _mix_grads(fast_mix, mq, fn, t0, soft, extra, False)
        assert torch.allclose(ya, yb, rtol=1e-6, atol=1e-5)
        for a, b in zip(ga, gb):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), float((a - b).abs().max())
        # probabilities without gradient, one-hot: zero options are skipped, values identical
        for j in range(len(sp)):
            h = F.one_hot(torch.tensor(j), len(sp)).float()
            fast_mix.FAST_MIX = True
            a = fn(t0, h)
            fast_mix.FAST_MIX = False
            b = fn(t0, h)
            assert torch.equal(a, b)


def test_fused_supernet_alpha_and_weight_gradients_match_reference(fast_mix, digits_model, digits):
    """A whole supernet step: the fused path's loss and gradients (alpha, weights, steps, clips) = the composite's."""
    net = build_supernet(digits_model, ALL, {}, calib(digits))
    x, y = next(iter(digits.loader("val", 64)))
    probs_noise = torch.rand(net.alpha.shape, generator=torch.Generator().manual_seed(0))
    out = []
    for fast in (True, False):
        fast_mix.FAST_MIX = fast
        net.zero_grad(set_to_none=True)
        net.set_probs(F.softmax(net.logits_alpha() + probs_noise, dim=1))
        loss = F.cross_entropy(net.logits(x), y)
        loss.backward()
        out.append((float(loss.detach()), {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}))
    net.set_probs(None)
    (la, ga), (lb, gb) = out
    assert abs(la - lb) < 1e-5
    assert ga.keys() == gb.keys() and "alpha" in ga
    for n in ga:
        assert torch.allclose(ga[n], gb[n], rtol=1e-3, atol=1e-5), (n, float((ga[n] - gb[n]).abs().max()))
