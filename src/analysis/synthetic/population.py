"""The population: households of siblings, their one move, and the children's identities.

Siblings share a surname (hyphenated for some households) and a postal code; a few are twins,
born the same day with different first names. A household moves at most once during the panel,
usually within its region. People are kept as arrays of integer codes (a ``people`` dict), and
turned into names and gender strings only when a table is built.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain import names
from analysis.domain.dates import days_since_epoch
from analysis.domain.vocab import GENDERS, REGIONS
from analysis.synthetic.postal import postal_code_ints

GENDER_OF_CODE = np.array(GENDERS, dtype=object)  # gender code = index (drawn with GENDER_P)
GENDER_P = [0.487, 0.508, 0.005]
REGION_POP = np.array([0.20, 0.33, 0.18, 0.23, 0.06])  # share of households in each region
HOUSEHOLD_SIZE_P = [0.52, 0.34, 0.11, 0.03]  # 1, 2, 3 or 4 children
_FIRST_BIRTH_YEAR = 1990
_JAN_FIRST = np.array(
    [days_since_epoch(dt.date(int(y), 1, 1)) for y in range(_FIRST_BIRTH_YEAR, 2050)]
)


def jan_first_days(year: np.ndarray) -> np.ndarray:
    """1 January of each year (1990-2049) in ``year``, as days since 1970-01-01."""
    return _JAN_FIRST[year - _FIRST_BIRTH_YEAR]


def population(cfg: Config, rng: np.random.Generator, boards: pl.DataFrame) -> dict:
    """Households and their children: one entry per person in each array of the returned dict.

    Enough people that about ``cfg.size.students_per_year`` are enrolled in each school year.
    """
    n_target = int(round(cfg.size.students_per_year * 19 / 14 * 1.14))
    n_hh = int(n_target / 1.55)
    return _children(rng, _households(rng, n_hh, boards))


def _boards_by_region(boards: pl.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each region: the indices of its boards and their shares of its students."""
    b_region = boards["region"].to_numpy()
    b_weight = boards["size_weight"].to_numpy()
    out = []
    for reg in REGIONS:
        idx = np.flatnonzero(b_region == reg)
        out.append((idx, b_weight[idx] / b_weight[idx].sum()))
    return out


def _households(rng: np.random.Generator, n_hh: int, boards: pl.DataFrame) -> dict:
    """Size, region, board, surname(s), postal codes and move of ``n_hh`` households."""
    hh_size = rng.choice([1, 2, 3, 4], size=n_hh, p=HOUSEHOLD_SIZE_P)
    hh_region = rng.choice(5, size=n_hh, p=REGION_POP)
    # Board: within the household's region, by board size; French boards take ~5% of students.
    by_region = _boards_by_region(boards)
    hh_board = np.empty(n_hh, dtype=np.int64)
    for r, (idx, w) in enumerate(by_region):
        m = hh_region == r
        hh_board[m] = rng.choice(idx, size=int(m.sum()), p=w)
    sur, sur_p = names.surname_vocabulary()
    hh_surname = rng.choice(len(sur), size=n_hh, p=sur_p)
    hyphen = rng.random(n_hh) < 0.03
    hh_surname2 = np.where(hyphen, rng.choice(len(sur), size=n_hh, p=sur_p), -1)
    hh_pc1 = postal_code_ints(rng, hh_region)
    # A household moves at most once in the panel (from school-year index move_y on).
    moves = rng.random(n_hh) < 0.15
    move_y = np.where(moves, rng.integers(1, 6, size=n_hh), 99)
    same_region = rng.random(n_hh) < 0.8
    new_region = np.where(same_region, hh_region, rng.choice(5, size=n_hh, p=REGION_POP))
    hh_pc2 = postal_code_ints(rng, new_region)
    hh_board2 = hh_board.copy()
    for r, (idx, w) in enumerate(by_region):
        m = moves & (new_region == r)
        # A move within a region keeps the board half the time.
        hh_board2[m] = np.where(
            rng.random(int(m.sum())) < 0.5, hh_board[m], rng.choice(idx, size=int(m.sum()), p=w)
        )
    return {
        "size": hh_size,
        "region1": hh_region,
        "region2": new_region,
        "board1": hh_board,
        "board2": hh_board2,
        "sur1": hh_surname,
        "sur2": hh_surname2,
        "surnames": sur,
        "pc1": hh_pc1,
        "pc2": hh_pc2,
        "move_y": move_y,
        "base_year": rng.integers(1998, 2019, size=n_hh),
    }


def _children(rng: np.random.Generator, hh: dict) -> dict:
    """The children of households ``hh``: birth dates (twins the same day), gender, first name,
    and their household's surname, addresses and boards."""
    hh_size = hh["size"]
    hh_of = np.repeat(np.arange(len(hh_size)), hh_size)
    n = len(hh_of)
    start = np.concatenate([[0], np.cumsum(hh_size)[:-1]])
    order = np.arange(n) - np.repeat(start, hh_size)
    twin = (order > 0) & (rng.random(n) < 0.03)
    gap = np.where(order == 0, 0, np.where(twin, 0, rng.integers(1, 5, size=n)))
    cum = np.cumsum(gap)
    cum = cum - np.repeat(cum[start], hh_size)
    birth_year = hh["base_year"][hh_of] + cum
    doy = rng.integers(0, 365, size=n)
    # Twins share the previous sibling's birth date exactly.
    for _ in range(3):
        prev = np.roll(doy, 1)
        doy = np.where(twin, prev, doy)
    g = rng.choice(3, size=n, p=GENDER_P)
    first, first_vocab = _first_name_codes(rng, g, twin)
    people = {
        "hh": hh_of,
        "birth_year": birth_year,
        "birth_days": jan_first_days(birth_year) + doy,
        "g": g,
        "first": first,
        "first_vocab": first_vocab,
        "surnames": hh["surnames"],
    }
    for k in ("sur1", "sur2", "pc1", "pc2", "move_y", "board1", "board2", "region1", "region2"):
        people[k] = hh[k][hh_of]
    return people


def _first_name_codes(
    rng: np.random.Generator, g: np.ndarray, twin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, vocabulary)``: a first name for each gender code in ``g``.

    The codes index one sorted vocabulary of distinct names (a few names are in both lists), so
    that equal codes are equal names. People of another gender take a name from either list;
    twins get different first names.
    """
    ff, ff_p = names.first_name_vocabulary("female")
    fm, fm_p = names.first_name_vocabulary("male")
    first_vocab, canon = np.unique(np.concatenate([ff, fm]), return_inverse=True)
    canon_f, canon_m = canon[: len(ff)], canon[len(ff) :]
    n = len(g)
    first = np.where(
        g == 0,
        canon_f[rng.choice(len(ff), size=n, p=ff_p)],
        canon_m[rng.choice(len(fm), size=n, p=fm_p)],
    )
    another = g == 2
    k = int(another.sum())
    first[another] = np.where(
        rng.random(k) < 0.5,
        canon_f[rng.integers(0, len(ff), k)],
        canon_m[rng.integers(0, len(fm), k)],
    )
    # Twins get different first names (re-draw when equal).
    same = twin & (first == np.roll(first, 1))
    pos_f = np.searchsorted(ff, first_vocab[first[same]])
    pos_m = np.searchsorted(fm, first_vocab[first[same]])
    first[same] = np.where(
        g[same] == 0, canon_f[(pos_f + 7) % len(ff)], canon_m[(pos_m + 7) % len(fm)]
    )
    return first, first_vocab


def first_names(people: dict, idx: np.ndarray) -> np.ndarray:
    """First names (object array) of people ``idx``."""
    return people["first_vocab"][people["first"][idx]]


def last_names(people: dict, idx: np.ndarray) -> np.ndarray:
    """Surnames (object array) of people ``idx``: the household's, hyphenated for some."""
    sur = people["surnames"]
    s1, s2 = people["sur1"][idx], people["sur2"][idx]
    last = sur[s1]
    return np.where(
        s2 >= 0,
        np.char.add(np.char.add(last.astype(str), "-"), sur[np.maximum(s2, 0)].astype(str)).astype(
            object
        ),
        last,
    )


def last_name_series(name: str, people: dict, idx: np.ndarray) -> pl.Series:
    """Surnames of people ``idx`` as a polars string column (for millions of rows)."""
    sur = pl.Series(people["surnames"].astype(str))
    s1 = pl.Series(people["sur1"][idx].astype(np.int64))
    s2 = pl.Series(people["sur2"][idx].astype(np.int64))
    return pl.select(
        pl.when(s2 >= 0)
        .then(pl.concat_str([sur.gather(s1), pl.lit("-"), sur.gather(s2.clip(0))]))
        .otherwise(sur.gather(s1))
        .alias(name)
    ).to_series()
