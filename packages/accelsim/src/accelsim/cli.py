"""Command-line interface of accelsim (``accelsim --help``).

Every command reads a model (qformat path or bundle, the original JSON weight
file, or ``-`` for stdin), adds its table to the bundle and writes the bundle
(stdout by default, so ``accelsim sweep m.qz | qviz ...`` sees model and table).
On a terminal the table is printed as CSV instead. Logs go to stderr; bad input
gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys
import tempfile
from pathlib import Path

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Cycle-accurate simulator of a k-means weight-sharing accelerator.")

MODEL_ARG = typer.Argument("-", help="Model: qformat artifact/bundle path, the original JSON weight file, or - (stdin).")
LAYER_OPT = typer.Option(None, "--layer", "-l", help="Layer[:neurons], repeatable; globs allowed (network.0:0-3,7). Default: all.")
OUT_OPT = typer.Option("-", "--out", "-o", help="Where to write: - (stdout) or a path (.qz stream, .zip, directory, .csv).")
FMT_OPT = typer.Option("auto", "--format", "-f", help="auto (bundle in a pipe, CSV on a terminal), bundle or csv.")
ORDER_HELP = "sequential, interleaved or both (comma-separated list allowed)."
SEM_HELP = "v0624, v0618, improved or all (comma-separated list allowed)."
DIR_OPT = typer.Option(..., "--dir", "-d", help="Directory for the memory files.")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No summary on stderr.")
SKIP_OPT = typer.Option(False, "--skip-unsupported", help="Leave out (with a note on stderr) layers that cannot be "
                        "simulated instead of failing.")


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def _cli_errors(f):
    from qformat.cli_util import cli_errors

    return cli_errors(f, tool="accelsim")


def parse_ints(spec: str, what: str) -> list[int]:
    """``16``, ``4..16``, ``4-16``, ``4..16:2`` or ``4,8,16`` -> list of positive ints."""
    out: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)\s*(?:\.\.|-)\s*(\d+)(?::(\d+))?", part)
        if m:
            a, b, st = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
            if b < a or st < 1:
                raise ValueError(f"bad {what} range {part!r}")
            out.extend(range(a, b + 1, st))
        elif re.fullmatch(r"\d+", part):
            out.append(int(part))
        else:
            raise ValueError(f"bad {what} value {part!r} (use e.g. 16, 4..16 or 4,8,16)")
    if not out or min(out) < 1:
        raise ValueError(f"{what} must be positive integers, got {spec!r}")
    return sorted(set(out))


def _names(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def _provenance(command: str, **params) -> dict:
    return {"tool": "accelsim", "tool_version": __version__, "command": command,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "params": {k: v for k, v in params.items() if v is not None}}


def _resolve_format(fmt: str, out: str) -> str:
    if fmt not in ("auto", "bundle", "csv"):
        raise ValueError(f"unknown format {fmt!r} (use auto, bundle or csv)")
    if fmt == "auto":
        if out != "-" and out.lower().endswith(".csv"):
            return "csv"
        return "csv" if out == "-" and sys.stdout.isatty() else "bundle"
    return fmt


def _is_special(out: str) -> bool:
    """An existing path that is neither a regular file nor a directory (``/dev/null``, a FIFO, a tty).

    Such a destination is written in place as a stream: the atomic save (temporary
    + rename) would replace the device node itself.
    """
    p = Path(out)
    return p.exists() and not p.is_file() and not p.is_dir()


def _emit(bundle, table, table_kind: str, prov: dict, out: str, fmt: str) -> None:
    import pyarrow.csv as pacsv

    import qformat as qf

    fmt = _resolve_format(fmt, out)
    if fmt == "csv":
        if out == "-":
            pacsv.write_csv(table, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        elif _is_special(out):
            with open(out, "wb") as f:
                pacsv.write_csv(table, f)
        else:
            pacsv.write_csv(table, out)
        return
    bundle.add(qf.Table(table, table_kind=table_kind, provenance=prov))
    if out == "-":
        from qformat.cli_util import binary_stdout

        qf.save(bundle, binary_stdout())
    elif _is_special(out):
        with open(out, "wb") as f:
            qf.save(bundle, f)
    else:
        qf.save(bundle, out)


def _acts(path: str | None, model):
    if path is None:
        return None, None
    from .activations import load_acts

    shape = tuple(model.input_shape) if model is not None else None
    x, _, is_codes = load_acts(path, shape)
    return x, is_codes


def _load(model: str):
    from .api import load_model

    return load_model(model)


# ---------------------------------------------------------------------------------------------

@app.command()
@_cli_errors
def run(model: str = MODEL_ARG, S: int = typer.Option(16, "-S", help="Segments (lanes) per cycle."),
        C: int = typer.Option(16, "-C", help="Containers (accumulators) per neuron."),
        order: str = typer.Option("sequential", "--order", help="sequential or interleaved."),
        semantics: str = typer.Option("v0624", "--semantics", "--mode", help=SEM_HELP),
        layer: list[str] | None = LAYER_OPT,
        acts: str | None = typer.Option(None, "--acts", help="Network-input samples (.npy/.npz/original JSON): "
                                           "activation sparsity (improved) and the bit-exact functional check."),
        multipliers: int = typer.Option(1, "--multipliers", help="Multipliers of improved mode's final stage."),
        max_windows: int = typer.Option(4096, "--max-windows", help="Conv: at most this many input windows per layer."),
        out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT, skip: bool = SKIP_OPT) -> None:
    """Cycles of every selected neuron for one configuration (table accelsim.run)."""
    from . import api

    bundle, m = _load(model)
    x, is_codes = _acts(acts, m)
    sems = api._as_list(_names(semantics), api.SEMANTICS, "semantics")
    tab = api.run(m, S, C, order, sems, layer, x, is_codes, multipliers, max_windows, skip_unsupported=skip)
    _summary(tab, quiet)
    _emit(bundle, tab, "accelsim.run", _provenance("run", S=S, C=C, order=order, semantics=list(sems),
                                                   layers=layer, acts=acts), out, fmt)


def _summary(tab, quiet: bool) -> None:
    if quiet:
        return
    import numpy as np

    d = tab.to_pydict()
    keys = sorted({(lay, sem) for lay, sem in zip(d["layer"], d["semantics"])}, key=lambda k: (d["layer"].index(k[0]), k[1]))
    for lay, sem in keys:
        idx = [i for i, (a, b) in enumerate(zip(d["layer"], d["semantics"])) if a == lay and b == sem]
        cyc = [d["cycles"][i] for i in idx]
        skip = sum(c is None for c in cyc)
        tot = sum(c for c in cyc if c is not None)
        msg = f"{lay} {sem} S={d['S'][idx[0]]} C={d['C'][idx[0]]} {d['order'][idx[0]]}: {tot} cycles over {len(idx) - skip} neuron(s)"
        if skip:
            msg += f", {skip} infeasible"
        if "func_ok" in d and any(d["func_ok"][i] is not None for i in idx):
            oks = [d["func_ok"][i] for i in idx if d["func_ok"][i] is not None]
            msg += f"; functional check {sum(oks)}/{len(oks)} bit-exact on {d['func_samples'][idx[0]]} sample(s)"
        if sem == "improved":
            ok = [i for i in idx if d["cycles"][i] is not None]
            msg += (f" (v0624 {sum(d['base_cycles'][i] for i in ok)}; saved: ceil(n/q) scheduling "
                    f"{sum(d['saved_sched'][i] for i in ok)}, empty groups {sum(d['saved_skip'][i] for i in ok)}; "
                    f"multiply stage +{sum(d['mult_cycles'][i] for i in ok)})")
        if sem == "improved" and any(d["act_cycles_mean"][i] is not None for i in idx):
            msg += f"; with activation sparsity {np.nansum([d['act_cycles_mean'][i] or 0 for i in idx]):.1f} (mean)"
        print(msg, file=sys.stderr)


@app.command()
@_cli_errors
def sweep(model: str = MODEL_ARG, S: str = typer.Option("4..16", "-S", help="Segments: 16, 4..16, 4,8,16."),
          C: str = typer.Option("4..16", "-C", help="Containers: 16, 4..16, 4,8,16."),
          order: str = typer.Option("both", "--order", help=ORDER_HELP),
          semantics: str = typer.Option("v0624", "--semantics", "--mode", help=SEM_HELP),
          layer: list[str] | None = LAYER_OPT,
          acts: str | None = typer.Option(None, "--acts", help="Network-input samples: activation sparsity (improved)."),
          multipliers: int = typer.Option(1, "--multipliers", help="Multipliers of improved mode's final stage."),
          max_windows: int = typer.Option(4096, "--max-windows", help="Conv: at most this many input windows per layer."),
          out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT, skip: bool = SKIP_OPT) -> None:
    """Grid of S x C x order x semantics: one row per layer/neuron/configuration (table accelsim.sweep)."""
    import time

    from . import api

    bundle, m = _load(model)
    x, is_codes = _acts(acts, m)
    Ss, Cs = parse_ints(S, "S"), parse_ints(C, "C")
    t0 = time.perf_counter()
    tab = api.sweep(m, Ss, Cs, _names(order), _names(semantics), layer, x, is_codes, multipliers, max_windows,
                    skip_unsupported=skip)
    dt = time.perf_counter() - t0
    nnull = tab.column("cycles").null_count
    _log(f"accelsim sweep: {tab.num_rows} cases ({nnull} infeasible) in {dt:.3f} s", quiet)
    _emit(bundle, tab, "accelsim.sweep", _provenance("sweep", S=Ss, C=Cs, order=order, semantics=semantics,
                                                     layers=layer, acts=acts), out, fmt)


@app.command("range")
@_cli_errors
def range_(model: str = MODEL_ARG, S: str = typer.Option("4..16", "-S", help="Segments: 16, 4..16, 4,8,16."),
           C: str = typer.Option("4..16", "-C", help="Containers: 16, 4..16, 4,8,16."),
           order: str = typer.Option("both", "--order", help=ORDER_HELP),
           semantics: str = typer.Option("v0624", "--semantics", "--mode", help=SEM_HELP),
           layer: list[str] | None = LAYER_OPT,
           out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT, skip: bool = SKIP_OPT) -> None:
    """Per configuration: min/mean/max/std/total cycles over each layer's neurons, null-aware (accelsim.range)."""
    from . import api

    bundle, m = _load(model)
    Ss, Cs = parse_ints(S, "S"), parse_ints(C, "C")
    tab = api.cycle_ranges(m, Ss, Cs, _names(order), _names(semantics), layer, skip_unsupported=skip)
    _log(f"accelsim range: {tab.num_rows} rows", quiet)
    _emit(bundle, tab, "accelsim.range", _provenance("range", S=Ss, C=Cs, order=order, semantics=semantics,
                                                     layers=layer), out, fmt)


@app.command()
@_cli_errors
def util(model: str = MODEL_ARG, S: str = typer.Option("8", "-S", help="Segments: 8, 4..16, 4,8,16."),
         C: str = typer.Option("8", "-C", help="Containers: 8, 4..16, 4,8,16."),
         order: str = typer.Option("sequential", "--order", help=ORDER_HELP),
         semantics: str = typer.Option("v0624", "--semantics", "--mode", help=SEM_HELP),
         layer: list[str] | None = LAYER_OPT,
         out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT, skip: bool = SKIP_OPT) -> None:
    """Container and en_acc utilization per container, neuron and layer (table accelsim.util)."""
    from . import api

    bundle, m = _load(model)
    Ss, Cs = parse_ints(S, "S"), parse_ints(C, "C")
    tab = api.util(m, Ss, Cs, _names(order), _names(semantics), layer, skip_unsupported=skip)
    if not quiet:
        d = tab.filter(tab.column("level").to_numpy(zero_copy_only=False) == "layer").to_pylist()
        for r in d:
            u = r["utilization"]
            if r["cycles"] is None:
                _log(f"{r['layer']} {r['semantics']} S={r['S']} C={r['C']} {r['order']}: every neuron infeasible")
                continue
            _log(f"{r['layer']} {r['semantics']} S={r['S']} C={r['C']} {r['order']}: utilization "
                 f"{'n/a' if u is None else f'{u:.3f}'}, en 0/1/>1 = {r['en_idle']}/{r['en_immediate']}/{r['en_delayed']}"
                 + (f", {r['skipped']} neuron(s) skipped" if r["skipped"] else ""))
    _emit(bundle, tab, "accelsim.util", _provenance("util", S=Ss, C=Cs, order=order, semantics=semantics,
                                                    layers=layer), out, fmt)


@app.command()
@_cli_errors
def trace(model: str = MODEL_ARG, S: int = typer.Option(16, "-S", help="Segments (lanes)."),
          C: int = typer.Option(16, "-C", help="Containers."),
          order: str = typer.Option("sequential", "--order", help="sequential or interleaved."),
          semantics: str = typer.Option("v0624", "--semantics", "--mode", help="v0624, v0618 or improved."),
          layer: list[str] | None = LAYER_OPT,
          acts: str | None = typer.Option(None, "--acts", help="Network-input samples (improved: zero activations idle)."),
          sample: int = typer.Option(0, "--sample", help="Which sample of --acts to trace."),
          multipliers: int = typer.Option(1, "--multipliers", help="Multipliers of improved mode's final stage."),
          out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT) -> None:
    """Per-cycle trace (cycle, group, en_acc and container per lane), streamed (table accelsim.trace)."""
    import pyarrow.csv as pacsv

    import qformat as qf

    from . import api

    bundle, m = _load(model)
    x, is_codes = _acts(acts, m)
    skipped: list = []
    schema, batches = api.trace(m, S, C, order, semantics, layer, x, sample, is_codes, multipliers, skipped)
    fmt = _resolve_format(fmt, out)
    prov = _provenance("trace", S=S, C=C, order=order, semantics=semantics, layers=layer, acts=acts)
    rows = 0
    tmp = None
    try:
        if out == "-":
            from qformat.cli_util import binary_stdout

            sink = binary_stdout() if fmt == "bundle" else sys.stdout.buffer
        elif _is_special(out):
            sink = open(out, "wb")  # noqa: SIM115 - closed below
        else:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{Path(out).name}.", dir=str(Path(out).parent))
            sink = os.fdopen(fd, "wb")
        if fmt == "csv":
            with pacsv.CSVWriter(sink, schema) as w:
                for b in batches:
                    w.write_batch(b)
                    rows += b.num_rows
        else:
            qf.save(bundle, sink)
            with qf.TableStreamWriter(sink, schema, "accelsim.trace", prov) as w:
                for b in batches:
                    w.write_batch(b)
                    rows += b.num_rows
        sink.flush()
        if out != "-":
            sink.close()
        if tmp is not None:
            os.replace(tmp, out)
            tmp = None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    if skipped:
        _log(f"accelsim trace: skipped {len(skipped)} infeasible neuron(s) (more distinct values than C={C}): "
             + ", ".join(f"{a}:{b}" for a, b in skipped[:8]) + (" ..." if len(skipped) > 8 else ""), quiet)
    _log(f"accelsim trace: {rows} cycle rows", quiet)


@app.command()
@_cli_errors
def mem(model: str = MODEL_ARG, S: int = typer.Option(16, "-S", help="Segments (lanes)."),
        C: int = typer.Option(16, "-C", help="Containers."),
        order: str = typer.Option("sequential", "--order", help="sequential or interleaved."),
        semantics: str = typer.Option("v0624", "--semantics", "--mode",
                                      help="v0624/v0618 (en = k-q+1) or improved (en = ceil(k/q))."),
        layer: list[str] | None = LAYER_OPT,
        directory: Path = DIR_OPT,
        mem_format: str = typer.Option("hex", "--mem-format", help="hex ($readmemh), bin ($readmemb) or mif (Quartus)."),
        weight_bits: int | None = typer.Option(None, "--weight-bits", help="Weight word width (default: code bits; 8 for k-means)."),
        weight_frac: int | None = typer.Option(None, "--weight-frac", help="Fractional bits of k-means weights (default 5)."),
        acts: str | None = typer.Option(None, "--acts", help="Also write testbench stimuli of the first selected layer's inputs."),
        out: str = OUT_OPT, fmt: str = FMT_OPT, quiet: bool = QUIET_OPT) -> None:
    """Memory images the RTL loads (weight per container, container index and en_acc per lane)."""
    import pyarrow as pa

    from . import api
    from .memimage import FORMATS, write_memories

    if mem_format not in FORMATS:
        raise ValueError(f"unknown memory format {mem_format!r} (use {', '.join(FORMATS)})")
    bundle, m = _load(model)
    recs: dict = {k: [] for k in ("layer", "neuron", "memory", "path", "width", "depth", "signed")}
    sel = api.choose(m, layer)
    infeasible = []
    for s in sel:
        infeasible += [(s.layer.name, int(o)) for o in s.neurons if s.layer.data.U[o] > C]
    for lname, o, mems in api.memories(m, S, C, order, semantics, layer, weight_bits, weight_frac):
        d = directory / lname / f"neuron_{o}" / f"S{S}_C{C}_{order}_{'improved' if semantics == 'improved' else 'orig'}"
        for mm, p in zip(mems, write_memories(mems, d, mem_format)):
            for k, v in (("layer", lname), ("neuron", o), ("memory", mm.name), ("path", str(p)),
                         ("width", mm.width), ("depth", mm.depth), ("signed", mm.signed)):
                recs[k].append(v)
    if acts is not None:
        _stimuli(m, sel, acts, S, order, directory, recs)
    if infeasible:
        _log(f"accelsim mem: no images for {len(infeasible)} infeasible neuron(s) (more distinct values than C={C})", quiet)
    _log(f"accelsim mem: wrote {len(recs['path'])} file(s) under {directory}", quiet)
    tab = pa.table({"layer": pa.array(recs["layer"], pa.string()), "neuron": pa.array(recs["neuron"], pa.int32()),
                    "memory": pa.array(recs["memory"], pa.string()), "path": pa.array(recs["path"], pa.string()),
                    "width": pa.array(recs["width"], pa.int32()), "depth": pa.array(recs["depth"], pa.int32()),
                    "signed": pa.array(recs["signed"], pa.bool_())})
    _emit(bundle, tab, "accelsim.mem", _provenance("mem", S=S, C=C, order=order, semantics=semantics, layers=layer,
                                                   directory=str(directory), mem_format=mem_format), out, fmt)


def _stimuli(m, sel, acts_path, S, order, directory: Path, recs: dict) -> None:
    """Testbench stimuli: the first selected layer's input codes in lane order, one file per sample."""
    import numpy as np

    from . import api
    from .activations import TOTAL_BITS, to_binary_lines
    from .core import lane_positions

    x, is_codes = _acts(acts_path, m)
    s0 = sel[0]
    la = api._layer_acts(m, [s0], x, is_codes, 1 << 30)[s0.layer.name]
    if len(la.parts) != 1:
        raise ValueError(f"layer {s0.layer.name!r}: stimuli need a linear or ungrouped layer")
    xs = la.parts[0][1]
    N = xs.shape[1]
    pos = lane_positions(N, S, order).reshape(-1)
    pad = np.zeros((xs.shape[0], len(pos)), dtype=np.int64)
    pad[:, :N] = xs
    d = directory / s0.layer.name / f"stimuli_S{S}_{order}"
    d.mkdir(parents=True, exist_ok=True)
    bits = max(TOTAL_BITS, int(np.abs(xs).max()).bit_length() + 1) if xs.size else TOTAL_BITS
    for i, row in enumerate(pad[:, pos]):
        p = d / f"x_{i:04d}.txt"
        p.write_text(to_binary_lines(row, bits))
        for k, v in (("layer", s0.layer.name), ("neuron", -1), ("memory", "stimulus"), ("path", str(p)),
                     ("width", bits), ("depth", len(row)), ("signed", True)):
            recs[k].append(v)


@app.command()
def version() -> None:
    """Print the version of accelsim."""
    typer.echo(__version__)


def main() -> None:
    app()
