"""The outcomes of each student-year, drawn from the latent care status with the planted effects.

Attendance and credits: days absent and secondary credits earned, lowered by the configured gaps
of each care status. EQAO: achievement in each assessment a student sits, with a per-assessment
and year intercept calibrated to the configured provincial results (``Config.calibration``). The
exact models are :func:`analysis.synthetic.effects.planted_effects`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain.vocab import EQAO_PARTICIPATION, GRADES
from analysis.synthetic.care_status import CARE_CODE, CARE_STATUSES, GROUP_CODE, years_in_care
from analysis.synthetic.panel import SECONDARY_FROM

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
YEAR_ABSENCE_MULT = np.array([1.0, 1.0, 0.9, 1.1, 1.35, 1.25])  # by school-year index


def _by_status(gap: dict[str, float]) -> np.ndarray:
    """A value per care status, indexed by care code."""
    return np.array([gap[k] for k in CARE_STATUSES], dtype=float)


def attendance_and_credits(
    cfg: Config, rng: np.random.Generator, panel: dict, truth: dict, people: dict
) -> tuple[np.ndarray, np.ndarray]:
    """``(days_absent, credits)`` per student-year (credits NaN below secondary)."""
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
    gap_a = _by_status(att_gap)[cs]
    gap_c = _by_status(cr_gap)[cs]
    gidx = panel["gidx"]
    band = np.where(gidx <= 1, 0.07, np.where(gidx <= 9, 0.05, 0.07))
    year_mult = YEAR_ABSENCE_MULT[panel["yi"]]
    frailty = rng.gamma(2.5, 1 / 2.5, size=len(people["birth_year"]))[panel["sid"]]
    p_abs = np.clip(band * year_mult * frailty - gap_a, 0.0, 0.9)
    days_absent = rng.binomial(panel["days_enrolled"], p_abs)
    sec = gidx >= SECONDARY_FROM
    credits = np.clip(8 + (rng.random(n) < 0.3) - rng.poisson(np.maximum(0.25 - gap_c, 0.0)), 0, 9)
    credits = np.where(sec, credits.astype(float), np.nan)
    return days_absent, credits


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
    ``participation``, ``level``, ``osslt_result``, ``first_time`` and ``g9_stream``.
    """
    eqao_years = np.array([y not in cfg.no_eqao_years for y in cfg.school_years])
    care_term = _care_logodds(cfg, truth)
    served = truth["care"] != CARE_CODE["none"]  # any child-welfare service this year
    g_code = people["g"][panel["sid"]]
    frames = []
    for name, g_idx, kind in ASSESSMENTS:
        idx = np.flatnonzero((panel["gidx"] == g_idx) & eqao_years[panel["yi"]])
        if len(idx) == 0:
            continue
        gsign = np.where(g_code[idx] == 0, 1.0, np.where(g_code[idx] == 1, -1.0, 0.0))
        g_eff = gsign * (0.25 if kind == "lit" else -0.05)
        off = board_eff[panel["board"][idx]] + g_eff + care_term[idx]
        frames.append(_assessment(cfg, rng, name, g_idx, idx, panel["yi"][idx], off, served[idx]))
    return pl.concat(frames).with_columns(
        pl.when(pl.col("level") < 0).then(None).otherwise(pl.col("level")).alias("level")
    )


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
    cfg: Config, name: str, y_of: np.ndarray, st_code: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(group, targets)``: each student's calibration group ``"<year>|<assessment>[_<stream>]"``,
    numbered in sorted key order, and each group's configured share at standard."""
    years = list(cfg.school_years)
    combo_u, combo_inv = np.unique(y_of * 3 + st_code, return_inverse=True)
    keys_u = np.array(
        [
            f"{years[c // 3]}|{name}"
            if c % 3 == 2
            else f"{years[c // 3]}|{name}_{('academic', 'applied')[c % 3]}"
            for c in combo_u
        ]
    )
    key_order = np.argsort(keys_u)
    ukeys = keys_u[key_order]
    grp = np.argsort(key_order)[combo_inv.ravel()]
    targets = np.array([cfg.calibration[k.split("|")[0]][k.split("|")[1]] / 100 for k in ukeys])
    return grp, targets


def _assessment(
    cfg: Config,
    rng: np.random.Generator,
    name: str,
    g_idx: int,
    idx: np.ndarray,
    y_of: np.ndarray,
    off: np.ndarray,
    served: np.ndarray,
) -> pl.DataFrame:
    """Results in assessment ``name`` of the panel rows ``idx`` (model offsets ``off``; ``served``
    = any child-welfare service that year, which makes absence more likely)."""
    n = len(idx)
    stream = np.full(n, None, dtype=object)
    if name == "g9_math":
        stream, st_code = _g9_stream(cfg, rng, y_of, served)
    else:
        st_code = np.full(n, 2)
    grp, targets = _calibration_groups(cfg, name, y_of, st_code)
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
            "grade": np.full(n, int(GRADES[g_idx]), dtype=np.int8),
            "assessment": np.full(n, name),
            "participation": np.array(EQAO_PARTICIPATION)[part],
            "level": np.where(participated & (name != "osslt"), level, -1).astype(np.int8),
            # numpy stubs reject None as an array-like; at runtime it is an object scalar.
            "osslt_result": np.where(  # type: ignore[call-overload]
                participated & (name == "osslt"), np.where(at, "pass", "fail"), None
            ).tolist(),
            "first_time": np.ones(n, dtype=bool),
            "g9_stream": (
                stream.astype(object) if name == "g9_math" else np.full(n, None)
            ).tolist(),
        },
        schema_overrides={"osslt_result": pl.Utf8, "g9_stream": pl.Utf8},
    )
