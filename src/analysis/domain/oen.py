"""The Ontario Education Number: 9 digits, the last a check digit (one rule for the whole project).

The OEN's real check-digit rule is not public (BRIEF.md s.1); the synthetic OEN uses Luhn
(ISO/IEC 7812-1), documented in the codebook. Generation (:func:`luhn_check_digit`), validation
(:mod:`analysis.domain.schemas`) and linkage (:func:`analysis.linkage.standardise.clean_oen`) all
use the two functions here.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def luhn_check_digit(base: np.ndarray) -> np.ndarray:
    """Luhn check digit for each 8-digit integer in ``base`` (vectorised)."""
    rest = np.asarray(base).astype(np.int64)
    total = np.zeros(rest.shape, dtype=np.int64)
    for k in range(8):  # k = 0 is the rightmost payload digit, which is doubled
        rest, d = np.divmod(rest, 10)
        if k % 2 == 0:
            d = d * 2
            d -= 9 * (d > 9)
        total += d
    return (10 - total % 10) % 10


def oen_is_valid(oen: pl.Expr) -> pl.Expr:
    """Polars expression: the string is 9 digits whose last is the Luhn digit of the first 8.

    Null in, null out (a missing OEN is not an invalid one).
    """
    s = oen
    ok_shape = s.str.contains(r"^\d{9}$")
    d = [s.str.slice(i, 1).cast(pl.Int32, strict=False) for i in range(9)]
    total = pl.lit(0)
    for i in range(8):  # i = 0 leftmost; rightmost payload digit (i = 7) is doubled
        v = d[i] * 2 if (7 - i) % 2 == 0 else d[i]
        total = total + pl.when(v > 9).then(v - 9).otherwise(v)
    return ok_shape & (((10 - total % 10) % 10) == d[8])
