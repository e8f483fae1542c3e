"""De-identification: identifiable sources + links -> the analytic dataset.

The only stage besides ``linkage`` that reads ``sources/``; its output ``analytic/`` holds no name,
birth date, postal code, OEN or source record id (docs/data-contract.md).

Pseudonyms
    ``study_id`` = HMAC-SHA256(key, "oen:" + OEN), ``cw_study_id`` = HMAC(key, "cw_person:" + id),
    ``case_study_id`` = HMAC(key, "case:" + id), hashed ``school_id`` = HMAC(key, "school:" + id);
    hex, first 32 characters. The domain prefixes keep one identifier space from colliding with
    another. The key comes from the environment variable ``privacy.key_env`` or the file
    ``privacy.key_file``; for synthetic builds (``privacy.synthetic_dev_key``) a development key
    is derived from the seed when none is given, and labelled as such. Only a fingerprint
    (HMAC of a fixed label) leaves this module.
Coarsening
    Birth date -> ``birth_year`` and ``age_sept1``; postal code -> ``region`` (first letter);
    event dates -> school or fiscal years and day counts. The non-identifying reference tables
    (``boards``, ``societies``) are copied into ``analytic/`` so later stages read only that.
Re-identification risk: quasi-identifiers
    The attacker is assumed to know what a neighbour, teacher or relative knows: a child's birth
    year, gender, region and race, and (for child-welfare persons) the society serving them and
    their gender identity. So ``student_years`` is measured per school year on ``QI_STUDENT``
    (birth-year band, gender, region, race group, gender identity), with distinct l-diversity
    of ``care_status`` in classes holding any child-welfare service; ``cw_persons`` on
    ``QI_CW`` (society or its region, birth-year band, gender identity, race). Not enforced,
    and said so in ``risk.json``: ``born_outside_canada`` and ``first_language`` (measured as
    ``student_years_supplementary``), ``board_id``, hashed ``school_id`` and ``grade``; and
    the join of tables through ``study_id`` / ``cw_study_id`` (each table is measured alone).
Re-identification risk: the hierarchy
    Generalise before suppressing, least analytically useful first (:func:`generalise`):

    ``student_years``
        1. global: race -> ``race_group`` (indigenous, black, white, other_racialized,
           not_stated; a missing race of a child-welfare-involved student is not_stated);
        2. global: gender identity -> girl_woman, boy_man, gender_diverse, not_stated;
        3. local: region -> Ontario;
        4. local: birth year -> 3-year band -> 6-year band (``birth_year_band``; ``birth_year``
           and ``age_sept1`` stay only where the band is a single year);
        5. local suppression in ``SUPPRESSION_ORDER`` (birth-year band first: grade carries
           most of its analytic value), then the last-resort class merge of :func:`enforce_k`.
    ``cw_persons``
        1. global: gender identity -> 4 groups; 2. local: society -> its region;
        3. local: race -> race group; 4. local: birth year -> 3-year band; 5. local: region
        -> Ontario; 6. local: birth year -> 6-year band; 7. local suppression in
        ``SUPPRESSION_ORDER_CW``.

    "Local" steps touch only records (all rows of the same student) in classes still below
    ``k`` or ``l``, so most of the population keeps full detail. ``race`` in ``student_years``
    holds the grouped value (same as ``race_group``); ``indigenous`` is derived from the
    detailed race and is null wherever race is suppressed. ``risk.json`` records the method,
    every step with the number of values it changed, the suppression counts, the measures
    before and after, and the utility kept (shares of child-welfare-involved rows keeping each
    dimension).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.config import Config, Privacy
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.stages import StageResult

log = logging.getLogger(__name__)

EXTRACT_END = dt.date(2023, 8, 31)
MIN_KEY_BYTES = 32
IN_CARE = ("extended_society_care", "interim_society_care", "customary_care")
CARE_PRIORITY = {"in_care": 4, "vysa": 3, "ccsyp": 2, "kinship_service": 1}
PLACEMENT_GROUP = {
    "foster_home": "family",
    "kin_in_care_home": "family",
    "customary_care_home": "family",
    "adoption_probation": "family",
    "group_home": "group",
    "independent_living": "other",
    "hospital_mental_health": "other",
    "youth_justice": "other",
}
REGION_OF_LETTER = {"M": "Toronto", "K": "East", "L": "Central", "N": "Southwest", "P": "North"}
PROVINCE = "Ontario"
# race (Ontario Data Standards categories) -> race_group; group values map to themselves so the
# mapping also applies to a column already holding groups; a missing race is "not_stated"
RACE_GROUP = {
    "indigenous": "indigenous",
    "black": "black",
    "white": "white",
    "east_asian": "other_racialized",
    "latino": "other_racialized",
    "middle_eastern": "other_racialized",
    "south_asian": "other_racialized",
    "southeast_asian": "other_racialized",
    "another_race": "other_racialized",
    "prefer_not_to_answer": "not_stated",
    "other_racialized": "other_racialized",
    "not_stated": "not_stated",
}
GENDER_IDENTITY_GROUP = {
    "girl_woman": "girl_woman",
    "boy_man": "boy_man",
    "non_binary_two_spirit": "gender_diverse",
    "another_identity": "gender_diverse",
    "gender_diverse": "gender_diverse",
    "not_stated": "not_stated",
}
# birth-year bands: aligned on multiples of the width, so a 6-year band is the union of two
# 3-year bands (the hierarchy nests)
BIRTH_YEAR_BANDS = (3, 6)
QI_STUDENT = ("birth_year_band", "gender", "region", "race_group", "gender_identity")
QI_CW = ("society_area", "birth_year_band", "gender_identity", "race")
# local suppression, after the hierarchy: which quasi-identifiers to blank first for records
# still in too-small classes (least analytically useful first)
SUPPRESSION_ORDER = ("birth_year_band", "gender_identity", "region", "gender", "race_group")
SUPPRESSION_ORDER_CW = ("birth_year_band", "society_area", "gender_identity", "race")
# published with the record but not enforced (measured in risk.json as "supplementary")
QI_STUDENT_EXTRA = ("born_outside_canada", "first_language")
# non-identifying reference tables, copied into analytic/ so later stages read only that folder
REFERENCE = ("boards", "societies")
SOURCES = (
    "onsis_enrolment",
    "eqao_results",
    "cpin_persons",
    "cpin_services",
    "cpin_placements",
    "cpin_cases",
    "cpin_onlac",
)


class DeidentifyError(ValueError):
    """The stage cannot run safely (missing key, missing input, ...)."""


# --------------------------------------------------------------------------------- keys
@dataclass(frozen=True)
class StudyKey:
    """The secret key for pseudonyms; ``repr`` never shows it."""

    secret: bytes
    source: str  # "environment", "file" or "synthetic development key (derived from the seed)"

    def __repr__(self) -> str:
        return f"StudyKey(source={self.source!r}, fingerprint={self.fingerprint()!r})"

    @property
    def is_development(self) -> bool:
        return self.source.startswith("synthetic")

    def fingerprint(self) -> str:
        """HMAC of a fixed label: identifies the key in the manifest without revealing it."""
        return hmac.new(self.secret, b"analysis study-key fingerprint v1", "sha256").hexdigest()[
            :16
        ]


def load_key(privacy: Privacy, seed: int) -> StudyKey:
    """The study key from ``privacy.key_env`` or ``privacy.key_file`` (or a development key).

    Raises
    ------
    DeidentifyError
        When no key is given and development keys are not allowed, when the key file is missing,
        or when the key is shorter than 32 bytes. The message never contains the key.
    """
    raw: bytes | None = None
    source = ""
    env = os.environ.get(privacy.key_env)
    if env:
        raw, source = env.encode("utf-8"), "environment"
    elif privacy.key_file is not None:
        p = Path(privacy.key_file)
        if not p.is_file():
            raise DeidentifyError(f"{p}: study key file not found (privacy.key_file)")
        raw, source = p.read_bytes().rstrip(b"\r\n"), "file"
    if raw is None:
        if not privacy.synthetic_dev_key:
            raise DeidentifyError(
                f"no study key: set the environment variable {privacy.key_env} or "
                "privacy.key_file (at least 32 bytes); real data needs a secret key "
                "(privacy.synthetic_dev_key is false)"
            )
        raw = hashlib.sha256(f"analysis synthetic development key, seed {seed}".encode()).digest()
        source = "synthetic development key (derived from the seed)"
    if len(raw) < MIN_KEY_BYTES:
        where = privacy.key_env if source == "environment" else str(privacy.key_file)
        raise DeidentifyError(
            f"study key from {source} ({where}) is {len(raw)} bytes; at least "
            f"{MIN_KEY_BYTES} are required (rule: privacy key length)"
        )
    return StudyKey(raw, source)


def _hmac_digests(key: StudyKey, domain: str, values: list[str]) -> bytes:
    """The first 16 bytes of HMAC-SHA256(key, ``domain + ":" + value``) of each value, joined.

    HMAC (RFC 2104) computed with hashlib: the inner and outer SHA-256 states after the key's
    padded blocks (and the domain prefix) are computed once and copied per value, which is what
    ``hmac`` does too, minus its per-value Python object.
    """
    k = key.secret if len(key.secret) <= 64 else hashlib.sha256(key.secret).digest()
    k = k.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in k))
    inner.update(f"{domain}:".encode())
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in k))
    inner_copy, outer_copy = inner.copy, outer.copy

    def one(v: str) -> bytes:
        i = inner_copy()
        i.update(v.encode())
        o = outer_copy()
        o.update(i.digest())
        return o.digest()[:16]

    return b"".join(map(one, values))


def _hex(digests: bytes, name: str = "hmac") -> pl.Series:
    """16-byte digests (joined) -> their 32-character lower-case hex strings."""
    return pl.Series(name, np.frombuffer(digests.hex().encode(), dtype="S32")).cast(pl.String)


def _hmac_hex(key: StudyKey, domain: str, values: list[str]) -> pl.Series:
    """HMAC-SHA256 hex (first 32 characters) of ``domain + ":" + value`` for each value."""
    return _hex(_hmac_digests(key, domain, values))


def pseudonym(key: StudyKey, values: pl.Series, domain: str) -> pl.Series:
    """HMAC-SHA256 (hex, 32 characters) of each value, in the identifier space ``domain``.

    Nulls stay null. Computed once per distinct value.
    """
    uniq = values.drop_nulls().unique().cast(pl.String)
    hashed = _hmac_hex(key, domain, uniq.to_list())
    return values.cast(pl.String).replace_strict(uniq, hashed, default=None, return_dtype=pl.String)


# --------------------------------------------------------------------------------- coarsening
def region_of_postal(col: str = "postal_code") -> pl.Expr:
    """Postal code -> region by its first letter (M Toronto, K East, L Central, N Southwest,
    P North; anything else null)."""
    return (
        pl.col(col)
        .str.slice(0, 1)
        .str.to_uppercase()
        .replace_strict(REGION_OF_LETTER, default=None, return_dtype=pl.String)
    )


def postal_area(df: pl.DataFrame, min_children: int, col: str = "postal_code") -> pl.Series:
    """FSA where every FSA kept holds at least ``min_children`` distinct rows, else the region.

    Small FSAs fall back to their region, so no published FSA describes fewer than
    ``min_children`` children (``privacy.min_fsa_children``).
    """
    fsa = df[col].str.slice(0, 3).str.to_uppercase()
    counts = fsa.value_counts()
    big = set(counts.filter(pl.col("count") >= min_children)[fsa.name].to_list())
    reg = df.select(region_of_postal(col)).to_series()
    return pl.Series("area", [f if f in big else r for f, r in zip(fsa, reg, strict=True)])


def fiscal_year(col: str) -> pl.Expr:
    """Date -> fiscal year string ``"2017-18"`` (1 April - 31 March)."""
    y = pl.col(col).dt.year() - (pl.col(col).dt.month() < 4).cast(pl.Int32)
    return _year_label(y)


def _year_label(y: pl.Expr) -> pl.Expr:
    return pl.format("{}-{}", y, ((y + 1) % 100).cast(pl.String).str.zfill(2))


def _sy_bounds(sy: str) -> tuple[dt.date, dt.date]:
    y = int(sy[:4])
    return dt.date(y, 9, 1), dt.date(y + 1, 6, 30)


# --------------------------------------------------------------------------------- risk
def measure_risk(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    by: tuple[str, ...] = (),
    sensitive: str | None = None,
    involved: str | None = None,
) -> dict[str, Any]:
    """k-anonymity and distinct l-diversity of ``df`` on the quasi-identifiers ``qis``.

    Implemented with a polars group-by (equivalence class = ``by`` + ``qis``, nulls as their own
    value): the maintained library that fits (pyCANON) works on pandas and is not a dependency;
    :func:`measure_risk_pycanon` cross-checks when it is installed.

    Returns
    -------
    dict
        ``k`` (smallest class), ``classes``, ``classes_below`` per threshold is left to the caller;
        ``l`` (fewest distinct ``sensitive`` values in a class holding any ``involved`` row).
    """
    return _measure(df, qis, by, sensitive, involved)


def measure_risk_pycanon(df: pl.DataFrame, qis: tuple[str, ...], sensitive: str) -> dict[str, int]:
    """The same measures with pyCANON (``anonymity.k_anonymity`` / ``l_diversity``), if installed.

    Raises
    ------
    ImportError
        When pyCANON is not installed.
    """
    from pycanon import anonymity

    pdf = df.select([*qis, sensitive]).fill_null("<null>").to_pandas()
    return {
        "k": int(anonymity.k_anonymity(pdf, list(qis))),
        "l": int(anonymity.l_diversity(pdf, list(qis), [sensitive])),
    }


def _as_string(col: str, dtype: pl.DataType) -> pl.Expr:
    """``col`` with a categorical encoding undone (other dtypes unchanged)."""
    return pl.col(col).cast(pl.String) if isinstance(dtype, pl.Categorical) else pl.col(col)


# Generalisation works on the distinct row "states" (every column the classes, the steps and the
# measures read), each with its row count, plus one state index per row: the group-bys run over a
# few thousand states instead of every row, and a step or a suppression moves rows between states
# with integer arrays. Only the entity rule (a value changed in one row of a student is changed
# in all of that student's rows) needs a pass over the rows, as one integer gather per step.
_DENSE_SCATTER_MAX = 1 << 26  # key spaces up to this size are made dense by a lookup table


def _dense(key: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """``key`` (ints in ``[0, space)``) renumbered ``0..n-1`` (in increasing key order)."""
    if space <= _DENSE_SCATTER_MAX:
        present = np.zeros(space, dtype=bool)
        present[key] = True
        remap = np.cumsum(present, dtype=np.int64) - 1
        return remap[key], int(remap[-1]) + 1 if space else 0
    uniq, inv = np.unique(key, return_inverse=True)
    return inv.astype(np.int64).ravel(), int(uniq.size)


def _codes(s: pl.Series) -> tuple[np.ndarray, int]:
    """Dense integer codes of ``s``: equal values (null included) share a code."""
    dtype = s.dtype
    if (
        isinstance(dtype, (pl.Categorical, pl.Enum))
        or dtype == pl.Boolean
        or dtype.is_integer()
        or dtype.is_temporal()
    ):
        phys = s.to_physical()
    else:  # strings, floats, ...: dense rank (nulls stay null)
        phys = s.rank("dense")
    if phys.len() == 0:
        return np.zeros(0, dtype=np.int64), 0
    if phys.dtype == pl.Boolean:
        phys = phys.cast(pl.UInt8)
    lo, hi = phys.min(), phys.max()
    if lo is None:  # all null
        return np.zeros(phys.len(), dtype=np.int64), 1
    if phys.null_count():  # nulls one below the smallest value
        phys = phys.cast(pl.Int64).fill_null(int(lo) - 1)  # type: ignore[arg-type]
        lo = int(lo) - 1  # type: ignore[arg-type]
    arr = phys.to_numpy()
    if int(lo) >= 0 and int(hi) < _DENSE_SCATTER_MAX:  # type: ignore[arg-type]
        return _dense(arr, int(hi) + 1)  # type: ignore[arg-type]
    return _dense(arr.astype(np.int64) - int(lo), int(hi) - int(lo) + 1)  # type: ignore[arg-type]


def _row_codes(df: pl.DataFrame, cols: list[str]) -> tuple[np.ndarray, int]:
    """One dense code per row of ``df`` for the combination of ``cols`` (nulls as values)."""
    key = np.zeros(df.height, dtype=np.int64)
    n = 1
    for c in cols:
        code, card = _codes(df[c])
        if n * card > _DENSE_SCATTER_MAX:  # renumber only when the key space grows too large
            key, n = _dense(key, n)
        key = key * card + code
        n *= card
    return _dense(key, n)


class _Coded:
    """A frame as distinct states (``states``) and a state index per row (``row_state``).

    Rows move between states by index arrays (:meth:`move`); row counts per state are kept up to
    date as they move. ``states`` may hold a state no row is in any more (count 0) and the same
    values twice: every measure groups the live states by value.
    """

    def __init__(self, df: pl.DataFrame, cols: list[str], entity: str | None) -> None:
        self.n_rows = df.height
        self.row_state, n = _row_codes(df, cols)
        rep = np.zeros(n, dtype=np.int64)
        rep[self.row_state] = np.arange(df.height)  # any row of a state represents it
        self.states = df.select(cols)[rep]
        self._counts = np.bincount(self.row_state, minlength=n)
        self.ent: np.ndarray | None = None
        if entity:
            s = df[entity]
            # a null entity is in no entity: a step never reaches it through another row
            ent, n_ent = _codes(s)
            null_code = int(ent[s.is_null().arg_true()[0]]) if s.null_count() else -1
            self.ent = np.where(ent == null_code, -1, ent) if null_code >= 0 else ent
            # rows of each entity: perm[off[e]:off[e + 1]] (no sort when already grouped)
            self.perm = (
                None
                if np.all(self.ent[1:] >= self.ent[:-1])
                else np.argsort(self.ent, kind="stable")
            )
            ordered = self.ent if self.perm is None else self.ent[self.perm]
            self.off = np.searchsorted(ordered, np.arange(n_ent + 1), side="left")

    def counts(self) -> np.ndarray:
        return self._counts

    def alive(self) -> tuple[pl.DataFrame, np.ndarray]:
        """(states with rows, their row counts)."""
        keep = np.flatnonzero(self._counts)
        return self.states[keep], self._counts[keep]

    def bad_states(
        self, keys: list[str], k: int, sensitive: str | None, involved: str | None, l_div: int
    ) -> np.ndarray:
        """Boolean per state: its class is below ``k``, or (holding involved rows) below ``l_div``
        distinct ``sensitive`` values."""
        cnt = self._counts
        alive = cnt > 0
        if keys:
            cls, n_cls = _row_codes(self.states, keys)
        else:
            cls, n_cls = np.zeros(self.states.height, dtype=np.int64), 1
        n = np.bincount(cls, weights=cnt, minlength=n_cls)
        bad = n < k
        if sensitive and involved:
            inv = self.states[involved].fill_null(False).to_numpy().astype(bool) & alive
            inv_c = np.bincount(cls, weights=inv, minlength=n_cls) > 0
            sc, n_sc = _codes(self.states[sensitive])
            pair, _ = _dense(cls[alive] * n_sc + sc[alive], n_cls * n_sc)
            first = np.zeros(int(pair.max()) + 1 if pair.size else 0, dtype=np.int64)
            first[pair] = cls[alive]
            n_unique = np.bincount(first, minlength=n_cls)
            bad |= inv_c & (n_unique < l_div)
        return bad[cls] & alive

    def rows_in(self, states: np.ndarray) -> np.ndarray:
        """Indices of the rows in the states flagged by ``states`` (boolean per state)."""
        if not states.any():
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(states[self.row_state])

    def rows_of_entities(self, rows: np.ndarray) -> np.ndarray:
        """Indices of every row of the entities holding a row in ``rows`` (sorted; a row without
        an entity is in none)."""
        assert self.ent is not None
        ents = np.unique(self.ent[rows])
        ents = ents[ents >= 0]
        start, end = self.off[ents], self.off[ents + 1]
        size = end - start
        pos = np.repeat(start - np.cumsum(size) + size, size) + np.arange(int(size.sum()))
        out = pos if self.perm is None else self.perm[pos]
        return np.sort(out)

    def move(self, rows: np.ndarray, new: dict[str, pl.Series]) -> None:
        """Give ``rows`` (indices) the values ``new`` (per state: the value a moved row of that
        state takes): each state a row leaves gets a copy with the new values."""
        if rows.size == 0:
            return
        n = self.states.height
        old = self.row_state[rows]
        moving = np.flatnonzero(np.bincount(old, minlength=n))
        add = self.states[moving].with_columns(
            s.gather(pl.Series(moving)).alias(c) for c, s in new.items()
        )
        trans = np.full(n, -1, dtype=np.int64)
        trans[moving] = n + np.arange(moving.size)
        self.row_state[rows] = trans[old]
        self.states = pl.concat([self.states, add])
        self._counts = np.concatenate([self._counts, np.zeros(moving.size, dtype=np.int64)])
        self._counts -= np.bincount(old, minlength=self._counts.size)
        self._counts += np.bincount(trans[old], minlength=self._counts.size)

    def column(self, col: str) -> pl.Series:
        """``col`` per row."""
        return self.states[col][self.row_state]


def _measure(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    by: tuple[str, ...],
    sensitive: str | None,
    involved: str | None,
    weight: pl.Series | np.ndarray | None = None,
) -> dict[str, Any]:
    """:func:`measure_risk` of ``df``, each row standing for ``weight`` rows (default 1)."""
    keys = [*by, *qis]
    w = pl.lit(1, dtype=pl.Int64) if weight is None else pl.Series("_w", weight, dtype=pl.Int64)
    rows = df.height if weight is None else int(np.sum(weight))
    if rows == 0:
        return {"k": None, "l": None, "classes": 0, "rows": 0}
    g = (
        df.with_columns(w.alias("_w"))
        .group_by(keys)
        .agg(
            pl.col("_w").sum().alias("n"),
            *([pl.col(sensitive).n_unique().alias("l")] if sensitive else []),
            *([pl.col(involved).any().alias("inv")] if involved else []),
        )
    )
    out: dict[str, Any] = {
        "rows": rows,
        "classes": g.height,
        "k": int(g["n"].min()),  # type: ignore[arg-type]
        "quasi_identifiers": list(qis),
        "per": list(by),
    }
    if sensitive:
        gl = g.filter(pl.col("inv")) if involved else g
        out["l"] = int(gl["l"].min()) if gl.height else None  # type: ignore[arg-type]
        out["sensitive"] = sensitive
    return out


def _measure_coded(
    c: _Coded,
    qis: tuple[str, ...],
    by: tuple[str, ...] = (),
    sensitive: str | None = None,
    involved: str | None = None,
) -> dict[str, Any]:
    states, cnt = c.alive()
    return _measure(states, qis, by, sensitive, involved, cnt)


def _merge_into_blank(
    c: _Coded,
    qis: tuple[str, ...],
    by: tuple[str, ...],
    k: int,
    sensitive: str | None,
    involved: str | None,
    l_div: int,
) -> tuple[np.ndarray, int]:
    """The last resort of :func:`enforce_k`: rows to blank on every quasi-identifier.

    While any class is below ``k`` (or, holding an ``involved`` row, below ``l_div`` distinct
    ``sensitive`` values), the failing class with fewest rows (else, when only blank classes
    fail, the smallest class) is merged into the blank class of its partition (``by``): its
    rows, with every row of the same entity, lose all their quasi-identifiers. Ties go to the
    class seen first (in row order). Class sizes are kept as counts and updated per merge.

    Returns
    -------
    (ndarray, int)
        Boolean per row (blank it), and the number of rows in the merged classes.
    """
    keys = [*by, *qis]
    n_rows = c.n_rows
    hit = np.zeros(n_rows, dtype=bool)
    if n_rows == 0 or not c.bad_states(keys, k, sensitive, involved, l_div).any():
        return hit, 0
    cnt_s = c.counts()
    # classes numbered in the order their first row appears
    first = pl.Series(c.row_state).arg_unique().to_numpy()
    first_row = np.full(c.states.height, n_rows, dtype=np.int64)
    first_row[c.row_state[first]] = first
    code, n_code = _row_codes(c.states, keys) if keys else (np.zeros(c.states.height, np.int64), 1)
    code_first = np.full(n_code, n_rows, dtype=np.int64)
    np.minimum.at(code_first, code, first_row)
    present = np.flatnonzero(code_first < n_rows)
    rank = np.full(n_code, -1, dtype=np.int64)
    rank[present[np.argsort(code_first[present], kind="stable")]] = np.arange(present.size)
    cls_of_state = rank[code]  # -1 for states without rows
    n_cls = present.size
    rep_state = np.zeros(n_cls, dtype=np.int64)
    live = np.flatnonzero(cls_of_state >= 0)
    rep_state[cls_of_state[live]] = live
    cls = c.states[rep_state].select(keys)
    is_blank = cls.select(pl.all_horizontal([pl.col(q).is_null() for q in qis])).to_series()
    # blank class of each partition (a new class where the partition has none yet)
    if by:
        parts = cls.select(by).unique(maintain_order=True).with_row_index("_p")
        part = cls.select(by).join(
            parts, on=list(by), how="left", nulls_equal=True, maintain_order="left"
        )
        part_of_cls = part["_p"].to_numpy().astype(np.int64)
    else:
        part_of_cls = np.zeros(n_cls, dtype=np.int64)
    n_part = int(part_of_cls.max()) + 1
    blank_of_part = np.full(n_part, -1, dtype=np.int64)
    blank_idx = np.flatnonzero(is_blank.to_numpy())
    blank_of_part[part_of_cls[blank_idx]] = blank_idx
    missing = np.flatnonzero(blank_of_part < 0)
    blank_of_part[missing] = n_cls + np.arange(missing.size)
    n_all = n_cls + missing.size
    blank_cls = np.zeros(n_all, dtype=bool)
    blank_cls[blank_of_part] = True
    # per class and sensitive value: row counts (a null sensitive value is a value of its own)
    if sensitive and involved:
        sc, n_sc = _codes(c.states[sensitive])
        inv = c.states[involved].fill_null(False).to_numpy().astype(np.int64)
    else:
        sc, n_sc = np.zeros(c.states.height, dtype=np.int64), 1
        inv = np.zeros(c.states.height, dtype=np.int64)
    cnt = np.zeros((n_all, n_sc), dtype=np.int64)
    np.add.at(cnt, (cls_of_state[live], sc[live]), cnt_s[live])
    inv_n = np.zeros(n_all, dtype=np.int64)
    np.add.at(inv_n, cls_of_state[live], inv[live] * cnt_s[live])
    cid = cls_of_state[c.row_state]
    blank_of_row = blank_of_part[part_of_cls][cid]
    merged = 0
    order_id = np.arange(n_all)
    for _ in range(n_rows):
        n_c = cnt.sum(axis=1)
        bad = (n_c > 0) & (n_c < k)
        if sensitive and involved:
            bad |= (n_c > 0) & (inv_n > 0) & ((cnt > 0).sum(axis=1) < l_div)
        if not bad.any():
            break
        cand = np.flatnonzero((n_c > 0) & ~blank_cls)
        if cand.size == 0:
            break
        t = cand[np.lexsort((order_id[cand], n_c[cand], ~bad[cand]))[0]]
        rows = np.flatnonzero(cid == t)
        merged += rows.size
        if c.ent is not None:
            rows = np.union1d(rows[c.ent[rows] < 0], c.rows_of_entities(rows))
        rows = rows[cid[rows] != blank_of_row[rows]]
        dest = blank_of_row[rows]
        hit[rows] = True
        s_rows = c.row_state[rows]
        np.subtract.at(cnt, (cid[rows], sc[s_rows]), 1)
        np.add.at(cnt, (dest, sc[s_rows]), 1)
        np.subtract.at(inv_n, cid[rows], inv[s_rows])
        np.add.at(inv_n, dest, inv[s_rows])
        cid[rows] = dest
    return hit, merged


def _suppress_coded(
    c: _Coded,
    qis: tuple[str, ...],
    k: int,
    by: tuple[str, ...],
    sensitive: str | None,
    involved: str | None,
    l_div: int,
    order: tuple[str, ...],
) -> dict[str, Any]:
    """:func:`enforce_k` on a coded frame (``c`` is changed in place)."""
    keys = [*by, *qis]
    report: dict[str, Any] = {"suppressed_values": {}}
    for col in [q for q in order if q in qis]:
        bad = c.bad_states(keys, k, sensitive, involved, l_div)
        if not bad.any():
            break
        rows = c.rows_in(bad)
        if c.ent is not None:
            rows = c.rows_of_entities(rows)
        notnull = c.states[col].is_not_null().to_numpy()
        rows = rows[notnull[c.row_state[rows]]]
        report["suppressed_values"][col] = int(rows.size)
        c.move(rows, {col: pl.Series(col, [None] * c.states.height, c.states.schema[col])})
    # last resort: records blanked on every quasi-identifier form one class per partition; while
    # that class is too small, merge the smallest remaining class into it
    hit, merged = _merge_into_blank(c, qis, by, k, sensitive, involved, l_div)
    if merged:
        n = c.states.height
        c.move(
            np.flatnonzero(hit),
            {q: pl.Series(q, [None] * n, c.states.schema[q]) for q in qis if q not in by},
        )
    report["rows_merged_into_blank_class"] = merged
    bad = c.bad_states(keys, k, sensitive, involved, l_div)
    report["rows_in_classes_below_threshold"] = int(c.counts()[bad].sum())
    report["holds"] = not bool(bad.any())
    return report


def _generalise_coded(
    c: _Coded,
    qis: tuple[str, ...],
    steps: tuple[Step, ...],
    k: int,
    by: tuple[str, ...],
    sensitive: str | None,
    involved: str | None,
    l_div: int,
    order: tuple[str, ...],
) -> dict[str, Any]:
    """:func:`generalise` on a coded frame (``c`` is changed in place)."""
    keys = [*by, *qis]
    done: list[dict[str, Any]] = []
    for st in steps:
        dtype = c.states.schema[st.column]
        new = c.states.with_columns(st.value.cast(dtype).alias("_new"))["_new"]  # broadcast
        old = c.states[st.column]
        changes = (old.is_not_null() & new.is_not_null() & (new != old).fill_null(True)).to_numpy()
        if st.scope == "global":
            rows = c.rows_in(changes)
        else:
            rows = c.rows_in(c.bad_states(keys, k, sensitive, involved, l_div))
            if c.ent is not None:
                rows = c.rows_of_entities(rows)
            rows = rows[changes[c.row_state[rows]]]
        changed = int(rows.size)
        c.move(rows, {st.column: new})
        bad = c.bad_states(keys, k, sensitive, involved, l_div)
        cnt = c.counts()
        done.append(
            {
                "step": st.name,
                "column": st.column,
                "scope": st.scope,
                "values_changed": changed,
                "k_after": _measure_coded(c, qis, by)["k"] or 0 if c.n_rows else None,
                "rows_below_threshold_after": int(cnt[bad].sum()),
            }
        )
    sup = _suppress_coded(c, qis, k, by, sensitive, involved, l_div, order)
    return {"steps": done, "suppression": sup, "holds": sup["holds"]}


def enforce_k(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    k: int,
    by: tuple[str, ...] = (),
    sensitive: str | None = None,
    involved: str | None = None,
    l_div: int = 1,
    order: tuple[str, ...] = SUPPRESSION_ORDER,
    entity: str | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Generalise ``df`` until every class has ``k`` rows (and ``l_div`` distinct sensitive values).

    Local suppression: the rows in failing classes have their quasi-identifiers blanked one at a
    time in ``order``. With ``entity`` (e.g. ``study_id``), a value blanked in one row of an
    entity is blanked in all its rows, so the entity's other rows cannot restore it.

    Returns
    -------
    (DataFrame, report)
        Report: per quasi-identifier the number of rows blanked, and whether the thresholds hold.
    """
    c = _coded(df, qis, by, sensitive, involved, entity=entity)
    report = _suppress_coded(c, qis, k, by, sensitive, involved, l_div, order)
    return df.with_columns(c.column(q) for q in qis if q not in by), report


# --------------------------------------------------------------------------------- hierarchy
@dataclass(frozen=True)
class Step:
    """One level of a generalisation hierarchy.

    ``value`` computes the generalised value of ``column`` for every row (from columns that stay
    unchanged, e.g. the original birth year); the step writes it to the rows it applies to:
    every row (``scope="global"``, a recoding by policy) or only the rows of classes still
    below the thresholds (``scope="local"``, with all rows of the same entity). Rows whose
    ``column`` is null keep null (unknown stays unknown). ``value`` must be computed row by row
    (it is evaluated once per distinct combination of the columns it reads).
    """

    name: str
    column: str
    value: pl.Expr
    scope: str = "local"  # "global" | "local"


def birth_year_band(year: pl.Expr, width: int) -> pl.Expr:
    """Birth year -> ``"2004-2006"`` (bands aligned on multiples of ``width``); ``"2005"`` for 1."""
    if width == 1:
        return year.cast(pl.String)
    lo = (year.cast(pl.Int32) // width) * width
    return pl.format("{}-{}", lo, lo + width - 1)


def generalise(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    steps: tuple[Step, ...],
    k: int,
    by: tuple[str, ...] = (),
    sensitive: str | None = None,
    involved: str | None = None,
    l_div: int = 1,
    order: tuple[str, ...] = SUPPRESSION_ORDER,
    entity: str | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Generalise along ``steps`` (in order), then locally suppress what still fails.

    Each step is applied, then the classes are measured again; local steps touch only the rows
    (entities) of classes below ``k`` (or below ``l_div`` distinct ``sensitive`` values among
    classes holding an ``involved`` row). Only when every step is spent does
    :func:`enforce_k` blank the residual rows' quasi-identifiers in ``order``.

    Returns
    -------
    (DataFrame, report)
        Report: ``steps`` (per step: column, scope, values changed, k and rows below the
        thresholds after it), ``suppression`` (the :func:`enforce_k` report) and ``holds``.
    """
    c = _coded(df, qis, by, sensitive, involved, steps, entity)
    report = _generalise_coded(c, qis, steps, k, by, sensitive, involved, l_div, order)
    changed = dict.fromkeys([*(st.column for st in steps), *(q for q in qis if q not in by)])
    return df.with_columns(c.column(col) for col in changed), report


def _coded(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    by: tuple[str, ...],
    sensitive: str | None,
    involved: str | None,
    steps: tuple[Step, ...] = (),
    entity: str | None = None,
    keep: tuple[str, ...] = (),
) -> _Coded:
    """``df`` coded on every column the classes, ``steps`` and measures read (and ``keep``)."""
    cols = [
        *by,
        *qis,
        *(st.column for st in steps),
        *(c for st in steps for c in st.value.meta.root_names()),
        *keep,
        *(c for c in (sensitive, involved) if c),
    ]
    return _Coded(df, list(dict.fromkeys(cols)), entity)


# --------------------------------------------------------------------------------- policy
STUDENT_YEAR_COLUMNS = (
    "study_id",
    "school_year",
    "board_id",
    "school_id",
    "grade",
    "gender",
    "birth_year",
    "birth_year_band",
    "age_sept1",
    "region",
    "days_enrolled",
    "days_absent",
    "credits_earned",
    "care_status",
    "ever_in_care",
    "cw_involved",
    "society_id",
    "cumulative_days_in_care",
    "placement_group",
    "race",
    "race_group",
    "indigenous",
    "born_outside_canada",
    "first_language",
    "gender_identity",
    "link_probability",
    "link_pass",
)
CW_PERSON_COLUMNS = (
    "cw_study_id",
    "society_id",
    "society_region",
    "birth_year",
    "birth_year_band",
    "gender_identity",
    "race",
    "race_group",
    "indigenous",
    "born_outside_canada",
    "first_language",
    "human_trafficking_risk",
    "linked",
    "study_id",
)
# the published columns on which cw_persons classes are measured (society_id + society_region
# carry exactly the information of the internal ``society_area``)
QI_CW_PUBLISHED = ("society_id", "society_region", "birth_year_band", "gender_identity", "race")


def _recode(col: str, mapping: dict[str, str]) -> pl.Expr:
    return pl.col(col).replace_strict(mapping, default=None, return_dtype=pl.String)


def student_year_steps() -> tuple[Step, ...]:
    """The ``student_years`` hierarchy, least analytically useful generalisation first."""
    return (
        Step("race -> race_group", "race_group", _recode("race_group", RACE_GROUP), "global"),
        Step(
            "gender_identity -> 4 groups",
            "gender_identity",
            _recode("gender_identity", GENDER_IDENTITY_GROUP),
            "global",
        ),
        Step("region -> province", "region", pl.lit(PROVINCE)),
        *(
            Step(
                f"birth_year -> {w}-year band",
                "birth_year_band",
                birth_year_band(pl.col("birth_year"), w),
            )
            for w in BIRTH_YEAR_BANDS
        ),
    )


def cw_person_steps(societies: pl.DataFrame) -> tuple[Step, ...]:
    """The ``cw_persons`` hierarchy, least analytically useful generalisation first."""
    region = dict(zip(societies["society_id"], societies["region"], strict=True))
    w3, w6 = BIRTH_YEAR_BANDS
    by = pl.col("birth_year")
    return (
        Step(
            "gender_identity -> 4 groups",
            "gender_identity",
            _recode("gender_identity", GENDER_IDENTITY_GROUP),
            "global",
        ),
        Step("society -> its region", "society_area", _recode("society_area", region)),
        Step("race -> race_group", "race", _recode("race", RACE_GROUP)),
        Step(f"birth_year -> {w3}-year band", "birth_year_band", birth_year_band(by, w3)),
        Step("region -> province", "society_area", pl.lit(PROVINCE)),
        Step(f"birth_year -> {w6}-year band", "birth_year_band", birth_year_band(by, w6)),
    )


RISK_METHOD: dict[str, Any] = {
    "threat": (
        "an attacker who knows a child's birth year, gender, region and race (and, for child-"
        "welfare persons, the society serving them and their gender identity) looks for the "
        "child's record; a class is the set of records sharing those published values"
    ),
    "student_years": {
        "per": ["school_year"],
        "quasi_identifiers": list(QI_STUDENT),
        "sensitive": "care_status (l-diversity in classes holding any child-welfare service)",
        "hierarchy": [
            "global: race -> race_group (indigenous, black, white, other_racialized, not_stated)",
            "global: gender_identity -> girl_woman, boy_man, gender_diverse, not_stated",
            "local: region -> Ontario",
            "local: birth year -> 3-year band -> 6-year band",
            "then local suppression in order: " + ", ".join(SUPPRESSION_ORDER),
        ],
        "not_enforced": (
            "born_outside_canada, first_language (measured as student_years_supplementary); "
            "board_id, hashed school_id and grade (grade follows birth year for most students)"
        ),
    },
    "cw_persons": {
        "quasi_identifiers": list(QI_CW_PUBLISHED),
        "hierarchy": [
            "global: gender_identity -> 4 groups",
            "local: society -> its region",
            "local: race -> race_group",
            "local: birth year -> 3-year band",
            "local: region -> Ontario",
            "local: birth year -> 6-year band",
            "then local suppression in order: " + ", ".join(SUPPRESSION_ORDER_CW),
        ],
    },
}


def _share(df: pl.DataFrame, expr: pl.Expr) -> float | None:
    return round(float(df.select(expr.fill_null(False).mean()).item()), 4) if df.height else None


def student_year_utility(sy: pl.DataFrame) -> dict[str, Any]:
    """Shares of child-welfare-involved student-years keeping each equity/QI dimension."""
    cw = sy.filter(pl.col("cw_involved"))
    return {
        "rows": cw.height,
        "race_group_kept": _share(cw, pl.col("race_group").is_not_null()),
        "gender_identity_kept": _share(cw, pl.col("gender_identity").is_not_null()),
        "birth_year_band_kept": _share(cw, pl.col("birth_year_band").is_not_null()),
        "birth_year_exact": _share(cw, pl.col("birth_year").is_not_null()),
        "region_kept": _share(cw, pl.col("region").is_not_null() & (pl.col("region") != PROVINCE)),
        "gender_kept": _share(cw, pl.col("gender").is_not_null()),
    }


def cw_person_utility(cw: pl.DataFrame) -> dict[str, Any]:
    """Shares of child-welfare persons keeping each dimension."""
    return {
        "rows": cw.height,
        "birth_year_band_kept": _share(cw, pl.col("birth_year_band").is_not_null()),
        "birth_year_exact": _share(cw, pl.col("birth_year").is_not_null()),
        "gender_identity_kept": _share(cw, pl.col("gender_identity").is_not_null()),
        "race_kept": _share(cw, pl.col("race").is_not_null()),
        "race_detailed": _share(
            cw,
            pl.col("race").is_not_null()
            & ~pl.col("race").is_in(["other_racialized", "not_stated"]),
        ),
        "society_id_kept": _share(cw, pl.col("society_id").is_not_null()),
        "society_region_kept": _share(
            cw, pl.col("society_region").is_not_null() & (pl.col("society_region") != PROVINCE)
        ),
    }


# --------------------------------------------------------------------------------- derivation
# the two large sources are scanned (only the columns used are read), the rest read whole
BIG_SOURCES = ("onsis_enrolment", "eqao_results")
_PERSON_COLUMNS = (
    "cw_record_id",
    "society_id",
    "birth_date",
    "gender_identity",
    "race",
    "born_outside_canada",
    "first_language",
    "human_trafficking_risk",
)


def _read_inputs(cfg: Config) -> tuple[dict[str, pl.DataFrame], dict[str, pl.LazyFrame]]:
    src = cfg.paths.sources
    frames: dict[str, pl.DataFrame] = {}
    big: dict[str, pl.LazyFrame] = {}
    for name in SOURCES:
        p = src / f"{name}.parquet"
        if not p.is_file():
            raise DeidentifyError(f"{p}: source file not found (run generate/validate first)")
        if name in BIG_SOURCES:
            big[name] = pl.scan_parquet(p)
        elif name == "cpin_persons":  # names, OEN and postal code are not used
            frames[name] = pl.read_parquet(p, columns=list(_PERSON_COLUMNS))
        else:
            frames[name] = pl.read_parquet(p)
    links = cfg.paths.linkage / "links.parquet"
    if not links.is_file():
        raise DeidentifyError(f"{links}: links file not found (run linkage first)")
    frames["links"] = pl.read_parquet(links)
    for name in REFERENCE:
        p = cfg.paths.reference / f"{name}.parquet"
        if not p.is_file():
            raise DeidentifyError(f"{p}: reference table not found (run generate first)")
        frames[name] = pl.read_parquet(p)
    dup = frames["links"]["cw_record_id"].is_duplicated().sum()
    if dup:
        raise DeidentifyError(
            f"{links}: column cw_record_id: {dup} rows repeat a record (rule: one row per record)"
        )
    return frames, big


def _sink_parquet(lf: pl.LazyFrame, path: Path) -> Path:
    """Stream ``lf`` to ``path`` with the options of :func:`analysis.io.write_parquet` (the same
    frame gives the same bytes either way); the frame is never materialised whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lf.sink_parquet(path, compression="zstd", statistics=False, row_group_size=1_000_000)
    return path


def _end_or_extract(col: str = "end_date") -> pl.Expr:
    """Exclusive end: ``end_date`` (day of exit), or the day after the extract when open."""
    return pl.col(col).fill_null(EXTRACT_END + dt.timedelta(days=1))


def _person_services(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Service episodes keyed by resolved person; exact duplicates (duplicate records) dropped."""
    return (
        f["cpin_services"]
        .join(f["links"].select("cw_record_id", "cw_person_id"), on="cw_record_id", how="inner")
        .with_columns(_end_or_extract().alias("end_x"))
        .unique(["cw_person_id", "service_type", "start_date", "end_date"], keep="first")
        .sort("cw_person_id", "start_date", "episode_id")
    )


def _person_placements(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return (
        f["cpin_placements"]
        .join(f["links"].select("cw_record_id", "cw_person_id"), on="cw_record_id", how="inner")
        .with_columns(_end_or_extract().alias("end_x"))
        .unique(["cw_person_id", "placement_type", "start_date", "end_date"], keep="first")
        .sort("cw_person_id", "start_date", "placement_id")
    )


def _person_attributes(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One row per resolved person: first non-null attribute over its records (by record id)."""
    p = (
        # the link's OEN, never the record's own (possibly missing or wrong) one
        f["cpin_persons"]
        .drop("oen", "society_id_right", strict=False)
        .join(f["links"].drop("society_id", strict=False), on="cw_record_id", how="inner")
        .sort("cw_person_id", "cw_record_id")
    )
    return p.group_by("cw_person_id", maintain_order=True).agg(
        pl.col("society_id").first(),
        pl.col("birth_date").drop_nulls().first(),
        pl.col("gender_identity").drop_nulls().first(),
        pl.col("race").drop_nulls().first(),
        pl.col("born_outside_canada").drop_nulls().first(),
        pl.col("first_language").drop_nulls().first(),
        pl.col("human_trafficking_risk").any(),
        # the person's OEN: the most probable link
        pl.col("oen").sort_by("match_probability", descending=True).drop_nulls().first(),
        pl.col("match_probability").max().alias("link_probability"),
        pl.col("link_pass").sort_by("match_probability", descending=True).drop_nulls().first(),
    )


def _care_by_year(
    persons: pl.DataFrame, services: pl.DataFrame, placements: pl.DataFrame, years: tuple[str, ...]
) -> pl.DataFrame:
    """Per person and school year: care_status, society, cumulative days in care, placement group."""
    out = []
    prio = pl.col("status").replace_strict(CARE_PRIORITY, return_dtype=pl.Int8)
    for sy in years:
        lo, hi = _sy_bounds(sy)
        hi_x = hi + dt.timedelta(days=1)
        active = (
            services.filter((pl.col("start_date") <= hi) & (pl.col("end_x") > lo))
            .with_columns(
                pl.when(pl.col("service_type").is_in(IN_CARE))
                .then(pl.lit("in_care"))
                .otherwise(pl.col("service_type"))
                .alias("status")
            )
            .with_columns(prio.alias("prio"))
            .sort(["cw_person_id", "prio", "start_date"], descending=[False, True, True])
            .group_by("cw_person_id", maintain_order=True)
            .first()
            .select("cw_person_id", "status", pl.col("society_id").alias("service_society"))
        )
        cum = (
            services.filter(pl.col("service_type").is_in(IN_CARE) & (pl.col("start_date") <= hi))
            .with_columns(
                (pl.min_horizontal("end_x", pl.lit(hi_x)) - pl.col("start_date"))
                .dt.total_days()
                .clip(0)
                .alias("d")
            )
            .group_by("cw_person_id")
            .agg(pl.col("d").sum().alias("cumulative_days_in_care"))
        )
        plc = (
            placements.filter((pl.col("start_date") <= hi) & (pl.col("end_x") > lo))
            .with_columns(
                (
                    pl.min_horizontal("end_x", pl.lit(hi_x))
                    - pl.max_horizontal("start_date", pl.lit(lo))
                )
                .dt.total_days()
                .alias("d"),
                pl.col("placement_type").replace_strict(PLACEMENT_GROUP).alias("placement_group"),
            )
            .group_by("cw_person_id", "placement_group")
            .agg(pl.col("d").sum())
            .sort(["cw_person_id", "d", "placement_group"], descending=[False, True, False])
            .group_by("cw_person_id", maintain_order=True)
            .first()
            .select("cw_person_id", "placement_group")
        )
        out.append(
            persons.select("cw_person_id")
            .join(active, on="cw_person_id", how="left")
            .join(cum, on="cw_person_id", how="left")
            .join(plc, on="cw_person_id", how="left")
            .with_columns(pl.lit(sy).alias("school_year"))
        )
    return (
        pl.concat(out)
        .with_columns(
            pl.col("status").fill_null("none").alias("care_status"),
            pl.col("cumulative_days_in_care").fill_null(0).cast(pl.Int32),
        )
        .with_columns(
            pl.when(pl.col("care_status") == "in_care").then(pl.col("placement_group")),
        )
        .drop("status")
    )


CAT = pl.Categorical


def _cat(*cols: str) -> list[pl.Expr]:
    return [pl.col(c).cast(CAT) for c in cols]


def _student_ids(key: StudyKey, oens: list[pl.Series]) -> pl.DataFrame:
    """Every distinct OEN once: ``oen``, ``study_id`` and ``_eid``.

    ``_eid`` (u32) is the rank of the ``study_id`` string, so sorting on it sorts on the
    published ``study_id``; the large frames carry it instead of the 32-character hex.
    """
    uniq = pl.concat([s.drop_nulls().cast(pl.String) for s in oens]).unique()
    digests = _hmac_digests(key, "oen", uniq.to_list())
    # the hex string's order is the order of its 16 bytes read as two big-endian integers
    words = np.frombuffer(digests, dtype=">u8").reshape(-1, 2)
    order = pl.Series(np.lexsort((words[:, 1], words[:, 0])))
    ids = pl.DataFrame({"oen": uniq.gather(order), "study_id": _hex(digests).gather(order)})
    return ids.with_row_index("_eid")


def _strings(df: pl.DataFrame | pl.LazyFrame, columns: tuple[str, ...]) -> pl.LazyFrame:
    """``columns`` of ``df`` with every categorical cast back to its string values."""
    schema = df.collect_schema()
    return df.lazy().select([_as_string(c, schema[c]) for c in columns])


def _student_years(
    big: dict[str, pl.LazyFrame],
    ids: pl.DataFrame,
    person_of_oen: pl.DataFrame,
    care: pl.DataFrame,
    key: StudyKey,
) -> pl.DataFrame:
    """One row per enrolment, compact: low-cardinality strings categorical, ``_eid`` for the
    student; sorted like the published table (``study_id``, ``school_year``)."""
    on = big["onsis_enrolment"]
    schools = on.select(pl.col("school_id").unique()).collect()["school_id"].drop_nulls()
    school_hash = _hmac_hex(key, "school", schools.cast(pl.String).to_list())
    sy_start = pl.col("school_year").str.slice(0, 4).cast(pl.Int32)
    bd = pl.col("birth_date")
    base = (
        on.select(
            "oen",
            pl.col("school_year").cast(CAT),
            sy_start.cast(pl.Int16).alias("_sy"),
            *_cat("board_id", "grade", "gender"),
            pl.col("school_id")
            .replace_strict(schools, school_hash, default=None, return_dtype=pl.String)
            .cast(CAT),
            bd.dt.year().cast(pl.Int16).alias("birth_year"),
            (
                sy_start
                - bd.dt.year()
                - ((bd.dt.month() > 9) | ((bd.dt.month() == 9) & (bd.dt.day() > 1))).cast(pl.Int32)
            )
            .cast(pl.Int8)
            .alias("age_sept1"),
            region_of_postal().cast(CAT).alias("region"),
            "days_enrolled",
            "days_absent",
            "credits_earned",
        )
        .join(ids.lazy().select("oen", "_eid"), on="oen", how="left")
        .drop("oen")
        .collect(engine="streaming")
    )
    # sorted like the published table while still narrow: the joins below keep this order
    order = _student_year_order(base)
    base = base.sort("_eid", "_sy") if order is None else base[order]
    # child-welfare attributes: one person per OEN, keyed by _eid
    pcw = person_of_oen.join(ids.select("oen", "_eid"), on="oen", how="inner").select(
        "_eid",
        "cw_person_id",
        pl.lit(True).alias("cw_involved"),
        # a missing race of a child-welfare-involved student is "not_stated"; students without
        # a record stay null (left join). Detailed race for now: the first global step groups it
        pl.col("race").fill_null("not_stated").cast(CAT).alias("race_group"),
        "born_outside_canada",
        *_cat("first_language", "gender_identity"),
        "link_probability",
        pl.col("link_pass").cast(CAT),
        pl.col("society_id").cast(CAT).alias("person_society"),
    )
    cyear = care.join(pcw.select("cw_person_id", "_eid"), on="cw_person_id", how="inner").select(
        "_eid",
        pl.col("school_year").cast(CAT),
        *_cat("care_status", "placement_group"),
        pl.col("service_society").cast(CAT),
        "cumulative_days_in_care",
    )
    sy = (
        base.join(pcw.drop("cw_person_id"), on="_eid", how="left", maintain_order="left")
        .join(cyear, on=["_eid", "school_year"], how="left", maintain_order="left")
        .with_columns(
            pl.col("cw_involved").fill_null(False),
            pl.col("care_status").fill_null(pl.lit("none").cast(CAT)),
            pl.col("cumulative_days_in_care").fill_null(0).cast(pl.Int32),
            pl.coalesce("service_society", "person_society").alias("society_id"),
        )
        .drop("service_society", "person_society")
    )
    del base
    years = sy["birth_year"].unique().drop_nulls().sort()
    return sy.with_columns(
        _ever(sy, pl.col("care_status") == "in_care").alias("ever_in_care"),
        pl.col("birth_year")
        .replace_strict(years, years.cast(pl.String), default=None, return_dtype=CAT)
        .alias("birth_year_band"),
        (pl.col("care_status") != "none").alias("_service"),
    )


def _student_year_order(base: pl.DataFrame) -> pl.Series | None:
    """Row order sorting ``base`` by (``_eid``, ``_sy``), by counting (the pair is unique and
    ``_eid`` dense): no comparison sort of 12 M rows. ``None`` when a key is missing or
    repeated (then sort normally)."""
    if base.height == 0 or base["_eid"].null_count() or base["_sy"].null_count():
        return None
    eid = base["_eid"].to_numpy().astype(np.int64)
    sy = base["_sy"].to_numpy().astype(np.int64)
    lo = int(sy.min())
    span = int(sy.max()) - lo + 1
    space = (int(eid.max()) + 1) * span
    if space > 1 << 28:
        return None
    key = eid * span + (sy - lo)
    del eid, sy
    present = np.zeros(space, dtype=bool)
    present[key] = True
    pos = np.cumsum(present, dtype=np.int64)
    if pos[-1] != base.height:  # a repeated (student, year)
        return None
    order = np.empty(base.height, dtype=np.int64)
    order[pos[key] - 1] = np.arange(base.height)
    return pl.Series(order)


def _ever(sy: pl.DataFrame, cond: pl.Expr) -> pl.Series:
    """``cond.cum_max().over("_eid")`` for a frame sorted by ``_eid``: whether ``cond`` held in
    this row or an earlier row of the same student."""
    eid = sy["_eid"]
    if eid.null_count():
        return sy.select(cond.cum_max().over("_eid")).to_series()
    x = sy.select(cond.fill_null(False)).to_series().to_numpy()
    e = eid.to_numpy()
    c = np.cumsum(x, dtype=np.int64)
    start = np.zeros(x.size, dtype=np.int64)
    starts = np.flatnonzero(e[1:] != e[:-1]) + 1
    start[starts] = starts
    np.maximum.accumulate(start, out=start)
    before = np.where(start > 0, c[start - 1], 0)
    return pl.Series(c - before > 0)


def build_analytic(
    f: dict[str, pl.DataFrame], key: StudyKey, cfg: Config, big: dict[str, pl.LazyFrame]
) -> tuple[dict[str, pl.DataFrame | pl.LazyFrame], dict[str, Any], dict[str, int]]:
    """All analytic tables from the sources and links, plus the risk report and row counts.

    ``f`` holds the small inputs in memory; ``big`` the enrolment and EQAO scans (read column by
    column as needed). The two large tables come back as lazy frames that decode their compact
    in-memory columns while they are written.
    """
    years = cfg.school_years
    persons = _person_attributes(f)
    services = _person_services(f)
    placements = _person_placements(f)
    # one person per OEN: the most probable link
    person_of_oen = (
        persons.filter(pl.col("oen").is_not_null())
        .sort(["oen", "link_probability", "cw_person_id"], descending=[False, True, False])
        .unique("oen", keep="first", maintain_order=True)
    )
    care = _care_by_year(person_of_oen, services, placements, years)
    # pseudonymise each distinct OEN once
    ids = _student_ids(
        key,
        [
            big["onsis_enrolment"].select(pl.col("oen").unique()).collect()["oen"],
            big["eqao_results"].select(pl.col("oen").unique()).collect()["oen"],
            persons["oen"],
        ],
    )
    student_years = _student_years(big, ids, person_of_oen, care, key)

    k, l_div = cfg.privacy.k_anonymity, cfg.privacy.l_diversity
    risk: dict[str, Any] = {"k_threshold": k, "l_threshold": l_div, "method": RISK_METHOD}
    # l-diversity applies to classes holding any child-welfare service that year: a class of
    # students none of whom had a service reveals nothing sensitive. Classes are measured on a
    # narrow frame (the entity is _eid, one-to-one with study_id)
    measure = {"by": ("school_year",), "sensitive": "care_status", "involved": "_service"}
    steps = student_year_steps()
    coded = _coded(
        student_years,
        QI_STUDENT,
        steps=steps,
        entity="_eid",
        keep=("birth_year", *QI_STUDENT_EXTRA),
        **measure,  # type: ignore[arg-type]
    )
    risk["student_years_before"] = _measure_coded(coded, QI_STUDENT, **measure)  # type: ignore[arg-type]
    rep = _generalise_coded(
        coded,
        QI_STUDENT,
        steps,
        k,
        l_div=l_div,
        order=SUPPRESSION_ORDER,
        **measure,  # type: ignore[arg-type]
    )
    risk["student_years_generalisation"] = rep
    risk["student_years_after"] = _measure_coded(coded, QI_STUDENT, **measure)  # type: ignore[arg-type]
    risk["student_years_supplementary"] = {
        "enforced": False,
        "note": "also keyed on born_outside_canada and first_language (not enforced)",
        **_measure_coded(coded, (*QI_STUDENT, *QI_STUDENT_EXTRA), **measure),  # type: ignore[arg-type]
    }
    student_years = student_years.with_columns(
        ids["study_id"].gather(student_years["_eid"]),
        *(coded.column(c) for c in QI_STUDENT),
    )
    del coded
    exact = (
        pl.col("birth_year_band").cast(pl.String) == pl.col("birth_year").cast(pl.String)
    ).fill_null(False)
    # the published table, computed while it is written (never a second copy in memory)
    student_years_final = (
        student_years.lazy()
        .with_columns(
            # birth year and age on 1 September only where the band is a single year
            pl.when(exact).then(pl.col("birth_year")).alias("birth_year"),
            pl.when(exact).then(pl.col("age_sept1")).alias("age_sept1"),
            pl.col("race_group").alias("race"),  # the grouped value, under the old name too
            pl.when(pl.col("race_group").is_not_null())
            .then(pl.col("race_group") == "indigenous")
            .alias("indigenous"),
        )
        .select(STUDENT_YEAR_COLUMNS)
    )
    risk["student_years_utility"] = student_year_utility(
        student_years_final.filter(pl.col("cw_involved")).collect()
    )

    eqao = (
        big["eqao_results"]
        .select(
            "oen",
            *_cat("school_year", "board_id", "assessment", "participation", "g9_stream"),
            "grade",
            "level",
            pl.when(pl.col("participation") == "participated")
            .then(
                pl.when(pl.col("assessment") == "osslt")
                .then(pl.col("osslt_result") == "pass")
                .otherwise(pl.col("level") >= 3)
            )
            .alias("at_standard"),
            "first_time",
        )
        .join(ids.lazy(), on="oen", how="left")
        .collect(engine="streaming")
        .sort(
            "_eid",
            pl.col("school_year").cast(pl.String),
            pl.col("assessment").cast(pl.String),
        )
    )
    heights = {"student_years": student_years.height, "eqao": eqao.height}
    eqao_out = _strings(
        eqao,
        (
            "study_id",
            "school_year",
            "board_id",
            "grade",
            "assessment",
            "participation",
            "level",
            "at_standard",
            "first_time",
            "g9_stream",
        ),
    )
    student_years_out = _strings(student_years_final, STUDENT_YEAR_COLUMNS)

    cw_id = pseudonym(key, persons["cw_person_id"].cast(pl.String), "cw_person")
    by = pl.col("birth_date").dt.year().cast(pl.Int16)
    cw_persons = (
        persons.with_columns(
            cw_id.alias("cw_study_id"),
            by.alias("birth_year"),
            birth_year_band(by, 1).alias("birth_year_band"),
            pl.col("society_id").alias("society_area"),
            pl.col("race").fill_null("not_stated"),
            pl.col("oen").is_not_null().alias("linked"),
            pseudonym(key, persons["oen"], "oen").alias("study_id"),
        )
        .select(
            "cw_study_id",
            "society_id",
            "society_area",
            "birth_year",
            "birth_year_band",
            "gender_identity",
            "race",
            "born_outside_canada",
            "first_language",
            "human_trafficking_risk",
            "linked",
            "study_id",
        )
        .sort("cw_study_id")
    )
    risk["cw_persons_before"] = measure_risk(cw_persons, QI_CW)
    cw_persons, rep = generalise(
        cw_persons, QI_CW, cw_person_steps(f["societies"]), k, order=SUPPRESSION_ORDER_CW
    )
    risk["cw_persons_generalisation"] = rep
    risk["cw_persons_after"] = measure_risk(cw_persons, QI_CW)
    is_society = pl.col("society_area").str.contains(r"^S\d+$").fill_null(False)
    cw_persons = cw_persons.with_columns(
        pl.when(is_society).then(pl.col("society_area")).alias("society_id"),
        pl.when(is_society)
        .then(
            pl.col("society_area").replace_strict(
                dict(zip(f["societies"]["society_id"], f["societies"]["region"], strict=True)),
                default=None,
            )
        )
        .otherwise(pl.col("society_area"))
        .alias("society_region"),
        pl.when(pl.col("birth_year_band") == pl.col("birth_year").cast(pl.String))
        .then(pl.col("birth_year"))
        .alias("birth_year"),
        pl.col("race").replace_strict(RACE_GROUP, default=None).alias("race_group"),
        pl.when(pl.col("race").is_not_null())
        .then(pl.col("race") == "indigenous")
        .alias("indigenous"),
    ).select(CW_PERSON_COLUMNS)
    risk["cw_persons_utility"] = cw_person_utility(cw_persons)

    cw_map = persons.select("cw_person_id", cw_id.alias("cw_study_id"))
    care_days = (
        _care_days(placements)
        .join(cw_map, on="cw_person_id")
        .select("cw_study_id", "society_id", "fiscal_year", "placement_type", "days")
        .sort("cw_study_id", "fiscal_year", "placement_type", "society_id")
    )

    adm = services.filter(pl.col("service_type").is_in(IN_CARE)).with_columns(
        fiscal_year("start_date").alias("admission_fiscal_year"),
        pl.when(pl.col("end_date").is_not_null())
        .then((pl.col("end_date") - pl.col("start_date")).dt.total_days())
        .cast(pl.Int32)
        .alias("days_to_exit"),
        (pl.col("end_x") - pl.col("start_date"))
        .dt.total_days()
        .cast(pl.Int32)
        .alias("days_observed"),
    )
    admissions = (
        adm.join(cw_map, on="cw_person_id")
        .select(
            "cw_study_id",
            "society_id",
            "admission_fiscal_year",
            "service_type",
            "days_to_exit",
            "days_observed",
        )
        .sort("cw_study_id", "admission_fiscal_year", "service_type", "days_observed")
    )

    c = f["cpin_cases"]
    cases = (
        c.with_columns(
            pseudonym(key, c["case_id"], "case").alias("case_study_id"),
            fiscal_year("closed_date").alias("closed_fiscal_year"),
            (pl.col("recurrence_date") - pl.col("closed_date"))
            .dt.total_days()
            .cast(pl.Int32)
            .alias("days_to_recurrence"),
            (pl.lit(EXTRACT_END) - pl.col("closed_date"))
            .dt.total_days()
            .cast(pl.Int32)
            .alias("days_observed"),
        )
        .select(
            "case_study_id",
            "society_id",
            "case_kind",
            "closed_fiscal_year",
            "days_to_recurrence",
            "recurrence_verified",
            "days_observed",
        )
        .sort("case_study_id")
    )

    onlac = (
        _onlac(f, persons, services)
        .join(cw_map, on="cw_person_id")
        .select(
            "cw_study_id",
            "society_id",
            "fiscal_year",
            "age",
            "days_in_care",
            "item_1",
            "item_2",
            "item_3",
            "item_4",
        )
        .sort("cw_study_id", "fiscal_year", "age", "days_in_care")
    )

    tables: dict[str, pl.DataFrame | pl.LazyFrame] = {
        "student_years": student_years_out,
        "eqao": eqao_out,
        "cw_persons": cw_persons,
        "care_days": care_days,
        "admissions": admissions,
        "cases": cases,
        "onlac": onlac,
    }
    for name, df in tables.items():
        if isinstance(df, pl.DataFrame):
            heights[name] = df.height
    return tables, risk, heights


def _care_days(placements: pl.DataFrame) -> pl.DataFrame:
    """Placement days split by fiscal year (1 April - 31 March)."""
    p = placements.with_columns(
        pl.int_ranges(pl.col("start_date").dt.year() - 1, pl.col("end_x").dt.year() + 1).alias("fy")
    ).explode("fy")
    fy_lo = pl.date(pl.col("fy"), 4, 1)
    fy_hi_x = pl.date(pl.col("fy") + 1, 4, 1)
    p = p.with_columns(
        (pl.min_horizontal("end_x", fy_hi_x) - pl.max_horizontal("start_date", fy_lo))
        .dt.total_days()
        .alias("days")
    ).filter(pl.col("days") > 0)
    return (
        p.with_columns(_year_label(pl.col("fy")).alias("fiscal_year"))
        .group_by("cw_person_id", "society_id", "fiscal_year", "placement_type")
        .agg(pl.col("days").sum().cast(pl.Int32))
    )


def _onlac(
    f: dict[str, pl.DataFrame], persons: pl.DataFrame, services: pl.DataFrame
) -> pl.DataFrame:
    a = f["cpin_onlac"].join(
        f["links"].select("cw_record_id", "cw_person_id"), on="cw_record_id", how="inner"
    )
    a = a.join(persons.select("cw_person_id", "birth_date"), on="cw_person_id", how="left")
    care = services.filter(pl.col("service_type").is_in(IN_CARE)).select(
        "cw_person_id", "start_date", "end_x"
    )
    days = (
        a.select("assessment_id", "cw_person_id", "assessment_date")
        .join(care, on="cw_person_id", how="left")
        .with_columns(
            (
                pl.min_horizontal("end_x", pl.col("assessment_date") + pl.duration(days=1))
                - pl.col("start_date")
            )
            .dt.total_days()
            .clip(0)
            .fill_null(0)
            .alias("d")
        )
        .group_by("assessment_id")
        .agg(pl.col("d").sum().cast(pl.Int32).alias("days_in_care"))
    )
    ad, bd = pl.col("assessment_date"), pl.col("birth_date")
    age = (
        ad.dt.year()
        - bd.dt.year()
        - (
            (ad.dt.month() < bd.dt.month())
            | ((ad.dt.month() == bd.dt.month()) & (ad.dt.day() < bd.dt.day()))
        ).cast(pl.Int32)
    )
    return a.join(days, on="assessment_id", how="left").with_columns(
        fiscal_year("assessment_date").alias("fiscal_year"),
        age.cast(pl.Int8).alias("age"),
    )


# --------------------------------------------------------------------------------- stage
def run(cfg: Config) -> StageResult:
    """Write ``cfg.paths.analytic`` from the sources and links (atomically).

    Raises
    ------
    DeidentifyError
        Missing key (real data), short key, missing inputs. Nothing is written then.
    """
    key = load_key(cfg.privacy, cfg.seed)  # before anything is read or written
    f, big = _read_inputs(cfg)
    tables, risk, heights = build_analytic(f, key, cfg, big)
    risk["key"] = {"fingerprint": key.fingerprint(), "source": key.source}
    if not (
        risk["student_years_generalisation"]["holds"] and risk["cw_persons_generalisation"]["holds"]
    ):
        raise DeidentifyError(
            f"k-anonymity (k={cfg.privacy.k_anonymity}) or l-diversity "
            f"(l={cfg.privacy.l_diversity}) does not hold after generalisation; nothing written"
        )
    outputs: list[Path] = []
    with atomic_dir(cfg.paths.analytic) as stage:
        for name, df in tables.items():
            if isinstance(df, pl.LazyFrame):
                _sink_parquet(df, stage / f"{name}.parquet")
            else:
                write_parquet(df, stage / f"{name}.parquet")
        for name in REFERENCE:
            write_parquet(f[name], stage / f"{name}.parquet")
        write_json(risk, stage / "risk.json")
        # Linkage quality is aggregate (rates and counts by group, no identifier): the reports
        # cite it, and must not have to open the linkage zone to do so.
        quality = cfg.paths.linkage / "quality.json"
        if quality.exists():
            write_json(
                json.loads(quality.read_text(encoding="utf-8")), stage / "linkage_quality.json"
            )
    for name in [*tables, *REFERENCE, "risk"]:
        outputs.append(cfg.paths.analytic / (f"{name}.parquet" if name != "risk" else "risk.json"))
    rows = {
        f"{n} in": big[n].select(pl.len()).collect().item() if n in big else f[n].height
        for n in (*SOURCES, "links")
    }
    rows.update({f"{n} out": heights[n] for n in tables})
    return StageResult(
        stage="deidentify",
        outputs=outputs,
        rows=rows,
        metrics={
            "key_fingerprint": key.fingerprint(),
            "key_source": key.source,
            "development_key": key.is_development,
            "k": risk["student_years_after"]["k"],
            "k_cw_persons": risk["cw_persons_after"]["k"],
            "l": risk["student_years_after"].get("l"),
        },
    )


# --------------------------------------------------------------------------------- scanning
@dataclass(frozen=True)
class Hit:
    """One identifier found in an output file (``kind`` only: the value is never kept)."""

    path: Path
    kind: str  # "oen", "name", "birth_date", "postal_code", "oen_sha256", "oen_md5"
    count: int

    def __str__(self) -> str:
        return f"{self.path}: {self.count} occurrences of a source {self.kind}"


def _identifier_sets(sources_dir: Path) -> dict[str, set[str]]:
    sets: dict[str, set[str]] = {
        "oen": set(),
        "name": set(),
        "birth_date": set(),
        "postal_code": set(),
    }
    for name in ("onsis_enrolment", "cpin_persons", "eqao_results"):
        p = sources_dir / f"{name}.parquet"
        if not p.is_file():
            continue
        df = pl.read_parquet(p)
        if "oen" in df.columns:
            sets["oen"] |= set(df["oen"].drop_nulls().to_list())
        if "first_name" in df.columns:
            full = (
                df.select(pl.concat_str("first_name", "last_name", separator=" "))
                .to_series()
                .drop_nulls()
            )
            sets["name"] |= {" ".join(_TOKEN.findall(s.lower())) for s in full.to_list()}
        if "birth_date" in df.columns:
            sets["birth_date"] |= {d.isoformat() for d in df["birth_date"].drop_nulls().to_list()}
        if "postal_code" in df.columns:
            pcs = df["postal_code"].drop_nulls().to_list()
            sets["postal_code"] |= {pc.upper() for pc in pcs} | {
                pc.upper().replace(" ", "") for pc in pcs
            }
    sets["oen_sha256"] = {hashlib.sha256(o.encode()).hexdigest() for o in sets["oen"]}
    sets["oen_md5"] = {hashlib.md5(o.encode()).hexdigest() for o in sets["oen"]}  # noqa: S324
    return sets


def _file_text(path: Path) -> tuple[str | None, str]:
    """Text of a file for scanning, or (None, why it was skipped)."""
    suf = path.suffix.lower()
    if suf == ".parquet":
        df = pl.read_parquet(path)
        parts = [" ".join(df.columns)]
        for c in df.columns:
            s = df[c]
            if s.dtype == pl.Date:
                s = s.dt.to_string("%Y-%m-%d")
            parts.append("\n".join(str(v) for v in s.cast(pl.String).drop_nulls().to_list()))
        return "\n".join(parts), ""
    if suf == ".pdf":
        try:
            from pypdf import PdfReader
        except ImportError:
            return None, "PDF skipped: pypdf not installed"
        r = PdfReader(str(path))
        meta = " ".join(str(v) for v in (r.metadata or {}).values())
        return meta + "\n" + "\n".join(pg.extract_text() or "" for pg in r.pages), ""
    data = path.read_bytes()
    return data.decode("utf-8", errors="replace"), ""


_TOKEN = re.compile(r"[A-Za-z0-9]+")


def scan_for_identifiers(roots: list[Path], sources_dir: Path) -> list[Hit]:
    """Every occurrence of a source identifier in any file under ``roots``.

    Looks for every OEN, full name (first + last, case-insensitive), full birth date (ISO
    ``YYYY-MM-DD``), full postal code (with or without its space), and the plain SHA-256 and MD5
    hex digests of every OEN. Files: parquet (every value), PDF (text and metadata, via pypdf;
    skipped with a logged note if pypdf is missing), and everything else as UTF-8 text (CSV,
    JSON, HTML, SVG, ...).

    Returns
    -------
    list[Hit]
        One per file and kind found; empty when clean. Values are never returned.
    """
    sets = _identifier_sets(sources_dir)
    hex_sets = {k: sets[k] for k in ("oen_sha256", "oen_md5")}
    hits: list[Hit] = []
    files = [
        p for r in roots if Path(r).exists() for p in sorted(Path(r).rglob("*")) if p.is_file()
    ]
    for path in files:
        text, note = _file_text(path)
        if text is None:
            log.warning("%s: %s", path, note)
            continue
        upper = text.upper()
        tokens = set(_TOKEN.findall(text))
        lower_tokens = {t.lower() for t in tokens}
        counts: dict[str, int] = {}
        counts["oen"] = len(tokens & sets["oen"])
        for kind, s in hex_sets.items():
            counts[kind] = len(lower_tokens & s)
        counts["birth_date"] = sum(
            1 for d in set(re.findall(r"\d{4}-\d{2}-\d{2}", text)) if d in sets["birth_date"]
        )
        pcs = set(re.findall(r"[A-Z]\d[A-Z] ?\d[A-Z]\d", upper))
        counts["postal_code"] = len(pcs & sets["postal_code"])
        low = " ".join(_TOKEN.findall(text.lower()))
        words = low.split()
        grams = {" ".join(words[i : i + n]) for n in (2, 3, 4) for i in range(len(words) - n + 1)}
        counts["name"] = len(grams & sets["name"])
        for kind, n in counts.items():
            if n:
                hits.append(Hit(path, kind, n))
    return hits


def scan_notes(roots: list[Path]) -> list[str]:
    """Files the scanner could not read (e.g. PDFs without pypdf)."""
    notes = []
    for r in roots:
        for p in sorted(Path(r).rglob("*.pdf")) if Path(r).exists() else []:
            _, note = _file_text(p)
            if note:
                notes.append(f"{p}: {note}")
    return notes


def dump_risk(risk: dict[str, Any]) -> str:
    """``risk.json`` as text (stable)."""
    return json.dumps(risk, indent=2, sort_keys=True, default=str)
