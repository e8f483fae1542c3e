"""Render saved report documents into self-contained HTML and tagged PDF, plus the site index.

- HTML: one file per report, no external resource (CSS inline, charts as inline SVG, no script),
  ``lang`` attribute, landmarks (header, nav, main, footer), a skip link as the first tab stop,
  visible focus, reflow at 320 CSS px (wide tables scroll inside a keyboard-reachable region).
- PDF: Typst with ``pdf_standards=["ua-1"]`` (tagged PDF/UA-1, title and language in the
  metadata); a chart without alt text fails the build.
- Deterministic: the same document gives the same bytes (chart ids are numbered per chart, the
  PDF timestamp is fixed).

Typst is driven in-process through one cached ``typst.Compiler`` (fonts are scanned once), and the
document reaches the template as JSON in ``sys.inputs``, so data is never parsed as markup.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import typst

from analysis.reports.charts import ChartModel, check_alt_text, svg_html, svg_pdf
from analysis.reports.i18n import Translator
from analysis.reports.report import Report, load
from analysis.reports.tables import SYMBOLS, TableModel, model_html, model_typst

TEMPLATES = Path(__file__).parent / "templates"
PDF_TIMESTAMP = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
AUDIENCE_ORDER: tuple[str, ...] = ("ministry", "board", "society", "sector", "youth", "public")
_URL = re.compile(r"https?://", re.IGNORECASE)
_SVG_WIDTH = re.compile(r'<svg[^>]*?\swidth="([\d.]+)"')
WIDE_CHART_PX = 560  # wider than this, a chart scrolls on a phone rather than shrinking


def tr_lang(lang: str) -> Translator:
    return Translator(lang)


class RenderError(RuntimeError):
    """A report could not be rendered (missing alt text, external resource, Typst failure)."""


@dataclass
class RenderedReport:
    """Paths written for one report, and what the site index needs to list it."""

    slug: str
    kind: str
    audience: str
    lang: str
    title: str
    html: Path
    pdf: Path | None
    data_files: list[str] = field(default_factory=list)  # open data files (names, no suffix)


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


@lru_cache(maxsize=1)
def _css() -> str:
    return (TEMPLATES / "style.css").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _compiler() -> typst.Compiler:
    return typst.Compiler(input=str(TEMPLATES / "report.typ"), root=str(TEMPLATES))


def _assert_offline(page: str, where: str) -> None:
    m = _URL.search(page)
    if m:
        start = max(0, m.start() - 40)
        raise RenderError(
            f"{where}: page contains a network URL near {page[start : m.end() + 30]!r}"
        )


# ---------------------------------------------------------------- HTML


def _block_html(b: Mapping[str, Any], lang: str) -> str:
    esc = html.escape
    t = b["type"]
    if t == "heading":
        lvl = int(b["level"])
        return f'<h{lvl} id="{esc(b["id"])}">{esc(b["text"])}</h{lvl}>\n'
    if t == "text":
        if b.get("generated"):  # a sentence written from the published numbers
            return f'<p class="finding">{esc(b["text"])}</p>\n'
        if b.get("quote"):  # English quoted on a page in another language, marked as English
            return f'<p>{esc(b["text"])} <span lang="en-CA">{esc(b["quote"])}</span></p>\n'
        return f"<p>{esc(b['text'])}</p>\n"
    if t == "list":
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b["items"]) + "</ul>\n"
    if t == "note":
        return f'<div class="note" role="note"><p>{esc(b["text"])}</p></div>\n'
    if t == "table":
        return model_html(TableModel.from_dict(b["model"]), table_id=b["id"]) + "\n"
    if t == "chart":
        # One block per chart, in reading order: its heading, its caption, the chart, then its
        # data table, inside one bordered section, so no chart sits under another's heading.
        model = ChartModel.from_dict(b["model"])
        cid = esc(b["id"])
        svg = svg_html(model, b["id"])
        table = model_html(TableModel.from_dict(model.table), table_id=b["id"] + "-data")
        head = ""
        if b.get("heading"):
            lvl = int(b["heading"]["level"])
            head = f'<h{lvl} id="{cid}-h">{esc(b["heading"]["text"])}</h{lvl}>'
        for f in b.get("findings", ()):
            head += f'<p class="finding">{esc(f["text"])}</p>'
        # A wide chart (grouped bars, long labels) keeps a readable size on a phone and scrolls
        # sideways inside its own keyboard-reachable region, like a wide table.
        m = _SVG_WIDTH.search(svg)
        wide = m is not None and float(m.group(1)) > WIDE_CHART_PX
        scroll = (
            f' class="chart-svg chart-wide" role="region" tabindex="0"'
            f' aria-label="{esc(tr_lang(lang)("ui.chart_region", caption=model.caption))}"'
            if wide
            else ' class="chart-svg"'
        )
        return (
            f'<div class="chart-block">{head}'
            f'<figure class="chart" aria-labelledby="{cid}-cap">'
            f'<figcaption id="{cid}-cap">{esc(model.caption)}</figcaption>'
            f"<div{scroll}>{svg}</div></figure>"
            f'<div class="chart-data">{table}</div></div>\n'
        )
    if t == "tiles":
        items = []
        for tile in b["tiles"]:
            cls = "tile tile-suppressed" if tile.get("suppressed") else "tile"
            parts = [f'<p class="tile-figure">{esc(tile["figure"])}</p>']
            parts.append(f'<p class="tile-measure">{esc(tile["measure"])}</p>')
            for k in ("comparison", "trend"):
                if tile.get(k):
                    parts.append(f'<p class="tile-{k}">{esc(tile[k])}</p>')
            items.append(f'<li class="{cls}">{"".join(parts)}</li>')
        return f'<ul class="tiles">{"".join(items)}</ul>\n'
    if t == "facts":
        rows = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in b["items"])
        return f'<dl class="facts">{rows}</dl>\n'
    raise RenderError(f"unknown block type {t!r}")


def _page(
    *,
    lang: str,
    title: str,
    body: str,
    toc: Sequence[tuple[str, str]] = (),
    downloads: Sequence[tuple[str, str]] = (),
    alternate: str | None = None,
    home_href: str | None = None,
    audience_label: str | None = None,
    extra_css: str = "",
) -> str:
    tr = Translator(lang)
    page = (
        _env()
        .get_template("page.html.j2")
        .render(
            _=tr,
            lang=lang,
            title=title,
            css=jinja2.utils.markupsafe.Markup(_css() + extra_css),
            body=jinja2.utils.markupsafe.Markup(body),
            toc=list(toc),
            downloads=list(downloads),
            alternate=alternate,
            home_href=home_href,
            audience_label=audience_label,
            symbols=[tr(f"symbol.{s}") for s in SYMBOLS],
        )
    )
    return page


def report_html(
    doc: Mapping[str, Any], *, pdf_name: str | None, home_href: str | None = None
) -> str:
    """The self-contained HTML page of a report document."""
    lang = doc["lang"]
    tr = Translator(lang)
    body = "".join(_block_html(b, lang) for b in doc["blocks"])
    toc = [
        (b["id"], b["text"]) for b in doc["blocks"] if b["type"] == "heading" and b["level"] == 2
    ]
    downloads: list[tuple[str, str]] = []
    if pdf_name:
        downloads.append((pdf_name, tr("ui.download_pdf")))
    # the data behind the report: the open data files its tables and charts are rows of, the
    # catalogue (what each column means) and the table tool
    from analysis.reports.opendata import FOLDER, site_links

    for name in doc.get("data_files", []):
        title = tr(f"open.ds.{name}.title")
        downloads.append(
            ((FOLDER / f"{name}.csv").as_posix(), tr("ui.download_open_data", title=title))
        )
    if doc.get("data_files"):
        downloads += site_links(lang)
    alternate = f"{doc['alternate']}.html" if doc.get("alternate") else None
    page = _page(
        lang=lang,
        title=doc["title"],
        body=body,
        toc=toc,
        downloads=downloads,
        alternate=alternate,
        home_href=home_href,
        audience_label=tr("ui.report_for", audience=tr(f"audience.{doc['audience']}")),
    )
    _assert_offline(page, doc["slug"])
    return page


# ---------------------------------------------------------------- PDF


def _typst_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    lang = doc["lang"]
    tr = Translator(lang)
    blocks: list[dict[str, Any]] = []
    for b in doc["blocks"]:
        t = b["type"]
        if t in ("heading", "text", "note", "list", "tiles", "facts"):
            blocks.append(dict(b))
        elif t == "table":
            blocks.append({"type": "table", "table": model_typst(TableModel.from_dict(b["model"]))})
        elif t == "chart":
            model = ChartModel.from_dict(b["model"])
            try:
                alt = check_alt_text(model.alt, model.caption)
            except ValueError as exc:
                raise RenderError(f"{doc['slug']}: chart {b['id']!r}: {exc}") from exc
            blocks.append(
                {
                    "type": "chart",
                    "svg": svg_pdf(model),
                    "alt": alt,
                    "caption": model.caption,
                    "heading": b.get("heading"),
                    "findings": [f["text"] for f in b.get("findings", ())],
                    "width": 100 if model.kind == "line" else 90,
                    "table": model_typst(TableModel.from_dict(model.table)),
                }
            )
    return {
        "title": doc["title"],
        "author": tr("ui.footer_produced"),
        "keywords": [doc["kind"], doc["audience"], lang],
        "lang": lang,
        "audience_label": tr("ui.report_for", audience=tr(f"audience.{doc['audience']}")),
        "blocks": blocks,
        "symbols_heading": tr("ui.symbols_heading"),
        "symbols": [tr(f"symbol.{s}") for s in SYMBOLS],
        "synthetic": tr("ui.synthetic"),
    }


def report_pdf(doc: Mapping[str, Any]) -> bytes:
    """The tagged PDF/UA-1 of a report document (raises :class:`RenderError` on failure)."""
    tdoc = _typst_doc(doc)
    try:
        pdf = _compiler().compile(
            format="pdf",
            pdf_standards=["ua-1"],
            sys_inputs={"doc": json.dumps(tdoc, ensure_ascii=False, sort_keys=True)},
            timestamp=int(PDF_TIMESTAMP.timestamp()),
        )
    except Exception as exc:  # typst raises its own error types; name the report
        raise RenderError(f"{doc['slug']}: Typst could not build the PDF: {exc}") from exc
    if not isinstance(pdf, bytes):
        raise RenderError(f"{doc['slug']}: Typst returned no PDF")
    return pdf


# ---------------------------------------------------------------- public API


def render_report(
    doc_json_path: Path | str,
    out_dir: Path | str,
    *,
    pdf: bool = True,
    home_href: str | None = "index.html",
) -> RenderedReport:
    """Render a saved :class:`~analysis.reports.report.Report` into ``out_dir``.

    Writes ``<slug>.html`` and ``<slug>.pdf`` (unless ``pdf=False``). The page links the open
    data files its tables are rows of (``data/open/``, written by the build beside the reports).
    """
    src = Path(doc_json_path)
    doc = load(src)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    slug = doc["slug"]
    pdf_path = out / f"{slug}.pdf" if pdf else None
    if pdf_path is not None:
        pdf_path.write_bytes(report_pdf(doc))
    page = report_html(doc, pdf_name=pdf_path.name if pdf_path else None, home_href=home_href)
    html_path = out / f"{slug}.html"
    html_path.write_text(page, encoding="utf-8")
    return RenderedReport(
        slug=slug,
        kind=doc["kind"],
        audience=doc["audience"],
        lang=doc["lang"],
        title=doc["title"],
        html=html_path,
        pdf=pdf_path,
        data_files=list(doc.get("data_files", [])),
    )


def default_methodology(lang: str = "en", *, threshold: int = 10) -> Report:
    """A methodology page from the catalogue alone (callers add linkage and risk tables)."""
    r = Report("methodology", "public", lang, slug=f"methodology-{lang}")
    r.text("method.intro")
    r.heading("heading.linkage").text("method.separation")
    r.heading("heading.deidentification").text("method.keyed_hash")
    r.heading("heading.suppression").text("method.suppression", threshold=threshold)
    r.text("method.symbols").items([f"symbol.{s}" for s in SYMBOLS])
    return r


def render_site(
    reports_dir: Path | str,
    entries: Sequence[RenderedReport],
    methodology: Report | Path | str | None = None,
    *,
    lang: str = "en",
    data_links: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``reports_dir/index.html``: every report grouped by audience, with HTML and PDF
    links, and a link to the methodology page (rendered here from ``methodology``: a
    :class:`Report`, a saved document, or ``None`` for :func:`default_methodology`).
    ``data_links`` (``(href, text)``): the open data pages, listed under their own heading.
    """
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    tr = Translator(lang)
    esc = html.escape
    if methodology is None or isinstance(methodology, Report):
        mreport = methodology or default_methodology(lang)
        mpath = mreport.save(root / "_docs")
    else:
        mpath = Path(methodology)
    mrendered = render_report(mpath, root, pdf=True, home_href="index.html")

    def rel(p: Path) -> str:
        return p.resolve().relative_to(root.resolve()).as_posix()

    parts = [f"<p>{esc(tr('ui.site_intro'))}</p>"]
    parts.append(
        f'<p><a href="{esc(rel(mrendered.html))}">{esc(tr("ui.methodology_link"))}</a></p>'
    )
    toc: list[tuple[str, str]] = [("methodology", tr("ui.methodology"))]
    by_aud: dict[str, list[RenderedReport]] = {}
    for e in entries:
        by_aud.setdefault(e.audience, []).append(e)
    for aud in sorted(
        by_aud, key=lambda a: (AUDIENCE_ORDER.index(a) if a in AUDIENCE_ORDER else 99, a)
    ):
        hid = f"audience-{aud}"
        heading = tr("ui.site_audience", audience=tr(f"audience.{aud}"))
        toc.append((hid, heading))
        parts.append(f'<h2 id="{hid}">{esc(heading)}</h2>')
        rows = sorted(by_aud[aud], key=lambda e: (e.title.casefold(), e.lang, e.slug))
        parts.append(
            f'<div class="table-scroll" role="region" tabindex="0" aria-label="{esc(heading)}">'
            f'<table class="reports-table"><caption>{esc(heading)}</caption><thead><tr>'
            f'<th scope="col">{esc(tr("ui.site_col_report"))}</th>'
            f'<th scope="col">{esc(tr("ui.site_col_language"))}</th>'
            f'<th scope="col">{esc(tr("ui.site_col_formats"))}</th></tr></thead><tbody>'
        )
        for e in rows:
            links = [
                f'<a href="{esc(rel(e.html))}" lang="{e.lang}-CA">{esc(tr("ui.format_html"))}</a>'
            ]
            if e.pdf is not None:
                links.append(f'<a href="{esc(rel(e.pdf))}">{esc(tr("ui.format_pdf"))}</a>')
            parts.append(
                f'<tr><th scope="row"><a href="{esc(rel(e.html))}" lang="{e.lang}-CA">{esc(e.title)}</a></th>'
                f"<td>{esc(tr(f'ui.language_{e.lang}'))}</td><td>{' · '.join(links)}</td></tr>"
            )
        parts.append("</tbody></table></div>")
    if data_links:
        toc.append(("open-data", tr("open.site.heading")))
        parts.append(f'<h2 id="open-data">{esc(tr("open.site.heading"))}</h2>')
        parts.append(f"<p>{esc(tr('open.site.intro'))}</p><ul>")
        parts += [f'<li><a href="{esc(href)}">{esc(text)}</a></li>' for href, text in data_links]
        parts.append("</ul>")
    parts.append(f'<h2 id="methodology">{esc(tr("ui.methodology"))}</h2>')
    parts.append(
        f'<p><a href="{esc(rel(mrendered.html))}">{esc(tr("ui.methodology_link"))}</a></p>'
    )
    page = _page(lang=lang, title=tr("ui.site_title"), body="".join(parts), toc=toc)
    _assert_offline(page, "index")
    index = root / ("index.html" if lang == "en" else f"index-{lang}.html")
    index.write_text(page, encoding="utf-8")
    return index
