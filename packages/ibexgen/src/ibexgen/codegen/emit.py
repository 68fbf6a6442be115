"""C emission: params.h (packed parameters), input.h (one sample), network.c (the network).

Every layer becomes one ``noinline`` function with its dimensions baked in
as constants; ``main`` fills the halos, resets and enables the performance
counters (``mcountinhibit``, like the original's ``pcount_enable``), calls the
layers with a counter mark between them, disables the counters and prints the
output codes and per-layer counts on the simple system's console.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .layout import Buf, c_ident, element_xor
from .netir import NetIR, Op
from .pack import Packed, words_per_input_word

UNROLL = {2: 8, 4: 4, 8: 2}


def c_array(ctype: str, name: str, values, const: bool = True, per_line: int = 12) -> str:
    v = np.asarray(values).reshape(-1)
    if ctype.startswith("uint32"):
        items = [f"0x{int(x) & 0xFFFFFFFF:08x}u" for x in v]
        per_line = 8
    elif ctype == "int32_t":
        items = [str(int(x)) if int(x) != -(1 << 31) else "(-2147483647 - 1)" for x in v]
    else:
        items = [str(int(x)) for x in v]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)] or ["0"]
    body = ",\n    ".join(lines)
    q = "const " if const else ""
    return f"{q}{ctype} {name}[{max(len(v), 1)}] __attribute__((aligned(4))) = {{\n    {body}\n}};\n"


def ctype_of(signed: bool) -> str:
    return "int8_t" if signed else "uint8_t"


class Emitter:
    """Generates the three C files for one IR on one target."""

    def __init__(self, ir: NetIR, target: str, bufs: dict[str, Buf], packed: dict[str, Packed]):
        self.ir, self.target, self.bufs, self.packed = ir, target, bufs, packed
        self.xor = element_xor(target)
        self.fn: dict[str, str] = {}
        self.arr: dict[str, dict[str, str]] = {}
        self.tables: dict[str, list[tuple[str, np.ndarray]]] = {}
        for i, op in enumerate(ir.ops):
            ident = f"{i + 1}_{c_ident(op.name)}"
            self.fn[op.name] = f"L{ident}"
            if op.name in packed:
                self.arr[op.name] = {a.name: f"{a.name}_{ident}" for a in packed[op.name].arrays}
            if op.kind == "add" and op.mult is not None:
                # rshift_round((code - zp) * M, s) for every byte value: exact, and no 64-bit math per element
                tabs = []
                for k, (src, nm) in enumerate(zip(op.inputs, ("RA", "RB"))):
                    t = bufs[src].t
                    codes = np.arange(256) if not t.signed else (np.arange(256) ^ 0x80) - 0x80
                    v = (codes - t.zp).astype(object) * int(op.mult[k])
                    sh = int(op.shift[k])
                    v = np.array([(x + (1 << (sh - 1))) >> sh if sh else x for x in v], dtype=np.int64)
                    v = np.clip(v, -(1 << 31), (1 << 31) - 1)
                    tabs.append((f"{nm}_{ident}", v))
                self.tables[op.name] = tabs
                self.arr[op.name] = {nm: name for nm, (name, _) in zip(("RA", "RB"), tabs)}

    # ---- files ---------------------------------------------------------------
    def params_h(self) -> str:
        out = [f"/* ibexgen: packed parameters, target {self.target}. Generated; do not edit. */\n",
               "#ifndef IBEXGEN_PARAMS_H\n#define IBEXGEN_PARAMS_H\n#include <stdint.h>\n\n"]
        for op in self.ir.ops:
            for name, v in self.tables.get(op.name, []):
                out.append(f"/* add {op.name}: requantized input values indexed by the byte */\n")
                out.append(c_array("int32_t", name, v, const=False))
            p = self.packed.get(op.name)
            if p is None:
                continue
            out.append(f"/* {op.kind} {op.name}: {op.macs} MACs, {p.width}-bit weight fields */\n")
            for a in p.arrays:
                # not const: parameters are data in RAM, loaded at run time, never folded into code
                out.append(c_array(a.ctype, self.arr[op.name][a.name], a.values, const=False))
            out.append("\n")
        out.append("#endif\n")
        return "".join(out)

    def input_h(self, x_codes: np.ndarray) -> str:
        b = self.bufs[self.ir.input]
        raw = b.pack(x_codes, self.xor, b.t.zp)
        words = raw.view("<u4")
        return (f"/* ibexgen: one input sample, {b.t.shape} codes, padded HWC with a halo of {b.hh}x{b.hw}. */\n"
                "#ifndef IBEXGEN_INPUT_H\n#define IBEXGEN_INPUT_H\n#include <stdint.h>\n"
                + c_array("uint32_t", b.sym, words, const=False) + "#endif\n")

    def network_c(self, stack_note: str = "") -> str:
        ir = self.ir
        o = [f"/* ibexgen: {len(ir.ops)} layers for target {self.target}. Generated; do not edit. */\n",
             '#include "ibexgen_rt.h"\n#include "params.h"\n#include "input.h"\n\n']
        for name, b in self.bufs.items():
            if name == ir.input:
                continue
            o.append(f"uint32_t {b.sym}[{b.words}] __attribute__((aligned(4)));  /* {b.t.shape} "
                     f"{'int8' if b.t.signed else 'uint8'} zp {b.t.zp}, halo {b.hh}x{b.hw} */\n")
        n = len(ir.ops)
        o.append(f"uint32_t ibexgen_marks[{2 * (n + 1)}];\n")
        o.append(f"const uint32_t ibexgen_layers = {n};\n\n")
        for op in ir.ops:
            o.append(self.layer(op))
            o.append("\n")
        o.append("int main(void) {\n")
        for name, b in self.bufs.items():
            if name != ir.input and (b.hh or b.hw) and b.t.zp != 0:
                o.append(f"    rt_fill_halo((uint8_t *){b.sym}, {b.ha}, {b.wa}, {b.cp}, {b.hh}, {b.hw}, "
                         f"(uint8_t){b.t.zp});\n")
        o.append("    pcount_reset();\n    pcount_enable(1);\n")
        o.append("#define MARK(i) do { ibexgen_marks[2 * (i)] = rt_mcycle(); ibexgen_marks[2 * (i) + 1] = rt_minstret(); } while (0)\n")
        for i, op in enumerate(ir.ops):
            o.append(f"    MARK({i});\n    {self.fn[op.name]}();\n")
        o.append(f"    MARK({n});\n    pcount_enable(0);\n")
        ob = self.bufs[ir.output]
        t = ob.t
        o.append('    rt_puts("ibexgen out");\n')
        o.append(f"    {{\n        const {ctype_of(t.signed)} *y = (const {ctype_of(t.signed)} *){ob.sym};\n")
        o.append(f"        for (int c = 0; c < {t.C}; c++) for (int h = 0; h < {t.H}; h++) for (int w = 0; w < {t.W}; w++) {{\n"
                 f"            int32_t v = y[((h + {ob.hh}) * {ob.wa} + w + {ob.hw}) * {ob.cp} + (c ^ {self.xor})];\n"
                 f"            rt_putc(' '); if (v < 0) {{ rt_putc('-'); v = -v; }} rt_putdec((uint32_t)v);\n"
                 f"        }}\n    }}\n")
        o.append(f'    rt_puts("\\nibexgen cycles ");\n    rt_putdec(ibexgen_marks[{2 * n}] - ibexgen_marks[0]);\n')
        o.append(f'    rt_puts(" instructions ");\n    rt_putdec(ibexgen_marks[{2 * n + 1}] - ibexgen_marks[1]);\n')
        o.append('    rt_putc(\'\\n\');\n    return 0;\n}\n')
        return "".join(o)

    # ---- layers ----------------------------------------------------------------
    def layer(self, op: Op) -> str:
        head = f"/* {op.kind} {op.name} */\n__attribute__((noinline)) void {self.fn[op.name]}(void) {{\n"
        gen: Callable[[Op], str] = getattr(self, f"k_{op.kind}")
        return head + gen(op) + "}\n"

    def a(self, op: Op, name: str) -> str:
        return self.arr[op.name][name]

    def _io(self, op: Op) -> tuple[Buf, Buf]:
        return self.bufs[op.inputs[0]], self.bufs[op.output]

    # compute kernels -------------------------------------------------------------
    def k_linear(self, op: Op) -> str:
        if self.target == "baseline":
            return self._linear_baseline(op)
        if self.target == "baseline-naive":
            return self._linear_naive(op)
        return self._linear_isa(op)

    def k_conv(self, op: Op) -> str:
        if self.target == "baseline":
            return self._conv_baseline(op)
        if self.target == "baseline-naive":
            return self._conv_naive(op)
        return self._conv_isa(op)

    def k_dwconv(self, op: Op) -> str:
        if self.target in ("baseline", "baseline-naive"):
            return self._dw_baseline(op)
        return self._dw_isa(op)

    def _rq_args(self, op: Op, i: str) -> str:
        ob = self.bufs[op.output]
        return f"{self.a(op, 'M')}[{i}], {self.a(op, 'S')}[{i}], {ob.t.zp}, {op.lo}, {op.hi}"

    def _linear_baseline(self, op: Op) -> str:
        ib, ob = self._io(op)
        p = self.packed[op.name]
        k = p.arrays[0].values.shape[1]
        xt = ctype_of(ib.t.signed)
        dot = "rt_dot_s8" if ib.t.signed else "rt_dot_u8"
        return (f"    const int8_t *w = {self.a(op, 'W')};\n"
                f"    const {xt} *x = (const {xt} *){ib.sym};\n"
                f"    uint8_t *y = (uint8_t *){ob.sym};\n"
                f"    for (int o = 0; o < {op.w.shape[0]}; o++, w += {k}) {{\n"
                f"        int32_t acc = {self.a(op, 'B')}[o] + {dot}(w, x, {k});\n"
                f"        y[o ^ {self.xor}] = (uint8_t)rt_requant(acc, {self._rq_args(op, 'o')});\n"
                f"    }}\n")

    def _store_byte_naive(self, word_expr: str, idx: str, val: str) -> str:
        return (f"{word_expr}[({idx}) >> 2] = ({word_expr}[({idx}) >> 2] & ~(0xFFu << ((({idx}) & 3) * 8))) | "
                f"((uint32_t)({val} & 0xFF) << ((({idx}) & 3) * 8));")

    def _linear_naive(self, op: Op) -> str:
        ib, ob = self._io(op)
        k = self.packed[op.name].arrays[0].values.shape[1]
        xt = ctype_of(ib.t.signed)
        return (f"    for (int o = 0; o < {op.w.shape[0]}; o++) {{\n"
                f"        int32_t acc = {self.a(op, 'B')}[o];\n"
                f"        for (int i = 0; i < {k}; i++) {{\n"
                f"            int32_t xv = ({xt})({ib.sym}[i >> 2] >> ((i & 3) * 8));\n"
                f"            acc += {self.a(op, 'W')}[o * {k} + i] * xv;\n"
                f"        }}\n"
                f"        int32_t v = rt_requant(acc, {self._rq_args(op, 'o')});\n"
                f"        {self._store_byte_naive(ob.sym, 'o', 'v')}\n"
                f"    }}\n")

    def _mac_word(self, width: int, signed: bool, u: int, ind: str) -> str:
        """MAC instructions for input word xj[u] and its weight words."""
        if self.target == "xmpq-compat":
            if width == 2:
                return f"{ind}NN_MAC_2B(w[{u}], xj[{u}]);\n"
            n = words_per_input_word(width)
            mac = "NN_MAC_4B" if width == 4 else "NN_MAC_8B"
            s = f"{ind}{{ uint32_t xv = xj[{u}];"
            s += "".join(f" {mac}(w[{n * u + t}], xv);" for t in range(n))
            return s + " }\n"
        sx = " | XM_SX" if signed else ""
        if width == 2:
            return f"{ind}XM_MAC(XM_W2{sx}, w[{u}], xj[{u}]);\n"
        n = words_per_input_word(width)
        code = "XM_W4" if width == 4 else "XM_W8"
        s = f"{ind}{{ uint32_t xv = xj[{u}];"
        s += "".join(f" XM_MAC({code}{sx} | XM_SEL({t}), w[{n * u + t}], xv);" for t in range(n))
        return s + " }\n"

    def _mac_run(self, width: int, signed: bool, nwords: int, ind: str) -> str:
        """MACs over ``nwords`` consecutive input words at ``xj``, advancing ``w`` (and ``xj``)."""
        wpw = words_per_input_word(width)
        u = min(UNROLL[width], nwords)
        full, rest = divmod(nwords, u)
        s = ""
        if full == 1:
            s += "".join(self._mac_word(width, signed, i, ind) for i in range(u))
            s += f"{ind}w += {u * wpw}; xj += {u};\n"
        elif full > 1:
            s += f"{ind}for (int j = 0; j < {full}; j++, w += {u * wpw}, xj += {u}) {{\n"
            s += "".join(self._mac_word(width, signed, i, ind + "    ") for i in range(u))
            s += f"{ind}}}\n"
        if rest:
            s += "".join(self._mac_word(width, signed, i, ind) for i in range(rest))
            s += f"{ind}w += {rest * wpw}; xj += {rest};\n"
        return s

    def _hoist(self, op: Op, g: str, ind: str) -> str:
        """Load a group's bias/requantization words into locals (kept across the pixel loop)."""
        if self.target == "xmpq-compat":
            return (f"{ind}const uint32_t bw = {self.a(op, 'B')}[{g}], sbw = {self.a(op, 'SB')}[{g}];\n"
                    f"{ind}const uint32_t mvw = {self.a(op, 'MV')}[{g}], svw = {self.a(op, 'SV')}[{g}];\n")
        b, m, p = self.a(op, "B"), self.a(op, "M"), self.a(op, "P")
        return (f"{ind}const int32_t b0 = {b}[4 * {g}], b1 = {b}[4 * {g} + 1], b2 = {b}[4 * {g} + 2], b3 = {b}[4 * {g} + 3];\n"
                f"{ind}const int32_t m0 = {m}[4 * {g}], m1 = {m}[4 * {g} + 1], m2 = {m}[4 * {g} + 2], m3 = {m}[4 * {g} + 3];\n"
                f"{ind}const uint32_t p0 = {p}[4 * {g}], p1 = {p}[4 * {g} + 1], p2 = {p}[4 * {g} + 2], p3 = {p}[4 * {g} + 3];\n")

    def _init(self, ind: str) -> str:
        if self.target == "xmpq-compat":
            return f"{ind}NEUR_INIT(bw, sbw);\n"
        return f"{ind}XM_INIT(0, b0, b1);\n{ind}XM_INIT(1, b2, b3);\n"

    def _res(self, op: Op, dst: str, ind: str) -> str:
        if self.target == "xmpq-compat":
            return f"{ind}{dst} = neur_res(mvw, svw);\n"
        so = "4" if self.bufs[op.output].t.signed else "0"
        lanes = " | ".join(f"XM_RQ({k} | {so}, m{k}, p{k})" for k in range(4))
        return f"{ind}{dst} = {lanes};\n"

    def _linear_isa(self, op: Op) -> str:
        ib, ob = self._io(op)
        p = self.packed[op.name]
        nwords = p.k_mem // 4
        groups = ob.cp // 4
        return (f"    const uint32_t *w = {self.a(op, 'W')};\n"
                f"    uint32_t *y = {ob.sym};\n"
                f"    for (int g = 0; g < {groups}; g++) {{\n"
                f"        const uint32_t *xj = {ib.sym};\n"
                + self._hoist(op, "g", "        ") + self._init("        ")
                + self._mac_run(p.width, ib.t.signed, nwords, "        ")
                + self._res(op, "y[g]", "        ")
                + "    }\n")

    def _conv_geom(self, op: Op):
        ib, ob = self._io(op)
        (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.pad
        return ib, ob, kh, kw, sh, sw, ib.hh - ph, ib.hw - pw

    def _pixel_loop(self, ib: Buf, ob: Buf, sh: int, sw: int, offh: int, offw: int) -> str:
        return (f"        for (int oy = 0; oy < {ob.t.H}; oy++)\n        for (int ox = 0; ox < {ob.t.W}; ox++) {{\n"
                f"            const uint32_t *xw = {ib.sym} + ((oy * {sh} + {offh}) * {ib.wa} + ox * {sw} + {offw}) * {ib.cw};\n"
                f"            uint32_t *yw = {ob.sym} + ((oy + {ob.hh}) * {ob.wa} + ox + {ob.hw}) * {ob.cw};\n")

    def _conv_isa(self, op: Op) -> str:
        """Groups outer (their parameters stay in registers), output pixels inner."""
        ib, ob, kh, kw, sh, sw, offh, offw = self._conv_geom(op)
        p = self.packed[op.name]
        groups = ob.cp // 4
        row = kw * ib.cw
        per_group = kh * row * words_per_input_word(p.width)
        return (f"    const uint32_t *wg = {self.a(op, 'W')};\n"
                f"    for (int g = 0; g < {groups}; g++, wg += {per_group}) {{\n"
                + self._hoist(op, "g", "        ") + self._pixel_loop(ib, ob, sh, sw, offh, offw)
                + "            const uint32_t *w = wg;\n" + self._init("            ")
                + f"            for (int ky = 0; ky < {kh}; ky++) {{\n"
                f"                const uint32_t *xj = xw + ky * {ib.wa * ib.cw};\n"
                + self._mac_run(p.width, ib.t.signed, row, "                ")
                + "            }\n"
                + self._res(op, "yw[g]", "            ")
                + "        }\n    }\n")

    def _dw_isa(self, op: Op) -> str:
        """Groups outer with the group's kernel taps in locals; output pixels inner."""
        ib, ob, kh, kw, sh, sw, offh, offw = self._conv_geom(op)
        groups = ob.cp // 4
        sx = " | XM_SX" if ib.t.signed else ""
        ntap = kh * kw
        taps = ""
        for ky in range(kh):
            for kx in range(kw):
                off = (ky * ib.wa + kx) * ib.cw
                t = ky * kw + kx
                if self.target == "xmpq-compat":
                    taps += f"            NN_MAC_8B(k{t}, xw[{off} + g]);\n"
                else:
                    taps += f"            XM_MAC(XM_DW{sx}, k{t}, xw[{off} + g]);\n"
        loads = "".join(f"        const uint32_t k{t} = {self.a(op, 'W')}[g * {ntap} + {t}];\n" for t in range(ntap))
        return (f"    for (int g = 0; g < {groups}; g++) {{\n" + loads + self._hoist(op, "g", "        ")
                + self._pixel_loop(ib, ob, sh, sw, offh, offw)
                + self._init("            ") + taps + self._res(op, "yw[g]", "            ")
                + "        }\n    }\n")

    def _conv_baseline(self, op: Op) -> str:
        ib, ob, kh, kw, sh, sw, offh, offw = self._conv_geom(op)
        o_, c = op.w.shape[0], op.w.shape[1]
        xt = ctype_of(ib.t.signed)
        sfx = "s8" if ib.t.signed else "u8"
        if c == ib.cp:
            inner = f"                acc += rt_dot_{sfx}(w, row, {kw * c}); w += {kw * c};\n"
        elif c == 1:
            inner = f"                acc += rt_dots_{sfx}(w, row, {kw}, {ib.cp}); w += {kw};\n"
        else:
            inner = (f"                for (int kx = 0; kx < {kw}; kx++, w += {c}) acc += rt_dot_{sfx}(w, row + kx * {ib.cp}, {c});\n")
        return (f"    const {xt} *in = (const {xt} *){ib.sym};\n    uint8_t *out = (uint8_t *){ob.sym};\n"
                f"    for (int oy = 0; oy < {ob.t.H}; oy++)\n    for (int ox = 0; ox < {ob.t.W}; ox++) {{\n"
                f"        const {xt} *px = in + ((oy * {sh} + {offh}) * {ib.wa} + ox * {sw} + {offw}) * {ib.cp};\n"
                f"        uint8_t *py = out + ((oy + {ob.hh}) * {ob.wa} + ox + {ob.hw}) * {ob.cp};\n"
                f"        const int8_t *w = {self.a(op, 'W')};\n"
                f"        for (int o = 0; o < {o_}; o++) {{\n"
                f"            int32_t acc = {self.a(op, 'B')}[o];\n"
                f"            for (int ky = 0; ky < {kh}; ky++) {{\n"
                f"                const {xt} *row = px + ky * {ib.wa * ib.cp};\n" + inner
                + "            }\n"
                f"            py[o ^ {self.xor}] = (uint8_t)rt_requant(acc, {self._rq_args(op, 'o')});\n"
                "        }\n    }\n")

    def _conv_naive(self, op: Op) -> str:
        ib, ob, kh, kw, sh, sw, offh, offw = self._conv_geom(op)
        o_, c = op.w.shape[0], op.w.shape[1]
        xt = ctype_of(ib.t.signed)
        return (f"    for (int oy = 0; oy < {ob.t.H}; oy++)\n    for (int ox = 0; ox < {ob.t.W}; ox++)\n"
                f"    for (int o = 0; o < {o_}; o++) {{\n"
                f"        int32_t acc = {self.a(op, 'B')}[o];\n"
                f"        for (int ky = 0; ky < {kh}; ky++)\n        for (int kx = 0; kx < {kw}; kx++)\n"
                f"        for (int ci = 0; ci < {c}; ci++) {{\n"
                f"            int i = ((oy * {sh} + {offh} + ky) * {ib.wa} + ox * {sw} + {offw} + kx) * {ib.cp} + ci;\n"
                f"            int32_t xv = ({xt})({ib.sym}[i >> 2] >> ((i & 3) * 8));\n"
                f"            acc += {self.a(op, 'W')}[((o * {kh} + ky) * {kw} + kx) * {c} + ci] * xv;\n"
                f"        }}\n"
                f"        int32_t v = rt_requant(acc, {self._rq_args(op, 'o')});\n"
                f"        int j = ((oy + {ob.hh}) * {ob.wa} + ox + {ob.hw}) * {ob.cp} + o;\n"
                f"        {self._store_byte_naive(ob.sym, 'j', 'v')}\n"
                f"    }}\n")

    def _dw_baseline(self, op: Op) -> str:
        ib, ob, kh, kw, sh, sw, offh, offw = self._conv_geom(op)
        c = op.w.shape[0]
        xt = ctype_of(ib.t.signed)
        wt = "int32_t" if self.target == "baseline-naive" else "int8_t"
        return (f"    const {xt} *in = (const {xt} *){ib.sym};\n    uint8_t *out = (uint8_t *){ob.sym};\n"
                f"    for (int oy = 0; oy < {ob.t.H}; oy++)\n    for (int ox = 0; ox < {ob.t.W}; ox++) {{\n"
                f"        const {xt} *px = in + ((oy * {sh} + {offh}) * {ib.wa} + ox * {sw} + {offw}) * {ib.cp};\n"
                f"        uint8_t *py = out + ((oy + {ob.hh}) * {ob.wa} + ox + {ob.hw}) * {ob.cp};\n"
                f"        const {wt} *w = {self.a(op, 'W')};\n"
                f"        for (int c = 0; c < {c}; c++, w += {kh * kw}) {{\n"
                f"            int32_t acc = {self.a(op, 'B')}[c];\n"
                f"            for (int ky = 0; ky < {kh}; ky++)\n"
                f"                for (int kx = 0; kx < {kw}; kx++)\n"
                f"                    acc += w[ky * {kw} + kx] * px[(ky * {ib.wa} + kx) * {ib.cp} + (c ^ {self.xor})];\n"
                f"            py[c ^ {self.xor}] = (uint8_t)rt_requant(acc, {self._rq_args(op, 'c')});\n"
                "        }\n    }\n")

    # byte kernels, shared by every target -------------------------------------------
    def _pix(self, b: Buf, y: str, x: str) -> str:
        return f"(({y} + {b.hh}) * {b.wa} + {x} + {b.hw}) * {b.cp}"

    def k_maxpool(self, op: Op) -> str:
        return self._pool(op, True)

    def k_avgpool(self, op: Op) -> str:
        return self._pool(op, False)

    def _pool(self, op: Op, is_max: bool) -> str:
        ib, ob = self._io(op)
        (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.pad
        xt, yt = ctype_of(ib.t.signed), ctype_of(ob.t.signed)
        if is_max:
            init, acc, fin = f"int32_t r = {ib.t.qmin};", "if (v > r) r = v;", "r"
        else:
            init, acc = "int32_t r = 0;", f"r += v - ({ib.t.zp});"
            if op.mult is not None:
                fin = f"rt_requant(r, {int(op.mult[0])}, {int(op.shift[0])}, {ob.t.zp}, {op.lo}, {op.hi})"
            else:
                fin = f"rt_clamp(rt_div_half_up(r, {kh * kw}) + ({ob.t.zp}), {op.lo}, {op.hi})"
        return (f"    const {xt} *in = (const {xt} *){ib.sym};\n    {yt} *out = ({yt} *){ob.sym};\n"
                f"    for (int oy = 0; oy < {ob.t.H}; oy++)\n    for (int ox = 0; ox < {ob.t.W}; ox++)\n"
                f"    for (int c = 0; c < {ib.cp}; c++) {{\n        {init}\n"
                f"        for (int ky = 0; ky < {kh}; ky++) {{\n"
                f"            int iy = oy * {sh} - {ph} + ky;\n            if (iy < 0 || iy >= {ib.t.H}) continue;\n"
                f"            for (int kx = 0; kx < {kw}; kx++) {{\n"
                f"                int ix = ox * {sw} - {pw} + kx;\n                if (ix < 0 || ix >= {ib.t.W}) continue;\n"
                f"                int32_t v = in[{self._pix(ib, 'iy', 'ix')} + c];\n                {acc}\n"
                f"            }}\n        }}\n"
                f"        out[{self._pix(ob, 'oy', 'ox')} + c] = ({yt})({fin});\n    }}\n")

    def k_add(self, op: Op) -> str:
        ia, ibb = (self.bufs[i] for i in op.inputs)
        ob = self.bufs[op.output]
        ta, tb, yt = ctype_of(ia.t.signed), ctype_of(ibb.t.signed), ctype_of(ob.t.signed)
        if op.mult is not None:
            expr = (f"{self.a(op, 'RA')}[((const uint8_t *)a)[{self._pix(ia, 'y', 'x')} + c]]"
                    f" + {self.a(op, 'RB')}[((const uint8_t *)b)[{self._pix(ibb, 'y', 'x')} + c]]")
        else:
            expr = (f"(a[{self._pix(ia, 'y', 'x')} + c] - ({ia.t.zp})) + (b[{self._pix(ibb, 'y', 'x')} + c] - ({ibb.t.zp}))")
        return (f"    const {ta} *a = (const {ta} *){ia.sym};\n    const {tb} *b = (const {tb} *){ibb.sym};\n"
                f"    {yt} *out = ({yt} *){ob.sym};\n"
                f"    for (int y = 0; y < {ob.t.H}; y++)\n    for (int x = 0; x < {ob.t.W}; x++)\n"
                f"    for (int c = 0; c < {ob.cp}; c++) {{\n"
                f"        int32_t v = {expr};\n"
                f"        out[{self._pix(ob, 'y', 'x')} + c] = ({yt})rt_clamp(v + ({ob.t.zp}), {op.lo}, {op.hi});\n    }}\n")

    def k_clamp(self, op: Op) -> str:
        ib, ob = self._io(op)
        t = ctype_of(ib.t.signed)
        return (f"    const {t} *in = (const {t} *){ib.sym};\n    {t} *out = ({t} *){ob.sym};\n"
                f"    for (int y = 0; y < {ob.t.H}; y++)\n    for (int x = 0; x < {ob.t.W}; x++)\n"
                f"    for (int c = 0; c < {ob.cp}; c++)\n"
                f"        out[{self._pix(ob, 'y', 'x')} + c] = ({t})rt_clamp(in[{self._pix(ib, 'y', 'x')} + c], {op.lo}, {op.hi});\n")

    def k_concat(self, op: Op) -> str:
        ob = self.bufs[op.output]
        s = f"    uint8_t *out = (uint8_t *){ob.sym};\n"
        s += f"    for (int y = 0; y < {ob.t.H}; y++)\n    for (int x = 0; x < {ob.t.W}; x++) {{\n"
        off = 0
        for name in op.inputs:
            b = self.bufs[name]
            s += (f"        for (int c = 0; c < {b.t.C}; c++)\n"
                  f"            out[{self._pix(ob, 'y', 'x')} + ((c + {off}) ^ {self.xor})] = "
                  f"((const uint8_t *){b.sym})[{self._pix(b, 'y', 'x')} + (c ^ {self.xor})];\n")
            off += b.t.C
        return s + "    }\n"
