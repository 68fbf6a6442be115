#!/usr/bin/env bash
# The main qstack pipeline on the embedded digits data (what `make demo` runs).
# One pipe: train -> search precisions under budgets -> probe activations -> accelerator sweep
# -> Ibex code + ISS -> crossbar noise estimate -> HTML report; then a short summary.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${QSTACK_DEMO_OUT:-demo/out}
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
say() { printf '\n== %s\n' "$*" >&2; }

say "qtrain fit | qsearch dnas | qtrain probe | accelsim sweep | ibexgen bench | cimnoise estimate | qviz report"
start=$(date +%s)
qtrain fit --dataset digits --model cnn --epochs 15 --seed 0 --checkpoint none -q \
  | tee "$OUT/float.qz" \
  | qsearch dnas --ram 64KiB --compression 6 --int-only --epochs 8 --checkpoint none --keep-float -q \
  | tee "$OUT/searched.qz" \
  | qtrain probe - --samples 512 -q \
  | accelsim sweep - -S 4..16 -C 4..16 --order both -q \
  | ibexgen bench - \
  | cimnoise estimate - \
  | qviz report -o "$OUT/report.html" --passthrough \
  > "$OUT/bundle.qz"
say "pipeline finished in $(( $(date +%s) - start )) s; report: $OUT/report.html; bundle: $OUT/bundle.qz"

python "$(dirname "$0")/demo_summary.py" "$OUT/bundle.qz"
