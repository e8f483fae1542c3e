"""Child-welfare records with identifier noise: what the societies hold about each child.

Each child has a record (some two, the second often at another society); each record's OEN,
names, birth date and postal code are spoiled at the configured rates (``Config.noise``,
BRIEF.md s.8). The truth kept with each record names the child, the true OEN and the kinds of
noise applied (``person_truth.noise``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from analysis.config import Config, Noise
from analysis.domain import names
from analysis.domain.dates import EPOCH, EXTRACT_END, days_since_epoch
from analysis.synthetic.codes import unique_sorted
from analysis.synthetic.oens import issue_oens
from analysis.synthetic.postal import postal_codes

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def cw_records(
    cfg: Config,
    rng: np.random.Generator,
    child: pl.DataFrame,
    oen_of_sid: np.ndarray,
    fsas: dict,
    enrolled: np.ndarray,
) -> pl.DataFrame:
    """One row per child-welfare record: its id, child, society and (noisy) identifiers.

    ``oen_int`` and ``true_oen_int`` are integers (-1 = none); ``noise`` lists the kinds of
    noise applied to a student's record, comma-separated, in a fixed order.
    """
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
    oen, missing, wrong, unenrolled = _noisy_oens(rng, nz, sid, true_oen, oen_of_sid, enrolled)
    typo, nick = _noisy_first_names(rng, nz, first)
    sch = _changed_surnames(rng, nz, last)
    new_bd, swap, off = _noisy_birth_dates(rng, nz, bd)
    # Postal code out of date (a different address, usually in the same region).
    outdated = rng.random(m) < nz.postal_code_outdated
    reg2 = np.where(rng.random(m) < 0.8, region, rng.integers(0, 5, size=m))
    newpc = postal_codes(rng, reg2, fsas)
    pc = np.where(outdated, newpc, pc)
    noise = _noise_labels(
        has_student,
        [
            (missing, "oen_missing"),
            (wrong, "oen_wrong"),
            (unenrolled, "oen_unenrolled"),
            (typo, "first_name_typo"),
            (nick, "first_name_nickname"),
            (sch, "surname_changed"),
            (swap, "dob_day_month_swap"),
            (off, "dob_off_by_one"),
            (outdated, "postal_code_outdated"),
            (is_dup, "duplicate_record"),
        ],
    )
    # a child with no student record: how its record resembles an enrolled child's
    hard = np.array(c["hard_case"], dtype=object)[rec_child] if "hard_case" in c else None
    for i in np.flatnonzero(~has_student):
        labels = [str(hard[i])] if hard is not None and hard[i] else []
        if oen[i] >= 0:
            labels.append("valid_oen_of_no_student")
        noise[i] = ",".join(labels)
    return pl.DataFrame(
        {
            "cw_record_id": _record_ids(rng, m).astype(str),
            "child_id": rec_child,
            "is_duplicate": is_dup,
            "society_id": society.astype(str),
            "first_name": first.astype(str),
            "last_name": last.astype(str),
            "birth_days": new_bd,
            "oen_int": oen,
            "postal_code": pc.astype(str),
            "true_oen_int": true_oen,
            "noise": noise,
        }
    )


def _noisy_oens(
    rng: np.random.Generator,
    nz: Noise,
    sid: np.ndarray,
    true_oen: np.ndarray,
    oen_of_sid: np.ndarray,
    enrolled: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(oen, missing, wrong, unenrolled)``: each record's OEN (-1 = none): missing, wrong
    (another student's), valid but no student's (``Noise.oen_unenrolled``), or present and
    right; a child with no student record mostly has none, and sometimes
    (``Noise.no_student_valid_oen``) a valid OEN unknown to OnSIS."""
    m = len(sid)
    has_student = sid >= 0
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
    ns = ~has_student
    ns_oen = rng.random(m) < nz.no_student_valid_oen
    fake = issue_oens(rng, int(ns.sum()), exclude=oen_of_sid)
    oen[ns] = np.where(ns_oen[ns], fake, -1)
    unenrolled = np.zeros(m, bool)
    if nz.oen_unenrolled > 0:  # drawn last: at a rate of 0 every other draw is as before
        rate = nz.oen_unenrolled / max(1e-9, 1 - nz.oen_missing - nz.oen_wrong)
        unenrolled = (~missing) & (~wrong) & has_student & (rng.random(m) < rate)
        oen[unenrolled] = issue_oens(
            rng, int(unenrolled.sum()), exclude=np.concatenate([oen_of_sid, fake])
        )
    oen[missing] = -1
    return oen, missing, wrong, unenrolled


def _typo(rng: np.random.Generator, name: str) -> str:
    """``name`` with one letter replaced, dropped, inserted or swapped with the one before."""
    if len(name) < 3:
        return name + "e"
    i = int(rng.integers(1, len(name) - 1))
    op = int(rng.integers(0, 4))
    if op == 0:
        return name[:i] + LETTERS[int(rng.integers(0, 26))] + name[i + 1 :]
    if op == 1:
        return name[:i] + name[i + 1 :]
    if op == 2:
        return name[:i] + LETTERS[int(rng.integers(0, 26))] + name[i:]
    return (
        name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]
        if name[i] != name[i - 1]
        else name + "a"
    )


def _noisy_first_names(
    rng: np.random.Generator, nz: Noise, first: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Give some first names (in place) a typo, others a nickname or preferred name; return the
    two masks."""
    m = len(first)
    u = rng.random(m)
    typo = u < nz.first_name_typo
    nick = (u >= nz.first_name_typo) & (u < nz.first_name_typo + nz.first_name_nickname)
    all_first = np.array(names.FIRST_NAMES_F + names.FIRST_NAMES_M, dtype=object)
    for i in np.flatnonzero(typo):
        first[i] = _typo(rng, first[i])
    for i in np.flatnonzero(nick):
        opts = names.NICKNAMES.get(first[i])
        first[i] = (
            opts[int(rng.integers(0, len(opts)))]
            if opts
            else all_first[int(rng.integers(0, len(all_first)))]
        )
    return typo, nick


def _changed_surnames(rng: np.random.Generator, nz: Noise, last: np.ndarray) -> np.ndarray:
    """Change some surnames (in place): hyphenated order swapped, a surname added or a new
    surname; return the mask."""
    sur, sur_p = names.surname_vocabulary()
    sch = rng.random(len(last)) < nz.surname_changed
    for i in np.flatnonzero(sch):
        cur = str(last[i])
        if "-" in cur and rng.random() < 0.5:
            a, b = cur.split("-", 1)
            last[i] = f"{b}-{a}"
        elif rng.random() < 0.4:
            last[i] = f"{cur}-{sur[rng.choice(len(sur), p=sur_p)]}"
        else:
            last[i] = str(sur[rng.choice(len(sur), p=sur_p)])
    return sch


def _noisy_birth_dates(
    rng: np.random.Generator, nz: Noise, bd: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(birth_days, swap, off)``: birth dates with day and month swapped (only where that makes
    a different valid date) or off by one day or one year, never after the extract end."""
    m = len(bd)
    dates = np.array([EPOCH + dt.timedelta(days=int(x)) for x in bd])
    swappable = np.array([d.day <= 12 and d.day != d.month for d in dates])
    share = max(swappable.mean(), 1e-9)
    swap = swappable & (rng.random(m) < min(1.0, nz.dob_day_month_swap / share))
    off = (~swap) & (rng.random(m) < nz.dob_off_by_one)
    new_bd = bd.copy()
    for i in np.flatnonzero(swap):
        d = dates[i]
        new_bd[i] = days_since_epoch(dt.date(d.year, d.day, d.month))
    by_year = rng.random(m) < 0.3
    sign = rng.choice([-1, 1], size=m)
    for i in np.flatnonzero(off):
        d = dates[i]
        if by_year[i]:
            try:
                new_bd[i] = days_since_epoch(d.replace(year=d.year + int(sign[i])))
            except ValueError:  # 29 February
                new_bd[i] = bd[i] + 365 * int(sign[i])
        else:
            new_bd[i] = bd[i] + int(sign[i])
    # A shifted date never lands after the extract end (a record cannot predate the birth).
    late = new_bd > days_since_epoch(EXTRACT_END)
    new_bd[late] = bd[late] - (new_bd[late] - bd[late])
    return new_bd, swap, off


def _noise_labels(has_student: np.ndarray, kinds: list[tuple[np.ndarray, str]]) -> list[str]:
    """Per record, the labels of ``kinds`` whose mask is set, comma-separated in that order
    (only for records of students: the truth of the others is their missing student record)."""
    noise: list[list[str]] = [[] for _ in range(len(has_student))]
    for mask, label in kinds:
        for i in np.flatnonzero(mask & has_student):
            noise[i].append(label)
    return [",".join(x) for x in noise]


def _record_ids(rng: np.random.Generator, m: int) -> np.ndarray:
    """Record ids ``CW0000001``..., shuffled so that an id says nothing about duplicates."""
    perm = rng.permutation(m)
    rec_id = np.empty(m, dtype=object)
    for rank, i in enumerate(perm):
        rec_id[i] = f"CW{rank + 1:07d}"
    return rec_id
