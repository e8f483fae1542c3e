"""The chart helper: Protected only, alt text that states a finding, palette, labels, symbols."""

from __future__ import annotations

import re

import polars as pl
import pytest

from analysis.disclosure import Protected
from analysis.reports.charts import (
    PALETTE,
    AltTextError,
    build_chart,
    check_alt_text,
    contrast_ratio,
    svg_html,
    svg_pdf,
)

FINDING = "Fewer youth in care (54.2%) than other students (86.1%) graduated within five years"


def table() -> Protected:
    df = pl.DataFrame(
        {
            "group": ["in care", "not in care", "Black"],
            "pct": [54.2, 86.1, None],
            "pct__symbol": ["", "", "c"],
        }
    )
    return Protected(name="grad", df=df, dims=("group",), count="n", stats=("pct",))


def chart(lang: str = "en", **kw):  # type: ignore[no-untyped-def]
    args = dict(
        kind="bar", category="group", value="pct", alt=FINDING, caption="Graduation", lang=lang
    )
    args.update(kw)
    return build_chart(table(), **args)


def test_only_protected_tables() -> None:
    with pytest.raises(TypeError, match="Protected"):
        build_chart(
            table().df,
            kind="bar",
            category="group",
            value="pct",
            alt=FINDING,
            caption="c",
            lang="en",
        )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "a bar chart",
        "Bar chart of the data.",
        "A line graph showing data",
        "un graphique à barres",
        "Graduation",
    ],
)
def test_generic_or_empty_alt_text_is_refused(bad: str) -> None:
    with pytest.raises(AltTextError):
        check_alt_text(bad, caption="Graduation")
    with pytest.raises(AltTextError):
        chart(alt=bad)


def test_alt_text_that_states_a_finding_is_accepted() -> None:
    assert check_alt_text(FINDING) == FINDING
    assert check_alt_text("Moins de jeunes pris en charge (54 %) ont obtenu leur diplôme")


def test_palette_marks_have_3_to_1_contrast_on_white() -> None:
    assert len(set(PALETTE)) == len(PALETTE) >= 4
    for colour in PALETTE:
        assert contrast_ratio(colour) >= 3.0, colour


def test_suppressed_value_is_a_c_annotation_not_zero() -> None:
    m = chart()
    rows = [layer["data"]["values"] for layer in [m.spec] if "data" in layer] or [
        m.spec["datasets"][k] for k in m.spec["datasets"]
    ]
    values = rows[0]
    black = next(r for r in values if r["cat"] == "Black")
    assert black["value"] is None and black["label"] == "c"
    svg = svg_html(m, "chart-1")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "c" in texts and "54.2%" in texts and "86.1%" in texts  # direct labels


def test_svg_is_accessible_offline_and_deterministic() -> None:
    m = chart()
    a, b = svg_html(m, "chart-1"), svg_html(m, "chart-1")
    assert a == b
    assert a.startswith("<svg") and 'role="img"' in a
    assert '<title id="chart-1-title">Graduation</title>' in a
    assert f'<desc id="chart-1-desc">{FINDING}</desc>' in a
    assert 'aria-labelledby="chart-1-title chart-1-desc"' in a
    assert not re.search(r"https?://", a)
    assert all(i.startswith("chart-1") for i in re.findall(r'id="([^"]+)"', a))
    assert "xmlns=" in svg_pdf(m)  # the standalone SVG for Typst keeps its namespace


def test_french_labels_and_series_direct_labels() -> None:
    df = pl.DataFrame(
        {
            "year": ["2018-19", "2019-20"] * 2,
            "care": ["in care", "in care", "not in care", "not in care"],
            "pct": [50.0, 55.5, 80.0, 81.0],
            "pct__symbol": [""] * 4,
        }
    )
    p = Protected(name="t", df=df, dims=("year", "care"), count="n")
    m = build_chart(
        p,
        kind="line",
        category="year",
        series="care",
        value="pct",
        lang="fr",
        alt="Les jeunes pris en charge sont passés de 50 % à 55,5 %",
        caption="Tendance",
    )
    svg = svg_html(m, "c2")
    assert "55,5\u00a0%" in svg and "Pris en charge" in svg and "Non pris en charge" in svg
    too_many = pl.DataFrame(
        {
            "year": ["y"] * 7,
            "care": [f"s{i}" for i in range(7)],
            "pct": [1.0] * 7,
            "pct__symbol": [""] * 7,
        }
    )
    with pytest.raises(ValueError, match="series"):
        build_chart(
            Protected(name="x", df=too_many, dims=("year", "care"), count="n"),
            kind="line",
            category="year",
            series="care",
            value="pct",
            lang="en",
            alt=FINDING,
            caption="x",
        )


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_value_axis_is_labelled_in_percent_like_the_text(lang: str) -> None:
    svg = svg_html(chart(lang=lang), "c3")
    ticks = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    pct = "\u00a0%" if lang == "fr" else "%"
    axis_ticks = [t for t in ticks if re.fullmatch(r"\d+" + pct, t)]
    assert "0" + pct in axis_ticks and "80" + pct in axis_ticks  # 0 to ~90 on a percent axis
    assert not [t for t in ticks if re.fullmatch(r"0[.,]\d+|\d{2}", t)]  # no bare numbers left


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_chart_data_table_keeps_the_notes_in_its_language(lang: str) -> None:
    from dataclasses import replace

    from analysis.reports.i18n import Translator

    noted = replace(
        table(), notes=("msg:note.models", "c: suppressed", "An audit-trail note in English.")
    )
    model = build_chart(
        noted, kind="bar", category="group", value="pct", alt=FINDING, caption="G", lang=lang
    )
    english = ["An audit-trail note in English."] if lang == "en" else []
    assert model.table["notes"] == [Translator(lang)("note.models"), *english]
