"""Fitting a model to the compat ISA, the way the original flow quantized for it.

The compat ISA's ``neur_res`` takes an 8-bit unsigned multiplier and a 5-bit
shift per lane, and ``neur_init`` loads a bias only as an int8 mantissa
shifted left. :func:`fit_compat` returns a *new* model whose requantization
multipliers are re-rounded to 8 bits and whose biases are "squeezed" like the
original's (``shift_b = max(floor(log2|b|) - 6, 0)``, mantissa ``b >>
shift_b``). Its numerics differ slightly from the input model's, so every
target built from it - and ``qformat.run`` of it - agree with each other,
not with the unfitted model.
"""

from __future__ import annotations

import math

import numpy as np

from qformat.requant import quantize_multiplier

from ..errors import IbexgenError


def squeeze_bias(b: int) -> int:
    """The original's bias squeeze: keep the top 7 bits plus sign, floor the rest."""
    b = int(b)
    if b == 0:
        return 0
    sh = max(int(math.floor(math.log2(abs(b)))) - 6, 0)
    return (b >> sh) << sh


def fit_compat(model, name: str = "model"):
    """A copy of ``model`` with 8-bit multipliers (shift <= 31) and squeezed biases in every compute layer."""
    out = model.copy()
    quants = {}
    for lay in out.layers:
        if lay.op == "input":
            quants[lay.name] = out.input_quant
            continue
        if lay.op not in ("linear", "conv2d"):
            continue
        where = f"{name}: layer {lay.name!r}"
        if not out.has(lay.name, "requant_multiplier"):
            raise IbexgenError(where, "has no requant_multiplier to fit")
        m = out.get(lay.name, "requant_multiplier").astype(np.float64)
        s = out.get(lay.name, "requant_shift").astype(np.float64)
        real = m * np.exp2(-s)
        if np.any(real <= 0):
            raise IbexgenError(where, "requantization scale must be positive")
        m8, s8 = quantize_multiplier(real, bits=8, max_shift=31)
        if np.any(s8 == 1):
            raise IbexgenError(where, "requantization scale near 1/2 needs shift 1, which the compat ISA rounds wrongly")
        out.set(lay.name, "requant_multiplier", m8.astype(np.int32))
        out.set(lay.name, "requant_shift", s8.astype(np.int32))
        w = out.get(lay.name, "weight_codes").astype(np.int64)
        if out.has(lay.name, "weight_zero_point"):
            zpw = out.get(lay.name, "weight_zero_point").astype(np.int64)
            w = w - (zpw.reshape((-1,) + (1,) * (w.ndim - 1)) if zpw.ndim == 1 and zpw.size > 1 else zpw.reshape(-1)[0])
        qin = lay.quant.input if lay.quant is not None and lay.quant.input is not None else None
        zp_in = qin.zero_point if qin is not None else 0
        fold = w.reshape(w.shape[0], -1).sum(axis=1)
        b = out.get(lay.name, "bias_codes").astype(np.int64) if out.has(lay.name, "bias_codes") \
            else np.zeros(w.shape[0], np.int64)
        eff = b - zp_in * fold
        sq = np.array([squeeze_bias(v) for v in eff], dtype=np.int64)
        out.set(lay.name, "bias_codes", (sq + zp_in * fold).astype(np.int32))
    out.provenance = dict(out.provenance or {}, fitted_by="ibexgen.fit_compat",
                          fit_compat="8-bit requant multipliers (shift <= 31), biases squeezed to int8 << shift")
    return out
