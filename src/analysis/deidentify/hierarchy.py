"""The generalisation hierarchies: one :class:`Step` per level, least useful first."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analysis.deidentify.geography import society_regions
from analysis.deidentify.policy import BIRTH_YEAR_BANDS
from analysis.domain.vocab import GENDER_IDENTITY_GROUP, PROVINCE, RACE_GROUP


@dataclass(frozen=True)
class Step:
    """One level of a generalisation hierarchy.

    ``value`` computes the generalised value of ``column`` for every row (from columns that stay
    unchanged, e.g. the original birth year); the step writes it to the rows it applies to:
    every row (``scope="global"``, a recoding by policy) or only the rows of classes still
    below the thresholds (``scope="local"``, with all rows of the same entity). Rows whose
    ``column`` is null keep null (unknown stays unknown). ``value`` must be computed row by row
    (it is evaluated once per distinct combination of the columns it reads).
    """

    name: str
    column: str
    value: pl.Expr
    scope: str = "local"  # "global" | "local"


def birth_year_band(year: pl.Expr, width: int) -> pl.Expr:
    """Birth year -> ``"2004-2006"`` (bands aligned on multiples of ``width``); ``"2005"`` for 1."""
    if width == 1:
        return year.cast(pl.String)
    lo = (year.cast(pl.Int32) // width) * width
    return pl.format("{}-{}", lo, lo + width - 1)


def _recode(col: str, mapping: dict[str, str]) -> pl.Expr:
    return pl.col(col).replace_strict(mapping, default=None, return_dtype=pl.String)


def student_year_steps() -> tuple[Step, ...]:
    """The ``student_years`` hierarchy, least analytically useful generalisation first."""
    return (
        Step("race -> race_group", "race_group", _recode("race_group", RACE_GROUP), "global"),
        Step(
            "gender_identity -> 4 groups",
            "gender_identity",
            _recode("gender_identity", GENDER_IDENTITY_GROUP),
            "global",
        ),
        Step("region -> province", "region", pl.lit(PROVINCE)),
        *(
            Step(
                f"birth_year -> {w}-year band",
                "birth_year_band",
                birth_year_band(pl.col("birth_year"), w),
            )
            for w in BIRTH_YEAR_BANDS
        ),
    )


def cw_person_steps(societies: pl.DataFrame) -> tuple[Step, ...]:
    """The ``cw_persons`` hierarchy, least analytically useful generalisation first."""
    region = society_regions(societies)
    w3, w6 = BIRTH_YEAR_BANDS
    by = pl.col("birth_year")
    return (
        Step(
            "gender_identity -> 4 groups",
            "gender_identity",
            _recode("gender_identity", GENDER_IDENTITY_GROUP),
            "global",
        ),
        Step("society -> its region", "society_area", _recode("society_area", region)),
        Step("race -> race_group", "race", _recode("race", RACE_GROUP)),
        Step(f"birth_year -> {w3}-year band", "birth_year_band", birth_year_band(by, w3)),
        Step("region -> province", "society_area", pl.lit(PROVINCE)),
        Step(f"birth_year -> {w6}-year band", "birth_year_band", birth_year_band(by, w6)),
    )
