"""One typed configuration for the whole build.

The defaults live in ``config/default.yaml`` (shipped inside the wheel as
``analysis/bundled/default.yaml``, with the notebooks, so an installed package works outside the repo).
A user file passed with ``--config`` overrides any subset of it; ``--scale`` and
``--seed`` on the command line override both. The resolved configuration is
frozen, serialisable, and written beside every output (see ``manifest``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scale = Literal["tiny", "small", "province"]

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parents[1]  # src/analysis -> the repository, when run from a source checkout
# What a built wheel ships beside the code (pyproject.toml: [tool.hatch.build.targets.wheel.force-include]).
_BUNDLED = _PACKAGE / "bundled"
IN_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "config").is_dir()
# Where the repository's own files are found: the checkout, or the copies inside the installed package.
REPO_ROOT: Path | None = _CHECKOUT if IN_CHECKOUT else None
DEFAULT_CONFIG_FILE = (
    _CHECKOUT / "config" / "default.yaml" if IN_CHECKOUT else _BUNDLED / "default.yaml"
)
NOTEBOOKS_DIR = _CHECKOUT / "notebooks" if IN_CHECKOUT else _BUNDLED / "notebooks"


def project_root() -> Path:
    """The folder relative paths resolve against: the checkout, or (installed) the working folder."""
    return REPO_ROOT if REPO_ROOT is not None else Path.cwd()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScaleSpec(_Frozen):
    """Size of the synthetic province."""

    students_per_year: int = Field(gt=0)
    cw_children: int = Field(gt=0)
    schools_per_board: int = Field(gt=0)


class Paths(_Frozen):
    data_dir: Path = Path("data/synthetic")
    reports_dir: Path = Path("reports")
    # A user's own extract (CSV or parquet, documented schema). When set, the build validates it
    # into ``sources`` instead of generating synthetic data.
    incoming: Path | None = None

    @property
    def sources(self) -> Path:
        return self.data_dir / "sources"

    @property
    def truth(self) -> Path:
        return self.data_dir / "truth"

    @property
    def reference(self) -> Path:
        return self.data_dir / "reference"

    @property
    def quarantine(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def linkage(self) -> Path:
        return self.data_dir / "linkage"

    @property
    def analytic(self) -> Path:
        return self.data_dir / "analytic"

    @property
    def results(self) -> Path:
        return self.data_dir / "results"

    @property
    def managed(self) -> tuple[Path, ...]:
        """The folders the build writes and replaces: no file of the user's belongs inside them."""
        d = self.data_dir
        return (
            self.sources,
            self.truth,
            self.reference,
            self.quarantine,
            self.linkage,
            self.analytic,
            self.results,
            d / ".state",
            d / ".render-cache",
            self.reports_dir,
        )

    def incoming_problem(self) -> str | None:
        """Why ``incoming`` cannot be read as an extract (``None``: it can).

        An extract inside a folder the build writes would be replaced by the build's own files:
        it is refused before anything runs.
        """
        if self.incoming is None:
            return None
        inc = Path(self.incoming).resolve()
        for folder in self.managed:
            f = Path(folder).resolve()
            if inc == f or f in inc.parents:
                return (
                    f"{self.incoming}: --sources must not be inside {folder}, a folder the build "
                    "writes (its files are replaced on every run): copy the extract to a folder "
                    "of its own and pass that folder with --sources"
                )
        return None


class Noise(_Frozen):
    """Identifier noise between a child-welfare record and the school record (BRIEF.md s.8)."""

    oen_missing: float = Field(0.30, ge=0, le=1)
    oen_wrong: float = Field(0.01, ge=0, le=1)
    first_name_typo: float = Field(0.05, ge=0, le=1)
    first_name_nickname: float = Field(0.05, ge=0, le=1)
    surname_changed: float = Field(0.04, ge=0, le=1)
    dob_day_month_swap: float = Field(0.015, ge=0, le=1)
    dob_off_by_one: float = Field(0.015, ge=0, le=1)
    postal_code_outdated: float = Field(0.30, ge=0, le=1)
    duplicate_cw_record: float = Field(0.08, ge=0, le=1)
    no_student_record: float = Field(0.12, ge=0, le=1)
    # Harder cases (issue 20): what a held-out extract had and the first synthetic Ontario did
    # not. Of the children with no student record, the share who are an enrolled student's
    # sibling (same surname and address), and of those the share who are that student's twin
    # (same birth date too); the share of no-student records that carry a valid OEN belonging
    # to no student; and of the records of enrolled children, the share whose OEN is valid but
    # no student's (a slip that passes the check digit, or an OEN issued elsewhere). Judgement:
    # children outside the school system often have enrolled siblings (a younger child, one
    # schooled privately or on reserve while a sibling attends a board school).
    no_student_enrolled_sibling: float = Field(0.30, ge=0, le=1)
    no_student_twin: float = Field(0.10, ge=0, le=1)
    no_student_valid_oen: float = Field(0.15, ge=0, le=1)
    oen_unenrolled: float = Field(0.002, ge=0, le=1)

    def scaled(self, factor: float) -> Noise:
        """Every rate multiplied by ``factor`` (capped at 1): for degradation tests."""
        return Noise(**{k: min(1.0, v * factor) for k, v in self.model_dump().items()})


class Effects(_Frozen):
    """Effects planted by the generator (documented in the codebook).

    The ``*_cw_involved`` terms apply to every school year of a student with child-welfare
    involvement (before, during and after any service): the disadvantage children known to child
    welfare carry whatever their service that year, which makes the gaps of students ever in care
    as large as the comparators' (``calibration.targets``). The care-status terms are the extra
    difference of a service in that year.
    """

    attendance_gap_cw_involved: float = -0.01
    attendance_gap_in_care: float = -0.015
    attendance_gap_kinship: float = -0.005
    attendance_gap_ccsyp: float = -0.01
    attendance_gap_vysa: float = -0.02
    eqao_logodds_cw_involved: float = -1.0
    eqao_logodds_in_care: float = -0.9
    eqao_logodds_kinship: float = -0.4
    eqao_logodds_ccsyp: float = -0.7
    eqao_logodds_vysa: float = -0.8
    credits_gap_cw_involved: float = -0.5
    credits_gap_in_care: float = -1.2
    credits_gap_kinship: float = -0.5
    credits_gap_ccsyp: float = -1.0
    credits_gap_vysa: float = -1.3
    dose_per_year_in_care: float = -0.15
    group_care_extra_logodds: float = -0.35
    indigenous_extra_logodds: float = -0.2


class Target(_Frozen):
    """One published (or, where none was found, assumed) figure the synthetic province is
    calibrated to, and checked against in ``calibration.json``.

    ``value``: one number, or one per school or fiscal year (``{"2017-18": ...}``). ``unit``:
    ``percent`` (0-100), ``ratio`` (a rate of youth in care over the rate of other students),
    ``count`` (a provincial count; multiplied by the scale's share of the province), ``score``
    (OnLAC points) or ``points`` (percentage points). ``tolerance``: how far the synthetic value may
    be from the target, in the unit (counts: a share of the target, 0.06 = 6%), before sampling
    error at the scale (``calibration.json`` adds 1.96 standard errors). ``source``: where the
    figure comes from; ``assumed`` when no figure was found.
    """

    value: float | dict[str, float]
    unit: Literal["percent", "ratio", "count", "score", "points"]
    tolerance: float = Field(gt=0)
    source: str = Field(min_length=1)


class Calibration(_Frozen):
    """What the synthetic province is calibrated to (``config/default.yaml``, ``calibration:``).

    ``eqao``: % of participating students at or above the provincial standard, by school year and
    assessment (``g9_math_academic``/``g9_math_applied`` before the baseline break); the
    generator's intercepts are solved to hit these. ``targets``: every other published aggregate,
    by name (the names :mod:`analysis.synthetic.calibration` knows); some are inputs of the
    generator (counts, indicator rates), the rest follow from the planted effects and the
    ``synthetic`` parameters, and all are checked in ``calibration.json``.
    """

    eqao: dict[str, dict[str, float]] = Field(default_factory=dict)
    eqao_tolerance: float = Field(3.0, gt=0)
    eqao_source: str = "BRIEF.md s.3"
    targets: dict[str, Target] = Field(default_factory=dict)

    def eqao_target(self, year: str, key: str) -> float:
        """The configured % at standard of assessment ``key`` in ``year``."""
        try:
            return self.eqao[year][key]
        except KeyError as exc:
            raise ValueError(f"calibration.eqao: no target for {year} {key}") from exc


class Synthetic(_Frozen):
    """Parameters of the generator's mechanisms that no published figure gives directly: each
    is chosen (assumed) so that the calibration targets hold, and ``calibration.json`` shows
    whether they do. See ``config/default.yaml`` for the reason behind each value.
    """

    # credits: each of 8 courses a year failed with the student's own probability; most students
    # fail almost none, a struggling share fails many (they also stay a fifth year more often)
    extra_credit_share: float = Field(0.3, ge=0, le=1)
    struggling_share: float = Field(0.10, ge=0, le=1)
    fail_rate_engaged: float = Field(0.025, ge=0, le=0.5)
    fail_rate_struggling: tuple[float, float] = (0.1, 0.45)
    fifth_year_struggling: float = Field(0.8, ge=0, le=1)
    fifth_year_engaged: float = Field(0.03, ge=0, le=1)
    # OSSLT: share of students who failed who pass a later sitting
    osslt_retake_pass: float = Field(0.5, gt=0, lt=1)
    # children in care (monthly average) before the panel: the admission rate of earlier years
    children_in_care_before: dict[str, float] = Field(default_factory=dict)
    # age at admission to care: (first age, last age, share)
    admission_ages: tuple[tuple[int, int, float], ...] = (
        (0, 0, 0.12),
        (1, 5, 0.2),
        (6, 11, 0.25),
        (12, 17, 0.43),
    )
    long_stay_years: float = Field(6.0, gt=0)
    # shares of the children who are not in care: kinship service, VYSA, CCSYP
    other_service_shares: tuple[float, float, float] = (0.6, 0.2, 0.2)
    # society-to-society spread: SD of the society's recurrence rate, CV of its yearly case
    # volume, SD of its mean OnLAC score
    society_recurrence_sd: float = Field(0.03, ge=0)
    society_volume_cv: float = Field(0.15, ge=0)
    society_onlac_sd: float = Field(0.25, ge=0)
    # share of recurrences (new investigations) that verify a protection concern
    recurrence_verified_share: float = Field(0.4, ge=0, le=1)


class Linkage(_Frozen):
    """Record linkage (``analysis.linkage``).

    ``no_student_share`` is the share of child-welfare records whose child has no OnSIS record at
    all (too young for school, at a First Nations-operated school, in a private school or home
    schooled, living outside Ontario). It is known in advance within a range, not measured from
    the linkage: no published figure was found, so the default is judgement (BRIEF.md s.8 and the
    synthetic province's 12%), and the range says how far it could be off. The record posterior
    takes it as the prior share of records *without* a student (the share estimated from the
    scores is kept inside the range), and the threshold report counts the false links it implies
    among records with no true match.

    ``match_threshold`` is the lowest posterior a probabilistic link may have. With
    ``false_link_budget_no_match`` set, the threshold used is the lowest at or above it whose
    *expected* false links among records with no student (from the calibrated posteriors alone,
    no truth) are at most that share of the expected records with no student
    (:func:`analysis.linkage.quality.choose_threshold`); ``None`` uses ``match_threshold`` as is.
    """

    engine: Literal["duckdb", "spark"] = "duckdb"
    match_threshold: float = Field(0.8, gt=0, lt=1)
    false_link_budget_no_match: float | None = Field(0.001, gt=0, lt=1)
    high_confidence: float = Field(0.99, gt=0, lt=1)
    max_pairs_em: int = Field(2_000_000, gt=0)
    no_student_share: float = Field(0.12, gt=0, lt=1)
    no_student_share_range: tuple[float, float] = (0.06, 0.25)

    @model_validator(mode="after")
    def _share_in_range(self) -> Linkage:
        lo, hi = self.no_student_share_range
        if not 0 < lo <= self.no_student_share <= hi < 1:
            raise ValueError(
                "linkage.no_student_share must lie inside linkage.no_student_share_range "
                f"(0 < low <= share <= high < 1; got {self.no_student_share} in [{lo}, {hi}])"
            )
        return self


class Privacy(_Frozen):
    key_env: str = "ANALYSIS_STUDY_KEY"
    key_file: Path | None = None
    synthetic_dev_key: bool = True
    k_anonymity: int = Field(20, ge=2)
    l_diversity: int = Field(2, ge=1)
    min_fsa_children: int = Field(40, ge=1)
    min_cell: int = Field(10, ge=1)
    protection_width: float = Field(5, ge=0)
    # The rule every hidden value keeps against everything the release prints (the release-wide
    # suppression enforces it, `analysis audit` checks it): an interval at least protection_width
    # wide whose upper bound reaches min_cell; an amount (days of care) at least magnitude_share
    # of its value wide.
    magnitude_share: float = Field(0.1, ge=0, le=1)
    round_base: int | None = None
    # The engines of the build's audit of the printed release: None, both (the project's HiGHS
    # programme and Statistics Canada's G-Confid) where G-Confid's environment is installed, the
    # project's alone with a warning where it is not; a list names them, and the build fails if
    # one cannot run.
    audit_engines: tuple[Literal["highs", "gconfid"], ...] | None = None


class Indicators(_Frozen):
    recurrence_definition: Literal["new_investigation", "verified_concern"] = "new_investigation"
    recurrence_window_days: int = 365
    onlac_min_days_in_care: int = 365
    onlac_ages: tuple[int, int] = (10, 17)


class Validation(_Frozen):
    max_bad_row_share: float = Field(0.01, ge=0, le=1)
    row_policy: Literal["quarantine", "fail"] = "quarantine"
    # How an extract is read (docs/validation.md): ``normalise`` applies the documented
    # normalisations (a whole number written 3.0, a header in capitals, NULL for missing...) and
    # counts them; ``strict`` refuses a file that needs any of them.
    reading: Literal["normalise", "strict"] = "normalise"
    # Text read as a missing value in any column (ids, codes, numbers and dates are read without
    # the spaces around them first).
    missing_values: tuple[str, ...] = ("", "NULL")


class Revision(_Frozen):
    """One correction or change after first release, in both languages."""

    date: dt.date
    en: str
    fr: str


class Publication(_Frozen):
    """What every report states about its release (the GSS/DfE release facts)."""

    published: dt.date = dt.date(2024, 3, 28)
    next_release: dt.date = dt.date(2025, 3, 27)
    contact_email: str = "child.welfare.data@ontario.example"
    revisions: tuple[Revision, ...] = ()  # empty on first release


class Reports(_Frozen):
    languages: tuple[Literal["en", "fr"], ...] = ("en", "fr")
    formats: tuple[Literal["html", "pdf"], ...] = ("html", "pdf")
    # Render only these report slugs (e.g. ["ministry-en", "board-b01-en"]); empty = every report.
    # For quick looks and tests; the annual build renders all of them.
    only: tuple[str, ...] = ()
    workers: int | None = None  # report worker processes (default: number of cores, at most 2)
    publication: Publication = Publication()


class Config(_Frozen):
    """The resolved configuration of one build."""

    seed: int = 20251
    scale: Scale = "small"
    paths: Paths = Paths()
    school_years: tuple[str, ...] = (
        "2017-18",
        "2018-19",
        "2019-20",
        "2020-21",
        "2021-22",
        "2022-23",
    )
    no_eqao_years: tuple[str, ...] = ("2019-20", "2020-21")
    eqao_baseline_break: str = "2021-22"
    # school years whose graduates did not need the literacy requirement (pandemic waiver)
    literacy_waived_years: tuple[str, ...] = ("2019-20", "2020-21", "2021-22")
    scales: dict[str, ScaleSpec]
    noise: Noise = Noise()
    effects: Effects = Effects()
    linkage: Linkage = Linkage()
    privacy: Privacy = Privacy()
    indicators: Indicators = Indicators()
    validation: Validation = Validation()
    reports: Reports = Reports()
    calibration: Calibration = Calibration()
    synthetic: Synthetic = Synthetic()
    g9_academic_share: float = Field(0.75, ge=0, le=1)

    @field_validator("scales")
    @classmethod
    def _all_scales(cls, v: dict[str, ScaleSpec]) -> dict[str, ScaleSpec]:
        missing = {"tiny", "small", "province"} - set(v)
        if missing:
            raise ValueError(f"scales: missing {sorted(missing)}")
        return v

    @property
    def size(self) -> ScaleSpec:
        return self.scales[self.scale]

    @property
    def cw_share_of_province(self) -> float:
        """This scale's child-welfare volumes as a share of the province's (the ``province``
        scale is Ontario): provincial counts in ``calibration.targets`` are multiplied by it."""
        return self.size.cw_children / self.scales["province"].cw_children

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with top-level fields replaced (validated again)."""
        data = self.model_dump()
        data.update(changes)
        return Config.model_validate(data)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2)

    def fingerprint(self, *, data_only: bool = False) -> str:
        """SHA-256 of the resolved configuration (identifies a build's inputs).

        Which reports to render, on how many workers and in which folders never change a
        number: they are left out, so asking for more reports does not redo the data stages or the reports already made.
        ``data_only`` also leaves out the whole ``reports`` section and the audit's engines (for
        the data stages: the render stage runs the audit).
        """
        data = json.loads(self.to_json())
        # where the build writes is not one of its inputs: a build moved or copied elsewhere is
        # the same build (a user's extract, ``paths.incoming``, is an input and stays)
        data["paths"].pop("data_dir", None)
        data["paths"].pop("reports_dir", None)
        data["reports"].pop("only", None)
        data["reports"].pop("workers", None)
        if data_only:
            data.pop("reports")
            data["privacy"].pop("audit_engines", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(
    path: Path | str | None = None,
    *,
    scale: str | None = None,
    seed: int | None = None,
    data_dir: Path | str | None = None,
    reports_dir: Path | str | None = None,
    incoming: Path | str | None = None,
    engine: str | None = None,
) -> Config:
    """Load the defaults, overlay ``path`` and the explicit overrides, validate once.

    Raises
    ------
    ValueError
        Naming the file and the offending key when the configuration is invalid.
    """
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text(encoding="utf-8"))
    # Environment overrides for tools that cannot pass arguments (nbval, Quarto, JupyterLab).
    if data_dir is None and os.environ.get("ANALYSIS_DATA_DIR"):
        data_dir = os.environ["ANALYSIS_DATA_DIR"]
    if reports_dir is None and os.environ.get("ANALYSIS_REPORTS_DIR"):
        reports_dir = os.environ["ANALYSIS_REPORTS_DIR"]
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"{p}: configuration file not found")
        user = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(user, dict):
            raise ValueError(f"{p}: configuration must be a mapping of keys to values")
        raw = _deep_merge(raw, user)
    if scale is not None:
        raw["scale"] = scale
    if seed is not None:
        raw["seed"] = seed
    if data_dir is not None:
        raw.setdefault("paths", {})["data_dir"] = str(data_dir)
    if reports_dir is not None:
        raw.setdefault("paths", {})["reports_dir"] = str(reports_dir)
    if incoming is not None:
        raw.setdefault("paths", {})["incoming"] = str(incoming)
    if engine is not None:
        raw.setdefault("linkage", {})["engine"] = engine
    # Relative paths in configuration files are relative to the repository (or, for an installed
    # package, the working folder), so notebooks and the CLI find the same data.
    paths = raw.setdefault("paths", {})
    root = project_root()
    for key in ("data_dir", "reports_dir", "incoming"):
        if paths.get(key) is not None and not Path(paths[key]).is_absolute():
            paths[key] = str(root / paths[key])
    try:
        return Config.model_validate(raw)
    except Exception as exc:  # pydantic's message names the key and rule
        where = path if path is not None else DEFAULT_CONFIG_FILE
        raise ValueError(f"{where}: invalid configuration: {exc}") from exc
