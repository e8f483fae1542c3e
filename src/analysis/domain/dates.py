"""Dates the study is defined by: the extract's end, school years and fiscal years.

The panel's school years, the years without EQAO and the OnLAC ages are configuration
(``Config.school_years``, ``Config.no_eqao_years``, ``Config.indicators``); what is here is the
calendar the sources share.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

# The day the three extracts were taken: nothing after it is observed.
EXTRACT_END = dt.date(2023, 8, 31)
EPOCH = dt.date(1970, 1, 1)


def days_since_epoch(d: dt.date) -> int:
    return (d - EPOCH).days


def school_year_dates(sy: str) -> tuple[dt.date, dt.date]:
    """(first day, last day) of school year ``"2017-18"``: 1 September to 30 June."""
    y = int(sy[:4])
    return dt.date(y, 9, 1), dt.date(y + 1, 6, 30)


def school_year_bounds(sy: str) -> tuple[int, int]:
    """:func:`school_year_dates` as days since 1970-01-01."""
    first, last = school_year_dates(sy)
    return days_since_epoch(first), days_since_epoch(last)


def year_label(y: pl.Expr) -> pl.Expr:
    """Starting year -> ``"2017-18"``."""
    return pl.format("{}-{}", y, ((y + 1) % 100).cast(pl.String).str.zfill(2))


def fiscal_year(col: str) -> pl.Expr:
    """Date column -> fiscal year string ``"2017-18"`` (1 April - 31 March)."""
    y = pl.col(col).dt.year() - (pl.col(col).dt.month() < 4).cast(pl.Int32)
    return year_label(y)


def fiscal_year_end(fy: str) -> dt.date:
    """Last day (31 March) of fiscal year ``"2017-18"``."""
    return dt.date(int(fy[:4]) + 1, 3, 31)
