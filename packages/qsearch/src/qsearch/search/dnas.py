"""DNAS: a differentiable search over per-layer precisions with truly shared weights.

The supernet is the float network (qtrain's :class:`~qtrain.graph.GraphNet`)
with, per compute layer, one set of weights and, per option, a weight
quantizer (per-channel symmetric LSQ step, round to nearest, straight-through)
and an input-activation quantizer (PACT clip; unsigned after ReLU/ReLU6).
Every forward pass mixes the options with probabilities ``pi`` (Gumbel-softmax
of the logits ``alpha`` at temperature ``tau``) *inside* one convolution::

    w_eff = sum_p pi_p * Qw_p(w)          x_eff = sum_g (sum_{p in g} pi_p) * Qa_g(x)
    y     = conv(x_eff, w_eff)            (one convolution per layer, EdMIPS-style)

where ``g`` runs over the distinct activation formats of the options. When
the options share one activation format (``--int-only`` with int8
activations) this *is* ``sum_p pi_p conv(Qa(x), Qw_p(w))`` exactly (conv is
linear in w; tested against the per-option reference). A step therefore
costs about one quantized forward, not one per option.

Alternating optimisation: weights (and quantizer steps/clips) on the
**train** split; ``alpha`` on the **validation** split (carved from train);
the test split is never touched during the search. Cost: the expected
latency / weight bytes / flash / bit-ops / peak RAM under ``softmax(alpha /
tau)`` from the cost model's tables, either as a soft penalty
(``cost_weight * E[cost] / cost(all-int8)``) or as hard budgets enforced with
Lagrange multipliers updated by dual ascent. Discretisation: argmax, then a
greedy repair if the discrete map is over a budget.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..cost.model import CostModel
from ..options import Option, OptionSpace

SCHEDULES = ("exponential", "cosine")
PENALTY_METRICS = ("latency_ms", "weight_bytes", "flash", "bitops", "peak_ram")


@dataclass
class DnasConfig:
    """Hyper-parameters of the search (recorded in provenance and the checkpoint hash)."""

    epochs: int = 8
    warmup_epochs: int = 1
    batch_size: int = 64
    w_lr: float = 1e-3
    w_wd: float = 0.0
    a_lr: float = 0.05
    t0: float = 5.0
    tmin: float = 0.1
    schedule: str = "exponential"
    gumbel_hard: bool = False
    grad_clip: float = 1.0
    objective: str = "latency_ms"
    cost_weight: float = 0.0
    budgets: dict = field(default_factory=dict)
    lambda_lr: float = 0.05
    lambda_max: float = 20.0
    alpha_every: int = 1
    seed: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def temperature(epoch: int, cfg: DnasConfig) -> float:
    """Annealed Gumbel-softmax temperature at ``epoch`` (0-based) of ``cfg.epochs``."""
    n = max(1, cfg.epochs - 1)
    t = min(max(epoch, 0), n) / n
    if cfg.schedule == "exponential":
        return float(cfg.t0 * (cfg.tmin / cfg.t0) ** t)
    if cfg.schedule == "cosine":
        return float(cfg.tmin + (cfg.t0 - cfg.tmin) * 0.5 * (1.0 + math.cos(math.pi * t)))
    raise ValueError(f"unknown temperature schedule {cfg.schedule!r} (one of {', '.join(SCHEDULES)})")


# ----------------------------------------------------------------------------- quantizers
class MixedQuant(nn.Module):
    """Per-option weight and input-activation quantization of one compute layer, mixed by probabilities."""

    def __init__(self, weight_shape: tuple[int, ...], options: list[Option], act_signed: bool,
                 act_max: Optional[float]):
        super().__init__()
        from qtrain.quant import ActQuantizer
        from qtrain.quant.functional import lsq_grad_factor, qrange

        self.options = list(options)
        self.wbits = [o.wbits for o in options]
        self.wkind = ["fp32" if (o.is_float and o.wbits == 32) else "fp16" if o.is_float else "int" for o in options]
        self.wsteps = nn.ParameterDict()
        self._wrange: dict[str, tuple[int, int, float]] = {}
        numel_per_ch = int(np.prod(weight_shape[1:]))
        for o, k in zip(options, self.wkind):
            if k == "int" and f"w{o.wbits}" not in self.wsteps:
                self.wsteps[f"w{o.wbits}"] = nn.Parameter(torch.ones(weight_shape[0]))
                lo, hi = qrange(o.wbits, True, narrow=True)
                self._wrange[f"w{o.wbits}"] = (lo, hi, lsq_grad_factor(numel_per_ch, hi))
        # Activation formats and which options use each.
        self.act_keys: list[str] = []
        groups: dict[str, list[int]] = {}
        for j, o in enumerate(options):
            key = f"a{o.abits}" if not o.is_float else ("fp32" if o.abits == 32 else "fp16")
            groups.setdefault(key, []).append(j)
        self.act_groups = [(k, v) for k, v in groups.items()]
        self.aq = nn.ModuleDict()
        for key, _ in self.act_groups:
            if key.startswith("a"):
                self.aq[key] = ActQuantizer(bits=int(key[1:]), signed=act_signed, fmt="int", learn=True, alpha=1.0,
                                            max_alpha=act_max)

    def quant_weight(self, w: torch.Tensor, j: int) -> torch.Tensor:
        """Option ``j``'s fake-quantized weight."""
        from qtrain.quant.functional import fake_quant, fp16_ste

        k = self.wkind[j]
        if k == "fp32":
            return w
        if k == "fp16":
            return fp16_ste(w)
        key = f"w{self.wbits[j]}"
        lo, hi, gf = self._wrange[key]
        s = self.wsteps[key].abs().clamp_min(1e-12).reshape((-1,) + (1,) * (w.dim() - 1))
        return fake_quant(w, s, lo, hi, lsq=True, grad_factor=gf)

    def quant_input(self, x: torch.Tensor, key: str) -> torch.Tensor:
        from qtrain.quant.functional import fp16_ste

        if key == "fp32":
            return x
        if key == "fp16":
            return fp16_ste(x)
        return self.aq[key](x)

    def mix_weight(self, w: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """``sum_p pi_p Qw_p(w)`` over the active options: one fused autograd node (:class:`_MixWeight`)
        instead of a per-channel fake-quant node, a product and a sum per option."""
        if not FAST_MIX:
            return self.mix_weight_reference(w, probs)
        active = _active(probs)
        specs, steps = [], []
        for j in active:
            k = self.wkind[j]
            if k != "int":
                specs.append((k, 0, 0, 1.0))
                continue
            key = f"w{self.wbits[j]}"
            lo, hi, gf = self._wrange[key]
            specs.append(("int", lo, hi, gf))
            steps.append(self.wsteps[key].abs().clamp_min(1e-12))
        p = probs[active] if len(active) != probs.shape[0] else probs
        return _MixWeight.apply(w, p, tuple(specs), *steps)

    def mix_weight_reference(self, w: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """The obvious composite weight mix (test oracle)."""
        active = _active(probs)
        out = None
        for j in active:
            t = probs[j] * self.quant_weight(w, j)
            out = t if out is None else out + t
        return out

    def mix_input(self, x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """``sum_g (sum_{p in g} pi_p) Qa_g(x)``: one fused autograd node (see :class:`_MixAct`).

        The composite (:meth:`mix_input_reference`) makes ~4 extra full passes over the activation
        per format in forward and in backward (``p * Q`` and its ``MulBackward``: a product for
        ``dL/dp`` and one for ``dL/dQ``), which dominated the alpha step. Falls back to the
        composite when ``FAST_MIX`` is off (benchmarks compare the two).
        """
        if not FAST_MIX:
            return self.mix_input_reference(x, probs)
        active = set(_active(probs))
        keys, idx = [], []
        for key, js in self.act_groups:
            use = [j for j in js if j in active]
            if use:
                keys.append(key)
                idx.append(use)
        if len(idx) == 1 and len(idx[0]) == 1:
            p = probs[idx[0][0]]
        else:
            p = torch.stack([probs[u].sum() if len(u) > 1 else probs[u[0]] for u in idx])
        if p.dim() == 0:
            p = p.reshape(1)
        specs, scales = [], []
        for key in keys:
            if key in ("fp32", "fp16"):
                specs.append((key, 0, 0, False, 1.0))
                continue
            q = self.aq[key]
            if q.fmt != "int" or q.pow2:
                return self.mix_input_reference(x, probs)
            if q._gf is None:
                from qtrain.quant.functional import lsq_grad_factor
                q._gf = lsq_grad_factor(x[0].numel() if x.dim() > 1 else x.numel(), q.qmax)
            specs.append(("int", q.qmin, q.qmax, q.lsq, q._gf))
            scales.append(q.scale().reshape(()))
        return _MixAct.apply(x, p, tuple(specs), *scales)

    def mix_input_reference(self, x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """The obvious composite activation mix (test oracle for :meth:`mix_input`)."""
        active = set(_active(probs))
        out = None
        for key, js in self.act_groups:
            use = [j for j in js if j in active]
            if not use:
                continue
            p = probs[use].sum()
            t = p * self.quant_input(x, key)
            out = t if out is None else out + t
        return out


#: Use the fused activation mix (:class:`_MixAct`); False selects the composite reference.
FAST_MIX = True


class _MixAct(torch.autograd.Function):
    """``y = sum_g p_g Q_g(x)`` for activation formats ``g`` (fp32 identity, fp16 cast, int fake-quant).

    Same values and gradients as the composite of :func:`~qtrain.quant.functional.fp16_ste`,
    :func:`~qtrain.quant.functional.fake_quant` (scalar scale) and ``p * Q`` products, in fewer
    passes: ``dL/dp_g = <g, Q_g(x)>`` is one dot product (the quantized tensors are kept only
    when ``p`` or a clip needs a gradient; int formats keep their integer codes); ``dL/dx = g *
    (p_fp32 + p_fp16) + sum_int p_g * ste_g(g)`` (``fp16_ste``'s gradient is the identity); the
    int scale gradient is qtrain's LSQ/PACT formula applied to ``p_g * g``.
    """

    @staticmethod
    def forward(ctx, x, p, specs, *scales):  # type: ignore[override]
        pv = p.detach().tolist()
        qs = []          # per format: x (fp32), the fp16-rounded x, or the integer codes (int)
        out = None
        si = 0
        for (kind, lo, hi, _lsq, _gf), pg in zip(specs, pv):
            if kind == "fp32":
                q = x
                t = x
            elif kind == "fp16":
                # clamp after the cast (inf -> +-65504): the same values as clamp-then-cast, on half the bytes
                q = x.to(torch.float16).clamp_(-65504.0, 65504.0).to(x.dtype)
                t = q
            else:
                sf = float(scales[si])
                q = torch.div(x, scales[si])
                q.round_().clamp_(lo, hi)
                si += 1
                if out is None:
                    out = q * (sf * pg) if pg != 1.0 else q * sf
                else:
                    out.add_(q, alpha=sf * pg)
                qs.append(q)
                continue
            qs.append(q)
            if out is None:
                out = t * pg
            else:
                out.add_(t, alpha=pg)
        need_q = ctx.needs_input_grad[1] or any(ctx.needs_input_grad[3:])
        ctx.save_for_backward(x, p, *scales, *(qs if need_q else []))
        ctx.specs, ctx.pv, ctx.need_q = specs, pv, need_q
        ctx.nscales = len(scales)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        saved = ctx.saved_tensors
        x, p = saved[0], saved[1]
        scales = saved[2:2 + ctx.nscales]
        qs = saved[2 + ctx.nscales:]
        g = g.contiguous()
        g1 = g.reshape(-1)
        need_x = ctx.needs_input_grad[0]
        sfs = [float(s) for s in scales]
        gq = None
        if ctx.need_q:
            gq = [torch.dot(g1, q.reshape(-1)) for q in qs]      # <g, Q_g(x)> (int: <g, codes>, times s below)
        gp = None
        if ctx.needs_input_grad[1]:
            vals, si = [], 0
            for (kind, *_), d in zip(ctx.specs, gq):
                if kind == "int":
                    d = d * sfs[si]
                    si += 1
                vals.append(d)
            gp = torch.stack(vals).to(p.dtype)
        gx = None
        gscales = [None] * ctx.nscales
        c = 0.0
        si = 0
        for gi, ((kind, lo, hi, lsq, gf), pg) in enumerate(zip(ctx.specs, ctx.pv)):
            if kind == "fp32":
                c += pg
            elif kind == "fp16":
                c += pg                     # fp16_ste: identity gradient (the clamp is inside the detach)
            else:
                s, sf = scales[si], sfs[si]
                m = torch.ops.aten.hardtanh_backward(g, x, lo * sf, hi * sf)     # ste(g); times p_g below
                if ctx.needs_input_grad[3 + si]:
                    other = torch.dot(m.reshape(-1), x.reshape(-1)) if lsq else \
                        torch.dot(m.reshape(-1), qs[gi].reshape(-1)) * sf
                    gscales[si] = ((gq[gi] * sf - other) * pg / s * gf).reshape(s.shape)
                if need_x:
                    if gx is None:
                        gx = m.mul_(pg) if pg != 1.0 else m
                    else:
                        gx.add_(m, alpha=pg)
                si += 1
        if need_x and c != 0.0:
            gx = g * c if gx is None else gx.add_(g, alpha=c)
        if need_x and gx is None:
            gx = torch.zeros_like(x)
        return (gx if need_x else None), gp, None, *gscales


class _MixWeight(torch.autograd.Function):
    """``w_eff = sum_j p_j Qw_j(w)`` (fp32 identity, fp16 cast, int per-channel LSQ fake-quant).

    Same values and gradients as the composite of ``p_j * quant_weight(w, j)``: ``dL/dp_j =
    <g, Qw_j(w)>``; ``dL/dw = g * (sum_float p_j + sum_int p_j [inside_j])`` (straight-through;
    ``fp16_ste`` has an identity gradient, its clamp included);
    ``dL/ds_j`` is the per-channel LSQ gradient of :class:`qtrain.quant.functional._FakeQuantPerChannel`
    applied to ``p_j * g``.
    """

    @staticmethod
    def forward(ctx, w, p, specs, *steps):  # type: ignore[override]
        pv = p.detach().tolist()
        view = (-1,) + (1,) * (w.dim() - 1)
        qs, out, si = [], None, 0
        for (kind, lo, hi, _gf), pg in zip(specs, pv):
            if kind == "fp32":
                q = w
            elif kind == "fp16":
                q = w.clamp(-65504.0, 65504.0).to(torch.float16).to(w.dtype)
            else:
                sv = steps[si].reshape(view)
                q = torch.div(w, sv)
                q.round_().clamp_(lo, hi).mul_(sv)
                si += 1
            qs.append(q)
            out = q * pg if out is None else out.add_(q * pg)
        ctx.save_for_backward(w, p, *steps, *qs)
        ctx.specs, ctx.pv, ctx.nsteps = specs, pv, len(steps)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        saved = ctx.saved_tensors
        w, p = saved[0], saved[1]
        steps = saved[2:2 + ctx.nsteps]
        qs = saved[2 + ctx.nsteps:]
        view = (-1,) + (1,) * (w.dim() - 1)
        o = w.shape[0]
        gp = None
        if ctx.needs_input_grad[1]:
            g1 = g.reshape(-1)
            gp = torch.stack([torch.dot(g1, q.reshape(-1)) for q in qs]).to(p.dtype)
        gw = None
        gsteps = [None] * ctx.nsteps
        c, si = 0.0, 0
        for gi, ((kind, lo, hi, gf), pg) in enumerate(zip(ctx.specs, ctx.pv)):
            if kind == "fp32":
                c += pg
            elif kind == "fp16":
                c += pg                     # fp16_ste: identity gradient
            else:
                s = steps[si]
                sv = s.reshape(view)
                if not (ctx.needs_input_grad[0] or ctx.needs_input_grad[3 + si]):
                    si += 1                 # the alpha step: only dL/dp is wanted
                    continue
                gj = g * pg
                inside = (w > lo * sv) & (w < hi * sv)
                gwj = gj * inside
                if ctx.needs_input_grad[3 + si]:
                    y = qs[gi]
                    gsteps[si] = ((gj * y).reshape(o, -1).sum(1) - (gwj * w).reshape(o, -1).sum(1)) / s * gf
                if ctx.needs_input_grad[0]:
                    gw = gwj if gw is None else gw.add_(gwj)
                si += 1
        if ctx.needs_input_grad[0]:
            if c != 0.0:
                gw = g * c if gw is None else gw.add_(g * c)
            if gw is None:
                gw = torch.zeros_like(w)
        return (gw if ctx.needs_input_grad[0] else None), gp, None, *gsteps


def _active(probs: torch.Tensor) -> list[int]:
    """Options to compute: all of them when gradients flow to the probabilities, else the non-zero ones."""
    if probs.requires_grad:
        return list(range(probs.shape[0]))
    return [int(j) for j in torch.nonzero(probs.detach() != 0).reshape(-1)]


# ----------------------------------------------------------------------------- supernet
@functools.cache
def _supernet_class():
    from qtrain.graph import GraphNet, safe_key

    class SuperNet(GraphNet):
        """A GraphNet whose compute layers mix every precision option over one shared weight tensor."""

        def setup(self, space: OptionSpace, allowed: Mapping[str, list[str]], input_signed: bool) -> None:
            self.space = space
            self.search_layers = [lay.name for lay in self.compute_layers()]
            self.row = {safe_key(n): i for i, n in enumerate(self.search_layers)}
            L, P = len(self.search_layers), len(space)
            mask = torch.zeros(L, P, dtype=torch.bool)
            for i, n in enumerate(self.search_layers):
                for j, o in enumerate(space.names):
                    mask[i, j] = o in allowed.get(n, space.names)
            self.register_buffer("mask", mask)
            init = torch.tensor(space.alpha_init(), dtype=torch.float32)
            self.alpha = nn.Parameter(init.repeat(L, 1))
            self.mixed = nn.ModuleDict()
            for n in self.search_layers:
                signed, amax = self._input_grid(n, input_signed)
                self.mixed[safe_key(n)] = MixedQuant(tuple(self.module(n).weight.shape), space.options, signed, amax)
            self._probs: Optional[torch.Tensor] = None
            self._float_rows: Optional[set[int]] = None

        def _input_grid(self, name: str, input_signed: bool) -> tuple[bool, Optional[float]]:
            src = self.layer(name).inputs[0]
            while True:
                lay = self.layer(src)
                if lay.op == "input":
                    return input_signed, None
                if lay.op in ("relu",):
                    return False, None
                if lay.op == "relu6":
                    return False, 6.0
                if lay.op in ("conv2d", "linear", "add"):
                    if lay.activation == "relu6":
                        return False, 6.0
                    return (lay.activation != "relu"), None
                src = lay.inputs[0]

        def logits_alpha(self) -> torch.Tensor:
            return self.alpha.masked_fill(~self.mask, -1e4)

        def _row(self, k: str) -> Optional[torch.Tensor]:
            """This layer's option probabilities; None (plain float) without probabilities or for a
            row of zeros (how sensitivity analysis quantizes one layer at a time)."""
            if self._probs is None or k not in self.mixed:
                return None
            if self._float_rows is not None and self.row[k] in self._float_rows:
                return None
            return self._probs[self.row[k]]

        def set_probs(self, probs: Optional[torch.Tensor]) -> None:
            self._probs = probs
            self._float_rows = None
            if probs is not None and not probs.requires_grad:
                z = torch.nonzero(probs.detach().abs().sum(1) == 0).reshape(-1)
                self._float_rows = {int(i) for i in z} if len(z) else None

        def weight(self, name: str) -> torch.Tensor:
            k = safe_key(name)
            r = self._row(k)
            if r is not None:
                return self.mixed[k].mix_weight(self.mods[k].weight, r)
            return super().weight(name)

        def _compute(self, lay, x, k):
            r = self._row(k)
            if r is not None:
                x = self.mixed[k].mix_input(x, r)
            return super()._compute(lay, x, k)

        def weight_parameters(self) -> list[nn.Parameter]:
            return [p for n, p in self.named_parameters() if n != "alpha"]

    return SuperNet


def build_supernet(model, space: OptionSpace, allowed: Mapping[str, list[str]], calib: list[torch.Tensor]):
    """The supernet of a float model artifact, its quantizers initialised by calibration on ``calib``."""
    from qtrain.graph import safe_key
    from qtrain.quant import choose_clip, input_is_signed, observe, weight_step

    SuperNet = _supernet_class()
    net = SuperNet.from_model(model)
    net.setup(space, allowed, input_is_signed(calib))
    obs = observe(net, calib)
    with torch.no_grad():
        for n in net.search_layers:
            mq = net.mixed[safe_key(n)]
            w = net.module(n).weight
            for key, step in mq.wsteps.items():
                step.copy_(weight_step(w, int(key[1:]), True, "mse"))
            o = obs[net.layer(n).inputs[0]]
            for q in mq.aq.values():
                hi = o.max if q.max_alpha is None else min(o.max, q.max_alpha)
                q.set_alpha(choose_clip(o.values(), o.min, hi, q.bits, q.signed, "percentile", 99.99))
    return net


# ----------------------------------------------------------------------------- expected costs
class ExpectedCost:
    """Differentiable expected hardware costs of option probabilities (layers x options)."""

    def __init__(self, cm: CostModel):
        t = cm.tables()
        m = cm.memory_structure()
        f32 = torch.float64
        self.lin = {k: torch.tensor(t[k], dtype=f32) for k in ("latency_ms", "weight_bytes", "flash", "bitops")}
        self.const = {"latency_ms": float(t["latency_const"]), "flash": float(t["flash_const"]),
                      "weight_bytes": 0.0, "bitops": 0.0}
        B = len(m["elems"])
        K = max(1, max(len(s) for s in m["sources"].values()))
        P = len(cm.space)
        self.src_layer = torch.zeros(B, K, dtype=torch.long)
        self.src_bytes = torch.zeros(B, K, P, dtype=f32)
        self.fixed = torch.zeros(B, dtype=f32)
        for bid, srcs in m["sources"].items():
            if not srcs:
                self.fixed[bid] = float((m["elems"][bid] * 32 + 7) // 8)
            for k, (l, what) in enumerate(srcs):
                bits = m["abits"] if what == "act" else m["obits"]
                self.src_layer[bid, k] = l
                self.src_bytes[bid, k] = torch.tensor((m["elems"][bid] * bits + 7) // 8, dtype=f32)
        self.live = torch.tensor(m["live"], dtype=f32)
        sl = m["scratch_layer"]
        self.sc_steps = torch.tensor(np.nonzero(sl >= 0)[0], dtype=torch.long)
        self.sc_layer = torch.tensor(sl[sl >= 0], dtype=torch.long)
        self.sc_bytes = torch.tensor(m["scratch"][sl >= 0], dtype=f32)
        self.S = self.live.shape[0]

    def __call__(self, probs: torch.Tensor) -> dict[str, torch.Tensor]:
        p = probs.to(torch.float64)
        out = {k: (p * v).sum() + self.const[k] for k, v in self.lin.items()}
        eb = (p[self.src_layer] * self.src_bytes).sum(-1).amax(-1)      # (B,)
        eb = torch.maximum(eb, self.fixed)
        steps = self.live @ eb
        sc = (p[self.sc_layer] * self.sc_bytes).sum(-1)
        steps = steps.index_add(0, self.sc_steps, sc)
        out["peak_ram"] = steps.max()
        return out


# ----------------------------------------------------------------------------- the search
@dataclass
class DnasResult:
    assignment: dict[str, str]
    argmax: dict[str, str]
    repaired: list[str]
    history: list[dict]
    probs: np.ndarray
    net: Any
    step_seconds: float
    alpha_step_seconds: float
    seconds: float


def run_dnas(model, splits, space: OptionSpace, cm: CostModel, cfg: DnasConfig,
             allowed: Optional[Mapping[str, list[str]]] = None, checkpoint: Optional[str] = None,
             config_for_hash: Optional[dict] = None, log: Optional[Callable[[str], None]] = None,
             max_steps: Optional[int] = None) -> DnasResult:
    """Search a precision map for ``model`` (a float qformat model) on ``splits``.

    ``checkpoint``: state file written after every epoch; a run killed and
    restarted with the same configuration continues from the last finished
    epoch. ``max_steps`` stops early (benchmarks).
    """
    from ..checkpoint import config_hash, load_state, save_state

    log = log or (lambda s: None)
    torch.manual_seed(cfg.seed)
    allowed = dict(allowed or {n: space.names for n in cm.layers})
    calib = [xb for i, (xb, _) in zip(range(4), splits.loader("train", cfg.batch_size))]
    net = build_supernet(model, space, allowed, calib)
    ec = ExpectedCost(cm)
    budgets = {k: float(v) for k, v in (cfg.budgets or {}).items() if v is not None}
    for k in budgets:
        if k not in PENALTY_METRICS:
            raise ValueError(f"unknown budget {k!r} (one of {', '.join(PENALTY_METRICS)})")
    ref_idx = space.index("int8") if "int8" in space.names else 0
    ref = {k: float(v) for k, v in ec(F.one_hot(torch.full((len(cm.layers),), ref_idx), len(space)).double()).items()}
    lambdas = {k: 0.0 for k in budgets}

    wparams = net.weight_parameters()
    w_opt = torch.optim.AdamW(wparams, lr=cfg.w_lr, weight_decay=cfg.w_wd)
    a_opt = torch.optim.Adam([net.alpha], lr=cfg.a_lr, betas=(0.5, 0.999))
    train_loader = splits.loader("train", cfg.batch_size, train=True, seed=cfg.seed)
    val_loader = splits.loader("val", cfg.batch_size, train=True, seed=cfg.seed + 1)
    steps_per_epoch = len(train_loader)
    total_steps = max(1, cfg.epochs * steps_per_epoch)
    history: list[dict] = []
    start = 0
    hkey = config_for_hash if config_for_hash is not None else cfg.to_json()
    if checkpoint:
        st = load_state(checkpoint, hkey)
        if st is not None:
            net.load_state_dict(st["net"])
            w_opt.load_state_dict(st["w_opt"])
            a_opt.load_state_dict(st["a_opt"])
            lambdas, history, start = st["lambdas"], st["history"], int(st["epoch"]) + 1
            torch.set_rng_state(st["rng"])
            log(f"dnas: resuming from {checkpoint} after epoch {start}/{cfg.epochs}")

    t_start = time.perf_counter()
    w_time = a_time = 0.0
    w_n = a_n = 0
    steps_done = 0
    for epoch in range(start, cfg.epochs):
        tau = temperature(epoch, cfg)
        net.train()
        val_iter = iter(val_loader.epoch(epoch))
        sums = {"loss": 0.0, "ce": 0.0, "penalty": 0.0, "n": 0, "correct": 0}
        search_alpha = epoch >= cfg.warmup_epochs
        for i, (xb, yb) in enumerate(train_loader.epoch(epoch)):
            lr = cfg.w_lr * 0.5 * (1 + math.cos(math.pi * (epoch * steps_per_epoch + i) / total_steps))
            for g in w_opt.param_groups:
                g["lr"] = lr
            # ---- weight step (train split); alpha fixed
            t0 = time.perf_counter()
            with torch.no_grad():
                probs = F.gumbel_softmax(net.logits_alpha(), tau=tau, hard=cfg.gumbel_hard)
            net.set_probs(probs)
            out = net.logits(xb)
            loss = F.cross_entropy(out, yb)
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(wparams, cfg.grad_clip)
            w_opt.step()
            w_time += time.perf_counter() - t0
            w_n += 1
            sums["n"] += int(yb.numel())
            sums["correct"] += int((out.detach().argmax(1) == yb).sum())
            sums["ce"] += float(loss.detach()) * int(yb.numel())
            # ---- alpha step (validation split); weights fixed
            if search_alpha and i % max(1, cfg.alpha_every) == 0:
                try:
                    xv, yv = next(val_iter)
                except StopIteration:
                    val_iter = iter(val_loader.epoch(epoch + 1000 * (i + 1)))
                    xv, yv = next(val_iter)
                t1 = time.perf_counter()
                need_cost = bool(cfg.cost_weight) or bool(budgets)

                def penalty(logits_a, tau=tau):
                    exp = ec(F.softmax(logits_a / tau, dim=1))
                    pen = torch.zeros((), dtype=torch.float64)
                    if cfg.cost_weight:
                        pen = pen + cfg.cost_weight * exp[cfg.objective] / max(ref[cfg.objective], 1e-12)
                    for k, b in budgets.items():
                        pen = pen + lambdas[k] * (exp[k] / b - 1.0)
                    return pen, exp

                _, pen, exp = alpha_step(net, wparams, a_opt, xv, yv, tau, cfg.gumbel_hard,
                                         penalty if need_cost else None)
                for k, b in budgets.items():
                    g = float(exp[k].detach()) / b - 1.0
                    lambdas[k] = float(min(cfg.lambda_max, max(0.0, lambdas[k] + cfg.lambda_lr * g)))
                a_time += time.perf_counter() - t1
                a_n += 1
                sums["penalty"] += float(pen.detach()) * int(yb.numel())
            steps_done += 1
            if max_steps is not None and steps_done >= max_steps:
                break
        net.set_probs(None)
        # ---- epoch record: the argmax network on the validation split
        with torch.no_grad():
            logits_a = net.logits_alpha()
            probs = F.softmax(logits_a / tau, dim=1)
            hard = F.one_hot(logits_a.argmax(1), len(space)).float()
            exp = {k: float(v) for k, v in ec(probs).items()}
            net.eval()
            net.set_probs(hard)
            val_acc = _accuracy(net, splits.loader("val", 256))
            net.set_probs(None)
        argmax = {n: space.names[int(j)] for n, j in zip(cm.layers, logits_a.argmax(1))}
        n = max(1, sums["n"])
        rec = {"epoch": epoch + 1, "temperature": tau, "loss": (sums["ce"] + sums["penalty"]) / n, "ce": sums["ce"] / n,
               "penalty": sums["penalty"] / n, "train_acc": sums["correct"] / n, "val_acc": val_acc,
               "alpha_search": bool(search_alpha),
               **{f"expected_{k}": v for k, v in exp.items()}, **{f"lambda_{k}": v for k, v in lambdas.items()},
               "probs": probs.cpu().numpy().tolist(), "argmax": ",".join(argmax[n_] for n_ in cm.layers)}
        history.append(rec)
        if checkpoint:
            save_state(checkpoint, {"config": config_hash(hkey), "net": net.state_dict(), "w_opt": w_opt.state_dict(),
                                    "a_opt": a_opt.state_dict(), "lambdas": lambdas, "history": history,
                                    "epoch": epoch, "rng": torch.get_rng_state()})
        log(f"dnas epoch {epoch + 1}/{cfg.epochs}: tau {tau:.3g} loss {rec['loss']:.4f} val(argmax) {val_acc:.2%} "
            f"E[lat] {exp['latency_ms']:.4g} ms E[ram] {exp['peak_ram']:.0f} B"
            + (f" lambda {', '.join(f'{k}={v:.3g}' for k, v in lambdas.items())}" if lambdas else ""))
        if max_steps is not None and steps_done >= max_steps:
            break

    with torch.no_grad():
        logits_a = net.logits_alpha()
        probs = F.softmax(logits_a, dim=1).cpu().numpy()
    argmax = {n: space.names[int(j)] for n, j in zip(cm.layers, logits_a.argmax(1))}
    assign, repaired = repair(cm, argmax, probs, budgets, allowed)
    return DnasResult(assign, argmax, repaired, history, probs, net, w_time / max(1, w_n), a_time / max(1, a_n),
                      time.perf_counter() - t_start)


def alpha_step(net, wparams, a_opt, xv: torch.Tensor, yv: torch.Tensor, tau: float, gumbel_hard: bool = False,
               penalty: Optional[Callable[[torch.Tensor], tuple[torch.Tensor, dict]]] = None):
    """One architecture step on a validation batch: weights (and quantizer steps) frozen, only ``alpha``
    gets a gradient (``requires_grad`` off on ``wparams``, so no weight/step gradients are formed).

    ``penalty(logits_alpha) -> (pen, expected_costs)`` adds the cost term; without it (no cost weight,
    no budgets) the expected costs are not evaluated. Returns ``(ce, pen, expected_costs)``.
    """
    for p in wparams:
        p.requires_grad_(False)
    try:
        logits_a = net.logits_alpha()
        net.set_probs(F.gumbel_softmax(logits_a, tau=tau, hard=gumbel_hard))
        ce_v = F.cross_entropy(net.logits(xv), yv)
        if penalty is not None:
            pen, exp = penalty(logits_a)
            a_loss = ce_v + pen.float()
        else:
            pen, exp = torch.zeros((), dtype=torch.float64), {}
            a_loss = ce_v
        a_opt.zero_grad(set_to_none=True)
        a_loss.backward()
        a_opt.step()
        with torch.no_grad():
            net.alpha.clamp_(-10.0, 10.0)
    finally:
        for p in wparams:
            p.requires_grad_(True)
    return ce_v.detach(), pen, exp


@torch.no_grad()
def _accuracy(net, loader) -> float:
    c = t = 0
    for xb, yb in loader:
        c += int((net.logits(xb).argmax(1) == yb).sum())
        t += int(yb.numel())
    return c / max(1, t)


def repair(cm: CostModel, assign: Mapping[str, str], probs: np.ndarray, budgets: Mapping[str, float],
           allowed: Mapping[str, list[str]], max_iter: int = 1000) -> tuple[dict[str, str], list[str]]:
    """Greedy fix of a discretised map that is over budget.

    While a budget is exceeded, take the single-layer change to a cheaper
    option that removes the most relative excess per unit of log-probability
    lost. Returns the new map and a description of each change.
    """
    a = dict(assign)
    changes: list[str] = []
    if not budgets:
        return a, changes
    names = cm.space.names
    logp = np.log(np.clip(probs, 1e-12, 1.0))

    def excess(m: Mapping[str, float]) -> float:
        return sum(max(0.0, float(m[k]) / b - 1.0) for k, b in budgets.items())

    m0 = cm.batch(cm.index_of(a)[None])
    cur = excess({k: m0[k][0] for k in budgets})
    it = 0
    while cur > 1e-12 and it < max_iter:
        it += 1
        cands = []
        for li, n in enumerate(cm.layers):
            j0 = names.index(a[n])
            for j, o in enumerate(names):
                if o == a[n] or o not in allowed.get(n, names):
                    continue
                trial = dict(a)
                trial[n] = o
                m = cm.batch(cm.index_of(trial)[None])
                e = excess({k: m[k][0] for k in budgets})
                gain = cur - e
                if gain > 1e-12:
                    cost = max(1e-6, logp[li, j0] - logp[li, j])
                    cands.append((gain / cost, gain, n, o, e))
        if not cands:
            changes.append("no single-layer change reduces the budget excess; map left over budget")
            break
        _, _, n, o, e = max(cands)
        changes.append(f"{n}: {a[n]} -> {o}")
        a[n] = o
        cur = e
    return a, changes
