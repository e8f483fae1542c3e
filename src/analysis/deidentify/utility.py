"""What generalisation kept: shares of rows keeping each dimension (``*_utility`` in
``risk.json``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from analysis.domain.vocab import PROVINCE


def _share(df: pl.DataFrame, expr: pl.Expr) -> float | None:
    return round(float(df.select(expr.fill_null(False).mean()).item()), 4) if df.height else None


def student_year_utility(sy: pl.DataFrame) -> dict[str, Any]:
    """Shares of child-welfare-involved student-years keeping each equity/QI dimension."""
    cw = sy.filter(pl.col("cw_involved"))
    return {
        "rows": cw.height,
        "race_group_kept": _share(cw, pl.col("race_group").is_not_null()),
        "gender_identity_kept": _share(cw, pl.col("gender_identity").is_not_null()),
        "birth_year_band_kept": _share(cw, pl.col("birth_year_band").is_not_null()),
        "birth_year_exact": _share(cw, pl.col("birth_year").is_not_null()),
        "region_kept": _share(cw, pl.col("region").is_not_null() & (pl.col("region") != PROVINCE)),
        "gender_kept": _share(cw, pl.col("gender").is_not_null()),
    }


def cw_person_utility(cw: pl.DataFrame) -> dict[str, Any]:
    """Shares of child-welfare persons keeping each dimension."""
    return {
        "rows": cw.height,
        "birth_year_band_kept": _share(cw, pl.col("birth_year_band").is_not_null()),
        "birth_year_exact": _share(cw, pl.col("birth_year").is_not_null()),
        "gender_identity_kept": _share(cw, pl.col("gender_identity").is_not_null()),
        "race_kept": _share(cw, pl.col("race").is_not_null()),
        "race_detailed": _share(
            cw,
            pl.col("race").is_not_null()
            & ~pl.col("race").is_in(["other_racialized", "not_stated"]),
        ),
        "society_id_kept": _share(cw, pl.col("society_id").is_not_null()),
        "society_region_kept": _share(
            cw, pl.col("society_region").is_not_null() & (pl.col("society_region") != PROVINCE)
        ),
    }
