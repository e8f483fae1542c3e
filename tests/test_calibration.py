"""calibration.json: every published aggregate the reports show, against its documented target.

The check itself (a target moved outside its tolerance fails), what `generate` writes, that the
values are those the published tables show (a tiny build), and that every target holds at the
default scale (slow).
"""

from __future__ import annotations

import json
import math

import polars as pl
import pytest

from analysis.config import Target, load_config
from analysis.synthetic.calibration import MEASURES, Value, calibration_checks, check

CALIBRATION = "calibration.json"
# what the issue asks calibration.json to include, at least
REQUIRED = (
    "graduation_4y",
    "graduation_5y",
    "graduation_5y_in_care_ratio",
    "eqao_g6_reading_in_care_ratio",
    "chronic_absence_in_care_ratio",
    "children_in_care",
    "indicator1_no_recurrence",
    "indicator2_no_recurrence",
    "indicator3_family",
    "indicator4_exit_12m",
    "indicator5_caregiver",
)


def _report(cfg) -> dict:  # type: ignore[no-untyped-def]
    return json.loads((cfg.paths.sources / CALIBRATION).read_text(encoding="utf-8"))


def test_check_holds_within_tolerance_and_fails_outside() -> None:
    t = Target(value=80.0, unit="percent", tolerance=3.0, source="test")
    v = Value(82.0, 0.5, 1000, "a rate")
    assert check("x", None, t, v, 80.0, 1.0).holds
    allowed = 3.0 + 1.959963984540054 * 0.5
    assert check("x", None, t, v, 82.0 - allowed + 1e-6, 1.0).holds
    assert not check("x", None, t, v, 82.0 - allowed - 1e-6, 1.0).holds
    assert not check("x", None, t, Value(None, math.inf, 0, "none"), 80.0, 1.0).holds
    # counts: a share of the target at this scale
    c = Target(value=12000.0, unit="count", tolerance=0.05, source="test")
    assert check("n", "2017-18", c, Value(630.0, 0.0, 630, "n"), 12000.0, 0.05).holds
    assert not check("n", "2017-18", c, Value(631.0, 0.0, 631, "n"), 12000.0, 0.05).holds


def test_generate_writes_calibration_beside_the_codebook(tiny_generated) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_generated
    assert (cfg.paths.sources / "codebook.json").is_file()
    rep = _report(cfg)
    assert rep["scale"] == "tiny" and rep["seed"] == cfg.seed
    checks = rep["checks"]
    assert rep["targets"] == len(checks) >= 20
    names = {c["name"] for c in checks}
    assert set(REQUIRED) <= names
    assert {c["year"] for c in checks if c["name"] == "children_in_care"} == set(cfg.school_years)
    for c in checks:
        assert c["source"] and c["measure"], c["name"]
        assert {"target", "synthetic", "tolerance", "holds"} <= set(c), c["name"]
    # a target with no published figure says so
    for name, t in cfg.calibration.targets.items():
        assert t.source.strip(), name
    assert any(t.source.startswith("assumed") for t in cfg.calibration.targets.values())
    failing = [(c["name"], c["year"]) for c in checks if not c["holds"]]
    assert failing == [], failing


def test_every_configured_target_has_a_measure() -> None:
    cfg = load_config(scale="tiny")
    assert set(cfg.calibration.targets) <= set(MEASURES)
    bad = cfg.with_overrides(
        calibration={
            **cfg.calibration.model_dump(),
            "targets": {
                **cfg.calibration.model_dump()["targets"],
                "no_such_target": {"value": 1, "unit": "percent", "tolerance": 1, "source": "x"},
            },
        }
    )
    with pytest.raises(ValueError, match="no_such_target"):
        calibration_checks(bad, None)  # type: ignore[arg-type]


def test_moving_any_target_outside_its_tolerance_fails_it() -> None:
    """The province generated with the configured targets, checked against targets moved just
    beyond what holds: every moved target fails, the others still hold (no check is vacuous)."""
    from analysis.synthetic.simulation import simulate

    cfg = load_config(scale="tiny")
    sim = simulate(cfg)
    base = calibration_checks(cfg, sim)
    assert all(c.holds for c in base)
    share = cfg.cw_share_of_province
    raw = cfg.calibration.model_dump()
    for c in base:
        if c.name.startswith("eqao_") and not c.name.endswith("_ratio"):
            continue
        # move the target (as configured) so that the scaled target is just beyond `allowed`
        per = share if c.unit == "count" else 1.0
        tol = c.tolerance * (c.scaled_target if c.unit == "count" else 1.0)
        se_part = c.allowed - tol
        # moved: |synthetic - t * per| = tolerance(t) + se_part + margin, solved for t
        margin = 0.01 * max(abs(c.scaled_target), 1.0)
        if c.unit == "count":
            moved = (c.synthetic + se_part + margin) / (per * (1 - c.tolerance))
        else:
            moved = c.synthetic + tol + se_part + margin
        t = dict(raw["targets"][c.name])
        if isinstance(t["value"], dict):
            t["value"] = {**t["value"], c.year: moved}
        else:
            t["value"] = moved
        cal = {**raw, "targets": {**raw["targets"], c.name: t}}
        after = {
            (x.name, x.year): x.holds
            for x in calibration_checks(cfg.with_overrides(calibration=cal), sim)
        }
        assert not after[(c.name, c.year)], (c.name, c.year, moved)
        assert sum(not h for h in after.values()) == 1, (c.name, c.year)
    # and an EQAO cell
    year, targets = next(iter(sorted(raw["eqao"].items())))
    key = sorted(targets)[0]
    cell = next(x for x in base if x.name == f"eqao_{key}" and x.year == year)
    eqao = {**raw["eqao"], year: {**targets, key: cell.synthetic + cell.allowed + 1}}
    after = calibration_checks(cfg.with_overrides(calibration={**raw, "eqao": eqao}), sim)
    assert [(x.name, x.year) for x in after if not x.holds] == [(f"eqao_{key}", year)]


def _published_total(results: dict, name: str, **equals: object) -> tuple[float, float] | None:
    """(events, n) of the cells of a published table matching ``equals``, summed over its other
    dimensions; None when a cell is suppressed."""
    df = results[name].df
    for k, v in equals.items():
        df = df.filter(pl.col(k) == v)
    if df.height == 0 or df["n"].is_null().any() or df["events"].is_null().any():
        return None
    return float(df["events"].sum()), float(df["n"].sum())


def test_calibration_values_are_what_the_published_tables_show(tiny_build) -> None:  # type: ignore[no-untyped-def]
    """On the tiny build, each target computed on the truth equals the value the release
    publishes (after linkage and de-identification) wherever the release publishes it: exactly
    for what linkage cannot change, within a point where the persons are resolved by linkage."""
    from analysis.analyse import load_results

    cfg = tiny_build
    results = load_results(cfg)
    rep = json.loads((cfg.paths.analytic / CALIBRATION).read_text(encoding="utf-8"))
    by = {(c["name"], c["year"]): c for c in rep["checks"]}
    compared = 0
    names: set[str] = set()

    def same(key: tuple[str, str | None], published: float | None, tol: float) -> None:
        nonlocal compared
        if published is None:
            return
        got = by[key]["synthetic"]
        assert got is not None and abs(got - published) <= tol, (key, got, published)
        compared += 1
        names.add(key[0])

    def pct(t: tuple[float, float] | None) -> float | None:
        return None if t is None or t[1] == 0 else 100 * t[0] / t[1]

    first = cfg.school_years[0]
    # every student is in OnSIS: linkage cannot change all-student rates
    same(
        ("graduation_4y", None),
        pct(_published_total(results, "graduation_by_ever_in_care", cohort=first, years=4)),
        1e-6,
    )
    same(
        ("graduation_5y", None),
        pct(_published_total(results, "graduation_by_ever_in_care", cohort=first, years=5)),
        1e-6,
    )
    for year in cfg.school_years:
        same(
            ("chronic_absence", year),
            pct(
                _published_total(
                    results, "outcomes_by_ever_in_care", outcome="chronic_absent", school_year=year
                )
            ),
            1e-6,
        )
    same(
        ("on_track", "2021-22"),
        pct(
            _published_total(
                results, "outcomes_by_ever_in_care", outcome="on_track", school_year="2021-22"
            )
        ),
        1e-6,
    )
    for year, targets in cfg.calibration.eqao.items():
        for key in targets:
            if key.startswith("g9_math_"):
                continue  # the stream is not a dimension of the published trend
            same(
                (f"eqao_{key}", year),
                pct(
                    _published_total(
                        results, "eqao_by_ever_in_care", assessment=key, school_year=year
                    )
                ),
                1e-6,
            )
    # cases do not go through linkage
    t = results["indicator1_no_recurrence_investigation"].df.filter(
        (pl.col("society_id") == "Total") & (pl.col("fiscal_year") == "2019-20")
    )
    same(("indicator1_no_recurrence", "2019-20"), 100 * float(t["rate"][0]), 1e-6)
    # placements, admissions and OnLAC rows are a resolved person's: within a point
    d = results["indicator3_days_by_placement"].df.filter(
        (pl.col("society_id") == "Total") & pl.col("fiscal_year").is_in(list(cfg.school_years))
    )
    for g in ("family", "group", "other"):
        rows = d.filter(pl.col("placement_group") == g)
        if rows["days"].null_count() == 0 and rows["total_days"].null_count() == 0:
            share = 100 * rows["days"].sum() / rows["total_days"].sum()
            same((f"indicator3_{g}", None), float(share), 1.0)
    e = results["indicator4_exits"].df.filter(
        (pl.col("society_id") == "Total")
        & (pl.col("months") == 12)
        & pl.col("admission_fiscal_year").is_in(list(cfg.school_years))
    )
    if e["events"].null_count() == 0:
        same(("indicator4_exit_12m", None), pct((e["events"].sum(), e["n"].sum())), 2.0)
    o = results["indicator5_caregiver_relationship"].df.filter(
        (pl.col("society_id") == "Total") & pl.col("fiscal_year").is_in(list(cfg.school_years))
    )
    if o["mean"].null_count() == 0:
        mean = float((o["mean"] * o["n"]).sum() / o["n"].sum())
        same(("indicator5_caregiver", None), mean, 0.1)
    # the definitions with the most steps were compared (chronic absence, indicator 1) and the
    # indicators through linkage: the tables by region and by group of societies must not cost
    # Ontario's cells (tiny's graduates who were ever in care are too few to publish)
    wanted = {
        "chronic_absence",
        "indicator1_no_recurrence",
        "indicator3_family",
        "indicator5_caregiver",
    }
    assert wanted <= names, names
    assert compared >= 10, (compared, names)


@pytest.mark.slow
def test_every_target_holds_at_small(small_generated) -> None:  # type: ignore[no-untyped-def]
    rep = _report(small_generated)
    failing = [
        (c["name"], c["year"], c["scaled_target"], c["synthetic"], c["allowed"])
        for c in rep["checks"]
        if not c["holds"]
    ]
    assert failing == []
    assert rep["holding"] == rep["targets"] >= 70
