"""Care episodes calibrated to the published counts: how many children are in care each year,
when they were admitted and how long they stay.

Candidates (children with a birth date) each get an admission age (``synthetic.admission_ages``)
and a length of stay whose distribution is the published share leaving care within 12, 24 and 36
months (``calibration.targets.indicator4_exit_*``; stays beyond three years have mean
``synthetic.long_stay_years``), ending at 18 at the latest. Admissions are thinned to a yearly
rate that follows the number of children in care (``calibration.targets.children_in_care``, and
``synthetic.children_in_care_before`` for the years before the panel), and only children whose
stay overlaps the extract (from the first fiscal year of the panel) are kept. The number of
children in care is then chosen so that the average number in care in the panel's first fiscal
year is the target at this scale. A few rounds adjust the yearly rates and the shares leaving care
until the simulated counts and exits match the targets (the age-18 limit and the lag between
admissions and the number in care move them).

All of it uses uniform draws made once, so the rounds change which candidates are kept, never the
random stream.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from analysis.config import Config
from analysis.domain.dates import EXTRACT_END, days_since_epoch

EXTRACT_END_DAYS = days_since_epoch(EXTRACT_END)
YEAR_DAYS = 365.25
HORIZONS = (12, 24, 36)  # months: the points of the length-of-stay distribution
_ROUNDS = 5


class TooFewCandidates(ValueError):
    """Fewer candidates were admitted than the children in care the targets need."""


@dataclass
class CareDraws:
    """Uniform draws of each candidate (made once)."""

    age: np.ndarray  # age at admission (years, fractional)
    stay: np.ndarray  # uniform for the length of stay
    keep: np.ndarray  # uniform for thinning by the admission rate
    order: np.ndarray  # a random order of the candidates: the children in care are the first


def fiscal_year_start(y: int) -> int:
    """1 April of year ``y`` as days since 1970-01-01."""
    return days_since_epoch(dt.date(y, 4, 1))


def panel_fiscal_years(cfg: Config) -> list[int]:
    """The starting calendar year of each fiscal year of the panel (one per school year)."""
    return [int(y[:4]) for y in cfg.school_years]


def draw(cfg: Config, rng: np.random.Generator, n: int) -> CareDraws:
    """Admission ages (by ``synthetic.admission_ages`` bands) and two uniforms per candidate."""
    bands = cfg.synthetic.admission_ages
    p = np.array([b[2] for b in bands], dtype=float)
    band = rng.choice(len(bands), size=n, p=p / p.sum())
    lo = np.array([b[0] for b in bands])[band]
    hi = np.array([b[1] for b in bands])[band]
    age = lo + rng.random(n) * (hi - lo + 1)
    return CareDraws(age=age, stay=rng.random(n), keep=rng.random(n), order=rng.permutation(n))


def stay_days(
    u: np.ndarray, within: tuple[float, float, float], long_mean_years: float
) -> np.ndarray:
    """Length of stay (days, at least 1) at uniform ``u``: shares ``within`` leave within 12, 24
    and 36 months (more of the first year's leavers early in it); beyond three years, exponential
    with mean ``long_mean_years``."""
    p12, p24, p36 = within
    h = [round(m * YEAR_DAYS / 12) for m in HORIZONS]
    first = 1 + (h[0] - 1) * (u / p12) ** 2
    second = h[0] + (h[1] - h[0]) * (u - p12) / max(p24 - p12, 1e-9)
    third = h[1] + (h[2] - h[1]) * (u - p24) / max(p36 - p24, 1e-9)
    tail_mean = max(long_mean_years * YEAR_DAYS - h[2], 1.0)
    tail = h[2] - tail_mean * np.log1p(-np.clip((u - p36) / max(1 - p36, 1e-9), 0, 1 - 1e-12))
    d = np.where(u < p12, first, np.where(u < p24, second, np.where(u < p36, third, tail)))
    return np.maximum(1, d).astype(np.int64)


def _stock_levels(cfg: Config, years: np.ndarray) -> np.ndarray:
    """Children in care in fiscal years ``years`` (provincial): the panel's targets and the
    earlier published counts, geometric between them, constant beyond the first and last."""
    known: dict[int, float] = {
        int(k[:4]): v for k, v in cfg.synthetic.children_in_care_before.items()
    }
    target = cfg.calibration.targets["children_in_care"].value
    assert isinstance(target, dict)
    known.update({int(k[:4]): v for k, v in target.items()})
    ky = np.array(sorted(known))
    kv = np.log(np.array([known[k] for k in ky]))
    return np.exp(np.interp(years, ky, kv))


def _target_exits(cfg: Config) -> np.ndarray:
    t = cfg.calibration.targets
    out = []
    for m in HORIZONS:
        v = t[f"indicator4_exit_{m}m"].value
        out.append((next(iter(v.values())) if isinstance(v, dict) else v) / 100)
    return np.array(out)


@dataclass
class CareEpisodes:
    """The chosen candidates and their stay: ``chosen`` indexes the candidates (in order),
    ``start`` and ``end`` (exclusive, capped at 18; after the extract end = still in care) are
    days since 1970-01-01."""

    chosen: np.ndarray
    start: np.ndarray
    end: np.ndarray


def care_episodes(cfg: Config, draws: CareDraws, birth_days: np.ndarray) -> CareEpisodes:
    """Choose the children in care among the candidates and give each an admission and an exit.

    The children in care are the first accepted candidates in the random order ``draws.order``
    (so students and children with no student record are taken as the admissions find them).
    """
    fys = panel_fiscal_years(cfg)
    target_stock = _stock_levels(cfg, np.array(fys)) * cfg.cw_share_of_province
    target_exit = _target_exits(cfg)
    window_lo = fiscal_year_start(fys[0])
    start = birth_days + np.round(draws.age * YEAR_DAYS).astype(np.int64)
    age18 = birth_days + int(18 * YEAR_DAYS)
    start_fy = _fiscal_year_of(start)
    years = np.arange(1990, fys[-1] + 2)
    history = _stock_levels(cfg, years)  # the earlier years' rates follow the published counts
    fy_idx = np.clip(start_fy - years[0], 0, len(years) - 1)
    within = target_exit.copy()
    for _ in range(_ROUNDS):
        end = np.minimum(
            start + stay_days(draws.stay, tuple(within), cfg.synthetic.long_stay_years), age18
        )
        possible = (
            (start <= EXTRACT_END_DAYS) & (end > window_lo) & (start >= birth_days) & (end > start)
        )
        days = _days_by_fiscal_year(start, end, fys)  # candidates x panel fiscal years
        rate = _admission_rates(years, fys, history, fy_idx, possible, days, target_stock)
        # thin each fiscal year's admissions to its rate (the candidates' ages at admission
        # already follow the age distribution)
        accepted = possible & (draws.keep < (rate / rate.max())[fy_idx])
        per_child = days[accepted, 0].mean() / YEAR_DAYS if accepted.any() else 0.0
        n_care = int(round(target_stock[0] / per_child)) if per_child > 0 else 0
        chosen = _first_accepted(accepted, draws.order, n_care)
        stock = days[chosen].sum(0) / YEAR_DAYS
        for _ in range(2):  # the pools' first candidates are not an exact sample: rescale
            if stock[0] <= 0:
                break
            n_care = int(round(n_care * target_stock[0] / stock[0]))
            chosen = _first_accepted(accepted, draws.order, n_care)
            stock = days[chosen].sum(0) / YEAR_DAYS
        exits = _exit_shares(start[chosen], end[chosen], fys)
        within = np.clip(within + (target_exit - exits), 0.05, 0.99)
        within = np.maximum.accumulate(within)
    return CareEpisodes(chosen=chosen, start=start[chosen], end=end[chosen])


def _admission_rates(
    years: np.ndarray,
    fys: list[int],
    history: np.ndarray,
    fy_idx: np.ndarray,
    possible: np.ndarray,
    days: np.ndarray,
    target: np.ndarray,
) -> np.ndarray:
    """Relative admission rate of each year of ``years`` whose expected numbers in care in the
    panel's fiscal years are proportional to ``target``.

    The number in care in fiscal year k is linear in the rates: the days in k of the candidates
    admitted in year j, times j's rate. Years before the panel keep the shape of ``history``
    (times one factor, which the panel's first year shares); each later panel year has its own
    rate; the year after the panel repeats the last. Solved exactly (least squares), negative
    rates clipped.
    """
    contrib = np.zeros((len(years), len(fys)))  # days in each panel year, by admission year
    for k in range(len(fys)):
        contrib[:, k] = np.bincount(
            fy_idx[possible], weights=days[possible, k], minlength=len(years)
        )
    first = int(np.searchsorted(years, fys[0]))
    # unknowns: the factor of the years up to the panel's first, then each later panel year
    cols = [history[: first + 1] @ contrib[: first + 1]]
    for j in range(first + 1, first + len(fys)):
        cols.append(contrib[j] + (contrib[j + 1 :].sum(0) if j == first + len(fys) - 1 else 0))
    a = np.column_stack(cols)
    x, *_ = np.linalg.lstsq(a, target, rcond=None)
    x = np.maximum(x, 1e-6 * max(x.max(), 1e-12))
    rate = history * x[0]
    rate[first + 1 : first + len(fys)] = x[1:]
    rate[first + len(fys) :] = x[-1]
    return rate


def _first_accepted(accepted: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` accepted candidates in ``order`` (sorted by candidate index)."""
    ok = order[accepted[order]]
    if len(ok) < n:
        raise TooFewCandidates(
            f"care episodes: {n} children in care needed but {len(ok)} candidates accepted; "
            "raise the candidates drawn per child"
        )
    return np.sort(ok[:n])


def _fiscal_year_of(day: np.ndarray) -> np.ndarray:
    """Calendar year in which the fiscal year of each day (days since 1970-01-01) starts."""
    d = day.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (d.astype("datetime64[M]").astype(np.int64) % 12) + 1
    return y - (month < 4)


def _days_by_fiscal_year(start: np.ndarray, end: np.ndarray, fys: list[int]) -> np.ndarray:
    """Days of ``[start, end)`` in each fiscal year of ``fys`` (days after the extract's end
    are not observed)."""
    end = np.minimum(end, EXTRACT_END_DAYS + 1)
    out = np.zeros((len(start), len(fys)))
    for k, fy in enumerate(fys):
        lo, hi = fiscal_year_start(fy), fiscal_year_start(fy + 1)
        out[:, k] = np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0, None)
    return out


def _exit_shares(start: np.ndarray, end: np.ndarray, fys: list[int]) -> np.ndarray:
    """Share of the admissions of the panel's fiscal years that left care within 12, 24, 36
    months, each over the admission years observable for that long (as indicator 4 counts)."""
    fy = _fiscal_year_of(start)
    out = []
    for m in HORIZONS:
        h = round(m * YEAR_DAYS / 12)
        ok = np.isin(fy, [y for y in fys if fiscal_year_start(y + 1) - 1 + h <= EXTRACT_END_DAYS])
        if m == HORIZONS[-1]:
            ok = fy == fys[0]  # the published three-year figure is of the first panel year
        if not ok.any():
            out.append(np.nan)
            continue
        left = (end[ok] <= EXTRACT_END_DAYS) & (end[ok] - start[ok] <= h)
        out.append(left.mean())
    return np.nan_to_num(np.array(out), nan=0.0)
