"""Importing user torch modules (sequential, residual, concat) into the IR with torch.fx."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import qformat as qf
from qtrain import quant
from qtrain.errors import ConfigError
from qtrain.export import quantized_model
from qtrain.graph import GraphNet
from qtrain.importer import from_torch
from qtrain.intsim import IntegerModel


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(x + y)


class ResNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = Block(8)
        self.branch = nn.Conv2d(8, 4, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = self.stem(x)
        x = self.block(x)
        x = torch.cat([x, F.relu6(self.branch(x))], dim=1)
        x = F.max_pool2d(x, 2)
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        return self.fc(self.drop(x))


def _randomise(mod):
    g = torch.Generator().manual_seed(0)
    for m in mod.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def test_sequential_mlp():
    torch.manual_seed(0)
    mod = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    m = from_torch(mod, (1, 8, 8))
    assert [l.op for l in m.layers] == ["input", "flatten", "linear", "linear"]
    assert m.layers[2].activation == "relu"
    x = torch.randn(5, 1, 8, 8)
    np.testing.assert_allclose(qf.run(m, x.numpy()), mod(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_residual_concat_bn_folded_and_quantizable():
    torch.manual_seed(0)
    mod = ResNetish()
    _randomise(mod)
    m = from_torch(mod, (3, 12, 12))
    ops = [l.op for l in m.layers]
    assert "add" in ops and "concat" in ops and "global_avgpool" in ops
    add = [l for l in m.layers if l.op == "add"][0]
    assert add.activation == "relu"
    assert not any("bn" in l.name for l in m.layers)
    x = torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        np.testing.assert_allclose(qf.run(m, x.numpy()), mod.eval()(x).numpy(), rtol=1e-4, atol=1e-4)
    # and the imported model goes through PTQ and the integer path bit-exactly
    net = GraphNet.from_model(m)
    qnet = quant.ptq(net, "int8", [x])
    qm = quantized_model(qnet)
    np.testing.assert_array_equal(IntegerModel(qm).run(x).numpy(), qf.run(qm, x.numpy(), mode="int", raw=True))


def test_unsupported_modules_are_clear_errors():
    with pytest.raises(ConfigError, match="GELU"):
        from_torch(nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.GELU()), (4,))
    with pytest.raises(ConfigError, match="dilation"):
        from_torch(nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), (1, 8, 8))
