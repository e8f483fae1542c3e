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

from analysis.deidentify.anonymity import code_frame, generalise_coded, measure_coded
from analysis.deidentify.contract import EQAO_COLUMNS, STUDENT_YEAR_COLUMNS
from analysis.deidentify.geography import region_of_postal
from analysis.deidentify.hierarchy import student_year_steps
from analysis.deidentify.keys import StudyKey, hmac_hex
from analysis.deidentify.policy import (
    QI_STUDENT,
    QI_STUDENT_EXTRA,
    STUDENT_YEAR_PER,
    SUPPRESSION_ORDER,
)
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
    key: StudyKey,
) -> pl.DataFrame:
    """One row per enrolment, compact: low-cardinality strings categorical, ``_eid`` for the
    student; sorted like the published table (``study_id``, ``school_year``)."""
    base = _enrolments(big["onsis_enrolment"], ids, key)
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


def _enrolments(on: pl.LazyFrame, ids: pl.DataFrame, key: StudyKey) -> pl.DataFrame:
    """The enrolment rows, coarsened (birth year, age on 1 September, region, hashed school) and
    keyed by ``_eid``, sorted by (``_eid``, school year)."""
    schools = on.select(pl.col("school_id").unique()).collect()["school_id"].drop_nulls()
    school_hash = hmac_hex(key, "school", schools.cast(pl.String).to_list())
    sy_start = pl.col("school_year").str.slice(0, 4).cast(pl.Int32)
    bd = pl.col("birth_date")
    base = (
        on.select(
            "oen",
            pl.col("school_year").cast(CAT),
            sy_start.cast(pl.Int16).alias("_sy"),
            *_cat("board_id", "grade", "gender"),
            pl.col("school_id")
            .replace_strict(schools, school_hash, default=None, return_dtype=pl.String)
            .cast(CAT),
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
    sy: pl.DataFrame, ids: pl.DataFrame, k: int, l_div: int
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``sy`` generalised along :func:`student_year_steps` (then suppressed) to ``k`` and
    ``l_div``, with ``study_id``; and its ``student_years_*`` entries of ``risk.json``.

    Classes are measured on a narrow coded frame (the entity is ``_eid``, one-to-one with
    ``study_id``).
    """
    steps = student_year_steps()
    coded = code_frame(
        sy,
        QI_STUDENT,
        STUDENT_YEAR_PER,
        SENSITIVE,
        INVOLVED,
        steps=steps,
        entity="_eid",
        keep=("birth_year", *QI_STUDENT_EXTRA),
    )

    def measure(qis: tuple[str, ...]) -> dict[str, Any]:
        return measure_coded(coded, qis, STUDENT_YEAR_PER, SENSITIVE, INVOLVED)

    risk: dict[str, Any] = {"student_years_before": measure(QI_STUDENT)}
    risk["student_years_generalisation"] = generalise_coded(
        coded, QI_STUDENT, steps, k, STUDENT_YEAR_PER, SENSITIVE, INVOLVED, l_div, SUPPRESSION_ORDER
    )
    risk["student_years_after"] = measure(QI_STUDENT)
    risk["student_years_supplementary"] = {
        "enforced": False,
        "note": "also keyed on born_outside_canada and first_language (not enforced)",
        **measure((*QI_STUDENT, *QI_STUDENT_EXTRA)),
    }
    sy = sy.with_columns(
        ids["study_id"].gather(sy["_eid"]),
        *(coded.column(c) for c in QI_STUDENT),
    )
    return sy, risk


def published_student_years(sy: pl.DataFrame) -> pl.LazyFrame:
    """The published ``student_years`` columns of the protected ``sy``, computed while they are
    written (never a second copy in memory)."""
    exact = (
        pl.col("birth_year_band").cast(pl.String) == pl.col("birth_year").cast(pl.String)
    ).fill_null(False)
    return (
        sy.lazy()
        .with_columns(
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
    key: StudyKey,
    k: int,
    l_div: int,
) -> tuple[pl.LazyFrame, dict[str, Any], int]:
    """``student_years`` as written (lazy, strings), its ``risk.json`` entries and its rows."""
    sy, risk = protect_student_years(
        derive_student_years(big, ids, person_of_oen, care, key), ids, k, l_div
    )
    published = published_student_years(sy)
    risk["student_years_utility"] = student_year_utility(
        published.filter(pl.col("cw_involved")).collect()
    )
    return as_strings(published, STUDENT_YEAR_COLUMNS), risk, sy.height


def eqao_table(eqao_results: pl.LazyFrame, ids: pl.DataFrame) -> tuple[pl.LazyFrame, int]:
    """``eqao`` as written (lazy, strings) and its rows: results by ``study_id`` (``at_standard``:
    level 3 or more, or an OSSLT pass, among participants), sorted by student, school year and
    assessment."""
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
    return as_strings(eqao, EQAO_COLUMNS), eqao.height
