"""De-identification: keys, derivations, k-anonymity, and the identifier scan."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import polars as pl
import pytest

from analysis import deidentify as d
from analysis.config import Privacy, load_config
from analysis.deidentify.care import care_by_year
from analysis.deidentify.contract import TABLE_COLUMNS
from analysis.domain.dates import EXTRACT_END, fiscal_year
from analysis.domain.vocab import GENDER_IDENTITY_GROUP, RACE_GROUP

EXPECTED = {
    "student_years.parquet",
    "eqao.parquet",
    "cw_persons.parquet",
    "care_days.parquet",
    "admissions.parquet",
    "cases.parquet",
    "onlac.parquet",
    "risk.json",
    "calibration.json",  # the generator's calibration check (aggregates), for the methodology page
    "boards.parquet",
    "societies.parquet",
}


def test_missing_key_for_real_data_is_an_error_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("T_KEY", raising=False)
    cfg = load_config(data_dir=tmp_path / "data").model_copy(
        update={"privacy": Privacy(key_env="T_KEY", synthetic_dev_key=False)}
    )
    with pytest.raises(d.DeidentifyError, match="no study key.*T_KEY"):
        d.run(cfg)
    assert not cfg.paths.analytic.exists()


def test_short_key_is_an_error_and_never_echoed(tmp_path, monkeypatch):
    monkeypatch.setenv("T_KEY", "short-secret-value")
    cfg = load_config(data_dir=tmp_path / "data").model_copy(
        update={"privacy": Privacy(key_env="T_KEY", synthetic_dev_key=False)}
    )
    with pytest.raises(d.DeidentifyError, match="18 bytes; at least 32") as exc:
        d.run(cfg)
    assert "short-secret-value" not in str(exc.value)
    assert not cfg.paths.analytic.exists()


def test_key_file_and_fingerprint(tmp_path, monkeypatch):
    monkeypatch.delenv("T_KEY", raising=False)
    kf = tmp_path / "key"
    kf.write_bytes(b"k" * 40 + b"\n")
    key = d.load_key(Privacy(key_env="T_KEY", key_file=kf, synthetic_dev_key=False), 1)
    assert key.source == "file" and len(key.fingerprint()) == 16
    assert "k" * 40 not in repr(key)
    dev = d.load_key(Privacy(key_env="T_KEY"), 7)
    assert (
        dev.is_development
        and dev.fingerprint() != d.load_key(Privacy(key_env="T_KEY"), 8).fingerprint()
    )


def test_pseudonym_is_keyed_not_plain_hash():
    key = d.StudyKey(b"x" * 32, "test")
    s = pl.Series(["123456782", None])
    out = d.pseudonym(key, s, "oen")
    assert out[1] is None and len(out[0]) == 32
    assert out[0] not in hashlib.sha256(b"123456782").hexdigest()
    assert out[0] != d.pseudonym(d.StudyKey(b"y" * 32, "test"), s, "oen")[0]


@pytest.mark.parametrize("key_len", [32, 64, 65, 100])
def test_pseudonym_is_the_standard_hmac(key_len):
    # the hashlib implementation (pads hashed once) gives the bytes of hmac.new, for keys shorter
    # and longer than SHA-256's 64-byte block
    secret = bytes(range(key_len))
    values = ["123456782", "", "é", "a" * 200]
    got = d.pseudonym(d.StudyKey(secret, "test"), pl.Series(values), "oen").to_list()
    want = [hmac.new(secret, f"oen:{v}".encode(), "sha256").hexdigest()[:32] for v in values]
    assert got == want


def test_region_and_fiscal_year():
    df = pl.DataFrame(
        {
            "postal_code": ["M5V 2T6", "k1a 0b1", "X0A 1A0"],
            "d": [dt.date(2018, 3, 31), dt.date(2018, 4, 1), dt.date(2023, 1, 1)],
        }
    )
    out = df.select(d.region_of_postal(), fiscal_year("d").alias("fy"))
    assert out["postal_code"].to_list() == ["Toronto", "East", None]
    assert out["fy"].to_list() == ["2017-18", "2018-19", "2022-23"]


def test_care_status_priority_days_and_placement_group():
    persons = pl.DataFrame({"cw_person_id": ["p1", "p2"]})
    end_x = EXTRACT_END + dt.timedelta(days=1)
    services = pl.DataFrame(
        {
            "cw_person_id": ["p1", "p1", "p2"],
            "service_type": ["kinship_service", "interim_society_care", "vysa"],
            "society_id": ["S01", "S02", "S03"],
            "start_date": [dt.date(2017, 1, 1), dt.date(2018, 6, 1), dt.date(2019, 1, 1)],
            "end_x": [end_x, dt.date(2018, 6, 11), end_x],
        }
    )
    placements = pl.DataFrame(
        {
            "cw_person_id": ["p1", "p1"],
            "placement_type": ["group_home", "foster_home"],
            "start_date": [dt.date(2018, 6, 1), dt.date(2018, 6, 5)],
            "end_x": [dt.date(2018, 6, 5), dt.date(2018, 6, 11)],
        }
    )
    out = care_by_year(persons, services, placements, ("2017-18", "2018-19"))
    row = {(r["cw_person_id"], r["school_year"]): r for r in out.iter_rows(named=True)}
    assert row[("p1", "2017-18")]["care_status"] == "in_care"
    assert row[("p1", "2017-18")]["cumulative_days_in_care"] == 10
    assert row[("p1", "2017-18")]["placement_group"] == "family"  # 6 foster days vs 4 group
    assert row[("p1", "2018-19")]["care_status"] == "kinship_service"
    assert row[("p1", "2018-19")]["placement_group"] is None
    assert row[("p2", "2018-19")]["care_status"] == "vysa"
    assert row[("p2", "2017-18")]["care_status"] == "none"


def test_enforce_k_blanks_until_it_holds():
    df = pl.DataFrame(
        {
            "y": ["a"] * 30,
            "by": [2010] * 25 + [2011, 2012, 2013, 2014, 2015],
            "g": ["f"] * 30,
        }
    )
    before = d.measure_risk(df, ("by", "g"), ("y",))
    out, rep = d.enforce_k(df, ("by", "g"), 20, by=("y",), order=("by", "g"))
    after = d.measure_risk(out, ("by", "g"), ("y",))
    assert before["k"] == 1 and rep["holds"] and after["k"] >= 20


def _fake_links(cfg):
    pt = pl.read_parquet(cfg.paths.truth / "person_truth.parquet")
    links = pt.select(
        "cw_record_id",
        pl.col("child_id").cast(pl.String).alias("cw_person_id"),
        pl.col("true_oen").alias("oen"),
        pl.lit(1.0).alias("match_probability"),
        pl.when(pl.col("true_oen").is_not_null()).then(pl.lit("deterministic")).alias("link_pass"),
    )
    cfg.paths.linkage.mkdir(parents=True, exist_ok=True)
    links.write_parquet(cfg.paths.linkage / "links.parquet")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from analysis import synthetic

    cfg = load_config(scale="tiny", data_dir=tmp_path_factory.mktemp("deid") / "data")
    synthetic.generate(cfg)
    _fake_links(cfg)
    result = d.run(cfg)
    return cfg, result


def test_stage_writes_exactly_the_contract(built):
    cfg, result = built
    assert {p.name for p in cfg.paths.analytic.iterdir()} == EXPECTED
    sy = pl.read_parquet(cfg.paths.analytic / "student_years.parquet")
    for col in ("oen", "first_name", "last_name", "birth_date", "postal_code", "cw_record_id"):
        assert col not in sy.columns
    assert sy["study_id"].str.len_chars().max() == 32
    assert result.metrics["development_key"] and len(result.metrics["key_fingerprint"]) == 16


def test_every_table_has_the_contract_columns(built):
    cfg, result = built
    for name, columns in TABLE_COLUMNS.items():
        df = pl.read_parquet(cfg.paths.analytic / f"{name}.parquet")
        assert df.columns == list(columns), name
        assert result.rows[f"{name} out"] == df.height
    assert {f"{n}.parquet" for n in TABLE_COLUMNS} | {"risk.json", "calibration.json"} | {
        f"{n}.parquet" for n in d.REFERENCE
    } == EXPECTED


def test_analytic_meets_k(built):
    """Every enforced set holds k (and l) on the tables as written, measured here from the
    parquet files alone, the way an outside auditor would."""
    cfg, result = built
    k, l_div = cfg.privacy.k_anonymity, cfg.privacy.l_diversity
    risk = json.loads((cfg.paths.analytic / "risk.json").read_text())
    assert risk["published_check"]["holds"]
    for name, rec in risk["summary"].items():
        if rec["enforced"]:
            after = rec["after"]
            assert after["below_k_share"] == 0, name
            assert after.get("k") is None or after["k"] >= k, name
            assert after.get("l") is None or after["l"] >= l_div, name
    assert result.metrics["k"] >= k and result.metrics["l"] >= l_div
    sy = pl.read_parquet(cfg.paths.analytic / "student_years.parquet")
    cw = pl.read_parquet(cfg.paths.analytic / "cw_persons.parquet")
    eqao = pl.read_parquet(cfg.paths.analytic / "eqao.parquet")

    def classes(df, keys):
        return df.group_by(keys).agg(
            pl.len().alias("n"),
            pl.col("care_status").n_unique().alias("l")
            if "care_status" in df.columns
            else pl.lit(9).alias("l"),
            (pl.col("care_status") != "none").any().alias("inv")
            if "care_status" in df.columns
            else pl.lit(False).alias("inv"),
        )

    year = ["school_year"]
    for keys in (
        # what a classmate knows: the board (and its region), grade, gender, birth year, region
        [*year, "board_id", "board_region", "grade", "gender", "birth_year_band", "region"],
        # a neighbour: the board's region, birth year, region, race, gender identity
        [*year, "board_region", "birth_year_band", "region", "race_group", "gender_identity"],
        # a child-welfare worker: the society (or its region), birth year, identity, race
        [*year, "board_region", "society_id", "society_region", "birth_year_band"]
        + ["gender_identity", "race_group"],
    ):
        g = classes(sy, keys)
        assert g["n"].min() >= k, keys
        assert g.filter(pl.col("inv"))["l"].min() >= l_div, keys
    assert classes(cw, list(d.QI_CW_PUBLISHED))["n"].min() >= k
    # the join on study_id: every joined class holds k (or nothing joins)
    j = cw.filter(pl.col("study_id").is_not_null()).join(sy, on="study_id", suffix="_sy")
    if j.height:
        keys = [*year, *d.QI_CW_PUBLISHED, "board_id", "board_region", "grade", "gender"]
        keys += ["birth_year_band_sy", "region"]
        assert j.group_by(keys).len()["len"].min() >= k
    # eqao names no board that student_years generalised for the same student-year
    hidden = sy.filter(pl.col("board_id").is_null()).select("study_id", "school_year")
    assert eqao.join(hidden, on=["study_id", "school_year"])["board_id"].null_count() == (
        eqao.join(hidden, on=["study_id", "school_year"]).height
    )


def test_published_race_columns_and_reference_copies(built):
    cfg, _ = built
    sy = pl.read_parquet(cfg.paths.analytic / "student_years.parquet")
    assert sy.columns == list(d.STUDENT_YEAR_COLUMNS)
    assert (sy["race"].eq_missing(sy["race_group"])).all()
    assert set(sy["race_group"].drop_nulls()) <= set(RACE_GROUP.values())
    # indigenous is null exactly where race is suppressed or absent
    assert (sy["indigenous"].is_null() == sy["race_group"].is_null()).all()
    assert (
        sy.filter(~pl.col("cw_involved"))["race_group"].null_count()
        == sy.filter(~pl.col("cw_involved")).height
    )
    # an exact birth year (and age) is published only where its band is that single year
    by = sy.filter(pl.col("birth_year").is_not_null())
    assert (by["birth_year_band"] == by["birth_year"].cast(pl.String)).all()
    assert (sy["age_sept1"].is_null() == sy["birth_year"].is_null()).all()
    cw = pl.read_parquet(cfg.paths.analytic / "cw_persons.parquet")
    assert cw.columns == list(d.CW_PERSON_COLUMNS)
    assert set(cw["gender_identity"].drop_nulls()) <= set(GENDER_IDENTITY_GROUP.values())
    for name in d.REFERENCE:
        ref = pl.read_parquet(cfg.paths.reference / f"{name}.parquet")
        assert pl.read_parquet(cfg.paths.analytic / f"{name}.parquet").equals(ref)
    risk = json.loads((cfg.paths.analytic / "risk.json").read_text())
    assert risk["method"]["student_years"]["enforced_together"] == [
        s.name for s in d.STUDENT_YEAR_SETS
    ]
    assert risk["threat_model"]["quasi_identifier_sets"].keys() == risk["summary"].keys()
    assert risk["student_years_generalisation"]["steps"][0]["step"] == "race -> race_group"
    # utility is measured before and after; before, every dimension is kept in full
    util = risk["student_years_utility"]
    assert util["before"]["all"]["board_id_kept"] == 1.0
    assert 0 < util["after"]["all"]["board_id_kept"] <= 1.0
    # the board and society are published with their region, the hashed school not at all
    assert "school_id" not in sy.columns
    named = sy.filter(pl.col("board_id").is_not_null())
    boards = pl.read_parquet(cfg.paths.analytic / "boards.parquet").select("board_id", "region")
    assert (
        named.join(boards, on="board_id")
        .select((pl.col("board_region") == pl.col("region")).all())
        .item()
    )


def test_care_status_matches_truth(built):
    cfg, _ = built
    # pseudonyms are recomputed from the same development key to join on the truth
    key = d.load_key(cfg.privacy, cfg.seed)
    truth = pl.read_parquet(cfg.paths.truth / "student_year_truth.parquet")
    truth = truth.with_columns(d.pseudonym(key, truth["oen"], "oen").alias("study_id"))
    sy = pl.read_parquet(cfg.paths.analytic / "student_years.parquet")
    j = sy.join(truth, on=["study_id", "school_year"], suffix="_t")
    assert j.height == sy.height
    agree = (j["care_status"] == j["care_status_t"]).mean()
    assert agree > 0.999
    agree_days = (j["cumulative_days_in_care"] == j["cumulative_days_in_care_t"]).mean()
    assert agree_days > 0.99


def test_no_identifier_in_analytic(built):
    cfg, _ = built
    assert d.scan_for_identifiers([cfg.paths.analytic], cfg.paths.sources) == []


def test_scan_finds_planted_identifiers(built, tmp_path):
    cfg, _ = built
    on = pl.read_parquet(cfg.paths.sources / "onsis_enrolment.parquet").head(1)
    oen = on["oen"][0]
    (tmp_path / "a.csv").write_text(f"x,{oen}\n")
    (tmp_path / "b.html").write_text(f"<p>{on['first_name'][0]} {on['last_name'][0]}</p>")
    (tmp_path / "c.json").write_text(json.dumps({"h": hashlib.md5(oen.encode()).hexdigest()}))
    (tmp_path / "d.svg").write_text(f"<svg><desc>{on['postal_code'][0]}</desc></svg>")
    (tmp_path / "e.csv").write_text(f"{on['birth_date'][0].isoformat()}\n")
    kinds = {h.kind for h in d.scan_for_identifiers([tmp_path], cfg.paths.sources)}
    assert kinds == {"oen", "name", "oen_md5", "postal_code", "birth_date"}
    assert all(oen not in str(h) for h in d.scan_for_identifiers([tmp_path], cfg.paths.sources))


# ------------------------------------------------------------------------------------------
# generalise on coded states == a plain row-by-row implementation of the same rules
# ------------------------------------------------------------------------------------------
def _naive_generalise(df, qis, steps, k, by, sensitive, involved, l_div, order, entity):
    """The hierarchy, suppression and class merge, recomputed over every row at every step."""
    keys = [*by, *qis]

    def bad_rows(df):
        over = [pl.len().over(keys) < k]
        if sensitive and involved:
            over.append(
                pl.col(involved).any().over(keys)
                & (pl.col(sensitive).n_unique().over(keys) < l_div)
            )
        return df.select(pl.any_horizontal(over)).to_series()

    def spread(df, bad):  # every row of an entity holding a bad row (a null entity: none)
        if not entity:
            return bad
        ents = df.filter(bad)[entity].drop_nulls().unique().implode()
        return df[entity].is_in(ents).fill_null(False)

    done = []
    for st in steps:
        new = df.with_columns(st.value.cast(df.schema[st.column]).alias("_n"))["_n"]
        old = df[st.column]
        hit = pl.Series([True] * df.height) if st.scope == "global" else spread(df, bad_rows(df))
        hit = hit & old.is_not_null() & new.is_not_null() & (new != old).fill_null(True)
        df = df.with_columns(pl.when(hit).then(new).otherwise(old).alias(st.column))
        done.append(
            {
                "step": st.name,
                "column": st.column,
                "scope": st.scope,
                "values_changed": int(hit.sum()),
                "k_after": int(df.group_by(keys).len()["len"].min()),
                "rows_below_threshold_after": int(bad_rows(df).sum()),
            }
        )
    sup = {"suppressed_values": {}}
    for col in [c for c in order if c in qis]:
        bad = bad_rows(df)
        if not bad.any():
            break
        hit = spread(df, bad) & df[col].is_not_null()
        sup["suppressed_values"][col] = int(hit.sum())
        df = df.with_columns(pl.when(hit).then(None).otherwise(pl.col(col)).alias(col))
    # merge: classes in the order their first row appears when the merge starts
    first = df.with_row_index("_r").group_by(keys, maintain_order=True).agg(pl.col("_r").first())
    rank = {tuple(r[:-1]): i for i, r in enumerate(first.iter_rows())}
    blank = [q for q in qis if q not in by]
    merged = 0
    while bad_rows(df).any():
        g = (
            df.with_row_index("_r")
            .group_by(keys)
            .agg(
                pl.len().alias("n"),
                *([pl.col(sensitive).n_unique().alias("l")] if sensitive else []),
                *([pl.col(involved).any().alias("inv")] if involved else []),
            )
        )
        cand = []
        for r in g.iter_rows(named=True):
            if all(r[q] is None for q in qis):
                continue
            bad = r["n"] < k or bool(sensitive and involved and r["inv"] and r["l"] < l_div)
            cand.append((not bad, r["n"], rank[tuple(r[c] for c in keys)], r))
        if not cand:
            break
        t = min(cand, key=lambda c: c[:3])[3]
        in_t = pl.all_horizontal([pl.col(c).eq_missing(pl.lit(t[c])) for c in keys])
        rows = df.select(in_t).to_series()
        merged += int(rows.sum())
        rows = spread(df, rows) | rows if entity else rows
        df = df.with_columns(pl.when(rows).then(None).otherwise(pl.col(c)).alias(c) for c in blank)
    sup["rows_merged_into_blank_class"] = merged
    sup["rows_in_classes_below_threshold"] = int(bad_rows(df).sum())
    sup["holds"] = sup["rows_in_classes_below_threshold"] == 0
    return df, {"steps": done, "suppression": sup, "holds": sup["holds"]}


def _single_set_steps() -> tuple[d.Step, ...]:
    """A single-set hierarchy on ``QI_STUDENT`` (race and gender-identity grouping, region,
    birth-year bands), for :func:`analysis.deidentify.generalise` alone."""

    def recode(col, mapping):
        return pl.col(col).replace_strict(mapping, default=None, return_dtype=pl.String)

    return (
        d.Step("race -> race_group", "race_group", recode("race_group", RACE_GROUP), "global"),
        d.Step(
            "gender_identity -> 4 groups",
            "gender_identity",
            recode("gender_identity", GENDER_IDENTITY_GROUP),
            "global",
        ),
        d.Step("region -> province", "region", pl.lit("Ontario")),
        *(
            d.Step(
                f"birth_year -> {w}-year band",
                "birth_year_band",
                d.birth_year_band(pl.col("birth_year"), w),
            )
            for w in (3, 6)
        ),
    )


@pytest.mark.parametrize(
    ("seed", "k", "l_div"), [(s, k, ld) for s in range(3) for k, ld in [(6, 2), (25, 3)]]
)
def test_generalise_matches_row_by_row_rules(seed, k, l_div):
    import numpy as np

    rng = np.random.default_rng(seed)
    n_ent, years = 90, ["2018-19", "2019-20"]
    ent = np.repeat(np.arange(n_ent), 2)
    n = ent.size
    race = rng.choice(
        ["white", "black", "south_asian", "east_asian", "indigenous"],
        n_ent,
        p=[0.6, 0.15, 0.1, 0.1, 0.05],
    )[ent]
    df = pl.DataFrame(
        {
            "eid": ent.astype(np.uint32),
            "school_year": np.tile(years, n_ent),
            "gender": rng.choice(["female", "male", "another"], n_ent, p=[0.48, 0.48, 0.04])[ent],
            "region": rng.choice(["Toronto", "East", "North"], n_ent, p=[0.6, 0.3, 0.1])[ent],
            "birth_year": rng.choice([2008, 2009, 2010, 2011, 2014], n_ent)[ent].astype(np.int16),
            "race_group": race,
            "gender_identity": rng.choice(
                ["girl_woman", "boy_man", "non_binary_two_spirit"], n_ent, p=[0.47, 0.47, 0.06]
            )[ent],
            "care_status": rng.choice(["none", "in_care", "vysa"], n, p=[0.8, 0.1, 0.1]),
        }
    ).with_columns(
        d.birth_year_band(pl.col("birth_year"), 1).alias("birth_year_band"),
        (pl.col("care_status") != "none").alias("_service"),
    )
    args = (d.QI_STUDENT, _single_set_steps(), k)
    kw = {
        "by": ("school_year",),
        "sensitive": "care_status",
        "involved": "_service",
        "l_div": 2,
        "order": d.SUPPRESSION_ORDER,
        "entity": "eid",
    }
    got, rep = d.generalise(df, *args, **kw)
    want, want_rep = _naive_generalise(df, *args, **kw)
    assert rep == want_rep
    assert got.equals(want.select(got.columns))


def test_stage_writes_nothing_when_a_set_fails_on_the_tables_as_written(built, monkeypatch):
    """The check on the published tables is the last word: if it finds a class below k (here
    faked), the stage raises and the analytic folder is left as it was."""
    cfg, _ = built
    before = {p.name: p.stat().st_mtime_ns for p in cfg.paths.analytic.iterdir()}
    fake = {"student_years.school": {"holds": False, "enforced": True}, "holds": False}
    monkeypatch.setattr("analysis.deidentify.analytic.verify_published", lambda *a, **kw: fake)
    with pytest.raises(d.DeidentifyError, match="student_years.school"):
        d.run(cfg)
    assert {p.name: p.stat().st_mtime_ns for p in cfg.paths.analytic.iterdir()} == before
