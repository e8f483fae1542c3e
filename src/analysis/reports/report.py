"""A small document model that report notebooks fill, saved as JSON with the tables it prints.

A notebook builds a :class:`Report`, adds headings, catalogue text, tables and charts, and saves it;
:func:`analysis.reports.render.render_report` turns the saved JSON into HTML and a tagged PDF.

Every piece of fixed text comes from the message catalogue (:mod:`analysis.reports.i18n`): methods take a
message id and values, never a sentence. Every number comes from a
:class:`~analysis.disclosure.Protected` table, or is formatted for the report's language by
:meth:`Report.pct` / :meth:`Report.num` / :meth:`Report.in_ten` from values the caller read out of
one.

Example
-------
>>> r = Report("board", "board", "fr", subject="Conseil scolaire Viamonde", slug="board-58-fr")
>>> r.heading("heading.summary").text("text.about_subject", subject=r.subject)
>>> r.table(results["graduation"], caption="caption.by_care",
...         caption_values={"measure": r.t("measure.graduation"), "year": "2022-2023"})
>>> r.save(out_dir)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from analysis.disclosure import PROVENANCE, Protected
from analysis.reports.charts import ChartModel, build_chart
from analysis.reports.i18n import Translator, check_lang, fmt_in_ten, fmt_number, fmt_percent
from analysis.reports.tables import csv_text, require_protected, slugify, table_model

DOC_FORMAT = "analysis-report/1"
PROVENANCE_DIR = "provenance"
PRINTED_DIR = "printed"  # beside a saved document: the tables it prints, as CSV (the audit's)
KINDS: tuple[str, ...] = ("ministry", "board", "society", "sector", "youth", "methodology")
AUDIENCES: tuple[str, ...] = ("ministry", "board", "society", "sector", "youth", "public")


class Report:
    """A report document in one language.

    Parameters
    ----------
    kind
        ``"ministry"``, ``"board"``, ``"society"``, ``"sector"``, ``"youth"`` or ``"methodology"``.
    audience
        Who it is for (``"ministry"``, ``"board"``, ``"society"``, ``"sector"`` (the associations
        of societies), ``"youth"``, ``"public"``).
    lang
        ``"en"`` or ``"fr"``.
    title
        Message id of the title (default ``kind.<kind>``); ``subject`` is appended.
    subject
        Data value the report is about (a board's or society's name); not translated.
    slug
        File stem for the outputs (default ``<kind>[-<subject>]-<lang>``).
    alternate
        Slug of the same report in the other language (the page links to it).
    meta
        Extra JSON-serialisable facts recorded in the document (ids, school year, thresholds).
    """

    def __init__(
        self,
        kind: str,
        audience: str,
        lang: str,
        title: str | None = None,
        *,
        subject: str | None = None,
        slug: str | None = None,
        alternate: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"report kind {kind!r} is not one of {', '.join(KINDS)}")
        if audience not in AUDIENCES:
            raise ValueError(f"audience {audience!r} is not one of {', '.join(AUDIENCES)}")
        self.kind = kind
        self.audience = audience
        self.lang = check_lang(lang)
        self.t = Translator(lang)
        self.subject = subject
        base = self.t(title or f"kind.{kind}")
        self.title = self.t("ui.title_subject", title=base, subject=subject) if subject else base
        self.slug = slug or slugify("-".join(x for x in (kind, subject, lang) if x))
        self.alternate = alternate
        self.meta: dict[str, Any] = dict(meta or {})
        self.blocks: list[dict[str, Any]] = []
        self._csvs: dict[str, str] = {}  # the tables printed, as CSV (for the audit)
        # CSV name -> the release row of each of its rows (for the audit; never published)
        self.provenance: dict[str, list[str | None]] = {}
        self._ids: set[str] = set()

    def __repr__(self) -> str:
        # What a notebook cell shows; no memory address, so executed notebooks are reproducible.
        return f"<Report {self.slug}: {len(self.blocks)} blocks>"

    # ------------------------------------------------------------ formatting helpers

    def pct(self, value: float | None, decimals: int = 1, *, proportion: bool = False) -> str:
        """Percentage for this report's language (value in percent unless ``proportion``)."""
        return fmt_percent(value, self.lang, decimals, proportion=proportion)

    def num(self, value: float | int | None, decimals: int = 0) -> str:
        """Number for this report's language."""
        return fmt_number(value, self.lang, decimals)

    def in_ten(self, value: float, *, proportion: bool = False) -> str:
        """Plain-language frequency: "about 6 in 10" / "environ 6 sur 10"."""
        return fmt_in_ten(value, self.lang, proportion=proportion)

    def _values(self, values: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in values.items():
            if isinstance(v, bool):
                raise TypeError(f"value {k!r} is a bool; pass text or a number")
            if isinstance(v, int):
                out[k] = self.num(v)
            elif isinstance(v, float):
                out[k] = self.num(v, 1)
            else:
                out[k] = str(v)
        return out

    def _unique_id(self, base: str) -> str:
        slug = slugify(base)[:48]
        cand, k = slug, 2
        while cand in self._ids:
            cand, k = f"{slug}-{k}", k + 1
        self._ids.add(cand)
        return cand

    # ------------------------------------------------------------ content

    def heading(self, msgid: str, level: int = 2, **values: Any) -> Report:
        """A section heading (level 2 or 3; level 1 is the title)."""
        if level not in (2, 3):
            raise ValueError("heading level must be 2 or 3 (the title is level 1)")
        text = self.t(msgid, **self._values(values))
        self.blocks.append(
            {
                "type": "heading",
                "msgid": msgid,
                "level": level,
                "text": text,
                "id": self._unique_id(msgid),
            }
        )
        return self

    def text(self, msgid: str, *, quote: str | None = None, **values: Any) -> Report:
        """A paragraph of catalogue text with its placeholders filled; ``quote``: text in English
        that follows it, marked as English (a cited source on a French page)."""
        block = {"type": "text", "msgid": msgid, "text": self.t(msgid, **self._values(values))}
        if quote:
            block["quote"] = quote
        self.blocks.append(block)
        return self

    def finding(self, msgid: str, *, sources: Sequence[str] = (), **values: Any) -> Report:
        """A generated sentence: catalogue text filled with numbers read from published tables.

        ``sources`` names the published tables the numbers come from; each must also be shown in
        this report (as a table or chart), so every number in the prose is in its CSV downloads
        (:meth:`save` checks it).
        """
        self.blocks.append(
            {
                "type": "text",
                "msgid": msgid,
                "text": self.t(msgid, **self._values(values)),
                "generated": True,
                "sources": sorted(set(sources)),
            }
        )
        return self

    def tiles(self, tiles: Sequence[Mapping[str, Any]]) -> Report:
        """Headline facts: one tile per finding (figure, what it measures, comparison, trend).

        Each tile is a mapping of already-translated strings (``figure``, ``measure``, and
        optionally ``comparison``, ``trend``), ``suppressed`` (bool) and ``sources`` (the
        published tables its numbers come from, as for :meth:`finding`).
        """
        keep = ("figure", "measure", "comparison", "trend")
        out = []
        sources: set[str] = set()
        for t in tiles:
            out.append(
                {k: str(t[k]) for k in keep if t.get(k)} | {"suppressed": bool(t.get("suppressed"))}
            )
            sources.update(t.get("sources", ()))
        if out:
            self.blocks.append(
                {
                    "type": "tiles",
                    "tiles": out,
                    "generated": True,
                    "sources": sorted(sources),
                }
            )
        return self

    def facts(self, pairs: Sequence[tuple[str, str]]) -> Report:
        """A short list of labelled facts (release date, period, contact): ``(label, value)``."""
        self.blocks.append({"type": "facts", "items": [[k, v] for k, v in pairs]})
        return self

    def items(self, msgids: Sequence[str], **values: Any) -> Report:
        """A bulleted list, one catalogue message per item."""
        vals = self._values(values)
        self.blocks.append(
            {
                "type": "list",
                "msgids": list(msgids),
                "items": [self.t(m, **{k: v for k, v in vals.items()}) for m in msgids],
            }
        )
        return self

    def note(self, msgid: str, **values: Any) -> Report:
        """A highlighted note (caveat, suppression explanation)."""
        self.blocks.append(
            {"type": "note", "msgid": msgid, "text": self.t(msgid, **self._values(values))}
        )
        return self

    def table(
        self,
        protected: Protected,
        caption: str,
        *,
        caption_values: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        formats: Mapping[str, str] | None = None,
    ) -> Report:
        """A published table (and its CSV download) from a ``Protected`` table.

        ``caption`` is a message id; ``labels`` maps columns to message ids.
        """
        p = require_protected(protected, "Report.table")
        cap = self.t(caption, **self._values(caption_values or {}))
        model = table_model(
            p, lang=self.lang, caption=cap, columns=columns, labels=labels, formats=formats
        )
        tid = self._unique_id("table-" + p.name)
        csv_name = self._add_csv(p, columns)
        self.blocks.append(
            {
                "type": "table",
                "id": tid,
                "model": model.to_dict(),
                "csv": csv_name,
                "table_name": p.name,
            }
        )
        return self

    def chart(
        self,
        protected: Protected,
        *,
        kind: str,
        category: str,
        value: str,
        caption: str,
        alt: str,
        values: Mapping[str, Any] | None = None,
        series: str | None = None,
        lower: str | None = None,
        upper: str | None = None,
        labels: Mapping[str, str] | None = None,
        formats: Mapping[str, str] | None = None,
        heading: str | None = None,
        heading_level: int = 3,
        alt_text: str | None = None,
        lead: int = 0,
        compact: bool = False,
    ) -> Report:
        """A chart through :func:`analysis.reports.charts.build_chart`, with its data table and CSV.

        ``caption`` and ``alt`` are message ids filled from ``values`` (alt text must state the
        finding, e.g. ``alt.compare_two``). ``heading`` (a message id, filled from ``values``)
        is the chart's own heading (level ``heading_level``, 3 or 4): the page keeps heading,
        caption, chart and data table together as one block. ``alt_text`` (already written, e.g.
        the generated sentence stating the chart's finding) replaces ``alt``. ``lead`` moves the
        last ``lead`` findings (:meth:`finding`) into the chart's block, after its heading: the
        block then reads heading, finding, caption, chart, data table.
        """
        if heading_level not in (3, 4):
            raise ValueError("a chart heading is level 3 or 4")
        p = require_protected(protected, "Report.chart")
        vals = self._values(values or {})
        model: ChartModel = build_chart(
            p,
            kind=kind,
            category=category,
            value=value,
            series=series,
            lower=lower,
            upper=upper,
            alt=alt_text if alt_text else self.t(alt, **vals),
            caption=self.t(caption, **vals),
            lang=self.lang,
            labels=labels,
            formats=formats,
            compact=compact,
        )
        cid = self._unique_id("chart-" + p.name)
        csv_name = self._add_csv(p, None)
        block: dict[str, Any] = {
            "type": "chart",
            "id": cid,
            "model": model.to_dict(),
            "csv": csv_name,
            "table_name": p.name,
        }
        if heading:
            block["heading"] = {"text": self.t(heading, **vals), "level": heading_level}
        if lead:
            moved = self.blocks[-lead:]
            if len(moved) != lead or not all(
                b["type"] == "text" and b.get("generated") for b in moved
            ):
                raise ValueError(
                    f"chart {p.name!r}: lead={lead} but the last blocks are not findings"
                )
            del self.blocks[-lead:]
            block["findings"] = [
                {"msgid": b["msgid"], "text": b["text"], "sources": b["sources"]} for b in moved
            ]
            block["sources"] = sorted({s for b in moved for s in b["sources"]})
        self.blocks.append(block)
        return self

    def _add_csv(self, p: Protected, columns: Sequence[str] | None) -> str:
        name = f"{self.slug}-{slugify(p.name)}.csv"
        text = csv_text(p, columns=columns)
        if name in self._csvs and self._csvs[name] != text:
            name = f"{self.slug}-{slugify(p.name)}-{len(self._csvs) + 1}.csv"
        self._csvs[name] = text
        rows = p.df[PROVENANCE].to_list() if PROVENANCE in p.df.columns else [None] * p.df.height
        self.provenance[name] = rows
        return name

    # ------------------------------------------------------------ output

    def prose(self) -> list[str]:
        """The report's running text (paragraphs, list items and notes), for readability checks."""
        out: list[str] = []
        for b in self.blocks:
            if b["type"] in ("text", "note"):
                out.append(b["text"])
            elif b["type"] == "list":
                out.extend(b["items"])
            elif b["type"] == "chart":
                out.extend(f["text"] for f in b.get("findings", ()))
        return out

    def generated(self) -> list[str]:
        """The sentences written from numbers (findings and headline tiles), in page order."""
        return generated_text(self.to_dict())

    def check_sources(self) -> None:
        """Every table a finding or tile cites is shown in this report (so in its CSVs)."""
        shown = {b.get("table_name") for b in self.blocks if b["type"] in ("table", "chart")}
        for b in self.blocks:
            missing = [s for s in b.get("sources", ()) if s not in shown]
            if missing:
                raise ValueError(
                    f"{self.slug}: a {b['type']} block cites {missing}, which the report does not "
                    "show as a table or chart (its numbers would not be in the CSV downloads)"
                )

    def attach_data_files(self, files_of_row: Mapping[str, Sequence[str]]) -> Report:
        """Name, on each table and chart, the open data files its rows are printed in
        (``files_of_row``: release row -> file names,
        :func:`analysis.reports.opendata.datasets.row_files`). The page links those files (its
        downloads), not a CSV of each chart: every number of a chart is a row of a file."""
        for b in self.blocks:
            if b["type"] not in ("table", "chart") or not b.get("csv"):
                continue
            names: list[str] = []
            for row in self.provenance.get(b["csv"], []):
                for name in files_of_row.get(row or "", ()):
                    if name not in names:
                        names.append(name)
            b["data_files"] = names
        return self

    def data_files(self) -> list[str]:
        """The open data files the report's tables and charts are in, in page order."""
        out: list[str] = []
        for b in self.blocks:
            out += [n for n in b.get("data_files", ()) if n not in out]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {
            "format": DOC_FORMAT,
            "kind": self.kind,
            "audience": self.audience,
            "lang": self.lang,
            "title": self.title,
            "subject": self.subject,
            "slug": self.slug,
            "alternate": self.alternate,
            "meta": self.meta,
            "blocks": self.blocks,
            "printed": sorted(self._csvs),  # the audit's CSVs of its tables (not published)
            "data_files": self.data_files(),
        }

    def csv_files(self) -> dict[str, str]:
        """The tables the report prints, as CSV (the audit reads them; not published): file
        name -> text."""
        return dict(self._csvs)

    def save(self, out_dir: Path | str) -> Path:
        """Write ``<out_dir>/<slug>.json``, ``<out_dir>/printed/<csv>`` (each table the report
        prints, for the audit) and ``<out_dir>/provenance/<slug>.json`` (the release row of each
        of their rows). None of these is published: a reader downloads the open data files
        (:meth:`attach_data_files`).

        Returns the path of the JSON document. Same content, same bytes.
        """
        self.check_sources()
        out = Path(out_dir)
        data = out / PRINTED_DIR
        data.mkdir(parents=True, exist_ok=True)
        prov = out / PROVENANCE_DIR
        prov.mkdir(parents=True, exist_ok=True)
        (prov / f"{self.slug}.json").write_text(
            json.dumps(self.provenance, sort_keys=True) + "\n", encoding="utf-8"
        )
        for name, text in sorted(self._csvs.items()):
            (data / name).write_text(text, encoding="utf-8", newline="")
        path = out / f"{self.slug}.json"
        path.write_text(
            json.dumps(self.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        return path


def generated_text(doc: Mapping[str, Any]) -> list[str]:
    """The generated sentences of a report document: findings and tile texts."""
    out: list[str] = []
    for b in doc["blocks"]:
        if b["type"] == "chart":
            out.extend(f["text"] for f in b.get("findings", ()))
            continue
        if not b.get("generated"):
            continue
        if b["type"] == "tiles":
            for t in b["tiles"]:
                out.append(
                    " ".join(t[k] for k in ("figure", "measure", "comparison", "trend") if k in t)
                )
        else:
            out.append(b["text"])
    return out


def load(path: Path | str) -> dict[str, Any]:
    """Read a saved report document, checking its format tag."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if doc.get("format") != DOC_FORMAT:
        raise ValueError(f"{path}: not a report document (format {doc.get('format')!r})")
    return dict(doc)
