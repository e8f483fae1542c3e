"""pandera (polars) schemas of the identifiable sources, and their row-level rules.

Used to validate what the generator writes and what users bring (``analysis build --sources``).
Failures are reported by file, column, rule and row count: never by value, since the values are
identifiers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandera.polars as pa
import polars as pl
from pandera.constants import CHECK_OUTPUT_KEY

from analysis.config import Config
from analysis.domain.dates import EXTRACT_END
from analysis.domain.oen import oen_is_valid
from analysis.domain.vocab import (
    GENDER_IDENTITIES,
    GRADES,
    PLACEMENT_TYPES,
    RACES,
    REGIONS,
    SERVICE_TYPES,
)

# The panel the extract covers is the configuration's (defined once, in ``Config.school_years``).
SCHOOL_YEARS: tuple[str, ...] = Config.model_fields["school_years"].default
POSTAL_RE = r"^[KLMNP]\d[ABCEGHJKLMNPRSTVWXYZ] \d[ABCEGHJKLMNPRSTVWXYZ]\d$"
EARLIEST_BIRTH = dt.date(1995, 1, 1)
EARLIEST_EVENT = dt.date(2000, 1, 1)
# Age on 1 September of the school year: JK starts at 3 (born that calendar year at the latest);
# OnSIS keeps students to 21.
MIN_AGE_SEPT1, MAX_AGE_SEPT1 = 2, 22


def _oen_check() -> pa.Check:
    # A missing OEN is the ``missing_value`` rule's business (or allowed), not this one's.
    def fn(data: pa.PolarsData) -> pl.LazyFrame:
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | oen_is_valid(c).fill_null(False))

    return pa.Check(fn, name="oen_check_digit", error="oen_check_digit")


def _date_between(lo: dt.date, hi: dt.date, rule: str) -> pa.Check:
    return pa.Check(
        lambda d: d.lazyframe.select(pl.col(d.key).is_null() | pl.col(d.key).is_between(lo, hi)),
        name=rule,
        error=rule,
    )


def _end_after_start(start: str, end: str) -> pa.Check:
    return pa.Check(
        lambda d: d.lazyframe.select(pl.col(end).is_null() | (pl.col(end) >= pl.col(start))),
        name=f"{end}_not_before_{start}",
        error=f"{end}_not_before_{start}",
    )


def _unique(*key: str) -> pa.Check:
    """Every row whose complete key occurs more than once fails (all copies: none can be preferred).

    Rows with a missing key part are left to ``missing_value``.
    """
    return pa.Check(
        lambda d: pl.LazyFrame({"ok": ~duplicated_key(d.lazyframe, key)}),
        name="duplicate_key",
        error="duplicate_key",
    )


def duplicated_key(lf: pl.LazyFrame, key: tuple[str, ...]) -> pl.Series:
    """Boolean per row: its key is complete and occurs in another row too.

    Rows are compared first by a 64-bit hash of the key (sorted: a few bytes a row, where a hash
    table of 12 M string keys takes gigabytes), then exactly among the rows whose hash repeats,
    so a hash collision never flags a row.
    """
    h = lf.select(pl.struct(list(key)).hash().alias("h")).collect().to_series()
    s = h.sort()
    repeated = s.filter((s == s.shift(1)).fill_null(False)).unique()
    out = np.zeros(h.len(), dtype=bool)
    if repeated.len():
        rows = h.is_in(repeated.implode()).arg_true()
        complete = pl.all_horizontal([pl.col(k).is_not_null() for k in key])
        cand = lf.select(*key).collect()[rows]
        dup = cand.select(complete & pl.struct(list(key)).is_duplicated()).to_series()
        out[rows.filter(dup).to_numpy()] = True
    return pl.Series("duplicated", out)


def _age_for_school_year(lo: int, hi: int) -> pa.Check:
    """Age on 1 September of the school year in ``[lo, hi)``: no pupil born after the year began."""
    sept1 = pl.date(pl.col("school_year").str.slice(0, 4).cast(pl.Int32, strict=False), 9, 1)
    age = (sept1 - pl.col("birth_date")).dt.total_days() / 365.25
    return pa.Check(
        lambda d: d.lazyframe.select(age.is_null() | age.is_between(lo, hi, closed="left")),
        name="age_for_school_year",
        error="age_for_school_year",
    )


def _isin(values: tuple[str, ...]) -> pa.Check:
    return pa.Check.isin(list(values))


def _school_year() -> pa.Check:
    return pa.Check(
        lambda d: d.lazyframe.select(pl.col(d.key).is_in(list(SCHOOL_YEARS))),
        name="school_year_in_range",
        error="school_year_in_range",
    )


_birth = _date_between(EARLIEST_BIRTH, EXTRACT_END, "birth_date_in_range")
_event = _date_between(EARLIEST_EVENT, EXTRACT_END, "event_date_in_range")

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "onsis_enrolment": pa.DataFrameSchema(
        {
            "oen": pa.Column(pl.Utf8, checks=[_oen_check()]),
            "first_name": pa.Column(pl.Utf8, checks=[pa.Check.str_length(1, 60)]),
            "last_name": pa.Column(pl.Utf8, checks=[pa.Check.str_length(1, 80)]),
            "birth_date": pa.Column(pl.Date, checks=[_birth]),
            "gender": pa.Column(pl.Utf8, checks=[_isin(("female", "male", "another"))]),
            "postal_code": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(POSTAL_RE)]),
            "board_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^B\d{2}$")]),
            "school_id": pa.Column(pl.Utf8),
            "school_year": pa.Column(pl.Utf8, checks=[_school_year()]),
            "grade": pa.Column(pl.Utf8, checks=[_isin(GRADES)]),
            "days_enrolled": pa.Column(pl.Int16, checks=[pa.Check.in_range(1, 200)]),
            "days_absent": pa.Column(pl.Int16, checks=[pa.Check.ge(0)]),
            "credits_earned": pa.Column(
                pl.Float64, nullable=True, checks=[pa.Check.in_range(0, 12)]
            ),
        },
        checks=[
            pa.Check(
                lambda d: d.lazyframe.select(pl.col("days_absent") <= pl.col("days_enrolled")),
                name="days_absent_not_above_days_enrolled",
                error="days_absent_not_above_days_enrolled",
            ),
            _age_for_school_year(MIN_AGE_SEPT1, MAX_AGE_SEPT1),
            _unique("oen", "school_year"),
        ],
        strict=True,
        name="onsis_enrolment",
    ),
    "eqao_results": pa.DataFrameSchema(
        {
            "oen": pa.Column(pl.Utf8, checks=[_oen_check()]),
            "school_year": pa.Column(pl.Utf8, checks=[_school_year()]),
            "board_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^B\d{2}$")]),
            "grade": pa.Column(pl.Int8, checks=[pa.Check.isin([3, 6, 9, 10, 11, 12])]),
            "assessment": pa.Column(
                pl.Utf8,
                checks=[
                    _isin(
                        (
                            "g3_reading",
                            "g3_writing",
                            "g3_math",
                            "g6_reading",
                            "g6_writing",
                            "g6_math",
                            "g9_math",
                            "osslt",
                        )
                    )
                ],
            ),
            "participation": pa.Column(
                pl.Utf8, checks=[_isin(("participated", "absent", "exempt", "not_participating"))]
            ),
            "level": pa.Column(pl.Int8, nullable=True, checks=[pa.Check.in_range(1, 4)]),
            "osslt_result": pa.Column(pl.Utf8, nullable=True, checks=[_isin(("pass", "fail"))]),
            "first_time": pa.Column(pl.Boolean),
            "g9_stream": pa.Column(
                pl.Utf8, nullable=True, checks=[_isin(("academic", "applied", "destreamed"))]
            ),
        },
        checks=[_unique("oen", "school_year", "assessment")],
        strict=True,
        name="eqao_results",
    ),
    "cpin_persons": pa.DataFrameSchema(
        {
            "cw_record_id": pa.Column(pl.Utf8),
            "society_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^S\d{2}$")]),
            "first_name": pa.Column(pl.Utf8, checks=[pa.Check.str_length(1, 60)]),
            "last_name": pa.Column(pl.Utf8, checks=[pa.Check.str_length(1, 80)]),
            "birth_date": pa.Column(pl.Date, checks=[_birth]),
            "oen": pa.Column(pl.Utf8, nullable=True, checks=[_oen_check()]),
            "postal_code": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(POSTAL_RE)]),
            "gender_identity": pa.Column(pl.Utf8, checks=[_isin(GENDER_IDENTITIES)]),
            "race": pa.Column(pl.Utf8, nullable=True, checks=[_isin(RACES)]),
            "born_outside_canada": pa.Column(pl.Boolean, nullable=True),
            "first_language": pa.Column(
                pl.Utf8, nullable=True, checks=[_isin(("english", "french", "other"))]
            ),
            "human_trafficking_risk": pa.Column(pl.Boolean),
        },
        checks=[_unique("cw_record_id")],
        strict=True,
        name="cpin_persons",
    ),
    "cpin_services": pa.DataFrameSchema(
        {
            "episode_id": pa.Column(pl.Utf8),
            "cw_record_id": pa.Column(pl.Utf8),
            "society_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^S\d{2}$")]),
            "service_type": pa.Column(pl.Utf8, checks=[_isin(SERVICE_TYPES)]),
            "start_date": pa.Column(pl.Date, checks=[_event]),
            "end_date": pa.Column(pl.Date, nullable=True, checks=[_event]),
        },
        checks=[_end_after_start("start_date", "end_date"), _unique("episode_id")],
        strict=True,
        name="cpin_services",
    ),
    "cpin_placements": pa.DataFrameSchema(
        {
            "placement_id": pa.Column(pl.Utf8),
            "episode_id": pa.Column(pl.Utf8),
            "cw_record_id": pa.Column(pl.Utf8),
            "society_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^S\d{2}$")]),
            "placement_type": pa.Column(pl.Utf8, checks=[_isin(PLACEMENT_TYPES)]),
            "start_date": pa.Column(pl.Date, checks=[_event]),
            "end_date": pa.Column(pl.Date, nullable=True, checks=[_event]),
        },
        checks=[_end_after_start("start_date", "end_date"), _unique("placement_id")],
        strict=True,
        name="cpin_placements",
    ),
    "cpin_cases": pa.DataFrameSchema(
        {
            "case_id": pa.Column(pl.Utf8),
            "society_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^S\d{2}$")]),
            "case_kind": pa.Column(
                pl.Utf8, checks=[_isin(("investigation", "ongoing_protection"))]
            ),
            "closed_date": pa.Column(pl.Date, checks=[_event]),
            "recurrence_date": pa.Column(pl.Date, nullable=True, checks=[_event]),
            "recurrence_verified": pa.Column(pl.Boolean, nullable=True),
        },
        checks=[_end_after_start("closed_date", "recurrence_date"), _unique("case_id")],
        strict=True,
        name="cpin_cases",
    ),
    "cpin_onlac": pa.DataFrameSchema(
        {
            "assessment_id": pa.Column(pl.Utf8),
            "cw_record_id": pa.Column(pl.Utf8),
            "society_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^S\d{2}$")]),
            "assessment_date": pa.Column(pl.Date, checks=[_event]),
            **{
                f"item_{i}": pa.Column(pl.Int8, checks=[pa.Check.in_range(0, 2)])
                for i in range(1, 5)
            },
        },
        checks=[_unique("assessment_id")],
        strict=True,
        name="cpin_onlac",
    ),
}

SOURCE_NAMES = tuple(SCHEMAS)

# The reference tables a user's extract may bring (``boards``, ``societies``): checked like the
# sources. "unknown" is what the build writes for a table derived from the ids alone.
_REGION = _isin((*REGIONS, "unknown"))
_LANGUAGE = _isin(("en", "fr"))
REFERENCE_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "boards": pa.DataFrameSchema(
        {
            "board_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^B\d{2}$")]),
            "board_name": pa.Column(pl.Utf8, checks=[pa.Check.str_length(1, 200)]),
            "board_type": pa.Column(pl.Utf8, checks=[_isin(("public", "catholic", "unknown"))]),
            "language": pa.Column(pl.Utf8, checks=[_LANGUAGE]),
            "region": pa.Column(pl.Utf8, checks=[_REGION]),
        },
        checks=[_unique("board_id")],
        strict=True,
        name="boards",
    ),
    "societies": pa.DataFrameSchema(
        {
            "society_id": pa.Column(pl.Utf8, checks=[pa.Check.str_matches(r"^S\d{2}$")]),
            "society_name": pa.Column(pl.Utf8, checks=[pa.Check.str_length(1, 200)]),
            "indigenous": pa.Column(pl.Boolean),
            "faith_based": pa.Column(pl.Boolean),
            "region": pa.Column(pl.Utf8, checks=[_REGION]),
            "language": pa.Column(pl.Utf8, checks=[_LANGUAGE]),
        },
        checks=[_unique("society_id")],
        strict=True,
        name="societies",
    ),
}
REFERENCE_NAMES = tuple(REFERENCE_SCHEMAS)
# Every table the validation reads, sources first.
ALL_SCHEMAS: dict[str, pa.DataFrameSchema] = {**SCHEMAS, **REFERENCE_SCHEMAS}

# The key of each source (``duplicate_key``), and the column a table-level rule is reported under.
KEYS: dict[str, tuple[str, ...]] = {
    "onsis_enrolment": ("oen", "school_year"),
    "eqao_results": ("oen", "school_year", "assessment"),
    "cpin_persons": ("cw_record_id",),
    "cpin_services": ("episode_id",),
    "cpin_placements": ("placement_id",),
    "cpin_cases": ("case_id",),
    "cpin_onlac": ("assessment_id",),
    "boards": ("board_id",),
    "societies": ("society_id",),
}
_TABLE_RULE_COLUMN = {
    "end_date_not_before_start_date": "end_date",
    "recurrence_date_not_before_closed_date": "recurrence_date",
    "days_absent_not_above_days_enrolled": "days_absent",
    "age_for_school_year": "birth_date",
}


class SourceValidationError(ValueError):
    """A source file breaks its schema. The message names file, column, rule and row count only."""

    def __init__(self, file: str, problems: list[Problem], *, note: str = ""):
        self.file = file
        self.problems = problems
        self.note = note
        self.errors: list[SourceValidationError] = [self]
        head = f"{file}{f' ({note})' if note else ''}: {len(problems)} rule(s) broken"
        super().__init__("\n".join([head] + [f"  - {p.describe()}" for p in problems]))

    @classmethod
    def combine(cls, errors: list[SourceValidationError]) -> SourceValidationError:
        """One error listing the problems of several files (each file's block in order)."""
        if len(errors) == 1:
            return errors[0]
        out = cls(errors[0].file, [p for e in errors for p in e.problems])
        out.errors = list(errors)
        out.args = (
            f"{len(errors)} source files have problems\n" + "\n".join(str(e) for e in errors),
        )
        return out


@dataclass(frozen=True)
class Problem:
    """One broken rule: where, which rule, how many rows (never which values)."""

    column: str | None
    rule: str
    rows: int
    row_index: tuple[int, ...] = ()

    @property
    def file_level(self) -> bool:
        """Structural problems (missing/extra columns, wrong types) concern the whole file."""
        return not self.row_index

    def describe(self) -> str:
        if self.column is None:
            where = "table"
        elif ", " in self.column:
            where = f"columns '{self.column}'"
        else:
            where = f"column '{self.column}'"
        what = "the file" if self.file_level and self.rows == 0 else f"{self.rows} row(s)"
        return f"{where}: rule '{self.rule}' broken by {what}"


def check_source(name: str, df: pl.DataFrame) -> list[Problem]:
    """Validate ``df`` against the schema of source (or reference table) ``name``; return every
    broken rule.

    Row-level problems carry the 0-based indices of the rows that broke them; a problem without
    rows (a missing column, a wrong type) concerns the whole file.

    When the frame has exactly the schema's columns and types (what :mod:`analysis.validate`
    passes on after coercing), each pandera check is run on its own and only its pass/fail
    column is kept (:func:`_row_problems`); otherwise ``schema.validate`` reports the
    structural problems too (:func:`_schema_problems`). Both give the same problems, in the
    same order.
    """
    problems = _row_problems(name, df)
    return _schema_problems(name, df) if problems is None else problems


def _schema_problems(name: str, df: pl.DataFrame) -> list[Problem]:
    """Every broken rule, from pandera's own ``validate(lazy=True)`` (failure cases and all)."""
    schema = ALL_SCHEMAS[name]
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        problems = []
        for (col, check), grp in fc.group_by(["column", "check"], maintain_order=True):
            idx = tuple(sorted({int(i) for i in grp["index"].to_list() if i is not None}))
            problems.append(_problem(name, None if col is None else str(col), str(check), idx))
        return problems
    except pa.errors.SchemaError as exc:  # pragma: no cover - lazy=True collects these above
        return [Problem(column=None, rule=_rule_name(str(exc.check)), rows=0)]
    return []


def _problem(name: str, column: str | None, check: str, idx: tuple[int, ...]) -> Problem:
    rule = _rule_name(check)
    if column == ALL_SCHEMAS[name].name:  # a table-level check: report it under its column(s)
        column = ", ".join(KEYS[name]) if rule == "duplicate_key" else _TABLE_RULE_COLUMN.get(rule)
    return Problem(column=column, rule=rule, rows=len(idx), row_index=idx)


def _plain_structure(schema: pa.DataFrameSchema, df: pl.DataFrame) -> bool:
    """``df`` has exactly the schema's columns and types, and the schema only checks values."""
    if set(df.columns) != set(schema.columns) or len(df.columns) != len(schema.columns):
        return False
    if schema.ordered and list(df.columns) != list(schema.columns):
        return False
    if schema.unique or schema.coerce or getattr(schema, "add_missing_columns", False):
        return False
    for col, c in schema.columns.items():
        if c.dtype is None or df.schema[col] != c.dtype.type:
            return False
        if c.unique or c.coerce or c.regex or c.default is not None or c.drop_invalid_rows:
            return False
    return True


def _check_name(check: pa.Check) -> str:
    """The check's identifier in pandera's failure cases."""
    return str(check.error if check.error is not None else check.name or check)


def _row_problems(name: str, df: pl.DataFrame) -> list[Problem] | None:
    """The row-level problems of a structurally sound frame, or ``None`` when the frame needs
    pandera's full validation (structural problems, or a check that does not give a row mask).

    Runs the same checks as ``schema.validate`` in the same order (per column: not-nullable,
    then its checks; then the table checks), through each check's own pandera backend, but keeps
    only the indices of the failing rows: no failure-case frames (which copy every column of
    every failing row) are built.
    """
    schema = ALL_SCHEMAS[name]
    if not _plain_structure(schema, df):
        return None
    lf = df.lazy()
    runs: list[tuple[str, str, pl.LazyFrame]] = []
    for col, c in schema.columns.items():
        if not c.nullable:
            ok = pl.col(col).is_not_null()
            if df.schema[col] in (pl.Float32, pl.Float64):
                ok = ok & pl.col(col).is_not_nan()
            runs.append((col, "not_nullable", lf.select(ok.alias(CHECK_OUTPUT_KEY))))
        for check in c.checks:
            if check.raise_warning:
                return None
            try:
                res = check(lf, col)
            except Exception:  # pandera reports a failing check function as a file problem
                return None
            if not isinstance(res.check_output, pl.LazyFrame):
                return None  # pragma: no cover - a scalar check result
            runs.append((col, _check_name(check), res.check_output))
    for check in schema.checks:
        if check.raise_warning:
            return None
        try:
            res = check(lf)
        except Exception:
            return None
        if not isinstance(res.check_output, pl.LazyFrame):
            return None  # pragma: no cover - a scalar check result
        runs.append((schema.name, _check_name(check), res.check_output))
    failing = pl.collect_all(
        [out.select(pl.col(CHECK_OUTPUT_KEY).not_().arg_true()) for _, _, out in runs]
    )
    found: dict[tuple[str, str], set[int]] = {}
    for (col, check, _), rows in zip(runs, failing, strict=True):
        idx = rows.to_series()
        if idx.len():
            found.setdefault((col, check), set()).update(idx.to_list())
    return [_problem(name, col, check, tuple(sorted(ix))) for (col, check), ix in found.items()]


def _rule_name(check: str) -> str:
    if check.startswith("str_matches"):
        return "format"
    if check.startswith("isin"):
        return "allowed_values"
    if check.startswith("in_range") or check.startswith("greater_than"):
        return "range"
    if check.startswith("str_length"):
        return "length"
    if check == "multiple_fields_uniqueness" or check.startswith("field_uniqueness"):
        return "duplicate_key"
    if check.startswith("column_in_dataframe"):
        return "missing_column"
    if check.startswith("column_in_schema"):
        return "unexpected_column"
    if check.startswith("dtype"):
        return f"type ({check.removeprefix('dtype(').rstrip(')')} expected)"
    if check == "not_nullable":
        return "missing_value"
    return check


def validate_source(name: str, df: pl.DataFrame, file: str) -> None:
    """Raise :class:`SourceValidationError` naming ``file`` if ``df`` breaks any rule."""
    problems = check_source(name, df)
    if problems:
        raise SourceValidationError(file, problems)
