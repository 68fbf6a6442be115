"""qviz runs without torch and without any other qstack tool; output formats are reproducible."""

from __future__ import annotations

import subprocess
import sys

import qviz
import qviz.samples as samples


def test_runs_without_torch_or_sibling_tools(tmp_path):
    code = f"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {{'torch', 'qtrain', 'qsearch', 'accelsim', 'ibexgen', 'cimnoise'}}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import qviz, qviz.cli, qviz.samples as s
items = qviz.auto(s.everything())
assert sum(it.figure is not None for it in items) >= 25, [it.note for it in items if it.note]
qviz.write_report(s.everything(), r'{tmp_path}/r.html')
bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'qtrain', 'qsearch', 'accelsim', 'ibexgen', 'cimnoise')]
assert not bad, bad
print('ok')
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_svg_and_pdf_are_reproducible():
    """Same input, same bytes (no timestamps, no random SVG ids): outputs can be diffed and cached."""
    m = samples.quantized_model()
    for fmt in ("svg", "pdf"):
        assert qviz.figure_bytes(qviz.draw("bits", m), fmt) == qviz.figure_bytes(qviz.draw("bits", m), fmt)


def test_every_plot_is_documented_and_covered_by_samples():
    b = samples.everything()
    for name, spec in qviz.PLOTS.items():
        assert spec.summary and spec.needs and spec.draw.__doc__, name
        assert any(spec.accepts(a) for a in b), name
