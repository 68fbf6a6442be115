"""cimnoise runs without torch and imports no sibling tool (only qformat)."""

from __future__ import annotations

import subprocess
import sys


def test_no_torch_and_no_sibling_tools():
    code = (
        "import sys, importlib, pkgutil, cimnoise\n"
        "for m in pkgutil.walk_packages(cimnoise.__path__, 'cimnoise.'):\n"
        "    if m.name != 'cimnoise.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "bad = [n for n in ('torch', 'qtrain', 'qsearch', 'accelsim', 'ibexgen', 'qviz', 'sklearn') if n in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
