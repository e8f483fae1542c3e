"""The joined view ``cw_persons`` x ``student_years`` (on ``study_id``): measured, and held by
suppressing the link where a joined class stays below ``k``.

A joined row is one linked child-welfare person in one school year: the person's published
child-welfare quasi-identifiers next to that student-year's school ones
(:data:`analysis.deidentify.threat.JOIN_CW_STUDENT`). The school side is already as coarse as
``student_years`` can be while the board reports and models keep their board, and the joined
rows are only the linked children, a few dozen per board a year: no further generalisation of
either side reaches ``k`` without taking the board away from every child-welfare-involved
student. So the last step is the suppression of the key itself: a person whose joined rows sit in
a class below ``k`` in any school year loses ``study_id`` in ``cw_persons`` (``linked`` stays
true), which takes all their rows out of the join; persons are taken out until no joined class is
below ``k``. Nothing the analysis reads is lost: every child-welfare attribute it uses is on the
``student_years`` row itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from analysis.deidentify.anonymity import measure_risk
from analysis.deidentify.threat import JOIN_CW_STUDENT, SY_SCHOOL

_CW_SIDE = ("society_area", "birth_year_band", "gender_identity", "race")


def joined_view(cw: pl.DataFrame, sy: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """One row per linked person and school year: ``cw_study_id``, the person's child-welfare
    quasi-identifiers (``cw_`` + name) and the student-year's school ones.

    ``cw``: ``cw_persons`` before publication (``society_area``, ``study_id``); ``sy``: the
    protected student-years (``_eid``, internal columns); ``ids``: ``study_id`` -> ``_eid``.
    """
    person = (
        cw.filter(pl.col("study_id").is_not_null())
        .select(
            "cw_study_id",
            "study_id",
            *(pl.col(c).cast(pl.String).alias(f"cw_{c}") for c in _CW_SIDE),
        )
        .join(ids.select("study_id", "_eid"), on="study_id", how="inner")
    )
    school = sy.filter(pl.col("_eid").is_in(person["_eid"].implode())).select(
        "_eid",
        *(pl.col(c).cast(pl.String) for c in (*SY_SCHOOL.per, *SY_SCHOOL.qis)),
    )
    return person.join(school, on="_eid", how="inner").drop("_eid", "study_id")


def _failing(j: pl.DataFrame, k: int) -> pl.Series:
    """The persons with a joined row in a class below ``k``."""
    keys = [*JOIN_CW_STUDENT.per, *JOIN_CW_STUDENT.qis]
    small = j.group_by(keys).agg(pl.len().alias("n")).filter(pl.col("n") < k)
    return j.join(small, on=keys, how="semi", nulls_equal=True)["cw_study_id"].unique()


def protect_join(
    cw: pl.DataFrame, sy: pl.DataFrame, ids: pl.DataFrame, k: int
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``cw`` with ``study_id`` suppressed for every person whose joined rows fall in a class
    below ``k``; and the join's ``risk.json`` entries (before and after, persons delinked)."""
    s = JOIN_CW_STUDENT

    def measure(j: pl.DataFrame) -> dict[str, Any]:
        m = measure_risk(j, s.qis, s.per, k=k)
        m["quasi_identifiers"] = list(s.published)
        m["persons"] = int(j["cw_study_id"].n_unique()) if j.height else 0
        return m

    j = joined_view(cw, sy, ids)
    before = measure(j)
    # the school side alone, among the joined rows: why generalising the child-welfare side
    # cannot reach k
    school_only = measure_risk(j, SY_SCHOOL.qis, SY_SCHOOL.per, k=k)
    delinked: set[str] = set()
    for _ in range(j.height + 1):
        out = _failing(j, k)
        if out.is_empty():
            break
        delinked.update(out.to_list())
        j = j.filter(~pl.col("cw_study_id").is_in(out.implode()))
    drop = pl.col("cw_study_id").is_in(pl.Series(sorted(delinked), dtype=pl.String).implode())
    cw = cw.with_columns(pl.when(~drop).then(pl.col("study_id")).alias("study_id"))
    after = measure(j)
    linked = int(cw["linked"].sum())
    return cw, {
        "join_before": before,
        "join_school_side_only": school_only,
        "join_after": after,
        "join_suppression": {
            "linked_persons": linked,
            "study_id_suppressed": len(delinked),
            "study_id_kept": int(cw["study_id"].is_not_null().sum()),
            "share_kept": round(float(np.divide(linked - len(delinked), linked)), 4)
            if linked
            else None,
            "holds": after["rows_below_k"] == 0,
        },
    }
