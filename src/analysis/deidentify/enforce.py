"""Several quasi-identifier sets enforced together on one frame: generalise first, suppress last.

A row (with every row of the same entity) is generalised while its class fails ``k`` (or, holding
an ``involved`` row, ``l`` distinct ``sensitive`` values) in any of the sets a step serves. Steps
run in one order, least analytically useful first (:mod:`analysis.deidentify.hierarchy`); a
suppression step also completes the suppressed class of each cell it created (below), and when
every step is spent the last resort of :func:`analysis.deidentify.anonymity.enforce_k` merges
what still fails into each set's blank class. Changing a value for one set can break a class of
another (a row moves to a new, small class), so the whole order is repeated until every set holds.

Completing a suppression
    Blanking a value only on the rows of a failing class creates a class of blanks in that cell
    (the other keys) that can itself be small: a board's grade with 12 girls and 30 boys blanks
    the girls' gender into a class of 12. The smallest classes of the same cell are then blanked
    too, until the blanks reach ``k`` (or the cell has no more): the girls and the boys of that
    grade share one class of 42, and the board keeps its rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from analysis.deidentify.anonymity import _merge_into_blank, measure_coded, step_values
from analysis.deidentify.hierarchy import Step
from analysis.deidentify.states import CodedFrame
from analysis.deidentify.threat import QISet

# the whole order is repeated at most this often (each pass only coarsens values, and the last
# resort of the final pass blanks whatever still fails)
MAX_PASSES = 6


@dataclass(frozen=True)
class Constraint:
    """One enforced set on a coded frame: classes keyed on ``part`` (never generalised here: the
    partition and the derived keys) and ``qis`` (generalised and, last, blanked)."""

    name: str
    qis: tuple[str, ...]
    part: tuple[str, ...]
    sensitive: str | None = None
    involved: str | None = None

    @property
    def keys(self) -> list[str]:
        return [*self.part, *self.qis]

    @classmethod
    def of(cls, s: QISet, involved: str | None = None) -> Constraint:
        return cls(
            s.name, s.qis, (*s.per, *s.derived), s.sensitive, involved if s.sensitive else None
        )


def _bad(c: CodedFrame, cons: Sequence[Constraint], k: int, l_div: int) -> np.ndarray:
    """Boolean per state: its class fails in any of ``cons``."""
    bad = np.zeros(c.states.height, dtype=bool)
    for con in cons:
        bad |= c.bad_states(con.keys, k, con.sensitive, con.involved, l_div)
    return bad


def _blank_patterns(c: CodedFrame, con: Constraint, k: int) -> list[tuple[str, ...]]:
    """The patterns of blanked quasi-identifiers among the classes of ``con`` below ``k``."""
    cnt = c.counts()
    bad = c.bad_states(con.keys, k, None, None, 1) & (cnt > 0)
    pattern = np.zeros(c.states.height, dtype=np.int64)
    for i, q in enumerate(con.qis):
        pattern |= c.states[q].is_null().to_numpy().astype(np.int64) << i
    return [
        tuple(q for i, q in enumerate(con.qis) if pat >> i & 1)
        for pat in np.unique(pattern[bad]).tolist()
        if pat
    ]


def _completion(
    c: CodedFrame, con: Constraint, blank_cols: tuple[str, ...], k: int, ratio: float | None
) -> np.ndarray:
    """Boolean per state: the states to blank on ``blank_cols`` so that, in each cell (the values
    of the other keys), a class blank on all of ``blank_cols`` holding fewer than ``k`` rows
    grows to ``k`` with the cell's smallest other classes (cells of fewer than ``k`` rows are
    left to later steps; with ``ratio``, only cells where that blanks at most ``ratio`` values per
    value it protects)."""
    st, cnt = c.states, c.counts()
    keys = con.keys
    ccode, n_c = c.key_codes(keys)
    size = np.bincount(ccode, weights=cnt, minlength=n_c).astype(np.int64)
    part_keys = [x for x in keys if x not in blank_cols]
    pcode, n_p = c.key_codes(part_keys) if part_keys else (np.zeros(st.height, np.int64), 1)
    part = np.zeros(n_c, dtype=np.int64)
    part[ccode] = pcode
    all_blank = np.ones(st.height, dtype=bool)
    for q in blank_cols:
        all_blank &= st[q].is_null().to_numpy()
    blank = np.zeros(n_c, dtype=bool)
    blank[ccode] = all_blank
    alive = size > 0
    n_blank = np.bincount(part[alive & blank], weights=size[alive & blank], minlength=n_p)
    total = np.bincount(part[alive], weights=size[alive], minlength=n_p)
    need = np.where((n_blank > 0) & (n_blank < k) & (total >= k), k - n_blank, 0)
    cand = np.flatnonzero(alive & ~blank & (need[part] > 0))
    if cand.size == 0:
        return np.zeros(st.height, dtype=bool)
    cand = cand[np.lexsort((size[cand], part[cand]))]  # by cell, smallest first
    p, s = part[cand], size[cand]
    before = np.cumsum(s) - s  # rows of the cell's earlier candidates, exclusive
    start = np.r_[True, p[1:] != p[:-1]]
    before = before - np.maximum.accumulate(np.where(start, before, 0))
    chosen = before < need[p]
    if ratio is not None:
        # a cell is completed only where the values blanked are at most ``ratio`` times the
        # values they protect (a lone value is not hidden by blanking a whole grade's)
        cost = np.bincount(p[chosen], weights=s[chosen], minlength=n_p)
        chosen &= cost[p] <= ratio * n_blank[p]
    pick = np.zeros(n_c, dtype=bool)
    pick[cand[chosen]] = True
    return pick[ccode] & (cnt > 0)


def refresh_derived(c: CodedFrame, derived: Mapping[str, pl.Expr]) -> None:
    """(Re)compute the derived keys of every state (after values moved)."""
    if derived:
        schema = c.states.schema
        c.states = c.states.with_columns(
            (e.cast(schema[n]) if n in schema else e).alias(n) for n, e in derived.items()
        )


def _apply(
    c: CodedFrame,
    st: Step,
    serves: Sequence[Constraint],
    k: int,
    l_div: int,
    cheaper: frozenset[str] = frozenset(),
) -> int:
    """Apply step ``st`` to the rows (entities) failing any of ``serves`` (every row for a global
    step); a local suppression then completes the blank classes it left too small, among the
    classes blank only on columns this step or an earlier one suppresses (``cheaper``: a class
    blank on a later step's column is completed by that step, which weighs the cost). Returns
    the number of values changed."""
    new, changes = step_values(c, st)
    if st.scope == "global":
        rows = c.rows_in(changes)
    else:
        rows = c.rows_in(_bad(c, serves, k, l_div))
        if c.ent is not None:
            rows = c.rows_of_entities(rows)
        rows = rows[changes[c.row_state[rows]]]
    old = c.states[st.column].gather(pl.Series(c.row_state[rows]))
    c.move(rows, {st.column: new})
    changed = int(rows.size)
    if st.value is None and st.scope == "local":
        cons = [con for con in serves if st.column in con.qis]
        changed += _complete(c, cons, k, st.complete_ratio, cheaper | {st.column})
        if st.revert_futile:
            changed -= _revert_futile(c, st.column, rows, old, serves, k, l_div)
    return changed


def _revert_futile(
    c: CodedFrame,
    col: str,
    rows: np.ndarray,
    old: pl.Series,
    serves: Sequence[Constraint],
    k: int,
    l_div: int,
) -> int:
    """Give ``col`` back its ``old`` value on the ``rows`` a suppression blanked in vain: rows of
    entities none of whose blanked rows left a failing class (a lone value whose cell could not be
    completed within the ratio is left to the later steps with its value). Returns the number of
    values given back."""
    if rows.size == 0:
        return 0
    failing = _bad(c, serves, k, l_div)[c.row_state[rows]]
    if c.ent is not None:
        ents = c.ent[rows]
        useful = np.unique(ents[~failing])
        back = failing & ~np.isin(ents, useful) if useful.size else failing
        back &= ents >= 0
    else:
        back = failing
    if not back.any():
        return 0
    idx = np.flatnonzero(back)
    vals = old.gather(pl.Series(idx))
    for v in vals.unique(maintain_order=True).to_list():
        sel = idx[(vals == v).fill_null(False).to_numpy()]
        n = c.states.height
        c.move(rows[sel], {col: pl.Series(col, [v] * n, dtype=c.states.schema[col])})
    return int(idx.size)


def _complete(
    c: CodedFrame,
    cons: Sequence[Constraint],
    k: int,
    ratio: float | None,
    allowed: frozenset[str],
) -> int:
    """:func:`_completion` for each of ``cons`` and each blank pattern within ``allowed``,
    applied (with all rows of each entity)."""
    changed = 0
    for con in cons:
        for cols in _blank_patterns(c, con, k):
            if not set(cols) <= allowed:
                continue
            rows = c.rows_in(_completion(c, con, cols, k, ratio))
            if c.ent is not None and rows.size:
                rows = c.rows_of_entities(rows)
            n = c.states.height
            c.move(rows, {q: pl.Series(q, [None] * n, c.states.schema[q]) for q in cols})
            changed += int(rows.size)
    return changed


def _merge(c: CodedFrame, con: Constraint, k: int, l_div: int, merged: dict[str, int]) -> int:
    """The last resort for one set: its failing classes merged into its blank class."""
    hit, n = _merge_into_blank(c, con.qis, con.part, k, con.sensitive, con.involved, l_div)
    if n:
        blank = {q: pl.Series(q, [None] * c.states.height, c.states.schema[q]) for q in con.qis}
        c.move(np.flatnonzero(hit), blank)
    merged[con.name] += n
    return n


def protect_coded(
    c: CodedFrame,
    constraints: Sequence[Constraint],
    steps: Sequence[Step],
    k: int,
    l_div: int,
    derived: Mapping[str, pl.Expr] | None = None,
) -> dict[str, Any]:
    """Generalise ``c`` (in place) along ``steps`` until every constraint holds.

    Returns
    -------
    dict
        ``steps`` (per step: column, scope, the sets it serves, values changed over all passes,
        and rows still failing any set after its first pass), ``rows_merged_into_blank_class``
        per set, ``passes`` and ``holds``.
    """
    derived = dict(derived or {})
    by_name = {con.name: con for con in constraints}
    refresh_derived(c, derived)
    done: dict[str, dict[str, Any]] = {}
    merged: dict[str, int] = {con.name: 0 for con in constraints}
    passes = 0
    # the columns suppressed by each step or an earlier one
    cheaper, seen = [], set()
    for st in steps:
        if st.value is None:
            seen.add(st.column)
        cheaper.append(frozenset(seen))
    for passes in range(1, MAX_PASSES + 1):
        changed_in_pass = 0
        for st, cheap in zip(steps, cheaper, strict=True):
            if st.scope == "global" and passes > 1:
                continue
            serves = [by_name[n] for n in st.sets if n in by_name] or list(constraints)
            changed = _apply(c, st, serves, k, l_div, cheap)
            changed_in_pass += changed
            c.compact()
            refresh_derived(c, derived)
            rec = done.setdefault(
                st.name,
                {
                    "step": st.name,
                    "column": st.column,
                    "scope": st.scope,
                    "sets": [con.name for con in serves],
                    "values_changed": 0,
                },
            )
            rec["values_changed"] += changed
            if passes == 1:
                rec["rows_failing_after"] = int(c.counts()[_bad(c, constraints, k, l_div)].sum())
        if not _bad(c, constraints, k, l_div).any():
            break
        if changed_in_pass == 0 or passes == MAX_PASSES:
            # every step is spent on what still fails: the last resort, set by set, until
            # no set fails or no merge is left to make (then the steps run again)
            while _bad(c, constraints, k, l_div).any():
                progress = 0
                for con in constraints:
                    progress += _merge(c, con, k, l_div, merged)
                    c.compact()
                    refresh_derived(c, derived)
                if not progress:
                    break
            if not _bad(c, constraints, k, l_div).any():
                break
    failing = _bad(c, constraints, k, l_div)
    return {
        "steps": list(done.values()),
        "rows_merged_into_blank_class": merged,
        "passes": passes,
        "rows_in_classes_below_threshold": int(c.counts()[failing].sum()),
        "holds": not bool(failing.any()),
    }


def measure_sets(
    c: CodedFrame, sets: Sequence[QISet], k: int, involved: str | None = None
) -> dict[str, dict[str, Any]]:
    """:func:`analysis.deidentify.anonymity.measure_risk` of ``c`` on each set (with the
    threshold ``k``: rows and share of rows in classes below it)."""
    out = {}
    for s in sets:
        con = Constraint.of(s, involved)
        m = measure_coded(c, con.qis, con.part, con.sensitive, con.involved, k=k)
        m["quasi_identifiers"] = list(s.published or s.qis)
        m["per"] = list(s.per)
        out[s.name] = m
    return out
