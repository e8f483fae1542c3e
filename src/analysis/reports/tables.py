"""Published tables: :class:`~analysis.disclosure.Protected` -> HTML, CSV and Typst.

Only a ``Protected`` table is accepted (``TypeError`` otherwise), so no number reaches a report
without disclosure control. Suppressed and other special values print as their symbol
(``c``, ``z``, ``x``; ``u`` is appended to a value of low reliability), never as zero or blank.

The renderers work in two steps: :func:`table_model` turns a ``Protected`` into a small,
JSON-serialisable :class:`TableModel` of already locale-formatted strings (this is what a
:class:`~analysis.reports.report.Report` stores), and :func:`model_html` / :func:`model_typst_cells`
draw a model. The public entry points :func:`table_html`, :func:`write_csv` and
:func:`table_typst` take a ``Protected`` only.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from analysis.disclosure import (
    SYMBOL_LOW_RELIABILITY,
    SYMBOL_NOT_APPLICABLE,
    SYMBOL_NOT_AVAILABLE,
    SYMBOL_SUPPRESSED,
    Protected,
)
from analysis.reports.i18n import Translator, fmt_number, fmt_percent

SYMBOLS: tuple[str, ...] = (
    SYMBOL_SUPPRESSED,
    SYMBOL_NOT_APPLICABLE,
    SYMBOL_NOT_AVAILABLE,
    SYMBOL_LOW_RELIABILITY,
)
SYMBOL_SUFFIX = "__symbol"
FORMATS: tuple[str, ...] = (
    "count",
    "percent",
    "proportion",
    "points",
    "decimal1",
    "decimal2",
    "text",
)


def require_protected(obj: object, what: str = "this renderer") -> Protected:
    """Return ``obj`` if it is a ``Protected`` table, else raise ``TypeError``."""
    if not isinstance(obj, Protected):
        raise TypeError(
            f"{what} accepts only analysis.disclosure.Protected tables (got {type(obj).__name__}); "
            "pass the table through disclosure control first"
        )
    return obj


def value_columns(p: Protected) -> list[str]:
    """Published value columns of ``p``: every non-dimension column that is not a symbol column
    (nor a ``__`` column such as the release row a published row came from)."""
    return [
        c
        for c in p.df.columns
        if c not in p.dims and not c.endswith(SYMBOL_SUFFIX) and not c.startswith("__")
    ]


def default_format(p: Protected, col: str) -> str:
    """Format kind for ``col`` when the caller gives none (by name, then by dtype)."""
    dtype = p.df.schema[col]
    low = col.lower()
    if col in (p.count, p.numerator) or dtype.is_integer():
        return "count"
    if low in ("pct", "percent") or low.endswith(("_pct", "_percent")) or low.startswith("pct_"):
        return "percent"
    if low in ("prop", "proportion") or low.endswith("_prop"):
        return "proportion"
    if dtype.is_numeric():
        return "decimal1"
    return "text"


def format_value(value: Any, kind: str, lang: str) -> str:
    """Format one non-null value of format ``kind`` for ``lang``."""
    if value is None:
        return ""
    if kind == "count":
        return fmt_number(value, lang, 0)
    if kind == "percent":
        return fmt_percent(value, lang, 1)
    if kind == "proportion":
        return fmt_percent(value, lang, 1, proportion=True)
    if kind == "points":  # a difference of proportions, in percentage points
        return fmt_number(value * 100, lang, 1)
    if kind == "decimal1":
        return fmt_number(value, lang, 1)
    if kind == "decimal2":
        return fmt_number(value, lang, 2)
    if kind == "text":
        return str(value)
    raise ValueError(f"unknown format {kind!r}; use one of {', '.join(FORMATS)}")


def cell_text(value: Any, symbol: str | None, kind: str, lang: str) -> tuple[str, str]:
    """``(text, symbol)`` for one cell: the symbol replaces a suppressed/absent value."""
    symbol = symbol or ""
    if symbol in (SYMBOL_SUPPRESSED, SYMBOL_NOT_APPLICABLE, SYMBOL_NOT_AVAILABLE):
        return symbol, symbol
    if value is None or (
        isinstance(value, float) and not (math.isfinite(value) and abs(value) < 1e9)
    ):
        # A null without a symbol would print as blank, and an infinite or undefined estimate
        # (e.g. an odds ratio where a group had no events, which a model reports as astronomically
        # large) has no number to show: "x".
        return SYMBOL_NOT_AVAILABLE, SYMBOL_NOT_AVAILABLE
    text = format_value(value, kind, lang)
    if symbol == SYMBOL_LOW_RELIABILITY:
        text = f"{text} {SYMBOL_LOW_RELIABILITY}"
    return text, symbol


# A table carries notes of two kinds. ``msg:<id>`` names a catalogue message (the analyse stage's
# notes: no EQAO in the pandemic years, the new baseline, how models were fitted), shown in the
# report's own language. Anything else is English for the audit trail: an explanation of a
# symbol (``c: ...``) is dropped, since the symbol legend says it from the catalogue; another note
# is shown only in English reports, never untranslated in French.
NOTE_MESSAGE = "msg:"
_SYMBOL_NOTES = tuple(f"{s}:" for s in SYMBOLS)


def translate_notes(notes: Sequence[str], lang: str) -> list[str]:
    """A table's notes in ``lang``."""
    tr = Translator(lang)
    out: list[str] = []
    for n in notes:
        if n.startswith(NOTE_MESSAGE):
            out.append(tr(n.removeprefix(NOTE_MESSAGE)))
        elif not n.startswith(_SYMBOL_NOTES) and lang == "en":
            out.append(n)
    return list(dict.fromkeys(out))


@dataclass
class TableModel:
    """A formatted table ready to draw: header labels, rows of cell strings, symbols used."""

    name: str
    caption: str
    lang: str
    columns: list[str]
    header: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    symbols: list[list[str]]
    n_row_headers: int = 1
    notes: list[str] = field(default_factory=list)
    symbols_used: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what a report document stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TableModel:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(d))


def _label(tr: Translator, col: str, labels: Mapping[str, str] | None) -> str:
    if labels and col in labels:
        msgid = labels[col]
        return tr(msgid) if "." in msgid and not msgid.endswith(".") else msgid
    return tr.maybe(f"col.{col}", col)


def table_model(
    protected: Protected,
    *,
    lang: str,
    caption: str,
    columns: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
) -> TableModel:
    """Format a ``Protected`` table for ``lang``.

    Parameters
    ----------
    protected
        The disclosure-controlled table.
    lang
        ``"en"`` or ``"fr"``.
    caption
        Visible caption (already translated).
    columns
        Value columns to show, in order (default: every published value column). Dimension
        columns always come first and are the row headers.
    labels
        ``{column: msgid}`` for header labels (default: catalogue key ``col.<column>`` if present,
        else the column name).
    formats
        ``{column: kind}`` with kind in :data:`FORMATS` (default: :func:`default_format`).
    """
    p = require_protected(protected, "table_model")
    tr = Translator(lang)
    vcols = list(columns) if columns is not None else value_columns(p)
    missing = [c for c in (*p.dims, *vcols) if c not in p.df.columns]
    if missing:
        raise ValueError(f"table {p.name!r}: columns {missing} are not in the Protected frame")
    fmts = {c: (formats or {}).get(c) or default_format(p, c) for c in vcols}
    header = [_label(tr, c, labels) for c in (*p.dims, *vcols)]
    rows: list[list[str]] = []
    syms: list[list[str]] = []
    used: set[str] = set()
    for rec in p.df.iter_rows(named=True):
        row: list[str] = []
        srow: list[str] = []
        for d in p.dims:
            v = rec[d]
            text = "" if v is None else str(v)
            row.append(tr.maybe(f"value.{text}", text))
            srow.append("")
        for c in vcols:
            text, sym = cell_text(rec[c], rec.get(c + SYMBOL_SUFFIX), fmts[c], lang)
            row.append(text)
            srow.append(sym)
            if sym:
                used.add(sym)
        rows.append(row)
        syms.append(srow)
    return TableModel(
        name=p.name,
        caption=caption,
        lang=lang,
        columns=[*p.dims, *vcols],
        header=header,
        numeric=[False] * len(p.dims) + [fmts[c] != "text" for c in vcols],
        rows=rows,
        symbols=syms,
        n_row_headers=max(1, len(p.dims)) if p.dims else 0,
        notes=translate_notes(p.notes, lang),
        symbols_used=[s for s in SYMBOLS if s in used],
    )


# ---------------------------------------------------------------- HTML

_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """ASCII slug for ids and file names."""
    return _SLUG.sub("-", text.lower()).strip("-") or "x"


def model_html(model: TableModel, *, table_id: str | None = None) -> str:
    """Draw a :class:`TableModel` as an accessible HTML table in a keyboard-reachable scroll region.

    The caption names the table; row headers are ``<th scope="row">``, column headers
    ``<th scope="col">``; symbol cells carry an ``<abbr>`` with the meaning.
    """
    tr = Translator(model.lang)
    tid = table_id or "tbl-" + slugify(model.name)
    esc = html.escape
    region_label = tr("ui.table_region", caption=model.caption)
    out = [
        f'<div class="table-scroll" role="region" tabindex="0" aria-label="{esc(region_label)}">',
        f'<table id="{esc(tid)}">',
        f"<caption>{esc(model.caption)}</caption>",
        "<thead><tr>",
    ]
    for h, num in zip(model.header, model.numeric, strict=True):
        cls = ' class="num"' if num else ""
        out.append(f'<th scope="col"{cls}>{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    nh = model.n_row_headers
    for row, srow in zip(model.rows, model.symbols, strict=True):
        out.append("<tr>")
        for j, (text, sym) in enumerate(zip(row, srow, strict=True)):
            if j < nh:
                out.append(f'<th scope="row">{esc(text)}</th>')
                continue
            cls = "num" if model.numeric[j] else ""
            if sym in (SYMBOL_SUPPRESSED, SYMBOL_NOT_APPLICABLE, SYMBOL_NOT_AVAILABLE):
                meaning = tr(f"symbol.{sym}_short")
                out.append(
                    f'<td class="{cls} sym"><abbr title="{esc(meaning)}">{esc(text)}</abbr></td>'
                )
            else:
                out.append(f'<td class="{cls}">{esc(text)}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    if model.symbols_used or model.notes:
        out.append('<ul class="table-notes">')
        for s in model.symbols_used:
            out.append(f"<li>{esc(tr(f'symbol.{s}'))}</li>")
        for n in model.notes:
            out.append(f"<li>{esc(n)}</li>")
        out.append("</ul>")
    return "".join(out)


def table_html(
    protected: Protected,
    *,
    lang: str,
    caption: str,
    columns: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
    table_id: str | None = None,
) -> str:
    """Accessible HTML for a ``Protected`` table (see :func:`table_model` for the parameters)."""
    p = require_protected(protected, "table_html")
    model = table_model(
        p, lang=lang, caption=caption, columns=columns, labels=labels, formats=formats
    )
    return model_html(model, table_id=table_id)


# ---------------------------------------------------------------- CSV


def csv_text(protected: Protected, *, columns: Sequence[str] | None = None) -> str:
    """CSV of a ``Protected`` table: machine-readable numbers (``.`` decimal), symbols in place
    of suppressed values, one ``<col>_symbol``-free column per value. Lines end with ``\\n``."""
    p = require_protected(protected, "csv_text")
    vcols = list(columns) if columns is not None else value_columns(p)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*p.dims, *vcols])
    for rec in p.df.iter_rows(named=True):
        row: list[Any] = [rec[d] for d in p.dims]
        for c in vcols:
            sym = rec.get(c + SYMBOL_SUFFIX) or ""
            v = rec[c]
            if sym in (SYMBOL_SUPPRESSED, SYMBOL_NOT_APPLICABLE, SYMBOL_NOT_AVAILABLE) or v is None:
                row.append(sym or SYMBOL_NOT_AVAILABLE)
            elif isinstance(v, float):
                row.append(f"{v:.6g}" + (f" {sym}" if sym == SYMBOL_LOW_RELIABILITY else ""))
            else:
                row.append(str(v) + (f" {sym}" if sym == SYMBOL_LOW_RELIABILITY else ""))
        w.writerow(row)
    return buf.getvalue()


def notes_text(lang: str, file_name: str, notes: Sequence[str] = ()) -> str:
    """The sidecar CSV explaining the symbols (``symbol,meaning``) plus any table notes."""
    tr = Translator(lang)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([tr("csv.symbol_header"), tr("csv.meaning_header")])
    for s in SYMBOLS:
        w.writerow([s, tr(f"symbol.{s}")])
    for n in translate_notes(notes, lang):
        w.writerow(["", n])
    w.writerow(["", tr("csv.notes_intro", file=file_name)])
    return buf.getvalue()


def write_csv(
    protected: Protected,
    path: Path,
    *,
    lang: str = "en",
    columns: Sequence[str] | None = None,
) -> tuple[Path, Path]:
    """Write ``path`` (the data) and ``<stem>.notes.csv`` beside it (what the symbols mean).

    Returns ``(data_path, notes_path)``.
    """
    p = require_protected(protected, "write_csv")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(p, columns=columns), encoding="utf-8", newline="")
    notes = path.with_name(path.stem + ".notes.csv")
    notes.write_text(notes_text(lang, path.name, p.notes), encoding="utf-8", newline="")
    return path, notes


# ---------------------------------------------------------------- Typst


def model_typst(model: TableModel) -> dict[str, Any]:
    """The table as the data the Typst template draws (header, flat cells, alignment)."""
    return {
        "caption": model.caption,
        "ncols": len(model.header),
        "header": model.header,
        "numeric": model.numeric,
        "cells": [c for row in model.rows for c in row],
        "legend": [Translator(model.lang)(f"symbol.{s}") for s in model.symbols_used]
        + list(model.notes),
    }


def table_typst(
    protected: Protected,
    *,
    lang: str,
    caption: str,
    columns: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
) -> str:
    """Standalone Typst markup for a ``Protected`` table (a ``figure`` of a ``table`` with a
    repeated, tagged header row). Strings are emitted as Typst string literals, so no data value
    can be read as markup."""
    p = require_protected(protected, "table_typst")
    m = model_typst(
        table_model(p, lang=lang, caption=caption, columns=columns, labels=labels, formats=formats)
    )

    def lit(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    align = ", ".join("right" if n else "left" for n in m["numeric"])
    head = ", ".join(f"strong({lit(h)})" for h in m["header"])
    cells = ", ".join(lit(c) for c in m["cells"])
    return (
        f"#figure(kind: table, caption: {lit(m['caption'])}, "
        f"table(columns: {m['ncols']}, align: ({align},), "
        f"table.header({head}), {cells}))\n"
    )
