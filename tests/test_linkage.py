"""Linkage: unit tests on inline frames, and known-truth tests on generated tiny data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from analysis.config import load_config
from analysis.linkage import resolve, standardise
from analysis.linkage.model import (
    BLOCKING_RULE_NAMES,
    LEVEL_NAMES,
    POSTAL_LEVELS,
    blocking_rules,
    comparisons,
)


# ----------------------------------------------------------------------------- standardise
def test_luhn_validation_accepts_check_digit_and_rejects_others() -> None:
    s = pl.Series(["123456782", "123456783", "12345678", "12345678a", None, "123 456 782"])
    got = pl.select(standardise.clean_oen(pl.lit(s))).to_series().to_list()
    assert got == ["123456782", None, None, None, None, "123456782"]


def test_luhn_matches_the_generator_rule() -> None:
    import numpy as np

    from analysis.domain.oen import luhn_check_digit

    base = np.array([12345678, 10000000, 99999999, 31415926])
    oens = [f"{b}{c}" for b, c in zip(base, luhn_check_digit(base), strict=True)]
    assert pl.select(standardise.luhn_valid(pl.lit(pl.Series(oens)))).to_series().all()


def test_names_are_folded_and_split() -> None:
    df = pl.DataFrame(
        {
            "f": ["Léa", "Ji-woo", " ", "Émile"],
            "l": ["Smith-Jones", "O'Brien", "Côté", "van  der Berg"],
        }
    )
    out = df.select(
        standardise.clean_first_name(pl.col("f")).alias("f"),
        standardise.surname_tokens(pl.col("l")).alias("t"),
    )
    assert out["f"].to_list() == ["lea", "jiwoo", None, "emile"]
    assert out["t"].to_list() == [["smith", "jones"], ["obrien"], ["cote"], ["van", "der", "berg"]]


def test_nickname_forms_link_both_directions() -> None:
    forms = standardise.nickname_forms()
    assert "william" in forms["bill"]
    assert set(forms["sam"]) == {"samuel", "samantha"}


def test_postal_codes_normalised_and_invalid_dropped() -> None:
    s = pl.Series(["m5v 2t6", "M5V2T6", "12345", None])
    got = pl.select(standardise.clean_postal(pl.lit(s))).to_series().to_list()
    assert got == ["M5V2T6", "M5V2T6", None, None]


def _onsis() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "oen": ["123456782", "123456782", "100000009"],
            "first_name": ["William", "William", "Emma"],
            "last_name": ["Smith", "Smith", "Lee"],
            "birth_date": [dt.date(2010, 3, 4), dt.date(2010, 3, 4), dt.date(2011, 5, 6)],
            "gender": ["male", "male", "another"],
            "postal_code": ["K1A 0B1", "M5V 2T6", "L4L 1A1"],
            "school_year": ["2017-18", "2018-19", "2018-19"],
        }
    )


def test_students_collapse_to_one_row_with_every_postal_code() -> None:
    st = standardise.standardise_students(_onsis())
    assert st.height == 2
    w = st.filter(pl.col("unique_id") == "123456782").row(0, named=True)
    assert w["postal_codes"] == ["K1A0B1", "M5V2T6"]
    assert w["postal_fsas"] == ["K1A", "M5V"]
    assert st.filter(pl.col("unique_id") == "100000009")["gender"].item() is None
    assert list(st.columns) == list(standardise.LINK_COLUMNS)


def test_cw_gender_identity_maps_to_the_school_gender_or_null() -> None:
    cpin = pl.DataFrame(
        {
            "cw_record_id": ["r1", "r2", "r3"],
            "first_name": ["Emma", "Liam", "Sam"],
            "last_name": ["Lee", "Lee", "Lee"],
            "birth_date": [dt.date(2011, 5, 6)] * 3,
            "oen": [None, None, None],
            "postal_code": ["L4L 1A1"] * 3,
            "gender_identity": ["girl_woman", "boy_man", "non_binary_two_spirit"],
        },
        schema_overrides={"oen": pl.String},
    )
    cw = standardise.standardise_cw(cpin)
    assert cw["gender"].to_list() == ["female", "male", None]


def test_missing_column_error_names_file_and_column_not_values() -> None:
    bad = _onsis().drop("birth_date")
    with pytest.raises(ValueError, match=r"onsis_enrolment.*birth_date") as e:
        standardise.standardise_students(bad)
    assert "Smith" not in str(e.value) and "123456782" not in str(e.value)


# ----------------------------------------------------------------------------- model settings
def test_settings_levels_match_documented_gamma_names() -> None:
    comps = {c.create_output_column_name(): c for c in comparisons()}
    assert set(comps) == set(LEVEL_NAMES)
    for name, comp in comps.items():
        levels = comp.create_comparison_levels()
        # one null level, then the named levels from most to least similar
        assert len(levels) - 1 == len(LEVEL_NAMES[name])
    assert len(blocking_rules()) == len(BLOCKING_RULE_NAMES)
    assert POSTAL_LEVELS.index("exact") == resolve.POSTAL_EXACT


def test_likely_duplicates_with_the_same_best_student_become_one_person() -> None:
    # c1 and c2 look alike (0.6: more likely than not, below high confidence) and both point at s1: one child
    pairs = [_pair("c1", "s1", 0.97), _pair("c2", "s1", 0.95)]
    links, unl = _resolve(pairs, ["c1", "c2"], [("c1", "c2", 0.6)])
    assert links["oen"].to_list() == ["s1", "s1"]
    assert links["cw_person_id"].n_unique() == 1
    # without the record-pair evidence they stay two children, and only one gets the student
    links, unl = _resolve(pairs, ["c1", "c2"])
    assert links["oen"].to_list() == ["s1", None]
    assert unl["reason"].to_list() == ["student_taken"]


# ----------------------------------------------------------------------------- resolution
def _pair(
    cw: str,
    oen: str,
    p: float,
    *,
    same_oen: bool = False,
    first: int = 4,
    last: int = 4,
    dob: int = 4,
    postal: int = 4,
    weight: float | None = None,
) -> dict:
    import math

    w = weight if weight is not None else math.log2(p / (1 - p)) if 0 < p < 1 else 30.0
    return {
        "cw_id": cw,
        "oen": oen,
        "match_weight": w,
        "match_probability": p,
        "match_key": 1,
        "same_oen": same_oen,
        "gamma_first_name": first,
        "gamma_last_name": last,
        "gamma_dob": dob,
        "gamma_postal": postal,
        "gamma_gender": 1,
    }


def _resolve(pairs: list[dict], ids: list[str], cw_pairs: list[tuple[str, str, float]] = ()):
    cp = pl.DataFrame(
        list(cw_pairs),
        schema={"cw_id_1": pl.String, "cw_id_2": pl.String, "match_probability": pl.Float64},
        orient="row",
    )
    return resolve.resolve(
        pl.Series(ids), pl.DataFrame(pairs), cp, threshold=0.9, high_confidence=0.99
    )


def test_wrong_oen_does_not_force_a_link() -> None:
    # OEN agrees but birth date and both names disagree: not confirmed, and too weak to link
    links, unl = _resolve(
        [_pair("c1", "s1", 0.01, same_oen=True, first=0, last=0, dob=0, postal=0)], ["c1"]
    )
    assert links["oen"].to_list() == [None]
    assert unl["reason"].to_list() == ["below_threshold"]


def test_confirmed_oen_links_deterministically_even_when_model_is_unsure() -> None:
    links, _ = _resolve(
        [_pair("c1", "s1", 0.5, same_oen=True, first=0, last=4, dob=4, postal=0)], ["c1"]
    )
    assert links.row(0, named=True)["oen"] == "s1"
    assert links.row(0, named=True)["link_pass"] == "deterministic"


def test_one_to_one_and_duplicates_share_a_person() -> None:
    pairs = [
        _pair("c1", "s1", 0.97),
        _pair("c2", "s1", 0.95),  # another child whose best is the same student
        _pair("c3", "s2", 0.9999),
        _pair("c4", "s2", 0.97),  # duplicate record of c3's child
    ]
    links, unl = _resolve(pairs, ["c1", "c2", "c3", "c4"], [("c3", "c4", 0.995)])
    got = dict(zip(links["cw_record_id"], links["oen"], strict=True))
    assert got == {"c1": "s1", "c2": None, "c3": "s2", "c4": "s2"}
    person = dict(zip(links["cw_record_id"], links["cw_person_id"], strict=True))
    assert person["c3"] == person["c4"] != person["c1"]
    assert links["oen"].drop_nulls().n_unique() == 2  # each student at most one person
    assert unl["reason"].to_list() == ["student_taken"]


def test_record_matching_a_confirmed_student_is_that_childs_duplicate() -> None:
    # c1 is s1 by its OEN; c2's best candidate (above the threshold) is s1 too: one child
    pairs = [
        _pair("c1", "s1", 0.5, same_oen=True),
        _pair("c2", "s1", 0.95),
        _pair("c2", "s2", 0.01),
    ]
    links, _ = _resolve(pairs, ["c1", "c2"])
    assert links["oen"].to_list() == ["s1", "s1"]
    assert links["cw_person_id"].n_unique() == 1


def test_duplicate_evidence_carries_a_confirmed_link() -> None:
    # c2's own evidence for s1 is weak (0.3) but the duplicate model says c2 is c1's child
    # (0.95) and c1 is s1 by its OEN: c2 is s1 with probability >= 0.95
    pairs = [_pair("c1", "s1", 0.5, same_oen=True), _pair("c2", "s1", 0.3)]
    links, _ = _resolve(pairs, ["c1", "c2"], [("c1", "c2", 0.95)])
    assert links["oen"].to_list() == ["s1", "s1"]
    # but not when c2's own evidence points at another student
    pairs.append(_pair("c2", "s2", 0.97))
    links, _ = _resolve(pairs, ["c1", "c2"], [("c1", "c2", 0.95)])
    assert links["oen"].to_list() == ["s1", "s2"]


def test_duplicate_edges_name_each_kind_of_evidence() -> None:
    pairs = pl.DataFrame(
        [
            _pair("c1", "s1", 0.5, same_oen=True),  # confirmed OEN
            _pair("c2", "s1", 0.95),  # (d) best candidate is c1's confirmed student
            _pair("c3", "s3", 0.995),  # (b) with c4: both strongly s3
            _pair("c4", "s3", 0.999),
            _pair("c5", "s5", 0.3),  # (e) through c1's duplicate c5 -> nothing: c1 is s1
            _pair("c6", "s6", 0.2),  # no evidence at all
        ]
    ).with_columns(resolve.deterministic_mask().alias("deterministic"))
    cw_pairs = pl.DataFrame(
        [("c1", "c5", 0.95), ("c1", "c6", 0.2)],
        schema={"cw_id_1": pl.String, "cw_id_2": pl.String, "match_probability": pl.Float64},
        orient="row",
    )
    edges = resolve.duplicate_edges(pairs, cw_pairs, threshold=0.9, high_confidence=0.99)
    got = {tuple(sorted(e)) for e in edges}
    assert ("c1", "c2") in got and ("c3", "c4") in got
    assert ("c1", "c6") not in got  # a duplicate score of 0.2 is no evidence
    # c5's own best (s5, 0.3) is below the threshold, so c1's confirmed link carries over
    assert ("c1", "c5") in got


def test_record_posterior_uses_each_cohorts_share_with_a_student() -> None:
    # the same evidence is weaker for a cohort where few records have a student
    pairs = pl.DataFrame(
        [_pair(f"a{i}", f"s{i}", 0.9999) for i in range(40)]
        + [_pair(f"b{i}", f"t{i}", 0.9999) for i in range(2)]
        + [_pair("a_x", "u1", 0.5, weight=-3.0), _pair("b_x", "u2", 0.5, weight=-3.0)]
    )
    ids = [f"a{i}" for i in range(40)] + ["a_x"] + [f"b{i}" for i in range(40)] + ["b_x"]
    cohorts = pl.DataFrame(
        {"cw_id": ids, "cohort": [2010] * 41 + [2021] * 41},
    )
    post, _ = resolve.record_posterior(pairs, 1000, -20.0, covariates=cohorts)
    p = dict(zip(post["cw_id"], post["posterior"], strict=True))
    assert p["a_x"] > p["b_x"]


def _population(status_of_x: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pairs and covariates of 300 records: 200 with an enrolled OEN and a strong candidate,
    80 without an OEN (60 with a strong candidate, 20 with none), 19 with a valid OEN that is no
    student's and no candidate, and record ``x`` (OEN status ``status_of_x``) whose only
    candidate agrees on name and birth date but not on the address (a look-alike)."""
    pairs, cov = [], []
    for i in range(200):
        pairs.append(_pair(f"e{i:03d}", f"s{i:03d}", 0.999999, weight=40.0))
        cov.append((f"e{i:03d}", "2010", "enrolled"))
    for i in range(80):
        if i < 60:
            pairs.append(_pair(f"n{i:03d}", f"t{i:03d}", 0.999999, weight=40.0))
        cov.append((f"n{i:03d}", "2010", "none"))
    for i in range(19):
        cov.append((f"u{i:03d}", "2010", "unenrolled"))
    # log2 BF = 25 bits: against 2^20 students that is a pairwise 0.97, a posterior near 0.97
    # for a record that very likely has a student, far less for one that very likely has none
    pairs.append(_pair("x", "lookalike", 0.97, weight=5.0, postal=2))
    cov.append(("x", "2010", status_of_x))
    covariates = pl.DataFrame(cov, schema=["cw_id", "cohort", "oen_status"], orient="row")
    return pl.DataFrame(pairs), covariates


@pytest.mark.parametrize("status", ["unenrolled", "none"])
def test_a_valid_oen_that_is_no_students_keeps_a_look_alike_unlinked(status: str) -> None:
    pairs, cov = _population(status)
    post, report = resolve.record_posterior(
        pairs, 2**20, -20.0, covariates=cov, share_range=(0.01, 0.5), share_start=0.12
    )
    links, unl = resolve.resolve(
        cov["cw_id"], post, _no_duplicates(), threshold=0.8, high_confidence=0.99
    )
    x = links.filter(pl.col("cw_record_id") == "x").row(0, named=True)
    prior = report["by_covariate"]["oen_status"]
    assert prior["unenrolled"]["prior_has_student"] < 0.2 < prior["none"]["prior_has_student"]
    if status == "unenrolled":
        # evidence against a match, weighed (not a veto): the posterior falls below the threshold
        p = post.filter(pl.col("cw_id") == "x")["posterior"].item()
        assert 0.0 < p < 0.8
        assert x["oen"] is None
        assert unl.filter(pl.col("cw_record_id") == "x")["reason"].item() == "below_threshold"
    else:  # the same look-alike for a record without an OEN is linked
        assert x["oen"] == "lookalike"


def _no_duplicates() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"cw_id_1": pl.String, "cw_id_2": pl.String, "match_probability": pl.Float64}
    )


def test_twins_each_matching_their_own_student_are_not_merged() -> None:
    # two records of twins (same surname, birth date and address, different first names) that
    # the duplicate model scores above high confidence, each confidently its own student
    pairs = [
        _pair("c1", "twin_a", 0.995),
        _pair("c1", "twin_b", 0.001, first=0, weight=-10.0),
        _pair("c2", "twin_b", 0.995),
        _pair("c2", "twin_a", 0.001, first=0, weight=-10.0),
    ]
    links, _ = _resolve(pairs, ["c1", "c2"], [("c1", "c2", 0.9963)])
    got = dict(zip(links["cw_record_id"], links["oen"], strict=True))
    assert got == {"c1": "twin_a", "c2": "twin_b"}
    assert links["cw_person_id"].n_unique() == 2
    stats: dict = {}
    resolve.resolve(
        pl.Series(["c1", "c2"]),
        pl.DataFrame(pairs),
        pl.DataFrame(
            [("c1", "c2", 0.9963)],
            schema={"cw_id_1": pl.String, "cw_id_2": pl.String, "match_probability": pl.Float64},
            orient="row",
        ),
        threshold=0.9,
        high_confidence=0.99,
        stats=stats,
    )
    assert stats["duplicate_merges_refused"] == 1


def test_a_records_own_confirmed_oen_is_never_overridden_by_a_duplicates() -> None:
    # c1 and c2 both carry a confirmed OEN (agreeing on name and birth date), each a different
    # student; however alike the duplicate model finds them, each keeps its own
    pairs = [
        _pair("c1", "s1", 0.999, same_oen=True),
        _pair("c2", "s2", 0.999, same_oen=True),
        _pair("c1", "s2", 0.9, first=0, weight=3.0),
    ]
    links, _ = _resolve(pairs, ["c1", "c2"], [("c1", "c2", 0.9999)])
    rows = {r["cw_record_id"]: r for r in links.iter_rows(named=True)}
    assert rows["c1"]["oen"] == "s1" and rows["c2"]["oen"] == "s2"
    assert rows["c1"]["link_pass"] == rows["c2"]["link_pass"] == "deterministic"


def test_a_merged_record_reports_its_own_probability_not_its_persons() -> None:
    # c2 joins c1's person through the duplicate model (0.95) and c1's confirmed OEN; its own
    # posterior for the student is 0.3: it reports 0.95 x c1's (never c1's 0.999 alone)
    pairs = [_pair("c1", "s1", 0.999, same_oen=True), _pair("c2", "s1", 0.3)]
    links, _ = _resolve(pairs, ["c1", "c2"], [("c1", "c2", 0.95)])
    p = dict(zip(links["cw_record_id"], links["match_probability"], strict=True))
    assert p["c1"] == pytest.approx(0.999)
    assert p["c2"] == pytest.approx(0.95 * 0.999)


def test_twins_too_close_to_call_stay_unlinked() -> None:
    pairs = [_pair("c1", "twin_a", 0.95, weight=5.0), _pair("c1", "twin_b", 0.94, weight=4.5)]
    links, unl = _resolve(pairs, ["c1"])
    assert links["oen"].to_list() == [None]
    assert unl["reason"].to_list() == ["ambiguous"]


def _students(rows: list[tuple[str, str, str, list[str]]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "first_name": [r[0] for r in rows],
            "last_name": [r[1] for r in rows],
            "dob": [dt.date.fromisoformat(r[2]) for r in rows],
            "postal_codes": [r[3] for r in rows],
        }
    )


def test_household_dependence_spares_a_pair_that_agrees_on_the_first_name_too() -> None:
    """Twins (same surname, birth date and address, other first names) make agreement on the
    three far likelier among non-matches than independence says; no two students share all four,
    so a pair agreeing on the first name as well keeps its full weight."""
    from analysis.linkage.model import household_dependence

    rows = []
    for i in range(60):  # 60 households with twins, and 200 single children
        fam, code = f"Fam{i}", [f"K{i:02d}1A1"]
        rows += [(f"A{i}", fam, "2012-03-04", code), (f"B{i}", fam, "2012-03-04", code)]
    for j in range(200):
        rows.append((f"C{j % 7}", f"Solo{j}", f"2011-{1 + j % 12:02d}-{1 + j % 28:02d}", [f"S{j}"]))
    dep = household_dependence(_students(rows))
    assert dep["bits"]["last_name+dob+postal"] < -5  # twins are no coincidence
    assert dep["bits_first_name_exact"]["last_name+dob+postal"] == 0.0  # none share all four


def test_postal_exact_u_is_counted_not_sampled() -> None:
    from analysis.linkage.model import postal_exact_u

    cw = pl.DataFrame({"postal_codes": [["A1A1A1"], ["B2B2B2"], [None], ["Z9Z9Z9"]]})
    st = pl.DataFrame(
        {"postal_codes": [["A1A1A1", "B2B2B2"], ["A1A1A1"], ["C3C3C3"], [], ["B2B2B2"]]}
    )
    # 3 records and 4 students with a code: A1A1A1 meets 2 students, B2B2B2 2, Z9Z9Z9 none
    assert postal_exact_u(cw, st) == pytest.approx(4 / (3 * 4))


def test_threshold_is_the_lowest_within_the_false_link_budget() -> None:
    from analysis.linkage.quality import choose_threshold

    # four records, one candidate each: the posterior is the chance the record has a student
    pairs = pl.DataFrame(
        {
            "cw_id": ["r1", "r2", "r3", "r4"],
            "oen": ["s1", "s2", "s3", "s4"],
            "posterior": [0.999, 0.99, 0.9, 0.5],
            "deterministic": [False] * 4,
        }
    )
    records = pl.Series(["r1", "r2", "r3", "r4"])
    assert choose_threshold(pairs, records, 0.8, None)[0] == 0.8
    t, report = choose_threshold(pairs, records, 0.8, 0.1)
    # expected without a student: 0.611; links at 0.8 (and 0.9) cost 0.111 of it (18%), at
    # 0.905 0.011 (2%)
    assert t == 0.905 and report["within_budget"]
    t, report = choose_threshold(pairs, records, 0.8, 1e-9)
    assert t == 0.999 and not report["within_budget"]


def test_every_record_gets_exactly_one_row() -> None:
    links, unl = _resolve([_pair("c1", "s1", 0.999)], ["c1", "c2"])
    assert links["cw_record_id"].to_list() == ["c1", "c2"]
    assert unl.to_dicts() == [{"cw_record_id": "c2", "reason": "no_candidate"}]


def test_package_surface_is_the_stage_and_the_analyst_tables() -> None:
    from analysis import linkage
    from analysis.linkage import quality, stage

    assert linkage.run is stage.run and linkage.link is stage.link
    assert linkage.borderline_pairs is quality.borderline_pairs
    assert all(callable(getattr(linkage, name)) for name in linkage.__all__)


# ----------------------------------------------------------------------------- known truth
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from analysis.io import write_parquet
    from analysis.synthetic import generate_frames

    d = tmp_path_factory.mktemp("tiny")
    cfg = load_config(scale="tiny", data_dir=d)
    for key, df in generate_frames(cfg).items():
        write_parquet(df, d / f"{key}.parquet")
    return d


@pytest.fixture(scope="module")
def tiny_run(tiny: Path):
    from analysis import linkage

    cfg = load_config(scale="tiny", data_dir=tiny)
    result = linkage.run(cfg)
    return cfg, result


def test_tiny_quality_meets_target(tiny_run) -> None:
    cfg, result = tiny_run
    q = json.loads((cfg.paths.linkage / "quality.json").read_text())
    assert q["f1"] >= 0.995, q["f1"]
    assert q["precision"] >= 0.995
    # recall parity: the 2-point target, judged beyond sampling error (tiny's groups are ~120
    # records, where one record is 0.8 points): the gap's standard error from both groups
    for dim, v in q["recall_parity"]["by_dimension"].items():
        lo, hi = v["lowest"], v["highest"]
        se = sum(g["recall"] * (1 - g["recall"]) / g["with_student"] for g in (lo, hi)) ** 0.5
        assert v["gap"] <= 0.02 + 2 * max(se, 1 / lo["with_student"]), (dim, v)
    assert result.metrics["f1"] == q["f1"]
    for dim in (
        "race",
        "gender_identity",
        "age_group",
        "society_id",
        "service_type",
        "born_outside_canada",
        "first_language",
    ):
        assert any(r["dimension"] == dim for r in q["by_subgroup"]), dim
    assert q["comparisons_scored"] == sum(q["comparisons_by_blocking_rule"].values()) > 0


def test_tiny_outputs_follow_the_contract(tiny_run) -> None:
    cfg, _ = tiny_run
    d = cfg.paths.linkage
    links = pl.read_parquet(d / "links.parquet")
    persons = pl.read_parquet(cfg.paths.sources / "cpin_persons.parquet")
    assert links.columns == [
        "cw_record_id",
        "cw_person_id",
        "oen",
        "match_probability",
        "link_pass",
    ]
    assert links["cw_record_id"].is_unique().all()
    assert sorted(links["cw_record_id"]) == sorted(persons["cw_record_id"])
    # one student per person, one person per student
    linked = links.filter(pl.col("oen").is_not_null())
    assert linked.group_by("cw_person_id").agg(pl.col("oen").n_unique())["oen"].max() == 1
    assert linked.group_by("oen").agg(pl.col("cw_person_id").n_unique())["cw_person_id"].max() == 1
    assert set(linked["link_pass"]) <= {"deterministic", "probabilistic"}
    assert (
        links.filter(pl.col("oen").is_null())["link_pass"].null_count() == links["oen"].null_count()
    )
    unl = pl.read_parquet(d / "unlinked.parquet")
    assert unl.height == links["oen"].null_count()
    assert set(unl["reason"]) <= set(resolve.UNLINKED_REASONS)
    model = json.loads((d / "model.json").read_text())
    assert model["link_type"] == "link_only"


def test_analyst_tables_carry_no_identifiers(tiny_run) -> None:
    from analysis import linkage

    cfg, _ = tiny_run
    d = cfg.paths.linkage
    hist = linkage.match_weight_histogram(d)
    assert hist["pairs"].sum() > 0
    mu = linkage.m_u_parameters(d)
    assert {"comparison", "level", "m_probability", "u_probability"} <= set(mu.columns)
    rates = linkage.link_rate_by_subgroup(d)
    assert {"dimension", "group", "link_rate", "recall"} <= set(rates.columns)
    bl = linkage.borderline_pairs(d, n=20, seed=cfg.seed)
    assert 0 < bl.height <= 20
    ids = set(pl.read_parquet(d / "links.parquet")["cw_record_id"]) | set(
        pl.read_parquet(cfg.paths.sources / "onsis_enrolment.parquet")["oen"]
    )
    cells = {str(v) for col in bl.columns for v in bl[col].to_list()}
    assert not (cells & ids)
    assert bl["cw_pseudonym"].str.starts_with("R").all()


def test_truth_is_not_needed_to_link(tiny: Path, tmp_path: Path) -> None:
    """Linking gives the same links without the truth folder (truth is for measuring only)."""
    import shutil

    from analysis import linkage

    d = tmp_path / "data"
    shutil.copytree(tiny / "sources", d / "sources")
    cfg = load_config(scale="tiny", data_dir=d)
    result = linkage.run(cfg)
    assert result.metrics["f1"] is None
    a = pl.read_parquet(d / "linkage/links.parquet")
    b = pl.read_parquet(tiny / "linkage/links.parquet")
    assert a.select("cw_record_id", "oen").equals(b.select("cw_record_id", "oen"))


def test_doubled_noise_degrades_gracefully_and_is_reported(tmp_path: Path) -> None:
    from analysis import linkage
    from analysis.io import write_parquet
    from analysis.synthetic import generate_frames

    base = load_config(scale="tiny", data_dir=tmp_path)
    cfg = base.model_copy(update={"noise": base.noise.scaled(2.0)})
    for key, df in generate_frames(cfg).items():
        write_parquet(df, tmp_path / f"{key}.parquet")
    result = linkage.run(cfg)
    q = json.loads((cfg.paths.linkage / "quality.json").read_text())
    # reported honestly: the numbers in quality.json are the measured ones
    assert q["f1"] == result.metrics["f1"]
    assert q["false_positives"] + q["true_positives"] == q["records_linked"]
    # graceful: precision stays high (misses become unlinked, not wrong links), recall falls
    assert q["precision"] >= 0.98
    assert 0.9 <= q["recall"] < 1.0
    assert q["f1"] >= 0.95


@pytest.mark.bench
@pytest.mark.parametrize("scale", ["tiny", "small"])
def test_bench_linkage(scale: str, tmp_path: Path) -> None:
    """Prints link time, comparisons scored and peak memory (province: run the CLI by hand)."""
    from analysis import linkage
    from analysis.io import write_parquet
    from analysis.synthetic import generate_frames

    cfg = load_config(scale=scale, data_dir=tmp_path)
    for key, df in generate_frames(cfg).items():
        write_parquet(df, tmp_path / f"{key}.parquet")
    r = linkage.run(cfg)
    print(f"\n{scale}: {r.metrics}")
    assert r.metrics["comparisons_scored"] > 0
