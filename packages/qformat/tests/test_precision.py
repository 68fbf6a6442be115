"""Precision parsing and the exact > regex > default precedence."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qformat as qf
from qformat import Precision, PrecisionMap


@pytest.mark.parametrize("text,kind,bits,signed", [("fp32", "float", 32, True), ("fp16", "float", 16, True),
                                                    ("int8", "int", 8, True), ("int2", "int", 2, True),
                                                    ("uint4", "int", 4, False), ("INT16", "int", 16, True)])
def test_parse(text, kind, bits, signed):
    p = Precision.parse(text)
    assert (p.kind, p.bits, p.signed) == (kind, bits, signed)


@pytest.mark.parametrize("bad", ["int0", "int17", "float8", "8", ""])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        Precision.parse(bad)


@given(st.integers(1, 16), st.booleans())
def test_str_roundtrip(bits, signed):
    p = Precision("int", bits, signed)
    assert Precision.parse(str(p)) == p


def test_precedence():
    pm = PrecisionMap({"re:conv.*": "int2", "conv1": "int4", "re:conv1": "int8", "_default": "int8"})
    assert str(pm.resolve("conv1").weight) == "int4"           # exact beats regex
    assert str(pm.resolve("conv7").weight) == "int2"           # first regex in order
    assert str(pm.resolve("fc").weight) == "int8"              # default
    assert str(pm.resolve("fc").activation) == "int8"


def test_no_default_means_float():
    assert PrecisionMap({"a": "int4"}).resolve("b") is None


def test_unmatched_key_is_an_error(mlp):
    pm = PrecisionMap({"fc9": "int4", "_default": "int8"})
    with pytest.raises(qf.QFormatError, match="fc9: names no layer"):
        pm.resolve_all(mlp)
    with pytest.raises(qf.QFormatError, match="matches no layer"):
        PrecisionMap({"re:conv.*": "int4"}).resolve_all(mlp)
    assert set(PrecisionMap({"_default": "int8"}).resolve_all(mlp)) == {"fc1", "fc2"}


def test_bad_entries_name_the_key():
    with pytest.raises(qf.QFormatError, match="fc1"):
        PrecisionMap({"fc1": "int99"})
    with pytest.raises(qf.QFormatError, match="bad regex"):
        PrecisionMap({"re:(": "int4"})
    with pytest.raises(qf.QFormatError, match="unknown field"):
        PrecisionMap({"fc1": {"weights": "int4"}})
