"""Conformance fixtures: each JSON document says whether it is valid and, if not, where and why."""

import json
from pathlib import Path

import pytest

import qformat as qf
from qformat.spec import validate_meta

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
CASES = sorted(FIXTURES.glob("*/*.json"))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_fixture(path):
    doc = json.loads(path.read_text())
    conf = doc.pop("_conformance")
    assert conf["valid"] == (path.parent.name == "valid")
    if conf["valid"]:
        meta = validate_meta(doc, path.name)
        assert meta.kind == doc["kind"]
    else:
        with pytest.raises(qf.QFormatError) as ei:
            validate_meta(doc, path.name)
        line = str(ei.value)
        assert "\n" not in line and line.startswith(path.name)
        assert conf["where"] in line, line
        assert conf["why"] in line, line


def test_fixture_count():
    assert len([c for c in CASES if c.parent.name == "invalid"]) >= 8
