"""Tables, CSV, report documents, HTML and tagged PDF rendering (no browser needed)."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import polars as pl
import pytest
import typst
from pypdf import PdfReader

from analysis.disclosure import Protected
from analysis.reports.render import RenderError, render_report, render_site
from analysis.reports.report import Report
from analysis.reports.tables import csv_text, table_html, table_typst, write_csv


def grad_table() -> Protected:
    """A fabricated, already-protected table: one suppressed cell (symbol c)."""
    df = pl.DataFrame(
        {
            "group": ["in care", "not in care", "Black", "Indigenous"],
            "n": [120, 18_500, None, 45],
            "n__symbol": ["", "", "c", ""],
            "pct": [54.2, 86.1, None, 48.9],
            "pct__symbol": ["", "", "c", "u"],
        }
    )
    return Protected(name="graduation", df=df, dims=("group",), count="n", stats=("pct",))


def trend_table() -> Protected:
    years = ["2017-18", "2018-19", "2019-20", "2020-21"]
    df = pl.DataFrame(
        {
            "school_year": years * 2,
            "care": ["in care"] * 4 + ["not in care"] * 4,
            "pct": [50.0, 52.5, None, 55.0, 80.0, 81.0, 81.5, 82.5],
            "pct__symbol": ["", "", "c", "", "", "", "", ""],
        }
    )
    return Protected(name="trend", df=df, dims=("school_year", "care"), count="n", stats=("pct",))


def wide_table() -> Protected:
    cols = {f"pct_{y}": [50.0 + i, 60.0 + i] for i, y in enumerate(range(2017, 2023))}
    syms = {f"pct_{y}__symbol": ["", ""] for y in range(2017, 2023)}
    df = pl.DataFrame(
        {"board": ["Conseil scolaire catholique Providence", "Toronto DSB"], **cols, **syms}
    )
    return Protected(name="wide", df=df, dims=("board",), count="n")


def build_sample(lang: str, out: Path, *, youth: bool = False) -> Path:
    """A report using every block type, saved under ``out/_docs``; returns the document path."""
    other = "fr" if lang == "en" else "en"
    if youth:
        r = Report(
            "youth",
            "youth",
            lang,
            title="youth.title",
            slug=f"youth-{lang}",
            alternate=f"youth-{other}",
        )
        r.text("youth.intro").text("youth.why")
        r.heading("heading.summary")
        r.text("youth.finished_school", in_care=r.in_ten(54.2).capitalize())
        r.text("youth.finished_school_all", all=r.in_ten(86.1))
        r.text("youth.groups").text("youth.privacy")
        r.heading("heading.words").items(
            ["youth.word_care", "youth.word_cas", "youth.word_eqao", "youth.word_credit"]
        )
        r.heading("heading.help").text("youth.help_phone").text("youth.help_adult").text(
            "youth.help_rights"
        )
        return r.save(out / "_docs")
    r = Report(
        "board",
        "board",
        lang,
        subject="Conseil scolaire Viamonde",
        slug=f"board-58-{lang}",
        alternate=f"board-58-{other}",
    )
    r.facts([(r.t("fact.published"), "2024-03-28"), (r.t("fact.contact"), "unit@example")])
    r.heading("heading.key_facts")
    r.tiles(
        [
            {
                "figure": r.pct(54.2),
                "measure": r.t(
                    "tile.share",
                    group=r.t("group.in_care"),
                    measure=r.t("phrase.graduated"),
                    year="2022-23",
                ),
                "comparison": r.t("tile.compare", value=r.pct(86.1), group=r.t("group.none")),
                "sources": ["graduation"],
            },
            {
                "figure": r.t("tile.suppressed_figure"),
                "measure": r.t("measure.osslt"),
                "comparison": r.t("tile.suppressed_why"),
                "suppressed": True,
            },
        ]
    )
    r.heading("heading.summary").text("text.about_subject", subject=r.subject)
    r.finding(
        "narr.rate",
        sources=["graduation"],
        year="2022-23",
        a_value=r.pct(54.2),
        a_group=r.t("group.in_care"),
        measure=r.t("phrase.graduated"),
        b_value=r.pct(86.1),
        b_group=r.t("group.none"),
        relation=r.t("rel.share_lower"),
    )
    r.note("text.small_subject", subject=r.subject)
    r.text("text.privacy", threshold=10).text("text.secondary_suppression")
    r.heading("heading.credits")
    r.table(
        grad_table(),
        "caption.by_group",
        caption_values={"measure": r.t("measure.graduation"), "year": "2022-23"},
    )
    r.chart(
        grad_table(),
        kind="bar",
        category="group",
        value="pct",
        caption="caption.by_care",
        alt="alt.compare_two",
        heading="chart.by_care",
        values={
            "measure": r.t("measure.graduation"),
            "year": "2022-23",
            "a_label": r.t("value.in care"),
            "a_value": r.pct(54.2),
            "b_label": r.t("value.not in care"),
            "b_value": r.pct(86.1),
        },
    )
    r.heading("heading.trends")
    r.chart(
        trend_table(),
        kind="line",
        category="school_year",
        series="care",
        value="pct",
        caption="caption.trend",
        alt="alt.trend",
        values={
            "measure": r.t("measure.graduation"),
            "series": r.t("value.in care"),
            "start": r.pct(50.0),
            "end": r.pct(55.0),
            "first": "2017-18",
            "last": "2020-21",
        },
    )
    r.text("text.no_testing")
    r.table(
        wide_table(),
        "caption.trend",
        caption_values={
            "measure": r.t("measure.eqao_reading"),
            "first": "2017-18",
            "last": "2022-23",
        },
    )
    return r.save(out / "_docs")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("site")
    rendered = []
    times = []
    for lang in ("en", "fr"):
        for youth in (False, True):
            doc = build_sample(lang, out, youth=youth)
            t0 = time.perf_counter()
            rendered.append(render_report(doc, out))
            times.append(time.perf_counter() - t0)
    index = render_site(out, rendered)
    print(f"\nrender_report times (s): {[round(t, 3) for t in times]}")
    return {"out": out, "rendered": rendered, "index": index}


# ---------------------------------------------------------------- tables / CSV


def test_renderers_accept_only_protected(tmp_path: Path) -> None:
    df = grad_table().df
    with pytest.raises(TypeError, match="Protected"):
        table_html(df, lang="en", caption="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Protected"):
        write_csv(df, tmp_path / "x.csv")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Protected"):
        table_typst(df, lang="en", caption="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Protected"):
        Report("board", "board", "en").table(df, "caption.by_group")  # type: ignore[arg-type]


def test_table_html_structure_and_french_numbers() -> None:
    out = table_html(grad_table(), lang="fr", caption="Diplôme")
    assert "<caption>Diplôme</caption>" in out
    assert out.count('scope="col"') == 3 and out.count('scope="row"') == 4
    assert 'role="region" tabindex="0" aria-label="Tableau : Diplôme"' in out
    assert "54,2\u00a0%" in out and "18\u00a0500" in out
    assert "Pris en charge" in out  # data value translated from the catalogue
    assert '<abbr title="supprimée">c</abbr>' in out
    assert "48,9\u00a0% u" in out  # low reliability flagged, not hidden
    assert ">0<" not in out  # suppressed never shown as zero
    en = table_html(grad_table(), lang="en", caption="Graduation")
    assert "54.2%" in en and "18,500" in en


def test_csv_symbols_and_notes(tmp_path: Path) -> None:
    text = csv_text(grad_table())
    rows = list(csv_rows(text))
    assert rows[0] == ["group", "n", "pct"]
    assert rows[3] == ["Black", "c", "c"]
    assert rows[4][2] == "48.9 u"
    data, notes = write_csv(grad_table(), tmp_path / "g.csv", lang="fr")
    assert data.read_text(encoding="utf-8") == text
    assert "c,c : valeur supprimée" in notes.read_text(encoding="utf-8")


def csv_rows(text: str) -> list[list[str]]:
    import csv

    return list(csv.reader(io.StringIO(text)))


def test_table_typst_compiles_as_tagged_pdf() -> None:
    src = '#set document(title: "t")\n#set text(lang: "fr")\n' + table_typst(
        grad_table(), lang="fr", caption='Tableau "1" #[x]'
    )
    pdf = typst.compile(src.encode(), format="pdf", pdf_standards=["ua-1"])
    assert pdf[:4] == b"%PDF"


# ---------------------------------------------------------------- report documents


def test_report_text_comes_from_catalogue(tmp_path: Path) -> None:
    r = Report("board", "board", "fr")
    with pytest.raises(KeyError):
        r.text("This is an English sentence typed in a notebook.")
    r.text("text.privacy", threshold=10)
    assert r.blocks[-1]["text"].startswith("Les noms")
    with pytest.raises(ValueError, match="generic"):
        r.chart(
            grad_table(),
            kind="bar",
            category="group",
            value="pct",
            caption="caption.by_group",
            alt="ui.chart_label",
            values={"measure": "x", "year": "y"},
        )


def test_save_is_deterministic(tmp_path: Path) -> None:
    a = build_sample("en", tmp_path / "a")
    b = build_sample("en", tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert (a.parent / "printed" / "board-58-en-graduation.csv").exists()


# ---------------------------------------------------------------- HTML and PDF


def test_html_is_self_contained_and_structured(site: dict) -> None:
    for rr in site["rendered"]:
        page = rr.html.read_text(encoding="utf-8")
        assert not re.search(r"https?://", page), rr.html
        assert re.search(rf'<html lang="{rr.lang}-CA">', page)
        for tag in ("<header", "<nav", "<main", "<footer", "<h1>"):
            assert tag in page
        body = page.split("<body>", 1)[1]
        assert re.match(r'\s*<a class="skip-link" href="#main">', body)
        assert "<script" not in page and "<link" not in page and " src=" not in page
    board = next(r for r in site["rendered"] if r.kind == "board" and r.lang == "en")
    page = board.html.read_text(encoding="utf-8")
    assert page.count('role="img"') == 2 and "<desc id=" in page
    assert 'href="board-58-fr.html"' in page and 'hreflang="fr-CA"' in page


def test_each_chart_is_one_block_in_reading_order(site: dict) -> None:
    """Heading, caption, chart, then its data table, inside one block: no chart sits under the
    next chart's heading; headline tiles and the generated findings come before any table."""
    board = next(r for r in site["rendered"] if r.kind == "board" and r.lang == "en")
    page = board.html.read_text(encoding="utf-8")
    blocks = re.findall(r'<div class="chart-block">(.*?)</div></div>\n', page, re.S)
    assert len(blocks) == 2
    first = blocks[0]
    order = [first.index(t) for t in ("<h3", "<figcaption", "<svg", "<table")]
    assert order == sorted(order), order
    assert "By care status, 2022-23" in first  # the chart's own heading
    # its caption and its data table's caption name the same chart
    cap = re.search(r"<figcaption[^>]*>(.*?)</figcaption>", first).group(1)  # type: ignore[union-attr]
    assert f"Data for the chart: {cap}" in first
    assert page.index('<ul class="tiles">') < page.index("<table")
    assert page.index('<p class="finding">') < page.index("<table")
    assert page.index('<dl class="facts">') < page.index('<ul class="tiles">')


def test_pdf_is_tagged_with_title_and_language(site: dict) -> None:
    for rr in site["rendered"]:
        reader = PdfReader(rr.pdf)
        root = reader.trailer["/Root"]
        assert str(root["/Lang"]).startswith(rr.lang)
        assert "/StructTreeRoot" in root
        assert bool(root["/MarkInfo"]["/Marked"])
        assert reader.metadata is not None and reader.metadata.title == rr.title
        text = "".join(p.extract_text() for p in reader.pages)
        assert rr.title.split(":")[0].strip()[:20] in " ".join(text.split())


def test_render_is_deterministic(site: dict, tmp_path: Path) -> None:
    doc = site["out"] / "_docs" / "board-58-fr.json"
    again = render_report(doc, tmp_path)
    first = next(r for r in site["rendered"] if r.slug == "board-58-fr")
    assert again.html.read_bytes() == first.html.read_bytes()
    assert again.pdf.read_bytes() == first.pdf.read_bytes()


def test_missing_alt_text_fails_the_build(site: dict, tmp_path: Path) -> None:
    doc = json.loads((site["out"] / "_docs" / "board-58-en.json").read_text(encoding="utf-8"))
    for b in doc["blocks"]:
        if b["type"] == "chart":
            b["model"]["alt"] = ""
    bad = tmp_path / "board-58-en.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises((RenderError, ValueError), match="alt"):
        render_report(bad, tmp_path / "out")


def test_site_index_links_every_output(site: dict) -> None:
    index = site["index"].read_text(encoding="utf-8")
    root = site["out"]
    for rr in site["rendered"]:
        for p in [rr.html, rr.pdf]:
            rel = p.relative_to(root).as_posix()
            assert f'href="{rel}"' in index, rel
            assert p.exists()
    assert 'href="methodology-en.html"' in index and (root / "methodology-en.pdf").exists()
    assert not re.search(r"https?://", index)
