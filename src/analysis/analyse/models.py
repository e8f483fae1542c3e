"""Adjusted gaps by care status: regression models fitted on aggregated counts.

The study's model specifications: which rows, covariates and key terms each outcome's model has.
Every model is a grouped GLM (:mod:`analysis.analyse.glm`): fitted on cells (one row per distinct
covariate pattern) so the provincial scale stays fast, with student-clustered (sandwich) standard
errors of its key contrasts, because the same student appears in several school years (attendance
frailty, repeated EQAO assessments).

Models (covariates documented in the codebook):

- EQAO at standard: binomial GLM (logit) with ``assessment x year`` (Grade 9 stream before the
  2021-22 break; a later OSSLT sitting its own) + board + gender + care status +
  ``years_in_care x in_care`` + group care + ``indigenous x child-welfare service that year`` +
  child-welfare involvement (``cw_involved``: every year of a student known to child welfare):
  the generator's model, so correctly specified. A care status's term is then the difference
  from students known to child welfare with no service that year; with ``cw_involved`` added,
  from students never known to child welfare.
- chronic absence, on track: binomial GLM (logit), ``grade x year`` + board + gender + care terms.
- attendance: quasi-binomial GLM, identity link, on grouped days attended out of days enrolled
  (the gap is in attendance-rate points, the scale of the generator's additive model).
- credits (grades 9-12): Gaussian (WLS on cell means with the exact individual-level residual
  variance), credits per year.

Output tables are long: ``outcome``, ``term``, ``scale``, ``estimate``, ``se``, ``ci_low``,
``ci_high``, and ``n`` (people the term describes) for the disclosure module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import polars as pl

from analysis.analyse.glm import MISSING, Family, GroupedFit, as_levels, fit_grouped
from analysis.analyse.outcomes import (
    HIGH_SCHOOL_GRADES,
    Z95,
    eqao_with_care,
    label_per_row,
    student_year_outcomes,
)

# the care statuses (domain.vocab.CARE_PRIORITY) compared with "none", in the models' term order
CARE_LEVELS: tuple[str, ...] = ("in_care", "kinship_service", "ccsyp", "vysa")
CARE_TERMS: tuple[str, ...] = tuple(f"care_status[{c}]" for c in CARE_LEVELS)
DOSE_TERM = "years_in_care:in_care"
GROUP_TERM = "placement_group[group]"
INDIGENOUS_TERM = "indigenous:cw_active"
CW_TERM = "cw_involved"
KEY_TERMS: tuple[str, ...] = (*CARE_TERMS, DOSE_TERM, GROUP_TERM, INDIGENOUS_TERM, CW_TERM)
# the single-dummy care terms of every outcome model: term -> (column, level)
CARE_INDICATORS: Mapping[str, tuple[str, str]] = {
    GROUP_TERM: ("placement_group", "group"),
    INDIGENOUS_TERM: ("_ind_cw", "true"),
    CW_TERM: ("cw_involved", "true"),
}
# the average adjusted differences of the logit outcome models: term -> the rows it is among
AME_GROUPS: Mapping[str, tuple[str, str]] = {
    t: ("care_status", c) for t, c in zip(CARE_TERMS, CARE_LEVELS, strict=True)
}
# log-odds columns -> the odds-ratio columns published beside them (an odds ratio and its 95%
# interval are what a policy reader can use; the log-odds stay for analysts)
ODDS_RATIO_COLUMNS: Mapping[str, str] = {
    "estimate": "odds_ratio",
    "ci_low": "or_low",
    "ci_high": "or_high",
}
EQUITY_DIMENSIONS: tuple[str, ...] = (
    "race",
    "indigenous",
    "gender_identity",
    "born_outside_canada",
    "first_language",
    "gender",
)

#: The reference level of each equity comparison: the group the published labels compare with
#: ("Black, compared with White"). Fixed, so a label means the same thing on every seed; the most
#: frequent level stands in only when the named one is absent from the data.
EQUITY_REFERENCE: dict[str, str] = {
    "race": "white",
    "indigenous": "false",
    "gender_identity": "boy_man",
    "born_outside_canada": "false",
    "first_language": "english",
    "gender": "male",
}


def fit_model(
    rows: pl.DataFrame | pl.LazyFrame,
    *,
    outcome: str,
    family: Family,
    categorical: Mapping[str, str | None],
    trials: str | None = None,
    numeric: Sequence[str] = (),
    indicators: Mapping[str, tuple[str, str]] | None = None,
    key_terms: Sequence[str] = KEY_TERMS,
    ame_groups: Mapping[str, tuple[str, str]] | None = None,
    cluster: str = "study_id",
    label: str | None = None,
) -> GroupedFit:
    """:func:`~analysis.analyse.glm.fit_grouped` under the study's rules.

    A care status with almost no successes or failures has no finite log-odds: its rows are left
    out of a logit model rather than given an infinite estimate. An average adjusted difference
    compares the fitted values with every care-related term (:data:`KEY_TERMS`) set to zero.
    """
    return fit_grouped(
        rows,
        outcome=outcome,
        family=family,
        trials=trials,
        categorical=categorical,
        numeric=numeric,
        indicators=indicators,
        key_terms=key_terms,
        ame_groups=ame_groups,
        ame_zero=KEY_TERMS,
        sparse_levels="care_status",
        cluster=cluster,
        label=label,
    )


# --------------------------------------------------------------------------------------------
# frames: the model covariates from analytic-shaped inputs


def model_frame(student_years: pl.DataFrame) -> pl.DataFrame:
    """Add the care-term covariates used by every model to ``student_years``-shaped rows.

    ``years_in_care`` = cumulative days in care / 365.25; ``years_in_care:in_care`` the dose term;
    ``indigenous`` from ``race == "indigenous"`` unless an ``indigenous`` column exists (the truth
    frames of the tests carry it); ``cw_active`` = any child-welfare service that year
    (``_ind_cw``, boolean: the model cells read it as ``"true"``/``"false"``); ``grade_year``.
    Categorical columns stay categorical (the models cast their cells, not the rows, to text).
    """
    sy = student_years
    if "indigenous" not in sy.columns:
        sy = sy.with_columns((pl.col("race") == "indigenous").fill_null(False).alias("indigenous"))
    if "years_in_care" not in sy.columns:
        sy = sy.with_columns(
            (pl.col("cumulative_days_in_care").cast(pl.Float64).fill_null(0) / 365.25).alias(
                "years_in_care"
            )
        )

    def text(c: str) -> pl.Expr:
        return pl.col(c) if _is_categorical(sy.schema[c]) else pl.col(c).cast(pl.Utf8)

    sy = sy.with_columns(
        (
            (pl.col("care_status") == "in_care").cast(pl.Float64)
            * pl.col("years_in_care").fill_null(0)
        ).alias(DOSE_TERM),
        (pl.col("indigenous").fill_null(False) & (pl.col("care_status") != "none")).alias(
            "_ind_cw"
        ),
        text("placement_group").fill_null("none").alias("placement_group"),
        text("grade").alias("grade"),
    )
    label = pl.col("grade").cast(pl.Utf8) + "|" + pl.col("school_year").cast(pl.Utf8)
    return sy.with_columns(label_per_row(sy, ["grade", "school_year"], label, "grade_year"))


def _is_categorical(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.Categorical, pl.Enum))


MODEL_COLUMNS: tuple[str, ...] = (
    "study_id",
    "school_year",
    "grade",
    "board_id",
    "gender",
    "days_enrolled",
    "days_absent",
    "credits_earned",
    "care_status",
    "cumulative_days_in_care",
    "years_in_care",
    "placement_group",
    "race",
    "indigenous",
    "cw_involved",
    "link_probability",
)


def _narrow(student_years: pl.DataFrame, extra: Sequence[str] = ()) -> pl.DataFrame:
    """The columns the models read (a projection: joins downstream copy only these)."""
    want = dict.fromkeys([*MODEL_COLUMNS, *extra])
    return student_years.select([c for c in student_years.columns if c in want])


@dataclass(frozen=True)
class ModelFrames:
    """The rows every model reads, built once: ``sy`` (student-years with outcomes and covariates,
    :func:`model_frame`) and ``eq`` (participating EQAO results with the student-year's care
    covariates, ``assessment_year`` and ``gender_assessment``). Either may be lazy (a subset)."""

    sy: pl.DataFrame | pl.LazyFrame
    eq: pl.DataFrame | pl.LazyFrame


# student-year columns the EQAO model rows carry (besides the EQAO table's own)
EQ_COLUMNS: tuple[str, ...] = (
    "study_id",
    "school_year",
    "gender",
    "care_status",
    "ever_in_care",
    "society_id",
    "placement_group",
    "indigenous",
    "cw_involved",
    "link_probability",
    DOSE_TERM,
    "_ind_cw",
)


def eqao_model_rows(eqao: pl.DataFrame, sy_model: pl.DataFrame) -> pl.DataFrame:
    """:func:`analysis.analyse.outcomes.eqao_with_care` of ``sy_model`` (already :func:`model_frame` rows),
    with the model strata ``assessment_year`` and ``gender_assessment``."""
    eq = eqao_with_care(eqao, sy_model.select([c for c in EQ_COLUMNS if c in sy_model.columns]))
    year = pl.col("assessment_key").cast(pl.Utf8) + "|" + pl.col("school_year").cast(pl.Utf8)
    ga = (
        pl.col("gender").cast(pl.Utf8).fill_null(MISSING) + "|" + pl.col("assessment").cast(pl.Utf8)
    )
    return eq.with_columns(
        label_per_row(eq, ["assessment_key", "school_year"], year, "assessment_year"),
        label_per_row(eq, ["gender", "assessment"], ga, "gender_assessment"),
    )


def model_frames(student_years: pl.DataFrame, eqao: pl.DataFrame) -> ModelFrames:
    """The model rows of analytic-shaped ``student_years`` and ``eqao`` (see :class:`ModelFrames`)."""
    sy = model_frame(student_year_outcomes(_narrow(student_years)))
    return ModelFrames(sy=sy, eq=eqao_model_rows(eqao, sy))


def _collect(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def fit_outcome_models(
    student_years: pl.DataFrame | None,
    eqao: pl.DataFrame | None,
    *,
    outcomes: Sequence[str] | None = None,
    frames: ModelFrames | None = None,
) -> dict[str, GroupedFit]:
    """Fit the adjusted model of every outcome; keys: ``eqao_at_standard``, ``attendance``,
    ``credits``, ``chronic_absence``, ``on_track``. ``frames``: the model rows, when already built
    (then ``student_years`` and ``eqao`` are not read)."""
    if frames is None:
        assert student_years is not None and eqao is not None
        frames = model_frames(student_years, eqao)
    sy = frames.sy.lazy()
    wanted = set(
        outcomes or ("eqao_at_standard", "attendance", "credits", "chronic_absence", "on_track")
    )
    base_cat: dict[str, str | None] = {"care_status": "none", "board_id": None, "gender": None}
    fits: dict[str, GroupedFit] = {}
    if "eqao_at_standard" in wanted:
        eq = frames.eq.lazy()
        # gender differences differ by subject (reading/writing vs math): one gender contrast per
        # assessment (reference: the most frequent gender), nested in the assessment x year strata
        genders = (
            eq.group_by("gender")
            .len()
            .collect()
            .sort("len", descending=True)["gender"]
            .cast(pl.Utf8)
            .fill_null(MISSING)
            .to_list()
        )
        assessments = eq.select(pl.col("assessment").unique()).collect()["assessment"]
        gender_terms = {
            f"gender[{g}]:{a}": ("gender_assessment", f"{g}|{a}")
            for g in genders[1:]
            for a in sorted(assessments.cast(pl.Utf8).to_list())
        }
        fits["eqao_at_standard"] = fit_model(
            eq,
            outcome="at_standard",
            family="logit",
            categorical={"care_status": "none", "board_id": None, "assessment_year": None},
            numeric=[DOSE_TERM],
            indicators={**CARE_INDICATORS, **gender_terms},
            ame_groups=AME_GROUPS,
        )
    if "attendance" in wanted:
        att = sy.with_columns(
            (pl.col("days_enrolled") - pl.col("days_absent")).alias("days_attended")
        )
        fits["attendance"] = fit_model(
            att,
            outcome="days_attended",
            trials="days_enrolled",
            family="identity_binomial",
            categorical={**base_cat, "grade_year": None},
            numeric=[DOSE_TERM],
            indicators=CARE_INDICATORS,
            ame_groups=AME_GROUPS,
        )
    if "credits" in wanted:
        cr = sy.filter(pl.col("grade").is_in(HIGH_SCHOOL_GRADES))
        fits["credits"] = fit_model(
            cr,
            outcome="credits_earned",
            family="gaussian",
            categorical={**base_cat, "grade_year": None},
            numeric=[DOSE_TERM],
            indicators=CARE_INDICATORS,
            ame_groups=AME_GROUPS,
        )
    for name, col in (("chronic_absence", "chronic_absent"), ("on_track", "on_track")):
        if name in wanted and sy.select(pl.col(col).is_not_null().any()).collect().item():
            fits[name] = fit_model(
                sy,
                outcome=col,
                family="logit",
                categorical={**base_cat, "grade_year": None},
                numeric=[DOSE_TERM],
                indicators=CARE_INDICATORS,
                ame_groups=AME_GROUPS,
            )
    return fits


_SCALES = {
    "logit": "log_odds",
    "identity_binomial": "attendance_rate_difference",
    "gaussian": "credits_difference",
}


def _people(sy: pl.DataFrame | pl.LazyFrame) -> dict[str, int]:
    """Distinct people each key term describes (all people for any other term)."""
    cs = pl.col("care_status")
    conds: dict[str, pl.Expr] = {
        **{t: cs == lev for t, lev in zip(CARE_TERMS, CARE_LEVELS, strict=True)},
        DOSE_TERM: cs == "in_care",
        GROUP_TERM: pl.col("placement_group") == "group",
    }
    schema = sy.lazy().collect_schema()
    ind = pl.col("_ind_cw")
    conds[INDIGENOUS_TERM] = ind if schema["_ind_cw"] == pl.Boolean else ind == "true"
    cw = pl.col("cw_involved")
    conds[CW_TERM] = cw.fill_null(False) if schema["cw_involved"] == pl.Boolean else cw == "true"
    sid = pl.col("study_id")
    counts = (
        sy.lazy()
        .select(
            sid.n_unique().alias("_all"),
            *[sid.filter(c).n_unique().alias(t) for t, c in conds.items()],
        )
        .collect()
        .row(0, named=True)
    )
    return {t: int(v) for t, v in counts.items()}


def coefficient_table(
    fits: Mapping[str, GroupedFit],
    student_years: pl.DataFrame | None,
    *,
    label: str | None = None,
    frame: pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Long table of the key terms (and average adjusted differences) of ``fits``.

    Columns: ``outcome``, ``term``, ``scale``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
    ``n`` (distinct people the term describes), and for log-odds rows ``odds_ratio`` with its
    95% interval ``or_low``, ``or_high``. ``frame``:
    the :func:`model_frame` rows of ``student_years``, when already built.
    """
    if frame is None:
        assert student_years is not None
        frame = model_frame(_narrow(student_years))
    counted = _people(frame)
    people = {t: counted[t] for t in KEY_TERMS}
    recs = []
    for outcome, fit in fits.items():
        for t in fit.key_terms:
            b, s = fit.coef(t), fit.se[t]
            recs.append((outcome, t, _SCALES[fit.family], b, s, people[t]))
        for t, (b, s) in fit.ame.items():
            scale = "probability_difference" if fit.family == "logit" else _SCALES[fit.family]
            recs.append((outcome, f"average_difference:{t}", scale, b, s, people[t]))
        for t, (b, s) in fit.average_log_or.items():
            recs.append((outcome, f"average_odds_ratio:{t}", "log_odds", b, s, people[t]))
    df = pl.DataFrame(
        recs,
        schema={
            "outcome": pl.Utf8,
            "term": pl.Utf8,
            "scale": pl.Utf8,
            "estimate": pl.Float64,
            "se": pl.Float64,
            "n": pl.Int64,
        },
        orient="row",
    ).with_columns(
        (pl.col("estimate") - Z95 * pl.col("se")).alias("ci_low"),
        (pl.col("estimate") + Z95 * pl.col("se")).alias("ci_high"),
    )
    df = df.with_columns(
        [
            pl.when(pl.col("scale") == "log_odds").then(pl.col(c).exp()).otherwise(None).alias(name)
            for c, name in ODDS_RATIO_COLUMNS.items()
        ]
    )
    if label is not None:
        df = df.with_columns(pl.lit(label).alias("links"))
    return df.select(
        "outcome",
        "term",
        *(["links"] if label else []),
        "scale",
        "n",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        *ODDS_RATIO_COLUMNS.values(),
    )


def adjusted_gaps(student_years: pl.DataFrame, eqao: pl.DataFrame) -> pl.DataFrame:
    """Adjusted gaps by care status (and the dose, group-care and Indigenous terms), all outcomes."""
    frames = model_frames(student_years, eqao)
    return coefficient_table(fit_outcome_models(None, None, frames=frames), None, frame=frames.sy)


YEARS_BANDS: tuple[tuple[str, float, float], ...] = (
    ("under_1", 0.0, 1.0),
    ("1_to_2", 1.0, 2.0),
    ("2_to_4", 2.0, 4.0),
    ("4_plus", 4.0, 1e9),
)


def _banded(frame: pl.DataFrame) -> pl.DataFrame:
    """``care_band`` (in care: the band of cumulative years in care) and ``care_placement`` (in
    care: ``in_care_<placement group>``); other rows: their care status. Each label is built once
    per combination of the columns it reads."""
    # the dose term is the years in care on the in-care rows, the only rows banded
    years = pl.col(DOSE_TERM)
    band = pl.lit(None, dtype=pl.Int8)
    for i, (_, lo, hi) in reversed(list(enumerate(YEARS_BANDS))):
        band = pl.when((years >= lo) & (years < hi)).then(pl.lit(i, dtype=pl.Int8)).otherwise(band)
    f = frame.with_columns(band.alias("_band"))
    in_care = pl.col("care_status") == "in_care"
    status = pl.col("care_status").cast(pl.Utf8)
    names = {i: name for i, (name, _, _) in enumerate(YEARS_BANDS)}
    band_label = (
        pl.when(in_care)
        .then(pl.col("_band").replace_strict(names, default=None, return_dtype=pl.Utf8))
        .otherwise(status)
    )
    placement_label = (
        pl.when(in_care)
        .then("in_care_" + pl.col("placement_group").cast(pl.Utf8))
        .otherwise(status)
    )
    return f.with_columns(
        label_per_row(f, ["care_status", "_band"], band_label, "care_band"),
        label_per_row(f, ["care_status", "placement_group"], placement_label, "care_placement"),
    ).drop("_band")


def dose_response(
    student_years: pl.DataFrame | None,
    eqao: pl.DataFrame | None,
    *,
    frames: ModelFrames | None = None,
) -> pl.DataFrame:
    """EQAO and chronic-absence gaps of in-care students by band of cumulative years in care and by
    placement group (vs no child-welfare involvement), log-odds with clustered 95% intervals.

    Columns as :func:`coefficient_table` with ``dimension`` (``years_in_care`` or
    ``placement_group``) and ``level``.
    """
    if frames is None:
        assert student_years is not None and eqao is not None
        frames = model_frames(student_years, eqao)
    sy = _banded(_collect(frames.sy))
    eq = _banded(_collect(frames.eq))
    recs = []
    specs = [
        ("eqao_at_standard", eq, "at_standard", "assessment_year"),
        ("chronic_absence", sy, "chronic_absent", "grade_year"),
    ]
    for outcome, frame, col, stratum in specs:
        for dim, var in (("years_in_care", "care_band"), ("placement_group", "care_placement")):
            levels = [
                lv
                for lv in frame[var].unique().drop_nulls().cast(pl.Utf8).to_list()
                if lv not in CARE_LEVELS and lv != "none"
            ]
            terms = [f"{var}[{lv}]" for lv in levels]
            if not terms:
                continue
            fit = fit_model(
                frame,
                outcome=col,
                family="logit",
                categorical={var: "none", "board_id": None, "gender": None, stratum: None},
                key_terms=terms,
            )
            people = dict(
                frame.group_by(pl.col(var).cast(pl.Utf8))
                .agg(pl.col("study_id").n_unique())
                .iter_rows()
            )
            for t in fit.key_terms:
                lev = t[len(var) + 1 : -1]
                recs.append(
                    (outcome, dim, lev, "log_odds", fit.coef(t), fit.se[t], int(people[lev]))
                )
    df = pl.DataFrame(
        recs,
        schema={
            "outcome": pl.Utf8,
            "dimension": pl.Utf8,
            "level": pl.Utf8,
            "scale": pl.Utf8,
            "estimate": pl.Float64,
            "se": pl.Float64,
            "n": pl.Int64,
        },
        orient="row",
    )
    df = df.with_columns(
        (pl.col("estimate") - Z95 * pl.col("se")).alias("ci_low"),
        (pl.col("estimate") + Z95 * pl.col("se")).alias("ci_high"),
    )
    return df.with_columns(
        [pl.col(c).exp().alias(name) for c, name in ODDS_RATIO_COLUMNS.items()]
    ).sort("outcome", "dimension", "level")


def equity_views(student_years: pl.DataFrame, eqao: pl.DataFrame) -> pl.DataFrame:
    """Adjusted EQAO differences by equity dimension among child-welfare-involved students.

    For each dimension (race, Indigenous identity, gender identity, born outside Canada, first
    language, ONSIS gender) a logit model among students with child-welfare involvement that year,
    adjusting for care status, assessment x year, board and gender (not for gender identity, which
    largely determines it): the log-odds difference of each level from the reference (the most
    frequent level; a missing value is its own level).
    """
    sy = _narrow(student_years, EQUITY_DIMENSIONS).filter(student_years["cw_involved"])
    if "indigenous" not in sy.columns:
        sy = sy.with_columns((pl.col("race") == "indigenous").fill_null(False).alias("indigenous"))
    eq = eqao_with_care(eqao, sy).with_columns(
        (pl.col("assessment_key").cast(pl.Utf8) + "|" + pl.col("school_year").cast(pl.Utf8)).alias(
            "assessment_year"
        )
    )
    recs = []
    for dim in EQUITY_DIMENSIONS:
        if dim not in eq.columns:
            continue
        frame = as_levels(eq, [dim])
        levels = frame[dim].unique().to_list()
        if len(levels) < 2:
            continue
        ref = EQUITY_REFERENCE.get(dim, "")
        if ref not in levels:
            ref = str(frame.group_by(dim).len().sort("len", descending=True)[dim][0])
        var = f"eq_{dim}"
        frame = frame.with_columns(pl.col(dim).alias(var))
        cat: dict[str, str | None] = {
            var: ref,
            "care_status": "none",
            "board_id": None,
            "assessment_year": None,
        }
        if dim not in ("gender", "gender_identity"):
            # gender identity determines the OnSIS gender for most students: adjusting for one
            # while comparing levels of the other leaves the comparison unidentified
            cat["gender"] = None
        terms = [f"{var}[{lv}]" for lv in levels if lv != ref]
        fit = fit_model(
            frame,
            outcome="at_standard",
            family="logit",
            categorical=cat,
            key_terms=terms,
            label=f"EQAO at standard by {dim}",
        )
        for t in fit.key_terms:
            lev = t[len(var) + 1 : -1]
            n = int(frame.select(pl.col("study_id").filter(pl.col(var) == lev).n_unique()).item())
            recs.append(("eqao_at_standard", dim, lev, ref, fit.coef(t), fit.se[t], n))
    df = pl.DataFrame(
        recs,
        schema={
            "outcome": pl.Utf8,
            "dimension": pl.Utf8,
            "level": pl.Utf8,
            "reference": pl.Utf8,
            "estimate": pl.Float64,
            "se": pl.Float64,
            "n": pl.Int64,
        },
        orient="row",
    )
    df = df.with_columns(
        (pl.col("estimate") - Z95 * pl.col("se")).alias("ci_low"),
        (pl.col("estimate") + Z95 * pl.col("se")).alias("ci_high"),
    )
    return df.with_columns(
        *[pl.col(c).exp().alias(name) for c, name in ODDS_RATIO_COLUMNS.items()],
        pl.lit("log_odds").alias("scale"),
    ).sort("dimension", "level")


def linkage_sensitivity(
    student_years: pl.DataFrame | None,
    eqao: pl.DataFrame | None,
    high_confidence: float,
    *,
    frames: ModelFrames | None = None,
    fits: Mapping[str, GroupedFit] | None = None,
) -> pl.DataFrame:
    """Adjusted gaps re-estimated using only links with ``link_probability >= high_confidence``.

    Students linked with a lower probability are left out (not recoded as "none"), so the
    comparison shows how much uncertain links dilute the child-welfare groups. Long table with a
    ``links`` column: ``all`` and ``high_confidence``. ``frames``/``fits``: the model rows and the
    all-links fits (:func:`fit_outcome_models`), when already built (then reused, not refitted).
    """
    if frames is None:
        assert student_years is not None and eqao is not None
        frames = model_frames(student_years, eqao)
    wanted = ("eqao_at_standard", "attendance", "credits")
    if fits is None or not all(o in fits for o in wanted):
        fits = fit_outcome_models(None, None, outcomes=wanted, frames=frames)
    all_fits = {o: fits[o] for o in wanted if o in fits}
    sy = _collect(frames.sy)
    lp = pl.col("link_probability")
    # a student linked with low confidence in any year is left out in every year
    low = sy.filter(lp < high_confidence).get_column("study_id").unique()
    keep = (lp.is_null() | (lp >= high_confidence)) & ~pl.col("study_id").is_in(low.implode())
    if sy.select(lp.is_nan().any()).item():
        # a NaN probability drops that row but not the student: outcomes spanning a student's
        # years (on track) then differ from the full frame's, so the kept rows are rebuilt
        kept = model_frame(student_year_outcomes(_narrow(sy.filter(keep))))
        eq_kept = _collect(frames.eq).join(
            kept.select("study_id").unique(), on="study_id", how="semi"
        )
        hc = ModelFrames(sy=kept, eq=eqao_model_rows(eq_kept, kept))
    else:
        # whole students are kept or left out, so the full frames' rows are the kept rows
        hc = ModelFrames(sy=sy.lazy().filter(keep), eq=frames.eq.lazy().filter(keep))
    a = coefficient_table(all_fits, None, label="all", frame=sy)
    b = coefficient_table(
        fit_outcome_models(None, None, outcomes=wanted, frames=hc),
        None,
        label="high_confidence",
        frame=hc.sy,
    )
    return pl.concat([a, b]).sort("outcome", "term", "links")


def to_pandas_summary(fit: GroupedFit) -> pd.DataFrame:
    """The key terms of ``fit`` as a small pandas frame (for notebooks)."""
    rows = [(t, fit.coef(t), fit.se[t], *fit.ci(t)) for t in fit.key_terms]
    return pd.DataFrame(rows, columns=["term", "estimate", "se", "ci_low", "ci_high"])
