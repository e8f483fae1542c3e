"""The ``analyse`` stage: outcomes, adjusted gaps and the five indicators, through disclosure.

Reads only ``cfg.paths.analytic`` and writes ``cfg.paths.results`` atomically: one
``<name>.parquet`` per published table (already protected: numeric columns null where suppressed,
``<col>__symbol`` columns), a ``<name>.json`` with its disclosure metadata, ``index.json`` listing
the tables and ``disclosure_audit.json``. :func:`load_results` reads them back as
:class:`analysis.disclosure.Protected` for the report notebooks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from analysis.analyse import indicators as ind
from analysis.analyse import methodology, models, outcomes
from analysis.analyse.outcomes import Spec
from analysis.config import Config
from analysis.disclosure import (
    PROVENANCE,
    SYMBOL_NOT_AVAILABLE,
    DisclosureError,
    Protected,
    Structure,
)
from analysis.disclosure.attack import RELEASE_DIR, write_release
from analysis.domain.vocab import REGIONS, SOCIETY_GROUP_CODES
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.stages import StageResult

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"

# Notes a report shows under a table, as catalogue messages (``msg:<id>``, see
# ``analysis.reports.tables.translate_notes``): each report says them in its own language.
NOTES: dict[str, tuple[str, ...]] = {
    "eqao": ("msg:text.no_testing", "msg:text.new_baseline"),
    "models": ("msg:note.models",),
}


# columns of the two large tables that ``build_tables`` reads (the rest are never used here)
STUDENT_YEAR_COLUMNS: tuple[str, ...] = (
    "study_id",
    "school_year",
    "board_id",
    "grade",
    "gender",
    "days_enrolled",
    "days_absent",
    "credits_earned",
    "care_status",
    "ever_in_care",
    "cw_involved",
    "society_id",
    "cumulative_days_in_care",
    "placement_group",
    "race",
    "indigenous",
    "born_outside_canada",
    "first_language",
    "gender_identity",
    "link_probability",
)
EQAO_COLUMNS: tuple[str, ...] = (
    "study_id",
    "school_year",
    "board_id",
    "grade",
    "assessment",
    "participation",
    "at_standard",
    "first_time",
    "g9_stream",
)


def _path(cfg: Config, name: str) -> Path:
    path = cfg.paths.analytic / f"{name}.parquet"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: analytic table not found (run `analysis deidentify` first)"
        )
    return path


def _read(cfg: Config, name: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Read one analytic table; with ``columns``, only those that exist (projected scan)."""
    lf = pl.scan_parquet(_path(cfg, name))
    if columns is not None:
        have = lf.collect_schema().names()
        lf = lf.select([c for c in columns if c in have])
    return lf.collect(engine="streaming")


# student-year columns only the equity views read: loaded for child-welfare-involved rows only
EQUITY_ONLY_COLUMNS: tuple[str, ...] = (
    "race",
    "born_outside_canada",
    "first_language",
    "gender_identity",
)


def _read_people(cfg: Config) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``student_years`` and ``eqao`` (used columns only), and the child-welfare-involved
    student-years with the equity columns too.

    ``study_id`` (a 64-character pseudonym) becomes a dense ``UInt32`` code, the same for the same
    pseudonym in all three frames: the analysis only groups, joins and counts by it, and the code
    never leaves the process. Other text columns become categorical (4 bytes a row; the published
    tables cast them back to text). The equity-only columns (race, language, ...) are read for the
    child-welfare-involved rows alone, the only rows that use them.
    """
    sy = pl.scan_parquet(_path(cfg, "student_years"))
    eq = pl.scan_parquet(_path(cfg, "eqao"))
    ids = pl.Categorical(pl.Categories.random("analyse_study_id"))

    def compact(lf: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
        schema = lf.collect_schema()
        cols = [c for c in columns if c in schema]
        return lf.select(cols).with_columns(
            pl.col("study_id").cast(ids),
            *[
                pl.col(c).cast(pl.Categorical)
                for c in cols
                if c != "study_id" and schema[c] == pl.String
            ],
        )

    have = sy.collect_schema().names()
    # ``race`` stands in for a missing ``indigenous`` column (models.model_frame)
    equity_only = [c for c in EQUITY_ONLY_COLUMNS if not (c == "race" and "indigenous" not in have)]
    main = [c for c in STUDENT_YEAR_COLUMNS if c not in equity_only]
    student_years = compact(sy, main).collect(engine="streaming")
    eqao = compact(eq, EQAO_COLUMNS).collect(engine="streaming")
    cw = compact(sy.filter(pl.col("cw_involved")), STUDENT_YEAR_COLUMNS).collect(engine="streaming")
    # codes only once all three frames are read: the pseudonym -> code mapping lives as long as a
    # frame holds the categorical column
    code = pl.col("study_id").to_physical()
    return (
        student_years.with_columns(code),
        eqao.with_columns(code),
        cw.with_columns(code),
    )


class _Clock:
    """Log the seconds each part of :func:`build_tables` takes (``analysis analyse -v``)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()

    def lap(self, what: str) -> None:
        now = time.perf_counter()
        log.info("analyse: %s in %.1f s", what, now - self.t)
        self.t = now


def build_tables(
    student_years: pl.DataFrame,
    eqao: pl.DataFrame,
    cases: pl.DataFrame,
    care_days: pl.DataFrame,
    admissions: pl.DataFrame,
    onlac: pl.DataFrame,
    cfg: Config,
    *,
    cw_student_years: pl.DataFrame | None = None,
    places: Places | None = None,
) -> dict[str, Spec]:
    """Every publishable table, unprotected: ``name -> (table, dims, numerator, stats)``.

    ``cw_student_years``: the child-welfare-involved rows of ``student_years`` with the equity
    columns (``student_years`` may then lack them); by default taken from ``student_years``.
    ``places``: the boards' and societies' regions and groups; with it, the school outcomes are
    also published by region (of the board) and by group of societies, and the indicators by
    region and group (of the society).
    """
    specs: dict[str, Spec] = {}
    clock = _Clock()
    if cw_student_years is None:
        cw_student_years = student_years.filter(pl.col("cw_involved"))
    # the outcome and model rows, built once for every table and model
    sy = models.model_frame(outcomes.student_year_outcomes(student_years, eqao)).drop(
        # in the dose term now; 140 MB at province
        "cumulative_days_in_care",
        "years_in_care",
    )
    eq = models.eqao_model_rows(eqao, sy)
    frames = models.ModelFrames(sy=sy, eq=eq)
    clock.lap("outcome and model rows")
    described = (sy, eq) if places is None else (places.tag(sy), places.tag(eq))
    specs.update(
        outcomes.descriptive_tables(
            student_years,
            eqao,
            school_years=cfg.school_years,
            no_eqao_years=cfg.no_eqao_years,
            baseline_break=cfg.eqao_baseline_break,
            frames=described,
            literacy_waived=cfg.literacy_waived_years,
            grouped=places is not None,
        )
    )
    del described
    clock.lap("descriptive tables")
    coef_stats = ("estimate", "ci_low", "ci_high", "odds_ratio", "or_low", "or_high")
    fits = models.fit_outcome_models(None, None, frames=frames)
    gaps = models.coefficient_table(fits, None, frame=sy).drop("se")
    specs["adjusted_gaps"] = (gaps, ["outcome", "term"], None, coef_stats)
    clock.lap("adjusted_gaps")
    dose = models.dose_response(None, None, frames=frames).drop("se")
    specs["dose_response"] = (dose, ["outcome", "dimension", "level"], None, coef_stats)
    clock.lap("dose_response")
    equity = models.equity_views(cw_student_years, eqao).drop("se")
    specs["equity_adjusted"] = (equity, ["outcome", "dimension", "level"], None, coef_stats)
    clock.lap("equity_adjusted")
    sens = models.linkage_sensitivity(
        None, None, cfg.linkage.high_confidence, frames=frames, fits=fits
    ).drop("se")
    specs["linkage_sensitivity"] = (sens, ["outcome", "term", "links"], None, coef_stats)
    clock.lap("linkage_sensitivity")
    # equity views, descriptive: EQAO % at standard by dimension among child-welfare-involved students
    cw = outcomes.eqao_with_care(eqao, cw_student_years)
    cw = cw.filter((pl.col("assessment") != "osslt") | pl.col("first_time").fill_null(False))
    if "indigenous" not in cw.columns:
        cw = cw.with_columns((pl.col("race") == "indigenous").fill_null(False).alias("indigenous"))
    eq_tables = []
    for dim in models.EQUITY_DIMENSIONS:
        if dim not in cw.columns:
            continue
        f = cw.with_columns(
            pl.col(dim).cast(pl.Utf8).fill_null("not_stated").alias("level"),
            pl.lit(dim).alias("dimension"),
        )
        eq_tables.append(
            outcomes.rate_table(f, "at_standard", ["dimension", "level", "ever_in_care"])
        )
    if eq_tables:
        specs["equity_rates"] = (
            pl.concat(eq_tables).drop("outcome"),
            ["dimension", "level", "ever_in_care"],
            "events",
            ("rate", "ci_low", "ci_high"),
        )
    clock.lap("equity_rates")
    i = cfg.indicators
    specs.update(
        ind.all_indicators(
            cases,
            care_days,
            admissions,
            onlac,
            recurrence_definition=i.recurrence_definition,
            recurrence_window_days=i.recurrence_window_days,
            onlac_ages=i.onlac_ages,
            onlac_min_days_in_care=i.onlac_min_days_in_care,
            fiscal_years=cfg.school_years,
            groupings=None if places is None else places.society_groupings(),
        )
    )
    clock.lap("indicators")
    return specs


# What the dims of the release mean, for the suppression and the audit that see every table at
# once (analysis.disclosure.ledger): which dims split people into groups that add up, which
# populations nest, which columns repeat one value across rows, which stats are amounts.
IND3 = "indicator3_days_by_placement"
IND4 = "indicator4_exits"
# the indicators are published by society and, the same way, by these groupings of societies
GROUPINGS = ("region", "society_group")


def _with_groupings(name: str) -> tuple[str, ...]:
    return (name, *(f"{name}_by_{g}" for g in GROUPINGS))


STRUCTURE = Structure(
    partitions=(
        "board_id",
        "society_id",
        "region",
        "society_group",
        "care_status",
        "ever_in_care",
        "grade",
    ),
    pairs={"equity_rates": ("dimension", "level"), "cw_records_linkage": ("dimension", "group")},
    nested={"links": ("all", "high_confidence"), "months": (36, 24, 12)},
    constant={
        **{
            t: {"n": "placement_group", "total_days": "placement_group"}
            for t in _with_groupings(IND3)
        },
        **{t: {"n": "months"} for t in _with_groupings(IND4)},
    },
    covers=dict.fromkeys(_with_groupings(IND3), "placement_group"),
    magnitudes=dict.fromkeys(_with_groupings(IND3), ("days", "total_days")),
    sums={t: {"total_days": "days"} for t in _with_groupings(IND3)},
    ratios={t: {"pct_days": ("days", "total_days")} for t in _with_groupings(IND3)},
    # indicators 1 and 2 count case closings (of two different kinds); the others count people
    units={
        "indicator1_no_recurrence_investigation": "investigation_closings",
        "indicator2_no_recurrence_ongoing": "ongoing_protection_closings",
    },
)
# models fitted on the same students: a term's count is the same cell in both tables
MODEL_TERMS = ("adjusted_gaps", "linkage_sensitivity")
INDICATORS = (
    "indicator1_no_recurrence_investigation",
    "indicator2_no_recurrence_ongoing",
    IND3,
    IND4,
    "indicator5_caregiver_relationship",
)
STUDENT_UNIVERSES = ("students_outcomes", "students_means", "eqao_students")
STRUCTURE_FILE = "structure.json"


@dataclass(frozen=True)
class Places:
    """Where each board and society belongs: its region, and each society's group
    (:data:`analysis.reports.opendata.datasets.SOCIETY_GROUPS`); from the analytic reference
    tables, which hold no person."""

    board_region: dict[str, str]
    society_region: dict[str, str]
    society_group: dict[str, str]

    @classmethod
    def read(cls, analytic: Path) -> Places | None:
        """The places of ``analytic``'s reference tables; ``None`` when it has none (an extract
        without them is published by board and society only)."""
        paths = [analytic / "boards.parquet", analytic / "societies.parquet"]
        if not any(p.is_file() for p in paths):
            log.warning(
                "analyse: %s has no boards.parquet or societies.parquet: nothing is published "
                "by region or by group of societies",
                analytic,
            )
            return None
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(
                    f"{p}: reference table not found (run `analysis deidentify`)"
                )
        boards = pl.read_parquet(paths[0], columns=["board_id", "region"])
        socs = pl.read_parquet(
            paths[1], columns=["society_id", "region", "indigenous", "faith_based"]
        )
        group = (
            pl.when(pl.col("indigenous"))
            .then(pl.lit(SOCIETY_GROUP_CODES["indigenous"]))
            .when(pl.col("faith_based"))
            .then(pl.lit(SOCIETY_GROUP_CODES["faith_based"]))
            .otherwise(pl.lit(SOCIETY_GROUP_CODES["other"]))
        )
        socs = socs.with_columns(group.alias("society_group"))

        def named(df: pl.DataFrame, key: str) -> dict[str, str]:
            # a region the extract does not know ("unknown") is no region: those rows are in
            # Ontario's, not in a region's
            df = df.filter(pl.col("region").is_in(list(REGIONS)))
            return dict(zip(df[key], df["region"], strict=True))

        return cls(
            board_region=named(boards, "board_id"),
            society_region=named(socs, "society_id"),
            society_group=dict(zip(socs["society_id"], socs["society_group"], strict=True)),
        )

    def tag(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the ``region`` of its board and the ``society_group`` of its society
        (null where the board or the society is: generalised, or none).

        The region is the named board's, not the de-identified ``board_region``: a region's cell
        is then exactly the sum of its boards' cells. With the students of boards generalised to
        their region in it, a region minus its boards would count those few students (a handful
        in a small board), and protecting that difference would cost many more cells."""

        def of(col: str, mapping: dict[str, str]) -> pl.Expr:
            return (
                pl.col(col)
                .cast(pl.Utf8)
                .replace_strict(mapping, default=None, return_dtype=pl.Utf8)
                .cast(pl.Categorical)
            )

        return frame.with_columns(
            of("board_id", self.board_region).alias("region"),
            of("society_id", self.society_group).alias("society_group"),
        )

    def society_groupings(self) -> dict[str, dict[str, str]]:
        return {"region": self.society_region, "society_group": self.society_group}

    def within(self) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
        """:attr:`Structure.within`: boards in regions and societies in groups, for the school
        outcomes; societies in regions and in groups, for the indicators."""
        out: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        for u in STUDENT_UNIVERSES:
            out[u] = {
                "board_id": {"region": self.board_region},
                "society_id": {"society_group": self.society_group},
            }
        for name in INDICATORS:
            out[name] = {
                "society_id": {"region": self.society_region, "society_group": self.society_group}
            }
        return out


def release_structure(within: Mapping[str, Any] | None) -> Structure:
    """:data:`STRUCTURE` with the geography nesting of one release (``None``: none)."""
    return dataclasses.replace(STRUCTURE, within=within or {})


def load_structure(cfg: Config) -> Structure:
    """The structure the last ``analyse`` run protected its release with (for the audit)."""
    path = cfg.paths.results / STRUCTURE_FILE
    within = json.loads(path.read_text(encoding="utf-8"))["within"] if path.is_file() else None
    return release_structure(within)


def _universe(name: str) -> str:
    """Population counted in a table: cells of the same universe are the same people."""
    if name in methodology.UNIVERSES:
        return methodology.UNIVERSES[name]
    if name in MODEL_TERMS:
        return "model_terms"
    for base in INDICATORS:
        if name in _with_groupings(base):
            return base
    if name.startswith("eqao_"):
        return "eqao_students"
    if name.startswith(("outcomes_", "means_")):
        return "students_" + name.split("_")[0]
    return name


def _split_no_assessment(table: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    if "assessment_status" not in table.columns:
        return table, None
    return (
        table.filter(pl.col("assessment_status") == "assessed"),
        table.filter(pl.col("assessment_status") == "no_assessment"),
    )


def _restore_no_assessment(p: Protected, filler: pl.DataFrame | None) -> Protected:
    """Append the 'no assessment' years: null values, symbol ``x`` (not available), never zero."""
    if filler is None or filler.height == 0:
        return p
    add = filler.with_columns(
        [pl.lit(SYMBOL_NOT_AVAILABLE).alias(c) for c in p.df.columns if c.endswith("__symbol")]
    )
    add = add.select(
        [
            pl.col(c).cast(p.df.schema[c])
            if c in add.columns
            else pl.lit(None, dtype=p.df.schema[c]).alias(c)
            for c in p.df.columns
        ]
    )
    df = pl.concat([p.df, add]).sort(
        [d for d in p.dims if d != "school_year"] + ["school_year"], nulls_last=True
    )
    return Protected(
        name=p.name,
        df=df,
        dims=p.dims,
        count=p.count,
        numerator=p.numerator,
        stats=p.stats,
        notes=p.notes,
    )


def protect_all(
    specs: dict[str, Spec], cfg: Config, structure: Structure = STRUCTURE
) -> tuple[dict[str, Protected], Any]:
    """Pass every table through one :class:`analysis.disclosure.Release`, consistently."""
    from analysis.disclosure import Release

    release = Release(cfg.privacy, structure)
    fillers: dict[str, pl.DataFrame | None] = {}
    for name, (table, dims, numerator, stats) in specs.items():
        published, filler = _split_no_assessment(table)
        fillers[name] = filler
        release.protect(
            name,
            published,
            dims=dims,
            count="n",
            numerator=numerator,
            stats=stats,
            universe=_universe(name),
        )
    final = release.finalise()
    out = {}
    for name, p in final.items():
        notes: Sequence[str] = NOTES["eqao"] if name.startswith("eqao_") else ()
        if name in {"adjusted_gaps", "dose_response", "equity_adjusted", "linkage_sensitivity"}:
            notes = NOTES["models"]
        # each row says which row of the release it is (never printed; see PROVENANCE)
        rows = pl.format("{}:{}", pl.lit(name), pl.int_range(pl.len())).alias(PROVENANCE)
        p = Protected(
            name=p.name,
            df=p.df.with_columns(rows),
            dims=p.dims,
            count=p.count,
            numerator=p.numerator,
            stats=p.stats,
            notes=tuple(p.notes) + tuple(notes),
        )
        out[name] = _restore_no_assessment(p, fillers.get(name))
    return out, release


PUBLISHED_DECIMALS = 10
DEGENERATE = 1e6


def _published_precision(df: pl.DataFrame) -> pl.DataFrame:
    """Floats rounded to ``PUBLISHED_DECIMALS`` places.

    Sums of floats (means, model fits) can differ in their last bits with the order a parallel
    group-by happens to add them; rounding far below any published precision makes the same
    data give the same bytes on every run.
    """
    floats = [c for c, t in df.schema.items() if t in (pl.Float64, pl.Float32)]
    # A model term with (quasi-)separation has no estimate worth printing: its value and interval
    # run to 1e14 and beyond. It is published as not available ("x"), not as a number.
    for c in floats:
        sym = f"{c}__symbol"
        bad = pl.col(c).is_not_null() & ~(pl.col(c).abs() < DEGENERATE)
        if sym in df.columns:
            df = df.with_columns(
                pl.when(bad).then(pl.lit(SYMBOL_NOT_AVAILABLE)).otherwise(pl.col(sym)).alias(sym)
            )
        df = df.with_columns(pl.when(bad).then(None).otherwise(pl.col(c)).alias(c))
    return df.with_columns([pl.col(c).round(PUBLISHED_DECIMALS) for c in floats]) if floats else df


def write_results(tables: dict[str, Protected], folder: Path) -> list[Path]:
    """Write protected tables and their metadata into ``folder`` (a staging directory)."""
    paths = []
    index = []
    for name, p in sorted(tables.items()):
        paths.append(write_parquet(_published_precision(p.df), folder / f"{name}.parquet"))
        meta = {
            "name": name,
            "dims": list(p.dims),
            "count": p.count,
            "numerator": p.numerator,
            "stats": list(p.stats),
            "notes": list(p.notes),
            "rows": p.df.height,
        }
        paths.append(write_json(meta, folder / f"{name}.json"))
        index.append(meta)
    paths.append(write_json({"tables": index}, folder / INDEX_FILE))
    return paths


def load_results(cfg: Config) -> dict[str, Protected]:
    """The published tables of the last ``analyse`` run, by name."""
    return load_results_from(cfg.paths.results)


def load_results_from(folder: Path) -> dict[str, Protected]:
    """The published tables in a results ``folder``, by name."""
    idx = folder / INDEX_FILE
    if not idx.is_file():
        raise FileNotFoundError(f"{idx}: results index not found (run `analysis analyse` first)")
    out = {}
    for meta in json.loads(idx.read_text(encoding="utf-8"))["tables"]:
        name = meta["name"]
        out[name] = Protected(
            name=name,
            df=pl.read_parquet(folder / f"{name}.parquet"),
            dims=tuple(meta["dims"]),
            count=meta["count"],
            numerator=meta["numerator"],
            stats=tuple(meta["stats"]),
            notes=tuple(meta["notes"]),
        )
    return out


def run(cfg: Config) -> StageResult:
    """Analyse the de-identified dataset and publish protected tables to ``cfg.paths.results``."""
    t0 = time.perf_counter()
    sy, eqao, cw = _read_people(cfg)
    frames = {n: _read(cfg, n) for n in ("cases", "care_days", "admissions", "onlac")}
    places = Places.read(cfg.paths.analytic)
    specs = build_tables(
        sy,
        eqao,
        frames["cases"],
        frames["care_days"],
        frames["admissions"],
        frames["onlac"],
        cfg,
        cw_student_years=cw,
        places=places,
    )
    specs.update(methodology.methodology_tables(cfg))
    t_build = time.perf_counter() - t0
    within = places.within() if places is not None else {}
    tables, release = protect_all(specs, cfg, release_structure(within))
    # the release-wide checks gate publication: nothing is written when one fails, but the
    # audit that says why goes where the analyst can read it (internal, never published)
    try:
        release.check()
    except DisclosureError:
        release.write_audit(cfg.paths.data_dir / "audit" / "disclosure_audit.json")
        raise
    result = StageResult(stage="analyse")
    with atomic_dir(cfg.paths.results) as tmp:
        write_results(tables, tmp)
        release.write_audit(tmp / "disclosure_audit.json")
        write_release(release.true_tables(), tmp / RELEASE_DIR)
        write_json(json.loads(cfg.to_json()), tmp / "config.json")
        write_json({"within": within}, tmp / STRUCTURE_FILE)
    result.outputs = sorted(cfg.paths.results.glob("*"))
    result.rows = {
        "student_years in": sy.height,
        "eqao in": eqao.height,
        **{f"{k} in": v.height for k, v in frames.items()},
    }
    result.rows.update({f"{k} out": p.df.height for k, p in tables.items()})
    result.metrics = {
        "tables": len(tables),
        "suppressed_counts": sum(
            int(p.df[f"{p.count}__symbol"].eq("c").sum()) for p in tables.values()
        ),
        "release_wide": release.release_wide,
        "seconds_models_and_tables": round(t_build, 2),
        "seconds_total": round(time.perf_counter() - t0, 2),
    }
    log.info("analyse: %d tables in %.1f s", len(tables), time.perf_counter() - t0)
    return result
