"""The outcomes of each student-year, drawn from the latent care status with the planted effects.

Attendance and credits: days absent and secondary credits earned, lowered by the configured gaps
of each care status. EQAO: achievement in each assessment a student sits, with a per-assessment
and year intercept calibrated to the configured provincial results (``Config.calibration``). The
exact models are :func:`analysis.synthetic.effects.planted_effects`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain.measures import CHRONIC_ABSENCE_SHARE
from analysis.domain.vocab import EQAO_PARTICIPATION, GRADES
from analysis.synthetic.care_status import CARE_CODE, CARE_STATUSES, GROUP_CODE, years_in_care
from analysis.synthetic.panel import LAST_GRADE, SECONDARY_FROM

# (assessment, grade index into GRADES, domain): literacy or mathematics
ASSESSMENTS = (
    ("g3_reading", 4, "lit"),
    ("g3_writing", 4, "lit"),
    ("g3_math", 4, "math"),
    ("g6_reading", 7, "lit"),
    ("g6_writing", 7, "lit"),
    ("g6_math", 7, "math"),
    ("g9_math", 10, "math"),
    ("osslt", 11, "lit"),
)
PARTICIPATION_P = [0.955, 0.025, 0.012, 0.008]  # of EQAO_PARTICIPATION


def _by_status(gap: dict[str, float]) -> np.ndarray:
    """A value per care status, indexed by care code."""
    return np.array([gap[k] for k in CARE_STATUSES], dtype=float)


def attendance_and_credits(
    cfg: Config, rng: np.random.Generator, panel: dict, truth: dict, people: dict
) -> tuple[np.ndarray, np.ndarray]:
    """``(days_absent, credits)`` per student-year (credits NaN below secondary).

    Days absent: ``Binomial(days_enrolled, clip(base[grade band] * scale[year] * frailty_i -
    attendance_gap, 0, 0.9))``, the yearly scale solved so that the share of chronically absent
    students hits ``calibration.targets.chronic_absence``. Credits (grades 9-12): 8 courses, each
    failed with probability ``clip(fail_rate_i - credits_gap / 8, 0, 1)``, plus a ninth credit for
    ``synthetic.extra_credit_share`` of students, so the gap in mean credits is exactly
    ``credits_gap``.
    """
    e = cfg.effects
    n = len(panel["sid"])
    cs = truth["care"]
    att_gap = {
        "in_care": e.attendance_gap_in_care,
        "kinship_service": e.attendance_gap_kinship,
        "ccsyp": e.attendance_gap_ccsyp,
        "vysa": e.attendance_gap_vysa,
        "none": 0.0,
    }
    cr_gap = {
        "in_care": e.credits_gap_in_care,
        "kinship_service": e.credits_gap_kinship,
        "ccsyp": e.credits_gap_ccsyp,
        "vysa": e.credits_gap_vysa,
        "none": 0.0,
    }
    gap_a = _by_status(att_gap)[cs] + e.attendance_gap_cw_involved * truth["cw"]
    gap_c = _by_status(cr_gap)[cs] + e.credits_gap_cw_involved * truth["cw"]
    gidx = panel["gidx"]
    band = np.where(gidx <= 1, 0.07, np.where(gidx <= 9, 0.05, 0.07))
    frailty = rng.gamma(2.5, 1 / 2.5, size=len(people["birth_year"]))[panel["sid"]]
    base = band * frailty
    scale = _absence_scale(cfg, panel, base, gap_a)
    p_abs = np.clip(base * scale[panel["yi"]] - gap_a, 0.0, 0.9)
    days_absent = rng.binomial(panel["days_enrolled"], p_abs)
    sec = gidx >= SECONDARY_FROM
    p_fail = np.clip(panel["fail_rate"] - gap_c / COURSES, 0.0, 1.0)
    extra = rng.random(n) < cfg.synthetic.extra_credit_share
    credits = COURSES + extra - rng.binomial(COURSES, p_fail)
    credits = np.where(sec, credits.astype(float), np.nan)
    return days_absent, credits


COURSES = 8  # courses a secondary student takes in a year
_CALIBRATION_ROWS = 40_000  # student-years per school year used to solve the absence scale


def _absence_scale(cfg: Config, panel: dict, base: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Per school year, the multiplier of ``base`` that makes the expected share of chronically
    absent students (``measures.CHRONIC_ABSENCE_SHARE`` of the days enrolled or more) equal to
    ``calibration.targets.chronic_absence`` (solved by bisection on an even sample of the year)."""
    from scipy.special import bdtrc

    target = cfg.calibration.targets.get("chronic_absence")
    if target is None or not isinstance(target.value, dict):
        raise ValueError(
            "calibration.targets.chronic_absence: a target for each school year is needed"
        )
    out = np.ones(len(cfg.school_years))
    for yi, sy in enumerate(cfg.school_years):
        if sy not in target.value:
            raise ValueError(f"calibration.targets.chronic_absence: no target for {sy}")
        rows = np.flatnonzero(panel["yi"] == yi)
        if len(rows) == 0:
            continue
        rows = rows[:: max(1, len(rows) // _CALIBRATION_ROWS)]
        days = panel["days_enrolled"][rows].astype(np.int64)
        need = np.ceil(CHRONIC_ABSENCE_SHARE * days - 1e-9)  # days absent that make it chronic
        b, g = base[rows], gap[rows]
        goal = target.value[sy] / 100

        def share(
            m: float,
            b: np.ndarray = b,
            g: np.ndarray = g,
            days: np.ndarray = days,
            need: np.ndarray = need,
        ) -> float:
            # P(days absent >= need) = P(X > need - 1)
            return float(bdtrc(need - 1, days, np.clip(m * b - g, 0.0, 0.9)).mean())

        lo, hi = 0.0, 20.0
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if share(mid) < goal else (lo, mid)
        out[yi] = (lo + hi) / 2
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrate(offset: np.ndarray, group: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-group intercept so that the mean of sigmoid(intercept + offset) hits ``target``."""
    base = np.log(target / (1 - target))
    cnt = np.bincount(group, minlength=len(target)).astype(float)
    cnt[cnt == 0] = 1
    for _ in range(25):
        p = _sigmoid(base[group] + offset)
        f = np.bincount(group, weights=p, minlength=len(target)) / cnt - target
        d = np.bincount(group, weights=p * (1 - p), minlength=len(target)) / cnt
        base -= f / np.maximum(d, 1e-9)
    return base


def _care_logodds(cfg: Config, truth: dict) -> np.ndarray:
    """The care terms of the EQAO model per student-year (log-odds of being at standard)."""
    e = cfg.effects
    logit_gap = {
        "in_care": e.eqao_logodds_in_care,
        "kinship_service": e.eqao_logodds_kinship,
        "ccsyp": e.eqao_logodds_ccsyp,
        "vysa": e.eqao_logodds_vysa,
        "none": 0.0,
    }
    code = truth["care"]
    cs_none = code == CARE_CODE["none"]
    yrs_care = years_in_care(truth)
    group = truth["group"] == GROUP_CODE["group"]
    indig = truth["indigenous"]
    return (
        _by_status(logit_gap)[code]
        + e.eqao_logodds_cw_involved * truth["cw"]
        + e.dose_per_year_in_care * yrs_care * (code == CARE_CODE["in_care"])
        + e.group_care_extra_logodds * group
        + e.indigenous_extra_logodds * indig * (~cs_none)
    )


def eqao(
    cfg: Config,
    rng: np.random.Generator,
    panel: dict,
    truth: dict,
    board_eff: np.ndarray,
    people: dict,
) -> pl.DataFrame:
    """EQAO results of every student in an assessed grade in a year with EQAO.

    One row per student-year and assessment: ``row`` (the panel row), ``grade``, ``assessment``,
    ``participation``, ``level``, ``osslt_result``, ``first_time`` and ``g9_stream``. The OSSLT
    is written in the first year with EQAO testing from Grade 10 on (so the Grade 10 students of
    the two pandemic years write it in 2021-22, in Grade 11 or 12) and again in later years until
    passed (:func:`_osslt`).
    """
    eqao_years = np.array([y not in cfg.no_eqao_years for y in cfg.school_years])
    care_term = _care_logodds(cfg, truth)
    served = truth["care"] != CARE_CODE["none"]  # any child-welfare service this year
    g_code = people["g"][panel["sid"]]

    def offset(idx: np.ndarray, kind: str) -> np.ndarray:
        gsign = np.where(g_code[idx] == 0, 1.0, np.where(g_code[idx] == 1, -1.0, 0.0))
        g_eff = gsign * (0.25 if kind == "lit" else -0.05)
        return board_eff[panel["board"][idx]] + g_eff + care_term[idx]

    frames = []
    for name, g_idx, kind in ASSESSMENTS:
        if name == "osslt":
            frames.extend(_osslt(cfg, rng, panel, eqao_years, served, lambda i: offset(i, "lit")))
            continue
        idx = np.flatnonzero((panel["gidx"] == g_idx) & eqao_years[panel["yi"]])
        if len(idx) == 0:
            continue
        frames.append(
            _assessment(
                cfg, rng, name, idx, panel["yi"][idx], offset(idx, kind), served[idx], panel
            )
        )
    return pl.concat(frames).with_columns(
        pl.when(pl.col("level") < 0).then(None).otherwise(pl.col("level")).alias("level")
    )


OSSLT_FROM = 11  # grade index of Grade 10, the year students first write the OSSLT


def _osslt(
    cfg: Config,
    rng: np.random.Generator,
    panel: dict,
    eqao_years: np.ndarray,
    served: np.ndarray,
    offset: Callable[[np.ndarray], np.ndarray],
) -> list[pl.DataFrame]:
    """OSSLT sittings, one school year at a time: students from Grade 10 on who have not written
    it (``first_time``) or have not passed it (a retake) write it in each year with EQAO testing,
    except Grade 12 students graduating in a year that waived the literacy requirement and
    students whose Grade 10 year was before the panel."""
    sid, yi, gidx = panel["sid"], panel["yi"], panel["gidx"]
    n_people = int(sid.max()) + 1 if len(sid) else 0
    written = np.zeros(n_people, dtype=bool)
    passed = np.zeros(n_people, dtype=bool)
    # a Grade 12 row followed by another Grade 12 row (a fifth year): not graduating that year
    key = sid.astype(np.int64) * 64 + yi
    returning = np.isin(key + 1, key[gidx == LAST_GRADE])
    waived = np.isin(np.array(cfg.school_years)[yi], list(cfg.literacy_waived_years))
    exempt = (gidx == LAST_GRADE) & waived & ~returning
    # students whose Grade 10 year was before the panel met the requirement then (or are not
    # followed: their sittings are not in the extract)
    exempt |= yi.astype(np.int64) - (gidx.astype(np.int64) - OSSLT_FROM) < 0
    frames = []
    for y in range(len(cfg.school_years)):
        if not eqao_years[y]:
            continue
        rows = np.flatnonzero((yi == y) & (gidx >= OSSLT_FROM) & ~exempt)
        rows = rows[~passed[sid[rows]]]
        if len(rows) == 0:
            continue
        first = ~written[sid[rows]]
        df = _assessment(
            cfg, rng, "osslt", rows, yi[rows], offset(rows), served[rows], panel, first_time=first
        )
        written[sid[rows]] = True
        passed[sid[rows]] |= (df["osslt_result"] == "pass").fill_null(False).to_numpy()
        frames.append(df)
    return frames


def _g9_stream(
    cfg: Config, rng: np.random.Generator, y_of: np.ndarray, served: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Grade 9 math course of each student: academic or applied before the baseline break
    (child-welfare services lower the chance of academic), destreamed from it; and its code
    (0, 1, 2)."""
    years = list(cfg.school_years)
    streamed = np.array([int(y[:4]) < int(cfg.eqao_baseline_break[:4]) for y in years])[y_of]
    acad = rng.random(len(y_of)) < cfg.g9_academic_share
    # Care lowers the chance of the academic stream.
    acad &= ~(served & (rng.random(len(y_of)) < 0.3))
    stream = np.where(streamed, np.where(acad, "academic", "applied"), "destreamed")
    st_code = np.where(stream == "academic", 0, np.where(stream == "applied", 1, 2))
    return stream, st_code


def _calibration_groups(
    cfg: Config, name: str, y_of: np.ndarray, st_code: np.ndarray, retake: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(group, targets)``: each student's calibration group ``"<year>|<assessment>[_<stream>]"``
    (``"<year>|osslt_retake"`` for a later OSSLT sitting), numbered in sorted key order, and each
    group's share at standard (``calibration.eqao``; retakes: ``synthetic.osslt_retake_pass``)."""
    years = list(cfg.school_years)
    code = np.where(retake, 3, st_code)
    combo_u, combo_inv = np.unique(y_of * 4 + code, return_inverse=True)
    suffix = {0: "_academic", 1: "_applied", 2: "", 3: "_retake"}
    keys_u = np.array([f"{years[c // 4]}|{name}{suffix[c % 4]}" for c in combo_u])
    key_order = np.argsort(keys_u)
    ukeys = keys_u[key_order]
    grp = np.argsort(key_order)[combo_inv.ravel()]

    def target(k: str) -> float:
        year, key = k.split("|")
        if key.endswith("_retake"):
            return cfg.synthetic.osslt_retake_pass
        return cfg.calibration.eqao_target(year, key) / 100

    return grp, np.array([target(k) for k in ukeys])


def _assessment(
    cfg: Config,
    rng: np.random.Generator,
    name: str,
    idx: np.ndarray,
    y_of: np.ndarray,
    off: np.ndarray,
    served: np.ndarray,
    panel: dict,
    first_time: np.ndarray | None = None,
) -> pl.DataFrame:
    """Results in assessment ``name`` of the panel rows ``idx`` (model offsets ``off``; ``served``
    = any child-welfare service that year, which makes absence more likely; ``first_time``: the
    OSSLT sittings that are a student's first)."""
    n = len(idx)
    first = np.ones(n, dtype=bool) if first_time is None else first_time
    stream = np.full(n, None, dtype=object)
    if name == "g9_math":
        stream, st_code = _g9_stream(cfg, rng, y_of, served)
    else:
        st_code = np.full(n, 2)
    grp, targets = _calibration_groups(cfg, name, y_of, st_code, ~first)
    part = rng.choice(4, size=n, p=PARTICIPATION_P)
    part = np.where(served & (rng.random(n) < 0.05), 1, part)
    participated = part == 0
    base = _calibrate(off[participated], grp[participated], targets)
    p = _sigmoid(base[grp] + off)
    at = rng.random(n) < p
    level = np.where(
        at,
        np.where(rng.random(n) < 0.25, 4, 3),
        np.where(rng.random(n) < 0.2, 1, 2),
    )
    return pl.DataFrame(
        {
            "row": idx,
            "grade": np.array(GRADES)[panel["gidx"][idx]].astype(np.int8),
            "assessment": np.full(n, name),
            "participation": np.array(EQAO_PARTICIPATION)[part],
            "level": np.where(participated & (name != "osslt"), level, -1).astype(np.int8),
            # numpy stubs reject None as an array-like; at runtime it is an object scalar.
            "osslt_result": np.where(  # type: ignore[call-overload]
                participated & (name == "osslt"), np.where(at, "pass", "fail"), None
            ).tolist(),
            "first_time": first,
            "g9_stream": (
                stream.astype(object) if name == "g9_math" else np.full(n, None)
            ).tolist(),
        },
        schema_overrides={"osslt_result": pl.Utf8, "g9_stream": pl.Utf8},
    )
