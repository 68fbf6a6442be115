"""Guard run first in every tox environment.

Checks that each installed qstack distribution comes from this working tree
(never from an index), and that the environments of the torch-free tools
really lack torch and every sibling tool, so "installs alone" is tested.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path

TOOLS = ["qformat", "qtrain", "qsearch", "accelsim", "ibexgen", "cimnoise", "qviz"]
# What each environment may import besides itself (the tool-isolation rule).
ALLOWED = {
    "qformat": {"qformat"},
    "qformat-torch": {"qformat"},
    "qtrain": {"qformat", "qtrain"},
    "qsearch": {"qformat", "qtrain", "qsearch"},
    "accelsim": {"qformat", "accelsim"},
    "ibexgen": {"qformat", "ibexgen"},
    "cimnoise": {"qformat", "cimnoise"},
    "qviz": {"qformat", "qviz"},
}
TORCH_FREE = {"qformat", "accelsim", "ibexgen", "cimnoise", "qviz"}


def main(env: str) -> int:
    root = Path(__file__).resolve().parent.parent
    problems = []
    for tool in TOOLS:
        spec = importlib.util.find_spec(tool)
        if spec is None:
            continue
        origin = Path(spec.origin or "").resolve()
        if root not in origin.parents:
            problems.append(f"{tool} is imported from {origin}, not from this tree ({root})")
        if env in ALLOWED and tool not in ALLOWED[env]:
            problems.append(f"{tool} is installed in the '{env}' environment, which must work without it")
    if env in TORCH_FREE and importlib.util.find_spec("torch") is not None:
        problems.append(f"torch is installed in the '{env}' environment, which must work without it")
    if env in ("accelsim", "ibexgen", "cimnoise") and importlib.util.find_spec("matplotlib") is not None:
        problems.append(f"matplotlib is installed in the '{env}' environment, which must work without it")
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith("qstack-"):
            direct = dist.read_text("direct_url.json") or ""
            in_tree = root in Path(str(getattr(dist, "_path", ""))).resolve().parents
            if "file://" not in direct and not in_tree:
                problems.append(f"{name} was not installed from the working tree")
    for p in problems:
        print(f"check_tree_install: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TOX_ENV_NAME", "")))
