"""Calibration: methods, per-topology tables and the precedence of ranges."""

from __future__ import annotations

import numpy as np
import pytest

from cimnoise.calibrate import (
    Calibration,
    CalibrationEntry,
    calibrate_adc,
    calibrate_input,
    ideal_adc_crossbars,
    input_quant_error,
    resolve_ranges,
)
from cimnoise.config import CrossbarConfig
from cimnoise.crossbar import LayerRanges
from cimnoise.dist import ChannelDist
from cimnoise.layers import AnalogLayer
from cimnoise.quant import InputDAC, adc_quantizer


@pytest.fixture(scope="module")
def layer_and_data():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.2, (8, 30))
    x = np.maximum(rng.standard_t(3, (5000, 30)), 0)  # heavy tail: clipping pays off
    return AnalogLayer("l", "linear", w), x, ChannelDist.from_samples(x, 64)


def test_input_methods(layer_and_data):
    layer, x, dist = layer_and_data
    top = calibrate_input(layer, dist, CrossbarConfig(input_bits=4, input_calibration="max"))
    assert top == pytest.approx(x.max(), rel=1e-6)
    p = calibrate_input(layer, dist, CrossbarConfig(input_bits=4, input_calibration="percentile:99"))
    assert p == pytest.approx(np.percentile(x, 99), rel=0.05)
    opt = calibrate_input(layer, dist, CrossbarConfig(input_bits=4, input_calibration="optimize"))
    err = lambda r: input_quant_error(layer, dist, InputDAC(4, False, r))  # noqa: E731
    assert opt < top and err(opt) < err(top) and err(opt) <= err(p) * 1.0001


@pytest.mark.parametrize("enc", ["differential", "offset"])
def test_adc_methods(layer_and_data, enc):
    layer, x, dist = layer_and_data
    cfg = CrossbarConfig(input_bits=8, weight_bits=8, adc_bits=5, encoding=enc, weight_slices=2)
    cbs = ideal_adc_crossbars(layer, cfg, LayerRanges(float(x.max()), False))
    a = [v for v, _ in cbs[0].adc_inputs(x)]
    mx = calibrate_adc(cbs, cfg, [x], "max")
    for s, vals in enumerate(a):
        assert mx[s, 1] == pytest.approx(np.abs(vals).max() if enc == "differential" else vals.max())
    pc = calibrate_adc(cbs, cfg, [x], "percentile:99")
    assert np.all(pc[:, 1] <= mx[:, 1])
    opt = calibrate_adc(cbs, cfg, [x], "optimize")
    for s, vals in enumerate(a):
        def err(r, vals=vals):
            q = adc_quantizer(5, r[0], r[1], enc)
            return np.mean((q(vals) - vals) ** 2)
        assert err(opt[s]) <= err(mx[s]) * 1.0001
    full = calibrate_adc(cbs, cfg, [x], "full")
    assert np.all(full[:, 1] >= mx[:, 1])


def test_range_precedence(layer_and_data):
    layer, x, dist = layer_and_data
    cfg = CrossbarConfig(adc_bits=6)
    cal = Calibration()
    cal.add(CalibrationEntry("l", cfg.topology(), LayerRanges(1.5, False, np.array([[-2.0, 2.0]]))))
    r = resolve_ranges(layer, cfg, dist, cal)
    assert r.input_range == 1.5 and r.adc[0, 1] == 2.0
    r = resolve_ranges(layer, cfg.model_copy(update={"input_range": 3.0, "adc_range": [[-1.0, 1.0]]}), dist, cal)
    assert r.input_range == 3.0 and r.adc[0, 1] == 1.0
    other = cfg.model_copy(update={"encoding": "offset"})             # another topology: calibrated now
    r = resolve_ranges(layer, other, dist, cal)
    assert r.input_range == pytest.approx(x.max(), rel=1e-6) and r.adc[0, 0] >= 0.0
    again = resolve_ranges(layer, other, dist, cal)
    np.testing.assert_array_equal(r.adc, again.adc)                   # seeded: reproducible


def test_calibration_rows_round_trip():
    cal = Calibration()
    cal.add(CalibrationEntry("a", "t1", LayerRanges(1.0, True, np.array([[-1.0, 1.0], [-0.5, 0.5]])), "max", "optimize", "data"))
    cal.add(CalibrationEntry("b", "t1", LayerRanges(2.0, False, None)))
    back = Calibration.from_rows(cal.rows())
    assert back.get("a", "t1").ranges.input_signed and back.get("b", "t1").ranges.adc is None
    np.testing.assert_array_equal(back.get("a", "t1").ranges.adc, cal.get("a", "t1").ranges.adc)
