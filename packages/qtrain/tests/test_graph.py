"""GraphNet: the torch executor agrees with qformat's reference interpreter; BN folding; write-back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qformat as qf
from qformat.ir import Layer
from qtrain import zoo
from qtrain.graph import GraphNet


def _randomise_bn(net: GraphNet, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in net.bns.values():
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=g) * 0.1)
            bn.running_mean.copy_(torch.randn(bn.running_mean.shape, generator=g) * 0.1)
            bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize("spec,shape", [
    ("mlp:widths=16/8", (1, 8, 8)),
    ("cnn", (1, 8, 8)),
    ("mobilenetv2:width=0.35", (3, 32, 32)),
    ("resnet20:width=0.5", (3, 16, 16)),
    ("lenet5", (1, 28, 28)),
])
def test_fold_bn_and_reference_interpreter(spec, shape):
    arch = zoo.build(spec, shape, 10)
    net = GraphNet.from_arch(arch, seed=1).eval()
    _randomise_bn(net)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        y_bn = net(x)
        folded = net.fold_bn().eval()
        y_fold = folded(x)
    assert not folded.bns
    torch.testing.assert_close(y_fold, y_bn, rtol=1e-4, atol=1e-4)
    m = net.to_model({"tool": "test"})
    m.validate()
    ref = qf.run(m, x.numpy(), mode="float")
    np.testing.assert_allclose(ref, y_bn.numpy(), rtol=1e-4, atol=1e-4)
    # and back: a model artifact rebuilds the same network
    again = GraphNet.from_model(m).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), y_fold, rtol=1e-5, atol=1e-5)


def test_every_op_matches_interpreter():
    layers = [
        Layer("input", "input", [], {"shape": [3, 9, 9]}),
        Layer("c1", "conv2d", ["input"], {"in_channels": 3, "out_channels": 4, "kernel_size": [3, 3], "stride": [1, 1],
                                          "padding": [1, 1], "groups": 1}),
        Layer("r6", "relu6", ["c1"]),
        Layer("mp", "maxpool2d", ["r6"], {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1]}),
        Layer("c2", "conv2d", ["input"], {"in_channels": 3, "out_channels": 2, "kernel_size": [1, 1], "stride": [2, 2],
                                          "padding": [0, 0], "groups": 1}, "relu"),
        Layer("cat", "concat", ["mp", "c2"]),
        Layer("ap", "avgpool2d", ["cat"], {"kernel_size": [3, 3], "stride": [1, 1], "padding": [1, 1]}),
        Layer("dw", "conv2d", ["ap"], {"in_channels": 6, "out_channels": 6, "kernel_size": [3, 3], "stride": [1, 1],
                                       "padding": [1, 1], "groups": 6}),
        Layer("add", "add", ["dw", "cat"], {}, "relu"),
        Layer("r", "relu", ["add"]),
        Layer("gap", "global_avgpool", ["r"]),
        Layer("fl", "flatten", ["gap"]),
        Layer("fc", "linear", ["fl"], {"in_features": 6, "out_features": 5}),
        Layer("sm", "softmax", ["fc"]),
    ]
    net = GraphNet(layers).eval()
    x = torch.randn(4, 3, 9, 9)
    m = net.to_model()
    with torch.no_grad():
        np.testing.assert_allclose(qf.run(m, x.numpy(), mode="float"), net(x).numpy(), rtol=1e-5, atol=1e-6)
        logits = net.logits(x)
    assert torch.allclose(torch.softmax(logits, 1), net(x))


def test_from_model_checks_shapes():
    arch = zoo.build("mlp:widths=4", (6,), 3)
    m = GraphNet.from_arch(arch).to_model()
    m.set("fc1", "weight", np.zeros((4, 5), np.float32))
    with pytest.raises(Exception, match="does not match"):
        GraphNet.from_model(m)


def test_param_groups_decay_only_weights():
    net = GraphNet.from_arch(zoo.build("cnn", (1, 8, 8), 10))
    groups = {g["name"]: g for g in net.param_groups(1e-4)}
    assert groups["weights"]["weight_decay"] == 1e-4 and groups["bias_bn"]["weight_decay"] == 0.0
    n_w = sum(p.numel() for p in groups["weights"]["params"])
    assert n_w == sum(m.weight.numel() for m in net.mods.values())
