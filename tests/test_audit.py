"""The audit of the whole release (``analysis audit``) and the release-wide suppression.

A release is built here as the pipeline builds it: tables through one ``Release``, their rows
printed through ``Report`` (CSV text plus the provenance of each row), then attacked from the
CSVs alone in both engines. The outside attack on the default build found each of the patterns
below (issue 19); each is a regression test: protected table by table it is exposed, and the
release-wide suppression protects it.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pytest

from analysis.analyse import STRUCTURE
from analysis.config import Privacy
from analysis.disclosure import PROVENANCE, Release, Structure
from analysis.disclosure import gconfid as gc
from analysis.disclosure.attack import audit
from analysis.reports.report import Report

PRIVACY = Privacy()
RULE = Release(PRIVACY).rule()
TableArgs = tuple[pl.DataFrame, list[str], str | None, tuple[str, ...], str]


def publish(
    tables: Mapping[str, TableArgs], structure: Structure | None
) -> tuple[Release, dict[str, str], dict[str, list[str | None]]]:
    """Protect ``tables`` in one release (release-wide with ``structure``), print each in its own
    report, and return the release, the CSV files and their provenance."""
    rel = Release(PRIVACY, structure)
    for name, (df, dims, num, stats, universe) in tables.items():
        rel.protect(name, df, dims=dims, count="n", numerator=num, stats=stats, universe=universe)
    final = rel.finalise()
    files: dict[str, str] = {}
    prov: dict[str, list[str | None]] = {}
    for name, p in final.items():
        rows = pl.format("{}:{}", pl.lit(name), pl.int_range(pl.len())).alias(PROVENANCE)
        p = type(p)(**{**p.__dict__, "df": p.df.with_columns(rows)})
        r = Report("ministry", "ministry", "en", slug=f"report-{name}")
        r.table(p, "caption.linkage_by_group")
        files.update(r.csv_files())
        prov.update(r.provenance)
    return rel, files, prov


def attack(
    rel: Release, files: dict[str, str], prov: dict[str, list[str | None]], engines=("highs",)
) -> dict:
    return audit(
        {t.name: t for t in rel.true_tables()}, files, prov, STRUCTURE, RULE, engines=engines
    )


def failing(report: dict, engine: str = "highs") -> list[dict]:
    return report["engines"][engine]["failures"]


# ---------------------------------------------------------------- a board and the province
def _board_and_province() -> dict[str, TableArgs]:
    boards = pl.DataFrame(
        {
            "outcome": ["chronic_absent"] * 4,
            "board_id": ["B01", "B02", "B03", "B04"],
            "n": [3, 40, 25, 50],
        }
    )
    province = pl.DataFrame({"outcome": ["chronic_absent"], "n": [118]})
    return {
        "by_board": (boards, ["outcome", "board_id"], None, (), "students"),
        "ontario": (province, ["outcome"], None, (), "students"),
    }


def test_a_cell_exposed_across_two_reports_fails_in_both_engines() -> None:
    # protected table by table: the board's 3 is hidden, Ontario minus the other boards gives it
    rel, files, prov = publish(_board_and_province(), structure=None)
    assert any("c" in t for t in files.values())
    report = attack(rel, files, prov, engines=("highs", "gconfid"))
    assert report["engines"]["gconfid"]["ran"], report["engines"]["gconfid"].get("reason")
    for engine in ("highs", "gconfid"):
        fails = failing(report, engine)
        assert any(f.get("cell", {}).get("board_id") == "B01" for f in fails), (engine, fails)
        assert any(f["interval"][0] == f["interval"][1] == 3 for f in fails), (engine, fails)
    assert not report["passed"]


def test_the_release_wide_suppression_protects_it_in_both_engines() -> None:
    rel, files, prov = publish(_board_and_province(), structure=STRUCTURE)
    report = attack(rel, files, prov, engines=("highs", "gconfid"))
    assert report["examined"] >= 2
    assert report["engines"]["gconfid"]["ran"]
    assert not failing(report, "highs") and not failing(report, "gconfid")
    assert report["engines"]["gconfid"]["disagreements_with_project"] == 0
    assert report["passed"]
    # a second board is hidden, not the province
    assert rel.release_wide["complements"] >= 1


def test_a_printed_number_that_is_not_the_releases_fails() -> None:
    rel, files, prov = publish(_board_and_province(), structure=STRUCTURE)
    name = next(n for n in files if "by-board" in n)
    files[name] = files[name].replace(",40\n", ",41\n")
    report = attack(rel, files, prov)
    assert any("differs" in p["rule"] for p in report["file_problems"])
    assert not report["passed"]


def test_an_untraced_csv_fails() -> None:
    rel, files, prov = publish(_board_and_province(), structure=STRUCTURE)
    files["extra.csv"] = "outcome,n\nchronic_absent,3\n"
    report = attack(rel, files, prov)
    assert any(p["file"] == "extra.csv" for p in report["file_problems"])
    assert not report["passed"]


# ---------------------------------------------------------------- boards within their region
def _boards_and_region() -> dict[str, TableArgs]:
    # two boards in the East region (3 and 40), two elsewhere; no provincial table: the region's
    # 43 minus the East board's 40 is the hidden 3
    boards = pl.DataFrame(
        {
            "outcome": ["chronic_absent"] * 4,
            "board_id": ["B01", "B02", "B03", "B04"],
            "n": [3, 40, 25, 50],
        }
    )
    regions = pl.DataFrame(
        {"outcome": ["chronic_absent"] * 2, "region": ["East", "Central"], "n": [43, 75]}
    )
    return {
        "by_board": (boards, ["outcome", "board_id"], None, (), "students"),
        "by_region": (regions, ["outcome", "region"], None, (), "students"),
    }


REGION_OF = {"B01": "East", "B02": "East", "B03": "Central", "B04": "Central"}
WITHIN = {"students": {"board_id": {"region": REGION_OF}}}


def test_a_board_is_exposed_by_its_region_unless_the_release_knows_the_nesting() -> None:
    import dataclasses

    nested = dataclasses.replace(STRUCTURE, within=WITHIN)
    # boards and regions as two partitions of the province: the suppression misses the region
    rel, files, prov = publish(_boards_and_region(), structure=STRUCTURE)
    fails = failing(
        audit({t.name: t for t in rel.true_tables()}, files, prov, nested, RULE, engines=("highs",))
    )
    assert any(f.get("cell", {}).get("board_id") == "B01" for f in fails), fails
    # told that boards nest in regions, the release hides a second cell, and the attack fails
    rel, files, prov = publish(_boards_and_region(), structure=nested)
    report = audit(
        {t.name: t for t in rel.true_tables()}, files, prov, nested, RULE, engines=("highs",)
    )
    assert not failing(report), failing(report)
    assert rel.release_wide["complements"] >= 1
    assert any("region" in r.about for r in rel.ledger().relations), "no relation by region"


ALONE_IN_REGION = {"B01": "East", "B02": "Central", "B03": "North"}


def _regions_of_one_board() -> dict[str, TableArgs]:
    # each region has one named board (its cell is the board's), the other boards are one row
    # (null) in both tables: B01's 3 is Ontario minus the rest, and hiding another board alone
    # hides nothing, since its region prints the same number
    n = [3, 40, 30, 50]
    boards = pl.DataFrame(
        {"outcome": ["chronic_absent"] * 4, "board_id": ["B01", "B02", "B03", None], "n": n}
    )
    regions = pl.DataFrame(
        {"outcome": ["chronic_absent"] * 4, "region": ["East", "Central", "North", None], "n": n}
    )
    province = pl.DataFrame({"outcome": ["chronic_absent"], "n": [sum(n)]})
    return {
        "by_board": (boards, ["outcome", "board_id"], None, (), "students"),
        "by_region": (regions, ["outcome", "region"], None, (), "students"),
        "ontario": (province, ["outcome"], None, (), "students"),
    }


def test_a_board_alone_in_its_region_is_hidden_with_its_region_and_ontario_stays() -> None:
    import dataclasses

    nested = dataclasses.replace(
        STRUCTURE, within={"students": {"board_id": {"region": ALONE_IN_REGION}}}
    )
    rel, files, prov = publish(_regions_of_one_board(), structure=nested)
    report = audit(
        {t.name: t for t in rel.true_tables()}, files, prov, nested, RULE, engines=("highs",)
    )
    assert not failing(report), failing(report)
    final = rel.finalise()
    assert final["ontario"].df["n__symbol"].to_list() == [""], "Ontario's cell was hidden"
    b, r = final["by_board"].df, final["by_region"].df
    boards = dict(zip(b["board_id"], b["n__symbol"], strict=True))
    regions = dict(zip(r["region"], r["n__symbol"], strict=True))
    hidden = {b for b, s in boards.items() if s == "c" and b != "B01"}
    assert hidden, boards
    # a board hidden as a complement is hidden with its region (the same number)
    assert all(regions[ALONE_IN_REGION.get(b) if b else None] == "c" for b in hidden), regions


# ---------------------------------------------------------------- the outside attack's examples
def _linkage_by_group() -> dict[str, TableArgs]:
    # (a) one society's linked records = the age-group total minus the other societies
    groups = pl.DataFrame(
        {
            "dimension": ["age_group", "age_group", "society_id", "society_id", "society_id"],
            "group": ["0-5", "6-9", "S01", "S02", "S03"],
            "n": [100, 80, 120, 30, 30],
            "events": [60, 70, 90, 25, 15],
        }
    ).with_columns((pl.col("events") / pl.col("n")).alias("rate"))
    return {
        "methodology_linkage_by_group": (
            groups,
            ["dimension", "group"],
            "events",
            ("rate",),
            "cw_records_linkage",
        )
    }


def _board_chronic_absence() -> dict[str, TableArgs]:
    # (b) a board's chronically absent count (c, of n = 21) = Ontario minus the other boards
    boards = pl.DataFrame(
        {
            "outcome": ["chronic_absent"] * 4,
            "school_year": ["2022-23"] * 4,
            "board_id": ["B01", "B02", "B03", "B04"],
            "ever_in_care": [True] * 4,
            "n": [21, 60, 45, 80],
            "events": [3, 20, 15, 30],
        }
    ).with_columns((pl.col("events") / pl.col("n")).alias("rate"))
    ontario = pl.DataFrame(
        {
            "outcome": ["chronic_absent"],
            "school_year": ["2022-23"],
            "ever_in_care": [True],
            "n": [206],
            "events": [68],
        }
    ).with_columns((pl.col("events") / pl.col("n")).alias("rate"))
    dims = ["outcome", "school_year", "board_id", "ever_in_care"]
    return {
        "outcomes_by_board": (boards, dims, "events", ("rate",), "students_outcomes"),
        "outcomes_by_ever_in_care": (
            ontario,
            ["outcome", "school_year", "ever_in_care"],
            "events",
            ("rate",),
            "students_outcomes",
        ),
    }


def _care_status() -> dict[str, TableArgs]:
    # (c) the CCSYP count (c, of n = 10) from the in-care and not-in-care totals beside it
    status = pl.DataFrame(
        {
            "outcome": ["chronic_absent"] * 5,
            "school_year": ["2022-23"] * 5,
            "care_status": ["in_care", "kinship_service", "vysa", "ccsyp", "none"],
            "n": [120, 60, 30, 10, 5000],
            "events": [50, 20, 12, 9, 800],
        }
    ).with_columns((pl.col("events") / pl.col("n")).alias("rate"))
    ever = pl.DataFrame(
        {
            "outcome": ["chronic_absent"] * 2,
            "school_year": ["2022-23"] * 2,
            "ever_in_care": [True, False],
            "n": [200, 5020],
            "events": [80, 811],
        }
    ).with_columns((pl.col("events") / pl.col("n")).alias("rate"))
    return {
        "outcomes_by_care_status": (
            status,
            ["outcome", "school_year", "care_status"],
            "events",
            ("rate",),
            "students_outcomes",
        ),
        "outcomes_by_ever_in_care": (
            ever,
            ["outcome", "school_year", "ever_in_care"],
            "events",
            ("rate",),
            "students_outcomes",
        ),
    }


def _placement_days(other_events: tuple[int, int], group_events: tuple[int, int]) -> dict:
    # (d), (e) indicator 3: days of a hidden placement group by subtraction from total_days
    rows = []
    for soc, n, fam, grp, oth in (
        ("S01", 40, (28, 9000), group_events, other_events),
        ("S02", 50, (38, 11000), (12, 2500), (11, 1500)),
        (
            "Total",
            90,
            (66, 20000),
            (group_events[0] + 12, group_events[1] + 2500),
            (other_events[0] + 11, other_events[1] + 1500),
        ),
    ):
        total = fam[1] + grp[1] + oth[1]
        for g, (e, d) in (("family", fam), ("group", grp), ("other", oth)):
            rows.append(
                {
                    "fiscal_year": "2022-23",
                    "society_id": soc,
                    "placement_group": g,
                    "n": n,
                    "events": e,
                    "days": d,
                    "total_days": total,
                    "pct_days": 100 * d / total,
                }
            )
    df = pl.DataFrame(rows)
    return {
        "indicator3_days_by_placement": (
            df,
            ["fiscal_year", "society_id", "placement_group"],
            "events",
            ("pct_days", "days", "total_days"),
            "indicator3_days_by_placement",
        )
    }


def _linkage_sensitivity() -> dict[str, TableArgs]:
    # (f) all links and high-confidence links differing by 1 to 7 children
    terms = ["care_status[ccsyp]", "care_status[vysa]", "placement_group[group]"]
    df = pl.DataFrame(
        {
            "outcome": ["attendance"] * 6,
            "term": [t for t in terms for _ in (0, 1)],
            "links": ["all", "high_confidence"] * 3,
            "n": [26, 25, 111, 109, 192, 189],
            "estimate": [-0.06, -0.059, -0.05, -0.05, 0.001, 0.001],
        }
    )
    return {
        "linkage_sensitivity": (
            df,
            ["outcome", "term", "links"],
            None,
            ("estimate",),
            "model_terms",
        )
    }


EXAMPLES = {
    "a_linkage_by_group": _linkage_by_group,
    "b_board_chronic_absence": _board_chronic_absence,
    "c_care_status": _care_status,
    "d_other_days": lambda: _placement_days(other_events=(4, 300), group_events=(12, 2000)),
    "e_total_days_beside_c": lambda: _placement_days(other_events=(4, 300), group_events=(12, 150)),
    "f_linkage_sensitivity": _linkage_sensitivity,
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_outside_attack_example_is_exposed_table_by_table(example: str) -> None:
    rel, files, prov = publish(EXAMPLES[example](), structure=None)
    report = attack(rel, files, prov)
    assert failing(report) or report["file_problems"], f"{example}: should be exposed"
    assert not report["passed"]
    if example == "e_total_days_beside_c":
        # total_days shown as c beside the hidden group, printed on the sibling rows
        assert any("printed in another" in p["rule"] for p in report["file_problems"])


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_outside_attack_example_is_protected_release_wide(example: str) -> None:
    rel, files, prov = publish(EXAMPLES[example](), structure=STRUCTURE)
    report = attack(rel, files, prov)
    assert report["examined"] > 0
    assert not failing(report), (example, failing(report)[:3])
    assert report["passed"], report["file_problems"]


def test_a_ratio_beside_a_hidden_amount_is_a_printing_problem() -> None:
    rel, files, prov = publish(_placement_days((4, 300), (12, 2000)), structure=STRUCTURE)
    name = next(iter(files))
    lines = files[name].splitlines()
    header = lines[0].split(",")
    # print a percentage beside a hidden count in the first row that hides its events
    for k, line in enumerate(lines[1:], 1):
        cells = line.split(",")
        if cells[header.index("events")] == "c":
            cells[header.index("pct_days")] = "1.5"
            lines[k] = ",".join(cells)
            break
    files[name] = "\n".join(lines) + "\n"
    report = attack(rel, files, prov)
    assert any("ratio" in p["rule"] for p in report["file_problems"])


def test_gconfid_environment_is_installed() -> None:
    # scripts/setup.sh installs it (uv sync --locked --project tools/gconfid)
    assert gc.python() is not None, "run scripts/setup.sh"
