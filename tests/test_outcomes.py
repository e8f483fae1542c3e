"""Per student-year outcomes, Wilson intervals, EQAO trends and the analyse stage end to end."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis.analyse import outcomes
from analysis.analyse.outcomes import wilson_ci
from test_indicators import CASES
from test_models import fake_analytic


def test_wilson_known_values() -> None:
    low, high = wilson_ci([0, 5, 10], [10, 10, 10])
    # 5/10: Wilson 95% = (0.2366, 0.7634); 0/10: (0, 0.2775)
    assert low[1] == pytest.approx(0.2366, abs=1e-4) and high[1] == pytest.approx(0.7634, abs=1e-4)
    assert low[0] == 0 and high[0] == pytest.approx(0.2775, abs=1e-4)
    assert high[2] == pytest.approx(1.0)
    lo, hi = wilson_ci([0], [0])
    assert np.isnan(lo[0]) and np.isnan(hi[0])


def _sy() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_id": ["a", "a", "b", "b", "c"],
            "school_year": ["2017-18", "2018-19", "2017-18", "2018-19", "2018-19"],
            "grade": ["9", "10", "9", "10", "10"],
            "days_enrolled": [190, 190, 190, 0, 190],
            "days_absent": [19, 18, 0, 0, 40],
            "credits_earned": [8.0, 8.0, 7.0, 8.5, 9.0],
            "care_status": ["in_care", "none", "none", "none", "vysa"],
        }
    )


def test_student_year_outcomes() -> None:
    out = outcomes.student_year_outcomes(_sy()).sort("study_id", "school_year")
    assert out["chronic_absent"].to_list() == [
        True,
        False,
        False,
        None,
        True,
    ]  # 19/190 = 10% exactly
    assert out["attendance_rate"][0] == pytest.approx(1 - 19 / 190)
    # a: 8 + 8 = 16 -> on track; b: 7 + 8.5 < 16; c: no Grade 9 year in the panel -> null
    assert out["on_track"].to_list() == [None, True, None, False, None]


def test_rate_table_counts_people_once() -> None:
    f = pl.DataFrame(
        {
            "study_id": ["a", "a", "b", "c"],
            "g": ["x", "x", "x", "y"],
            "y": [True, False, False, None],
        }
    )
    t = outcomes.rate_table(f, "y", ["g"])
    r = t.row(0, named=True)
    assert (r["g"], r["n"], r["events"]) == ("x", 2, 1)
    assert t.height == 1  # c's outcome is null


def test_eqao_trend_marks_no_assessment_years_and_break() -> None:
    eq = pl.DataFrame(
        {
            "assessment": ["g3_math"] * 4,
            "school_year": ["2018-19", "2018-19", "2021-22", "2022-23"],
            "study_id": ["a", "b", "c", "d"],
            "at_standard": [True, False, True, True],
            "first_time": [True] * 4,
            "care_status": ["none"] * 4,
        }
    )
    t = outcomes.eqao_trend(
        eq,
        ["care_status"],
        school_years=("2017-18", "2018-19", "2019-20", "2020-21", "2021-22", "2022-23"),
        no_eqao_years=("2019-20", "2020-21"),
        baseline_break="2021-22",
    )
    gap = t.filter(pl.col("school_year").is_in(["2019-20", "2020-21"]))
    assert gap.height == 2
    assert (gap["assessment_status"] == "no_assessment").all()
    assert gap["n"].is_null().all() and gap["rate"].is_null().all()  # not zero
    assert t.filter(pl.col("school_year") == "2021-22")["baseline_break"].all()
    assert set(t.filter(pl.col("school_year") < "2021-22")["series"]) == {"before_break"}
    assert set(t.filter(pl.col("school_year") >= "2021-22")["series"]) == {"new_baseline"}


def test_descriptive_tables_are_long_and_unique() -> None:
    sy, eq = fake_analytic(5, n_students=1500)
    specs = outcomes.descriptive_tables(
        sy,
        eq,
        school_years=("2017-18", "2018-19", "2019-20", "2020-21", "2021-22", "2022-23"),
        no_eqao_years=("2019-20", "2020-21"),
        baseline_break="2021-22",
    )
    for name, (table, dims, num, stats) in specs.items():
        assert not table.select(dims).is_duplicated().any(), name
        assert {"n", *stats} <= set(table.columns), name
        if num:
            assert (
                table.filter(pl.col("n").is_not_null())[num]
                <= table.filter(pl.col("n").is_not_null())["n"]
            ).all()


def _write_analytic(folder, seed: int = 6) -> None:
    from analysis.io import write_json, write_parquet

    sy, eq = fake_analytic(seed, n_students=1500)
    write_parquet(sy, folder / "student_years.parquet")
    write_parquet(eq, folder / "eqao.parquet")
    # what de-identification copies from the linkage stage (aggregates only)
    write_json(
        {
            "by_subgroup": [
                {
                    "dimension": "age_group",
                    "group": g,
                    "records": 200,
                    "linked": 180,
                    "link_rate": 0.9,
                }
                for g in ("0-5", "6-12", "13-17")
            ],
            "match_weight_histogram": [{"bin_lower": 0, "bin_upper": 5, "pairs": 400}],
        },
        folder / "linkage_quality.json",
    )
    write_parquet(CASES, folder / "cases.parquet")
    write_parquet(
        pl.DataFrame(
            {
                "cw_study_id": ["a", "b"],
                "society_id": ["S01", "S01"],
                "fiscal_year": ["2020-21"] * 2,
                "placement_type": ["foster_home", "group_home"],
                "days": [100, 50],
            }
        ),
        folder / "care_days.parquet",
    )
    write_parquet(
        pl.DataFrame(
            {
                "cw_study_id": ["a"],
                "society_id": ["S01"],
                "admission_fiscal_year": ["2018-19"],
                "service_type": ["extended_society_care"],
                "days_to_exit": [10],
                "days_observed": [10],
            }
        ),
        folder / "admissions.parquet",
    )
    write_parquet(
        pl.DataFrame(
            {
                "cw_study_id": ["a"],
                "society_id": ["S01"],
                "fiscal_year": ["2020-21"],
                "age": [12],
                "days_in_care": [400],
                **{f"item_{j}": [2] for j in range(1, 5)},
            }
        ),
        folder / "onlac.parquet",
    )


def test_analyse_run_writes_protected_results(tmp_path) -> None:
    from analysis import analyse, disclosure
    from analysis.config import load_config

    cfg = load_config(scale="tiny", data_dir=tmp_path)
    cfg.paths.analytic.mkdir(parents=True)
    _write_analytic(cfg.paths.analytic)
    res = analyse.run(cfg)
    assert res.stage == "analyse" and res.metrics["tables"] >= 20
    loaded = analyse.load_results(cfg)
    assert {
        "eqao_by_care_status",
        "adjusted_gaps",
        "indicator1_no_recurrence_investigation",
        "indicator4_exits",
        "linkage_sensitivity",
    } <= set(loaded)
    for name, p in loaded.items():
        assert isinstance(p, disclosure.Protected)
        for s in p.stats:
            assert f"{s}__symbol" in p.df.columns, name
        # a published count below the minimum cell size never appears
        small = p.df.filter(
            pl.col("n").is_not_null() & (pl.col("n") > 0) & (pl.col("n") < cfg.privacy.min_cell)
        )
        assert small.height == 0, name
    eq = loaded["eqao_by_care_status"].df
    gap = eq.filter(pl.col("school_year") == "2019-20")
    assert gap.height > 0 and (gap["assessment_status"] == "no_assessment").all()
    assert (gap["rate__symbol"] == "x").all() and gap["rate"].is_null().all()
    assert (cfg.paths.results / "index.json").is_file()
    assert not list(cfg.paths.data_dir.glob(".results.staging-*"))


def test_graduation_follows_the_literacy_waiver() -> None:
    """30 credits and the literacy requirement by the end of the 4th (5th) year; graduates of a
    waived year need no OSSLT pass."""
    years = ("2017-18", "2018-19", "2019-20", "2020-21", "2021-22", "2022-23")
    grades = ("9", "10", "11", "12", "12")
    rows = []
    # a: 8 credits a year, passed the OSSLT in 2018-19; b: 8 a year, never passed;
    # c: 6 a year (30 only in its 5th year, 2021-22, waived); d (from 2018-19): 30 credits only in
    # its 5th year, 2022-23, which was not waived
    plan = {"a": [8] * 5, "b": [8] * 5, "c": [6] * 5, "d": [5, 5, 5, 5]}
    for sid, credits in plan.items():
        start = 1 if sid == "d" else 0
        for k, c in enumerate(credits):
            rows.append((sid, years[start + k], grades[k], c))
    rows.append(("d", "2022-23", "12", 10))
    sy = pl.DataFrame(
        rows, schema=["study_id", "school_year", "grade", "credits_earned"], orient="row"
    ).with_columns(
        pl.col("credits_earned").cast(pl.Float64),
        pl.lit("none").alias("care_status"),
        pl.lit(False).alias("ever_in_care"),
    )
    eq = pl.DataFrame(
        {
            "study_id": ["a", "b"],
            "school_year": ["2018-19", "2018-19"],
            "assessment": ["osslt", "osslt"],
            "at_standard": [True, False],
        }
    )

    def grad(waived: tuple[str, ...]) -> dict[str, tuple[bool | None, bool | None]]:
        g = outcomes.graduation_cohorts(sy, eq, years, waived).sort("study_id")
        return {
            r[0]: (r[1], r[2]) for r in g.select("study_id", "graduated_4y", "graduated_5y").rows()
        }

    assert grad(()) == {
        "a": (True, True),
        "b": (False, False),
        "c": (False, False),
        "d": (False, False),
    }
    waived = ("2019-20", "2020-21", "2021-22")
    assert grad(waived) == {
        "a": (True, True),
        "b": (True, True),
        "c": (False, True),
        "d": (False, False),
    }
