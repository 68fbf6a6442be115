"""The CLI in process: pipes through stdin/stdout, one-line errors with exit 2, resume, zoo listing."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import qformat as qf
from qtrain.cli import app

runner = CliRunner()


def invoke(args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    ck = tmp_path_factory.mktemp("ck") / "fit.ckpt"
    r = invoke(["fit", "--model", "mlp:widths=64", "--epochs", "12", "--batch-size", "64", "--checkpoint", ck])
    assert r.exit_code == 0, r.stderr
    return r.stdout_bytes, ck


def test_fit_writes_a_model_stream_and_a_summary(fitted):
    data, _ = fitted
    m = qf.from_bytes(data)
    assert isinstance(m, qf.Model) and m.provenance["tool"] == "qtrain"
    assert m.provenance["metrics"]["test_acc"] > 0.9
    assert m.provenance["dataset"]["preprocess"]["std"] == [16.0]


def test_pipe_ptq_then_integer_eval(fitted):
    data, _ = fitted
    r = invoke(["ptq", "-", "--precision", "int8", "-q"], input=data)
    assert r.exit_code == 0, r.stderr
    assert "qtrain ptq" in r.stderr and r.stderr.count("\n") == 1  # quiet: only the one-line summary
    b = qf.from_bytes(r.stdout_bytes)
    assert b.is_quantized()
    r2 = invoke(["eval", "-", "--integer", "--engine", "both", "-q"], input=r.stdout_bytes)
    assert r2.exit_code == 0, r2.stderr
    res = json.loads(r2.stdout)
    assert res["bit_exact"] is True and res["mode"] == "int" and res["samples"] == 359
    assert res["accuracy"] >= b.provenance["metrics"]["float_test_acc"] - 0.01


def test_qat_with_precision_map_file_keeps_other_artifacts(fitted, tmp_path):
    data, _ = fitted
    pm = tmp_path / "pm.json"
    pm.write_text(json.dumps({"fc1": "int4", "_default": {"weight": "int8", "activation": "int8"}}))
    probe = invoke(["probe", "-", "--samples", "64", "--bins", "16", "-q"], input=data)
    assert probe.exit_code == 0, probe.stderr
    out = tmp_path / "q.qz"
    r = invoke(["qat", "-", "--precision-map", pm, "--epochs", "2", "--checkpoint", "none", "-q", "-o", out],
               input=probe.stdout_bytes)
    assert r.exit_code == 0, r.stderr
    b = qf.read_bundle(str(out))
    assert [a.kind for a in b] == ["model", "probe"]  # the quantized model replaced the float one in place
    m = b.model()
    assert m.layer("fc1").quant.weight.bits == 4 and m.layer("fc2").quant.weight.bits == 8
    assert m.provenance["quantization"]["precision_source"] == f"map {pm}"
    # the precision map may also come from stdin (the model from a file)
    src = tmp_path / "float.qz"
    src.write_bytes(data)
    r2 = invoke(["ptq", src, "--precision-map", "-", "-q"], input=json.dumps({"fc1": "int2", "_default": "int8"}).encode())
    assert r2.exit_code == 0, r2.stderr
    assert qf.from_bytes(r2.stdout_bytes).layer("fc1").quant.weight.bits == 2


def test_kmeans_and_zoo(fitted):
    data, _ = fitted
    r = invoke(["kmeans", "-", "-k", "4", "--per", "neuron", "--epochs", "1", "--checkpoint", "none", "-q"],
               input=data)
    assert r.exit_code == 0, r.stderr
    m = qf.from_bytes(r.stdout_bytes)
    assert m.has("fc1", "weight_codebook") and m.get("fc1", "weight_codebook").shape == (64, 4)
    z = invoke(["zoo"])
    line = [ln for ln in z.stdout.splitlines() if ln.startswith("mobilenetv2")][0]
    assert "53" in line and "2,202,570" in line and "24,461,312" in line
    z2 = invoke(["zoo", "--model", "mobilenetv2:width=0.5", "--input", "3x144x144", "--json"])
    rows = [json.loads(x) for x in z2.stdout.splitlines()]
    assert len(rows) == 53 and rows[0]["layer"] == "stem" and rows[0]["out"] == [16, 72, 72]


def test_killed_run_resumes_to_the_same_model(tmp_path):
    """SIGKILL a real `qtrain fit` once a checkpoint exists, resume it, compare with an uninterrupted run."""
    import os
    import signal
    import time

    args = ["fit", "--model", "cnn:channels=16/32", "--epochs", "6", "--batch-size", "32", "--threads", "1", "-q"]
    ref = invoke(args + ["--checkpoint", tmp_path / "ref.ckpt"])
    assert ref.exit_code == 0, ref.stderr
    ck = tmp_path / "run.ckpt"
    out = tmp_path / "killed.qz"
    proc = subprocess.Popen([sys.executable, "-m", "qtrain", *args, "--checkpoint", str(ck), "-o", str(out)],
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not ck.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists() or proc.returncode == 0
    r = invoke(args + ["--checkpoint", ck, "--resume", "-o", out])
    assert r.exit_code == 0, r.stderr
    a, b = qf.from_bytes(ref.stdout_bytes), qf.read_bundle(str(out)).model()
    for lay in a.compute_layers():
        np.testing.assert_array_equal(a.get(lay.name, "weight"), b.get(lay.name, "weight"))
    assert a.provenance["metrics"]["val_acc"] == b.provenance["metrics"]["val_acc"]
    bad = invoke(["fit", "--model", "mlp:widths=32", "--epochs", "6", "--checkpoint", ck, "--resume"])
    assert bad.exit_code == 2 and "different run" in bad.stderr


@pytest.mark.parametrize("args,needle", [
    (["fit", "--dataset", "mnist", "--data", "/nonexistent/mnist"], "/nonexistent/mnist: no such file or directory"),
    (["fit", "--model", "lenet5"], "at least 16x16"),
    (["ptq", "/nonexistent.qz"], "no such file"),
    (["zoo", "--input", "3xfoo"], "expected dimensions"),
])
def test_errors_are_one_line_exit_2(args, needle, tmp_path):
    r = invoke(args + ["--checkpoint", "none"] if args[0] == "fit" else args)
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qtrain: ") and needle in lines[0]
    assert "Traceback" not in r.stderr


def test_bad_stdin_and_precision_errors(fitted):
    r = invoke(["eval", "-"], input=b"")
    assert r.exit_code == 2 and "empty input" in r.stderr
    r = invoke(["ptq", "-", "--precision", "int1"], input=fitted[0])
    assert r.exit_code == 2 and "at least 2 bits" in r.stderr
    r = invoke(["probe", "-", "--split", "test"], input=fitted[0])
    assert r.exit_code == 2 and "test split" in r.stderr


def test_broken_pipe_is_quiet():
    p = subprocess.run(f"'{sys.executable}' -m qtrain zoo --json | head -n 1", shell=True, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.count("\n") == 1 and "Traceback" not in p.stderr and p.stderr == ""
