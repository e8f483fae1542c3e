"""A screener for open data files: the checks of the explore-education-statistics standard that
apply to this release (the R packages eesyscreener / dfe-published-data-qa are the reference; the
Ontario adaptations are in :mod:`analysis.reports.opendata.standard`).

:func:`screen_dir` screens every ``<name>.csv`` in a folder with its ``<name>.meta.csv`` and
returns a :class:`Screening`: one :class:`Finding` per check and file (``PASS``, ``FAIL`` or
``WARNING``). The build fails on any ``FAIL`` (:func:`require_pass`); ``analysis screen DIR``
prints the findings.

The checks (:data:`CHECKS`), each with a failing fixture in ``tests/test_screener.py``:

``encoding``          UTF-8 without a byte-order mark (data and metadata)
``file_names``        lower-case names of letters, digits, ``_`` and ``-``; the ``.meta.csv`` exists
``required_columns``  the data's time and geography columns; the metadata's eight columns, no others
``column_names``      snake_case, starting with a letter, no duplicate
``time_period``       4 or 6 digits as the time_identifier says; 6 digits are consecutive years
                      (fewer than three periods: a warning)
``time_identifier``   from the standard's list; kinds of year not mixed
``geography``         known levels; each row completes its level's code and name (and its parents')
                      and no other level's; codes in the level's form; one name per code
``metadata``          agrees with the data: every column described (observational units apart),
                      types, labels in English and French, units, decimal places, filter fields
``complete_matrix``   every time period x location x filter combination of a level is present;
                      every filter holds its default (``Total``, or the declared filter_default)
``duplicates``        no two rows share the time, geography and filter values
``symbols``           indicator cells are numbers or c / z / x / u, never blank; no symbol in a
                      filter, time or geography name
``filter_values``     no blank or space-padded filter value; no ``Total`` in a geography column
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from analysis.reports.opendata import standard as std

PASS, FAIL, WARNING = "PASS", "FAIL", "WARNING"
_MAX_EXAMPLES = 3
MIN_TIME_SERIES = 3  # fewer periods is a warning: a pooled estimate has one


@dataclass(frozen=True)
class Finding:
    """The result of one check on one file."""

    check: str
    file: str
    status: str
    message: str


@dataclass
class Screening:
    """Every finding of a screening run."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == FAIL]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == WARNING]

    @property
    def passed(self) -> bool:
        return not self.failures

    def files(self) -> list[str]:
        return sorted({f.file for f in self.findings})

    def summary(self) -> str:
        n = len(self.files())
        head = (
            f"{n} files screened: {len(self.failures)} failures, {len(self.warnings)} warnings, "
            f"{sum(f.status == PASS for f in self.findings)} checks passed"
        )
        lines = [head]
        for f in [*self.failures, *self.warnings]:
            lines.append(f"  {f.status} {f.file} [{f.check}]: {f.message}")
        return "\n".join(lines)


class ScreenerError(ValueError):
    """An open data folder failed the screener."""


# ---------------------------------------------------------------- reading
@dataclass
class Pair:
    """A data file and its metadata, as bytes and (when readable) as text tables."""

    data_path: Path
    meta_path: Path
    raw_data: bytes
    raw_meta: bytes | None
    data: pl.DataFrame | None = None
    meta: pl.DataFrame | None = None
    header: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.data_path.name


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _table(raw: bytes, what: str, problems: list[str]) -> tuple[pl.DataFrame | None, list[str]]:
    text = _decode(raw)
    if text is None:
        problems.append(f"{what} is not UTF-8")
        return None, []
    text = text.removeprefix("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        problems.append(f"{what} is empty")
        return None, []
    header = rows[0]
    widths = {len(r) for r in rows[1:] if r}
    if widths - {len(header)}:
        problems.append(f"{what}: rows do not all have {len(header)} fields")
        return None, header
    if len(set(header)) != len(header):
        return None, header  # column_names reports it
    cols = {h: [r[i] for r in rows[1:] if r] for i, h in enumerate(header)}
    return pl.DataFrame(cols, schema=dict.fromkeys(header, pl.String)), header


def read_pair(data_path: Path) -> Pair:
    """Read ``data_path`` and the ``.meta.csv`` beside it (missing metadata is kept as ``None``)."""
    meta_path = data_path.with_name(data_path.name[: -len(".csv")] + std.META_SUFFIX)
    pair = Pair(
        data_path=data_path,
        meta_path=meta_path,
        raw_data=data_path.read_bytes(),
        raw_meta=meta_path.read_bytes() if meta_path.is_file() else None,
    )
    pair.data, pair.header = _table(pair.raw_data, "the data file", pair.unreadable)
    if pair.raw_meta is not None:
        pair.meta, _ = _table(pair.raw_meta, "the metadata file", pair.unreadable)
    return pair


# ---------------------------------------------------------------- helpers
def _examples(values: Sequence[object]) -> str:
    vals = [str(v) for v in list(dict.fromkeys(values))[:_MAX_EXAMPLES]]
    more = len(set(values)) - len(vals)
    return ", ".join(repr(v) for v in vals) + (f" and {more} more" if more > 0 else "")


def _meta_rows(meta: pl.DataFrame, col_type: str) -> pl.DataFrame:
    return meta.filter(pl.col("col_type") == col_type) if "col_type" in meta.columns else meta[:0]


def filters_of(meta: pl.DataFrame) -> list[str]:
    """Filter columns declared in the metadata (observational units apart: ``metadata`` reports
    those)."""
    if "col_name" not in meta.columns:
        return []
    names = _meta_rows(meta, "Filter")["col_name"].to_list()
    return [n for n in dict.fromkeys(names) if n not in std.OBSERVATIONAL_UNITS]


def grouping_columns_of(meta: pl.DataFrame) -> list[str]:
    """Columns named as another filter's ``filter_grouping_column``."""
    if "filter_grouping_column" not in meta.columns:
        return []
    vals = _meta_rows(meta, "Filter")["filter_grouping_column"].to_list()
    return list(dict.fromkeys(v for v in vals if v and v not in std.OBSERVATIONAL_UNITS))


def indicators_of(meta: pl.DataFrame) -> list[str]:
    """Indicator columns declared in the metadata."""
    return _meta_rows(meta, "Indicator")["col_name"].to_list() if "col_name" in meta.columns else []


def _location_columns(data: pl.DataFrame) -> list[str]:
    return [c for c in std.GEOGRAPHY_COLUMNS if c in data.columns]


# ---------------------------------------------------------------- the checks
# Each check returns (failures, warnings): messages, empty when the check passes.
Result = tuple[list[str], list[str]]


def check_encoding(pair: Pair) -> Result:
    bad = []
    for what, raw in (("data file", pair.raw_data), ("metadata file", pair.raw_meta)):
        if raw is None:
            continue
        if raw.startswith(b"\xef\xbb\xbf"):
            bad.append(f"the {what} starts with a byte-order mark (write UTF-8 without BOM)")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(f"the {what} is not UTF-8 (byte {exc.start})")
    return bad, []


def check_file_names(pair: Pair) -> Result:
    bad, warn = [], []
    stem = pair.data_path.name[: -len(".csv")]
    if not std.FILE_NAME.match(stem):
        bad.append(
            f"file name {pair.data_path.name!r}: use lower-case letters, digits, '_' and '-' only"
        )
    if len(stem) > std.FILE_NAME_MAX:
        warn.append(f"file name is {len(stem)} characters (keep it under {std.FILE_NAME_MAX})")
    if pair.raw_meta is None:
        bad.append(f"no metadata file {pair.meta_path.name} beside the data file")
    return bad, warn


def check_required_columns(pair: Pair) -> Result:
    bad = []
    missing = [c for c in std.REQUIRED_DATA_COLUMNS if c not in pair.header]
    if missing:
        bad.append(f"the data file lacks the required columns {missing}")
    if pair.meta is not None:
        mcols = pair.meta.columns
        lack = [c for c in std.META_COLUMNS if c not in mcols]
        if lack:
            bad.append(f"the metadata file lacks the required columns {lack}")
        extra = [c for c in mcols if c not in (*std.META_COLUMNS, *std.META_OPTIONAL)]
        if extra:
            bad.append(f"the metadata file has columns the standard does not define: {extra}")
        if "label_fr" not in mcols:
            bad.append("the metadata file has no label_fr column (labels in French)")
    return bad, []


def check_column_names(pair: Pair) -> Result:
    bad = []
    dupes = sorted({h for h in pair.header if pair.header.count(h) > 1})
    if dupes:
        bad.append(f"column names appear more than once: {dupes}")
    wrong = [h for h in pair.header if not std.COLUMN_NAME.match(h)]
    if wrong:
        bad.append(f"column names not in snake_case starting with a letter: {_examples(wrong)}")
    if pair.meta is not None and "col_name" in pair.meta.columns:
        spaced = [c for c in pair.meta["col_name"].to_list() if c != c.strip() or " " in c]
        if spaced:
            bad.append(f"metadata col_name values with spaces: {_examples(spaced)}")
    return bad, []


def _time_group(identifier: str) -> int | None:
    for i, group in enumerate(std.TIME_IDENTIFIER_GROUPS):
        if identifier in group:
            return i
    return None


def check_time_identifier(pair: Pair) -> Result:
    df = pair.data
    if df is None or "time_identifier" not in df.columns:
        return ["no time_identifier column to check"], []
    ids = df["time_identifier"].unique(maintain_order=True).to_list()
    bad = []
    unknown = [i for i in ids if _time_group(i) is None]
    if unknown:
        bad.append(f"time_identifier values the standard does not list: {_examples(unknown)}")
    groups = {_time_group(i) for i in ids} - {None}
    if len(groups) > 1:
        bad.append(f"different kinds of year in one file: {_examples(ids)}")
    return bad, []


def _consecutive(period: str) -> bool:
    return (int(period[2:4]) + 1) % 100 == int(period[4:6])


def check_time_period(pair: Pair) -> Result:
    df = pair.data
    if df is None or "time_period" not in df.columns:
        return ["no time_period column to check"], []
    bad = []
    periods = df["time_period"].unique(maintain_order=True).to_list()
    not_digits = [p for p in periods if not re.fullmatch(r"\d{4}|\d{6}", p)]
    if not_digits:
        bad.append(f"time_period values that are not 4 or 6 digits: {_examples(not_digits)}")
    six = [p for p in periods if re.fullmatch(r"\d{6}", p)]
    gaps = [p for p in six if not _consecutive(p)]
    if gaps:
        bad.append(f"6-digit time_periods must be consecutive years (201718): {_examples(gaps)}")
    warn = []
    if 0 < len(periods) < MIN_TIME_SERIES:
        warn.append(
            f"{len(periods)} time period(s): a time series of at least {MIN_TIME_SERIES} is "
            "expected where the data has one"
        )
    if "time_identifier" in df.columns:
        pairs = df.select("time_period", "time_identifier").unique(maintain_order=True)
        for period, ident in pairs.iter_rows():
            want = (
                6
                if ident in std.SIX_DIGIT_IDENTIFIERS
                else 4
                if ident in std.FOUR_DIGIT_IDENTIFIERS
                else None
            )
            if want is not None and len(period) != want:
                bad.append(f"time_period {period!r}: {ident!r} takes {want} digits")
                break
    return bad, warn


def check_geography(pair: Pair) -> Result:
    df = pair.data
    if df is None or "geographic_level" not in df.columns:
        return ["no geographic_level column to check"], []
    bad = []
    levels = df["geographic_level"].unique(maintain_order=True).to_list()
    unknown = [lv for lv in levels if lv not in std.LEVEL_BY_NAME]
    if unknown:
        bad.append(
            f"geographic_level values not in {[lv.name for lv in std.GEOGRAPHIC_LEVELS]}: "
            f"{_examples(unknown)}"
        )
    for col in std.REQUIRED_GEOGRAPHY:
        if col in df.columns and (df[col] == "").any():
            bad.append(f"{col} is blank on {int((df[col] == '').sum())} rows (every row needs it)")
    geo_cols = [c for c in std.GEOGRAPHY_COLUMNS if c in df.columns and c != "geographic_level"]
    for name in levels:
        level = std.LEVEL_BY_NAME.get(name)
        if level is None:
            continue
        rows = df.filter(pl.col("geographic_level") == name)
        need = [level.code, level.name_col, *level.parents]
        absent = [c for c in need if c not in df.columns]
        if absent:
            bad.append(f"{name} rows need the columns {absent}")
            continue
        for c in need:
            blank = int((rows[c] == "").sum())
            if blank:
                bad.append(f"{name} rows: {c} is blank on {blank} rows")
        allowed = {*need, *std.REQUIRED_GEOGRAPHY}
        for c in geo_cols:
            if c not in allowed and (rows[c] != "").any():
                bad.append(f"{name} rows fill {c}, a column of another geographic level")
        codes = rows[level.code]
        wrong = [
            c
            for c in codes.unique(maintain_order=True).to_list()
            if c and c not in std.GEOGRAPHY_CODE_SYMBOLS and not re.match(level.code_pattern, c)
        ]
        if wrong:
            bad.append(f"{name} codes not in the form {level.code_pattern}: {_examples(wrong)}")
        pairs = rows.select(level.code, level.name_col).unique()
        for a, b in ((level.code, level.name_col), (level.name_col, level.code)):
            multi = pairs.group_by(a).agg(pl.len()).filter(pl.col("len") > 1)[a].to_list()
            if multi:
                bad.append(f"{name}: one {a} with several {b} values: {_examples(multi)}")
    return bad, []


def check_metadata(pair: Pair) -> Result:
    df, meta = pair.data, pair.meta
    if meta is None:
        return ["no metadata file to check"], []
    if df is None or any(c not in meta.columns for c in std.META_COLUMNS):
        return ["the metadata cannot be checked (see required_columns)"], []
    bad, warn = [], []
    names = meta["col_name"].to_list()
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        bad.append(f"col_name appears more than once in the metadata: {dupes}")
    absent = [n for n in names if n not in df.columns]
    if absent:
        bad.append(f"metadata describes columns the data file does not have: {absent}")
    obs = [n for n in names if n in std.OBSERVATIONAL_UNITS]
    if obs:
        bad.append(f"observational units (time, geography) must not be in the metadata: {obs}")
    types = [t for t in meta["col_type"].to_list() if t not in std.COL_TYPES]
    if types:
        bad.append(f"col_type must be Filter or Indicator, not {_examples(types)}")
    for col, what in (("label", "label"), ("label_fr", "French label")):
        if col in meta.columns:
            blank = meta.filter(pl.col(col).str.strip_chars() == "")["col_name"].to_list()
            if blank:
                bad.append(f"no {what} for {blank}")
    labels = [x for x in meta["label"].to_list() if x]
    if len(set(labels)) != len(labels):
        warn.append("two columns share a label")
    grouping = grouping_columns_of(meta)
    described = set(names) | set(grouping)
    undescribed = [c for c in df.columns if c not in std.OBSERVATIONAL_UNITS and c not in described]
    single = [c for c in undescribed if df[c].n_unique() <= 1]
    many = [c for c in undescribed if c not in single]
    if many:
        bad.append(f"columns the metadata does not describe: {many}")
    if single:
        warn.append(f"single-level columns not in the metadata: {single}")
    for rec in meta.iter_rows(named=True):
        name, kind = rec["col_name"], rec["col_type"]
        if kind == "Indicator":
            if rec["indicator_unit"] not in std.INDICATOR_UNITS:
                bad.append(f"{name}: indicator_unit {rec['indicator_unit']!r} is not allowed")
            dp = rec["indicator_dp"]
            if dp == "":
                warn.append(f"{name}: indicator_dp is blank (the platform shows 2 places)")
            elif not re.fullmatch(r"\d+", dp):
                bad.append(f"{name}: indicator_dp {dp!r} is not a whole number of places")
            for c in ("filter_hint", "filter_grouping_column", "filter_default"):
                if rec.get(c):
                    bad.append(f"{name}: an indicator has a {c}")
        elif kind == "Filter":
            for c in ("indicator_unit", "indicator_dp", "indicator_grouping"):
                if rec[c]:
                    bad.append(f"{name}: a filter has an {c}")
            group = rec["filter_grouping_column"]
            if group and group not in df.columns:
                bad.append(f"{name}: filter_grouping_column {group!r} is not a data column")
            if group and group in names:
                bad.append(f"{name}: its grouping column {group!r} has a metadata row of its own")
            if name in df.columns and df[name].n_unique() < 2:
                bad.append(f"{name}: a filter with fewer than two levels (leave it out)")
            default = rec.get("filter_default") or ""
            if default and name in df.columns and default not in set(df[name].to_list()):
                bad.append(f"{name}: filter_default {default!r} is not one of its values")
    return bad, warn


def _defaults(meta: pl.DataFrame) -> dict[str, str]:
    out = {}
    for rec in _meta_rows(meta, "Filter").iter_rows(named=True):
        out[rec["col_name"]] = rec.get("filter_default") or std.TOTAL
    for g in grouping_columns_of(meta):
        out.setdefault(g, std.TOTAL)
    return out


def check_complete_matrix(pair: Pair) -> Result:
    df, meta = pair.data, pair.meta
    if df is None or meta is None or "col_type" not in meta.columns:
        return ["the matrix cannot be checked without data and metadata"], []
    need = ("time_period", "geographic_level")
    if any(c not in df.columns for c in need):
        return ["the matrix cannot be checked without time_period and geographic_level"], []
    bad = []
    defaults = _defaults(meta)
    for col, default in defaults.items():
        if col in df.columns and default not in set(df[col].to_list()):
            bad.append(
                f"filter {col} has no {default!r} level (add the aggregate, or name its "
                "default in filter_default)"
            )
    filters = list(
        dict.fromkeys(c for c in (*grouping_columns_of(meta), *filters_of(meta)) if c in df.columns)
    )
    locations = [c for c in _location_columns(df) if c != "geographic_level"]
    times = df["time_period"].unique().to_list()
    for level in df["geographic_level"].unique(maintain_order=True).to_list():
        rows = df.filter(pl.col("geographic_level") == level)
        places = rows.select(locations).unique() if locations else pl.DataFrame({"_": [0]})
        combos = rows.select(filters).unique() if filters else pl.DataFrame({"_": [0]})
        expected = len(times) * places.height * combos.height
        present = rows.select("time_period", *locations, *filters).unique().height
        if present < expected:
            full = (
                pl.DataFrame({"time_period": times})
                .join(places, how="cross")
                .join(combos, how="cross")
            )
            keys = [c for c in full.columns if c != "_"]
            missing = full.join(rows.select(keys).unique(), on=keys, how="anti")
            example = missing.drop([c for c in missing.columns if c == "_"]).row(0, named=True)
            bad.append(
                f"{level}: {expected - present} of {expected} time x location x filter "
                f"combinations are missing (first: {example}); complete the matrix with "
                "c / z / x"
            )
    return bad, []


def check_duplicates(pair: Pair) -> Result:
    df, meta = pair.data, pair.meta
    if df is None:
        return ["no data to check"], []
    keys = [c for c in std.OBSERVATIONAL_UNITS if c in df.columns]
    if meta is not None and "col_type" in meta.columns:
        keys += [c for c in (*grouping_columns_of(meta), *filters_of(meta)) if c in df.columns]
    keys = list(dict.fromkeys(keys))
    dupes = df.height - df.select(keys).unique().height
    if dupes:
        return [f"{dupes} rows repeat the time, geography and filter values of another row"], []
    return [], []


def check_symbols(pair: Pair) -> Result:
    df, meta = pair.data, pair.meta
    if df is None or meta is None or "col_type" not in meta.columns:
        return ["symbols cannot be checked without data and metadata"], []
    bad = []
    for col in [c for c in indicators_of(meta) if c in df.columns]:
        s = df[col]
        blank = int((s.str.strip_chars() == "").sum())
        if blank:
            bad.append(f"{col}: {blank} blank cells (write c, z, x or u instead)")
        ok = s.str.contains(std.NUMBER.pattern) | s.is_in(list(std.SYMBOLS))
        wrong = s.filter(~ok & (s.str.strip_chars() != "")).to_list()
        if wrong:
            legacy = [w for w in wrong if w in std.LEGACY_SYMBOLS]
            what = "legacy symbols" if legacy else "values that are neither numbers nor symbols"
            bad.append(f"{col}: {what}: {_examples(wrong)}")
    text_cols = [
        c
        for c in (*filters_of(meta), *grouping_columns_of(meta), *std.TIME_COLUMNS)
        if c in df.columns
    ] + [
        c
        for c in df.columns
        if c in std.GEOGRAPHY_COLUMNS and (c == "geographic_level" or c.endswith("_name"))
    ]
    for col in dict.fromkeys(text_cols):
        sym = df[col].filter(df[col].is_in(list(std.SYMBOLS))).to_list()
        if sym:
            bad.append(f"{col}: symbols belong in indicator cells only: {_examples(sym)}")
    return bad, []


def check_filter_values(pair: Pair) -> Result:
    df, meta = pair.data, pair.meta
    if df is None or meta is None or "col_type" not in meta.columns:
        return ["filter values cannot be checked without data and metadata"], []
    bad = []
    for col in [c for c in (*grouping_columns_of(meta), *filters_of(meta)) if c in df.columns]:
        s = df[col]
        blank = int((s == "").sum())
        if blank:
            bad.append(f"{col}: {blank} blank filter values")
        padded = s.filter((s != s.str.strip_chars()) & (s != "")).to_list()
        if padded:
            bad.append(f"{col}: values with leading or trailing spaces: {_examples(padded)}")
    for col in [c for c in std.GEOGRAPHY_COLUMNS if c in df.columns]:
        agg = df[col].filter(df[col].is_in(list(std.AGGREGATE_WORDS))).to_list()
        if agg:
            bad.append(f"{col}: an aggregate ({_examples(agg)}) in a geography column")
    return bad, []


CHECKS: dict[str, Callable[[Pair], Result]] = {
    "encoding": check_encoding,
    "file_names": check_file_names,
    "required_columns": check_required_columns,
    "column_names": check_column_names,
    "time_period": check_time_period,
    "time_identifier": check_time_identifier,
    "geography": check_geography,
    "metadata": check_metadata,
    "complete_matrix": check_complete_matrix,
    "duplicates": check_duplicates,
    "symbols": check_symbols,
    "filter_values": check_filter_values,
}
# checks that need only the bytes: they run even when a file cannot be read as CSV
_BYTE_CHECKS = ("encoding", "file_names")


def screen_pair(pair: Pair) -> list[Finding]:
    """Every check on one data file and its metadata."""
    out = []
    for name, check in CHECKS.items():
        if pair.unreadable and name not in _BYTE_CHECKS:
            out.append(Finding(name, pair.name, FAIL, "not checked: " + "; ".join(pair.unreadable)))
            continue
        try:
            bad, warn = check(pair)
        except Exception as exc:  # a malformed file must fail the check, never stop the screener
            bad, warn = [f"the check could not run ({type(exc).__name__}: {exc})"], []
        if bad:
            out.append(Finding(name, pair.name, FAIL, "; ".join(bad)))
        elif warn:
            out.append(Finding(name, pair.name, WARNING, "; ".join(warn)))
        else:
            out.append(Finding(name, pair.name, PASS, "passed"))
    return out


def screen_file(data_path: Path | str) -> list[Finding]:
    """Screen one ``<name>.csv`` with the ``<name>.meta.csv`` beside it."""
    return screen_pair(read_pair(Path(data_path)))


def screen_dir(folder: Path | str) -> Screening:
    """Screen every data file in ``folder`` (and its sub-folders) with its metadata.

    A ``.meta.csv`` without its data file, and a folder with no data file, are failures too.
    """
    root = Path(folder)
    result = Screening()
    if not root.is_dir():
        result.findings.append(Finding("file_names", str(root), FAIL, "no such folder"))
        return result
    data = sorted(
        p for p in root.rglob("*.csv") if p.is_file() and not p.name.endswith(std.META_SUFFIX)
    )
    if not data:
        result.findings.append(Finding("file_names", str(root), FAIL, "no data file to screen"))
    for p in data:
        result.findings.extend(screen_file(p))
    for m in sorted(root.rglob("*" + std.META_SUFFIX)):
        if not m.with_name(m.name[: -len(std.META_SUFFIX)] + ".csv").is_file():
            result.findings.append(
                Finding("file_names", m.name, FAIL, "a metadata file with no data file")
            )
    return result


def require_pass(folder: Path | str) -> Screening:
    """:func:`screen_dir`, raising :class:`ScreenerError` on any failure."""
    result = screen_dir(folder)
    if not result.passed:
        raise ScreenerError(f"{folder}: the open data failed the screener\n{result.summary()}")
    return result
