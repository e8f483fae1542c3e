"""Report sections: what each part of a report says, built from published (protected) tables.

The report notebooks are thin: a ``parameters`` cell, then one call per section of this module.
Every section takes a :class:`~analysis.reports.report.Report` and the release's published tables
(:func:`analysis.analyse.load_results`), selects the slice it needs with :func:`subset` (a subset
of a published table publishes nothing new), and adds headings, text, tables and charts. Alt text
states the finding, from the same numbers the chart shows; where those numbers are suppressed, the
alt text says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import polars as pl

from analysis.config import Config
from analysis.disclosure import Protected
from analysis.reports.report import Report

SYM = "__symbol"
CARE_ORDER = ("in_care", "kinship_service", "vysa", "ccsyp", "none")
# The label of the province beside a board or society in comparison tables and charts.
PROVINCE_AREA = "Ontario"
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
        threshold=r.pct(cfg.linkage.match_threshold, 0, proportion=True),
    )
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


def care_comparison(r: Report, results: Mapping[str, Protected], school_year: str) -> Report:
    """Outcomes by care status for one school year: rates, means, and a chart of attendance."""
    r.heading("heading.outcomes")
    rates = _ordered(
        drop_dims(
            subset(results["outcomes_by_care_status"], school_year=school_year), "school_year"
        ),
        "care_status",
        CARE_ORDER,
    )
    for outcome, msg in (
        ("chronic_absent", "measure.chronic_absence"),
        ("on_track", "measure.on_track"),
        ("osslt_first_time_pass", "measure.osslt"),
    ):
        t = drop_dims(subset(rates, name=f"{rates.name}-{outcome}", outcome=outcome), "outcome")
        if t.df.height == 0:
            continue
        r.chart(
            t,
            kind="bar",
            category="care_status",
            value="rate",
            lower="ci_low",
            upper="ci_high",
            caption="caption.by_care",
            alt="alt.compare_two",
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
            formats={"rate": "proportion", "ci_low": "proportion", "ci_high": "proportion"},
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
        r.chart(
            att,
            kind="bar",
            category="care_status",
            value="mean",
            lower="ci_low",
            upper="ci_high",
            caption="caption.by_care",
            alt="alt.compare_two",
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
            formats={"mean": "proportion", "ci_low": "proportion", "ci_high": "proportion"},
        )
    cred = drop_dims(
        subset(means, name=f"{means.name}-credits", outcome="credits_earned"), "outcome"
    )
    if cred.df.height:
        r.heading("heading.credits", level=3)
        r.table(
            cred,
            "caption.by_care",
            caption_values={"measure": r.t("measure.credits"), "year": school_year},
            formats={"mean": "decimal1", "ci_low": "decimal1", "ci_high": "decimal1"},
        )
    r.text("text.interval")
    return r


def _show_pct(r: Report, v: float | None) -> str:
    return r.t("symbol.c_short") if v is None else r.pct(v, 0, proportion=True)


def eqao_trends(
    r: Report,
    results: Mapping[str, Protected],
    cfg: Config,
    assessments: tuple[str, ...] = ("g3_reading", "g6_math", "osslt"),
) -> Report:
    """EQAO trends, in care (ever) vs not, with the pandemic gap and the 2021-22 baseline break."""
    r.heading("heading.achievement")
    r.text("text.no_testing")
    r.text("text.new_baseline")
    table = label_bool(results["eqao_by_ever_in_care"], "ever_in_care")
    for a in assessments:
        t = drop_dims(subset(table, name=f"{table.name}-{a}", assessment=a), "assessment")
        if t.df.height == 0:
            continue
        measure = r.t(f"value.{a}")
        years = [y for y in cfg.school_years if y not in cfg.no_eqao_years]
        first, last = years[0], years[-1]
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
            values={
                "measure": measure,
                "first": cfg.school_years[0],
                "last": cfg.school_years[-1],
                "series": r.t("value.in care"),
                "start": _show_pct(r, start),
                "end": _show_pct(r, end),
            },
            formats={"rate": "proportion", "ci_low": "proportion", "ci_high": "proportion"},
        )
    return r


def adjusted_models(r: Report, results: Mapping[str, Protected]) -> Report:
    """Adjusted gaps, dose-response, equity views and the linkage sensitivity analysis."""
    fm = {
        "estimate": "decimal2",
        "ci_low": "decimal2",
        "ci_high": "decimal2",
        "odds_ratio": "decimal2",
    }
    r.heading("heading.adjusted")
    r.text("text.adjusted")
    r.table(results["adjusted_gaps"], "caption.adjusted_gaps", formats=fm)
    r.heading("heading.dose", level=3)
    r.table(results["dose_response"], "caption.dose_response", formats=fm)
    r.heading("heading.equity")
    r.table(results["equity_adjusted"], "caption.equity_adjusted", formats=fm)
    if "equity_rates" in results:
        eq = label_bool(results["equity_rates"], "ever_in_care")
        r.table(
            eq,
            "caption.equity_rates",
            formats={"rate": "proportion", "ci_low": "proportion", "ci_high": "proportion"},
        )
    r.heading("heading.sensitivity", level=3)
    r.text("text.sensitivity")
    r.table(results["linkage_sensitivity"], "caption.linkage_sensitivity", formats=fm)
    return r


INDICATORS = (
    (
        "indicator1_no_recurrence_investigation",
        "measure.indicator_1",
        "fiscal_year",
        "rate",
        "col.cases",
    ),
    ("indicator2_no_recurrence_ongoing", "measure.indicator_2", "fiscal_year", "rate", "col.cases"),
    (
        "indicator3_days_by_placement",
        "measure.indicator_3",
        "fiscal_year",
        "pct_days",
        "col.children",
    ),
    ("indicator4_exits", "measure.indicator_4", "admission_fiscal_year", "rate", "col.admissions"),
    (
        "indicator5_caregiver_relationship",
        "measure.indicator_5",
        "fiscal_year",
        "mean",
        "col.youth",
    ),
)


def indicators(
    r: Report,
    results: Mapping[str, Protected],
    society_id: str = "Total",
    subject: str | None = None,
) -> Report:
    """The five MCCSS performance indicators by fiscal year, for a society against the province."""
    r.heading("heading.indicators")
    r.text("text.indicators")
    for name, msg, _year_col, value, n_label in INDICATORS:
        if name not in results:
            continue
        p = results[name]
        ids = [society_id, "Total"] if society_id != "Total" else ["Total"]
        t = subset(p, name=f"{p.name}-{society_id.lower()}", society_id=ids)
        t = replace(
            t,
            df=t.df.with_columns(
                pl.when(pl.col("society_id") == "Total")
                .then(pl.lit(PROVINCE_AREA))
                .otherwise(pl.lit(subject or society_id))
                .alias("society_id")
            ),
        )
        fmt = {"rate": "proportion", "pct_days": "percent", "mean": "decimal1"}[value]
        formats = {value: fmt}
        for c in ("ci_low", "ci_high"):
            if c in t.df.columns:
                formats[c] = fmt
        r.heading(msg, level=3)
        r.table(
            t,
            "caption.indicator",
            caption_values={"measure": r.t(msg)},
            formats=formats,
            labels={"n": n_label, "events": "col.events_indicator"},
        )
    return r


def subject_vs_province(
    r: Report, results: Mapping[str, Protected], board_id: str, subject: str, school_year: str
) -> Report:
    """A school board's outcomes against the province; explains suppression when most is hidden."""
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
    if hidden > 0.5:
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


def youth_summary(r: Report, results: Mapping[str, Protected], school_year: str) -> Report:
    """Plain-language summary for young people in and from care."""
    r.text("youth.intro")
    r.text("youth.why")
    prov = label_bool(results["eqao_by_ever_in_care"], "ever_in_care")
    reading_care = cell(
        prov, "rate", assessment="g6_reading", school_year=school_year, ever_in_care="in care"
    )
    reading_all = cell(
        prov, "rate", assessment="g6_reading", school_year=school_year, ever_in_care="not in care"
    )
    means = results["means_by_care_status"]
    att_care = cell(
        means, "mean", outcome="attendance_rate", school_year=school_year, care_status="in_care"
    )
    r.heading("heading.summary")
    if reading_care is not None and reading_all is not None:
        r.text("youth.reading", in_care=r.in_ten(reading_care, proportion=True).capitalize())
        r.text("youth.compare_all", all=r.in_ten(reading_all, proportion=True))
    if att_care is not None:
        r.text("youth.attendance_days", days=r.num(round(att_care * 10)))
    grad = (
        label_bool(results["graduation_by_ever_in_care"], "ever_in_care")
        if ("graduation_by_ever_in_care" in results)
        else None
    )
    if grad is not None and grad.df.height:
        first = str(grad.df["cohort"].min())
        g_care = cell(grad, "rate", cohort=first, years=5, ever_in_care="in care")
        g_all = cell(grad, "rate", cohort=first, years=5, ever_in_care="not in care")
        if g_care is not None and g_all is not None:
            r.text("youth.finished_school", in_care=r.in_ten(g_care, proportion=True).capitalize())
            r.text("youth.finished_school_all", all=r.in_ten(g_all, proportion=True))
    r.text("youth.groups")
    r.text("youth.privacy")
    r.heading("heading.words")
    r.items(["youth.word_care", "youth.word_cas", "youth.word_eqao", "youth.word_credit"])
    r.heading("heading.help")
    r.items(["youth.help_phone", "youth.help_adult", "youth.help_rights"])
    return r


def open_results(cfg: Config) -> dict[str, Protected]:
    """The release's published tables (the notebooks' only data)."""
    from analysis.analyse import load_results

    return load_results(cfg)


def save(r: Report, out_dir: str | Path | None, cfg: Config) -> Path:
    """Save the report document where the render stage (or an analyst) wants it."""
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
    )
    r.table(
        results["linkage_rate_by_group"], "caption.linkage_by_group", formats={"rate": "proportion"}
    )
    return r
