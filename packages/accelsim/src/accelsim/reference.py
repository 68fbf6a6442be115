"""Slow, obvious reference engine: one neuron, one configuration, one cycle at a time.

Pure Python, written from the original's description (``/work/shared/reference/accelsim.md``)
without sharing code with the fast engine, so the two can be compared case by case.

* :func:`neuron_setup` - ids, zero id, shares and container map exactly as the original;
* :func:`original_loop_v0624` / :func:`original_fsm_v0618` - literal transcriptions of
  the original per-cycle loops, including their stale trace rows;
* :func:`step` - the clean cycle-stepping engine: advances the lane registers one cycle
  at a time, emits one trace row per cycle, accumulates activations into containers,
  and (improved mode) runs the final multiply stage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class NeuronSetup:
    """What the original derives from a neuron's weights for one (S, C, order)."""

    values: list            # all distinct values ascending, zero included if present
    zero_id: int
    freq: dict              # non-zero id -> count
    U: int
    quota: dict | None   # id -> containers (None when U > C)
    cmap: dict | None    # id -> list of container indices
    groups: list            # G lists of S ids (padding = zero_id)
    positions: list         # G lists of S input positions (>= N: padding)


def neuron_setup(weights: Sequence, S: int, C: int, order: str = "sequential") -> NeuronSetup:
    """Ids, shares and groups of one neuron as the original computes them."""
    w = [0.0 if v == 0 else v for v in weights]   # 0.0 and -0.0 are one value
    values = sorted(set(w))
    vid = {v: i for i, v in enumerate(values)}
    zero_id = vid[0.0] if 0.0 in vid else len(values)
    ids = [vid[v] for v in w]
    freq: dict = {}
    for i in ids:
        if i != zero_id:
            freq[i] = freq.get(i, 0) + 1
    U = len(freq)
    quota = cmap = None
    if U <= C:
        keys = sorted(freq)
        if C == U or U == 0:            # U == 0: all-zero neuron, nothing to share
            quota = {k: 1 for k in keys}
        else:
            rem = C - U
            tot = sum(freq.values())
            raw = {k: freq[k] / tot * rem for k in keys}   # this float order matches the reference values
            base = {k: math.floor(raw[k]) for k in keys}
            frac = {k: raw[k] - base[k] for k in keys}
            for _ in range(rem - sum(base.values())):
                best = keys[0]
                for k in keys:                     # argmax, ties -> lowest id
                    if frac[k] > frac[best]:
                        best = k
                base[best] += 1
                frac[best] = 0.0
            quota = {k: base[k] + 1 for k in keys}
        cmap = {}
        nxt = 0
        for k in sorted(quota):
            cmap[k] = list(range(nxt, nxt + quota[k]))
            nxt += quota[k]
    N = len(w)
    G = -(-N // S)
    padded = ids + [zero_id] * (G * S - N)
    if order == "sequential":
        pos = [[g * S + s for s in range(S)] for g in range(G)]
    elif order == "interleaved":
        pos = [[s * G + g for s in range(S)] for g in range(G)]
    else:
        raise ValueError(f"unknown order {order!r}")
    groups = [[padded[p] for p in row] for row in pos]
    return NeuronSetup(values, zero_id, freq, U, quota, cmap, groups, pos)


def group_en(group: list, zero_id: int, quota: dict, cmap: dict, improved: bool = False,
             active: list | None = None) -> tuple[list, list]:
    """en_acc and container of each lane of one group (zero/inactive lanes: 0 and None)."""
    seen: dict = {}
    en, cont = [], []
    for s, i in enumerate(group):
        if i == zero_id or (active is not None and not active[s]):
            en.append(0)
            cont.append(None)
            continue
        seen[i] = seen.get(i, 0) + 1
        k, q = seen[i], quota[i]
        if improved:
            en.append(-(-k // q))
        else:
            en.append(1 if k <= q else k - q + 1)
        cont.append(cmap[i][(k - 1) % q])
    return en, cont


def original_loop_v0624(ens: list) -> tuple[int, list]:
    """The original v0623/v0624 per-cycle loop, verbatim in behaviour.

    ``ens`` is the per-group en list. Returns ``(T, rows)`` with the original's trace
    rows ``(clk, g, *en_acc)`` - state before the update, stale values included.
    """
    G = len(ens)
    S = len(ens[0]) if ens else 0
    clk, g, en_acc, rows = 0, 0, [0] * S, []
    while True:
        if g >= G and all(e <= 1 for e in en_acc):
            break
        rows.append((clk, g, *en_acc))
        if all(e <= 1 for e in en_acc) and g < G:
            en_acc = [max(a, b) for a, b in zip(en_acc, ens[g])]
            g += 1
        else:
            en_acc = [max(e - 1, 0) for e in en_acc]
        clk += 1
    return clk, rows


def original_fsm_v0618(ens: list) -> tuple[int, list]:
    """The original v0618 dispatch FSM. Rows: ``(cycle, state, next_group_index, *en_acc)``."""
    G = len(ens)
    S = len(ens[0]) if ens else 0
    clk, g, state, en_acc, rows = 0, 0, "dispatch_catch", [0] * S, []
    while True:
        if state == "dispatch_catch":
            if g >= G:
                break
            en_acc = list(ens[g])
            g += 1
            rows.append((clk, state, g, *en_acc))
            if any(e > 0 for e in en_acc):
                state = "dispatch"
        else:
            rows.append((clk, state, g, *en_acc))
            if all(e <= 1 for e in en_acc):
                state = "dispatch_catch"
            else:
                en_acc = [max(e - 1, 0) for e in en_acc]
        clk += 1
    return clk, rows


@dataclass
class StepResult:
    """Outcome of :func:`step` for one neuron and configuration."""

    cycles: int | None          # None when infeasible (U > C)
    status: str
    rows: list = field(default_factory=list)   # (cycle, group, phase, step, en_acc list, container list)
    en: list = field(default_factory=list)     # per group en list (what is loaded)
    containers: list = field(default_factory=list)
    sums: list | None = None                # per-container activation sums (one sample)
    output: int | None = None               # sum_c sums[c] * code of c's value
    fires: list | None = None               # accumulations per container
    mult_cycles: int = 0
    U: int = 0


def step(weights: Sequence, S: int, C: int, order: str = "sequential", semantics: str = "v0624",
         acts: Sequence[int] | None = None, codes: Sequence[int] | None = None,
         multipliers: int = 1, trace: bool = True) -> StepResult:
    """Simulate one neuron cycle by cycle (clean trace, no stale values).

    Each cycle every lane register holds a countdown (the lane accumulates when it
    reads 1). ``v0624``: a group's load overlaps the last accumulation of the
    previous one, so a group costs ``max(1, M_g)``. ``v0618``: an extra fetch cycle
    per group (phase ``fetch``), then ``M_g`` accumulate cycles. ``improved``:
    ``en = ceil(k/q)``, groups without active lanes are skipped, lanes whose
    activation is zero are idle (when ``acts`` is given), then a multiply stage of
    ``ceil(U / multipliers)`` cycles. ``acts`` (ints, one sample) also drives the
    functional model: container sums and the output ``sum(sum_c * code_c)`` with
    ``codes`` the integer weights (default: the weights themselves).
    """
    st = neuron_setup(weights, S, C, order)
    if st.quota is None:
        return StepResult(None, f"skip: distinct={st.U} > C={C}", U=st.U)
    improved = semantics == "improved"
    if semantics not in ("v0624", "v0618", "improved"):
        raise ValueError(f"unknown semantics {semantics!r}")
    N = len(weights)
    code_of_id: dict = {}
    wcodes = list(codes) if codes is not None else list(weights)
    ids_flat = {}
    for g, row in enumerate(st.positions):
        for s, p in enumerate(row):
            if p < N:
                ids_flat[p] = st.groups[g][s]
    for p, i in ids_flat.items():
        if i != st.zero_id:
            code_of_id[i] = wcodes[p]
    cont_value = {}
    for i, cs in st.cmap.items():
        for c in cs:
            cont_value[c] = code_of_id[i]
    sums = [0] * C
    fires = [0] * C
    rows: list = []
    clk = 0
    ens, conts = [], []
    for g in range(len(st.groups)):
        active = None
        if improved and acts is not None:
            active = [(p < N and acts[p] != 0) for p in st.positions[g]]
        en, cont = group_en(st.groups[g], st.zero_id, st.quota, st.cmap, improved, active)
        ens.append(en)
        conts.append(cont)
        M = max(en) if en else 0
        if semantics == "v0618":
            if trace:
                rows.append((clk, g, "fetch", 0, [0] * S, list(cont)))
            clk += 1
        if improved and M == 0:
            continue
        n_cycles = max(1, M) if semantics != "v0618" else M
        reg = list(en)
        for j in range(1, n_cycles + 1):
            if trace:
                rows.append((clk, g, "acc", j, list(reg), list(cont)))
            for s in range(S):
                if reg[s] == 1:
                    p = st.positions[g][s]
                    x = acts[p] if (acts is not None and p < N) else 0
                    sums[cont[s]] += x
                    fires[cont[s]] += 1
            reg = [max(r - 1, 0) for r in reg]
            clk += 1
    mult = 0
    if improved:
        mult = -(-st.U // multipliers)
        for j in range(mult):
            if trace:
                rows.append((clk, None, "mul", j + 1, [0] * S, [None] * S))
            clk += 1
    out = None
    if acts is not None:
        out = sum(sums[c] * cont_value[c] for c in range(C) if c in cont_value)
    return StepResult(clk, "ok", rows, ens, conts, sums if acts is not None else None, out, fires, mult, st.U)
