"""Executors (serial, local pool, a real Dask cluster on loopback), checkpoints, measured costs through a pipe."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import qformat as qf
from qformat.errors import QFormatError
from qsearch.checkpoint import ResultCache, TrialLog
from qsearch.cost.measured import measure, summarize
from qsearch.executor import LocalPoolExecutor, SerialExecutor, make_executor, run_jobs
from qsearch.options import OptionSpace
from qsearch.runner import BudgetSpec, Session, TargetSpec, run_dse
from qsearch.training import TrainSpec

BACKEND = Path(__file__).parent / "helpers" / "fake_backend.py"
TINY = TrainSpec(epochs=1, batch_size=128)


def test_run_jobs_serial_and_local_pool():
    jobs = [(i, (i, 2)) for i in range(7)]
    assert dict(run_jobs(SerialExecutor(), pow, jobs)) == {i: i * i for i in range(7)}
    ex = LocalPoolExecutor(2)
    try:
        assert dict(run_jobs(ex, pow, jobs)) == {i: i * i for i in range(7)}
        with pytest.raises(ZeroDivisionError):
            dict(run_jobs(ex, divmod, [(0, (1, 0))]))
    finally:
        ex.close()
    assert isinstance(make_executor(0), SerialExecutor)


def test_run_jobs_bounds_what_is_in_flight():
    class Spy(SerialExecutor):
        workers = 2
        live = 0
        peak = 0

        def submit(self, fn, *args):
            Spy.live += 1
            Spy.peak = max(Spy.peak, Spy.live)
            return super().submit(fn, *args)

        def wait_first(self, futures):
            futures = list(futures)[:1]
            Spy.live -= len(futures)
            return futures

    out = dict(run_jobs(Spy(), abs, ((i, (-i,)) for i in range(50)), max_in_flight=3))
    assert out == {i: i for i in range(50)} and Spy.peak <= 3


def _session(model):
    return Session(model, OptionSpace.parse("int8,int4"), TargetSpec(core="ibex-mp"), BudgetSpec())


def test_dask_cluster_on_loopback_gives_the_local_results(digits_mlp):
    from distributed import LocalCluster

    serial = run_dse(_session(digits_mlp), grouping="none", method="exhaustive", train=TINY,
                     final_train=TrainSpec(epochs=0), executor=SerialExecutor(), quiet=True)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=40) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        ex = make_executor(cluster=cluster.scheduler_address)
        try:
            assert ex.describe()["executor"] == "dask" and ex.workers == 2
            dist = run_dse(_session(digits_mlp), grouping="none", method="exhaustive", train=TINY,
                           final_train=TrainSpec(epochs=0), executor=ex, quiet=True)
        finally:
            ex.close()
    a = {r["candidate"]: r["accuracy"] for r in serial.rows}
    b = {r["candidate"]: r["accuracy"] for r in dist.rows}
    assert len(a) == 4 and a == b
    assert serial.assignment == dist.assignment


def test_unreachable_cluster_is_one_clear_error():
    with pytest.raises(QFormatError, match="cannot reach"):
        from qsearch.executor import DaskExecutor

        DaskExecutor("tcp://127.0.0.1:1", timeout=1)


def test_killed_dse_resumes_without_redoing_work(digits_mlp, tmp_path, monkeypatch):
    import qsearch.runner as runner

    ck = tmp_path / "dse.jsonl"
    first = run_dse(_session(digits_mlp), grouping="none", method="exhaustive", train=TINY,
                    final_train=TrainSpec(epochs=0), checkpoint=str(ck), quiet=True)
    lines = ck.read_text().splitlines()
    assert len(lines) == 1 + 4
    # a kill after two candidates, in the middle of writing the third
    ck.write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])
    calls = []
    real = runner.evaluate_job

    def counting(job, model_bytes):
        calls.append(job.cid)
        return real(job, model_bytes)

    monkeypatch.setattr(runner, "evaluate_job", counting)
    again = run_dse(_session(digits_mlp), grouping="none", method="exhaustive", train=TINY,
                    final_train=TrainSpec(epochs=0), checkpoint=str(ck), quiet=True)
    assert len(calls) == 2
    assert {r["candidate"]: r["accuracy"] for r in first.rows} == {r["candidate"]: r["accuracy"] for r in again.rows}
    with pytest.raises(QFormatError, match="different search configuration"):
        run_dse(_session(digits_mlp), grouping="none", method="binary", train=TINY, checkpoint=str(ck), quiet=True)


def test_trial_log_rejects_foreign_files(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"kind": "other"}\n')
    with pytest.raises(QFormatError, match="not a qsearch checkpoint"):
        TrialLog(str(p), {})
    log = TrialLog(str(tmp_path / "y.jsonl"), {"a": 1})
    log.record("c1", {"accuracy": 0.5})
    assert TrialLog(str(tmp_path / "y.jsonl"), {"a": 1}).done == {"c1": {"accuracy": 0.5}}


# ----------------------------------------------------------------------------- measured costs
def _cmd(*extra):
    return " ".join([sys.executable, str(BACKEND), *extra])


def test_measure_through_a_pipe_and_cache(digits_model, tmp_path, monkeypatch):
    from qsearch.training import DataSpec, export_model, finetune, float_net, load_splits, precision_map

    counter = tmp_path / "count"
    monkeypatch.setenv("FAKE_BACKEND_COUNTER", str(counter))
    sp = OptionSpace.parse("int8,int4")
    a = {"conv1": "int8", "conv2": "int4", "fc": "int4"}
    qnet, _, _ = finetune(float_net(digits_model), precision_map(a, sp), load_splits(DataSpec()), TrainSpec(epochs=0))
    data = qf.to_bytes(export_model(qnet, {}))
    cache = ResultCache(tmp_path / "cache")
    m = measure(_cmd("-"), data, freq_mhz=100.0, cache=cache)
    macs = {lay.name: qf.macs(lay) for lay in digits_model.compute_layers()}
    want = macs["conv1"] * 8 // 8 + macs["conv2"] * 4 // 8 + macs["fc"] * 4 // 8
    assert m["measured_cycles"] == want
    assert m["measured_latency_ms"] == pytest.approx(want / 100e3)
    assert measure(_cmd("-"), data, freq_mhz=100.0, cache=ResultCache(tmp_path / "cache")) == m
    assert counter.read_text() == "x"                       # the second call came from the cache
    with pytest.raises(QFormatError, match="exited with 3: fake: the simulator exploded"):
        measure(_cmd("--fail"), data)
    with pytest.raises(QFormatError, match="did not print a qformat table"):
        measure(_cmd("--garbage"), data)
    with pytest.raises(QFormatError, match="command not found"):
        measure("no-such-backend-xyz -", data)


def test_summarize_per_layer_and_totals_tables():
    import pyarrow as pa

    t = qf.Table(pa.table({"layer": ["a", "b"], "cycles": [10, 32], "name": ["x", "y"]}))
    assert summarize(t) == {"cycles": 42.0}
    t = qf.Table(pa.table({"energy_uj": [1.5], "cycles": [7]}))
    assert summarize(t) == {"energy_uj": 1.5, "cycles": 7.0}


def test_dse_with_a_measured_objective_column(digits_mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_BACKEND_COUNTER", str(tmp_path / "n"))
    out = run_dse(_session(digits_mlp), grouping="runs:2", method="exhaustive", train=TINY, max_drop=100.0,
                  objective="measured_cycles", final_train=TrainSpec(epochs=0), cost_cmd=_cmd("-"), cost_freq=50.0,
                  quiet=True, checkpoint=str(tmp_path / "c.jsonl"))
    rows = out.trials.to_pylist()
    assert len(rows) == 2 and all(r["measured_cycles"] > 0 for r in rows)
    assert "measured_cycles" in out.trials.schema.names
    by = {r["precisions"]: r["measured_cycles"] for r in rows}
    assert by["int4,int4"] == by["int8,int8"] // 2
    # the back-end's number is the objective: with any accuracy allowed, the cheapest measured map wins
    assert out.assignment == {"fc1": "int4", "fc2": "int4"}
    with pytest.raises(QFormatError, match="measured objective needs"):
        run_dse(_session(digits_mlp), method="binary", objective="measured_cycles", cost_cmd=_cmd("-"))
    assert out.qmodel.provenance["metrics"]["measured_cycles"] > 0
