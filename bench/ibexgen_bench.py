"""ibexgen benchmarks: ISS speed and network cycle counts.

Prints figures (name, value, unit, compared against) and writes
bench/out/ibexgen.json. Run: ``python bench/ibexgen_bench.py [--quick]``.

* ISS speed: simulated instructions per second of the fast (C) engine on a
  long integer program (~150 M instructions: matrix multiply, CRC32,
  insertion sort, division), and of the reference Python engine on a prefix
  of the same program.
* Cycles: the original's elderly_fall shape (117-20-2 MLP, 2-bit weights) on
  every target, plus a digits MLP and a small CNN at several precision maps.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

LONG_C = r"""
#include <stdint.h>
#define N 48
static int32_t A[N][N], B[N][N], C[N][N];
static uint8_t buf[4096];
static int32_t arr[512];
volatile uint32_t sink;

static uint32_t crc32(const uint8_t *p, int n) {
    uint32_t c = 0xffffffffu;
    for (int i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & -(c & 1u));
    }
    return ~c;
}

int main(void) {
    uint32_t seed = 12345u, acc = 0;
    for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) {
        seed = seed * 1103515245u + 12345u; A[i][j] = (int32_t)(seed >> 16) - 32768;
        seed = seed * 1103515245u + 12345u; B[i][j] = (int32_t)(seed >> 16) - 32768;
    }
    __asm__ volatile("csrw 0x320, %0" : : "r"(0));
    for (int rep = 0; rep < REPS; rep++) {
        for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) {
            int32_t s = 0;
            for (int k = 0; k < N; k++) s += A[i][k] * B[k][j];
            C[i][j] = s;
        }
        for (int i = 0; i < 4096; i++) buf[i] = (uint8_t)(C[i % N][(i / N) % N] ^ rep);
        acc ^= crc32(buf, 4096);
        for (int i = 0; i < 512; i++) { seed = seed * 1103515245u + 12345u; arr[i] = (int32_t)seed; }
        for (int i = 1; i < 512; i++) {
            int32_t v = arr[i]; int j = i - 1;
            while (j >= 0 && arr[j] > v) { arr[j + 1] = arr[j]; j--; }
            arr[j + 1] = v;
        }
        for (int i = 1; i < 200; i++) acc += (uint32_t)(C[i % N][i % N] / i) + (uint32_t)arr[i] % (uint32_t)i;
    }
    __asm__ volatile("csrw 0x320, %0" : : "r"(-1));
    sink = acc;
    return 0;
}
"""


def figure(name, value, unit, against=""):
    return {"name": name, "value": value, "unit": unit, "compared_against": against}


def build_long_program(work: Path, reps: int) -> Path:
    from importlib import resources

    from ibexgen.toolchain import find_toolchain

    rt = resources.files("ibexgen.codegen").joinpath("runtime")
    (work / "crt0.S").write_text(rt.joinpath("crt0.S").read_text())
    ld = (rt.joinpath("link.ld.in").read_text().replace("@RAM_BASE@", "0x00100000").replace("@RAM_SIZE@", "0x00100000")
          .replace("@STACK_SIZE@", "0x1000").replace("@MAP@", "simple_system").replace("@RAM_SIZE_TEXT@", "1024 KiB"))
    (work / "link.ld").write_text(ld)
    (work / "long.c").write_text(LONG_C)
    elf = work / "long.elf"
    find_toolchain().compile([work / "long.c", work / "crt0.S"], elf, work / "link.ld", extra=[f"-DREPS={reps}"])
    return elf


def iss_speed(work: Path, quick: bool) -> list[dict]:
    from ibexgen.iss import simulate

    elf = build_long_program(work, 2 if quick else 40)
    best = None
    for _ in range(1 if quick else 3):
        sim = simulate(elf, engine="fast")
        r = sim.result
        assert r.exit == "halt", r.fault
        best = r if best is None or r.seconds < best.seconds else best
    ref_n = 100_000 if quick else 400_000
    t0 = time.perf_counter()
    rr = simulate(elf, engine="ref", max_instructions=ref_n).result
    ref_s = time.perf_counter() - t0
    return [
        figure("iss_fast_instructions", best.instructions, "instructions", "long integer program"),
        figure("iss_fast_speed", round(best.instructions / best.seconds / 1e6, 1), "M instr/s",
               "goal >= 10 M/s; a plain Python decode-and-dispatch loop ~1 M/s"),
        figure("iss_fast_cycles_per_instruction", round(best.cycles / best.instructions, 3), "cycles/instr", "Ibex timing model"),
        figure("iss_ref_speed", round(rr.instructions / ref_s / 1e6, 3), "M instr/s", "reference engine (Python, per-byte bus)"),
        figure("iss_fast_over_ref", round((best.instructions / best.seconds) / (rr.instructions / ref_s)), "x", "reference engine"),
    ]


def cycle_tables(work: Path) -> tuple[list[dict], dict]:
    from ibexgen import models, pipeline

    figs, tables = [], {}
    cases = {
        "elderly_fall_2_2": (models.elderly_fall_mlp(), 2, True),
        "digits_mlp_8_8": (models.digits_mlp(), 8, True),
        "digits_mlp_4_2": (models.digits_mlp(), {"fc1": 4, "fc2": 2, "_default": 8}, True),
        "digits_mlp_2_2": (models.digits_mlp(), 2, True),
        "cnn_8_8_4_2": (models.cnn(), {"conv1": 8, "dw2": 8, "pw3": 4, "fc": 2, "_default": 8}, True),
        "lenet5_4_8_2_8_8": (models.lenet5(), {"conv1": 4, "conv2": 8, "fc1": 2, "fc2": 8, "fc3": 8, "_default": 8}, True),
    }
    targets = ("baseline", "baseline-naive", "xmpq", "xmpq-compat")
    for name, (fm, bits, fit) in cases.items():
        m = models.quantize(fm, bits)
        t = pipeline.bench(m, targets, workdir=work / name, fit_compat=fit)
        rows = t.to_pylist()
        tables[name] = rows
        tot = {r["target"]: r for r in rows if r["layer"] == "total"}
        for tg in targets:
            against = {"elderly": "original elderly_fall: 26,760 (RV32IMC) / 1,748 (custom ISA)",
                       "lenet5": "original LeNet5 [4,8,2,8,8]: 10.63 M (RV32IMC) / 0.82 M (custom ISA)"}
            figs.append(figure(f"{name}_{tg}_cycles", tot[tg]["cycles"], "cycles", against.get(name.split("_")[0], "")))
        figs.append(figure(f"{name}_xmpq_speedup", round(tot["xmpq"]["speedup"], 2), "x", "baseline (packed int8)"))
        figs.append(figure(f"{name}_compat_speedup", round(tot["xmpq-compat"]["speedup"], 2), "x", "baseline (packed int8)"))
        figs.append(figure(f"{name}_all_bit_exact", all(r["bit_exact"] for r in rows), "bool", "qformat.run"))
    return figs, tables


def main(argv=None) -> list[dict]:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="ibexgen-bench-") as td:
        work = Path(td)
        figs = iss_speed(work, quick)
        more, tables = cycle_tables(work)
        figs += more
    for f in figs:
        print(f"{f['name']:<40} {f['value']!s:>12} {f['unit']:<14} {f['compared_against']}")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "ibexgen.json").write_text(json.dumps({"figures": figs, "tables": tables}, indent=1))
    return figs


if __name__ == "__main__":
    main()
