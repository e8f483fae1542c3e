"""Family protection cases (``cpin_cases``): closed investigations and ongoing protection cases
of each society in each fiscal year, and whether a new investigation followed within a year
(performance indicators 1 and 2).

Each society's recurrence rate differs a little from the provincial one; a recurrence after the
extract end is not observed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain.dates import EXTRACT_END, days_since_epoch

# (case kind, cases a year = investigations a year // this, recurrence within a year)
CASE_KINDS = (("investigation", 1, 0.15), ("ongoing_protection", 5, 0.185))


def protection_cases(
    cfg: Config, rng: np.random.Generator, societies: pl.DataFrame
) -> pl.DataFrame:
    """``cpin_cases`` for the fiscal years starting in each year of ``cfg.school_years``."""
    soc = societies["society_id"].to_numpy()
    w = societies["size_weight"].to_numpy()
    w = w / w.sum()
    per_year = max(200, int(cfg.size.cw_children * 1.6))
    rows = []
    fy0 = int(cfg.school_years[0][:4])
    soc_shift = rng.normal(0, 0.03, size=len(soc))
    for k in range(len(cfg.school_years)):
        # fiscal year: 1 April to 31 March
        lo = days_since_epoch(dt.date(fy0 + k, 4, 1))
        hi = days_since_epoch(dt.date(fy0 + k + 1, 3, 31))
        for kind, div, p_rec in CASE_KINDS:
            rows.append(_cases_closed(rng, soc, w, soc_shift, kind, per_year // div, p_rec, lo, hi))
    df = pl.concat(rows)
    order = np.argsort(rng.random(df.height))
    df = df[order]
    return (
        df.with_columns(
            pl.format("CASE{}", pl.int_range(1, df.height + 1).cast(pl.Utf8).str.zfill(8)).alias(
                "case_id"
            ),
            pl.from_epoch(pl.col("closed_days"), time_unit="d").alias("closed_date"),
            pl.when(pl.col("has"))
            .then(pl.from_epoch(pl.col("recurrence_days"), time_unit="d"))
            .otherwise(None)
            .alias("recurrence_date"),
            pl.when(pl.col("has"))
            .then(pl.col("recurrence_verified"))
            .otherwise(None)
            .alias("recurrence_verified"),
        )
        .select(
            "case_id",
            "society_id",
            "case_kind",
            "closed_date",
            "recurrence_date",
            "recurrence_verified",
        )
        .sort("case_id")
    )


def _cases_closed(
    rng: np.random.Generator,
    soc: np.ndarray,
    w: np.ndarray,
    soc_shift: np.ndarray,
    kind: str,
    n_k: int,
    p_rec: float,
    lo: int,
    hi: int,
) -> pl.DataFrame:
    """``n_k`` cases of ``kind`` closed in days ``[lo, hi]`` and their recurrences."""
    si = rng.choice(len(soc), size=n_k, p=w)
    closed = rng.integers(lo, hi + 1, size=n_k)
    p = np.clip(p_rec + soc_shift[si], 0.01, 0.9)
    within = rng.random(n_k) < p
    later = (~within) & (rng.random(n_k) < 0.25)
    days = np.where(
        within,
        rng.integers(1, 366, size=n_k),
        np.where(later, rng.integers(366, 1500, size=n_k), -1),
    )
    rec = closed + days
    has = (days > 0) & (rec <= days_since_epoch(EXTRACT_END))
    return pl.DataFrame(
        {
            "society_id": soc[si],
            "case_kind": kind,
            "closed_days": closed,
            "recurrence_days": np.where(has, rec, -1),
            "recurrence_verified": np.where(has, rng.random(n_k) < 0.4, False),
            "has": has,
        }
    )
