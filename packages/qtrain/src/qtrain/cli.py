"""Command-line interface of qtrain: ``qtrain fit|qat|ptq|kmeans|eval|probe|zoo``.

Artifacts go to ``-o`` (default ``-`` = stdout, a qformat stream); progress and
the final one-line summary go to stderr. Inputs are a path, URL or ``-``
(stdin); commands that transform a model pass every other artifact of the
input bundle through. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from typing import Annotated, Optional

import typer

from qformat.cli_util import cli_errors

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Datasets, model zoo, float training, QAT, PTQ, k-means weight sharing and activation probing.")


class Optim(str, Enum):
    adamw = "adamw"
    sgd = "sgd"
    adam = "adam"


class Sched(str, Enum):
    cosine = "cosine"
    constant = "constant"


class Norm(str, Enum):
    unit = "unit"
    standard = "standard"
    none = "none"


class WMethod(str, Enum):
    lsq = "lsq"
    dorefa = "dorefa"


class Calib(str, Enum):
    minmax = "minmax"
    percentile = "percentile"
    mse = "mse"


class WCalib(str, Enum):
    minmax = "minmax"
    mse = "mse"


class Per(str, Enum):
    layer = "layer"
    neuron = "neuron"


class Mode(str, Enum):
    float = "float"
    fake = "fake"
    int = "int"


class Engine(str, Enum):
    reference = "reference"
    fast = "fast"
    both = "both"


class Noise(str, Enum):
    jacobian = "jacobian"
    inject = "inject"
    none = "none"


class PactGrad(str, Enum):
    lsq = "lsq"
    pact = "pact"


# ----------------------------------------------------------------------------- shared options
Input = Annotated[Optional[str], typer.Argument(help="Input artifact or bundle: path, URL, or - for stdin.")]
Output = Annotated[str, typer.Option("--output", "-o", help="Where to write the result (path or - for stdout).")]
Dataset = Annotated[Optional[str], typer.Option(help="digits, mnist, fashion-mnist, cifar10, cifar100, imagefolder, npz "
                                                     "(default: the input model's dataset, else digits).")]
DataPath = Annotated[Optional[str], typer.Option("--data", help="Dataset path (directory, .npz, CIFAR .tar.gz).")]
ImageSize = Annotated[Optional[int], typer.Option(help="Network input size for image folders (px).")]
ValFrac = Annotated[Optional[float], typer.Option(help="Validation fraction carved from the training set.")]
Normalize = Annotated[Optional[Norm], typer.Option(help="Input normalisation (default: unit for grayscale, "
                                                       "standard for colour/tabular).")]
NoAug = Annotated[bool, typer.Option("--no-augment", help="Disable training augmentation.")]
Seed = Annotated[int, typer.Option(help="Seed of the split, initialisation, data order and augmentation.")]
Epochs = Annotated[int, typer.Option(help="Training epochs.")]
Batch = Annotated[int, typer.Option(help="Batch size.")]
Lr = Annotated[Optional[float], typer.Option(help="Peak learning rate (default 2e-3 AdamW, 0.05 SGD).")]
Wd = Annotated[Optional[float], typer.Option(help="Weight decay on conv/linear weights.")]
OptimO = Annotated[Optim, typer.Option("--optimizer", help="Optimiser.")]
SchedO = Annotated[Sched, typer.Option("--schedule", help="Learning-rate schedule (after warm-up).")]
Warmup = Annotated[float, typer.Option(help="Warm-up epochs (linear).")]
Smooth = Annotated[float, typer.Option(help="Label smoothing.")]
Device = Annotated[str, typer.Option(help="cpu or cuda (GPU when present).")]
Ckpt = Annotated[Optional[str], typer.Option(help="Checkpoint file (default .qtrain/<command>-<run key>.ckpt; "
                                                  "'none' disables).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint of the same run.")]
Threads = Annotated[Optional[int], typer.Option(help="torch CPU threads.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary on stderr.")]
Precision = Annotated[Optional[str], typer.Option(help="Uniform precision: int8, int4, fp16, w4a8, ... "
                                                       "(default: the input's precision map, else int8).")]
PMap = Annotated[Optional[str], typer.Option(help="Precision map file (qformat artifact or JSON; - = stdin).")]
PerTensor = Annotated[bool, typer.Option("--per-tensor", help="Per-tensor weight scales (default per channel).")]
Pow2 = Annotated[bool, typer.Option("--pow2", help="Power-of-two scales (shift-only requantization).")]
MulBits = Annotated[int, typer.Option(help="Requantization multiplier width (8 = Ibex ISA; up to 31).")]
BiasBits = Annotated[int, typer.Option(help="Bias code width: 32, or 16 (checked for overflow).")]
OutBits = Annotated[Optional[int], typer.Option(help="Bits of the logits grid (default 8 or wider).")]
CalibO = Annotated[Calib, typer.Option("--calibration", help="Activation range calibration.")]
CalibN = Annotated[int, typer.Option(help="Calibration samples (from the training split).")]
ModelSpec = Annotated[Optional[str], typer.Option("--model", help="Zoo model to train first when no input is given "
                                                                 "(e.g. mlp:widths=32/64, mobilenetv2:width=0.5).")]


def _setup(threads: Optional[int]) -> None:
    import torch

    if threads:
        torch.set_num_threads(int(threads))


def _progress(quiet: bool):
    from .progress import Progress

    return Progress(quiet=quiet)


def _data(dataset, data, seed, val_fraction, image_size, normalize, no_augment):
    from .workflows import DataOptions

    return DataOptions(dataset=dataset, data=data, seed=seed, val_fraction=val_fraction, image_size=image_size,
                       normalize=normalize.value if normalize else None, augment=not no_augment)


def _train(epochs, batch_size, optimizer, lr, weight_decay, schedule, warmup, label_smoothing, seed, device):
    from .train import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer.value, lr=lr,
                       weight_decay=weight_decay, schedule=schedule.value, warmup_epochs=warmup,
                       label_smoothing=label_smoothing, seed=seed, device=device)


def _read_input(src: Optional[str], required: bool = True):
    from .io import read_bundle

    if src is None:
        if not required:
            return None, None
        src = "-"
    b = read_bundle(src)
    return b, b.model()


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qtrain {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Show the version and exit.")] = False) -> None:
    """qtrain command line."""


# ----------------------------------------------------------------------------- fit
@app.command()
@cli_errors(tool="qtrain")
def fit(model: Annotated[str, typer.Option(help="Zoo model spec, e.g. mlp:widths=32/64, cnn, mobilenetv2:width=0.35.")] = "mlp",
        dataset: Dataset = None, data: DataPath = None, image_size: ImageSize = None, val_fraction: ValFrac = None,
        normalize: Normalize = None, no_augment: NoAug = False, seed: Seed = 0, epochs: Epochs = 20,
        batch_size: Batch = 128, optimizer: OptimO = Optim.adamw, lr: Lr = None, weight_decay: Wd = None,
        schedule: SchedO = Sched.cosine, warmup: Warmup = 0.0, label_smoothing: Smooth = 0.0, device: Device = "cpu",
        checkpoint: Ckpt = None, resume: Resume = False, threads: Threads = None, quiet: Quiet = False,
        output: Output = "-") -> None:
    """Train a zoo model in float and write it (BatchNorm folded) as a qformat model."""
    import qformat as qf

    from .io import write_bundle
    from .workflows import RunOptions, fit_model

    _setup(threads)
    p = _progress(quiet)
    d = _data(dataset, data, seed, val_fraction, image_size, normalize, no_augment)
    t = _train(epochs, batch_size, optimizer, lr, weight_decay, schedule, warmup, label_smoothing, seed, device)
    m, res, metrics = fit_model(model, d, t, RunOptions(checkpoint, resume, p))
    write_bundle(qf.Bundle([m]), output)
    p.summary(f"qtrain fit {model} on {m.provenance['dataset']['name']}: val {_pct(metrics['val_acc'])} "
              f"(epoch {metrics['best_epoch']}), test {_pct(metrics['test_acc'])}, {metrics['params']:,} params, "
              f"{metrics['macs']:,} MACs, {metrics['train_seconds']:.1f} s")


# ----------------------------------------------------------------------------- qat
@app.command()
@cli_errors(tool="qtrain")
def qat(input: Input = None, precision: Precision = None, precision_map: PMap = None,
        weight_method: Annotated[WMethod, typer.Option(help="Weight quantizer: LSQ learned step or DoReFa tanh.")] = WMethod.lsq,
        pact_gradient: Annotated[PactGrad, typer.Option(help="Clip gradient: lsq (with rounding term) or pact (clipped values only).")] = PactGrad.lsq,
        per_tensor: PerTensor = False, pow2: Pow2 = False, calibration: CalibO = Calib.percentile,
        calib_samples: CalibN = 1024, multiplier_bits: MulBits = 8, bias_bits: BiasBits = 32,
        output_bits: OutBits = None, model: ModelSpec = None,
        float_epochs: Annotated[int, typer.Option(help="Float epochs when training from --model first.")] = 20,
        dataset: Dataset = None, data: DataPath = None, image_size: ImageSize = None, val_fraction: ValFrac = None,
        normalize: Normalize = None, no_augment: NoAug = False, seed: Seed = 0, epochs: Epochs = 10,
        batch_size: Batch = 128, optimizer: OptimO = Optim.adamw,
        lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (default 5e-4 AdamW, 0.01 SGD).")] = None,
        weight_decay: Wd = None, schedule: SchedO = Sched.cosine, warmup: Warmup = 0.0,
        label_smoothing: Smooth = 0.0, device: Device = "cpu", checkpoint: Ckpt = None, resume: Resume = False,
        threads: Threads = None, quiet: Quiet = False, output: Output = "-") -> None:
    """Quantization-aware training (fake quant, straight-through gradients) from a float model."""
    from .io import read_precision, write_bundle
    from .workflows import RunOptions, qat_model

    _setup(threads)
    p = _progress(quiet)
    bundle, m = _read_input(input, required=model is None)
    pm, src = read_precision(precision, precision_map, bundle)
    d = _data(dataset, data, seed, val_fraction, image_size, normalize, no_augment)
    if lr is None:
        lr = 0.01 if optimizer == Optim.sgd else 5e-4
    t = _train(epochs, batch_size, optimizer, lr, weight_decay, schedule, warmup, label_smoothing, seed, device)
    ft = _train(float_epochs, batch_size, optimizer, None, weight_decay, schedule, warmup, label_smoothing, seed, device)
    out, metrics = qat_model(m, pm, d, t, RunOptions(checkpoint, resume, p), model_spec=model, float_train=ft,
                             weight_method=weight_method.value, per_channel=not per_tensor, pow2=pow2,
                             pact_gradient=pact_gradient.value, calibration=calibration.value,
                             calib_samples=calib_samples, multiplier_bits=multiplier_bits, bias_bits=bias_bits,
                             output_bits=output_bits, precision_source=src)
    import qformat as qf

    b = bundle if bundle is not None else qf.Bundle()
    b.replace(m, out) if m is not None else b.add(out)
    write_bundle(b, output)
    p.summary(f"qtrain qat ({src}): float {_pct(metrics['float_test_acc'])} -> fake-quant test "
              f"{_pct(metrics['fake_test_acc'])}, integer test {_pct(metrics.get('int_test_acc'))} "
              f"(val {_pct(metrics['val_acc'])}, {metrics['train_seconds']:.1f} s)")


# ----------------------------------------------------------------------------- ptq
@app.command()
@cli_errors(tool="qtrain")
def ptq(input: Input = None, precision: Precision = None, precision_map: PMap = None, calibration: CalibO = Calib.percentile,
        percentile: Annotated[float, typer.Option(help="Percentile for --calibration percentile.")] = 99.99,
        weight_calibration: Annotated[WCalib, typer.Option(help="Weight scale calibration.")] = WCalib.mse,
        calib_samples: CalibN = 1024, per_tensor: PerTensor = False, pow2: Pow2 = False,
        multiplier_bits: MulBits = 8, bias_bits: BiasBits = 32, output_bits: OutBits = None,
        model: ModelSpec = None, float_epochs: Annotated[int, typer.Option(help="Float epochs with --model.")] = 20,
        dataset: Dataset = None, data: DataPath = None, image_size: ImageSize = None, val_fraction: ValFrac = None,
        normalize: Normalize = None, seed: Annotated[Optional[int], typer.Option(help="Split seed (default: the model's).")] = None,
        device: Device = "cpu", threads: Threads = None, quiet: Quiet = False, output: Output = "-") -> None:
    """Post-training quantization (min/max, percentile or MSE calibration) and integer export."""
    import qformat as qf

    from .io import read_precision, write_bundle
    from .train import TrainConfig
    from .workflows import RunOptions, ptq_model

    _setup(threads)
    p = _progress(quiet)
    bundle, m = _read_input(input, required=model is None)
    pm, src = read_precision(precision, precision_map, bundle)
    d = _data(dataset, data, seed, val_fraction, image_size, normalize, False)
    out, metrics = ptq_model(m, pm, d, RunOptions(None, False, p), model_spec=model,
                             float_train=TrainConfig(epochs=float_epochs, seed=seed or 0, device=device),
                             calibration=calibration.value, percentile=percentile,
                             weight_calibration=weight_calibration.value, calib_samples=calib_samples,
                             per_channel=not per_tensor, pow2=pow2, multiplier_bits=multiplier_bits,
                             bias_bits=bias_bits, output_bits=output_bits, device=device, precision_source=src)
    b = bundle if bundle is not None else qf.Bundle()
    b.replace(m, out) if m is not None else b.add(out)
    write_bundle(b, output)
    p.summary(f"qtrain ptq ({src}, {calibration.value}): float {_pct(metrics['float_test_acc'])} -> fake-quant test "
              f"{_pct(metrics['fake_test_acc'])}, integer test {_pct(metrics.get('int_test_acc'))} ({metrics['seconds']:.1f} s)")


# ----------------------------------------------------------------------------- kmeans
@app.command()
@cli_errors(tool="qtrain")
def kmeans(input: Input = None, k: Annotated[int, typer.Option("-k", "--clusters", help="Centroids per layer or per neuron.")] = 16,
           per: Annotated[Per, typer.Option(help="One codebook per layer or per neuron (output row).")] = Per.layer,
           sparsity: Annotated[float, typer.Option(help="Magnitude-pruning target per layer (0..1).")] = 0.5,
           prune_epochs: Annotated[int, typer.Option(help="Fine-tuning epochs after pruning, before clustering.")] = 0,
           layers: Annotated[Optional[str], typer.Option(help="Comma-separated layers (default all compute layers).")] = None,
           dataset: Dataset = None, data: DataPath = None, image_size: ImageSize = None, val_fraction: ValFrac = None,
           normalize: Normalize = None, no_augment: NoAug = False, seed: Seed = 0, epochs: Epochs = 5,
           batch_size: Batch = 128, optimizer: OptimO = Optim.adamw,
           lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (default 1e-3).")] = None,
           weight_decay: Wd = None, schedule: SchedO = Sched.cosine, warmup: Warmup = 0.0,
           label_smoothing: Smooth = 0.0, device: Device = "cpu", checkpoint: Ckpt = None, resume: Resume = False,
           threads: Threads = None, quiet: Quiet = False, output: Output = "-") -> None:
    """k-means weight sharing with magnitude pruning and centroid fine-tuning (for the weight-sharing accelerator)."""
    from .io import write_bundle
    from .workflows import RunOptions, kmeans_compress

    _setup(threads)
    p = _progress(quiet)
    bundle, m = _read_input(input)
    d = _data(dataset, data, seed, val_fraction, image_size, normalize, no_augment)
    t = _train(epochs, batch_size, optimizer, lr if lr is not None else 1e-3, weight_decay, schedule, warmup,
               label_smoothing, seed, device)
    out, metrics = kmeans_compress(m, d, t, RunOptions(checkpoint, resume, p), k=k, per=per.value,
                                   sparsity=sparsity, prune_epochs=prune_epochs,
                                   layers=[s.strip() for s in layers.split(",")] if layers else None)
    bundle.replace(m, out)
    write_bundle(bundle, output)
    p.summary(f"qtrain kmeans k={k} per {per.value}, sparsity {sparsity:.0%}: float {_pct(metrics['float_test_acc'])}"
              f" -> clustered {_pct(metrics['clustered_test_acc'])} -> fine-tuned test {_pct(metrics['test_acc'])}")


# ----------------------------------------------------------------------------- eval
@app.command("eval")
@cli_errors(tool="qtrain")
def eval_(input: Input = None, integer: Annotated[bool, typer.Option("--integer", help="Integer-only inference (same as --mode int).")] = False,
          mode: Annotated[Mode, typer.Option(help="float (torch), fake or int (qformat reference interpreter).")] = Mode.float,
          engine: Annotated[Engine, typer.Option(help="Integer engine: the qformat reference, qtrain's fast torch path, or both (checks bit-exactness).")] = Engine.reference,
          split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
          limit: Annotated[Optional[int], typer.Option(help="Evaluate only the first N samples.")] = None,
          dataset: Dataset = None, data: DataPath = None, image_size: ImageSize = None, val_fraction: ValFrac = None,
          normalize: Normalize = None, seed: Annotated[Optional[int], typer.Option(help="Split seed (default: the model's).")] = None,
          device: Device = "cpu", threads: Threads = None, quiet: Quiet = False) -> None:
    """Accuracy of a model on a split; one JSON line on stdout."""
    from .workflows import eval_model

    _setup(threads)
    p = _progress(quiet)
    _, m = _read_input(input)
    d = _data(dataset, data, seed, val_fraction, image_size, normalize, True)
    res = eval_model(m, d, split=split, mode="int" if integer else mode.value, engine=engine.value, limit=limit,
                     device=device)
    typer.echo(json.dumps(res))
    extra = f", bit-exact {res['bit_exact']}" if "bit_exact" in res else ""
    p.summary(f"qtrain eval ({res['mode']}{'/' + res['engine'] if 'engine' in res else ''}): {res['split']} accuracy "
              f"{_pct(res['accuracy'])} on {res['samples']} samples{extra} ({res['seconds']:.1f} s)")
    if res.get("bit_exact") is False:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- probe
@app.command()
@cli_errors(tool="qtrain")
def probe(input: Input = None, samples: Annotated[int, typer.Option(help="Samples for the histograms.")] = 1024,
          split: Annotated[str, typer.Option(help="Split to probe (val by default; train also allowed).")] = "val",
          bins: Annotated[int, typer.Option(help="Histogram bins (shared edges per site).")] = 256,
          noise: Annotated[Noise, typer.Option(help="Noise-propagation method.")] = Noise.jacobian,
          noise_samples: Annotated[int, typer.Option(help="Samples for noise propagation.")] = 256,
          noise_std: Annotated[float, typer.Option(help="Injected noise std (inject method).")] = 1.0,
          only_probe: Annotated[bool, typer.Option("--only-probe", help="Write only the probe, not the input bundle.")] = False,
          dataset: Dataset = None, data: DataPath = None, image_size: ImageSize = None, val_fraction: ValFrac = None,
          normalize: Normalize = None, seed: Annotated[Optional[int], typer.Option(help="Split seed (default: the model's).")] = None,
          threads: Threads = None, quiet: Quiet = False, output: Output = "-") -> None:
    """Activation histograms and statistics per layer input/output, plus noise propagation to the logits."""
    import qformat as qf

    from .io import write_bundle
    from .workflows import probe_model

    _setup(threads)
    p = _progress(quiet)
    if split not in ("train", "val"):
        from .errors import ConfigError
        raise ConfigError("probe", "split", "probe train or val data; the test split is only for final evaluation")
    bundle, m = _read_input(input)
    d = _data(dataset, data, seed, val_fraction, image_size, normalize, True)
    ps = probe_model(m, d, samples=samples, split=split, bins=bins, noise=None if noise == Noise.none else noise.value,
                     noise_samples=noise_samples, noise_std=noise_std)
    if only_probe:
        out = qf.Bundle([ps])
    else:
        out = bundle.remove_kind("probe").add(ps)
    write_bundle(out, output)
    p.summary(f"qtrain probe: {len(ps.sites())} sites, noise propagation for {len(ps.noise_prop)} layers "
              f"({samples} samples, {bins} bins)")


# ----------------------------------------------------------------------------- zoo
@app.command("zoo")
@cli_errors(tool="qtrain")
def zoo_(model: Annotated[Optional[str], typer.Option("--model", help="Show one model per layer (spec string).")] = None,
         input_shape: Annotated[str, typer.Option("--input", help="Input shape, e.g. 3x32x32 or 784.")] = "3x32x32",
         classes: Annotated[int, typer.Option(help="Number of classes.")] = 10,
         as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False) -> None:
    """List the zoo models with their compute layers, parameters and MACs (or one model's layers)."""
    from . import zoo as z
    from .errors import ConfigError
    from .workflows import zoo_table

    try:
        shape = tuple(int(v) for v in input_shape.lower().split("x"))
    except ValueError:
        raise ConfigError("--input", input_shape, "expected dimensions like 3x32x32") from None
    if model:
        a = z.build(model, shape, classes)
        rows = z.summary(a)
        if as_json:
            for r in rows:
                typer.echo(json.dumps(r))
            return
        typer.echo(f"{a.spec}  input {'x'.join(map(str, shape))}, {classes} classes")
        typer.echo(f"{'layer':<22}{'op':<12}{'weight':<20}{'out':<16}{'params':>10}{'MACs':>14}")
        for r in rows:
            typer.echo(f"{r['layer']:<22}{r['op']:<12}{'x'.join(map(str, r['weight'])):<20}"
                       f"{'x'.join(map(str, r['out'])):<16}{r['params']:>10,}{r['macs']:>14,}")
        typer.echo(f"{'total':<70}{a.params():>10,}{a.macs():>14,}")
        return
    rows = zoo_table(shape, classes)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r))
        return
    typer.echo(f"{'model':<16}{'layers':>7}{'params':>14}{'MACs':>16}   (input {'x'.join(map(str, shape))}, {classes} classes)")
    for r in rows:
        name = r["model"].split(":")[0]
        if "error" in r:
            typer.echo(f"{name:<16}  -- {r['error']}")
        else:
            typer.echo(f"{name:<16}{r['layers']:>7}{r['params']:>14,}{r['macs']:>16,}")


@app.command()
def version() -> None:
    """Print the version of qtrain."""
    typer.echo(__version__)


def main() -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")
    app()
