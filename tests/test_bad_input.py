"""Bad input through the real CLI: every kind gets an exact error, exit code 2, no identifier, no change.

A tiny province is generated once; each test corrupts a copy of its sources (the user's own
extract, ``--sources DIR``), runs ``analysis build`` (or ``analysis validate``) over a data and
reports folder holding a previous build, and checks:

- the exact error text (file, column, rule, row count) and the exit code;
- that no identifier value (OEN, name, birth date, postal code) appears in anything printed;
- that nothing under the data folder (sources/, quarantine/, linkage/, analytic/, results/,
  .state/) or reports/ changed (the trees are hashed before and after).

Rows over the threshold (``validation.max_bad_row_share``, 1 %) stop the build; rows under it are
quarantined and counted (in = passed + quarantined), which the last tests check.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.domain.schemas import SOURCE_NAMES
from analysis.io import hash_tree

runner = CliRunner()
ENV = {"COLUMNS": "2000"}  # rich must not wrap long paths in the messages
Mutate = Callable[[Path], None]


# --------------------------------------------------------------------------------------------
# fixtures: a generated province, a clean extract, a previous build
# --------------------------------------------------------------------------------------------


def _invoke(*args: str):
    return runner.invoke(app, list(args), env=ENV, catch_exceptions=False)


@pytest.fixture(scope="session")
def clean_extract(tiny_generated, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seven sources of the tiny province as the user's extract (parquet)."""
    d = tmp_path_factory.mktemp("clean_extract")
    for name in SOURCE_NAMES:
        shutil.copy(tiny_generated.paths.sources / f"{name}.parquet", d / f"{name}.parquet")
    return d


@pytest.fixture(scope="session")
def identifiers(clean_extract: Path) -> set[str]:
    """Every identifier value in the extract, as it could appear in text."""
    out: set[str] = set()
    for name in ("onsis_enrolment", "cpin_persons"):
        df = pl.read_parquet(clean_extract / f"{name}.parquet")
        for col in ("oen", "first_name", "last_name", "postal_code"):
            out |= set(df[col].drop_nulls().to_list())
        out |= {str(d) for d in df["birth_date"].drop_nulls().to_list()}
    out |= set(pl.read_parquet(clean_extract / "eqao_results.parquet")["oen"].to_list())
    out |= {BAD_OEN, FUTURE_BIRTH.isoformat()}
    return out


@pytest.fixture(scope="session")
def previous_build(clean_extract: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder validated from the clean extract, plus downstream and report files."""
    root = tmp_path_factory.mktemp("previous")
    res = _invoke(
        "validate",
        "--sources",
        str(clean_extract),
        "--scale",
        "tiny",
        "--data-dir",
        str(root / "data"),
        "--reports-dir",
        str(root / "reports"),
    )
    assert res.exit_code == 0, res.output
    for rel in (
        "data/linkage/links.parquet",
        "data/analytic/student_years.parquet",
        "data/results/tables.json",
        "reports/index.html",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"previous build: {rel}\n")
    return root


@pytest.fixture()
def workspace(previous_build: Path, clean_extract: Path, tmp_path: Path) -> Path:
    """A fresh copy of the previous build (``data``, ``reports``) and of the extract (``in``)."""
    shutil.copytree(previous_build, tmp_path, dirs_exist_ok=True)
    shutil.copytree(clean_extract, tmp_path / "in")
    return tmp_path


def _snapshot(ws: Path) -> dict[str, str]:
    return {f"{top}/{k}": v for top in ("data", "reports") for k, v in hash_tree(ws / top).items()}


def _run(ws: Path, command: str = "build", *extra: str):
    return _invoke(
        command,
        "--sources",
        str(ws / "in"),
        "--scale",
        "tiny",
        "--data-dir",
        str(ws / "data"),
        "--reports-dir",
        str(ws / "reports"),
        *extra,
    )


def _error_text(res) -> str:
    """The ``error: ...`` block of stderr (the progress line before it is dropped)."""
    text = res.stderr
    assert "error: " in text, text
    return text[text.index("error: ") :].rstrip()


def _assert_no_identifier(text: str, identifiers: set[str]) -> None:
    tokens = set(re.findall(r"[\w'\-]+", text)) | set(re.findall(r"[A-Z]\d[A-Z] \d[A-Z]\d", text))
    leaked = tokens & identifiers
    assert not leaked, f"identifier values in the output ({len(leaked)})"


# --------------------------------------------------------------------------------------------
# corruption helpers (polars writes every bad file)
# --------------------------------------------------------------------------------------------

BAD_OEN = "123456780"  # Luhn digit of 12345678 is 2
FUTURE_BIRTH = dt.date(2031, 5, 17)


def _first(n: int) -> pl.Expr:
    return pl.int_range(pl.len()) < n


def edit(name: str, fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Mutate:
    def m(d: Path) -> None:
        p = d / f"{name}.parquet"
        fn(pl.read_parquet(p)).write_parquet(p)

    return m


def as_csv(
    name: str,
    fn: Callable[[pl.DataFrame], pl.DataFrame] = lambda df: df,
    *,
    sep: str = ",",
    encoding: str = "utf-8",
    header: bool = True,
    post: Callable[[str], str] = lambda t: t,
) -> Mutate:
    def m(d: Path) -> None:
        p = d / f"{name}.parquet"
        df = fn(pl.read_parquet(p))
        p.unlink()
        text = df.write_csv(separator=sep, include_header=header)
        (d / f"{name}.csv").write_bytes(post(text).encode(encoding))

    return m


def set_first(col: str, n: int, value: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def fn(df: pl.DataFrame) -> pl.DataFrame:
        lit = value if isinstance(value, pl.Expr) else pl.lit(value, dtype=df.schema[col])
        return df.with_columns(pl.when(_first(n)).then(lit).otherwise(pl.col(col)).alias(col))

    return fn


def _bad_check_digit(df: pl.DataFrame, n: int) -> pl.DataFrame:
    """Change the check digit of the first ``n`` OENs (never a valid OEN, never a duplicate)."""
    last = pl.col("oen").str.slice(8, 1).cast(pl.Int32)
    wrong = pl.col("oen").str.slice(0, 8) + ((last + 1) % 10).cast(pl.String)
    return df.with_columns(pl.when(_first(n)).then(wrong).otherwise(pl.col("oen")).alias("oen"))


def _first_year_rows(df: pl.DataFrame) -> pl.DataFrame:
    """OnSIS with the 2017-18 rows first (one per student: changing them makes no duplicate)."""
    return df.sort(pl.col("school_year") != "2017-18", maintain_order=True)


def delete(name: str) -> Mutate:
    return lambda d: (d / f"{name}.parquet").unlink()


def write_bytes(name: str, fn: Callable[[bytes], bytes]) -> Mutate:
    def m(d: Path) -> None:
        p = d / f"{name}.parquet"
        p.write_bytes(fn(p.read_bytes()))

    return m


def both(*ms: Mutate) -> Mutate:
    def m(d: Path) -> None:
        for f in ms:
            f(d)

    return m


def _latin1_names(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.when(_first(20))
        .then(pl.lit("Hélène"))
        .otherwise(pl.col("first_name"))
        .alias("first_name")
    )


def _ragged(text: str) -> str:
    lines = text.splitlines()
    lines[7] += ",Extra"
    return "\n".join(lines) + "\n"


def _over(name: str, n_bad: int, n: int) -> str:
    return (
        f"{n_bad} of {n} rows ({n_bad / n:.1%}) break rules, more than the allowed 1.0%: "
        "the extract itself looks wrong"
    )


# Row counts of the tiny province (seeded): asserted in test_tiny_row_counts so a change in the
# generator shows up there first, not as 20 confusing failures.
N = {
    "onsis_enrolment": 24488,
    "eqao_results": 9840,
    "cpin_persons": 643,
    "cpin_services": 621,
    "cpin_placements": 758,
    "cpin_cases": 3125,
    "cpin_onlac": 181,
}

# kind -> (mutation, file (relative to the extract), note (None: no row-share note), problem lines)
CASES: dict[str, tuple[Mutate, str, str | None, list[str]]] = {
    "missing column": (
        edit("onsis_enrolment", lambda df: df.drop("postal_code")),
        "onsis_enrolment.parquet",
        None,
        ["column 'postal_code': rule 'missing_column' broken by the file"],
    ),
    "extra column": (
        edit("cpin_persons", lambda df: df.with_columns(pl.lit("x").alias("case_notes"))),
        "cpin_persons.parquet",
        None,
        ["column 'case_notes': rule 'unexpected_column' broken by the file"],
    ),
    "wrong type (OEN stored as a number)": (
        edit("eqao_results", lambda df: df.with_columns(pl.col("oen").cast(pl.Int64))),
        "eqao_results.parquet",
        None,
        ["column 'oen': rule 'type (String expected, found Int64)' broken by the file"],
    ),
    "bad OEN check digit over the threshold": (
        edit("onsis_enrolment", lambda df: _bad_check_digit(df, 300)),
        "onsis_enrolment.parquet",
        _over("onsis_enrolment", 300, N["onsis_enrolment"]),
        ["column 'oen': rule 'oen_check_digit' broken by 300 row(s)"],
    ),
    "bad OEN check digit just over the threshold (245 of 24488)": (
        edit("onsis_enrolment", lambda df: _bad_check_digit(df, 245)),
        "onsis_enrolment.parquet",
        _over("onsis_enrolment", 245, N["onsis_enrolment"]),
        ["column 'oen': rule 'oen_check_digit' broken by 245 row(s)"],
    ),
    "birth date in the future": (
        edit("cpin_persons", set_first("birth_date", 40, FUTURE_BIRTH)),
        "cpin_persons.parquet",
        _over("cpin_persons", 40, N["cpin_persons"]),
        ["column 'birth_date': rule 'birth_date_in_range' broken by 40 row(s)"],
    ),
    "birth date after the school year began": (
        edit(
            "onsis_enrolment",
            lambda df: set_first("birth_date", 300, dt.date(2019, 1, 1))(_first_year_rows(df)),
        ),
        "onsis_enrolment.parquet",
        _over("onsis_enrolment", 300, N["onsis_enrolment"]),
        ["column 'birth_date': rule 'age_for_school_year' broken by 300 row(s)"],
    ),
    "discharge before admission": (
        edit(
            "cpin_placements",
            set_first("end_date", 20, pl.col("start_date") - pl.duration(days=30)),
        ),
        "cpin_placements.parquet",
        _over("cpin_placements", 20, N["cpin_placements"]),
        ["column 'end_date': rule 'end_date_not_before_start_date' broken by 20 row(s)"],
    ),
    "recurrence before the case closed": (
        edit(
            "cpin_cases",
            lambda df: df.sort(pl.col("recurrence_date").is_null()).pipe(
                set_first("recurrence_date", 100, pl.col("closed_date") - pl.duration(days=1))
            ),
        ),
        "cpin_cases.parquet",
        _over("cpin_cases", 100, N["cpin_cases"]),
        [
            "column 'recurrence_date': rule 'recurrence_date_not_before_closed_date' broken by 100 row(s)"
        ],
    ),
    "school year out of range": (
        edit(
            "onsis_enrolment",
            lambda df: set_first("school_year", 400, "2016-17")(_first_year_rows(df)),
        ),
        "onsis_enrolment.parquet",
        _over("onsis_enrolment", 400, N["onsis_enrolment"]),
        ["column 'school_year': rule 'school_year_in_range' broken by 400 row(s)"],
    ),
    "malformed postal code": (
        edit(
            "onsis_enrolment",
            lambda df: df.with_columns(
                pl.when(_first(500))
                .then(pl.col("postal_code").str.replace(" ", ""))
                .otherwise(pl.col("postal_code"))
                .alias("postal_code")
            ),
        ),
        "onsis_enrolment.parquet",
        _over("onsis_enrolment", 500, N["onsis_enrolment"]),
        ["column 'postal_code': rule 'format' broken by 500 row(s)"],
    ),
    "duplicate keys": (
        edit("cpin_cases", lambda df: pl.concat([df, df.head(100)])),
        "cpin_cases.parquet",
        _over("cpin_cases", 200, N["cpin_cases"] + 100),
        ["column 'case_id': rule 'duplicate_key' broken by 200 row(s)"],
    ),
    "duplicate composite keys": (
        edit("eqao_results", lambda df: pl.concat([df, df.tail(60)])),
        "eqao_results.parquet",
        _over("eqao_results", 120, N["eqao_results"] + 60),
        ["columns 'oen, school_year, assessment': rule 'duplicate_key' broken by 120 row(s)"],
    ),
    "missing values in a required column": (
        edit("cpin_services", set_first("service_type", 30, None)),
        "cpin_services.parquet",
        _over("cpin_services", 30, N["cpin_services"]),
        ["column 'service_type': rule 'missing_value' broken by 30 row(s)"],
    ),
    "value outside the allowed list": (
        edit("cpin_placements", set_first("placement_type", 12, "hotel")),
        "cpin_placements.parquet",
        _over("cpin_placements", 12, N["cpin_placements"]),
        ["column 'placement_type': rule 'allowed_values' broken by 12 row(s)"],
    ),
    "reference to a record not in the extract": (
        edit("cpin_placements", set_first("episode_id", 15, "EP99999999")),
        "cpin_placements.parquet",
        _over("cpin_placements", 15, N["cpin_placements"]),
        ["column 'episode_id': rule 'reference_to_cpin_services' broken by 15 row(s)"],
    ),
    "empty parquet file (0 bytes)": (
        write_bytes("cpin_services", lambda b: b""),
        "cpin_services.parquet",
        None,
        ["table: rule 'empty file' broken by the file"],
    ),
    "parquet with no rows": (
        edit("cpin_onlac", lambda df: df.head(0)),
        "cpin_onlac.parquet",
        None,
        ["table: rule 'empty file (no rows)' broken by the file"],
    ),
    "CSV with a header and no rows": (
        as_csv("cpin_onlac", lambda df: df.head(0)),
        "cpin_onlac.csv",
        None,
        ["table: rule 'empty file (no rows)' broken by the file"],
    ),
    "truncated parquet": (
        write_bytes("cpin_persons", lambda b: b[: len(b) // 2]),
        "cpin_persons.parquet",
        None,
        [
            "table: rule 'unreadable parquet (truncated or corrupt: ComputeError)' broken by the file"
        ],
    ),
    "corrupt parquet (not parquet at all)": (
        write_bytes("cpin_cases", lambda b: b"PAR1" + bytes(range(256)) * 4),
        "cpin_cases.parquet",
        None,
        [
            "table: rule 'unreadable parquet (truncated or corrupt: ComputeError)' broken by the file"
        ],
    ),
    "CSV in the wrong encoding (latin-1 with accents)": (
        as_csv("cpin_persons", _latin1_names, encoding="latin-1"),
        "cpin_persons.csv",
        None,
        ["table: rule 'encoding (file is not UTF-8; save it as UTF-8)' broken by the file"],
    ),
    "CSV with the wrong delimiter (semicolons)": (
        as_csv("cpin_services", sep=";"),
        "cpin_services.csv",
        None,
        ["table: rule 'delimiter (expected a comma-separated file)' broken by the file"],
    ),
    "CSV without its header row": (
        as_csv("cpin_persons", header=False),
        "cpin_persons.csv",
        None,
        [
            "table: rule 'header (none of the 12 expected column names found: is the header row "
            "missing?)' broken by the file"
        ],
    ),
    "CSV with a column name twice": (
        as_csv("cpin_onlac", post=lambda t: t.replace("item_4", "item_3", 1)),
        "cpin_onlac.csv",
        None,
        ["column 'item_3': rule 'duplicate_column' broken by the file"],
    ),
    "CSV with a ragged row": (
        as_csv("cpin_persons", post=_ragged),
        "cpin_persons.csv",
        None,
        [
            "table: rule 'ragged rows (a row has more fields than the header: a stray comma or quote)' "
            "broken by the file"
        ],
    ),
    "CSV cut short (truncated mid-row)": (
        as_csv("cpin_persons", post=lambda t: t[: len(t) // 2].rstrip("\n")),
        "cpin_persons.csv",
        None,
        ["table: rule 'truncated file (the last line is incomplete)' broken by the file"],
    ),
    "CSV with text in a numeric column": (
        as_csv(
            "onsis_enrolment",
            lambda df: df.with_columns(pl.col("days_absent").cast(pl.String)).pipe(
                set_first("days_absent", 400, "n/a")
            ),
        ),
        "onsis_enrolment.csv",
        _over("onsis_enrolment", 400, N["onsis_enrolment"]),
        ["column 'days_absent': rule 'type (value does not convert)' broken by 400 row(s)"],
    ),
    "CSV with a malformed date": (
        as_csv(
            "cpin_services",
            lambda df: df.with_columns(pl.col("start_date").dt.strftime("%d/%m/%Y")),
        ),
        "cpin_services.csv",
        _over("cpin_services", N["cpin_services"], N["cpin_services"]),
        [
            "column 'start_date': rule 'date_format (not YYYY-MM-DD: in a date such as 03/04/2019 "
            "the order of day and month is ambiguous; write dates as YYYY-MM-DD)' broken by "
            f"{N['cpin_services']} row(s)"
        ],
    ),
    "missing file": (
        delete("cpin_services"),
        "cpin_services.parquet",
        None,
        [
            "table: rule 'missing file (expected cpin_services.parquet or cpin_services.csv)' broken by the file"
        ],
    ),
    "both a CSV and a parquet for one source": (
        lambda d: shutil.copy(d / "cpin_onlac.parquet", d / "cpin_onlac.csv"),
        "cpin_onlac",
        None,
        [
            "table: rule 'ambiguous source (both cpin_onlac.parquet and cpin_onlac.csv; keep one)' "
            "broken by the file"
        ],
    ),
    "too large a share of bad rows across several rules": (
        edit(
            "cpin_persons",
            lambda df: df.pipe(set_first("gender_identity", 5, "unknown")).with_columns(
                pl.when(pl.int_range(pl.len()) >= pl.len() - 3)
                .then(pl.lit("Society 1"))
                .otherwise(pl.col("society_id"))
                .alias("society_id")
            ),
        ),
        "cpin_persons.parquet",
        _over("cpin_persons", 8, N["cpin_persons"]),
        [
            "column 'society_id': rule 'format' broken by 3 row(s)",
            "column 'gender_identity': rule 'allowed_values' broken by 5 row(s)",
        ],
    ),
}


def test_tiny_row_counts(clean_extract: Path) -> None:
    assert {n: pl.read_parquet(clean_extract / f"{n}.parquet").height for n in SOURCE_NAMES} == N


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_input(kind: str, workspace: Path, identifiers: set[str]) -> None:
    mutate, file, note, lines = CASES[kind]
    mutate(workspace / "in")
    before = _snapshot(workspace)
    res = _run(workspace)
    assert res.exit_code == 2, res.output
    head = f"error: {workspace / 'in' / file}{f' ({note})' if note else ''}: {len(lines)} rule(s) broken"
    assert _error_text(res) == "\n".join([head] + [f"  - {ln}" for ln in lines])
    _assert_no_identifier(res.output, identifiers)
    assert _snapshot(workspace) == before


def test_several_bad_files_are_reported_together(workspace: Path, identifiers: set[str]) -> None:
    """Every file-level problem of every file, in one message, before anything is written."""
    delete("cpin_onlac")(workspace / "in")
    edit("onsis_enrolment", lambda df: df.drop("grade"))(workspace / "in")
    before = _snapshot(workspace)
    res = _run(workspace)
    assert res.exit_code == 2
    src = workspace / "in"
    assert _error_text(res) == "\n".join(
        [
            "error: 2 source files have problems",
            f"{src / 'onsis_enrolment.parquet'}: 1 rule(s) broken",
            "  - column 'grade': rule 'missing_column' broken by the file",
            f"{src / 'cpin_onlac.parquet'}: 1 rule(s) broken",
            "  - table: rule 'missing file (expected cpin_onlac.parquet or cpin_onlac.csv)' broken by the file",
        ]
    )
    _assert_no_identifier(res.output, identifiers)
    assert _snapshot(workspace) == before


def test_missing_sources_folder(workspace: Path) -> None:
    shutil.rmtree(workspace / "in")
    before = _snapshot(workspace)
    res = _run(workspace)
    assert res.exit_code == 2
    assert (
        _error_text(res)
        == f"error: {workspace / 'in'}: --sources must be a folder holding the source files"
    )
    assert _snapshot(workspace) == before


def test_row_policy_fail_stops_on_a_single_bad_row(workspace: Path, identifiers: set[str]) -> None:
    cfg = workspace / "strict.yaml"
    cfg.write_text("validation:\n  row_policy: fail\n")
    edit("onsis_enrolment", lambda df: _bad_check_digit(df, 1))(workspace / "in")
    before = _snapshot(workspace)
    res = _run(workspace, "build", "--config", str(cfg))
    assert res.exit_code == 2
    n = N["onsis_enrolment"]
    assert _error_text(res) == (
        f"error: {workspace / 'in' / 'onsis_enrolment.parquet'} (1 of {n} rows break rules and the row "
        "policy is 'fail'): 1 rule(s) broken\n"
        "  - column 'oen': rule 'oen_check_digit' broken by 1 row(s)"
    )
    _assert_no_identifier(res.output, identifiers)
    assert _snapshot(workspace) == before


# --------------------------------------------------------------------------------------------
# under the threshold: quarantined and counted
# --------------------------------------------------------------------------------------------


def _quarantine_case(ws: Path, mutate: Mutate, identifiers: set[str]) -> tuple[dict, object]:
    mutate(ws / "in")
    before = _snapshot(ws)
    res = _run(ws, "validate")
    assert res.exit_code == 0, res.output
    _assert_no_identifier(res.output, identifiers)
    after = _snapshot(ws)
    # Only validate's own outputs changed: downstream folders and reports are as they were.
    for k in set(before) | set(after):
        if not k.startswith(("data/sources/", "data/quarantine/", "data/.state/")):
            assert before.get(k) == after.get(k), k
    report = json.loads((ws / "data/quarantine/validation_report.json").read_text())
    for name, r in report.items():  # every row accounted for, in every file
        assert r["rows_in"] == r["passed"] + r["quarantined"], name
        assert pl.read_parquet(ws / "data/sources" / f"{name}.parquet").height == r["passed"]
        q = ws / "data/quarantine" / f"{name}.parquet"
        assert (pl.read_parquet(q).height if q.exists() else 0) == r["quarantined"]
    return report, res


def test_bad_check_digits_under_the_threshold_are_quarantined(
    workspace: Path, identifiers: set[str], caplog: pytest.LogCaptureFixture
) -> None:
    n = N["onsis_enrolment"]
    report, res = _quarantine_case(
        workspace, edit("onsis_enrolment", lambda df: _bad_check_digit(df, 244)), identifiers
    )  # 244 / 24488 = 0.996 %: just under 1 %
    r = report["onsis_enrolment"]
    assert (r["rows_in"], r["passed"], r["quarantined"]) == (n, n - 244, 244)
    assert r["rules"] == [{"column": "oen", "rule": "oen_check_digit", "rows": 244}]
    assert (
        f"onsis_enrolment.parquet: 244 of {n} rows quarantined (column 'oen': rule 'oen_check_digit' "
        "broken by 244 row(s))" in caplog.text
    )  # a warning (stderr, via logging) in the CLI
    _assert_no_identifier(caplog.text, identifiers)
    q = pl.read_parquet(workspace / "data/quarantine/onsis_enrolment.parquet")
    assert q["__rule"].unique().to_list() == ["oen: oen_check_digit"]
    assert q["__row"].to_list() == list(range(1, 245))
    assert all(report[name]["quarantined"] == 0 for name in report if name != "onsis_enrolment")


def test_text_in_a_numeric_csv_column_under_the_threshold(
    workspace: Path, identifiers: set[str]
) -> None:
    mutate = as_csv(
        "cpin_placements",
        lambda df: (
            df.with_columns(pl.col("start_date").cast(pl.String))
            .pipe(set_first("start_date", 2, "unknown"))
            .pipe(set_first("placement_type", 1, "motel"))
        ),
    )  # row 1 breaks two rules
    report, _ = _quarantine_case(workspace, mutate, identifiers)
    r = report["cpin_placements"]
    assert r["file"] == "cpin_placements.csv"
    assert (r["rows_in"], r["passed"], r["quarantined"]) == (
        N["cpin_placements"],
        N["cpin_placements"] - 2,
        2,
    )
    assert r["rules"] == [
        {"column": "start_date", "rule": "type (value does not convert)", "rows": 2},
        {"column": "placement_type", "rule": "allowed_values", "rows": 1},
    ]
    q = pl.read_parquet(workspace / "data/quarantine/cpin_placements.parquet")
    assert q["__rule"].to_list() == ["start_date: type", "start_date: type"]


def test_clean_csv_extract_matches_parquet(
    workspace: Path, clean_extract: Path, identifiers: set[str]
) -> None:
    """Bring your own data: the same extract as CSV (UTF-8 with a BOM, CRLF) validates to the same frames."""
    for name in SOURCE_NAMES:
        as_csv(name, post=lambda t: "\ufeff" + t.replace("\n", "\r\n"))(workspace / "in")
    report, _ = _quarantine_case(workspace, lambda d: None, identifiers)
    assert all(r["quarantined"] == 0 for r in report.values())
    for name in SOURCE_NAMES:
        got = pl.read_parquet(workspace / "data/sources" / f"{name}.parquet")
        assert got.equals(pl.read_parquet(clean_extract / f"{name}.parquet")), name


def test_dates_stored_as_midnight_timestamps_are_accepted(
    workspace: Path, identifiers: set[str]
) -> None:
    report, _ = _quarantine_case(
        workspace,
        edit(
            "cpin_services",
            lambda df: df.with_columns(pl.col("start_date", "end_date").cast(pl.Datetime("us"))),
        ),
        identifiers,
    )
    assert report["cpin_services"]["quarantined"] == 0
    assert (
        pl.read_parquet(workspace / "data/sources/cpin_services.parquet").schema["start_date"]
        == pl.Date
    )
