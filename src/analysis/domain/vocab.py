"""The study's vocabularies, written once: regions, grades, service and placement types, race and
gender-identity categories, and the groupings every stage uses.

The generator draws from these, validation checks against them, de-identification coarsens with
them and the reports label them; a second copy anywhere is a bug.
"""

from __future__ import annotations

PROVINCE = "Ontario"
# The ministry's five regions, with the first letter of their postal codes (FSA first letter).
REGIONS = ("Toronto", "Central", "East", "Southwest", "North")
REGION_LETTER = {"Toronto": "M", "Central": "L", "East": "K", "Southwest": "N", "North": "P"}
REGION_OF_LETTER = {letter: region for region, letter in REGION_LETTER.items()}
# Groups of societies the sector reports and the open data publish: a society is in one group,
# Indigenous before faith-based (ANCFSAO's members are the Indigenous societies).
SOCIETY_GROUPS: tuple[tuple[str, str], ...] = (
    ("SG1", "indigenous"),
    ("SG2", "faith_based"),
    ("SG3", "other"),
)
SOCIETY_GROUP_CODES: dict[str, str] = {key: code for code, key in SOCIETY_GROUPS}
REGION_FR = {
    "Toronto": "Toronto",
    "Central": "Centre",
    "East": "Est",
    "Southwest": "Sud-Ouest",
    "North": "Nord",
}
# The letters Canada Post uses in postal codes (never D, F, I, O, Q or U).
POSTAL_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"
GRADES = ("JK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")

# CPIN service types: the three that are "in care", and the rest.
SERVICE_IN_CARE = ("extended_society_care", "interim_society_care", "customary_care")
SERVICE_TYPES = (*SERVICE_IN_CARE, "kinship_service", "ccsyp", "vysa")
# A child's care status in a year is the highest-priority service they had in it.
CARE_PRIORITY = {"in_care": 4, "vysa": 3, "ccsyp": 2, "kinship_service": 1, "none": 0}

# Placement type -> the group the models and reports use.
PLACEMENT_GROUP = {
    "foster_home": "family",
    "kin_in_care_home": "family",
    "customary_care_home": "family",
    "adoption_probation": "family",
    "group_home": "group",
    "independent_living": "other",
    "hospital_mental_health": "other",
    "youth_justice": "other",
}
PLACEMENT_TYPES = (
    "foster_home",
    "kin_in_care_home",
    "customary_care_home",
    "group_home",
    "adoption_probation",
    "independent_living",
    "hospital_mental_health",
    "youth_justice",
)

# Ontario Data Standards race categories (a missing race is allowed).
RACES = (
    "black",
    "east_asian",
    "indigenous",
    "latino",
    "middle_eastern",
    "south_asian",
    "southeast_asian",
    "white",
    "another_race",
    "prefer_not_to_answer",
)
# race -> race_group; group values map to themselves so the mapping also applies to a column
# already holding groups; a missing race is "not_stated"
RACE_GROUP = {
    "indigenous": "indigenous",
    "black": "black",
    "white": "white",
    "east_asian": "other_racialized",
    "latino": "other_racialized",
    "middle_eastern": "other_racialized",
    "south_asian": "other_racialized",
    "southeast_asian": "other_racialized",
    "another_race": "other_racialized",
    "prefer_not_to_answer": "not_stated",
    "other_racialized": "other_racialized",
    "not_stated": "not_stated",
}
# Gender as the school records it (OnSIS).
GENDERS = ("female", "male", "another")
GENDER_IDENTITIES = (
    "girl_woman",
    "boy_man",
    "non_binary_two_spirit",
    "another_identity",
    "not_stated",
)
GENDER_IDENTITY_GROUP = {
    "girl_woman": "girl_woman",
    "boy_man": "boy_man",
    "non_binary_two_spirit": "gender_diverse",
    "another_identity": "gender_diverse",
    "gender_diverse": "gender_diverse",
    "not_stated": "not_stated",
}
# The school's gender (OnSIS: female, male, another) of the gender identities that correspond to
# one; the other identities have no school equivalent.
SCHOOL_GENDER_OF_IDENTITY = {"girl_woman": "female", "boy_man": "male"}
# First language learned at home, as the society records it (a missing one is allowed).
FIRST_LANGUAGES = ("english", "french", "other")
# Participation in an EQAO assessment.
EQAO_PARTICIPATION = ("participated", "absent", "exempt", "not_participating")
