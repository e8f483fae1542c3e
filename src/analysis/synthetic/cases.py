"""Family protection cases (``cpin_cases``): closed investigations and ongoing protection cases
of each society in each fiscal year, and whether a new investigation followed (performance
indicators 1 and 2).

The provincial number of cases closed in each fiscal year is the target
(``calibration.targets.investigations_closed`` and ``ongoing_closed``) at this scale; each society
closes a share of them that follows its size and varies from year to year
(``synthetic.society_volume_cv``). The share followed by a new investigation within a year is one
minus the indicators' targets (``indicator1_no_recurrence``, ``indicator2_no_recurrence``), and
each society's differs from it (``synthetic.society_recurrence_sd``). A recurrence after the
extract end is not observed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from analysis.config import Config, Target
from analysis.domain.dates import EXTRACT_END, days_since_epoch

# (case kind, target of the yearly closings, target of the share with no recurrence)
CASE_KINDS = (
    ("investigation", "investigations_closed", "indicator1_no_recurrence"),
    ("ongoing_protection", "ongoing_closed", "indicator2_no_recurrence"),
)
LATER_RECURRENCE = 0.25  # of cases with no recurrence within a year: a new investigation later


def _by_year(t: Target, fy: str) -> float:
    """The target's value for fiscal year ``fy`` (a single value holds for every year)."""
    if isinstance(t.value, dict):
        if fy not in t.value:
            # a rate given for one year only holds for the others too
            if len(t.value) == 1:
                return next(iter(t.value.values()))
            raise ValueError(f"calibration target: no value for {fy}")
        return t.value[fy]
    return t.value


def protection_cases(
    cfg: Config, rng: np.random.Generator, societies: pl.DataFrame
) -> pl.DataFrame:
    """``cpin_cases`` for the fiscal years starting in each year of ``cfg.school_years``."""
    soc = societies["society_id"].to_numpy()
    w = societies["size_weight"].to_numpy()
    w = w / w.sum()
    targets = cfg.calibration.targets
    s = cfg.synthetic
    rows = []
    fy0 = int(cfg.school_years[0][:4])
    soc_shift = rng.normal(0, s.society_recurrence_sd, size=len(soc))
    cv = s.society_volume_cv
    for k, sy in enumerate(cfg.school_years):
        # fiscal year: 1 April to 31 March
        lo = days_since_epoch(dt.date(fy0 + k, 4, 1))
        hi = days_since_epoch(dt.date(fy0 + k + 1, 3, 31))
        for kind, volume, rate in CASE_KINDS:
            n_k = int(round(_by_year(targets[volume], sy) * cfg.cw_share_of_province))
            p_rec = 1 - _by_year(targets[rate], sy) / 100
            # this year's share of each society: its size, times a yearly gamma factor
            share = w * (rng.gamma(1 / cv**2, cv**2, size=len(soc)) if cv > 0 else 1.0)
            rows.append(
                _cases_closed(
                    rng,
                    soc,
                    share / share.sum(),
                    soc_shift,
                    kind,
                    n_k,
                    p_rec,
                    lo,
                    hi,
                    s.recurrence_verified_share,
                )
            )
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
    verified_share: float,
) -> pl.DataFrame:
    """``n_k`` cases of ``kind`` closed in days ``[lo, hi]`` and their recurrences."""
    si = rng.choice(len(soc), size=n_k, p=w)
    closed = rng.integers(lo, hi + 1, size=n_k)
    p = np.clip(p_rec + soc_shift[si], 0.01, 0.9)
    within = rng.random(n_k) < p
    later = (~within) & (rng.random(n_k) < LATER_RECURRENCE)
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
            "recurrence_verified": np.where(has, rng.random(n_k) < verified_share, False),
            "has": has,
        }
    )
