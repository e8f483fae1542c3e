"""What is protected: quasi-identifiers, suppression orders, and the method in ``risk.json``.

The threat model (who the attacker is and what they know) is in the package docstring; this
module writes it down as the columns every measure and step reads.
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


RISK_METHOD: dict[str, Any] = {
    "threat": (
        "an attacker who knows a child's birth year, gender, region and race (and, for child-"
        "welfare persons, the society serving them and their gender identity) looks for the "
        "child's record; a class is the set of records sharing those published values"
    ),
    "student_years": {
        "per": list(STUDENT_YEAR_PER),
        "quasi_identifiers": list(QI_STUDENT),
        "sensitive": "care_status (l-diversity in classes holding any child-welfare service)",
        "hierarchy": [
            "global: race -> race_group (indigenous, black, white, other_racialized, not_stated)",
            "global: gender_identity -> girl_woman, boy_man, gender_diverse, not_stated",
            "local: region -> Ontario",
            "local: birth year -> 3-year band -> 6-year band",
            "then local suppression in order: " + ", ".join(SUPPRESSION_ORDER),
        ],
        "not_enforced": (
            "born_outside_canada, first_language (measured as student_years_supplementary); "
            "board_id, hashed school_id and grade (grade follows birth year for most students)"
        ),
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
    },
}
