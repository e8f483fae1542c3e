"""The synthetic province: reproducible, valid, calibrated, with the configured noise and effects."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from analysis.domain.oen import luhn_check_digit, oen_is_valid
from analysis.domain.schemas import SOURCE_NAMES, check_source
from analysis.io import hash_tree
from analysis.synthetic import generate
from conftest import make_cfg


def _src(cfg, name):
    return pl.read_parquet(cfg.paths.sources / f"{name}.parquet")


def _luhn_reference(payload: str) -> int:
    """Luhn as usually written: double every second digit from the right of the full number."""
    total = 0
    for i, ch in enumerate(reversed(payload + "0")):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def test_luhn_matches_reference_and_known_value():
    assert _luhn_reference("7992739871") == 3  # the textbook example 79927398713
    rng = np.random.default_rng(1)
    base = rng.integers(0, 10**8, size=500)
    ours = luhn_check_digit(base)
    assert [int(x) for x in ours] == [_luhn_reference(f"{b:08d}") for b in base]
    s = pl.DataFrame({"o": ["799273982", "799273983", "12345", None]})
    assert s.select(oen_is_valid(pl.col("o")))["o"].to_list() == [True, False, False, None]


def test_same_seed_same_bytes_other_seed_differs(tmp_path, tiny_generated):
    again = make_cfg(tmp_path / "again")
    generate(again)
    for folder in ("sources", "truth", "reference"):
        assert hash_tree(tiny_generated.paths.data_dir / folder) == hash_tree(
            again.paths.data_dir / folder
        )
    other = make_cfg(tmp_path / "other", seed=tiny_generated.seed + 1)
    generate(other)
    a, b = hash_tree(tiny_generated.paths.sources), hash_tree(other.paths.sources)
    assert a["onsis_enrolment.parquet"] != b["onsis_enrolment.parquet"]
    assert a["cpin_persons.parquet"] != b["cpin_persons.parquet"]


def test_every_source_passes_its_schema(tiny_generated):
    for name in SOURCE_NAMES:
        assert check_source(name, _src(tiny_generated, name)) == [], name


def test_every_oen_passes_its_check_digit(tiny_generated):
    for name in ("onsis_enrolment", "eqao_results", "cpin_persons"):
        oen = _src(tiny_generated, name)["oen"].drop_nulls()
        assert oen.len() > 0
        assert pl.select(oen_is_valid(pl.lit(oen))).to_series().all(), name


def test_panel_structure(tiny_generated):
    on = _src(tiny_generated, "onsis_enrolment")
    per_year = on.group_by("school_year").len()
    assert per_year.height == 6
    target = tiny_generated.size.students_per_year
    assert per_year["len"].min() > 0.85 * target and per_year["len"].max() < 1.15 * target
    # Students move up a grade from one year to the next (most of them).
    g = {g: i for i, g in enumerate(["JK", "K", *map(str, range(1, 13))])}
    p = on.select("oen", "school_year", pl.col("grade").replace_strict(g).alias("gi")).sort(
        "oen", "school_year"
    )
    step = p.with_columns((pl.col("gi") - pl.col("gi").shift().over("oen")).alias("d")).drop_nulls(
        "d"
    )
    assert (step["d"] == 1).mean() > 0.95
    assert (step["d"] == 0).sum() > 0  # some repeat
    # Households: twins (same surname, birth date, postal code, different first names) exist.
    last = on.filter(pl.col("school_year") == "2020-21")
    twins = last.group_by("last_name", "birth_date", "postal_code").agg(
        pl.col("first_name").n_unique().alias("k")
    )
    assert twins.filter(pl.col("k") >= 2).height > 0
    # 72 boards by type and language.
    b = pl.read_parquet(tiny_generated.paths.reference / "boards.parquet")
    counts = (
        b.group_by("language", "board_type").len().sort("language", "board_type")["len"].to_list()
    )
    assert counts == [29, 31, 8, 4]
    s = pl.read_parquet(tiny_generated.paths.reference / "societies.parquet")
    assert s.height == 50 and s["indigenous"].sum() == 13 and s["faith_based"].sum() == 3


def test_names_are_skewed_not_uniform(tiny_generated):
    on = _src(tiny_generated, "onsis_enrolment").unique("oen")
    shares = on["last_name"].value_counts()["count"].sort(descending=True)
    top10 = shares.head(10).sum() / on.height
    uniform = 10 / on["last_name"].n_unique()
    assert top10 > 5 * uniform


def _rate(truth: pl.DataFrame, kind: str) -> float:
    return truth["noise"].str.contains(kind).mean()


@pytest.mark.slow
def test_noise_rates_within_tolerance(small_generated):
    cfg = small_generated
    pt = pl.read_parquet(cfg.paths.truth / "person_truth.parquet")
    with_student = pt.filter(pl.col("true_oen").is_not_null())
    n = with_student.height
    for kind in (
        "oen_missing",
        "oen_wrong",
        "first_name_typo",
        "first_name_nickname",
        "surname_changed",
        "dob_day_month_swap",
        "dob_off_by_one",
        "postal_code_outdated",
    ):
        target = getattr(cfg.noise, kind)
        tol = 4 * math.sqrt(target * (1 - target) / n) + 0.002
        assert abs(_rate(with_student, kind) - target) < tol, kind
    # Duplicate records: the share of children with more than one record.
    dup = pt.group_by("child_id").len()
    share = (dup["len"] > 1).mean()
    assert abs(share - cfg.noise.duplicate_cw_record) < 4 * math.sqrt(0.08 * 0.92 / dup.height)
    # A realistic share of child-welfare children have no student record at all.
    no_student = pt.unique("child_id")["true_oen"].is_null().mean()
    assert abs(no_student - cfg.noise.no_student_record) < 0.02


def test_wrong_oen_belongs_to_another_student(tiny_generated):
    pt = pl.read_parquet(tiny_generated.paths.truth / "person_truth.parquet")
    cw = _src(tiny_generated, "cpin_persons").join(pt, on="cw_record_id")
    wrong = cw.filter(pl.col("noise").str.contains("oen_wrong"))
    students = set(_src(tiny_generated, "onsis_enrolment")["oen"].unique().to_list())
    assert wrong.height == 0 or all(
        o in students and o != t for o, t in zip(wrong["oen"], wrong["true_oen"], strict=True)
    )


def test_hard_cases_no_student_siblings_twins_and_unenrolled_oens(tiny_generated):
    """Children with no student record include enrolled students' siblings and twins (same
    surname and address; a twin's birth date too; never the sibling's first name); valid OENs
    that are no student's appear on no-student and (rarely) enrolled children's records."""
    cfg = tiny_generated
    pt = pl.read_parquet(cfg.paths.truth / "person_truth.parquet")
    cw = _src(cfg, "cpin_persons").join(pt, on="cw_record_id")
    onsis = _src(cfg, "onsis_enrolment")
    students = set(onsis["oen"].unique().to_list())
    first_records = cw.filter(pl.col("true_oen").is_null()).unique("child_id", keep="first")
    sib = first_records.filter(pl.col("noise").str.contains("enrolled_"))
    share = sib.height / first_records.height
    assert abs(share - cfg.noise.no_student_enrolled_sibling) < 0.15, share
    twins = sib.filter(pl.col("noise").str.contains("enrolled_twin"))
    assert twins.height >= 1
    # each twin has an enrolled student with the same surname and birth date, another first name
    latest = onsis.sort("school_year").unique("oen", keep="last")
    for row in twins.iter_rows(named=True):
        same = latest.filter(
            (pl.col("last_name") == row["last_name"]) & (pl.col("birth_date") == row["birth_date"])
        )
        assert same.height >= 1
        assert row["first_name"] not in set(same["first_name"].to_list())
    valid = cw.filter(pl.col("noise").str.contains("valid_oen_of_no_student"))
    assert valid.height and not (set(valid["oen"].to_list()) & students)
    assert valid.select(oen_is_valid(pl.col("oen")).all()).item()
    unen = cw.filter(pl.col("noise").str.contains("oen_unenrolled"))
    assert not (set(unen["oen"].to_list()) & students)


def test_hard_cases_change_no_student_record(tmp_path, tiny_generated):
    """The harder cases are drawn from a stream of their own and touch only child-welfare
    records: the students (their OENs, names, birth dates and addresses) are the same with them
    off, and with them off no record is labelled a sibling's or an unenrolled OEN."""
    off = make_cfg(tmp_path / "off")
    off = off.model_copy(
        update={
            "noise": off.noise.model_copy(
                update={"no_student_enrolled_sibling": 0.0, "oen_unenrolled": 0.0}
            )
        }
    )
    generate(off)
    ident = ["oen", "school_year", "first_name", "last_name", "birth_date", "postal_code"]
    on_st = _src(tiny_generated, "onsis_enrolment").select(ident)
    off_st = _src(off, "onsis_enrolment").select(ident)
    assert on_st.equals(off_st)
    pt = pl.read_parquet(off.paths.truth / "person_truth.parquet")
    assert not pt["noise"].str.contains("enrolled_sibling|enrolled_twin|oen_unenrolled").any()
    on_pt = pl.read_parquet(tiny_generated.paths.truth / "person_truth.parquet")
    assert on_pt["noise"].str.contains("enrolled_").any()


@pytest.mark.slow
def test_eqao_calibrated_within_3_points(small_generated):
    cfg = small_generated
    eq = (
        _src(cfg, "eqao_results")
        .filter(
            (pl.col("participation") == "participated")
            & ((pl.col("assessment") != "osslt") | pl.col("first_time"))
        )
        .with_columns(
            pl.when(pl.col("assessment") == "osslt")
            .then(pl.col("osslt_result") == "pass")
            .otherwise(pl.col("level") >= 3)
            .alias("at"),
            pl.when(pl.col("g9_stream").is_in(["academic", "applied"]))
            .then(pl.col("assessment") + "_" + pl.col("g9_stream"))
            .otherwise(pl.col("assessment"))
            .alias("key"),
        )
    )
    got = eq.group_by("school_year", "key").agg((pl.col("at").mean() * 100).alias("pct"))
    checked = 0
    for year, targets in cfg.calibration.eqao.items():
        for key, target in targets.items():
            row = got.filter((pl.col("school_year") == year) & (pl.col("key") == key))
            assert row.height == 1, (year, key)
            assert abs(row["pct"][0] - target) <= 3.0, (year, key, row["pct"][0], target)
            checked += 1
    assert checked >= 30
    # No testing in the pandemic years.
    assert eq.filter(pl.col("school_year").is_in(list(cfg.no_eqao_years))).height == 0


def test_planted_gaps_visible_in_raw_aggregates(tiny_generated):
    cfg = tiny_generated
    on = _src(cfg, "onsis_enrolment")
    t = pl.read_parquet(cfg.paths.truth / "student_year_truth.parquet")
    j = on.join(t, on=["oen", "school_year"])
    att = j.group_by(pl.col("care_status") == "in_care").agg(
        (1 - pl.col("days_absent").sum() / pl.col("days_enrolled").sum()).alias("att"),
        pl.col("credits_earned").mean().alias("credits"),
    )
    a = dict(zip(att["care_status"], att["att"], strict=True))
    c = dict(zip(att["care_status"], att["credits"], strict=True))
    assert a[True] < a[False] - 0.01
    assert c[True] < c[False] - 0.3
    eq = (
        _src(cfg, "eqao_results")
        .filter(pl.col("participation") == "participated")
        .join(t, on=["oen", "school_year"])
        .with_columns(
            pl.when(pl.col("assessment") == "osslt")
            .then(pl.col("osslt_result") == "pass")
            .otherwise(pl.col("level") >= 3)
            .alias("at")
        )
    )
    r = eq.group_by(pl.col("care_status") == "in_care").agg(pl.col("at").mean())
    rr = dict(zip(r["care_status"], r["at"], strict=True))
    assert rr[True] < rr[False] - 0.1
