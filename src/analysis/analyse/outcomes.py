"""Education outcomes per student-year and their descriptive rates by care status.

Reads frames shaped like the analytic dataset (``docs/data-contract.md``) and returns long tables,
one row per published cell: the dimension columns, ``n`` (people in the cell), ``events`` (people
with the outcome) and ``rate``/``ci_low``/``ci_high`` (Wilson 95% interval), ready for
:meth:`analysis.disclosure.Release.protect`. Means (attendance rate, credits) carry ``mean`` and a
t-based interval instead, with no numerator.

The measures themselves (attendance rate, chronic absence, on track, OSSLT first-time pass,
graduation within 4 and 5 years) are defined once in :mod:`analysis.domain.measures`, which the
generator's calibration check uses too; they are re-exported here.

EQAO trends: the years without testing (``cfg.no_eqao_years``) are rows with
``assessment_status = "no_assessment"`` and null statistics, never zeros; ``series`` is
``"before_break"`` or ``"new_baseline"`` from ``cfg.eqao_baseline_break`` so no trend line is drawn
across the break.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from analysis.domain.measures import (
    CHRONIC_ABSENCE_SHARE,
    GRADUATION_CREDITS,
    HIGH_SCHOOL_GRADES,
    ON_TRACK_CREDITS,
    Z95,
    graduation_cohorts,
    student_year_outcomes,
    wilson_ci,
)
from analysis.domain.vocab import CARE_PRIORITY

__all__ = [
    "BINARY_OUTCOMES",
    "CARE_STATUSES",
    "CHRONIC_ABSENCE_SHARE",
    "GRADUATION_CREDITS",
    "HIGH_SCHOOL_GRADES",
    "MEAN_OUTCOMES",
    "ON_TRACK_CREDITS",
    "Z95",
    "descriptive_tables",
    "eqao_trend",
    "eqao_with_care",
    "graduation_cohorts",
    "label_per_row",
    "mean_table",
    "rate_table",
    "student_year_outcomes",
    "wilson_ci",
]

CARE_STATUSES: tuple[str, ...] = tuple(CARE_PRIORITY)  # highest priority first
BINARY_OUTCOMES: tuple[str, ...] = ("chronic_absent", "on_track", "osslt_first_time_pass")
MEAN_OUTCOMES: tuple[str, ...] = ("attendance_rate", "credits_earned")


def _is_categorical(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.Categorical, pl.Enum))


def label_per_row(frame: pl.DataFrame, cols: Sequence[str], label: pl.Expr, name: str) -> pl.Series:
    """``label`` (an expression of ``cols``) for every row of ``frame``, evaluated once per distinct
    combination of ``cols`` and mapped back to the rows in their order.

    At scale the label (e.g. ``grade|school_year``) is then built for a hundred combinations
    instead of millions of rows; it is categorical when any of ``cols`` is.
    """
    cols = list(cols)
    combos = frame.select(cols).unique().with_columns(label.alias(name))
    if any(_is_categorical(frame.schema[c]) for c in cols):
        combos = combos.with_columns(pl.col(name).cast(pl.Categorical))
    return (
        frame.select(cols)
        .join(combos, on=cols, how="left", nulls_equal=True, maintain_order="left")
        .get_column(name)
    )


def eqao_with_care(eqao: pl.DataFrame, student_years: pl.DataFrame) -> pl.DataFrame:
    """EQAO results of participating students, with the student-year's care and equity columns.

    Adds ``assessment_key`` (assessment, plus the Grade 9 stream before the baseline break;
    ``osslt_retake`` for a later OSSLT sitting) used as the assessment-by-year stratum in models.
    """
    keep = [
        c
        for c in student_years.columns
        if c not in {"board_id", "grade"}
        and c not in eqao.columns
        or c in {"study_id", "school_year"}
    ]
    out = eqao.filter(pl.col("participation") == "participated").join(
        student_years.select(keep), on=["study_id", "school_year"], how="inner"
    )
    key = (
        pl.when(
            (pl.col("assessment") == "g9_math") & pl.col("g9_stream").is_in(["academic", "applied"])
        )
        .then(pl.col("assessment") + "_" + pl.col("g9_stream"))
        .when((pl.col("assessment") == "osslt") & ~pl.col("first_time").fill_null(True))
        .then(pl.lit("osslt_retake"))
        .otherwise(pl.col("assessment").cast(pl.Utf8))
    )
    return out.with_columns(
        label_per_row(out, ["assessment", "g9_stream", "first_time"], key, "assessment_key")
    )


def _as_text(frame: pl.LazyFrame, cols: Sequence[str]) -> pl.LazyFrame:
    """Categorical columns among ``cols`` as text (published tables carry text, not codes)."""
    schema = frame.collect_schema()
    return frame.with_columns([pl.col(c).cast(pl.Utf8) for c in cols if _is_categorical(schema[c])])


def rate_table(
    frame: pl.DataFrame, outcome: str, by: Sequence[str], *, person: str = "study_id"
) -> pl.DataFrame:
    """Proportion of people with ``outcome`` per cell of ``by``, with Wilson 95% intervals.

    A person counts once per cell (``any`` of their rows); rows with a null outcome are left out.

    Returns
    -------
    pl.DataFrame
        ``by`` columns, ``outcome`` (the name), ``n``, ``events``, ``rate``, ``ci_low``, ``ci_high``.
    """
    cells = (
        frame.lazy()
        .select(*by, person, outcome)
        .filter(pl.col(outcome).is_not_null())
        .group_by([*by, person])
        .agg(pl.col(outcome).cast(pl.Boolean).any().alias("_y"))
        .group_by(list(by))
        .agg(pl.len().cast(pl.Int64).alias("n"), pl.col("_y").sum().cast(pl.Int64).alias("events"))
        .pipe(_as_text, by)
        .sort(list(by), nulls_last=True)
        .collect()
    )
    low, high = wilson_ci(cells["events"].to_numpy(), cells["n"].to_numpy())
    return cells.with_columns(
        pl.lit(outcome).alias("outcome"),
        (pl.col("events") / pl.col("n")).alias("rate"),
        pl.Series("ci_low", low),
        pl.Series("ci_high", high),
    ).select("outcome", *by, "n", "events", "rate", "ci_low", "ci_high")


def mean_table(
    frame: pl.DataFrame, outcome: str, by: Sequence[str], *, person: str = "study_id"
) -> pl.DataFrame:
    """Mean of ``outcome`` per cell of ``by`` (a person's rows averaged first), t 95% interval."""
    cells = (
        frame.lazy()
        .select(*by, person, outcome)
        .filter(pl.col(outcome).is_not_null())
        .group_by([*by, person])
        .agg(pl.col(outcome).cast(pl.Float64).mean().alias("_y"))
        .group_by(list(by))
        .agg(
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("_y").mean().alias("mean"),
            pl.col("_y").std().alias("_sd"),
        )
        .pipe(_as_text, by)
        .sort(list(by), nulls_last=True)
        .collect()
    )
    n = cells["n"].to_numpy().astype(float)
    sd = cells["_sd"].fill_null(np.nan).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan)
        half = t * sd / np.sqrt(n)
    mean = cells["mean"].to_numpy()
    return cells.with_columns(
        pl.lit(outcome).alias("outcome"),
        pl.Series("ci_low", mean - half),
        pl.Series("ci_high", mean + half),
    ).select("outcome", *by, "n", "mean", "ci_low", "ci_high")


def eqao_trend(
    eqao_care: pl.DataFrame,
    by: Sequence[str],
    *,
    school_years: Sequence[str],
    no_eqao_years: Sequence[str],
    baseline_break: str,
) -> pl.DataFrame:
    """EQAO % at standard per assessment, school year and ``by``, with the baseline break marked.

    OSSLT rows count first-time eligible writers only. Years in ``no_eqao_years`` appear as rows
    with ``assessment_status = "no_assessment"`` and null ``n``/statistics (never zero), one per
    assessment and ``by`` level seen in other years.
    """
    frame = eqao_care.filter(
        (pl.col("assessment") != "osslt") | pl.col("first_time").fill_null(False)
    )
    table = rate_table(frame, "at_standard", ["assessment", "school_year", *by]).drop("outcome")
    levels = table.select("assessment", *by).unique()
    gaps = pl.DataFrame(
        {"school_year": [y for y in no_eqao_years if y in school_years]},
        schema={"school_year": pl.Utf8},
    )
    filler = levels.join(gaps, how="cross").join(
        table.select("assessment", "school_year", *by),
        on=["assessment", "school_year", *by],
        how="anti",
        nulls_equal=True,
    )
    filler = filler.with_columns(
        *[
            pl.lit(None, dtype=table.schema[c]).alias(c)
            for c in ("n", "events", "rate", "ci_low", "ci_high")
        ]
    ).select(table.columns)
    table = table.with_columns(pl.lit("assessed").alias("assessment_status"))
    filler = filler.with_columns(pl.lit("no_assessment").alias("assessment_status"))
    out = pl.concat([table, filler])
    return out.with_columns(
        pl.when(pl.col("school_year") >= baseline_break)
        .then(pl.lit("new_baseline"))
        .otherwise(pl.lit("before_break"))
        .alias("series"),
        (pl.col("school_year") == baseline_break).alias("baseline_break"),
    ).sort(["assessment", *by, "school_year"], nulls_last=True)


# Descriptive views: name suffix -> the columns a table is broken down by (after the school year)
VIEWS: dict[str, tuple[str, ...]] = {
    "by_care_status": ("care_status",),
    "by_ever_in_care": ("ever_in_care",),
    "by_grade": ("grade", "care_status"),
    "by_board": ("board_id", "ever_in_care"),
    "by_society": ("society_id", "care_status"),  # child-welfare-involved rows only
}
# ... and the coarser geographies, when the rows carry them (analysis.analyse.Places.tag): the
# region of the board, and the group of the society (child-welfare-involved rows only)
GROUPED_VIEWS: dict[str, tuple[str, ...]] = {
    "by_region": ("region", "ever_in_care"),
    "by_society_group": ("society_group", "care_status"),
}
RATE_VIEWS: tuple[str, ...] = tuple(VIEWS)
MEAN_VIEWS: tuple[str, ...] = ("by_care_status", "by_grade", "by_board", "by_society")
EQAO_VIEWS: tuple[str, ...] = ("by_care_status", "by_ever_in_care", "by_board", "by_society")
_ALL_VIEWS = {**VIEWS, **GROUPED_VIEWS}
RATE_STATS: tuple[str, ...] = ("rate", "ci_low", "ci_high")
MEAN_STATS: tuple[str, ...] = ("mean", "ci_low", "ci_high")

# a table with the arguments ``Release.protect`` needs: (table, dims, numerator or None, stats)
Spec = tuple[pl.DataFrame, list[str], str | None, tuple[str, ...]]


def _in_view(frame: pl.DataFrame, view: str) -> pl.DataFrame:
    """The rows a view describes (society views: the rows with a society)."""
    society = view in ("by_society", "by_society_group")
    return frame.filter(pl.col("society_id").is_not_null()) if society else frame


def _views(base: Sequence[str], grouped: bool) -> tuple[str, ...]:
    return (*base, *GROUPED_VIEWS) if grouped else tuple(base)


def student_year_tables(sy: pl.DataFrame, *, grouped: bool = False) -> dict[str, Spec]:
    """``outcomes_<view>`` (binary outcomes, rates) and ``means_<view>`` (attendance rate and
    credits, means) of ``student_year_outcomes`` rows, by school year and :data:`VIEWS` (and
    :data:`GROUPED_VIEWS` with ``grouped``)."""
    out: dict[str, Spec] = {}
    for view in _views(RATE_VIEWS, grouped):
        frame, by = _in_view(sy, view), ["school_year", *_ALL_VIEWS[view]]
        table = pl.concat([rate_table(frame, o, by) for o in BINARY_OUTCOMES if o in frame.columns])
        out[f"outcomes_{view}"] = (table, ["outcome", *by], "events", RATE_STATS)
    for view in _views(MEAN_VIEWS, grouped):
        frame, by = _in_view(sy, view), ["school_year", *_ALL_VIEWS[view]]
        table = pl.concat([mean_table(frame, o, by) for o in MEAN_OUTCOMES])
        out[f"means_{view}"] = (table, ["outcome", *by], None, MEAN_STATS)
    return out


def eqao_tables(
    eq: pl.DataFrame,
    *,
    school_years: Sequence[str],
    no_eqao_years: Sequence[str],
    baseline_break: str,
    grouped: bool = False,
) -> dict[str, Spec]:
    """``eqao_<view>``: :func:`eqao_trend` of ``eqao_with_care`` rows by :data:`EQAO_VIEWS`
    (and :data:`GROUPED_VIEWS` with ``grouped``)."""
    kw: dict[str, Any] = {
        "school_years": school_years,
        "no_eqao_years": no_eqao_years,
        "baseline_break": baseline_break,
    }
    out: dict[str, Spec] = {}
    for view in _views(EQAO_VIEWS, grouped):
        by = list(_ALL_VIEWS[view])
        table = eqao_trend(_in_view(eq, view), by, **kw)
        out[f"eqao_{view}"] = (table, ["assessment", "school_year", *by], "events", RATE_STATS)
    return out


def graduation_table(
    student_years: pl.DataFrame,
    eqao: pl.DataFrame,
    school_years: Sequence[str],
    literacy_waived: Sequence[str] = (),
) -> Spec:
    """Graduation within 4 and 5 years (``years``) by cohort and ever in care; graduates of the
    ``literacy_waived`` school years did not need the literacy requirement."""
    grad = graduation_cohorts(student_years, eqao, school_years, literacy_waived)
    g = (
        pl.concat(
            [
                rate_table(grad, f"graduated_{k}y", ["cohort", "ever_in_care"]).with_columns(
                    pl.lit(k).alias("years")
                )
                for k in (4, 5)
            ]
        )
        .drop("outcome")
        .select("cohort", "years", "ever_in_care", "n", "events", "rate", "ci_low", "ci_high")
    )
    return g, ["cohort", "years", "ever_in_care"], "events", RATE_STATS


def descriptive_tables(
    student_years: pl.DataFrame,
    eqao: pl.DataFrame,
    *,
    school_years: Sequence[str],
    no_eqao_years: Sequence[str],
    baseline_break: str,
    frames: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    literacy_waived: Sequence[str] = (),
    grouped: bool = False,
) -> dict[str, Spec]:
    """All descriptive outcome tables, each with the arguments ``Release.protect`` needs.

    ``frames``: ``student_year_outcomes(student_years, eqao)`` and
    ``eqao_with_care(eqao, student_years)`` (or wider rows), when already built.
    ``literacy_waived``: the school years whose graduates did not need the literacy requirement.
    ``grouped``: also by region and group of societies (the rows carry ``region`` and
    ``society_group``, :meth:`analysis.analyse.Places.tag`).

    Returns
    -------
    dict
        ``name -> (table, dims, numerator column or None, stats)``; ``n`` is the count column.
    """
    if frames is None:
        sy = student_year_outcomes(student_years, eqao)
        eq = eqao_with_care(eqao, student_years)
    else:
        sy, eq = frames
    return {
        **student_year_tables(sy, grouped=grouped),
        **eqao_tables(
            eq,
            school_years=school_years,
            no_eqao_years=no_eqao_years,
            baseline_break=baseline_break,
            grouped=grouped,
        ),
        "graduation_by_ever_in_care": graduation_table(
            student_years, eqao, school_years, literacy_waived
        ),
    }
