"""A frame as its distinct row states: the representation generalisation works on.

Generalisation works on the distinct row "states" (every column the classes, the steps and the
measures read), each with its row count, plus one state index per row: the group-bys run over a
few thousand states instead of every row, and a step or a suppression moves rows between states
with integer arrays. Only the entity rule (a value changed in one row of a student is changed
in all of that student's rows) needs a pass over the rows, as one integer gather per step.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_DENSE_SCATTER_MAX = 1 << 26  # key spaces up to this size are made dense by a lookup table


def dense(key: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """``key`` (ints in ``[0, space)``) renumbered ``0..n-1`` (in increasing key order)."""
    # a lookup table when the key space is small next to the keys, else a sort (same result)
    if space <= _DENSE_SCATTER_MAX and space <= max(8 * key.size, 1 << 16):
        present = np.zeros(space, dtype=bool)
        present[key] = True
        remap = np.cumsum(present, dtype=np.int64) - 1
        return remap[key], int(remap[-1]) + 1 if space else 0
    uniq, inv = np.unique(key, return_inverse=True)
    return inv.astype(np.int64).ravel(), int(uniq.size)


def codes(s: pl.Series) -> tuple[np.ndarray, int]:
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
        return dense(arr, int(hi) + 1)  # type: ignore[arg-type]
    return dense(arr.astype(np.int64) - int(lo), int(hi) - int(lo) + 1)  # type: ignore[arg-type]


def row_codes(df: pl.DataFrame, cols: list[str]) -> tuple[np.ndarray, int]:
    """One dense code per row of ``df`` for the combination of ``cols`` (nulls as values)."""
    return combine(df.height, [codes(df[c]) for c in cols])


def combine(height: int, parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    """Dense codes of the combination of several columns' dense codes (``(code, cardinality)``)."""
    key = np.zeros(height, dtype=np.int64)
    n = 1
    for code, card in parts:
        if n * card > _DENSE_SCATTER_MAX:  # renumber only when the key space grows too large
            key, n = dense(key, n)
        key = key * card + code
        n *= card
    return dense(key, n)


class CodedFrame:
    """A frame as distinct states (``states``) and a state index per row (``row_state``).

    Rows move between states by index arrays (:meth:`move`); row counts per state are kept up to
    date as they move. ``states`` may hold a state no row is in any more (count 0) and the same
    values twice: every measure groups the live states by value.
    """

    @property
    def states(self) -> pl.DataFrame:
        return self._states

    @states.setter
    def states(self, value: pl.DataFrame) -> None:
        self._states = value
        self._codes: dict[str, tuple[np.ndarray, int]] = {}

    def key_codes(self, cols: list[str]) -> tuple[np.ndarray, int]:
        """:func:`row_codes` of the states (each column's codes kept until the states change)."""
        for c in cols:
            if c not in self._codes:
                self._codes[c] = codes(self._states[c])
        return combine(self._states.height, [self._codes[c] for c in cols])

    def __init__(self, df: pl.DataFrame, cols: list[str], entity: str | None) -> None:
        self.n_rows = df.height
        self.row_state, n = row_codes(df, cols)
        rep = np.zeros(n, dtype=np.int64)
        rep[self.row_state] = np.arange(df.height)  # any row of a state represents it
        self.states = df.select(cols)[rep]
        self._counts = np.bincount(self.row_state, minlength=n)
        self.ent: np.ndarray | None = None
        if entity:
            s = df[entity]
            # a null entity is in no entity: a step never reaches it through another row
            ent, n_ent = codes(s)
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
            cls, n_cls = self.key_codes(keys)
        else:
            cls, n_cls = np.zeros(self.states.height, dtype=np.int64), 1
        n = np.bincount(cls, weights=cnt, minlength=n_cls)
        bad = n < k
        if sensitive and involved:
            inv = self.states[involved].fill_null(False).to_numpy().astype(bool) & alive
            inv_c = np.bincount(cls, weights=inv, minlength=n_cls) > 0
            sc, n_sc = self.key_codes([sensitive])
            pair, _ = dense(cls[alive] * n_sc + sc[alive], n_cls * n_sc)
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

    def compact(self) -> None:
        """Drop the states no row is in and merge states with equal values (the measures are
        unchanged; the states stay few however often rows move)."""
        keep = np.flatnonzero(self._counts)
        if 2 * keep.size > self.states.height:  # worth a pass over the rows only when half are dead
            return
        alive = self.states[keep]
        code, n = row_codes(alive, alive.columns)
        first = np.full(n, keep.size, dtype=np.int64)
        np.minimum.at(first, code, np.arange(keep.size))
        order = np.argsort(first, kind="stable")  # new states in the order first seen
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        trans = np.full(self.states.height, -1, dtype=np.int64)
        trans[keep] = rank[code]
        self.states = alive[first[order]]
        self.row_state = trans[self.row_state]
        self._counts = np.bincount(self.row_state, minlength=n)

    def column(self, col: str) -> pl.Series:
        """``col`` per row."""
        return self.states[col][self.row_state]
