"""The open data screener: a good file passes every check, and each check fails on a fixture
broken the way it looks for (every check has at least one failing fixture)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.reports.opendata import screener
from analysis.reports.opendata.screener import CHECKS, FAIL, PASS, screen_dir, screen_file

DATA_HEADER = [
    "time_period",
    "time_identifier",
    "geographic_level",
    "province_code",
    "province_name",
    "region_code",
    "region_name",
    "board_code",
    "board_name",
    "care_status",
    "students_count",
    "students_percent",
]
META_HEADER = [
    "col_name",
    "col_type",
    "label",
    "indicator_grouping",
    "indicator_unit",
    "indicator_dp",
    "filter_hint",
    "filter_grouping_column",
    "filter_default",
    "label_fr",
]
META_ROWS = [
    ["care_status", "Filter", "Care status", "", "", "", "Filter by care status", "", "", "Statut"],
    ["students_count", "Indicator", "Number of students", "", "", "0", "", "", "", "Nombre"],
    ["students_percent", "Indicator", "Percentage", "", "%", "1", "", "", "", "Pourcentage"],
]
CARE = ("Total", "In care", "Not in care")
PLACES = (
    ("Provincial", "", "", "", ""),
    ("School board", "R1", "Toronto", "B01", "Board one"),
    ("School board", "R2", "Central", "B02", "Board two, Catholic"),
)


def good_rows() -> list[list[str]]:
    rows = []
    for (level, rc, rn, bc, bn), year, (i, care) in itertools.product(
        PLACES, ("201718", "201819", "201920"), enumerate(CARE)
    ):
        count = "c" if (bc == "B02" and care == "In care") else str(100 + 10 * i)
        pct = "c" if count == "c" else f"{12.5 + i:.3f}"
        rows.append(
            [year, "Academic year", level, "35", "Ontario", rc, rn, bc, bn, care, count, pct]
        )
    return rows


def _csv(header: list[str], rows: list[list[str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


class Pair:
    """A data file and its metadata as lists, written on demand (rows 0-8 are Ontario's, 9-17
    board B01's, 18-26 board B02's)."""

    def __init__(self) -> None:
        self.header = list(DATA_HEADER)
        self.rows = good_rows()
        self.meta_header = list(META_HEADER)
        self.meta = [list(r) for r in META_ROWS]
        self.name = "good"

    def col(self, name: str) -> int:
        return self.header.index(name)

    def set(self, name: str, value: str, row: int | None = None) -> None:
        for i, r in enumerate(self.rows):
            if row is None or i == row:
                r[self.col(name)] = value

    def write(self, folder: Path) -> Path:
        data = folder / f"{self.name}.csv"
        data.write_text(_csv(self.header, self.rows), encoding="utf-8")
        (folder / f"{self.name}.meta.csv").write_text(
            _csv(self.meta_header, self.meta), encoding="utf-8"
        )
        return data


def statuses(path: Path) -> dict[str, str]:
    return {f.check: f.status for f in screen_file(path)}


def test_the_good_fixture_passes_every_check(tmp_path: Path) -> None:
    got = statuses(Pair().write(tmp_path))
    assert set(got) == set(CHECKS)
    assert got == dict.fromkeys(CHECKS, PASS)


# ---------------------------------------------------------------- broken fixtures
def _bom(p: Pair, folder: Path) -> Path:
    path = p.write(folder)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return path


def _latin1(p: Pair, folder: Path) -> Path:
    p.set("board_name", "Conseil scolaire catholique Providence", 10)
    path = p.write(folder)
    path.write_bytes(path.read_bytes().replace(b"Providence", "Providénce".encode("latin-1")))
    return path


def _name(p: Pair, folder: Path) -> Path:
    p.name = "Care Status"
    return p.write(folder)


def _no_meta(p: Pair, folder: Path) -> Path:
    path = p.write(folder)
    (folder / f"{p.name}.meta.csv").unlink()
    return path


def _drop(col: str) -> Callable[[Pair, Path], Path]:
    def f(p: Pair, folder: Path) -> Path:
        i = p.col(col)
        p.header.pop(i)
        for r in p.rows:
            r.pop(i)
        return p.write(folder)

    return f


def _meta_drop(col: str) -> Callable[[Pair, Path], Path]:
    def f(p: Pair, folder: Path) -> Path:
        i = p.meta_header.index(col)
        p.meta_header.pop(i)
        for r in p.meta:
            r.pop(i)
        return p.write(folder)

    return f


def _meta_extra(p: Pair, folder: Path) -> Path:
    p.meta_header.append("notes")
    for r in p.meta:
        r.append("")
    return p.write(folder)


def _rename(old: str, new: str) -> Callable[[Pair, Path], Path]:
    def f(p: Pair, folder: Path) -> Path:
        p.header[p.col(old)] = new
        for r in p.meta:
            if r[0] == old:
                r[0] = new
        return p.write(folder)

    return f


def _duplicate_column(p: Pair, folder: Path) -> Path:
    p.header.append("students_count")
    for r in p.rows:
        r.append("1")
    return p.write(folder)


def _value(col: str, value: str, row: int | None = None) -> Callable[[Pair, Path], Path]:
    def f(p: Pair, folder: Path) -> Path:
        p.set(col, value, row)
        return p.write(folder)

    return f


def _meta_value(name: str, col: str, value: str) -> Callable[[Pair, Path], Path]:
    def f(p: Pair, folder: Path) -> Path:
        for r in p.meta:
            if r[0] == name:
                r[p.meta_header.index(col)] = value
        return p.write(folder)

    return f


def _meta_row(row: list[str]) -> Callable[[Pair, Path], Path]:
    def f(p: Pair, folder: Path) -> Path:
        p.meta.append(row)
        return p.write(folder)

    return f


def _undescribed(p: Pair, folder: Path) -> Path:
    p.header.append("pupils_count")
    for i, r in enumerate(p.rows):
        r.append(str(i))
    return p.write(folder)


def _single_level_filter(p: Pair, folder: Path) -> Path:
    p.header.insert(p.col("care_status"), "phase")
    for r in p.rows:
        r.insert(p.col("care_status") - 1, "Secondary")
    p.meta.insert(0, ["phase", "Filter", "Phase", "", "", "", "", "", "", "Cycle"])
    return p.write(folder)


def _missing_row(p: Pair, folder: Path) -> Path:
    p.rows.pop(7)
    return p.write(folder)


def _no_total(p: Pair, folder: Path) -> Path:
    p.rows = [r for r in p.rows if r[p.col("care_status")] != "Total"]
    return p.write(folder)


def _duplicate_row(p: Pair, folder: Path) -> Path:
    p.rows.append(list(p.rows[3]))
    return p.write(folder)


def _unparsable(p: Pair, folder: Path) -> Path:
    path = p.write(folder)
    path.write_text(path.read_text(encoding="utf-8") + "201718,Academic year\n", encoding="utf-8")
    return path


# (check that must fail, how the fixture is broken)
BROKEN: list[tuple[str, str, Callable[[Pair, Path], Path]]] = [
    ("encoding", "byte-order mark", _bom),
    ("encoding", "latin-1 bytes", _latin1),
    ("file_names", "space and capitals in the name", _name),
    ("file_names", "no .meta.csv", _no_meta),
    ("required_columns", "no time_identifier", _drop("time_identifier")),
    ("required_columns", "no province_code", _drop("province_code")),
    ("required_columns", "metadata without filter_hint", _meta_drop("filter_hint")),
    ("required_columns", "metadata without label_fr", _meta_drop("label_fr")),
    ("required_columns", "metadata with an unknown column", _meta_extra),
    ("column_names", "CamelCase column", _rename("students_count", "StudentsCount")),
    ("column_names", "column starting with a digit", _rename("students_count", "2_count")),
    ("column_names", "a column twice", _duplicate_column),
    ("time_period", "a dash in the period", _value("time_period", "2017-18", 0)),
    ("time_period", "years not consecutive", _value("time_period", "201719")),
    ("time_period", "4 digits for an academic year", _value("time_period", "2017")),
    ("time_identifier", "not in the standard's list", _value("time_identifier", "School year")),
    ("time_identifier", "kinds of year mixed", _value("time_identifier", "Financial year", 0)),
    ("geography", "unknown level", _value("geographic_level", "County", 0)),
    ("geography", "board row without its name", _value("board_name", "", 10)),
    ("geography", "provincial row with a board code", _value("board_code", "B01", 0)),
    ("geography", "board code in the wrong form", _value("board_code", "X1", 11)),
    ("geography", "one code, two names", _value("board_name", "Board one (renamed)", 12)),
    ("geography", "province code missing", _value("province_code", "", 2)),
    (
        "metadata",
        "metadata names a missing column",
        _meta_row(["sex", "Filter", "Sex", "", "", "", "", "", "", "Sexe"]),
    ),
    (
        "metadata",
        "observational unit in the metadata",
        _meta_row(["time_period", "Filter", "Year", "", "", "", "", "", "", "Année"]),
    ),
    ("metadata", "data column not described", _undescribed),
    (
        "metadata",
        "col_type not Filter or Indicator",
        _meta_value("students_count", "col_type", "Measure"),
    ),
    ("metadata", "no French label", _meta_value("students_percent", "label_fr", "")),
    ("metadata", "no English label", _meta_value("students_percent", "label", " ")),
    (
        "metadata",
        "indicator unit not allowed",
        _meta_value("students_percent", "indicator_unit", "percent"),
    ),
    (
        "metadata",
        "decimal places not whole",
        _meta_value("students_percent", "indicator_dp", "1.5"),
    ),
    (
        "metadata",
        "a filter with an indicator unit",
        _meta_value("care_status", "indicator_unit", "%"),
    ),
    (
        "metadata",
        "an indicator with a filter hint",
        _meta_value("students_count", "filter_hint", "Filter by count"),
    ),
    ("metadata", "a filter with one level", _single_level_filter),
    (
        "metadata",
        "filter_default not a value",
        _meta_value("care_status", "filter_default", "Everyone"),
    ),
    (
        "metadata",
        "grouping column not in the data",
        _meta_value("care_status", "filter_grouping_column", "care_group"),
    ),
    ("complete_matrix", "a combination missing", _missing_row),
    ("complete_matrix", "no Total and no filter_default", _no_total),
    ("duplicates", "a row twice", _duplicate_row),
    ("symbols", "blank indicator cell", _value("students_count", "", 1)),
    ("symbols", "legacy symbol", _value("students_percent", ":", 2)),
    ("symbols", "value with a symbol appended", _value("students_percent", "12.5 u", 2)),
    ("symbols", "text in an indicator", _value("students_count", "n/a", 2)),
    ("symbols", "symbol as a filter value", _value("care_status", "c", 1)),
    ("symbols", "symbol as a place name", _value("board_name", "x", 11)),
    ("filter_values", "blank filter value", _value("care_status", "", 1)),
    ("filter_values", "space-padded filter value", _value("care_status", " In care", 1)),
    ("filter_values", "an aggregate in a geography column", _value("board_name", "Total", 11)),
]


@pytest.mark.parametrize(
    ("check", "how", "broken"), BROKEN, ids=[f"{c}: {h}" for c, h, _ in BROKEN]
)
def test_each_check_fails_on_its_broken_fixture(
    tmp_path: Path, check: str, how: str, broken: Callable[[Pair, Path], Path]
) -> None:
    path = broken(Pair(), tmp_path)
    got = statuses(path)
    assert got[check] == FAIL, (how, got)


def test_every_check_has_a_failing_fixture() -> None:
    assert {c for c, _, _ in BROKEN} == set(CHECKS)


def test_an_unreadable_file_fails_every_check_that_needs_it(tmp_path: Path) -> None:
    got = statuses(_unparsable(Pair(), tmp_path))
    assert got["encoding"] == PASS and got["file_names"] == PASS
    assert {c for c, s in got.items() if s == FAIL} == set(CHECKS) - {"encoding", "file_names"}


def test_screen_dir_finds_orphan_metadata_and_empty_folders(tmp_path: Path) -> None:
    assert not screen_dir(tmp_path).passed  # no data file
    assert not screen_dir(tmp_path / "nowhere").passed
    Pair().write(tmp_path)
    assert screen_dir(tmp_path).passed
    (tmp_path / "lonely.meta.csv").write_text("col_name\n", encoding="utf-8")
    res = screen_dir(tmp_path)
    assert [f.file for f in res.failures] == ["lonely.meta.csv"]
    with pytest.raises(screener.ScreenerError, match="lonely.meta.csv"):
        screener.require_pass(tmp_path)


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    p = Pair()
    p.meta[1][p.meta_header.index("indicator_dp")] = ""
    res = screen_dir(p.write(tmp_path).parent)
    assert res.passed and [f.check for f in res.warnings] == ["metadata"]


def test_fewer_than_three_time_periods_is_a_warning(tmp_path: Path) -> None:
    p = Pair()
    p.rows = [r for r in p.rows if r[0] == "201920"]
    res = screen_dir(p.write(tmp_path).parent)
    assert res.passed and [f.check for f in res.warnings] == ["time_period"]


def test_cli_screen_exits_1_on_failure_and_0_on_pass(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    Pair().write(good)
    _duplicate_row(Pair(), bad)
    runner = CliRunner()
    ok = runner.invoke(app, ["screen", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "0 failures" in ok.output
    res = runner.invoke(app, ["screen", str(bad)])
    assert res.exit_code == 1
    assert "duplicates" in res.output and "FAIL" in res.output
