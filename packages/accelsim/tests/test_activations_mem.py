"""Activation quantization, interleaving, loading; memory images and their word widths."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.activations import interleave, load_acts, quantize_acts, to_binary_lines
from accelsim.core import lane_positions
from accelsim.memimage import (
    en_width,
    index_width,
    neuron_memories,
    parse,
    render,
    write_memories,
)
from accelsim.network import from_matrices


def test_quantizer_half_to_even_and_clamp():
    x = np.array([32.5, 33.5, -0.5, 0.5, 1.5, 640.0, -640.0]) / 64
    assert quantize_acts(x).tolist() == [32, 34, 0, 0, 2, 127, -128]
    assert quantize_acts(np.array([0.0078125 * 3]), 8, 6).tolist() == [2]     # 1.5 -> 2


@given(x=st.lists(st.floats(-4, 4, allow_nan=False), min_size=1, max_size=50))
def test_quantizer_matches_python_round(x):
    want = [max(-128, min(127, round(v * 64))) for v in x]          # Python round is half to even
    assert quantize_acts(np.array(x)).tolist() == want


@given(n=st.integers(1, 100), groups=st.integers(1, 16))
def test_interleave_is_the_simulators_interleaved_order(n, groups):
    v = np.arange(1, n + 1)
    got = interleave(v, groups)
    pos = lane_positions(n, groups, "interleaved").reshape(-1)
    pad = np.zeros(len(pos), dtype=v.dtype)
    pad[:n] = v
    assert got.tolist() == pad[pos].tolist()
    assert interleave(v, 1).tolist() == v.tolist()


def test_binary_lines():
    assert to_binary_lines([1, -1, -128], 8) == "00000001\n11111111\n10000000\n"


def test_load_original_json(tmp_path):
    doc = {"samples": [{"data": [np.full((28, 28), 0.5).tolist()], "label": 7},
                       {"data": [np.zeros((28, 28)).tolist()], "label": 1}]}
    p = tmp_path / "s.json"
    p.write_text(json.dumps(doc))
    x, labels, codes = load_acts(str(p), (784,))
    assert x.shape == (2, 784) and labels.tolist() == [7, 1] and not codes
    assert quantize_acts(x)[0, 0] == 32


def test_load_npy_shapes(tmp_path):
    p = tmp_path / "a.npy"
    np.save(p, np.zeros((3, 28, 28), dtype=np.int16))
    x, _, codes = load_acts(str(p), (784,))
    assert x.shape == (3, 784) and codes
    with pytest.raises(ValueError, match="do not fit"):
        load_acts(str(p), (10,))
    with pytest.raises(FileNotFoundError):
        load_acts(str(tmp_path / "missing.npy"))


def test_widths():
    assert [index_width(c) for c in (1, 2, 3, 4, 5, 8, 9, 16, 17)] == [1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert [en_width(s) for s in (1, 2, 3, 4, 15, 16, 17)] == [1, 2, 2, 3, 4, 5, 5]


def _layer(mats, name="network.0"):
    return {sl.name: sl for sl in from_matrices(mats)}[name]


@pytest.mark.parametrize("fmt", ["hex", "bin", "mif"])
@pytest.mark.parametrize("S,C,order", [(16, 16, "sequential"), (15, 5, "interleaved"), (4, 8, "sequential")])
def test_memories_roundtrip_and_content(mats, tmp_path, fmt, S, C, order):
    sl = _layer(mats)
    mems = {m.name: m for m in neuron_memories(sl, 0, S, C, order)}
    G = -(-784 // S)
    assert mems["container_idx"].depth == mems["en_acc"].depth == G * S
    assert mems["weight"].depth == C and mems["weight"].width == 8
    assert mems["container_idx"].width == index_width(C) and mems["en_acc"].width == en_width(S)
    for p, m in zip(write_memories(list(mems.values()), tmp_path, fmt), mems.values()):
        text = p.read_text()
        assert parse(text, fmt) == m.words.tolist()
        if fmt != "mif":
            data = [ln for ln in text.splitlines() if not ln.startswith("//")]
            assert len({len(ln) for ln in data}) == 1                # no ragged lines
    # every lane's container holds that lane's weight (5 fractional bits, as the original .mif)
    pos = lane_positions(784, S, order).reshape(-1)
    w = np.zeros(len(pos))
    w[pos < 784] = mats["network.0"][0][pos[pos < 784]]
    en = mems["en_acc"].words
    wcode = np.where(mems["weight"].words > 127, mems["weight"].words - 256, mems["weight"].words)
    cont = mems["container_idx"].words
    assert np.array_equal(np.where(en > 0, wcode[cont], 0), np.rint(w * 32).astype(int))
    assert np.all((en > 0) == (w != 0))


def test_memory_errors(mats):
    sl = _layer(mats)
    with pytest.raises(ValueError, match="infeasible"):
        neuron_memories(sl, 0, 16, 4)
    with pytest.raises(ValueError, match="does not fit"):
        neuron_memories(sl, 0, 16, 16, weight_bits=4)


def test_render_mif_header(mats):
    m = neuron_memories(_layer(mats, "network.4"), 0, 8, 8)[2]
    text = render(m, "mif")
    assert f"WIDTH={m.width};" in text and f"DEPTH={m.depth};" in text and text.rstrip().endswith("END;")
