"""A stand-in back-end for --cost-cmd tests: reads a model artifact on stdin, prints a per-layer cost table.

cycles = MACs * weight bits / 8 per compute layer (integer layers), bytes = weight codes. Counts its runs in
the file named by $FAKE_BACKEND_COUNTER. ``--fail`` exits 3 with a message; ``--garbage`` prints non-qformat bytes.
"""

import os
import sys

import pyarrow as pa

import qformat as qf

if "--fail" in sys.argv:
    print("fake: the simulator exploded", file=sys.stderr)
    sys.exit(3)
if "--garbage" in sys.argv:
    sys.stdout.write("hello\n")
    sys.exit(0)
counter = os.environ.get("FAKE_BACKEND_COUNTER")
if counter:
    with open(counter, "a") as f:
        f.write("x")
b = qf.read_bundle(sys.stdin.buffer)
m = b.model()
rows = []
for lay in m.compute_layers():
    bits = lay.quant.weight.bits if lay.quant is not None and lay.quant.weight is not None else 32
    rows.append({"layer": lay.name, "cycles": int(qf.macs(lay) * bits // 8),
                 "bytes": int(m.get(lay.name, "weight_codes").size * bits // 8) if m.has(lay.name, "weight_codes") else 0})
qf.save(qf.Table(pa.Table.from_pylist(rows), table_kind="fake.bench"), sys.stdout.buffer)
