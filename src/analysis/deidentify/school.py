"""The education tables: ``student_years`` (one row per enrolment, with care and equity columns,
generalised to k-anonymity and l-diversity) and ``eqao``.

The large frames stay compact in memory: low-cardinality strings categorical, and ``_eid`` (a
u32 in ``study_id`` order, :func:`analysis.deidentify.keys.student_ids`) for the student; the
published tables cast back to strings while they are written.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from analysis.deidentify.anonymity import code_frame, measure_risk
from analysis.deidentify.contract import EQAO_COLUMNS, STUDENT_YEAR_COLUMNS
from analysis.deidentify.enforce import Constraint, measure_sets, protect_coded, refresh_derived
from analysis.deidentify.geography import (
    area_id,
    area_region,
    board_regions,
    region_of_postal,
    society_regions,
)
from analysis.deidentify.hierarchy import student_year_steps
from analysis.deidentify.policy import STUDENT_YEAR_PER
from analysis.deidentify.threat import EQAO_SCHOOL, STUDENT_YEAR_MEASURED, STUDENT_YEAR_SETS
from analysis.deidentify.utility import student_year_utility

CAT = pl.Categorical
# l-diversity of care_status applies to classes holding any child-welfare service that year: a
# class of students none of whom had a service reveals nothing sensitive
SENSITIVE = "care_status"
INVOLVED = "_service"


def _cat(*cols: str) -> list[pl.Expr]:
    return [pl.col(c).cast(CAT) for c in cols]


def _as_string(col: str, dtype: pl.DataType) -> pl.Expr:
    """``col`` with a categorical encoding undone (other dtypes unchanged)."""
    return pl.col(col).cast(pl.String) if isinstance(dtype, pl.Categorical) else pl.col(col)


def as_strings(df: pl.DataFrame | pl.LazyFrame, columns: tuple[str, ...]) -> pl.LazyFrame:
    """``columns`` of ``df`` with every categorical cast back to its string values."""
    schema = df.collect_schema()
    return df.lazy().select([_as_string(c, schema[c]) for c in columns])


def derive_student_years(
    big: dict[str, pl.LazyFrame],
    ids: pl.DataFrame,
    person_of_oen: pl.DataFrame,
    care: pl.DataFrame,
) -> pl.DataFrame:
    """One row per enrolment, compact: low-cardinality strings categorical, ``_eid`` for the
    student; sorted like the published table (``study_id``, ``school_year``)."""
    base = _enrolments(big["onsis_enrolment"], ids)
    pcw = _cw_attributes(person_of_oen, ids)
    cyear = care.join(pcw.select("cw_person_id", "_eid"), on="cw_person_id", how="inner").select(
        "_eid",
        pl.col("school_year").cast(CAT),
        *_cat("care_status", "placement_group"),
        pl.col("service_society").cast(CAT),
        "cumulative_days_in_care",
    )
    sy = (
        base.join(pcw.drop("cw_person_id"), on="_eid", how="left", maintain_order="left")
        .join(cyear, on=["_eid", "school_year"], how="left", maintain_order="left")
        .with_columns(
            pl.col("cw_involved").fill_null(False),
            pl.col("care_status").fill_null(pl.lit("none").cast(CAT)),
            pl.col("cumulative_days_in_care").fill_null(0).cast(pl.Int32),
            pl.coalesce("service_society", "person_society").alias("society_id"),
        )
        .drop("service_society", "person_society")
    )
    del base
    years = sy["birth_year"].unique().drop_nulls().sort()
    return sy.with_columns(
        _ever(sy, pl.col("care_status") == "in_care").alias("ever_in_care"),
        pl.col("birth_year")
        .replace_strict(years, years.cast(pl.String), default=None, return_dtype=CAT)
        .alias("birth_year_band"),
        (pl.col("care_status") != "none").alias(INVOLVED),
    )


def _enrolments(on: pl.LazyFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """The enrolment rows, coarsened (birth year, age on 1 September, region; the school is not
    read: finer than any class can hold) and keyed by ``_eid``, sorted by (``_eid``, school
    year)."""
    sy_start = pl.col("school_year").str.slice(0, 4).cast(pl.Int32)
    bd = pl.col("birth_date")
    base = (
        on.select(
            "oen",
            pl.col("school_year").cast(CAT),
            sy_start.cast(pl.Int16).alias("_sy"),
            *_cat("board_id", "grade", "gender"),
            bd.dt.year().cast(pl.Int16).alias("birth_year"),
            (
                sy_start
                - bd.dt.year()
                - ((bd.dt.month() > 9) | ((bd.dt.month() == 9) & (bd.dt.day() > 1))).cast(pl.Int32)
            )
            .cast(pl.Int8)
            .alias("age_sept1"),
            region_of_postal().cast(CAT).alias("region"),
            "days_enrolled",
            "days_absent",
            "credits_earned",
        )
        .join(ids.lazy().select("oen", "_eid"), on="oen", how="left")
        .drop("oen")
        .collect(engine="streaming")
    )
    # sorted like the published table while still narrow: the joins after this keep this order
    order = _student_year_order(base)
    return base.sort("_eid", "_sy") if order is None else base[order]


def _cw_attributes(person_of_oen: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """Child-welfare attributes of the students with a person: one person per OEN, by ``_eid``."""
    return person_of_oen.join(ids.select("oen", "_eid"), on="oen", how="inner").select(
        "_eid",
        "cw_person_id",
        pl.lit(True).alias("cw_involved"),
        # a missing race of a child-welfare-involved student is "not_stated"; students without
        # a record stay null (left join). Detailed race for now: the first global step groups it
        pl.col("race").fill_null("not_stated").cast(CAT).alias("race_group"),
        "born_outside_canada",
        *_cat("first_language", "gender_identity"),
        "link_probability",
        pl.col("link_pass").cast(CAT),
        pl.col("society_id").cast(CAT).alias("person_society"),
    )


def _student_year_order(base: pl.DataFrame) -> pl.Series | None:
    """Row order sorting ``base`` by (``_eid``, ``_sy``), by counting (the pair is unique and
    ``_eid`` dense): no comparison sort of 12 M rows. ``None`` when a key is missing or
    repeated (then sort normally)."""
    if base.height == 0 or base["_eid"].null_count() or base["_sy"].null_count():
        return None
    eid = base["_eid"].to_numpy().astype(np.int64)
    sy = base["_sy"].to_numpy().astype(np.int64)
    lo = int(sy.min())
    span = int(sy.max()) - lo + 1
    space = (int(eid.max()) + 1) * span
    if space > 1 << 28:
        return None
    key = eid * span + (sy - lo)
    del eid, sy
    present = np.zeros(space, dtype=bool)
    present[key] = True
    pos = np.cumsum(present, dtype=np.int64)
    if pos[-1] != base.height:  # a repeated (student, year)
        return None
    order = np.empty(base.height, dtype=np.int64)
    order[pos[key] - 1] = np.arange(base.height)
    return pl.Series(order)


def _ever(sy: pl.DataFrame, cond: pl.Expr) -> pl.Series:
    """``cond.cum_max().over("_eid")`` for a frame sorted by ``_eid``: whether ``cond`` held in
    this row or an earlier row of the same student."""
    eid = sy["_eid"]
    if eid.null_count():
        return sy.select(cond.cum_max().over("_eid")).to_series()
    x = sy.select(cond.fill_null(False)).to_series().to_numpy()
    e = eid.to_numpy()
    c = np.cumsum(x, dtype=np.int64)
    start = np.zeros(x.size, dtype=np.int64)
    starts = np.flatnonzero(e[1:] != e[:-1]) + 1
    start[starts] = starts
    np.maximum.accumulate(start, out=start)
    before = np.where(start > 0, c[start - 1], 0)
    return pl.Series(c - before > 0)


def protect_student_years(
    sy: pl.DataFrame,
    ids: pl.DataFrame,
    k: int,
    l_div: int,
    boards: pl.DataFrame,
    societies: pl.DataFrame,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``sy`` generalised along :func:`student_year_steps` (then suppressed) until ``k`` and
    ``l_div`` hold on every set of :data:`STUDENT_YEAR_SETS` together, with ``study_id``; and
    its ``student_years_*`` entries of ``risk.json``.

    Classes are measured on a narrow coded frame (the entity is ``_eid``, one-to-one with
    ``study_id``); ``board_area`` and ``society_area`` hold the board and society (or their
    region, or Ontario) while they are generalised.
    """
    steps = student_year_steps(boards, societies)
    regions = board_regions(boards)
    sy = sy.with_columns(
        pl.col("board_id").alias("board_area"), pl.col("society_id").alias("society_area")
    )
    qis = tuple(dict.fromkeys(q for s in STUDENT_YEAR_MEASURED for q in s.qis))
    coded = code_frame(
        sy,
        qis,
        STUDENT_YEAR_PER,
        SENSITIVE,
        INVOLVED,
        steps=steps,
        entity="_eid",
        keep=("birth_year", "cw_involved"),
    )
    derived = {"board_region": area_region("board_area", regions).cast(pl.Categorical)}
    refresh_derived(coded, derived)
    before_utility = student_year_utility(*coded.alive())
    risk: dict[str, Any] = {
        "student_years_before": measure_sets(coded, STUDENT_YEAR_MEASURED, k, INVOLVED)
    }
    risk["student_years_generalisation"] = protect_coded(
        coded,
        [Constraint.of(s, INVOLVED) for s in STUDENT_YEAR_SETS],
        steps,
        k,
        l_div,
        derived,
    )
    risk["student_years_after"] = measure_sets(coded, STUDENT_YEAR_MEASURED, k, INVOLVED)
    risk["student_years_utility"] = {
        "before": before_utility,
        "after": student_year_utility(*coded.alive()),
    }
    sy = sy.with_columns(
        ids["study_id"].gather(sy["_eid"]),
        *(coded.column(c) for c in qis),
    )
    return sy, risk


def board_generalised(sy: pl.DataFrame, boards: pl.DataFrame) -> pl.Series:
    """The ``_eid`` of the students whose board is generalised (or suppressed) in ``sy``."""
    ids = list(board_regions(boards))
    return (
        sy.filter(~pl.col("board_area").cast(pl.String).is_in(ids).fill_null(False))
        .get_column("_eid")
        .unique()
    )


def published_student_years(
    sy: pl.DataFrame, boards: pl.DataFrame, societies: pl.DataFrame
) -> pl.LazyFrame:
    """The published ``student_years`` columns of the protected ``sy``, computed while they are
    written (never a second copy in memory)."""
    exact = (
        pl.col("birth_year_band").cast(pl.String) == pl.col("birth_year").cast(pl.String)
    ).fill_null(False)
    return (
        sy.lazy()
        .with_columns(
            area_id("board_area", board_regions(boards)).alias("board_id"),
            area_region("board_area", board_regions(boards)).alias("board_region"),
            area_id("society_area", society_regions(societies)).alias("society_id"),
            area_region("society_area", society_regions(societies)).alias("society_region"),
            # birth year and age on 1 September only where the band is a single year
            pl.when(exact).then(pl.col("birth_year")).alias("birth_year"),
            pl.when(exact).then(pl.col("age_sept1")).alias("age_sept1"),
            pl.col("race_group").alias("race"),  # the grouped value, under the old name too
            pl.when(pl.col("race_group").is_not_null())
            .then(pl.col("race_group") == "indigenous")
            .alias("indigenous"),
        )
        .select(STUDENT_YEAR_COLUMNS)
    )


def student_years_table(
    big: dict[str, pl.LazyFrame],
    ids: pl.DataFrame,
    person_of_oen: pl.DataFrame,
    care: pl.DataFrame,
    k: int,
    l_div: int,
    boards: pl.DataFrame,
    societies: pl.DataFrame,
) -> tuple[pl.LazyFrame, dict[str, Any], pl.DataFrame]:
    """``student_years`` as written (lazy, strings), its ``risk.json`` entries, and the protected
    rows (internal columns, ``_eid``: the joined views and ``eqao`` read them)."""
    sy, risk = protect_student_years(
        derive_student_years(big, ids, person_of_oen, care), ids, k, l_div, boards, societies
    )
    published = published_student_years(sy, boards, societies)
    return as_strings(published, STUDENT_YEAR_COLUMNS), risk, sy


def eqao_table(
    eqao_results: pl.LazyFrame, ids: pl.DataFrame, board_hidden: pl.Series, k: int
) -> tuple[pl.LazyFrame, int, dict[str, Any]]:
    """``eqao`` as written (lazy, strings), its rows and its ``risk.json`` entry: results by
    ``study_id`` (``at_standard``: level 3 or more, or an OSSLT pass, among participants), sorted
    by student, school year and assessment. ``board_hidden``: the ``_eid`` of students whose
    board ``student_years`` generalised; their ``board_id`` is null here too (the eqao rows
    would otherwise give it back through ``study_id``)."""
    eqao = (
        eqao_results.select(
            "oen",
            *_cat("school_year", "board_id", "assessment", "participation", "g9_stream"),
            "grade",
            "level",
            pl.when(pl.col("participation") == "participated")
            .then(
                pl.when(pl.col("assessment") == "osslt")
                .then(pl.col("osslt_result") == "pass")
                .otherwise(pl.col("level") >= 3)
            )
            .alias("at_standard"),
            "first_time",
        )
        .join(ids.lazy(), on="oen", how="left")
        .collect(engine="streaming")
        .sort(
            "_eid",
            pl.col("school_year").cast(pl.String),
            pl.col("assessment").cast(pl.String),
        )
    )
    s = EQAO_SCHOOL
    risk: dict[str, Any] = {"eqao_before": {s.name: measure_risk(eqao, s.qis, s.per, k=k)}}
    hidden = eqao["_eid"].is_in(board_hidden.implode()).fill_null(False)
    eqao = eqao.with_columns(pl.when(~hidden).then(pl.col("board_id")).alias("board_id"))
    risk["eqao_after"] = {s.name: measure_risk(eqao, s.qis, s.per, k=k)}
    risk["eqao_board_generalised"] = int(hidden.sum())
    return as_strings(eqao, EQAO_COLUMNS), eqao.height, risk
