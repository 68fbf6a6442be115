"""Small qformat models for tests: integer-quantized (int2/int4/int8, conv with groups), fp16, float."""

import numpy as np

import qformat as qf


def _codes(w: np.ndarray, bits: int, narrow: bool = True):
    """Symmetric per-output-channel quantization: codes, scales."""
    hi = (1 << (bits - 1)) - 1
    lo = -hi if narrow else -(1 << (bits - 1))
    m = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    s = np.where(m > 0, m / hi, 1.0).astype(np.float32)
    c = np.clip(np.round(w / s.reshape((-1,) + (1,) * (w.ndim - 1))), lo, hi).astype(np.int8)
    return c, s


def int_model(bits=(4, 2, 8), seed: int = 0, narrow: bool = True, prune: float = 0.3) -> qf.Model:
    """input 1x6x6 -> conv 1->4 k3 p1 (bits[0]) -> relu -> depthwise conv 4->4 k3 p1 groups=4 (bits[1])
    -> flatten -> linear 144->5 (bits[2]); integer-only runnable (requant tensors)."""
    rng = np.random.default_rng(seed)
    s_in = qf.ActQuant(bits=8, signed=False, scale=1 / 16, zero_point=0)
    layers = [qf.Layer("input", "input", attrs={"shape": [1, 6, 6]}, quant=qf.LayerQuant(output=s_in)),
              qf.Layer("conv1", "conv2d", ["input"], {"in_channels": 1, "out_channels": 4, "kernel_size": [3, 3],
                                                      "stride": [1, 1], "padding": [1, 1], "groups": 1},
                       activation="relu"),
              qf.Layer("dw", "conv2d", ["conv1"], {"in_channels": 4, "out_channels": 4, "kernel_size": [3, 3],
                                                   "stride": [1, 1], "padding": [1, 1], "groups": 4},
                       activation="relu"),
              qf.Layer("flat", "flatten", ["dw"]),
              qf.Layer("fc", "linear", ["flat"], {"in_features": 144, "out_features": 5})]
    m = qf.Model(layers)
    shapes = {"conv1": (4, 1, 3, 3), "dw": (4, 1, 3, 3), "fc": (5, 144)}
    qin = s_in
    for (name, shp), b in zip(shapes.items(), bits):
        w = rng.normal(size=shp).astype(np.float32)
        w[rng.random(shp) < prune] = 0
        c, s = _codes(w, b, narrow)
        out = qf.ActQuant(bits=8, signed=False, scale=0.05, zero_point=0) if name != "fc" else \
            qf.ActQuant(bits=8, signed=True, scale=0.1, zero_point=0)
        m.set(name, "weight", (c * s.reshape((-1,) + (1,) * (c.ndim - 1))).astype(np.float32))
        m.set(name, "weight_codes", c)
        m.set(name, "weight_scale", s)
        M, sh = qf.requant.quantize_multiplier(qin.scale * s / out.scale, 16)
        m.set(name, "requant_multiplier", np.asarray(M, dtype=np.int32).reshape(-1))
        m.set(name, "requant_shift", np.asarray(sh, dtype=np.int32).reshape(-1))
        m.set_quant(name, qf.LayerQuant(weight=qf.WeightQuant(bits=b, signed=True, scheme="affine", per_channel=True,
                                                              narrow_range=narrow), input=qin, output=out))
        qin = out
    m.validate()
    return m


def fp16_model() -> qf.Model:
    m = int_model()
    m.set_quant("dw", qf.LayerQuant(weight=qf.WeightQuant(bits=16, scheme="fp16")))
    m.delete("dw", "weight_codes")
    return m


def float_model(seed: int = 0) -> qf.Model:
    rng = np.random.default_rng(seed)
    layers = [qf.Layer("input", "input", attrs={"shape": [400]}),
              qf.Layer("fc", "linear", ["input"], {"in_features": 400, "out_features": 3})]
    m = qf.Model(layers)
    m.set("fc", "weight", rng.normal(size=(3, 400)).astype(np.float32))
    return m
