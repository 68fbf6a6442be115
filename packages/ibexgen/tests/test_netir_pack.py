"""The IR's folded arithmetic equals qformat.run; packing + instruction semantics equal numpy dot products."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures import cnn, mlp, reference, sample, with_zero_points
from hypothesis import given
from hypothesis import strategies as st

from ibexgen.codegen.compat import fit_compat, squeeze_bias
from ibexgen.codegen.netir import from_qformat, run_ir
from ibexgen.codegen.pack import compat_bias, pack_fields, pack_matrix, words_per_input_word
from ibexgen.errors import IbexgenError
from ibexgen.iss.custom import CompatUnit, XmpqUnit

MODELS = [
    ("mlp8", lambda: mlp()),
    ("mlp-2-4", lambda: mlp((("fc1", 2), ("fc2", 4), ("_default", 8)))),
    ("mlp-signed-in", lambda: mlp(signed_input=True)),
    ("mlp-zp", lambda: with_zero_points(mlp())),
    ("cnn-max", lambda: cnn("max", (("conv1", 4), ("pw3", 2), ("_default", 8)))),
    ("cnn-avg", lambda: cnn("avg")),
    ("cnn-global-nores", lambda: cnn("global", residual=False)),
    ("cnn-zp", lambda: with_zero_points(cnn("max"), zp_in=5, zp_w=0)),
]


@pytest.mark.parametrize("name,make", MODELS, ids=[m[0] for m in MODELS])
def test_ir_equals_qformat_run(name, make):
    m = make()
    ir = from_qformat(m)
    for seed in range(3):
        x = sample(m, seed)
        assert np.array_equal(run_ir(ir, x), reference(m, x))


def test_ir_of_fitted_model_equals_its_qformat_run():
    m = fit_compat(mlp((("fc1", 2), ("_default", 4))))
    ir = from_qformat(m)
    x = sample(m, 4)
    assert np.array_equal(run_ir(ir, x), reference(m, x))
    for op in ir.ops:
        assert op.mult.max() <= 255 and op.shift.max() <= 31
        assert all(compat_bias(int(b)) is not None for b in op.bias)


def test_unsupported_things_are_refused_with_the_layer_name():
    import qformat as qf
    m = cnn("max").copy()
    conv = m.layer("conv1")
    m2 = qf.Model([lay if lay.name != "dw2" else qf.Layer("dw2", "conv2d", ["conv1"],
                                                          {**lay.attrs, "groups": 2}, lay.activation, None, lay.quant)
                   for lay in m.layers], m.provenance)
    for lname, tname in m.tensor_keys():
        arr = m.get(lname, tname)
        if lname == "dw2" and tname in ("weight", "weight_codes"):
            arr = np.concatenate([arr] * 4, axis=1)
        m2.set(lname, tname, arr)
    assert conv is not None
    with pytest.raises(IbexgenError, match="dw2.*grouped"):
        from_qformat(m2)


@given(b=st.integers(-(2**31), 2**31 - 1))
def test_squeezed_biases_are_loadable_by_neur_init(b):
    sq = squeeze_bias(b)
    mant, sh = compat_bias(sq)
    assert mant << sh == sq and -128 <= mant <= 127 and 0 <= sh <= 31
    assert abs(sq - b) < max(1, abs(b)) / 64 + 1


@given(data=st.data(), width=st.sampled_from([2, 4, 8]), groups=st.integers(1, 3), words=st.integers(1, 4),
       signed=st.booleans())
def test_packed_weights_drive_both_isas_to_the_dot_product(data, width, groups, words, signed):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    o, k = 4 * groups, 4 * words
    w = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=o * k, max_size=o * k))).reshape(o, k)
    xr = (-128, 127) if signed else (0, 255)
    x = np.array(data.draw(st.lists(st.integers(*xr), min_size=k, max_size=k)))
    want = w @ x
    wpw = words_per_input_word(width)
    for msb in (False, True):
        packed = pack_matrix(w, width, msb)
        assert packed.shape == (groups, words * wpw)
        xw = pack_fields(x.reshape(-1, 4), 8, msb)
        got = []
        for g in range(groups):
            if msb:
                u = CompatUnit()
                u.init(0, {8: 0, 4: 2, 2: 3}[width] | (4 if signed else 0))
                for j in range(words):
                    for t in range(wpw):
                        u.mac(int(packed[g, j * wpw + t]), int(xw[j]))
            else:
                u = XmpqUnit()
                code = {8: 0, 4: 1, 2: 2}[width]
                for j in range(words):
                    for t in range(wpw):
                        u.mac(code | (4 if signed else 0) | (t << 3), int(packed[g, j * wpw + t]), int(xw[j]))
            got.extend(u.acc)
        assert got == want.tolist()
