"""What generalisation kept: the information loss of each table (``*_utility`` in ``risk.json``).

For every quasi-identifier, the share of rows keeping it at full detail (the original value),
generalised (a coarser value: a band, a region, a group) and suppressed (null where the source
had a value), over all rows and over the child-welfare-involved rows the equity analyses read;
measured before and after on the same internal columns, so the difference is what protection
cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from analysis.domain.vocab import PROVINCE


def _share(df: pl.DataFrame, expr: pl.Expr, w: np.ndarray | None = None) -> float | None:
    """Share of rows where ``expr`` holds (each row standing for ``w`` rows)."""
    if not df.height:
        return None
    x = df.select(expr.fill_null(False)).to_series().to_numpy().astype(np.float64)
    if w is None:
        return round(float(x.mean()), 4)
    tot = float(w.sum())
    return round(float((x * w).sum()) / tot, 4) if tot else None


def _is_id(col: str, prefix: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.contains(rf"^{prefix}\d+$")


# per internal column of student_years: "kept at full detail", and "generalised" (a coarser value)
_SY_DETAIL: dict[str, tuple[pl.Expr, pl.Expr | None]] = {
    "board_id": (
        _is_id("board_area", "B"),
        pl.col("board_area").is_not_null() & ~_is_id("board_area", "B"),
    ),
    "grade": (pl.col("grade").is_not_null(), None),
    "gender": (pl.col("gender").is_not_null(), None),
    "birth_year": (
        pl.col("birth_year_band").cast(pl.String) == pl.col("birth_year").cast(pl.String),
        pl.col("birth_year_band").cast(pl.String) != pl.col("birth_year").cast(pl.String),
    ),
    "region": (
        pl.col("region").is_not_null() & (pl.col("region").cast(pl.String) != PROVINCE),
        pl.col("region").cast(pl.String) == PROVINCE,
    ),
}
_SY_CW_DETAIL: dict[str, tuple[pl.Expr, pl.Expr | None]] = {
    "society_id": (
        _is_id("society_area", "S"),
        pl.col("society_area").is_not_null() & ~_is_id("society_area", "S"),
    ),
    "race_group": (pl.col("race_group").is_not_null(), None),
    "gender_identity": (pl.col("gender_identity").is_not_null(), None),
}


def _detail(
    df: pl.DataFrame, w: np.ndarray | None, spec: dict[str, tuple[pl.Expr, pl.Expr | None]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (kept, coarser) in spec.items():
        out[f"{name}_kept"] = _share(df, kept, w)
        if coarser is not None:
            out[f"{name}_generalised"] = _share(df, coarser, w)
    return out


def student_year_utility(states: pl.DataFrame, counts: np.ndarray | None = None) -> dict[str, Any]:
    """Shares of student-years (all, and child-welfare-involved) keeping each quasi-identifier
    at full detail or generalised, on the internal columns (``board_area``, ``society_area``;
    ``states`` each standing for ``counts`` rows)."""
    w = None if counts is None else np.asarray(counts, dtype=np.float64)
    inv = states["cw_involved"].fill_null(False).to_numpy()
    cw_states = states.filter(pl.Series(inv))
    w_cw = None if w is None else w[inv]
    return {
        "rows": int(states.height if w is None else w.sum()),
        "all": _detail(states, w, _SY_DETAIL),
        "cw_involved_rows": int(cw_states.height if w_cw is None else w_cw.sum()),
        "cw_involved": _detail(cw_states, w_cw, {**_SY_DETAIL, **_SY_CW_DETAIL}),
    }


def cw_person_utility(cw: pl.DataFrame) -> dict[str, Any]:
    """Shares of child-welfare persons keeping each dimension (published columns)."""
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
        "study_id_kept": _share(cw, pl.col("study_id").is_not_null()),
    }
