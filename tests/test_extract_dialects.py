"""Bring your own extract: what common exports write differently is read as documented and
counted; what could be read two ways, or is not a readable file, is refused with a clear message.

Through the real CLI (``analysis validate --sources DIR``), on the tiny province written as the
user's extract (the seven sources plus ``boards`` and ``societies``):

- every dialect (integers written 3.0 by pandas, ``NULL`` or ``""`` for missing values,
  categorical parquet columns from polars and pandas, dates as time-zone-aware midnight
  timestamps, spaces around ids, a header in capitals with spaces after the commas, old Mac
  line endings) gives the same bytes in ``sources/`` and ``reference/`` as the clean extract,
  and ``validation_report.json`` counts exactly what was normalised; all of them at once give
  the same analytic dataset;
- under ``validation.reading: strict`` each dialect is refused, naming every normalisation it
  would have needed, and nothing is written;
- ambiguous or unreadable input is refused with the exact message (exit 2), nothing changes,
  and no identifier is printed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.domain.schemas import REFERENCE_NAMES, SOURCE_NAMES
from analysis.io import hash_tree
from analysis.validate import NORMALISATIONS

runner = CliRunner()
ENV = {"COLUMNS": "2000"}
TABLES = (*SOURCE_NAMES, *REFERENCE_NAMES)
IDS = (
    "oen",
    "cw_record_id",
    "episode_id",
    "placement_id",
    "case_id",
    "assessment_id",
    "school_id",
    "board_id",
    "society_id",
)
Expected = set[tuple[str | None, str, int]]


def _cli(command: str, src: Path, root: Path, *extra: str):
    return runner.invoke(
        app,
        [
            command,
            "--sources",
            str(src),
            "--scale",
            "tiny",
            "--data-dir",
            str(root / "data"),
            "--reports-dir",
            str(root / "reports"),
            *extra,
        ],
        env=ENV,
        catch_exceptions=False,
    )


def _error_text(res) -> str:
    text = res.stderr
    assert "error: " in text, text
    return text[text.index("error: ") :].rstrip()


def _snapshot(root: Path) -> dict[str, str]:
    return {
        f"{t}/{k}": v for t in ("data", "reports", "in") for k, v in hash_tree(root / t).items()
    }


def _validated(root: Path) -> dict[str, str]:
    """The bytes every later stage reads: the validated sources and reference tables."""
    return {
        f"{t}/{k}": v
        for t in ("sources", "reference")
        for k, v in hash_tree(root / "data" / t).items()
    }


def _stable(obj: object) -> object:
    """A JSON document without its timings and memory readings (they differ run to run)."""
    if isinstance(obj, dict):
        return {
            k: _stable(v)
            for k, v in obj.items()
            if not (k.endswith("_s") or k == "timings" or "peak_" in k or "rss" in k)
        }
    return [_stable(v) for v in obj] if isinstance(obj, list) else obj


def _analytic(root: Path) -> dict[str, object]:
    """The analytic dataset: parquet bytes, and JSON without timings."""
    d = root / "data" / "analytic"
    return {
        rel: _stable(json.loads((d / rel).read_text())) if rel.endswith(".json") else digest
        for rel, digest in hash_tree(d).items()
    }


@pytest.fixture(scope="session")
def extract(tiny_generated, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny province as a user's extract: seven sources and two reference tables (parquet)."""
    d = tmp_path_factory.mktemp("byo_extract")
    for name in SOURCE_NAMES:
        shutil.copy(tiny_generated.paths.sources / f"{name}.parquet", d)
    for name in REFERENCE_NAMES:
        shutil.copy(tiny_generated.paths.reference / f"{name}.parquet", d)
    return d


@pytest.fixture(scope="session")
def frames(extract: Path) -> dict[str, pl.DataFrame]:
    return {n: pl.read_parquet(extract / f"{n}.parquet") for n in TABLES}


@pytest.fixture(scope="session")
def identifiers(frames: dict[str, pl.DataFrame]) -> set[str]:
    out: set[str] = set()
    for name in ("onsis_enrolment", "cpin_persons"):
        df = frames[name]
        for col in ("oen", "first_name", "last_name", "postal_code"):
            out |= set(df[col].drop_nulls().to_list())
        out |= {str(d) for d in df["birth_date"].to_list()}
    return out


@pytest.fixture(scope="session")
def clean(extract: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clean extract validated, linked and de-identified."""
    root = tmp_path_factory.mktemp("byo_clean")
    for command in ("validate", "link", "deidentify"):
        res = _cli(command, extract, root)
        assert res.exit_code == 0, res.output
    return root


@pytest.fixture()
def ws(extract: Path, tmp_path: Path) -> Path:
    shutil.copytree(extract, tmp_path / "in")
    return tmp_path


def _assert_no_identifier(text: str, identifiers: set[str]) -> None:
    import re

    tokens = set(re.findall(r"[\w'\-]+", text)) | set(re.findall(r"[A-Z]\d[A-Z] \d[A-Z]\d", text))
    assert not tokens & identifiers, "identifier values in the output"


# --------------------------------------------------------------------------------------------
# dialects: how each table is written, and what the reading must count for it
# --------------------------------------------------------------------------------------------


def _ints(df: pl.DataFrame) -> list[str]:
    return [c for c, t in df.schema.items() if t.is_integer()]


def _of(df: pl.DataFrame, dtype: type[pl.DataType]) -> list[str]:
    return [c for c, t in df.schema.items() if t == dtype]


def _nonnull(df: pl.DataFrame, col: str) -> int:
    return df.height - df[col].null_count()


def _write_csv(d: Path, name: str, text: str | bytes) -> None:
    (d / f"{name}.parquet").unlink()
    data = text.encode() if isinstance(text, str) else text
    (d / f"{name}.csv").write_bytes(data)


def _pandas_floats(d: Path, name: str, df: pl.DataFrame) -> None:
    pdf = df.with_columns(pl.col(_ints(df)).cast(pl.Float64)).to_pandas()
    _write_csv(d, name, pdf.to_csv(index=False))


def _null_as(token: str) -> Callable[[Path, str, pl.DataFrame], None]:
    return lambda d, name, df: _write_csv(d, name, df.write_csv(null_value=token))


def _missing(df: pl.DataFrame) -> Expected:
    return {(c, "missing_value", df[c].null_count()) for c in df.columns if df[c].null_count()}


def _polars_categorical(d: Path, name: str, df: pl.DataFrame) -> None:
    df.with_columns(pl.col(pl.String).cast(pl.Categorical)).write_parquet(d / f"{name}.parquet")


def _pandas_categorical(d: Path, name: str, df: pl.DataFrame) -> None:
    pdf = df.to_pandas()  # dates become datetime64, integers with gaps float64
    for c in _of(df, pl.String):
        pdf[c] = pdf[c].astype("category")
    pdf.to_parquet(d / f"{name}.parquet", index=False)


def _tz_midnight(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.col(pl.Date).cast(pl.Datetime("us")).dt.replace_time_zone("America/Toronto")
    )


def _padded_ids(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns((" " + pl.col(c) + "  ").alias(c) for c in df.columns if c in IDS)


def _header(text: str) -> str:
    head, rest = text.split("\n", 1)
    cells = head.split(",")
    shown = [cells[0].upper()] + [c.replace("_", " ").title() for c in cells[1:]]
    return ", ".join(shown) + "\n" + rest


def _all_at_once(d: Path, name: str, df: pl.DataFrame) -> None:
    pdf = _padded_ids(df).with_columns(pl.col(_ints(df)).cast(pl.Float64)).to_pandas()
    text = _header(pdf.to_csv(index=False, na_rep="NULL"))
    _write_csv(d, name, text.replace("\n", "\r"))


# name -> (write one table, what the reading counts for it)
DIALECTS: dict[
    str, tuple[Callable[[Path, str, pl.DataFrame], None], Callable[[pl.DataFrame], Expected]]
] = {
    "integers written as floats by pandas (3.0)": (
        _pandas_floats,
        lambda df: {(c, "integral_float", _nonnull(df, c)) for c in _ints(df)},
    ),
    "NULL for missing values": (_null_as("NULL"), _missing),
    'empty quoted strings ("") for missing values': (_null_as('""'), _missing),
    "categorical text columns (polars parquet)": (
        _polars_categorical,
        lambda df: {(c, "categorical", _nonnull(df, c)) for c in _of(df, pl.String)},
    ),
    "categorical columns and timestamp dates (pandas parquet)": (
        _pandas_categorical,
        lambda df: (
            {(c, "categorical", _nonnull(df, c)) for c in _of(df, pl.String)}
            | {(c, "midnight_datetime", _nonnull(df, c)) for c in _of(df, pl.Date)}
            | {(c, "integral_float", _nonnull(df, c)) for c in _ints(df) if df[c].null_count()}
        ),
    ),
    "dates as time-zone-aware midnight timestamps (parquet)": (
        lambda d, name, df: _tz_midnight(df).write_parquet(d / f"{name}.parquet"),
        lambda df: {(c, "midnight_datetime", _nonnull(df, c)) for c in _of(df, pl.Date)},
    ),
    "dates as time-zone-aware midnight timestamps (CSV)": (
        lambda d, name, df: _write_csv(d, name, _tz_midnight(df).write_csv()),
        lambda df: {(c, "midnight_datetime", _nonnull(df, c)) for c in _of(df, pl.Date)},
    ),
    "spaces around ids": (
        lambda d, name, df: _write_csv(d, name, _padded_ids(df).write_csv()),
        lambda df: {(c, "whitespace", _nonnull(df, c)) for c in df.columns if c in IDS},
    ),
    "header in capitals, with spaces after the commas": (
        lambda d, name, df: _write_csv(d, name, _header(df.write_csv())),
        lambda df: {(c, "header", 1) for c in df.columns},
    ),
    "old Mac line endings (CR only)": (
        lambda d, name, df: _write_csv(d, name, df.write_csv().replace("\n", "\r")),
        lambda df: {(None, "cr_line_endings", df.height + 1)},
    ),
}


def _apply(dialect: str, d: Path, frames: dict[str, pl.DataFrame]) -> dict[str, Expected]:
    write, expect = DIALECTS[dialect]
    for name, df in frames.items():
        write(d, name, df)
    return {name: expect(df) for name, df in frames.items()}


def _counted(report: dict) -> dict[str, Expected]:
    return {
        name: {(n["column"], n["normalisation"], n["values"]) for n in r["normalisations"]}
        for name, r in report.items()
    }


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_dialect_reads_to_the_same_bytes_and_is_counted(
    dialect: str, ws: Path, clean: Path, frames: dict[str, pl.DataFrame], identifiers: set[str]
) -> None:
    expected = _apply(dialect, ws / "in", frames)
    res = _cli("validate", ws / "in", ws)
    assert res.exit_code == 0, res.output
    _assert_no_identifier(res.output, identifiers)
    assert _validated(ws) == _validated(clean)
    report = json.loads((ws / "data/quarantine/validation_report.json").read_text())
    assert set(report) == set(TABLES)
    assert all(r["quarantined"] == 0 for r in report.values())
    assert _counted(report) == expected
    for name in TABLES:  # the report names the file as the user wrote it
        assert (ws / "in" / report[name]["file"]).is_file()
    assert not (ws / "data/linkage").exists() and not (ws / "reports").exists()


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_strict_reading_refuses_each_dialect(
    dialect: str, ws: Path, frames: dict[str, pl.DataFrame], identifiers: set[str]
) -> None:
    expected = _apply(dialect, ws / "in", frames)
    strict = ws / "strict.yaml"
    strict.write_text("validation:\n  reading: strict\n")
    before = _snapshot(ws)
    res = _cli("validate", ws / "in", ws, "--config", str(strict))
    assert res.exit_code == 2, res.output
    text = _error_text(res)
    _assert_no_identifier(text, identifiers)
    whole = ("header", "cr_line_endings", "null_column", "categorical")
    want = set()
    for found in expected.values():
        for col, kind, n in found:
            where = "table" if col is None else f"column '{col}'"
            what = "the file" if kind in whole else f"{n} row(s)"
            want.add(
                f"  - {where}: rule 'strict reading ({NORMALISATIONS[kind]}; "
                f"validation.reading: normalise accepts it)' broken by {what}"
            )
    got = {line for line in text.splitlines() if line.startswith("  - ")}
    assert got == want
    n_files = sum(1 for found in expected.values() if found)
    assert n_files > 1 and text.splitlines()[0] == f"error: {n_files} source files have problems"
    assert _snapshot(ws) == before


def test_strict_reading_names_every_normalisation_a_file_needs(
    ws: Path, frames: dict[str, pl.DataFrame]
) -> None:
    for name, df in frames.items():
        _all_at_once(ws / "in", name, df)
    strict = ws / "strict.yaml"
    strict.write_text("validation:\n  reading: strict\n")
    res = _cli("validate", ws / "in", ws, "--config", str(strict))
    assert res.exit_code == 2
    block = _error_text(res).split(f"{ws / 'in' / 'cpin_onlac.csv'}: ")[1].split("\n" + str(ws))[0]
    for kind in ("header", "cr_line_endings", "whitespace", "integral_float"):
        assert f"strict reading ({NORMALISATIONS[kind]};" in block, kind
    assert not (ws / "data").exists()


def test_every_dialect_at_once_gives_the_same_analytic_data(
    ws: Path, clean: Path, frames: dict[str, pl.DataFrame]
) -> None:
    """pandas floats, NULL, padded ids, a header in capitals and CR line endings, together."""
    for name, df in frames.items():
        _all_at_once(ws / "in", name, df)
    for command in ("validate", "link", "deidentify"):
        res = _cli(command, ws / "in", ws)
        assert res.exit_code == 0, res.output
    assert _validated(ws) == _validated(clean)
    assert _analytic(ws) == _analytic(clean)
    report = json.loads((ws / "data/quarantine/validation_report.json").read_text())
    kinds = {n["normalisation"] for r in report.values() for n in r["normalisations"]}
    assert kinds == {"integral_float", "missing_value", "whitespace", "header", "cr_line_endings"}


# --------------------------------------------------------------------------------------------
# refused: ambiguous, or not a readable file (exact message, exit 2, nothing changed)
# --------------------------------------------------------------------------------------------


def _parquet(name: str, fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def m(d: Path) -> None:
        p = d / f"{name}.parquet"
        fn(pl.read_parquet(p)).write_parquet(p)

    return m


def _as_csv(
    name: str,
    fn: Callable[[pl.DataFrame], pl.DataFrame] = lambda df: df,
    post: Callable[[str], str] = lambda t: t,
) -> Callable[[Path], None]:
    def m(d: Path) -> None:
        p = d / f"{name}.parquet"
        df = fn(pl.read_parquet(p))
        p.unlink()
        (d / f"{name}.csv").write_text(post(df.write_csv()))

    return m


def _replace_with(name: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    def m(d: Path) -> None:
        (d / f"{name}.parquet").unlink()
        make(d / f"{name}.csv")

    return m


def _ragged_row(text: str) -> str:
    lines = text.split("\n")
    lines[5] += ",extra"
    return "\n".join(lines)


def _set(col: str, where: pl.Expr, value: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda df: df.with_columns(
        pl.when(where).then(pl.lit(value)).otherwise(pl.col(col)).alias(col)
    )


def _time_of_day(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col("start_date").cast(pl.Datetime("us")) + pl.duration(hours=9))


def _toronto_midnight_in_utc(df: pl.DataFrame) -> pl.DataFrame:
    # the instant of midnight in Toronto, stored in UTC: 04:00 or 05:00 there, which date?
    return df.with_columns(
        pl.col("start_date")
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("America/Toronto")
        .dt.convert_time_zone("UTC")
    )


_TIME_RULE = (
    "type (Date expected, found Datetime(time_unit='us', time_zone={tz}) with times of day other "
    "than midnight: store the dates as dates, or as midnight timestamps)"
)

# kind -> (mutation, file, note, problem lines)
REFUSED: dict[str, tuple[Callable[[Path], None], str, str | None, list[str]]] = {
    "dates with a time of day": (
        _parquet("cpin_services", _time_of_day),
        "cpin_services.parquet",
        None,
        [f"column 'start_date': rule '{_TIME_RULE.format(tz='None')}' broken by the file"],
    ),
    "midnight in Toronto stored as a UTC timestamp": (
        _parquet("cpin_services", _toronto_midnight_in_utc),
        "cpin_services.parquet",
        None,
        [f"column 'start_date': rule '{_TIME_RULE.format(tz=repr('UTC'))}' broken by the file"],
    ),
    "two columns with one name once normalised (item_3, ITEM_3)": (
        _as_csv("cpin_onlac", post=lambda t: t.replace("item_4", "ITEM_3", 1)),
        "cpin_onlac.csv",
        None,
        ["column 'item_3': rule 'duplicate_column' broken by the file"],
    ),
    "a folder named like a source file": (
        _replace_with("cpin_onlac", lambda p: p.mkdir()),
        "cpin_onlac.csv",
        None,
        [
            "table: rule 'not a file (a folder has the file's name; put the file itself there)' "
            "broken by the file"
        ],
    ),
    "a link to a file that does not exist": (
        _replace_with("cpin_onlac", lambda p: os.symlink(p.parent / "nowhere.csv", p)),
        "cpin_onlac.csv",
        None,
        ["table: rule 'not a file (a link to a file that does not exist)' broken by the file"],
    ),
    "a named pipe where a file is expected": (
        _replace_with("cpin_onlac", lambda p: os.mkfifo(p)),
        "cpin_onlac.csv",
        None,
        ["table: rule 'not a file (a special file, not a regular file)' broken by the file"],
    ),
    "boards.csv with a ragged row": (
        _as_csv("boards", post=_ragged_row),
        "boards.csv",
        None,
        [
            "table: rule 'ragged rows (a row has more fields than the header: a stray comma or "
            "quote)' broken by the file"
        ],
    ),
    "boards.csv with a region outside the list": (
        _as_csv("boards", _set("region", pl.col("board_id") == "B03", "Nowhere")),
        "boards.csv",
        "1 of 72 rows break rules: a reference table may have none",
        ["column 'region': rule 'allowed_values' broken by 1 row(s)"],
    ),
    "societies.parquet with a boolean written yes/no": (
        _parquet("societies", lambda df: df.with_columns(pl.lit("yes").alias("indigenous"))),
        "societies.parquet",
        "50 of 50 rows break rules: a reference table may have none",
        ["column 'indigenous': rule 'type (value does not convert)' broken by 50 row(s)"],
    ),
    "boards.csv as a folder": (
        _replace_with("boards", lambda p: p.mkdir()),
        "boards.csv",
        None,
        [
            "table: rule 'not a file (a folder has the file's name; put the file itself there)' "
            "broken by the file"
        ],
    ),
}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_refused_with_the_message(kind: str, ws: Path, clean: Path, identifiers: set[str]) -> None:
    mutate, file, note, lines = REFUSED[kind]
    shutil.copytree(clean / "data", ws / "data")  # a previous build, which must not change
    mutate(ws / "in")
    before = _snapshot(ws)
    res = _cli("validate", ws / "in", ws)
    assert res.exit_code == 2, res.output
    head = f"error: {ws / 'in' / file}{f' ({note})' if note else ''}: {len(lines)} rule(s) broken"
    assert _error_text(res) == "\n".join([head] + [f"  - {ln}" for ln in lines])
    _assert_no_identifier(res.output, identifiers)
    assert _snapshot(ws) == before


def test_boards_lacking_a_board_the_sources_use(ws: Path, clean: Path) -> None:
    _as_csv("boards", lambda df: df.filter(pl.col("board_id") != "B03"))(ws / "in")
    onsis, eqao = (
        pl.read_parquet(ws / "in" / f"{n}.parquet") for n in ("onsis_enrolment", "eqao_results")
    )
    n_on, n_eq = ((df["board_id"] == "B03").sum() for df in (onsis, eqao))
    before = _snapshot(ws)
    res = _cli("validate", ws / "in", ws)
    assert res.exit_code == 2
    text = _error_text(res)
    assert f"  - column 'board_id': rule 'reference_to_boards' broken by {n_on} row(s)" in text
    assert f"  - column 'board_id': rule 'reference_to_boards' broken by {n_eq} row(s)" in text
    assert _snapshot(ws) == before


def test_an_unreadable_file(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the user may not read (simulated: the tests may run as root)."""
    _as_csv("cpin_cases")(ws / "in")
    target = ws / "in" / "cpin_cases.csv"
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    res = _cli("validate", ws / "in", ws)
    assert res.exit_code == 2
    assert _error_text(res) == (
        f"error: {target}: 1 rule(s) broken\n"
        "  - table: rule 'unreadable file (permission denied: make the file readable)' broken "
        "by the file"
    )
    assert not (ws / "data").exists()
