"""The CLI: gen/build/run/bench/example, pipes, one-line errors, quiet broken pipes."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import qformat as qf

HERE = Path(__file__).parent


def ibx(*args, stdin: bytes | None = None, check: bool = False):
    r = subprocess.run([sys.executable, "-m", "ibexgen", *map(str, args)], input=stdin, capture_output=True,
                       timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(r.stderr.decode())
    return r


def one_line_error(r, *needles):
    assert r.returncode == 2, r.stderr
    err = r.stderr.decode().strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


@pytest.fixture(scope="module")
def model2(tmp_path_factory):
    p = tmp_path_factory.mktemp("m") / "ef.qz"
    ibx("example", "elderly-fall", "--bits", "2", "-o", p, check=True)
    return p


def test_gen_build_run_text_json_and_table(model2, tmp_path):
    d = tmp_path / "x"
    ibx("gen", model2, "-o", d, "--target", "xmpq", check=True)
    r = ibx("build", d, check=True)
    elf = Path(r.stdout.decode().strip())
    assert elf == d / "network.elf" and elf.exists()
    r = ibx("run", elf, check=True)
    out = r.stdout.decode()
    assert "reference     matches" in out and "fc1" in out
    assert "ibexgen out" in r.stderr.decode()  # the program's console goes to stderr
    d2 = json.loads(ibx("run", elf, "--format", "json", "--no-console", check=True).stdout)
    assert d2["exit"] == "halt" and d2["matches_reference"] is True and d2["target"] == "xmpq"
    # the layers' marks cover the counted region except the first mark and the disabling csrw
    assert 0 <= d2["region_cycles"] - sum(x["cycles"] for x in d2["layers"]) <= 16
    t = tmp_path / "run.qz"
    ibx("run", elf, "--format", "qf", "-o", t, "--no-console", check=True)
    tab = qf.open(str(t))
    assert tab.table_kind == "ibexgen.run" and tab.to_pylist()[-1]["layer"] == "total"
    tr = tmp_path / "trace.arrow"
    ibx("run", elf, "--trace", tr, "--no-console", check=True)
    assert qf.open(str(tr)).num_rows == d2["instructions"]


def test_bench_reads_stdin_and_writes_the_bundle(model2):
    r = ibx("bench", "-", "--fit-compat", stdin=model2.read_bytes(), check=True)
    b = qf.from_bytes(r.stdout)
    assert b.find("model") is not None
    tab = b.tables("ibexgen.bench")[0]
    rows = tab.to_pylist()
    totals = {r["target"]: r for r in rows if r["layer"] == "total"}
    assert set(totals) == {"baseline", "xmpq", "xmpq-compat"}
    assert all(r["bit_exact"] for r in rows)
    assert totals["xmpq"]["speedup"] > 10 and totals["baseline"]["speedup"] == 1.0
    assert tab.provenance["toolchain"].startswith(("zig", "gcc"))
    assert "speedup" in r.stderr.decode()  # a readable table on stderr


def test_bench_skips_compat_when_it_does_not_fit(model2):
    r = ibx("bench", model2, "--targets", "baseline,xmpq-compat", check=True)
    rows = qf.from_bytes(r.stdout).tables("ibexgen.bench")[0].to_pylist()
    assert {r["target"] for r in rows} == {"baseline"}
    assert "skipping xmpq-compat" in r.stderr.decode()


def test_errors_are_one_line_exit_2(model2, tmp_path):
    one_line_error(ibx("gen", model2, "-o", tmp_path / "c", "--target", "xmpq-compat"), "layer 'fc1'", "compat")
    one_line_error(ibx("gen", model2, "-o", tmp_path / "c", "--target", "arm"), "target")
    one_line_error(ibx("gen", tmp_path / "missing.qz", "-o", tmp_path / "c"), "missing.qz")
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"not an elf at all")
    one_line_error(ibx("run", junk), "not an ELF")
    one_line_error(ibx("build", tmp_path), "ibexgen.json")
    one_line_error(ibx("run", junk, "--bus", "sideways"), "bus")
    one_line_error(ibx("example", "resnet"), "unknown example")


def _wild_elf(tmp_path, toolchain) -> Path:
    rt = resources.files("ibexgen.codegen").joinpath("runtime")
    (tmp_path / "crt0.S").write_text(rt.joinpath("crt0.S").read_text())
    ld = (rt.joinpath("link.ld.in").read_text().replace("@RAM_BASE@", "0x00100000").replace("@RAM_SIZE@", "0x00100000")
          .replace("@STACK_SIZE@", "0x1000").replace("@MAP@", "simple_system").replace("@RAM_SIZE_TEXT@", "1024 KiB"))
    (tmp_path / "link.ld").write_text(ld)
    elf = tmp_path / "wild.elf"
    toolchain.compile([HERE / "data" / "wild.c", tmp_path / "crt0.S"], elf, tmp_path / "link.ld")
    return elf


def test_bus_modes_on_a_hand_written_program(tmp_path, toolchain):
    elf = _wild_elf(tmp_path, toolchain)
    r = ibx("run", elf)
    assert r.returncode == 1
    assert "store at address 0x00850000 outside mapped memory" in r.stdout.decode()
    r = ibx("run", elf, "--bus", "as-built", "--format", "json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["console"] == "hello\nY\n"
    assert d["unmapped_accesses"] == 1 and d["unmapped"][0]["target"] == 0x50000
    assert 0 < d["region_cycles"] < d["cycles"]


def test_broken_pipe_is_quiet(model2, tmp_path):
    d = tmp_path / "p"
    ibx("gen", model2, "-o", d, "--target", "baseline", check=True)
    ibx("build", d, check=True)
    r = subprocess.run(f"{sys.executable} -m ibexgen run {d / 'network.elf'} --format json --no-console | head -1",
                       shell=True, capture_output=True, timeout=600)
    assert r.stdout.decode().strip() == "{"
    assert r.stderr.decode() == ""
