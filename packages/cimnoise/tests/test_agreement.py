"""Done-when criterion 1: estimator vs Monte Carlo within 1 dB in >= 95 % of >= 100 single-layer configurations.

Layers: random weights with unsigned (ReLU) and signed inputs, trained digits-MLP layers with unsigned
(pixels, ReLU) and signed (centred pixels, tanh) inputs, and convolutions on digit images. As in use,
the probe statistics and the calibrated ranges come from a calibration split and the Monte Carlo runs
on held-out inputs (simulating the very samples a range was calibrated on would hide clipping).
Random layers get many held-out vectors so rare clipping events are resolved.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from cimnoise.calibrate import resolve_ranges
from cimnoise.config import CrossbarConfig
from cimnoise.crossbar import LayerMapping
from cimnoise.dist import ChannelDist
from cimnoise.estimator import correlation_gain, estimate_mapping
from cimnoise.layers import AnalogLayer
from cimnoise.probe import activation_stats, channel_samples

GRID = list(itertools.product(
    [4, 8],                                   # input bits
    [4, 8],                                   # weight bits
    [0.0, 0.1],                               # read noise α
    ["differential", "offset"],               # encoding
    [1, 2],                                   # weight slices
    [None, 1],                                # input slice bits (bit-serial)
    [None, (5, 0.5), (8, 0.0)],               # ADC (bits, thermal σ in LSB)
    ["max", "percentile:99.9", "optimize"],   # ADC calibration
    [0.0, 0.05],                              # programming error
))
PER_LAYER = 15


@pytest.fixture(scope="module")
def layer_cases(digits_images):
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    d = load_digits()
    x, y = d.data / 16.0, d.target
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        relu = MLPClassifier((48, 32), max_iter=200, random_state=0).fit(x[:900], y[:900])
        tanh = MLPClassifier((48,), activation="tanh", max_iter=200, random_state=0).fit(x[:900] - 0.5, y[:900])
    w1, w2 = relu.coefs_[0].T, relu.coefs_[1].T
    b1, b2 = relu.intercepts_[0], relu.intercepts_[1]
    v1, v2 = tanh.coefs_[0].T, tanh.coefs_[1].T
    rng = np.random.default_rng(0)
    wr = rng.normal(0, 0.1, (24, 96))
    z = rng.normal(0.3, 1.0, (6000, 96))
    conv1 = AnalogLayer("conv1", "conv2d", rng.normal(0, 0.3, (8, 1, 3, 3)), None, (1, 8, 8), (1, 1), (1, 1))
    conv2 = AnalogLayer("conv2", "conv2d", rng.normal(0, 0.1, (12, 8, 3, 3)), None, (8, 8, 8), (1, 1), (1, 1))
    img = digits_images
    h_conv = np.maximum(conv1.ideal(img), 0)
    h_relu = np.maximum(x @ w1.T + b1, 0)
    h_tanh = np.tanh((x - 0.5) @ v1.T + tanh.intercepts_[0])
    # (name, layer, calibration inputs, held-out inputs)
    return [
        ("random/unsigned", AnalogLayer("r", "linear", wr), np.maximum(z[:1500], 0), np.maximum(z[1500:], 0)),
        ("random/signed", AnalogLayer("rs", "linear", wr), z[:1500], z[1500:]),
        ("trained/unsigned pixels", AnalogLayer("fc1", "linear", w1, b1), x[:900], x[900:]),
        ("trained/unsigned relu", AnalogLayer("fc2", "linear", w2, b2), h_relu[:900], h_relu[900:]),
        ("trained/signed centred", AnalogLayer("t1", "linear", v1, tanh.intercepts_[0]), x[:900] - 0.5, x[900:] - 0.5),
        ("trained/signed tanh", AnalogLayer("t2", "linear", v2, tanh.intercepts_[1]), h_tanh[:900], h_tanh[900:]),
        ("conv/unsigned image", conv1, img[:900], img[900:1300]),
        ("conv/unsigned relu", conv2, h_conv[:900], h_conv[900:1300]),
    ]


def _compare(layer, xcal, xeval, point, seed):
    xb, wb, alpha, enc, ws, xs, adc, cal, pe = point
    cfg = CrossbarConfig(input_bits=xb, weight_bits=wb, read_noise=alpha, encoding=enc, weight_slices=ws,
                         input_slice_bits=xs, programming_error=pe, adc_bits=None if adc is None else adc[0],
                         adc_noise=0.0 if adc is None else adc[1], rows=48, adc_calibration=cal)
    dist = ChannelDist.from_samples(channel_samples(xcal), 64)     # the probe's input site
    out = activation_stats(layer.ideal(xcal), 64)                   # the probe's output site
    ranges = resolve_ranges(layer, cfg, dist, vectors=layer.unroll(xcal))
    mp = LayerMapping.build(layer, cfg, ranges)
    est = estimate_mapping(mp, dist, rho=correlation_gain(layer, dist, out.var), out_stats=out)
    y = mp.run(xeval, np.random.default_rng(seed), n_programs=16)
    mc = layer.channel_mean((y - layer.ideal(xeval)) ** 2)
    return float(10 * np.log10(est.noise_power / np.mean(mc))), cfg


def test_estimator_agrees_with_monte_carlo_within_1db(layer_cases):
    rng = np.random.default_rng(2024)
    diffs, report = [], []
    for k, (name, layer, xcal, xeval) in enumerate(layer_cases):
        for j in rng.choice(len(GRID), PER_LAYER, replace=False):
            d, cfg = _compare(layer, xcal, xeval, GRID[j], seed=1000 * k + int(j))
            diffs.append(d)
            report.append(f"{name:26s} {cfg.label():48s} {cfg.adc_calibration:15s} pe={cfg.programming_error:g} {d:+.2f} dB")
    diffs = np.abs(np.array(diffs))
    assert len(diffs) >= 100
    within = float(np.mean(diffs <= 1.0))
    worst = "\n".join(r for r, d in zip(report, diffs) if d > 1.0)
    assert within >= 0.95, f"only {100 * within:.1f} % within 1 dB:\n{worst}"
    assert np.median(diffs) < 0.3
