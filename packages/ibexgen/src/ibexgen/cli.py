"""Command-line interface of ibexgen.

    ibexgen gen MODEL -o DIR --target baseline|baseline-naive|xmpq|xmpq-compat
    ibexgen build DIR
    ibexgen run DIR/network.elf
    ibexgen bench MODEL            (MODEL '-' = stdin; the bundle plus a table goes to stdout)
    ibexgen example elderly-fall --bits 2 > model.qz

Data goes to stdout, logs to stderr; bad input is one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from qformat.cli_util import binary_stdout, cli_errors, log

from . import __version__
from .errors import IbexgenError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="C code generation for Ibex RV32IMC (with mixed-precision instructions) and an instruction-set simulator.")

TARGET_HELP = "baseline (plain RV32IMC, packed int8), baseline-naive (the original's style), xmpq (this package's ISA), xmpq-compat (the original's 0x47 ISA)"


def _read_model(src: str):
    import qformat as qf

    b = qf.read_bundle(src)
    if b.find("model") is None:
        raise IbexgenError(src, "holds no model artifact")
    return b, b.model()  # the last model: the most processed one (SPEC.md §6)


def _config(memmap: str, memmap_file: Optional[str], bus: str, multiplier: str, neur_res_cycles: int,
            xm_rq_cycles: int, max_instructions: int):
    from .iss import Config, Timing, get_memmap

    return Config(memmap=get_memmap(memmap, memmap_file), bus=bus,
                  timing=Timing(multiplier=multiplier, neur_res_cycles=neur_res_cycles, xm_rq_cycles=xm_rq_cycles),
                  max_instructions=max_instructions)


MEMMAP = typer.Option("simple_system", help="Memory-map preset (simple_system, xmpq_demo_system, or one in --memmap-file).")
MEMMAP_FILE = typer.Option(None, help="TOML file with more memory-map presets.")
BUS = typer.Option("strict", help="strict: stop at accesses outside mapped memory; as-built: wrap into RAM like the RTL and count them.")
MULT = typer.Option("single", help="Ibex multiplier: single (RV32MSingleCycle), fast, slow.")
NEUR_RES = typer.Option(8, help="Cycles of the compat ISA's neur_res.")
XM_RQ = typer.Option(2, help="Cycles of the xmpq ISA's xm.rq.")
MAXI = typer.Option(2_000_000_000, help="Stop after this many instructions.")


@app.command()
@cli_errors(tool="ibexgen")
def gen(model: str = typer.Argument(..., help="qformat model (path, or - for stdin)."),
        out: Path = typer.Option(..., "-o", "--out", help="Output directory for the C project."),
        target: str = typer.Option("xmpq", help=TARGET_HELP),
        input: Optional[Path] = typer.Option(None, "--input", help=".npy with one input sample (floats are quantized; integers are codes)."),
        seed: int = typer.Option(0, help="Seed of the random input sample when --input is not given."),
        fit_compat: bool = typer.Option(False, "--fit-compat", help="Re-round multipliers to 8 bits and squeeze biases like the original flow (changes numerics; expected outputs follow)."),
        stack: int = typer.Option(4096, help="Stack bytes reserved at the top of RAM."),
        memmap: str = MEMMAP, memmap_file: Optional[str] = MEMMAP_FILE) -> None:
    """Generate a self-contained C project for one target."""
    import numpy as np

    from . import pipeline

    _, m = _read_model(model)
    x = np.load(input) if input is not None else None
    cfg = _config(memmap, memmap_file, "strict", "single", 8, 2, 1)
    g = pipeline.gen(m, target, out, x=x, seed=seed, fit_compat=fit_compat, cfg=cfg, stack_size=stack,
                     name=model if model != "-" else "<stdin>")
    log(f"ibexgen: wrote {g.outdir} ({target}, {len(g.manifest['layers'])} layers, {g.manifest['macs']} MACs)")


@app.command("build")
@cli_errors(tool="ibexgen")
def build_cmd(outdir: Path = typer.Argument(..., help="Directory made by `ibexgen gen`."),
              toolchain: Optional[str] = typer.Option(None, help="zig, gcc, or a compiler path (default: $IBEXGEN_TOOLCHAIN, zig, gcc)."),
              opt: str = typer.Option("-O2", help="Optimisation flag.")) -> None:
    """Compile a generated project into DIR/network.elf."""
    from .codegen.project import build
    from .toolchain import find_toolchain

    tc = find_toolchain(toolchain)
    elf = build(outdir, tc, opt=opt)
    typer.echo(str(elf))


def _fmt_text(d: dict) -> str:
    lines = [f"program       {d['program']}", f"exit          {d['exit']}" + (f": {d['fault']}" if d["fault"] else "")]
    lines.append(f"region        {d['region_cycles']} cycles, {d['region_instructions']} instructions (mcountinhibit-controlled)")
    lines.append(f"whole run     {d['cycles']} cycles, {d['instructions']} instructions")
    if d["unmapped_accesses"]:
        first = d["unmapped"][0]
        lines.append(f"as-built bus  {d['unmapped_accesses']} accesses outside mapped memory fell through to RAM "
                     f"(first: {first['kind']} 0x{first['addr']:08x} -> RAM+0x{first['target']:x} at pc 0x{first['pc']:08x})")
    if "layers" in d and d["layers"]:
        lines.append("")
        lines.append(f"{'layer':<16} {'kind':<8} {'width':>5} {'macs':>9} {'cycles':>10} {'instructions':>12}")
        for r in d["layers"]:
            lines.append(f"{r['layer']:<16} {r['kind']:<8} {str(r['width'] or ''):>5} {r['macs']:>9} {r['cycles']:>10} {r['instructions']:>12}")
    if d.get("output") is not None:
        lines.append("")
        lines.append(f"output        {d['output']}")
        lines.append(f"reference     {'matches' if d['matches_reference'] else 'DIFFERS: ' + str(d['expected'])}")
    return "\n".join(lines)


@app.command()
@cli_errors(tool="ibexgen")
def run(elf: Path = typer.Argument(..., help="ELF to simulate (a generated project's network.elf, or any simple-system ELF)."),
        engine: str = typer.Option("auto", help="fast (C), ref (Python reference), auto."),
        fmt: str = typer.Option("text", "--format", help="text, json, or qf (a qformat table, kind ibexgen.run)."),
        out: Optional[str] = typer.Option(None, "-o", help="Write the result here instead of stdout."),
        trace: Optional[str] = typer.Option(None, help="Write the instruction trace (streamed Arrow table) to this file."),
        console: bool = typer.Option(True, help="Echo the program's console output to stderr."),
        memmap: str = MEMMAP, memmap_file: Optional[str] = MEMMAP_FILE, bus: str = BUS, multiplier: str = MULT,
        neur_res_cycles: int = NEUR_RES, xm_rq_cycles: int = XM_RQ, max_instructions: int = MAXI) -> None:
    """Simulate an ELF: cycles, instructions and (for generated programs) outputs and per-layer counts."""
    from . import pipeline

    if fmt not in ("text", "json", "qf"):
        raise IbexgenError("--format", f"must be text, json or qf, got {fmt!r}")
    cfg = _config(memmap, memmap_file, bus, multiplier, neur_res_cycles, xm_rq_cycles, max_instructions)
    rep = pipeline.run_elf(elf, cfg, engine=engine, trace=trace)
    d = rep.as_dict()
    if console and d["console"]:
        sys.stderr.write(d["console"] if d["console"].endswith("\n") else d["console"] + "\n")
    if fmt == "qf":
        import pyarrow as pa

        import qformat as qf

        rows = list(d.get("layers") or []) + [{"layer": "total", "kind": "region", "cycles": d["region_cycles"],
                                               "instructions": d["region_instructions"], "macs": None, "width": None}]
        tab = pa.Table.from_pylist(rows)
        meta = {k: v for k, v in d.items() if k not in ("layers", "console")}
        qf.save(qf.Table(tab, table_kind="ibexgen.run", provenance={"tool": "ibexgen", "tool_version": __version__, **meta}),
                out or "-")
    else:
        text = json.dumps(d, indent=1) if fmt == "json" else _fmt_text(d)
        if out:
            Path(out).write_text(text + "\n")
        else:
            typer.echo(text)
    r = rep.sim.result
    if r.exit != "halt":
        log(f"ibexgen: the program did not halt ({r.exit}{': ' + r.fault if r.fault else ''})")
        raise typer.Exit(1)
    if rep.matches is False:
        log("ibexgen: the simulated output differs from the reference recorded at generation")
        raise typer.Exit(1)


@app.command()
@cli_errors(tool="ibexgen")
def bench(model: str = typer.Argument("-", help="qformat model or bundle (path, or - for stdin)."),
          out: Optional[str] = typer.Option(None, "-o", help="Write the bundle (input artifacts + the bench table) here; default stdout."),
          targets: str = typer.Option(",".join(("baseline", "xmpq", "xmpq-compat")), help="Comma-separated targets."),
          fit_compat: bool = typer.Option(False, "--fit-compat", help="Fit the model to the compat ISA first (all targets then run the fitted model)."),
          workdir: Optional[Path] = typer.Option(None, help="Keep the generated projects here."),
          input: Optional[Path] = typer.Option(None, "--input", help=".npy input sample."),
          seed: int = typer.Option(0), toolchain: Optional[str] = typer.Option(None),
          memmap: str = MEMMAP, memmap_file: Optional[str] = MEMMAP_FILE, multiplier: str = MULT,
          neur_res_cycles: int = NEUR_RES, xm_rq_cycles: int = XM_RQ) -> None:
    """Generate, build and run every target; add an ibexgen.bench table to the bundle."""
    import numpy as np

    import qformat as qf

    from . import pipeline
    from .toolchain import find_toolchain

    bundle, m = _read_model(model)
    cfg = _config(memmap, memmap_file, "strict", multiplier, neur_res_cycles, xm_rq_cycles, 2_000_000_000)
    x = np.load(input) if input is not None else None
    tab = pipeline.bench(m, [t.strip() for t in targets.split(",") if t.strip()], workdir=workdir, cfg=cfg,
                         toolchain=find_toolchain(toolchain), fit_compat=fit_compat, x=x, seed=seed,
                         name=model if model != "-" else "<stdin>", log=log)
    log(pipeline.format_bench(tab))
    for old in bundle.tables(pipeline.BENCH_KIND):
        bundle = bundle.replace(old, tab)
        break
    else:
        bundle = bundle.add(tab)
    if out:
        qf.save(bundle, out)
    else:
        qf.save(bundle, binary_stdout())


@app.command()
@cli_errors(tool="ibexgen")
def example(name: str = typer.Argument(..., help="elderly-fall (117-20-2 MLP), digits-mlp (64-32-10), cnn (8x8 input)."),
            bits: str = typer.Option("8", help="Weight bits: one number, or per layer like fc1=2,fc2=4 (others 8)."),
            seed: int = typer.Option(0), multiplier_bits: int = typer.Option(31, help="Bits of the requantization multipliers."),
            out: Optional[str] = typer.Option(None, "-o", help="Write the model here; default stdout.")) -> None:
    """Make a small quantized example model (random weights, qformat's reference PTQ)."""
    import qformat as qf

    from . import models

    makers = {"elderly-fall": models.elderly_fall_mlp, "digits-mlp": models.digits_mlp, "cnn": models.cnn}
    if name not in makers:
        raise IbexgenError("example", f"unknown example {name!r} (known: {', '.join(makers)})")
    if "=" in bits:
        spec: dict = {"_default": 8}
        for part in bits.split(","):
            k, _, v = part.partition("=")
            try:
                spec[k.strip()] = int(v)
            except ValueError:
                raise IbexgenError("--bits", f"bad entry {part!r} (want layer=bits)") from None
    else:
        try:
            spec = int(bits)
        except ValueError:
            raise IbexgenError("--bits", f"{bits!r} is not a number or a layer=bits list") from None
    m = models.quantize(makers[name](seed=seed), spec, multiplier_bits=multiplier_bits)
    qf.save(m, out or binary_stdout())


@app.command()
def version() -> None:
    """Print the version of ibexgen."""
    typer.echo(__version__)


def main() -> None:
    app()
