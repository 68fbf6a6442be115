"""Command-line interface of cimnoise (``cimnoise --help``).

Every command reads a qformat bundle holding a model and its probe statistics
(a path, or ``-`` for stdin), adds its table and writes the bundle (stdout by
default), so ``qtrain probe ... | cimnoise calibrate | cimnoise estimate | qviz``
keeps everything. On a terminal the table is printed as text instead. Logs go
to stderr; bad input gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Compute-in-memory noise: statistical estimator and Monte-Carlo crossbar simulator.")

SRC_ARG = typer.Argument("-", help="Bundle with a model and probe statistics: a qformat path, or - (stdin).")
OUT_OPT = typer.Option("-", "--out", "-o", help="Where to write: - (stdout) or a path (.qz stream, .zip, directory).")
FMT_OPT = typer.Option("auto", "--format", "-f", help="auto (bundle in a pipe, text on a terminal), bundle, text, json or csv.")
HW_OPT = typer.Option(None, "--hw", help="Hardware config (JSON or TOML): global fields, or {default, layers}.")
SET_OPT = typer.Option(None, "--set", "-s", help="Override a config field for every layer, KEY=VALUE (repeatable), e.g. adc_bits=6.")
PROBE_OPT = typer.Option(None, "--probe", help="Probe statistics, when the input bundle has none.")
CAL_OPT = typer.Option(None, "--calibration", help="A bundle or table file holding a cimnoise.calibration table.")
DATA_OPT = typer.Option(None, "--data", help="Labelled data: digits[:all|train|test] (needs scikit-learn) or an .npz with x, y.")
SEED_OPT = typer.Option(0, "--seed", help="Seed of every random draw.")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No summary on stderr.")
WORKERS_OPT = typer.Option(None, "--workers", "-j", help="Local worker processes (default: all cores; 0 = serial).")
GRID_OPT = typer.Option(None, "--grid", help="Sweep grid file (JSON/TOML): parameter -> list of values.")
IB_OPT = typer.Option(None, "--input-bits", help="Grid: input DAC bits, e.g. 4,6,8 (none = ideal).")
WB_OPT = typer.Option(None, "--weight-bits", help="Grid: weight bits, e.g. 4,8.")
ALPHA_OPT = typer.Option(None, "--alpha", help="Grid: read noise α, e.g. 0,0.02,0.05.")
PROG_OPT = typer.Option(None, "--programming-error", help="Grid: programming error σ.")
ENC_OPT = typer.Option(None, "--encoding", help="Grid: differential,offset.")
SLICES_OPT = typer.Option(None, "--slices", help="Grid: weight slices, e.g. 1,2,4.")
ISLICE_OPT = typer.Option(None, "--input-slices", help="Grid: input slice bits (bit-serial), e.g. none,1,2.")
ADCB_OPT = typer.Option(None, "--adc-bits", help="Grid: ADC bits, e.g. none,6,8.")
ADCN_OPT = typer.Option(None, "--adc-noise", help="Grid: ADC thermal noise σ in LSB, e.g. 0,0.5.")


def _errors(f):
    from qformat.cli_util import cli_errors

    return cli_errors(f, tool="cimnoise")


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def _provenance(command: str, **params) -> dict:
    return {"tool": "cimnoise", "tool_version": __version__, "command": command,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "params": {k: v for k, v in params.items() if v is not None}}


def _parse_value(text: str):
    t = text.strip()
    low = t.lower()
    if low in ("none", "null", "ideal"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(t)
    except json.JSONDecodeError:
        return t


def _hardware(hw: Optional[Path], sets: Optional[list[str]]):
    from .config import HardwareConfig

    cfg = HardwareConfig.load(hw) if hw is not None else HardwareConfig()
    if sets:
        fields = {}
        for s in sets:
            if "=" not in s:
                raise ValueError(f"--set {s!r}: expected KEY=VALUE")
            k, v = s.split("=", 1)
            fields[k.strip()] = _parse_value(v)
        try:
            cfg = cfg.with_overrides(**fields)
        except Exception as e:  # pydantic ValidationError -> one line
            from pydantic import ValidationError

            from .config import _first_error
            if isinstance(e, ValidationError):
                raise ValueError(f"--set: {_first_error(e)}") from None
            raise
    return cfg


def _read(src: str):
    import qformat as qf

    if src == "-" and sys.stdin.isatty():
        raise ValueError("no input: pipe a bundle into cimnoise or give a path")
    return qf.read_bundle(src)


def _study(src: str, probe: Optional[Path], calibration: Optional[Path], data: Optional[str], seed: int,
           limit: Optional[int] = None, need_probe: bool = True):
    import qformat as qf

    from .calibrate import Calibration
    from .data import load_data
    from .workflows import Study

    bundle = _read(src)
    model = bundle.model()
    ps = qf.read_bundle(str(probe)).first("probe") if probe is not None else bundle.find("probe")
    cal_tables = bundle.tables("cimnoise.calibration")
    if calibration is not None:
        cal_tables = qf.read_bundle(str(calibration)).tables("cimnoise.calibration")
        if not cal_tables:
            raise ValueError(f"{calibration}: holds no cimnoise.calibration table")
    cal = Calibration.from_rows(cal_tables[-1].to_pylist()) if cal_tables else None
    x = y = None
    if data:
        x, y = load_data(data, model, limit=limit)
    if not need_probe:
        return bundle, model, x, y
    return bundle, Study.from_model(model, ps, cal, x, y, seed)


def _emit(bundle, table, out: str, fmt: str, text_columns: list[str]) -> None:
    """Write the bundle with ``table`` added (replacing an older table of its kind), or the table as text/json/csv."""
    import qformat as qf

    from .tables import format_text

    if fmt not in ("auto", "bundle", "text", "json", "csv"):
        raise ValueError(f"--format {fmt!r}: use auto, bundle, text, json or csv")
    if fmt == "auto":
        fmt = "text" if (out == "-" and sys.stdout.isatty()) else "bundle"
    if fmt == "bundle":
        if out == "-" and sys.stdout.isatty():
            raise ValueError("refusing to write binary data to a terminal (use -o FILE, a pipe, or --format text)")
        bundle.remove_kind("table", table.table_kind)
        bundle.add(table)
        qf.save(bundle, out)
        return
    if fmt == "text":
        text = format_text(table, text_columns)
    elif fmt == "json":
        text = json.dumps(table.to_pylist(), indent=1, default=str) + "\n"
    else:
        import csv
        import io

        rows = table.to_pylist()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(table.schema.names))
        w.writeheader()
        for r in rows:
            w.writerow({k: (";".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
        text = buf.getvalue()
    if out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(out).write_text(text)


def _grid(grid: Optional[Path], **axes):
    from .sweep import SweepGrid, parse_list

    kinds = {"input_bits": int, "weight_bits": int, "read_noise": float, "programming_error": float, "encoding": str,
             "weight_slices": int, "input_slice_bits": int, "adc_bits": int, "adc_noise": float}
    data = {}
    if grid is not None:
        data.update(SweepGrid.load(grid).model_dump(exclude_none=True))
    for k, v in axes.items():
        if v is not None:
            data[k] = parse_list(v, kinds[k])
    if not data:
        raise ValueError("empty sweep grid: give --grid FILE or axis options such as --input-bits 4,8 --alpha 0,0.05")
    return SweepGrid.parse(data)


def _executor(workers: Optional[int], n_jobs: int):
    import os

    from .executor import make_executor

    if workers is None:
        workers = min(os.cpu_count() or 1, n_jobs)
        if workers <= 1:
            workers = 0
    return make_executor(workers)


def _notes(study, cfg, quiet: bool) -> None:
    from .workflows import calibration_notes

    for n in calibration_notes(study, cfg):
        _log(f"cimnoise: note: {n}", quiet)


def _progress(quiet: bool):
    def cb(done: int, total: int) -> None:
        if not quiet and total >= 10 and (done == total or (10 * done) // total != (10 * (done - 1)) // total):
            print(f"cimnoise: {done}/{total} grid points", file=sys.stderr, flush=True)
    return cb


LAYER_TEXT = ["layer", "rows", "cols", "tiles", "signal_power", "noise_power", "snr_db"]


# ---------------------------------------------------------------------------- commands
@app.command()
@_errors
def estimate(src: str = SRC_ARG, hw: Optional[Path] = HW_OPT, set_: Optional[list[str]] = SET_OPT,
             probe: Optional[Path] = PROBE_OPT, calibration: Optional[Path] = CAL_OPT, data: Optional[str] = DATA_OPT,
             seed: int = SEED_OPT, out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT) -> None:
    """Per-layer and network SNR from probe statistics (closed form); estimated accuracy drop with --data."""
    from .workflows import estimate as run

    cfg = _hardware(hw, set_)
    bundle, study = _study(src, probe, calibration, data, seed)
    _notes(study, cfg, quiet)
    est, table = run(study, cfg)
    table.provenance.update(_provenance("estimate", hw=str(hw) if hw else None, set=set_, data=data, seed=seed))
    drop = "" if est.acc_drop is None else f", accuracy drop {100 * est.acc_drop:.2f} points"
    _log(f"cimnoise estimate: network SNR {est.snr_db:.2f} dB, first layer {est.snr_first_db:.2f} dB"
         f"{drop} ({len(est.layers)} layers, {1e3 * est.seconds:.1f} ms)", quiet)
    _emit(bundle, table, out, fmt, LAYER_TEXT + ["var_weight_quant", "var_input_quant", "var_read_noise", "var_adc",
                                                   "logit_noise", "acc_drop_est"])


@app.command()
@_errors
def simulate(src: str = SRC_ARG, hw: Optional[Path] = HW_OPT, set_: Optional[list[str]] = SET_OPT,
             probe: Optional[Path] = PROBE_OPT, calibration: Optional[Path] = CAL_OPT, data: Optional[str] = DATA_OPT,
             samples: int = typer.Option(2048, "--samples", "-n", help="Images (with --data) or input vectors per layer."),
             repeats: int = typer.Option(4, "--repeats", help="Noisy network passes (fresh programming each) with --data."),
             mode: str = typer.Option("auto", "--mode", help="Read-noise sampling: auto, device (per device) or aggregate."),
             seed: int = SEED_OPT, out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT) -> None:
    """Monte Carlo: per-layer noise and, with --data, the noisy network's SNR and measured accuracy."""
    from .workflows import simulate as run

    if samples < 1 or repeats < 1:
        raise ValueError("--samples and --repeats must be at least 1")
    if mode not in ("auto", "device", "aggregate"):
        raise ValueError(f"--mode {mode!r}: use auto, device or aggregate")
    cfg = _hardware(hw, set_)
    bundle, study = _study(src, probe, calibration, data, seed)
    _notes(study, cfg, quiet)
    sim, table = run(study, cfg, samples, repeats, mode)
    table.provenance.update(_provenance("simulate", hw=str(hw) if hw else None, set=set_, data=data, seed=seed,
                                        samples=samples, repeats=repeats))
    net = table.to_pylist()[-1]
    acc = "" if net["acc_noisy"] is None else f", accuracy {100 * net['acc_clean']:.2f} -> {100 * net['acc_noisy']:.2f} %"
    snr = net["snr_db"]
    _log(f"cimnoise simulate: network SNR {snr if snr is None else round(snr, 2)} dB ({net['source']}){acc} "
         f"({sim.seconds:.1f} s)", quiet)
    _emit(bundle, table, out, fmt, LAYER_TEXT + ["logit_noise", "acc_clean", "acc_noisy", "source"])


@app.command()
@_errors
def calibrate(src: str = SRC_ARG, hw: Optional[Path] = HW_OPT, set_: Optional[list[str]] = SET_OPT,
              probe: Optional[Path] = PROBE_OPT, data: Optional[str] = DATA_OPT,
              samples: int = typer.Option(1024, "--samples", "-n", help="Images of --data used for calibration."),
              input_method: Optional[str] = typer.Option(None, "--input-method", help="max, percentile:P or optimize."),
              adc_method: Optional[str] = typer.Option(None, "--adc-method", help="max, percentile:P, optimize or full."),
              grid: Optional[Path] = GRID_OPT, input_bits: Optional[str] = IB_OPT, weight_bits: Optional[str] = WB_OPT,
              encoding: Optional[str] = ENC_OPT, slices: Optional[str] = SLICES_OPT, input_slices: Optional[str] = ISLICE_OPT,
              adc_bits: Optional[str] = ADCB_OPT, seed: int = SEED_OPT, out: str = OUT_OPT, fmt: str = FMT_OPT,
              quiet: bool = QUIET_OPT) -> None:
    """Calibrate input and ADC ranges per layer (and per topology of a grid), from --data or the probe."""
    from .workflows import calibrate as run

    cfg = _hardware(hw, set_)
    bundle, study = _study(src, probe, None, data, seed, limit=samples)
    axes = dict(input_bits=input_bits, weight_bits=weight_bits, encoding=encoding, weight_slices=slices,
                input_slice_bits=input_slices, adc_bits=adc_bits)
    g = _grid(grid, **axes) if grid is not None or any(v is not None for v in axes.values()) else None
    cal, table = run(study, cfg, g, input_method, adc_method)
    table.provenance.update(_provenance("calibrate", data=data, seed=seed, input_method=input_method, adc_method=adc_method))
    _log(f"cimnoise calibrate: {len(cal)} ranges ({len({e.topology for e in cal.entries.values()})} topologies) "
         f"from {'data' if data else 'probe statistics'}", quiet)
    _emit(bundle, table, out, fmt, ["layer", "topology", "input_range", "adc_lo", "adc_hi", "source"])


@app.command()
@_errors
def sweep(src: str = SRC_ARG, hw: Optional[Path] = HW_OPT, set_: Optional[list[str]] = SET_OPT,
          probe: Optional[Path] = PROBE_OPT, calibration: Optional[Path] = CAL_OPT, data: Optional[str] = DATA_OPT,
          grid: Optional[Path] = GRID_OPT, input_bits: Optional[str] = IB_OPT, weight_bits: Optional[str] = WB_OPT,
          alpha: Optional[str] = ALPHA_OPT, programming_error: Optional[str] = PROG_OPT, encoding: Optional[str] = ENC_OPT,
          slices: Optional[str] = SLICES_OPT, input_slices: Optional[str] = ISLICE_OPT, adc_bits: Optional[str] = ADCB_OPT,
          adc_noise: Optional[str] = ADCN_OPT, workers: Optional[int] = WORKERS_OPT, seed: int = SEED_OPT,
          out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT) -> None:
    """Estimate every point of a grid (input bits x weight bits x α x encoding x slices x ADC ...)."""
    from .workflows import sweep as run

    cfg = _hardware(hw, set_)
    g = _grid(grid, input_bits=input_bits, weight_bits=weight_bits, read_noise=alpha, programming_error=programming_error,
              encoding=encoding, weight_slices=slices, input_slice_bits=input_slices, adc_bits=adc_bits, adc_noise=adc_noise)
    bundle, study = _study(src, probe, calibration, data, seed)
    ex = _executor(workers, g.size())
    try:
        table = run(study, cfg, g, ex, _progress(quiet))
    finally:
        ex.close()
    table.provenance.update(_provenance("sweep", data=data, seed=seed, executor=ex.describe()))
    _log(f"cimnoise sweep: {table.num_rows} grid points on {ex.describe()['executor']}", quiet)
    _emit(bundle, table, out, fmt, ["trial", "input_bits", "weight_bits", "read_noise", "encoding", "weight_slices",
                                    "input_slice_bits", "adc_bits", "adc_noise", "snr_db", "snr_first_db", "acc_drop_est"])


@app.command()
@_errors
def validate(src: str = SRC_ARG, hw: Optional[Path] = HW_OPT, set_: Optional[list[str]] = SET_OPT,
             probe: Optional[Path] = PROBE_OPT, calibration: Optional[Path] = CAL_OPT, data: Optional[str] = DATA_OPT,
             grid: Optional[Path] = GRID_OPT, input_bits: Optional[str] = IB_OPT, weight_bits: Optional[str] = WB_OPT,
             alpha: Optional[str] = ALPHA_OPT, programming_error: Optional[str] = PROG_OPT, encoding: Optional[str] = ENC_OPT,
             slices: Optional[str] = SLICES_OPT, input_slices: Optional[str] = ISLICE_OPT, adc_bits: Optional[str] = ADCB_OPT,
             adc_noise: Optional[str] = ADCN_OPT,
             samples: int = typer.Option(1024, "--samples", "-n", help="Images (with --data) or input vectors per layer."),
             repeats: int = typer.Option(2, "--repeats", help="Noisy network passes per point with --data."),
             workers: Optional[int] = WORKERS_OPT, seed: int = SEED_OPT, out: str = OUT_OPT, fmt: str = FMT_OPT,
             quiet: bool = QUIET_OPT) -> None:
    """Estimate vs Monte Carlo on a grid: the difference in dB per layer and for the network."""
    from .workflows import validate as run

    if samples < 1 or repeats < 1:
        raise ValueError("--samples and --repeats must be at least 1")
    cfg = _hardware(hw, set_)
    g = _grid(grid, input_bits=input_bits, weight_bits=weight_bits, read_noise=alpha, programming_error=programming_error,
              encoding=encoding, weight_slices=slices, input_slice_bits=input_slices, adc_bits=adc_bits, adc_noise=adc_noise)
    bundle, study = _study(src, probe, calibration, data, seed)
    ex = _executor(workers, g.size())
    try:
        table = run(study, cfg, g, ex, samples, repeats, _progress(quiet))
    finally:
        ex.close()
    table.provenance.update(_provenance("validate", data=data, seed=seed, samples=samples, executor=ex.describe()))
    rows = table.to_pylist()
    ok = [r["within_1db"] for r in rows if r["within_1db"] is not None]
    diffs = [abs(r["diff_db"]) for r in rows if r["diff_db"] is not None]
    if ok:
        _log(f"cimnoise validate: {sum(ok)}/{len(ok)} within 1 dB ({100 * sum(ok) / len(ok):.1f} %), "
             f"max |diff| {max(diffs):.2f} dB over {table.num_rows} rows", quiet)
    _emit(bundle, table, out, fmt, ["trial", "layer", "input_bits", "weight_bits", "read_noise", "encoding", "weight_slices",
                                    "adc_bits", "est_noise", "mc_noise", "diff_db", "within_1db"])


@app.command()
@_errors
def probe(src: str = SRC_ARG, data: str = typer.Option(..., "--data", help="Inputs to probe with: digits[:split] or an .npz."),
          samples: int = typer.Option(1024, "--samples", "-n", help="Images used."),
          bins: int = typer.Option(64, "--bins", help="Histogram bins per site."),
          noise_prop: bool = typer.Option(True, "--noise-prop/--no-noise-prop", help="Measure noise propagation."),
          seed: int = SEED_OPT, out: str = OUT_OPT, fmt: str = typer.Option("auto", "--format", "-f", help="auto or bundle."),
          quiet: bool = QUIET_OPT) -> None:
    """Probe statistics in numpy (what `qtrain probe` writes), for models and machines without torch."""
    import qformat as qf

    from .probe import probe_model

    if bins < 2:
        raise ValueError("--bins must be at least 2")
    bundle, model, x, _ = _study(src, None, None, data, seed, limit=samples, need_probe=False)
    ps = probe_model(model, x, bins=bins, noise_prop=noise_prop, seed=seed,
                     provenance=_provenance("probe", data=data, samples=int(x.shape[0]), bins=bins))
    bundle.remove_kind("probe")
    bundle.add(ps)
    if out == "-" and sys.stdout.isatty():
        raise ValueError("refusing to write binary data to a terminal (use -o FILE or a pipe)")
    _log(f"cimnoise probe: {len(ps.sites())} sites, {len(ps.noise_prop)} noise-propagation matrices "
         f"from {x.shape[0]} inputs", quiet)
    qf.save(bundle, out)


@app.command()
@_errors
def example(hidden: str = typer.Option("32,32", "--hidden", help="Hidden layer sizes."),
            seed: int = SEED_OPT, out: str = OUT_OPT, quiet: bool = QUIET_OPT) -> None:
    """A digits MLP trained with scikit-learn plus its probe statistics (a bundle to try the other commands on)."""
    import qformat as qf

    try:
        from .examples import digits_mlp
        from .probe import probe_model
        sizes = [int(h) for h in hidden.split(",") if h.strip()]
        model, xtr, _, _, _ = digits_mlp(sizes, seed=seed)
    except ImportError:
        raise ValueError("cimnoise example needs scikit-learn (pip install scikit-learn)") from None
    ps = probe_model(model, xtr, seed=seed, provenance=_provenance("example", data="digits:train", seed=seed))
    if out == "-" and sys.stdout.isatty():
        raise ValueError("refusing to write binary data to a terminal (use -o FILE or a pipe)")
    _log(f"cimnoise example: digits MLP 64-{'-'.join(map(str, sizes))}-10, test accuracy "
         f"{100 * model.provenance['metrics']['test_acc']:.1f} %", quiet)
    qf.save(qf.Bundle([model, ps]), out)


@app.command()
def version() -> None:
    """Print the version of cimnoise."""
    typer.echo(__version__)


def main() -> None:
    app()
