"""Hardware configs: files, per-layer precedence, validation messages."""

from __future__ import annotations

import json

import pytest

from cimnoise.config import CrossbarConfig, HardwareConfig, parse_method
from cimnoise.sweep import SweepGrid, parse_list


def test_json_and_toml_files(tmp_path):
    j = tmp_path / "hw.json"
    j.write_text(json.dumps({"default": {"adc_bits": 6, "read_noise": 0.02},
                             "layers": {"fc1": {"adc_bits": 8}, "re:fc[23]": {"encoding": "offset"}}}))
    t = tmp_path / "hw.toml"
    t.write_text('input_bits = 6\nweight_bits = 4\non_off_ratio = "infinite"\n')
    hw = HardwareConfig.load(j)
    assert hw.for_layer("fc1").adc_bits == 8 and hw.for_layer("fc1").read_noise == 0.02
    assert hw.for_layer("fc2").encoding == "offset" and hw.for_layer("fc2").adc_bits == 6
    assert hw.for_layer("other") == hw.default
    flat = HardwareConfig.load(t)
    assert flat.default.input_bits == 6 and flat.default.gmin == 0.0


def test_exact_name_beats_regex():
    hw = HardwareConfig.parse({"layers": {"re:fc.*": {"adc_bits": 4}, "fc1": {"adc_bits": 8}}})
    assert hw.for_layer("fc1").adc_bits == 8 and hw.for_layer("fc9").adc_bits == 4


def test_bad_configs_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="adc_noise"):
        HardwareConfig.parse({"adc_noise": 0.5})
    with pytest.raises(ValueError, match=r"layers\['fc1'\]"):
        HardwareConfig.parse({"layers": {"fc1": {"weight_slices": 99}}})
    with pytest.raises(ValueError, match="regex"):
        HardwareConfig.parse({"layers": {"re:(": {}}})
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON or TOML"):
        HardwareConfig.load(bad)
    hw = HardwareConfig.parse({"layers": {"fc7": {"adc_bits": 4}}})
    with pytest.raises(ValueError, match="fc7"):
        hw.check_layers(["fc1", "fc2"])


def test_overrides_reach_every_layer():
    hw = HardwareConfig.parse({"layers": {"fc1": {"adc_bits": 8}}}).with_overrides(adc_bits=5)
    assert hw.for_layer("fc1").adc_bits == 5 and hw.default.adc_bits == 5


def test_calibration_methods_and_topology():
    assert parse_method("max", "x") == ("max", None)
    assert parse_method("percentile:99.9", "x") == ("percentile", 99.9)
    assert parse_method("p99", "x") == ("percentile", 99.0)
    with pytest.raises(ValueError):
        parse_method("median", "x")
    a, b = CrossbarConfig(weight_slices=2), CrossbarConfig(weight_slices=1)
    assert a.topology() != b.topology()
    assert CrossbarConfig(read_noise=0.1).topology() == CrossbarConfig().topology()  # noise does not move ranges


def test_sweep_grid():
    g = SweepGrid.parse({"alpha": [0, 0.05], "input_bits": [4, 8], "slices": [1, 2, 8]})
    pts = g.points(HardwareConfig())
    assert g.size() == 12 and len(pts) == 8          # 8 weight slices exceed the 7 magnitude bits: skipped
    assert {p[0]["read_noise"] for p in pts} == {0, 0.05}
    assert parse_list("none,4, 8", int) == [None, 4, 8]
    with pytest.raises(ValueError):
        parse_list("4,x", int)
    with pytest.raises(ValueError, match="sweep grid"):
        SweepGrid.parse({"colour": [1]})
