"""Hand-assembled cases for the custom instructions (compat 0x47 and xmpq custom-0)."""

from __future__ import annotations

import pytest
from helpers import run_both
from hypothesis import given
from hypothesis import strategies as st

from ibexgen.iss.custom import CompatUnit, XmpqUnit, compat_requant, xmpq_requant
from ibexgen.iss.machine import Config

M = 0xFFFFFFFF


def u32(v):
    return v & M


def sv_word(shifts, low=0):
    return (shifts[0] << 27) | (shifts[1] << 20) | (shifts[2] << 13) | (shifts[3] << 6) | low


def test_neur_init_sign_extends_and_shifts():
    def prog(p):
        p.li(5, 0x7F80FF01)
        p.li(6, sv_word((1, 2, 3, 31), 6))
        p.neur_init(5, 6)
    r = run_both(prog).result
    assert r.custom["compat_acc"] == [254, u32(-512), u32(-8), 0x80000000]
    assert r.custom["compat_mode_it"] == [6, 3]


def test_nn_mac_8bit_walks_input_bytes_msb_first():
    # mode 0, unsigned inputs x = (10, 20, 30, 255) with element 0 in bits 31:24
    def prog(p):
        p.li(5, 0)
        p.neur_init(0, 5)                      # zero bias, mode 0
        p.li(7, (10 << 24) | (20 << 16) | (30 << 8) | 255)
        for w in ((1, -1, 2, -2), (3, 0, 0, 0), (0, 0, 0, 1), (-128, 127, 1, 1)):
            p.li(6, sum((v & 0xFF) << (24 - 8 * k) for k, v in enumerate(w)))
            p.nn_mac(8, 6, 7)
    r = run_both(prog).result
    # lane k: w0[k]*10 + w1[k]*20 + w2[k]*30 + w3[k]*255
    want = [1 * 10 + 3 * 20 + 0 - 128 * 255, -10 + 0 + 0 + 127 * 255, 20 + 0 + 0 + 255, -20 + 0 + 30 + 255]
    assert r.custom["compat_acc"] == [u32(v) for v in want]
    assert r.cycles == 2 + 1 + 2 + 4 * (2 + 1) + 5


def test_nn_mac_4bit_pairs_and_signed_inputs():
    # mode 2 + 4 (signed inputs): x = (-1, 2, -3, 4)
    nib = [[1, -8], [2, 7], [-1, 0], [0, 3]]   # per lane (weight for a, weight for b)
    nib2 = [[1, 1], [1, 1], [1, 1], [1, 1]]

    def word(n):
        w = 0
        for k in range(4):
            w |= (n[k][0] & 0xF) << (28 - 4 * k)
            w |= (n[k][1] & 0xF) << (12 - 4 * k)
        return w

    def prog(p):
        p.li(5, 6)
        p.neur_init(0, 5)
        p.li(7, (0xFF << 24) | (2 << 16) | (0xFD << 8) | 4)
        p.li(6, word(nib))
        p.nn_mac(4, 6, 7)        # elements 0, 1
        p.li(6, word(nib2))
        p.nn_mac(4, 6, 7)        # elements 2, 3
    r = run_both(prog).result
    want = [nib[k][0] * -1 + nib[k][1] * 2 + (-3 + 4) for k in range(4)]
    assert r.custom["compat_acc"] == [u32(v) for v in want]


def test_nn_mac_2bit_crumbs_input_major():
    x = [255, 0, 7, 100]
    crumbs = [[(j * 4 + k) % 4 - 2 for k in range(4)] for j in range(4)]   # values in [-2, 1]

    def prog(p):
        p.li(5, 3)
        p.neur_init(0, 5)
        p.li(7, (x[0] << 24) | (x[1] << 16) | (x[2] << 8) | x[3])
        w = 0
        for j in range(4):
            for k in range(4):
                w |= (crumbs[j][k] & 3) << (30 - 2 * (4 * j + k))
        p.li(6, w)
        p.nn_mac(2, 6, 7)
    r = run_both(prog).result
    want = [sum(crumbs[j][k] * x[j] for j in range(4)) for k in range(4)]
    assert r.custom["compat_acc"] == [u32(v) for v in want]


def test_nn_mac_depthwise_lanes():
    def prog(p):
        p.li(5, 1)
        p.neur_init(0, 5)
        p.li(7, 0x01020304)
        p.li(6, 0x05FF0A80)   # weights 5, -1, 10, -128
        p.nn_mac(8, 6, 7)
    r = run_both(prog).result
    assert r.custom["compat_acc"] == [5, u32(-2), 30, u32(-512)]


def test_neur_res_matches_the_rtl_including_the_shift_one_quirk():
    acc = [10, -10, 7, -7]
    got = compat_requant(acc, 0x03030101, sv_word((2, 2, 1, 1)))
    # (30+2)>>2 = 8 ; (-30+2)>>2 = -7 ; (7+1)>>1 = 4 ; negative with s == 1 loses the rounding term: -7>>1 = -4
    assert got == (8 << 24) | ((-7 & 0xFF) << 16) | (4 << 8) | (-4 & 0xFF)
    got = compat_requant([1000, -1000, 300, 0], 0xFFFFFFFF, sv_word((4, 4, 0, 31), 1))
    assert got == (255 << 24) | (0 << 16) | (255 << 8) | 0    # ReLU flag clamps to [0, 255]

    def prog(p):
        p.li(5, sv_word((0, 0, 0, 0), 0))
        p.li(8, 0x0AF60007)                    # bias bytes 10, -10, 0, 7 (shift 0): acc = (10, -10, 0, 7)
        p.neur_init(8, 5)
        p.li(6, 0x03030101)
        p.li(7, sv_word((2, 2, 1, 1)))
        p.neur_res(10, 6, 7)
    r = run_both(prog).result
    assert r.regs[10] == (8 << 24) | ((-7 & 0xFF) << 16) | (0 << 8) | 4
    assert r.cycles == 2 + 2 + 1 + 2 + 2 + 8 + 5


def test_xmpq_instructions():
    def prog(p):
        p.li(5, 1000)
        p.li(6, -1000)
        p.xm_init(0, 5, 6)                     # acc0, acc1
        p.li(5, 7)
        p.li(6, 0x7FFFFFFF)
        p.xm_init(1, 5, 6)                     # acc2, acc3
        p.li(7, 0x04FD0201)                    # elements LSB-first: 1, 2, -3, 4 (signed)
        p.li(8, 0x80FF0102)                    # 8-bit weights lanes LSB-first: 2, 1, -1, -128
        p.xm_mac(0 | 4 | (2 << 3), 8, 7)       # 8-bit, signed, element 2 (= -3)
        p.xm_get(20, 0)
        p.xm_get(21, 3)
    r = run_both(prog).result
    assert r.custom["xmpq_acc"] == [u32(1000 - 6), u32(-1000 - 3), u32(7 + 3), u32(0x7FFFFFFF + 384)]
    assert r.regs[20] == 994 and r.regs[21] == u32(0x7FFFFFFF + 384)


def test_xm_rq_exact_64bit_product_zero_point_and_bounds():
    acc, mult, shift = -123456789, 1518500250, 40     # a 31-bit multiplier
    exact = (acc * mult + (1 << (shift - 1))) >> shift
    params = shift | ((5 & 0xFF) << 8) | ((-100 & 0xFF) << 16) | (100 << 24)
    got = xmpq_requant(acc, 4 | 2, mult, params)
    want = max(-100, min(100, exact + 5))
    assert got == (want & 0xFF) << 16

    def prog(p):
        p.li(5, acc)
        p.xm_init(1, 5, 5)
        p.li(6, mult)
        p.li(7, params)
        p.xm_rq(4 | 2, 10, 6, 7)
    r = run_both(prog).result
    assert r.regs[10] == got
    assert r.cycles == 2 + 1 + 2 + 2 + 2 + 5


@pytest.mark.parametrize("f7", [0x20, 0x40, 1 | (2 << 3), 2 | (1 << 3), 3 | (1 << 3)])
def test_xmpq_reserved_encodings_are_illegal(f7):
    r = run_both(lambda p: p.xm_mac(f7, 0, 0), halt=False).result
    assert r.exit == "fault" and "illegal" in r.fault


def test_disabled_extensions_are_illegal():
    r = run_both(lambda p: p.neur_init(0, 0), cfg=Config(compat=False), halt=False).result
    assert r.exit == "fault" and "illegal" in r.fault
    r = run_both(lambda p: p.xm_mac(0, 0, 0), cfg=Config(xmpq=False), halt=False).result
    assert r.exit == "fault" and "illegal" in r.fault


words = st.integers(0, M)


@given(w=words, x=words, mode=st.integers(0, 7), n=st.integers(1, 9))
def test_compat_mac_sequence_against_dot_products(w, x, mode, n):
    """n MACs of one weight word against a fixed input word follow the documented lanes."""
    u = CompatUnit()
    u.init(0, mode)
    sg = bool(mode & 4)
    xs = [((x >> (24 - 8 * e)) & 0xFF) for e in range(4)]
    xs = [v - 256 if sg and v > 127 else v for v in xs]

    def field(i, width):
        v = (w >> (32 - width * (i + 1))) & ((1 << width) - 1)
        return v - (1 << width) if v >> (width - 1) else v

    want = [0] * 4
    for step in range(n):
        u.mac(w, x)
        it = step % 4
        for k in range(4):
            m = mode & 3
            if m == 0:
                want[k] += field(k, 8) * xs[it]
            elif m == 1:
                want[k] += field(k, 8) * xs[k]
            elif m == 2:
                a = 2 * (it % 2)
                want[k] += field(k, 4) * xs[a] + field(k + 4, 4) * xs[a + 1]
            else:
                want[k] += sum(field(4 * j + k, 2) * xs[j] for j in range(4))
    assert u.acc == [((v + 2**31) % 2**32) - 2**31 for v in want]


@given(acc=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=4, max_size=4),
       m=st.lists(st.integers(0, 255), min_size=4, max_size=4), s=st.lists(st.integers(2, 31), min_size=4, max_size=4),
       relu=st.booleans())
def test_neur_res_equals_exact_rounding_when_no_overflow(acc, m, s, relu):
    """With s >= 2 and |acc*m| + 2**(s-1) < 2**31 the RTL equals qformat's rule."""
    mv = sum(v << (24 - 8 * k) for k, v in enumerate(m))
    got = compat_requant(acc, mv, sv_word(s, int(relu)))
    for k in range(4):
        if abs(acc[k] * m[k]) + (1 << (s[k] - 1)) >= 2**31:
            continue
        exact = (acc[k] * m[k] + (1 << (s[k] - 1))) >> s[k]
        lo, hi = (0, 255) if relu else (-128, 127)
        assert (got >> (24 - 8 * k)) & 0xFF == max(lo, min(hi, exact)) & 0xFF


@given(w=words, x=words, f7=st.sampled_from([c | (sg << 2) | (sel << 3) for c, sels in ((0, 4), (1, 2), (2, 1), (3, 1))
                                             for sel in range(sels) for sg in (0, 1)]))
def test_xmpq_mac_lanes_lsb_first(w, x, f7):
    u = XmpqUnit()
    u.mac(f7, w, x)
    sg, sel, code = bool(f7 & 4), (f7 >> 3) & 3, f7 & 3
    xs = [(x >> (8 * e)) & 0xFF for e in range(4)]
    xs = [v - 256 if sg and v > 127 else v for v in xs]

    def field(i, width):
        v = (w >> (width * i)) & ((1 << width) - 1)
        return v - (1 << width) if v >> (width - 1) else v

    for k in range(4):
        if code == 0:
            want = field(k, 8) * xs[sel]
        elif code == 1:
            want = field(k, 4) * xs[2 * sel] + field(k + 4, 4) * xs[2 * sel + 1]
        elif code == 2:
            want = sum(field(4 * j + k, 2) * xs[j] for j in range(4))
        else:
            want = field(k, 8) * xs[k]
        assert u.acc[k] == want
