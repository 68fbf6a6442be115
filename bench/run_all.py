"""Run every benchmark script in bench/ and write one summary table to bench/results.md.

Each script writes bench/out/<tool>.json: {"tool": ..., "figures": [{"figure", "value", "unit",
"compared_against"}, ...]}. A script that fails is reported in the table, not hidden.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    only = set(sys.argv[1:])
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in ("run_all.py",) and not p.name.startswith("_"))
    status = {}
    for s in scripts:
        if only and not any(s.stem.startswith(o) for o in only):
            continue
        print(f"== {s.name}", file=sys.stderr, flush=True)
        t0 = time.time()
        r = subprocess.run([sys.executable, str(s)], cwd=HERE.parent, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        status[s.name] = (r.returncode, time.time() - t0)
    rows = []
    for j in sorted(OUT.glob("*.json")):
        try:
            doc = json.loads(j.read_text())
        except Exception:
            continue
        for f in doc.get("figures", []):
            rows.append((doc.get("tool", j.stem), f.get("figure", f.get("name", "?")), f.get("value"), f.get("unit", ""),
                         f.get("compared_against", f.get("baseline", ""))))
    lines = ["# Benchmark results", "", f"Machine: {os.cpu_count()} cores; written by `make bench` ({time.strftime('%Y-%m-%d')}).", "",
             "| tool | figure | value | unit | compared against |", "|---|---|---|---|---|"]
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    for t, fig, v, u, c in rows:
        lines.append(f"| {cell(t)} | {cell(fig)} | {cell(v)} | {cell(u)} | {cell(c)} |")
    failed = [f"{k} (exit {rc})" for k, (rc, _) in status.items() if rc != 0]
    if failed:
        lines += ["", "Scripts that failed: " + ", ".join(failed)]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
