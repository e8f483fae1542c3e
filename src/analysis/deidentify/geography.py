"""Where a child lives, coarsened: postal code -> region (or a large enough FSA)."""

from __future__ import annotations

import polars as pl

from analysis.domain.vocab import REGION_OF_LETTER


def region_of_postal(col: str = "postal_code") -> pl.Expr:
    """Postal code -> region by its first letter (M Toronto, K East, L Central, N Southwest,
    P North; anything else null)."""
    return (
        pl.col(col)
        .str.slice(0, 1)
        .str.to_uppercase()
        .replace_strict(REGION_OF_LETTER, default=None, return_dtype=pl.String)
    )


def postal_area(df: pl.DataFrame, min_children: int, col: str = "postal_code") -> pl.Series:
    """FSA where every FSA kept holds at least ``min_children`` distinct rows, else the region.

    Small FSAs fall back to their region, so no published FSA describes fewer than
    ``min_children`` children (``privacy.min_fsa_children``).
    """
    fsa = df[col].str.slice(0, 3).str.to_uppercase()
    counts = fsa.value_counts()
    big = set(counts.filter(pl.col("count") >= min_children)[fsa.name].to_list())
    reg = df.select(region_of_postal(col)).to_series()
    return pl.Series("area", [f if f in big else r for f, r in zip(fsa, reg, strict=True)])


def society_regions(societies: pl.DataFrame) -> dict[str, str]:
    """``society_id -> region`` from the ``societies`` reference table."""
    return dict(zip(societies["society_id"], societies["region"], strict=True))


def board_regions(boards: pl.DataFrame) -> dict[str, str]:
    """``board_id -> region`` from the ``boards`` reference table."""
    return dict(zip(boards["board_id"], boards["region"], strict=True))


def area_region(col: str, regions: dict[str, str]) -> pl.Expr:
    """The region of an area column (a board or society id, a region, ``Ontario`` or null): ids
    map to their region, everything else stays as it is."""
    return pl.col(col).cast(pl.String).replace(regions)


def area_id(col: str, regions: dict[str, str]) -> pl.Expr:
    """The id of an area column where it still is one (null where generalised or suppressed)."""
    c = pl.col(col).cast(pl.String)
    return pl.when(c.is_in(list(regions))).then(c)
