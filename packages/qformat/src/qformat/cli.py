"""``qformat``: inspect, validate, convert, diff, export and import artifacts."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from . import __version__
from .cli_util import binary_stdout, cli_errors
from .errors import QFormatError
from .export import export_c_header, export_hex, export_npz, export_table, model_summary
from .model import Model
from .precision import PrecisionMap
from .probe import ProbeStats
from .store import read_bundle, save
from .table import Table

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The qstack interchange format: inspect, validate, convert, diff, export, import.")

Src = Annotated[str, typer.Argument(help="Artifact: directory, .zip, stream file, fsspec URL, or - for stdin.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qformat {__version__} (spec {__import__('qformat').SPEC_VERSION})")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Show the version and exit.")] = False) -> None:
    """qformat command line."""


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def describe(obj) -> str:
    """The human summary ``qformat inspect`` prints for one artifact."""
    if isinstance(obj, Model):
        t = model_summary(obj).to_pylist()
        prov = obj.provenance
        lines = [f"model: {len(obj.layers)} layers ({len(obj.compute_layers())} compute), input {tuple(obj.input_shape)}"
                 + (f", written by {prov.get('tool')}" if prov.get("tool") else "")]
        iq = obj.input_quant
        if iq is not None:
            lines.append(f"  input quantization: {'int' if iq.signed else 'uint'}{iq.bits} scale {iq.scale:g} zp {iq.zero_point}")
        lines.append(f"  {'layer':<28}{'op':<15}{'out':<14}{'params':>10}{'MACs':>12}{'bits':>6}{'bytes':>12}")
        for r in t:
            bits = r["weight_bits"] if r["weight_bits"] else ("32" if r["params"] else "")
            lines.append(f"  {r['layer'][:27]:<28}{r['op'] + ('+' + r['activation'] if r['activation'] != 'none' else ''):<15}"
                         f"{r['out_shape']:<14}{r['params'] or '':>10}{r['macs'] or '':>12}{bits:>6}{r['bytes'] or '':>12}")
        fb = sum(r["float_bytes"] for r in t)
        qb = sum(r["bytes"] for r in t)
        lines.append(f"  total: {sum(r['params'] for r in t):,} params, {sum(r['macs'] for r in t):,} MACs, "
                     f"{_fmt_bytes(qb)} (fp32 {_fmt_bytes(fb)}, compression {fb / qb if qb else 1:.2f}x)")
        for k in ("dataset", "seed", "metrics"):
            if k in prov:
                lines.append(f"  {k}: {json.dumps(prov[k])}")
        return "\n".join(lines)
    if isinstance(obj, PrecisionMap):
        rules = obj.rules()
        return "precision map: " + (", ".join(f"{k}={v['weight']}/{v['activation']}" for k, v in rules.items()) or "(empty)")
    if isinstance(obj, ProbeStats):
        return f"probe statistics: {len(obj.sites())} sites, noise propagation for {len(obj.noise_prop)} layers, {obj.classes} classes"
    if isinstance(obj, Table):
        cols = ", ".join(f"{f.name}:{f.type}" for f in obj.schema)
        return f"table {obj.table_kind}: {obj.num_rows} rows; columns {cols}"
    return repr(obj)  # pragma: no cover


@app.command()
@cli_errors(tool="qformat")
def inspect(src: Src = "-") -> None:
    """Print a human summary: layers, shapes, bits, sizes in bytes, compression ratio."""
    for i, obj in enumerate(read_bundle(src)):
        if i:
            typer.echo("")
        typer.echo(describe(obj))


@app.command()
def validate(src: Src = "-",
             as_json: Annotated[bool, typer.Option("--json", help='Print {"valid": .., "message": ..}.')] = False,
             kind: Annotated[Optional[str], typer.Option(help="Require this artifact kind.")] = None) -> None:
    """Check an artifact fully (metadata, shapes, every array); exit 0 when valid, 1 when not."""
    try:
        b = read_bundle(src, expect=kind)
        for obj in b:
            if isinstance(obj, Model):
                for lname, t in obj.tensor_keys():
                    obj.get(lname, t)
                obj.validate(src, deep=True)
        msg, ok = f"valid: {', '.join(getattr(o, 'kind', '?') for o in b)}", True
    except QFormatError as e:
        msg, ok = str(e), False
    if as_json:
        typer.echo(json.dumps({"valid": ok, "message": msg}))
    else:
        typer.echo(msg, err=not ok)
    raise typer.Exit(0 if ok else 1)


class Form(str, Enum):
    dir = "dir"
    zip = "zip"
    stream = "stream"


@app.command()
@cli_errors(tool="qformat")
def convert(src: Src, dest: Annotated[str, typer.Argument(help="Destination path, URL, or - for stdout.")] = "-",
            to: Annotated[Optional[Form], typer.Option(help="Container (default: from the destination name).")] = None) -> None:
    """Copy an artifact between containers: directory, zip, stream (pipes)."""
    b = read_bundle(src)
    obj = b[0] if len(b) == 1 else b
    if dest == "-":
        save(obj, binary_stdout())
    else:
        save(obj, dest, form=to.value if to else None)


def _diff_models(a: Model, b: Model, atol: float) -> list[str]:
    out = []
    la, lb = a.layer_names(), b.layer_names()
    for n in la:
        if n not in lb:
            out.append(f"{n}: only in A")
    for n in lb:
        if n not in la:
            out.append(f"{n}: only in B")
    for n in la:
        if n not in lb:
            continue
        x, y = a.layer(n), b.layer(n)
        for field in ("op", "inputs", "attrs", "activation", "quant"):
            if getattr(x, field) != getattr(y, field):
                out.append(f"{n}: {field} differs ({getattr(x, field)} vs {getattr(y, field)})")
        ta, tb = set(a.tensor_names(n)), set(b.tensor_names(n))
        for t in sorted(ta ^ tb):
            out.append(f"{n}/{t}: only in {'A' if t in ta else 'B'}")
        for t in sorted(ta & tb):
            u, v = a.get(n, t), b.get(n, t)
            if u.shape != v.shape:
                out.append(f"{n}/{t}: shape {u.shape} vs {v.shape}")
                continue
            d = np.abs(u.astype(np.float64) - v.astype(np.float64))
            if d.size and d.max() > atol:
                out.append(f"{n}/{t}: max |diff| {d.max():.6g} ({int((d > atol).sum())} of {d.size} elements)")
    return out


@app.command()
@cli_errors(tool="qformat")
def diff(a: Annotated[str, typer.Argument(help="First artifact.")],
         b: Annotated[str, typer.Argument(help="Second artifact.")],
         atol: Annotated[float, typer.Option(help="Tolerance for tensor values.")] = 0.0) -> None:
    """Compare two artifacts layer by layer; exit 0 when equal, 1 when they differ."""
    ba, bb = read_bundle(a), read_bundle(b)
    lines = []
    if len(ba) != len(bb):
        lines.append(f"A holds {len(ba)} artifacts, B holds {len(bb)}")
    for i, (x, y) in enumerate(zip(ba, bb)):
        if x.kind != y.kind:
            lines.append(f"artifact {i}: {x.kind} vs {y.kind}")
        elif isinstance(x, Model):
            lines += [f"artifact {i}: {s}" for s in _diff_models(x, y, atol)]
        elif x != y if not isinstance(x, ProbeStats) else x.sites() != y.sites():
            lines.append(f"artifact {i}: {x.kind} differs")
    for s in lines:
        typer.echo(s)
    if not lines:
        typer.echo("identical", err=True)
    raise typer.Exit(1 if lines else 0)


class Target(str, Enum):
    c_header = "c-header"
    hex = "hex"
    parquet = "parquet"
    csv = "csv"
    npz = "npz"


@app.command()
@cli_errors(tool="qformat")
def export(src: Src,
           to: Annotated[Target, typer.Option(help="Export target.")],
           out: Annotated[Path, typer.Option("-o", "--out", help="Output file (a folder for hex).")]) -> None:
    """Export a model (or table) to C header, Verilog hex images, Parquet, CSV or npz."""
    b = read_bundle(src)
    if to in (Target.parquet, Target.csv):
        tables = b.of_kind("table")
        export_table(tables[0] if tables else b.model(), out, to.value)
        return
    model = b.model()
    if to is Target.npz:
        export_npz(model, out)
    elif to is Target.c_header:
        export_c_header(model, out)
    else:
        export_hex(model, out)


@app.command("import")
@cli_errors(tool="qformat")
def import_(src: Annotated[Path, typer.Argument(help="JSON weight file (rows are neurons; values are k-means centroids).")],
            out: Annotated[str, typer.Option("-o", "--out", help="Destination, - for stdout.")] = "-") -> None:
    """Import the original accelerator flow's JSON weight file as a k-means model."""
    from .importers import import_kmeans_json

    model = import_kmeans_json(src)
    save(model, binary_stdout() if out == "-" else out)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
