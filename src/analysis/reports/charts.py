"""The one chart helper: every chart in every report goes through :func:`build_chart`.

It takes a :class:`~analysis.disclosure.Protected` table only (``TypeError`` otherwise) and
enforces the accessibility rules (WCAG 2.1 AA, Ontario AODA) so no chart can skip them:

- alt text that states the finding is required; empty or generic text ("a bar chart") is refused;
- a visible caption, and the chart's data as an accessible table beside it;
- a colour-blind-safe palette (Okabe-Ito hues, darkened so every mark has >= 3:1 contrast against
  white, WCAG 1.4.11);
- direct labels (values, and series names) so colour is never the only cue (WCAG 1.4.1); series
  also differ by point shape and dash pattern;
- suppressed values drawn as a ``c`` annotation, never as a zero-length bar.

Charts are Vega-Lite specs built with altair and converted offline by ``vl-convert`` to SVG
(no Vega runtime, no CDN). :func:`svg_html` makes the inline SVG for HTML (``role="img"``,
``<title>``, ``<desc>``, deterministic ids, no namespace URLs); :func:`svg_pdf` the standalone SVG
that the Typst template embeds with ``image(..., alt: ...)``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import altair as alt
import vl_convert as vlc

from analysis.disclosure import (
    SYMBOL_NOT_APPLICABLE,
    SYMBOL_NOT_AVAILABLE,
    SYMBOL_SUPPRESSED,
    Protected,
)
from analysis.reports.i18n import Translator
from analysis.reports.tables import (
    SYMBOL_SUFFIX,
    TableModel,
    cell_text,
    default_format,
    require_protected,
    table_model,
)

#: Okabe-Ito hues darkened to reach >= 3:1 against white (tests check the ratio).
PALETTE: tuple[str, ...] = ("#0072B2", "#B35900", "#007A5E", "#8E4585", "#5E5E5E", "#8A6D00")
#: Point shapes, one per series, so series differ by more than colour.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle-up", "diamond", "cross", "triangle-down")
DASHES: tuple[list[int], ...] = ([1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [1, 3])
TEXT_COLOUR = "#1a1a1a"
FONT = "DejaVu Sans"
WIDTH = 520
KINDS: tuple[str, ...] = ("bar", "line")

_GENERIC_WORDS = {
    # English
    "a",
    "an",
    "the",
    "this",
    "is",
    "of",
    "chart",
    "graph",
    "plot",
    "figure",
    "image",
    "diagram",
    "bar",
    "bars",
    "line",
    "lines",
    "pie",
    "dot",
    "column",
    "columns",
    "scatter",
    "showing",
    "shows",
    "show",
    "visualisation",
    "visualization",
    "data",
    "picture",
    "for",
    "with",
    "and",
    # French
    "un",
    "une",
    "le",
    "la",
    "les",
    "de",
    "des",
    "du",
    "graphique",
    "diagramme",
    "à",
    "barres",
    "linéaire",
    "courbe",
    "montrant",
    "montre",
    "données",
    "ceci",
    "est",
    "pour",
    "avec",
    "et",
}
MIN_FINDING_WORDS = 4


class AltTextError(ValueError):
    """Alt text is missing, generic, or does not state a finding."""


def contrast_ratio(colour: str, background: str = "#ffffff") -> float:
    """WCAG 2.1 contrast ratio between two ``#rrggbb`` colours."""

    def lum(hex_: str) -> float:
        h = hex_.lstrip("#")
        chans = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in chans]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    a, b = lum(colour), lum(background)
    hi, lo = max(a, b), min(a, b)
    return (hi + 0.05) / (lo + 0.05)


def check_alt_text(alt_text: str, caption: str = "") -> str:
    """Return the cleaned alt text, or raise :class:`AltTextError`.

    Refused: empty text; text equal to the caption (it must add the finding); text that, once
    generic words ("a bar chart of the data", "un graphique à barres") are removed, has fewer
    than :data:`MIN_FINDING_WORDS` words left (it names the chart type, not what it shows).
    """
    text = " ".join((alt_text or "").split())
    if not text:
        raise AltTextError("chart alt text is empty: state the finding the chart shows")
    if caption and text.casefold() == " ".join(caption.split()).casefold():
        raise AltTextError("chart alt text repeats the caption: state the finding instead")
    words = re.findall(r"[\w%]+", text.casefold())
    content = [w for w in words if w not in _GENERIC_WORDS]
    if len(content) < MIN_FINDING_WORDS:
        raise AltTextError(
            f"chart alt text {text!r} is generic: say what the chart shows "
            "(for example 'Fewer youth in care (54%) than all students (86%) graduated')"
        )
    return text


@dataclass
class ChartModel:
    """A chart ready to render: Vega-Lite spec (data inline), alt text, caption and data table."""

    name: str
    kind: str
    lang: str
    caption: str
    alt: str
    spec: dict[str, Any]
    table: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what a report document stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChartModel:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(d))


def _label(tr: Translator, col: str, labels: Mapping[str, str] | None) -> str:
    if labels and col in labels:
        return tr(labels[col])
    return tr.maybe(f"col.{col}", col)


def _config() -> dict[str, Any]:
    axis = {
        "labelColor": TEXT_COLOUR,
        "titleColor": TEXT_COLOUR,
        "domainColor": "#595959",
        "tickColor": "#595959",
        "gridColor": "#d9d9d9",
        "labelFontSize": 12,
        "titleFontSize": 12,
        "labelLimit": 220,
    }
    return {
        "font": FONT,
        "aria": False,
        "axis": axis,
        "view": {"stroke": None},
        "text": {"color": TEXT_COLOUR, "fontSize": 12},
        "background": "white",
    }


def build_chart(
    protected: Protected,
    *,
    kind: str,
    category: str,
    value: str,
    alt: str,
    caption: str,
    lang: str,
    series: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
    name: str | None = None,
    compact: bool = False,
) -> ChartModel:
    """Build an accessible chart from a ``Protected`` table.

    Parameters
    ----------
    protected
        The disclosure-controlled table (nothing else is accepted).
    kind
        ``"bar"`` (horizontal bars, one per ``category``; grouped by ``series``) or ``"line"``
        (trend: ``category`` is the ordered x axis, e.g. school year; one line per ``series``).
    category, value, series
        Column names: a dimension for the categories, the published value to plot, an optional
        second dimension for series.
    alt
        Alt text that states the finding (checked by :func:`check_alt_text`).
    caption
        Visible caption (already translated).
    lang
        ``"en"`` or ``"fr"``: labels and numbers are formatted for it.
    lower, upper
        Optional interval columns, drawn as error bars (bar charts).
    labels, formats
        As for :func:`analysis.reports.tables.table_model`.
    compact
        A narrower plot (bar charts), for a page read on a phone (the youth summary).
    """
    p = require_protected(protected, "build_chart")
    if kind not in KINDS:
        raise ValueError(f"chart kind {kind!r} is not one of {', '.join(KINDS)}")
    for col in (category, value, series, lower, upper):
        if col is not None and col not in p.df.columns:
            raise ValueError(f"chart {p.name!r}: column {col!r} is not in the Protected frame")
    alt_text = check_alt_text(alt, caption)
    tr = Translator(lang)
    vfmt = (formats or {}).get(value) or default_format(p, value)
    # The data table beside the chart shows exactly the plotted columns.
    shown = [c for c in (value, lower, upper) if c is not None]
    dims_shown = [c for c in (category, series) if c is not None]
    sub = Protected(
        name=p.name,
        df=p.df.select(
            *dims_shown,
            *shown,
            *[c + SYMBOL_SUFFIX for c in shown if c + SYMBOL_SUFFIX in p.df.columns],
        ),
        dims=tuple(dims_shown),
        count=p.count,
        numerator=p.numerator,
        stats=p.stats,
        notes=p.notes,  # table_model translates them
    )
    table = table_model(
        sub,
        lang=lang,
        caption=tr("ui.chart_data", caption=caption),
        labels=labels,
        formats=formats,
    )
    rows = _chart_rows(p, category, value, series, lower, upper, vfmt, lang, tr)
    cat_title = _label(tr, category, labels)
    val_title = _label(tr, value, labels)
    series_names = list(dict.fromkeys(r["series"] for r in rows)) if series else []
    if len(series_names) > len(PALETTE):
        raise ValueError(
            f"chart {p.name!r}: {len(series_names)} series; at most {len(PALETTE)} can be told apart"
        )
    axis = _value_axis(vfmt, lang)
    if kind == "bar":
        chart = _bar(
            rows, cat_title, val_title, series_names, lower is not None, axis, compact=compact
        )
    else:
        chart = _line(rows, cat_title, val_title, series_names, axis)
    # the spec is built from a fixed template here (tests render every kind): no schema validation
    spec = chart.to_dict(validate=False)
    spec.pop("$schema", None)
    spec["config"] = _config()
    return ChartModel(
        name=name or p.name,
        kind=kind,
        lang=lang,
        caption=caption,
        alt=alt_text,
        spec=spec,
        table=table.to_dict(),
    )


def _chart_rows(
    p: Protected,
    category: str,
    value: str,
    series: str | None,
    lower: str | None,
    upper: str | None,
    vfmt: str,
    lang: str,
    tr: Translator,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rec in p.df.iter_rows(named=True):
        v = rec[value]
        sym = rec.get(value + SYMBOL_SUFFIX) or ""
        hidden = (
            sym in (SYMBOL_SUPPRESSED, SYMBOL_NOT_APPLICABLE, SYMBOL_NOT_AVAILABLE) or v is None
        )
        text, _ = cell_text(v, sym, vfmt, lang)
        cat = str(rec[category])
        ser = str(rec[series]) if series else ""
        row = {
            "cat": tr.maybe(f"value.{cat}", cat),
            "series": tr.maybe(f"value.{ser}", ser) if series else "",
            "value": None if hidden else float(v),
            "lower": None if hidden or lower is None or rec[lower] is None else float(rec[lower]),
            "upper": None if hidden or upper is None or rec[upper] is None else float(rec[upper]),
            "text": text,
        }
        rows.append(row)
    for r in rows:
        tip = r["upper"] if r["upper"] is not None else r["value"]
        r["labelpos"] = tip if tip is not None else 0.0
        r["label"] = f"{r['series']}: {r['text']}" if series else r["text"]
    return rows


def _scale(series_names: Sequence[str]) -> alt.Scale:
    return alt.Scale(domain=list(series_names), range=list(PALETTE[: len(series_names)]))


def _value_axis(vfmt: str, lang: str) -> alt.Axis:
    """The value axis, labelled as the values are in the text and table (62.5% / 62,5 %)."""
    scaled = {"proportion": "datum.value", "percent": "datum.value / 100"}.get(vfmt)
    if scaled is None:
        return alt.Axis()
    expr = f"format({scaled}, '~%')"
    if lang == "fr":  # Babel's fr-CA percentages: decimal comma, no-break space before %
        expr = f"replace(replace({expr}, '.', ','), '%', '\u00a0%')"
    return alt.Axis(labelExpr=expr)


LINE_BREAK = "|"
WRAP_AT = 28


def wrap_label(text: str, width: int = WRAP_AT) -> str:
    """``text`` with :data:`LINE_BREAK` between words so no line is much over ``width``."""
    if len(text) <= width or LINE_BREAK in text:
        return text
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return LINE_BREAK.join(lines)


def _bar(
    rows: list[dict[str, Any]],
    cat_title: str,
    val_title: str,
    series_names: list[str],
    interval: bool,
    axis: alt.Axis,
    *,
    compact: bool = False,
) -> Any:
    # Long category labels (a society's name, an outcome) wrap onto lines of about 28 characters
    # instead of being cut: a truncated name cannot be told from its neighbours, and a label on
    # one long line makes the chart too wide to read on a phone.
    for r in rows:
        r["cat"] = wrap_label(r["cat"])
    data = alt.Data(values=rows)
    order = list(dict.fromkeys(r["cat"] for r in rows))
    n_bars = len(rows)
    lines = max((c.count(LINE_BREAK) + 1 for c in order), default=1)
    height = max(60, 26 * n_bars, (14 * lines + 8) * len(order))
    # no axis title: the category labels say what they are, and the caption names the chart
    # (a rotated title beside long labels overlapped them)
    y = alt.Y(
        "cat:N",
        title=None,
        sort=order,
        axis=alt.Axis(
            labelLimit=210, labelExpr=f"split(datum.label, '{LINE_BREAK}')", labelLineHeight=13
        ),
    )
    x = alt.X("value:Q", title=val_title, scale=alt.Scale(zero=True, nice=True), axis=axis)
    enc: dict[str, Any] = {"y": y, "x": x}
    if series_names:
        enc["yOffset"] = alt.YOffset("series:N", sort=series_names)
        enc["color"] = alt.Color("series:N", scale=_scale(series_names), legend=None)
    base = alt.Chart(data).encode(**enc)
    bars = base.mark_bar(color=PALETTE[0]) if not series_names else base.mark_bar()
    layers: list[Any] = [bars]
    if interval:
        layers.append(
            alt.Chart(data)
            .mark_rule(color=TEXT_COLOUR, strokeWidth=1.5)
            .encode(
                y=y,
                x=alt.X("lower:Q"),
                x2="upper:Q",
                **({"yOffset": enc["yOffset"]} if series_names else {}),
            )
        )
    text_enc: dict[str, Any] = {"y": y, "x": alt.X("labelpos:Q"), "text": "label:N"}
    if series_names:
        text_enc["yOffset"] = enc["yOffset"]
    layers.append(
        alt.Chart(data).mark_text(align="left", baseline="middle", dx=4).encode(**text_enc)
    )
    return alt.layer(*layers).properties(width=WIDTH - (360 if compact else 240), height=height)


def _line(
    rows: list[dict[str, Any]],
    cat_title: str,
    val_title: str,
    series_names: list[str],
    axis: alt.Axis,
) -> Any:
    order = list(dict.fromkeys(r["cat"] for r in rows))
    plotted = [r["value"] for r in rows if r["value"] is not None]
    floor = min(plotted) if plotted else 0.0
    # the last plotted point of each series carries the series name (direct label)
    last: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r["value"] is not None:
            last[r["series"]] = i
    for i, r in enumerate(rows):
        r["is_last"] = bool(series_names) and last.get(r["series"]) == i
        r["cpos"] = floor
        r["hidden"] = r["value"] is None
    data = alt.Data(values=rows)
    single: dict[str, Any] = {} if series_names else {"color": PALETTE[0]}
    x = alt.X("cat:O", title=cat_title, sort=order, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title=val_title, scale=alt.Scale(zero=False, nice=True), axis=axis)
    enc: dict[str, Any] = {"x": x, "y": y}
    point_enc: dict[str, Any] = {"x": x, "y": y}
    if series_names:
        enc["color"] = alt.Color("series:N", scale=_scale(series_names), legend=None)
        enc["strokeDash"] = alt.StrokeDash(
            "series:N",
            scale=alt.Scale(domain=series_names, range=list(DASHES[: len(series_names)])),
            legend=None,
        )
        point_enc["color"] = enc["color"]
        point_enc["shape"] = alt.Shape(
            "series:N",
            scale=alt.Scale(domain=series_names, range=list(SHAPES[: len(series_names)])),
            legend=None,
        )
    line = (
        alt.Chart(data)
        .mark_line(
            strokeWidth=2.5,
            invalid="break-paths-show-domains",
            **single,
        )
        .encode(**enc)
    )
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=70, opacity=1, **single)
        .transform_filter("datum.value != null")
        .encode(**point_enc)
    )
    values = (
        alt.Chart(data)
        .mark_text(dy=-12, fontSize=11)
        .transform_filter("datum.value != null")
        .encode(x=x, y=y, text="text:N")
    )
    suppressed = (
        alt.Chart(data)
        .mark_text(fontWeight="bold", dy=-10)
        .transform_filter("datum.hidden")
        .encode(x=x, y=alt.Y("cpos:Q"), text="text:N")
    )
    layers: list[Any] = [line, points, values, suppressed]
    if series_names:
        layers.append(
            alt.Chart(data)
            .mark_text(align="left", dx=10, fontWeight="bold")
            .transform_filter("datum.is_last")
            .encode(x=x, y=y, text="series:N")
        )
    return alt.layer(*layers).properties(width=WIDTH - 160, height=240)


# ---------------------------------------------------------------- SVG

_ID = re.compile(r'\bid="([^"]+)"')
_STRIP_ATTRS = re.compile(r'\s(?:role|aria-[a-z]+|xmlns(?::\w+)?)="[^"]*"')


def _raw_svg(model: ChartModel) -> str:
    # Every chart is drawn twice (HTML and PDF): convert each spec once.
    return _svg_of_spec(json.dumps(model.spec, sort_keys=True))


@lru_cache(maxsize=32)
def _svg_of_spec(spec_json: str) -> str:
    return vlc.vegalite_to_svg(json.loads(spec_json), allowed_base_urls=[])


def _dedupe_ids(svg: str, prefix: str) -> str:
    ids = list(dict.fromkeys(_ID.findall(svg)))
    for k, old in enumerate(ids):
        new = f"{prefix}-{k}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"')
        svg = svg.replace(f"url(#{old})", f"url(#{new})")
        svg = svg.replace(f'href="#{old}"', f'href="#{new}"')
    return svg


def svg_html(model: ChartModel, chart_id: str) -> str:
    """Inline SVG for HTML: ``role="img"`` named by ``<title>`` (caption) and ``<desc>`` (alt text).

    Vega's own ARIA attributes and the namespace URLs are removed (an inline ``<svg>`` in HTML
    needs no ``xmlns``; the page must contain no ``http(s)`` URL); ids are made deterministic and
    unique per chart.
    """
    check_alt_text(model.alt, model.caption)
    svg = _dedupe_ids(_raw_svg(model), chart_id)
    head_end = svg.index(">")
    root, body = svg[:head_end], svg[head_end + 1 :]
    root = _STRIP_ATTRS.sub("", root)
    body = _STRIP_ATTRS.sub("", body)
    root += (
        f' role="img" focusable="false" aria-labelledby="{chart_id}-title {chart_id}-desc"'
        f' id="{chart_id}">'
    )
    title = f'<title id="{chart_id}-title">{html.escape(model.caption)}</title>'
    desc = f'<desc id="{chart_id}-desc">{html.escape(model.alt)}</desc>'
    return root + title + desc + body


def svg_pdf(model: ChartModel) -> str:
    """Standalone SVG (with namespace) for the Typst template, which adds the alt text."""
    check_alt_text(model.alt, model.caption)
    return _dedupe_ids(_raw_svg(model), "c")


def chart_table(model: ChartModel) -> TableModel:
    """The chart's data table as a :class:`~analysis.reports.tables.TableModel`."""
    return TableModel.from_dict(model.table)
