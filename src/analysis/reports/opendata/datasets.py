"""The release's open data files, built from the protected results tables alone.

Every number in an open data file is a cell of a table the analyse stage published
(:func:`analysis.analyse.load_results`): the same release, so the same cells are suppressed, and
nothing is recomputed from the analytic data. What this module does to those cells:

- reshapes them to the standard's tidy layout (:mod:`~analysis.reports.opendata.standard`): one
  row per time period, geography and filter combination; codes become English labels (the French
  labels are in the metadata and the catalogue);
- writes a proportion as a percentage (x 100) and a model's probability difference in percentage
  points, to six decimal places;
- puts the GSS symbol of a cell in place of its value (``c``, ``z``, ``x``, ``u``);
- completes the matrix: a combination a table does not hold is written with ``z`` (no one in that
  group there) when the same combination is held elsewhere at that level in that period, else
  ``x`` (not available for that period, e.g. a 36-month horizon not yet observed);
- one ``Total`` row that is a copy of published cells: the days-of-care indicator's "all placement
  types" row takes the children and days of care every placement row already publishes.

Geography: a table by board or by society gives ``School board`` / ``Children's aid society``
rows (with the region they belong to); a provincial table (or a society table's ``Total`` rows)
gives ``Provincial`` rows; a table by region gives ``Regional`` rows (for school outcomes, the
region of the student's board; for the indicators, of the society) and a table by group of
societies (:data:`SOCIETY_GROUPS`) gives ``Society group`` rows. The release protects those
tables with the others, knowing that boards and societies nest in them
(:attr:`analysis.disclosure.Structure.within`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analysis.disclosure import PROVENANCE, Protected
from analysis.domain import vocab
from analysis.domain.vocab import GRADES
from analysis.reports.i18n import Translator
from analysis.reports.opendata import standard as std
from analysis.reports.opendata.standard import Level

TOTAL = std.TOTAL
DECIMALS = 6
SYMBOL_SUFFIX = "__symbol"

TOPICS: tuple[str, ...] = ("school", "eqao", "gaps", "indicators", "linkage")

# Groupings of societies, from the reference table's flags (analytic/societies.parquet).
SOCIETY_GROUPS = vocab.SOCIETY_GROUPS


@dataclass(frozen=True)
class Filter:
    """A filter column: its codes in display order; labels are ``open.value.<name>.<code>``."""

    name: str
    values: tuple[str, ...] = ()
    default: str | None = None  # code of the filter_default when the file has no Total level
    # values not listed: sort key and labels from the code (None: catalogue label or the code)
    sort_key: Callable[[str], Any] | None = None
    label: Callable[[str, str], str] | None = None


@dataclass(frozen=True)
class Indicator:
    """An indicator column: the published column it copies, its unit and decimal places."""

    name: str
    source: str
    unit: str = ""
    dp: int = 0
    scale: float = 1.0


@dataclass(frozen=True)
class Part:
    """The rows one published table gives a file, at one geographic level."""

    table: str
    level: Level
    time: str | None  # the table's year column; None: pooled over the study years
    location: str | None = None  # the table's board or society column
    filters: Mapping[str, str] = field(default_factory=dict)  # filter -> column, or "=code"
    where: pl.Expr | None = None
    prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None


@dataclass(frozen=True)
class Spec:
    """One open data file."""

    name: str
    topic: str
    time_identifier: str
    filters: tuple[Filter, ...]
    indicators: tuple[Indicator, ...]
    parts: tuple[Part, ...]

    @property
    def pooled(self) -> bool:
        return any(p.time is None for p in self.parts)


@dataclass
class Built:
    """A built file: the cells as written, and what its metadata says."""

    spec: Spec
    frame: pl.DataFrame  # every column as text, in file order
    filters: list[Filter]  # those kept (a filter with one level is dropped)
    tables: list[str]  # the published tables it copies
    codes: dict[str, list[str]] = field(default_factory=dict)  # filter -> its codes, in order
    # the release row ("table:i") each row copies; None for a row the completion added (z or x)
    sources: list[str | None] = field(default_factory=list)


# ---------------------------------------------------------------- cells
def number_text(value: float | int, scale: float = 1.0) -> str:
    """A published number as the file writes it: whole numbers as they are, others to six
    decimal places without trailing zeros."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a published number")
    if isinstance(value, int) and scale == 1.0:
        return str(value)
    x = float(value) * scale
    text = f"{x:.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def cells(df: pl.DataFrame, ind: Indicator) -> list[str]:
    """The cells of one indicator: a number, or the symbol that stands in its place."""
    if ind.source not in df.columns:
        return ["x"] * df.height
    values = df[ind.source].to_list()
    sym_col = ind.source + SYMBOL_SUFFIX
    symbols = df[sym_col].to_list() if sym_col in df.columns else [""] * df.height
    out = []
    for v, s in zip(values, symbols, strict=True):
        if s in std.SYMBOLS:
            out.append(s)
        elif v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append("x")
        else:
            out.append(number_text(v, ind.scale))
    return out


def _code(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


# ---------------------------------------------------------------- table-specific preparation
_PP_SCALES = (
    "probability_difference",
    "attendance_rate_difference",
    "average_attendance_rate_difference",
)


def _model_rows(model: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Model tables: a comparison code, the measure, and differences of proportions in points."""

    def prepare(df: pl.DataFrame) -> pl.DataFrame:
        if "term" in df.columns:
            # an average over the group (every care-related term, the years in care included)
            # is its own measure beside the model's coefficient for the same comparison
            term = pl.col("term")
            measure = (
                pl.when(term.str.starts_with("average_odds_ratio:"))
                .then(pl.lit("average_log_odds_ratio"))
                .when(
                    term.str.starts_with("average_difference:")
                    & (pl.col("scale") != "probability_difference")
                )
                .then(pl.lit("average_") + pl.col("scale"))
                .otherwise(pl.col("scale"))
            )
            comparison = term.str.replace(r"^average_(difference|odds_ratio):", "")
        else:
            measure = pl.col("scale")
            comparison = pl.concat_str(pl.col("dimension"), pl.lit(":"), pl.col("level"))
        pp = pl.col("scale").is_in(list(_PP_SCALES))
        return df.with_columns(
            comparison.alias("comparison"),
            measure.alias("measure"),
            pl.lit(model).alias("model"),
            *[
                pl.when(pp).then(pl.col(c) * 100).otherwise(pl.col(c)).alias(c)
                for c in ("estimate", "ci_low", "ci_high")
                if c in df.columns
            ],
        )

    return prepare


# the release row of a row that only repeats cells other rows print (the audit reads those)
REPEATS = "=repeats-published-cells"


def _placement_total(df: pl.DataFrame) -> pl.DataFrame:
    """Indicator 3 with an "all placement types" row per year and society: children (``n``) and
    days of care (``total_days``) as the placement rows publish them (the value any row shows;
    ``c`` when none does), events = children, and 100% of days (the same by region or group)."""
    place = next(c for c in ("society_id", "region", "society_group") if c in df.columns)
    keys = ["fiscal_year", place]

    def shown(col: str) -> list[pl.Expr]:
        sym = pl.col(col + SYMBOL_SUFFIX)
        return [
            pl.col(col).filter(sym == "").first().alias(col),
            pl.when((sym == "").any()).then(pl.lit("")).otherwise(pl.lit("c")).alias(col + "_s"),
        ]

    tot = df.group_by(keys, maintain_order=True).agg(*shown("n"), *shown("total_days"))
    ok = pl.col("total_days_s") == ""
    tot = tot.select(
        *keys,
        pl.lit(TOTAL).alias("placement_group"),
        pl.col("n"),
        pl.col("n_s").alias("n__symbol"),
        pl.col("n").alias("events"),
        pl.col("n_s").alias("events__symbol"),
        pl.col("total_days").alias("days"),
        pl.col("total_days_s").alias("days__symbol"),
        pl.when(ok & (pl.col("total_days") > 0))
        .then(pl.lit(100.0))
        .otherwise(None)
        .alias("pct_days"),
        pl.when(ok & (pl.col("total_days") > 0))
        .then(pl.lit(""))
        .otherwise(pl.when(ok).then(pl.lit("z")).otherwise(pl.lit("c")))
        .alias("pct_days__symbol"),
    )
    if PROVENANCE in df.columns:  # the audit's view leaves these out: they repeat shown cells
        tot = tot.with_columns(pl.lit(REPEATS).alias(PROVENANCE))
    cols = [c for c in tot.columns]
    return pl.concat([df.select(cols), tot.select([pl.col(c).cast(df.schema[c]) for c in cols])])


# ---------------------------------------------------------------- filters
CARE = ("in_care", "kinship_service", "vysa", "ccsyp", "none")
EVER = ("true", "false")
F_CARE = Filter("care_status", CARE)
F_EVER = Filter("ever_in_care", EVER)
F_GRADE = Filter("grade", GRADES)
F_OUTCOME = Filter(
    "outcome", ("chronic_absent", "on_track", "osslt_first_time_pass"), default="chronic_absent"
)
F_ASSESSMENT = Filter(
    "assessment",
    ("g3_reading", "g3_writing", "g3_math", "g6_reading", "g6_writing", "g6_math", "g9_math")
    + ("osslt",),
    default="g3_reading",
)
F_YEARS = Filter("years_after_grade_9", ("4", "5"), default="4")
F_EVER_ONLY = Filter("ever_in_care", EVER, default="true")
F_CASE = Filter("case_type", ("investigation", "ongoing_protection"), default="investigation")
F_PLACEMENT = Filter("placement_type", ("family", "group", "other"))
F_MONTHS = Filter("months_since_admission", ("12", "24", "36"), default="12")
F_MODEL = Filter("model", ("care_gap", "dose_response", "equity"), default="care_gap")
F_GAP_OUTCOME = Filter(
    "outcome",
    ("eqao_at_standard", "chronic_absence", "attendance", "credits", "on_track"),
    default="eqao_at_standard",
)
F_COMPARISON = Filter(
    "comparison",
    (
        "care_status[in_care]",
        "care_status[kinship_service]",
        "care_status[vysa]",
        "care_status[ccsyp]",
        "years_in_care:in_care",
        "placement_group[group]",
        "indigenous:cw_active",
        "placement_group:in_care_family",
        "placement_group:in_care_group",
        "placement_group:in_care_other",
        "years_in_care:under_1",
        "years_in_care:1_to_2",
        "years_in_care:2_to_4",
        "years_in_care:4_plus",
    ),
    default="care_status[in_care]",
)
F_MEASURE = Filter(
    "measure",
    (
        "log_odds",
        "average_log_odds_ratio",
        "probability_difference",
        "attendance_rate_difference",
        "average_attendance_rate_difference",
        "credits_difference",
        "average_credits_difference",
    ),
    default="log_odds",
)
F_LINKS = Filter("links", ("all", "high_confidence"), default="all")
_NOT_STATED = ("not_stated", "missing", "__missing__")
F_RACE = Filter("race_group", ("indigenous", "black", "white", "other_racialized", *_NOT_STATED))
F_INDIGENOUS = Filter("indigenous", ("true", "false", *_NOT_STATED))
F_GENDER = Filter("gender", ("female", "male", "another", *_NOT_STATED))
F_GENDER_ID = Filter(
    "gender_identity",
    (
        "girl_woman",
        "boy_man",
        "gender_diverse",
        "non_binary_two_spirit",
        "another_identity",
        *_NOT_STATED,
    ),
)
F_BORN = Filter("born_outside_canada", ("true", "false", *_NOT_STATED))
F_LANGUAGE = Filter("first_language", ("english", "french", "other", *_NOT_STATED))
F_AGE = Filter("age_group", ("0-5", "6-9", "10-13", "14-17", "18+", *_NOT_STATED))
F_RACE_DETAIL = Filter(
    "race",
    (
        "black",
        "east_asian",
        "indigenous",
        "latino",
        "middle_eastern",
        "south_asian",
        "southeast_asian",
        "white",
        "another_race",
        "prefer_not_to_answer",
        *_NOT_STATED,
    ),
)
F_SERVICE = Filter(
    "service_type",
    (
        "extended_society_care",
        "interim_society_care",
        "customary_care",
        "kinship_service",
        "vysa",
        "ccsyp",
        *_NOT_STATED,
    ),
)


def _weight_lower(code: str) -> float:
    try:
        return float(code.split(" to ")[0])
    except ValueError:
        return math.inf


def _weight_label(code: str, lang: str) -> str:
    return code.replace(" to ", " à ") if lang == "fr" else code


F_WEIGHT = Filter("match_weight", sort_key=_weight_lower, label=_weight_label)


# ---------------------------------------------------------------- indicators
def _rate_indicators(count: str, events: str, percent: str) -> tuple[Indicator, ...]:
    return (
        Indicator(count, "n"),
        Indicator(events, "events"),
        Indicator(percent, "rate", "%", 1, 100.0),
        Indicator(percent + "_lower_ci", "ci_low", "%", 1, 100.0),
        Indicator(percent + "_upper_ci", "ci_high", "%", 1, 100.0),
    )


_MODEL_INDICATORS = (
    Indicator("students_count", "n"),
    Indicator("estimate", "estimate", "", 2),
    Indicator("estimate_lower_ci", "ci_low", "", 2),
    Indicator("estimate_upper_ci", "ci_high", "", 2),
    Indicator("odds_ratio", "odds_ratio", "", 2),
)

# ---------------------------------------------------------------- the files
P, B, S, R, G = std.PROVINCIAL, std.BOARD, std.SOCIETY, std.REGIONAL, std.SOCIETY_GROUP
_PROV = pl.col("society_id") == TOTAL
_SOCS = pl.col("society_id") != TOTAL
# an indicator's tables: by society (with Ontario's rows), by region and by group of societies
# (their Ontario rows are the society table's: not printed twice)
_SOCIETY_LEVELS: tuple[tuple[str, Level, str | None, pl.Expr], ...] = (
    ("", P, None, _PROV),
    ("", S, "society_id", _SOCS),
    ("_by_region", R, "region", pl.col("region") != TOTAL),
    ("_by_society_group", G, "society_group", pl.col("society_group") != TOTAL),
)


# a school table family by place: (suffix, level, place column, the breakdown it publishes)
_SCHOOL_PLACES: tuple[tuple[str, Level, str, str], ...] = (
    ("board", B, "board_id", "ever_in_care"),
    ("society", S, "society_id", "care_status"),
    ("region", R, "region", "ever_in_care"),
    ("society_group", G, "society_group", "care_status"),
)


def _school_places(
    family: str, filters: Mapping[str, str], where: pl.Expr | None = None
) -> tuple[Part, ...]:
    """The parts of ``<family>_by_{board,society,region,society_group}``."""
    return tuple(
        Part(f"{family}_by_{sfx}", lv, "school_year", loc, {**filters, by: by}, where=where)
        for sfx, lv, loc, by in _SCHOOL_PLACES
    )


def _means_parts(outcome: str) -> tuple[Part, ...]:
    """A mean outcome's parts: Ontario by care status and by grade, then by place."""
    where = pl.col("outcome") == outcome
    return (
        Part(
            "means_by_care_status",
            P,
            "school_year",
            None,
            {"care_status": "care_status"},
            where=where,
        ),
        Part(
            "means_by_grade",
            P,
            "school_year",
            None,
            {"grade": "grade", "care_status": "care_status"},
            where=where,
        ),
        *_school_places("means", {}, where),
    )


def _linkage_parts(table: str) -> tuple[Part, ...]:
    dims = {
        "age_group": "age_group",
        "gender_identity": "gender_identity",
        "race": "race",
        "born_outside_canada": "born_outside_canada",
        "first_language": "first_language",
        "service_type": "service_type",
    }
    parts = [
        Part(table, P, None, None, {f: "group"}, where=pl.col("dimension") == d)
        for d, f in dims.items()
    ]
    parts.append(Part(table, S, None, "group", {}, where=pl.col("dimension") == "society_id"))
    return tuple(parts)


def _equity_parts() -> tuple[Part, ...]:
    dims = {
        "race": "race_group",
        "indigenous": "indigenous",
        "gender": "gender",
        "gender_identity": "gender_identity",
        "born_outside_canada": "born_outside_canada",
        "first_language": "first_language",
    }
    return tuple(
        Part(
            "equity_rates",
            P,
            None,
            None,
            {f: "level", "ever_in_care": "ever_in_care"},
            where=pl.col("dimension") == d,
        )
        for d, f in dims.items()
    )


SPECS: tuple[Spec, ...] = (
    Spec(
        "school_outcomes",
        "school",
        std.ACADEMIC_YEAR,
        (F_OUTCOME, F_GRADE, F_CARE, F_EVER),
        _rate_indicators("students_count", "students_with_outcome_count", "outcome_percent"),
        (
            Part(
                "outcomes_by_care_status",
                P,
                "school_year",
                None,
                {"outcome": "outcome", "care_status": "care_status"},
            ),
            Part(
                "outcomes_by_ever_in_care",
                P,
                "school_year",
                None,
                {"outcome": "outcome", "ever_in_care": "ever_in_care"},
            ),
            Part(
                "outcomes_by_grade",
                P,
                "school_year",
                None,
                {"outcome": "outcome", "grade": "grade", "care_status": "care_status"},
            ),
            *_school_places("outcomes", {"outcome": "outcome"}),
        ),
    ),
    Spec(
        "school_attendance",
        "school",
        std.ACADEMIC_YEAR,
        (F_GRADE, F_CARE, F_EVER),
        (
            Indicator("students_count", "n"),
            Indicator("attendance_percent", "mean", "%", 1, 100.0),
            Indicator("attendance_percent_lower_ci", "ci_low", "%", 1, 100.0),
            Indicator("attendance_percent_upper_ci", "ci_high", "%", 1, 100.0),
        ),
        _means_parts("attendance_rate"),
    ),
    Spec(
        "school_credits",
        "school",
        std.ACADEMIC_YEAR,
        (F_GRADE, F_CARE, F_EVER),
        (
            Indicator("students_count", "n"),
            Indicator("credits_mean", "mean", "", 2),
            Indicator("credits_mean_lower_ci", "ci_low", "", 2),
            Indicator("credits_mean_upper_ci", "ci_high", "", 2),
        ),
        _means_parts("credits_earned"),
    ),
    Spec(
        "graduation",
        "school",
        std.ACADEMIC_YEAR,
        (F_YEARS, F_EVER_ONLY),
        _rate_indicators("students_count", "graduates_count", "graduation_percent"),
        (
            Part(
                "graduation_by_ever_in_care",
                P,
                "cohort",
                None,
                {"years_after_grade_9": "years", "ever_in_care": "ever_in_care"},
            ),
        ),
    ),
    Spec(
        "eqao",
        "eqao",
        std.ACADEMIC_YEAR,
        (F_ASSESSMENT, F_CARE, F_EVER),
        _rate_indicators("students_count", "students_at_standard_count", "at_standard_percent"),
        (
            Part(
                "eqao_by_care_status",
                P,
                "school_year",
                None,
                {"assessment": "assessment", "care_status": "care_status"},
            ),
            Part(
                "eqao_by_ever_in_care",
                P,
                "school_year",
                None,
                {"assessment": "assessment", "ever_in_care": "ever_in_care"},
            ),
            *_school_places("eqao", {"assessment": "assessment"}),
        ),
    ),
    Spec(
        "eqao_equity",
        "eqao",
        std.ACADEMIC_YEAR,
        (F_RACE, F_INDIGENOUS, F_GENDER, F_GENDER_ID, F_BORN, F_LANGUAGE, F_EVER_ONLY),
        _rate_indicators("students_count", "students_at_standard_count", "at_standard_percent"),
        _equity_parts(),
    ),
    Spec(
        "adjusted_gaps",
        "gaps",
        std.ACADEMIC_YEAR,
        (
            F_MODEL,
            F_GAP_OUTCOME,
            Filter(
                "comparison",
                F_COMPARISON.values
                + tuple(
                    f"{d}:{v}"
                    for d, vs in (
                        ("race", ("black", "indigenous", "other_racialized", "not_stated")),
                        ("indigenous", ("true",)),
                        ("gender", ("female", "another")),
                        ("gender_identity", ("girl_woman", "gender_diverse")),
                        ("born_outside_canada", ("true",)),
                        ("first_language", ("french", "other")),
                    )
                    for v in (*vs, "__missing__")
                ),
                default="care_status[in_care]",
            ),
            F_MEASURE,
        ),
        _MODEL_INDICATORS,
        (
            Part(
                "adjusted_gaps",
                P,
                None,
                None,
                {
                    "model": "model",
                    "outcome": "outcome",
                    "comparison": "comparison",
                    "measure": "measure",
                },
                prepare=_model_rows("care_gap"),
            ),
            Part(
                "dose_response",
                P,
                None,
                None,
                {
                    "model": "model",
                    "outcome": "outcome",
                    "comparison": "comparison",
                    "measure": "measure",
                },
                prepare=_model_rows("dose_response"),
            ),
            Part(
                "equity_adjusted",
                P,
                None,
                None,
                {
                    "model": "model",
                    "outcome": "outcome",
                    "comparison": "comparison",
                    "measure": "measure",
                },
                prepare=_model_rows("equity"),
            ),
        ),
    ),
    Spec(
        "linkage_sensitivity",
        "gaps",
        std.ACADEMIC_YEAR,
        (F_GAP_OUTCOME, F_COMPARISON, F_MEASURE, F_LINKS),
        _MODEL_INDICATORS,
        (
            Part(
                "linkage_sensitivity",
                P,
                None,
                None,
                {
                    "outcome": "outcome",
                    "comparison": "comparison",
                    "measure": "measure",
                    "links": "links",
                },
                prepare=_model_rows("linkage_sensitivity"),
            ),
        ),
    ),
    Spec(
        "safety_no_recurrence",
        "indicators",
        std.FINANCIAL_YEAR,
        (F_CASE,),
        _rate_indicators("cases_count", "cases_no_recurrence_count", "no_recurrence_percent"),
        tuple(
            Part(t + sfx, lv, "fiscal_year", loc, {"case_type": "=" + kind}, where=w)
            for t, kind in (
                ("indicator1_no_recurrence_investigation", "investigation"),
                ("indicator2_no_recurrence_ongoing", "ongoing_protection"),
            )
            for sfx, lv, loc, w in _SOCIETY_LEVELS
        ),
    ),
    Spec(
        "placement_days",
        "indicators",
        std.FINANCIAL_YEAR,
        (F_PLACEMENT,),
        (
            Indicator("children_in_care_count", "n"),
            Indicator("children_in_placement_count", "events"),
            Indicator("care_days", "days"),
            Indicator("care_days_percent", "pct_days", "%", 1),
        ),
        tuple(
            Part(
                "indicator3_days_by_placement" + sfx,
                lv,
                "fiscal_year",
                loc,
                {"placement_type": "placement_group"},
                where=w,
                prepare=_placement_total,
            )
            for sfx, lv, loc, w in _SOCIETY_LEVELS
        ),
    ),
    Spec(
        "exits_from_care",
        "indicators",
        std.FINANCIAL_YEAR,
        (F_MONTHS,),
        _rate_indicators(
            "children_admitted_count", "children_left_care_count", "left_care_percent"
        ),
        tuple(
            Part(
                "indicator4_exits" + sfx,
                lv,
                "admission_fiscal_year",
                loc,
                {"months_since_admission": "months"},
                where=w,
            )
            for sfx, lv, loc, w in _SOCIETY_LEVELS
        ),
    ),
    Spec(
        "caregiver_relationship",
        "indicators",
        std.FINANCIAL_YEAR,
        (),
        (
            Indicator("youth_count", "n"),
            Indicator("relationship_score_mean", "mean", "", 2),
            Indicator("relationship_score_lower_ci", "ci_low", "", 2),
            Indicator("relationship_score_upper_ci", "ci_high", "", 2),
        ),
        tuple(
            Part("indicator5_caregiver_relationship" + sfx, lv, "fiscal_year", loc, where=w)
            for sfx, lv, loc, w in _SOCIETY_LEVELS
        ),
    ),
    Spec(
        "linkage_quality",
        "linkage",
        std.ACADEMIC_YEAR,
        (F_AGE, F_GENDER_ID, F_RACE_DETAIL, F_BORN, F_LANGUAGE, F_SERVICE),
        (
            Indicator("records_count", "n"),
            Indicator("linked_records_count", "events"),
            Indicator("linked_percent", "rate", "%", 1),
        ),
        _linkage_parts("methodology_linkage_by_group"),
    ),
    Spec(
        "linkage_match_weights",
        "linkage",
        std.ACADEMIC_YEAR,
        (F_WEIGHT,),
        (Indicator("record_pairs_count", "n"),),
        (Part("linkage_match_weights", P, None, None, {"match_weight": "weight"}),),
    ),
)
SPEC_BY_NAME: dict[str, Spec] = {s.name: s for s in SPECS}
# The table tool's first breakdown for each file (the first one a place has more than one value of)
BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "school_outcomes": ("care_status", "ever_in_care"),
    "school_attendance": ("care_status", "ever_in_care"),
    "school_credits": ("care_status", "ever_in_care"),
    "graduation": ("ever_in_care",),
    "eqao": ("care_status", "ever_in_care"),
    "eqao_equity": ("race_group",),
    "adjusted_gaps": ("comparison",),
    "linkage_sensitivity": ("links",),
    "safety_no_recurrence": ("case_type",),
    "placement_days": ("placement_type",),
    "exits_from_care": ("months_since_admission",),
    "caregiver_relationship": (),
    "linkage_quality": ("service_type", "age_group"),
    "linkage_match_weights": ("match_weight",),
}


# ---------------------------------------------------------------- labels
def value_label(f: Filter, code: str, lang: str) -> str:
    """The label of one filter value in ``lang`` (``Total`` is the standard's word in both)."""
    if code == TOTAL:
        return Translator(lang)("open.value.total")
    if f.label is not None:
        return f.label(code, lang)
    msgid = f"open.value.{f.name}.{code}"
    return Translator(lang).maybe(msgid, code)


def level_label(level: str, lang: str) -> str:
    return Translator(lang)("open.level." + std.LEVEL_BY_NAME[level].code.removesuffix("_code"))


# ---------------------------------------------------------------- reference tables
@dataclass(frozen=True)
class Places:
    """Names and regions of the boards and societies (the non-identifying reference tables)."""

    boards: pl.DataFrame  # board_id, board_name, region
    societies: pl.DataFrame  # society_id, society_name, region, indigenous, faith_based

    def of(self, level: Level) -> pl.DataFrame:
        """``location`` and the columns a level's rows complete: ``<level>_code``,
        ``<level>_name`` (and ``region_code``, ``region_name`` for a board or a society)."""
        if level is std.REGIONAL:
            return pl.DataFrame(
                {
                    "location": list(std.REGION_CODES),
                    "region_code": list(std.REGION_CODES.values()),
                    "region_name": list(std.REGION_CODES),
                }
            ).sort("location")
        if level is std.SOCIETY_GROUP:
            en = Translator("en")
            return pl.DataFrame(
                {
                    "location": [c for c, _ in SOCIETY_GROUPS],
                    level.code: [c for c, _ in SOCIETY_GROUPS],
                    level.name_col: [en(f"open.group.{k}") for _, k in SOCIETY_GROUPS],
                }
            )
        if level is std.BOARD:
            src, code, name = self.boards, "board_id", "board_name"
        elif level is std.SOCIETY:
            src, code, name = self.societies, "society_id", "society_name"
        else:
            raise ValueError(f"{level.name}: no reference table")
        return src.select(
            pl.col(code).alias("location"),
            pl.col(code).alias(level.code),
            pl.col(name).alias(level.name_col),
            pl.col("region")
            .replace_strict(std.REGION_CODES, default="x", return_dtype=pl.String)
            .alias("region_code"),
            pl.col("region").alias("region_name"),
        ).sort("location")

    def society_groups(self) -> list[dict[str, Any]]:
        """The groupings of societies: code, key and member society codes."""
        s = self.societies
        member = {
            "indigenous": s.filter(pl.col("indigenous")),
            "faith_based": s.filter(~pl.col("indigenous") & pl.col("faith_based")),
            "other": s.filter(~pl.col("indigenous") & ~pl.col("faith_based")),
        }
        return [
            {"code": code, "key": key, "societies": sorted(member[key]["society_id"].to_list())}
            for code, key in SOCIETY_GROUPS
        ]


def _named(df: pl.DataFrame, part: Part) -> pl.DataFrame:
    """The rows of a part with a place and every filter level named.

    A value the de-identification withheld (k-anonymity: a null board or grade) is no place and
    no filter level: like the reports, the files publish the named ones only (those students are
    in the rows without that breakdown)."""
    withheld = [part.location] if part.location is not None else []
    withheld += [c for c in part.filters.values() if not c.startswith("=")]
    withheld = [c for c in withheld if c in df.columns]
    if withheld:
        df = df.filter(pl.all_horizontal([pl.col(c).is_not_null() for c in withheld]))
    return df


# ---------------------------------------------------------------- where a row is published
def row_files(results: Mapping[str, Protected]) -> dict[str, tuple[str, ...]]:
    """The open data files each release row is printed in: ``"table:i"`` -> file names (in
    :data:`SPECS` order). A report's table names the files its rows are in (``data_files``),
    so a reader finds every number of a chart in the open data."""
    out: dict[str, list[str]] = {}
    for spec in SPECS:
        for part in spec.parts:
            p = results.get(part.table)
            if p is None or PROVENANCE not in p.df.columns:
                continue
            df = _named(p.df if part.where is None else p.df.filter(part.where), part)
            for rid in df[PROVENANCE].drop_nulls().to_list():
                names = out.setdefault(rid, [])
                if spec.name not in names:
                    names.append(spec.name)
    return {k: tuple(v) for k, v in out.items()}


# ---------------------------------------------------------------- building
KEY = ("time_period", "geographic_level", "location")


def _part_frame(p: Protected, part: Part, spec: Spec, pooled_period: str) -> pl.DataFrame:
    df = p.df
    if part.where is not None:
        df = df.filter(part.where)
    if part.prepare is not None:
        df = part.prepare(df)
    df = _named(df, part)
    n = df.height
    cols: dict[str, list[str]] = {}
    if part.time is None:
        cols["time_period"] = [pooled_period] * n
    else:
        cols["time_period"] = [std.school_period(y) for y in df[part.time].to_list()]
    cols["geographic_level"] = [part.level.name] * n
    cols["location"] = (
        [_code(v) for v in df[part.location].to_list()] if part.location else [""] * n
    )
    for f in spec.filters:
        src = part.filters.get(f.name)
        if src is None:
            cols[f.name] = [TOTAL] * n
        elif src.startswith("="):
            cols[f.name] = [src[1:]] * n
        else:
            cols[f.name] = [_code(v) for v in df[src].to_list()]
    for ind in spec.indicators:
        cols[ind.name] = cells(df, ind)
    # the release row each row copies (for the audit, never written to the file)
    rows: list[str | None] = df[PROVENANCE].to_list() if PROVENANCE in df.columns else [None] * n
    out = pl.DataFrame(cols, schema=dict.fromkeys(cols, pl.String))
    return out.with_columns(pl.Series(PROVENANCE, rows, dtype=pl.String))


def _complete(frame: pl.DataFrame, spec: Spec, places: Places) -> pl.DataFrame:
    """Every time period x location x filter combination of each level (see the module notes)."""
    filters = [f.name for f in spec.filters]
    inds = [i.name for i in spec.indicators]
    times = pl.DataFrame({"time_period": sorted(frame["time_period"].unique().to_list())})
    out = []
    for level in std.GEOGRAPHIC_LEVELS:
        rows = frame.filter(pl.col("geographic_level") == level.name)
        if rows.height == 0:
            continue
        if level is not std.PROVINCIAL:
            locs = places.of(level).select("location")
            unknown = set(rows["location"].unique().to_list()) - set(locs["location"].to_list())
            if unknown:
                raise ValueError(
                    f"open data {spec.name}: {level.name} codes not in the reference table: "
                    f"{sorted(unknown)[:5]}"
                )
        else:
            locs = pl.DataFrame({"location": [""]})
        combos = rows.select(filters).unique() if filters else pl.DataFrame({"_": [0]})
        full = times.join(locs, how="cross").join(combos, how="cross")
        full = full.drop([c for c in full.columns if c == "_"]).with_columns(
            pl.lit(level.name).alias("geographic_level")
        )
        seen = (
            rows.select("time_period", *filters).unique().with_columns(pl.lit(True).alias("_seen"))
        )
        keys = ["time_period", "geographic_level", "location", *filters]
        merged = full.join(rows, on=keys, how="left").join(
            seen, on=["time_period", *filters], how="left"
        )
        fill = pl.when(pl.col("_seen").fill_null(False)).then(pl.lit("z")).otherwise(pl.lit("x"))
        merged = merged.with_columns([pl.coalesce(pl.col(c), fill).alias(c) for c in inds])
        out.append(merged.select(frame.columns))
    return pl.concat(out)


def _order(f: Filter, codes: Sequence[str]) -> dict[str, int]:
    listed = {c: i for i, c in enumerate(f.values)}
    key = f.sort_key or (lambda c: (listed.get(c, len(listed)), c))
    ranked = sorted(set(codes) - {TOTAL}, key=key)
    return {TOTAL: -1, **{c: i for i, c in enumerate(ranked)}}


def build(
    spec: Spec, results: Mapping[str, Protected], places: Places, pooled_period: str
) -> Built | None:
    """The file of ``spec`` from the published tables (``None`` when none of its tables is)."""
    frames, tables = [], []
    for part in spec.parts:
        p = results.get(part.table)
        if p is None:
            continue
        frames.append(_part_frame(p, part, spec, pooled_period))
        tables.append(part.table)
    if not frames or all(f.height == 0 for f in frames):
        return None
    frame = _complete(pl.concat(frames), spec, places)
    # a filter with a single level says nothing: it is left out (as the standard asks)
    kept = [f for f in spec.filters if frame[f.name].n_unique() > 1]
    level_rank = {lv.name: i for i, lv in enumerate(std.GEOGRAPHIC_LEVELS)}
    ranks = [
        pl.col(f.name)
        .replace_strict(_order(f, frame[f.name].unique().to_list()), return_dtype=pl.Int32)
        .alias(f"_r_{f.name}")
        for f in kept
    ]
    frame = frame.with_columns(
        pl.col("geographic_level").replace_strict(level_rank, return_dtype=pl.Int32).alias("_lv"),
        *ranks,
    ).sort(["_lv", "location", "time_period", *[f"_r_{f.name}" for f in kept]])
    frame = frame.drop(["_lv", *[f"_r_{f.name}" for f in kept]])
    # geography columns
    levels = [lv for lv in std.GEOGRAPHIC_LEVELS if lv.name in set(frame["geographic_level"])]
    geo = ["province_code", "province_name"]
    if any(lv.parents or lv is std.REGIONAL for lv in levels):
        geo += ["region_code", "region_name"]
    for lv in levels:
        if lv is not std.PROVINCIAL:
            geo += [c for c in (lv.code, lv.name_col) if c not in geo]
    by_level = []
    for lv in levels:
        rows = frame.filter(pl.col("geographic_level") == lv.name)
        if lv is not std.PROVINCIAL:
            rows = rows.join(places.of(lv), on="location", how="left", maintain_order="left")
        rows = rows.with_columns(
            pl.lit(std.PROVINCE_CODE).alias("province_code"),
            pl.lit(std.PROVINCE_NAME).alias("province_name"),
            *[pl.lit("").alias(c) for c in geo[2:] if c not in rows.columns],
        )
        by_level.append(rows.select(*frame.columns, *geo))
    frame = pl.concat(by_level)
    codes = {f.name: frame[f.name].unique(maintain_order=True).to_list() for f in kept}
    labels = {
        f.name: pl.col(f.name).replace_strict(
            {c: value_label(f, c, "en") for c in codes[f.name]}, return_dtype=pl.String
        )
        for f in kept
    }
    sources = frame[PROVENANCE].to_list()
    frame = frame.with_columns(
        pl.lit(spec.time_identifier).alias("time_identifier"), *labels.values()
    ).select(
        "time_period",
        "time_identifier",
        "geographic_level",
        *geo,
        *[f.name for f in kept],
        *[i.name for i in spec.indicators],
    )
    return Built(
        spec=spec,
        frame=frame,
        filters=kept,
        tables=list(dict.fromkeys(tables)),
        codes=codes,
        sources=sources,
    )
