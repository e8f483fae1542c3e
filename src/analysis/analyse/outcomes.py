"""Education outcomes per student-year and their descriptive rates by care status.

Reads frames shaped like the analytic dataset (``docs/data-contract.md``) and returns long tables,
one row per published cell: the dimension columns, ``n`` (people in the cell), ``events`` (people
with the outcome) and ``rate``/``ci_low``/``ci_high`` (Wilson 95% interval), ready for
:meth:`analysis.disclosure.Release.protect`. Means (attendance rate, credits) carry ``mean`` and a
t-based interval instead, with no numerator.

Definitions (documented in the codebook):

- attendance rate: ``1 - days_absent / days_enrolled`` (null when no days enrolled);
- chronic absence: missed 10% or more of the days enrolled;
- on track: 16 or more credits earned in grades 9 and 10, evaluated on the Grade 10 row of a
  student whose Grade 9 year is in the panel (null otherwise);
- OSSLT first-time pass: among first-time eligible students who participated;
- graduation within 4 (5) years: of the students who started Grade 9 in a panel year, those who
  had 30 credits and an OSSLT pass by the end of their 4th (5th) year; only cohorts whose 4th
  (5th) year is in the panel. The extract has no diploma flag, so this is a proxy.

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

from analysis.domain.vocab import CARE_PRIORITY, GRADES

Z95 = 1.959963984540054
CHRONIC_ABSENCE_SHARE = 0.10
ON_TRACK_CREDITS = 16.0
GRADUATION_CREDITS = 30.0
CARE_STATUSES: tuple[str, ...] = tuple(CARE_PRIORITY)  # highest priority first
BINARY_OUTCOMES: tuple[str, ...] = ("chronic_absent", "on_track", "osslt_first_time_pass")
MEAN_OUTCOMES: tuple[str, ...] = ("attendance_rate", "credits_earned")
HIGH_SCHOOL_GRADES: tuple[str, ...] = GRADES[GRADES.index("9") :]


def wilson_ci(
    events: np.ndarray | Sequence[float], n: np.ndarray | Sequence[float], z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``events / n``; NaN where ``n == 0``.

    Parameters
    ----------
    events, n
        Counts of people with the outcome and people in the cell.
    z
        Normal quantile (1.96 for 95%).

    Returns
    -------
    (low, high)
        Arrays of interval bounds on the proportion scale.
    """
    x = np.asarray(events, dtype=float)
    m = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / m
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
        low = np.where(m > 0, np.clip(centre - half, 0, 1), np.nan)
        high = np.where(m > 0, np.clip(centre + half, 0, 1), np.nan)
    return low, high


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


def student_year_outcomes(
    student_years: pl.DataFrame, eqao: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Add the per student-year outcomes to ``student_years``.

    Adds ``attendance_rate`` (f64), ``chronic_absent`` (bool), ``on_track`` (bool, Grade 10 rows
    only), ``osslt_first_time_pass`` (bool, when ``eqao`` is given; null unless the student wrote
    the OSSLT for the first time that year) and ``in_care`` (bool).
    """
    # the student's Grade 9 credits and first Grade 9 year, as windows over the student's rows
    g9 = pl.col("grade") == "9"
    c9 = pl.col("credits_earned").filter(g9).sum().over("study_id")
    has9 = g9.any().over("study_id")
    y9 = pl.col("school_year").filter(g9).min().over("study_id")
    sy = student_years.with_columns(
        pl.when(pl.col("days_enrolled") > 0)
        .then(1.0 - pl.col("days_absent").cast(pl.Float64) / pl.col("days_enrolled"))
        .otherwise(None)
        .alias("attendance_rate"),
        pl.when(pl.col("days_enrolled") > 0)
        .then(pl.col("days_absent") >= CHRONIC_ABSENCE_SHARE * pl.col("days_enrolled"))
        .otherwise(None)
        .alias("chronic_absent"),
        (pl.col("care_status") == "in_care").alias("in_care"),
        pl.when(
            (pl.col("grade") == "10")
            & has9
            & pl.col("credits_earned").is_not_null()
            & (y9 < pl.col("school_year"))
        )
        .then(c9 + pl.col("credits_earned") >= ON_TRACK_CREDITS)
        .otherwise(None)
        .alias("on_track"),
    )
    if eqao is not None:
        osslt = (
            eqao.filter(
                (pl.col("assessment") == "osslt")
                & pl.col("first_time").fill_null(False)
                & (pl.col("participation") == "participated")
            )
            .group_by("study_id", "school_year")
            .agg(pl.col("at_standard").any().alias("osslt_first_time_pass"))
        )
        passed = (
            sy.select("study_id", "school_year")
            .join(osslt, on=["study_id", "school_year"], how="left", maintain_order="left")
            .get_column("osslt_first_time_pass")
        )
        sy = sy.with_columns(passed)
    return sy


def eqao_with_care(eqao: pl.DataFrame, student_years: pl.DataFrame) -> pl.DataFrame:
    """EQAO results of participating students, with the student-year's care and equity columns.

    Adds ``assessment_key`` (assessment, plus the Grade 9 stream before the baseline break) used as
    the assessment-by-year stratum in models.
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
        .otherwise(pl.col("assessment").cast(pl.Utf8))
    )
    return out.with_columns(label_per_row(out, ["assessment", "g9_stream"], key, "assessment_key"))


def graduation_cohorts(
    student_years: pl.DataFrame, eqao: pl.DataFrame, school_years: Sequence[str]
) -> pl.DataFrame:
    """One row per student who started Grade 9 in the panel, with graduation proxies.

    Columns: ``study_id``, ``cohort`` (school year of Grade 9), ``ever_in_care`` (at any point in
    the panel up to the cohort's last observed year), ``care_status_g9``, ``graduated_4y``,
    ``graduated_5y`` (null when the panel ends before that year).
    """
    order = {y: i for i, y in enumerate(school_years)}
    sy = student_years.with_columns(
        pl.col("school_year").replace_strict(order, return_dtype=pl.Int32).alias("_t")
    )
    start = (
        sy.filter(pl.col("grade") == "9")
        .sort("_t")
        .group_by("study_id")
        .agg(
            pl.col("_t").first().alias("_t0"),
            pl.col("school_year").first().alias("cohort"),
            pl.col("care_status").first().alias("care_status_g9"),
        )
    )
    # only students whose first high-school year in the panel is Grade 9 (not left-censored)
    first_hs = (
        sy.filter(pl.col("grade").is_in(HIGH_SCHOOL_GRADES))
        .group_by("study_id")
        .agg(pl.col("_t").min().alias("_tf"))
    )
    start = start.join(first_hs, on="study_id").filter(pl.col("_t0") == pl.col("_tf")).drop("_tf")
    passes = (
        eqao.filter((pl.col("assessment") == "osslt") & pl.col("at_standard").fill_null(False))
        .with_columns(
            pl.col("school_year")
            .replace_strict(order, default=None, return_dtype=pl.Int32)
            .alias("_t")
        )
        .group_by("study_id")
        .agg(pl.col("_t").min().alias("_t_pass"))
    )
    last_t = len(school_years) - 1
    rows = sy.join(start.select("study_id", "_t0"), on="study_id").filter(
        pl.col("_t") >= pl.col("_t0")
    )
    out = start
    for k in (4, 5):
        agg = (
            rows.filter(pl.col("_t") <= pl.col("_t0") + k - 1)
            .group_by("study_id")
            .agg(
                pl.col("credits_earned").fill_null(0).sum().alias(f"_cred{k}"),
                pl.col("ever_in_care").any().alias(f"_eic{k}"),
            )
        )
        out = out.join(agg, on="study_id", how="left")
    out = out.join(passes, on="study_id", how="left")
    exprs = []
    for k in (4, 5):
        ok = (pl.col(f"_cred{k}") >= GRADUATION_CREDITS) & (
            pl.col("_t_pass").is_not_null() & (pl.col("_t_pass") <= pl.col("_t0") + k - 1)
        )
        exprs.append(
            pl.when(pl.col("_t0") + k - 1 <= last_t)
            .then(ok.fill_null(False))
            .otherwise(None)
            .alias(f"graduated_{k}y")
        )
    return out.with_columns(
        *exprs, pl.coalesce(pl.col("_eic5"), pl.col("_eic4")).fill_null(False).alias("ever_in_care")
    ).select("study_id", "cohort", "care_status_g9", "ever_in_care", "graduated_4y", "graduated_5y")


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
RATE_VIEWS: tuple[str, ...] = tuple(VIEWS)
MEAN_VIEWS: tuple[str, ...] = ("by_care_status", "by_grade", "by_board", "by_society")
EQAO_VIEWS: tuple[str, ...] = ("by_care_status", "by_ever_in_care", "by_board", "by_society")
RATE_STATS: tuple[str, ...] = ("rate", "ci_low", "ci_high")
MEAN_STATS: tuple[str, ...] = ("mean", "ci_low", "ci_high")

# a table with the arguments ``Release.protect`` needs: (table, dims, numerator or None, stats)
Spec = tuple[pl.DataFrame, list[str], str | None, tuple[str, ...]]


def _in_view(frame: pl.DataFrame, view: str) -> pl.DataFrame:
    """The rows a view describes (society views: the rows with a society)."""
    return frame.filter(pl.col("society_id").is_not_null()) if view == "by_society" else frame


def student_year_tables(sy: pl.DataFrame) -> dict[str, Spec]:
    """``outcomes_<view>`` (binary outcomes, rates) and ``means_<view>`` (attendance rate and
    credits, means) of ``student_year_outcomes`` rows, by school year and :data:`VIEWS`."""
    out: dict[str, Spec] = {}
    for view in RATE_VIEWS:
        frame, by = _in_view(sy, view), ["school_year", *VIEWS[view]]
        table = pl.concat([rate_table(frame, o, by) for o in BINARY_OUTCOMES if o in frame.columns])
        out[f"outcomes_{view}"] = (table, ["outcome", *by], "events", RATE_STATS)
    for view in MEAN_VIEWS:
        frame, by = _in_view(sy, view), ["school_year", *VIEWS[view]]
        table = pl.concat([mean_table(frame, o, by) for o in MEAN_OUTCOMES])
        out[f"means_{view}"] = (table, ["outcome", *by], None, MEAN_STATS)
    return out


def eqao_tables(
    eq: pl.DataFrame,
    *,
    school_years: Sequence[str],
    no_eqao_years: Sequence[str],
    baseline_break: str,
) -> dict[str, Spec]:
    """``eqao_<view>``: :func:`eqao_trend` of ``eqao_with_care`` rows by :data:`EQAO_VIEWS`."""
    kw: dict[str, Any] = {
        "school_years": school_years,
        "no_eqao_years": no_eqao_years,
        "baseline_break": baseline_break,
    }
    out: dict[str, Spec] = {}
    for view in EQAO_VIEWS:
        by = list(VIEWS[view])
        table = eqao_trend(_in_view(eq, view), by, **kw)
        out[f"eqao_{view}"] = (table, ["assessment", "school_year", *by], "events", RATE_STATS)
    return out


def graduation_table(
    student_years: pl.DataFrame, eqao: pl.DataFrame, school_years: Sequence[str]
) -> Spec:
    """Graduation within 4 and 5 years (``years``) by cohort and ever in care."""
    grad = graduation_cohorts(student_years, eqao, school_years)
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
) -> dict[str, Spec]:
    """All descriptive outcome tables, each with the arguments ``Release.protect`` needs.

    ``frames``: ``student_year_outcomes(student_years, eqao)`` and
    ``eqao_with_care(eqao, student_years)`` (or wider rows), when already built.

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
        **student_year_tables(sy),
        **eqao_tables(
            eq,
            school_years=school_years,
            no_eqao_years=no_eqao_years,
            baseline_break=baseline_break,
        ),
        "graduation_by_ever_in_care": graduation_table(student_years, eqao, school_years),
    }
