"""The interpreter's vectorised ops against slow, obvious loops, and integer semantics."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
from qformat.interp import conv2d, div_round_half_up, linear
from qformat.reference_ptq import reference_ptq


def naive_conv2d(x, w, stride, padding, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    sh, sw = stride
    ph, pw = padding
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, ho, wo), dtype=np.result_type(x, w))
    og = o // groups
    for b in range(n):
        for oc in range(o):
            g = oc // og
            for i in range(ho):
                for j in range(wo):
                    acc = 0
                    for ci in range(cg):
                        for u in range(kh):
                            for v in range(kw):
                                acc += xp[b, g * cg + ci, i * sh + u, j * sw + v] * w[oc, ci, u, v]
                    out[b, oc, i, j] = acc
    return out


@given(st.integers(1, 2), st.sampled_from([1, 2, 4]), st.integers(1, 3), st.integers(4, 7),
       st.sampled_from([1, 3]), st.integers(1, 2), st.integers(0, 1), st.integers(0, 2**31 - 1))
def test_conv2d_matches_loops(n, groups, per_group, size, k, stride, pad, seed):
    rng = np.random.default_rng(seed)
    c = groups * per_group
    o = groups * 2
    x = rng.integers(-128, 128, (n, c, size, size))
    w = rng.integers(-127, 128, (o, per_group, k, k))
    got = conv2d(x, w, (stride, stride), (pad, pad), groups, integer=True)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, naive_conv2d(x, w, (stride, stride), (pad, pad), groups))
    gotf = conv2d(x.astype(float), w.astype(float), (stride, stride), (pad, pad), groups)
    np.testing.assert_allclose(gotf, naive_conv2d(x, w, (stride, stride), (pad, pad), groups))


@given(st.integers(0, 2**31 - 1))
def test_linear_integer_exact(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-(2**15), 2**15, (3, 50))
    w = rng.integers(-(2**15), 2**15, (4, 50))
    ref = np.array([[sum(int(a) * int(b) for a, b in zip(xr, wr)) for wr in w] for xr in x])
    np.testing.assert_array_equal(linear(x, w, integer=True), ref)


@given(st.integers(-10**6, 10**6), st.integers(1, 50))
def test_div_round_half_up(num, den):
    import math
    from fractions import Fraction
    assert div_round_half_up(np.array(num), den) == math.floor(Fraction(num, den) + Fraction(1, 2))


def naive_int_forward(model, x):
    """Integer inference written per scalar, straight from SPEC.md (MLPs)."""
    q = model.input_quant
    v = [[min(max(int(round(float(t) / q.scale)) + q.zero_point, q.qmin), q.qmax) for t in row] for row in x]
    for lay in model.compute_layers():
        lq = lay.quant
        W = model.get(lay.name, "weight_codes")
        B = model.get(lay.name, "bias_codes")
        M = model.get(lay.name, "requant_multiplier")
        S = model.get(lay.name, "requant_shift")
        out = []
        for row in v:
            r = []
            for o in range(W.shape[0]):
                acc = sum((a - lq.input.zero_point) * int(w) for a, w in zip(row, W[o])) + int(B[o])
                y = (acc * int(M[o]) + ((1 << (int(S[o]) - 1)) if S[o] > 0 else 0)) >> int(S[o])
                y += lq.output.zero_point
                lo = max(lq.output.qmin, lq.output.zero_point) if lay.activation == "relu" else lq.output.qmin
                r.append(min(max(y, lo), lq.output.qmax))
            out.append(r)
        v = out
    return np.array(v)


def test_int_mode_matches_scalar_reference(mlp):
    x = np.random.default_rng(3).normal(size=(6, 64))
    q = reference_ptq(mlp, x, weight_bits={"fc1": 4, "fc2": 8})
    np.testing.assert_array_equal(qf.run(q, x, mode="int", raw=True), naive_int_forward(q, x))


def test_int_close_to_float_and_fake(cnn):
    x = np.random.default_rng(0).random((16, 1, 8, 8))
    q = reference_ptq(cnn, x)
    f, i, k = qf.run(cnn, x), qf.run(q, x, mode="int"), qf.run(q, x, mode="fake")
    assert np.abs(f - i).max() < 0.02
    assert np.abs(k - i).max() < 0.02
    assert (f.argmax(1) == i.argmax(1)).mean() >= 0.9


def test_return_all_and_raw_codes_in_range(cnn):
    x = np.random.default_rng(0).random((4, 1, 8, 8))
    q = reference_ptq(cnn, x, weight_bits=4)
    outs = qf.run(q, x, mode="int", raw=True, return_all=True)
    for lay in q.layers:
        lq = lay.quant
        if lq is not None and lq.output is not None:
            assert outs[lay.name].min() >= lq.output.qmin and outs[lay.name].max() <= lq.output.qmax
    assert outs["res"].min() >= 0  # relu on the residual add


def test_relu6_clamps_at_six():
    m = qf.Model([qf.Layer("input", "input", attrs={"shape": [2]}),
                  qf.Layer("r", "relu6", ["input"])])
    np.testing.assert_array_equal(qf.run(m, np.array([[-1.0, 9.0]])), [[0.0, 6.0]])


def test_int_mode_requires_quantization(mlp):
    with pytest.raises(qf.QFormatError, match="integer mode"):
        qf.run(mlp, np.zeros((1, 64)), mode="int")


def test_wrong_input_shape(mlp):
    with pytest.raises(qf.QFormatError, match="does not match the model input"):
        qf.run(mlp, np.zeros((1, 63)))


def test_accumulator_overflow_detected(mlp):
    x = np.ones((1, 64))
    q = reference_ptq(mlp, x)
    q.set("fc1", "bias_codes", np.full(32, 2**31 - 1, dtype=np.int32))
    with pytest.raises(qf.QFormatError, match="overflow"):
        qf.run(q, np.full((1, 64), 1.0), mode="int")
