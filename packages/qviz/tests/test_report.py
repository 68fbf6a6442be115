"""The HTML report: self-contained, every section present, every image decodable."""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

import qformat as qf
import qviz
import qviz.samples as samples
from qviz.report import section_id


class Page(HTMLParser):
    """Collects sections (id, kind), images (src, alt, plot) and notes."""

    def __init__(self):
        super().__init__()
        self.sections, self.images, self.links, self.notes = [], [], [], []
        self.summary_rows = 0
        self._plot = None
        self._section = None
        self._in_note = False
        self._in_tbody = False
        self.external = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id")
            self.sections.append((a.get("id"), a.get("data-kind")))
        elif tag == "figure":
            self._plot = a.get("data-plot")
        elif tag == "img":
            self.images.append({"src": a["src"], "alt": a.get("alt"), "plot": self._plot, "section": self._section})
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "p" and a.get("class") == "note":
            self._in_note = True
            self.notes.append([self._section, ""])
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.summary_rows += 1
        for k in ("src", "href"):
            if k in a and re.match(r"https?:|//", a[k]):
                self.external.append(a[k])
        if tag in ("script", "link"):
            self.external.append(tag)

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_note = False
        elif tag == "tbody":
            self._in_tbody = False

    def handle_data(self, data):
        if self._in_note:
            self.notes[-1][1] += data


def decode(src: str):
    m = re.fullmatch(r"data:(image/png|image/svg\+xml);base64,([A-Za-z0-9+/=]+)", src)
    assert m, src[:60]
    return m.group(1), base64.b64decode(m.group(2), validate=True)


@pytest.fixture(scope="module")
def full():
    b = samples.everything()
    b.add(qf.Table({"accuracy": [0.5]}, table_kind="qsearch.trials"))       # lacks every cost column
    b.add(qf.Table({"x": [1]}, table_kind="somebody.else"))
    html = qviz.build_html(b, title="test report", sources=["in.qz"])
    p = Page()
    p.feed(html)
    return b, html, p


def test_every_artifact_has_a_section_and_a_summary_row(full):
    b, html, p = full
    ids = [s[0] for s in p.sections]
    assert ids == ["summary"] + [section_id(i, a) for i, a in enumerate(b)]
    assert len(set(ids)) == len(ids)
    assert p.summary_rows == len(b)
    assert all(f"#{i}" in p.links for i in ids)
    assert p.external == []                             # self-contained: no scripts, styles or images from outside
    assert "<title>test report</title>" in html


def test_images_decode_and_cover_every_plot_auto_picks(full):
    b, html, p = full
    from PIL import Image

    for img in p.images:
        mime, data = decode(img["src"])
        assert mime == "image/png"
        im = Image.open(io.BytesIO(data))
        im.load()
        assert im.size[0] > 200 and im.size[1] > 150
        arr = np.asarray(im.convert("L"))
        assert arr.std() > 5                            # not a blank page
    plots = {(i["section"], i["plot"]) for i in p.images}
    want = {(section_id(it.index, it.artifact), it.plot) for it in qviz.auto(b) if it.figure is not None}
    assert plots == want and len(plots) == len(p.images)
    kinds = {i["plot"] for i in p.images}
    assert kinds >= {"weight-hist", "neuron-heatmap", "centroid-usage", "pruning-mask", "bits", "weight-bytes",
                     "act-hist", "zero-fraction", "act-range", "sweep-heatmap", "sweep-surface", "sweep-neurons",
                     "cycle-range", "util", "trace", "run-cycles", "pareto", "dse", "dnas", "ibex-cycles",
                     "snr-layer", "snr-sweep", "snr-validate"}


def test_notes_for_skipped_plots_and_unknown_tables(full):
    b, html, p = full
    notes = dict((s, n) for s, n in p.notes)
    n = len(b)
    assert "skipped 'pareto': missing column(s) latency" in notes[section_id(n - 2, b[n - 2])]
    assert notes[section_id(n - 1, b[n - 1])] == "no plot for table kind somebody.else"


def test_svg_images(tmp_path):
    b = qf.Bundle([samples.trials_table(), samples.quantized_model()])
    out = qviz.write_report(b, tmp_path / "r.html", fmt="svg")
    p = Page()
    p.feed(out.read_text())
    assert len(p.images) >= 3
    for img in p.images:
        mime, data = decode(img["src"])
        root = ET.fromstring(data)
        assert mime == "image/svg+xml" and root.tag.endswith("svg")
