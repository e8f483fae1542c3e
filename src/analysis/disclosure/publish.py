"""The published frame of a table: suppressed values nulled, rounding, and the symbol columns.

With ``round_base`` set, published counts and numerators are rounded to the nearest multiple (half
up) after suppression; stats are left as computed. Symbols: ``c`` suppressed, ``z`` not applicable
(no people in the cell), ``x`` not available (null in the input), ``""`` published.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from analysis.config import Privacy
from analysis.disclosure.protected import (
    SYMBOL_NOT_APPLICABLE,
    SYMBOL_NOT_AVAILABLE,
    SYMBOL_SUPPRESSED,
)


def _round(values: np.ndarray, base: int) -> np.ndarray:
    return np.floor(values / base + 0.5) * base


def publish(
    table: pl.DataFrame,
    count: str,
    numerator: str | None,
    stats: tuple[str, ...],
    counts: np.ndarray,
    nums: np.ndarray | None,
    count_supp: np.ndarray,
    num_supp: np.ndarray,
    round_base: int | None,
    hide: Mapping[str, np.ndarray] | None = None,
    count_level: tuple[str, ...] = (),
) -> pl.DataFrame:
    """``table`` with its values as published and a ``<col>__symbol`` column for each.

    ``hide``: stat column -> rows where it is suppressed besides the suppressed cells (an amount
    chosen as a complement by the release-wide suppression, or a ratio of a hidden amount).
    ``count_level``: stats that describe what the count counts (hidden with the count, not
    with the numerator).
    """
    zero = counts == 0
    out = table
    shown = np.where(count_supp, np.nan, counts)
    if round_base:
        shown = _round(shown, round_base)
    out = out.with_columns(
        pl.Series(count, shown, dtype=pl.Float64).fill_nan(None).cast(pl.Int64),
        pl.Series(f"{count}__symbol", np.where(count_supp, SYMBOL_SUPPRESSED, ""), dtype=pl.String),
    )
    hide_rest = num_supp if numerator else count_supp
    if numerator and nums is not None:
        ny = np.where(hide_rest | zero, np.nan, nums)
        if round_base:
            ny = _round(ny, round_base)
        sym = np.where(hide_rest, SYMBOL_SUPPRESSED, np.where(zero, SYMBOL_NOT_APPLICABLE, ""))
        out = out.with_columns(
            pl.Series(numerator, ny, dtype=pl.Float64).fill_nan(None).cast(pl.Int64),
            pl.Series(f"{numerator}__symbol", sym, dtype=pl.String),
        )
    for s in stats:
        col = table[s]
        missing = col.is_null().to_numpy()
        if col.dtype.is_float():
            missing = missing | col.is_nan().fill_null(False).to_numpy()
        extra = (hide or {}).get(s)
        base = count_supp if s in count_level else hide_rest
        rows_hidden = base if extra is None else (base | extra)
        sym = np.where(
            rows_hidden,
            SYMBOL_SUPPRESSED,
            np.where(zero, SYMBOL_NOT_APPLICABLE, np.where(missing, SYMBOL_NOT_AVAILABLE, "")),
        )
        keep = pl.Series(sym == "")
        out = out.with_columns(
            pl.when(keep).then(pl.col(s)).otherwise(None).alias(s),
            pl.Series(f"{s}__symbol", sym, dtype=pl.String),
        )
    return out


def notes(privacy: Privacy) -> tuple[str, ...]:
    """The notes every protected table carries: what its symbols mean, and any rounding."""
    out = [
        f"c: suppressed to protect groups of fewer than {privacy.min_cell} people",
        "z: not applicable (no people in the group)",
        "x: not available",
    ]
    if privacy.round_base:
        out.append(f"counts rounded to the nearest {privacy.round_base}")
    return tuple(out)
