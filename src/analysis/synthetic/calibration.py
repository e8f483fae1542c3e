"""``calibration.json``: every calibration target against the generated province.

Each target of ``Config.calibration`` is computed on the generator's ground truth the way the
published table computes it: the same functions (:mod:`analysis.domain.measures`,
:mod:`analysis.domain.indicators`) on frames shaped like the analytic tables, built here from the
true records (true persons and care statuses: what the reports would show with perfect linkage).
Shaping the frames repeats what de-identification does to the sources (fiscal years, days to exit
or recurrence, days in care at an OnLAC assessment); ``tests/test_calibration.py`` checks on a
tiny build that the values here are those of the published tables.

A target holds when the synthetic value is within its tolerance of it, widened by 1.96 standard
errors of the synthetic value at this scale (binomial for rates, delta method for ratios, Poisson
for the counts of children in care): a scale of a few thousand students cannot pin a rate of youth
in care to a point, the province can.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from analysis.config import Config, Target
from analysis.domain import indicators as ind
from analysis.domain import measures
from analysis.domain.dates import EXTRACT_END, fiscal_year
from analysis.domain.vocab import GRADES, SERVICE_IN_CARE
from analysis.synthetic.care_status import CARE_CODE, CARE_STATUSES
from analysis.synthetic.codes import vocab_series
from analysis.synthetic.panel import SECONDARY_FROM

if TYPE_CHECKING:
    from analysis.synthetic.simulation import Simulation

Z95 = measures.Z95
EQAO_KEY = "eqao"


@dataclass
class Check:
    """One target against the generated data (a row of ``calibration.json``)."""

    name: str
    year: str | None
    unit: str
    target: float  # as configured (counts: provincial)
    scaled_target: float  # at this scale (counts: times the scale's share of the province)
    synthetic: float | None
    se: float
    n: int  # people, cases or societies behind the synthetic value (the smaller group of a ratio)
    tolerance: float  # as configured
    allowed: float  # the largest deviation that holds: tolerance (absolute) + 1.96 SE
    holds: bool
    source: str
    measure: str  # what was computed, in words


@dataclass
class Value:
    """A synthetic value, its standard error, the people (cases...) behind it, and what it is."""

    value: float | None
    se: float
    n: int
    what: str


NONE = float("inf")  # the standard error of a value that could not be computed


def check(
    name: str, year: str | None, t: Target, v: Value, target: float, share_of_province: float
) -> Check:
    """Compare ``v`` with ``target`` (one year's value of ``t``)."""
    scaled = target * share_of_province if t.unit == "count" else target
    tol = t.tolerance * scaled if t.unit == "count" else t.tolerance
    allowed = tol + Z95 * v.se
    ok = v.value is not None and math.isfinite(v.value) and abs(v.value - scaled) <= allowed
    return Check(
        name=name,
        year=year,
        unit=t.unit,
        target=target,
        scaled_target=scaled,
        synthetic=v.value,
        se=v.se,
        n=v.n,
        tolerance=t.tolerance,
        allowed=allowed,
        holds=bool(ok),
        source=t.source,
        measure=v.what,
    )


# ------------------------------------------------------------------------------------- frames
def rate(events: float, n: float, what: str, scale: float = 100.0) -> Value:
    """``events / n`` (times ``scale``) and its binomial standard error."""
    if n <= 0:
        return Value(None, NONE, 0, what)
    p = events / n
    return Value(p * scale, math.sqrt(max(p * (1 - p), 0.0) / n) * scale, int(n), what)


def ratio(a: Value, b: Value, what: str) -> Value:
    """``a / b`` and its delta-method standard error (``n``: the smaller group)."""
    if a.value is None or b.value is None or a.value == 0 or b.value == 0:
        return Value(None, NONE, min(a.n, b.n), what)
    r = a.value / b.value
    se = abs(r) * math.sqrt((a.se / a.value) ** 2 + (b.se / b.value) ** 2)
    return Value(r, se, min(a.n, b.n), what)


def _rate_of(frame: pl.DataFrame, col: str, what: str = "") -> Value:
    s = frame[col].drop_nulls()
    return rate(float(s.sum()), float(s.len()), what)


class Frames:
    """Analytic-shaped frames of the truth, built once and on demand."""

    def __init__(self, cfg: Config, sim: Simulation) -> None:
        self.cfg = cfg
        self.sim = sim
        self._cache: dict[str, pl.DataFrame] = {}

    def _get(self, key: str, build: Any) -> pl.DataFrame:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def eqao(self) -> pl.DataFrame:
        """EQAO results with the student (``study_id`` = the person), year, at-standard flag and
        the truth's care columns of that student-year."""

        def build() -> pl.DataFrame:
            sim = self.sim
            src = sim.frames["sources/eqao_results"]
            rows = sim.eqao_row
            return src.select(
                "assessment", "participation", "first_time", "g9_stream", "osslt_result", "level"
            ).with_columns(
                pl.Series("study_id", sim.panel["sid"][rows].astype(np.int64)),
                vocab_series("school_year", sim.school_years, sim.panel["yi"][rows]),
                pl.when(pl.col("participation") != "participated")
                .then(None)
                .when(pl.col("assessment") == "osslt")
                .then(pl.col("osslt_result") == "pass")
                .otherwise(pl.col("level") >= 3)
                .alias("at_standard"),
                pl.Series("ever_in_care", sim.truth["ever"][rows]),
            )

        return self._get("eqao", build)

    def secondary(self) -> pl.DataFrame:
        """Student-years of secondary school (what on-track and graduation read)."""

        def build() -> pl.DataFrame:
            sim = self.sim
            sel = np.flatnonzero(sim.panel["gidx"] >= SECONDARY_FROM)
            return pl.DataFrame(
                [
                    pl.Series("study_id", sim.panel["sid"][sel].astype(np.int64)),
                    vocab_series("school_year", sim.school_years, sim.panel["yi"][sel]),
                    vocab_series("grade", GRADES, sim.panel["gidx"][sel]),
                    pl.Series("days_enrolled", sim.panel["days_enrolled"][sel]),
                    pl.Series("days_absent", sim.days_absent[sel]),
                    pl.Series("credits_earned", sim.credits[sel].astype(np.float64)),
                    vocab_series("care_status", CARE_STATUSES, sim.truth["care"][sel]),
                    pl.Series("ever_in_care", sim.truth["ever"][sel]),
                ]
            ).with_columns(pl.col("credits_earned").fill_nan(None))

        return self._get("secondary", build)

    def year_attendance(self, yi: int) -> pl.DataFrame:
        """Days enrolled and absent, and the care code, of school year ``yi``."""
        sim = self.sim
        sel = sim.year_rows(yi)
        return pl.DataFrame(
            {
                "days_enrolled": sim.panel["days_enrolled"][sel],
                "days_absent": sim.days_absent[sel],
                "care": sim.truth["care"][sel],
            }
        )

    def person_of_record(self) -> pl.DataFrame:
        return self.sim.frames["truth/person_truth"].select("cw_record_id", "child_id")

    def services(self) -> pl.DataFrame:
        """Service episodes by true child, with the exclusive end ``end_x``."""

        def build() -> pl.DataFrame:
            return (
                self.sim.frames["sources/cpin_services"]
                .join(self.person_of_record(), on="cw_record_id")
                .with_columns(
                    pl.col("end_date").fill_null(EXTRACT_END + dt.timedelta(days=1)).alias("end_x")
                )
            )

        return self._get("services", build)

    def cases(self) -> pl.DataFrame:
        """``cases`` as de-identification shapes it."""

        def build() -> pl.DataFrame:
            return self.sim.frames["sources/cpin_cases"].select(
                "society_id",
                "case_kind",
                "recurrence_verified",
                fiscal_year("closed_date").alias("closed_fiscal_year"),
                (pl.col("recurrence_date") - pl.col("closed_date"))
                .dt.total_days()
                .cast(pl.Int32)
                .alias("days_to_recurrence"),
                (pl.lit(EXTRACT_END) - pl.col("closed_date"))
                .dt.total_days()
                .cast(pl.Int32)
                .alias("days_observed"),
            )

        return self._get("cases", build)

    def care_days(self) -> pl.DataFrame:
        """``care_days``: placement days per child, fiscal year and placement type."""

        def build() -> pl.DataFrame:
            p = (
                self.sim.frames["sources/cpin_placements"]
                .join(self.person_of_record(), on="cw_record_id")
                .rename({"child_id": "cw_study_id"})
                .with_columns(
                    pl.col("end_date").fill_null(EXTRACT_END + dt.timedelta(days=1)).alias("end_x")
                )
            )
            return ind.days_by_fiscal_year(p, person="cw_study_id")

        return self._get("care_days", build)

    def admissions(self) -> pl.DataFrame:
        """``admissions``: one row per in-care episode, days to exit and days observed."""
        return (
            self.services()
            .filter(pl.col("service_type").is_in(SERVICE_IN_CARE))
            .select(
                pl.col("child_id").alias("cw_study_id"),
                "society_id",
                "service_type",
                fiscal_year("start_date").alias("admission_fiscal_year"),
                pl.when(pl.col("end_date").is_not_null())
                .then((pl.col("end_date") - pl.col("start_date")).dt.total_days())
                .cast(pl.Int32)
                .alias("days_to_exit"),
                (pl.col("end_x") - pl.col("start_date"))
                .dt.total_days()
                .cast(pl.Int32)
                .alias("days_observed"),
            )
        )

    def onlac(self) -> pl.DataFrame:
        """``onlac``: assessments with the youth's age and days in care before them."""
        sim = self.sim
        child = sim.frames["truth/person_truth"].select("cw_record_id", "child_id")
        persons = sim.frames["sources/cpin_persons"].select("cw_record_id", "birth_date")
        a = (
            sim.frames["sources/cpin_onlac"]
            .join(child, on="cw_record_id")
            .join(persons, on="cw_record_id")
        )
        care = self.services().filter(pl.col("service_type").is_in(SERVICE_IN_CARE))
        bound = pl.col("assessment_date") + pl.duration(days=1)
        days = (
            a.select("assessment_id", "child_id", "assessment_date")
            .join(care.select("child_id", "start_date", "end_x"), on="child_id", how="left")
            .with_columns(
                (pl.min_horizontal("end_x", bound) - pl.col("start_date"))
                .dt.total_days()
                .clip(0)
                .fill_null(0)
                .alias("d")
            )
            .group_by("assessment_id")
            .agg(pl.col("d").sum().cast(pl.Int32).alias("days_in_care"))
        )
        ad, bd = pl.col("assessment_date"), pl.col("birth_date")
        age = (
            ad.dt.year()
            - bd.dt.year()
            - (
                (ad.dt.month() < bd.dt.month())
                | ((ad.dt.month() == bd.dt.month()) & (ad.dt.day() < bd.dt.day()))
            ).cast(pl.Int32)
        )
        return a.join(days, on="assessment_id", how="left").select(
            pl.col("child_id").alias("cw_study_id"),
            "society_id",
            fiscal_year("assessment_date").alias("fiscal_year"),
            age.cast(pl.Int8).alias("age"),
            "days_in_care",
            "item_1",
            "item_2",
            "item_3",
            "item_4",
        )


# ----------------------------------------------------------------------------------- measures
def _eqao_checks(cfg: Config, f: Frames) -> list[Check]:
    """% at standard of every configured assessment and year, among participants (first-time
    OSSLT writers only), as ``eqao_by_ever_in_care`` counts them over both groups."""
    eq = _eqao_published(f)
    key = (
        pl.when(pl.col("g9_stream").is_in(["academic", "applied"]))
        .then(pl.col("assessment") + "_" + pl.col("g9_stream"))
        .otherwise(pl.col("assessment"))
    )
    got = {
        (r["school_year"], r["key"]): (r["events"], r["n"])
        for r in eq.group_by("school_year", key.alias("key"))
        .agg(pl.col("at_standard").sum().alias("events"), pl.len().alias("n"))
        .iter_rows(named=True)
    }
    c = cfg.calibration
    t = Target(value=0, unit="percent", tolerance=c.eqao_tolerance, source=c.eqao_source)
    out = []
    for year, targets in sorted(c.eqao.items()):
        for key_, value in sorted(targets.items()):
            events, n = got.get((year, key_), (0, 0))
            what = f"EQAO {key_}: % of participating students at or above the standard"
            out.append(check(f"eqao_{key_}", year, t, rate(events, n, what), value, 1.0))
    return out


def _eqao_published(f: Frames) -> pl.DataFrame:
    """EQAO results as the published trend tables count them: participants, first-time OSSLT."""
    return f.eqao().filter(
        pl.col("at_standard").is_not_null()
        & ((pl.col("assessment") != "osslt") | pl.col("first_time"))
    )


def _values(t: Target) -> list[tuple[str | None, float]]:
    return sorted(t.value.items()) if isinstance(t.value, dict) else [(None, t.value)]


Measure = Callable[[str | None], Value]


def _measures(cfg: Config, f: Frames) -> dict[str, Measure]:
    """name -> function(year) -> :class:`Value`: how each named target is computed."""
    fys = list(cfg.school_years)
    first_cohort = cfg.school_years[0]
    ind_kw = {
        "definition": cfg.indicators.recurrence_definition,
        "window_days": cfg.indicators.recurrence_window_days,
    }

    def grad() -> pl.DataFrame:
        osslt = f.eqao().filter(pl.col("assessment") == "osslt")
        return f._get(
            "graduation",
            lambda: measures.graduation_cohorts(
                f.secondary(), osslt, cfg.school_years, cfg.literacy_waived_years
            ).filter(pl.col("cohort") == first_cohort),
        )

    def graduation(k: int) -> Measure:
        what = f"graduated within {k} years, students who started Grade 9 in {first_cohort}"
        return lambda year: _rate_of(grad(), f"graduated_{k}y", what)

    def on_track(year: str | None) -> Value:
        sy = f._get("outcomes", lambda: measures.student_year_outcomes(f.secondary()))
        what = "Grade 10 students with 16 or more credits in grades 9 and 10"
        return _rate_of(sy.filter(pl.col("school_year") == year), "on_track", what)

    def chronic(year: str | None) -> Value:
        a = f.year_attendance(cfg.school_years.index(str(year)))
        a = a.with_columns(measures.chronic_absent().alias("c"))
        return _rate_of(a, "c", "students who missed 10% or more of the days enrolled")

    def chronic_ratio(year: str | None) -> Value:
        a = pl.concat(
            [
                f.year_attendance(yi).with_columns(measures.chronic_absent().alias("c"))
                for yi in range(len(cfg.school_years))
            ]
        )
        return ratio(
            _rate_of(a.filter(pl.col("care") == CARE_CODE["in_care"]), "c"),
            _rate_of(a.filter(pl.col("care") == CARE_CODE["none"]), "c"),
            "chronic absence in care that year / with no service that year, all years",
        )

    def eqao_ratio(assessment: str | None) -> Measure:
        def m(year: str | None) -> Value:
            eq = _eqao_published(f)
            if assessment:
                eq = eq.filter(pl.col("assessment") == assessment)
            return ratio(
                _rate_of(eq.filter(pl.col("ever_in_care")), "at_standard"),
                _rate_of(eq.filter(~pl.col("ever_in_care")), "at_standard"),
                f"EQAO {assessment or 'every assessment'} at standard, ever in care / not in "
                "care, EQAO years pooled",
            )

        return m

    def grad_ratio(year: str | None) -> Value:
        g = grad()
        return ratio(
            _rate_of(g.filter(pl.col("ever_in_care")), "graduated_5y"),
            _rate_of(g.filter(~pl.col("ever_in_care")), "graduated_5y"),
            f"graduated within 5 years, ever in care / not in care, {first_cohort} cohort",
        )

    def in_care(year: str | None) -> Value:
        y0 = int(str(year)[:4])
        lo, hi = dt.date(y0, 4, 1), dt.date(y0 + 1, 4, 1)
        s = f.services().filter(pl.col("service_type").is_in(SERVICE_IN_CARE))
        d = (
            pl.min_horizontal("end_x", pl.lit(hi)) - pl.max_horizontal("start_date", pl.lit(lo))
        ).dt.total_days()
        got = s.select(d.clip(0).sum().alias("days"), (d > 0).sum().alias("children")).row(0)
        v = float(got[0]) / (hi - lo).days
        what = "children in care on an average day of the fiscal year"
        return Value(v, math.sqrt(max(v, 0.0)), int(got[1]), what)

    def volume(kind: str) -> Measure:
        def m(year: str | None) -> Value:
            c = f.cases().filter(
                (pl.col("case_kind") == kind) & (pl.col("closed_fiscal_year") == year)
            )
            what = f"{kind.replace('_', ' ')} cases closed in the fiscal year"
            return Value(float(c.height), 0.0, c.height, what)

        return m

    def no_recurrence(kind: str, pooled: bool) -> Measure:
        def m(year: str | None) -> Value:
            t = ind.no_recurrence(f.cases(), kind, **ind_kw)  # type: ignore[arg-type]
            t = t.filter(pl.col("society_id") == ind.TOTAL)
            if not pooled:
                t = t.filter(pl.col("fiscal_year") == year)
            which = "1" if kind == "investigation" else "2"
            what = f"indicator {which}: no recurrence within the window, province"
            return rate(float(t["events"].sum()), float(t["n"].sum()), what)

        return m

    def society_sd(year: str | None) -> Value:
        t = ind.no_recurrence(f.cases(), "investigation", **ind_kw)  # type: ignore[arg-type]
        t = t.filter(pl.col("society_id") != ind.TOTAL)
        per = t.group_by("society_id").agg(pl.col("events").sum(), pl.col("n").sum())
        per = per.filter(pl.col("n") >= 20)
        what = "indicator 1: SD between societies beyond sampling error (points)"
        if per.height < 3:
            return Value(None, NONE, per.height, what)
        p = (per["events"] / per["n"]).to_numpy()
        noise = float(np.mean(p * (1 - p) / per["n"].to_numpy()))
        sd = math.sqrt(max(float(np.var(p, ddof=1)) - noise, 0.0)) * 100
        se = sd / math.sqrt(2 * (per.height - 1)) if sd > 0 else 0.0
        return Value(sd, se, per.height, what)

    def placement(group: str) -> Measure:
        def m(year: str | None) -> Value:
            t = ind.placement_days(f.care_days()).filter(
                (pl.col("society_id") == ind.TOTAL) & pl.col("fiscal_year").is_in(fys)
            )
            per_year = t.group_by("fiscal_year").agg(pl.col("total_days", "n").first())
            total = float(per_year["total_days"].sum())
            children = int(per_year["n"].sum())
            what = f"indicator 3: % of days of care in {group} care, fiscal years pooled"
            if total == 0:
                return Value(None, NONE, 0, what)
            p = float(t.filter(pl.col("placement_group") == group)["days"].sum()) / total
            # children, not days, are the sampling units
            return Value(100 * p, 100 * math.sqrt(p * (1 - p) / max(children, 1)), children, what)

        return m

    def exits(months: int) -> Measure:
        def m(year: str | None) -> Value:
            t = ind.exits_within(f.admissions()).filter(
                (pl.col("society_id") == ind.TOTAL)
                & (pl.col("months") == months)
                & pl.col("admission_fiscal_year").is_in([year] if year else fys)
            )
            who = f"{year} admissions" if year else "admissions of the panel's fiscal years"
            what = f"indicator 4: left care within {months} months, {who}"
            return rate(float(t["events"].sum()), float(t["n"].sum()), what)

        return m

    def caregiver(year: str | None) -> Value:
        t = ind.caregiver_relationship(
            f.onlac(),
            ages=cfg.indicators.onlac_ages,
            min_days_in_care=cfg.indicators.onlac_min_days_in_care,
        ).filter((pl.col("society_id") == ind.TOTAL) & pl.col("fiscal_year").is_in(fys))
        n = int(t["n"].sum())
        what = "indicator 5: mean caregiver relationship score (0-8), fiscal years pooled"
        if n == 0:
            return Value(None, NONE, 0, what)
        v = float((t["mean"] * t["n"]).sum()) / n
        # each year's standard error from its interval (t, large n: about 1.96 SE), pooled
        se_y = (t["ci_high"] - t["mean"]).fill_null(0).to_numpy() / Z95
        w = t["n"].to_numpy().astype(float)
        return Value(v, float(np.sqrt(np.sum((w * se_y) ** 2))) / n, n, what)

    return {
        "graduation_4y": graduation(4),
        "graduation_5y": graduation(5),
        "on_track": on_track,
        "chronic_absence": chronic,
        "chronic_absence_in_care_ratio": chronic_ratio,
        "eqao_g6_reading_in_care_ratio": eqao_ratio("g6_reading"),
        "eqao_in_care_ratio": eqao_ratio(None),
        "graduation_5y_in_care_ratio": grad_ratio,
        "children_in_care": in_care,
        "investigations_closed": volume("investigation"),
        "ongoing_closed": volume("ongoing_protection"),
        "indicator1_no_recurrence": no_recurrence("investigation", pooled=False),
        "indicator1_society_sd": society_sd,
        "indicator2_no_recurrence": no_recurrence("ongoing_protection", pooled=True),
        "indicator3_family": placement("family"),
        "indicator3_group": placement("group"),
        "indicator3_other": placement("other"),
        "indicator4_exit_12m": exits(12),
        "indicator4_exit_24m": exits(24),
        "indicator4_exit_36m": exits(36),
        "indicator5_caregiver": caregiver,
    }


MEASURES: tuple[str, ...] = (
    "graduation_4y",
    "graduation_5y",
    "on_track",
    "chronic_absence",
    "chronic_absence_in_care_ratio",
    "eqao_g6_reading_in_care_ratio",
    "eqao_in_care_ratio",
    "graduation_5y_in_care_ratio",
    "children_in_care",
    "investigations_closed",
    "ongoing_closed",
    "indicator1_no_recurrence",
    "indicator1_society_sd",
    "indicator2_no_recurrence",
    "indicator3_family",
    "indicator3_group",
    "indicator3_other",
    "indicator4_exit_12m",
    "indicator4_exit_24m",
    "indicator4_exit_36m",
    "indicator5_caregiver",
)


def calibration_checks(cfg: Config, sim: Simulation) -> list[Check]:
    """Every target of ``cfg.calibration`` against the simulated province ``sim``."""
    unknown = sorted(set(cfg.calibration.targets) - set(MEASURES))
    if unknown:
        raise ValueError(
            f"calibration.targets: unknown target(s) {unknown}; known: {list(MEASURES)}"
        )
    f = Frames(cfg, sim)
    out = _eqao_checks(cfg, f)
    how = _measures(cfg, f)
    share = cfg.cw_share_of_province
    for name, t in cfg.calibration.targets.items():
        for year, target in _values(t):
            out.append(check(name, year, t, how[name](year), target, share))
    return out


def calibration_report(cfg: Config, checks: list[Check]) -> dict[str, Any]:
    """``calibration.json``: the scale, seed, how a target holds, and one row per target."""
    return {
        "scale": cfg.scale,
        "seed": cfg.seed,
        "share_of_province": cfg.cw_share_of_province,
        "rule": "holds when |synthetic - target at this scale| <= tolerance (counts: a share of "
        "the target) + 1.96 standard errors of the synthetic value",
        "targets": len(checks),
        "holding": sum(c.holds for c in checks),
        "checks": [_rounded(asdict(c)) for c in checks],
    }


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    """Floats to 6 decimals; an infinite or undefined one (no data) as null."""
    return {
        k: ((round(v, 6) if math.isfinite(v) else None) if isinstance(v, float) else v)
        for k, v in d.items()
    }
