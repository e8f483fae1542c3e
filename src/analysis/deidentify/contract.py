"""The analytic dataset's tables and their columns, in the order they are written.

Every table builder selects its columns from here, and the tests check the written files against
it (docs/data-contract.md describes each column).
"""

from __future__ import annotations

STUDENT_YEAR_COLUMNS = (
    "study_id",
    "school_year",
    "board_id",
    "board_region",
    "grade",
    "gender",
    "birth_year",
    "birth_year_band",
    "age_sept1",
    "region",
    "days_enrolled",
    "days_absent",
    "credits_earned",
    "care_status",
    "ever_in_care",
    "cw_involved",
    "society_id",
    "society_region",
    "cumulative_days_in_care",
    "placement_group",
    "race",
    "race_group",
    "indigenous",
    "born_outside_canada",
    "first_language",
    "gender_identity",
    "link_probability",
    "link_pass",
)
EQAO_COLUMNS = (
    "study_id",
    "school_year",
    "board_id",
    "grade",
    "assessment",
    "participation",
    "level",
    "at_standard",
    "first_time",
    "g9_stream",
)
CW_PERSON_COLUMNS = (
    "cw_study_id",
    "society_id",
    "society_region",
    "birth_year",
    "birth_year_band",
    "gender_identity",
    "race",
    "race_group",
    "indigenous",
    "born_outside_canada",
    "first_language",
    "human_trafficking_risk",
    "linked",
    "study_id",
)
CARE_DAYS_COLUMNS = ("cw_study_id", "society_id", "fiscal_year", "placement_type", "days")
ADMISSION_COLUMNS = (
    "cw_study_id",
    "society_id",
    "admission_fiscal_year",
    "service_type",
    "days_to_exit",
    "days_observed",
)
CASE_COLUMNS = (
    "case_study_id",
    "society_id",
    "case_kind",
    "closed_fiscal_year",
    "days_to_recurrence",
    "recurrence_verified",
    "days_observed",
)
ONLAC_COLUMNS = (
    "cw_study_id",
    "society_id",
    "fiscal_year",
    "age",
    "days_in_care",
    "item_1",
    "item_2",
    "item_3",
    "item_4",
)
# every table the stage derives, in the order it writes them
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "student_years": STUDENT_YEAR_COLUMNS,
    "eqao": EQAO_COLUMNS,
    "cw_persons": CW_PERSON_COLUMNS,
    "care_days": CARE_DAYS_COLUMNS,
    "admissions": ADMISSION_COLUMNS,
    "cases": CASE_COLUMNS,
    "onlac": ONLAC_COLUMNS,
}
# non-identifying reference tables, copied into analytic/ so later stages read only that folder
REFERENCE = ("boards", "societies")
