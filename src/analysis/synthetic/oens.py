"""Issuing Ontario Education Numbers to the synthetic students, and writing them as 9 digits.

The check digit is the project's one OEN rule (:mod:`analysis.domain.oen`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.domain.oen import luhn_check_digit
from analysis.synthetic.codes import unique_sorted


def issue_oens(rng: np.random.Generator, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """``n`` distinct 9-digit OENs (8 random digits + Luhn), none equal to one in ``exclude``."""
    draw = unique_sorted(rng.integers(0, 10**8, size=int(n * 1.2) + 100))
    if exclude is not None:
        draw = draw[~np.isin(draw, np.asarray(exclude) // 10, assume_unique=True)]  # payloads
    draw = rng.permutation(draw)[:n]
    full = draw * 10 + luhn_check_digit(draw)
    return full


def oen_series(x: np.ndarray) -> pl.Series:
    """OENs (integers) as 9-digit strings, leading zeros kept."""
    return pl.Series(x, dtype=pl.Int64).cast(pl.Utf8).str.zfill(9)


def oen_or_null(col: str) -> pl.Expr:
    """Integer OEN column ``col`` as 9-digit strings; a negative value (no OEN) becomes null."""
    return pl.when(pl.col(col) >= 0).then(pl.col(col).cast(pl.Utf8).str.zfill(9)).otherwise(None)
