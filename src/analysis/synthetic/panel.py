"""The schooling panel: which student is enrolled in which grade, board and school each year.

Students progress one grade a year from JK at age 4; a few repeat a year once, enter late or
leave early (migration in and out of Ontario's public system), and some are enrolled for part
of a year. Each student has a course-failure rate (most fail almost no course, a struggling share
fails many: ``Config.synthetic``); struggling students more often stay a fifth year of secondary
school, in Grade 12 again. The board and postal code follow the household's move. The panel is a
dict of arrays with one entry per student-year, ordered by school year.
"""

from __future__ import annotations

import numpy as np

from analysis.config import Config

SCHOOL_DAYS = 194  # days enrolled in a full school year
SECONDARY_FROM = 10  # grade index of grade 9 (JK = 0)
LAST_GRADE = 13  # grade index of grade 12


def school_panel(cfg: Config, rng: np.random.Generator, people: dict) -> dict:
    """Student-years of the people in school (JK-12) in some year of ``cfg.school_years``."""
    by = people["birth_year"]
    n = len(by)
    # Students who are in school (JK..12) in some panel year.
    years = np.array([int(y[:4]) for y in cfg.school_years])
    first_g = years[0] - 4 - by
    last_g = years[-1] - 4 - by
    in_range = (last_g >= 0) & (first_g <= LAST_GRADE + 1)
    # Entry and exit (migration in and out of Ontario's public system), one repeat at most.
    entry = np.where(rng.random(n) < 0.06, rng.integers(1, 6, size=n), 0)
    exit_ = np.where(rng.random(n) < 0.08, rng.integers(0, 5, size=n), 5)
    repeat_y = np.where(rng.random(n) < 0.025, rng.integers(0, 6, size=n), 99)
    n_elem = max(1, int(round(cfg.size.schools_per_board * 0.82)))
    n_sec = max(1, cfg.size.schools_per_board - n_elem)
    elem_school = rng.integers(0, n_elem, size=n)
    sec_school = rng.integers(0, n_sec, size=n)
    partial = rng.random((n, len(years))) < 0.04
    fail_rate, fifth = _course_failure(cfg, rng, n)
    rows_sid, rows_y = [], []
    for y_idx, y in enumerate(years):
        gidx = y - 4 - by - (y_idx >= repeat_y)
        in_school = (gidx >= 0) & ((gidx <= LAST_GRADE) | (fifth & (gidx == LAST_GRADE + 1)))
        keep = in_range & in_school & (y_idx >= entry) & (y_idx <= exit_)
        sel = np.flatnonzero(keep)
        rows_sid.append(sel)
        rows_y.append(np.full(len(sel), y_idx))
    sid = np.concatenate(rows_sid)
    yi = np.concatenate(rows_y)
    # a fifth year of secondary school is Grade 12 again
    gidx = np.minimum(years[yi] - 4 - by[sid] - (yi >= repeat_y[sid]), LAST_GRADE)
    moved = yi >= people["move_y"][sid]
    board = np.where(moved, people["board2"][sid], people["board1"][sid])
    pc = np.where(moved, people["pc2"][sid], people["pc1"][sid])
    secondary = gidx >= SECONDARY_FROM
    school_no = np.where(secondary, sec_school[sid], elem_school[sid])
    days_enrolled = np.where(partial[sid, yi], rng.integers(60, 190, size=len(sid)), SCHOOL_DAYS)
    return {
        "sid": sid,
        "yi": yi,
        "gidx": gidx,
        "board": board,
        "pc": pc,
        "secondary": secondary,
        "school_no": school_no,
        "days_enrolled": days_enrolled,
        "fail_rate": fail_rate[sid].astype(np.float32),
    }


def _course_failure(cfg: Config, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fail_rate, fifth_year)`` of ``n`` people: the probability of failing each course they
    take (engaged students uniform on ``[0, fail_rate_engaged]``, the struggling share uniform on
    ``fail_rate_struggling``), and whether they stay a fifth year of secondary school."""
    s = cfg.synthetic
    struggling = rng.random(n) < s.struggling_share
    lo, hi = s.fail_rate_struggling
    fail_rate = np.where(
        struggling, rng.uniform(lo, hi, size=n), rng.uniform(0, s.fail_rate_engaged, size=n)
    )
    p_fifth = np.where(struggling, s.fifth_year_struggling, s.fifth_year_engaged)
    return fail_rate, rng.random(n) < p_fifth
