"""The torch adapter against torch itself (runs in the qformat-torch environment)."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import qformat as qf
from qformat.torch_adapter import from_module, load_state_dict, state_dict


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.pw = nn.Conv2d(4, 4, 1)
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        a = F.relu(self.bn1(self.conv1(x)))
        b = self.pw(F.relu6(self.dw(a)))
        y = self.pool(F.relu(a + b))
        y = torch.cat([y, y], dim=1)
        y = torch.flatten(self.gap(y), 1)
        return self.fc(self.drop(y))


def test_from_module_matches_torch():
    torch.manual_seed(0)
    net = Residual()
    with torch.no_grad():  # non-trivial BN statistics so folding is tested
        net.bn1.running_mean.uniform_(-0.5, 0.5)
        net.bn1.running_var.uniform_(0.5, 2.0)
        net.bn1.weight.uniform_(0.5, 1.5)
        net.bn1.bias.uniform_(-0.2, 0.2)
    net.eval()
    m = from_module(net, (1, 8, 8))
    ops = [lay.op for lay in m.layers]
    assert ops.count("conv2d") == 3 and "add" in ops and "concat" in ops and "global_avgpool" in ops
    assert m.layer("conv1").activation == "relu" and m.layer("dw").activation == "relu6"
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(qf.run(m, x.numpy()), want, rtol=1e-4, atol=1e-5)
    back = qf.from_bytes(qf.to_bytes(m))
    np.testing.assert_allclose(qf.run(back, x.numpy()), want, rtol=1e-4, atol=1e-5)


def test_state_dict_roundtrip():
    net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    m = from_module(net, (6,))
    sd = state_dict(m)
    assert set(sd) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    sd2 = {k: v * 2 for k, v in sd.items()}
    load_state_dict(m, sd2)
    np.testing.assert_allclose(m.get("0", "weight"), 2 * net[0].weight.detach().numpy())
    with pytest.raises(qf.QFormatError, match="does not name"):
        load_state_dict(m, {**sd2, "9.weight": torch.zeros(1)})


def test_unsupported_op_named():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.sigmoid(x)

    with pytest.raises(qf.QFormatError, match="sigmoid"):
        from_module(Odd(), (4,))
