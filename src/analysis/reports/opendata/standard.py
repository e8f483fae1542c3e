"""The open data standard the release follows, written once: the UK explore-education-statistics
(EES) standard (DfE analysts' guide, "Open Data Standards"; its checks are the R package
eesyscreener), adapted to Ontario where the standard is English-specific.

What is taken as it is: tidy UTF-8 CSV without a byte-order mark, snake_case column names,
``time_period`` (4 or 6 digits; 6-digit periods are consecutive years, ``201718``) with a
``time_identifier`` from the standard's list, ``geographic_level`` and the code and name of each
level on every row, filters whose aggregate level is ``Total`` (or a declared ``filter_default``),
indicators with a unit and decimal places, the GSS symbols in place of values, and a companion
``<name>.meta.csv`` with the standard's eight columns.

What is adapted, and why:

- geography: the standard's levels are England's (National, Regional, Local authority...). The
  Ontario levels are :data:`GEOGRAPHIC_LEVELS`; ``province_code`` / ``province_name`` take the
  place of ``country_code`` / ``country_name`` as the columns every row completes (Ontario's
  Standard Geographical Classification code is 35).
- ``label_fr``: the French label of each column, an extra metadata column (the standard's
  screener would call it invalid; it is the release's only extension).
- symbols: ``c``, ``z``, ``x`` as in the standard, and ``u`` (low reliability) standing alone in
  place of a value; the standard's ``low``/``k`` are not used (counts are not rounded to zero).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.domain.vocab import PROVINCE, REGIONS

# ---------------------------------------------------------------- files
META_SUFFIX = ".meta.csv"
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
FILE_NAME_MAX = 50
COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# ---------------------------------------------------------------- metadata
META_COLUMNS: tuple[str, ...] = (
    "col_name",
    "col_type",
    "label",
    "indicator_grouping",
    "indicator_unit",
    "indicator_dp",
    "filter_hint",
    "filter_grouping_column",
)
META_OPTIONAL: tuple[str, ...] = ("filter_default", "parent_filter", "label_fr")
COL_TYPES: tuple[str, ...] = ("Filter", "Indicator")
INDICATOR_UNITS: tuple[str, ...] = ("", "%", "pp", "£", "£m", "numberstring")
TOTAL = "Total"

# ---------------------------------------------------------------- time
TIME_COLUMNS: tuple[str, ...] = ("time_period", "time_identifier")
ACADEMIC_YEAR = "Academic year"  # the standard's name for a school year (September to August)
FINANCIAL_YEAR = "Financial year"  # April to March
_TERMS = ("Autumn term", "Spring term", "Summer term")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKS = tuple(f"Week {i}" for i in range(1, 53))
_FY_PARTS = (
    "Financial year Q1",
    "Financial year Q2",
    "Financial year Q3",
    "Financial year Q4",
    "Part 1 (April to September)",
    "Part 2 (October to March)",
)
FOUR_DIGIT_IDENTIFIERS: tuple[str, ...] = ("Calendar year", "Reporting year", *_WEEKS, *_MONTHS)
SIX_DIGIT_IDENTIFIERS: tuple[str, ...] = (
    "Autumn and spring term",
    *_TERMS,
    FINANCIAL_YEAR,
    ACADEMIC_YEAR,
    "Tax year",
    *_FY_PARTS,
)
# identifiers that may share a file (a full year and its parts); any other mix is an error
TIME_IDENTIFIER_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Calendar year",),
    ("Reporting year",),
    (ACADEMIC_YEAR,),
    (FINANCIAL_YEAR, *_FY_PARTS),
    ("Tax year",),
    _TERMS,
    ("Autumn and spring term",),
    _MONTHS,
    _WEEKS,
)


def school_period(year: str) -> str:
    """``"2017-18"`` (a school or fiscal year as the study writes it) -> ``"201718"``."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", year)
    if not m:
        raise ValueError(f"{year!r} is not a year written as 2017-18")
    return m.group(1) + m.group(2)


def period_label(period: str, lang: str) -> str:
    """``"201718"`` -> ``"2017-18"`` (en) / ``"2017-2018"`` (fr), as the reports write years."""
    start = int(period[:4])
    if len(period) == 4:
        return period
    return f"{start}-{start + 1}" if lang == "fr" else f"{start}-{period[4:]}"


# ---------------------------------------------------------------- geography
PROVINCE_CODE = "35"  # Statistics Canada, Standard Geographical Classification: Ontario
PROVINCE_NAME = PROVINCE
# The ministry's five regions have no published codes: R1..R5 in the study's order, fixed here.
REGION_CODES: dict[str, str] = {name: f"R{i}" for i, name in enumerate(REGIONS, 1)}


@dataclass(frozen=True)
class Level:
    """A geographic level: the columns its rows complete, and the pattern of its codes."""

    name: str
    code: str
    name_col: str
    code_pattern: str
    # columns of a higher level its rows also complete (the hierarchy), besides the province
    parents: tuple[str, ...] = ()


PROVINCIAL = Level("Provincial", "province_code", "province_name", r"^35$")
REGIONAL = Level("Regional", "region_code", "region_name", r"^R[1-9]$")
BOARD = Level(
    "School board",
    "board_code",
    "board_name",
    r"^B\d{2,}$",
    parents=("region_code", "region_name"),
)
SOCIETY = Level(
    "Children's aid society",
    "society_code",
    "society_name",
    r"^S\d{2,}$",
    parents=("region_code", "region_name"),
)
SOCIETY_GROUP = Level("Society group", "society_group_code", "society_group_name", r"^SG\d+$")
GEOGRAPHIC_LEVELS: tuple[Level, ...] = (PROVINCIAL, REGIONAL, BOARD, SOCIETY, SOCIETY_GROUP)
LEVEL_BY_NAME: dict[str, Level] = {lv.name: lv for lv in GEOGRAPHIC_LEVELS}
# every row completes these (the standard's country_code / country_name)
REQUIRED_GEOGRAPHY: tuple[str, ...] = ("geographic_level", "province_code", "province_name")
GEOGRAPHY_COLUMNS: tuple[str, ...] = (
    "geographic_level",
    *dict.fromkeys(c for lv in GEOGRAPHIC_LEVELS for c in (lv.code, lv.name_col)),
)
REQUIRED_DATA_COLUMNS: tuple[str, ...] = (*TIME_COLUMNS, *REQUIRED_GEOGRAPHY)
# columns the standard defines (observational units): never in a .meta.csv
OBSERVATIONAL_UNITS: tuple[str, ...] = (*TIME_COLUMNS, *GEOGRAPHY_COLUMNS)
# an unknown geography's code: x (not available), z (not applicable, e.g. a custom grouping)
GEOGRAPHY_CODE_SYMBOLS: tuple[str, ...] = ("x", "z")

# ---------------------------------------------------------------- values
SYMBOLS: tuple[str, ...] = ("c", "z", "x", "u")
LEGACY_SYMBOLS: tuple[str, ...] = (":", "~", "..", "-", "*")
NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
AGGREGATE_WORDS: tuple[str, ...] = ("Total", "total", "All", "all")
