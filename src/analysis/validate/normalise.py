"""The normalisations of the reading: what common exports write differently, read as documented.

Each one is unambiguous (it changes how a value is written, never which value it is), is counted
(file, column, kind, number of values) in ``quarantine/validation_report.json``, the manifest and
the methodology page, and is refused instead under ``validation.reading: strict``. Anything that
could be read two ways (a date written 03/04/2019, an OEN stored as a number) is refused, with a
message saying how to write it.

=====================  ===========================================================  ===========
kind                   what is read as documented                                   applies to
=====================  ===========================================================  ===========
``header``             a column name in capitals or with spaces (``OEN``,           CSV, parquet
                       `` school_year``, ``Birth Date``)
``cr_line_endings``    old Mac line endings (CR only)                               CSV
``whitespace``         spaces around an id, a code, a number, a date or a boolean   CSV, parquet
                       (names are kept as written)
``missing_value``      an agreed missing-value token (``validation.missing_values``, CSV, parquet
                       default ``""`` and ``NULL``) read as missing
``integral_float``     a whole number written as a decimal (``3.0``) in a           CSV, parquet
                       whole-number column
``categorical``        a categorical (dictionary) text column                       parquet
``midnight_datetime``  a timestamp at midnight, with or without a time zone, in a   CSV, parquet
                       date column (read as its date, in its own time zone)
``null_column``        a column stored without a type (every value missing)         parquet
=====================  ===========================================================  ===========
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analysis.config import Config
from analysis.domain.schemas import ALL_SCHEMAS, Problem, SourceValidationError

# kind -> what the user is told (strict reading refuses with it; the docs list the same text)
NORMALISATIONS: dict[str, str] = {
    "header": "a column name in capitals or with spaces, read as the documented name",
    "cr_line_endings": "old Mac line endings (CR only), read as line breaks",
    "whitespace": "spaces around an id, code, number or date, removed",
    "missing_value": "a missing-value token (validation.missing_values), read as missing",
    "integral_float": "a whole number written as a decimal (3.0), read as a whole number",
    "categorical": "a categorical (dictionary) column, read as text",
    "midnight_datetime": "a timestamp at midnight, read as its date",
    "null_column": "a column stored without a type (every value missing), read as missing",
}
# Kinds that concern the file or a column as a whole, not values.
_FILE_KINDS = ("header", "cr_line_endings", "null_column", "categorical")

# Text columns kept exactly as written: people's and organisations' names.
NAME_COLUMNS = frozenset({"first_name", "last_name", "board_name", "society_name"})

_BOOL = {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False}
_INTEGRAL = r"^[+-]?\d+\.0*$"
_MIDNIGHT = r"^(\d{4}-\d{2}-\d{2})[T ]00:00(?::00(?:\.0+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
_DATE_LIKE = r"^\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}$"
TYPE_RULE = "type (value does not convert)"
DATE_RULE = (
    "date_format (not YYYY-MM-DD: in a date such as 03/04/2019 the order of day and month is "
    "ambiguous; write dates as YYYY-MM-DD)"
)


@dataclass(frozen=True)
class Normalisation:
    """One kind of normalisation applied to one column (or the file): how many values."""

    column: str | None
    kind: str
    values: int

    def as_dict(self) -> dict[str, object]:
        return {"column": self.column, "normalisation": self.kind, "values": self.values}


@dataclass(frozen=True)
class Reading:
    """How files are read: normalised (the default) or strictly."""

    strict: bool = False
    missing_values: tuple[str, ...] = ("", "NULL")

    @classmethod
    def of(cls, cfg: Config) -> Reading:
        v = cfg.validation
        return cls(strict=v.reading == "strict", missing_values=tuple(v.missing_values))


def column_name(name: str) -> str:
    """A header cell as a column name: no surrounding spaces, lower case, inner spaces as ``_``."""
    return "_".join(name.split()).lower()


def expected_types(name: str) -> dict[str, pl.DataType]:
    return {col: c.dtype.type for col, c in ALL_SCHEMAS[name].columns.items()}


def refuse_if_strict(path: Path, notes: list[Normalisation], reading: Reading) -> None:
    """Under strict reading, a file that needed a normalisation is a file-level problem."""
    if reading.strict and notes:
        raise SourceValidationError(
            str(path),
            [
                Problem(
                    n.column,
                    f"strict reading ({NORMALISATIONS[n.kind]}; "
                    "validation.reading: normalise accepts it)",
                    0 if n.kind in _FILE_KINDS else n.values,
                )
                for n in notes
            ],
        )


def _column_dtypes(
    df: pl.DataFrame, expected: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, list[Normalisation]]:
    """Categorical columns as text and untyped (all-missing) columns as the expected type."""
    notes: list[Normalisation] = []
    fix: list[pl.Expr] = []
    for col, typ in expected.items():
        src = df.schema[col]
        if isinstance(src, pl.Categorical | pl.Enum):
            notes.append(Normalisation(col, "categorical", df.height - df[col].null_count()))
            fix.append(pl.col(col).cast(pl.String))
        elif src == pl.Null:
            notes.append(Normalisation(col, "null_column", df.height))
            fix.append(pl.lit(None, dtype=typ).alias(col))
    return (df.with_columns(fix) if fix else df), notes


def _padded(df: pl.DataFrame, expected: dict[str, pl.DataType]) -> dict[str, int]:
    """Values with spaces around them, per text column that is stripped (not names)."""
    cols = [
        col
        for col, typ in expected.items()
        if df.schema[col] == pl.String and (typ != pl.String or col not in NAME_COLUMNS)
    ]
    if not cols:
        return {}
    got = df.select(pl.col(c).str.contains(r"^\s|\s$").sum() for c in cols).row(0)
    return {c: int(n or 0) for c, n in zip(cols, got, strict=True)}


def _is_midnight(df: pl.DataFrame, col: str) -> bool:
    """Every value of a timestamp column is at midnight in its own time zone."""
    c = pl.col(col)
    return bool(df.select((c.dt.time() == pl.time(0)).fill_null(True).all()).item())


def coerce(
    df: pl.DataFrame, name: str, path: Path, reading: Reading
) -> tuple[pl.DataFrame, list[Normalisation]]:
    """Cast the columns (already named as the schema's) to the schema's types, normalising
    (what was normalised is returned; :func:`refuse_if_strict` decides on it).

    Values that do not convert (text in a number column, a date not written YYYY-MM-DD) become
    row problems: a ``__cast_error`` column names the first column of the row that failed and
    ``__cast_rule`` the rule it broke. A column of a type that cannot hold the expected one (an
    OEN stored as a number, timestamps with times of day in a date column) is a file-level problem.
    """
    expected = expected_types(name)
    df, notes = _column_dtypes(df, expected)
    tokens = list(reading.missing_values)
    casts: list[pl.Expr] = []
    counts: list[tuple[str, str, pl.Expr]] = []
    failed: dict[str, tuple[pl.Expr, pl.Expr | None]] = {}  # col -> (lost, is a date format)
    padded = _padded(df, expected)
    for col, typ in expected.items():
        src = df.schema[col]
        c = pl.col(col)
        if src == pl.String:
            s = c
            if padded.get(col):  # stripped only where needed: no copy of a clean column
                notes.append(Normalisation(col, "whitespace", padded[col]))
                s = c.str.strip_chars()
            if tokens:
                counts.append((col, "missing_value", s.is_in(tokens).sum()))
                s = pl.when(s.is_in(tokens)).then(None).otherwise(s)
            given = s.is_not_null() if tokens else s.is_not_null() & (s != "")
            if typ == pl.String:
                casts.append(s.alias(col))
                continue
            if typ == pl.Boolean:
                out = s.str.to_lowercase().replace_strict(
                    _BOOL, default=None, return_dtype=pl.Boolean
                )
                failed[col] = (given, None)
            elif typ == pl.Date:
                midnight = s.str.extract(_MIDNIGHT, 1).str.to_date("%Y-%m-%d", strict=False)
                iso = s.str.to_date("%Y-%m-%d", strict=False)
                counts.append(
                    (col, "midnight_datetime", (iso.is_null() & midnight.is_not_null()).sum())
                )
                out = pl.coalesce(iso, midnight)
                failed[col] = (given, s.str.contains(_DATE_LIKE))
            elif typ.is_integer():
                whole = s.str.contains(_INTEGRAL)
                counts.append((col, "integral_float", whole.sum()))
                out = (
                    pl.when(whole)
                    .then(s.str.replace(r"\.0*$", ""))
                    .otherwise(s)
                    .cast(typ, strict=False)
                )
                failed[col] = (given, None)
            else:
                out = s.cast(typ, strict=False)
                failed[col] = (given, None)
            casts.append(out.alias(col))
        elif src == typ:
            casts.append(c)
        elif src.is_numeric() and typ.is_numeric():
            if src.is_float() and typ.is_integer():  # 2.5 days is not a whole number of days
                counts.append((col, "integral_float", c.is_not_null().sum()))
                casts.append(pl.when(c == c.round()).then(c.cast(typ, strict=False)).alias(col))
                failed[col] = (c.is_not_null(), None)
            else:
                casts.append(c.cast(typ, strict=False).alias(col))
                failed[col] = (c.is_not_null(), None)
        elif isinstance(src, pl.Datetime) and typ == pl.Date and _is_midnight(df, col):
            counts.append((col, "midnight_datetime", c.is_not_null().sum()))
            casts.append(c.dt.date().alias(col))  # a date stored as midnight timestamps
        elif isinstance(src, pl.Datetime) and typ == pl.Date:
            raise SourceValidationError(
                str(path),
                [
                    Problem(
                        col,
                        f"type ({typ} expected, found {src} with times of day other than "
                        "midnight: store the dates as dates, or as midnight timestamps)",
                        0,
                    )
                ],
            )
        else:
            raise SourceValidationError(
                str(path), [Problem(col, f"type ({typ} expected, found {src})", 0)]
            )
    if counts:
        got = df.select(pl.struct(e.alias(str(i)) for i, (_, _, e) in enumerate(counts))).item()
        notes += [
            Normalisation(col, kind, int(got[str(i)]))
            for i, (col, kind, _) in enumerate(counts)
            if got[str(i)]
        ]
    out_df = df.select(casts)
    if failed:
        out_df = _cast_errors(df, out_df, failed)
    return out_df, notes


def _cast_errors(
    df: pl.DataFrame, out: pl.DataFrame, failed: dict[str, tuple[pl.Expr, pl.Expr | None]]
) -> pl.DataFrame:
    """Add ``__cast_error`` / ``__cast_rule`` when a value given in the file did not convert."""
    rules = df.select(
        **{
            col: pl.when(lost & out[col].is_null())
            .then(
                pl.lit(TYPE_RULE)
                if date_like is None
                else pl.when(date_like).then(pl.lit(DATE_RULE)).otherwise(pl.lit(TYPE_RULE))
            )
            .otherwise(None)
            for col, (lost, date_like) in failed.items()
        }
    )
    if not rules.select(pl.any_horizontal(pl.all().is_not_null()).any()).item():
        return out
    err = pl.lit(None, dtype=pl.String)
    rule = pl.lit(None, dtype=pl.String)
    for col in reversed(list(failed)):  # the first failing column names the row's problem
        hit = pl.col(col).is_not_null()
        err = pl.when(hit).then(pl.lit(col)).otherwise(err)
        rule = pl.when(hit).then(pl.col(col)).otherwise(rule)
    marks = rules.select(err.alias("__cast_error"), rule.alias("__cast_rule"))
    return out.with_columns(marks.to_series(0), marks.to_series(1))
