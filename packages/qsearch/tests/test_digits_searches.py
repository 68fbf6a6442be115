"""The acceptance runs on digits: DNAS, DSE and the ILP find maps near float accuracy at >= 4x fewer weight
bytes, fine-tuned and tested on the untouched test split, exported integer-only."""

from __future__ import annotations

import numpy as np
import pytest

import qformat as qf
from qsearch.options import OptionSpace
from qsearch.report import HISTORY_FIELDS, TRIAL_FIELDS
from qsearch.runner import BudgetSpec, Session, TargetSpec, output_bundle, run_dnas_search, run_dse, run_ilp
from qsearch.search.dnas import DnasConfig
from qsearch.training import TrainSpec

FT = TrainSpec(epochs=4, batch_size=64, lr=1e-3)


def check_final(s: Session, out, min_compression=4.0):
    ref = s.reference()
    f = out.final
    print(f"float test {ref['test_accuracy']:.4f}; chosen {out.assignment}: test {f['test_accuracy']:.4f} "
          f"int {f['int_test_accuracy']:.4f} compression {f['compression']:.2f}x")
    assert f["test_accuracy"] >= ref["test_accuracy"] - 0.01
    assert f["compression"] >= min_compression
    assert f["int_test_accuracy"] is not None and abs(f["int_test_accuracy"] - f["test_accuracy"]) <= 0.01
    qm = out.qmodel
    qm.validate()
    # fully integer: codes, scales, bias codes, requantization and activation grids on every compute layer
    for lay in qm.compute_layers():
        assert lay.quant.weight is not None and lay.quant.input is not None and lay.quant.output is not None
        for t in ("weight_codes", "weight_scale", "bias_codes", "requant_multiplier", "requant_shift"):
            assert qm.has(lay.name, t), (lay.name, t)
        assert lay.quant.weight.bits == s.space[out.assignment[lay.name]].wbits
    x, _ = next(iter(s.splits.loader("test", 16)))
    from qtrain.intsim import IntegerModel

    ref_codes = qf.run(qm, x.numpy(), mode="int", raw=True)
    assert (np.asarray(IntegerModel(qm).run(x.numpy())) == ref_codes).all()
    # the precision map says what the model holds
    res = out.pm.resolve_all(qm)
    assert {n: str(v.weight) for n, v in res.items()} == {n: str(s.space[o].weight) for n, o in out.assignment.items()}


def test_dnas_on_digits(digits_model):
    s = Session(digits_model, OptionSpace.parse(None), TargetSpec(core="m7"), BudgetSpec(compression=5))
    out = run_dnas_search(s, DnasConfig(epochs=5, warmup_epochs=1, seed=0), final_train=FT)
    check_final(s, out, 5.0)
    b = output_bundle(qf.Bundle([digits_model]), out)
    assert [a.kind for a in b] == ["model", "precision_map", "table", "table"]
    trials = b.tables("qsearch.trials")[0]
    assert [f for f, _ in TRIAL_FIELDS] == trials.schema.names[:len(TRIAL_FIELDS)]
    rows = trials.to_pylist()
    assert sum(r["chosen"] for r in rows) == 1
    final = next(r for r in rows if r["chosen"])
    assert final["test_accuracy"] == out.final["test_accuracy"]
    assert all(r["test_accuracy"] is None for r in rows if not r["chosen"])     # the test split is touched once
    hist = b.tables("qsearch.dnas_history")[0]
    assert hist.num_rows == 5 and [f for f, _ in HISTORY_FIELDS] == hist.schema.names[:len(HISTORY_FIELDS)]
    h = hist.to_pylist()
    assert len(h[0]["probs"]) == 3 and len(h[0]["probs"][0]) == 5
    assert h[0]["temperature"] == pytest.approx(5.0) and h[-1]["temperature"] == pytest.approx(0.1)
    assert not h[0]["alpha_search"] and h[1]["alpha_search"]
    assert trials.provenance["reference"]["val_accuracy"] > 0.9
    # round trip through the pipe form
    back = qf.from_bytes(qf.to_bytes(b))
    assert back.tables("qsearch.trials")[0].num_rows == len(rows)


def test_dse_on_digits(digits_model):
    s = Session(digits_model, OptionSpace.parse("int8,int4,int2"), TargetSpec(core="ibex-mp"), BudgetSpec())
    out = run_dse(s, grouping="ibex", method="binary", max_drop=1.0, objective="latency_ms",
                  train=TrainSpec(epochs=3), final_train=FT, quiet=True)
    check_final(s, out, 4.0)
    rows = out.trials.to_pylist()
    assert 1 <= len(rows) <= 5                                   # ~log2(27) evaluations, not 27
    lat = sorted(r["latency"] for r in rows)
    chosen = next(r for r in rows if r["chosen"])
    passing = [r for r in rows if r["accuracy"] >= s.reference()["val_accuracy"] - 0.01]
    assert chosen["latency"] == min(r["latency"] for r in passing) and lat


def test_ilp_on_digits(digits_model):
    s = Session(digits_model, OptionSpace.parse(None, int_only=True), TargetSpec(core="m7"), BudgetSpec(compression=6))
    out = run_ilp(s, sens_method="noise", n_samples=256, final_train=FT)
    check_final(s, out, 6.0)
    assert out.final["qualifies"]


def test_ilp_with_float_options_exports_what_it_can(digits_model):
    """fp16 is nearly free in accuracy, so a loose budget lets small layers stay float: the model is then
    exported with fp16 layers (no integer-only accuracy), and the report says so instead of inventing one."""
    s = Session(digits_model, OptionSpace.parse(None), TargetSpec(core="m7"), BudgetSpec(compression=5))
    out = run_ilp(s, sens_method="noise", n_samples=256, final_train=TrainSpec(epochs=1))
    assert out.final["compression"] >= 5.0
    if any(s.space[o].is_float for o in out.assignment.values()):
        assert out.final["int_test_accuracy"] is None
        assert any(lay.quant is not None and lay.quant.weight is not None and lay.quant.weight.scheme == "fp16"
                   for lay in out.qmodel.compute_layers())
    else:
        assert out.final["int_test_accuracy"] is not None
