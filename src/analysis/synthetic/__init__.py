"""A synthetic Ontario: the three identifiable sources and their ground truth.

The generator builds, in this order (each step its own random stream spawned from the one seed,
so changing one step does not shift the others):

1. reference tables: 72 school boards (31 English public, 29 English Catholic, 4 French public,
   8 French Catholic) and 50 children's aid societies (13 Indigenous, 3 faith-based);
2. households of siblings (shared surname and postal code, some twins), their moves, and a panel of
   students enrolled 2017-18 to 2022-23 (grade progression, repetition, entry and exit);
3. children with child-welfare involvement, their service episodes and placements, family
   protection cases and OnLAC caregiver-relationship items;
4. the latent care status of each student-year, and outcomes drawn from it with the planted
   effects of ``Config.effects`` (the exact model is in ``docs/data-contract.md``);
5. child-welfare records with identifier noise at the configured rates (BRIEF.md s.8), and the
   truth table saying which record is which student.

Everything is vectorised (numpy + polars) so the provincial scale (about 12 million
student-years) runs in minutes on one small machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain import names as vocab
from analysis.domain.dates import EPOCH, EXTRACT_END, days_since_epoch, school_year_bounds
from analysis.domain.oen import luhn_check_digit
from analysis.domain.vocab import (
    CARE_PRIORITY,
    GRADES,
    PLACEMENT_GROUP,
    REGION_FR,
    REGION_LETTER,
    REGIONS,
    SERVICE_IN_CARE,
)
from analysis.domain.vocab import RACES as RACE_CATEGORIES
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.stages import StageResult
from analysis.synthetic.effects import planted_effects

REGION_POP = np.array([0.20, 0.33, 0.18, 0.23, 0.06])
# drawn with RACE_P: the categories, then a missing race
RACES = (*RACE_CATEGORIES, None)
RACE_P = np.array([0.14, 0.03, 0.25, 0.02, 0.03, 0.05, 0.02, 0.40, 0.01, 0.02, 0.03])
POSTAL_LETTERS = np.array(list("ABCEGHJKLMNPRSTVWXYZ"))
_days = days_since_epoch


def unique_sorted(a: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``a``: what ``np.unique(a)`` returns, by sorting.

    numpy 2.x answers ``np.unique`` without ``return_*`` through a hash table that takes about
    7 s for 12 million integers here; a sort takes 0.1 s.
    """
    s = np.sort(np.asarray(a), kind="stable")
    if s.size == 0:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def _oens(rng: np.random.Generator, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """``n`` distinct 9-digit OENs (8 random digits + Luhn), none equal to one in ``exclude``."""
    draw = unique_sorted(rng.integers(0, 10**8, size=int(n * 1.2) + 100))
    if exclude is not None:
        draw = draw[~np.isin(draw, np.asarray(exclude) // 10, assume_unique=True)]  # payloads
    draw = rng.permutation(draw)[:n]
    full = draw * 10 + luhn_check_digit(draw)
    return full


def _fmt_oen(x: np.ndarray) -> pl.Series:
    return pl.Series(x, dtype=pl.Int64).cast(pl.Utf8).str.zfill(9)


@dataclass
class _Streams:
    ref: np.random.Generator
    pop: np.random.Generator
    panel: np.random.Generator
    cw: np.random.Generator
    outcome: np.random.Generator
    eqao: np.random.Generator
    noise: np.random.Generator
    cases: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> _Streams:
        kids = np.random.SeedSequence(seed).spawn(8)
        return cls(*[np.random.default_rng(k) for k in kids])


# --------------------------------------------------------------------------- reference tables
def _reference(rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    kinds = (
        [("en", "public")] * 31
        + [("en", "catholic")] * 29
        + [("fr", "public")] * 4
        + [("fr", "catholic")] * 8
    )
    # Every region has at least one board of each kind where possible; the rest by population.
    region_of = []
    for i, (lang, _typ) in enumerate(kinds):
        if lang == "fr":
            region_of.append(REGIONS[i % 5])
        else:
            region_of.append(REGIONS[rng.choice(5, p=np.array([0.06, 0.30, 0.22, 0.24, 0.18]))])
    region_of[0] = region_of[31] = "Toronto"
    size = rng.lognormal(0.0, 0.9, size=72)
    for i in (0, 31):
        size[i] *= 12.0  # the large Toronto boards
    for i, (lang, _) in enumerate(kinds):
        if lang == "fr":
            size[i] *= 0.25
    rows = []
    counters: dict[tuple[str, str, str], int] = {}
    for i, ((lang, typ), reg) in enumerate(zip(kinds, region_of, strict=True)):
        counters[(lang, typ, reg)] = counters.get((lang, typ, reg), 0) + 1
        k = counters[(lang, typ, reg)]
        if lang == "en":
            name = f"{reg} {'Catholic ' if typ == 'catholic' else ''}District School Board {k}"
        else:
            name = f"Conseil scolaire {'catholique' if typ == 'catholic' else 'public'} {REGION_FR[reg]} {k}"
        rows.append((f"B{i + 1:02d}", name, typ, lang, reg, float(size[i])))
    boards = pl.DataFrame(
        rows,
        schema=["board_id", "board_name", "board_type", "language", "region", "size_weight"],
        orient="row",
    )
    soc_rows = []
    ind_regions = ["North"] * 8 + ["Southwest"] * 3 + ["East"] * 2
    faith = [
        ("Catholic Children's Aid Society", "Toronto"),
        ("Jewish Family and Child Service", "Toronto"),
        ("Catholic Children's Aid Society", "Central"),
    ]
    main_regions = (
        ["Toronto"] * 2 + ["Central"] * 9 + ["East"] * 8 + ["Southwest"] * 9 + ["North"] * 6
    )
    sid = 0
    for reg in main_regions:
        sid += 1
        soc_rows.append(
            (
                f"S{sid:02d}",
                f"Children's Aid Society of {reg} {sid}",
                False,
                False,
                reg,
                "fr" if sid in (15, 20) else "en",
                float(rng.lognormal(0, 0.6)),
            )
        )
    for name, reg in faith:
        sid += 1
        soc_rows.append(
            (f"S{sid:02d}", f"{name} ({reg})", False, True, reg, "en", float(rng.lognormal(0, 0.4)))
        )
    for reg in ind_regions:
        sid += 1
        soc_rows.append(
            (
                f"S{sid:02d}",
                f"Indigenous Child and Family Well-Being Agency {sid} ({reg})",
                True,
                False,
                reg,
                "en",
                float(rng.lognormal(-0.3, 0.5)),
            )
        )
    societies = pl.DataFrame(
        soc_rows,
        schema=[
            "society_id",
            "society_name",
            "indigenous",
            "faith_based",
            "region",
            "language",
            "size_weight",
        ],
        orient="row",
    )
    # FSA pools: about 100 per region, drawn from the region's letter.
    fsas = {}
    for reg in REGIONS:
        combos = [
            f"{REGION_LETTER[reg]}{d}{letter}" for d in range(10) for letter in POSTAL_LETTERS
        ]
        fsas[reg] = np.array(sorted(rng.choice(combos, size=100, replace=False)))
    return boards, societies, fsas


LDU = np.array([f"{a}{b}{c}" for a in range(10) for b in POSTAL_LETTERS for c in range(10)])
N_LDU = len(LDU)  # 2,000 local delivery units: digit, letter, digit


def _postal_code_ints(rng: np.random.Generator, region_idx: np.ndarray) -> np.ndarray:
    """Postal codes as integers ``(region * 100 + fsa) * 2000 + ldu`` (compact for millions).

    The random draws are those of :func:`_postal_codes`; :func:`_postal_strings` and
    :func:`_postal_series` turn the integers into ``"A1A 1A1"`` strings.
    """
    n = len(region_idx)
    fsa_pick = rng.integers(0, 100, size=n)
    ldu_d1 = rng.integers(0, 10, size=n)
    ldu_l = rng.integers(0, len(POSTAL_LETTERS), size=n)
    ldu_d2 = rng.integers(0, 10, size=n)
    fsa = np.asarray(region_idx, dtype=np.int64) * 100 + fsa_pick
    return fsa * N_LDU + (ldu_d1 * len(POSTAL_LETTERS) + ldu_l) * 10 + ldu_d2


def _fsa_vocab(fsas: dict) -> np.ndarray:
    return np.concatenate([fsas[reg] for reg in REGIONS]).astype(str)


def _postal_strings(codes: np.ndarray, fsas: dict) -> np.ndarray:
    """Integer postal codes to an object array of ``"A1A 1A1"`` strings (for small arrays)."""
    codes = np.asarray(codes, dtype=np.int64)
    out = np.char.add(np.char.add(_fsa_vocab(fsas)[codes // N_LDU], " "), LDU[codes % N_LDU])
    return out.astype(object)


def _postal_series(name: str, codes: np.ndarray, fsas: dict) -> pl.Series:
    """Integer postal codes to a polars string column (for millions of rows)."""
    codes = np.asarray(codes, dtype=np.int64)
    return pl.select(
        pl.concat_str(
            [
                pl.Series(_fsa_vocab(fsas)).gather(pl.Series(codes // N_LDU)),
                pl.Series(LDU).gather(pl.Series(codes % N_LDU)),
            ],
            separator=" ",
        ).alias(name)
    ).to_series()


def _postal_codes(rng: np.random.Generator, region_idx: np.ndarray, fsas: dict) -> np.ndarray:
    return _postal_strings(_postal_code_ints(rng, region_idx), fsas)


def _vocab_series(name: str, vocab: np.ndarray | list | tuple, codes: np.ndarray) -> pl.Series:
    """``vocab[codes]`` as a polars string column without a numpy string array in between."""
    return pl.Series(name, np.asarray(vocab).astype(str)).gather(
        pl.Series(np.asarray(codes, dtype=np.int64))
    )


# --------------------------------------------------------------------------- population and panel
def _population(cfg: Config, s: _Streams, boards: pl.DataFrame, fsas: dict):
    rng = s.pop
    n_target = int(round(cfg.size.students_per_year * 19 / 14 * 1.14))
    n_hh = int(n_target / 1.55)
    hh_size = rng.choice([1, 2, 3, 4], size=n_hh, p=[0.52, 0.34, 0.11, 0.03])
    hh_region = rng.choice(5, size=n_hh, p=REGION_POP)
    # Board: within the household's region, by board size; French boards take ~5% of students.
    b_region = boards["region"].to_numpy()
    b_weight = boards["size_weight"].to_numpy()
    hh_board = np.empty(n_hh, dtype=np.int64)
    for r, reg in enumerate(REGIONS):
        idx = np.flatnonzero(b_region == reg)
        w = b_weight[idx] / b_weight[idx].sum()
        m = hh_region == r
        hh_board[m] = rng.choice(idx, size=int(m.sum()), p=w)
    sur, sur_p = vocab.surname_vocabulary()
    hh_surname = rng.choice(len(sur), size=n_hh, p=sur_p)
    hyphen = rng.random(n_hh) < 0.03
    hh_surname2 = np.where(hyphen, rng.choice(len(sur), size=n_hh, p=sur_p), -1)
    hh_pc1 = _postal_code_ints(rng, hh_region)
    # A household moves at most once in the panel (from school-year index move_y on).
    moves = rng.random(n_hh) < 0.15
    move_y = np.where(moves, rng.integers(1, 6, size=n_hh), 99)
    same_region = rng.random(n_hh) < 0.8
    new_region = np.where(same_region, hh_region, rng.choice(5, size=n_hh, p=REGION_POP))
    hh_pc2 = _postal_code_ints(rng, new_region)
    hh_board2 = hh_board.copy()
    for r, reg in enumerate(REGIONS):
        idx = np.flatnonzero(b_region == reg)
        w = b_weight[idx] / b_weight[idx].sum()
        m = moves & (new_region == r)
        # A move within a region keeps the board half the time.
        hh_board2[m] = np.where(
            rng.random(int(m.sum())) < 0.5, hh_board[m], rng.choice(idx, size=int(m.sum()), p=w)
        )
    hh_base_year = rng.integers(1998, 2019, size=n_hh)

    # Children of households.
    hh_of = np.repeat(np.arange(n_hh), hh_size)
    n = len(hh_of)
    start = np.concatenate([[0], np.cumsum(hh_size)[:-1]])
    order = np.arange(n) - np.repeat(start, hh_size)
    twin = (order > 0) & (rng.random(n) < 0.03)
    gap = np.where(order == 0, 0, np.where(twin, 0, rng.integers(1, 5, size=n)))
    cum = np.cumsum(gap)
    cum = cum - np.repeat(cum[start], hh_size)
    birth_year = hh_base_year[hh_of] + cum
    doy = rng.integers(0, 365, size=n)
    # Twins share the previous sibling's birth date exactly.
    for _ in range(3):
        prev = np.roll(doy, 1)
        doy = np.where(twin, prev, doy)
    birth = np.array([_days(dt.date(int(y), 1, 1)) for y in range(1990, 2050)])
    birth_days = birth[birth_year - 1990] + doy
    g = rng.choice(3, size=n, p=[0.487, 0.508, 0.005])
    # First names as codes into one sorted vocabulary of distinct names (a few names are in both
    # lists), so that equal codes are equal names.
    ff, ff_p = vocab.first_name_vocabulary("female")
    fm, fm_p = vocab.first_name_vocabulary("male")
    first_vocab, canon = np.unique(np.concatenate([ff, fm]), return_inverse=True)
    canon_f, canon_m = canon[: len(ff)], canon[len(ff) :]
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
    people = {
        "hh": hh_of,
        "birth_year": birth_year,
        "birth_days": birth_days,
        "g": g,
        "first": first,
        "first_vocab": first_vocab,
        "sur1": hh_surname[hh_of],
        "sur2": hh_surname2[hh_of],
        "surnames": sur,
        "pc1": hh_pc1[hh_of],
        "pc2": hh_pc2[hh_of],
        "move_y": move_y[hh_of],
        "board1": hh_board[hh_of],
        "board2": hh_board2[hh_of],
        "region1": hh_region[hh_of],
        "region2": new_region[hh_of],
    }
    return people


GENDERS = np.array(["female", "male", "another"], dtype=object)


def _first_names(people: dict, idx: np.ndarray) -> np.ndarray:
    """First names (object array) of people ``idx``."""
    return people["first_vocab"][people["first"][idx]]


def _last_names(people: dict, idx: np.ndarray) -> np.ndarray:
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


def _last_name_series(name: str, people: dict, idx: np.ndarray) -> pl.Series:
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


def _panel(cfg: Config, s: _Streams, people: dict, boards: pl.DataFrame):
    """Student-years: who is enrolled in which grade, board and school each year."""
    rng = s.panel
    by = people["birth_year"]
    n = len(by)
    # Students who are in school (JK..12) in some panel year.
    years = np.array([int(y[:4]) for y in cfg.school_years])
    first_g = years[0] - 4 - by
    last_g = years[-1] - 4 - by
    in_range = (last_g >= 0) & (first_g <= 13)
    ids = np.flatnonzero(in_range)
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
    secondary = gidx >= 10
    school_no = np.where(secondary, sec_school[sid], elem_school[sid])
    days_enrolled = np.where(partial[sid, yi], rng.integers(60, 190, size=len(sid)), 194)
    return {
        "sid": sid,
        "yi": yi,
        "gidx": gidx,
        "board": board,
        "pc": pc,
        "secondary": secondary,
        "school_no": school_no,
        "days_enrolled": days_enrolled,
        "ids": ids,
    }


# --------------------------------------------------------------------------- child welfare
def _child_welfare(
    cfg: Config, s: _Streams, people: dict, panel: dict, societies: pl.DataFrame, fsas: dict
):
    rng = s.cw
    n_cw = cfg.size.cw_children
    n_nostudent = int(round(cfg.noise.no_student_record * n_cw))
    n_student = n_cw - n_nostudent
    student_pool = unique_sorted(panel["sid"])
    child_sid = np.sort(rng.choice(student_pool, size=n_student, replace=False))
    # Children with no student record: new identities.
    reasons = rng.choice(
        ["too_young", "first_nations_school", "private_or_home", "outside_ontario"],
        size=n_nostudent,
        p=[0.45, 0.2, 0.15, 0.2],
    )
    ns_birth_year = np.where(
        reasons == "too_young",
        rng.integers(2019, 2023, size=n_nostudent),
        rng.integers(2002, 2016, size=n_nostudent),
    )
    birth = np.array([_days(dt.date(int(y), 1, 1)) for y in range(1990, 2050)])
    ns_birth_days = birth[ns_birth_year - 1990] + rng.integers(0, 365, size=n_nostudent)
    ns_g = rng.choice(3, size=n_nostudent, p=[0.487, 0.508, 0.005])
    ff, ff_p = vocab.first_name_vocabulary("female")
    fm, fm_p = vocab.first_name_vocabulary("male")
    sur, sur_p = vocab.surname_vocabulary()
    ns_first = np.where(
        ns_g == 0,
        ff[rng.choice(len(ff), size=n_nostudent, p=ff_p)],
        fm[rng.choice(len(fm), size=n_nostudent, p=fm_p)],
    )
    ns_last = sur[rng.choice(len(sur), size=n_nostudent, p=sur_p)]
    ns_region = rng.choice(5, size=n_nostudent, p=np.array([0.1, 0.2, 0.15, 0.2, 0.35]))
    ns_pc = _postal_codes(rng, ns_region, fsas)
    # Identity of every child (students first): the latest postal code and region of each
    # student in the panel (the "current" address).
    order = np.lexsort((panel["yi"], panel["sid"]))
    sid_sorted = panel["sid"][order]
    last_idx = np.r_[np.flatnonzero(np.diff(sid_sorted)), len(sid_sorted) - 1]
    last_sid = sid_sorted[last_idx]
    last_row = order[last_idx]
    del order, sid_sorted
    pos = np.searchsorted(last_sid, child_sid)
    c_row = last_row[pos]
    c_pc = panel["pc"][c_row]
    c_region = np.where(
        panel["yi"][c_row] >= people["move_y"][child_sid],
        people["region2"][child_sid],
        people["region1"][child_sid],
    )
    child = pl.DataFrame(
        {
            "child_id": np.arange(n_cw),
            "sid": np.concatenate([child_sid, np.full(n_nostudent, -1)]),
            "first_name": np.concatenate([_first_names(people, child_sid), ns_first]).astype(str),
            "last_name": np.concatenate([_last_names(people, child_sid), ns_last]).astype(str),
            "birth_days": np.concatenate([people["birth_days"][child_sid], ns_birth_days]),
            "gender": np.concatenate(
                [GENDERS[people["g"][child_sid]], np.array(["female", "male", "another"])[ns_g]]
            ).astype(str),
            "postal_code": np.concatenate([_postal_strings(c_pc, fsas), ns_pc]).astype(str),
            "region": np.concatenate([c_region, ns_region]),
            "no_student_reason": np.concatenate([np.full(n_student, None), reasons]).tolist(),
        },
        schema_overrides={"no_student_reason": pl.Utf8},
    )
    # Demographics.
    region = child["region"].to_numpy()
    race_p_north = RACE_P.copy()
    race_p_north[2] = 0.6
    race_p_north /= race_p_north.sum()
    race_idx = np.where(
        region == 4,
        rng.choice(len(RACES), size=n_cw, p=race_p_north),
        rng.choice(len(RACES), size=n_cw, p=RACE_P),
    )
    race = np.array(RACES, dtype=object)[race_idx]
    gi_draw = rng.random(n_cw)
    gender = child["gender"].to_numpy()
    gender_identity = np.where(
        gender == "female",
        "girl_woman",
        np.where(gender == "male", "boy_man", "non_binary_two_spirit"),
    )
    gender_identity = np.where(
        gi_draw < 0.02,
        "non_binary_two_spirit",
        np.where(
            gi_draw < 0.025,
            "another_identity",
            np.where(gi_draw < 0.035, "not_stated", gender_identity),
        ),
    )
    # numpy stubs reject None as an array-like; at runtime it is an object-dtype scalar/element.
    born_out = np.where(rng.random(n_cw) < 0.02, None, rng.random(n_cw) < 0.08)  # type: ignore[call-overload]
    lang = rng.choice(["english", "french", "other", None], size=n_cw, p=[0.82, 0.04, 0.12, 0.02])  # type: ignore[arg-type]
    # Society: in the child's region; Indigenous children mostly served by Indigenous agencies.
    soc_region = societies["region"].to_numpy()
    soc_ind = societies["indigenous"].to_numpy()
    soc_w = societies["size_weight"].to_numpy()
    society = np.empty(n_cw, dtype=object)
    u = rng.random(n_cw)
    for r, reg in enumerate(REGIONS):
        for ind in (False, True):
            m = (region == r) & (
                (race == "indigenous") & (u < 0.7) if ind else ~((race == "indigenous") & (u < 0.7))
            )
            cand = np.flatnonzero((soc_region == reg) & (soc_ind == ind))
            if len(cand) == 0:
                cand = np.flatnonzero(soc_region == reg)
            w = soc_w[cand] / soc_w[cand].sum()
            society[m] = societies["society_id"].to_numpy()[
                rng.choice(cand, size=int(m.sum()), p=w)
            ]
    # Services.
    birth_days = child["birth_days"].to_numpy()
    start_lo, start_hi = _days(dt.date(2013, 9, 1)), _days(dt.date(2023, 6, 30))
    kind = rng.choice(
        ["care", "kinship_service", "vysa", "ccsyp"], size=n_cw, p=[0.52, 0.30, 0.09, 0.09]
    )
    age_at_hi = (start_hi - birth_days) / 365.25
    # VYSA needs a 16-17 year old and CCSYP an 18-20 year old in the window; otherwise care.
    kind = np.where((kind == "vysa") & (age_at_hi < 16.2), "care", kind)
    kind = np.where((kind == "ccsyp") & (age_at_hi < 18.2), "care", kind)
    start = rng.integers(start_lo, start_hi, size=n_cw)
    start = np.maximum(start, birth_days)
    age16 = birth_days + int(16 * 365.25)
    age18 = birth_days + int(18 * 365.25)
    age21 = birth_days + int(21 * 365.25)
    start = np.where(
        kind == "vysa", np.clip(age16 + rng.integers(0, 600, size=n_cw), start_lo, start_hi), start
    )
    start = np.where(
        kind == "ccsyp", np.clip(age18 + rng.integers(0, 300, size=n_cw), start_lo, start_hi), start
    )
    dur = np.where(
        kind == "care",
        rng.lognormal(np.log(250), 1.4, size=n_cw),
        rng.lognormal(np.log(300), 0.9, size=n_cw),
    )
    end = start + np.maximum(1, dur.astype(np.int64))
    end = np.where(kind == "vysa", np.minimum(end, age18), end)
    end = np.where(kind == "ccsyp", np.minimum(end, age21), end)
    care_type = rng.choice(list(SERVICE_IN_CARE), size=n_cw, p=[0.48, 0.44, 0.08])
    care_type = np.where(
        (care_type == "customary_care") & (race != "indigenous"), "extended_society_care", care_type
    )
    stype = np.where(kind == "care", care_type, kind)
    # Extended society care ends at 18; youth who age out get CCSYP.
    aged_out = (
        (stype == "extended_society_care")
        & (end > age18)
        & (start < age18)
        & (age18 < _days(EXTRACT_END))
    )
    end = np.where(aged_out, age18, end)
    ep = pl.DataFrame(
        {"child_id": np.arange(n_cw), "service_type": stype.astype(str), "start": start, "end": end}
    )
    extra = pl.DataFrame(
        {
            "child_id": np.flatnonzero(aged_out),
            "service_type": "ccsyp",
            "start": age18[aged_out],
            "end": np.minimum(age21[aged_out], age18[aged_out] + 700),
        }
    )
    episodes = (
        pl.concat([ep, extra])
        .with_columns(
            pl.when(pl.col("end") > _days(EXTRACT_END))
            .then(None)
            .otherwise(pl.col("end"))
            .alias("end")
        )
        .sort(["child_id", "start"])
    )
    # Placements within care episodes.
    care_eps = episodes.with_row_index("ep").filter(
        pl.col("service_type").is_in(list(SERVICE_IN_CARE))
    )
    ce_start = care_eps["start"].to_numpy()
    ce_end = care_eps["end"].fill_null(_days(EXTRACT_END)).to_numpy()
    ce_child = care_eps["child_id"].to_numpy()
    ce_type = care_eps["service_type"].to_numpy()
    n_pl = np.minimum(1 + rng.poisson(0.8, size=len(care_eps)), 4)
    pl_ep = np.repeat(np.arange(len(care_eps)), n_pl)
    cuts = rng.random(len(pl_ep))
    pl_order = np.arange(len(pl_ep)) - np.repeat(np.concatenate([[0], np.cumsum(n_pl)[:-1]]), n_pl)
    frac_start = np.where(pl_order == 0, 0.0, np.sort(cuts))  # recomputed per episode below
    pl_df = (
        pl.DataFrame({"ep_i": pl_ep, "k": pl_order, "u": cuts})
        .with_columns(pl.when(pl.col("k") == 0).then(0.0).otherwise(pl.col("u")).alias("f"))
        .sort(["ep_i", "f"])
    )
    del frac_start
    f = pl_df["f"].to_numpy()
    ep_i = pl_df["ep_i"].to_numpy()
    length = ce_end[ep_i] - ce_start[ep_i]
    p_start = ce_start[ep_i] + (f * length).astype(np.int64)
    next_same = np.r_[ep_i[1:] == ep_i[:-1], False]
    p_end = np.where(next_same, np.r_[p_start[1:], 0], ce_end[ep_i])
    age_at = (p_start - birth_days[ce_child[ep_i]]) / 365.25
    teen = age_at >= 12
    ptypes = np.array(
        [
            "foster_home",
            "kin_in_care_home",
            "group_home",
            "adoption_probation",
            "independent_living",
            "hospital_mental_health",
            "youth_justice",
        ]
    )
    p_young = np.array([0.66, 0.17, 0.07, 0.08, 0.0, 0.02, 0.0])
    p_teen = np.array([0.50, 0.12, 0.24, 0.0, 0.07, 0.03, 0.04])
    pt = np.where(
        teen,
        rng.choice(len(ptypes), size=len(ep_i), p=p_teen),
        rng.choice(len(ptypes), size=len(ep_i), p=p_young),
    )
    ptype = ptypes[pt].astype(object)
    ptype[ce_type[ep_i] == "customary_care"] = "customary_care_home"
    placements = (
        pl.DataFrame(
            {
                "child_id": ce_child[ep_i],
                "ep": care_eps["ep"].to_numpy()[ep_i],
                "placement_type": ptype.astype(str),
                "start": p_start,
                "end": p_end,
            }
        )
        .filter(pl.col("end") > pl.col("start"))
        .with_columns(
            pl.when(pl.col("end") >= _days(EXTRACT_END))
            .then(None)
            .otherwise(pl.col("end"))
            .alias("end")
        )
    )
    demo = pl.DataFrame(
        {
            "child_id": np.arange(n_cw),
            "society_id": society.astype(str),
            "race": race.tolist(),
            "gender_identity": gender_identity.astype(str),
            "born_outside_canada": born_out.tolist(),
            "first_language": lang.tolist(),
            "human_trafficking_risk": rng.random(n_cw) < 0.03,
        },
        schema_overrides={
            "race": pl.Utf8,
            "born_outside_canada": pl.Boolean,
            "first_language": pl.Utf8,
        },
    )
    child = child.join(demo, on="child_id")
    return child, episodes.with_row_index("ep"), placements


def _student_year_truth(
    cfg: Config, panel: dict, child: pl.DataFrame, episodes: pl.DataFrame, placements: pl.DataFrame
) -> dict[str, np.ndarray]:
    """Latent care status, cumulative days in care and placement group per student-year."""
    rows = []
    for yi, sy in enumerate(cfg.school_years):
        lo, hi = school_year_bounds(sy)
        e = episodes.with_columns(pl.col("end").fill_null(_days(EXTRACT_END) + 1))
        active = (
            e.filter((pl.col("start") <= hi) & (pl.col("end") >= lo))
            .with_columns(
                pl.when(pl.col("service_type").is_in(list(SERVICE_IN_CARE)))
                .then(pl.lit("in_care"))
                .otherwise(pl.col("service_type"))
                .alias("status")
            )
            .with_columns(
                pl.col("status").replace_strict(CARE_PRIORITY, return_dtype=pl.Int8).alias("prio")
            )
        )
        status = (
            active.sort(["child_id", "prio"], descending=[False, True])
            .group_by("child_id", maintain_order=True)
            .first()
            .select("child_id", "status")
        )
        cum_days = (
            e.filter(pl.col("service_type").is_in(list(SERVICE_IN_CARE)) & (pl.col("start") <= hi))
            .with_columns(
                (pl.min_horizontal(pl.col("end"), pl.lit(hi + 1)) - pl.col("start"))
                .clip(0)
                .alias("d")
            )
            .group_by("child_id")
            .agg(pl.col("d").sum().alias("cumulative_days_in_care"))
        )
        p = (
            placements.with_columns(pl.col("end").fill_null(_days(EXTRACT_END) + 1))
            .filter((pl.col("start") <= hi) & (pl.col("end") >= lo))
            .with_columns(
                (
                    pl.min_horizontal("end", pl.lit(hi + 1))
                    - pl.max_horizontal("start", pl.lit(lo))
                ).alias("d"),
                pl.col("placement_type").replace_strict(PLACEMENT_GROUP).alias("placement_group"),
            )
            .group_by("child_id", "placement_group")
            .agg(pl.col("d").sum())
            .sort(["child_id", "d", "placement_group"], descending=[False, True, False])
            .group_by("child_id", maintain_order=True)
            .first()
            .select("child_id", "placement_group")
        )
        rows.append(
            child.select("child_id", "sid", "race")
            .join(status, on="child_id", how="left")
            .join(cum_days, on="child_id", how="left")
            .join(p, on="child_id", how="left")
            .with_columns(pl.lit(yi).alias("yi"))
        )
    t = (
        pl.concat(rows)
        .filter(pl.col("sid") >= 0)
        .with_columns(pl.col("sid").cast(pl.Int64), pl.col("yi").cast(pl.Int64))
    )
    # Only child-welfare children have anything but the defaults: find their panel rows and keep
    # compact arrays over the whole panel (a string column of 12 million rows costs 200 MB).
    at = (
        pl.DataFrame({"sid": panel["sid"], "yi": panel["yi"]})
        .with_row_index("row")
        .join(t, on=["sid", "yi"], how="inner")
    )
    n = len(panel["sid"])
    rows_ = at["row"].to_numpy()
    st_all = at["status"].fill_null("none")
    cs = np.zeros(n, dtype=np.int8)
    cs[rows_] = st_all.replace_strict(CARE_CODE, return_dtype=pl.Int8).to_numpy()
    cum = np.zeros(n, dtype=np.int32)
    cum[rows_] = at["cumulative_days_in_care"].fill_null(0).cast(pl.Int32).to_numpy()
    group = np.zeros(n, dtype=np.int8)
    group[rows_] = np.where(
        st_all.to_numpy() == "in_care",
        at["placement_group"]
        .replace_strict(GROUP_CODE, default=0, return_dtype=pl.Int8)
        .to_numpy(),
        0,
    )
    indigenous = np.zeros(n, dtype=bool)
    indigenous[rows_] = (at["race"] == "indigenous").fill_null(False).to_numpy()
    child_id = np.full(n, -1, dtype=np.int64)
    child_id[rows_] = at["child_id"].to_numpy()
    return {"care": cs, "cum": cum, "group": group, "indigenous": indigenous, "child_id": child_id}


CARE_STATUSES = ("none", "kinship_service", "ccsyp", "vysa", "in_care")  # code = index
CARE_CODE = {k: i for i, k in enumerate(CARE_STATUSES)}
GROUPS = (None, "family", "group", "other")  # code = index (0 = no placement group)
GROUP_CODE = {k: i for i, k in enumerate(GROUPS) if k is not None}


def _years_in_care(truth: dict, sel: np.ndarray | None = None) -> np.ndarray:
    cum = truth["cum"] if sel is None else truth["cum"][sel]
    # polars' division, bit for bit what the truth table holds
    return pl.select(pl.Series(cum) / 365.25).to_series().to_numpy()


def _sy_truth_frame(
    truth: dict, oen: pl.Series, school_year: pl.Series, sel: np.ndarray | None = None
) -> pl.DataFrame:
    """``student_year_truth`` for the panel rows ``sel`` (all when None)."""

    def pick(a: np.ndarray) -> np.ndarray:
        return a if sel is None else a[sel]

    cid = pl.Series(pick(truth["child_id"]))
    grp = pl.Series(pick(truth["group"]).astype(np.int64))
    cum = pick(truth["cum"])
    return pl.DataFrame(
        {
            "oen": oen,
            "school_year": school_year,
            "child_id": pl.select(pl.when(cid >= 0).then(cid)).to_series(),
            "care_status": _vocab_series("care_status", CARE_STATUSES, pick(truth["care"])),
            "cumulative_days_in_care": cum,
            "years_in_care": _years_in_care(truth, sel),
            "placement_group": pl.select(
                pl.when(grp > 0).then(pl.Series(["", *GROUPS[1:]]).gather(grp))
            ).to_series(),
            "indigenous": pick(truth["indigenous"]),
        }
    )


# --------------------------------------------------------------------------- outcomes
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


def _outcomes(
    cfg: Config, s: _Streams, panel: dict, truth: dict, boards: pl.DataFrame, people: dict
):
    rng = s.outcome
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
    gap_a = np.array([att_gap[k] for k in CARE_STATUSES], dtype=float)[cs]
    gap_c = np.array([cr_gap[k] for k in CARE_STATUSES], dtype=float)[cs]
    gidx = panel["gidx"]
    band = np.where(gidx <= 1, 0.07, np.where(gidx <= 9, 0.05, 0.07))
    year_mult = np.array([1.0, 1.0, 0.9, 1.1, 1.35, 1.25])[panel["yi"]]
    frailty = rng.gamma(2.5, 1 / 2.5, size=len(people["birth_year"]))[panel["sid"]]
    p_abs = np.clip(band * year_mult * frailty - gap_a, 0.0, 0.9)
    days_absent = rng.binomial(panel["days_enrolled"], p_abs)
    sec = gidx >= 10
    credits = np.clip(8 + (rng.random(n) < 0.3) - rng.poisson(np.maximum(0.25 - gap_c, 0.0)), 0, 9)
    credits = np.where(sec, credits.astype(float), np.nan)
    return days_absent, credits


def _eqao(
    cfg: Config, s: _Streams, panel: dict, truth: dict, board_eff: np.ndarray, people: dict
) -> tuple[pl.DataFrame, dict]:
    rng = s.eqao
    e = cfg.effects
    gidx = panel["gidx"]
    yi = panel["yi"]
    years = list(cfg.school_years)
    eqao_years = np.array([y not in cfg.no_eqao_years for y in years])
    logit_gap = {
        "in_care": e.eqao_logodds_in_care,
        "kinship_service": e.eqao_logodds_kinship,
        "ccsyp": e.eqao_logodds_ccsyp,
        "vysa": e.eqao_logodds_vysa,
        "none": 0.0,
    }
    code = truth["care"]
    cs_none = code == CARE_CODE["none"]
    yrs_care = _years_in_care(truth)
    group = truth["group"] == GROUP_CODE["group"]
    indig = truth["indigenous"]
    care_term = (
        np.array([logit_gap[k] for k in CARE_STATUSES], dtype=float)[code]
        + e.dose_per_year_in_care * yrs_care * (code == CARE_CODE["in_care"])
        + e.group_care_extra_logodds * group
        + e.indigenous_extra_logodds * indig * (~cs_none)
    )
    g_code = people["g"][panel["sid"]]
    specs = [
        ("g3_reading", 4, "lit"),
        ("g3_writing", 4, "lit"),
        ("g3_math", 4, "math"),
        ("g6_reading", 7, "lit"),
        ("g6_writing", 7, "lit"),
        ("g6_math", 7, "math"),
        ("g9_math", 10, "math"),
        ("osslt", 11, "lit"),
    ]
    frames = []
    for name, g_idx, kind in specs:
        m = (gidx == g_idx) & eqao_years[yi]
        idx = np.flatnonzero(m)
        if len(idx) == 0:
            continue
        gsign = np.where(g_code[idx] == 0, 1.0, np.where(g_code[idx] == 1, -1.0, 0.0))
        g_eff = gsign * (0.25 if kind == "lit" else -0.05)
        off = board_eff[panel["board"][idx]] + g_eff + care_term[idx]
        y_of = yi[idx]
        stream = np.full(len(idx), None, dtype=object)
        if name == "g9_math":
            streamed = np.array([int(y[:4]) < int(cfg.eqao_baseline_break[:4]) for y in years])[
                y_of
            ]
            acad = rng.random(len(idx)) < cfg.g9_academic_share
            # Care lowers the chance of the academic stream.
            acad &= ~((~cs_none[idx]) & (rng.random(len(idx)) < 0.3))
            stream = np.where(streamed, np.where(acad, "academic", "applied"), "destreamed")
            st_code = np.where(stream == "academic", 0, np.where(stream == "applied", 1, 2))
        else:
            st_code = np.full(len(idx), 2)
        # Calibration group = "<year>|<assessment>[_<stream>]", numbered in sorted key order.
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
        part = rng.choice(4, size=len(idx), p=[0.955, 0.025, 0.012, 0.008])
        part = np.where((~cs_none[idx]) & (rng.random(len(idx)) < 0.05), 1, part)
        participated = part == 0
        base = _calibrate(off[participated], grp[participated], targets)
        p = _sigmoid(base[grp] + off)
        at = rng.random(len(idx)) < p
        level = np.where(
            at,
            np.where(rng.random(len(idx)) < 0.25, 4, 3),
            np.where(rng.random(len(idx)) < 0.2, 1, 2),
        )
        frames.append(
            pl.DataFrame(
                {
                    "row": idx,
                    "grade": np.full(len(idx), int(GRADES[g_idx]), dtype=np.int8),
                    "assessment": np.full(len(idx), name),
                    "participation": np.array(
                        ["participated", "absent", "exempt", "not_participating"]
                    )[part],
                    "level": np.where(participated & (name != "osslt"), level, -1).astype(np.int8),
                    # numpy stubs reject None as an array-like; at runtime it is an object scalar.
                    "osslt_result": np.where(  # type: ignore[call-overload]
                        participated & (name == "osslt"), np.where(at, "pass", "fail"), None
                    ).tolist(),
                    "first_time": np.ones(len(idx), dtype=bool),
                    "g9_stream": (
                        stream.astype(object) if name == "g9_math" else np.full(len(idx), None)
                    ).tolist(),
                },
                schema_overrides={"osslt_result": pl.Utf8, "g9_stream": pl.Utf8},
            )
        )
    eq = pl.concat(frames).with_columns(
        pl.when(pl.col("level") < 0).then(None).otherwise(pl.col("level")).alias("level")
    )
    return eq, {"specs": specs}


# --------------------------------------------------------------------------- noise
def _typo(rng: np.random.Generator, name: str) -> str:
    if len(name) < 3:
        return name + "e"
    i = int(rng.integers(1, len(name) - 1))
    op = int(rng.integers(0, 4))
    letters = "abcdefghijklmnopqrstuvwxyz"
    if op == 0:
        return name[:i] + letters[int(rng.integers(0, 26))] + name[i + 1 :]
    if op == 1:
        return name[:i] + name[i + 1 :]
    if op == 2:
        return name[:i] + letters[int(rng.integers(0, 26))] + name[i:]
    return (
        name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]
        if name[i] != name[i - 1]
        else name + "a"
    )


def _cw_records(
    cfg: Config,
    s: _Streams,
    child: pl.DataFrame,
    oen_of_sid: np.ndarray,
    fsas: dict,
    enrolled: np.ndarray,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = s.noise
    nz = cfg.noise
    n = child.height
    dup = rng.random(n) < nz.duplicate_cw_record
    rec_child = np.concatenate([np.arange(n), np.flatnonzero(dup)])
    is_dup = np.concatenate([np.zeros(n, bool), np.ones(int(dup.sum()), bool)])
    m = len(rec_child)
    c = child.to_dict(as_series=False)
    sid = np.array(c["sid"])[rec_child]
    first = np.array(c["first_name"], dtype=object)[rec_child]
    last = np.array(c["last_name"], dtype=object)[rec_child]
    bd = np.array(c["birth_days"])[rec_child]
    pc = np.array(c["postal_code"], dtype=object)[rec_child]
    region = np.array(c["region"])[rec_child]
    society = np.array(c["society_id"], dtype=object)[rec_child]
    # A duplicate record sits at another society 30% of the time.
    socs = unique_sorted(np.array(c["society_id"]))
    move_soc = is_dup & (rng.random(m) < 0.3)
    society[move_soc] = rng.choice(socs, size=int(move_soc.sum()))
    has_student = sid >= 0
    true_oen = np.where(has_student, oen_of_sid[np.maximum(sid, 0)], -1)
    noise: list[list[str]] = [[] for _ in range(m)]

    def mark(mask: np.ndarray, label: str) -> None:
        for i in np.flatnonzero(mask):
            noise[i].append(label)

    # OEN: missing, wrong (another student's), or present and right.
    oen = true_oen.copy()
    missing = rng.random(m) < nz.oen_missing
    wrong = (
        (~missing) & (rng.random(m) < nz.oen_wrong / max(1e-9, 1 - nz.oen_missing)) & has_student
    )
    # A wrong OEN belongs to another enrolled student (never the child's own).
    other = enrolled[rng.integers(0, len(enrolled), size=m)]
    other = np.where(
        other == sid, enrolled[(np.searchsorted(enrolled, other) + 1) % len(enrolled)], other
    )
    oen[wrong] = oen_of_sid[other[wrong]]
    # Children with no student record: mostly no OEN; some carry a valid OEN unknown to OnSIS.
    ns = ~has_student
    ns_oen = rng.random(m) < 0.15
    fake = _oens(rng, int(ns.sum()), exclude=oen_of_sid)
    oen[ns] = np.where(ns_oen[ns], fake, -1)
    oen[missing] = -1
    mark(missing & has_student, "oen_missing")
    mark(wrong, "oen_wrong")
    # First name: typo or nickname/preferred name.
    u = rng.random(m)
    typo = u < nz.first_name_typo
    nick = (u >= nz.first_name_typo) & (u < nz.first_name_typo + nz.first_name_nickname)
    all_first = np.array(vocab.FIRST_NAMES_F + vocab.FIRST_NAMES_M, dtype=object)
    for i in np.flatnonzero(typo):
        first[i] = _typo(rng, first[i])
    for i in np.flatnonzero(nick):
        opts = vocab.NICKNAMES.get(first[i])
        first[i] = (
            opts[int(rng.integers(0, len(opts)))]
            if opts
            else all_first[int(rng.integers(0, len(all_first)))]
        )
    mark(typo & has_student, "first_name_typo")
    mark(nick & has_student, "first_name_nickname")
    # Surname changed, hyphenated or order swapped.
    sur, sur_p = vocab.surname_vocabulary()
    sch = rng.random(m) < nz.surname_changed
    for i in np.flatnonzero(sch):
        cur = str(last[i])
        if "-" in cur and rng.random() < 0.5:
            a, b = cur.split("-", 1)
            last[i] = f"{b}-{a}"
        elif rng.random() < 0.4:
            last[i] = f"{cur}-{sur[rng.choice(len(sur), p=sur_p)]}"
        else:
            last[i] = str(sur[rng.choice(len(sur), p=sur_p)])
    mark(sch & has_student, "surname_changed")
    # Date of birth: day-month swap (only where it makes a different valid date) or off by one.
    dates = np.array([EPOCH + dt.timedelta(days=int(x)) for x in bd])
    swappable = np.array([d.day <= 12 and d.day != d.month for d in dates])
    share = max(swappable.mean(), 1e-9)
    swap = swappable & (rng.random(m) < min(1.0, nz.dob_day_month_swap / share))
    off = (~swap) & (rng.random(m) < nz.dob_off_by_one)
    new_bd = bd.copy()
    for i in np.flatnonzero(swap):
        d = dates[i]
        new_bd[i] = _days(dt.date(d.year, d.day, d.month))
    by_year = rng.random(m) < 0.3
    sign = rng.choice([-1, 1], size=m)
    for i in np.flatnonzero(off):
        d = dates[i]
        if by_year[i]:
            try:
                new_bd[i] = _days(d.replace(year=d.year + int(sign[i])))
            except ValueError:  # 29 February
                new_bd[i] = bd[i] + 365 * int(sign[i])
        else:
            new_bd[i] = bd[i] + int(sign[i])
    # A shifted date never lands after the extract end (a record cannot predate the birth).
    late = new_bd > _days(EXTRACT_END)
    new_bd[late] = bd[late] - (new_bd[late] - bd[late])
    mark(swap & has_student, "dob_day_month_swap")
    mark(off & has_student, "dob_off_by_one")
    # Postal code out of date (a different address, usually in the same region).
    outdated = rng.random(m) < nz.postal_code_outdated
    reg2 = np.where(rng.random(m) < 0.8, region, rng.integers(0, 5, size=m))
    newpc = _postal_codes(rng, reg2, fsas)
    pc = np.where(outdated, newpc, pc)
    mark(outdated & has_student, "postal_code_outdated")
    mark(is_dup & has_student, "duplicate_record")
    # Record ids: shuffled so that an id says nothing about duplicates.
    perm = rng.permutation(m)
    rec_id = np.empty(m, dtype=object)
    for rank, i in enumerate(perm):
        rec_id[i] = f"CW{rank + 1:07d}"
    rec = pl.DataFrame(
        {
            "cw_record_id": rec_id.astype(str),
            "child_id": rec_child,
            "is_duplicate": is_dup,
            "society_id": society.astype(str),
            "first_name": first.astype(str),
            "last_name": last.astype(str),
            "birth_days": new_bd,
            "oen_int": oen,
            "postal_code": pc.astype(str),
            "true_oen_int": true_oen,
            "noise": [",".join(x) for x in noise],
        }
    )
    return rec, child


def _cases(cfg: Config, s: _Streams, societies: pl.DataFrame) -> pl.DataFrame:
    rng = s.cases
    soc = societies["society_id"].to_numpy()
    w = societies["size_weight"].to_numpy()
    w = w / w.sum()
    per_year = max(200, int(cfg.size.cw_children * 1.6))
    rows = []
    fy0 = int(cfg.school_years[0][:4])
    soc_shift = rng.normal(0, 0.03, size=len(soc))
    for k in range(len(cfg.school_years)):
        lo, hi = _days(dt.date(fy0 + k, 4, 1)), _days(dt.date(fy0 + k + 1, 3, 31))
        for kind, n_k, p_rec in (
            ("investigation", per_year, 0.15),
            ("ongoing_protection", per_year // 5, 0.185),
        ):
            si = rng.choice(len(soc), size=n_k, p=w)
            closed = rng.integers(lo, hi + 1, size=n_k)
            p = np.clip(p_rec + soc_shift[si], 0.01, 0.9)
            within = rng.random(n_k) < p
            later = (~within) & (rng.random(n_k) < 0.25)
            days = np.where(
                within,
                rng.integers(1, 366, size=n_k),
                np.where(later, rng.integers(366, 1500, size=n_k), -1),
            )
            rec = closed + days
            has = (days > 0) & (rec <= _days(EXTRACT_END))
            rows.append(
                pl.DataFrame(
                    {
                        "society_id": soc[si],
                        "case_kind": kind,
                        "closed_days": closed,
                        "recurrence_days": np.where(has, rec, -1),
                        "recurrence_verified": np.where(has, rng.random(n_k) < 0.4, False),
                        "has": has,
                    }
                )
            )
    df = pl.concat(rows)
    order = np.argsort(rng.random(df.height))
    df = df[order]
    return (
        df.with_columns(
            pl.format("CASE{}", pl.int_range(1, df.height + 1).cast(pl.Utf8).str.zfill(8)).alias(
                "case_id"
            ),
            pl.from_epoch(pl.col("closed_days"), time_unit="d").alias("closed_date"),
            pl.when(pl.col("has"))
            .then(pl.from_epoch(pl.col("recurrence_days"), time_unit="d"))
            .otherwise(None)
            .alias("recurrence_date"),
            pl.when(pl.col("has"))
            .then(pl.col("recurrence_verified"))
            .otherwise(None)
            .alias("recurrence_verified"),
        )
        .select(
            "case_id",
            "society_id",
            "case_kind",
            "closed_date",
            "recurrence_date",
            "recurrence_verified",
        )
        .sort("case_id")
    )


def _onlac(cfg: Config, s: _Streams, child: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    rng = s.cases
    fy0 = int(cfg.school_years[0][:4])
    rows = []
    e = (
        episodes.filter(pl.col("service_type").is_in(list(SERVICE_IN_CARE)))
        .with_columns(pl.col("end").fill_null(_days(EXTRACT_END) + 1))
        .join(child.select("child_id", "birth_days"), on="child_id")
    )
    for k in range(len(cfg.school_years)):
        at = _days(dt.date(fy0 + k, 10, 1))
        sel = e.filter((pl.col("start") + 365 <= at) & (pl.col("end") > at)).with_columns(
            ((at - pl.col("birth_days")) / 365.25).floor().alias("age")
        )
        sel = sel.filter((pl.col("age") >= 10) & (pl.col("age") <= 17))
        if sel.height:
            rows.append(
                sel.select("child_id", "ep").with_columns(
                    pl.lit(at).alias("at"),
                    pl.Series("jitter", rng.integers(0, 150, size=sel.height)),
                )
            )
    df = (
        pl.concat(rows)
        if rows
        else pl.DataFrame(
            schema={"child_id": pl.Int64, "ep": pl.UInt32, "at": pl.Int32, "jitter": pl.Int64}
        )
    )
    items = rng.choice(3, size=(df.height, 4), p=[0.05, 0.25, 0.70])
    return df.with_columns(
        [pl.Series(f"item_{j + 1}", items[:, j].astype(np.int8)) for j in range(4)]
    ).with_columns((pl.col("at") + pl.col("jitter")).alias("assessment_days"))


# --------------------------------------------------------------------------- assembly
@dataclass
class _Sim:
    """A simulated province: the small tables, and compact arrays for the two big ones."""

    frames: dict[str, pl.DataFrame]  # every table except onsis_enrolment and student_year_truth
    people: dict
    panel: dict
    truth: dict
    oen_of_sid: np.ndarray
    days_absent: np.ndarray
    credits: np.ndarray
    board_ids: np.ndarray
    fsas: dict
    school_years: tuple[str, ...]

    def n_rows(self) -> int:
        return len(self.panel["sid"])

    def year_rows(self, yi: int) -> np.ndarray:
        """Panel rows of school year ``yi`` (the panel is ordered by year)."""
        lo, hi = np.searchsorted(self.panel["yi"], [yi, yi + 1])
        return np.arange(lo, hi)

    def onsis(self, sel: np.ndarray | None = None) -> pl.DataFrame:
        """``onsis_enrolment`` rows ``sel`` of the panel (all when None), built column by column
        from integer codes (no numpy string or object arrays of millions of rows)."""
        panel, people = self.panel, self.people

        def pick(a: np.ndarray) -> np.ndarray:
            return a if sel is None else a[sel]

        sid = pick(panel["sid"]).astype(np.int64)
        board = pick(panel["board"]).astype(np.int64)
        # School ids: a vocabulary over (board, level, number), gathered by code.
        n_no = int(panel["school_no"].max()) + 1 if len(panel["school_no"]) else 1
        b_, lev_, no_ = np.meshgrid(
            np.arange(len(self.board_ids)), np.arange(2), np.arange(n_no), indexing="ij"
        )
        school_vocab = np.char.add(
            np.char.add(
                self.board_ids[b_.ravel()].astype(str), np.where(lev_.ravel() == 1, "-S", "-E")
            ),
            np.char.zfill(no_.ravel().astype(str), 3),
        )
        school_code = (board * 2 + pick(panel["secondary"]).astype(np.int64)) * n_no + pick(
            panel["school_no"]
        ).astype(np.int64)
        return pl.DataFrame(
            [
                _fmt_oen(self.oen_of_sid[sid]).alias("oen"),
                _vocab_series("first_name", people["first_vocab"], people["first"][sid]),
                _last_name_series("last_name", people, sid),
                pl.Series("birth_date", people["birth_days"][sid]).cast(pl.Date),
                _vocab_series("gender", GENDERS, people["g"][sid]),
                _postal_series("postal_code", pick(panel["pc"]), self.fsas),
                _vocab_series("board_id", self.board_ids, board),
                _vocab_series("school_id", school_vocab, school_code),
                _vocab_series("school_year", self.school_years, pick(panel["yi"])),
                _vocab_series("grade", GRADES, pick(panel["gidx"])),
                pl.Series("days_enrolled", pick(panel["days_enrolled"]).astype(np.int16)),
                pl.Series("days_absent", pick(self.days_absent).astype(np.int16)),
                pl.Series("credits_earned", pick(self.credits).astype(np.float64)),
            ]
        ).with_columns(pl.col("credits_earned").fill_nan(None))

    def student_year_truth(self, sel: np.ndarray | None = None) -> pl.DataFrame:
        """``student_year_truth`` rows ``sel`` of the panel (all when None)."""
        sid = self.panel["sid"] if sel is None else self.panel["sid"][sel]
        yi = self.panel["yi"] if sel is None else self.panel["yi"][sel]
        return _sy_truth_frame(
            self.truth,
            _fmt_oen(self.oen_of_sid[sid]).alias("oen"),
            _vocab_series("school_year", self.school_years, yi),
            sel,
        )


def generate_frames(cfg: Config) -> dict[str, pl.DataFrame]:
    """Generate every table in memory.

    Returns
    -------
    dict
        ``reference/boards``, ``reference/societies``, ``sources/<name>`` for the six identifiable
        tables and ``truth/person_truth``, ``truth/student_year_truth``; see the data contract.
    """
    sim = simulate(cfg)
    out = dict(sim.frames)
    out["sources/onsis_enrolment"] = sim.onsis()
    out["truth/student_year_truth"] = sim.student_year_truth()
    order = [
        "reference/boards",
        "reference/societies",
        "sources/onsis_enrolment",
        "sources/eqao_results",
        "sources/cpin_persons",
        "sources/cpin_services",
        "sources/cpin_placements",
        "sources/cpin_cases",
        "sources/cpin_onlac",
        "truth/person_truth",
        "truth/student_year_truth",
    ]
    return {k: out[k] for k in order}


def simulate(cfg: Config) -> _Sim:
    """Run the simulation; the two tables of one row per student-year stay as compact arrays
    (:meth:`_Sim.onsis`, :meth:`_Sim.student_year_truth` build them, whole or by school year)."""
    s = _Streams.from_seed(cfg.seed)
    boards, societies, fsas = _reference(s.ref)
    people = _population(cfg, s, boards, fsas)
    panel = _panel(cfg, s, people, boards)
    n_people = len(people["birth_year"])
    oen_of_sid = _oens(s.pop, n_people)
    child, episodes, placements = _child_welfare(cfg, s, people, panel, societies, fsas)
    truth = _student_year_truth(cfg, panel, child, episodes, placements)
    board_eff = s.outcome.normal(0, 0.25, size=boards.height)
    days_absent, credits = _outcomes(cfg, s, panel, truth, boards, people)
    eq, _ = _eqao(cfg, s, panel, truth, board_eff, people)
    records, child = _cw_records(cfg, s, child, oen_of_sid, fsas, unique_sorted(panel["sid"]))
    # What the big tables still need of the people; the rest is freed.
    people = {
        k: people[k]
        for k in ("first", "first_vocab", "sur1", "sur2", "surnames", "g", "birth_days")
    }
    panel.pop("ids", None)
    # Compact integer types for the arrays of one entry per student-year (12 million at province).
    for k, t in (
        ("sid", np.int32),
        ("yi", np.int8),
        ("gidx", np.int8),
        ("board", np.int16),
        ("pc", np.int32),
        ("school_no", np.int16),
        ("days_enrolled", np.int16),
    ):
        panel[k] = panel[k].astype(t)
    days_absent = days_absent.astype(np.int16)
    credits = credits.astype(np.float32)  # whole numbers 0-9 or NaN: exact in float32

    sid, yi = panel["sid"], panel["yi"]
    board_ids = boards["board_id"].to_numpy()
    rows = eq["row"].to_numpy()
    eqao = eq.with_columns(
        _fmt_oen(oen_of_sid[sid[rows]]).alias("oen"),
        _vocab_series("school_year", cfg.school_years, yi[rows]),
        _vocab_series("board_id", board_ids, panel["board"][rows]),
    ).select(
        "oen",
        "school_year",
        "board_id",
        "grade",
        "assessment",
        "participation",
        "level",
        "osslt_result",
        "first_time",
        "g9_stream",
    )
    del eq, rows

    def _date(col: str) -> pl.Expr:
        return pl.from_epoch(pl.col(col), time_unit="d")

    persons = (
        records.join(
            child.select(
                "child_id",
                "gender_identity",
                "race",
                "born_outside_canada",
                "first_language",
                "human_trafficking_risk",
            ),
            on="child_id",
        )
        .select(
            "cw_record_id",
            "society_id",
            "first_name",
            "last_name",
            _date("birth_days").alias("birth_date"),
            pl.when(pl.col("oen_int") >= 0)
            .then(pl.col("oen_int").cast(pl.Utf8).str.zfill(9))
            .otherwise(None)
            .alias("oen"),
            "postal_code",
            "gender_identity",
            "race",
            "born_outside_canada",
            "first_language",
            "human_trafficking_risk",
        )
        .sort("cw_record_id")
    )
    # Episodes belong to the child's first record; a duplicate record holds the child's later
    # episode when there is more than one.
    first_rec = records.filter(~pl.col("is_duplicate")).select(
        "child_id", "cw_record_id", "society_id"
    )
    dup_rec = records.filter(pl.col("is_duplicate")).select(
        "child_id", pl.col("cw_record_id").alias("dup_id"), pl.col("society_id").alias("dup_soc")
    )
    ep_rank = episodes.with_columns(pl.col("start").rank("ordinal").over("child_id").alias("k"))
    services = (
        ep_rank.join(first_rec, on="child_id")
        .join(dup_rec, on="child_id", how="left")
        .with_columns(
            pl.when((pl.col("k") > 1) & pl.col("dup_id").is_not_null())
            .then(pl.col("dup_id"))
            .otherwise(pl.col("cw_record_id"))
            .alias("cw_record_id"),
            pl.when((pl.col("k") > 1) & pl.col("dup_id").is_not_null())
            .then(pl.col("dup_soc"))
            .otherwise(pl.col("society_id"))
            .alias("society_id"),
            pl.format("EP{}", (pl.col("ep") + 1).cast(pl.Utf8).str.zfill(8)).alias("episode_id"),
        )
    )
    placements_out = (
        placements.join(services.select("ep", "episode_id", "cw_record_id", "society_id"), on="ep")
        .sort(["episode_id", "start"])
        .with_columns(
            pl.format("PL{}", pl.int_range(1, pl.len() + 1).cast(pl.Utf8).str.zfill(8)).alias(
                "placement_id"
            ),
        )
        .select(
            "placement_id",
            "episode_id",
            "cw_record_id",
            "society_id",
            "placement_type",
            _date("start").alias("start_date"),
            _date("end").alias("end_date"),
        )
    )
    services_out = services.select(
        "episode_id",
        "cw_record_id",
        "society_id",
        "service_type",
        _date("start").alias("start_date"),
        _date("end").alias("end_date"),
    ).sort("episode_id")
    onlac = _onlac(cfg, s, child, episodes).join(
        services.select("ep", "cw_record_id", "society_id"), on="ep"
    )
    onlac = (
        onlac.sort(["cw_record_id", "assessment_days"])
        .with_columns(
            pl.format("OL{}", pl.int_range(1, pl.len() + 1).cast(pl.Utf8).str.zfill(8)).alias(
                "assessment_id"
            ),
        )
        .select(
            "assessment_id",
            "cw_record_id",
            "society_id",
            _date("assessment_days").alias("assessment_date"),
            "item_1",
            "item_2",
            "item_3",
            "item_4",
        )
    )
    cases = _cases(cfg, s, societies)
    person_truth = (
        records.join(child.select("child_id", "no_student_reason"), on="child_id")
        .select(
            "cw_record_id",
            "child_id",
            pl.when(pl.col("true_oen_int") >= 0)
            .then(pl.col("true_oen_int").cast(pl.Utf8).str.zfill(9))
            .otherwise(None)
            .alias("true_oen"),
            "no_student_reason",
            "noise",
        )
        .sort("cw_record_id")
    )
    frames = {
        "reference/boards": boards.drop("size_weight"),
        "reference/societies": societies.drop("size_weight"),
        "sources/eqao_results": eqao,
        "sources/cpin_persons": persons,
        "sources/cpin_services": services_out,
        "sources/cpin_placements": placements_out,
        "sources/cpin_cases": cases,
        "sources/cpin_onlac": onlac,
        "truth/person_truth": person_truth,
    }
    return _Sim(
        frames=frames,
        people=people,
        panel=panel,
        truth=truth,
        oen_of_sid=oen_of_sid,
        days_absent=days_absent,
        credits=credits,
        board_ids=board_ids,
        fsas=fsas,
        school_years=tuple(cfg.school_years),
    )


def _checked(schemas: Any, name: str, df: pl.DataFrame) -> pl.DataFrame:
    schemas.validate_source(name, df, f"<generated {name}>")
    return df


def _write_parquet_chunks(chunks: Iterator[pl.DataFrame], path: Path) -> int:
    """Write frames of one schema into one parquet file, chunk by chunk; return the row count.

    The same settings as :func:`analysis.io.write_parquet` (zstd, no statistics, row groups of at
    most a million rows), so the same data gives the same bytes.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    import pyarrow.parquet as pq

    writer = None
    rows = 0
    # One writer thread: chunk k is compressed and written (pyarrow releases the GIL) while chunk
    # k + 1 is being built; at most one chunk waits, so memory stays at about two chunks.
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            for df in chunks:
                table = df.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(
                        path, table.schema, compression="zstd", write_statistics=False
                    )
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write_table, table, row_group_size=1_000_000)
                rows += df.height
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                pending.exception()  # wait for the last write before closing the file
            if writer is not None:
                writer.close()
    return rows


class _ParquetColumns:
    """A parquet file seen as ``.columns`` and ``[column]`` (one column in memory at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns = list(pl.read_parquet_schema(path))

    def __getitem__(self, col: str) -> pl.Series:
        return pl.read_parquet(self.path, columns=[col]).to_series()


def generate(cfg: Config) -> StageResult:
    """Generate the synthetic province and write it under ``cfg.paths.data_dir``.

    Each folder (``sources``, ``truth``, ``reference``) is written to a staging folder and swapped
    in whole, so an interrupted run leaves the previous data intact. The two tables of one row
    per student-year are built, checked and written one at a time and dropped, so the provincial
    scale stays within a few GiB.
    """
    from analysis.domain import schemas  # local: schemas import pandera (slow to import)
    from analysis.synthetic import codebook

    sim = simulate(cfg)
    result = StageResult(stage="generate")
    folders = ("reference", "sources", "truth")
    with contextlib.ExitStack() as stack:
        tmp = {f: stack.enter_context(atomic_dir(cfg.paths.data_dir / f)) for f in folders}

        def put(key: str, df: pl.DataFrame) -> None:
            folder, name = key.split("/")
            write_parquet(df, tmp[folder] / f"{name}.parquet")
            result.rows[f"{name} out"] = df.height

        for key in ("reference/boards", "reference/societies"):
            put(key, sim.frames[key])
        # The two tables of one row per student-year are built, checked and written one school
        # year at a time (their keys include the year), so neither is ever whole in memory.
        years = range(len(sim.school_years))
        onsis_path = tmp["sources"] / "onsis_enrolment.parquet"
        result.rows["onsis_enrolment out"] = _write_parquet_chunks(
            (_checked(schemas, "onsis_enrolment", sim.onsis(sim.year_rows(yi))) for yi in years),
            onsis_path,
        )
        sources: dict[str, Any] = {"sources/onsis_enrolment": _ParquetColumns(onsis_path)}
        for key, df in sim.frames.items():
            if key.startswith("sources/"):
                _checked(schemas, key.split("/")[1], df)
                put(key, df)
                sources[key] = df
        codebook.write_codebook(tmp["sources"], sources, cfg)
        result.metrics["students"] = len(unique_sorted(sim.panel["sid"]))
        put("truth/person_truth", sim.frames["truth/person_truth"])
        result.rows["student_year_truth out"] = _write_parquet_chunks(
            (sim.student_year_truth(sim.year_rows(yi)) for yi in years),
            tmp["truth"] / "student_year_truth.parquet",
        )
        write_json(planted_effects(cfg), tmp["truth"] / "planted_effects.json")
    result.outputs.extend(cfg.paths.data_dir / f for f in folders)
    result.metrics["cw_children"] = sim.frames["truth/person_truth"]["child_id"].n_unique()
    return result


def read_source(cfg: Config, name: str) -> pl.DataFrame:
    """Read one identifiable source (only linkage and deidentify may call this)."""
    return pl.read_parquet(Path(cfg.paths.sources) / f"{name}.parquet")


__all__ = [
    "generate",
    "generate_frames",
    "planted_effects",
    "school_year_bounds",
    "read_source",
    "json",
]
