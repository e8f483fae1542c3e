"""The five performance indicators on hand-built fixtures worked out on paper."""

from __future__ import annotations

import polars as pl
import pytest

from analysis.analyse import indicators as ind


def _row(t: pl.DataFrame, **keys: object) -> dict:
    f = t
    for k, v in keys.items():
        f = f.filter(pl.col(k) == v)
    assert f.height == 1, keys
    return f.row(0, named=True)


CASES = pl.DataFrame(
    {
        "case_study_id": [f"c{i}" for i in range(8)],
        "society_id": ["S01", "S01", "S01", "S01", "S02", "S02", "S02", "S01"],
        "case_kind": ["investigation"] * 7 + ["ongoing_protection"],
        "closed_fiscal_year": ["2019-20"] * 8,
        # c0 no recurrence, observed; c1 recurred at day 100 (verified); c2 recurred at day 200 (not
        # verified); c3 recurred at day 400 (outside the window); c4 no recurrence but observed only
        # 200 days (excluded unless it recurred); c5 no recurrence; c6 recurred at 365 (inside)
        "days_to_recurrence": [None, 100, 200, 400, None, None, 365, 50],
        "recurrence_verified": [None, True, False, True, None, None, True, True],
        "days_observed": [900, 900, 900, 900, 200, 900, 900, 900],
    }
)


def test_indicator1_new_investigation() -> None:
    t = ind.no_recurrence(CASES, "investigation")
    # S01: c0 (no), c1 (rec), c2 (rec), c3 (no: outside) -> n=4, events=2
    assert _row(t, society_id="S01")["n"] == 4 and _row(t, society_id="S01")["events"] == 2
    # S02: c4 excluded (not observed a full year), c5 (no), c6 (rec on day 365) -> n=2, events=1
    assert _row(t, society_id="S02")["n"] == 2 and _row(t, society_id="S02")["events"] == 1
    tot = _row(t, society_id="Total")
    assert (tot["n"], tot["events"]) == (6, 3)
    assert tot["rate"] == pytest.approx(0.5)
    assert tot["ci_low"] < 0.5 < tot["ci_high"]


def test_indicator1_verified_concern() -> None:
    t = ind.no_recurrence(CASES, "investigation", definition="verified_concern")
    # c2's recurrence was not verified: it now counts as no recurrence
    assert (_row(t, society_id="S01")["n"], _row(t, society_id="S01")["events"]) == (4, 3)
    assert (_row(t, society_id="Total")["n"], _row(t, society_id="Total")["events"]) == (6, 4)


def test_indicator1_window_parameter() -> None:
    t = ind.no_recurrence(CASES, "investigation", window_days=180)
    # window 180: c2 (200) and c6 (365) no longer recurrences; c4 still under-observed (200 >= 180 -> in)
    tot = _row(t, society_id="Total")
    assert (tot["n"], tot["events"]) == (7, 6)


def test_indicator2_ongoing() -> None:
    t = ind.no_recurrence(CASES, "ongoing_protection")
    assert (_row(t, society_id="Total")["n"], _row(t, society_id="Total")["events"]) == (1, 0)
    with pytest.raises(ValueError, match="recurrence_definition"):
        ind.no_recurrence(CASES, "investigation", definition="other")


def test_indicator3_days_exclude_customary() -> None:
    care_days = pl.DataFrame(
        {
            "cw_study_id": ["a", "a", "b", "c", "d"],
            "society_id": ["S01"] * 5,
            "fiscal_year": ["2020-21"] * 5,
            "placement_type": [
                "foster_home",
                "group_home",
                "kin_in_care_home",
                "youth_justice",
                "customary_care_home",
            ],
            "days": [200, 100, 365, 35, 300],
        }
    )
    t = ind.placement_days(care_days)
    # total (customary excluded) = 200 + 100 + 365 + 35 = 700 days, children a, b, c
    fam = _row(t, society_id="S01", placement_group="family")
    assert (fam["days"], fam["total_days"], fam["n"], fam["events"]) == (565, 700, 3, 2)
    assert fam["pct_days"] == pytest.approx(100 * 565 / 700)
    assert _row(t, society_id="S01", placement_group="group")["pct_days"] == pytest.approx(
        100 * 100 / 700
    )
    assert _row(t, society_id="S01", placement_group="other")["pct_days"] == pytest.approx(5.0)
    assert t.filter(pl.col("society_id") == "Total")["pct_days"].sum() == pytest.approx(100)


def test_indicator4_exits_observed_cohorts_only() -> None:
    adm = pl.DataFrame(
        {
            "cw_study_id": ["a", "b", "c", "d", "e", "e", "f"],
            "society_id": ["S01", "S01", "S01", "S02", "S02", "S02", "S01"],
            "admission_fiscal_year": ["2019-20"] * 6 + ["2021-22"],
            "service_type": ["extended_society_care"] * 4
            + ["interim_society_care"] * 2
            + ["extended_society_care"],
            # a left at 100 days, b at 500, c at 1000, d still in care, e admitted twice (first: 300 days)
            "days_to_exit": [100, 500, 1000, None, 300, 20, 50],
            "days_observed": [100, 500, 1000, 1400, 300, 20, 50],
        }
    )
    t = ind.exits_within(adm)
    # 2019-20 cohort: 5 children (e once). 12 m (365 d): a, e -> 2; 24 m (730 d): a, b, e -> 3;
    # 36 m (1096 d): a, b, c, e -> 4
    for months, events in ((12, 2), (24, 3), (36, 4)):
        r = _row(t, admission_fiscal_year="2019-20", society_id="Total", months=months)
        assert (r["n"], r["events"]) == (5, events), months
    # 2021-22 ends 2022-03-31: observed 12 months (to 2023-03-31) but not 24 or 36
    assert set(t.filter(pl.col("admission_fiscal_year") == "2021-22")["months"]) == {12}


def test_indicator5_onlac() -> None:
    onlac = pl.DataFrame(
        {
            "cw_study_id": ["a", "b", "c", "d", "e", "a"],
            "society_id": ["S01"] * 6,
            "fiscal_year": ["2020-21"] * 6,
            "age": [12, 17, 9, 15, 11, 12],
            "days_in_care": [400, 800, 900, 100, 365, 420],
            "item_1": [2, 1, 2, 2, 0, 2],
            "item_2": [2, 1, 2, 2, 1, 1],
            "item_3": [1, 1, 2, 2, 2, 2],
            "item_4": [2, 1, 2, 2, 1, 1],
        }
    )
    t = ind.caregiver_relationship(onlac)
    # eligible: a (7 and 6 -> 6.5), b (4), e (4); c too young, d in care < 365 days
    r = _row(t, society_id="Total")
    assert r["n"] == 3
    assert r["mean"] == pytest.approx((6.5 + 4 + 4) / 3)


def _admission_and_onlac() -> tuple[pl.DataFrame, pl.DataFrame]:
    """One admission and one OnLAC answer of child ``a`` at S01."""
    adm = pl.DataFrame(
        {
            "cw_study_id": ["a"],
            "society_id": ["S01"],
            "admission_fiscal_year": ["2018-19"],
            "service_type": ["extended_society_care"],
            "days_to_exit": [10],
            "days_observed": [10],
        }
    )
    onlac = pl.DataFrame(
        {
            "cw_study_id": ["a"],
            "society_id": ["S01"],
            "fiscal_year": ["2020-21"],
            "age": [12],
            "days_in_care": [400],
            **{f"item_{j}": [2] for j in range(1, 5)},
        }
    )
    return adm, onlac


def test_all_indicators_shapes() -> None:
    care_days = pl.DataFrame(
        {
            "cw_study_id": ["a"],
            "society_id": ["S01"],
            "fiscal_year": ["2020-21"],
            "placement_type": ["foster_home"],
            "days": [10],
        }
    )
    adm, onlac = _admission_and_onlac()
    out = ind.all_indicators(CASES, care_days, adm, onlac)
    assert len(out) == 5
    for _name, (table, dims, num, stats) in out.items():
        assert not table.select(dims).is_duplicated().any()
        assert {"n", *stats} <= set(table.columns)
        if num:
            assert (table[num] <= table["n"]).all()


def test_trend_slope() -> None:
    t = pl.DataFrame(
        {
            "fiscal_year": ["2018-19", "2019-20", "2020-21"],
            "society_id": ["Total"] * 3,
            "rate": [0.80, 0.82, 0.84],
            "n": [100, 100, 100],
        }
    )
    s = ind.trend(t, "fiscal_year", "rate")
    assert s["slope_per_year"][0] == pytest.approx(0.02)


def test_indicators_1_2_only_for_fully_observed_fiscal_years() -> None:
    """A fiscal year whose later cases cannot be followed for the whole window before the
    extract's end (2022-23: window to 2024) is not published: counting its early recurrences and
    not its unobserved ones would make it look worse."""
    late = CASES.with_columns(pl.lit("2022-23").alias("closed_fiscal_year"))
    both = pl.concat([CASES, late.with_columns(pl.col("case_study_id") + "x")])
    t = ind.no_recurrence(both, "investigation")
    assert set(t["fiscal_year"]) == {"2019-20"}
    assert (_row(t, society_id="Total")["n"], _row(t, society_id="Total")["events"]) == (6, 3)


def test_all_indicators_keep_the_study_fiscal_years() -> None:
    care_days = pl.DataFrame(
        {
            "cw_study_id": ["a", "a"],
            "society_id": ["S01", "S01"],
            "fiscal_year": ["2013-14", "2020-21"],
            "placement_type": ["foster_home", "foster_home"],
            "days": [10, 20],
        }
    )
    adm = pl.DataFrame(
        {
            "cw_study_id": ["a", "b"],
            "society_id": ["S01", "S01"],
            "admission_fiscal_year": ["2012-13", "2018-19"],
            "service_type": ["extended_society_care"] * 2,
            "days_to_exit": [10, 10],
            "days_observed": [10, 10],
        }
    )
    onlac = pl.DataFrame(
        {
            "cw_study_id": ["a"],
            "society_id": ["S01"],
            "fiscal_year": ["2020-21"],
            "age": [12],
            "days_in_care": [400],
            **{f"item_{j}": [2] for j in range(1, 5)},
        }
    )
    years = ("2017-18", "2018-19", "2019-20", "2020-21", "2021-22", "2022-23")
    out = ind.all_indicators(CASES, care_days, adm, onlac, fiscal_years=years)
    assert set(out["indicator3_days_by_placement"][0]["fiscal_year"]) == {"2020-21"}
    assert set(out["indicator4_exits"][0]["admission_fiscal_year"]) == {"2018-19"}
    everything = ind.all_indicators(CASES, care_days, adm, onlac)
    assert "2013-14" in set(everything["indicator3_days_by_placement"][0]["fiscal_year"])


def test_indicators_by_region_count_each_child_once_in_their_region() -> None:
    """The tables by region and by group of societies are the indicators computed the same way
    with each society's records in its group: cases add up, a child served by two societies of a
    region is one child of that region, and Ontario's row is the society table's."""
    care_days = pl.DataFrame(
        {
            "cw_study_id": ["a", "a", "b"],
            "society_id": ["S01", "S02", "S03"],
            "fiscal_year": ["2020-21"] * 3,
            "placement_type": ["foster_home", "foster_home", "group_home"],
            "days": [10, 20, 30],
        }
    )
    adm, onlac = _admission_and_onlac()
    region = {"S01": "East", "S02": "East", "S03": "North"}
    out = ind.all_indicators(CASES, care_days, adm, onlac, groupings={"region": region})
    assert len(out) == 10
    ind1 = out["indicator1_no_recurrence_investigation"][0]
    by_region, dims, _, _ = out["indicator1_no_recurrence_investigation_by_region"]
    assert dims == ["fiscal_year", "region"]
    # S01 and S02 are both East: their 4 + 2 cases
    assert (_row(by_region, region="East")["n"], _row(by_region, region="East")["events"]) == (6, 3)
    ontario = _row(ind1, society_id="Total")
    ontario["region"] = ontario.pop("society_id")
    assert _row(by_region, region="Total") == ontario
    days, _, _, _ = out["indicator3_days_by_placement_by_region"]
    east = _row(days, region="East", placement_group="family")
    # child a's 10 + 20 days in two East societies: one child, 30 days
    assert (east["n"], east["events"], east["days"]) == (1, 1, 30)
    assert "society_id" not in days.columns
