"""``qviz report``: one self-contained HTML page (images embedded) for a whole bundle.

Layout: a header, a summary table with one row per artifact, then one section per
artifact holding every plot :func:`qviz.api.auto` picks for it and a note for each
plot that could not be drawn. No external resources: CSS is inline and images are
``data:`` URIs (PNG or SVG), so the file can be mailed or archived as is.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from . import __version__
from .api import AutoItem, as_bundle, auto
from .registry import PLOTS
from .render import figure_bytes, write_atomic
from .summary import describe

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#0072B2;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:24px} header p{margin:0;opacity:.9;font-size:13px}
nav{padding:10px 32px;background:#fff;border-bottom:1px solid #ddd;font-size:13px;line-height:1.8}
nav a{margin-right:14px;color:#0072B2;text-decoration:none;white-space:nowrap}
main{padding:8px 32px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:18px 0;padding:8px 20px 16px}
h2{font-size:18px;border-bottom:2px solid #E69F00;padding-bottom:4px}
table.summary{border-collapse:collapse;font-size:13px;width:100%}
table.summary th,table.summary td{border-bottom:1px solid #e6e6e6;padding:5px 8px;text-align:left;vertical-align:top}
table.summary th{background:#f1f1f1}
figure{display:inline-block;margin:10px 12px 10px 0;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eee;background:#fff}
figcaption{font-size:12px;color:#555;margin-top:4px;max-width:900px}
figcaption code{background:#f3f3f3;padding:0 4px;border-radius:3px}
p.note{font-size:12px;color:#8a5a00;background:#fff6e0;border-left:3px solid #E69F00;padding:4px 8px;margin:6px 0}
details{font-size:12px;color:#444;margin:4px 0 8px} pre{white-space:pre-wrap;margin:4px 0}
footer{font-size:11px;color:#777;padding:0 32px 24px}
"""

MIME = {"png": "image/png", "svg": "image/svg+xml"}


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def section_id(index: int, art: Any) -> str:
    """The HTML id of an artifact's section: ``a03-table-accelsim-sweep``."""
    kind = f"table-{art.table_kind}" if art.kind == "table" else art.kind
    return f"a{index:02d}-" + "".join(c if c.isalnum() else "-" for c in kind)


def _img(fig: Any, fmt: str, dpi: int) -> str:
    data = figure_bytes(fig, fmt, dpi)
    return f"data:{MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"


def build_html(data: Any, fmt: str = "png", dpi: int = 110, title: str = "qstack report",
               sources: Iterable[str] = (), items: Optional[list[AutoItem]] = None) -> str:
    """The report page as a string (see the module docstring)."""
    if fmt not in MIME:
        raise ValueError(f"report images must be png or svg, not {fmt!r}")
    bundle = as_bundle(data)
    items = auto(bundle) if items is None else items
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    n_fig = sum(1 for it in items if it.figure is not None)
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           f"<meta name=\"generator\" content=\"qviz {__version__}\"><title>{_esc(title)}</title>"
           f"<style>{CSS}</style></head><body>"]
    src = ", ".join(sources) or "stdin"
    out.append(f"<header><h1>{_esc(title)}</h1><p>{len(bundle)} artifacts, {n_fig} plots &middot; from {_esc(src)} "
               f"&middot; qviz {__version__} &middot; {now}</p></header>")
    ids = [section_id(i, a) for i, a in enumerate(bundle)]
    out.append("<nav><a href=\"#summary\">Summary</a>" + "".join(
        f"<a href=\"#{ids[i]}\">{i + 1}. {_esc(describe(a)['kind'])}</a>" for i, a in enumerate(bundle)) + "</nav><main>")
    out.append("<section id=\"summary\" class=\"summary\"><h2>Summary</h2><table class=\"summary\"><thead><tr>"
               "<th>#</th><th>artifact</th><th>what</th><th>size</th><th>written by</th><th>created</th>"
               "<th>key facts</th><th>plots</th></tr></thead><tbody>")
    for i, a in enumerate(bundle):
        d = describe(a)
        k = sum(1 for it in items if it.index == i and it.figure is not None)
        out.append(f"<tr><td>{i + 1}</td><td><a href=\"#{ids[i]}\">{_esc(d['kind'])}</a></td><td>{_esc(d['what'])}</td>"
                   f"<td>{_esc(d['size'])}</td><td>{_esc(d['tool'])}</td><td>{_esc(d['created'])}</td>"
                   f"<td>{_esc(d['facts'])}</td><td>{k}</td></tr>")
    out.append("</tbody></table></section>")
    for i, a in enumerate(bundle):
        d = describe(a)
        out.append(f"<section id=\"{ids[i]}\" class=\"artifact\" data-kind=\"{_esc(d['kind'])}\">"
                   f"<h2>{i + 1}. {_esc(d['kind'])}</h2><p>{_esc(d['what'])} &middot; {_esc(d['size'])}</p>")
        prov = getattr(a, "provenance", None)
        if prov:
            import json

            out.append(f"<details><summary>provenance</summary><pre>{_esc(json.dumps(prov, indent=1, default=str))}"
                       f"</pre></details>")
        mine = [it for it in items if it.index == i]
        if not mine:
            out.append("<p class=\"note\">no plot of its own: drawn together with a related artifact of this "
                       "bundle, or nothing to show</p>")
        for it in mine:
            if it.figure is not None:
                s = PLOTS[it.plot]
                out.append(f"<figure class=\"plot\" data-plot=\"{_esc(it.plot)}\"><img alt=\"{_esc(s.summary)}\" "
                           f"src=\"{_img(it.figure, fmt, dpi)}\"><figcaption><code>qviz plot {_esc(it.plot)}</code> "
                           f"{_esc(s.summary)}</figcaption></figure>")
            else:
                out.append(f"<p class=\"note\">{_esc(it.note)}</p>")
        out.append("</section>")
    out.append(f"</main><footer>Drawn by qviz {__version__} (matplotlib, headless). Colours: Okabe-Ito and viridis, "
               f"readable with colour-vision deficiencies.</footer></body></html>\n")
    return "".join(out)


def write_report(data: Any, dest: str | os.PathLike, **kw: Any) -> Path:
    """Write :func:`build_html` to ``dest`` atomically; returns the path."""
    return write_atomic(dest, build_html(data, **kw).encode("utf-8"))
