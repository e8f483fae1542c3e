"""The published measures, defined once: what the analysis publishes and the generator checks.

The analysis computes them from the de-identified dataset (:mod:`analysis.analyse.outcomes`,
:mod:`analysis.analyse.indicators` re-export them); the synthetic generator computes the same
functions on its ground truth to write ``calibration.json`` (what the reports will show, at this
scale and seed, against the published figures). Inputs are frames shaped like the analytic tables
(``docs/data-contract.md``).

Education measures (this module; the five child-welfare indicators: :mod:`analysis.domain.indicators`):

- attendance rate: ``1 - days_absent / days_enrolled`` (null when no days enrolled);
- chronic absence: missed 10% or more of the days enrolled;
- on track: 16 or more credits earned in grades 9 and 10, evaluated on the Grade 10 row of a
  student whose Grade 9 year is in the panel (null otherwise);
- OSSLT first-time pass: among first-time eligible students who participated;
- graduation within 4 (5) years: of the students who started Grade 9 in a panel year, those who
  had 30 credits and met the literacy requirement (an OSSLT pass, or graduating in a year when the
  requirement was waived) by the end of their 4th (5th) year; only cohorts whose 4th (5th) year is
  in the panel. The extract has no diploma flag, so this is a proxy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

Z95 = 1.959963984540054
CHRONIC_ABSENCE_SHARE = 0.10
ON_TRACK_CREDITS = 16.0
GRADUATION_CREDITS = 30.0
HIGH_SCHOOL_GRADES: tuple[str, ...] = ("9", "10", "11", "12")


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


def attendance_rate() -> pl.Expr:
    """Share of the days enrolled attended (null when no days enrolled)."""
    return (
        pl.when(pl.col("days_enrolled") > 0)
        .then(1.0 - pl.col("days_absent").cast(pl.Float64) / pl.col("days_enrolled"))
        .otherwise(None)
    )


def chronic_absent() -> pl.Expr:
    """Missed ``CHRONIC_ABSENCE_SHARE`` (10%) of the days enrolled or more (null when none)."""
    return (
        pl.when(pl.col("days_enrolled") > 0)
        .then(pl.col("days_absent") >= CHRONIC_ABSENCE_SHARE * pl.col("days_enrolled"))
        .otherwise(None)
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
        attendance_rate().alias("attendance_rate"),
        chronic_absent().alias("chronic_absent"),
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


def graduation_cohorts(
    student_years: pl.DataFrame,
    eqao: pl.DataFrame,
    school_years: Sequence[str],
    literacy_waived: Sequence[str] = (),
) -> pl.DataFrame:
    """One row per student who started Grade 9 in the panel, with graduation proxies.

    A student graduates in the first year by whose end they have 30 credits and meet the literacy
    requirement: an OSSLT pass in that year or before, or graduating in a year of
    ``literacy_waived`` (school years whose graduates did not need it). Students who leave the
    panel count as not graduated.

    Columns: ``study_id``, ``cohort`` (school year of Grade 9), ``ever_in_care`` (at any point in
    the panel up to the cohort's last observed year), ``care_status_g9``, ``graduated_4y``,
    ``graduated_5y`` (null when the panel ends before that year).
    """
    order = {y: i for i, y in enumerate(school_years)}
    waived = [order[y] for y in literacy_waived if y in order]
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
    # each of the cohort's years: credits so far, and whether the student graduates by its end
    literacy = (pl.col("_t_pass").is_not_null() & (pl.col("_t_pass") <= pl.col("_t"))) | pl.col(
        "_t"
    ).is_in(waived)
    rows = (
        sy.join(start.select("study_id", "_t0"), on="study_id")
        .filter(pl.col("_t") >= pl.col("_t0"))
        .join(passes, on="study_id", how="left")
        .with_columns(
            pl.col("credits_earned")
            .fill_null(0)
            .cum_sum()
            .over("study_id", order_by="_t")
            .alias("_cum")
        )
        .with_columns(((pl.col("_cum") >= GRADUATION_CREDITS) & literacy).alias("_done"))
    )
    out = start
    for k in (4, 5):
        agg = (
            rows.filter(pl.col("_t") <= pl.col("_t0") + k - 1)
            .group_by("study_id")
            .agg(
                pl.col("_done").any().alias(f"_grad{k}"),
                pl.col("ever_in_care").any().alias(f"_eic{k}"),
            )
        )
        out = out.join(agg, on="study_id", how="left")
    exprs = [
        pl.when(pl.col("_t0") + k - 1 <= last_t)
        .then(pl.col(f"_grad{k}").fill_null(False))
        .otherwise(None)
        .alias(f"graduated_{k}y")
        for k in (4, 5)
    ]
    return out.with_columns(
        *exprs, pl.coalesce(pl.col("_eic5"), pl.col("_eic4")).fill_null(False).alias("ever_in_care")
    ).select("study_id", "cohort", "care_status_g9", "ever_in_care", "graduated_4y", "graduated_5y")
