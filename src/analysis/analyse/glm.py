"""Grouped GLMs: a model fitted on cells, with student-clustered standard errors from the rows.

A model is fitted on cells (one row per distinct covariate pattern: sums of the outcome, of its
square and of the trials or rows) so the provincial scale stays fast, and its key contrasts get
clustered (sandwich) standard errors computed from the rows in one pass, because the same student
appears in several rows (school years, repeated assessments). Families: binomial GLM (logit) on
0/1 outcomes, quasi-binomial GLM with identity link on successes out of trials, and Gaussian (WLS
on cell means with the exact individual-level residual variance). Fits run statsmodels' IRLS under
one BLAS thread and prompt garbage collection (:func:`_single_blas_thread`).

The study's models (which terms, which rows) are :mod:`analysis.analyse.models`.
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

from analysis.analyse.outcomes import Z95

Family = Literal["logit", "identity_binomial", "gaussian"]
MISSING = "__missing__"  # a null categorical value in the model cells: its own level
log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
FIRTH = False  # Firth logit fits (see _firth_logit): 92.0% vs 91.3% coverage at tiny, not default
MIN_EVENTS = 5  # fewest successes and failures a level of ``sparse_levels`` needs (logit models)


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
    # term -> (log of the average odds ratio, se): logit fits, the comparison of ``ame``
    average_log_or: dict[str, tuple[float, float]] = field(default_factory=dict)
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


def as_levels(frame: pl.DataFrame, categorical: Sequence[str]) -> pl.DataFrame:
    """``categorical`` columns as the model cells have them: text, a null as :data:`MISSING`."""
    return frame.with_columns(
        [pl.col(c).cast(pl.Utf8).fill_null(MISSING).alias(c) for c in categorical]
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
        # without affecting the others (fit_grouped can drop sparse levels beforehand)
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


@dataclass
class _Cells:
    """The rows of a model grouped into cells.

    ``rows``: the model's rows (lazy; null outcomes and empty trials left out), ``y``/``w`` their
    outcome and trials; ``fine``: the grouping keys (``keys``, plus the sparse-level column when
    only the sparse rule reads it), ``agg`` the fine cells; ``table`` the model cells (categorical
    keys as text, the raw key values in ``raw``, sorted, numbered ``_cell``).
    """

    rows: pl.LazyFrame
    y: pl.Expr
    w: pl.Expr
    keys: list[str]
    fine: list[str]
    raw: list[str]
    agg: pl.DataFrame
    table: pl.DataFrame


def _drop_sparse(agg: pl.DataFrame, column: str, prepared: bool, min_events: int) -> pl.DataFrame:
    """Leave out the fine cells of levels of ``column`` with fewer than ``min_events`` successes
    or failures (no finite log-odds: separation).

    ``prepared``: ``column`` is a model covariate, compared as text (a null is its own level);
    otherwise by value, and then rows with no value are left out too (a null is never "not in" a
    list).
    """
    cs = pl.col(column)
    status = cs.cast(pl.Utf8).fill_null(MISSING) if prepared else cs
    counts = agg.group_by(status.alias("_cs")).agg(
        pl.col("_y").sum().alias("_s"), pl.col("_rows").sum().alias("_n")
    )
    sparse = counts.filter(
        pl.min_horizontal(pl.col("_s"), pl.col("_n") - pl.col("_s")) < min_events
    )["_cs"]
    drop = status.is_in(sparse.to_list()) if sparse.len() else pl.lit(False)
    if not prepared:
        drop = drop | cs.is_null()
    return agg.filter(~drop)


def _grouped_cells(
    rows: pl.DataFrame | pl.LazyFrame,
    outcome: str,
    trials: str | None,
    family: Family,
    keys: list[str],
    cat_cols: list[str],
    sparse_levels: str | None,
    min_events: int,
) -> _Cells:
    """Group ``rows`` into the model's cells (sums of the outcome, its square, trials and rows)."""
    lf = rows.lazy()
    have = lf.collect_schema().names()
    y = pl.col(outcome).cast(pl.Float64)
    w = pl.lit(1.0) if trials is None else pl.col(trials).cast(pl.Float64)
    lf = lf.filter(pl.col(outcome).is_not_null())
    if trials is not None:
        lf = lf.filter(pl.col(trials) > 0)
    # The rows are grouped by their raw key values (categorical codes at scale) and only the cells
    # are cast to text (``as_levels``): the same partition, as nulls and text are one-to-one.
    rule = family == "logit" and sparse_levels is not None and sparse_levels in have
    fine = keys if not rule or sparse_levels in keys else [*keys, str(sparse_levels)]
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
    if rule:
        assert sparse_levels is not None
        agg = _drop_sparse(agg, sparse_levels, sparse_levels in cat_cols, min_events)
    # fine cells -> model cells (when the sparse-level column was only added for the rule above;
    # exact: the sums of 0/1 outcomes and of row counts are integers)
    cells = (
        agg if fine == keys else agg.group_by(keys).agg(pl.col("_y", "_yy", "_w", "_rows").sum())
    )
    raw = [f"_raw{i}" for i in range(len(keys))]
    table = (
        as_levels(
            cells.with_columns([pl.col(k).alias(r) for k, r in zip(keys, raw, strict=True)]),
            cat_cols,
        )
        .sort(keys)
        .with_row_index("_cell")
    )
    return _Cells(rows=lf, y=y, w=w, keys=keys, fine=fine, raw=raw, agg=agg, table=table)


def _identified(
    X: np.ndarray, names: list[str], present: list[str], rank_deficient: bool, label: str
) -> list[str]:
    """The key terms ``present`` in the design that the fit identifies.

    Nuisance terms may be aliased (a board with one level of a covariate); a key term that is
    aliased has no meaningful estimate and is left out of the fit's key terms (with a warning).
    """
    if not rank_deficient:
        return present
    lost = unidentified_terms(X, names, present)
    if lost:
        log.warning(
            "model of %s: %s not identified (collinear with other terms); left out",
            label,
            ", ".join(lost),
        )
        present = [t for t in present if t not in lost]
    return present


def _average_differences(
    table: pl.DataFrame,
    X: np.ndarray,
    params: np.ndarray,
    wsum: np.ndarray,
    names: list[str],
    ame_groups: Mapping[str, tuple[str, str]],
    ame_zero: Sequence[str],
    family: str = "logit",
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, float], dict[str, np.ndarray]]:
    """Average adjusted differences of a fit, their gradients, and (logit) the average odds
    ratios that go with them, on the log scale, with their gradients.

    For each ``term -> (column, level)``: among the cells with that level, the row-weighted mean
    of the fitted value minus the fitted value with every term of ``ame_zero`` set to zero. A logit
    fit's values are probabilities, and its average odds ratio is the odds of the mean fitted
    probability over the odds of the mean counterfactual one: the same comparison as the
    difference (every care-related term, the years in care included), so an odds ratio printed
    beside a difference never contradicts it. Linear fits (attendance rate, credits) have no odds
    ratio; their average difference adds the years-in-care term to the care status's own.
    """
    ame: dict[str, float] = {}
    grads: dict[str, np.ndarray] = {}
    log_or: dict[str, float] = {}
    or_grads: dict[str, np.ndarray] = {}
    zero_idx = [i for i, n in enumerate(names) if n in ame_zero]
    for term, (gvar, level) in ame_groups.items():
        sel = table[gvar].to_numpy() == level
        if not sel.any() or term not in names:
            continue
        X1 = X[sel]
        X0 = X1.copy()
        X0[:, zero_idx] = 0.0
        wt = wsum[sel] / wsum[sel].sum()
        if family != "logit":
            ame[term] = float(np.sum(wt * ((X1 - X0) @ params)))
            grads[term] = (wt[:, None] * (X1 - X0)).sum(0)
            continue
        p1 = 1 / (1 + np.exp(-X1 @ params))
        p0 = 1 / (1 + np.exp(-X0 @ params))
        d1 = (wt[:, None] * (p1 * (1 - p1))[:, None] * X1).sum(0)
        d0 = (wt[:, None] * (p0 * (1 - p0))[:, None] * X0).sum(0)
        m1, m0 = float(np.sum(wt * p1)), float(np.sum(wt * p0))
        ame[term] = m1 - m0
        grads[term] = d1 - d0
        log_or[term] = float(np.log(m1 / (1 - m1)) - np.log(m0 / (1 - m0)))
        or_grads[term] = d1 / (m1 * (1 - m1)) - d0 / (m0 * (1 - m0))
    return ame, grads, log_or, or_grads


def _row_cells(cells: _Cells, cluster: str) -> pl.DataFrame:
    """Each row's cell, cluster, outcome and trials (``_cell``, ``cluster``, ``_yi``, ``_wi``).

    The cell index is joined on the raw keys (fine cells left out by the sparse rule have no
    match, so their rows are left out here too).
    """
    keys, fine = cells.keys, cells.fine
    index = cells.table.select(
        *[pl.col(r).alias(k) for k, r in zip(keys, cells.raw, strict=True)], pl.col("_cell")
    )
    if fine != keys:
        index = index.join(cells.agg.select(fine), on=keys, how="inner", nulls_equal=True)
    return (
        cells.rows.select([*fine, pl.col(cluster), cells.y.alias("_yi"), cells.w.alias("_wi")])
        .join(index.lazy(), on=fine, how="inner", nulls_equal=True)
        .select("_cell", cluster, "_yi", "_wi")
        .collect(engine="streaming")
    )


def _clustered_variances(
    r: pl.DataFrame,
    cluster: str,
    X: np.ndarray,
    cf: _CellFit,
    resid_scale: np.ndarray,
    contrasts: dict[str, np.ndarray],
) -> tuple[dict[str, float], int, int]:
    """Cluster-robust (sandwich) variance of each contrast from the rows ``r`` (:func:`_row_cells`),
    with the rows and the clusters counted."""
    n_rows = r.height
    sid, n_codes = _cluster_codes(r[cluster])
    in_cluster = np.bincount(sid, minlength=n_codes)
    n_clusters = int(np.count_nonzero(in_cluster))
    var: dict[str, float] = {}
    if not contrasts:
        return var, n_rows, n_clusters
    A = np.column_stack(list(contrasts.values()))
    H = X @ (cf.bread @ A)  # cells x k: influence of a unit score residual in each cell
    c = r["_cell"].to_numpy()
    # per-row score residual s_i; a student's score contribution to contrast j is the sum of
    # s_i * H[cell(i), j] over their rows
    s_row = r["_wi"].to_numpy() * cf.mu[c]
    np.subtract(r["_yi"].to_numpy(), s_row, out=s_row)
    s_row *= resid_scale[c]
    del r
    corr = n_clusters / max(n_clusters - 1, 1)
    for j, name in enumerate(contrasts):
        h = H[:, j][c]
        h *= s_row
        u = np.bincount(sid, weights=h, minlength=n_codes)
        del h
        var[name] = float(corr * np.sum(u * u))
    return var, n_rows, n_clusters


def _score_scale(family: Family, mu: np.ndarray) -> np.ndarray:
    """Per-cell factor of the row score residuals, so that the score of the cell fit is
    ``sum_i x_c(i) * s_i``."""
    if family == "identity_binomial":
        return 1.0 / np.clip(mu * (1 - mu), 1e-9, None)
    return np.ones_like(mu)


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
    key_terms: Sequence[str],
    ame_groups: Mapping[str, tuple[str, str]] | None = None,
    ame_zero: Sequence[str] = (),
    sparse_levels: str | None = None,
    min_events: int = MIN_EVENTS,
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
        Terms whose clustered standard errors are computed (others: model-based).
    ame_groups
        Term name -> (column, level): an average adjusted difference (response scale) among the
        rows with that level, comparing their fitted values with the same rows with every term of
        ``ame_zero`` set to zero; for a logit model also the average odds ratio of the same
        comparison (:func:`_average_differences`).
    sparse_levels
        Logit models: a column whose levels with fewer than ``min_events`` successes or failures
        are left out of the model (their rows too) rather than given an infinite estimate.
    cluster
        Column the standard errors are clustered by (the student).
    label
        What the model is, for messages (default: the outcome).
    """
    indicators = dict(indicators or {})
    cat_cols = list(dict.fromkeys([*categorical, *(v for v, _ in indicators.values())]))
    keys = [*cat_cols, *numeric]
    cells = _grouped_cells(rows, outcome, trials, family, keys, cat_cols, sparse_levels, min_events)
    table = cells.table
    X, names = _design(table, categorical, numeric, indicators)
    wsum = table["_w"].to_numpy()
    cf = _fit_cells(
        X,
        table["_y"].to_numpy(),
        wsum,
        table["_yy"].to_numpy(),
        family,
        FIRTH if firth is None else firth,
    )
    present = [t for t in key_terms if t in names]
    present = _identified(X, names, present, cf.rank_deficient, label or outcome)
    contrasts: dict[str, np.ndarray] = {}
    for t in present:
        a = np.zeros(len(names))
        a[names.index(t)] = 1.0
        contrasts[t] = a
    ame: dict[str, float] = {}
    log_or: dict[str, float] = {}
    if ame_groups:
        ame, grads, log_or, or_grads = _average_differences(
            table, X, cf.params, wsum, names, ame_groups, ame_zero, family
        )
        contrasts.update({f"ame:{t}": g for t, g in grads.items()})
        contrasts.update({f"aor:{t}": g for t, g in or_grads.items()})
    var, n_rows, n_clusters = _clustered_variances(
        _row_cells(cells, cluster), cluster, X, cf, _score_scale(family, cf.mu), contrasts
    )
    # model-based variances of the same contrasts (statsmodels covariance; binary outcomes:
    # dispersion 1, attendance: Pearson, credits: individual-level residual variance)
    mvar = {name: float(a @ cf.cov_model @ a) for name, a in contrasts.items()}
    return GroupedFit(
        outcome=outcome,
        family=family,
        names=names,
        params=cf.params,
        bread=cf.bread,
        key_terms=present,
        robust_se={t: float(np.sqrt(var[t])) for t in present},
        n_rows=n_rows,
        n_cells=table.height,
        n_clusters=n_clusters,
        scale=cf.scale,
        ame={t: (ame[t], float(np.sqrt(max(var[f"ame:{t}"], mvar[f"ame:{t}"])))) for t in ame},
        average_log_or={
            t: (log_or[t], float(np.sqrt(max(var[f"aor:{t}"], mvar[f"aor:{t}"])))) for t in log_or
        },
        model_se={t: float(np.sqrt(mvar[t])) for t in present},
    )
