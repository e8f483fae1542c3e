"""Reading one file of an extract: finding it, the file-level checks, its header and its bytes.

A file that is missing, not a file, unreadable, empty, not UTF-8, not comma-separated, ragged or
cut short, or whose columns are missing, unexpected or of the wrong type, is a file-level
problem (:class:`~analysis.domain.schemas.SourceValidationError`). Nothing here ever raises
anything else on a file's content, and no message holds a value from the file.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from analysis.domain.schemas import ALL_SCHEMAS, Problem, SourceValidationError
from analysis.validate.normalise import (
    Normalisation,
    Reading,
    coerce,
    column_name,
    expected_types,
    refuse_if_strict,
)

# A header cell that looks like a value (digits, a date, a postal code), or that cannot be
# shown on one line, is never echoed.
_VALUE_LIKE = re.compile(r"\d{3}|\d{4}-\d{2}|[A-Za-z]\d[A-Za-z] ?\d|@|^\s*$")
_FAILURES: tuple[type[BaseException], ...] = (Exception, pl.exceptions.PanicException)


@dataclass
class SourceFile:
    """A file read and typed: its frame (schema columns, plus ``__cast_error`` / ``__cast_rule``
    when values did not convert), where it was, and what the reading normalised."""

    df: pl.DataFrame
    path: Path
    normalisations: list[Normalisation] = field(default_factory=list)


def _err(path: Path | str, rule: str, column: str | None = None) -> SourceValidationError:
    return SourceValidationError(str(path), [Problem(column, rule, 0)])


def _shown(name: str) -> bool:
    return name.isprintable() and len(name) <= 64 and not _VALUE_LIKE.search(name)


def locate(folder: Path, name: str) -> Path | None:
    """``NAME.parquet`` or ``NAME.csv`` in ``folder`` (``None``: neither); a file-level error
    when both are there, or when what is there is not a readable file."""
    pq, csv_path = folder / f"{name}.parquet", folder / f"{name}.csv"
    present = [p for p in (pq, csv_path) if os.path.lexists(p)]
    if len(present) == 2:
        raise _err(
            folder / name, f"ambiguous source (both {pq.name} and {csv_path.name}; keep one)"
        )
    if not present:
        return None
    path = present[0]
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise _err(path, "not a file (a link to a file that does not exist)") from None
    except OSError as exc:
        raise _err(path, f"unreadable file ({_os_reason(exc)})") from None
    if stat.S_ISDIR(mode):
        raise _err(path, "not a file (a folder has the file's name; put the file itself there)")
    if not stat.S_ISREG(mode):
        raise _err(path, "not a file (a special file, not a regular file)")
    return path


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied: make the file readable"
    return type(exc).__name__


def read_source(folder: Path, name: str, reading: Reading | None = None) -> SourceFile:
    """Read table ``name`` (a source or a reference table) from ``folder``, normalised and typed.

    Raises
    ------
    SourceValidationError
        Any file-level problem, naming the file, the column and the rule.
    """
    reading = reading or Reading()
    path = locate(folder, name)
    if path is None:
        raise _err(
            folder / f"{name}.parquet", f"missing file (expected {name}.parquet or {name}.csv)"
        )
    try:
        if path.suffix == ".parquet":  # read by polars from the file (no copy in memory)
            with path.open("rb") as fh:
                empty = not fh.read(1)
        else:
            raw = path.read_bytes()
    except OSError as exc:
        raise _err(path, f"unreadable file ({_os_reason(exc)})") from None
    notes: list[Normalisation] = []
    if path.suffix == ".parquet":
        if empty:
            raise _err(path, "empty file")
        df, header_ok = _read_parquet(path), True
    else:
        df, notes, header_ok = _read_csv(path, name, raw)
    if df.height == 0:
        raise _err(path, "empty file (no rows)")
    df, renamed = _rename(df, path, name)
    notes = renamed + notes
    _check_columns(df, name, path, header_ok)
    try:
        typed, more = coerce(df, name, path, reading)
    except SourceValidationError:
        raise
    except _FAILURES as exc:  # a value no rule foresaw: still a clear, value-free message
        raise _err(path, f"unreadable values ({type(exc).__name__})") from None
    notes += more
    refuse_if_strict(path, notes, reading)
    return SourceFile(typed, path, notes)


def read_source_file(
    folder: Path, name: str, reading: Reading | None = None
) -> tuple[pl.DataFrame, Path]:
    """:func:`read_source` as ``(frame, path)``."""
    f = read_source(folder, name, reading)
    return f.df, f.path


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except _FAILURES as exc:  # polars raises several kinds (and panics) for corrupt files
        raise _err(
            path, f"unreadable parquet (truncated or corrupt: {type(exc).__name__})"
        ) from None


def _csv_fields(line: str) -> list[str]:
    rows = list(csv.reader([line]))
    return rows[0] if rows else []


def _read_csv(path: Path, name: str, raw: bytes) -> tuple[pl.DataFrame, list[Normalisation], bool]:
    """The CSV as text columns, the normalisations of its bytes, and whether its header can be
    shown (not when the header row has more fields than the first row: it holds values)."""
    if not raw.strip():
        raise _err(path, "empty file")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _err(path, "encoding (file is not UTF-8; save it as UTF-8)") from None
    notes: list[Normalisation] = []
    if b"\r" in raw and b"\n" not in raw:  # old Mac line endings
        notes.append(Normalisation(None, "cr_line_endings", raw.count(b"\r")))
        raw = raw.replace(b"\r", b"\n")
    text = raw.decode("utf-8").removeprefix("\ufeff")
    first, _, rest = text.partition("\n")
    header = first.removesuffix("\r")
    if "," not in header and any(d in header for d in (";", "\t", "|")):
        raise _err(path, "delimiter (expected a comma-separated file)")
    try:
        cells = _csv_fields(header)
        row1 = _csv_fields(rest.partition("\n")[0].removesuffix("\r")) if rest else []
    except csv.Error:
        raise _err(
            path, "unreadable CSV (a malformed header row: a NUL byte or a stray quote)"
        ) from None
    names = [column_name(c) for c in cells]
    expected = set(ALL_SCHEMAS[name].columns)
    if not set(names) & expected:
        raise _header_missing(path, name)
    seen: set[str] = set()
    dups = sorted({c for c in names if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    if dups:
        raise SourceValidationError(
            str(path), [Problem(c if c in expected else None, "duplicate_column", 0) for c in dups]
        )
    if not raw.endswith((b"\n", b"\r")) and "\n" in text.rstrip("\n"):
        try:
            last = _csv_fields(text.rpartition("\n")[2])
        except csv.Error:
            last = []
        if len(last) != len(cells):
            raise _err(path, "truncated file (the last line is incomplete)")
    try:
        df = pl.read_csv(io.BytesIO(raw), infer_schema=False, encoding="utf8")
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):
            raise _err(
                path, "ragged rows (a row has more fields than the header: a stray comma or quote)"
            ) from None
        raise _err(path, f"unreadable CSV ({type(exc).__name__})") from None
    except _FAILURES as exc:
        raise _err(path, f"unreadable CSV ({type(exc).__name__})") from None
    if len(df.columns) != len(cells):
        raise _err(path, "unreadable CSV (the header row could not be split into columns)")
    return df, notes, not row1 or len(cells) <= len(row1)


def _header_missing(path: Path, name: str) -> SourceValidationError:
    # Nothing recognisable: most likely a CSV without its header row, whose first row (values,
    # i.e. identifiers) became the header. Never echo it.
    n = len(ALL_SCHEMAS[name].columns)
    return _err(
        path, f"header (none of the {n} expected column names found: is the header row missing?)"
    )


def _rename(df: pl.DataFrame, path: Path, name: str) -> tuple[pl.DataFrame, list[Normalisation]]:
    """Column names in capitals or with spaces, as the documented names (counted)."""
    names = [column_name(c) for c in df.columns]
    if names == df.columns:
        return df, []
    expected = set(ALL_SCHEMAS[name].columns)
    seen: set[str] = set()
    dups = sorted({c for c in names if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    if dups:
        raise SourceValidationError(
            str(path), [Problem(c if c in expected else None, "duplicate_column", 0) for c in dups]
        )
    notes = [
        Normalisation(new if new in expected else None, "header", 1)
        for old, new in zip(df.columns, names, strict=True)
        if old != new
    ]
    return df.rename(dict(zip(df.columns, names, strict=True))), notes


def _check_columns(df: pl.DataFrame, name: str, path: Path, header_ok: bool) -> None:
    """Missing and unexpected columns (an unexpected name is shown only if it is a name)."""
    expected = expected_types(name)
    missing = [c for c in expected if c not in df.columns]
    extra = [c for c in df.columns if c not in expected]
    if len(missing) == len(expected):
        raise _header_missing(path, name)
    problems = [Problem(c, "missing_column", 0) for c in missing]
    hidden = [c for c in extra if not header_ok or not _shown(c)]
    problems += [Problem(c, "unexpected_column", 0) for c in extra if c not in hidden]
    if hidden:
        why = (
            "whose name looks like a value, not shown"
            if header_ok
            else "not shown: the header row has more fields than the first row; is the line "
            "break after the header missing?"
        )
        problems.append(Problem(None, f"unexpected_column ({len(hidden)} column(s) {why})", 0))
    if problems:
        raise SourceValidationError(str(path), problems)
