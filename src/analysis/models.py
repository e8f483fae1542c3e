"""Adjusted gaps by care status: regression models fitted on aggregated counts.

Every model is fitted on cells (one row per distinct covariate pattern) so the provincial scale
stays fast, and its key contrasts get student-clustered (sandwich) standard errors computed from
the rows in one pass, because the same student appears in several school years (attendance
frailty, repeated EQAO assessments).

Models (covariates documented in the codebook):

- EQAO at standard: binomial GLM (logit) with ``assessment x year`` (Grade 9 stream before the
  2021-22 break) + board + gender + care status + ``years_in_care x in_care`` + group care +
  ``indigenous x child-welfare involved``: the generator's model, so correctly specified.
- chronic absence, on track: binomial GLM (logit), ``grade x year`` + board + gender + care terms.
- attendance: quasi-binomial GLM, identity link, on grouped days attended out of days enrolled
  (the gap is in attendance-rate points, the scale of the generator's additive model).
- credits (grades 9-12): Gaussian (WLS on cell means with the exact individual-level residual
  variance), credits per year.

Output tables are long: ``outcome``, ``term``, ``scale``, ``estimate``, ``se``, ``ci_low``,
``ci_high``, and ``n`` (people the term describes) for the disclosure module.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Literal, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import polars as pl
import statsmodels.api as sm
from statsmodels.genmod.generalized_linear_model import GLMResults
from statsmodels.tools.sm_exceptions import DomainWarning, PerfectSeparationWarning

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - see _one_blas_thread
    threadpool_limits = None

from analysis.outcomes import Z95, eqao_with_care, student_year_outcomes

Family = Literal["logit", "identity_binomial", "gaussian"]
CARE_LEVELS: tuple[str, ...] = ("in_care", "kinship_service", "ccsyp", "vysa")
CARE_TERMS: tuple[str, ...] = tuple(f"care_status[{c}]" for c in CARE_LEVELS)
DOSE_TERM = "years_in_care:in_care"
GROUP_TERM = "placement_group[group]"
INDIGENOUS_TERM = "indigenous:cw_active"
KEY_TERMS: tuple[str, ...] = (*CARE_TERMS, DOSE_TERM, GROUP_TERM, INDIGENOUS_TERM)
EQUITY_DIMENSIONS: tuple[str, ...] = (
    "race",
    "indigenous",
    "gender_identity",
    "born_outside_canada",
    "first_language",
    "gender",
)
_MISSING = "__missing__"
P = ParamSpec("P")
R = TypeVar("R")
FIRTH = False  # Firth logit fits (see _firth_logit): 92.0% vs 91.3% coverage at tiny, not default
MIN_EVENTS = 5  # fewest successes and failures a care status needs to enter a logit model


@dataclass
class GroupedFit:
    """A model fitted on cells, with two standard errors of each key term.

    ``robust_se``: student-clustered (sandwich), right when a student's outcomes are correlated
    across years (attendance frailty) but biased downward when a term rests on few students (the
    in-care group of a small board or scale: 86.7% coverage of nominal 95% over 60 seeds at
    ``tiny``). ``model_se``: the GLM's own (binomial: dispersion 1; attendance and credits: the
    Pearson or residual variance), right when the rows are independent given the covariates.
    Intervals use :attr:`se`, the larger of the two for each term (93.3% at ``tiny``).
    """

    outcome: str
    family: Family
    names: list[str]
    params: np.ndarray
    bread: np.ndarray  # (X'WX)^-1 of the cell fit
    key_terms: list[str]
    robust_se: dict[str, float]
    n_rows: int
    n_cells: int
    n_clusters: int
    scale: float = 1.0
    ame: dict[str, tuple[float, float]] = field(default_factory=dict)  # term -> (estimate, se)
    model_se: dict[str, float] = field(default_factory=dict)

    @property
    def se(self) -> dict[str, float]:
        """Reported standard error of each key term: max(clustered, model-based)."""
        return {t: max(s, self.model_se.get(t, 0.0)) for t, s in self.robust_se.items()}

    def coef(self, term: str) -> float:
        return float(self.params[self.names.index(term)])

    def ci(self, term: str, z: float = Z95) -> tuple[float, float]:
        b, s = self.coef(term), self.se[term]
        return b - z * s, b + z * s


def _prepare(frame: pl.DataFrame, categorical: Sequence[str]) -> pl.DataFrame:
    return frame.with_columns(
        [pl.col(c).cast(pl.Utf8).fill_null(_MISSING).alias(c) for c in categorical]
    )


def _design(
    cells: pl.DataFrame,
    categorical: Mapping[str, str | None],
    numeric: Sequence[str],
    indicators: Mapping[str, tuple[str, str]],
) -> tuple[np.ndarray, list[str]]:
    """Treatment-coded design matrix: intercept, dummies (reference given or most frequent)."""
    cols: list[np.ndarray] = [np.ones(cells.height)]
    names = ["Intercept"]
    for var, ref in categorical.items():
        values = cells[var].to_numpy()
        levels = sorted(set(values.tolist()))
        if len(levels) < 2:
            continue
        if ref is None or ref not in levels:
            counts = cells.group_by(var).agg(pl.col("_w").sum()).sort("_w", descending=True)
            ref = str(counts[var][0])
        for lev in levels:
            if lev == ref:
                continue
            cols.append((values == lev).astype(float))
            names.append(f"{var}[{lev}]")
    for name, (var, level) in indicators.items():
        col = (cells[var].to_numpy() == level).astype(float)
        if col.any():
            cols.append(col)
            names.append(name)
    for var in numeric:
        col = cells[var].cast(pl.Float64).fill_null(0.0).to_numpy()
        if np.any(col != 0):
            cols.append(col)
            names.append(var)
    return np.column_stack(cols), names


def _one_blas_thread() -> AbstractContextManager[object]:
    """Limit BLAS/OpenMP to one thread while fitting (``threadpoolctl``).

    The fits are small (a few thousand cells by ~100-160 columns): with OpenBLAS's default thread
    pool on a busy 2-core machine, oversubscription makes each IRLS step 10-50x slower than on one
    thread (tiny ``fit_outcome_models``: 12.7 s vs 0.4 s). Without ``threadpoolctl`` installed the
    fits still run, just with the library's default threads.
    """
    if threadpool_limits is None:
        return nullcontext()
    return threadpool_limits(limits=1)


def _single_blas_thread(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` under :func:`_one_blas_thread`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _one_blas_thread():
            return func(*args, **kwargs)

    return wrapper


@dataclass
class _CellFit:
    params: np.ndarray
    bread: np.ndarray  # unscaled (X'WX)^-1 at the fitted mean (statsmodels normalized_cov_params)
    mu: np.ndarray  # fitted mean per cell (proportion for binomial families, mean for gaussian)
    scale: float
    cov_model: np.ndarray  # model-based covariance (statsmodels cov_params at the model's scale)


def _glm_binomial(
    X: np.ndarray,
    y: np.ndarray,
    n: np.ndarray,
    *,
    logit: bool,
    start: np.ndarray | None = None,
) -> GLMResults:
    """statsmodels binomial GLM on grouped cells: ``y`` successes of ``n`` (logit or identity)."""
    link = sm.families.links.Logit() if logit else sm.families.links.Identity()
    with warnings.catch_warnings():
        # identity link: DomainWarning (the fitted rates stay well inside (0, 1) here); a stratum
        # with no failures (or successes): PerfectSeparationWarning, its coefficient drifts off
        # without affecting the others (fit_grouped drops sparse care statuses beforehand)
        warnings.simplefilter("ignore", DomainWarning)
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        model = sm.GLM(np.column_stack([y, n - y]), X, family=sm.families.Binomial(link=link))
        return model.fit(
            start_params=start,
            method="IRLS",
            maxiter=100,
            tol=1e-8,
            scale=None if logit else "X2",
        )


def _firth_logit(X: np.ndarray, y: np.ndarray, n: np.ndarray, res: GLMResults) -> GLMResults:
    """Firth's bias-reduced logit from statsmodels fits on pseudo-data.

    Firth's modified score ``X'(y - n mu + h (1/2 - mu))`` (``h``: hat values) is the ordinary
    score of the pseudo-cells ``y + h/2`` successes of ``n + h``; refitting the statsmodels GLM on
    them with ``h`` from the previous fit converges to the penalised-likelihood estimate
    (``l + log|X'WX| / 2``), which removes the O(1/n) bias of the maximum likelihood log-odds and
    keeps every coefficient finite. The returned fit's mean, bread and covariance are those of the
    pseudo-cells' GLM at the Firth estimate.
    """
    params = np.zeros(X.shape[1])
    params[0] = res.params[0] if np.isfinite(res.params[0]) else 0.0
    for _ in range(200):
        h = (
            sm.GLM(np.column_stack([y, n - y]), X, family=sm.families.Binomial())
            .fit(start_params=params, maxiter=0)
            .get_hat_matrix_diag(observed=False)
        )
        new = _glm_binomial(X, y + h / 2, n + h, logit=True, start=params)
        done = np.max(np.abs(new.params - params)) < 1e-8
        params = new.params
        if done:
            break
    return new


def _fit_cells(
    X: np.ndarray,
    ysum: np.ndarray,
    wsum: np.ndarray,
    yysum: np.ndarray,
    family: Family,
    firth: bool,
) -> _CellFit:
    """Fit the cell-level GLM with statsmodels.

    Binomial families: ``(successes, failures)`` endog, IRLS; logit at dispersion 1, identity link
    (attendance days) at the Pearson dispersion. Gaussian: cell means with ``var_weights`` = rows
    per cell (the WLS of the individual rows), at the exact individual-level residual variance
    (within-cell sums of squares included, which the cell means alone do not carry).
    """
    p = X.shape[1]
    if family == "gaussian":
        ybar = ysum / wsum
        res = sm.GLM(ybar, X, family=sm.families.Gaussian(), var_weights=wsum).fit(method="IRLS")
        mu = np.asarray(res.mu)
        resid_between = float(np.sum(wsum * (ybar - mu) ** 2))
        within = float(np.sum(yysum - wsum * ybar**2))
        scale = (within + resid_between) / max(wsum.sum() - p, 1)
        cov = np.asarray(res.cov_params(scale=scale))
    else:
        logit = family == "logit"
        res = _glm_binomial(X, ysum, wsum, logit=logit)
        if logit and firth:
            res = _firth_logit(X, ysum, wsum, res)
        mu = np.asarray(res.mu)
        # Pearson dispersion (meaningful for the attendance days; for 0/1 outcomes the model-based
        # variance uses scale 1, see GroupedFit.model_se)
        v = np.clip(mu * (1 - mu), 1e-12, None)
        scale = float(np.sum((ysum - wsum * mu) ** 2 / (wsum * v))) / max(X.shape[0] - p, 1)
        cov = np.asarray(res.cov_params(scale=1.0 if logit else scale))
    return _CellFit(
        params=np.asarray(res.params),
        bread=np.asarray(res.normalized_cov_params),
        mu=mu,
        scale=scale,
        cov_model=cov,
    )


@_single_blas_thread
def fit_grouped(
    rows: pl.DataFrame,
    *,
    outcome: str,
    family: Family,
    trials: str | None = None,
    categorical: Mapping[str, str | None],
    numeric: Sequence[str] = (),
    indicators: Mapping[str, tuple[str, str]] | None = None,
    key_terms: Sequence[str] = KEY_TERMS,
    ame_groups: Mapping[str, tuple[str, str]] | None = None,
    cluster: str = "study_id",
    firth: bool | None = None,
) -> GroupedFit:
    """Fit a GLM on the cells of ``rows`` and cluster-robust variances for ``key_terms``.

    Parameters
    ----------
    rows
        One row per observation (student-year or assessment).
    outcome
        Column: 0/1 (``logit``), successes out of ``trials`` (``identity_binomial``), or a value
        (``gaussian``).
    categorical
        Column -> reference level (None: the most frequent).
    numeric
        Numeric covariates (already including any interaction, e.g. years x in care).
    indicators
        Term name -> (column, level): a single dummy for one level of a column.
    key_terms
        Terms whose student-clustered standard errors are computed (others: model-based).
    ame_groups
        Term name -> (column, level): an average adjusted difference (response scale) among the
        rows with that level, comparing their fitted values with the same rows with every
        care-related term set to zero (logit models only; others are already on that scale).
    """
    indicators = dict(indicators or {})
    cat_cols = list(dict.fromkeys([*categorical, *(v for v, _ in indicators.values())]))
    used = list(
        dict.fromkeys(
            [*cat_cols, *numeric, outcome, cluster, *([trials] if trials is not None else [])]
        )
    )
    if family == "logit" and "care_status" in rows.columns and "care_status" not in used:
        used.append("care_status")  # the sparse-care-status rule below reads it
    data = _prepare(rows.select(used).filter(pl.col(outcome).is_not_null()), cat_cols)
    if trials is not None:
        data = data.filter(pl.col(trials) > 0)
    if family == "logit" and "care_status" in data.columns:
        # a care status with almost no successes or failures has no finite log-odds (separation):
        # its rows are left out of the model rather than giving an infinite estimate
        sparse_levels = (
            data.group_by("care_status")
            .agg(pl.col(outcome).cast(pl.Float64).sum().alias("_s"), pl.len().alias("_n"))
            .filter(pl.min_horizontal(pl.col("_s"), pl.col("_n") - pl.col("_s")) < MIN_EVENTS)
        )
        data = data.filter(~pl.col("care_status").is_in(sparse_levels["care_status"].to_list()))
    keys = [*cat_cols, *numeric]
    y = pl.col(outcome).cast(pl.Float64)
    if trials is None:
        data = data.with_columns(pl.lit(1.0).alias("_one"))
        trials_col = "_one"
    else:
        trials_col = trials
    w = pl.col(trials_col).cast(pl.Float64)
    cells = (
        data.group_by(keys)
        .agg(
            y.sum().alias("_y"),
            (y * y).sum().alias("_yy"),
            w.sum().alias("_w"),
            pl.len().alias("_rows"),
        )
        .sort(keys)
        .with_row_index("_cell")
    )
    X_dense, names = _design(cells, categorical, numeric, indicators)
    X = X_dense
    ysum = cells["_y"].to_numpy()
    wsum = cells["_w"].to_numpy()
    cf = _fit_cells(
        X, ysum, wsum, cells["_yy"].to_numpy(), family, FIRTH if firth is None else firth
    )
    params, bread, mu, scale = cf.params, cf.bread, cf.mu, cf.scale
    # per-row score residuals s_i, so that the score of the cell fit is sum_i x_c(i) * s_i
    if family == "logit":
        resid_scale = np.ones_like(mu)
    elif family == "identity_binomial":
        resid_scale = 1.0 / np.clip(mu * (1 - mu), 1e-9, None)
    else:
        resid_scale = np.ones_like(mu)
    present = [t for t in key_terms if t in names]
    contrasts: dict[str, np.ndarray] = {}
    for t in present:
        a = np.zeros(len(names))
        a[names.index(t)] = 1.0
        contrasts[t] = a
    ame: dict[str, float] = {}
    if family == "logit" and ame_groups:
        care_idx = [i for i, n in enumerate(names) if n in KEY_TERMS]
        for term, (gvar, level) in ame_groups.items():
            sel = cells[gvar].to_numpy() == level
            if not sel.any() or term not in names:
                continue
            X1 = X_dense[sel]
            X0 = X1.copy()
            X0[:, care_idx] = 0.0
            p1 = 1 / (1 + np.exp(-X1 @ params))
            p0 = 1 / (1 + np.exp(-X0 @ params))
            wt = wsum[sel] / wsum[sel].sum()
            ame[term] = float(np.sum(wt * (p1 - p0)))
            grad = (
                wt[:, None] * ((p1 * (1 - p1))[:, None] * X1 - (p0 * (1 - p0))[:, None] * X0)
            ).sum(0)
            contrasts[f"ame:{term}"] = grad
    if contrasts:
        A = np.column_stack(list(contrasts.values()))
        H = X @ (bread @ A)  # cells x k: influence of a unit score residual in each cell
        hdf = pl.DataFrame(
            {
                "_cell": cells["_cell"],
                "_mu": mu,
                "_rs": resid_scale,
                **{f"_h{j}": H[:, j] for j in range(H.shape[1])},
            }
        ).with_columns(pl.col("_cell").cast(pl.UInt32))
        # polars: join the cell index back to rows, one pass, sum per student, square, sum
        r = data.select([*keys, cluster, y.alias("_yi"), w.alias("_wi")]).join(
            cells.select([*keys, "_cell"]), on=keys, how="left", nulls_equal=True
        )
        r = r.join(hdf, on="_cell", how="left")
        s = (pl.col("_yi") - pl.col("_wi") * pl.col("_mu")) * pl.col("_rs")
        per = r.group_by(cluster).agg(
            [(s * pl.col(f"_h{j}")).sum().alias(f"_u{j}") for j in range(H.shape[1])]
        )
        g = per.height
        corr = g / max(g - 1, 1)
        U = per.select([f"_u{j}" for j in range(H.shape[1])]).to_numpy()
        var = {name: float(corr * np.sum(U[:, j] ** 2)) for j, name in enumerate(contrasts)}
        n_clusters = g
    else:
        var = {}
        n_clusters = int(data[cluster].n_unique())
    # model-based variances of the same contrasts (statsmodels covariance; binary outcomes:
    # dispersion 1, attendance: Pearson, credits: individual-level residual variance)
    mvar = {name: float(a @ cf.cov_model @ a) for name, a in contrasts.items()}
    robust = {t: float(np.sqrt(var[t])) for t in present}
    model_se = {t: float(np.sqrt(mvar[t])) for t in present}
    ame_out = {t: (ame[t], float(np.sqrt(max(var[f"ame:{t}"], mvar[f"ame:{t}"])))) for t in ame}
    return GroupedFit(
        outcome=outcome,
        family=family,
        names=names,
        params=params,
        bread=bread,
        key_terms=present,
        robust_se=robust,
        n_rows=data.height,
        n_cells=cells.height,
        n_clusters=n_clusters,
        scale=scale,
        ame=ame_out,
        model_se=model_se,
    )


# --------------------------------------------------------------------------------------------
# frames: the model covariates from analytic-shaped inputs


def model_frame(student_years: pl.DataFrame) -> pl.DataFrame:
    """Add the care-term covariates used by every model to ``student_years``-shaped rows.

    ``years_in_care`` = cumulative days in care / 365.25; ``years_in_care:in_care`` the dose term;
    ``indigenous`` from ``race == "indigenous"`` unless an ``indigenous`` column exists (the truth
    frames of the tests carry it); ``cw_active`` = any child-welfare service that year.
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
    return sy.with_columns(
        (
            (pl.col("care_status") == "in_care").cast(pl.Float64)
            * pl.col("years_in_care").fill_null(0)
        ).alias(DOSE_TERM),
        (pl.col("indigenous").fill_null(False) & (pl.col("care_status") != "none"))
        .cast(pl.Utf8)
        .alias("_ind_cw"),
        pl.col("placement_group").cast(pl.Utf8).fill_null("none").alias("placement_group"),
        pl.col("grade").cast(pl.Utf8).alias("grade"),
    ).with_columns((pl.col("grade") + "|" + pl.col("school_year")).alias("grade_year"))


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
    "link_probability",
)


def _narrow(student_years: pl.DataFrame, extra: Sequence[str] = ()) -> pl.DataFrame:
    """The columns the models read (a projection: joins downstream copy only these)."""
    want = dict.fromkeys([*MODEL_COLUMNS, *extra])
    return student_years.select([c for c in student_years.columns if c in want])


def _care_terms() -> dict[str, tuple[str, str]]:
    return {GROUP_TERM: ("placement_group", "group"), INDIGENOUS_TERM: ("_ind_cw", "true")}


def _ame_groups() -> dict[str, tuple[str, str]]:
    return {t: ("care_status", c) for t, c in zip(CARE_TERMS, CARE_LEVELS, strict=True)}


def fit_outcome_models(
    student_years: pl.DataFrame, eqao: pl.DataFrame, *, outcomes: Sequence[str] | None = None
) -> dict[str, GroupedFit]:
    """Fit the adjusted model of every outcome; keys: ``eqao_at_standard``, ``attendance``,
    ``credits``, ``chronic_absence``, ``on_track``."""
    student_years = _narrow(student_years)
    sy = model_frame(student_year_outcomes(student_years))
    wanted = set(
        outcomes or ("eqao_at_standard", "attendance", "credits", "chronic_absence", "on_track")
    )
    base_cat: dict[str, str | None] = {"care_status": "none", "board_id": None, "gender": None}
    fits: dict[str, GroupedFit] = {}
    if "eqao_at_standard" in wanted:
        eq = model_frame(eqao_with_care(eqao, student_years)).with_columns(
            (pl.col("assessment_key") + "|" + pl.col("school_year")).alias("assessment_year"),
            (pl.col("gender").cast(pl.Utf8).fill_null(_MISSING) + "|" + pl.col("assessment")).alias(
                "gender_assessment"
            ),
        )
        # gender differences differ by subject (reading/writing vs math): one gender contrast per
        # assessment (reference: the most frequent gender), nested in the assessment x year strata
        genders = (
            eq.group_by("gender")
            .len()
            .sort("len", descending=True)["gender"]
            .cast(pl.Utf8)
            .fill_null(_MISSING)
            .to_list()
        )
        gender_terms = {
            f"gender[{g}]:{a}": ("gender_assessment", f"{g}|{a}")
            for g in genders[1:]
            for a in sorted(eq["assessment"].unique().to_list())
        }
        fits["eqao_at_standard"] = fit_grouped(
            eq,
            outcome="at_standard",
            family="logit",
            categorical={"care_status": "none", "board_id": None, "assessment_year": None},
            numeric=[DOSE_TERM],
            indicators={**_care_terms(), **gender_terms},
            ame_groups=_ame_groups(),
        )
    if "attendance" in wanted:
        att = sy.with_columns(
            (pl.col("days_enrolled") - pl.col("days_absent")).alias("days_attended")
        )
        fits["attendance"] = fit_grouped(
            att,
            outcome="days_attended",
            trials="days_enrolled",
            family="identity_binomial",
            categorical={**base_cat, "grade_year": None},
            numeric=[DOSE_TERM],
            indicators=_care_terms(),
        )
    if "credits" in wanted:
        cr = sy.filter(pl.col("grade").is_in(["9", "10", "11", "12"]))
        fits["credits"] = fit_grouped(
            cr,
            outcome="credits_earned",
            family="gaussian",
            categorical={**base_cat, "grade_year": None},
            numeric=[DOSE_TERM],
            indicators=_care_terms(),
        )
    for name, col in (("chronic_absence", "chronic_absent"), ("on_track", "on_track")):
        if name in wanted and sy[col].drop_nulls().len() > 0:
            fits[name] = fit_grouped(
                sy,
                outcome=col,
                family="logit",
                categorical={**base_cat, "grade_year": None},
                numeric=[DOSE_TERM],
                indicators=_care_terms(),
                ame_groups=_ame_groups(),
            )
    return fits


_SCALES = {
    "logit": "log_odds",
    "identity_binomial": "attendance_rate_difference",
    "gaussian": "credits_difference",
}


def _people(sy: pl.DataFrame, term: str) -> int:
    if term.startswith("care_status["):
        lev = term[len("care_status[") : -1]
        cond = pl.col("care_status") == lev
    elif term == DOSE_TERM:
        cond = pl.col("care_status") == "in_care"
    elif term == GROUP_TERM:
        cond = pl.col("placement_group") == "group"
    elif term == INDIGENOUS_TERM:
        cond = pl.col("_ind_cw") == "true"
    else:
        return int(sy["study_id"].n_unique())
    return int(sy.select(pl.col("study_id").filter(cond).n_unique()).item())


def coefficient_table(
    fits: Mapping[str, GroupedFit], student_years: pl.DataFrame, *, label: str | None = None
) -> pl.DataFrame:
    """Long table of the key terms (and average adjusted differences) of ``fits``.

    Columns: ``outcome``, ``term``, ``scale``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
    ``n`` (distinct people the term describes), and ``odds_ratio`` for log-odds rows.
    """
    sy = model_frame(_narrow(student_years))
    people = {t: _people(sy, t) for t in KEY_TERMS}
    recs = []
    for outcome, fit in fits.items():
        for t in fit.key_terms:
            b, s = fit.coef(t), fit.se[t]
            recs.append((outcome, t, _SCALES[fit.family], b, s, people[t]))
        for t, (b, s) in fit.ame.items():
            recs.append(
                (outcome, f"average_difference:{t}", "probability_difference", b, s, people[t])
            )
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
        pl.when(pl.col("scale") == "log_odds")
        .then(pl.col("estimate").exp())
        .otherwise(None)
        .alias("odds_ratio")
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
        "odds_ratio",
    )


def adjusted_gaps(student_years: pl.DataFrame, eqao: pl.DataFrame) -> pl.DataFrame:
    """Adjusted gaps by care status (and the dose, group-care and Indigenous terms), all outcomes."""
    return coefficient_table(fit_outcome_models(student_years, eqao), student_years)


YEARS_BANDS: tuple[tuple[str, float, float], ...] = (
    ("under_1", 0.0, 1.0),
    ("1_to_2", 1.0, 2.0),
    ("2_to_4", 2.0, 4.0),
    ("4_plus", 4.0, 1e9),
)


def dose_response(student_years: pl.DataFrame, eqao: pl.DataFrame) -> pl.DataFrame:
    """EQAO and chronic-absence gaps of in-care students by band of cumulative years in care and by
    placement group (vs no child-welfare involvement), log-odds with clustered 95% intervals.

    Columns as :func:`coefficient_table` with ``dimension`` (``years_in_care`` or
    ``placement_group``) and ``level``.
    """

    def banded(frame: pl.DataFrame) -> pl.DataFrame:
        f = model_frame(frame)
        band = pl.lit(None, dtype=pl.Utf8)
        for name, lo, hi in reversed(YEARS_BANDS):
            band = (
                pl.when((pl.col("years_in_care") >= lo) & (pl.col("years_in_care") < hi))
                .then(pl.lit(name))
                .otherwise(band)
            )
        return f.with_columns(
            pl.when(pl.col("care_status") == "in_care")
            .then(band)
            .otherwise(pl.col("care_status"))
            .alias("care_band"),
            pl.when(pl.col("care_status") == "in_care")
            .then("in_care_" + pl.col("placement_group"))
            .otherwise(pl.col("care_status"))
            .alias("care_placement"),
        )

    student_years = _narrow(student_years)
    sy = banded(student_year_outcomes(student_years))
    eq = banded(eqao_with_care(eqao, student_years)).with_columns(
        (pl.col("assessment_key") + "|" + pl.col("school_year")).alias("assessment_year")
    )
    recs = []
    specs = [
        ("eqao_at_standard", eq, "at_standard", "assessment_year"),
        ("chronic_absence", sy, "chronic_absent", "grade_year"),
    ]
    for outcome, frame, col, stratum in specs:
        for dim, var in (("years_in_care", "care_band"), ("placement_group", "care_placement")):
            levels = [
                lv
                for lv in frame[var].unique().drop_nulls().to_list()
                if lv not in CARE_LEVELS and lv != "none"
            ]
            terms = [f"{var}[{lv}]" for lv in levels]
            if not terms:
                continue
            fit = fit_grouped(
                frame,
                outcome=col,
                family="logit",
                categorical={var: "none", "board_id": None, "gender": None, stratum: None},
                key_terms=terms,
            )
            for t in fit.key_terms:
                lev = t[len(var) + 1 : -1]
                n = int(frame.select(pl.col("study_id").filter(pl.col(var) == lev).n_unique()).item())
                recs.append((outcome, dim, lev, "log_odds", fit.coef(t), fit.se[t], n))
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
    return df.with_columns(
        (pl.col("estimate") - Z95 * pl.col("se")).alias("ci_low"),
        (pl.col("estimate") + Z95 * pl.col("se")).alias("ci_high"),
        pl.col("estimate").exp().alias("odds_ratio"),
    ).sort("outcome", "dimension", "level")


def equity_views(student_years: pl.DataFrame, eqao: pl.DataFrame) -> pl.DataFrame:
    """Adjusted EQAO differences by equity dimension among child-welfare-involved students.

    For each dimension (race, Indigenous identity, gender identity, born outside Canada, first
    language, ONSIS gender) a logit model among students with child-welfare involvement that year,
    adjusting for care status, assessment x year, board and gender: the log-odds difference of each
    level from the reference (the most frequent level; a missing value is its own level).
    """
    sy = _narrow(student_years, EQUITY_DIMENSIONS).filter(student_years["cw_involved"])
    if "indigenous" not in sy.columns:
        sy = sy.with_columns((pl.col("race") == "indigenous").fill_null(False).alias("indigenous"))
    eq = eqao_with_care(eqao, sy).with_columns(
        (pl.col("assessment_key") + "|" + pl.col("school_year")).alias("assessment_year")
    )
    recs = []
    for dim in EQUITY_DIMENSIONS:
        if dim not in eq.columns:
            continue
        frame = _prepare(eq, [dim])
        levels = frame[dim].unique().to_list()
        if len(levels) < 2:
            continue
        ref = str(frame.group_by(dim).len().sort("len", descending=True)[dim][0])
        var = f"eq_{dim}"
        frame = frame.with_columns(pl.col(dim).alias(var))
        cat: dict[str, str | None] = {
            var: ref,
            "care_status": "none",
            "board_id": None,
            "assessment_year": None,
        }
        if dim != "gender":
            cat["gender"] = None
        terms = [f"{var}[{lv}]" for lv in levels if lv != ref]
        fit = fit_grouped(
            frame, outcome="at_standard", family="logit", categorical=cat, key_terms=terms
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
    return df.with_columns(
        (pl.col("estimate") - Z95 * pl.col("se")).alias("ci_low"),
        (pl.col("estimate") + Z95 * pl.col("se")).alias("ci_high"),
        pl.col("estimate").exp().alias("odds_ratio"),
        pl.lit("log_odds").alias("scale"),
    ).sort("dimension", "level")


def linkage_sensitivity(
    student_years: pl.DataFrame, eqao: pl.DataFrame, high_confidence: float
) -> pl.DataFrame:
    """Adjusted gaps re-estimated using only links with ``link_probability >= high_confidence``.

    Students linked with a lower probability are left out (not recoded as "none"), so the
    comparison shows how much uncertain links dilute the child-welfare groups. Long table with a
    ``links`` column: ``all`` and ``high_confidence``.
    """
    student_years = _narrow(student_years)
    keep = student_years.filter(
        pl.col("link_probability").is_null() | (pl.col("link_probability") >= high_confidence)
    )
    # a student linked with low confidence in any year is left out in every year
    low = (
        student_years.filter(pl.col("link_probability") < high_confidence)
        .select("study_id")
        .unique()
    )
    keep = keep.join(low, on="study_id", how="anti")
    eq_keep = eqao.join(keep.select("study_id").unique(), on="study_id", how="semi")
    wanted = ("eqao_at_standard", "attendance", "credits")
    a = coefficient_table(
        fit_outcome_models(student_years, eqao, outcomes=wanted), student_years, label="all"
    )
    b = coefficient_table(
        fit_outcome_models(keep, eq_keep, outcomes=wanted), keep, label="high_confidence"
    )
    return pl.concat([a, b]).sort("outcome", "term", "links")


def to_pandas_summary(fit: GroupedFit) -> pd.DataFrame:
    """The key terms of ``fit`` as a small pandas frame (for notebooks)."""
    rows = [(t, fit.coef(t), fit.se[t], *fit.ci(t)) for t in fit.key_terms]
    return pd.DataFrame(rows, columns=["term", "estimate", "se", "ci_low", "ci_high"])
