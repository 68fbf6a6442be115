"""The command line: cost, filter, searches through pipes, one-line errors, quiet broken pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import qformat as qf
from qsearch.cli import app

QSEARCH = [sys.executable, "-c", "from qsearch.cli import main; main()"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(args, input=None):
    r = CliRunner().invoke(app, args, input=input, catch_exceptions=False)
    return r


def test_cost_mobilenetv2_json_and_text():
    r = run(["cost", "--arch", "mobilenetv2", "--input", "3x32x32", "--classes", "10", "--precision", "int8",
             "--format", "json"])
    assert r.exit_code == 0, r.output
    t = json.loads(r.stdout)["totals"]
    assert t["macs"] == 24_461_312 and t["params"] == 2_202_570
    assert t["peak_layer"] == "b2.dw" and t["peak_ram"] == 122_880
    r = run(["cost", "--arch", "mobilenetv2", "--precision", "int4", "--core", "m7", "--core-b", "m4"])
    assert r.exit_code == 0
    assert "MACs 24,461,312" in r.stdout and "8.00x smaller than fp32" in r.stdout
    assert "m7 @ 480 MHz" in r.stdout and "m4 @ 240 MHz" in r.stdout


def test_cost_of_a_model_file_as_a_table(digits_model, tmp_path):
    out = tmp_path / "cost.qz"
    r = run(["cost", digits_model.path, "--precision", "int4", "--format", "table", "-o", str(out)])
    assert r.exit_code == 0, r.output
    t = qf.open(str(out))
    assert t.table_kind == "qsearch.cost" and t.num_rows == len(digits_model.layers)
    assert t.provenance["totals"]["compression"] == 8.0
    conv2 = next(r for r in t.to_pylist() if r["layer"] == "conv2")
    assert (conv2["weight_bytes_fp32"], conv2["weight_bytes_fp16"], conv2["weight_bytes_int8"], conv2["weight_bytes_int4"],
            conv2["weight_bytes_int2"]) == (4 * 4608, 2 * 4608, 4608, 2304, 1152)
    assert conv2["weight_bytes"] == 2304 and conv2["macs"] == 4608 * 16


def test_filter_prints_allowed_options(digits_model):
    r = run(["filter", digits_model.path, "--ram", "1KiB"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["memory_threshold_bytes"] == 1024 and set(doc["filtered_precisions"]) == {"conv1", "conv2", "fc"}
    assert "fp32" not in doc["filtered_precisions"]["conv2"]


@pytest.mark.parametrize("args,needle", [
    (["dnas", "MODEL", "--ram", "lots"], "qsearch: budget: lots: not a size"),
    (["dse", "/no/such/model.qz"], "qsearch: /no/such/model.qz"),
    (["dse", "MODEL", "--grouping", "clusters"], "qsearch: --grouping: clusters"),
    (["cost", "MODEL", "--core", "z80"], "qsearch: latency table: z80"),
    (["dnas", "MODEL", "--options", "int3x"], "qsearch: options: --options"),
    (["dse", "MODEL", "--cluster", "tcp://127.0.0.1:1", "--cluster-timeout", "1"],
     "qsearch: --cluster: tcp://127.0.0.1:1: cannot reach"),
])
def test_bad_input_is_one_line_and_exit_2(digits_model, args, needle):
    args = [digits_model.path if a == "MODEL" else a for a in args]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(needle), r.stderr


def test_bad_input_in_a_real_process_has_no_traceback(digits_model):
    r = subprocess.run(QSEARCH + ["cost", digits_model.path, "--lut", "/no/such/table.csv"], capture_output=True,
                       text=True, env=ENV, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == "qsearch: /no/such/table.csv: no such latency table"


def test_search_pipe_into_cost(digits_model):
    """qsearch dse < float | qsearch cost -: the quantized model and its precision map travel through the pipe."""
    p1 = subprocess.Popen(QSEARCH + ["dse", "-", "--workers", "0", "--epochs", "1", "--finetune-epochs", "1",
                                     "--options", "int8,int4", "--grouping", "runs:3", "--quiet"],
                          stdin=open(digits_model.path, "rb"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    p2 = subprocess.run(QSEARCH + ["cost", "-", "--format", "json"], stdin=p1.stdout, capture_output=True, env=ENV,
                        timeout=300)
    p1.stdout.close()
    err1 = p1.stderr.read().decode()
    assert p1.wait(timeout=300) == 0, err1
    assert p2.returncode == 0, p2.stderr.decode()
    rep = json.loads(p2.stdout)
    precs = {r["layer"]: r["precision"] for r in rep["layers"] if r["precision"]}
    assert set(precs.values()) <= {"int8", "int4"} and len(precs) == 3
    # the summary went to stderr, and progress was silenced
    assert "qsearch dse: chosen precision map" in err1 and "candidates, best" not in err1
    assert "integer-only test" in err1


def test_dnas_cli_writes_the_bundle(digits_model, tmp_path):
    out = tmp_path / "out.qz"
    r = run(["dnas", digits_model.path, "-o", str(out), "--epochs", "2", "--finetune-epochs", "1", "--int-only",
             "--compression", "6", "--keep-float", "--checkpoint", str(tmp_path / "d.pt")])
    assert r.exit_code == 0, r.output
    b = qf.read_bundle(str(out))
    kinds = [a.kind for a in b]
    assert kinds.count("model") == 2 and "precision_map" in kinds
    assert {t.table_kind for t in b.tables()} == {"qsearch.trials", "qsearch.dnas_history"}
    assert b.model().is_quantized() and not b.of_kind("model")[0].is_quantized()
    assert (tmp_path / "d.pt").exists()
    assert "dnas epoch 2/2" in r.stderr and "Pareto front" in r.stderr


def test_broken_pipe_is_quiet():
    p = subprocess.run(" ".join(QSEARCH[:2]) + " 'from qsearch.cli import main; main()' cost --arch mobilenetv2 "
                       "--precision int8 | head -2", shell=True, capture_output=True, text=True, env=ENV, timeout=120)
    assert len(p.stdout.splitlines()) == 2
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr


def test_version():
    from qsearch import __version__

    assert run(["version"]).stdout.strip() == __version__


def test_helpers_are_importable():
    assert Path(__file__).with_name("helpers").joinpath("fake_backend.py").exists()
