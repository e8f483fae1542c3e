"""The linear system of one table: its margin constraints over counts, numerators and remainders.

A table's cells are its rows; a margin row (some dim equal to ``totals_label``) relates to the rows
that differ from it in that dim only (:func:`margin_groups`). :class:`TableSystem` writes those
relations as one sparse matrix over ``v = (counts, numerators, remainders)``: a margin equal to
the sum of its members is an equality, a margin larger than that sum gets a remainder variable
(people in no published member), a margin smaller than it (people in several members) two
families of inequalities; ``numerator <= count`` for every cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from analysis.disclosure.protected import DisclosureError

TOL = 1e-6

INCONSISTENT = (
    "linear-programming check could not solve (infeasible); "
    "the table's margins are inconsistent with its cells"
)


@dataclass
class MarginGroup:
    """One margin constraint: ``total`` row relates to ``members`` rows (measure-specific kind)."""

    dim: str
    total: int
    members: list[int]


def margin_groups(
    keys: list[tuple[Any, ...]], dims: Sequence[str], totals_label: str
) -> list[MarginGroup]:
    """Every margin constraint of a table whose rows have dim values ``keys``."""
    out: list[MarginGroup] = []
    for d, dim in enumerate(dims):
        members: dict[tuple[Any, ...], list[int]] = {}
        for i, k in enumerate(keys):
            if k[d] != totals_label:
                members.setdefault(k[:d] + k[d + 1 :], []).append(i)
        for i, k in enumerate(keys):
            if k[d] == totals_label:
                rest = k[:d] + k[d + 1 :]
                out.append(MarginGroup(dim, i, sorted(members.get(rest, []))))
    return out


def _relation(total: float, member_sum: float) -> str:
    if abs(total - member_sum) < TOL:
        return "eq"
    return "remainder" if total > member_sum else "overlap"


def _matrix(rows: list[dict[int, float]], ncol: int) -> sparse.csr_matrix:
    r, c, d = [], [], []
    for k, row in enumerate(rows):
        for j, val in row.items():
            if val != 0.0:
                r.append(k)
                c.append(j)
                d.append(val)
    return sparse.csr_matrix((d, (r, c)), shape=(len(rows), ncol))


class TableSystem:
    """Constraint rows of one table, over count, numerator and remainder variables.

    The rows form one sparse matrix ``a`` whose first ``n_eq`` rows are equalities (``a v = 0``)
    and the rest inequalities (``a v <= 0``). ``values`` holds every variable's true value (the
    published ones are fixed at it).
    """

    def __init__(
        self,
        counts: np.ndarray,
        numerators: np.ndarray | None,
        groups: list[MarginGroup],
    ) -> None:
        self.n = len(counts)
        self.counts = counts
        self.numerators = numerators
        self.groups = groups
        self.has_num = numerators is not None
        nv = self.n * (2 if self.has_num else 1)
        # remainder variables for margins that exceed the sum of their members
        self.rem: list[tuple[int, str, float]] = []  # (group index, measure, true value)
        self.rel: list[dict[str, str]] = []
        for gi, g in enumerate(groups):
            rel = {"count": _relation(counts[g.total], float(counts[g.members].sum()))}
            if self.has_num:
                assert numerators is not None
                rel["numerator"] = _relation(
                    numerators[g.total], float(numerators[g.members].sum())
                )
            self.rel.append(rel)
            for m, r in rel.items():
                if r == "remainder":
                    vals = counts if m == "count" else numerators
                    assert vals is not None
                    self.rem.append((gi, m, float(vals[g.total] - vals[g.members].sum())))
        self.rem_index = {(gi, m): nv + j for j, (gi, m, _) in enumerate(self.rem)}
        self.nvar = nv + len(self.rem)
        parts = [np.asarray(counts, dtype=float)]
        if numerators is not None:
            parts.append(np.asarray(numerators, dtype=float))
        parts.append(np.array([t for _, _, t in self.rem], dtype=float))
        self.values = np.concatenate(parts)
        eq, ub = self._static_rows()
        self.n_eq = len(eq)
        self.a = _matrix(eq + ub, self.nvar)
        self.a_csc = self.a.tocsc()
        self.pattern = abs(self.a).tocsr()
        self.residual = self.a @ self.values  # 0 (or <= 0) where the true values satisfy a row
        self.is_eq_row = np.arange(self.a.shape[0]) < self.n_eq
        self._by_cell: dict[int, list[int]] | None = None
        self._incidence: sparse.csr_matrix | None = None
        self._margin: np.ndarray | None = None

    def xvar(self, i: int) -> int:
        """The count variable of cell ``i``."""
        return i

    def yvar(self, i: int) -> int:
        """The numerator variable of cell ``i``."""
        return self.n + i

    def _static_rows(self) -> tuple[list[dict[int, float]], list[dict[int, float]]]:
        eq: list[dict[int, float]] = []
        ub: list[dict[int, float]] = []  # row . v <= 0
        measures = ["count"] + (["numerator"] if self.has_num else [])
        for gi, g in enumerate(self.groups):
            for m in measures:
                var = self.xvar if m == "count" else self.yvar
                rel = self.rel[gi][m]
                if rel == "overlap":
                    # people may sit in several members: each member is part of the total,
                    # and the total is no more than the members together
                    for mi in g.members:
                        ub.append({var(mi): 1.0, var(g.total): -1.0})
                    row = {var(g.total): 1.0}
                    for mi in g.members:
                        row[var(mi)] = row.get(var(mi), 0.0) - 1.0
                    ub.append(row)
                    continue
                row = {var(g.total): 1.0}
                for mi in g.members:
                    row[var(mi)] = row.get(var(mi), 0.0) - 1.0
                if rel == "remainder":
                    row[self.rem_index[(gi, m)]] = -1.0
                eq.append(row)
        if self.has_num:
            for i in range(self.n):
                ub.append({self.yvar(i): 1.0, self.xvar(i): -1.0})
        return eq, ub

    # ------------------------------------------------------------ values and targets
    def free_mask(self, count_supp: np.ndarray, num_supp: np.ndarray) -> np.ndarray:
        """Which variables are unpublished (free, ``>= 0``) under this suppression pattern."""
        free = np.ones(self.nvar, dtype=bool)
        free[: self.n] = np.asarray(count_supp, dtype=bool)
        if self.has_num:
            free[self.n : 2 * self.n] = np.asarray(num_supp, dtype=bool)
        return free

    def objective(self, cell: int, measure: str) -> tuple[np.ndarray, np.ndarray]:
        """Variables and coefficients of one target value."""
        if measure == "count":
            return np.array([self.xvar(cell)]), np.array([1.0])
        if measure == "numerator":
            return np.array([self.yvar(cell)]), np.array([1.0])
        if measure == "non_outcome":
            return np.array([self.xvar(cell), self.yvar(cell)]), np.array([1.0, -1.0])
        _, gi, m = measure.split(":")  # remainder:<group index>:<measure>
        return np.array([self.rem_index[(int(gi), m)]]), np.array([1.0])

    def default_targets(
        self, count_supp: np.ndarray, num_supp: np.ndarray
    ) -> list[tuple[int, str]]:
        """Every unpublished value: suppressed counts, numerators and non-outcome counts, and
        the non-zero remainders of margins."""
        t: list[tuple[int, str]] = [(int(i), "count") for i in np.flatnonzero(count_supp)]
        if self.has_num:
            for i in np.flatnonzero(num_supp):
                t.append((int(i), "numerator"))
                t.append((int(i), "non_outcome"))
        for gi, m, true in self.rem:
            if true > TOL:
                t.append((self.groups[gi].total, f"remainder:{gi}:{m}"))
        return t

    def check_published(self, free: np.ndarray) -> None:
        """Rows among published values only must hold (the whole-table LP would be infeasible)."""
        has_free = (self.pattern @ free.astype(float)) > 0
        resid = self.residual
        bad = ~has_free & np.where(self.is_eq_row, np.abs(resid) > TOL, resid > TOL)
        if bad.any():
            raise DisclosureError(INCONSISTENT)

    # ------------------------------------------------------------ cells and margins
    @property
    def by_cell(self) -> dict[int, list[int]]:
        """Margin groups each cell takes part in (as total or member)."""
        if self._by_cell is None:
            self._by_cell = {}
            for gi, g in enumerate(self.groups):
                for c in [g.total, *g.members]:
                    self._by_cell.setdefault(c, []).append(gi)
        return self._by_cell

    @property
    def incidence(self) -> sparse.csr_matrix:
        """Groups x cells: 1 where the cell is the group's total or one of its members."""
        if self._incidence is None:
            r, c = [], []
            for gi, g in enumerate(self.groups):
                for cell in [g.total, *g.members]:
                    r.append(gi)
                    c.append(cell)
            self._incidence = sparse.csr_matrix(
                (np.ones(len(r)), (r, c)), shape=(len(self.groups), self.n)
            )
        return self._incidence

    def margin(self, dim_rows: list[tuple[Any, ...]], totals_label: str) -> np.ndarray:
        """Which cells are margins (some dim equal to ``totals_label``)."""
        if self._margin is None:
            self._margin = np.array(
                [any(v == totals_label for v in r) for r in dim_rows], dtype=bool
            )
        return self._margin
