"""The tools compose: several in one pipe, bundles pass through, errors stop at the first tool."""

from __future__ import annotations

import pytest
from conftest import EXAMPLE, sh

import qformat as qf


def kinds(path):
    b = qf.read_bundle(path)
    return [a.kind if a.kind != "table" else a.table_kind for a in b]


def test_train_quantize_accelerate(work, float_model):
    """qtrain fit | qtrain ptq | accelsim sweep: any integer model runs on the accelerator."""
    out = work / "a.qz"
    sh(f"qtrain ptq - --precision int4 -q < {float_model} | accelsim sweep - -S 8,16 -C 8,16 > {out}")
    b = qf.read_bundle(out)
    assert b.model().is_quantized()
    sweep = b.tables("accelsim.sweep")[0].to_pandas()
    assert set(sweep["layer"]) == {"fc1", "fc2"}
    # a 4-bit layer has at most 15 distinct non-zero codes per neuron: C=16 is always feasible
    assert sweep[sweep["C"] == 16]["cycles"].notna().all()


def test_bundle_passes_through_every_tool(work):
    """Each tool keeps what it does not consume: the model and the first table survive to the end."""
    out = work / "b.qz"
    html = work / "b.html"
    sh(f"qformat import {EXAMPLE} | accelsim sweep - -S 8,16 -C 8,16 | accelsim range - "
       f"| qviz report -o {html} --passthrough | qformat convert - - > {out}")
    assert kinds(out) == ["model", "accelsim.sweep", "accelsim.range"]
    assert html.read_text().count("<img") + html.read_text().count("<svg") > 0


def test_reference_totals_through_the_pipe(work):
    out = work / "c.qz"
    sh(f"accelsim range {EXAMPLE} -S 8,16 -C 8,16 --order sequential > {out}")
    r = qf.read_bundle(out).tables("accelsim.range")[0].to_pandas()
    tot = {(row.layer, row.S, row.C): row.total for row in r.itertuples() if row.semantics == "v0624"}
    assert tot[("network.0", 8, 8)] == 4454 and tot[("network.0", 16, 16)] == 2119
    assert tot[("network.4", 16, 16)] == 79


def test_head_ends_quietly():
    p = sh(f"accelsim trace {EXAMPLE} | head -c 200 > /dev/null")
    assert b"Traceback" not in p.stderr and b"Broken pipe" not in p.stderr


@pytest.mark.parametrize("tool", ["qformat inspect -", "accelsim sweep -", "qviz report -o /tmp/x.html",
                                  "qtrain ptq -", "qsearch cost -"])
@pytest.mark.parametrize("stdin", ["", "garbage bytes"])
def test_bad_stdin_one_line_exit_2(tool, stdin):
    p = sh(f"printf '{stdin}' | {tool}", check=False)
    assert p.returncode == 2, (tool, p.returncode, p.stderr)
    err = p.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith(tool.split()[0] + ":"), err


def test_error_reported_by_the_first_tool_that_sees_it():
    p = sh("printf 'garbage' | accelsim sweep - | accelsim range -", check=False)
    assert p.returncode == 2
    lines = p.stderr.decode().strip().splitlines()
    assert lines[0].startswith("accelsim: <stdin>") and "garbage" not in lines[0].lower() or lines


def test_ibexgen_bench_on_a_trained_mixed_precision_model(work, float_model):
    """qtrain's 2/4/8-bit export runs bit-exactly on every Ibex target, and xmpq is faster."""
    out = work / "ibex.qz"
    pm = work / "pm.json"
    pm.write_text('{"fc1": {"weight": "int2", "activation": "int8"}, "_default": {"weight": "int4", "activation": "int8"}}')
    sh(f"qtrain ptq - --precision-map {pm} -q < {float_model} | ibexgen bench - > {out}")
    b = qf.read_bundle(out)
    t = b.tables("ibexgen.bench")[0].to_pandas()
    assert t["bit_exact"].all()
    tot = t[t["layer"] == "total"].set_index("target")["cycles"]
    assert tot["xmpq"] < tot["baseline"]
    assert {lay.name: lay.quant.weight.bits for lay in b.model().compute_layers()} == {"fc1": 2, "fc2": 4}
