"""Command-line interface of qsearch.

Commands parse options and delegate to the library (:mod:`qsearch.runner`,
:mod:`qsearch.cost`). Artifacts go to stdout (``-o -``, the default) in the
qformat stream form; progress, logs and the final human summary go to
stderr. Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Mixed-precision search under hardware budgets: DNAS, DSE, sensitivity+ILP, cost models.")


def _cli_errors(f):
    from qformat.cli_util import cli_errors

    return cli_errors(f, tool="qsearch")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Fmt(str, Enum):
    text = "text"
    json = "json"
    table = "table"


class Method(str, Enum):
    binary = "binary"
    exhaustive = "exhaustive"


class Schedule(str, Enum):
    exponential = "exponential"
    cosine = "cosine"


class Sens(str, Enum):
    noise = "noise"
    hessian = "hessian"


class Act(str, Enum):
    int8 = "int8"
    tied = "tied"


# ---------------------------------------------------------------------------- shared option types
Src = Annotated[str, typer.Argument(help="Input artifact or bundle (path, URL, or - for stdin).")]
Out = Annotated[str, typer.Option("--output", "-o", help="Where to write the output bundle (- = stdout).")]
Core = Annotated[str, typer.Option(help="Core of the latency model: m7, m4, ibex, ibex-mp (shipped tables) or analytical.")]
Lut = Annotated[Optional[str], typer.Option(help="Latency table (CSV, Arrow, Parquet or a qformat table; back-end tables "
                                                 "from ibexgen/accelsim load directly).")]
CoreB = Annotated[Optional[str], typer.Option(help="Second core: split each layer's output channels between --core and this.")]
LutB = Annotated[Optional[str], typer.Option(help="Latency table of the second core.")]
SyncUs = Annotated[float, typer.Option(help="Dual-core synchronisation cost per split layer, microseconds.")]
SplitStep = Annotated[int, typer.Option(help="Dual-core split granularity in output channels.")]
FreqMhz = Annotated[Optional[float], typer.Option(help="Clock of back-end tables that give cycles only.")]
Select = Annotated[Optional[list[str]], typer.Option(help="Pick one configuration of a back-end table: COLUMN=VALUE (repeatable).")]
Im2col = Annotated[str, typer.Option(help="im2col scratch columns of regular convolutions (0 = none, 'full').")]
Ram = Annotated[Optional[str], typer.Option(help="Peak-RAM budget, e.g. 512KiB (also drives the memory filter).")]
Flash = Annotated[Optional[str], typer.Option(help="Flash budget (weights + biases + requantization), e.g. 1MiB.")]
LatB = Annotated[Optional[str], typer.Option("--latency-budget", help="Latency budget, e.g. 20ms, 500us, 2e6cycles.")]
WBytes = Annotated[Optional[str], typer.Option(help="Weight-bytes budget, e.g. 300KiB.")]
Compr = Annotated[Optional[float], typer.Option(help="Require weights at least this many times smaller than fp32.")]
Bitops = Annotated[Optional[float], typer.Option(help="Bit-operations budget.")]
Options_ = Annotated[Optional[str], typer.Option("--options", help="Precision options, comma separated "
                                                                   "(default fp32,fp16,int8,int4,int2).")]
IntOnly = Annotated[bool, typer.Option("--int-only", help="Drop the float options (fp32, fp16).")]
ActO = Annotated[Act, typer.Option("--act", help="Input activations of integer options: int8, or tied to the weight bits.")]
NoFilter = Annotated[bool, typer.Option("--no-filter", help="Do not remove options the RAM budget rules out before search.")]
Data = Annotated[Optional[str], typer.Option(help="Dataset (default: the model's provenance, else digits).")]
DataPath = Annotated[Optional[str], typer.Option(help="Dataset path (mnist, cifar10, imagefolder, npz).")]
Seed = Annotated[int, typer.Option(help="Seed of splits, training and search.")]
FtEpochs = Annotated[int, typer.Option(help="QAT epochs of the final fine-tuning.")]
Batch = Annotated[int, typer.Option(help="Batch size.")]
Lr = Annotated[float, typer.Option(help="Fine-tuning learning rate.")]
Workers = Annotated[Optional[int], typer.Option(help="Local worker processes for candidate evaluations (0 = in process).")]
Cluster = Annotated[Optional[str], typer.Option(help="Dask scheduler address (tcp://host:port): evaluate candidates there.")]
ClusterTimeout = Annotated[float, typer.Option(help="Seconds to wait for the Dask scheduler.")]
def _no_checkpoint(value: Optional[str]) -> Optional[str]:
    """'none' (as qtrain spells it) means no checkpoint, not a file called none."""
    return None if value is not None and value.strip().lower() in ("", "none", "off") else value


Ckpt = Annotated[Optional[str], typer.Option(callback=_no_checkpoint,
                                             help="Checkpoint file: a killed search restarted with the same options "
                                                  "resumes ('none' or absent: no checkpoint).")]
CostCmd = Annotated[Optional[str], typer.Option(help="Measure each candidate with this command: the model goes to its "
                                                     "stdin, a qformat cost table comes back (e.g. \"ibexgen bench -\").")]
CostFreq = Annotated[Optional[float], typer.Option(help="Clock (MHz) to turn measured cycles into milliseconds.")]
KeepFloat = Annotated[bool, typer.Option("--keep-float", help="Keep the float model in the output bundle next to the quantized one.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines (the final summary is still printed).")]
Objective = Annotated[str, typer.Option(help="Cost to sort/penalise: latency_ms, weight_bytes, flash, bitops, peak_ram.")]


def _select(items: Optional[list[str]]) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            from qformat.errors import QFormatError

            raise QFormatError("--select", it, "expected COLUMN=VALUE")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _target(core, lut, core_b, lut_b, sync_us, split_step, freq_mhz, select, im2col):
    from .runner import TargetSpec

    return TargetSpec(core, lut, core_b, lut_b, sync_us, split_step, freq_mhz, _select(select), im2col)


def _read(src: str):
    import qformat as qf

    return qf.read_bundle(src)


def _write(bundle, out: str) -> None:
    import qformat as qf
    from qformat.cli_util import binary_stdout

    if out == "-":
        qf.save(bundle, binary_stdout())
        sys.stdout.flush()
    else:
        qf.save(bundle, out)


def _executor(cluster, workers, timeout=30.0):
    from .executor import make_executor

    return make_executor(workers, cluster=cluster, timeout=timeout)


def _summary(method: str, session, outcome) -> None:
    from .report import summary_lines

    for line in summary_lines(method, session.layers, outcome.assignment, outcome.final, session.reference(),
                              outcome.rows, outcome.split, outcome.notes):
        _log(line)


# ---------------------------------------------------------------------------- commands
@app.command()
def version() -> None:
    """Print the version of qsearch."""
    typer.echo(__version__)


@app.command()
@_cli_errors
def cost(src: Annotated[Optional[str], typer.Argument(help="Model artifact or bundle (- = stdin); not needed with --arch.")] = None,
         arch: Annotated[Optional[str], typer.Option(help="Cost a zoo architecture instead (qtrain spec, e.g. mobilenetv2:width=0.5).")] = None,
         input_shape: Annotated[str, typer.Option("--input", help="Input shape for --arch, e.g. 3x32x32.")] = "3x32x32",
         classes: Annotated[int, typer.Option(help="Classes for --arch.")] = 10,
         precision: Annotated[Optional[str], typer.Option(help="Uniform precision of every layer (e.g. int8); default: "
                                                               "the bundle's precision map, the model's quantization, else fp32.")] = None,
         map_: Annotated[Optional[str], typer.Option("--map", help="Precision map artifact or JSON file.")] = None,
         act: ActO = Act.int8,
         core: Core = "m7", lut: Lut = None, core_b: CoreB = None, lut_b: LutB = None, sync_us: SyncUs = 5.0,
         split_step: SplitStep = 1, freq_mhz: FreqMhz = None, select: Select = None, im2col: Im2col = "2",
         fmt: Annotated[Fmt, typer.Option("--format", help="text (a report), json, or table (a qformat table, binary).")] = Fmt.text,
         output: Out = "-") -> None:
    """Hardware costs of a model: MACs, parameters, weight bytes, flash, peak RAM (and the layer setting it), latency."""
    from .cost.model import CostModel
    from .costcmd import cost_report, layer_options
    from .netinfo import NetInfo
    from .options import OptionSpace

    model = None
    bundle = None
    if arch:
        from qtrain import zoo

        shape = tuple(int(d) for d in input_shape.lower().replace(",", "x").split("x") if d)
        model = zoo.build(arch, shape, classes)
    else:
        bundle = _read(src or "-")
        model = bundle.model()
    net = NetInfo.from_model(model)
    opts = layer_options(model, net, bundle, precision, map_, act.value)
    space = OptionSpace.from_options(list({o.name: o for o in opts.values()}.values()))
    lat, mem = _target(core, lut, core_b, lut_b, sync_us, split_step, freq_mhz, select, im2col).build()
    cm = CostModel(net, space, lat, mem)
    rep = cost_report(cm, {n: o.name for n, o in opts.items()})
    if fmt == Fmt.json:
        typer.echo(json.dumps(rep, indent=1, default=str))
    elif fmt == Fmt.table:
        from .costcmd import cost_table

        _write(cost_table(rep), output)
    else:
        from .costcmd import cost_text

        typer.echo(cost_text(rep))


@app.command(name="filter")
@_cli_errors
def filter_(src: Src = "-", ram: Annotated[str, typer.Option(help="RAM threshold, e.g. 512KiB.")] = "512KiB",
            options: Options_ = None, int_only: IntOnly = False, act: ActO = Act.int8, im2col: Im2col = "2") -> None:
    """Memory filter: which precision options each layer can take under a RAM threshold (JSON on stdout)."""
    from .cost.memory import MemoryConfig, memory_filter
    from .cost.model import parse_bytes
    from .netinfo import NetInfo
    from .options import OptionSpace

    model = _read(src).model()
    net = NetInfo.from_model(model)
    space = OptionSpace.parse(options, int_only, act.value)
    thr = parse_bytes(ram)
    cols: Any = im2col if im2col == "full" else int(im2col)
    allowed, warns = memory_filter(net, space, thr, MemoryConfig(im2col_cols=cols))
    for w in warns:
        _log(f"qsearch filter: {w}")
    typer.echo(json.dumps({"input_shape": [1, *model.input_shape], "memory_threshold_bytes": thr,
                           "options": space.names, "filtered_precisions": allowed, "warnings": warns}, indent=1))


def _session(src, options, int_only, act, core, lut, core_b, lut_b, sync_us, split_step, freq_mhz, select, im2col,
             ram, flash, latency_budget, weight_bytes, compression, bitops, no_filter, data, data_path, seed):
    from .options import OptionSpace
    from .runner import BudgetSpec, Session
    from .training import DataSpec

    bundle = _read(src)
    model = bundle.model()
    space = OptionSpace.parse(options, int_only, act.value)
    target = _target(core, lut, core_b, lut_b, sync_us, split_step, freq_mhz, select, im2col)
    budgets = BudgetSpec(ram, flash, latency_budget, weight_bytes, compression, bitops)
    spec = DataSpec.from_provenance(model.provenance, data, data_path, seed)
    return bundle, Session(model, space, target, budgets, spec, use_filter=not no_filter, log=_log)


@app.command()
@_cli_errors
def dnas(src: Src = "-", output: Out = "-",
         options: Options_ = None, int_only: IntOnly = False, act: ActO = Act.int8,
         ram: Ram = None, flash: Flash = None, latency_budget: LatB = None, weight_bytes: WBytes = None,
         compression: Compr = None, bitops: Bitops = None, no_filter: NoFilter = False,
         core: Core = "m7", lut: Lut = None, core_b: CoreB = None, lut_b: LutB = None, sync_us: SyncUs = 5.0,
         split_step: SplitStep = 1, freq_mhz: FreqMhz = None, select: Select = None, im2col: Im2col = "2",
         epochs: Annotated[int, typer.Option(help="Search epochs.")] = 8,
         warmup_epochs: Annotated[int, typer.Option(help="Weights-only epochs before alpha is searched.")] = 1,
         t0: Annotated[float, typer.Option(help="Initial Gumbel-softmax temperature.")] = 5.0,
         tmin: Annotated[float, typer.Option(help="Final temperature.")] = 0.1,
         schedule: Annotated[Schedule, typer.Option(help="Temperature annealing.")] = Schedule.exponential,
         gumbel_hard: Annotated[bool, typer.Option(help="Straight-through one-hot samples (single path).")] = False,
         w_lr: Annotated[float, typer.Option(help="Weight learning rate (AdamW, cosine).")] = 1e-3,
         a_lr: Annotated[float, typer.Option(help="Alpha learning rate (Adam).")] = 0.05,
         objective: Objective = "latency_ms",
         cost_weight: Annotated[float, typer.Option(help="Soft penalty weight on E[objective] / cost(all-int8).")] = 0.0,
         lambda_lr: Annotated[float, typer.Option(help="Dual-ascent step of the budget multipliers.")] = 0.05,
         alpha_every: Annotated[int, typer.Option(help="One alpha step (validation batch) every K weight steps.")] = 1,
         finetune_epochs: FtEpochs = 4, batch_size: Batch = 64, lr: Lr = 1e-3, seed: Seed = 0,
         data: Data = None, data_path: DataPath = None, checkpoint: Ckpt = None, cost_cmd: CostCmd = None,
         cost_freq_mhz: CostFreq = None, keep_float: KeepFloat = False, quiet: Quiet = False) -> None:
    """Differentiable search (shared-weight supernet, Gumbel-softmax), then fine-tune and export the chosen map."""
    from .runner import output_bundle, run_dnas_search
    from .search.dnas import DnasConfig
    from .training import TrainSpec

    bundle, s = _session(src, options, int_only, act, core, lut, core_b, lut_b, sync_us, split_step, freq_mhz, select,
                         im2col, ram, flash, latency_budget, weight_bytes, compression, bitops, no_filter, data,
                         data_path, seed)
    if quiet:
        s.log = lambda m: None
    cfg = DnasConfig(epochs=epochs, warmup_epochs=warmup_epochs, batch_size=batch_size, w_lr=w_lr, a_lr=a_lr, t0=t0,
                     tmin=tmin, schedule=schedule.value, gumbel_hard=gumbel_hard, objective=objective,
                     cost_weight=cost_weight, lambda_lr=lambda_lr, alpha_every=alpha_every, seed=seed)
    out = run_dnas_search(s, cfg, final_train=TrainSpec(epochs=finetune_epochs, batch_size=batch_size, lr=lr, seed=seed),
                          checkpoint=checkpoint, cost_cmd=cost_cmd, cost_freq=cost_freq_mhz)
    _write(output_bundle(bundle, out, keep_float), output)
    _summary("dnas", s, out)


@app.command()
@_cli_errors
def dse(src: Src = "-", output: Out = "-",
        method: Annotated[Method, typer.Option(help="binary (log2 N evaluations; assumes accuracy grows with cost) "
                                                    "or exhaustive.")] = Method.binary,
        max_acc_drop: Annotated[float, typer.Option(help="Accuracy points below float (validation) a candidate may lose.")] = 1.0,
        grouping: Annotated[str, typer.Option(help="Layer grouping: ibex (reference rules), none, runs:K.")] = "ibex",
        objective: Objective = "latency_ms",
        options: Options_ = "int8,int4,int2", int_only: IntOnly = False, act: ActO = Act.int8,
        ram: Ram = None, flash: Flash = None, latency_budget: LatB = None, weight_bytes: WBytes = None,
        compression: Compr = None, bitops: Bitops = None, no_filter: NoFilter = False,
        core: Core = "m7", lut: Lut = None, core_b: CoreB = None, lut_b: LutB = None, sync_us: SyncUs = 5.0,
        split_step: SplitStep = 1, freq_mhz: FreqMhz = None, select: Select = None, im2col: Im2col = "2",
        epochs: Annotated[int, typer.Option(help="QAT epochs per candidate.")] = 3,
        finetune_epochs: FtEpochs = 4, batch_size: Batch = 64, lr: Lr = 1e-3, seed: Seed = 0,
        data: Data = None, data_path: DataPath = None, workers: Workers = None, cluster: Cluster = None,
        cluster_timeout: ClusterTimeout = 30.0, checkpoint: Ckpt = None, cost_cmd: CostCmd = None, cost_freq_mhz: CostFreq = None,
        max_candidates: Annotated[int, typer.Option(help="Refuse spaces larger than this.")] = 2_000_000,
        keep_float: KeepFloat = False, quiet: Quiet = False) -> None:
    """Design-space exploration: enumerate grouped per-layer choices, evaluate (binary or exhaustive), pick, fine-tune."""
    from .runner import output_bundle, run_dse
    from .training import TrainSpec

    bundle, s = _session(src, options, int_only, act, core, lut, core_b, lut_b, sync_us, split_step, freq_mhz, select,
                         im2col, ram, flash, latency_budget, weight_bytes, compression, bitops, no_filter, data,
                         data_path, seed)
    ex = _executor(cluster, workers, cluster_timeout)
    try:
        out = run_dse(s, grouping=grouping, method=method.value, max_drop=max_acc_drop, objective=objective,
                      train=TrainSpec(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
                      final_train=TrainSpec(epochs=finetune_epochs, batch_size=batch_size, lr=lr, seed=seed),
                      executor=ex, checkpoint=checkpoint, cost_cmd=cost_cmd, cost_freq=cost_freq_mhz, quiet=quiet,
                      max_candidates=max_candidates)
    finally:
        ex.close()
    _write(output_bundle(bundle, out, keep_float), output)
    _summary("dse", s, out)


@app.command()
@_cli_errors
def ilp(src: Src = "-", output: Out = "-",
        sensitivity: Annotated[Sens, typer.Option(help="noise (loss increase per layer) or hessian (HAWQ-V2 trace).")] = Sens.noise,
        samples: Annotated[int, typer.Option(help="Validation samples for the sensitivity.")] = 512,
        sweep: Annotated[int, typer.Option(help="Also solve and evaluate this many budgets on --objective (Pareto sweep).")] = 0,
        objective: Objective = "latency_ms",
        options: Options_ = None, int_only: IntOnly = False, act: ActO = Act.int8,
        ram: Ram = None, flash: Flash = None, latency_budget: LatB = None, weight_bytes: WBytes = None,
        compression: Compr = None, bitops: Bitops = None, no_filter: NoFilter = False,
        core: Core = "m7", lut: Lut = None, core_b: CoreB = None, lut_b: LutB = None, sync_us: SyncUs = 5.0,
        split_step: SplitStep = 1, freq_mhz: FreqMhz = None, select: Select = None, im2col: Im2col = "2",
        epochs: Annotated[int, typer.Option(help="QAT epochs per sweep candidate.")] = 3,
        finetune_epochs: FtEpochs = 4, batch_size: Batch = 64, lr: Lr = 1e-3, seed: Seed = 0,
        data: Data = None, data_path: DataPath = None, workers: Workers = None, cluster: Cluster = None,
        cluster_timeout: ClusterTimeout = 30.0, checkpoint: Ckpt = None, cost_cmd: CostCmd = None, cost_freq_mhz: CostFreq = None,
        keep_float: KeepFloat = False, quiet: Quiet = False) -> None:
    """Per-layer sensitivity, then the optimal assignment under the budgets by integer programming."""
    from .runner import output_bundle, run_ilp
    from .training import TrainSpec

    bundle, s = _session(src, options, int_only, act, core, lut, core_b, lut_b, sync_us, split_step, freq_mhz, select,
                         im2col, ram, flash, latency_budget, weight_bytes, compression, bitops, no_filter, data,
                         data_path, seed)
    ex = _executor(cluster, workers if sweep else 0, cluster_timeout)
    try:
        out = run_ilp(s, sens_method=sensitivity.value, n_samples=samples, sweep=sweep, objective=objective,
                      train=TrainSpec(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
                      final_train=TrainSpec(epochs=finetune_epochs, batch_size=batch_size, lr=lr, seed=seed),
                      executor=ex, checkpoint=checkpoint, seed=seed, cost_cmd=cost_cmd, cost_freq=cost_freq_mhz,
                      quiet=quiet)
    finally:
        ex.close()
    _write(output_bundle(bundle, out, keep_float), output)
    _summary("ilp", s, out)


def main() -> None:
    app()
