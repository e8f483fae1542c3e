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
dob         exact / day and month swapped / within one day / one year apart, same day and month
            / else
postal      the child-welfare postal code is one of the student's (any school year) / same
            forward sortation area / same postal district (first letter: a family that moved
            usually stays in its region) / the district the record's society serves is one the
            student lived in (the record's postal code points elsewhere) / else
gender      same / different (null when the gender identity has no school equivalent); counted
            only when the first names disagree (see *Recalibration*)
=========== ===================================================================================

Blocking rules for prediction (each pair is scored once, attributed to the first rule that
finds it):

0. same OEN (Luhn-valid on the child-welfare side): the deterministic candidates, scored too;
1. same birth date and first two letters of the first name, gender compatible (equal, or
   unknown on either side);
2. same birth date and first two letters of the surname, gender compatible;
3. same surname, birth date with day and month swapped, gender compatible;
4. same surname, birth year and month, day within one, gender compatible;
5. same first name, surname and birth year, within a day (one-day errors across a month end);
6. same surname, birth month and day, birth year one apart, gender compatible;
7. the child-welfare postal code is one of the student's, same birth year (both names damaged
   at once: a typo in the first two letters of the first name and a new surname).

Rules 1-2 used to block on initials; two letters find the same true pairs save those with both
names damaged (which rule 7 finds when the address is current) at a fifth of the comparisons.
Rules 3-6 catch a damaged birth date together with a damaged first name (typo or nickname with
a new initial), which rules 1-2 cannot. Between them they miss a true pair only when two identifiers are both damaged in particular
ways (for example a wrong birth date *and* a nickname with a new initial *and* a changed
surname); the quality report counts such misses against the truth.

Training: u by random sampling (at most :data:`U_MAX_PAIRS` pairs) and two EM sessions (blocked
on birth date + gender, then first name + surname) run on a seeded random sample of the students
sized so that blocking on birth date would give about :data:`EM_TRAINING_PAIRS` pairs
(:func:`training_sample`; every student below that size, so tiny and small train on all). The
trained m and u are then used on all students, with the prior (probability two random records
match) and the term frequencies taken from the full data.

Recalibration (:func:`recalibrate_m`): EM on blocked pairs lets look-alike non-matches (same
birth date and first name, different surname) pull the m of the disagreement levels up, which
makes pairs with one disagreeing identifier look more likely than they are. The m of every level
is therefore re-estimated from the pairs that share a Luhn-valid OEN *and* are confirmed by the
other identifiers (at least :data:`CONFIRM_BITS` of evidence from the other comparisons, so a
wrong OEN cannot enter): under the model's own assumption that identifiers err independently,
conditioning on the others does not bias the one being estimated. EM's m is the prior
(:data:`M_PSEUDO_PAIRS` pseudo-pairs). Gender is implied by an agreeing first name, so it is
counted only when the first names disagree. The adjustment is applied in SQL to splink's match
weight (term-frequency adjustments unchanged), so both engines score identically.
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
from splink.comparison_library import CustomComparison

log = logging.getLogger(__name__)

CW_TABLE = "cw_records"
STUDENT_TABLE = "onsis_students"

# gamma values (level index from the bottom) used by the resolution rules
FIRST_NAME_LEVELS = ("else", "swapped", "dl1", "nickname", "exact")
LAST_NAME_LEVELS = ("else", "dl2", "dl1", "part", "exact")
DOB_LEVELS = ("else", "year_off", "day_off", "day_month_swap", "exact")
POSTAL_LEVELS = ("else", "society_district", "region", "fsa", "exact")
GENDER_LEVELS = ("else", "exact")
LEVEL_NAMES: dict[str, tuple[str, ...]] = {
    "first_name": FIRST_NAME_LEVELS,
    "last_name": LAST_NAME_LEVELS,
    "dob": DOB_LEVELS,
    "postal": POSTAL_LEVELS,
    "gender": GENDER_LEVELS,
}

BLOCKING_RULE_NAMES = (
    "same OEN",
    "birth date + first two letters of the first name (gender compatible)",
    "birth date + first two letters of the surname (gender compatible)",
    "surname + birth date with day and month swapped",
    "surname + birth year and month, day within one",
    "first name + surname + birth year, within a day (across a month end)",
    "surname + birth month and day, year one apart",
    "postal code (any school year) + birth year",
)

# Judgement, documented: exact first name + surname + birth date finds about 80% of the true
# pairs when a tenth to a fifth of records have a damaged name or birth date (BRIEF.md s.8).
DETERMINISTIC_RECALL = 0.8


def _null(*cols: str) -> Any:
    cond = " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in cols)
    return cll.CustomLevel(cond, label_for_charts="null").configure(is_null_level=True)


def comparisons() -> list[CustomComparison]:
    """The five comparisons (see the module docstring)."""
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
            cll.CustomLevel("dob_l = dob_r", label_for_charts="exact"),
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
    return [first, last, dob, postal, gender]


# gender agrees or is unknown on either side (a child-welfare gender identity with no school
# equivalent is null, so those children are still paired with every student)
_GENDER_COMPATIBLE = "(l.gender = r.gender OR l.gender IS NULL OR r.gender IS NULL)"


def blocking_rules() -> list[Any]:
    """Prediction blocking rules, in the order of :data:`BLOCKING_RULE_NAMES`."""
    return [
        block_on("oen"),
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
        # last: an exploding rule does not exclude its pairs from the rules after it
        block_on("postal_codes", "dob_year", arrays_to_explode=["postal_codes"]),
    ]


def settings(link_type: str = "link_only") -> SettingsCreator:
    """The splink settings (untrained)."""
    return SettingsCreator(
        link_type=link_type,  # type: ignore[arg-type]
        unique_id_column_name="unique_id",
        comparisons=comparisons(),  # type: ignore[arg-type]
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
    cw_pairs: pl.DataFrame  # cw_id_1, cw_id_2, match_probability (child-welfare duplicates)
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


# EM sessions (columns blocked on); birth date + gender halves the first session's pairs and
# doubles its share of true matches (gender is estimated in the second session)
EM_BLOCKING_RULES: tuple[tuple[str, ...], ...] = (("dob", "gender"), ("first_name", "last_name"))
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


def _train(
    cw: pl.DataFrame, students: pl.DataFrame, db_api: Any, *, seed: int, max_pairs_em: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Estimate m and u on a seeded sample of the students (:func:`training_sample`).

    m and u are properties of the comparison levels, not of the file size, and the sample keeps
    the share of true matches among the blocked pairs; the prior and the term frequencies are
    re-estimated on the full data by :func:`_predict`. The prior comes from the deterministic
    rule (:data:`DETERMINISTIC_RECALL`), u from random sampling (at most :data:`U_MAX_PAIRS`),
    m from the EM sessions of :data:`EM_BLOCKING_RULES`, all on one DuckDB thread.

    Returns
    -------
    model, sessions
        The trained splink model (``linker_uid`` cleared) and a record of each EM session.
    """
    train_students, frac = training_sample(cw, students, seed=seed, target_pairs=EM_TRAINING_PAIRS)
    tr_cw = _register(db_api, cw, CW_TABLE + "_train")
    tr_st = _register(db_api, train_students, STUDENT_TABLE + "_train")
    threads = _duckdb_threads(db_api, 1)
    trainer = Linker([tr_cw, tr_st], settings("link_only"), log_level=None)
    tr = trainer.training
    tr.estimate_probability_two_random_records_match(
        [block_on("first_name", "last_name", "dob")], recall=DETERMINISTIC_RECALL
    )
    with _quiet_default_max_pairs():
        tr.estimate_u_using_random_sampling(
            max_pairs=float(min(max_pairs_em, U_MAX_PAIRS)), seed=seed
        )
    sessions = []
    for rule in EM_BLOCKING_RULES:
        tr.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), max_pairs=float(max_pairs_em)
        )
        sessions.append(
            {
                "blocking_rule": " AND ".join(f"same {c}" for c in rule),
                "student_sample_fraction": frac,
                "students_in_sample": train_students.height,
            }
        )
    trained = trainer.misc.save_model_to_json()
    trained["linker_uid"] = None
    _duckdb_threads(db_api, threads)
    return trained, sessions


def _predict(
    cw: pl.DataFrame, students: pl.DataFrame, db_api: Any, trained: dict[str, Any]
) -> tuple[Any, str]:
    """Score every candidate pair the blocking rules find, with the trained m and u and the prior
    re-estimated on all students.

    Returns
    -------
    linker, predictions
        The splink linker on the full data and the physical name of its predictions table.
    """
    cw_sdf = _register(db_api, cw, CW_TABLE)
    st_sdf = _register(db_api, students, STUDENT_TABLE)
    linker = Linker([cw_sdf, st_sdf], trained, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "last_name", "dob")], recall=DETERMINISTIC_RECALL
    )
    predictions = linker.inference.predict(warning_mode="never")
    return linker, predictions.physical_name


def _query(linker: Any, sql: str) -> pl.DataFrame:
    """Run ``sql`` on the linker's engine and return the result as a polars frame."""
    return _to_polars(linker.misc.query_sql(sql, output_type="splink_df"))


def _recalibrated_model(
    linker: Any, pred: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The predicting linker's model with every m re-estimated from confirmed same-OEN pairs
    (:func:`recalibrate_m`).

    Returns
    -------
    em_model, model, report
        The model as EM left it, the recalibrated model and the recalibration report (both
        models with ``linker_uid`` cleared: a random id, and the same data must give the same
        bytes).
    """
    em_model = linker.misc.save_model_to_json()
    oen_pairs = _query(linker, f"SELECT {', '.join(_GAMMA_COLS)} FROM {pred} WHERE oen_l = oen_r")
    em_model["linker_uid"] = None
    model, recal = recalibrate_m(em_model, oen_pairs)
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
    keep_probability
        Pairs below this probability are dropped from the returned pairs, except same-OEN pairs
        (always kept: the deterministic pass needs them).
    """
    trained, sessions = _train(cw, students, db_api, seed=seed, max_pairs_em=max_pairs_em)
    linker, pred = _predict(cw, students, db_api, trained)
    em_model, model, recal = _recalibrated_model(linker, pred)
    # the recalibrated match weight and probability, in SQL (the same on both engines)
    w = f"(match_weight + {weight_adjustment_sql(em_model, model)})"
    hist = _weight_histogram(linker, pred, w)
    by_rule = _query(
        linker, f"SELECT match_key, count(*) AS pairs FROM {pred} GROUP BY match_key ORDER BY 1"
    )
    pairs = _kept_pairs(linker, pred, w, keep_probability)
    cw_pairs = _score_cw_duplicates(cw, db_api, model)
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


def _score_cw_duplicates(cw: pl.DataFrame, db_api: Any, model: dict[str, Any]) -> pl.DataFrame:
    """Score pairs of child-welfare records with the trained m and u, to find duplicates.

    The prior (probability two random records are the same child) is re-estimated for this
    comparison space with the same deterministic rule and recall as the link model.
    """
    dd = dict(model)
    dd["link_type"] = "dedupe_only"
    dd["linker_uid"] = None
    dd["additional_columns_to_retain"] = []
    sdf = _register(db_api, cw, CW_TABLE + "_dedupe")
    linker = Linker(sdf, dd, log_level=None)
    try:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("first_name", "last_name", "dob")], recall=DETERMINISTIC_RECALL
        )
    except Exception:  # no exact duplicates at all: keep the link model's prior
        log.info("cw dedupe: no exact duplicate pairs; using the link model's prior")
    pred = linker.inference.predict(threshold_match_probability=0.5, warning_mode="never")
    out = _to_polars(
        linker.misc.query_sql(
            f"SELECT unique_id_l AS cw_id_1, unique_id_r AS cw_id_2, match_probability FROM {pred.physical_name}",
            output_type="splink_df",
        )
    )
    return out.sort("cw_id_1", "cw_id_2")


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


def _level_weight(lv: dict[str, Any]) -> float:
    m, u = lv.get("m_probability"), lv.get("u_probability")
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
    """Re-estimate every level's m from same-OEN pairs confirmed by the other identifiers.

    Parameters
    ----------
    model
        The trained splink model (dict).
    oen_pairs
        The ``gamma_*`` columns of the scored pairs that share a Luhn-valid OEN.

    Returns
    -------
    model, report
        A copy of ``model`` with the new m probabilities, and per level the EM m, the new m and
        the number of confirmed pairs behind it.
    """
    import copy

    new = copy.deepcopy(model)
    old_levels = _level_table(model)
    new_levels = _level_table(new)
    comps = list(LEVEL_NAMES)
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
            m_em = float(lv.get("m_probability") or 0.0)
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
            m, u = lvl.get("m_probability"), lvl.get("u_probability")
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
