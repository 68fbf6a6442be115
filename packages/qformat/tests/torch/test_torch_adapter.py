"""state_dict <-> model against torch itself (runs in the qformat-torch environment)."""

import numpy as np
import pytest
import torch
import torch.nn as nn

import qformat as qf
from qformat.torch_adapter import load_state_dict, state_dict


def _model():
    m = qf.Model([qf.Layer("input", "input", attrs={"shape": [6]}),
                  qf.Layer("0", "linear", ["input"], {"in_features": 6, "out_features": 4}, "relu"),
                  qf.Layer("2", "linear", ["0"], {"in_features": 4, "out_features": 3})])
    for name, shp in (("0", (4, 6)), ("2", (3, 4))):
        m.set(name, "weight", np.zeros(shp, np.float32))
        m.set(name, "bias", np.zeros(shp[0], np.float32))
    return m


def test_state_dict_loads_into_torch_and_back():
    net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    m = load_state_dict(_model(), net.state_dict())
    x = torch.rand(5, 6)
    with torch.no_grad():
        np.testing.assert_allclose(qf.run(m, x.numpy()), net(x).numpy(), rtol=1e-5, atol=1e-6)
    net2 = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    net2.load_state_dict(state_dict(m))
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)


def test_mismatches_are_named():
    m = _model()
    with pytest.raises(qf.QFormatError, match="0.weight: shape"):
        load_state_dict(m, {"0.weight": torch.zeros(5, 6), "2.weight": torch.zeros(3, 4)})
    with pytest.raises(qf.QFormatError, match="2.weight: missing"):
        load_state_dict(m, {"0.weight": torch.zeros(4, 6)})
    with pytest.raises(qf.QFormatError, match="does not name"):
        load_state_dict(m, {**state_dict(m), "9.weight": torch.zeros(1)})
