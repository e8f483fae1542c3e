"""The care rules: which services are care, a child's care status in a school year, days in care.

A child's care status in a school year is the highest-priority service active in it
(``domain.vocab.CARE_PRIORITY``, the three in-care service types counting as ``in_care``);
cumulative days in care count every in-care day up to the end of that year; the placement group is
the one with most placement days in the year. Episode ends are exclusive (``end_x``, see
:func:`analysis.deidentify.persons.end_or_extract`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from analysis.domain.dates import school_year_dates
from analysis.domain.indicators import days_by_fiscal_year
from analysis.domain.vocab import CARE_PRIORITY, PLACEMENT_GROUP, SERVICE_IN_CARE


def in_care() -> pl.Expr:
    """Whether a service episode is care (extended society, interim society or customary care)."""
    return pl.col("service_type").is_in(SERVICE_IN_CARE)


def days_in_care_before(bound: pl.Expr) -> pl.Expr:
    """Days of an in-care episode before the exclusive ``bound`` (0 when it starts later)."""
    return (pl.min_horizontal("end_x", bound) - pl.col("start_date")).dt.total_days().clip(0)


def care_by_year(
    persons: pl.DataFrame, services: pl.DataFrame, placements: pl.DataFrame, years: tuple[str, ...]
) -> pl.DataFrame:
    """Per person and school year: care_status, society, cumulative days in care, placement group."""
    out = []
    for sy in years:
        lo, hi = school_year_dates(sy)
        hi_x = hi + dt.timedelta(days=1)
        out.append(
            persons.select("cw_person_id")
            .join(_status_in_year(services, lo, hi), on="cw_person_id", how="left")
            .join(_cumulative_days_in_care(services, hi, hi_x), on="cw_person_id", how="left")
            .join(_placement_group_in_year(placements, lo, hi, hi_x), on="cw_person_id", how="left")
            .with_columns(pl.lit(sy).alias("school_year"))
        )
    return (
        pl.concat(out)
        .with_columns(
            pl.col("status").fill_null("none").alias("care_status"),
            pl.col("cumulative_days_in_care").fill_null(0).cast(pl.Int32),
        )
        .with_columns(
            pl.when(pl.col("care_status") == "in_care").then(pl.col("placement_group")),
        )
        .drop("status")
    )


def _status_in_year(services: pl.DataFrame, lo: dt.date, hi: dt.date) -> pl.DataFrame:
    """Per person with a service active in [``lo``, ``hi``]: the highest-priority status (ties:
    the latest start) and the society of that service."""
    prio = pl.col("status").replace_strict(CARE_PRIORITY, return_dtype=pl.Int8)
    return (
        services.filter((pl.col("start_date") <= hi) & (pl.col("end_x") > lo))
        .with_columns(
            pl.when(in_care())
            .then(pl.lit("in_care"))
            .otherwise(pl.col("service_type"))
            .alias("status")
        )
        .with_columns(prio.alias("prio"))
        .sort(["cw_person_id", "prio", "start_date"], descending=[False, True, True])
        .group_by("cw_person_id", maintain_order=True)
        .first()
        .select("cw_person_id", "status", pl.col("society_id").alias("service_society"))
    )


def _cumulative_days_in_care(services: pl.DataFrame, hi: dt.date, hi_x: dt.date) -> pl.DataFrame:
    """Per person in care by ``hi``: days in care from the first admission to ``hi`` inclusive."""
    return (
        services.filter(in_care() & (pl.col("start_date") <= hi))
        .with_columns(days_in_care_before(pl.lit(hi_x)).alias("d"))
        .group_by("cw_person_id")
        .agg(pl.col("d").sum().alias("cumulative_days_in_care"))
    )


def _placement_group_in_year(
    placements: pl.DataFrame, lo: dt.date, hi: dt.date, hi_x: dt.date
) -> pl.DataFrame:
    """Per person placed in [``lo``, ``hi``]: the placement group with most days in it (ties: the
    first group by name)."""
    return (
        placements.filter((pl.col("start_date") <= hi) & (pl.col("end_x") > lo))
        .with_columns(
            (pl.min_horizontal("end_x", pl.lit(hi_x)) - pl.max_horizontal("start_date", pl.lit(lo)))
            .dt.total_days()
            .alias("d"),
            pl.col("placement_type").replace_strict(PLACEMENT_GROUP).alias("placement_group"),
        )
        .group_by("cw_person_id", "placement_group")
        .agg(pl.col("d").sum())
        .sort(["cw_person_id", "d", "placement_group"], descending=[False, True, False])
        .group_by("cw_person_id", maintain_order=True)
        .first()
        .select("cw_person_id", "placement_group")
    )


def placement_days(placements: pl.DataFrame) -> pl.DataFrame:
    """Placement days split by fiscal year (1 April - 31 March), per resolved person
    (:func:`analysis.domain.indicators.days_by_fiscal_year`, which the generator's calibration
    check uses too)."""
    return days_by_fiscal_year(placements, person="cw_person_id")
