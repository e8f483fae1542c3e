"""Validate the sources on read: file-level problems stop the build, bad rows are quarantined.

Rules (``docs/validation.md`` lists them with what the user sees):

- A file that is missing, empty, unreadable (truncated or corrupt parquet, a CSV that is not UTF-8,
  not comma-separated, ragged or cut short), or lacks a column, has an unexpected one, or holds a
  column of the wrong type is a *file-level* problem: a clear error naming the file, the column
  and the rule, a non-zero exit, and nothing downstream written.
- A row that breaks a row rule (check digit, date range, allowed values, postal-code format,
  duplicate key, end before start, a reference to a record the extract lacks...) is quarantined
  with the rule it broke, if the configured policy allows it and if no more than
  ``validation.max_bad_row_share`` of the file's rows break rules; a larger share means the
  extract itself is wrong, and is a file-level problem.
- Every row is accounted for: rows in = rows passed on + rows quarantined.

No message ever contains a value from the files (values are identifiers): only file names,
column names, rule names and counts. A header that looks like data (a CSV without a header row)
is reported without its cells.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain.schemas import (
    SCHEMAS,
    SOURCE_NAMES,
    Problem,
    SourceValidationError,
    check_source,
)
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.stages import StageResult

log = logging.getLogger(__name__)

# (child table, column) -> (parent table, column): a row whose reference is absent from the
# parent file is quarantined (rule ``reference_to_<parent>``).
REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("cpin_services", "cw_record_id"): ("cpin_persons", "cw_record_id"),
    ("cpin_placements", "cw_record_id"): ("cpin_persons", "cw_record_id"),
    ("cpin_placements", "episode_id"): ("cpin_services", "episode_id"),
    ("cpin_onlac", "cw_record_id"): ("cpin_persons", "cw_record_id"),
}

# A header cell that looks like a value (digits, a date, a postal code) is never echoed.
_VALUE_LIKE = re.compile(r"\d{3}|\d{4}-\d{2}|[A-Za-z]\d[A-Za-z] ?\d|@|^\s*$")
_BOOL = {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False}


def _expected_types(name: str) -> dict[str, pl.DataType]:
    return {col: c.dtype.type for col, c in SCHEMAS[name].columns.items()}


def _err(path: Path | str, rule: str, column: str | None = None) -> SourceValidationError:
    return SourceValidationError(str(path), [Problem(column, rule, 0)])


def read_source_file(folder: Path, name: str) -> tuple[pl.DataFrame, Path]:
    """Read ``name`` from ``folder`` as parquet or CSV; raise a file-level error if unreadable."""
    pq, csv_path = folder / f"{name}.parquet", folder / f"{name}.csv"
    if pq.exists() and csv_path.exists():
        raise _err(
            folder / name, f"ambiguous source (both {pq.name} and {csv_path.name}; keep one)"
        )
    if pq.exists():
        path = pq
        if pq.stat().st_size == 0:
            raise _err(path, "empty file")
        try:
            df = pl.read_parquet(pq)
        except Exception as exc:  # polars raises several kinds for corrupt files
            raise _err(
                path, f"unreadable parquet (truncated or corrupt: {type(exc).__name__})"
            ) from None
    elif csv_path.exists():
        path = csv_path
        df = _read_csv(csv_path, name)
    else:
        raise _err(pq, f"missing file (expected {name}.parquet or {name}.csv)")
    if df.height == 0:
        raise _err(path, "empty file (no rows)")
    return _coerce(df, name, path), path


def _read_csv(path: Path, name: str) -> pl.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise _err(path, "empty file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _err(path, "encoding (file is not UTF-8; save it as UTF-8)") from None
    lines = text.lstrip("\ufeff").splitlines()
    header = lines[0]
    if "," not in header and any(d in header for d in (";", "\t", "|")):
        raise _err(path, "delimiter (expected a comma-separated file)")
    cells = next(csv.reader([header]))
    if not set(cells) & set(SCHEMAS[name].columns):
        raise _header_missing(path, name)
    seen: set[str] = set()
    dups = sorted({c for c in cells if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    if dups:
        expected = set(SCHEMAS[name].columns)
        raise SourceValidationError(
            str(path), [Problem(c if c in expected else None, "duplicate_column", 0) for c in dups]
        )
    if not raw.endswith((b"\n", b"\r")) and len(lines) > 1:
        last = list(csv.reader(io.StringIO(lines[-1])))
        if not last or len(last[0]) != len(cells):
            raise _err(path, "truncated file (the last line is incomplete)")
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8")
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):
            raise _err(
                path, "ragged rows (a row has more fields than the header: a stray comma or quote)"
            ) from None
        raise _err(path, f"unreadable CSV ({type(exc).__name__})") from None
    except Exception as exc:
        raise _err(path, f"unreadable CSV ({type(exc).__name__})") from None


def _header_missing(path: Path, name: str) -> SourceValidationError:
    # Nothing recognisable: most likely a CSV without its header row, whose first row (values,
    # i.e. identifiers) became the header. Never echo it.
    n = len(SCHEMAS[name].columns)
    return _err(
        path, f"header (none of the {n} expected column names found: is the header row missing?)"
    )


def _coerce(df: pl.DataFrame, name: str, path: Path) -> pl.DataFrame:
    """Cast columns to the schema's types; structural problems are file-level errors.

    Values that do not convert (text in a number column, a malformed date) become row problems,
    recorded in a ``__cast_error`` column naming the column that failed.
    """
    expected = _expected_types(name)
    missing = [c for c in expected if c not in df.columns]
    extra = [c for c in df.columns if c not in expected]
    if len(missing) == len(expected):
        raise _header_missing(path, name)
    problems = [Problem(c, "missing_column", 0) for c in missing]
    n_hidden = 0
    for name_ in extra:
        if _VALUE_LIKE.search(name_):
            n_hidden += 1
        else:
            problems.append(Problem(name_, "unexpected_column", 0))
    if n_hidden:
        problems.append(
            Problem(
                None,
                f"unexpected_column ({n_hidden} column(s) whose name looks "
                "like a value, not shown)",
                0,
            )
        )
    if problems:
        raise SourceValidationError(str(path), problems)
    casts: list[pl.Expr] = []
    lost_if: dict[str, pl.Expr] = {}
    for col, typ in expected.items():
        src = df.schema[col]
        c = pl.col(col)
        if src == typ:
            casts.append(c)
        elif src == pl.String:
            s = c.str.strip_chars()
            if typ == pl.Boolean:
                casts.append(
                    s.str.to_lowercase()
                    .replace_strict(_BOOL, default=None, return_dtype=pl.Boolean)
                    .alias(col)
                )
            elif typ == pl.Date:
                casts.append(s.str.to_date("%Y-%m-%d", strict=False).alias(col))
            else:
                casts.append(s.cast(typ, strict=False).alias(col))
            lost_if[col] = s.is_not_null() & (s != "")
        elif src.is_numeric() and typ.is_numeric():
            casts.append(c.cast(typ, strict=False).alias(col))
            lost_if[col] = c.is_not_null()
            if src.is_float() and typ.is_integer():  # 2.5 days is not a whole number of days
                lost_if[col] = c.is_not_null() & ((c != c.round()) | c.is_nan())
                casts[-1] = pl.when(c == c.round()).then(c.cast(typ, strict=False)).alias(col)
        elif (
            isinstance(src, pl.Datetime)
            and typ == pl.Date
            and bool(
                df.select(
                    (c.dt.date().cast(pl.Datetime(src.time_unit, src.time_zone)) == c)
                    .fill_null(True)
                    .all()
                ).item()
            )
        ):
            casts.append(c.dt.date().alias(col))  # a date stored as midnight timestamps
        else:
            raise _err(path, f"type ({typ} expected, found {src})", col)
    out = df.select(casts)
    lost = (
        df.select(**{col: e & out[col].is_null() for col, e in lost_if.items()})
        if lost_if
        else None
    )
    if lost is not None and lost.select(pl.any_horizontal(pl.all()).any()).item():
        err = pl.lit(None, dtype=pl.String)
        for col in reversed(list(lost_if)):  # the first failing column names the row's problem
            err = pl.when(lost[col]).then(pl.lit(col)).otherwise(err)
        out = out.with_columns(lost.select(err.alias("__cast_error")).to_series())
    return out


def cross_table_problems(frames: dict[str, pl.DataFrame]) -> dict[str, list[Problem]]:
    """Rows whose reference (e.g. a placement's ``episode_id``) is absent from the parent file."""
    out: dict[str, list[Problem]] = {}
    for (child, col), (parent, pcol) in REFERENCES.items():
        if child not in frames or parent not in frames:
            continue
        c, keys = frames[child][col], frames[parent][pcol].drop_nulls().unique()
        bad = (c.is_not_null() & ~c.is_in(keys.implode())).fill_null(False).to_numpy()
        if bad.any():
            idx = tuple(int(i) for i in np.flatnonzero(bad))
            out.setdefault(child, []).append(Problem(col, f"reference_to_{parent}", len(idx), idx))
    return out


def validate_frame(
    name: str, df: pl.DataFrame, path: str, cfg: Config, extra: list[Problem] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, list[Problem]]:
    """Split ``df`` into (passed, quarantined) rows, or raise a file-level error.

    ``extra`` are row problems found outside the schema (cross-table references). The quarantined
    frame keeps the source columns plus ``__row`` (1-based row number in the file) and ``__rule``
    (the first rule the row broke: ``"column: rule"``).
    """
    keep, q, problems = _split(name, df, path, cfg, extra)
    return (df if keep is None else df.filter(keep)), q, problems


def _split(
    name: str, df: pl.DataFrame, path: str, cfg: Config, extra: list[Problem] | None = None
) -> tuple[pl.Series | None, pl.DataFrame, list[Problem]]:
    """:func:`validate_frame`, with the passed rows as a mask (``None``: every row passed), so
    a large file is never copied whole in memory."""
    cast_problems: list[Problem] = []
    flagged = np.zeros(df.height, dtype=bool)
    rules: list[str] = []  # the first rule each flagged row broke, as an index into ``rules``
    rule_of = np.full(df.height, -1, dtype=np.int32)
    cast_rows: dict[str, set[int]] = {}
    if "__cast_error" in df.columns:
        err = df["__cast_error"]
        for col in err.drop_nulls().unique().sort().to_list():
            mask = (err == col).fill_null(False).to_numpy()
            idx = tuple(int(i) for i in np.flatnonzero(mask))
            cast_rows[col] = set(idx)
            cast_problems.append(Problem(col, "type (value does not convert)", len(idx), idx))
            rule_of[mask & ~flagged] = len(rules)
            rules.append(f"{col}: type")
            flagged |= mask
        df = df.drop("__cast_error")
    problems: list[Problem] = []
    for p in check_source(name, df):
        # A value that failed to convert is null now: it is reported once, as a type problem.
        if p.row_index and p.column in cast_rows:
            idx = tuple(i for i in p.row_index if i not in cast_rows[p.column])
            if not idx:
                continue
            p = Problem(p.column, p.rule, len(idx), idx)
        problems.append(p)
    structural = [p for p in problems if p.file_level]
    if structural:
        raise SourceValidationError(path, structural)
    problems += extra or []
    all_problems = cast_problems + problems
    for p in problems:
        mask = np.zeros(df.height, dtype=bool)
        mask[list(p.row_index)] = True
        rule_of[mask & ~flagged] = len(rules)
        rules.append(f"{p.column or 'table'}: {p.rule}")
        flagged |= mask
    n_bad = int(flagged.sum())
    share = cfg.validation.max_bad_row_share
    if n_bad and (cfg.validation.row_policy == "fail" or n_bad / df.height > share):
        why = (
            f"{n_bad} of {df.height} rows break rules and the row policy is 'fail'"
            if cfg.validation.row_policy == "fail"
            else f"{n_bad} of {df.height} rows ({n_bad / df.height:.1%}) break rules, more than the "
            f"allowed {share:.1%}: the extract itself looks wrong"
        )
        raise SourceValidationError(path, all_problems, note=why)
    # only the flagged rows are copied: a clean file is passed on as it is
    bad = np.flatnonzero(flagged)
    q = df.filter(pl.Series(flagged)) if bad.size else df.clear()
    q = q.with_columns(
        pl.Series("__row", bad + 1, dtype=pl.Int64),
        pl.Series("__rule", [rules[i] for i in rule_of[bad]], dtype=pl.String),
    )
    return (pl.Series(~flagged) if bad.size else None), q, all_problems


def run(cfg: Config) -> StageResult:
    """Validate every source; write the passed rows to ``sources/`` and the rest to ``quarantine/``.

    Every file is read and checked before anything is written; all file-level problems (of every
    file) are raised together as one :class:`SourceValidationError`.
    """
    folder = Path(cfg.paths.incoming if cfg.paths.incoming is not None else cfg.paths.sources)
    if not folder.is_dir():
        raise _err(folder, "missing folder (no such directory)")
    result = StageResult(stage="validate")
    errors: list[SourceValidationError] = []
    frames: dict[str, tuple[pl.DataFrame, Path]] = {}
    for name in SOURCE_NAMES:
        try:
            frames[name] = read_source_file(folder, name)
        except SourceValidationError as exc:
            errors.append(exc)
    if errors:
        raise SourceValidationError.combine(errors)
    plain = {n: df.drop("__cast_error", strict=False) for n, (df, _) in frames.items()}
    extra = cross_table_problems(plain)
    passed: dict[str, pl.LazyFrame] = {}
    quarantined: dict[str, pl.DataFrame] = {}
    report = {}
    for name, (df, path) in frames.items():
        try:
            mask, q, problems = _split(name, df, str(path), cfg, extra.get(name))
        except SourceValidationError as exc:
            errors.append(exc)
            continue
        # the passed rows of a file with quarantined rows are filtered while they are written
        ok = plain[name].lazy()
        passed[name] = ok if mask is None else ok.filter(mask)
        quarantined[name] = q
        n_ok = df.height - q.height
        result.rows[f"{name} in"] = df.height
        result.rows[f"{name} passed"] = n_ok
        result.rows[f"{name} quarantined"] = q.height
        report[name] = {
            "file": path.name,
            "rows_in": df.height,
            "passed": n_ok,
            "quarantined": q.height,
            "rules": [{"column": p.column, "rule": p.rule, "rows": p.rows} for p in problems],
        }
        if q.height:
            log.warning(
                "%s: %d of %d rows quarantined (%s); see %s",
                path.name,
                q.height,
                df.height,
                "; ".join(p.describe() for p in problems),
                cfg.paths.quarantine,
            )
    if errors:
        raise SourceValidationError.combine(errors)
    with atomic_dir(cfg.paths.quarantine) as tmp:
        for name, q in quarantined.items():
            if q.height:
                write_parquet(q, tmp / f"{name}.parquet")
        write_json(report, tmp / "validation_report.json")
    if cfg.paths.incoming is not None or any(q.height for q in quarantined.values()):
        keep = [] if cfg.paths.incoming is not None else _other_files(cfg.paths.sources)
        with atomic_dir(cfg.paths.sources) as tmp:
            for name, lf in passed.items():
                _sink_parquet(lf, tmp / f"{name}.parquet")
            for f in keep:  # the codebook and anything else beside the sources
                shutil.copy2(f, tmp / f.name)
    if cfg.paths.incoming is not None:
        write_reference(cfg, Path(cfg.paths.incoming), passed)
    result.outputs = [cfg.paths.sources, cfg.paths.quarantine]
    result.metrics["validation"] = report
    return result


def _sink_parquet(lf: pl.LazyFrame, path: Path) -> Path:
    """Stream ``lf`` to ``path`` with the options of :func:`analysis.io.write_parquet` (same
    frame, same bytes), without materialising it: a large file's passed rows are never a second
    copy of it in memory."""
    lf.sink_parquet(path, compression="zstd", statistics=False, row_group_size=1_000_000)
    return path


def write_reference(
    cfg: Config, folder: Path, passed: dict[str, pl.LazyFrame] | dict[str, pl.DataFrame]
) -> None:
    """Reference tables for a user's own extract: ``boards`` and ``societies`` from the extract's
    folder when it has them (parquet or CSV), else derived from the ids the sources use (names
    default to the ids, language to English, region to unknown)."""
    derived = {
        "boards": passed["onsis_enrolment"]
        .lazy()
        .select("board_id")
        .unique()
        .sort("board_id")
        .with_columns(
            pl.col("board_id").alias("board_name"),
            pl.lit("unknown").alias("board_type"),
            pl.lit("en").alias("language"),
            pl.lit("unknown").alias("region"),
        )
        .collect(),
        "societies": pl.concat(
            [
                passed[n].lazy().select("society_id")
                for n in ("cpin_persons", "cpin_services", "cpin_cases")
            ]
        )
        .unique()
        .sort("society_id")
        .with_columns(
            pl.col("society_id").alias("society_name"),
            pl.lit(False).alias("indigenous"),
            pl.lit(False).alias("faith_based"),
            pl.lit("unknown").alias("region"),
            pl.lit("en").alias("language"),
        )
        .collect(),
    }
    with atomic_dir(cfg.paths.reference) as tmp:
        for name, df in derived.items():
            pq, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
            if pq.exists():
                df = pl.read_parquet(pq)
            elif csv.exists():
                df = pl.read_csv(csv)
            write_parquet(df, tmp / f"{name}.parquet")


def _other_files(folder: Path) -> list[Path]:
    names = {f"{n}.parquet" for n in SOURCE_NAMES} | {f"{n}.csv" for n in SOURCE_NAMES}
    return (
        sorted(p for p in folder.iterdir() if p.is_file() and p.name not in names)
        if folder.is_dir()
        else []
    )
