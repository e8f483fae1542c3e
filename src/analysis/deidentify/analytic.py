"""The analytic dataset: every table from the sources and links, with the risk report."""

from __future__ import annotations

from typing import Any

import polars as pl

from analysis.config import Config
from analysis.deidentify.care import care_by_year
from analysis.deidentify.child_welfare import (
    admissions_table,
    care_days_table,
    cases_table,
    cw_person_map,
    cw_persons_table,
    onlac_table,
)
from analysis.deidentify.keys import StudyKey, student_ids
from analysis.deidentify.persons import resolve_people
from analysis.deidentify.policy import RISK_METHOD
from analysis.deidentify.school import (
    board_generalised,
    eqao_table,
    published_student_years,
    student_years_table,
)
from analysis.deidentify.threat import risk_summary, threat_model
from analysis.deidentify.verify import verify_published


def build_analytic(
    f: dict[str, pl.DataFrame], key: StudyKey, cfg: Config, big: dict[str, pl.LazyFrame]
) -> tuple[dict[str, pl.DataFrame | pl.LazyFrame], dict[str, Any], dict[str, int]]:
    """All analytic tables from the sources and links, plus the risk report and row counts.

    ``f`` holds the small inputs in memory; ``big`` the enrolment and EQAO scans (read column by
    column as needed). The two large tables come back as lazy frames that decode their compact
    in-memory columns while they are written.
    """
    people = resolve_people(f)
    care = care_by_year(people.of_oen, people.services, people.placements, cfg.school_years)
    # pseudonymise each distinct OEN once
    ids = student_ids(
        key,
        [
            big["onsis_enrolment"].select(pl.col("oen").unique()).collect()["oen"],
            big["eqao_results"].select(pl.col("oen").unique()).collect()["oen"],
            people.persons["oen"],
        ],
    )
    k, l_div = cfg.privacy.k_anonymity, cfg.privacy.l_diversity
    risk: dict[str, Any] = {
        "k_threshold": k,
        "l_threshold": l_div,
        "threat_model": threat_model(),
        "method": RISK_METHOD,
    }
    boards, societies = f["boards"], f["societies"]
    student_years, student_year_risk, sy = student_years_table(
        big, ids, people.of_oen, care, k, l_div, boards, societies
    )
    risk.update(student_year_risk)
    eqao, eqao_rows, eqao_risk = eqao_table(
        big["eqao_results"], ids, board_generalised(sy, boards), k
    )
    risk.update(eqao_risk)
    cw_map = cw_person_map(key, people.persons)
    cw_persons, cw_person_risk = cw_persons_table(
        people.persons, cw_map, societies, key, k, sy, ids
    )
    risk.update(cw_person_risk)
    risk["summary"] = risk_summary(risk)
    # every set again on the tables as written (the published columns, before the categorical
    # encoding is undone: the same values), as an auditor would measure them
    risk["published_check"] = verify_published(
        published_student_years(sy, boards, societies), cw_persons, eqao, k, l_div
    )
    tables: dict[str, pl.DataFrame | pl.LazyFrame] = {
        "student_years": student_years,
        "eqao": eqao,
        "cw_persons": cw_persons,
        "care_days": care_days_table(people.placements, cw_map),
        "admissions": admissions_table(people.services, cw_map),
        "cases": cases_table(f["cpin_cases"], key),
        "onlac": onlac_table(f, people, cw_map),
    }
    heights = {"student_years": sy.height, "eqao": eqao_rows}
    for name, df in tables.items():
        if isinstance(df, pl.DataFrame):
            heights[name] = df.height
    return tables, risk, heights
