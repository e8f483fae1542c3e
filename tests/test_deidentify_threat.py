"""The threat model's quasi-identifier sets: measured on what an analyst can link (the board in
the row, the join of cw_persons to student_years on study_id), and enforced until k holds."""

from __future__ import annotations

import polars as pl
import pytest

from analysis import deidentify as d
from analysis.deidentify.linked import protect_join
from analysis.deidentify.school import SENSITIVE, protect_student_years, published_student_years
from analysis.deidentify.threat import (
    ADVERSARIES,
    JOIN_CW_STUDENT,
    QI_SETS,
    STUDENT_YEAR_SETS,
    SY_COMMUNITY,
    SY_SCHOOL,
    threat_model,
)
from analysis.deidentify.verify import PUBLISHED_KEYS, class_sizes, verify_published

K = 20
BOARDS = pl.DataFrame({"board_id": ["B01", "B02", "B03"], "region": ["Toronto", "North", "North"]})
SOCIETIES = pl.DataFrame({"society_id": ["S01", "S02"], "region": ["Toronto", "North"]})


def _students(
    boards: list[str],
    *,
    gender: list[str] | None = None,
    cw: list[bool] | None = None,
    society: list[str | None] | None = None,
    race: list[str | None] | None = None,
    year: str = "2019-20",
) -> pl.DataFrame:
    """Internal student-year rows (one per student, one school year, grade 5, born 2009)."""
    n = len(boards)
    cw = cw or [False] * n
    return pl.DataFrame(
        {
            "_eid": pl.Series(range(n), dtype=pl.UInt32),
            "school_year": [year] * n,
            "board_id": boards,
            "grade": ["5"] * n,
            "gender": gender or ["female"] * n,
            "birth_year": pl.Series([2009] * n, dtype=pl.Int16),
            "age_sept1": pl.Series([10] * n, dtype=pl.Int8),
            "region": ["Toronto" if b == "B01" else "North" for b in boards],
            "days_enrolled": pl.Series([180] * n, dtype=pl.Int16),
            "days_absent": pl.Series([5] * n, dtype=pl.Int16),
            "credits_earned": pl.Series([None] * n, dtype=pl.Float64),
            "cw_involved": cw,
            "race_group": race or [("white" if c else None) for c in cw],
            "born_outside_canada": [False if c else None for c in cw],
            "first_language": [("english" if c else None) for c in cw],
            "gender_identity": [("girl_woman" if c else None) for c in cw],
            "link_probability": [1.0 if c else None for c in cw],
            "link_pass": [("deterministic" if c else None) for c in cw],
            "care_status": [("in_care" if c else "none") for c in cw],
            "placement_group": [("family" if c else None) for c in cw],
            "cumulative_days_in_care": pl.Series([100 if c else 0 for c in cw], dtype=pl.Int32),
            "society_id": society or [("S01" if c else None) for c in cw],
            "ever_in_care": cw,
        }
    ).with_columns(
        *(
            pl.col(c).cast(pl.String)
            for c in (
                "race_group",
                "first_language",
                "gender_identity",
                "link_pass",
                "placement_group",
                "society_id",
            )
        ),
        pl.col("born_outside_canada").cast(pl.Boolean),
        pl.col("link_probability").cast(pl.Float64),
        d.birth_year_band(pl.col("birth_year"), 1).alias("birth_year_band"),
        (pl.col("care_status") != "none").alias("_service"),
    )


def _ids(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"study_id": [f"s{i:04d}" for i in range(n)], "_eid": pl.Series(range(n), dtype=pl.UInt32)}
    )


def _protect(sy: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(protected internal rows, published student_years, risk entries)."""
    out, risk = protect_student_years(sy, _ids(sy.height), K, 2, BOARDS, SOCIETIES)
    return out, published_student_years(out, BOARDS, SOCIETIES).collect(), risk


def _no_eqao() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"study_id": pl.String, "school_year": pl.String, "board_id": pl.String}
    )


def _no_cw() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(d.CW_PERSON_COLUMNS, pl.String))


# ------------------------------------------------------------------------------------------
# the written threat model
# ------------------------------------------------------------------------------------------
def test_threat_model_names_audience_adversaries_and_every_set() -> None:
    tm = threat_model()
    assert "secure" in tm["audience"] and "approved analysts" in tm["audience"]
    assert set(ADVERSARIES) == {"school", "community", "child_welfare", "both"}
    sets = tm["quasi_identifier_sets"]
    assert set(sets) == {s.name for s in QI_SETS}
    # the board (with its region) is a quasi-identifier of the school set, and board_region of
    # every student_years set: it is in the row, so it undoes any region generalisation
    assert {"board_id", "board_region"} <= set(sets[SY_SCHOOL.name]["quasi_identifiers"])
    for s in STUDENT_YEAR_SETS:
        assert "board_region" in sets[s.name]["quasi_identifiers"] or s is SY_SCHOOL
        assert sets[s.name]["enforced"]
    assert sets[JOIN_CW_STUDENT.name]["enforced"]
    assert any("study_id" in link for link in tm["links"])
    assert "school_id" not in d.STUDENT_YEAR_COLUMNS


# ------------------------------------------------------------------------------------------
# the board in the row undoes the region generalisation
# ------------------------------------------------------------------------------------------
def test_board_in_the_row_undoes_region_generalisation() -> None:
    # 45 Toronto students and 15 in a northern board, the home region generalised to Ontario:
    # birth year, gender, region, race and gender identity alone give one class of 60 ...
    sy = _students(["B01"] * 45 + ["B02"] * 15).with_columns(
        pl.lit("Ontario").alias("region"),
        pl.col("board_id").alias("board_area"),
        pl.col("society_id").alias("society_area"),
        pl.col("_eid").cast(pl.String).alias("study_id"),
    )
    published = published_student_years(sy, BOARDS, SOCIETIES).collect()
    assert d.measure_risk(published, d.QI_STUDENT, ("school_year",))["k"] == 60
    # ... but the board, and with it the board's region, are in the row: 15 northern students
    for s in (SY_SCHOOL, SY_COMMUNITY):
        assert class_sizes(published, PUBLISHED_KEYS[s.name], s.per)["k"] == 15
    check = verify_published(published, _no_cw(), _no_eqao(), K, 2)
    assert not check["holds"]
    assert not check[SY_SCHOOL.name]["holds"] and not check[SY_COMMUNITY.name]["holds"]


def test_small_boards_are_generalised_to_their_region_large_ones_keep_theirs() -> None:
    # two northern boards of 10 and 12 students: each alone below k, their region holds 22
    sy = _students(["B01"] * 45 + ["B02"] * 10 + ["B03"] * 12)
    _, published, risk = _protect(sy)
    assert risk["student_years_generalisation"]["holds"]
    toronto = published.filter(pl.col("board_region") == "Toronto")
    north = published.filter(pl.col("board_region") == "North")
    assert toronto["board_id"].to_list() == ["B01"] * 45
    assert north.height == 22 and north["board_id"].null_count() == 22
    assert verify_published(published, _no_cw(), _no_eqao(), K, 2)["holds"]
    after = risk["student_years_after"][SY_SCHOOL.name]
    assert after["k"] >= K and after["below_k_share"] == 0
    assert risk["student_years_before"][SY_SCHOOL.name]["below_k_share"] > 0


def test_suppression_completes_the_cell_instead_of_dropping_the_board() -> None:
    # a grade with 12 girls and 30 boys: the girls' gender alone blanked is a class of 12; the
    # boys' is blanked too (one class of 42), and the board is kept
    sy = _students(["B01"] * 42, gender=["female"] * 12 + ["male"] * 30)
    _, published, risk = _protect(sy)
    assert published["board_id"].to_list() == ["B01"] * 42
    assert published["gender"].null_count() == 42
    assert verify_published(published, _no_cw(), _no_eqao(), K, 2)["holds"]
    steps = {s["step"]: s for s in risk["student_years_generalisation"]["steps"]}
    assert steps["board -> its region"]["values_changed"] == 0


def test_a_lone_value_does_not_cost_a_whole_grade_its_gender() -> None:
    # 25 Toronto boards, each grade with 30 girls, 30 boys and one student of another gender:
    # blanking 30 genders to hide one is refused (more than COMPLETE_RATIO per value); the 25
    # are generalised to their region instead, where together they hold k
    boards = [f"B{i:02d}" for i in range(1, 26)]
    ref = pl.DataFrame({"board_id": boards, "region": ["Toronto"] * 25})
    per = ["female"] * 30 + ["male"] * 30 + ["another"]
    sy = _students([b for b in boards for _ in per], gender=per * 25)
    out, _ = protect_student_years(sy, _ids(sy.height), K, 2, ref, SOCIETIES)
    published = published_student_years(out, ref, SOCIETIES).collect()
    assert published.filter(pl.col("gender") == "female")["board_id"].null_count() == 0
    assert published.filter(pl.col("gender") == "female").height == 750
    another = published.filter(pl.col("gender") == "another")
    assert another.height == 25 and another["board_id"].null_count() == 25
    assert set(another["board_region"]) == {"Toronto"}
    assert verify_published(published, _no_cw(), _no_eqao(), K, 2)["holds"]


def test_child_welfare_set_generalises_the_society_before_race() -> None:
    # 25 involved students of two societies (12 and 13), one board region: the society is
    # generalised to its region (no report reads it from student_years), race is kept
    n = 25
    sy = _students(
        ["B01"] * 100 + ["B01"] * n,
        cw=[False] * 100 + [True] * n,
        society=[None] * 100 + ["S01"] * 12 + ["S02"] * 13,
    ).with_columns(  # two care statuses in the class (l-diversity)
        pl.when(pl.col("cw_involved") & (pl.col("_eid") % 2 == 0))
        .then(pl.lit("kinship_service"))
        .otherwise(pl.col("care_status"))
        .alias("care_status")
    )
    _, published, risk = _protect(sy)
    cw = published.filter(pl.col("cw_involved"))
    assert cw["society_id"].null_count() == n
    assert cw["society_region"].null_count() == 0
    assert cw["race_group"].null_count() == 0
    assert verify_published(published, _no_cw(), _no_eqao(), K, 2)["holds"]
    assert risk["student_years_generalisation"]["holds"]


# ------------------------------------------------------------------------------------------
# the join of cw_persons to student_years on study_id
# ------------------------------------------------------------------------------------------
def _cw_persons(n: int) -> pl.DataFrame:
    """n persons identical on the child-welfare quasi-identifiers (k = n alone), each linked."""
    return pl.DataFrame(
        {
            "cw_study_id": [f"c{i:04d}" for i in range(n)],
            "society_id": [None] * n,
            "society_area": ["Toronto"] * n,
            "birth_year": pl.Series([None] * n, dtype=pl.Int16),
            "birth_year_band": ["2004-2009"] * n,
            "gender_identity": ["girl_woman"] * n,
            "race": ["white"] * n,
            "born_outside_canada": [False] * n,
            "first_language": ["english"] * n,
            "human_trafficking_risk": [False] * n,
            "linked": [True] * n,
            "study_id": [f"s{i:04d}" for i in range(n)],
        }
    )


def test_the_join_makes_rows_unique_and_the_link_is_suppressed() -> None:
    n = 25
    cw = _cw_persons(n)
    assert d.measure_risk(cw, d.QI_CW)["k"] == n  # k-anonymous alone
    # their school records sit in 25 different boards' grades, among 40 classmates each
    boards = [f"B{i:02d}" for i in range(1, n + 1)]
    ref = pl.DataFrame({"board_id": boards, "region": ["Toronto"] * n})
    rows = []
    for i, b in enumerate(boards):
        rows += [(b, i == j) for j in range(40)]
    sy = _students([b for b, _ in rows], cw=[c for _, c in rows])
    # the linked student of each board carries the person's study_id
    linked = dict(
        zip(sy.filter(pl.col("cw_involved"))["_eid"].to_list(), cw["study_id"], strict=True)
    )
    ids = pl.DataFrame(
        {
            "study_id": [linked.get(e, f"x{e:05d}") for e in range(sy.height)],
            "_eid": pl.Series(range(sy.height), dtype=pl.UInt32),
        }
    )
    prot, _ = protect_student_years(sy, ids, K, 2, ref, SOCIETIES)
    published = published_student_years(prot, ref, SOCIETIES).collect()
    cw_published = cw.drop("society_area").with_columns(pl.lit("Toronto").alias("society_region"))
    check = verify_published(published, cw_published, _no_eqao(), K, 2)
    assert check[JOIN_CW_STUDENT.name]["k"] == 1 and not check["holds"]
    # the link is suppressed until no joined class is below k (here: all of them)
    cw2, risk = protect_join(cw, prot, ids, K)
    assert risk["join_before"]["k"] == 1 and risk["join_before"]["unique_share"] == 1.0
    assert risk["join_suppression"]["study_id_suppressed"] == n
    assert cw2["study_id"].null_count() == n and cw2["linked"].all()
    cw2_published = cw2.drop("society_area").with_columns(pl.lit("Toronto").alias("society_region"))
    assert verify_published(published, cw2_published, _no_eqao(), K, 2)["holds"]


def test_the_join_keeps_links_whose_joined_classes_hold() -> None:
    # 25 linked persons who are all in the same board's grade, with the same school values
    n = 25
    cw = _cw_persons(n)
    sy = _students(["B01"] * n, cw=[True] * n)
    ids = _ids(n)
    cw2, risk = protect_join(cw, sy.with_columns(pl.col("board_id").alias("board_area")), ids, K)
    assert risk["join_before"]["k"] == n and risk["join_suppression"]["study_id_suppressed"] == 0
    assert cw2["study_id"].null_count() == 0


@pytest.mark.parametrize("name", [s.name for s in QI_SETS if s.table != "eqao"])
def test_every_set_has_published_keys(name: str) -> None:
    assert PUBLISHED_KEYS[name]
    assert SENSITIVE == "care_status"


def test_race_grouping_alone_reaches_k() -> None:
    # 40 involved students: 10 South Asian, 10 East Asian (other_racialized together), 20 white
    n = 40
    sy = _students(
        ["B01"] * (100 + n),
        cw=[False] * 100 + [True] * n,
        race=[None] * 100 + ["south_asian"] * 10 + ["east_asian"] * 10 + ["white"] * 20,
    ).with_columns(
        pl.when(pl.col("cw_involved") & (pl.col("_eid") % 2 == 0))
        .then(pl.lit("kinship_service"))
        .otherwise(pl.col("care_status"))
        .alias("care_status")
    )
    _, published, risk = _protect(sy)
    cw = published.filter(pl.col("cw_involved"))
    assert sorted(set(cw["race_group"])) == ["other_racialized", "white"]
    steps = {s["step"]: s for s in risk["student_years_generalisation"]["steps"]}
    assert steps["race -> race_group"]["values_changed"] == 20
    assert steps["suppress race_group"]["values_changed"] == 0


def test_birth_year_band_before_suppression_and_only_where_needed() -> None:
    # 7 girls born in each of 2004, 2005, 2006 and 25 born in 2010, in one board's grade: only
    # the 3-year band 2004-2006 reaches 20; the 25 born in 2010 keep their exact year
    sy = _students(["B01"] * 46).with_columns(
        pl.Series("birth_year", [2004] * 7 + [2005] * 7 + [2006] * 7 + [2010] * 25, pl.Int16)
    )
    sy = sy.with_columns(d.birth_year_band(pl.col("birth_year"), 1).alias("birth_year_band"))
    _, published, risk = _protect(sy)
    bands = published.group_by("birth_year_band").len().sort("birth_year_band")
    assert bands.to_dicts() == [
        {"birth_year_band": "2004-2006", "len": 21},
        {"birth_year_band": "2010", "len": 25},
    ]
    assert (
        published.filter(pl.col("birth_year_band") == "2010")["birth_year"].to_list() == [2010] * 25
    )
    assert published.filter(pl.col("birth_year_band") != "2010")["birth_year"].null_count() == 21
    steps = {s["step"]: s for s in risk["student_years_generalisation"]["steps"]}
    assert steps["suppress birth_year_band"]["values_changed"] == 0
    assert steps["suppress gender"]["values_changed"] == 0
