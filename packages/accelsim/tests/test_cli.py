"""The command line: pipes, bundles passing through, errors as one line with exit 2."""

import io
import os
import subprocess
import sys

import numpy as np
import pyarrow.csv as pacsv
import pytest
from qmodels import fp16_model, int_model

import qformat as qf

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
ENV.pop("QSTACK_DEBUG", None)


def accelsim(*args, stdin: bytes | None = None, check: bool = True):
    p = subprocess.run([sys.executable, "-m", "accelsim", *map(str, args)], input=stdin, capture_output=True,
                       env=ENV, timeout=120, check=False)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {p.stderr.decode()}")
    return p


def bundle(out: bytes) -> qf.Bundle:
    return qf.read_bundle(io.BytesIO(out))


def test_run_reference_totals_csv(json_path):
    p = accelsim("run", json_path, "-S", 8, "-C", 8, "--format", "csv")
    t = pacsv.read_csv(io.BytesIO(p.stdout)).to_pydict()
    tot = {}
    for lay, c in zip(t["layer"], t["cycles"]):
        tot[lay] = tot.get(lay, 0) + c
    assert tot == {"network.0": 4454, "network.2": 537, "network.4": 169}
    assert b"network.0 v0624 S=8 C=8 sequential: 4454 cycles" in p.stderr


def test_pipe_passes_model_through_and_accumulates_tables(json_path):
    p1 = accelsim("sweep", "-", "-S", "15..16", "-C", "15,16", "--order", "sequential", "-q",
                  stdin=json_path.read_bytes())
    p2 = accelsim("range", "-", "-S", 16, "-C", 16, "-q", stdin=p1.stdout)
    b = bundle(p2.stdout)
    assert b.model().layer("network.0").op == "linear"
    sw = b.tables("accelsim.sweep")[0].to_arrow().to_pydict()
    got = {(S, C): c for lay, n, S, C, c in zip(sw["layer"], sw["neuron"], sw["S"], sw["C"], sw["cycles"])
           if lay == "network.0" and n == 0}
    assert got == {(15, 15): 75, (15, 16): 71, (16, 15): 71, (16, 16): 66}
    rg = b.tables("accelsim.range")[0]
    assert rg.provenance["tool"] == "accelsim"


def test_sweep_full_grid_row_count_and_nulls(json_path, tmp_path):
    out = tmp_path / "s.qz"
    accelsim("sweep", json_path, "--semantics", "v0624,v0618", "-o", out, "-q")
    t = qf.read_bundle(out).tables("accelsim.sweep")[0].to_arrow()
    assert t.num_rows == 71656
    cyc = t.column("cycles")
    st = t.column("status").to_pylist()
    assert cyc.null_count == sum(s != "ok" for s in st) > 0
    assert all(s.startswith("skip: distinct=") for s in st if s != "ok")


def test_trace_stream(json_path):
    p = accelsim("trace", json_path, "-S", 4, "-C", 5, "-l", "network.0:0", "-q")
    b = bundle(p.stdout)
    tr = b.tables("accelsim.trace")[0].to_arrow().to_pydict()
    assert len(tr["cycle"]) == accelsim_cycles(json_path, 4, 5) and tr["cycle"][0] == 0
    assert set(tr["phase"]) == {"acc"} and {f"en_acc_{i}" for i in range(4)} <= set(tr)
    assert b.model() is not None


def accelsim_cycles(json_path, S, C):
    from accelsim import api

    return api.sweep(api.load_model(str(json_path))[1], [S], [C], ["sequential"], layers=["network.0:0"]).to_pydict()["cycles"][0]


def test_trace_infeasible_config_is_reported(json_path):
    p = accelsim("trace", json_path, "-S", 4, "-C", 4, "-l", "network.0:0", "--format", "csv")
    assert b"skipped 1 infeasible neuron" in p.stderr
    assert len(p.stdout.splitlines()) == 1            # header only


def test_util_and_mem(json_path, tmp_path):
    p = accelsim("util", json_path, "-l", "network.4", "-q")
    u = bundle(p.stdout).tables("accelsim.util")[0].to_arrow().to_pydict()
    assert {"container", "neuron", "layer"} == set(u["level"])
    d = tmp_path / "mem"
    p = accelsim("mem", json_path, "-l", "network.4:0", "-S", 8, "-C", 8, "-d", d, "--mem-format", "hex", "-q")
    man = bundle(p.stdout).tables("accelsim.mem")[0].to_arrow().to_pydict()
    assert sorted(man["memory"]) == ["container_idx", "en_acc", "weight"]
    for path, width, depth in zip(man["path"], man["width"], man["depth"]):
        with open(path) as f:
            lines = [ln for ln in f.read().splitlines() if not ln.startswith("//")]
        assert len(lines) == depth and all(len(ln) == -(-width // 4) for ln in lines)


def test_mem_stimuli(json_path, tmp_path):
    x = np.zeros((2, 784), dtype=np.float32)
    x[0, 5] = 0.5
    np.save(tmp_path / "x.npy", x)
    d = tmp_path / "mem"
    accelsim("mem", json_path, "-l", "network.0:0", "-S", 8, "-C", 8, "--order", "interleaved", "-d", d,
             "--acts", tmp_path / "x.npy", "-q")
    files = sorted((d / "network.0" / "stimuli_S8_interleaved").glob("x_*.txt"))
    assert len(files) == 2
    lines = files[0].read_text().splitlines()
    assert len(lines) == 784 and lines.count("00100000") == 1          # 0.5 -> 32 at 6 fractional bits


def test_run_with_acts_int_model(tmp_path):
    m = int_model()
    qf.save(m, tmp_path / "m.qz")
    x = np.random.default_rng(0).random((2, 1, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    p = accelsim("run", tmp_path / "m.qz", "-S", 4, "-C", 8, "--semantics", "v0624,improved", "--acts",
                 tmp_path / "x.npy")
    t = bundle(p.stdout).tables("accelsim.run")[0].to_arrow().to_pydict()
    assert all(ok is not False for ok in t["func_ok"]) and any(ok for ok in t["func_ok"])
    assert b"bit-exact" in p.stderr


@pytest.mark.parametrize("args,needle", [
    (["run", "/no/such/model.qz"], "no such file"),
    (["run", "{json}", "-l", "conv9"], "no compute layer matches 'conv9'"),
    (["sweep", "{json}", "-S", "0"], "S must be positive"),
    (["sweep", "{json}", "-S", "a..b"], "bad S value"),
    (["run", "{json}", "--order", "diagonal"], "unknown order"),
    (["run", "{json}", "--semantics", "v9"], "unknown semantics"),
    (["run", "{json}", "-l", "network.0:40"], "neuron 40 is out of range"),
    (["mem", "{json}", "-d", "{tmp}", "--mem-format", "vhd"], "unknown memory format"),
    (["run", "{json}", "--acts", "{tmp}/none.npy"], "no such file"),
])
def test_errors_are_one_line_exit_2(json_path, tmp_path, args, needle):
    args = [a.format(json=json_path, tmp=tmp_path) for a in args]
    p = accelsim(*args, check=False)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("accelsim: ") and needle in err, err
    assert "Traceback" not in err


def test_unsupported_layer_exit_2_names_it(tmp_path):
    qf.save(fp16_model(), tmp_path / "m.qz")
    p = accelsim("sweep", tmp_path / "m.qz", check=False)
    assert p.returncode == 2 and b"layer 'dw'" in p.stderr and b"fp16" in p.stderr
    p = accelsim("sweep", tmp_path / "m.qz", "-S", 4, "-C", 4, "--skip-unsupported", "-q")
    assert set(bundle(p.stdout).tables("accelsim.sweep")[0].to_arrow().to_pydict()["layer"]) == {"conv1", "fc"}


def test_garbage_stdin_and_empty_stdin():
    for data in (b"garbage", b""):
        p = accelsim("run", "-", stdin=data, check=False)
        assert p.returncode == 2 and p.stderr.startswith(b"accelsim: <stdin>")


def test_head_ends_quietly(json_path):
    p = subprocess.run(f"{sys.executable} -m accelsim sweep {json_path} --format csv -q | head -n 2",
                       shell=True, capture_output=True, env=ENV, timeout=120, check=False)
    assert p.returncode == 0 and p.stderr == b"" and len(p.stdout.splitlines()) == 2


def test_no_torch_and_no_sibling_tools(json_path):
    code = ("import sys, accelsim.cli, accelsim.api as a;"
            f"a.sweep(a.load_model({str(json_path)!r})[1], [8], [8]);"
            "bad = [m for m in ('torch', 'qtrain', 'qsearch', 'ibexgen', 'cimnoise', 'qviz') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, env=ENV, timeout=120, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("cmd", [["run"], ["trace", "-l", "network.4:0"], ["run", "--format", "csv"]])
def test_special_file_destination_is_written_not_replaced(json_path, tmp_path, cmd):
    """-o on a device or FIFO (e.g. /dev/null) writes into it; an atomic rename would replace the node."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    accelsim(cmd[0], json_path, *cmd[1:], "-q", "-o", fifo)
    data = reader.communicate(timeout=60)[0]
    assert fifo.is_fifo() and len(data) > 0
    if "csv" not in cmd:
        assert bundle(data).model() is not None
