"""The command line: pipes pass artifacts through, tables land in the bundle, bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import qformat as qf
from cimnoise.cli import app

runner = CliRunner()


def _run(args, input=None, code=0):
    r = runner.invoke(app, [str(a) for a in args], input=input)
    assert r.exit_code == code, (r.exit_code, r.stderr, r.exception)
    return r


def _bundle(r):
    return qf.from_bytes(r.stdout_bytes)


def test_estimate_adds_its_table_and_passes_the_rest(bundle_path):
    r = _run(["estimate", bundle_path, "-f", "bundle", "--set", "adc_bits=6", "--set", "read_noise=0.05"])
    b = _bundle(r)
    assert b.find("model") is not None and b.find("probe") is not None
    t = b.tables("cimnoise.estimate")[0]
    rows = t.to_pylist()
    assert [x["layer"] for x in rows] == ["fc1", "fc2", "fc3", "network"]
    net = rows[-1]
    assert 5 < net["snr_db"] < 40 and net["kind"] == "network"
    assert json.loads(rows[0]["config"])["adc_bits"] == 6 and t.provenance["command"] == "estimate"
    assert "network SNR" in r.stderr


def test_text_json_csv_formats(bundle_path):
    text = _run(["estimate", bundle_path, "-f", "text"]).stdout
    assert text.splitlines()[0].split()[0] == "layer" and "network" in text
    js = json.loads(_run(["estimate", bundle_path, "-f", "json"]).stdout)
    assert js[-1]["layer"] == "network"
    csv = _run(["estimate", bundle_path, "-f", "csv"]).stdout
    assert csv.startswith("layer,kind,op")
    _run(["estimate", bundle_path, "-f", "yaml"], code=2)


def test_calibrate_then_estimate_uses_the_table(bundle_path):
    r = _run(["calibrate", bundle_path, "-f", "bundle", "--data", "digits:train", "--set", "adc_bits=6",
              "--adc-method", "percentile:99.9", "--slices", "1,2"])
    cal = _bundle(r).tables("cimnoise.calibration")[0].to_pylist()
    assert len(cal) == 6 and {c["source"] for c in cal} == {"data"}
    r2 = _run(["estimate", "-", "-f", "bundle", "--set", "adc_bits=6", "--set", "adc_calibration=percentile:99.9",
               "--set", "weight_slices=2"], input=r.stdout_bytes)
    b = _bundle(r2)
    assert len(b.tables("cimnoise.calibration")) == 1           # passed through
    est = {x["layer"]: x for x in b.tables("cimnoise.estimate")[0].to_pylist()}
    used = {c["layer"]: c for c in cal if c["topology"] == est["fc1"]["topology"]}
    for name in ("fc1", "fc2", "fc3"):
        assert est[name]["adc_hi"] == used[name]["adc_hi"]
        assert est[name]["input_range"] == used[name]["input_range"]


def test_simulate_with_data_measures_accuracy(bundle_path):
    r = _run(["simulate", bundle_path, "-f", "json", "--data", "digits:test", "--samples", "200", "--repeats", "1",
              "--set", "read_noise=0.05"])
    rows = json.loads(r.stdout)
    net = rows[-1]
    assert net["source"] == "data" and 0.8 < net["acc_clean"] <= 1.0 and net["acc_noisy"] is not None
    assert net["snr_db_propagated"] is not None and abs(net["snr_db"] - net["snr_db_propagated"]) < 3


def test_simulate_without_data_uses_the_probe(bundle_path):
    rows = json.loads(_run(["simulate", bundle_path, "-f", "json", "--samples", "256", "--set", "adc_bits=6",
                            "--set", "encoding=offset"]).stdout)
    assert rows[-1]["source"] == "stats" and rows[-1]["snr_db"] is not None


def test_sweep_serial_and_pool_agree(bundle_path):
    args = ["sweep", bundle_path, "-f", "json", "--input-bits", "4,8", "--alpha", "0,0.05", "--adc-bits", "none,6"]
    serial = json.loads(_run(args + ["--workers", "0"]).stdout)
    assert len(serial) == 8 and {r["trial"] for r in serial} == set(range(8))
    pool = json.loads(_run(args + ["--workers", "2"]).stdout)
    for a, b in zip(serial, pool):
        assert a["snr_db"] == pytest.approx(b["snr_db"], rel=1e-12) and a["layer_names"] == ["fc1", "fc2", "fc3"]
    by = {(r["input_bits"], r["read_noise"], r["adc_bits"]): r["snr_db"] for r in serial}
    assert by[(8, 0.0, None)] > by[(4, 0.0, None)] and by[(8, 0.0, None)] > by[(8, 0.05, None)]


def test_validate_reports_differences(bundle_path, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('input_bits = [6, 8]\nadc_bits = [6]\nread_noise = [0.0, 0.05]\n')
    r = _run(["validate", bundle_path, "-f", "json", "--grid", grid, "--workers", "0", "--samples", "300",
              "--data", "digits:test"])
    rows = json.loads(r.stdout)
    assert len(rows) == 4 * 4 and {x["kind"] for x in rows} == {"layer", "network"}
    assert all(abs(x["diff_db"]) < 1.5 for x in rows)
    assert "within 1 dB" in r.stderr


def test_probe_command_without_torch(digits_mlp, tmp_path):
    path = tmp_path / "m.qz"
    qf.save(digits_mlp[0], str(path))
    r = _run(["probe", path, "--data", "digits:train", "--samples", "300", "-o", tmp_path / "p.qz"])
    b = qf.read_bundle(str(tmp_path / "p.qz"))
    ps = b.first("probe")
    assert set(ps.noise_prop) == {"fc1", "fc2", "fc3"} and ps.site("fc1", "in").n == 300
    assert "3 noise-propagation matrices" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["estimate", "/no/such/file.qz"], "no such file"),
    (["estimate", "{b}", "--set", "adc_bits"], "KEY=VALUE"),
    (["estimate", "{b}", "--set", "adc_noise=0.5"], "adc_noise"),
    (["estimate", "{b}", "--hw", "/no/hw.json"], "no such file"),
    (["simulate", "{b}", "--data", "/no/data.npz"], "no such file"),
    (["simulate", "{b}", "--samples", "0"], "at least 1"),
    (["sweep", "{b}"], "empty sweep grid"),
    (["sweep", "{b}", "--input-bits", "4,x"], "not a valid int"),
])
def test_bad_input_is_one_line_and_exit_2(bundle_path, args, needle):
    r = _run([a.format(b=bundle_path) for a in args], code=2)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("cimnoise: ") and needle in lines[0], r.stderr


def test_model_without_probe_is_reported(digits_mlp, tmp_path):
    path = tmp_path / "m.qz"
    qf.save(digits_mlp[0], str(path))
    r = _run(["estimate", path], code=2)
    assert "probe" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_npz_data_and_mismatch(bundle_path, tmp_path, digits_mlp):
    _, _, _, xte, yte = digits_mlp
    good = tmp_path / "d.npz"
    np.savez(good, x=xte, y=yte)
    _run(["simulate", bundle_path, "-f", "json", "--data", good, "--samples", "50", "--repeats", "1"])
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=xte[:, :10], y=yte)
    r = _run(["simulate", bundle_path, "--data", bad], code=2)
    assert "do not fit the model input" in r.stderr


def test_broken_pipe_is_quiet(bundle_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(f"{sys.executable} -m cimnoise estimate {bundle_path} -f bundle | head -c 10 > /dev/null",
                       shell=True, capture_output=True, env=env)
    assert p.returncode == 0 and b"Traceback" not in p.stderr


def test_version():
    from cimnoise import __version__

    assert _run(["version"]).stdout.strip() == __version__
