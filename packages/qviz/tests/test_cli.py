"""The qviz command line: pipes, files, formats, passthrough, one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import qformat as qf
import qviz.samples as samples
from qviz.cli import app

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def _bytes(obj) -> bytes:
    return qf.to_bytes(obj)


def run(args, data: bytes | None = None):
    return runner.invoke(app, args, input=data)


@pytest.fixture(scope="module")
def sample_bytes():
    return _bytes(samples.everything())


def test_plot_from_stdin_to_each_format(tmp_path, sample_bytes):
    for ext, magic in (("png", PNG), ("svg", b"<?xml"), ("pdf", b"%PDF")):
        out = tmp_path / f"w.{ext}"
        r = run(["plot", "weight-hist", "-o", str(out)], sample_bytes)
        assert r.exit_code == 0, r.output
        assert out.read_bytes().startswith(magic)
        assert "wrote" in r.stderr and r.stdout == ""
    svg = (tmp_path / "w.svg").read_text()
    assert "Weight distribution per layer" in svg and "weight value" in svg        # text kept as text


def test_plot_image_to_stdout_and_from_a_path(tmp_path, sample_bytes):
    src = tmp_path / "b.qz"
    src.write_bytes(sample_bytes)
    r = run(["plot", "pareto", str(src), "--x", "flash", "-o", "-"])
    assert r.exit_code == 0 and r.stdout_bytes.startswith(PNG)
    r = run(["plot", "pareto", str(src), "--format", "svg"])
    assert r.exit_code == 0 and b"<svg" in r.stdout_bytes


def test_passthrough_writes_the_input_unchanged(tmp_path, sample_bytes):
    r = run(["plot", "sweep-heatmap", "-o", str(tmp_path / "s.png"), "--passthrough"], sample_bytes)
    assert r.exit_code == 0 and r.stdout_bytes == sample_bytes
    small = _bytes(qf.Bundle([samples.trials_table(), samples.ibex_bench()]))
    r = run(["report", "-o", str(tmp_path / "r.html"), "--passthrough"], small)
    assert r.exit_code == 0 and r.stdout_bytes == small
    r = run(["auto", "-o", str(tmp_path / "a"), "--passthrough"], small)
    assert r.exit_code == 0 and r.stdout_bytes == small and len(list((tmp_path / "a").iterdir())) == 3
    r = run(["plot", "bits", "--passthrough"], sample_bytes)
    assert r.exit_code == 2 and "give the image a file name with -o" in r.stderr


def test_passthrough_from_files_re_encodes_the_bundle(tmp_path):
    m = samples.kmeans_model()
    qf.save(m, tmp_path / "m.zip")
    r = run(["plot", "weight-hist", str(tmp_path / "m.zip"), "-o", str(tmp_path / "w.png"), "--passthrough"])
    assert r.exit_code == 0
    back = qf.from_bytes(r.stdout_bytes)
    assert isinstance(back, qf.Model) and back.layer_names() == m.layer_names()


def test_missing_columns_is_one_line_and_exit_2(tmp_path):
    t = qf.Table({"layer": ["a"], "neuron": [0], "S": [4]}, table_kind="accelsim.sweep")
    r = run(["plot", "sweep-heatmap", "-o", str(tmp_path / "x.png")], _bytes(t))
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        "qviz: table accelsim.sweep: missing column(s) C, cycles needed by the 'sweep-heatmap' plot "
        "(columns present: layer, neuron, S)"]
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args,data,msg", [
    (["plot", "nope", "-o", "x.png"], b"", "unknown plot 'nope'"),
    (["plot", "pareto", "-o", "x.png"], b"", "<stdin>: empty input"),
    (["plot", "pareto", "-o", "x.png"], b"garbage!", "<stdin>: not a qformat artifact"),
    (["plot", "pareto", "/no/such/file.qz", "-o", "x.png"], None, "no such file"),
    (["plot", "neuron-heatmap", "--shape", "2y2", "-o", "x.png"], "model", "expected HxW"),
    (["plot", "pareto", "-o", "x.png"], "model", "'pareto' plot needs a qsearch.trials"),
    (["plot", "weight-hist", "-o", "x.gif"], "model", "unknown image format 'gif'"),
    (["report", "--format", "pdf", "-o", "x.html"], "model", "report images must be png or svg"),
])
def test_bad_input_is_one_line(tmp_path, args, data, msg):
    if data == "model":
        data = _bytes(samples.kmeans_model())
    os.chdir(tmp_path)
    r = run(args, data)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qviz: ") and msg in lines[0]
    assert "Traceback" not in r.output


def test_auto_writes_every_plot_and_notes_skips(tmp_path):
    bad = qf.Table({"accuracy": [0.9]}, table_kind="qsearch.trials")
    other = qf.Table({"x": [1]}, table_kind="somebody.else")
    b = qf.Bundle([samples.kmeans_model(), bad, other, samples.trials_table()])
    r = run(["auto", "-o", str(tmp_path / "out"), "--format", "svg"], _bytes(b))
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["01-model-bits.svg", "01-model-centroid-usage.svg", "01-model-neuron-heatmap.svg", "01-model-pruning-mask.svg",
                     "01-model-weight-bytes.svg", "01-model-weight-hist.svg", "04-qsearch-trials-dse.svg",
                     "04-qsearch-trials-pareto.svg"]
    assert "artifact 2: skipped 'pareto': missing column(s) latency" in r.stderr
    assert "artifact 3: no plot for table kind somebody.else" in r.stderr


def test_each_neuron_files_from_the_cli(tmp_path, sweep):
    r = run(["plot", "sweep-heatmap", "--neuron", "all", "--layer", "network.2", "--order", "sequential",
             "-o", str(tmp_path / "n")], _bytes(sweep))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "n" / "network.2" / "sequential").iterdir()) == \
        [f"neuron_{i}.png" for i in range(4)]
    r = run(["plot", "sweep-heatmap", "--neuron", "all", "-o", str(tmp_path / "one.png")], _bytes(sweep))
    assert r.exit_code == 2 and "give a folder with -o" in r.stderr


def test_original_json_weight_file_is_read(tmp_path):
    from test_modelstats import EXAMPLE

    r = run(["plot", "neuron-heatmap", str(EXAMPLE), "--neuron", "0", "-o", str(tmp_path / "n.png")])
    assert r.exit_code == 0, r.output
    r = run(["plot", "pruning-mask", "-o", str(tmp_path / "m.png")], EXAMPLE.read_bytes())
    assert r.exit_code == 0, r.output


def test_list_json():
    r = run(["list", "--json"])
    doc = json.loads(r.stdout)
    assert {d["name"] for d in doc} >= {"pareto", "sweep-surface", "snr-validate", "trace", "bits"}
    assert all(d["needs"] for d in doc)


def test_real_pipe_and_head_end_quietly(tmp_path):
    """Real shell pipes: ... | plot --passthrough | head -c 1 ends quietly; report reads a pipe."""
    src = tmp_path / "in.qz"
    src.write_bytes(_bytes(qf.Bundle([samples.kmeans_model(), samples.precision_map(samples.kmeans_model())])))
    env = dict(os.environ, MPLBACKEND="Agg")
    exe = f"{sys.executable} -m qviz.cli"
    cmd = (f"cat {src} | {exe} plot bits -o {tmp_path}/b.png --passthrough | head -c 1 >/dev/null;"
           f" echo rc=${{PIPESTATUS[1]}}; cat {src} | {exe} report -o {tmp_path}/r.html; echo rc2=$?")
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=180)
    assert "rc=0" in p.stdout and "rc2=0" in p.stdout, p.stderr
    assert "Traceback" not in p.stderr and "Broken" not in p.stderr, p.stderr
    assert (tmp_path / "b.png").read_bytes().startswith(PNG)
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
