"""The five MCCSS child-welfare performance indicators, as published tables.

The indicators themselves are defined once in :mod:`analysis.domain.indicators` (the generator
checks its calibration with the same functions) and re-exported here; this module adds the
provincial trend and the set of tables the ``analyse`` stage publishes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from analysis.analyse.outcomes import Spec
from analysis.domain.indicators import (
    CUSTOMARY,
    EXTRACT_END,
    HORIZONS_MONTHS,
    PLACEMENT_GROUPS,
    TOTAL,
    caregiver_relationship,
    days_by_fiscal_year,
    exits_within,
    fiscal_year_end,
    horizon_days,
    no_recurrence,
    placement_days,
)

__all__ = [
    "CUSTOMARY",
    "EXTRACT_END",
    "HORIZONS_MONTHS",
    "PLACEMENT_GROUPS",
    "TOTAL",
    "all_indicators",
    "caregiver_relationship",
    "days_by_fiscal_year",
    "exits_within",
    "fiscal_year_end",
    "horizon_days",
    "no_recurrence",
    "placement_days",
    "trend",
]


def trend(
    table: pl.DataFrame, year_col: str, value: str, weight: str = "n", by: Sequence[str] = ()
) -> pl.DataFrame:
    """Provincial linear trend of ``value`` per year (weighted least squares on the ``Total`` rows).

    Returns ``by`` columns, ``slope_per_year``, ``first_year``, ``last_year``, ``n_years``.
    """
    prov = table.filter(pl.col("society_id") == TOTAL).drop_nulls(value)
    recs = []
    groups = prov.partition_by(list(by), as_dict=True) if by else {(): prov}
    for key, g in groups.items():
        if g.height < 2:
            continue
        g = g.sort(year_col)
        x = np.array([int(str(y)[:4]) for y in g[year_col]], dtype=float)
        y = g[value].to_numpy().astype(float)
        w = g[weight].to_numpy().astype(float)
        xm = np.average(x, weights=w)
        slope = float(
            np.sum(w * (x - xm) * (y - np.average(y, weights=w))) / np.sum(w * (x - xm) ** 2)
        )
        recs.append(
            {
                **dict(zip(by, key, strict=True)),
                "slope_per_year": slope,
                "first_year": g[year_col][0],
                "last_year": g[year_col][-1],
                "n_years": g.height,
            }
        )
    return pl.DataFrame(recs)


def all_indicators(
    cases: pl.DataFrame,
    care_days: pl.DataFrame,
    admissions: pl.DataFrame,
    onlac: pl.DataFrame,
    *,
    recurrence_definition: str = "new_investigation",
    recurrence_window_days: int = 365,
    onlac_ages: tuple[int, int] = (10, 17),
    onlac_min_days_in_care: int = 365,
    fiscal_years: Sequence[str] | None = None,
    groupings: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Spec]:
    """The five indicators as ``name -> (table, dims, numerator, stats)`` for ``Release.protect``.

    ``fiscal_years``: the fiscal years published (the study's; by default every year in the
    data). Years outside the study are incompletely observed: only the children and cases of the
    extract, which holds those served in the study's years.

    ``groupings``: ``{dim: {society_id: group}}`` (a society's region, its group of societies):
    each indicator is published by that dim too, as ``<name>_by_<dim>``, computed the same way
    with each society's records counted in its group (a child served by two societies of one
    region is one child of that region).
    """
    kw = {"definition": recurrence_definition, "window_days": recurrence_window_days}
    if fiscal_years is not None:
        fy = list(fiscal_years)
        cases = cases.filter(pl.col("closed_fiscal_year").is_in(fy))
        care_days = care_days.filter(pl.col("fiscal_year").is_in(fy))
        admissions = admissions.filter(pl.col("admission_fiscal_year").is_in(fy))
        onlac = onlac.filter(pl.col("fiscal_year").is_in(fy))
    tables = _indicator_tables(
        cases, care_days, admissions, onlac, kw, onlac_ages, onlac_min_days_in_care
    )
    for dim, of in (groupings or {}).items():

        def regroup(frame: pl.DataFrame, of: Mapping[str, str] = of) -> pl.DataFrame:
            return frame.with_columns(
                pl.col("society_id").replace_strict(of, default=None, return_dtype=pl.Utf8)
            )

        grouped = _indicator_tables(
            regroup(cases),
            regroup(care_days),
            regroup(admissions),
            regroup(onlac),
            kw,
            onlac_ages,
            onlac_min_days_in_care,
        )
        for name, (table, dims, num, stats) in grouped.items():
            tables[f"{name}_by_{dim}"] = (
                table.rename({"society_id": dim}),
                [dim if d == "society_id" else d for d in dims],
                num,
                stats,
            )
    return tables


def _indicator_tables(
    cases: pl.DataFrame,
    care_days: pl.DataFrame,
    admissions: pl.DataFrame,
    onlac: pl.DataFrame,
    kw: Mapping[str, object],
    onlac_ages: tuple[int, int],
    onlac_min_days_in_care: int,
) -> dict[str, Spec]:
    rate = ("rate", "ci_low", "ci_high")
    return {
        "indicator1_no_recurrence_investigation": (
            no_recurrence(cases, "investigation", **kw).drop("case_kind"),  # type: ignore[arg-type]
            ["fiscal_year", "society_id"],
            "events",
            rate,
        ),
        "indicator2_no_recurrence_ongoing": (
            no_recurrence(cases, "ongoing_protection", **kw).drop("case_kind"),  # type: ignore[arg-type]
            ["fiscal_year", "society_id"],
            "events",
            rate,
        ),
        "indicator3_days_by_placement": (
            placement_days(care_days),
            ["fiscal_year", "society_id", "placement_group"],
            "events",
            ("pct_days", "days", "total_days"),
        ),
        "indicator4_exits": (
            exits_within(admissions),
            ["admission_fiscal_year", "society_id", "months"],
            "events",
            rate,
        ),
        "indicator5_caregiver_relationship": (
            caregiver_relationship(onlac, ages=onlac_ages, min_days_in_care=onlac_min_days_in_care),
            ["fiscal_year", "society_id"],
            None,
            ("mean", "ci_low", "ci_high"),
        ),
    }
