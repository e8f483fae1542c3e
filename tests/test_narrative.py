"""Generated sentences follow the published numbers: direction, size, uncertainty, suppression.

The tables are fabricated and already protected; each test builds the same sentence on numbers
that point one way and on the same numbers reversed, and checks the words reverse with them.
"""

from __future__ import annotations

import re

import polars as pl
import pytest

from analysis.disclosure import Protected
from analysis.reports import narrative, sections
from analysis.reports.report import Report

STATS = ("rate", "ci_low", "ci_high")
CAUSAL = re.compile(
    r"\b(because of care|caused by|causes? (?:the|a|lower|higher)|leads? to|results? in|"
    r"effect of|impact of|due to care|entraîne|provoque|à cause de|effet de)\b",
    re.IGNORECASE,
)


def rates(values: dict[str, tuple[float | None, float, float]], name: str = "t") -> Protected:
    """Rates by care status: ``{status: (rate, ci_low, ci_high)}``; ``None`` is suppressed."""
    rows = []
    for status, (rate, lo, hi) in values.items():
        hidden = rate is None
        rows.append(
            {
                "care_status": status,
                "n": None if hidden else 400,
                "rate": rate,
                "ci_low": None if hidden else lo,
                "ci_high": None if hidden else hi,
                **{f"{c}__symbol": "c" if hidden else "" for c in ("n", *STATS)},
            }
        )
    df = pl.DataFrame(rows).with_columns(
        pl.col("n").cast(pl.Int64), *[pl.col(c).cast(pl.Float64) for c in STATS]
    )
    return Protected(name=name, df=df, dims=("care_status",), count="n", stats=STATS)


def _sentence(lang: str, t: Protected) -> tuple[narrative.Said, Report]:
    r = Report("ministry", "ministry", lang)
    said = narrative.compare_rates(
        r,
        t,
        measure="phrase.chronic_absent",
        a={"care_status": "in_care"},
        b={"care_status": "none"},
        a_group=r.t("group.in_care"),
        b_group=r.t("group.none"),
        year="2022-23",
    )
    return said, r


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_reversed_gap_reverses_the_sentence(lang: str) -> None:
    gap = rates({"in_care": (0.33, 0.29, 0.37), "none": (0.24, 0.235, 0.245)})
    reversed_ = rates({"in_care": (0.16, 0.12, 0.20), "none": (0.24, 0.235, 0.245)})
    higher, r1 = _sentence(lang, gap)
    lower, r2 = _sentence(lang, reversed_)
    assert higher.relation == "higher" and lower.relation == "lower"
    words = {"en": ("a higher share", "a lower share"), "fr": ("plus élevée", "plus faible")}[lang]
    assert higher.text is not None and words[0] in higher.text and words[1] not in higher.text
    assert lower.text is not None and words[1] in lower.text and words[0] not in lower.text
    pct = "\u00a0%" if lang == "fr" else "%"
    assert f"33{pct}" in higher.text and f"24{pct}" in higher.text
    assert f"16{pct}" in lower.text


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_overlapping_intervals_say_similar_and_about(lang: str) -> None:
    t = rates({"in_care": (0.27, 0.20, 0.34), "none": (0.24, 0.235, 0.245)})
    said, _ = _sentence(lang, t)
    assert said.relation == "similar"
    assert said.text is not None
    about = {"en": "about 27%", "fr": "environ 27\u00a0%"}[lang]
    assert about in said.text
    assert ("similar" if lang == "en" else "semblables") in said.text
    assert ("higher" if lang == "en" else "élevée") not in said.text


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_no_claim_where_suppressed(lang: str) -> None:
    t = rates({"in_care": (None, 0, 0), "none": (0.24, 0.235, 0.245)})
    said, r = _sentence(lang, t)
    assert said.relation == "suppressed"
    assert said.text is not None
    # no published number at all (the measure's own "10%" is words), not even the other group's
    assert "24" not in said.text and not re.search(r"\b(?!10\b)\d+\s?%", said.text)
    assert ("not published" if lang == "en" else "n’est pas publiée") in said.text
    for word in ("higher", "lower", "similar", "élevée", "faible", "semblables"):
        assert word not in said.text


def _diffs(est: float, lo: float, hi: float) -> tuple[Protected, Protected]:
    df = pl.DataFrame(
        {
            "outcome": ["eqao_at_standard"],
            "care_status": ["in_care"],
            "n": [400],
            "estimate": [est],
            "ci_low": [lo],
            "ci_high": [hi],
            **{f"{c}__symbol": [""] for c in ("n", "estimate", "ci_low", "ci_high")},
        }
    )
    diffs = Protected(
        name="points",
        df=df,
        dims=("outcome", "care_status"),
        count="n",
        stats=("estimate", "ci_low", "ci_high"),
    )
    import math

    ors = Protected(
        name="odds",
        df=pl.DataFrame(
            {
                "outcome": ["eqao_at_standard"],
                "care_status": ["in_care"],
                "n": [400],
                "odds_ratio": [math.exp(est * 4)],
                "or_low": [math.exp(lo * 4)],
                "or_high": [math.exp(hi * 4)],
                **{f"{c}__symbol": [""] for c in ("n", "odds_ratio", "or_low", "or_high")},
            }
        ),
        dims=("outcome", "care_status"),
        count="n",
        stats=("odds_ratio", "or_low", "or_high"),
    )
    return diffs, ors


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize(
    ("est", "lo", "hi", "want"),
    [
        (-0.19, -0.27, -0.11, "lower"),
        (0.19, 0.11, 0.27, "higher"),
        (-0.02, -0.09, 0.05, "similar"),
    ],
)
def test_adjusted_difference_in_points_follows_its_interval(
    lang: str, est: float, lo: float, hi: float, want: str
) -> None:
    diffs, ors = _diffs(est, lo, hi)
    r = Report("ministry", "ministry", lang)
    said = narrative.adjusted_difference(
        r, diffs, ors, outcome="eqao_at_standard", care_status="in_care", group="x"
    )
    assert said.relation == want and said.text is not None
    text = said.text
    assert "log" not in text.lower()  # percentage points and odds ratios, never log-odds
    points = "percentage points" if lang == "en" else "points de pourcentage"
    assert points in text
    dec = "," if lang == "fr" else "."
    if want == "similar":
        assert ("no clear difference" if lang == "en" else "aucune différence nette") in text
    else:
        word = {
            ("en", "lower"): "lower",
            ("en", "higher"): "higher",
            ("fr", "lower"): "inférieure",
            ("fr", "higher"): "supérieure",
        }[(lang, want)]
        assert word in text
        assert f"19{dec}0" in text and f"11{dec}0" in text and f"27{dec}0" in text
        assert ("odds ratio" if lang == "en" else "rapport de cotes") in text


def test_headline_tile_says_when_it_is_suppressed() -> None:
    r = Report("ministry", "ministry", "en")
    t = rates({"in_care": (None, 0, 0), "none": (0.24, 0.235, 0.245)})
    tile = narrative.rate_tile(
        r,
        t,
        measure="of children in care missed school",
        a={"care_status": "in_care"},
        b={"care_status": "none"},
        b_label="others",
    )
    assert tile["suppressed"] and tile["figure"] == "Not published"
    shown = narrative.rate_tile(
        r,
        rates({"in_care": (0.33, 0.29, 0.37), "none": (0.24, 0.235, 0.245)}),
        measure="of children in care missed school",
        a={"care_status": "in_care"},
        b={"care_status": "none"},
        b_label="others",
    )
    assert shown["figure"] == "33%" and "24%" in shown["comparison"]
    # a share whose figure is withheld reads as a whole phrase, not "of children ..." after
    # "Not published"
    share = {"group": "children in care", "measure": "missed school", "year": "2022-23"}
    hidden = narrative.rate_tile(r, t, share=share, a={"care_status": "in_care"})
    assert hidden["suppressed"] and hidden["measure"].startswith("The share of children in care")
    seen = narrative.rate_tile(
        r,
        rates({"in_care": (0.33, 0.29, 0.37), "none": (0.24, 0.235, 0.245)}),
        share=share,
        a={"care_status": "in_care"},
    )
    assert seen["measure"] == "of children in care missed school in 2022-23"


def test_a_finding_must_cite_a_table_the_report_shows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = Report("ministry", "ministry", "en")
    t = rates({"in_care": (0.33, 0.29, 0.37), "none": (0.24, 0.235, 0.245)})
    _sentence_into = narrative.compare_rates(
        r,
        t,
        measure="phrase.chronic_absent",
        a={"care_status": "in_care"},
        b={"care_status": "none"},
        a_group="a",
        b_group="b",
        year="2022-23",
    )
    assert _sentence_into.text
    with pytest.raises(ValueError, match="does not show"):
        r.save(tmp_path)
    r.table(t, "caption.by_care", caption_values={"measure": "m", "year": "y"})
    r.save(tmp_path)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_sentence_templates_state_association_not_cause(lang: str) -> None:
    from analysis.reports.i18n import catalogue

    cat = catalogue(lang)
    for key, text in cat.items():
        if key.startswith("narr.association"):  # the sentences that say it is not cause
            continue
        if key.split(".")[0] in ("narr", "tile", "rel", "dir", "youth", "group", "phrase"):
            assert not CAUSAL.search(text), f"{key}: {text}"


def test_board_focus_names_only_gaps_beyond_the_margin() -> None:
    """The board's 'what the figures suggest' paragraph lists an outcome only when the board's
    in-care and other students' intervals do not overlap, in whichever direction."""
    from test_sections import YEAR

    def table(in_care: float, others: float) -> dict[str, Protected]:
        def row(outcome: str, in_care_: bool, rate: float) -> dict:
            return {
                "outcome": outcome,
                "school_year": YEAR,
                "ever_in_care": in_care_,
                "n": 400,
                "events": 100,
                "rate": rate,
                "ci_low": rate - 0.03,
                "ci_high": rate + 0.03,
                **{f"{c}__symbol": "" for c in ("n", "events", *STATS)},
            }

        dims = ("outcome", "school_year", "ever_in_care")
        board = pl.DataFrame(
            [
                {**row("chronic_absent", True, in_care), "board_id": "B01"},
                {**row("chronic_absent", False, others), "board_id": "B01"},
            ]
        )
        prov = pl.DataFrame([row("chronic_absent", True, 0.3), row("chronic_absent", False, 0.2)])
        mk = lambda df, d, n: Protected(  # noqa: E731
            name=n, df=df, dims=d, count="n", numerator="events", stats=STATS
        )
        empty_eqao = pl.DataFrame(
            schema={
                "assessment": pl.Utf8,
                "school_year": pl.Utf8,
                "board_id": pl.Utf8,
                "ever_in_care": pl.Boolean,
                "n": pl.Int64,
                "events": pl.Int64,
                **{c: pl.Float64 for c in STATS},
                **{f"{c}__symbol": pl.Utf8 for c in ("n", "events", *STATS)},
            }
        )
        return {
            "outcomes_by_board": mk(
                board, ("outcome", "school_year", "board_id", "ever_in_care"), "ob"
            ),
            "outcomes_by_ever_in_care": mk(prov, dims, "oe"),
            "eqao_by_board": mk(
                empty_eqao, ("assessment", "school_year", "board_id", "ever_in_care"), "eb"
            ),
            "eqao_by_ever_in_care": mk(
                empty_eqao.drop("board_id"), ("assessment", "school_year", "ever_in_care"), "ee"
            ),
        }

    from analysis.config import load_config

    cfg = load_config(scale="tiny")
    for in_care, others, listed in ((0.40, 0.20, True), (0.10, 0.20, True), (0.21, 0.20, False)):
        r = Report("board", "board", "en", subject="Lakeside DSB")
        sections.board_findings(r, table(in_care, others), "B01", "Lakeside DSB", YEAR, cfg)
        text = " ".join(r.prose())
        assert ("missed 10% or more of school days. These are the areas" in text) == listed, text
