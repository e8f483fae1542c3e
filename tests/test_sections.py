"""Report sections: what a board report shows when its numbers are published, and when not."""

from __future__ import annotations

import polars as pl
import pytest

from analysis.disclosure import Protected
from analysis.reports import sections
from analysis.reports.report import Report

YEAR = "2022-23"
STATS = ("rate", "ci_low", "ci_high")


def _rates(rows: list[dict], dims: tuple[str, ...], name: str) -> Protected:
    df = pl.DataFrame(rows).with_columns(
        *[pl.col(c).cast(pl.Float64) for c in STATS],
        *[
            (pl.when(pl.col(c).is_null()).then(pl.lit("c")).otherwise(pl.lit(""))).alias(
                c + "__symbol"
            )
            for c in STATS
        ],
    )
    return Protected(name=name, df=df, dims=dims, count="n", numerator="events", stats=STATS)


def _results(board_in_care_rate: float | None) -> dict[str, Protected]:
    def row(outcome: str, in_care: bool, rate: float | None, **extra: str) -> dict:
        lo, hi = (None, None) if rate is None else (rate - 0.04, rate + 0.04)
        return {
            "outcome": outcome,
            "school_year": YEAR,
            **extra,
            "ever_in_care": in_care,
            "n": 400 if in_care else 60000,
            "events": 100,
            "rate": rate,
            "ci_low": lo,
            "ci_high": hi,
        }

    board = [
        row("chronic_absent", False, 0.236, board_id="B01"),
        row("chronic_absent", True, board_in_care_rate, board_id="B01"),
    ]
    prov = [row("chronic_absent", False, 0.242), row("chronic_absent", True, 0.326)]
    eqao = pl.DataFrame(
        schema={
            "assessment": pl.Utf8,
            "school_year": pl.Utf8,
            "board_id": pl.Utf8,
            "ever_in_care": pl.Boolean,
            "n": pl.Int64,
            "events": pl.Int64,
            **{c: pl.Float64 for c in STATS},
            **{c + "__symbol": pl.Utf8 for c in STATS},
        }
    )
    return {
        "outcomes_by_board": _rates(
            board, ("outcome", "school_year", "board_id", "ever_in_care"), "outcomes_by_board"
        ),
        "outcomes_by_ever_in_care": _rates(
            prov, ("outcome", "school_year", "ever_in_care"), "outcomes_by_ever_in_care"
        ),
        "eqao_by_board": Protected(
            name="eqao_by_board",
            df=eqao,
            dims=("assessment", "school_year", "board_id", "ever_in_care"),
            count="n",
            numerator="events",
            stats=STATS,
        ),
    }


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_board_report_charts_its_absence_against_ontario(lang: str) -> None:
    r = Report("board", "board", lang, subject="Lakeside DSB", meta={"board_id": "B01"})
    sections.subject_vs_province(r, _results(0.269), "B01", "Lakeside DSB", YEAR)
    charts = [b for b in r.blocks if b["type"] == "chart"]
    assert len(charts) == 1
    alt = charts[0]["model"]["alt"]
    assert "Lakeside DSB" in alt and "Ontario" in alt
    pct = " %" if lang == "fr" else "%"  # alt text has its spaces normalised
    assert f"27{pct}" in alt and f"33{pct}" in alt  # the board's and Ontario's in-care rates
    plotted = charts[0]["model"]["table"]
    assert len(plotted["rows"]) == 4  # in care and not, for the board and for Ontario


def test_board_report_has_no_chart_of_suppressed_bars() -> None:
    r = Report("board", "board", "en", subject="Lakeside DSB", meta={"board_id": "B01"})
    sections.subject_vs_province(r, _results(None), "B01", "Lakeside DSB", YEAR)
    assert [b for b in r.blocks if b["type"] == "chart"] == []
    assert [b for b in r.blocks if b["type"] == "table"]  # the table still shows the symbols
