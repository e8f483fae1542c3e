"""What is protected: quasi-identifiers, suppression orders, and the method in ``risk.json``.

The threat model (who sees the file, what they know, which sets are linked) is data in
:mod:`analysis.deidentify.threat`; this module keeps the column lists the single-set functions
and ``cw_persons`` read, and the method ``risk.json`` records.
"""

from __future__ import annotations

from typing import Any

# birth-year bands: aligned on multiples of the width, so a 6-year band is the union of two
# 3-year bands (the hierarchy nests)
BIRTH_YEAR_BANDS = (3, 6)
# student_years classes never span two school years (each year is published and measured alone)
STUDENT_YEAR_PER = ("school_year",)
QI_STUDENT = ("birth_year_band", "gender", "region", "race_group", "gender_identity")
QI_CW = ("society_area", "birth_year_band", "gender_identity", "race")
# local suppression, after the hierarchy: which quasi-identifiers to blank first for records
# still in too-small classes (least analytically useful first)
SUPPRESSION_ORDER = ("birth_year_band", "gender_identity", "region", "gender", "race_group")
SUPPRESSION_ORDER_CW = ("birth_year_band", "society_area", "gender_identity", "race")
# published with the record but not enforced (measured in risk.json as "supplementary")
QI_STUDENT_EXTRA = ("born_outside_canada", "first_language")
# the published columns on which cw_persons classes are measured (society_id + society_region
# carry exactly the information of the internal ``society_area``)
QI_CW_PUBLISHED = ("society_id", "society_region", "birth_year_band", "gender_identity", "race")


def risk_method() -> dict[str, Any]:
    """The method as ``risk.json`` records it: per table, the sets enforced together, the
    hierarchy (in order, with the sets each step serves) and what is measured but not
    enforced. The threat model itself is ``risk.json``'s ``threat_model``
    (:mod:`analysis.deidentify.threat`)."""
    from analysis.deidentify.threat import (
        CW_PERSONS,
        JOIN_CW_STUDENT,
        STUDENT_YEAR_SETS,
        SY_BOTH,
        SY_SUPPLEMENTARY,
    )

    return {
        "threat": (
            "approved analysts in the secure environment who may know a child as a school "
            "acquaintance, a neighbour or relative, or a child-welfare worker look for the "
            "child's records; a class is the set of records sharing the published values that "
            "adversary can know (risk.json threat_model), and every enforced set holds k"
        ),
        "student_years": {
            "per": list(STUDENT_YEAR_PER),
            "enforced_together": [s.name for s in STUDENT_YEAR_SETS],
            "sensitive": "care_status (l-diversity in classes holding any child-welfare service)",
            "entity": "study_id: a value generalised in one row of a student is generalised in all",
            "hierarchy": [
                "global: race -> race_group (indigenous, black, white, other_racialized, "
                "not_stated)",
                "global: gender_identity -> girl_woman, boy_man, gender_diverse, not_stated",
                "local: region -> Ontario",
                "local: birth year -> 3-year band -> 6-year band -> suppressed",
                "local: region suppressed",
                "local: gender_identity suppressed, then gender, then race_group (each "
                "completed within its cell until the suppressed class holds k)",
                "local: society -> its region",
                "local: board -> its region (in eqao too)",
                "local: society region -> Ontario",
                "then, set by set, failing classes merged into the set's blank class",
            ],
            "not_enforced": {s.name: s.note for s in (SY_SUPPLEMENTARY, SY_BOTH)},
        },
        "cw_persons": {
            "quasi_identifiers": list(QI_CW_PUBLISHED),
            "hierarchy": [
                "global: gender_identity -> 4 groups",
                "local: society -> its region",
                "local: race -> race_group",
                "local: birth year -> 3-year band",
                "local: region -> Ontario",
                "local: birth year -> 6-year band",
                "then local suppression in order: " + ", ".join(SUPPRESSION_ORDER_CW),
            ],
            "set": CW_PERSONS.name,
        },
        "join": {"set": JOIN_CW_STUDENT.name, "method": JOIN_CW_STUDENT.note},
    }


RISK_METHOD: dict[str, Any] = risk_method()
