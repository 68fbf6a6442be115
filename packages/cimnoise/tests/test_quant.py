"""Quantizers, encodings, slicing and tiling: exact arithmetic properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cimnoise.config import CrossbarConfig
from cimnoise.quant import (
    InputDAC,
    UniformQuantizer,
    WeightGrid,
    adc_quantizer,
    encode_weights,
    slice_bits_for,
    tile_rows,
)


@given(st.floats(-1e3, 1e3), st.floats(1e-3, 10), st.integers(-50, 0), st.integers(0, 50),
       st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=30))
def test_uniform_quantizer_properties(origin, delta, kmin, kmax, xs):
    q = UniformQuantizer(origin, delta, kmin, kmax)
    x = np.array(xs)
    y = q(x)
    assert np.all((y >= q.lo - 1e-9 * abs(q.lo) - 1e-12) & (y <= q.hi + 1e-9 * abs(q.hi) + 1e-12))
    inside = (x >= q.lo) & (x <= q.hi)
    # inside the range the error is at most half a step; outside it saturates
    assert np.all(np.abs(y - x)[inside] <= delta / 2 * (1 + 1e-9) + 1e-9)
    assert np.all(y[x > q.hi] == q.hi) and np.all(y[x < q.lo] == q.lo)
    assert np.array_equal(q(y), y)  # idempotent


def test_round_half_to_even():
    q = UniformQuantizer(0.0, 1.0, -8, 8)
    assert list(q(np.array([0.5, 1.5, 2.5, -0.5, -1.5]))) == [0.0, 2.0, 2.0, -0.0, -2.0]


@given(st.integers(2, 12), st.booleans(), st.integers(1, 4), st.lists(st.floats(-3, 3), min_size=1, max_size=40))
def test_dac_slices_reconstruct_codes(bits, signed, k, xs):
    dac = InputDAC(bits, signed, 2.0, k)
    codes = dac.codes(np.array(xs))
    assert np.all(codes == np.rint(codes))
    lm = dac.lmax
    assert codes.min() >= (-lm if signed else 0) and codes.max() <= lm
    sl = dac.slice_values(codes)
    assert np.all(np.abs(sl) <= 1.0 + 1e-12)
    np.testing.assert_allclose(dac.slice_factors() @ sl, codes, atol=1e-9)


def test_dac_levels_match_crosssim():
    u = InputDAC(4, False, 1.5)
    assert u.step == pytest.approx(1.5 / 15) and u.quantizer().n_levels == 16
    s = InputDAC(4, True, 1.5)
    assert s.step == pytest.approx(1.5 / 7) and s.quantizer().n_levels == 15  # sign-magnitude: 2^b - 1 levels incl. 0
    assert InputDAC(None, False, 2.0).codes(np.array([3.0]))[0] == 1.5    # ideal: no clipping


@given(st.integers(2, 10), st.sampled_from(["differential", "offset"]), st.integers(1, 4), st.booleans(),
       st.floats(0.0, 0.5), st.integers(0, 2 ** 31 - 1))
def test_weight_encodings_reconstruct_integer_weights(bits, encoding, n_slices, per_channel, gmin, seed):
    mag = bits - 1 if encoding == "differential" else bits
    n_slices = min(n_slices, mag)
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(5, 7))
    grid = WeightGrid.build(w, bits, per_channel)
    lm = (1 << (bits - 1)) - 1
    assert np.all(np.abs(grid.w_int) <= lm) and np.all(grid.w_int == np.rint(grid.w_int))
    slices, offset = encode_weights(grid, encoding, n_slices, gmin)
    x = rng.random((3, 7))
    total = np.zeros((3, 5))
    for sl in slices:
        for _, g in sl.sides:
            assert np.all(g >= gmin - 1e-12) and np.all(g <= 1 + 1e-12)  # conductances within [Gmin, Gmax]
        total += sl.factor * (x @ sl.g - sl.gmin_offset * x.sum(axis=1, keepdims=True))
    total -= offset * x.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(total, x @ grid.w_int.T, atol=1e-8)


def test_slice_bits_rule():
    assert slice_bits_for(8, 2, "differential") == 4
    assert slice_bits_for(8, 3, "differential") == 3   # ceil(7/3)
    assert slice_bits_for(8, 3, "offset") == 3          # ceil(8/3)
    assert slice_bits_for(7, 2, "offset") == 4


@given(st.integers(1, 5000), st.integers(1, 2000))
def test_tiles_cover_rows(n, rows_max):
    tiles = tile_rows(n, rows_max)
    sizes = [t.stop - t.start for t in tiles]
    assert sum(sizes) == n and all(0 < s <= rows_max for s in sizes)
    assert tiles[0].start == 0 and all(a.stop == b.start for a, b in zip(tiles, tiles[1:]))
    assert len(tiles) == -(-n // rows_max)


def test_tiles_crosssim_example():
    assert [t.stop - t.start for t in tile_rows(1152, 256)] == [230, 230, 230, 230, 232]


def test_adc_quantizers():
    d = adc_quantizer(4, -2.0, 2.0, "differential")
    assert d.n_levels == 15 and d.delta == pytest.approx(4.0 / 14)  # Δ = 2L/(2^b - 2)
    o = adc_quantizer(4, 0.5, 2.0, "offset")
    assert o.n_levels == 16 and o.lo == 0.5 and o.hi == pytest.approx(2.0)


def test_config_rejects_inconsistent_designs():
    with pytest.raises(ValueError):
        CrossbarConfig(weight_bits=None, weight_slices=2)
    with pytest.raises(ValueError):
        CrossbarConfig(weight_bits=4, weight_slices=4)  # 3 magnitude bits
    with pytest.raises(ValueError):
        CrossbarConfig(adc_noise=0.5)  # LSB needs an ADC
    with pytest.raises(ValueError):
        CrossbarConfig(input_bits=None, input_slice_bits=1)
    assert CrossbarConfig(encoding="balanced").encoding == "differential"
    assert CrossbarConfig(on_off_ratio="infinite").gmin == 0.0
