"""Whole networks: a numpy forward pass with hooks, and network-level estimate and simulation.

:class:`Network` interprets a :class:`qformat.Model` in float (the same
semantics as ``qformat.run(mode="float")``) but lets a hook replace any
compute layer's pre-activation output — the crossbar simulator in Monte Carlo,
noise injection when probing noise propagation.

Network-level estimate (the seed project's rule, with its bugs fixed): each
compute layer's per-channel output-noise power from the estimator, propagated
to the logits through the probe's noise-propagation matrices and summed
(independent layers, linear superposition).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .calibrate import Calibration, resolve_ranges
from .config import HardwareConfig
from .crossbar import LayerMapping
from .dist import ChannelDist
from .estimator import LayerEstimate, correlation_gain, estimate_mapping, snr_db
from .layers import AnalogLayer

Hook = Callable[[str, AnalogLayer, np.ndarray], np.ndarray]


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _act(y: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(y, 0.0)
    if activation == "relu6":
        return np.clip(y, 0.0, 6.0)
    return y


def _pool(x: np.ndarray, attrs: dict, kind: str) -> np.ndarray:
    k = _pair(attrs.get("kernel_size", 1))
    s = _pair(attrs.get("stride", attrs.get("kernel_size", 1)))
    p = _pair(attrs.get("padding", 0))
    if p[0] or p[1]:
        x = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=-np.inf if kind == "max" else 0.0)
    win = sliding_window_view(x, k, axis=(2, 3))[:, :, ::s[0], ::s[1]]
    return win.max(axis=(-1, -2)) if kind == "max" else win.mean(axis=(-1, -2))


class Network:
    """A qformat model as numpy, with per-compute-layer hooks."""

    def __init__(self, model):
        model.validate()
        self.layers = list(model.layers)
        self._input_shape = tuple(model.input_shape)
        self.analog: dict[str, AnalogLayer] = {lay.name: AnalogLayer.from_qformat(model, lay) for lay in model.compute_layers()}
        if not self.analog:
            raise ValueError("the model has no linear or conv2d layer to map onto crossbars")
        last = self.layers[-1]
        self.logits_name = last.inputs[0] if last.op == "softmax" else last.name
        self._last_values: dict = {}

    @property
    def compute_names(self) -> list[str]:
        return list(self.analog)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input_shape

    def forward(self, x: np.ndarray, hook: Optional[Hook] = None, record: Optional[dict] = None,
                start: Optional[tuple[dict, str, np.ndarray]] = None) -> np.ndarray:
        """Logits of a batch ``x (B, *input_shape)``.

        ``hook(name, layer, x_in)`` returns a compute layer's pre-activation
        output (default: the float layer). ``record`` (a dict) receives
        ``name -> (input, pre-activation output)`` of every compute layer.
        ``start=(values, name, pre)`` resumes from the cached ``values`` of an
        earlier call with layer ``name``'s pre-activation output replaced.
        """
        vals: dict[str, np.ndarray] = {}
        skip_until = None
        if start is None and tuple(np.shape(x)[1:]) != self._input_shape:
            raise ValueError(f"inputs of shape {tuple(np.shape(x)[1:])} do not fit the model input {self._input_shape}")
        if start is not None:
            cached, name, pre = start
            vals = dict(cached)
            lay = next(lay for lay in self.layers if lay.name == name)
            vals[name] = _act(pre, lay.activation)
            skip_until = name
        for lay in self.layers:
            if skip_until is not None:
                if lay.name == skip_until:
                    skip_until = None
                continue
            ins = [vals[i] for i in lay.inputs]
            op = lay.op
            if op == "input":
                y = np.asarray(x, dtype=np.float64)
            elif op in ("linear", "conv2d"):
                al = self.analog[lay.name]
                pre = hook(lay.name, al, ins[0]) if hook is not None else al.ideal(ins[0])
                if record is not None:
                    record[lay.name] = (ins[0], pre)
                y = _act(pre, lay.activation)
            elif op in ("relu", "relu6"):
                y = _act(ins[0], op)
            elif op == "maxpool2d":
                y = _pool(ins[0], lay.attrs, "max")
            elif op == "avgpool2d":
                y = _pool(ins[0], lay.attrs, "avg")
            elif op == "global_avgpool":
                y = ins[0].mean(axis=(2, 3), keepdims=True)
            elif op == "flatten":
                y = ins[0].reshape(ins[0].shape[0], -1)
            elif op == "add":
                y = _act(ins[0] + ins[1], lay.activation)
            elif op == "concat":
                y = np.concatenate(ins, axis=1)
            elif op == "softmax":
                y = ins[0]  # logits are what we measure; softmax is monotone per row
            else:
                raise ValueError(f"layer {lay.name!r}: op {op!r} is not supported")
            vals[lay.name] = y
        self._last_values = vals
        return vals[self.logits_name]

    def values(self) -> dict:
        """Every layer's output of the last :meth:`forward` call."""
        return self._last_values


# ---------------------------------------------------------------------------- probe-driven estimate
@dataclass
class NetworkEstimate:
    """Per-layer estimates and their propagation to the logits."""

    layers: list[LayerEstimate]
    logit_var: Optional[np.ndarray]          # (classes,) predicted logit noise variance
    logit_power: Optional[float]             # mean clean logit power E[z²]
    seconds: float = 0.0
    acc_clean: Optional[float] = None
    acc_drop: Optional[float] = None
    layer_logit_var: dict = field(default_factory=dict)

    @property
    def snr_db(self) -> float:
        if self.logit_var is None or self.logit_power is None:
            return float("nan")
        return snr_db(self.logit_power, float(np.mean(self.logit_var)))

    @property
    def snr_first_db(self) -> float:
        return self.layers[0].snr_db if self.layers else float("nan")


def layer_dist(probe, name: str) -> ChannelDist:
    if not probe.has_site(name, "in"):
        raise KeyError(f"the probe statistics have no input site for layer {name!r} (site '{name}.in')")
    return ChannelDist.from_stats(probe.site(name, "in"))


def layer_signal(probe, name: str) -> Optional[np.ndarray]:
    """E[y²] per channel of the clean pre-activation output, from the probe's ``<layer>.out`` site."""
    if probe is None or not probe.has_site(name, "out"):
        return None
    st = probe.site(name, "out")
    return np.asarray(st.var, dtype=np.float64) + np.asarray(st.mean, dtype=np.float64) ** 2


def layer_rho(probe, net: Network, name: str) -> Optional[np.ndarray]:
    """Correlation gain of a layer from its probe ``.out`` site (None without one)."""
    if probe is None or not probe.has_site(name, "out"):
        return None
    return correlation_gain(net.analog[name], layer_dist(probe, name), probe.site(name, "out").var)


def build_mappings(net: Network, hw: HardwareConfig, probe=None, calibration: Optional[Calibration] = None,
                   seed: int = 0, vectors: Optional[dict] = None) -> dict[str, LayerMapping]:
    """Map every compute layer with its resolved ranges (explicit > calibration table > calibrated from the probe)."""
    out = {}
    hw.check_layers(net.compute_names)
    for k, name in enumerate(net.compute_names):
        cfg = hw.for_layer(name)
        dist = layer_dist(probe, name) if probe is not None else None
        vec = vectors.get(name) if vectors else None
        ranges = resolve_ranges(net.analog[name], cfg, dist, calibration, vectors=vec, seed=seed + k,
                                rho=layer_rho(probe, net, name))
        out[name] = LayerMapping.build(net.analog[name], cfg, ranges)
    return out


def estimate_network(net: Network, probe, hw: HardwareConfig, calibration: Optional[Calibration] = None,
                     seed: int = 0, mappings: Optional[dict] = None) -> NetworkEstimate:
    """Estimate every compute layer and propagate to the logits through ``probe.noise_prop``."""
    t0 = time.perf_counter()
    mappings = mappings or build_mappings(net, hw, probe, calibration, seed)
    ests = []
    logit_var = None
    per_layer = {}
    for name in net.compute_names:
        est = estimate_mapping(mappings[name], layer_dist(probe, name), layer_signal(probe, name),
                               layer_rho(probe, net, name), probe.site(name, "out") if probe.has_site(name, "out") else None)
        ests.append(est)
        prop = propagate(probe, net, name, est.mse)
        if prop is not None:
            per_layer[name] = prop
            logit_var = prop if logit_var is None else logit_var + prop
        elif name != net.logits_name:
            logit_var = None
            per_layer = {}
            break
    if len(per_layer) != len(ests):
        logit_var = None
    power = None
    sig = layer_signal(probe, net.logits_name)
    if sig is not None:
        power = float(np.mean(sig))
    return NetworkEstimate(ests, logit_var, power, time.perf_counter() - t0, layer_logit_var=per_layer)


def propagate(probe, net: Network, name: str, mse: np.ndarray) -> Optional[np.ndarray]:
    """Logit variance caused by per-channel noise power ``mse`` at layer ``name`` (None without noise_prop)."""
    if probe is not None and name in probe.noise_prop:
        m = np.asarray(probe.noise_prop[name], dtype=np.float64)
        if m.shape[0] != mse.shape[0]:
            raise ValueError(f"noise_prop[{name!r}] has {m.shape[0]} channels, the layer has {mse.shape[0]}")
        return mse @ m
    if name == net.logits_name:
        return mse.copy()  # noise at the logits propagates as itself
    return None


def estimate_accuracy(logits: np.ndarray, labels: np.ndarray, logit_var: np.ndarray, draws: int = 32,
                      seed: int = 0) -> tuple[float, float]:
    """Clean accuracy and the mean accuracy after adding Gaussian logit noise of variance ``logit_var`` per class."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    clean = float(np.mean(logits.argmax(axis=1) == labels))
    rng = np.random.default_rng(seed)
    sd = np.sqrt(np.maximum(np.asarray(logit_var, dtype=np.float64), 0.0))
    accs = [np.mean((logits + sd * rng.standard_normal(logits.shape)).argmax(axis=1) == labels) for _ in range(draws)]
    return clean, float(np.mean(accs))


# ---------------------------------------------------------------------------- Monte Carlo
@dataclass
class LayerSim:
    """Monte-Carlo noise of one layer (clean inputs, this layer analog)."""

    name: str
    mse: np.ndarray      # (O,)
    signal: np.ndarray   # (O,)

    @property
    def noise_power(self) -> float:
        return float(np.mean(self.mse))

    @property
    def snr_db(self) -> float:
        return snr_db(float(np.mean(self.signal)), self.noise_power)


@dataclass
class NetworkSim:
    layers: list[LayerSim]
    logit_mse: Optional[np.ndarray]    # (classes,) measured E[(z_noisy - z)²]
    logit_power: float
    acc_clean: Optional[float] = None
    acc_noisy: Optional[float] = None
    seconds: float = 0.0

    @property
    def snr_db(self) -> float:
        if self.logit_mse is None:
            return float("nan")
        return snr_db(self.logit_power, float(np.mean(self.logit_mse)))

    @property
    def acc_drop(self) -> Optional[float]:
        if self.acc_clean is None or self.acc_noisy is None:
            return None
        return self.acc_clean - self.acc_noisy


def simulate_network(net: Network, x: np.ndarray, mappings: dict[str, LayerMapping], labels: Optional[np.ndarray] = None,
                     seed: int = 0, repeats: int = 1, n_programs: int = 1, per_layer: bool = True,
                     mode: str = "auto") -> NetworkSim:
    """Monte Carlo on real inputs: each layer alone (clean inputs) and the whole noisy network.

    The network pass programs each layer once per repeat (one chip instance)
    and lets noise propagate through the layers.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    rec: dict = {}
    clean = net.forward(x, record=rec)
    sims = []
    if per_layer:
        for name in net.compute_names:
            xin, pre = rec[name]
            mp = mappings[name]
            y = mp.run(xin, rng, n_programs=max(n_programs, 4), mode=mode)
            al = net.analog[name]
            sims.append(LayerSim(name, al.channel_mean((y - pre) ** 2), al.channel_mean(pre * pre)))
    errs, accs = [], []
    for _ in range(repeats):
        noisy = net.forward(x, hook=lambda name, al, xin: mappings[name].run(xin, rng, n_programs=n_programs, mode=mode))
        errs.append(np.mean((noisy - clean) ** 2, axis=0))
        if labels is not None:
            accs.append(float(np.mean(noisy.argmax(axis=1) == labels)))
    acc_clean = float(np.mean(clean.argmax(axis=1) == labels)) if labels is not None else None
    return NetworkSim(sims, np.mean(errs, axis=0), float(np.mean(clean * clean)), acc_clean,
                      float(np.mean(accs)) if accs else None, time.perf_counter() - t0)


def simulate_layers_from_stats(net: Network, probe, mappings: dict[str, LayerMapping], n: int = 2048, seed: int = 0,
                               mode: str = "auto", n_programs: int = 4) -> list[LayerSim]:
    """Monte Carlo of every layer on input vectors drawn from the probe distribution (no dataset needed)."""
    from .calibrate import sample_rows
    rng = np.random.default_rng(seed)
    out = []
    for name in net.compute_names:
        mp = mappings[name]
        al = net.analog[name]
        dist = layer_dist(probe, name)
        vecs = sample_rows(al, dist, n, rng)
        mse = np.zeros(al.out_channels)
        sig = np.zeros(al.out_channels)
        for g, (cb, wm, v) in enumerate(zip(mp.crossbars, al.matrices(), vecs)):
            ideal = v @ wm.T
            y = cb.run(v, rng, mode=mode, n_programs=n_programs)
            idx = al.out_index(g)
            mse[idx] = np.mean((y - ideal) ** 2, axis=0)
            b = al.bias[idx] if al.bias is not None else 0.0
            sig[idx] = np.mean((ideal + b) ** 2, axis=0)
        stored = layer_signal(probe, name)
        out.append(LayerSim(name, mse, stored if stored is not None else sig))
    return out
