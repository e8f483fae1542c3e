"""The schooling panel: which student is enrolled in which grade, board and school each year.

Students progress one grade a year from JK at age 4; a few repeat a year once, enter late or
leave early (migration in and out of Ontario's public system), and some are enrolled for part
of a year. The board and postal code follow the household's move. The panel is a dict of arrays
with one entry per student-year, ordered by school year.
"""

from __future__ import annotations

import numpy as np

from analysis.config import Config

SCHOOL_DAYS = 194  # days enrolled in a full school year
SECONDARY_FROM = 10  # grade index of grade 9 (JK = 0)


def school_panel(cfg: Config, rng: np.random.Generator, people: dict) -> dict:
    """Student-years of the people in school (JK-12) in some year of ``cfg.school_years``."""
    by = people["birth_year"]
    n = len(by)
    # Students who are in school (JK..12) in some panel year.
    years = np.array([int(y[:4]) for y in cfg.school_years])
    first_g = years[0] - 4 - by
    last_g = years[-1] - 4 - by
    in_range = (last_g >= 0) & (first_g <= 13)
    # Entry and exit (migration in and out of Ontario's public system), one repeat at most.
    entry = np.where(rng.random(n) < 0.06, rng.integers(1, 6, size=n), 0)
    exit_ = np.where(rng.random(n) < 0.08, rng.integers(0, 5, size=n), 5)
    repeat_y = np.where(rng.random(n) < 0.025, rng.integers(0, 6, size=n), 99)
    n_elem = max(1, int(round(cfg.size.schools_per_board * 0.82)))
    n_sec = max(1, cfg.size.schools_per_board - n_elem)
    elem_school = rng.integers(0, n_elem, size=n)
    sec_school = rng.integers(0, n_sec, size=n)
    partial = rng.random((n, len(years))) < 0.04
    rows_sid, rows_y = [], []
    for y_idx, y in enumerate(years):
        gidx = y - 4 - by - (y_idx >= repeat_y)
        keep = in_range & (gidx >= 0) & (gidx <= 13) & (y_idx >= entry) & (y_idx <= exit_)
        sel = np.flatnonzero(keep)
        rows_sid.append(sel)
        rows_y.append(np.full(len(sel), y_idx))
    sid = np.concatenate(rows_sid)
    yi = np.concatenate(rows_y)
    gidx = years[yi] - 4 - by[sid] - (yi >= repeat_y[sid])
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
    }
