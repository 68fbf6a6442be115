"""Model zoo: the MobileNetV2 oracles, every architecture's shapes, MACs and parameters against torch."""

from __future__ import annotations

import pytest
import torch

from qtrain import zoo
from qtrain.errors import ConfigError
from qtrain.graph import GraphNet


def _torch_counts(arch):
    """Independent count: torch's FLOP counter on a real forward pass (MACs = FLOPs / 2), params by numel (no BN)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = GraphNet.from_arch(arch, seed=0).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        out = net(torch.zeros(1, *arch.input_shape))
    params = sum(p.numel() for n, p in net.named_parameters() if n.startswith("mods."))
    return fc.get_total_flops() // 2, params, out.shape


def test_mobilenetv2_reference_oracles():
    a = zoo.build("mobilenetv2", (3, 32, 32), 10)
    assert len(a.compute_layers()) == 53
    assert a.params() == 2_202_570
    assert a.macs() == 24_461_312
    assert a.options["stem_stride"] == 1
    for size, mmacs in ((112, 80.9), (144, 131.4), (224, 299.5)):
        b = zoo.build("mobilenetv2", (3, size, size), 10)
        assert round(b.macs() / 1e6, 1) == mmacs
        assert b.options["stem_stride"] == 2
    adds = [l for l in a.layers if l.op == "add"]
    assert len(adds) == 10  # blocks 3, 5, 6, 8, 9, 10, 12, 13, 15, 16
    assert a.dropout == {"classifier": 0.2}


@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("size", [32, 112, 144, 224])
def test_mobilenetv2_widths_and_sizes(width, size):
    a = zoo.build("mobilenetv2", (3, size, size), 10, width=width)
    assert len(a.compute_layers()) == 53
    first = a.layers[1]
    assert first.attrs["out_channels"] == int(32 * width)
    assert a.layers[-1].out_shape == (10,)
    head = [l for l in a.layers if l.name == "head"][0]
    assert head.attrs["out_channels"] == 1280
    if size == 32 and width in (0.35, 1.0):
        macs, params, shape = _torch_counts(a)
        assert (macs, params, tuple(shape)) == (a.macs(), a.params(), (1, 10))


def test_mobilenetv2_relu_variant_and_errors():
    a = zoo.build("mobilenetv2:activation=relu,width=0.5", (3, 64, 64), 100)
    assert {l.activation for l in a.compute_layers()} == {"relu", "none"}
    assert a.classes == 100
    with pytest.raises(ConfigError, match="relu6 or relu"):
        zoo.build("mobilenetv2:activation=gelu", (3, 32, 32), 10)
    with pytest.raises(ConfigError, match="needs image input"):
        zoo.build("mobilenetv2", (784,), 10)


@pytest.mark.parametrize("spec,shape,classes,params", [
    ("mlp:widths=32/64", (1, 28, 28), 10, 27_882),          # the 784-32-64-10 MNIST MLP
    ("mlp:widths=20", (117,), 2, 117 * 20 + 20 + 20 * 2 + 2),  # a small tabular net (elderly_fall shape)
    ("lenet5", (1, 28, 28), 10, 61_706),
    ("lenet5", (3, 32, 32), 10, 62_006),
    ("resnet20", (3, 32, 32), 10, None),
    ("resnet18", (3, 32, 32), 10, None),
    ("cnn", (1, 8, 8), 10, None),
    ("cnn", (3, 32, 32), 10, None),
])
def test_architectures_match_torch(spec, shape, classes, params):
    a = zoo.build(spec, shape, classes)
    macs, p, out = _torch_counts(a)
    assert macs == a.macs() and p == a.params() and tuple(out) == (1, classes)
    if params is not None:
        assert a.params() == params


def test_resnet18_imagenet_matches_torchvision_counts():
    a = zoo.build("resnet18", (3, 224, 224), 1000)
    # torchvision resnet18: 11,689,512 parameters of which 9,600 are BatchNorm; 1.814 GMACs
    assert a.params() == 11_689_512 - 9_600
    assert round(a.macs() / 1e9, 3) == 1.814
    assert [l.name for l in a.layers][:3] == ["input", "stem", "maxpool"]


def test_spec_parsing_and_errors():
    name, opts = zoo.parse_spec("MLP:widths=32/64,activation=relu,batchnorm=true")
    assert name == "mlp" and opts == {"widths": [32, 64], "activation": "relu", "batchnorm": True}
    a = zoo.build("mlp:widths=32/64", (64,), 10)
    assert zoo.build(a.spec, (64,), 10).params() == a.params()
    with pytest.raises(ConfigError, match="unknown model"):
        zoo.build("vgg", (3, 32, 32), 10)
    with pytest.raises(ConfigError, match="key=value"):
        zoo.build("mlp:32", (64,), 10)
    with pytest.raises(ConfigError, match="bad option"):
        zoo.build("mlp:depth=3", (64,), 10)
    with pytest.raises(ConfigError, match="at least 16x16"):
        zoo.build("lenet5", (1, 8, 8), 10)
