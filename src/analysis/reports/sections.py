"""Report sections: what each part of a report says, built from published (protected) tables.

The report notebooks are thin: a ``parameters`` cell, then one call per section of this module.
Every section takes a :class:`~analysis.reports.report.Report` and the release's published tables
(:func:`analysis.analyse.load_results`), selects the slice it needs with :func:`subset` (a subset
of a published table publishes nothing new), and adds headings, text, tables and charts. Alt text
states the finding, from the same numbers the chart shows; where those numbers are suppressed, the
alt text says so.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import polars as pl

from analysis.config import Config
from analysis.disclosure import Protected
from analysis.domain.vocab import SOCIETY_GROUPS
from analysis.reports import narrative
from analysis.reports.narrative import PROVINCE_AREA, lower_first
from analysis.reports.report import Report

SYM = "__symbol"
CARE_ORDER = ("in_care", "kinship_service", "vysa", "ccsyp", "none")
EQAO_MAIN = ("g3_reading", "g3_math", "g6_reading", "g6_math", "g9_math", "osslt")


# ---------------------------------------------------------------- selecting published cells
def subset(p: Protected, name: str | None = None, **equals: Any) -> Protected:
    """Rows of a published table where each column equals the given value (lists: any of)."""
    df = p.df
    for col, val in equals.items():
        if isinstance(val, list | tuple | set):
            df = df.filter(pl.col(col).is_in(list(val)))
        else:
            df = df.filter(pl.col(col) == val)
    return replace(p, name=name or p.name, df=df)


def label_bool(
    p: Protected, col: str, true: str = "in care", false: str = "not in care"
) -> Protected:
    """Replace a boolean dimension by labels the catalogue translates (``value.<label>``)."""
    if col not in p.df.columns or p.df.schema[col] != pl.Boolean:
        return p
    df = p.df.with_columns(
        pl.when(pl.col(col)).then(pl.lit(true)).otherwise(pl.lit(false)).alias(col)
    )
    return replace(p, df=df)


def drop_dims(p: Protected, *cols: str) -> Protected:
    """Remove dimensions that are constant in a subset (e.g. the school year of a one-year slice)."""
    keep = [d for d in p.dims if d not in cols]
    return replace(p, df=p.df.drop([c for c in cols if c in p.df.columns]), dims=tuple(keep))


def cell(p: Protected, col: str, **equals: Any) -> float | None:
    """One published value, or ``None`` when it is suppressed, not available or absent."""
    s = subset(p, **equals).df
    if s.height != 1 or s[col][0] is None:
        return None
    sym = s[col + SYM][0] if col + SYM in s.columns else ""
    return None if sym else float(s[col][0])


def share_suppressed(p: Protected, col: str) -> float:
    if p.df.height == 0:
        return 1.0
    # the mean of a non-empty boolean series is a float (the stub's return type is any literal)
    return float(cast(float, p.df[col].is_null().mean()))


def _ordered(p: Protected, col: str, order: tuple[str, ...]) -> Protected:
    rank = {v: i for i, v in enumerate(order)}
    df = p.df.with_columns(
        pl.col(col).replace_strict(rank, default=len(rank), return_dtype=pl.Int32).alias("__o")
    )
    return replace(p, df=df.sort("__o", maintain_order=True).drop("__o"))


# ---------------------------------------------------------------- combining published cells
def stack(
    name: str, parts: Sequence[tuple[Protected, Mapping[str, Any]]], dims: Sequence[str]
) -> Protected:
    """Rows of published tables side by side, each part tagged with constant label columns.

    Every row is a published cell (with its symbols), so the stack publishes nothing new; the
    parts' own dimensions that are not in ``dims`` are dropped (they are constant in each part).
    """
    frames = []
    for p, labels in parts:
        df = p.df.drop([d for d in p.dims if d not in dims and d not in labels])
        df = df.with_columns([pl.lit(v).alias(k) for k, v in labels.items()])
        frames.append(df)
    first = parts[0][0]
    df = pl.concat(frames, how="diagonal_relaxed")
    df = df.select([*dims, *[c for c in df.columns if c not in dims]])
    return Protected(
        name=name,
        df=df,
        dims=tuple(dims),
        count=first.count,
        numerator=first.numerator,
        stats=first.stats,
        notes=first.notes,
    )


def _rename_values(p: Protected, col: str, mapping: Mapping[str, str]) -> Protected:
    """A dimension's values replaced by labels (a relabelled published table)."""
    df = p.df.with_columns(pl.col(col).cast(pl.Utf8).replace(dict(mapping)).alias(col))
    return replace(p, df=df)


RATE_FORMATS = {"rate": "proportion", "ci_low": "proportion", "ci_high": "proportion"}
MEAN_PROPORTION = {"mean": "proportion", "ci_low": "proportion", "ci_high": "proportion"}
OR_FORMATS = {"odds_ratio": "decimal2", "or_low": "decimal2", "or_high": "decimal2"}


def _eqao_years(cfg: Config) -> list[str]:
    return [y for y in cfg.school_years if y not in cfg.no_eqao_years]


def _baseline_years(cfg: Config) -> list[str]:
    """EQAO years a trend may span: from the new baseline on (no line is drawn across it)."""
    return [y for y in _eqao_years(cfg) if y >= cfg.eqao_baseline_break]


# ---------------------------------------------------------------- release facts (every report)
def front(r: Report, cfg: Config) -> Report:
    """Publication date, period covered, next release and contact, under the title."""
    from analysis.reports.i18n import fmt_date

    pub = cfg.reports.publication
    r.facts(
        [
            (r.t("fact.published"), fmt_date(pub.published, r.lang)),
            (
                r.t("fact.period"),
                r.t("fact.period_value", first=cfg.school_years[0], last=cfg.school_years[-1]),
            ),
            (r.t("fact.next_release"), fmt_date(pub.next_release, r.lang)),
            (r.t("fact.contact"), r.t("fact.contact_value", email=pub.contact_email)),
        ]
    )
    return r


def revisions(r: Report, cfg: Config, *, youth: bool = False) -> Report:
    """The revision notes (one line per correction; on first release, a line saying there are none)."""
    from analysis.reports.i18n import fmt_date

    r.heading("heading.revisions")
    revs = cfg.reports.publication.revisions
    if not revs:
        r.text("youth.no_revisions" if youth else "text.no_revisions")
    for rev in revs:
        r.text("text.revision", date=fmt_date(rev.date, r.lang), note=getattr(rev, r.lang))
    return r


# ---------------------------------------------------------------- shared sections
def about(r: Report, cfg: Config) -> Report:
    r.heading("heading.about")
    r.text("text.about_linked", first_year=cfg.school_years[0], last_year=cfg.school_years[-1])
    r.text("text.privacy", threshold=cfg.privacy.min_cell)
    r.text("text.secondary_suppression")
    r.note("text.synthetic_note")
    return r


def methods(r: Report, cfg: Config) -> Report:
    q = linkage_quality(cfg)
    r.heading("heading.methods")
    r.text("method.separation")
    r.text("method.keyed_hash")
    r.text(
        "method.linkage_passes",
        threshold=r.pct(link_threshold(cfg, q), 1, proportion=True),
    )
    linkage_budget(r, q)
    if q.get("truth_available"):
        r.text(
            "method.linkage_measured",
            precision=r.pct(q["precision"], 2, proportion=True),
            recall=r.pct(q["recall"], 2, proportion=True),
            f1=r.pct(q["f1"], 2, proportion=True),
        )
    r.text("method.suppression", threshold=cfg.privacy.min_cell)
    return r


def _rate_alt(
    r: Report,
    p: Protected,
    measure: str,
    col: str,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    a_label: str,
    b_label: str,
    year: str,
    fmt: str = "proportion",
) -> dict[str, Any]:
    va, vb = cell(p, col, **a), cell(p, col, **b)

    def show(v: float | None) -> str:
        if v is None:
            return r.t("symbol.c_short")
        return r.pct(v, 1, proportion=True) if fmt == "proportion" else r.num(v, 1)

    return {
        "measure": measure,
        "year": year,
        "a_label": r.t(a_label),
        "a_value": show(va),
        "b_label": r.t(b_label),
        "b_value": show(vb),
    }


def _pending(r: Report) -> int:
    """How many findings end the report so far (they go into the next chart's block)."""
    n = 0
    for b in reversed(r.blocks):
        if b["type"] != "text" or not b.get("generated"):
            break
        n += 1
    return n


def _show_pct(r: Report, v: float | None) -> str:
    return r.t("symbol.c_short") if v is None else r.pct(v, 0, proportion=True)


# the binary outcomes of the student-year tables: outcome -> (measure message, phrase message)
BINARY = (
    ("chronic_absent", "measure.chronic_absence"),
    ("on_track", "measure.on_track"),
    ("osslt_first_time_pass", "measure.osslt"),
)


def outcome_by_care(results: Mapping[str, Protected], outcome: str, school_year: str) -> Protected:
    """One outcome's rates by care status in one school year (every status, in order)."""
    rates = results["outcomes_by_care_status"]
    t = subset(rates, name=f"{rates.name}-{outcome}-{school_year}", outcome=outcome)
    t = drop_dims(subset(t, school_year=school_year), "outcome", "school_year")
    return _ordered(t, "care_status", CARE_ORDER)


def outcome_trend(results: Mapping[str, Protected], outcome: str) -> Protected:
    """One outcome's rates by school year, in care against no child welfare involvement."""
    rates = results["outcomes_by_care_status"]
    t = subset(
        rates,
        name=f"{rates.name}-{outcome}-trend",
        outcome=outcome,
        care_status=["in_care", "none"],
    )
    return drop_dims(t, "outcome")


def _trend_sentence(
    r: Report, t: Protected, outcome: str, years: Sequence[str], last: str
) -> narrative.Said | None:
    first = narrative.first_published(t, "rate", years, care_status="in_care")
    if first is None or first == last:
        return None
    return narrative.trend(
        r,
        t,
        measure=f"phrase.{outcome}",
        group=r.t("group.in_care"),
        start={"school_year": first, "care_status": "in_care"},
        end={"school_year": last, "care_status": "in_care"},
        first=first,
        last=last,
    )


def care_comparison(
    r: Report,
    results: Mapping[str, Protected],
    school_year: str,
    cfg: Config | None = None,
) -> Report:
    """Outcomes by care status: for each outcome, the finding in words, the year's rates by care
    status and (with ``cfg``) the trend over the panel, each chart with its own heading."""
    r.heading("heading.outcomes")
    years = list(cfg.school_years) if cfg is not None else [school_year]
    for outcome, msg in BINARY:
        t = outcome_by_care(results, outcome, school_year)
        if t.df.height == 0:
            continue
        r.heading(msg, level=3)
        said = narrative.compare_rates(
            r,
            t,
            measure=f"phrase.{outcome}",
            a={"care_status": "in_care"},
            b={"care_status": "none"},
            a_group=r.t("group.in_care"),
            b_group=r.t("group.none"),
            year=school_year,
        )
        r.chart(
            t,
            kind="bar",
            category="care_status",
            value="rate",
            lower="ci_low",
            upper="ci_high",
            caption="caption.by_care",
            alt="alt.compare_two",
            heading="chart.by_care",
            heading_level=4,
            lead=1,
            values=_rate_alt(
                r,
                t,
                r.t(msg),
                "rate",
                {"care_status": "in_care"},
                {"care_status": "none"},
                "value.in_care",
                "value.none",
                school_year,
            ),
            formats=RATE_FORMATS,
        )
        trend = outcome_trend(results, outcome)
        said_trend = _trend_sentence(r, trend, outcome, years, school_year) if cfg else None
        if cfg is not None and trend.df.height:
            r.chart(
                trend,
                kind="line",
                category="school_year",
                value="rate",
                series="care_status",
                caption="caption.trend",
                alt="alt.trend_two",
                alt_text=said_trend.text if said_trend and said_trend.text else said.text,
                heading="chart.over_time",
                heading_level=4,
                lead=1 if said_trend and said_trend.text else 0,
                values={
                    "measure": r.t(msg),
                    "first": years[0],
                    "last": years[-1],
                },
                formats=RATE_FORMATS,
            )
    means = _ordered(
        drop_dims(subset(results["means_by_care_status"], school_year=school_year), "school_year"),
        "care_status",
        CARE_ORDER,
    )
    att = drop_dims(
        subset(means, name=f"{means.name}-attendance", outcome="attendance_rate"), "outcome"
    )
    if att.df.height:
        r.heading("heading.attendance", level=3)
        narrative.compare_means(
            r,
            att,
            template="narr.attendance",
            a={"care_status": "in_care"},
            b={"care_status": "none"},
            a_group=r.t("group.in_care"),
            b_group=r.t("group.none"),
            year=school_year,
            fmt="proportion",
        )
        r.chart(
            att,
            kind="bar",
            category="care_status",
            value="mean",
            lower="ci_low",
            upper="ci_high",
            caption="caption.by_care",
            alt="alt.compare_two",
            heading="chart.by_care",
            heading_level=4,
            lead=1,
            values=_rate_alt(
                r,
                att,
                r.t("measure.attendance"),
                "mean",
                {"care_status": "in_care"},
                {"care_status": "none"},
                "value.in_care",
                "value.none",
                school_year,
            ),
            formats=MEAN_PROPORTION,
        )
    cred = drop_dims(
        subset(means, name=f"{means.name}-credits", outcome="credits_earned"), "outcome"
    )
    if cred.df.height:
        r.heading("heading.credits", level=3)
        narrative.compare_means(
            r,
            cred,
            template="narr.credits",
            a={"care_status": "in_care"},
            b={"care_status": "none"},
            a_group=r.t("group.in_care"),
            b_group=r.t("group.none"),
            year=school_year,
            fmt="credits",
        )
        r.table(
            cred,
            "caption.by_care",
            caption_values={"measure": r.t("measure.credits"), "year": school_year},
            formats={"mean": "decimal1", "ci_low": "decimal1", "ci_high": "decimal1"},
        )
    r.text("text.interval")
    r.text("narr.association")
    return r


def eqao_table(results: Mapping[str, Protected], assessment: str) -> Protected:
    table = label_bool(results["eqao_by_ever_in_care"], "ever_in_care")
    return drop_dims(
        subset(table, name=f"{table.name}-{assessment}", assessment=assessment), "assessment"
    )


def eqao_trends(
    r: Report,
    results: Mapping[str, Protected],
    cfg: Config,
    assessments: tuple[str, ...] = ("g3_reading", "g6_reading", "g6_math", "osslt"),
) -> Report:
    """EQAO trends, in care (ever) vs not, with the pandemic gap and the 2021-22 baseline break."""
    r.heading("heading.achievement")
    r.text("text.no_testing")
    r.text("text.new_baseline")
    years = _eqao_years(cfg)
    base = _baseline_years(cfg)
    for a in assessments:
        t = eqao_table(results, a)
        if t.df.height == 0:
            continue
        measure = r.t(f"value.{a}")
        first, last = years[0], years[-1]
        r.heading(f"value.{a}", level=3)
        narrative.compare_rates(
            r,
            t,
            measure=f"phrase.{a}",
            a={"school_year": last, "ever_in_care": "in care"},
            b={"school_year": last, "ever_in_care": "not in care"},
            a_group=r.t("group.ever_in_care"),
            b_group=r.t("group.never_in_care"),
            year=last,
        )
        if len(base) > 1:
            narrative.trend(
                r,
                t,
                measure=f"phrase.{a}",
                group=r.t("group.ever_in_care"),
                start={"school_year": base[0], "ever_in_care": "in care"},
                end={"school_year": base[-1], "ever_in_care": "in care"},
                first=base[0],
                last=base[-1],
            )
        start = cell(t, "rate", school_year=first, ever_in_care="in care")
        end = cell(t, "rate", school_year=last, ever_in_care="in care")
        r.chart(
            t,
            kind="line",
            category="school_year",
            value="rate",
            series="ever_in_care",
            caption="caption.trend",
            alt="alt.trend",
            heading="chart.over_time",
            heading_level=4,
            values={
                "measure": measure,
                "first": cfg.school_years[0],
                "last": cfg.school_years[-1],
                "series": r.t("value.in care"),
                "start": _show_pct(r, start),
                "end": _show_pct(r, end),
            },
            formats=RATE_FORMATS,
            lead=_pending(r),
        )
    r.text("narr.association")
    return r


# ---------------------------------------------------------------- adjusted models (ministry)
ADJUSTED_OUTCOMES = ("eqao_at_standard", "chronic_absence", "on_track", "attendance", "credits")


def _care_term_rows(g: Protected, name: str, keep: pl.Expr) -> Protected:
    """Rows of ``adjusted_gaps`` with the care status of their term as a dimension."""
    df = g.df.filter(keep).with_columns(
        pl.col("term").str.extract(r"care_status\[(\w+)\]").alias("care_status")
    )
    df = df.filter(pl.col("care_status").is_not_null())
    rest = [c for c in df.columns if c not in ("outcome", "care_status", "term")]
    return Protected(
        name=f"{g.name}-{name}",
        df=df.select("outcome", "care_status", *rest),
        dims=("outcome", "care_status"),
        count=g.count,
        numerator=g.numerator,
        stats=g.stats,
        notes=g.notes,
    )


def adjusted_points(results: Mapping[str, Protected]) -> Protected:
    """Adjusted differences in percentage points by care status: average marginal effects of the
    yes/no outcome models and the attendance-rate differences."""
    keep = pl.col("term").str.starts_with("average_difference:care_status[") & (
        pl.col("outcome") != "credits"
    )
    return _care_term_rows(results["adjusted_gaps"], "points", keep)


def adjusted_credits(results: Mapping[str, Protected]) -> Protected:
    """Adjusted differences in credits a year (grades 9-12) by care status."""
    keep = (pl.col("outcome") == "credits") & pl.col("term").str.starts_with(
        "average_difference:care_status["
    )
    return _care_term_rows(results["adjusted_gaps"], "credits", keep)


def odds_ratios(results: Mapping[str, Protected]) -> Protected:
    """The average odds ratios (with 95% intervals) of the care statuses in the yes/no outcome
    models: the same comparison as the differences in points, so the two never disagree."""
    keep = pl.col("term").str.starts_with("average_odds_ratio:care_status[")
    return _care_term_rows(results["adjusted_gaps"], "odds-ratios", keep)


def adjusted_models(r: Report, results: Mapping[str, Protected]) -> Report:
    """Adjusted gaps in percentage points and odds ratios (not log-odds), dose-response and
    placement type, each opened by the findings in words."""
    points, credits, ors = adjusted_points(results), adjusted_credits(results), odds_ratios(results)
    r.heading("heading.adjusted")
    for outcome in ADJUSTED_OUTCOMES:
        narrative.adjusted_difference(
            r,
            credits if outcome == "credits" else points,
            ors,
            outcome=outcome,
            care_status="in_care",
            group=r.t("group.in_care"),
        )
    r.text("text.adjusted_pp")
    r.text("narr.association_adjusted")
    pp = {"estimate": "points", "ci_low": "points", "ci_high": "points"}
    r.table(
        points,
        "caption.adjusted_points",
        columns=["n", "estimate", "ci_low", "ci_high"],
        labels={"estimate": "col.difference_points"},
        formats=pp,
    )
    r.table(
        ors,
        "caption.odds_ratios",
        columns=["n", "odds_ratio", "or_low", "or_high"],
        formats=OR_FORMATS,
    )
    r.table(
        credits,
        "caption.adjusted_credits",
        columns=["n", "estimate", "ci_low", "ci_high"],
        labels={"estimate": "col.difference_credits"},
        formats={"estimate": "decimal2", "ci_low": "decimal2", "ci_high": "decimal2"},
    )
    dose_and_placement(r, results)
    return r


def dose_and_placement(r: Report, results: Mapping[str, Protected]) -> Report:
    """Odds ratios by cumulative time in care and by placement type (charts with intervals)."""
    dose = results["dose_response"]
    r.heading("heading.dose", level=3)
    r.text("text.dose")
    for dim, levels, heading in (
        ("years_in_care", ("under_1", "1_to_2", "2_to_4", "4_plus"), "chart.dose"),
        (
            "placement_group",
            ("in_care_family", "in_care_group", "in_care_other"),
            "chart.placement",
        ),
    ):
        for outcome in ("eqao_at_standard", "chronic_absence"):
            t = drop_dims(
                subset(dose, name=f"{dose.name}-{outcome}-{dim}", outcome=outcome, dimension=dim),
                "outcome",
                "dimension",
            )
            t = _ordered(t, "level", levels)
            if t.df.height == 0:
                continue
            said = narrative.odds_levels(
                r,
                t,
                outcome=outcome,
                a=levels[0],
                b=levels[-1] if dim == "years_in_care" else levels[1],
            )
            r.chart(
                t,
                kind="bar",
                category="level",
                value="odds_ratio",
                lower="or_low",
                upper="or_high",
                caption="caption.odds_by_level",
                alt="alt.partly_suppressed",
                alt_text=said.text,
                heading=heading,
                heading_level=4,
                values={"outcome": r.t(f"value.{outcome}")},
                formats=OR_FORMATS,
                lead=_pending(r),
            )
    return r


# level labels that depend on the dimension (a bare "true" or "other" says nothing)
EQUITY_LEVELS: Mapping[str, Mapping[str, str]] = {
    "indigenous": {"true": "indigenous_yes", "false": "indigenous_no"},
    "born_outside_canada": {"true": "born_outside", "false": "born_in_canada"},
    "first_language": {"other": "other_language"},
}


def equity(r: Report, results: Mapping[str, Protected]) -> Report:
    """EQAO results by race group, Indigenous identity, gender identity, birthplace and first
    language, for students with child welfare involvement (in care at some point or not)."""
    if "equity_rates" not in results:
        return r
    r.heading("heading.equity")
    r.text("text.equity")
    eq = label_bool(results["equity_rates"], "ever_in_care")
    for dim in ("race", "indigenous", "gender_identity", "born_outside_canada", "first_language"):
        t = drop_dims(subset(eq, name=f"{eq.name}-{dim}", dimension=dim), "dimension")
        if t.df.height == 0:
            continue
        t = _rename_values(t, "level", EQUITY_LEVELS.get(dim, {}))
        said = narrative.highest_lowest(
            r,
            t,
            by="level",
            template="narr.equity_high_low",
            fixed={"ever_in_care": "in care"},
            group=r.t("group.ever_in_care"),
            dimension=r.t(f"dim.{dim}"),
        )
        r.chart(
            t,
            kind="bar",
            category="level",
            value="rate",
            series="ever_in_care",
            lower="ci_low",
            upper="ci_high",
            caption="caption.equity_dimension",
            alt="alt.partly_suppressed",
            alt_text=said.text,
            heading="chart.by_dimension",
            values={"dimension": r.t(f"dim.{dim}")},
            formats=RATE_FORMATS,
            lead=_pending(r),
        )
    adj = results["equity_adjusted"]
    r.text("narr.association")
    r.table(
        adj,
        "caption.equity_adjusted",
        columns=["reference", "n", "odds_ratio", "or_low", "or_high"],
        formats=OR_FORMATS,
    )
    return r


def sensitivity(r: Report, results: Mapping[str, Protected], cfg: Config) -> Report:
    """Linkage quality and the sensitivity analysis, in words, with the table."""
    full = results["linkage_sensitivity"]
    # the adjusted differences in percentage points (yes/no outcomes, attendance), all links
    # against high-confidence links only
    keep = pl.col("term").str.starts_with("average_difference:care_status[") & (
        pl.col("outcome") != "credits"
    )
    sens = replace(full, name=f"{full.name}-points", df=full.df.filter(keep))
    r.heading("heading.sensitivity")
    r.text("text.sensitivity")
    narrative.sensitivity(
        r, sens, outcome="eqao_at_standard", care_status="in_care", group=r.t("group.in_care")
    )
    rates = results["linkage_rate_by_group"]
    narrative.highest_lowest(
        r, subset(rates, dimension="race"), by="group", template="narr.link_high_low"
    )
    r.table(
        sens,
        "caption.linkage_sensitivity",
        columns=["n", "estimate", "ci_low", "ci_high"],
        labels={"estimate": "col.difference_points"},
        formats={"estimate": "points", "ci_low": "points", "ci_high": "points"},
    )
    r.table(rates, "caption.linkage_by_group", formats={"rate": "proportion"})
    return r


def limitations(r: Report) -> Report:
    r.heading("heading.limitations")
    r.items(
        [
            "limit.synthetic",
            "limit.association",
            "limit.linkage",
            "limit.suppression",
            "limit.eqao_break",
            "limit.graduation",
            "limit.indicators",
        ]
    )
    return r


def record_statement(r: Report, cfg: Config) -> Report:
    """How the data were linked, in the order of the RECORD reporting guideline's linkage items."""
    r.heading("heading.record")
    r.text("record.intro")
    r.items(
        [
            "record.sources",
            "record.population",
            "record.who",
            "record.method",
            "record.quality",
            "record.bias",
            "record.privacy",
        ],
        first=cfg.school_years[0],
        last=cfg.school_years[-1],
        threshold=r.pct(link_threshold(cfg), 1, proportion=True),
        high=r.pct(cfg.linkage.high_confidence, 0, proportion=True),
        k=cfg.privacy.k_anonymity,
        min_cell=cfg.privacy.min_cell,
    )
    return r


def graduation_table(results: Mapping[str, Protected]) -> Protected | None:
    """Graduation within five years by Grade 9 cohort, in care at some point or not."""
    if "graduation_by_ever_in_care" not in results:
        return None
    g = label_bool(results["graduation_by_ever_in_care"], "ever_in_care")
    t = drop_dims(subset(g, name=f"{g.name}-5y", years=5), "years")
    return t if t.df.height else None


def graduation(r: Report, results: Mapping[str, Protected]) -> Report:
    """Graduation within five years of starting Grade 9 (a proxy: 30 credits and the OSSLT)."""
    t = graduation_table(results)
    if t is None:
        return r
    r.heading("measure.graduation", level=3)
    cohorts = sorted(str(c) for c in t.df["cohort"].unique())
    cohort = narrative.last_published(t, "rate", cohorts, "cohort", ever_in_care="not in care")
    cohort = cohort or cohorts[0]
    said = narrative.compare_rates(
        r,
        t,
        measure="phrase.graduated",
        a={"cohort": cohort, "ever_in_care": "in care"},
        b={"cohort": cohort, "ever_in_care": "not in care"},
        a_group=r.t("group.ever_in_care"),
        b_group=r.t("group.never_in_care"),
        year=cohort,
    )
    r.chart(
        t,
        kind="bar",
        category="cohort",
        value="rate",
        series="ever_in_care",
        lower="ci_low",
        upper="ci_high",
        caption="caption.graduation",
        alt="alt.partly_suppressed",
        alt_text=said.text,
        heading="chart.by_cohort",
        heading_level=4,
        formats=RATE_FORMATS,
        lead=_pending(r),
    )
    r.text("text.graduation_proxy")
    return r


# ---------------------------------------------------------------- the five indicators
# name, measure message, year column, value column, fixed dimensions, count label, format
INDICATOR_VIEWS: tuple[tuple[str, str, str, str, dict[str, Any], str, narrative.Fmt], ...] = (
    (
        "indicator1_no_recurrence_investigation",
        "measure.indicator_1",
        "fiscal_year",
        "rate",
        {},
        "col.cases",
        "proportion",
    ),
    (
        "indicator2_no_recurrence_ongoing",
        "measure.indicator_2",
        "fiscal_year",
        "rate",
        {},
        "col.cases",
        "proportion",
    ),
    (
        "indicator3_days_by_placement",
        "measure.indicator_3_family",
        "fiscal_year",
        "pct_days",
        {"placement_group": "family"},
        "col.children",
        "percent",
    ),
    (
        "indicator4_exits",
        "measure.indicator_4_12",
        "admission_fiscal_year",
        "rate",
        {"months": 12},
        "col.admissions",
        "proportion",
    ),
    (
        "indicator5_caregiver_relationship",
        "measure.indicator_5",
        "fiscal_year",
        "mean",
        {},
        "col.youth",
        "score",
    ),
)
INDICATORS = tuple((v[0], v[1], v[2], v[3], v[5]) for v in INDICATOR_VIEWS)
# the society's rows beside Ontario's, in charts and tables (short, so charts stay readable on a
# phone; the heading and caption name the society)
THIS_SOCIETY = "this_society"
FORMAT_OF: dict[str, str] = {"proportion": "proportion", "percent": "percent", "score": "decimal1"}


def indicator_series(
    results: Mapping[str, Protected],
    name: str,
    fixed: Mapping[str, Any],
    society_id: str = "Total",
    subject: str | None = None,
) -> Protected:
    """One indicator by year for a society beside the province (or the province alone)."""
    p = results[name]
    ids = [society_id, "Total"] if society_id != "Total" else ["Total"]
    t = subset(p, name=f"{p.name}-{society_id.lower()}", society_id=ids, **fixed)
    t = drop_dims(t, *fixed)
    return replace(
        t,
        df=t.df.with_columns(
            pl.when(pl.col("society_id") == "Total")
            .then(pl.lit(PROVINCE_AREA))
            .otherwise(pl.lit(THIS_SOCIETY))
            .alias("society_id")
        ),
    )


def _years_of(p: Protected, col: str) -> list[str]:
    return sorted(str(y) for y in p.df[col].unique().drop_nulls())


def indicators(
    r: Report,
    results: Mapping[str, Protected],
    society_id: str = "Total",
    subject: str | None = None,
) -> Report:
    """The five MCCSS performance indicators by fiscal year: for a society, each indicator in words
    (the society against Ontario, Ontario's trend) with a chart of the society beside the province
    over the years; for the province, its trend."""
    r.heading("heading.indicators")
    r.text("text.indicators")
    for name, msg, year_col, value, fixed, n_label, fmt_kind in INDICATOR_VIEWS:
        if name not in results:
            continue
        t = indicator_series(results, name, fixed, society_id, subject)
        if t.df.height == 0:
            continue
        fmt = FORMAT_OF[fmt_kind]
        formats: dict[str, str] = {value: fmt}
        formats.update({c: fmt for c in ("ci_low", "ci_high") if c in t.df.columns})
        years = _years_of(t, year_col)
        last = narrative.last_published(t, value, years, year_col, society_id=PROVINCE_AREA)
        first = narrative.first_published(t, value, years, year_col, society_id=PROVINCE_AREA)
        r.heading(msg, level=3)
        said = None
        if last is not None and society_id != "Total":
            said = narrative.compare_areas(
                r,
                t,
                measure=msg,
                subject=subject or society_id,
                a={year_col: last, "society_id": THIS_SOCIETY},
                b={year_col: last, "society_id": PROVINCE_AREA},
                year=last,
                col=value,
                fmt=fmt_kind,
            )
        if first is not None and last is not None and first != last:
            trend = narrative.trend(
                r,
                t,
                measure=msg,
                group="",
                start={year_col: first, "society_id": PROVINCE_AREA},
                end={year_col: last, "society_id": PROVINCE_AREA},
                first=first,
                last=last,
                col=value,
                fmt=fmt_kind,
                template="narr.indicator_trend",
                lower_measure=True,
            )
            said = said if said is not None and said.text else trend
        r.chart(
            t,
            kind="line",
            category=year_col,
            value=value,
            series="society_id" if society_id != "Total" else None,
            caption="caption.indicator_vs" if society_id != "Total" else "caption.indicator",
            alt="alt.partly_suppressed",
            alt_text=said.text if said is not None else None,
            heading="chart.indicator_vs" if society_id != "Total" else "chart.indicator",
            heading_level=4,
            values={"measure": r.t(msg), "subject": subject or PROVINCE_AREA},
            formats=formats,
            labels={"n": n_label, "events": "col.events_indicator"},
            lead=_pending(r),
        )
    if society_id != "Total":
        placement_share(r, results, society_id, subject or society_id)
    return r


def placement_share(
    r: Report, results: Mapping[str, Protected], society_id: str, subject: str
) -> Report:
    """Indicator 3 in full for the latest published year: days by placement type, beside Ontario."""
    p = results.get("indicator3_days_by_placement")
    if p is None:
        return r
    t = indicator_series(results, "indicator3_days_by_placement", {}, society_id, subject)
    t = replace(t, name=f"{p.name}-{society_id.lower()}-by-type")
    years = _years_of(t, "fiscal_year")
    last = narrative.last_published(
        t, "pct_days", years, "fiscal_year", society_id=PROVINCE_AREA, placement_group="family"
    )
    if last is None:
        return r
    t = drop_dims(subset(t, fiscal_year=last), "fiscal_year")
    r.chart(
        t,
        kind="bar",
        category="placement_group",
        value="pct_days",
        series="society_id",
        caption="caption.placement_share",
        alt="alt.placement_share",
        heading="chart.placement_share",
        values={
            "subject": subject,
            "year": last,
            "a_value": _show_share(
                r, cell(t, "pct_days", society_id=subject, placement_group="family")
            ),
            "b_value": _show_share(
                r, cell(t, "pct_days", society_id=PROVINCE_AREA, placement_group="family")
            ),
        },
        formats={"pct_days": "percent"},
        labels={"n": "col.children", "events": "col.events_indicator"},
        lead=_pending(r),
    )
    return r


def _show_share(r: Report, v: float | None) -> str:
    return r.t("symbol.c_short") if v is None else r.pct(v, 0)


def indicator_tiles(
    r: Report,
    results: Mapping[str, Protected],
    society_id: str = "Total",
    subject: str | None = None,
    which: Sequence[str] = (
        "indicator1_no_recurrence_investigation",
        "indicator4_exits",
        "indicator5_caregiver_relationship",
    ),
) -> list[dict[str, Any]]:
    """Headline tiles of the indicators: the latest published year, against Ontario (for a
    society), and the change since the first published year."""
    tiles = []
    for name, msg, year_col, value, fixed, _n, fmt_kind in INDICATOR_VIEWS:
        if name not in which or name not in results:
            continue
        t = indicator_series(results, name, fixed, society_id, subject)
        here = THIS_SOCIETY if society_id != "Total" else PROVINCE_AREA
        years = _years_of(t, year_col)
        last = narrative.last_published(t, value, years, year_col, society_id=PROVINCE_AREA)
        if last is None:
            continue
        first = narrative.first_published(t, value, years, year_col, society_id=here)
        tiles.append(
            narrative.rate_tile(
                r,
                t,
                measure=r.t(
                    "tile.indicator",
                    measure=r.t(msg),
                    subject=subject if subject and society_id != "Total" else PROVINCE_AREA,
                    year=last,
                ),
                a={year_col: last, "society_id": here},
                b={year_col: last, "society_id": PROVINCE_AREA} if here != PROVINCE_AREA else None,
                b_label=PROVINCE_AREA,
                start={year_col: first, "society_id": here} if first and first != last else None,
                first=first,
                col=value,
                fmt=fmt_kind,
                compare="tile.compare_area",
            )
        )
    return tiles


# ---------------------------------------------------------------- society: education outcomes
def society_outcomes(
    results: Mapping[str, Protected], society_id: str, school_year: str
) -> Protected:
    """The society's children in care beside Ontario's children in care and Ontario's students with
    no child welfare involvement: chronic absence, on track and OSSLT, one school year."""
    own = subset(
        results["outcomes_by_society"],
        society_id=society_id,
        school_year=school_year,
        care_status="in_care",
    )
    prov = subset(results["outcomes_by_care_status"], school_year=school_year)
    parts = [
        (own, {"group": "society_in_care"}),
        (subset(prov, care_status="in_care"), {"group": "ontario_in_care"}),
        (subset(prov, care_status="none"), {"group": "ontario_none"}),
    ]
    t = stack(
        f"outcomes-{society_id.lower()}-vs-ontario-{school_year}", parts, ("outcome", "group")
    )
    return _ordered(t, "outcome", tuple(o for o, _ in BINARY))


def society_eqao(results: Mapping[str, Protected], society_id: str, school_year: str) -> Protected:
    """EQAO results of the society's children in care beside Ontario's, one school year."""
    own = subset(
        results["eqao_by_society"],
        society_id=society_id,
        school_year=school_year,
        care_status="in_care",
    )
    prov = subset(results["eqao_by_care_status"], school_year=school_year)
    parts = [
        (own, {"group": "society_in_care"}),
        (subset(prov, care_status="in_care"), {"group": "ontario_in_care"}),
        (subset(prov, care_status="none"), {"group": "ontario_none"}),
    ]
    t = stack(f"eqao-{society_id.lower()}-vs-ontario-{school_year}", parts, ("assessment", "group"))
    return _ordered(t, "assessment", EQAO_MAIN)


def society_attendance(
    results: Mapping[str, Protected], society_id: str, school_year: str
) -> Protected:
    own = subset(
        results["means_by_society"],
        society_id=society_id,
        school_year=school_year,
        care_status="in_care",
        outcome="attendance_rate",
    )
    prov = subset(
        results["means_by_care_status"], school_year=school_year, outcome="attendance_rate"
    )
    parts = [
        (own, {"group": "society_in_care"}),
        (subset(prov, care_status="in_care"), {"group": "ontario_in_care"}),
        (subset(prov, care_status="none"), {"group": "ontario_none"}),
    ]
    return stack(f"attendance-{society_id.lower()}-vs-ontario-{school_year}", parts, ("group",))


def society_education(
    r: Report,
    results: Mapping[str, Protected],
    society_id: str,
    subject: str,
    school_year: str,
    cfg: Config,
) -> Report:
    """The education outcomes of the children and youth in the society's care, against Ontario's
    children in care and Ontario's students with no child welfare involvement."""
    r.heading("heading.society_education")
    r.text("text.society_education", subject=subject)
    here = r.t("group.subject_in_care", subject=subject)
    t = society_outcomes(results, society_id, school_year)
    said = None
    for outcome, _msg in BINARY:
        s = narrative.compare_rates(
            r,
            t,
            measure=f"phrase.{outcome}",
            a={"outcome": outcome, "group": "society_in_care"},
            b={"outcome": outcome, "group": "ontario_in_care"},
            a_group=here,
            b_group=r.t("group.ontario_in_care"),
            year=school_year,
        )
        said = said or (s if s.relation != "suppressed" else None)
    r.chart(
        t,
        kind="bar",
        category="outcome",
        value="rate",
        series="group",
        lower="ci_low",
        upper="ci_high",
        caption="caption.society_outcomes",
        alt="alt.society_suppressed",
        alt_text=said.text if said else None,
        heading="chart.society_outcomes",
        values={"subject": subject, "year": school_year},
        formats=RATE_FORMATS,
        lead=_pending(r),
    )
    att = society_attendance(results, society_id, school_year)
    s = narrative.compare_means(
        r,
        att,
        template="narr.attendance",
        a={"group": "society_in_care"},
        b={"group": "ontario_in_care"},
        a_group=here,
        b_group=r.t("group.ontario_in_care"),
        year=school_year,
    )
    r.chart(
        att,
        kind="bar",
        category="group",
        value="mean",
        lower="ci_low",
        upper="ci_high",
        caption="caption.society_attendance",
        alt="alt.society_suppressed",
        alt_text=s.text if s.relation != "suppressed" else None,
        heading="chart.society_attendance",
        values={"subject": subject, "year": school_year},
        formats=MEAN_PROPORTION,
        lead=_pending(r),
    )
    years = _eqao_years(cfg)
    year = school_year if school_year in years else years[-1]
    eq = society_eqao(results, society_id, year)
    said = narrative.highest_lowest(
        r,
        eq,
        by="assessment",
        template="narr.eqao_high_low",
        fixed={"group": "society_in_care"},
        group=here,
        year=year,
    )
    r.chart(
        eq,
        kind="bar",
        category="assessment",
        value="rate",
        series="group",
        lower="ci_low",
        upper="ci_high",
        caption="caption.society_eqao",
        alt="alt.society_suppressed",
        alt_text=said.text if said.relation != "suppressed" else None,
        heading="chart.society_eqao",
        values={"subject": subject, "year": year},
        formats=RATE_FORMATS,
        lead=_pending(r),
    )
    r.text("narr.association")
    return r


def society_headline(
    r: Report,
    results: Mapping[str, Protected],
    society_id: str,
    subject: str,
    school_year: str,
) -> Report:
    tiles = indicator_tiles(r, results, society_id, subject)
    t = society_outcomes(results, society_id, school_year)
    tiles.append(
        narrative.rate_tile(
            r,
            t,
            share=dict(
                group=r.t("group.subject_in_care", subject=subject),
                measure=r.t("phrase.chronic_absent"),
                year=school_year,
            ),
            a={"outcome": "chronic_absent", "group": "society_in_care"},
            b={"outcome": "chronic_absent", "group": "ontario_in_care"},
            b_label=r.t("group.ontario_in_care"),
        )
    )
    r.heading("heading.key_facts")
    r.tiles(tiles)
    return r


# ---------------------------------------------------------------- board
def subject_vs_province(
    r: Report,
    results: Mapping[str, Protected],
    board_id: str,
    subject: str,
    school_year: str,
    *,
    explain_small: bool = True,
) -> Report:
    """A school board's outcomes against the province; explains suppression when most is hidden
    (unless ``explain_small`` is false: :func:`board_findings` already said so)."""
    board = label_bool(
        subset(results["outcomes_by_board"], board_id=board_id, school_year=school_year),
        "ever_in_care",
    )
    prov = label_bool(
        subset(results["outcomes_by_ever_in_care"], school_year=school_year), "ever_in_care"
    )
    hidden = share_suppressed(board, "rate")
    r.heading("heading.comparison")
    r.text("text.about_subject", subject=subject)
    if hidden > 0.5 and explain_small:
        r.text("text.small_subject", subject=subject)
    rows = []
    for src, area in ((board, subject), (prov, PROVINCE_AREA)):
        rows.append(
            drop_dims(src, "board_id", "school_year").df.with_columns(pl.lit(area).alias("area"))
        )
    both = pl.concat(rows, how="diagonal_relaxed").filter(pl.col("outcome").is_not_null())
    combined = replace(
        board,
        name=f"{board.name}-{board_id.lower()}-vs-ontario",
        df=both,
        dims=("area", "outcome", "ever_in_care"),
    )
    combined = replace(
        combined,
        df=combined.df.select(
            "area",
            "outcome",
            "ever_in_care",
            *[
                c
                for c in combined.df.columns
                if c not in ("area", "outcome", "ever_in_care", "school_year", "board_id")
            ],
        ),
    )
    r.table(
        combined,
        "caption.subject_vs_province",
        caption_values={
            "measure": r.t("heading.outcomes"),
            "subject": subject,
            "year": school_year,
        },
        formats={"rate": "proportion", "ci_low": "proportion", "ci_high": "proportion"},
    )
    # The board's chronic absence beside Ontario's, in care and not (when the board's in-care
    # rate is published: a chart of suppressed bars would say nothing the text does not).
    absence = drop_dims(
        subset(combined, name=f"{combined.name}-chronic-absent", outcome="chronic_absent"),
        "outcome",
    )
    here = cell(absence, "rate", area=subject, ever_in_care="in care")
    ontario = cell(absence, "rate", area=PROVINCE_AREA, ever_in_care="in care")
    if here is not None and ontario is not None:
        r.chart(
            absence,
            kind="bar",
            category="ever_in_care",
            value="rate",
            series="area",
            lower="ci_low",
            upper="ci_high",
            caption="caption.subject_vs_province",
            alt="alt.subject_vs_province_absence",
            values={
                "measure": r.t("measure.chronic_absence"),
                "subject": subject,
                "year": school_year,
                "a_value": _show_pct(r, here),
                "b_value": _show_pct(r, ontario),
            },
            formats={"rate": "proportion", "ci_low": "proportion", "ci_high": "proportion"},
            lead=_pending(r),
        )
    eq = label_bool(
        subset(results["eqao_by_board"], board_id=board_id, school_year=school_year), "ever_in_care"
    )
    if eq.df.height:
        eq = drop_dims(eq, "board_id", "school_year")
        r.table(
            eq,
            "caption.subject_vs_province",
            caption_values={
                "measure": r.t("heading.achievement"),
                "subject": subject,
                "year": school_year,
            },
            columns=["n", "events", "rate", "ci_low", "ci_high"],
            formats={"rate": "proportion", "ci_low": "proportion", "ci_high": "proportion"},
        )
    return r


def _board_parts(
    results: Mapping[str, Protected], table: str, prov_table: str, board_id: str, **equals: Any
) -> list[tuple[Protected, dict[str, Any]]]:
    board = subset(results[table], board_id=board_id, **equals)
    prov = subset(results[prov_table], **equals)
    return [
        (subset(board, ever_in_care=True), {"group": "board_in_care"}),
        (subset(board, ever_in_care=False), {"group": "board_others"}),
        (subset(prov, ever_in_care=True), {"group": "ontario_in_care"}),
    ]


def board_outcomes(results: Mapping[str, Protected], board_id: str, school_year: str) -> Protected:
    parts = _board_parts(
        results, "outcomes_by_board", "outcomes_by_ever_in_care", board_id, school_year=school_year
    )
    t = stack(f"outcomes-{board_id.lower()}-groups-{school_year}", parts, ("outcome", "group"))
    return _ordered(t, "outcome", tuple(o for o, _ in BINARY))


def board_trend(results: Mapping[str, Protected], board_id: str, outcome: str) -> Protected:
    parts = _board_parts(
        results, "outcomes_by_board", "outcomes_by_ever_in_care", board_id, outcome=outcome
    )
    return stack(f"outcomes-{board_id.lower()}-{outcome}-trend", parts, ("school_year", "group"))


def board_eqao(results: Mapping[str, Protected], board_id: str, school_year: str) -> Protected:
    parts = _board_parts(
        results, "eqao_by_board", "eqao_by_ever_in_care", board_id, school_year=school_year
    )
    t = stack(f"eqao-{board_id.lower()}-groups-{school_year}", parts, ("assessment", "group"))
    return _ordered(t, "assessment", EQAO_MAIN)


def board_headline(
    r: Report, results: Mapping[str, Protected], board_id: str, subject: str, school_year: str
) -> Report:
    t = board_outcomes(results, board_id, school_year)
    here = r.t("group.subject_in_care", subject=subject)
    tiles = []
    for outcome, _msg in BINARY:
        tiles.append(
            narrative.rate_tile(
                r,
                t,
                share=dict(group=here, measure=r.t(f"phrase.{outcome}"), year=school_year),
                a={"outcome": outcome, "group": "board_in_care"},
                b={"outcome": outcome, "group": "board_others"},
                b_label=r.t("group.subject_others", subject=subject),
            )
        )
    trend = board_trend(results, board_id, "chronic_absent")
    ontario = narrative.rate_tile(
        r,
        trend,
        share=dict(
            group=r.t("group.ontario_in_care"),
            measure=r.t("phrase.chronic_absent"),
            year=school_year,
        ),
        a={"school_year": school_year, "group": "ontario_in_care"},
    )
    tiles.append(ontario)
    r.heading("heading.key_facts")
    r.tiles(tiles)
    return r


def board_findings(
    r: Report,
    results: Mapping[str, Protected],
    board_id: str,
    subject: str,
    school_year: str,
    cfg: Config,
) -> Report:
    """The board's children in care against its other students and against Ontario: each outcome
    in words, the trend over the panel, EQAO by grade, and what the figures suggest."""
    t = board_outcomes(results, board_id, school_year)
    here = r.t("group.subject_in_care", subject=subject)
    others = r.t("group.subject_others", subject=subject)
    r.heading("heading.board_findings")
    hidden = share_suppressed(subset(t, group="board_in_care"), "rate")
    if hidden > 0.5:
        r.text("text.small_subject", subject=subject)
    gaps = []
    first_said: str | None = None
    for outcome, msg in BINARY:
        s = narrative.compare_rates(
            r,
            t,
            measure=f"phrase.{outcome}",
            a={"outcome": outcome, "group": "board_in_care"},
            b={"outcome": outcome, "group": "board_others"},
            a_group=here,
            b_group=others,
            year=school_year,
        )
        if s.relation in ("higher", "lower"):
            gaps.append(lower_first(r.t(msg)))
        if s.relation != "suppressed" and first_said is None:
            first_said = s.text
    r.chart(
        t,
        kind="bar",
        category="outcome",
        value="rate",
        series="group",
        lower="ci_low",
        upper="ci_high",
        caption="caption.board_outcomes",
        alt="alt.board_suppressed",
        alt_text=first_said,
        heading="chart.board_outcomes",
        values={"subject": subject, "year": school_year},
        formats=RATE_FORMATS,
        lead=_pending(r),
    )
    r.heading("heading.board_trends", level=3)
    trend = board_trend(results, board_id, "chronic_absent")
    years = list(cfg.school_years)
    first = narrative.first_published(trend, "rate", years, group="board_in_care")
    said = None
    if first and first != school_year:
        said = narrative.trend(
            r,
            trend,
            measure="phrase.chronic_absent",
            group=here,
            start={"school_year": first, "group": "board_in_care"},
            end={"school_year": school_year, "group": "board_in_care"},
            first=first,
            last=school_year,
        )
    first_p = narrative.first_published(trend, "rate", years, group="ontario_in_care")
    if first_p and first_p != school_year:
        s = narrative.trend(
            r,
            trend,
            measure="phrase.chronic_absent",
            group=r.t("group.ontario_in_care"),
            start={"school_year": first_p, "group": "ontario_in_care"},
            end={"school_year": school_year, "group": "ontario_in_care"},
            first=first_p,
            last=school_year,
        )
        said = said if said is not None and said.text else s
    r.chart(
        trend,
        kind="line",
        category="school_year",
        value="rate",
        series="group",
        caption="caption.board_trend",
        alt="alt.board_suppressed",
        alt_text=said.text if said is not None else None,
        heading="chart.board_trend",
        heading_level=4,
        values={"subject": subject, "year": school_year, "measure": r.t("measure.chronic_absence")},
        formats=RATE_FORMATS,
        lead=_pending(r),
    )
    r.heading("heading.board_eqao", level=3)
    eyears = _eqao_years(cfg)
    year = school_year if school_year in eyears else eyears[-1]
    eq = board_eqao(results, board_id, year)
    s = narrative.highest_lowest(
        r,
        eq,
        by="assessment",
        template="narr.eqao_high_low",
        fixed={"group": "board_in_care"},
        group=here,
        year=year,
    )
    r.chart(
        eq,
        kind="bar",
        category="assessment",
        value="rate",
        series="group",
        lower="ci_low",
        upper="ci_high",
        caption="caption.board_eqao",
        alt="alt.board_suppressed",
        alt_text=s.text if s.relation != "suppressed" else None,
        heading="chart.board_eqao",
        heading_level=4,
        values={"subject": subject, "year": year},
        formats=RATE_FORMATS,
        lead=_pending(r),
    )
    r.heading("heading.board_focus", level=3)
    if gaps:
        r.text("text.board_focus", subject=subject, measures=r.t("ui.list_sep").join(gaps))
    else:
        r.text("text.board_focus_none", subject=subject)
    r.text("narr.association")
    return r


# ---------------------------------------------------------------- ministry: headline facts
def ministry_headline(
    r: Report, results: Mapping[str, Protected], cfg: Config, school_year: str
) -> Report:
    """Four to six tiles: the largest outcomes of children in care against other students, with
    the change since the first published year, and the adjusted EQAO difference."""
    tiles = []
    years = list(cfg.school_years)
    for outcome, _msg in BINARY:
        t = outcome_trend(results, outcome)
        first = narrative.first_published(t, "rate", years, care_status="in_care")
        tiles.append(
            narrative.rate_tile(
                r,
                t,
                share=dict(
                    group=r.t("group.in_care"),
                    measure=r.t(f"phrase.{outcome}"),
                    year=school_year,
                ),
                a={"school_year": school_year, "care_status": "in_care"},
                b={"school_year": school_year, "care_status": "none"},
                b_label=r.t("group.none"),
                start={"school_year": first, "care_status": "in_care"}
                if first and first != school_year
                else None,
                first=first,
            )
        )
    base = _baseline_years(cfg)
    eq = eqao_table(results, "g6_reading")
    if eq.df.height and base:
        tiles.append(
            narrative.rate_tile(
                r,
                eq,
                share=dict(
                    group=r.t("group.ever_in_care"),
                    measure=r.t("phrase.g6_reading"),
                    year=base[-1],
                ),
                a={"school_year": base[-1], "ever_in_care": "in care"},
                b={"school_year": base[-1], "ever_in_care": "not in care"},
                b_label=r.t("group.never_in_care"),
                start={"school_year": base[0], "ever_in_care": "in care"}
                if len(base) > 1
                else None,
                first=base[0],
            )
        )
    tiles.append(
        narrative.difference_tile(
            r,
            adjusted_points(results),
            outcome="eqao_at_standard",
            care_status="in_care",
            group=r.t("group.in_care"),
        )
    )
    tiles += indicator_tiles(r, results, which=("indicator1_no_recurrence_investigation",))
    r.heading("heading.key_facts")
    r.tiles(tiles)
    return r


def ministry_summary(
    r: Report, results: Mapping[str, Protected], cfg: Config, school_year: str
) -> Report:
    """The executive summary: the main findings in a few sentences, then where to find more."""
    r.heading("heading.summary")
    narrative.adjusted_difference(
        r,
        adjusted_points(results),
        odds_ratios(results),
        outcome="eqao_at_standard",
        care_status="in_care",
        group=r.t("group.in_care"),
    )
    for outcome in ("chronic_absent", "on_track"):
        narrative.compare_rates(
            r,
            outcome_by_care(results, outcome, school_year),
            measure=f"phrase.{outcome}",
            a={"care_status": "in_care"},
            b={"care_status": "none"},
            a_group=r.t("group.in_care"),
            b_group=r.t("group.none"),
            year=school_year,
        )
    r.text("text.summary_more")
    r.text("narr.association")
    return r


# ---------------------------------------------------------------- youth summary
YOUTH_FINDINGS: tuple[tuple[str, str], ...] = (
    ("attendance", "youth.h_attendance"),
    ("chronic_absent", "youth.h_absence"),
    ("g6_reading", "youth.h_reading"),
    ("g9_math", "youth.h_math"),
    ("osslt_first_time_pass", "youth.h_osslt"),
    ("on_track", "youth.h_credits"),
    ("graduation", "youth.h_graduation"),
)


def _youth_table(
    results: Mapping[str, Protected], key: str, school_year: str, eqao_years: Sequence[str]
) -> tuple[Protected, str, str] | None:
    """The two published cells of a youth finding (in care, others) as a two-row table, with
    the value column and the year. ``None`` when the table is not in the release."""
    groups = {"in_care": "youth_in_care", "none": "youth_others"}
    if key == "attendance":
        t = subset(
            results["means_by_care_status"],
            school_year=school_year,
            outcome="attendance_rate",
            care_status=["in_care", "none"],
        )
        t = drop_dims(t, "school_year", "outcome")
        return (
            _rename_values(replace(t, name=f"youth-{key}"), "care_status", groups),
            "mean",
            school_year,
        )
    if key in ("chronic_absent", "on_track", "osslt_first_time_pass"):
        t = subset(
            results["outcomes_by_care_status"],
            school_year=school_year,
            outcome=key,
            care_status=["in_care", "none"],
        )
        t = drop_dims(t, "school_year", "outcome")
        return (
            _rename_values(replace(t, name=f"youth-{key}"), "care_status", groups),
            "rate",
            school_year,
        )
    if key in ("g6_reading", "g9_math"):
        years = list(eqao_years) or [school_year]
        year = school_year if school_year in years else years[-1]
        t = subset(results["eqao_by_ever_in_care"], school_year=year, assessment=key)
        t = drop_dims(t, "school_year", "assessment")
        t = label_bool(t, "ever_in_care", true="in_care", false="none")
        t = replace(t, df=t.df.rename({"ever_in_care": "care_status"}), dims=("care_status",))
        return _rename_values(replace(t, name=f"youth-{key}"), "care_status", groups), "rate", year
    if key == "graduation":
        g = graduation_table(results)
        if g is None:
            return None
        cohorts = sorted(str(c) for c in g.df["cohort"].unique())
        cohort = narrative.last_published(g, "rate", cohorts, "cohort", ever_in_care="not in care")
        cohort = cohort or cohorts[0]
        t = drop_dims(subset(g, cohort=cohort), "cohort")
        t = replace(
            t,
            df=t.df.rename({"ever_in_care": "care_status"}).with_columns(
                pl.col("care_status").replace({"in care": "in_care", "not in care": "none"})
            ),
            dims=("care_status",),
        )
        return (
            _rename_values(replace(t, name=f"youth-{key}"), "care_status", groups),
            "rate",
            cohort,
        )
    return None


def youth_summary(
    r: Report,
    results: Mapping[str, Protected],
    school_year: str,
    cfg: Config | None = None,
) -> Report:
    """A page for a young person on a phone: what we found (5-8 findings, each with a simple
    chart), what helps, their rights and where to get help, in short sentences."""
    eqao_years = _eqao_years(cfg) if cfg is not None else [school_year]
    r.text("youth.intro")
    r.text("youth.why")
    found: list[tuple[str, Protected, str, str]] = []
    for key, heading in YOUTH_FINDINGS:
        got = _youth_table(results, key, school_year, eqao_years)
        if got is None or got[0].df.height == 0:
            continue
        found.append((key, got[0], got[1], heading))
    tiles = []
    for key, t, col, _h in found[:4]:
        tiles.append(narrative.youth_tile(r, t, key=key, col=col))
    r.heading("heading.key_facts")
    r.tiles(tiles)
    r.heading("heading.youth_found")
    for key, t, col, heading in found:
        r.heading(heading, level=3)
        said = narrative.youth_finding(r, t, key=key, col=col)
        r.chart(
            t,
            kind="bar",
            category="care_status",
            value=col,
            caption=f"youth.c_{key}",
            alt="youth.alt_hidden",
            alt_text=said.text if said.relation != "suppressed" else None,
            formats={col: "proportion"},
            labels={"care_status": "col.youth_group", col: "col.youth_share"},
            compact=True,
            lead=_pending(r),
        )
    r.text("youth.groups")
    r.heading("heading.youth_helps")
    r.items(
        [
            "youth.helps_adult",
            "youth.helps_move",
            "youth.helps_tutor",
            "youth.helps_plan",
            "youth.helps_money",
        ]
    )
    r.heading("heading.youth_rights")
    r.items(
        [
            "youth.right_heard",
            "youth.right_school",
            "youth.right_privacy",
            "youth.right_complain",
            "youth.right_ombudsman",
        ]
    )
    r.heading("heading.words")
    r.items(["youth.word_care", "youth.word_cas", "youth.word_eqao", "youth.word_credit"])
    r.heading("heading.help")
    r.items(["youth.help_phone", "youth.help_adult", "youth.help_rights"])
    r.text("youth.privacy")
    return r


# ---------------------------------------------------------------- sector reports
SECTORS = ("oacas", "ancfsao")


def reference_table(cfg: Config, table: str) -> pl.DataFrame:
    return pl.read_parquet(cfg.paths.analytic / f"{table}.parquet")


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key that puts "Society 9" before "Society 10"."""
    import re

    return tuple(int(p) if p.isdigit() else p.casefold() for p in re.split(r"(\d+)", text))


def _societies_side_by_side(
    results: Mapping[str, Protected],
    name: str,
    fixed: Mapping[str, Any],
    year_col: str,
    value: str,
    names: Mapping[str, str],
    tag: str,
) -> tuple[Protected, str] | None:
    """One indicator for the latest year Ontario publishes: every listed society and Ontario."""
    p = results[name]
    t = subset(p, name=f"{p.name}-{tag}", society_id=[*names, "Total"], **fixed)
    t = drop_dims(t, *fixed)
    years = _years_of(t, year_col)
    last = narrative.last_published(t, value, years, year_col, society_id="Total")
    if last is None:
        return None
    # the year stays a column: the sentences name it, so the CSV must hold it
    t = subset(t, **{year_col: last})
    order = [*sorted(names, key=lambda s: _natural(names[s])), "Total"]
    t = _ordered(t, "society_id", tuple(order))
    t = _rename_values(t, "society_id", {**names, "Total": PROVINCE_AREA})
    return t, last


def _groups_side_by_side(
    r: Report,
    results: Mapping[str, Protected],
    name: str,
    fixed: Mapping[str, Any],
    year_col: str,
    year: str,
    tag: str,
) -> Protected | None:
    """One indicator's rows by group of societies (``<name>_by_society_group``) in ``year``, beside
    Ontario's: the Indigenous societies for ANCFSAO, every group for OACAS; ``None`` when the
    release has no such table."""
    grouped = f"{name}_by_society_group"
    if grouped not in results:
        return None
    codes = ["SG1"] if tag == "ancfsao" else [code for code, _ in SOCIETY_GROUPS]
    p = results[grouped]
    t = subset(p, name=f"{p.name}-{tag}", society_group=[*codes, "Total"], **fixed)
    t = subset(drop_dims(t, *fixed), **{year_col: year})
    if t.df.filter(pl.col("society_group") != "Total").is_empty():
        return None
    t = _ordered(t, "society_group", (*codes, "Total"))
    labels = {code: r.t(f"open.group.{key}") for code, key in SOCIETY_GROUPS}
    return _rename_values(t, "society_group", {**labels, "Total": PROVINCE_AREA})


def sector_groups(
    r: Report,
    t: Protected,
    *,
    msg: str,
    value: str,
    fmt_kind: narrative.Fmt,
    year: str,
    formats: Mapping[str, str],
    n_label: str,
) -> None:
    """The groups of societies beside Ontario: a sentence of their published values, and a chart."""
    said = narrative.group_values(
        r,
        replace(t, df=t.df.filter(pl.col("society_group") != PROVINCE_AREA)),
        by="society_group",
        col=value,
        fmt=fmt_kind,
        year=year,
        measure=lower_first(r.t(msg)),
    )
    if said.text is None:
        return
    _beside_ontario(
        r, t, "society_group", value, "society_groups", said.text, msg, year, formats, n_label
    )


def _beside_ontario(
    r: Report,
    t: Protected,
    category: str,
    value: str,
    what: str,
    alt_text: str | None,
    msg: str,
    year: str,
    formats: Mapping[str, str],
    n_label: str,
) -> None:
    """A bar chart of an indicator's ``value`` for its places (``category``) beside Ontario in
    one year, with the findings just written as its lead; ``what`` names its caption and heading
    messages."""
    col_label = {"society_id": "col.society", "society_group": "col.society_group"}[category]
    r.chart(
        t,
        kind="bar",
        category=category,
        value=value,
        lower="ci_low" if "ci_low" in t.df.columns else None,
        upper="ci_high" if "ci_high" in t.df.columns else None,
        caption=f"caption.{what}",
        alt="alt.partly_suppressed",
        alt_text=alt_text,
        heading=f"chart.{what}",
        heading_level=4,
        values={"measure": r.t(msg), "year": year},
        formats=dict(formats),
        labels={category: col_label, "n": n_label, "events": "col.events_indicator"},
        lead=_pending(r),
    )


def sector_indicators(
    r: Report, results: Mapping[str, Protected], names: Mapping[str, str], tag: str
) -> Report:
    """The five indicators, every listed society side by side with Ontario, latest year."""
    r.heading("heading.indicators")
    r.text("text.sector_indicators")
    for name, msg, year_col, value, fixed, n_label, fmt_kind in INDICATOR_VIEWS:
        if name not in results:
            continue
        got = _societies_side_by_side(results, name, fixed, year_col, value, names, tag)
        if got is None:
            continue
        t, last = got
        fmt = FORMAT_OF[fmt_kind]
        formats: dict[str, str] = {value: fmt}
        formats.update({c: fmt for c in ("ci_low", "ci_high") if c in t.df.columns})
        r.heading(msg, level=3)
        said = narrative.highest_lowest(
            r,
            replace(t, df=t.df.filter(pl.col("society_id") != PROVINCE_AREA)),
            by="society_id",
            template="narr.societies_high_low",
            col=value,
            fmt=fmt_kind,
            year=last,
            measure=lower_first(r.t(msg)),
        )
        narrative.province_value(
            r,
            t,
            col=value,
            fmt=fmt_kind,
            year=last,
            measure=lower_first(r.t(msg)),
        )
        alt_text = said.text if said.relation != "suppressed" else None
        _beside_ontario(
            r, t, "society_id", value, "societies", alt_text, msg, last, formats, n_label
        )
        groups = _groups_side_by_side(r, results, name, fixed, year_col, last, tag)
        if groups is not None:
            sector_groups(
                r,
                groups,
                msg=msg,
                value=value,
                fmt_kind=fmt_kind,
                year=last,
                formats=formats,
                n_label=n_label,
            )
    r.text("text.societies_caution")
    return r


def indigenous_eqao(results: Mapping[str, Protected]) -> Protected:
    """EQAO results by Indigenous identity among child-welfare-involved students (all years)."""
    eq = label_bool(results["equity_rates"], "ever_in_care")
    return drop_dims(subset(eq, name=f"{eq.name}-indigenous", dimension="indigenous"), "dimension")


def indigenous_children(r: Report, results: Mapping[str, Protected]) -> Report:
    """Indigenous children and youth across all societies: EQAO results by Indigenous identity,
    the adjusted Indigenous difference among child-welfare-involved students, and link rates."""
    r.heading("heading.indigenous_children")
    r.text("text.indigenous_children")
    t = indigenous_eqao(results)
    if t.df.height:
        said = narrative.compare_rates(
            r,
            t,
            measure="phrase.at_standard",
            a={"level": "true", "ever_in_care": "in care"},
            b={"level": "false", "ever_in_care": "in care"},
            a_group=r.t("group.indigenous_in_care"),
            b_group=r.t("group.other_in_care"),
            year="",
            template="narr.rate_pooled",
        )
        r.chart(
            t,
            kind="bar",
            category="level",
            value="rate",
            series="ever_in_care",
            lower="ci_low",
            upper="ci_high",
            caption="caption.indigenous_eqao",
            alt="alt.partly_suppressed",
            alt_text=said.text if said.relation != "suppressed" else None,
            heading="chart.indigenous_eqao",
            labels={"level": "col.indigenous"},
            formats=RATE_FORMATS,
            lead=_pending(r),
        )
    gaps = results["adjusted_gaps"]
    ind = subset(gaps, name=f"{gaps.name}-indigenous", term="indigenous:cw_active")
    ind = drop_dims(ind, "term")
    narrative.indigenous_terms(r, ind, group=r.t("group.indigenous_cw"))
    r.table(
        ind,
        "caption.indigenous_adjusted",
        columns=["n", "estimate", "ci_low", "ci_high", "odds_ratio", "or_low", "or_high"],
        formats={"estimate": "decimal2", "ci_low": "decimal2", "ci_high": "decimal2", **OR_FORMATS},
    )
    rates = results["linkage_rate_by_group"]
    race = subset(rates, name=f"{rates.name}-race", dimension="race")
    if race.df.height:
        narrative.compare_rates(
            r,
            race,
            measure="",
            a={"group": "indigenous"},
            b={"group": "white"},
            a_group=r.t("group.indigenous_children"),
            b_group=r.t("group.white_children"),
            year="",
            template="narr.link_compare",
        )
        r.table(
            drop_dims(race, "dimension"), "caption.linkage_by_race", formats={"rate": "proportion"}
        )
    r.text("text.ocap")
    return r


def sector_headline(
    r: Report, results: Mapping[str, Protected], names: Mapping[str, str], tag: str
) -> Report:
    """Ontario's latest value of each indicator, from the side-by-side tables the report shows;
    for ANCFSAO, first the EQAO results of Indigenous children and youth in care."""
    tiles = []
    if tag == "ancfsao":
        t = indigenous_eqao(results)
        if t.df.height:
            tiles.append(
                narrative.rate_tile(
                    r,
                    t,
                    measure=r.t(
                        "tile.share_pooled",
                        group=r.t("group.indigenous_in_care"),
                        measure=r.t("phrase.at_standard"),
                    ),
                    a={"level": "true", "ever_in_care": "in care"},
                    b={"level": "false", "ever_in_care": "in care"},
                    b_label=r.t("group.other_in_care"),
                )
            )
    for name, msg, year_col, value, fixed, _n, fmt_kind in INDICATOR_VIEWS:
        if name not in results:
            continue
        got = _societies_side_by_side(results, name, fixed, year_col, value, names, tag)
        if got is None:
            continue
        t, last = got
        tiles.append(
            narrative.rate_tile(
                r,
                t,
                measure=r.t("tile.indicator", measure=r.t(msg), subject=PROVINCE_AREA, year=last),
                a={"society_id": PROVINCE_AREA},
                col=value,
                fmt=fmt_kind,
            )
        )
    r.heading("heading.key_facts")
    r.tiles(tiles[:6])
    return r


def open_results(cfg: Config) -> dict[str, Protected]:
    """The release's published tables (the notebooks' only data)."""
    from analysis.analyse import load_results

    return load_results(cfg)


def open_data_rows(cfg: Config) -> dict[str, tuple[str, ...]]:
    """The open data files each release row is printed in (read once per release)."""
    index = cfg.paths.results / "index.json"
    return _open_data_rows(str(cfg.paths.results), index.stat().st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _open_data_rows(results: str, _stamp: int) -> dict[str, tuple[str, ...]]:
    from analysis.analyse import load_results_from
    from analysis.reports.opendata.datasets import row_files

    return row_files(load_results_from(Path(results)))


def save(r: Report, out_dir: str | Path | None, cfg: Config) -> Path:
    """Save the report document where the render stage (or an analyst) wants it, each table
    naming the open data files its rows are in."""
    r.attach_data_files(open_data_rows(cfg))
    return r.save(Path(out_dir) if out_dir else cfg.paths.reports_dir / "_docs")


def reference_name(cfg: Config, table: str, key: str, value: str) -> str:
    """A board's or society's published name (de-identification copies the reference tables,
    which are not identifying, into the analytic folder)."""
    p = cfg.paths.analytic / f"{table}.parquet"
    df = pl.read_parquet(p).filter(pl.col(key) == value)
    if df.height:
        return str(df[f"{table[:-1] if table != 'societies' else 'society'}_name"][0])
    raise KeyError(f"{p}: no {key} {value!r} in the reference table")


def linkage_quality(cfg: Config) -> dict[str, Any]:
    """The linkage quality aggregates (rates and counts by group, no identifier), as
    de-identification copied them into the analytic folder."""
    p = cfg.paths.analytic / "linkage_quality.json"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: linkage quality not found (run `analysis deidentify` first)")
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return data


def link_threshold(cfg: Config, q: dict[str, Any] | None = None) -> float:
    """The match threshold the build linked at (``quality.json``'s, chosen within the false-link
    budget), or the configured floor when the quality report does not say."""
    q = linkage_quality(cfg) if q is None else q
    t = q.get("threshold", {}).get("match_threshold")
    return float(t) if isinstance(t, int | float) else cfg.linkage.match_threshold


def linkage_budget(r: Report, q: dict[str, Any]) -> None:
    """The sentence on how the threshold was chosen, when a false-link budget chose it."""
    budget = q.get("threshold", {}).get("choice", {}).get("budget")
    if isinstance(budget, int | float):
        r.text("method.linkage_budget", budget=r.pct(budget, 1, proportion=True))


def linkage_section(r: Report, cfg: Config) -> Report:
    """The linkage analyst's view: match weights and link rates by group.

    Both tables come from the release (the ``analyse`` stage protects them with every other
    table), so this notebook can be shared beyond the linkage team.
    """
    results = open_results(cfg)
    h = results["linkage_match_weights"]
    top = h.df.sort("n", descending=True, nulls_last=True).head(1)
    r.heading("heading.linkage_quality")
    r.chart(
        h,
        kind="bar",
        category="weight",
        value="n",
        caption="caption.match_weights",
        alt="alt.match_weights",
        values={"peak": str(top["weight"][0]) if top.height else "-"},
        lead=_pending(r),
    )
    r.table(
        results["linkage_rate_by_group"], "caption.linkage_by_group", formats={"rate": "proportion"}
    )
    return r


def sector_societies(cfg: Config, association: str) -> dict[str, str]:
    """The societies a sector report covers, ``{society_id: name}``: every society (OACAS) or
    the Indigenous societies (ANCFSAO)."""
    if association not in SECTORS:
        raise ValueError(f"association {association!r} is not one of {', '.join(SECTORS)}")
    socs = reference_table(cfg, "societies").sort("society_id")
    if association == "ancfsao":
        socs = socs.filter(pl.col("indigenous"))
    return dict(zip(socs["society_id"], socs["society_name"], strict=True))
