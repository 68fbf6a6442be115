"""``qviz``: draw qstack artifacts (plot, auto) and write HTML reports, from files or a pipe.

Data goes to stdout only (an image with ``-o -``, or the unchanged input bundle with
``--passthrough``); logs go to stderr; bad input is one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from qformat.cli_util import binary_stdout, cli_errors, log

from . import __version__
from .api import auto, draw, read_sources, spec
from .errors import CannotPlot
from .registry import GROUPS, PLOTS
from .render import DEFAULT_DPI, FORMATS, figure_bytes, format_for, save_figure

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Plots and HTML reports of every qstack artifact (reads files or stdin).")

Sources = Annotated[Optional[list[str]], typer.Argument(
    help="Artifacts: directories, .zip, stream files, URLs, the original JSON weight file; none or - reads stdin.",
    show_default=False)]
Passthrough = Annotated[bool, typer.Option("--passthrough", help="Also write the input bundle, unchanged, to stdout.")]
Dpi = Annotated[int, typer.Option(help="Resolution of PNG output (dots per inch).")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qviz {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Show the version and exit.")] = False) -> None:
    """qviz command line."""


def _passthrough(bundle, raw: Optional[bytes]) -> None:
    """Write the input to stdout: the piped bytes as they came, else the bundle re-encoded as a stream."""
    out = binary_stdout()
    if raw is not None:
        out.write(raw)
        out.flush()
        return
    import qformat as qf

    qf.save(bundle[0] if len(bundle) == 1 else bundle, out)
    out.flush()


def _shape(text: Optional[str]):
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX*,]\s*(\d+)\s*", text)
    if not m:
        raise CannotPlot("--shape", "", f"expected HxW such as 28x28, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _single_neuron(text: Optional[str]) -> bool:
    return text is None or re.fullmatch(r"\s*\d+\s*", text) is not None


@app.command()
@cli_errors(tool="qviz")
def plot(kind: Annotated[str, typer.Argument(help="Plot kind (see `qviz list`).", show_default=False)],
         sources: Sources = None,
         out: Annotated[str, typer.Option("-o", "--out", help="Image file (.png/.svg/.pdf), - for stdout, or a "
                                          "folder for one file per neuron (sweep-heatmap --neuron all).")] = "-",
         fmt: Annotated[Optional[str], typer.Option("--format", help="png, svg or pdf (default: from -o).")] = None,
         dpi: Dpi = DEFAULT_DPI,
         layer: Annotated[Optional[str], typer.Option(help="Layer to draw (default: all, or the first).")] = None,
         neuron: Annotated[Optional[str], typer.Option(help="Neuron(s): 3, 0,4,7, 0-15 or all.")] = None,
         order: Annotated[Optional[str], typer.Option(help="accelsim order: sequential or interleaved.")] = None,
         semantics: Annotated[Optional[str], typer.Option(help="accelsim semantics (v0624, v0618, improved).")] = None,
         x: Annotated[Optional[str], typer.Option("--x", help="Cost on the x axis: latency, peak_ram, flash, bitops.")] = None,
         y: Annotated[Optional[str], typer.Option("--y", help="Cost on the y axis (dse).")] = None,
         shape: Annotated[Optional[str], typer.Option(help="Neuron picture shape HxW, e.g. 28x28.")] = None,
         pick: Annotated[int, typer.Option(help="Which fitting artifact to draw when several fit (0 = first).")] = 0,
         passthrough: Passthrough = False) -> None:
    """Draw one plot from the artifact(s) given or piped in."""
    s = spec(kind)
    if passthrough and out == "-":
        raise CannotPlot("-o", "", "--passthrough writes the bundle to stdout, so give the image a file name with -o")
    bundle, raw = read_sources(sources or [])
    t0 = time.perf_counter()
    if kind == "sweep-heatmap" and not _single_neuron(neuron):
        from .modelstats import parse_neurons
        from .plots.accelsim import write_each_neuron

        if out == "-" or Path(out).suffix.lower().lstrip(".") in FORMATS:
            raise CannotPlot("-o", "", "several neurons make one file each: give a folder with -o")
        table = [a for a in bundle if s.accepts(a)]
        if not table:
            raise CannotPlot("input", "", f"the '{kind}' plot needs {s.needs}")
        wanted = None if neuron.strip().lower() == "all" else parse_neurons(neuron, 1 << 30)
        paths = write_each_neuron(table[min(pick, len(table) - 1)], Path(out), fmt=fmt or "png", dpi=dpi, layer=layer,
                                  order=order, semantics=semantics, neurons=wanted)
        log(f"qviz: wrote {len(paths)} files under {out} in {time.perf_counter() - t0:.2f} s")
    else:
        fig = draw(kind, bundle, pick=pick, layer=layer, neuron=neuron, order=order, semantics=semantics, x=x, y=y,
                   shape=_shape(shape))
        if out == "-":
            data = figure_bytes(fig, format_for("-", fmt), dpi)
            stream = binary_stdout()
            stream.write(data)
            stream.flush()
        else:
            save_figure(fig, out, fmt, dpi)
            log(f"qviz: wrote {out} ({kind}, {time.perf_counter() - t0:.2f} s)")
    if passthrough:
        _passthrough(bundle, raw)


@app.command("auto")
@cli_errors(tool="qviz")
def auto_cmd(sources: Sources = None,
             out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the pictures.")] = Path("qviz-plots"),
             fmt: Annotated[str, typer.Option("--format", help="png, svg or pdf.")] = "png",
             dpi: Dpi = DEFAULT_DPI,
             passthrough: Passthrough = False) -> None:
    """Draw every plot that fits what comes in, one file each (NN-<artifact>-<plot>.<format>); skipped plots are noted."""
    fmt = format_for("x." + fmt)
    bundle, raw = read_sources(sources or [])
    items = auto(bundle)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for it in items:
        if it.figure is None:
            log(f"qviz: artifact {it.index + 1}: {it.note}")
            continue
        what = it.artifact.table_kind if it.artifact.kind == "table" else it.artifact.kind
        name = f"{it.index + 1:02d}-{re.sub(r'[^A-Za-z0-9]+', '-', what)}-{it.plot}.{fmt}"
        save_figure(it.figure, out / name, fmt, dpi)
        log(f"qviz: wrote {out / name}")
        written += 1
    log(f"qviz: {written} plots from {len(bundle)} artifacts in {out}")
    if passthrough:
        _passthrough(bundle, raw)


@app.command()
@cli_errors(tool="qviz")
def report(sources: Sources = None,
           out: Annotated[str, typer.Option("-o", "--out", help="HTML file, or - for stdout.")] = "report.html",
           fmt: Annotated[str, typer.Option("--format", help="Embedded image format: png or svg.")] = "png",
           dpi: Dpi = 110,
           title: Annotated[str, typer.Option(help="Page title.")] = "qstack report",
           passthrough: Passthrough = False) -> None:
    """Write one self-contained HTML page: a summary table of every artifact, then its plots."""
    from .report import build_html, write_report

    if passthrough and out == "-":
        raise CannotPlot("-o", "", "--passthrough writes the bundle to stdout, so give the report a file name with -o")
    if fmt not in ("png", "svg"):
        raise CannotPlot("--format", "", f"report images must be png or svg, not {fmt!r}")
    bundle, raw = read_sources(sources or [])
    t0 = time.perf_counter()
    srcs = [s for s in (sources or []) if s != "-"] or ["stdin"]
    if out == "-":
        sys.stdout.write(build_html(bundle, fmt=fmt, dpi=dpi, title=title, sources=srcs))
        sys.stdout.flush()
    else:
        write_report(bundle, out, fmt=fmt, dpi=dpi, title=title, sources=srcs)
        log(f"qviz: wrote {out} ({len(bundle)} artifacts, {time.perf_counter() - t0:.1f} s)")
    if passthrough:
        _passthrough(bundle, raw)


@app.command("list")
@cli_errors(tool="qviz")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the plot kinds, what each needs, and its options."""
    if as_json:
        typer.echo(json.dumps([{"name": s.name, "group": s.group, "summary": s.summary, "needs": s.needs,
                                "options": list(s.options)} for s in PLOTS.values()], indent=1))
        return
    for g in GROUPS:
        typer.echo(f"{g}:")
        for s in PLOTS.values():
            if s.group == g:
                opts = f"  [{', '.join('--' + o for o in s.options)}]" if s.options else ""
                typer.echo(f"  {s.name:<15} {s.summary}{opts}\n  {'':<15} needs {s.needs}")


@app.command()
@cli_errors(tool="qviz")
def sample(out: Annotated[str, typer.Option("-o", "--out", help="Destination (.qz, .zip, folder) or - for stdout.")] = "-",
           seed: Annotated[int, typer.Option(help="Random seed.")] = 0) -> None:
    """Write a synthetic bundle with one artifact of every kind qviz draws (for trying qviz out)."""
    import qformat as qf

    from .samples import everything

    b = everything(seed)
    qf.save(b, binary_stdout() if out == "-" else out)


@app.command()
def version() -> None:
    """Print the version of qviz."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
