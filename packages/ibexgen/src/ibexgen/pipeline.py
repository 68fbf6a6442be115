"""High-level operations behind the CLI: generate, build, run, bench.

>>> import qformat as qf
>>> from ibexgen import pipeline, models
>>> m = models.quantize(models.elderly_fall_mlp(), bits=2)
>>> table = pipeline.bench(m, workdir="/tmp/ibx")          # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa

import qformat as qf

from . import __version__
from .codegen.compat import fit_compat as _fit_compat
from .codegen.layout import TARGETS
from .codegen.netir import NetIR, from_qformat
from .codegen.project import ELF_NAME, MANIFEST, Generated, build, generate, load_manifest, read_marks, read_output
from .errors import IbexgenError
from .iss import Config, Simulation, simulate
from .iss.elf import load_elf
from .toolchain import Toolchain, find_toolchain

BENCH_KIND = "ibexgen.bench"
BENCH_TARGETS = ("baseline", "xmpq", "xmpq-compat")


def input_codes(model: qf.Model, x: Optional[np.ndarray] = None, seed: int = 0) -> np.ndarray:
    """One input sample as codes: ``x`` floats are quantized with the model's input quantization;
    integer arrays are taken as codes; None gives a seeded random sample of valid codes."""
    q = model.input_quant
    if q is None:
        raise IbexgenError("model", "has no input quantization")
    shape = tuple(model.input_shape)
    if x is None:
        return np.random.default_rng(seed).integers(q.qmin, q.qmax + 1, size=shape)
    x = np.asarray(x)
    if x.shape == (1,) + shape:
        x = x[0]
    if x.shape != shape:
        raise IbexgenError("input", f"shape {x.shape} does not match the model input {shape}")
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.int64)
    return qf.quantize(x, q).reshape(shape)


def prepare(model: qf.Model, fit_compat: bool = False, name: str = "model") -> tuple[qf.Model, NetIR]:
    """Optionally fit the model to the compat ISA, then build the IR."""
    if fit_compat:
        model = _fit_compat(model, name)
    return model, from_qformat(model, name)


def gen(model: qf.Model, target: str, outdir: str | Path, x: Optional[np.ndarray] = None, seed: int = 0,
        fit_compat: bool = False, cfg: Optional[Config] = None, stack_size: int = 4096, name: str = "model") -> Generated:
    """Generate the C project of ``model`` for ``target``; the expected output is ``qformat.run``'s."""
    model, ir = prepare(model, fit_compat, name)
    codes = input_codes(model, x, seed)
    expected = qf.run(model, codes[None], mode="int", raw=True)[0]
    cfg = cfg or Config()
    return generate(ir, target, outdir, codes, memmap=cfg.memmap, stack_size=stack_size, expected=expected)


@dataclass
class RunReport:
    """A finished run plus, for ibexgen programs, outputs and per-layer counts."""

    sim: Simulation
    elf: Path
    manifest: Optional[dict] = None
    output: Optional[np.ndarray] = None
    layers: list[dict] = field(default_factory=list)

    @property
    def matches(self) -> Optional[bool]:
        if self.manifest is None or self.output is None:
            return None
        return self.output.reshape(-1).tolist() == list(self.manifest["expected"])

    def as_dict(self) -> dict:
        r = self.sim.result
        d = {"program": str(self.elf), "exit": r.exit, "fault": r.fault, "engine": r.engine,
             "region_cycles": r.mcycle, "region_instructions": r.minstret, "cycles": r.cycles,
             "instructions": r.instructions, "seconds": round(r.seconds, 6),
             "unmapped_accesses": r.unmapped_count,
             "unmapped": [vars(u) for u in r.unmapped], "console": r.console.decode("latin-1")}
        if self.manifest is not None:
            d["target"] = self.manifest["target"]
            d["layers"] = self.layers
            d["output"] = None if self.output is None else self.output.reshape(-1).tolist()
            d["expected"] = self.manifest["expected"]
            d["matches_reference"] = self.matches
        return d


def run_elf(elf: str | Path, cfg: Optional[Config] = None, engine: str = "auto", trace: Any = None,
            max_instructions: Optional[int] = None) -> RunReport:
    """Simulate an ELF; when an ``ibexgen.json`` sits beside it, decode outputs and layer counts."""
    elf = Path(elf)
    sim = simulate(elf, cfg or Config(), engine=engine, trace=trace, max_instructions=max_instructions)
    rep = RunReport(sim, elf)
    man = elf.parent / MANIFEST
    if man.exists():
        rep.manifest = load_manifest(elf.parent)
        if sim.result.exit == "halt":
            rep.output = read_output(sim, rep.manifest)
            marks = read_marks(sim, rep.manifest)
            for lay, (c, i) in zip(rep.manifest["layers"], marks):
                rep.layers.append({"layer": lay["name"], "kind": lay["kind"], "cycles": c, "instructions": i,
                                   "macs": lay["macs"], "width": lay["width"]})
    return rep


def sizes(elf_path: Path, manifest: dict) -> tuple[dict[str, int], dict[str, int], int, int]:
    """Per-layer code bytes (its function) and data bytes (its parameter arrays); total code and data."""
    elf = load_elf(elf_path)
    code, data = {}, {}
    for lay in manifest["layers"]:
        code[lay["name"]] = elf.symbols.get(lay["function"], (0, 0))[1]
        data[lay["name"]] = sum(elf.symbols.get(p, (0, 0))[1] for p in lay["params"])
    sec = elf.sections
    total_code = sum(sec.get(s, (0, 0, 0))[1] for s in (".vectors", ".text"))
    total_data = sum(sec.get(s, (0, 0, 0))[1] for s in (".rodata", ".data", ".bss"))
    return code, data, total_code, total_data


def bench(model: qf.Model, targets: Sequence[str] = BENCH_TARGETS, workdir: Optional[str | Path] = None,
          cfg: Optional[Config] = None, toolchain: Optional[Toolchain] = None, fit_compat: bool = False,
          x: Optional[np.ndarray] = None, seed: int = 0, name: str = "model", log=None) -> qf.Table:
    """Generate, build and run ``targets``; a table of per-layer and total cycles, sizes, speedups."""
    for t in targets:
        if t not in TARGETS:
            raise IbexgenError("targets", f"unknown target {t!r} (known: {', '.join(TARGETS)})")
    cfg = cfg or Config()
    tc = toolchain or find_toolchain()
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="ibexgen-bench-")
        workdir = tmp.name
    work = Path(workdir)
    model, ir = prepare(model, fit_compat, name)
    codes = input_codes(model, x, seed)
    expected = qf.run(model, codes[None], mode="int", raw=True)[0]
    rows: list[dict] = []
    base_layers: dict[str, int] = {}
    base_total = None
    try:
        for tgt in targets:
            try:
                g = generate(ir, tgt, work / tgt, codes, memmap=cfg.memmap, expected=expected)
            except IbexgenError as e:
                if tgt == "xmpq-compat" and not fit_compat:
                    if log:
                        log(f"ibexgen: skipping xmpq-compat: {e} (use --fit-compat)")
                    continue
                raise
            elf = build(g.outdir, tc)
            rep = run_elf(elf, cfg, engine="auto")
            r = rep.sim.result
            if r.exit != "halt":
                raise IbexgenError(f"{tgt} run", f"did not halt: {r.exit} {r.fault}".strip())
            code, data, tcode, tdata = sizes(elf, g.manifest)
            exact = bool(rep.matches)
            for lay in rep.layers:
                if tgt == "baseline":
                    base_layers[lay["layer"]] = lay["cycles"]
                b = base_layers.get(lay["layer"])
                rows.append({"target": tgt, "layer": lay["layer"], "kind": lay["kind"], "macs": lay["macs"],
                             "width": lay["width"], "cycles": lay["cycles"], "instructions": lay["instructions"],
                             "code_bytes": code[lay["layer"]], "data_bytes": data[lay["layer"]],
                             "speedup": (b / lay["cycles"]) if b and lay["cycles"] else None, "bit_exact": exact})
            if tgt == "baseline":
                base_total = r.mcycle
            rows.append({"target": tgt, "layer": "total", "kind": "network", "macs": int(ir.total_macs()),
                         "width": None, "cycles": r.mcycle, "instructions": r.minstret, "code_bytes": tcode,
                         "data_bytes": tdata, "speedup": (base_total / r.mcycle) if base_total else None,
                         "bit_exact": exact})
            if log:
                log(f"ibexgen: {tgt}: {r.mcycle} cycles, {r.minstret} instructions, "
                    f"{'bit-exact' if exact else 'MISMATCH'} with qformat.run")
    finally:
        if tmp is not None:
            tmp.cleanup()
    schema = pa.schema([("target", pa.string()), ("layer", pa.string()), ("kind", pa.string()), ("macs", pa.int64()),
                        ("width", pa.int64()), ("cycles", pa.int64()), ("instructions", pa.int64()),
                        ("code_bytes", pa.int64()), ("data_bytes", pa.int64()), ("speedup", pa.float64()),
                        ("bit_exact", pa.bool_())])
    tab = pa.Table.from_pylist(rows, schema=schema)
    t = cfg.timing
    prov = {"tool": "ibexgen", "tool_version": __version__, "toolchain": tc.describe(),
            "toolchain_version": tc.version(), "memmap": cfg.memmap.name, "bus": cfg.bus,
            "timing": t.as_dict(), "fit_compat": fit_compat, "model": dict(model.provenance or {})}
    return qf.Table(tab, table_kind=BENCH_KIND, provenance=prov)


def format_bench(t: qf.Table) -> str:
    """A plain-text rendering of a bench table."""
    rows = t.to_pylist()
    cols = ["target", "layer", "kind", "macs", "width", "cycles", "instructions", "code_bytes", "data_bytes", "speedup"]
    cells = [[("" if r[c] is None else f"{r[c]:.2f}x" if c == "speedup" else str(r[c])) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    for row in cells:
        lines.append("  ".join(v.rjust(w) if i >= 3 else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def default_elf(outdir: str | Path) -> Path:
    return Path(outdir) / ELF_NAME
