"""The threat model, written down as data: who sees the analytic file, what they may already know
about a child, and therefore which published columns are quasi-identifiers on which table or
joined view (``QI_SETS``). Every measure and enforcement step reads these sets; ``risk.json``
carries :data:`THREAT_MODEL` whole, and the methodology page states it from there.

Who sees the file
    Approved analysts working inside the secure analysis environment. The file never leaves it;
    what leaves is only tables that passed disclosure control. Analysts hold no identifier and no
    key, but any of them may know a child in one of the ways below (:data:`ADVERSARIES`).
What they can link
    Every column of a row, and every row of the same child: ``student_years`` rows of one
    ``study_id`` across school years, ``eqao`` rows (which repeat the board and reveal the grade
    through the assessment), and ``cw_persons`` rows through ``study_id``. A class is the set of
    records sharing the published values an adversary can know; ``k`` must hold on every class
    of every enforced set, with all rows of a child generalised alike.

The published columns are quasi-identifiers through the internal columns the generalisation works
on: ``board_area`` (the board, its region or Ontario; published as ``board_id`` + ``board_region``)
and ``society_area`` (the society, its region or Ontario; published as ``society_id`` +
``society_region``). ``board_region`` is a function of the published board, so it is a key of
every set on ``student_years``: it undoes any region generalisation that ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AUDIENCE = (
    "approved analysts inside the secure analysis environment: the analytic file never leaves it, "
    "only tables that passed disclosure control do; no analyst holds an identifier or the key"
)

# what an analyst may already know about one child, by how they know the child
ADVERSARIES: dict[str, dict[str, Any]] = {
    "school": {
        "who": "a classmate, a classmate's parent or a teacher",
        "knows": [
            "school year",
            "school, so school board and its region",
            "grade",
            "gender",
            "birth year",
            "home region",
        ],
        "learns": "child-welfare involvement and care status; school outcomes",
    },
    "community": {
        "who": "a neighbour or relative",
        "knows": [
            "school year",
            "home region (so the board's region)",
            "birth year",
            "gender",
            "race",
            "gender identity",
        ],
        "learns": "child-welfare involvement and care status; school outcomes",
    },
    "child_welfare": {
        "who": "a child-welfare worker",
        "knows": [
            "the society serving the child (so its region)",
            "birth year",
            "gender identity",
            "race",
            "the school board's region",
        ],
        "learns": "school outcomes; the child's other child-welfare records",
    },
    "both": {
        "who": "someone who knows the child's child-welfare facts and school facts together",
        "knows": ["everything the child-welfare worker and the school acquaintance know"],
        "learns": "anything in the joined records",
    },
}


@dataclass(frozen=True)
class QISet:
    """One set of quasi-identifiers an adversary can link, on one table or joined view.

    ``qis`` are the internal columns the classes are keyed on (``board_area``, ``society_area``
    stand for the published pairs); ``per`` the partition classes never span (the school year:
    each year is a separate release of the same children). ``derived`` are keys computed from
    other keys (``board_region`` from ``board_area``): generalisation cannot change them without
    changing their source, so they partition the classes.
    """

    name: str
    table: str
    adversary: str
    qis: tuple[str, ...]
    per: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    sensitive: str | None = None
    enforced: bool = True
    note: str = ""
    published: tuple[str, ...] = field(default=())

    def describe(self) -> dict[str, Any]:
        """The set as ``risk.json`` records it (published column names)."""
        return {
            "table": self.table,
            "adversary": self.adversary,
            "quasi_identifiers": list(self.published or self.qis),
            "per": list(self.per),
            "sensitive": self.sensitive,
            "enforced": self.enforced,
            "note": self.note,
        }


SCHOOL_YEAR = ("school_year",)
_BOARD = ("board_id", "board_region")
_SOCIETY = ("society_id", "society_region")

SY_SCHOOL = QISet(
    "student_years.school",
    "student_years",
    "school",
    ("board_area", "grade", "gender", "birth_year_band", "region"),
    SCHOOL_YEAR,
    sensitive="care_status",
    published=(*_BOARD, "grade", "gender", "birth_year_band", "region"),
    note=(
        "hashed school ids are not published (a school's grade holds too few children); eqao "
        "repeats board and grade, so a board generalised here is generalised there too"
    ),
)
SY_COMMUNITY = QISet(
    "student_years.community",
    "student_years",
    "community",
    ("birth_year_band", "region", "race_group", "gender_identity"),
    SCHOOL_YEAR,
    derived=("board_region",),
    sensitive="care_status",
    published=("board_region", "birth_year_band", "region", "race_group", "gender_identity"),
    note=(
        "race and gender identity are recorded only for child-welfare-involved children, and "
        "the gender identity is the gender this adversary knows of them (the school's gender "
        "follows it except for identities not stated or gender-diverse: measured with gender "
        "in student_years.community+gender+language); the school's gender is keyed in "
        "student_years.school, which every row is in"
    ),
)
SY_CHILD_WELFARE = QISet(
    "student_years.child_welfare",
    "student_years",
    "child_welfare",
    ("society_area", "birth_year_band", "gender_identity", "race_group"),
    SCHOOL_YEAR,
    derived=("board_region",),
    sensitive="care_status",
    published=("board_region", *_SOCIETY, "birth_year_band", "gender_identity", "race_group"),
)
CW_PERSONS = QISet(
    "cw_persons.child_welfare",
    "cw_persons",
    "child_welfare",
    ("society_area", "birth_year_band", "gender_identity", "race"),
    published=(*_SOCIETY, "birth_year_band", "gender_identity", "race"),
)
JOIN_CW_STUDENT = QISet(
    "cw_persons x student_years",
    "cw_persons join student_years on study_id",
    "both",
    (
        "cw_society_area",
        "cw_birth_year_band",
        "cw_gender_identity",
        "cw_race",
        *SY_SCHOOL.qis,
    ),
    SCHOOL_YEAR,
    published=(
        "cw_persons: society_id, society_region, birth_year_band, gender_identity, race",
        "student_years: board_id, board_region, grade, gender, birth_year_band, region",
    ),
    note=(
        "the joined rows are the linked children's student-years; where a class stays below k "
        "the link itself (cw_persons.study_id) is suppressed"
    ),
)
# measured, not enforced (risk.json says why)
SY_SUPPLEMENTARY = QISet(
    "student_years.community+gender+language",
    "student_years",
    "community",
    (*SY_COMMUNITY.qis, "gender", "born_outside_canada", "first_language"),
    SCHOOL_YEAR,
    derived=("board_region",),
    sensitive="care_status",
    enforced=False,
    published=(*SY_COMMUNITY.published, "gender", "born_outside_canada", "first_language"),
    note=(
        "measured, not enforced: born outside Canada and first language are equity dimensions "
        "an adversary rarely knows; the school's gender adds to gender identity only where the "
        "identity is not stated or gender-diverse"
    ),
)
SY_BOTH = QISet(
    "student_years.school+child_welfare",
    "student_years",
    "both",
    tuple(dict.fromkeys((*SY_SCHOOL.qis, *SY_CHILD_WELFARE.qis))),
    SCHOOL_YEAR,
    sensitive="care_status",
    enforced=False,
    published=tuple(dict.fromkeys((*SY_SCHOOL.published, *SY_CHILD_WELFARE.published))),
    note=(
        "not enforceable while one row carries both the board (board reports, models) and the "
        "society (society reports): a board holds a few dozen child-welfare-involved children a "
        "year, so every class naming board and society is small; this adversary is met by the "
        "environment (approved analysts, no export, disclosure control of every output)"
    ),
)
EQAO_SCHOOL = QISet(
    "eqao.school",
    "eqao",
    "school",
    ("board_id", "grade", "assessment"),
    SCHOOL_YEAR,
    enforced=False,
    note=(
        "measured: the assessment a child sat, with the board; held through student_years "
        "(the board is generalised for the same children in both tables)"
    ),
)

# the sets enforced on student_years, together (a row is generalised while it fails any of them)
STUDENT_YEAR_SETS = (SY_SCHOOL, SY_COMMUNITY, SY_CHILD_WELFARE)
# and every set measured on it
STUDENT_YEAR_MEASURED = (*STUDENT_YEAR_SETS, SY_SUPPLEMENTARY, SY_BOTH)
QI_SETS: tuple[QISet, ...] = (
    SY_SCHOOL,
    SY_COMMUNITY,
    SY_CHILD_WELFARE,
    CW_PERSONS,
    JOIN_CW_STUDENT,
    SY_SUPPLEMENTARY,
    SY_BOTH,
    EQAO_SCHOOL,
)


def threat_model() -> dict[str, Any]:
    """The threat model as ``risk.json`` records it."""
    return {
        "audience": AUDIENCE,
        "adversaries": ADVERSARIES,
        "links": [
            "student_years rows of one study_id across school years (generalised alike)",
            "eqao joins student_years on study_id and school_year (board, grade by assessment)",
            "cw_persons joins student_years on study_id",
        ],
        "quasi_identifier_sets": {s.name: s.describe() for s in QI_SETS},
        "not_published": ["hashed school_id (suppressed: finer than any class can hold)"],
        "not_enforced": [
            f"{SY_BOTH.name}: {SY_BOTH.note}",
            "a child's sequence of school years (board and grade year after year, e.g. a move "
            "between boards): classes are per school year; not measured here",
            "care_days, admissions, onlac joined to cw_persons on cw_study_id (placement days, "
            "admission years): not measured here; cw_persons carries no study_id where the join "
            "to student_years fails k",
        ],
    }


def _where(s: QISet) -> tuple[str, str]:
    """Where ``risk.json`` keeps the before / after measures of set ``s``."""
    if s.table == "student_years":
        return "student_years_before", "student_years_after"
    if s.table == "cw_persons":
        return "cw_persons_before", "cw_persons_after"
    if s.table == "eqao":
        return "eqao_before", "eqao_after"
    return "join_before", "join_after"


def _pick(risk: dict[str, Any], key: str, s: QISet) -> dict[str, Any] | None:
    m = risk.get(key)
    if not isinstance(m, dict):
        return None
    if s.name in m:
        return m[s.name]
    return m if "k" in m else None


def risk_summary(risk: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per quasi-identifier set: the adversary, whether it is enforced, and k, l, the share of
    rows alone in their class and the share in classes below k, before and after (numbers only;
    the methodology page reads this)."""
    out: dict[str, dict[str, Any]] = {}
    for s in QI_SETS:
        b_key, a_key = _where(s)
        before, after = _pick(risk, b_key, s), _pick(risk, a_key, s)
        rec: dict[str, Any] = {"adversary": s.adversary, "table": s.table, "enforced": s.enforced}
        for label, m in (("before", before), ("after", after)):
            if m is None:
                continue
            rec[label] = {
                key: m.get(key)
                for key in ("rows", "k", "l", "unique_share", "below_k_share", "mean_class_size")
                if m.get(key) is not None
            }
        out[s.name] = rec
    return out
