"""The splink model: comparisons, blocking rules, training and scoring.

Fellegi-Sunter with EM, on DuckDB by default or Spark (:mod:`analysis.linkage.spark`). The same
settings run on both engines; only Levenshtein-family string distances are used, because DuckDB's
Jaro-Winkler and splink's Scala jar disagree on about 1.5% of name pairs (BRIEF.md s.7) and the
engines must give the same links.

Comparisons (levels from most to least similar; gamma values are the level index counted from
the bottom, ``-1`` = null):

=========== ===================================================================================
first_name  exact (term-frequency adjusted) / shared formal name (nickname table) /
            Damerau-Levenshtein <= 1 / first and last names swapped / else (no "<= 2" level:
            short first names two edits apart are different names, and EM drives its m to 0)
last_name   exact (term-frequency adjusted) / a shared part (hyphenated, double or re-ordered
            surname) / Damerau-Levenshtein <= 1 / <= 2 / else
dob         exact (term-frequency adjusted: how many students share a birth date depends on the
            cohort) / day and month swapped / within one day / one year apart, same day and
            month / else
postal      the child-welfare postal code is one of the student's (any school year) / same
            forward sortation area / same postal district (first letter: a family that moved
            usually stays in its region) / the district the record's society serves is one the
            student lived in (the record's postal code points elsewhere) / else
gender      same / different (null when the gender identity has no school equivalent); counted
            only when the first names disagree (see *Recalibration*)
oen         same OEN / the record's valid OEN is no enrolled student's (neutral here: a property
            of the record, weighed in its prior, :func:`analysis.linkage.resolve.record_posterior`)
            / another student's / null (no valid OEN). m and u fixed, never trained by EM
            (:func:`oen_comparison`)
=========== ===================================================================================

Blocking rules for prediction (each pair is scored once, attributed to the first rule that
finds it):

0. same birth date and first two letters of the first name, gender compatible (equal, or
   unknown on either side);
1. same birth date and first two letters of the surname, gender compatible;
2. same surname, birth date with day and month swapped, gender compatible;
3. same surname, birth year and month, day within one, gender compatible;
4. same first name, surname and birth year, within a day (one-day errors across a month end);
5. same surname, birth month and day, birth year one apart, gender compatible;
6. same OEN (Luhn-valid on the child-welfare side): the deterministic candidates. After the
   identity rules, so a same-OEN pair attributed to it is a true pair they all missed: that
   measures the share of true pairs outside the blocks (:func:`unblocked_share`);
7. the child-welfare postal code is one of the student's, and the same birth year or the first
   two letters of both names (both names damaged at once; or a missing or wrong birth date:
   the one rule that needs no birth date).

Rules 0-1 used to block on initials; two letters find the same true pairs save those with both
names damaged (which rule 7 finds when the address is current) at a fifth of the comparisons.
Rules 2-5 catch a damaged birth date together with a damaged first name (typo or nickname with
a new initial), which rules 0-1 cannot. Between them they miss a true pair only when two
identifiers are both damaged in particular ways (for example a wrong birth date *and* a
nickname with a new initial *and* a changed surname); the quality report counts such misses
against the truth.

Training: u by random sampling (at most :data:`U_MAX_PAIRS` pairs; the OEN's u is counted
exactly, :func:`oen_u_probabilities`) and two EM sessions (blocked on birth date + gender, then
first name + surname; each falls back to the next rule of :data:`EM_SESSIONS` when a rule gives
no pairs, e.g. the gender unknown on both sides) run on a seeded random sample of the students
sized so that blocking on birth date would give about :data:`EM_TRAINING_PAIRS` pairs
(:func:`training_sample`; every student below that size, so tiny and small train on all). The
trained m and u are then used on all students, with the term frequencies from the full data.
The prior (probability two random records match) is :func:`link_prior`, from
``Linkage.no_student_share``.

Recalibration (:func:`recalibrate_m`): EM on blocked pairs lets look-alike non-matches (same
birth date and first name, different surname) pull the m of the disagreement levels up, which
makes pairs with one disagreeing identifier look more likely than they are. The m of every
identity level is therefore re-estimated from the pairs that share a Luhn-valid OEN *and* are
confirmed by the other identifiers (at least :data:`CONFIRM_BITS` of evidence from the other
comparisons, so a wrong OEN cannot enter): under the model's own assumption that identifiers err
independently, conditioning on the others does not bias the one being estimated. EM's m is the
prior (:data:`M_PSEUDO_PAIRS` pseudo-pairs). The OEN's m (how often a record's OEN is wrong) is
measured the other way round, on pairs the other identifiers confirm (:func:`measure_oen_m`).
Gender is implied by an agreeing first name, so it is counted only when the first names
disagree; a shared surname and postal code is counted once, as a household, not twice
(:func:`household_dependence`: siblings share both), except where the first names agree too
(brothers and sisters do not share a first name). The adjustments are applied in SQL to
splink's match weight (term-frequency adjustments unchanged), so both engines score identically.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import splink.comparison_level_library as cll
from splink import Linker, SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule
from splink.comparison_library import CustomComparison

log = logging.getLogger(__name__)

CW_TABLE = "cw_records"
STUDENT_TABLE = "onsis_students"
CW_SOURCE = "cpin_persons.parquet"  # the files the tables come from (named in error messages)
STUDENT_SOURCE = "onsis_enrolment.parquet"

# gamma values (level index from the bottom) used by the resolution rules
FIRST_NAME_LEVELS = ("else", "swapped", "dl1", "nickname", "exact")
LAST_NAME_LEVELS = ("else", "dl2", "dl1", "part", "exact")
DOB_LEVELS = ("else", "year_off", "day_off", "day_month_swap", "exact")
POSTAL_LEVELS = ("else", "society_district", "region", "fsa", "exact")
GENDER_LEVELS = ("else", "exact")
# "else": the record's OEN is another enrolled student's; "unenrolled": it is no student's
OEN_LEVELS = ("else", "unenrolled", "exact")
LEVEL_NAMES: dict[str, tuple[str, ...]] = {
    "first_name": FIRST_NAME_LEVELS,
    "last_name": LAST_NAME_LEVELS,
    "dob": DOB_LEVELS,
    "postal": POSTAL_LEVELS,
    "gender": GENDER_LEVELS,
    "oen": OEN_LEVELS,
}
# Comparisons whose m is trained by EM and re-estimated from confirmed same-OEN pairs (the OEN
# comparison's own m is measured from pairs the other identifiers confirm: :func:`measure_oen_m`)
IDENTITY_COMPARISONS = ("first_name", "last_name", "dob", "postal", "gender")

# Prior m of the OEN levels (exact, unenrolled, else) before they are measured: about 1% of
# records carry another student's OEN and a few a valid OEN that is no student's (BRIEF.md s.8).
OEN_M_PRIOR = {"exact": 0.98, "unenrolled": 0.005, "else": 0.015}
OEN_RULE = 6  # position of the same-OEN rule in :func:`blocking_rules`
# Prior share of true pairs that the identity rules miss (before it is measured, with
# :data:`M_PSEUDO_PAIRS` pseudo-pairs): :func:`unblocked_share`
UNBLOCKED_PRIOR = 0.01

BLOCKING_RULE_NAMES = (
    "birth date + first two letters of the first name (gender compatible)",
    "birth date + first two letters of the surname (gender compatible)",
    "surname + birth date with day and month swapped",
    "surname + birth year and month, day within one",
    "first name + surname + birth year, within a day (across a month end)",
    "surname + birth month and day, year one apart",
    "same OEN",
    "postal code (any school year) + birth year, or + first two letters of both names "
    "(no birth date needed)",
)

# Judgement, documented: exact first name + surname + birth date finds about 80% of the true
# pairs when a tenth to a fifth of records have a damaged name or birth date (BRIEF.md s.8).
# Used for the prior of the child-welfare duplicate model (the link model's prior comes from
# ``Linkage.no_student_share``).
DETERMINISTIC_RECALL = 0.8


def _null(*cols: str) -> Any:
    cond = " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in cols)
    return cll.CustomLevel(cond, label_for_charts="null").configure(is_null_level=True)


OenProbabilities = dict[str, tuple[float, float]]  # level -> (m, u)


def oen_u_probabilities(cw: pl.DataFrame, n_students: int) -> OenProbabilities:
    """m (the prior, :data:`OEN_M_PRIOR`) and u of the OEN levels, u counted exactly.

    A random child-welfare record with a valid OEN and a random student share the OEN with
    probability (share of valid OENs that are enrolled) / students; otherwise it is another
    student's. The ``unenrolled`` level is neutral (u = m: record-level evidence, see
    :func:`oen_comparison`). Floors keep every probability positive (a file with no OEN at all
    never reaches these levels).
    """
    valid = cw.filter(pl.col("oen").is_not_null())
    enrolled = float(valid["oen_enrolled"].mean() or 0.0) if valid.height else 1.0  # type: ignore[arg-type]
    n = float(max(n_students, 1))
    floor = 1e-9
    u = {
        "exact": max(enrolled / n, floor),
        "unenrolled": OEN_M_PRIOR["unenrolled"],
        "else": max(enrolled * (1.0 - 1.0 / n), floor),
    }
    return {k: (OEN_M_PRIOR[k], u[k]) for k in OEN_LEVELS}


def postal_exact_u(cw: pl.DataFrame, students: pl.DataFrame) -> float:
    """u of the postal comparison's ``exact`` level, counted exactly: the share of (record,
    student) pairs, both with a postal code, where the record's code is one of the student's.

    Random sampling cannot measure it: two random records share a postal code about once in a
    million pairs, so a sample of millions sees it a handful of times or never, and splink then
    falls back to a default u (about 1 in 170) that takes some ten bits off every pair at the
    same address.
    """

    def by_code(df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        rows = df.select(pl.int_range(pl.len()).alias("_r"), "postal_codes").explode("postal_codes")
        rows = rows.drop_nulls("postal_codes").unique()
        return rows.group_by("postal_codes").len(), int(rows["_r"].n_unique())

    cw_codes, n_cw = by_code(cw)
    st_codes, n_st = by_code(students)
    if not n_cw or not n_st:
        return 1e-9
    shared = cw_codes.join(st_codes, on="postal_codes", suffix="_st").select(
        (pl.col("len").cast(pl.Float64) * pl.col("len_st")).sum()
    )
    return max(float(shared.item() or 0.0) / (float(n_cw) * float(n_st)), 1e-12)


def set_level_u(model: dict[str, Any], comparison: str, label: str, u: float) -> dict[str, Any]:
    """A copy of ``model`` with the u of one level set (and fixed against EM)."""
    import copy

    new = copy.deepcopy(model)
    for comp in new["comparisons"]:
        if comp["output_column_name"] != comparison:
            continue
        for lv in comp["comparison_levels"]:
            if lv.get("label_for_charts") == label and not lv.get("is_null_level"):
                lv["u_probability"] = u
                lv["fix_u_probability"] = True
    return new


def _fixed(level: Any, label: str, mu: OenProbabilities | None) -> Any:
    m, u = (mu or {}).get(label, (OEN_M_PRIOR[label], 0.5))
    return level.configure(
        label_for_charts=label,
        m_probability=m,
        u_probability=u,
        fix_m_probability=True,
        fix_u_probability=True,
    )


def oen_comparison(mu: OenProbabilities | None = None) -> CustomComparison:
    """The OEN comparison: same OEN / the record's OEN is no enrolled student's / it is another
    student's / null (no valid OEN on either side). m and u are fixed (never trained by EM):
    u from :func:`oen_u_probabilities`, m measured after scoring (:func:`measure_oen_m`).

    An OEN that is another student's is evidence against the pair, weighed by the measured rate
    of such wrong OENs (not a veto). An OEN that is *no* student's says the same about every
    candidate of the record: it is a property of the record, weighed in the record's prior of
    having a student at all (:func:`analysis.linkage.resolve.record_posterior`), so at the pair
    level the ``unenrolled`` level is neutral (its u is set equal to its measured m).
    """
    return CustomComparison(
        output_column_name="oen",
        comparison_levels=[
            _null("oen"),
            _fixed(cll.CustomLevel("oen_l = oen_r"), "exact", mu),
            _fixed(cll.CustomLevel("NOT (oen_enrolled_l AND oen_enrolled_r)"), "unenrolled", mu),
            _fixed(cll.ElseLevel(), "else", mu),
        ],
    )


def comparisons(
    oen_mu: OenProbabilities | None = None, *, with_oen: bool = True
) -> list[CustomComparison]:
    """The six comparisons (see the module docstring); ``oen_mu``: the OEN levels' m and u
    (``with_oen=False``: the five identity comparisons only)."""
    first = CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            _null("first_name"),
            cll.ExactMatchLevel("first_name", term_frequency_adjustments=True).configure(
                label_for_charts="exact"
            ),
            cll.ArrayIntersectLevel("first_name_forms", 1).configure(label_for_charts="nickname"),
            cll.DamerauLevenshteinLevel("first_name", 1).configure(label_for_charts="dl1"),
            cll.CustomLevel(
                "first_name_l = last_name_r OR last_name_l = first_name_r",
                label_for_charts="swapped",
            ),
            cll.ElseLevel().configure(label_for_charts="else"),
        ],
    )
    last = CustomComparison(
        output_column_name="last_name",
        comparison_levels=[
            _null("last_name"),
            cll.ExactMatchLevel("last_name", term_frequency_adjustments=True).configure(
                label_for_charts="exact"
            ),
            cll.ArrayIntersectLevel("last_name_tokens", 1).configure(label_for_charts="part"),
            cll.DamerauLevenshteinLevel("last_name", 1).configure(label_for_charts="dl1"),
            cll.DamerauLevenshteinLevel("last_name", 2).configure(label_for_charts="dl2"),
            cll.ElseLevel().configure(label_for_charts="else"),
        ],
    )
    dob = CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            _null("dob"),
            # term-frequency adjusted: how many students share a birth date depends on the
            # cohort (a child born last year shares it with no student at all)
            cll.ExactMatchLevel("dob", term_frequency_adjustments=True).configure(
                label_for_charts="exact"
            ),
            cll.CustomLevel(
                "dob_year_l = dob_year_r AND dob_month_l = dob_day_r AND dob_day_l = dob_month_r",
                label_for_charts="day_month_swap",
            ),
            cll.CustomLevel("abs(dob_days_l - dob_days_r) <= 1", label_for_charts="day_off"),
            cll.CustomLevel(
                "dob_month_l = dob_month_r AND dob_day_l = dob_day_r "
                "AND abs(dob_year_l - dob_year_r) = 1",
                label_for_charts="year_off",
            ),
            cll.ElseLevel().configure(label_for_charts="else"),
        ],
    )
    postal = CustomComparison(
        output_column_name="postal",
        comparison_levels=[
            _null("postal_codes"),
            cll.ArrayIntersectLevel("postal_codes", 1).configure(label_for_charts="exact"),
            cll.ArrayIntersectLevel("postal_fsas", 1).configure(label_for_charts="fsa"),
            cll.ArrayIntersectLevel("postal_regions", 1).configure(label_for_charts="region"),
            cll.ArrayIntersectLevel("home_districts", 1).configure(
                label_for_charts="society_district"
            ),
            cll.ElseLevel().configure(label_for_charts="else"),
        ],
    )
    gender = CustomComparison(
        output_column_name="gender",
        comparison_levels=[
            _null("gender"),
            cll.CustomLevel("gender_l = gender_r", label_for_charts="exact"),
            cll.ElseLevel().configure(label_for_charts="else"),
        ],
    )
    return [first, last, dob, postal, gender] + ([oen_comparison(oen_mu)] if with_oen else [])


# gender agrees or is unknown on either side (a child-welfare gender identity with no school
# equivalent is null, so those children are still paired with every student)
_GENDER_COMPATIBLE = "(l.gender = r.gender OR l.gender IS NULL OR r.gender IS NULL)"


def blocking_rules() -> list[Any]:
    """Prediction blocking rules, in the order of :data:`BLOCKING_RULE_NAMES`."""
    return [
        f"l.dob = r.dob AND l.first_prefix = r.first_prefix AND {_GENDER_COMPATIBLE}",
        f"l.dob = r.dob AND l.last_prefix = r.last_prefix AND {_GENDER_COMPATIBLE}",
        # equality keys first (the engine hash-joins on them), then the residual condition
        "l.last_name = r.last_name AND l.dob_year = r.dob_year "
        f"AND l.dob_month = r.dob_day AND l.dob_day = r.dob_month AND {_GENDER_COMPATIBLE}",
        "l.last_name = r.last_name AND l.dob_year = r.dob_year AND l.dob_month = r.dob_month "
        f"AND abs(l.dob_day - r.dob_day) <= 1 AND {_GENDER_COMPATIBLE}",
        "l.first_name = r.first_name AND l.last_name = r.last_name AND l.dob_year = r.dob_year "
        "AND abs(l.dob_days - r.dob_days) <= 1",
        "l.last_name = r.last_name AND l.dob_month = r.dob_month AND l.dob_day = r.dob_day "
        f"AND abs(l.dob_year - r.dob_year) = 1 AND {_GENDER_COMPATIBLE}",
        # after the identity rules: a same-OEN pair attributed to it is one they all missed,
        # which measures the share of true pairs blocking finds no other way (unblocked_share)
        block_on("oen"),
        # last: an exploding rule does not exclude its pairs from the rules after it. The names
        # alternative needs no birth date: a record whose birth date is missing or wrong can
        # still be paired at its (current) address.
        CustomRule(
            "l.postal_codes = r.postal_codes AND (l.dob_year = r.dob_year "
            "OR (l.first_prefix = r.first_prefix AND l.last_prefix = r.last_prefix))",
            arrays_to_explode=["postal_codes"],
        ),
    ]


def settings(
    link_type: str = "link_only",
    oen_mu: OenProbabilities | None = None,
    prior: float = 0.0001,
    *,
    with_oen: bool = True,
) -> SettingsCreator:
    """The splink settings (untrained); ``oen_mu``: the OEN levels' m and u; ``prior``: the
    probability that two random records match; ``with_oen``: include the OEN comparison."""
    return SettingsCreator(
        link_type=link_type,  # type: ignore[arg-type]
        probability_two_random_records_match=prior,
        unique_id_column_name="unique_id",
        comparisons=comparisons(oen_mu, with_oen=with_oen),  # type: ignore[arg-type]
        blocking_rules_to_generate_predictions=blocking_rules(),
        additional_columns_to_retain=["oen"],
        retain_matching_columns=True,  # splink keeps the gamma columns only with these
        retain_intermediate_calculation_columns=False,
        max_iterations=25,
        em_convergence=0.0001,
    )


@dataclass
class Scored:
    """What one linkage run produced, as plain frames (no splink objects escape this module)."""

    pairs: pl.DataFrame  # cw_id, oen, match_weight, match_probability, match_key, gamma_*
    cw_pairs: pl.DataFrame  # cw_id_1, cw_id_2, match_probability, gamma_first_name (duplicates)
    weight_histogram: pl.DataFrame  # bin_lower, bin_upper, pairs
    comparisons_by_rule: dict[str, int]
    model: dict[str, Any]
    em_sessions: list[dict[str, Any]] = field(default_factory=list)
    recalibration: dict[str, Any] = field(default_factory=dict)


_GAMMA_COLS = [f"gamma_{c}" for c in LEVEL_NAMES]


def _to_polars(sdf: Any) -> pl.DataFrame:
    return pl.from_arrow(sdf.as_pyarrow_table())  # type: ignore[return-value]


def _register(db_api: Any, df: pl.DataFrame, name: str) -> Any:
    return db_api.register(df.to_arrow(), table_name=name)


# EM sessions, each a list of rules (columns blocked on) tried in order until one gives pairs:
# birth date + gender halves the first session's pairs and doubles its share of true matches
# (gender is estimated in the second session); when the gender is unknown on either side (it may
# be: a FEBRL-like extract has none), the session falls back to birth date alone, and so on.
EM_SESSIONS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("dob", "gender"), ("dob",), ("dob_year", "last_prefix")),
    (("first_name", "last_name"), ("last_name", "first_prefix"), ("first_prefix", "last_prefix")),
)
EM_BLOCKING_RULES: tuple[tuple[str, ...], ...] = tuple(s[0] for s in EM_SESSIONS)
# The students are sampled for training so that blocking on birth date alone would give about
# this many pairs (all students are used when there are fewer).
EM_TRAINING_PAIRS = 600_000
# Random pairs for u (each level still needs splink's minimum count of 100, or all pairs are used)
U_MAX_PAIRS = 1_000_000


class _DropDefaultMaxPairsAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("You are using the default value for `max_pairs`")


@contextmanager
def _quiet_default_max_pairs() -> Iterator[None]:
    """Silence splink's advice to raise ``max_pairs`` above 1e6 for u: it fires on the value,
    not on a default. The 1e6 is chosen here (the u of the name comparisons come from term
    frequencies on the full data; F1 and recall parity are measured against the truth)."""
    logger = logging.getLogger("splink.internals.linker_components.training")
    f = _DropDefaultMaxPairsAdvice()
    logger.addFilter(f)
    try:
        yield
    finally:
        logger.removeFilter(f)


def _duckdb_threads(db_api: Any, n: int | None) -> int | None:
    """Set DuckDB's worker threads (None: leave as is); returns the previous setting, or None
    on another engine. Training runs on one thread: DuckDB's parallel sums add in a varying
    order, and EM's m and u (and every weight after them) would differ in the last bits from
    run to run."""
    con = getattr(db_api, "_con", None)
    if con is None or not hasattr(con, "execute") or n is None:
        return None
    prev = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    con.execute(f"SET threads = {int(n)}")
    return prev


def training_sample(
    cw: pl.DataFrame, students: pl.DataFrame, *, seed: int, target_pairs: int
) -> tuple[pl.DataFrame, float]:
    """A seeded random sample of the students for training (u sampling and EM).

    The fraction is ``target_pairs`` over the number of child-welfare x student pairs sharing a
    birth date (capped at 1), so training cost stays flat as the province grows while the
    share of true matches among training pairs is unchanged.

    Returns
    -------
    sample, fraction
    """
    n_pairs = (
        cw.group_by("dob")
        .len("a")
        .join(students.group_by("dob").len("b"), on="dob")
        .select((pl.col("a").cast(pl.Int64) * pl.col("b")).sum())
        .item()
    )
    frac = min(1.0, target_pairs / max(int(n_pairs or 0), 1))
    if frac >= 1.0:
        return students, 1.0
    keep = np.random.default_rng(seed).random(students.height) < frac
    return students.filter(pl.Series(keep)), frac


class LinkageTrainingError(ValueError):
    """The model cannot be trained on this input (named rule, never an identifier value)."""


def link_prior(n_students: int, no_student_share: float) -> float:
    """Probability that a random (record, student) pair is a match: a record has a student with
    probability ``1 - no_student_share`` (``Linkage.no_student_share``), and then it is one of
    ``n_students``."""
    return min(0.5, max(1e-12, (1.0 - no_student_share) / max(n_students, 1)))


def _rule_label(rule: tuple[str, ...]) -> str:
    return " AND ".join(f"same {c}" for c in rule)


def _em_session(
    trainer: Any, tables: list[Any], rules: tuple[tuple[str, ...], ...], max_pairs_em: int
) -> tuple[Any, dict[str, Any]]:
    """Run one EM session with the first rule of ``rules`` that gives training pairs.

    A session that finds no pairs leaves splink's linker with the blocked comparisons switched
    off, so each attempt starts from a snapshot of the model and a failed one is rebuilt from it.

    Returns
    -------
    trainer, report
        The linker holding the trained model, and the rule used (with those that gave no pairs).
    """
    from splink.internals.exceptions import EMTrainingException

    tried = []
    for rule in rules:
        snapshot = trainer.misc.save_model_to_json()
        try:
            trainer.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), max_pairs=float(max_pairs_em)
            )
        except EMTrainingException:
            log.info("EM: no training pairs for %s; trying the next rule", _rule_label(rule))
            tried.append(_rule_label(rule))
            trainer = Linker(tables, snapshot, log_level=None)
            continue
        return trainer, {"blocking_rule": _rule_label(rule), "rules_without_pairs": tried}
    tried_text = "; ".join(tried)
    raise LinkageTrainingError(
        f"{CW_SOURCE} x {STUDENT_SOURCE}: no pairs to train the linkage model under any EM rule "
        f"({tried_text}) (rule: linkage training needs records that share a birth date or names)"
    )


def _train(
    cw: pl.DataFrame,
    students: pl.DataFrame,
    db_api: Any,
    *,
    seed: int,
    max_pairs_em: int,
    no_student_share: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Estimate m and u on a seeded sample of the students (:func:`training_sample`).

    m and u are properties of the comparison levels, not of the file size, and the sample keeps
    the share of true matches among the blocked pairs; the term frequencies are re-estimated on
    the full data by :func:`_predict`. The prior is :func:`link_prior` (from
    ``Linkage.no_student_share``), u comes from random sampling (at most :data:`U_MAX_PAIRS`)
    except the OEN's (counted exactly, :func:`oen_u_probabilities`, fixed like its m), m from
    the EM sessions of :data:`EM_SESSIONS` (each falling back to its next rule when a rule gives
    no pairs), all on one DuckDB thread.

    Returns
    -------
    model, sessions
        The trained splink model (``linker_uid`` cleared) and a record of each EM session.

    Raises
    ------
    LinkageTrainingError
        When an EM session finds no training pairs under any of its rules.
    """
    train_students, frac = training_sample(cw, students, seed=seed, target_pairs=EM_TRAINING_PAIRS)
    tr_cw = _register(db_api, cw, CW_TABLE + "_train")
    tr_st = _register(db_api, train_students, STUDENT_TABLE + "_train")
    threads = _duckdb_threads(db_api, 1)
    try:
        prior = link_prior(train_students.height, no_student_share)
        # u by random sampling for the identity comparisons only: the OEN's u is counted
        # exactly, and sampling a level that random pairs never reach costs a full pass
        u_linker = Linker(
            [tr_cw, tr_st], settings("link_only", None, prior, with_oen=False), log_level=None
        )
        with _quiet_default_max_pairs():
            u_linker.training.estimate_u_using_random_sampling(
                max_pairs=float(min(max_pairs_em, U_MAX_PAIRS)), seed=seed
            )
        # the exact postal level's u is counted (random pairs almost never reach it)
        with_u = set_level_u(
            u_linker.misc.save_model_to_json(),
            "postal",
            "exact",
            postal_exact_u(cw, train_students),
        )
        full = Linker(
            [tr_cw, tr_st],
            settings("link_only", oen_u_probabilities(cw, train_students.height), prior),
            log_level=None,
        ).misc.save_model_to_json()
        with_u["comparisons"].append(full["comparisons"][-1])
        trainer = Linker([tr_cw, tr_st], with_u, log_level=None)
        sessions = []
        for rules in EM_SESSIONS:
            trainer, rec = _em_session(trainer, [tr_cw, tr_st], rules, max_pairs_em)
            rec.update(
                {"student_sample_fraction": frac, "students_in_sample": train_students.height}
            )
            sessions.append(rec)
        trained = trainer.misc.save_model_to_json()
    finally:
        _duckdb_threads(db_api, threads)
    trained["linker_uid"] = None
    return trained, sessions


def _predict(
    cw: pl.DataFrame,
    students: pl.DataFrame,
    db_api: Any,
    trained: dict[str, Any],
    no_student_share: float,
) -> tuple[Any, str]:
    """Score every candidate pair the blocking rules find, with the trained m and u, the OEN's u
    and the prior (:func:`link_prior`) on all students.

    Returns
    -------
    linker, predictions
        The splink linker on the full data and the physical name of its predictions table.
    """
    cw_sdf = _register(db_api, cw, CW_TABLE)
    st_sdf = _register(db_api, students, STUDENT_TABLE)
    model = set_oen_probabilities(trained, oen_u_probabilities(cw, students.height), m=False)
    model = set_level_u(model, "postal", "exact", postal_exact_u(cw, students))
    model["probability_two_random_records_match"] = link_prior(students.height, no_student_share)
    linker = Linker([cw_sdf, st_sdf], model, log_level=None)
    predictions = linker.inference.predict(warning_mode="never")
    return linker, predictions.physical_name


def set_oen_probabilities(
    model: dict[str, Any], mu: OenProbabilities, *, m: bool = True, u: bool = True
) -> dict[str, Any]:
    """A copy of ``model`` with the OEN levels' m and/or u from ``mu``."""
    import copy

    new = copy.deepcopy(model)
    for comp in new["comparisons"]:
        if comp["output_column_name"] != "oen":
            continue
        for lv in comp["comparison_levels"]:
            label = lv.get("label_for_charts")
            if lv.get("is_null_level") or label not in mu:
                continue
            if m:
                lv["m_probability"] = mu[label][0]
            if u:
                lv["u_probability"] = mu[label][1]
    return new


def _query(linker: Any, sql: str) -> pl.DataFrame:
    """Run ``sql`` on the linker's engine and return the result as a polars frame."""
    return _to_polars(linker.misc.query_sql(sql, output_type="splink_df"))


# The three identifiers whose exact agreement depends on the others among non-matches (a
# household shares a surname and an address; twins a birth date too), in this order
DEPENDENT = ("last_name", "dob", "postal")
# the patterns of exact agreement whose dependence is measured (birth date and postal code alone
# is left out: a shared birth date says nothing of a household)
PATTERNS = ("last_name+postal", "last_name+dob", "last_name+dob+postal")


def household_dependence(students: pl.DataFrame) -> dict[str, Any]:
    """How much exact agreement on surname, birth date and postal code says *together*, measured
    on the students themselves (pairs of distinct students: non-matches).

    The comparisons are taken as independent, but siblings share a surname and an address, and
    twins a birth date too: a pair agreeing on two or three of them is far likelier among
    non-matches than the product of the single agreements says. For each pattern of exact
    agreement with at least two of the three (surname and postal code, surname and birth date,
    all three; birth date and postal code alone is left out), the dependence is the share of
    student pairs with that pattern over the product of the single shares (any school year's
    postal code); a pair with the pattern gets ``-log2`` of it in bits, never more than zero
    (a dependence that would raise a score is not used). So a sibling (same surname and
    address, another birth date and first name) cannot win on the household alone, a twin does
    not win on household and birth date, and twins' records score lower as each other's
    duplicates.

    The dependence is measured twice: among pairs whose first names disagree (siblings and
    twins: brothers and sisters do not share a first name) and among pairs whose first names
    agree exactly too. Two distinct students who share a first name, a surname, a birth date
    and an address are almost unheard of, so a pair agreeing on all four loses (next to) nothing:
    a household correction applied to it would make a record that agrees on everything look like
    a twin and leave it unlinked.

    Returns
    -------
    dict
        ``student_pairs``, the pairs agreeing on each set of identifiers (``pairs``), and
        ``bits`` per pattern (keys ``"last_name+postal"``, ``"last_name+dob"``,
        ``"last_name+dob+postal"``) for pairs whose first names disagree, and
        ``bits_first_name_exact`` for those whose first names agree exactly.
    """
    n = students.height
    total = n * (n - 1) / 2.0

    def agreeing(df: pl.DataFrame, keys: list[str]) -> float:
        return float(
            df.drop_nulls(keys)
            .group_by(keys)
            .len()
            .select((pl.col("len").cast(pl.Int64) * (pl.col("len") - 1) // 2).sum())
            .item()
            or 0
        )

    by_code = students.select("first_name", "last_name", "dob", "postal_codes").explode(
        "postal_codes"
    )
    c = {
        "first_name": agreeing(students, ["first_name"]),
        "last_name": agreeing(students, ["last_name"]),
        "dob": agreeing(students, ["dob"]),
        "postal": agreeing(by_code, ["postal_codes"]),
    }
    for pattern in PATTERNS:
        keys = ["postal_codes" if k == "postal" else k for k in pattern.split("+")]
        frame = by_code if "postal_codes" in keys else students
        c[pattern] = agreeing(frame, keys)
        c["first_name+" + pattern] = agreeing(frame, ["first_name", *keys])
    bits: dict[str, float] = {}
    bits_fn: dict[str, float] = {}
    joint: dict[str, float] = {}
    if total > 0 and all(c[k] > 0 for k in ("first_name", *DEPENDENT)):
        u = {k: c[k] / total for k in ("first_name", *DEPENDENT)}
        for key in PATTERNS:
            members = key.split("+")
            others = [m for m in DEPENDENT if m not in members]
            # pairs with exactly this pattern (the third identifier disagreeing)
            with_fn = c["first_name+" + key] - sum(
                c["first_name+" + k]
                for k in PATTERNS
                if k != key and set(members) < set(k.split("+"))
            )
            pairs = c[key] - sum(
                c[k] for k in PATTERNS if k != key and set(members) < set(k.split("+"))
            )
            independent = math.prod(u[m] for m in members) * math.prod(1.0 - u[o] for o in others)
            without_fn = pairs - with_fn
            if without_fn > 0:
                share = without_fn / total
                bits[key] = min(0.0, math.log2(independent * (1.0 - u["first_name"]) / share))
                joint[key] = pairs / total
            # none at all among millions of pairs: as independent as the data can show
            bits_fn[key] = (
                min(0.0, math.log2(independent * u["first_name"] / (with_fn / total)))
                if with_fn > 0
                else 0.0
            )
    return {
        "student_pairs": total,
        "pairs": c,
        "bits": bits,
        "bits_first_name_exact": bits_fn,
        "u_joint": joint,
    }


def final_weight_sql(
    old: dict[str, Any], new: dict[str, Any], dependence: dict[str, Any] | None = None
) -> str:
    """SQL for the match weight a pair is judged on: splink's, with the m of ``new`` for those of
    ``old`` and the gender taken back where the first names agree (:func:`weight_adjustment_sql`),
    and the dependence of surname, birth date and postal code (:func:`household_dependence`).

    A pair agreeing exactly on surname and birth date but not on the first name is a possible
    twin: surname and birth date count as one joint agreement, ``log2(m_surname m_dob / u_twin)``
    with ``u_twin`` the share of student pairs that are twins (surname, birth date and an address
    shared), and the postal code counts for nothing (a twin lives at the child's address). One
    agreeing exactly on surname and postal code but not on the first name or birth date is a
    possible sibling: ``log2(m_surname m_postal / u_household)`` with the birth date's own
    weight. Either way whatever the surname's frequency (a rare surname says nothing more about
    a household). Other pairs get the average dependence of their pattern, measured among pairs
    whose first names agree exactly when theirs do. The result is never above the independent
    weight.
    """
    base = f"(match_weight + {weight_adjustment_sql(old, new)})"
    if not dependence or not dependence.get("bits"):
        return base
    averaged = (
        f"({base} + {_dependence_sql(dependence['bits'], dependence.get('bits_first_name_exact'))})"
    )
    joint = dependence.get("u_joint", {})
    lv = _level_table(new)

    def m(comp: str, label: str) -> float:
        return _prob(lv[(comp, LEVEL_NAMES[comp].index(label))], "m_probability") or 0.0

    exact = {
        "last_name": f"gamma_last_name = {LAST_NAME_LEVELS.index('exact')}",
        "dob": f"gamma_dob = {DOB_LEVELS.index('exact')}",
        "postal": f"gamma_postal = {POSTAL_LEVELS.index('exact')}",
        "first_name": f"gamma_first_name = {FIRST_NAME_LEVELS.index('exact')}",
    }
    gender = (
        f"(CASE WHEN gamma_first_name >= {GENDER_IMPLIED_BY_FIRST_NAME} THEN 0.0 "
        f"ELSE {level_weight_sql(new, 'gender')} END)"
    )
    rest = f"{prior_weight(new)!r} + {level_weight_sql(new, 'first_name')} + {gender} + " + (
        level_weight_sql(new, "oen")
    )
    whens = []
    m_l, m_d, m_p = m("last_name", "exact"), m("dob", "exact"), m("postal", "exact")
    u3 = joint.get("last_name+dob+postal")
    if u3 and m_l and m_d:
        # a possible twin: against "my twin", the postal code says nothing (a twin lives at the
        # child's address, and the record's code is as out of date for one as for the other)
        w3 = math.log2(m_l * m_d / u3)
        whens.append(
            f"WHEN {exact['last_name']} AND {exact['dob']} "
            f"AND NOT ({exact['first_name']}) THEN {rest} + {w3!r}"
        )
    u2 = joint.get("last_name+postal")
    if u2 and m_l and m_p:
        w2 = math.log2(m_l * m_p / u2)
        whens.append(
            f"WHEN {exact['last_name']} AND {exact['postal']} AND NOT ({exact['dob']}) "
            f"AND NOT ({exact['first_name']}) THEN {rest} + {level_weight_sql(new, 'dob')} + {w2!r}"
        )
    if not whens:
        return averaged
    return f"least({averaged}, (CASE {' '.join(whens)} ELSE {averaged} END))"


def _dependence_sql(bits: dict[str, float], bits_fn: dict[str, float] | None = None) -> str:
    """SQL for :func:`household_dependence`'s adjustment of a pair's match weight: ``bits_fn``
    where the first names agree exactly (when measured), ``bits`` otherwise."""
    exact = {
        "first_name": f"gamma_first_name = {FIRST_NAME_LEVELS.index('exact')}",
        "last_name": f"gamma_last_name = {LAST_NAME_LEVELS.index('exact')}",
        "dob": f"gamma_dob = {DOB_LEVELS.index('exact')}",
        "postal": f"gamma_postal = {POSTAL_LEVELS.index('exact')}",
    }
    whens = []
    for key, b in sorted(bits.items(), key=lambda kv: -len(kv[0])):  # three before two
        members = key.split("+")
        cond = " AND ".join(exact[m] for m in members)
        others = [f"NOT ({exact[m]})" for m in DEPENDENT if m not in members]
        if others:
            cond += " AND " + " AND ".join(others)
        if bits_fn is not None and key in bits_fn:
            whens.append(f"WHEN {cond} AND {exact['first_name']} THEN {bits_fn[key]!r}")
        whens.append(f"WHEN {cond} THEN {b!r}")
    return f"(CASE {' '.join(whens)} ELSE 0.0 END)" if whens else "0.0"


def _recalibrated_model(
    linker: Any, pred: str, dependence: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The predicting linker's model with every identity m re-estimated from confirmed same-OEN
    pairs (:func:`recalibrate_m`) and the OEN's m measured from pairs the other identifiers
    confirm (:func:`measure_oen_m`).

    Returns
    -------
    em_model, model, report
        The model as EM left it, the recalibrated model and the recalibration report (both
        models with ``linker_uid`` cleared: a random id, and the same data must give the same
        bytes).
    """
    em_model = linker.misc.save_model_to_json()
    oen_pairs = _query(
        linker, f"SELECT match_key, {', '.join(_GAMMA_COLS)} FROM {pred} WHERE oen_l = oen_r"
    ).with_columns(pl.col("match_key").cast(pl.Int64))
    em_model["linker_uid"] = None
    model, recal = recalibrate_m(em_model, oen_pairs)
    recal["unblocked"] = unblocked_share(em_model, oen_pairs)
    # the weight of the other identifiers (recalibrated), the OEN's own taken out
    w_other = (
        f"({final_weight_sql(em_model, model, dependence)} - {level_weight_sql(em_model, 'oen')})"
    )
    confirmed = _query(
        linker,
        f"SELECT CASE WHEN source_dataset_l = '{CW_TABLE}' THEN unique_id_l ELSE unique_id_r END "
        f"AS cw_id, gamma_oen FROM {pred} WHERE gamma_oen >= 0 AND {w_other} >= {OEN_CONFIRM_BITS!r}",
    )
    model, recal["oen"] = measure_oen_m(model, confirmed)
    return em_model, model, recal


def _weight_histogram(linker: Any, pred: str, w: str) -> pl.DataFrame:
    """Scored pairs per one-bit bin of the (recalibrated) match weight ``w`` (a SQL expression):
    ``bin_lower``, ``bin_upper``, ``pairs``."""
    hist = _query(
        linker,
        f"SELECT floor({w}) AS bin_lower, count(*) AS pairs FROM {pred} "
        f"GROUP BY floor({w}) ORDER BY 1",
    )
    return hist.with_columns(
        pl.col("bin_lower").cast(pl.Int64),
        (pl.col("bin_lower").cast(pl.Int64) + 1).alias("bin_upper"),
        pl.col("pairs").cast(pl.Int64),
    ).select("bin_lower", "bin_upper", "pairs")


def _comparisons_by_rule(by_rule: pl.DataFrame) -> dict[str, int]:
    """Scored pairs per blocking rule (``match_key``, ``pairs``), keyed by the rule's name."""
    return {
        BLOCKING_RULE_NAMES[int(k)]: int(n)
        for k, n in by_rule.select(pl.col("match_key").cast(pl.Int64), "pairs").iter_rows()
    }


def _kept_pairs(linker: Any, pred: str, w: str, keep_probability: float) -> pl.DataFrame:
    """The scored pairs worth keeping, oriented (:func:`_orient`): those whose recalibrated weight
    ``w`` reaches ``keep_probability``, and every same-OEN pair (the deterministic pass needs
    them whatever their score)."""
    keep_weight = math.log2(keep_probability / (1 - keep_probability))
    raw = _query(
        linker,
        f"SELECT unique_id_l, unique_id_r, source_dataset_l, oen_l, oen_r, "
        f"{w} AS match_weight, 1.0 / (1.0 + power(2.0, -{w})) AS match_probability, "
        f"match_key, {', '.join(_GAMMA_COLS)} FROM {pred} "
        f"WHERE {w} >= {keep_weight!r} OR oen_l = oen_r",
    )
    return _orient(raw)


def score(
    cw: pl.DataFrame,
    students: pl.DataFrame,
    db_api: Any,
    *,
    seed: int,
    max_pairs_em: int,
    no_student_share: float = 0.12,
    keep_probability: float = 1e-4,
) -> Scored:
    """Train the model and score candidate pairs.

    Training (:func:`_train`), prediction on all students (:func:`_predict`), recalibration of m
    (:func:`_recalibrated_model`), then the recalibrated weights in SQL for the histogram, the
    counts per blocking rule and the kept pairs, and the child-welfare duplicate pairs
    (:func:`_score_cw_duplicates`).

    Parameters
    ----------
    cw, students
        Standardised frames (:func:`analysis.linkage.standardise.standardise_cw` /
        ``standardise_students``).
    db_api
        A splink ``DuckDBAPI`` or ``SparkAPI``.
    seed
        Seed for u sampling (reproducible models).
    max_pairs_em
        Cap on the pairs each EM session and the u sampling use.
    no_student_share
        ``Linkage.no_student_share``: the prior (:func:`link_prior`).
    keep_probability
        Pairs below this probability are dropped from the returned pairs, except same-OEN pairs
        (always kept: the deterministic pass needs them).
    """
    trained, sessions = _train(
        cw,
        students,
        db_api,
        seed=seed,
        max_pairs_em=max_pairs_em,
        no_student_share=no_student_share,
    )
    linker, pred = _predict(cw, students, db_api, trained, no_student_share)
    household = household_dependence(students)
    em_model, model, recal = _recalibrated_model(linker, pred, household)
    recal["household"] = household
    # the recalibrated match weight and probability, in SQL (the same on both engines)
    w = final_weight_sql(em_model, model, household)
    hist = _weight_histogram(linker, pred, w)
    by_rule = _query(
        linker, f"SELECT match_key, count(*) AS pairs FROM {pred} GROUP BY match_key ORDER BY 1"
    )
    pairs = _kept_pairs(linker, pred, w, keep_probability)
    cw_pairs, dedupe = _score_cw_duplicates(cw, db_api, model, household)
    recal["cw_duplicates"] = dedupe
    return Scored(
        pairs=pairs,
        cw_pairs=cw_pairs,
        weight_histogram=hist,
        comparisons_by_rule=_comparisons_by_rule(by_rule),
        model=model,
        em_sessions=sessions,
        recalibration=recal,
    )


def _orient(raw: pl.DataFrame) -> pl.DataFrame:
    """Child-welfare record on one side, student on the other, whatever order splink chose."""
    cw_left = pl.col("source_dataset_l") == CW_TABLE
    return (
        raw.with_columns(
            pl.when(cw_left)
            .then(pl.col("unique_id_l"))
            .otherwise(pl.col("unique_id_r"))
            .alias("cw_id"),
            pl.when(cw_left)
            .then(pl.col("unique_id_r"))
            .otherwise(pl.col("unique_id_l"))
            .alias("oen"),
            (pl.col("oen_l") == pl.col("oen_r")).fill_null(False).alias("same_oen"),
            pl.col("match_key").cast(pl.Int64),
            *[pl.col(c).cast(pl.Int64) for c in _GAMMA_COLS],
        )
        .select(
            "cw_id",
            "oen",
            "match_weight",
            "match_probability",
            "match_key",
            "same_oen",
            *_GAMMA_COLS,
        )
        .sort("cw_id", "oen")
    )


def dedupe_oen_probabilities(cw: pl.DataFrame, model: dict[str, Any]) -> OenProbabilities:
    """m and u of the OEN levels for pairs of child-welfare records.

    u is counted exactly on the records with a valid OEN (two random records share one, or they
    are two different students'); m follows from the link model's measured
    rates, each record of a child erring independently (both right; either unenrolled; else).
    """
    lv = {
        lab: (_prob(lvd, "m_probability") or OEN_M_PRIOR[lab])
        for (c, _), lvd in _level_table(model).items()
        if c == "oen"
        for lab in [str(lvd.get("label_for_charts"))]
    }
    valid = cw.filter(pl.col("oen").is_not_null())
    n = valid.height
    floor = 1e-9
    if n >= 2:
        pairs = n * (n - 1)
        same = float(
            valid.group_by("oen").len().select((pl.col("len") * (pl.col("len") - 1)).sum()).item()
        )
        k_enr = float(valid["oen_enrolled"].sum())
        both_enr = k_enr * (k_enr - 1)
        u_exact = max(same / pairs, floor)
        u_else = max(both_enr / pairs - u_exact, floor)
    else:
        u_exact, u_else = floor, 0.5
    m_exact = lv.get("exact", OEN_M_PRIOR["exact"]) ** 2
    m_un = 1.0 - (1.0 - lv.get("unenrolled", OEN_M_PRIOR["unenrolled"])) ** 2
    m_else = max(1.0 - m_exact - m_un, floor)
    # the unenrolled level is neutral, as for record-student pairs (:func:`oen_comparison`)
    return {"exact": (m_exact, u_exact), "unenrolled": (m_un, m_un), "else": (m_else, u_else)}


def _score_cw_duplicates(
    cw: pl.DataFrame,
    db_api: Any,
    model: dict[str, Any],
    dependence: dict[str, Any] | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Score pairs of child-welfare records with the trained m and u, to find duplicates.

    The prior (probability two random records are the same child) is estimated for this
    comparison space with the same deterministic rule and recall as before; a file with no
    exact duplicate at all gets the prior of one duplicate pair among all record pairs (never
    zero). The OEN levels get the m and u of pairs of records (:func:`dedupe_oen_probabilities`),
    and gender counts only when the first names disagree, as for record-student pairs. Pairs
    scored at :data:`DUPLICATE_KEEP` or more are returned.

    Returns
    -------
    cw_pairs, report
        ``cw_id_1``, ``cw_id_2``, ``match_probability``, ``gamma_first_name``; and the prior used.
    """
    dd = set_oen_probabilities(model, dedupe_oen_probabilities(cw, model))
    dd["link_type"] = "dedupe_only"
    dd["linker_uid"] = None
    dd["additional_columns_to_retain"] = []
    n = cw.height
    floor_prior = 1.0 / max(n * (n - 1) / 2.0, 1.0)
    sdf = _register(db_api, cw, CW_TABLE + "_dedupe")
    linker = Linker(sdf, dd, log_level=None)
    source = "estimated from exact duplicates"
    exact = (
        cw.drop_nulls(["first_name", "last_name", "dob"])
        .group_by("first_name", "last_name", "dob")
        .len()
        .select((pl.col("len") * (pl.col("len") - 1) // 2).sum())
        .item()
    )
    prior = 0.0
    if exact:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("first_name", "last_name", "dob")], recall=DETERMINISTIC_RECALL
        )
        prior = float(linker.misc.save_model_to_json()["probability_two_random_records_match"])
    if not prior > 0.0:
        log.info("cw dedupe: no exact duplicate pairs; prior of one duplicate pair in the file")
        source = "no exact duplicates: one duplicate pair among all record pairs"
        dd["probability_two_random_records_match"] = max(prior, floor_prior)
        linker = Linker(sdf, dd, log_level=None)
        prior = max(prior, floor_prior)
    pred = linker.inference.predict(warning_mode="never").physical_name
    # gender taken back where an agreeing first name implies it (as for record-student pairs)
    used = linker.misc.save_model_to_json()  # with the prior just estimated
    w = final_weight_sql(used, used, dependence)
    keep_w = math.log2(DUPLICATE_KEEP / (1 - DUPLICATE_KEEP))
    out = _query(
        linker,
        f"SELECT unique_id_l AS cw_id_1, unique_id_r AS cw_id_2, "
        f"1.0 / (1.0 + power(2.0, -{w})) AS match_probability, "
        f"gamma_first_name FROM {pred} WHERE {w} >= {keep_w!r}",
    ).with_columns(pl.col("gamma_first_name").cast(pl.Int64))
    return out.sort("cw_id_1", "cw_id_2"), {"prior": prior, "prior_source": source}


# Duplicate pairs kept for resolution (resolve needs those at DUPLICATE_LIKELY = 0.5 and above)
DUPLICATE_KEEP = 0.5
# Bits the non-OEN identifiers must give a pair (prior included, so roughly a pairwise posterior
# of 1 - 2^-20) before it is used to measure how often a record's OEN is wrong: exact names,
# birth date and postal code reach it; a twin or a look-alike does not.
OEN_CONFIRM_BITS = 20.0


# Evidence (bits) the *other* comparisons must give a same-OEN pair before it is used to estimate
# a comparison's m: a wrong OEN (another student's) disagrees on nearly everything and scores far
# below this; a true pair reaches it with any two agreeing identifiers.
CONFIRM_BITS = 10.0
# Weight of EM's m as a prior on the re-estimated m (pseudo-pairs): keeps levels that no
# confirmed pair reached (e.g. birth date "else") from getting an m of zero.
M_PSEUDO_PAIRS = 100.0
# First-name levels at or above this gamma (dl1, nickname, exact) imply the gender.
GENDER_IMPLIED_BY_FIRST_NAME = FIRST_NAME_LEVELS.index("dl1")


def _level_table(model: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """(comparison, gamma) -> the level's dict (null levels left out)."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for comp in model["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        for i, lv in enumerate(levels):
            out[(comp["output_column_name"], len(levels) - 1 - i)] = lv
    return out


def _prob(lv: dict[str, Any], key: str) -> float | None:
    """A level's m or u as a number (None when splink left it untrained or "not observed")."""
    v = lv.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _level_weight(lv: dict[str, Any]) -> float:
    m, u = _prob(lv, "m_probability"), _prob(lv, "u_probability")
    if not m or not u:
        return 0.0
    return math.log2(m / u)


def _weight_expr(levels: dict[tuple[str, int], dict[str, Any]], comp: str) -> pl.Expr:
    expr = pl.lit(0.0)
    for (c, g), lv in levels.items():
        if c == comp:
            expr = pl.when(pl.col(f"gamma_{c}") == g).then(_level_weight(lv)).otherwise(expr)
    return expr


def recalibrate_m(
    model: dict[str, Any], oen_pairs: pl.DataFrame
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Re-estimate every identity level's m from same-OEN pairs confirmed by the other identifiers.

    Parameters
    ----------
    model
        The trained splink model (dict).
    oen_pairs
        The ``gamma_*`` columns of the scored pairs that share a Luhn-valid OEN.

    Returns
    -------
    model, report
        A copy of ``model`` with the new m probabilities of :data:`IDENTITY_COMPARISONS` (the
        OEN's own m is measured by :func:`measure_oen_m`: every pair here agrees on it), and per
        level the EM m, the new m and the number of confirmed pairs behind it.
    """
    import copy

    new = copy.deepcopy(model)
    old_levels = _level_table(model)
    new_levels = _level_table(new)
    comps = list(IDENTITY_COMPARISONS)
    report: dict[str, Any] = {
        "confirm_bits": CONFIRM_BITS,
        "m_pseudo_pairs": M_PSEUDO_PAIRS,
        "same_oen_pairs": oen_pairs.height,
        "levels": [],
    }
    if oen_pairs.height == 0:
        return new, report
    for comp in comps:
        others = pl.sum_horizontal([_weight_expr(old_levels, c) for c in comps if c != comp])
        conf = oen_pairs.filter((others >= CONFIRM_BITS) & (pl.col(f"gamma_{comp}") >= 0))
        counts = dict(conf.group_by(f"gamma_{comp}").len().iter_rows())
        n = float(conf.height)
        for (c, g), lv in sorted(old_levels.items()):
            if c != comp:
                continue
            m_em = _prob(lv, "m_probability") or 0.0
            # at least half a pair: no level is impossible on a finite sample
            m = max(counts.get(g, 0) + M_PSEUDO_PAIRS * m_em, 0.5) / (n + M_PSEUDO_PAIRS)
            new_levels[(c, g)]["m_probability"] = m
            report["levels"].append(
                {
                    "comparison": c,
                    "level": LEVEL_NAMES[c][g],
                    "m_em": m_em,
                    "m": m,
                    "confirmed_pairs": int(n),
                    "confirmed_at_level": int(counts.get(g, 0)),
                }
            )
    return new, report


def unblocked_share(model: dict[str, Any], oen_pairs: pl.DataFrame) -> dict[str, Any]:
    """The share of true pairs that no identity blocking rule finds (``eps`` of the record
    posterior), measured on same-OEN pairs the other identifiers confirm (:data:`CONFIRM_BITS`):
    the same-OEN rule comes after the identity rules, so a confirmed pair attributed to it
    (``match_key`` = :data:`OEN_RULE`) is a true pair they all missed. :data:`UNBLOCKED_PRIOR`
    enters as :data:`M_PSEUDO_PAIRS` pseudo-pairs."""
    levels = _level_table(model)
    comps = list(IDENTITY_COMPARISONS)
    conf = oen_pairs.filter(
        pl.sum_horizontal([_weight_expr(levels, c) for c in comps]) >= CONFIRM_BITS
    )
    missed = int(conf.filter(pl.col("match_key") == OEN_RULE).height)
    n = conf.height
    share = (missed + M_PSEUDO_PAIRS * UNBLOCKED_PRIOR) / (n + M_PSEUDO_PAIRS)
    return {
        "confirmed_same_oen_pairs": n,
        "found_only_by_the_oen_rule": missed,
        "prior": UNBLOCKED_PRIOR,
        "share": share,
    }


def measure_oen_m(
    model: dict[str, Any], confirmed: pl.DataFrame
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure how often a record's OEN is wrong: the m of the OEN levels.

    ``confirmed`` (``cw_id``, ``gamma_oen``) holds the pairs with a valid OEN on the record that
    the other identifiers confirm (:data:`OEN_CONFIRM_BITS`); a record with two such pairs (twins,
    look-alikes) is left out. Among the rest, the share whose OEN is another student's (``else``)
    or no student's (``unenrolled``) is the measured rate of wrong OENs, with the prior m
    (:data:`OEN_M_PRIOR`) as :data:`M_PSEUDO_PAIRS` pseudo-pairs and at least half a pair per level.

    Returns
    -------
    model, report
        A copy of ``model`` with the OEN m measured, and the counts behind it.
    """
    import copy

    new = copy.deepcopy(model)
    levels = _level_table(new)
    single = confirmed.join(
        confirmed.group_by("cw_id").len().filter(pl.col("len") == 1).select("cw_id"), on="cw_id"
    )
    counts = dict(single.group_by("gamma_oen").len().iter_rows())
    n = float(single.height)
    report: dict[str, Any] = {
        "confirm_bits": OEN_CONFIRM_BITS,
        "m_pseudo_pairs": M_PSEUDO_PAIRS,
        "confirmed_records": int(n),
        "records_with_two_confirmed_candidates": int(confirmed["cw_id"].n_unique() - n),
        "levels": [],
    }
    for (c, g), lv in sorted(levels.items()):
        if c != "oen":
            continue
        prior = OEN_M_PRIOR[OEN_LEVELS[g]]
        m = max(counts.get(g, 0) + M_PSEUDO_PAIRS * prior, 0.5) / (n + M_PSEUDO_PAIRS)
        lv["m_probability"] = m
        report["levels"].append(
            {
                "level": OEN_LEVELS[g],
                "m_prior": prior,
                "m": m,
                "u": _prob(lv, "u_probability"),
                "confirmed_at_level": int(counts.get(g, 0)),
            }
        )
    total = sum(r["m"] for r in report["levels"])
    for r in report["levels"]:  # the pseudo-pairs keep the sum at 1 up to the half-pair floors
        r["m"] = r["m"] / total
        levels[("oen", OEN_LEVELS.index(r["level"]))]["m_probability"] = r["m"]
    report["wrong_oen_rate"] = sum(r["m"] for r in report["levels"] if r["level"] != "exact")
    # an unenrolled OEN is record-level evidence (the record posterior's prior): neutral here
    un = levels[("oen", OEN_LEVELS.index("unenrolled"))]
    un["u_probability"] = un["m_probability"]
    return new, report


def level_weight_sql(model: dict[str, Any], comp: str) -> str:
    """SQL for the match weight that comparison ``comp`` contributes (0 for its null level)."""
    whens = [
        f"WHEN gamma_{comp} = {g} THEN {_level_weight(lv)!r}"
        for (c, g), lv in sorted(_level_table(model).items())
        if c == comp
    ]
    return f"(CASE {' '.join(whens)} ELSE 0.0 END)"


def weight_adjustment_sql(old: dict[str, Any], new: dict[str, Any]) -> str:
    """SQL (DuckDB and Spark) for the change in match weight from ``old`` to ``new`` m/u, plus
    the gender weight taken back where an agreeing first name already implies the gender."""
    o, n = _level_table(old), _level_table(new)
    terms = []
    for comp in LEVEL_NAMES:
        whens = [
            f"WHEN gamma_{comp} = {g} THEN {_level_weight(n[(c, g)]) - _level_weight(lv)!r}"
            for (c, g), lv in sorted(o.items())
            if c == comp
        ]
        terms.append(f"(CASE {' '.join(whens)} ELSE 0.0 END)")
    gender = " ".join(
        f"WHEN gamma_gender = {g} THEN {-_level_weight(lv)!r}"
        for (c, g), lv in sorted(n.items())
        if c == "gender"
    )
    terms.append(
        f"(CASE WHEN gamma_first_name >= {GENDER_IMPLIED_BY_FIRST_NAME} THEN "
        f"(CASE {gender} ELSE 0.0 END) ELSE 0.0 END)"
    )
    return " + ".join(terms)


def prior_weight(model: dict[str, Any]) -> float:
    """log2 prior odds of the trained model (the match weight of a pair with no evidence)."""
    p = float(model["probability_two_random_records_match"])
    return math.log2(p / (1 - p))


def m_u_table(model: dict[str, Any]) -> pl.DataFrame:
    """m and u probabilities and the match weight of every comparison level."""
    rows = []
    for comp in model["comparisons"]:
        for lvl in comp["comparison_levels"]:
            if lvl.get("is_null_level"):
                continue
            m, u = _prob(lvl, "m_probability"), _prob(lvl, "u_probability")
            w = math.log2(m / u) if m and u else None
            rows.append(
                {
                    "comparison": comp["output_column_name"],
                    "level": lvl.get("label_for_charts", ""),
                    "m_probability": m,
                    "u_probability": u,
                    "match_weight": w,
                    "tf_adjusted": bool(lvl.get("tf_adjustment_column")),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "comparison": pl.String,
            "level": pl.String,
            "m_probability": pl.Float64,
            "u_probability": pl.Float64,
            "match_weight": pl.Float64,
            "tf_adjusted": pl.Boolean,
        },
    )
