"""The pages of the open data: the data catalogue (``data-catalogue-<lang>.html``) and the table
tool (``explore/index.html``, ``explore/index-fr.html``, with ``explore/data.js`` generated from
the CSV files and the hand-written ``explore/explore.js``).

The table tool's data is read back from the files as written, cell for cell: the tool can show
only what the files hold (a test decodes ``data.js`` and compares it with every file).
"""

from __future__ import annotations

import csv
import html
import json
import shutil
from pathlib import Path
from typing import Any

from analysis.reports.i18n import Translator, catalogue, fmt_number
from analysis.reports.opendata import standard as std
from analysis.reports.opendata.files import FOLDER, INDEX
from analysis.reports.render import _assert_offline, _page

EXPLORE_DIR = "explore"
SCRIPT = Path(__file__).with_name("explore.js")
DATA_JS = "data.js"
_esc = html.escape

CSS = """
.od-facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.2rem 1rem;
  margin: 0.5rem 0; }
.od-facts dt { font-weight: bold; }
.od-facts dd { margin: 0; }
details { margin: 0.5rem 0 1.5rem; }
summary { cursor: pointer; color: #0b4f8a; text-decoration: underline; }
.od-code { white-space: pre-wrap; word-break: break-all; background: #f3f5f7;
  border: 1px solid #c9d1d9; padding: 0.6rem; font-size: 0.9rem; }
.ex-form fieldset { border: 1px solid #a6b1bc; margin: 0 0 1rem; padding: 0.4rem 1rem 0.8rem;
  min-width: 0; }
.ex-form legend { font-weight: bold; padding: 0 0.3rem; }
.ex-field { margin: 0.5rem 0; }
.ex-field label { display: block; font-weight: bold; margin-bottom: 0.2rem; }
.ex-field select { width: 100%; max-width: 100%; font-size: 1rem; padding: 0.3rem;
  border: 1px solid #5c6670; background: #ffffff; color: #1a1a1a; }
.ex-years { display: flex; flex-wrap: wrap; gap: 0.3rem 1.2rem; }
.ex-check { display: flex; align-items: center; gap: 0.3rem; }
.ex-check input { width: 1.2rem; height: 1.2rem; }
select:focus-visible, input:focus-visible { outline: 3px solid #b35900; outline-offset: 2px; }
.ex-chart svg { max-width: 100%; height: auto; display: block; }
.ex-actions a { display: inline-block; margin: 0.2rem 0; }
@media (min-width: 48rem) {
  .ex-form { display: grid; grid-template-columns: 1fr 1fr; gap: 0 1rem; }
}
"""


def _other(lang: str) -> str:
    return "fr" if lang == "en" else "en"


def catalogue_name(lang: str) -> str:
    return f"data-catalogue-{lang}.html"


def explore_name(lang: str) -> str:
    return "index.html" if lang == "en" else f"index-{lang}.html"


def site_links(lang: str) -> list[tuple[str, str]]:
    """The links the site index gives the open data pages (relative to the index)."""
    tr = Translator(lang)
    return [
        (catalogue_name(lang), tr("open.site.catalogue_link")),
        (f"{EXPLORE_DIR}/{explore_name(lang)}", tr("open.site.explore_link")),
    ]


def _region(label: str, inner: str) -> str:
    return (
        f'<div class="table-scroll" role="region" tabindex="0" aria-label="{_esc(label)}">'
        f"{inner}</div>"
    )


def _years(entry: dict[str, Any], lang: str) -> str:
    tr = Translator(lang)
    periods = entry["time_periods"]
    if entry.get("pooled"):
        first = std.period_label(std.school_period(entry["pooled"]["first"]), lang)
        last = std.period_label(std.school_period(entry["pooled"]["last"]), lang)
        return tr("open.catalogue.years_pooled", first=first, last=last)
    return tr(
        "open.catalogue.years",
        first=std.period_label(periods[0], lang),
        last=std.period_label(periods[-1], lang),
        n=fmt_number(len(periods), lang),
    )


def _levels_label(index: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {lv["name"]: lv["label"] for lv in index["geographies"]["levels"]}


def _file_section(
    e: dict[str, Any], lang: str, levels: dict[str, dict[str, str]], folder: str
) -> str:
    """One file of the catalogue: what it holds, its facts, and its columns."""
    tr = Translator(lang)
    geos = "; ".join(
        tr("open.catalogue.places", level=levels[lv][lang], n=fmt_number(e["locations"][lv], lang))
        for lv in e["geographic_levels"]
    )
    kb = fmt_number(max(1, round(e["bytes"] / 1024)), lang)
    facts = (
        ("col_file", f'<a href="{folder}/{_esc(e["file"])}">{_esc(e["file"])}</a>'),
        ("col_meta", f'<a href="{folder}/{_esc(e["meta"])}">{_esc(e["meta"])}</a>'),
        ("col_geographies", _esc(geos)),
        ("col_years", _esc(_years(e, lang))),
        ("col_rows", _esc(fmt_number(e["rows"], lang))),
        ("col_size", _esc(tr("open.catalogue.size_kb", kb=kb))),
    )
    cols = [
        (f["name"], f["label"][lang], tr("open.catalogue.kind_filter")) for f in e["filters"]
    ] + [
        (
            i["name"],
            i["label"][lang],
            tr(
                "open.catalogue.kind_indicator", unit=i["unit"] or "-", dp=fmt_number(i["dp"], lang)
            ),
        )
        for i in e["indicators"]
    ]
    cap = tr("open.catalogue.columns_caption", file=e["file"])
    head = "".join(
        f'<th scope="col">{_esc(tr("open.catalogue." + c))}</th>'
        for c in ("col_column", "col_label", "col_kind")
    )
    body = "".join(
        f'<tr><th scope="row"><code>{_esc(n)}</code></th><td>{_esc(lab)}</td><td>{_esc(k)}</td></tr>'
        for n, lab, k in cols
    )
    return (
        f'<h3 id="file-{_esc(e["name"])}">{_esc(e["title"][lang])}</h3>'
        f"<p>{_esc(e['description'][lang])}</p>"
        '<dl class="od-facts">'
        + "".join(f"<dt>{_esc(tr('open.catalogue.' + k))}</dt><dd>{v}</dd>" for k, v in facts)
        + "</dl>"
        + f"<details><summary>{_esc(cap)}</summary>"
        + _region(
            cap,
            f"<table><caption>{_esc(cap)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>",
        )
        + "</details>"
    )


def catalogue_html(index: dict[str, Any], lang: str) -> str:
    """The data catalogue page in ``lang`` (written at the top of the reports folder)."""
    tr = Translator(lang)
    levels = _levels_label(index)
    folder = FOLDER.as_posix()
    parts = [
        f"<p>{_esc(tr('open.catalogue.intro'))}</p>",
        f"<p>{_esc(tr('open.catalogue.standard'))}</p>",
        f"<p>{_esc(tr('open.catalogue.english_values'))}</p>",
        f"<p>{_esc(tr('open.catalogue.symbols'))}</p><ul>",
        *[f"<li>{_esc(s[lang])}</li>" for s in index["symbols"].values()],
        "</ul>",
        f'<p><a href="{EXPLORE_DIR}/{explore_name(lang)}">{_esc(tr("open.catalogue.explore"))}'
        "</a></p>",
    ]
    toc: list[tuple[str, str]] = []
    if not index["datasets"]:
        parts.append(f"<p>{_esc(tr('open.catalogue.none'))}</p>")
    for topic in index["topics"]:
        hid = f"topic-{topic['name']}"
        title = topic["title"][lang]
        toc.append((hid, title))
        parts.append(f'<h2 id="{hid}">{_esc(title)}</h2>')
        for e in [d for d in index["datasets"] if d["topic"] == topic["name"]]:
            parts.append(_file_section(e, lang, levels, folder))
    # using the files
    toc.append(("using", tr("open.catalogue.load_heading")))
    example = index["datasets"][0]["file"] if index["datasets"] else "eqao.csv"
    parts += [
        f'<h2 id="using">{_esc(tr("open.catalogue.load_heading"))}</h2>',
        f"<p>{_esc(tr('open.catalogue.load'))}</p>",
        '<pre class="od-code"><code>import polars as pl\n'
        f'df = pl.read_csv("{folder}/{_esc(example)}", infer_schema_length=None)\n'
        f'meta = pl.read_csv("{folder}/{_esc(example.replace(".csv", std.META_SUFFIX))}")'
        "</code></pre>",
        f"<p>{_esc(tr('open.catalogue.load_numbers'))}</p>",
        "<p>"
        + _esc(tr("open.catalogue.index", file="@@")).replace(
            "@@", f'<a href="{folder}/{INDEX}">{INDEX}</a>'
        )
        + "</p>",
    ]
    # shared columns
    toc.append(("shared-columns", tr("open.catalogue.shared_heading")))
    cap = tr("open.catalogue.shared_caption")
    rows = [
        f'<tr><th scope="row"><code>{_esc(c)}</code></th><td>{_esc(v["label"][lang])}</td>'
        f"<td>{_esc(v['description'][lang])}</td></tr>"
        for c, v in index["columns"].items()
    ]
    head = "".join(
        f'<th scope="col">{_esc(tr("open.catalogue." + c))}</th>'
        for c in ("col_column", "col_label", "col_description")
    )
    parts += [
        f'<h2 id="shared-columns">{_esc(tr("open.catalogue.shared_heading"))}</h2>',
        f"<p>{_esc(tr('open.catalogue.shared_intro'))}</p>",
        _region(
            cap,
            f"<table><caption>{_esc(cap)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>",
        ),
    ]
    # geographies
    geo = index["geographies"]
    toc.append(("geographies", tr("open.catalogue.geo_heading")))
    parts += [
        f'<h2 id="geographies">{_esc(tr("open.catalogue.geo_heading"))}</h2>',
        f"<p>{_esc(tr('open.catalogue.geo_published'))}</p>",
        f"<p>{_esc(tr('open.catalogue.geo_levels'))}</p>",
    ]
    cap = tr("open.catalogue.regions_caption")
    head = "".join(
        f'<th scope="col">{_esc(tr("open.catalogue." + c))}</th>'
        for c in ("col_code", "col_name", "col_members")
    )
    rows = [
        f'<tr><th scope="row">{_esc(r["code"])}</th>'
        f"<td>{_esc(r['fr'] if lang == 'fr' else r['name'])}</td>"
        f"<td>{_esc(tr('open.catalogue.regions_members', boards=fmt_number(r['boards'], lang), societies=fmt_number(r['societies'], lang)))}</td></tr>"
        for r in geo["regions"]
    ]
    parts.append(
        _region(
            cap,
            f"<table><caption>{_esc(cap)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>",
        )
    )
    cap = tr("open.catalogue.groups_caption")
    rows = [
        f'<tr><th scope="row">{_esc(g["code"])}</th><td>{_esc(g["name"][lang])}</td>'
        f"<td>{_esc(tr('open.catalogue.members', n=fmt_number(len(g['societies']), lang)))}"
        f"</td></tr>"
        for g in geo["society_groups"]
    ]
    parts.append(
        _region(
            cap,
            f"<table><caption>{_esc(cap)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>",
        )
    )
    toc.append(("from-reports", tr("open.catalogue.from_reports_heading")))
    parts += [
        f'<h2 id="from-reports">{_esc(tr("open.catalogue.from_reports_heading"))}</h2>',
        f"<p>{_esc(tr('open.catalogue.from_reports'))}</p>",
    ]
    page = _page(
        lang=lang,
        title=tr("open.catalogue.title"),
        body="".join(parts),
        toc=toc,
        alternate=catalogue_name(_other(lang)),
        home_href="index.html" if lang == "en" else f"index-{lang}.html",
        extra_css=CSS,
    )
    _assert_offline(page, catalogue_name(lang))
    return page


# ---------------------------------------------------------------- the table tool
def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _meta_defaults(path: Path) -> dict[str, str]:
    header, rows = _read_csv(path)
    out = {}
    for r in rows:
        rec = dict(zip(header, r, strict=True))
        if rec["col_type"] == "Filter":
            out[rec["col_name"]] = rec.get("filter_default") or std.TOTAL
    return out


def explore_data(folder: Path, index: dict[str, Any]) -> dict[str, Any]:
    """What the table tool holds, read back from the written files (see the module notes)."""
    level_names = [lv.name for lv in std.GEOGRAPHIC_LEVELS]
    out: dict[str, Any] = {
        "topics": index["topics"],
        "levels": [
            {"name": lv["name"], "label": lv["label"]} for lv in index["geographies"]["levels"]
        ],
        "symbols": index["symbols"],
        "datasets": [],
    }
    for e in index["datasets"]:
        header, rows = _read_csv(folder / e["file"])
        defaults = _meta_defaults(folder / e["meta"])
        filters = [f["name"] for f in e["filters"]]
        inds = [i["name"] for i in e["indicators"]]
        geo_cols = [c for c in header if c in std.GEOGRAPHY_COLUMNS]
        expected = ["time_period", "time_identifier", *geo_cols, *filters, *inds]
        if header != expected:
            raise ValueError(f"{e['file']}: columns {header} are not in the expected order")
        periods = sorted({r[0] for r in rows})
        period_idx = {p: i for i, p in enumerate(periods)}
        places: dict[tuple[str, ...], int] = {}
        place_list: list[list[Any]] = []
        values = [[v["value"] for v in f["values"]] for f in e["filters"]]
        value_idx = [{v: i for i, v in enumerate(vs)} for vs in values]
        n_geo = len(geo_cols)
        encoded = []
        for r in rows:
            geo = tuple(r[2 : 2 + n_geo])
            if geo not in places:
                rec = dict(zip(geo_cols, geo, strict=True))
                level = std.LEVEL_BY_NAME[rec["geographic_level"]]
                places[geo] = len(place_list)
                place_list.append(
                    [level_names.index(level.name), rec[level.code], rec[level.name_col], list(geo)]
                )
            fcells = r[2 + n_geo : 2 + n_geo + len(filters)]
            encoded.append(
                [
                    period_idx[r[0]],
                    places[geo],
                    *[value_idx[i][v] for i, v in enumerate(fcells)],
                    *r[2 + n_geo + len(filters) :],
                ]
            )
        main = next(
            (i for i, n in enumerate(inds) if n.endswith(("_percent", "_mean")) or n == "estimate"),
            0,
        )
        out["datasets"].append(
            {
                "name": e["name"],
                "topic": e["topic"],
                "title": e["title"],
                "file": e["file"],
                "time_identifier": e["time_identifier"],
                "periods": periods,
                "levels": [level_names.index(lv) for lv in e["geographic_levels"]],
                "place_columns": geo_cols,
                "places": place_list,
                "filters": [
                    {
                        "name": f["name"],
                        "label": f["label"],
                        "values": values[i],
                        "fr": [v["fr"] for v in f["values"]],
                        "default": value_idx[i].get(defaults.get(f["name"], std.TOTAL), 0),
                    }
                    for i, f in enumerate(e["filters"])
                ],
                "indicators": e["indicators"],
                "main": main,
                "breakdowns": e.get("breakdowns", []),
                "rows": encoded,
            }
        )
    return out


def decode_rows(ds: dict[str, Any]) -> list[list[str]]:
    """The CSV rows a table-tool dataset encodes (the inverse of :func:`explore_data`)."""
    out = []
    nf = len(ds["filters"])
    for r in ds["rows"]:
        place = ds["places"][r[1]]
        out.append(
            [
                ds["periods"][r[0]],
                ds["time_identifier"],
                *place[3],
                *[ds["filters"][i]["values"][r[2 + i]] for i in range(nf)],
                *r[2 + nf :],
            ]
        )
    return out


def _strings(index: dict[str, Any], lang: str) -> dict[str, Any]:
    tr = Translator(lang)
    raw = catalogue(lang)  # templates: the script fills their {placeholders}
    keys = (
        "no_breakdown",
        "status",
        "empty",
        "no_years",
        "caption",
        "row_header",
        "chart_alt",
        "chart_none",
        "chart_year",
    )
    out: dict[str, Any] = {k: raw[f"open.explore.{k}"] for k in keys}
    out["symbols"] = {s: tr(f"symbol.{s}_short") for s in std.SYMBOLS}
    return out


def explore_html(index: dict[str, Any], lang: str) -> str:
    """The table tool page in ``lang`` (in ``explore/``, beside ``data.js`` and ``explore.js``)."""
    tr = Translator(lang)

    def field(fid: str, msg: str) -> str:
        return (
            f'<div class="ex-field"><label for="{fid}">{_esc(tr(msg))}</label>'
            f'<select id="{fid}"></select></div>'
        )

    strings = json.dumps(_strings(index, lang), ensure_ascii=False, sort_keys=True).replace(
        "</", "<\\/"
    )
    catalogue = f"../{catalogue_name(lang)}"
    colon = "\u00a0: " if lang == "fr" else ": "
    body = (
        f"<p>{_esc(tr('open.explore.intro'))}</p>"
        f'<p><a href="{catalogue}">{_esc(tr("open.explore.catalogue_link"))}</a></p>'
        f"<noscript><p>{_esc(tr('open.explore.noscript'))}</p></noscript>"
        '<div id="ex-app" hidden>'
        '<form id="ex-form" class="ex-form">'
        f"<fieldset><legend>{_esc(tr('open.explore.legend_data'))}</legend>"
        + field("ex-topic", "open.explore.topic")
        + field("ex-indicator", "open.explore.indicator")
        + "</fieldset>"
        f"<fieldset><legend>{_esc(tr('open.explore.legend_place'))}</legend>"
        + field("ex-level", "open.explore.level")
        + field("ex-place", "open.explore.location")
        + "</fieldset>"
        f"<fieldset><legend>{_esc(tr('open.explore.legend_years'))}</legend>"
        '<div id="ex-years" class="ex-years"></div></fieldset>'
        f"<fieldset><legend>{_esc(tr('open.explore.legend_breakdown'))}</legend>"
        + field("ex-breakdown", "open.explore.rows_by")
        + '<div id="ex-others"></div></fieldset>'
        "</form>"
        f'<h2 id="ex-table-heading">{_esc(tr("open.explore.table_heading"))}</h2>'
        '<p id="ex-status" role="status" aria-live="polite"></p>'
        '<div class="table-scroll" role="region" tabindex="0" aria-labelledby="ex-table-heading">'
        '<table id="ex-table"></table></div>'
        '<p class="ex-actions"><a id="ex-download" href="#" download="selection.csv">'
        f"{_esc(tr('open.explore.download'))}</a></p>"
        f'<p class="ex-actions">{_esc(tr("open.explore.source"))}{colon}'
        '<a id="ex-source" href="#"></a></p>'
        f'<h2 id="ex-chart-heading">{_esc(tr("open.explore.chart_heading"))}</h2>'
        '<div id="ex-chart" class="ex-chart" hidden></div>'
        '<p id="ex-chart-note"></p>'
        "</div>"
        f'<script type="application/json" id="explore-strings">{strings}</script>'
        f'<script src="{DATA_JS}"></script>'
        f'<script src="{SCRIPT.name}"></script>'
    )
    page = _page(
        lang=lang,
        title=tr("open.explore.title"),
        body=body,
        alternate=explore_name(_other(lang)),
        home_href="../index.html" if lang == "en" else f"../index-{lang}.html",
        extra_css=CSS,
    )
    _assert_offline(page, f"{EXPLORE_DIR}/{explore_name(lang)}")
    return page


def write_pages(root: Path, index: dict[str, Any], langs: tuple[str, ...]) -> list[Path]:
    """The catalogue and table tool pages in every language, the tool's data and script."""
    out = []
    for lang in langs:
        p = root / catalogue_name(lang)
        p.write_text(catalogue_html(index, lang), encoding="utf-8")
        out.append(p)
    explore = root / EXPLORE_DIR
    explore.mkdir(parents=True, exist_ok=True)
    data = explore_data(root / FOLDER, index)
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    js = explore / DATA_JS
    js.write_text(
        "/* Generated from the open data files (data/open/): do not edit. */\n"
        f"window.OPEN_DATA = {text.replace('</', '<' + chr(92) + '/')};\n",
        encoding="utf-8",
    )
    shutil.copyfile(SCRIPT, explore / SCRIPT.name)
    out += [js, explore / SCRIPT.name]
    for lang in langs:
        p = explore / explore_name(lang)
        p.write_text(explore_html(index, lang), encoding="utf-8")
        out.append(p)
    return out
