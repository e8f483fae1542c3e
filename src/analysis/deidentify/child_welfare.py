"""The child-welfare tables: ``cw_persons`` (generalised to k-anonymity), ``care_days``,
``admissions``, ``cases`` and ``onlac``.

Persons are keyed by ``cw_study_id`` (``cw_person_map``), cases by ``case_study_id``; dates become
fiscal years and day counts.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analysis.deidentify.anonymity import generalise, measure_risk
from analysis.deidentify.care import days_in_care_before, in_care, placement_days
from analysis.deidentify.contract import (
    ADMISSION_COLUMNS,
    CARE_DAYS_COLUMNS,
    CASE_COLUMNS,
    CW_PERSON_COLUMNS,
    ONLAC_COLUMNS,
)
from analysis.deidentify.geography import society_regions
from analysis.deidentify.hierarchy import birth_year_band, cw_person_steps
from analysis.deidentify.keys import StudyKey, pseudonym
from analysis.deidentify.linked import protect_join
from analysis.deidentify.persons import People
from analysis.deidentify.policy import QI_CW, SUPPRESSION_ORDER_CW
from analysis.deidentify.utility import cw_person_utility
from analysis.domain.dates import EXTRACT_END, fiscal_year
from analysis.domain.vocab import RACE_GROUP


def cw_person_map(key: StudyKey, persons: pl.DataFrame) -> pl.DataFrame:
    """``cw_person_id`` -> ``cw_study_id`` (HMAC in the ``cw_person`` space), one row per person."""
    cw_id = pseudonym(key, persons["cw_person_id"].cast(pl.String), "cw_person")
    return persons.select("cw_person_id", cw_id.alias("cw_study_id"))


def cw_persons_table(
    persons: pl.DataFrame,
    cw_map: pl.DataFrame,
    societies: pl.DataFrame,
    key: StudyKey,
    k: int,
    student_years: pl.DataFrame,
    ids: pl.DataFrame,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``cw_persons`` generalised along :func:`cw_person_steps` to ``k``, with ``study_id``
    suppressed where the join with ``student_years`` (the protected rows, internal columns)
    would fall below ``k`` (:func:`analysis.deidentify.linked.protect_join`); and its
    ``cw_persons_*`` and ``join_*`` entries of ``risk.json``."""
    cw = _cw_person_records(persons, cw_map, key)
    util_before = cw_person_utility(_published_cw_persons(cw, societies))
    risk: dict[str, Any] = {"cw_persons_before": measure_risk(cw, QI_CW, k=k)}
    cw, rep = generalise(cw, QI_CW, cw_person_steps(societies), k, order=SUPPRESSION_ORDER_CW)
    risk["cw_persons_generalisation"] = rep
    risk["cw_persons_after"] = measure_risk(cw, QI_CW, k=k)
    cw, join_risk = protect_join(cw, student_years, ids, k)
    risk.update(join_risk)
    cw = _published_cw_persons(cw, societies)
    risk["cw_persons_utility"] = {"before": util_before, "after": cw_person_utility(cw)}
    return cw, risk


def _cw_person_records(persons: pl.DataFrame, cw_map: pl.DataFrame, key: StudyKey) -> pl.DataFrame:
    """One row per person at full detail, with ``society_area`` (the society, to be generalised
    to its region) and without any identifier but the pseudonyms."""
    by = pl.col("birth_date").dt.year().cast(pl.Int16)
    return (
        persons.with_columns(
            cw_map["cw_study_id"],
            by.alias("birth_year"),
            birth_year_band(by, 1).alias("birth_year_band"),
            pl.col("society_id").alias("society_area"),
            pl.col("race").fill_null("not_stated"),
            pl.col("oen").is_not_null().alias("linked"),
            pseudonym(key, persons["oen"], "oen").alias("study_id"),
        )
        .select(
            "cw_study_id",
            "society_id",
            "society_area",
            "birth_year",
            "birth_year_band",
            "gender_identity",
            "race",
            "born_outside_canada",
            "first_language",
            "human_trafficking_risk",
            "linked",
            "study_id",
        )
        .sort("cw_study_id")
    )


def _published_cw_persons(cw: pl.DataFrame, societies: pl.DataFrame) -> pl.DataFrame:
    """The published columns: ``society_area`` back to ``society_id`` (null when generalised) and
    ``society_region``; the exact birth year only where the band is one year; race group."""
    is_society = pl.col("society_area").str.contains(r"^S\d+$").fill_null(False)
    return cw.with_columns(
        pl.when(is_society).then(pl.col("society_area")).alias("society_id"),
        pl.when(is_society)
        .then(pl.col("society_area").replace_strict(society_regions(societies), default=None))
        .otherwise(pl.col("society_area"))
        .alias("society_region"),
        pl.when(pl.col("birth_year_band") == pl.col("birth_year").cast(pl.String))
        .then(pl.col("birth_year"))
        .alias("birth_year"),
        pl.col("race").replace_strict(RACE_GROUP, default=None).alias("race_group"),
        pl.when(pl.col("race").is_not_null())
        .then(pl.col("race") == "indigenous")
        .alias("indigenous"),
    ).select(CW_PERSON_COLUMNS)


def care_days_table(placements: pl.DataFrame, cw_map: pl.DataFrame) -> pl.DataFrame:
    """``care_days``: placement days per person, fiscal year and placement type."""
    return (
        placement_days(placements)
        .join(cw_map, on="cw_person_id")
        .select(CARE_DAYS_COLUMNS)
        .sort("cw_study_id", "fiscal_year", "placement_type", "society_id")
    )


def admissions_table(services: pl.DataFrame, cw_map: pl.DataFrame) -> pl.DataFrame:
    """``admissions``: one row per in-care episode, with days to exit (null while in care) and
    days observed (to exit or the extract's end)."""
    adm = services.filter(in_care()).with_columns(
        fiscal_year("start_date").alias("admission_fiscal_year"),
        pl.when(pl.col("end_date").is_not_null())
        .then((pl.col("end_date") - pl.col("start_date")).dt.total_days())
        .cast(pl.Int32)
        .alias("days_to_exit"),
        (pl.col("end_x") - pl.col("start_date"))
        .dt.total_days()
        .cast(pl.Int32)
        .alias("days_observed"),
    )
    return (
        adm.join(cw_map, on="cw_person_id")
        .select(ADMISSION_COLUMNS)
        .sort("cw_study_id", "admission_fiscal_year", "service_type", "days_observed")
    )


def cases_table(cases: pl.DataFrame, key: StudyKey) -> pl.DataFrame:
    """``cases``: closed cases by ``case_study_id``, with days to recurrence and days observed."""
    return (
        cases.with_columns(
            pseudonym(key, cases["case_id"], "case").alias("case_study_id"),
            fiscal_year("closed_date").alias("closed_fiscal_year"),
            (pl.col("recurrence_date") - pl.col("closed_date"))
            .dt.total_days()
            .cast(pl.Int32)
            .alias("days_to_recurrence"),
            (pl.lit(EXTRACT_END) - pl.col("closed_date"))
            .dt.total_days()
            .cast(pl.Int32)
            .alias("days_observed"),
        )
        .select(CASE_COLUMNS)
        .sort("case_study_id")
    )


def onlac_table(f: dict[str, pl.DataFrame], people: People, cw_map: pl.DataFrame) -> pl.DataFrame:
    """``onlac``: OnLAC assessments with the youth's age and days in care at the assessment."""
    return (
        _onlac(f, people.persons, people.services)
        .join(cw_map, on="cw_person_id")
        .select(ONLAC_COLUMNS)
        .sort("cw_study_id", "fiscal_year", "age", "days_in_care")
    )


def _onlac(
    f: dict[str, pl.DataFrame], persons: pl.DataFrame, services: pl.DataFrame
) -> pl.DataFrame:
    a = f["cpin_onlac"].join(
        f["links"].select("cw_record_id", "cw_person_id"), on="cw_record_id", how="inner"
    )
    a = a.join(persons.select("cw_person_id", "birth_date"), on="cw_person_id", how="left")
    care = services.filter(in_care()).select("cw_person_id", "start_date", "end_x")
    days = (
        a.select("assessment_id", "cw_person_id", "assessment_date")
        .join(care, on="cw_person_id", how="left")
        .with_columns(
            days_in_care_before(pl.col("assessment_date") + pl.duration(days=1))
            .fill_null(0)
            .alias("d")
        )
        .group_by("assessment_id")
        .agg(pl.col("d").sum().cast(pl.Int32).alias("days_in_care"))
    )
    ad, bd = pl.col("assessment_date"), pl.col("birth_date")
    age = (
        ad.dt.year()
        - bd.dt.year()
        - (
            (ad.dt.month() < bd.dt.month())
            | ((ad.dt.month() == bd.dt.month()) & (ad.dt.day() < bd.dt.day()))
        ).cast(pl.Int32)
    )
    return a.join(days, on="assessment_id", how="left").with_columns(
        fiscal_year("assessment_date").alias("fiscal_year"),
        age.cast(pl.Int8).alias("age"),
    )
