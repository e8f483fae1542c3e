"""Validate the three sources on read: file-level problems stop the build, bad rows are quarantined.

Rules (``docs/validation.md`` lists them with what the user sees):

- A file that is missing, empty, unreadable (truncated or corrupt parquet, a CSV that is not UTF-8
  or not comma-separated), or lacks a column, has an unexpected one, or holds a column of the wrong
  type is a *file-level* problem: a clear error naming the file, the column and the rule, a
  non-zero exit, and nothing downstream written.
- A row that breaks a row rule (check digit, date range, allowed values, postal-code format,
  duplicate key, end before start...) is quarantined with the rule it broke, if the configured
  policy allows it and if no more than ``validation.max_bad_row_share`` of the file's rows break
  rules; a larger share means the extract itself is wrong, and is a file-level problem.
- Every row is accounted for: rows in = rows passed on + rows quarantined.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analysis.config import Config
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.schemas import SCHEMAS, SOURCE_NAMES, Problem, SourceValidationError, check_source
from analysis.stages import StageResult


def _expected_types(name: str) -> dict[str, pl.DataType]:
    return {col: c.dtype.type for col, c in SCHEMAS[name].columns.items()}


def read_source_file(folder: Path, name: str) -> tuple[pl.DataFrame, Path]:
    """Read ``name`` from ``folder`` as parquet or CSV; raise a file-level error if unreadable."""
    pq, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    if pq.exists():
        path = pq
        if pq.stat().st_size == 0:
            raise SourceValidationError(str(path), [Problem(None, "empty file", 0)])
        try:
            df = pl.read_parquet(pq)
        except Exception as exc:  # polars raises several kinds for corrupt files
            raise SourceValidationError(
                str(path), [Problem(None, f"unreadable parquet (truncated or corrupt: {type(exc).__name__})", 0)]
            ) from None
    elif csv.exists():
        path = csv
        df = _read_csv(csv, name)
    else:
        raise SourceValidationError(str(pq), [Problem(None, f"missing file (expected {name}.parquet or {name}.csv)", 0)])
    if df.height == 0:
        raise SourceValidationError(str(path), [Problem(None, "empty file (no rows)", 0)])
    return _coerce(df, name, path), path


def _read_csv(path: Path, name: str) -> pl.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise SourceValidationError(str(path), [Problem(None, "empty file", 0)])
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceValidationError(str(path), [Problem(None, "encoding (file is not UTF-8)", 0)]) from None
    header = raw.splitlines()[0].decode("utf-8")
    if "," not in header and any(d in header for d in (";", "\t", "|")):
        raise SourceValidationError(str(path), [Problem(None, "delimiter (expected a comma-separated file)", 0)])
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8")
    except Exception as exc:
        raise SourceValidationError(str(path), [Problem(None, f"unreadable CSV ({type(exc).__name__})", 0)]) from None


def _coerce(df: pl.DataFrame, name: str, path: Path) -> pl.DataFrame:
    """Cast columns to the schema's types; structural problems are file-level errors."""
    expected = _expected_types(name)
    missing = [c for c in expected if c not in df.columns]
    extra = [c for c in df.columns if c not in expected]
    problems = [Problem(c, "missing_column", 0) for c in missing]
    problems += [Problem(c, "unexpected_column", 0) for c in extra]
    if problems:
        raise SourceValidationError(str(path), problems)
    casts = []
    for col, typ in expected.items():
        src = df.schema[col]
        if src == typ:
            casts.append(pl.col(col))
        elif src == pl.Utf8 or src == pl.String:
            if typ == pl.Boolean:
                casts.append(pl.col(col).str.to_lowercase().replace_strict(
                    {"true": True, "false": False, "1": True, "0": False, "": None},
                    default=None, return_dtype=pl.Boolean).alias(col))
            elif typ == pl.Date:
                casts.append(pl.col(col).str.to_date("%Y-%m-%d", strict=False).alias(col))
            else:
                casts.append(pl.col(col).cast(typ, strict=False).alias(col))
        elif src.is_numeric() and typ.is_numeric():
            casts.append(pl.col(col).cast(typ, strict=False).alias(col))
        else:
            raise SourceValidationError(str(path), [Problem(col, f"type ({typ} expected, found {src})", 0)])
    out = df.select(casts)
    # Values that would not convert (text in a number column, a malformed date) are row problems.
    bad = []
    for col in expected:
        if df.schema[col] != out.schema[col]:
            src_null = df[col].is_null() | (df[col].cast(pl.Utf8) == "")
            lost = (out[col].is_null() & ~src_null)
            if lost.any():
                bad.append((col, lost))
    if bad:
        out = out.with_columns(pl.lit(None, dtype=pl.Utf8).alias("__cast_error"))
        for col, lost in bad:
            out = out.with_columns(pl.when(lost).then(pl.lit(col)).otherwise(pl.col("__cast_error")).alias("__cast_error"))
    return out


def validate_frame(name: str, df: pl.DataFrame, path: str, cfg: Config) -> tuple[pl.DataFrame, pl.DataFrame, list[Problem]]:
    """Split ``df`` into (passed, quarantined) rows, or raise a file-level error.

    The quarantined frame keeps the source columns plus ``__row`` (1-based row number in the file)
    and ``__rule`` (the first rule the row broke).
    """
    import numpy as np

    cast_problems: list[Problem] = []
    flagged = np.zeros(df.height, dtype=bool)
    rule_of = np.full(df.height, None, dtype=object)
    if "__cast_error" in df.columns:
        err = df["__cast_error"]
        for col in err.drop_nulls().unique().sort().to_list():
            mask = (err == col).fill_null(False).to_numpy()
            cast_problems.append(Problem(col, "type (value does not convert)", int(mask.sum()),
                                         tuple(np.flatnonzero(mask).tolist())))
            rule_of[mask & ~flagged] = f"{col}: type"
            flagged |= mask
        df = df.drop("__cast_error")
    problems = check_source(name, df)
    # Null values that came from a failed conversion are already reported as type problems.
    problems = [p for p in problems if not (p.rule == "missing_value" and cast_problems)
                or not set(p.row_index) <= set(np.flatnonzero(flagged).tolist())]
    structural = [p for p in problems if p.file_level]
    if structural:
        raise SourceValidationError(path, structural)
    all_problems = cast_problems + problems
    for p in problems:
        mask = np.zeros(df.height, dtype=bool)
        mask[list(p.row_index)] = True
        rule_of[mask & ~flagged] = f"{p.column or 'table'}: {p.rule}"
        flagged |= mask
    n_bad = int(flagged.sum())
    if n_bad and (cfg.validation.row_policy == "fail"
                  or n_bad / df.height > cfg.validation.max_bad_row_share):
        why = ("row policy is 'fail'" if cfg.validation.row_policy == "fail" else
               f"{n_bad} of {df.height} rows ({n_bad / df.height:.1%}) break rules, more than the "
               f"allowed {cfg.validation.max_bad_row_share:.1%}: the extract itself looks wrong")
        raise SourceValidationError(f"{path} ({why})", all_problems)
    rows = pl.Series("__row", range(1, df.height + 1))
    q = df.with_columns(rows, pl.Series("__rule", rule_of.tolist(), dtype=pl.Utf8)).filter(flagged)
    keep = pl.Series(~flagged)
    return df.filter(keep), q, all_problems


def run(cfg: Config) -> StageResult:
    """Validate every source; write the passed rows to ``sources/`` and the rest to ``quarantine/``."""
    folder = cfg.paths.incoming if cfg.paths.incoming is not None else cfg.paths.sources
    result = StageResult(stage="validate")
    passed: dict[str, pl.DataFrame] = {}
    quarantined: dict[str, pl.DataFrame] = {}
    report = {}
    for name in SOURCE_NAMES:  # read and check everything before writing anything
        df, path = read_source_file(Path(folder), name)
        ok, q, problems = validate_frame(name, df, str(path), cfg)
        passed[name], quarantined[name] = ok, q
        result.rows[f"{name} in"] = df.height
        result.rows[f"{name} passed"] = ok.height
        result.rows[f"{name} quarantined"] = q.height
        report[name] = {"file": path.name, "rows_in": df.height, "passed": ok.height,
                        "quarantined": q.height,
                        "rules": [{"column": p.column, "rule": p.rule, "rows": p.rows} for p in problems]}
    with atomic_dir(cfg.paths.quarantine) as tmp:
        for name, q in quarantined.items():
            if q.height:
                write_parquet(q, tmp / f"{name}.parquet")
        write_json(report, tmp / "validation_report.json")
    if cfg.paths.incoming is not None or any(q.height for q in quarantined.values()):
        with atomic_dir(cfg.paths.sources) as tmp:
            for name, df in passed.items():
                write_parquet(df, tmp / f"{name}.parquet")
    result.outputs = [cfg.paths.sources, cfg.paths.quarantine]
    result.metrics["validation"] = report
    return result
