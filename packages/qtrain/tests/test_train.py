"""Training: the digits accuracy targets (real runs), QAT, and exact resume after an interruption."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import qformat as qf
from qtrain import quant, zoo
from qtrain.errors import ConfigError
from qtrain.export import quantized_model
from qtrain.graph import GraphNet
from qtrain.intsim import IntegerModel
from qtrain.train import TrainConfig, evaluate, fit


@pytest.mark.parametrize("which", ["digits_mlp", "digits_cnn"])
def test_float_digits_at_least_95_percent_in_under_a_minute(which, request):
    net, acc, res = request.getfixturevalue(which)
    assert acc >= 0.95, acc
    assert res.seconds < 60
    assert res.best_epoch >= 1 and res.val_acc == max(h["val_acc"] for h in res.history)


@pytest.mark.parametrize("which,method", [("digits_mlp", "lsq"), ("digits_cnn", "lsq"), ("digits_cnn", "dorefa")])
def test_4bit_qat_within_two_points_and_integer_bit_exact(which, method, request, digits, calib):
    net, float_acc, _ = request.getfixturevalue(which)
    qnet = quant.prepare_qat(net, "w4a4", calib, weight_method=method)
    res = fit(qnet, digits, TrainConfig(epochs=8, batch_size=64, lr=5e-4, seed=0))
    fake_acc, _ = evaluate(res.net, digits.loader("test", 512))
    m = quantized_model(res.net)
    assert m.layer(m.compute_layers()[0].name).quant.weight.bits == 4
    x, y = digits.loader("test", 1000).arrays()
    ref = qf.run(m, x, mode="int", raw=True)
    np.testing.assert_array_equal(IntegerModel(m).run(torch.from_numpy(x)).numpy(), ref)
    int_acc = float((ref.argmax(1) == y).mean())
    assert int_acc >= float_acc - 0.02, (float_acc, fake_acc, int_acc)
    assert fake_acc >= float_acc - 0.02
    codes = m.get(m.compute_layers()[0].name, "weight_codes")
    assert codes.min() >= -7 and codes.max() <= 7


def _small_run(digits, ckpt, stop_after=None, resume=False, quantized=False, calib=None):
    torch.manual_seed(123)  # perturb the global RNG: fit must not depend on it
    arch = zoo.build("cnn:dropout=0.2,hidden=16", digits.input_shape, digits.classes)
    net = GraphNet.from_arch(arch, seed=0)
    if quantized:
        net = quant.prepare_qat(net, "w4a4", calib)

    def stop(epoch, rec):
        if stop_after is not None and epoch + 1 == stop_after:
            raise KeyboardInterrupt

    return fit(net, digits, TrainConfig(epochs=4, batch_size=128, seed=7), checkpoint=ckpt, resume=resume,
               run_key="k", on_epoch_end=stop)


@pytest.mark.parametrize("quantized", [False, True])
def test_resume_reaches_the_uninterrupted_result(tmp_path, digits, calib, quantized):
    full = _small_run(digits, tmp_path / "a.ckpt", quantized=quantized, calib=calib)
    with pytest.raises(KeyboardInterrupt):
        _small_run(digits, tmp_path / "b.ckpt", stop_after=2, quantized=quantized, calib=calib)
    resumed = _small_run(digits, tmp_path / "b.ckpt", resume=True, quantized=quantized, calib=calib)
    assert resumed.resumed_from == 2
    assert [h["val_acc"] for h in resumed.history] == [h["val_acc"] for h in full.history]
    a, b = full.net.state_dict(), resumed.net.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_another_run(tmp_path, digits):
    _small_run(digits, tmp_path / "c.ckpt")
    arch = zoo.build("cnn", digits.input_shape, digits.classes)
    with pytest.raises(ConfigError, match="different run"):
        fit(GraphNet.from_arch(arch), digits, TrainConfig(epochs=1), checkpoint=tmp_path / "c.ckpt", resume=True,
            run_key="other")


def test_config_errors_and_device(digits):
    net = GraphNet.from_arch(zoo.build("mlp", digits.input_shape, digits.classes))
    with pytest.raises(ConfigError, match="unknown optimizer"):
        fit(net, digits, TrainConfig(epochs=1, optimizer="lion"))
    if torch.cuda.is_available():  # pragma: no cover - depends on the machine
        res = fit(net, digits, TrainConfig(epochs=1, device="cuda"))
        assert next(res.net.parameters()).is_cuda
    else:
        with pytest.raises(ConfigError, match="no GPU"):
            fit(net, digits, TrainConfig(epochs=1, device="cuda"))


def test_sgd_and_constant_schedule_train(digits):
    net = GraphNet.from_arch(zoo.build("mlp:widths=64", digits.input_shape, digits.classes), seed=0)
    t0 = time.perf_counter()
    res = fit(net, digits, TrainConfig(epochs=5, optimizer="sgd", schedule="constant", warmup_epochs=1,
                                       label_smoothing=0.1, grad_clip=5.0, select="last"))
    assert res.best_epoch == 5 and res.val_acc > 0.8 and time.perf_counter() - t0 < 30


def test_checkpoint_none_writes_nothing(tmp_path, monkeypatch, digits):
    monkeypatch.chdir(tmp_path)
    net = GraphNet.from_arch(zoo.build("mlp:widths=8", digits.input_shape, digits.classes), seed=0)
    fit(net, digits, TrainConfig(epochs=1), checkpoint="none")
    assert list(tmp_path.iterdir()) == []
