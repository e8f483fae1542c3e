"""The five MCCSS child-welfare performance indicators (BRIEF.md section 4), defined once.

The analysis publishes them from the de-identified dataset (:mod:`analysis.analyse.indicators`
re-exports them); the synthetic generator computes them on its ground truth for
``calibration.json``.

Each function takes an analytic table and returns a long table by fiscal year, provincially
(``society_id == "Total"``, a margin row for the disclosure module) and for each society, with
``n`` (people or cases in the denominator), ``events`` (the numerator) where one exists, and the
statistic with a 95% interval.

1. Safety, investigation: % of family cases closed after investigation with no recurrence within
   ``recurrence_window_days`` (default 365). Recurrence (``cfg.indicators.recurrence_definition``):
   ``new_investigation`` = any new investigation; ``verified_concern`` = the first new
   investigation verified a protection concern (the extract records only the first new
   investigation, so a later verified one is not seen). Only fiscal years whose every case could
   be observed for the whole window after closing (fiscal year end + window <= extract end):
   counting the later years' cases that recurred early, and not those still unobserved, would
   make them look worse. Denominator: cases closed in the fiscal year (that recurred within the
   window or were observed for the whole of it, which all are in an observable year).
2. Safety, ongoing protection: the same for cases closed after ongoing protection services.
3. Permanency, days of care: days in family-based care (foster, kin-in-care, adoption probation),
   group care (group home) and other (independent living, hospital/mental health, youth justice)
   as % of all days of care in the fiscal year; customary care excluded. ``n`` = children with any
   (non-customary) day of care that year, ``events`` = children with a day of that type.
4. Permanency, exits: of children admitted to care in a fiscal year (first admission of a child in
   that year), cumulative % who left within 12, 24 and 36 months; only cohorts whose last
   admission could be observed for the full horizon (fiscal year end + horizon <= extract end).
5. Well-being: mean of the 4 OnLAC caregiver-relationship items summed (0-8) for youth aged
   ``onlac_ages`` in care at least ``onlac_min_days_in_care`` days; one assessment per youth per
   fiscal year (their mean if more than one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats

from analysis.domain.dates import EXTRACT_END, fiscal_year_end, year_label
from analysis.domain.measures import wilson_ci
from analysis.domain.vocab import PLACEMENT_GROUP, SERVICE_IN_CARE

TOTAL = "Total"
# customary care is left out of indicator 3; every other placement type counts in its group
CUSTOMARY = ("customary_care_home",)
PLACEMENT_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(PLACEMENT_GROUP.values()))
HORIZONS_MONTHS: tuple[int, ...] = (12, 24, 36)


def _with_total(frame: pl.DataFrame, by: Sequence[str], aggs: list[pl.Expr]) -> pl.DataFrame:
    """Aggregate per ``by`` (which includes ``society_id``) and add the provincial margin rows."""
    per = frame.group_by(list(by)).agg(aggs)
    others = [b for b in by if b != "society_id"]
    tot = (
        frame.group_by(others).agg(aggs).with_columns(pl.lit(TOTAL).alias("society_id"))
        if others
        else (frame.select(aggs).with_columns(pl.lit(TOTAL).alias("society_id")))
    )
    return pl.concat([per, tot.select(per.columns)]).sort(list(by))


def _rates(df: pl.DataFrame) -> pl.DataFrame:
    low, high = wilson_ci(df["events"].to_numpy(), df["n"].to_numpy())
    return df.with_columns(
        (pl.col("events") / pl.col("n")).alias("rate"),
        pl.Series("ci_low", low),
        pl.Series("ci_high", high),
    )


def no_recurrence(
    cases: pl.DataFrame,
    case_kind: str,
    *,
    definition: str = "new_investigation",
    window_days: int = 365,
) -> pl.DataFrame:
    """Indicators 1 (``case_kind="investigation"``) and 2 (``"ongoing_protection"``).

    Returns
    -------
    pl.DataFrame
        ``fiscal_year``, ``society_id`` (incl. ``Total``), ``n`` cases in the denominator,
        ``events`` cases with no recurrence within the window, ``rate``, ``ci_low``, ``ci_high``.
    """
    if definition not in ("new_investigation", "verified_concern"):
        raise ValueError(f"indicators.recurrence_definition: unknown value {definition!r}")
    # a fiscal year is published only when every case closed in it was observed for the window
    observable = [
        fy
        for fy in cases["closed_fiscal_year"].unique().drop_nulls().to_list()
        if fiscal_year_end(fy) + dt.timedelta(days=window_days) <= EXTRACT_END
    ]
    c = cases.filter(
        (pl.col("case_kind") == case_kind) & pl.col("closed_fiscal_year").is_in(observable)
    )
    within = pl.col("days_to_recurrence").is_not_null() & (
        pl.col("days_to_recurrence") <= window_days
    )
    if definition == "verified_concern":
        within = within & pl.col("recurrence_verified").fill_null(False)
    # eligible: the window was fully observed, or the recurrence it counts happened inside it
    c = c.with_columns(within.alias("_rec")).filter(
        pl.col("_rec") | (pl.col("days_observed") >= window_days)
    )
    c = c.rename({"closed_fiscal_year": "fiscal_year"})
    out = _with_total(
        c,
        ["fiscal_year", "society_id"],
        [
            pl.len().cast(pl.Int64).alias("n"),
            (~pl.col("_rec")).sum().cast(pl.Int64).alias("events"),
        ],
    )
    return _rates(out).with_columns(pl.lit(case_kind).alias("case_kind"))


def days_by_fiscal_year(placements: pl.DataFrame, person: str = "cw_person_id") -> pl.DataFrame:
    """Placement days split by fiscal year (1 April - 31 March): the ``care_days`` rows of each
    ``person``, society, fiscal year and placement type from placements with ``start_date`` and
    an exclusive end ``end_x``."""
    p = placements.with_columns(
        pl.int_ranges(pl.col("start_date").dt.year() - 1, pl.col("end_x").dt.year() + 1).alias("fy")
    ).explode("fy")
    fy_lo = pl.date(pl.col("fy"), 4, 1)
    fy_hi_x = pl.date(pl.col("fy") + 1, 4, 1)
    p = p.with_columns(
        (pl.min_horizontal("end_x", fy_hi_x) - pl.max_horizontal("start_date", fy_lo))
        .dt.total_days()
        .alias("days")
    ).filter(pl.col("days") > 0)
    return (
        p.with_columns(year_label(pl.col("fy")).alias("fiscal_year"))
        .group_by(person, "society_id", "fiscal_year", "placement_type")
        .agg(pl.col("days").sum().cast(pl.Int32))
    )


def placement_days(care_days: pl.DataFrame) -> pl.DataFrame:
    """Indicator 3: % of days of care by placement group (customary care excluded).

    Returns
    -------
    pl.DataFrame
        ``fiscal_year``, ``society_id`` (incl. ``Total``), ``placement_group`` (family|group|other),
        ``n`` children with any day of care, ``events`` children with a day in the group,
        ``days``, ``total_days``, ``pct_days``.
    """
    cd = care_days.filter(~pl.col("placement_type").is_in(CUSTOMARY)).with_columns(
        pl.col("placement_type")
        .cast(pl.Utf8)
        .replace_strict(PLACEMENT_GROUP, default=None, return_dtype=pl.Utf8)
        .alias("placement_group")
    )
    unknown = cd.filter(pl.col("placement_group").is_null()).height
    if unknown:
        raise ValueError(
            f"care_days.parquet: column placement_type: {unknown} rows with an unknown type"
        )
    cd = cd.filter(pl.col("days") > 0)
    totals = _with_total(
        cd,
        ["fiscal_year", "society_id"],
        [
            pl.col("cw_study_id").n_unique().cast(pl.Int64).alias("n"),
            pl.col("days").sum().cast(pl.Int64).alias("total_days"),
        ],
    )
    groups = _with_total(
        cd,
        ["fiscal_year", "society_id", "placement_group"],
        [
            pl.col("cw_study_id").n_unique().cast(pl.Int64).alias("events"),
            pl.col("days").sum().cast(pl.Int64).alias("days"),
        ],
    )
    # every placement group appears in every society-year (0 days when none)
    frame = totals.join(
        pl.DataFrame({"placement_group": list(PLACEMENT_GROUPS)}), how="cross"
    ).join(groups, on=["fiscal_year", "society_id", "placement_group"], how="left")
    return (
        frame.with_columns(pl.col("events").fill_null(0), pl.col("days").fill_null(0))
        .with_columns((100 * pl.col("days") / pl.col("total_days")).alias("pct_days"))
        .select(
            "fiscal_year",
            "society_id",
            "placement_group",
            "n",
            "events",
            "days",
            "total_days",
            "pct_days",
        )
        .sort("fiscal_year", "society_id", "placement_group")
    )


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    day = min(d.day, 30 if m + 1 in (4, 6, 9, 11) else (28 if m + 1 == 2 else 31))
    return dt.date(d.year + y, m + 1, day)


def horizon_days(months: int) -> int:
    """Days in ``months`` months (365.25 / 12 per month, rounded)."""
    return round(months * 365.25 / 12)


def exits_within(admissions: pl.DataFrame, *, extract_end: dt.date = EXTRACT_END) -> pl.DataFrame:
    """Indicator 4: cumulative % of children admitted in a fiscal year who left care within 12, 24
    and 36 months; a cohort appears for a horizon only when fully observed.

    Returns
    -------
    pl.DataFrame
        ``admission_fiscal_year``, ``society_id`` (incl. ``Total``), ``months``, ``n`` children
        admitted, ``events`` who left within the horizon, ``rate``, ``ci_low``, ``ci_high``.
    """
    a = admissions
    if "service_type" in a.columns:
        a = a.filter(pl.col("service_type").is_in(SERVICE_IN_CARE))
    # a child counts once per admission year: their first admission that year (earliest = longest observed)
    a = a.sort("days_observed", descending=True).unique(
        ["cw_study_id", "admission_fiscal_year"], keep="first"
    )
    frames = []
    for months in HORIZONS_MONTHS:
        years = [
            fy
            for fy in a["admission_fiscal_year"].unique().to_list()
            if _add_months(fiscal_year_end(fy), months) <= extract_end
        ]
        h = horizon_days(months)
        sub = a.filter(pl.col("admission_fiscal_year").is_in(years)).with_columns(
            (pl.col("days_to_exit").is_not_null() & (pl.col("days_to_exit") <= h)).alias("_left")
        )
        if sub.height == 0:
            continue
        out = _with_total(
            sub,
            ["admission_fiscal_year", "society_id"],
            [
                pl.len().cast(pl.Int64).alias("n"),
                pl.col("_left").sum().cast(pl.Int64).alias("events"),
            ],
        ).with_columns(pl.lit(months).alias("months"))
        frames.append(out)
    if not frames:
        return pl.DataFrame(
            schema={
                "admission_fiscal_year": pl.Utf8,
                "society_id": pl.Utf8,
                "months": pl.Int32,
                "n": pl.Int64,
                "events": pl.Int64,
                "rate": pl.Float64,
                "ci_low": pl.Float64,
                "ci_high": pl.Float64,
            }
        )
    out = pl.concat(frames).with_columns(pl.col("months").cast(pl.Int32))
    return (
        _rates(out)
        .select(
            "admission_fiscal_year",
            "society_id",
            "months",
            "n",
            "events",
            "rate",
            "ci_low",
            "ci_high",
        )
        .sort("admission_fiscal_year", "society_id", "months")
    )


def caregiver_relationship(
    onlac: pl.DataFrame, *, ages: tuple[int, int] = (10, 17), min_days_in_care: int = 365
) -> pl.DataFrame:
    """Indicator 5: mean caregiver-relationship score (sum of items 1-4, 0-8).

    Returns
    -------
    pl.DataFrame
        ``fiscal_year``, ``society_id`` (incl. ``Total``), ``n`` youth, ``mean``, ``ci_low``,
        ``ci_high`` (t interval).
    """
    items = [f"item_{j}" for j in range(1, 5)]
    o = onlac.filter(
        pl.col("age").is_between(ages[0], ages[1])
        & (pl.col("days_in_care") >= min_days_in_care)
        & pl.all_horizontal([pl.col(c).is_not_null() for c in items])
    ).with_columns(pl.sum_horizontal([pl.col(c).cast(pl.Float64) for c in items]).alias("score"))
    per_youth = o.group_by("cw_study_id", "society_id", "fiscal_year").agg(pl.col("score").mean())
    out = _with_total(
        per_youth,
        ["fiscal_year", "society_id"],
        [
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("score").mean().alias("mean"),
            pl.col("score").std().alias("_sd"),
        ],
    )
    n = out["n"].to_numpy().astype(float)
    sd = out["_sd"].fill_null(np.nan).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan) * sd / np.sqrt(n)
    m = out["mean"].to_numpy()
    return out.with_columns(pl.Series("ci_low", m - half), pl.Series("ci_high", m + half)).drop(
        "_sd"
    )
