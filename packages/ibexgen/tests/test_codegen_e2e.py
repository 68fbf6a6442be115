"""Generate, compile (zig), simulate: every target is bit-exact with qformat.run of the same artifact."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures import cnn, mlp, reference, sample, with_zero_points
from helpers import compare

from ibexgen.codegen.compat import fit_compat
from ibexgen.codegen.netir import from_qformat
from ibexgen.codegen.project import build, generate, read_marks, read_output
from ibexgen.errors import IbexgenError, ToolchainError
from ibexgen.iss import Config, simulate
from ibexgen.iss.memmap import load_presets

TARGETS = ["baseline", "baseline-naive", "xmpq", "xmpq-compat"]


def lenet5():
    from ibexgen import models

    return models.quantize(models.lenet5(), {"conv1": 4, "conv2": 8, "fc1": 2, "fc2": 8, "fc3": 8, "_default": 8})

CASES = [
    ("digits-mlp-8", lambda: mlp()),
    ("digits-mlp-2-4", lambda: mlp((("fc1", 2), ("fc2", 4)))),
    ("digits-mlp-4-2", lambda: mlp((("fc1", 4), ("fc2", 2)))),
    ("digits-mlp-signed-input", lambda: mlp((("fc1", 2), ("_default", 8)), signed_input=True)),
    ("mlp-zero-points", lambda: with_zero_points(mlp((("fc1", 4), ("_default", 8)), sizes=(30, 13, 7)))),
    ("cnn-max-8-4-2", lambda: cnn("max", (("conv1", 8), ("dw2", 8), ("pw3", 4), ("fc", 2)))),
    ("cnn-avg-2", lambda: cnn("avg", (("_default", 2),), in_shape=(3, 6, 6), channels=4)),
    ("cnn-global-4", lambda: cnn("global", (("_default", 4),), residual=False, in_shape=(2, 5, 7), channels=12)),
    ("cnn-zero-points", lambda: with_zero_points(cnn("max", in_shape=(4, 6, 6), channels=8), zp_in=9, zp_w=0)),
    ("lenet5-4-8-2-8-8", lambda: lenet5()),
]


def _run(model, target, tmp_path, toolchain, seed=0):
    fitted = fit_compat(model) if target == "xmpq-compat" else model
    ir = from_qformat(fitted)
    x = sample(fitted, seed)
    want = reference(fitted, x)
    g = generate(ir, target, tmp_path / target, x, expected=want)
    elf = build(g.outdir, toolchain)
    sim = simulate(elf, engine="fast")
    assert sim.result.exit == "halt", sim.result.fault
    return g, elf, sim, want


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_every_target_is_bit_exact(name, make, target, tmp_path, toolchain):
    g, elf, sim, want = _run(make(), target, tmp_path, toolchain)
    got = read_output(sim, g.manifest)
    assert np.array_equal(got, want), (got.tolist(), want.tolist())
    marks = read_marks(sim, g.manifest)
    assert len(marks) == len(g.manifest["layers"]) and all(c > 0 for c, _ in marks)
    assert sum(c for c, _ in marks) <= sim.result.mcycle
    out_line = [ln for ln in sim.result.console.decode().splitlines() if ln.startswith("ibexgen out")][0]
    assert [int(v) for v in out_line.split()[2:]] == want.reshape(-1).tolist()


def test_custom_isas_beat_the_baseline_on_a_2bit_mlp(tmp_path, toolchain):
    m = mlp((("_default", 2),), sizes=(117, 20, 2))
    cyc = {}
    for t in ("baseline", "baseline-naive", "xmpq", "xmpq-compat"):
        _, _, sim, _ = _run(m, t, tmp_path, toolchain)
        cyc[t] = sim.result.mcycle
    assert cyc["baseline-naive"] > cyc["baseline"] > 10 * cyc["xmpq"]
    assert cyc["baseline"] > 10 * cyc["xmpq-compat"]


@pytest.mark.parametrize("target", ["baseline", "xmpq", "xmpq-compat"])
def test_reference_engine_agrees_on_generated_programs(target, tmp_path, toolchain):
    m = mlp((("fc1", 2), ("fc2", 8)), sizes=(24, 8, 4))
    _, elf, fast, _ = _run(m, target, tmp_path, toolchain)
    ref = simulate(elf, engine="ref")
    compare(ref.result, fast.result, ref.machine, fast.machine)


def test_compat_refuses_unfitted_models_naming_the_layer(tmp_path):
    ir = from_qformat(mlp((("fc1", 2),)))
    with pytest.raises(IbexgenError, match=r"layer 'fc1'.*multiplier .* does not fit the compat ISA"):
        generate(ir, "xmpq-compat", tmp_path / "c", sample(mlp((("fc1", 2),))))
    ir = from_qformat(mlp((("fc1", 2),), multiplier_bits=8))
    with pytest.raises(IbexgenError, match=r"layer 'fc\d'.*bias .* int8 mantissa"):
        generate(ir, "xmpq-compat", tmp_path / "c", sample(mlp((("fc1", 2),))))


def test_program_that_does_not_fit_ram_fails_at_build(tmp_path, toolchain):
    preset = tmp_path / "tiny.toml"
    preset.write_text('[tiny]\nmemory = [{ name = "ram", base = 0x00100000, size = 0x2000 }]\n'
                      'devices = [{ kind = "simctrl", base = 0x20000 }]\n')
    mm = load_presets(preset)["tiny"]
    big = mlp(sizes=(64, 32, 10))
    with pytest.raises(IbexgenError, match="more than the 8192-byte RAM"):
        generate(from_qformat(big), "baseline", tmp_path / "a", sample(big), memmap=mm, stack_size=7000)
    # passes the generator's estimate (parameters + buffers + stack) but not the link: code does not fit
    m = mlp(sizes=(16, 8, 4))
    ir = from_qformat(m)
    g = generate(ir, "baseline", tmp_path / "b", sample(m), memmap=mm, stack_size=8192 - 600)
    with pytest.raises(ToolchainError, match="fit|ram"):
        build(g.outdir, toolchain)


def test_programs_run_on_a_custom_memory_map(tmp_path, toolchain):
    preset = tmp_path / "big.toml"
    preset.write_text('[lowram]\nreset_pc = 0x00000080\nmemory = [{ name = "ram", base = 0x0, size = 0x10000 }]\n'
                      'devices = [{ kind = "simctrl", base = 0x20000 }, { kind = "timer", base = 0x30000 }]\n')
    mm = load_presets(preset)["lowram"]
    m = mlp((("fc1", 4),), sizes=(16, 8, 4))
    ir = from_qformat(m)
    x = sample(m)
    g = generate(ir, "xmpq", tmp_path / "x", x, memmap=mm)
    elf = build(g.outdir, toolchain)
    sim = simulate(elf, Config(memmap=mm))
    assert sim.result.exit == "halt"
    assert np.array_equal(read_output(sim, g.manifest), reference(m, x))


@pytest.mark.parametrize("target,friendly", [("baseline", False), ("baseline-naive", False), ("xmpq", False),
                                             ("xmpq-compat", True)])
def test_geometry_concat_standalone_relu_relu6_and_zero_points(target, friendly, tmp_path, toolchain):
    from fixtures import handmade

    m = handmade(compat_friendly=friendly)
    if target == "xmpq-compat":
        m = fit_compat(m)
    ir = from_qformat(m)
    assert [o.kind for o in ir.ops].count("clamp") == 1 and "concat" in [o.kind for o in ir.ops]
    for seed in range(2):
        x = sample(m, seed)
        want = reference(m, x)
        g = generate(ir, target, tmp_path / f"{target}{seed}", x, expected=want)
        sim = simulate(build(g.outdir, toolchain))
        assert sim.result.exit == "halt", sim.result.fault
        assert np.array_equal(read_output(sim, g.manifest), want)


def test_compat_refuses_zero_points_and_relu6(tmp_path):
    from fixtures import handmade

    ir = from_qformat(fit_compat(handmade()))
    with pytest.raises(IbexgenError, match=r"layer '(b|fc)'.*(zero point|clamp)"):
        generate(ir, "xmpq-compat", tmp_path / "c", sample(handmade()))
