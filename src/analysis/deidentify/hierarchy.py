"""The generalisation hierarchies: one :class:`Step` per level, least useful first."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analysis.deidentify.geography import board_regions, society_regions
from analysis.deidentify.policy import BIRTH_YEAR_BANDS
from analysis.deidentify.threat import STUDENT_YEAR_SETS
from analysis.domain.vocab import GENDER_IDENTITY_GROUP, PROVINCE, RACE_GROUP


@dataclass(frozen=True)
class Step:
    """One level of a generalisation hierarchy.

    ``value`` computes the generalised value of ``column`` for every row (from columns that stay
    unchanged, e.g. the original birth year); the step writes it to the rows it applies to:
    every row (``scope="global"``, a recoding by policy) or only the rows of classes still
    below the thresholds (``scope="local"``, with all rows of the same entity). Rows whose
    ``column`` is null keep null (unknown stays unknown). ``value`` must be computed row by row
    (it is evaluated once per distinct combination of the columns it reads). ``value=None`` is
    a local suppression (the value becomes null). ``sets``: the quasi-identifier sets
    (:class:`analysis.deidentify.threat.QISet` names) whose failing classes a local step
    serves, when several are enforced together (empty: all of them).
    """

    name: str
    column: str
    value: pl.Expr | None
    scope: str = "local"  # "global" | "local"
    sets: tuple[str, ...] = ()
    # a local suppression then completes each cell's small class of blanks with the cell's
    # smallest other classes, where that blanks at most ``complete_ratio`` values per value it
    # protects (None: however many it takes)
    complete_ratio: float | None = None
    # give the value back where the suppression left its class failing anyway (a later step can
    # hold that class with the value kept: the board's region, for a lone gender)
    revert_futile: bool = False


def birth_year_band(year: pl.Expr, width: int) -> pl.Expr:
    """Birth year -> ``"2004-2006"`` (bands aligned on multiples of ``width``); ``"2005"`` for 1."""
    if width == 1:
        return year.cast(pl.String)
    lo = (year.cast(pl.Int32) // width) * width
    return pl.format("{}-{}", lo, lo + width - 1)


def _recode(col: str, mapping: dict[str, str]) -> pl.Expr:
    return pl.col(col).cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.String)


# a suppression of a column the analysis reads completes a cell's blanks only where that blanks at
# most this many values per value it hides: a lone value (a gender "another" in a board's grade)
# is not hidden by blanking the gender of a whole grade, but left to the later steps
COMPLETE_RATIO = 3.0


def student_year_steps(boards: pl.DataFrame, societies: pl.DataFrame) -> tuple[Step, ...]:
    """The ``student_years`` hierarchy for the three sets enforced together
    (:data:`analysis.deidentify.threat.STUDENT_YEAR_SETS`), least analytically useful first.

    Nothing the analysis reads goes before what it does not: birth year and the home region
    (read by no analysis: grade carries age, the board carries place) are generalised and then
    suppressed first; then gender identity, gender and race group (equity dimensions and model
    covariates), each only where a class still fails; the society and, last, the board are
    generalised to their region only where no other step was enough (the society and board
    reports, and the models' board terms, need them), in ``student_years`` and, for the board,
    in ``eqao`` too.
    """
    school, community, cw = (s.name for s in STUDENT_YEAR_SETS)
    every = (school, community, cw)
    return (
        Step("race -> race_group", "race_group", _recode("race_group", RACE_GROUP), "global"),
        Step(
            "gender_identity -> 4 groups",
            "gender_identity",
            _recode("gender_identity", GENDER_IDENTITY_GROUP),
            "global",
        ),
        Step("region -> province", "region", pl.lit(PROVINCE), sets=(school, community)),
        *(
            Step(
                f"birth_year -> {w}-year band",
                "birth_year_band",
                birth_year_band(pl.col("birth_year"), w),
                sets=every,
            )
            for w in BIRTH_YEAR_BANDS
        ),
        Step("suppress birth_year_band", "birth_year_band", None, sets=every),
        Step("suppress region", "region", None, sets=(school, community)),
        # no report reads the society of a student-year (society reports are the indicators,
        # from the child-welfare tables), while the ministry report's equity views read race
        # and gender identity: the society is generalised before they are suppressed
        Step(
            "society -> its region",
            "society_area",
            _recode("society_area", society_regions(societies)),
            sets=(cw,),
        ),
        Step(
            "suppress gender_identity",
            "gender_identity",
            None,
            sets=(community, cw),
            complete_ratio=COMPLETE_RATIO,
        ),
        Step("society region -> province", "society_area", pl.lit(PROVINCE), sets=(cw,)),
        Step(
            "suppress race_group",
            "race_group",
            None,
            sets=(community, cw),
            complete_ratio=COMPLETE_RATIO,
        ),
        Step(
            "suppress gender",
            "gender",
            None,
            sets=(school,),
            complete_ratio=COMPLETE_RATIO,
            revert_futile=True,
        ),
        Step(
            "board -> its region",
            "board_area",
            _recode("board_area", board_regions(boards)),
            sets=(school,),
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
