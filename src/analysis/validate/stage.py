"""The validation stage: every file read and checked, then the passed rows written.

With a user's extract (``--sources DIR``), the passed rows of the seven sources go to
``sources/``, the reference tables (the extract's own, checked like a source, or derived from
the ids) to ``reference/``; bad rows go to ``quarantine/`` with ``validation_report.json``.
Nothing is written until every file has been read and checked, and the extract itself is never
written to (an extract inside a folder the build writes is refused).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain.schemas import (
    REFERENCE_NAMES,
    SOURCE_NAMES,
    Problem,
    SourceValidationError,
    check_source,
)
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.stages import StageResult
from analysis.validate.normalise import Reading
from analysis.validate.read import SourceFile, locate, read_source

log = logging.getLogger(__name__)

# (child table, column) -> (parent table, column): a row whose reference is absent from the
# parent file is quarantined (rule ``reference_to_<parent>``). The reference tables are parents
# only when the extract brings them.
REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("cpin_services", "cw_record_id"): ("cpin_persons", "cw_record_id"),
    ("cpin_placements", "cw_record_id"): ("cpin_persons", "cw_record_id"),
    ("cpin_placements", "episode_id"): ("cpin_services", "episode_id"),
    ("cpin_onlac", "cw_record_id"): ("cpin_persons", "cw_record_id"),
    ("onsis_enrolment", "board_id"): ("boards", "board_id"),
    ("eqao_results", "board_id"): ("boards", "board_id"),
    **{
        (n, "society_id"): ("societies", "society_id")
        for n in ("cpin_persons", "cpin_services", "cpin_placements", "cpin_cases", "cpin_onlac")
    },
}
CAST_COLUMNS = ("__cast_error", "__cast_rule")


def input_files(folder: Path) -> list[Path]:
    """Every file the stage may read from an extract folder (and nothing else in it)."""
    return [
        folder / f"{n}.{ext}"
        for n in (*SOURCE_NAMES, *REFERENCE_NAMES)
        for ext in ("parquet", "csv")
    ]


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
    plain = df.drop(CAST_COLUMNS, strict=False)
    return (plain if keep is None else plain.filter(keep)), q, problems


def _cast_problems(
    df: pl.DataFrame, flagged: np.ndarray, rule_of: np.ndarray, rules: list[str]
) -> tuple[list[Problem], dict[str, set[int]]]:
    """The values that did not convert (one problem per column and rule), marked in ``flagged``."""
    problems: list[Problem] = []
    rows: dict[str, set[int]] = {}
    if "__cast_error" not in df.columns:
        return problems, rows
    pairs = df.select(CAST_COLUMNS).drop_nulls().unique().sort(CAST_COLUMNS).iter_rows()
    for col, rule in pairs:
        mask = ((df["__cast_error"] == col) & (df["__cast_rule"] == rule)).fill_null(False)
        m = mask.to_numpy()
        idx = tuple(int(i) for i in np.flatnonzero(m))
        rows.setdefault(col, set()).update(idx)
        problems.append(Problem(col, rule, len(idx), idx))
        rule_of[m & ~flagged] = len(rules)
        rules.append(f"{col}: {rule.split(' (')[0]}")
        flagged |= m
    return problems, rows


def _split(
    name: str,
    df: pl.DataFrame,
    path: str,
    cfg: Config,
    extra: list[Problem] | None = None,
    *,
    lookup: bool = False,
) -> tuple[pl.Series | None, pl.DataFrame, list[Problem]]:
    """:func:`validate_frame`, with the passed rows as a mask (``None``: every row passed), so
    a large file is never copied whole in memory. A ``lookup`` table (a reference table) may
    have no bad row: records point to its rows."""
    flagged = np.zeros(df.height, dtype=bool)
    rules: list[str] = []  # the first rule each flagged row broke, as an index into ``rules``
    rule_of = np.full(df.height, -1, dtype=np.int32)
    cast_problems, cast_rows = _cast_problems(df, flagged, rule_of, rules)
    df = df.drop(CAST_COLUMNS, strict=False)
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
    if n_bad and (lookup or cfg.validation.row_policy == "fail" or n_bad / df.height > share):
        why = (
            f"{n_bad} of {df.height} rows break rules: a reference table may have none"
            if lookup
            else f"{n_bad} of {df.height} rows break rules and the row policy is 'fail'"
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


def _read_all(cfg: Config, folder: Path) -> dict[str, SourceFile]:
    """Every source (and, from an extract, every reference table it brings), or one error
    listing the file-level problems of every file."""
    reading = Reading.of(cfg)
    errors: list[SourceValidationError] = []
    files: dict[str, SourceFile] = {}
    names = [*SOURCE_NAMES]
    if cfg.paths.incoming is not None:
        for name in REFERENCE_NAMES:  # optional: derived from the ids when absent
            try:
                if locate(folder, name) is not None:
                    names.append(name)
            except SourceValidationError as exc:
                errors.append(exc)
    for name in names:
        try:
            files[name] = read_source(folder, name, reading)
        except SourceValidationError as exc:
            errors.append(exc)
    if errors:
        raise SourceValidationError.combine(_in_order(errors))
    return files


def _in_order(errors: list[SourceValidationError]) -> list[SourceValidationError]:
    """Sources first, in their order, then the reference tables."""
    order = [*SOURCE_NAMES, *REFERENCE_NAMES]

    def key(e: SourceValidationError) -> int:
        stem = Path(e.file).name.split(".")[0]
        return order.index(stem) if stem in order else len(order)

    return sorted(errors, key=key)


def run(cfg: Config) -> StageResult:
    """Validate every source; write the passed rows to ``sources/`` and the rest to ``quarantine/``.

    Every file is read and checked before anything is written; all file-level problems (of every
    file) are raised together as one :class:`SourceValidationError`. A reference table of the
    extract is a lookup table: any bad row in it is a file-level problem.
    """
    problem = cfg.paths.incoming_problem()
    if problem is not None:
        raise ValueError(problem)
    folder = Path(cfg.paths.incoming if cfg.paths.incoming is not None else cfg.paths.sources)
    if not folder.is_dir():
        raise SourceValidationError(
            str(folder), [Problem(None, "missing folder (no such directory)", 0)]
        )
    files = _read_all(cfg, folder)
    plain = {n: f.df.drop(CAST_COLUMNS, strict=False) for n, f in files.items()}
    extra = cross_table_problems(plain)
    result = StageResult(stage="validate")
    errors: list[SourceValidationError] = []
    passed: dict[str, pl.LazyFrame] = {}
    quarantined: dict[str, pl.DataFrame] = {}
    report: dict[str, dict] = {}
    for name, f in files.items():
        try:
            mask, q, problems = _split(
                name, f.df, str(f.path), cfg, extra.get(name), lookup=name in REFERENCE_NAMES
            )
        except SourceValidationError as exc:
            errors.append(exc)
            continue
        except Exception as exc:  # a value no rule foresaw: a clear, value-free message
            rule = f"rules could not be checked ({type(exc).__name__})"
            errors.append(SourceValidationError(str(f.path), [Problem(None, rule, 0)]))
            continue
        # the passed rows of a file with quarantined rows are filtered while they are written
        ok = plain[name].lazy()
        passed[name] = ok if mask is None else ok.filter(mask)
        quarantined[name] = q
        n_in = f.df.height
        for what, n in (("in", n_in), ("passed", n_in - q.height), ("quarantined", q.height)):
            result.rows[f"{name} {what}"] = n
        report[name] = {
            "file": f.path.name,
            "rows_in": n_in,
            "passed": n_in - q.height,
            "quarantined": q.height,
            "rules": [{"column": p.column, "rule": p.rule, "rows": p.rows} for p in problems],
            "normalisations": [n.as_dict() for n in f.normalisations],
        }
        if q.height:
            log.warning(
                "%s: %d of %d rows quarantined (%s); see %s",
                f.path.name,
                q.height,
                n_in,
                "; ".join(p.describe() for p in problems),
                cfg.paths.quarantine,
            )
    if errors:
        raise SourceValidationError.combine(errors)
    _write(cfg, files, passed, quarantined, report)
    result.outputs = [cfg.paths.sources, cfg.paths.quarantine]
    result.metrics["validation"] = report
    result.metrics["reading"] = cfg.validation.reading
    result.metrics["normalisations"] = [
        {"file": files[name].path.name, **n.as_dict()}
        for name in files
        for n in files[name].normalisations
    ]
    return result


def _write(
    cfg: Config,
    files: dict[str, SourceFile],
    passed: dict[str, pl.LazyFrame],
    quarantined: dict[str, pl.DataFrame],
    report: dict[str, dict],
) -> None:
    with atomic_dir(cfg.paths.quarantine) as tmp:
        for name, q in quarantined.items():
            if q.height:
                write_parquet(q, tmp / f"{name}.parquet")
        write_json(report, tmp / "validation_report.json")
    sources = {n: lf for n, lf in passed.items() if n in SOURCE_NAMES}
    incoming = cfg.paths.incoming is not None
    changed = any(quarantined[n].height for n in sources) or any(
        files[n].normalisations for n in sources
    )
    if incoming or changed:
        # From an extract, sources/ holds the validated extract (a synthetic codebook is the
        # build's own file and goes); rewriting the generated sources keeps the codebook.
        with atomic_dir(cfg.paths.sources, carry=not incoming) as tmp:
            for name, lf in sources.items():
                _sink_parquet(lf, tmp / f"{name}.parquet")
    if incoming:
        write_reference(cfg, sources, {n: lf for n, lf in passed.items() if n in REFERENCE_NAMES})


def _sink_parquet(lf: pl.LazyFrame, path: Path) -> Path:
    """Stream ``lf`` to ``path`` with the options of :func:`analysis.io.write_parquet` (same
    frame, same bytes), without materialising it: a large file's passed rows are never a second
    copy of it in memory."""
    lf.sink_parquet(path, compression="zstd", statistics=False, row_group_size=1_000_000)
    return path


def write_reference(
    cfg: Config,
    passed: dict[str, pl.LazyFrame] | dict[str, pl.DataFrame],
    supplied: dict[str, pl.LazyFrame] | None = None,
) -> None:
    """Reference tables for a user's own extract: ``boards`` and ``societies`` as the extract
    brought them (validated), else derived from the ids the sources use (names default to the
    ids, language to English, region to unknown)."""
    supplied = supplied or {}
    derived = {
        "boards": lambda: (
            passed["onsis_enrolment"]
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
        ),
        "societies": lambda: (
            pl.concat(
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
        ),
    }
    with atomic_dir(cfg.paths.reference) as tmp:
        for name, make in derived.items():
            lf = supplied[name] if name in supplied else make()
            write_parquet(lf.lazy().collect(), tmp / f"{name}.parquet")
