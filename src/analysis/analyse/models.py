"""Adjusted gaps by care status: regression models fitted on aggregated counts.

Every model is fitted on cells (one row per distinct covariate pattern) so the provincial scale
stays fast, and its key contrasts get student-clustered (sandwich) standard errors computed from
the rows in one pass, because the same student appears in several school years (attendance
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

import functools
import gc
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Literal, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import polars as pl
import statsmodels.api as sm
from statsmodels.genmod.generalized_linear_model import GLMResults
from statsmodels.tools.sm_exceptions import (
    DomainWarning,
    PerfectSeparationWarning,
    SingularMatrixWarning,
)

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - see _one_blas_thread
    threadpool_limits = None

from analysis.analyse.outcomes import Z95, eqao_with_care, label_per_row, student_year_outcomes

Family = Literal["logit", "identity_binomial", "gaussian"]
CARE_LEVELS: tuple[str, ...] = ("in_care", "kinship_service", "ccsyp", "vysa")
CARE_TERMS: tuple[str, ...] = tuple(f"care_status[{c}]" for c in CARE_LEVELS)
DOSE_TERM = "years_in_care:in_care"
GROUP_TERM = "placement_group[group]"
INDIGENOUS_TERM = "indigenous:cw_active"
CW_TERM = "cw_involved"
KEY_TERMS: tuple[str, ...] = (*CARE_TERMS, DOSE_TERM, GROUP_TERM, INDIGENOUS_TERM, CW_TERM)
EQUITY_DIMENSIONS: tuple[str, ...] = (
    "race",
    "indigenous",
    "gender_identity",
    "born_outside_canada",
    "first_language",
    "gender",
)
_MISSING = "__missing__"
log = logging.getLogger(__name__)
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


@contextmanager
def _prompt_gc(threshold: int = 10) -> Iterator[None]:
    """Collect reference cycles promptly while fitting.

    Each iteration of statsmodels' IRLS leaves its weighted least-squares model (holding the
    weighted design, cells x terms: 70 MB for the province attendance model) in a reference cycle
    (a ``Bunch`` results object referring to itself), freed only by the cycle collector. By default
    it runs too rarely, and once such objects reach the oldest generation CPython defers full
    collections while they are few compared with the process's other long-lived objects: the 35
    iterations of that fit held 2.4 GB at once. Here everything alive beforehand is frozen
    (``gc.freeze``: ignored by the collector), so full collections only walk the fit's own objects
    and can run every few allocations; the attendance fit then peaks at 1.35 GB instead of 3.0 GB
    on its own. Numbers are unchanged.
    """
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.collect()  # the oldest generation is now (nearly) empty: full collections are not deferred
    gc.set_threshold(threshold, 2, 2)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _single_blas_thread(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` under :func:`_one_blas_thread` (and :func:`_prompt_gc`)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _one_blas_thread(), _prompt_gc():
            return func(*args, **kwargs)

    return wrapper


@dataclass
class _CellFit:
    params: np.ndarray
    bread: np.ndarray  # unscaled (X'WX)^-1 at the fitted mean (statsmodels normalized_cov_params)
    mu: np.ndarray  # fitted mean per cell (proportion for binomial families, mean for gaussian)
    scale: float
    cov_model: np.ndarray  # model-based covariance (statsmodels cov_params at the model's scale)
    rank_deficient: bool = False  # statsmodels found the design rank-deficient (pinv solution)


def unidentified_terms(X: np.ndarray, names: Sequence[str], terms: Sequence[str]) -> list[str]:
    """The ``terms`` whose design column lies in the span of the other columns.

    With a rank-deficient design statsmodels returns one of many solutions (its pseudo-inverse);
    a term is identified, and its estimate meaningful, only if removing its column lowers the
    rank. Ranks are taken on ``X'X`` (p x p), so this costs little even on many cells.
    """
    gram = X.T @ X
    rank = np.linalg.matrix_rank(gram, hermitian=True)
    out = []
    for t in terms:
        i = list(names).index(t)
        keep = np.r_[0:i, i + 1 : len(names)]
        if np.linalg.matrix_rank(gram[np.ix_(keep, keep)], hermitian=True) == rank:
            out.append(t)
    return out


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
    # A rank-deficient design is reported to the caller (which checks its key terms) rather than
    # printed; exp overflow in the fitted means of a separated cell is harmless (the mean is 0 or 1
    # to machine precision).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SingularMatrixWarning)
        warnings.filterwarnings("ignore", "overflow encountered in exp", RuntimeWarning)
        p = X.shape[1]
        if family == "gaussian":
            ybar = ysum / wsum
            res = sm.GLM(ybar, X, family=sm.families.Gaussian(), var_weights=wsum).fit(
                method="IRLS"
            )
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
            # Pearson dispersion (meaningful for the attendance days; for 0/1 outcomes the
            # model-based variance uses scale 1, see GroupedFit.model_se)
            v = np.clip(mu * (1 - mu), 1e-12, None)
            scale = float(np.sum((ysum - wsum * mu) ** 2 / (wsum * v))) / max(X.shape[0] - p, 1)
            cov = np.asarray(res.cov_params(scale=1.0 if logit else scale))
    for w in caught:
        if not issubclass(w.category, SingularMatrixWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return _CellFit(
        params=np.asarray(res.params),
        bread=np.asarray(res.normalized_cov_params),
        mu=mu,
        scale=scale,
        cov_model=cov,
        rank_deficient=any(issubclass(w.category, SingularMatrixWarning) for w in caught),
    )


def _cluster_codes(values: pl.Series) -> tuple[np.ndarray, int]:
    """Dense non-negative integer codes of a cluster column (student ids), and how many codes."""
    if values.dtype.is_integer() and values.len() and values.min() >= 0:  # type: ignore[operator]
        top = int(values.max())  # type: ignore[arg-type]
        if top < 4 * values.len() + 1024:
            return values.to_numpy().astype(np.int64, copy=False), top + 1
    _, inverse = np.unique(values.to_numpy(), return_inverse=True)
    return inverse.ravel(), int(inverse.max()) + 1 if inverse.size else 0


@_single_blas_thread
def fit_grouped(
    rows: pl.DataFrame | pl.LazyFrame,
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
    label: str | None = None,
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
    label
        What the model is, for messages (default: the outcome).
    """
    indicators = dict(indicators or {})
    cat_cols = list(dict.fromkeys([*categorical, *(v for v, _ in indicators.values())]))
    keys = [*cat_cols, *numeric]
    lf = rows.lazy()
    have = lf.collect_schema().names()
    y = pl.col(outcome).cast(pl.Float64)
    w = pl.lit(1.0) if trials is None else pl.col(trials).cast(pl.Float64)
    lf = lf.filter(pl.col(outcome).is_not_null())
    if trials is not None:
        lf = lf.filter(pl.col(trials) > 0)
    # The rows are grouped by their raw key values (categorical codes at scale) and only the cells
    # are cast to text (``_prepare``): the same partition, as nulls and text are one-to-one.
    sparse_rule = family == "logit" and "care_status" in have
    fine = keys if not sparse_rule or "care_status" in keys else [*keys, "care_status"]
    agg = (
        lf.group_by(fine)
        .agg(
            y.sum().alias("_y"),
            (y * y).sum().alias("_yy"),
            (w.sum() if trials is not None else pl.len().cast(pl.Float64)).alias("_w"),
            pl.len().alias("_rows"),
        )
        .collect(engine="streaming")
    )
    if sparse_rule:
        # a care status with almost no successes or failures has no finite log-odds (separation):
        # its rows are left out of the model rather than giving an infinite estimate. As a model
        # covariate the status is compared as text (a null is its own level); otherwise by value,
        # and then rows with no status are left out too (a null is never "not in" a list).
        prepared = "care_status" in cat_cols
        cs = pl.col("care_status")
        status = cs.cast(pl.Utf8).fill_null(_MISSING) if prepared else cs
        counts = agg.group_by(status.alias("_cs")).agg(
            pl.col("_y").sum().alias("_s"), pl.col("_rows").sum().alias("_n")
        )
        sparse = counts.filter(
            pl.min_horizontal(pl.col("_s"), pl.col("_n") - pl.col("_s")) < MIN_EVENTS
        )["_cs"]
        drop = status.is_in(sparse.to_list()) if sparse.len() else pl.lit(False)
        if not prepared:
            drop = drop | cs.is_null()
        agg = agg.filter(~drop)
    # fine cells -> model cells (when the care status was only added for the rule above; exact:
    # the sums of 0/1 outcomes and of row counts are integers)
    cells = (
        agg if fine == keys else agg.group_by(keys).agg(pl.col("_y", "_yy", "_w", "_rows").sum())
    )
    raw = [f"_raw{i}" for i in range(len(keys))]
    cells = (
        _prepare(
            cells.with_columns([pl.col(k).alias(r) for k, r in zip(keys, raw, strict=True)]),
            cat_cols,
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
    present = [t for t in key_terms if t in names]
    if cf.rank_deficient:
        # Nuisance terms may be aliased (a board with one level of a covariate); a key term that
        # is aliased has no meaningful estimate and is left out of the fit's key terms.
        lost = unidentified_terms(X_dense, names, present)
        if lost:
            log.warning(
                "model of %s: %s not identified (collinear with other terms); left out",
                label or outcome,
                ", ".join(lost),
            )
            present = [t for t in present if t not in lost]
    # per-row score residuals s_i, so that the score of the cell fit is sum_i x_c(i) * s_i
    if family == "logit":
        resid_scale = np.ones_like(mu)
    elif family == "identity_binomial":
        resid_scale = 1.0 / np.clip(mu * (1 - mu), 1e-9, None)
    else:
        resid_scale = np.ones_like(mu)
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
    # rows -> their cell: the cell index joined on the raw keys (fine cells left out above have no
    # match, so their rows are left out here too)
    index = cells.select(
        *[pl.col(r).alias(k) for k, r in zip(keys, raw, strict=True)], pl.col("_cell")
    )
    if fine != keys:
        index = index.join(agg.select(fine), on=keys, how="inner", nulls_equal=True)
    r = (
        lf.select([*fine, pl.col(cluster), y.alias("_yi"), w.alias("_wi")])
        .join(index.lazy(), on=fine, how="inner", nulls_equal=True)
        .select("_cell", cluster, "_yi", "_wi")
        .collect(engine="streaming")
    )
    n_rows = r.height
    sid, n_codes = _cluster_codes(r[cluster])
    in_cluster = np.bincount(sid, minlength=n_codes)
    n_clusters = int(np.count_nonzero(in_cluster))
    if contrasts:
        A = np.column_stack(list(contrasts.values()))
        H = X @ (bread @ A)  # cells x k: influence of a unit score residual in each cell
        c = r["_cell"].to_numpy()
        # per-row score residual s_i; a student's score contribution to contrast j is the sum of
        # s_i * H[cell(i), j] over their rows
        s_row = r["_wi"].to_numpy() * mu[c]
        np.subtract(r["_yi"].to_numpy(), s_row, out=s_row)
        s_row *= resid_scale[c]
        del r
        corr = n_clusters / max(n_clusters - 1, 1)
        var = {}
        for j, name in enumerate(contrasts):
            h = H[:, j][c]
            h *= s_row
            u = np.bincount(sid, weights=h, minlength=n_codes)
            del h
            var[name] = float(corr * np.sum(u * u))
    else:
        var = {}
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
        n_rows=n_rows,
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


def _care_terms() -> dict[str, tuple[str, str]]:
    return {
        GROUP_TERM: ("placement_group", "group"),
        INDIGENOUS_TERM: ("_ind_cw", "true"),
        CW_TERM: ("cw_involved", "true"),
    }


def _ame_groups() -> dict[str, tuple[str, str]]:
    return {t: ("care_status", c) for t, c in zip(CARE_TERMS, CARE_LEVELS, strict=True)}


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
        pl.col("gender").cast(pl.Utf8).fill_null(_MISSING)
        + "|"
        + pl.col("assessment").cast(pl.Utf8)
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
            .fill_null(_MISSING)
            .to_list()
        )
        assessments = eq.select(pl.col("assessment").unique()).collect()["assessment"]
        gender_terms = {
            f"gender[{g}]:{a}": ("gender_assessment", f"{g}|{a}")
            for g in genders[1:]
            for a in sorted(assessments.cast(pl.Utf8).to_list())
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
        if name in wanted and sy.select(pl.col(col).is_not_null().any()).collect().item():
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
    ``n`` (distinct people the term describes), and ``odds_ratio`` for log-odds rows. ``frame``:
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
            fit = fit_grouped(
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
    return df.with_columns(
        (pl.col("estimate") - Z95 * pl.col("se")).alias("ci_low"),
        (pl.col("estimate") + Z95 * pl.col("se")).alias("ci_high"),
        pl.col("estimate").exp().alias("odds_ratio"),
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
        if dim not in ("gender", "gender_identity"):
            # gender identity determines the OnSIS gender for most students: adjusting for one
            # while comparing levels of the other leaves the comparison unidentified
            cat["gender"] = None
        terms = [f"{var}[{lv}]" for lv in levels if lv != ref]
        fit = fit_grouped(
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
    return df.with_columns(
        (pl.col("estimate") - Z95 * pl.col("se")).alias("ci_low"),
        (pl.col("estimate") + Z95 * pl.col("se")).alias("ci_high"),
        pl.col("estimate").exp().alias("odds_ratio"),
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
