"""Disclosure control: the one gate every published number passes through.

A published table is a :class:`Protected`; the chart helper, the table renderer and the CSV writer
accept nothing else, so a number cannot reach a report without passing :meth:`Release.protect`.

Rules (``Config.privacy``; BRIEF.md section 5)
----------------------------------------------
Tables are long-form: one row per cell, ``dims`` are the classification columns, and a row whose
value in a dim is ``totals_label`` is the margin over that dim. ``count`` is the number of people in
the cell, ``numerator`` (optional) the number of them with the outcome, ``stats`` values computed
from the cell's people (rate, confidence limits, mean, ...).

Primary suppression
    A cell with ``0 < count < min_cell`` is suppressed whole (count, numerator and stats). When a
    numerator is published, a cell whose ``numerator < min_cell`` or ``count - numerator < min_cell``
    keeps its count but has its numerator and stats suppressed: publishing them would say that
    (almost) everyone or no one in a group has the outcome.
Zero rule
    A cell with ``count == 0`` is published as 0 (an empty cell describes nobody), and its numerator
    and stats are ``z`` (not applicable). Zero counts still enter the linear-programming check as
    published values, so they never help an attacker more than they really do. Zero cells are used
    as complementary suppressions only when nothing else is available.
Secondary suppression
    Greedy: while some suppressed value can be narrowed to an interval narrower than
    ``protection_width`` from what is published with it, suppress the smallest published interior
    cell (margins last) sharing a margin constraint with it. Termination: each step suppresses one
    more value; a fully suppressed table has unbounded intervals.
Verification
    For each suppressed count, numerator and non-outcome count (``count - numerator``), and for each
    unpublished remainder of a margin (margin minus the sum of its published members, when the
    members do not add up to it), solve min and max by linear programming (HiGHS) subject to every
    published value, the additivity of margins, non-negativity and ``numerator <= count``. The width
    must be at least ``protection_width``. The check runs on exact values; rounding (below) only
    widens what an attacker can infer.
Consistency across a release
    A cell is identified by its ``universe`` (the population counted, default the count column's
    name) and its non-margin dim values. A cell suppressed in one table is suppressed in every table
    of the release where it appears (:meth:`Release.finalise` re-protects until nothing changes), and
    :meth:`Release.audit` flags any two published counts of the same or nested cells whose
    difference is between 1 and ``min_cell - 1`` people (differencing).
Rounding
    With ``round_base`` set, published counts and numerators are rounded to the nearest multiple
    (half up) after suppression; stats are left as computed.
Symbols (UK GSS)
    ``c`` suppressed, ``z`` not applicable, ``x`` not available (null in the input), ``""`` published.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse
from scipy.optimize import linprog

from analysis.config import Privacy

SYMBOL_SUPPRESSED = "c"
SYMBOL_NOT_APPLICABLE = "z"
SYMBOL_NOT_AVAILABLE = "x"
SYMBOL_LOW_RELIABILITY = "u"

_TOL = 1e-6
_BATCH_VARS = 8000  # variables per batched LP (see _Problem.solve)

# one LP job: a component's variables (sorted) and the objective's variables and coefficients
_Job = tuple[np.ndarray, np.ndarray, np.ndarray]
# a component's rows: COO row, column, value (local numbering), right-hand side, is-equality
_Sub = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_ZERO_TOL = 1e-9  # a non-negative objective this small at a feasible point: minimum 0
_CONE_TOL = 1e-7  # a recession direction improving the objective by more: unbounded


def _gather(indptr: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the entries of compressed rows (or columns) ``sel``, and which one each is."""
    starts, ends = indptr[sel], indptr[np.asarray(sel) + 1]
    lens = ends - starts
    owner = np.repeat(np.arange(len(sel)), lens)
    flat = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens) + starts[owner]
    return flat, owner


@dataclass(frozen=True)
class Protected:
    """A table that has passed disclosure control.

    ``df`` keeps numeric columns numeric (null where suppressed) and has a ``symbol`` column per
    published value column, named ``<col>__symbol`` ("c", "z", "x" or "" ), so charts can plot the
    numbers and tables/CSVs can print the symbols.
    """

    name: str
    df: pl.DataFrame
    dims: tuple[str, ...]
    count: str
    numerator: str | None = None
    stats: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


class DisclosureError(ValueError):
    """A table cannot be protected, or a release fails its checks."""


# --------------------------------------------------------------------------------------------
# The table's linear structure
# --------------------------------------------------------------------------------------------


@dataclass
class _Group:
    """One margin constraint: ``total`` row relates to ``members`` rows (measure-specific kind)."""

    dim: str
    total: int
    members: list[int]


@dataclass
class Interval:
    """What an attacker can infer about one unpublished value."""

    cell: int
    measure: str  # "count", "numerator", "non_outcome" or "remainder:<dim>"
    low: float
    high: float
    reason: str

    @property
    def width(self) -> float:
        return self.high - self.low


def _groups(keys: list[tuple[Any, ...]], dims: Sequence[str], totals_label: str) -> list[_Group]:
    out: list[_Group] = []
    for d, dim in enumerate(dims):
        members: dict[tuple[Any, ...], list[int]] = {}
        for i, k in enumerate(keys):
            if k[d] != totals_label:
                members.setdefault(k[:d] + k[d + 1 :], []).append(i)
        for i, k in enumerate(keys):
            if k[d] == totals_label:
                rest = k[:d] + k[d + 1 :]
                out.append(_Group(dim, i, sorted(members.get(rest, []))))
    return out


def _relation(total: float, member_sum: float) -> str:
    if abs(total - member_sum) < _TOL:
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


class _Problem:
    """Linear system for one table: count variables, numerator variables, remainder variables.

    Built once per table: the constraint rows (margins, ``numerator <= count``) as one sparse
    matrix ``A`` whose first ``n_eq`` rows are equalities (``A v = 0``) and the rest inequalities
    (``A v <= 0``), over ``v = (counts, numerators, remainders)``.

    Solving is by components. Published values are constants, so they move to the right-hand
    side; what is left splits into connected components over the unpublished variables (two are
    connected when a constraint row holds both). The feasible set is the product of the
    components' feasible sets (each non-empty: the true values satisfy every row), so the min and
    max of a value over the whole table equal its min and max over its own component: exact, and
    typically a handful of variables instead of the whole table. A component of one variable is
    bounded in closed form; larger ones are solved with HiGHS. A component's sub-problem depends
    only on its set of variables (every other variable in its rows is published, at its true
    value), so results are cached by that set for the life of the table.
    """

    def __init__(
        self,
        counts: np.ndarray,
        numerators: np.ndarray | None,
        groups: list[_Group],
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
        # true value of every variable (published ones are fixed at it)
        parts = [np.asarray(counts, dtype=float)]
        if numerators is not None:
            parts.append(np.asarray(numerators, dtype=float))
        parts.append(np.array([t for _, _, t in self.rem], dtype=float))
        self.values = np.concatenate(parts)
        eq, ub = self._static_rows()
        self.n_eq = len(eq)
        self.a = _matrix(eq + ub, self.nvar)
        self.a_csc = self.a.tocsc()
        self._cache: dict[tuple[bytes, bytes, bytes], tuple[float, float]] = {}
        self._by_cell: dict[int, list[int]] | None = None
        self._incidence: sparse.csr_matrix | None = None
        self._margin: np.ndarray | None = None
        self.lp_solves = 0  # LPs solved (for benchmarks and tests)
        self._subs: dict[bytes, _Sub] = {}
        self._objectives: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        # the last full answer (every default target) and the unpublished pattern it was for
        self._last: tuple[bytes, list[tuple[int, str, float, float]]] | None = None
        self.pattern = abs(self.a).tocsr()
        self.residual = self.a @ self.values  # 0 (or <= 0) where the true values satisfy a row
        self.is_eq_row = np.arange(self.a.shape[0]) < self.n_eq

    def xvar(self, i: int) -> int:
        return i

    def yvar(self, i: int) -> int:
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

    # ------------------------------------------------------------ structure helpers
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

    def component(self, v: int, free: np.ndarray) -> np.ndarray:
        """Sorted free variables connected to ``v`` through constraint rows with free members."""
        a, a_csc = self.a, self.a_csc
        seen_v = np.zeros(self.nvar, dtype=bool)
        seen_v[v] = True
        seen_r = np.zeros(a.shape[0], dtype=bool)
        frontier = [v]
        while frontier:
            rows = np.concatenate(
                [a_csc.indices[a_csc.indptr[u] : a_csc.indptr[u + 1]] for u in frontier]
            )
            rows = np.unique(rows)
            rows = rows[~seen_r[rows]]
            if not rows.size:
                break
            seen_r[rows] = True
            vs = np.unique(np.concatenate([a.indices[a.indptr[r] : a.indptr[r + 1]] for r in rows]))
            vs = vs[free[vs] & ~seen_v[vs]]
            seen_v[vs] = True
            frontier = vs.tolist()
        return np.flatnonzero(seen_v)

    def _sub(self, comp: np.ndarray) -> _Sub:
        """Rows of component ``comp``: coefficients on its variables (COO, local row and column
        numbers), right-hand side with the published values moved over, and which are equalities.
        """
        ck = comp.tobytes()
        hit = self._subs.get(ck)
        if hit is not None:
            return hit
        a, a_csc = self.a, self.a_csc
        flat, _ = _gather(a_csc.indptr, comp)
        rows = np.unique(a_csc.indices[flat])
        flat, owner = _gather(a.indptr, rows)
        cols, data = a.indices[flat], a.data[flat]
        pos = np.full(self.nvar, -1)
        pos[comp] = np.arange(comp.size)
        inside = pos[cols] >= 0
        rhs = -np.bincount(
            owner[~inside], weights=data[~inside] * self.values[cols[~inside]], minlength=rows.size
        )
        sub = (owner[inside], pos[cols[inside]], data[inside], rhs, rows < self.n_eq)
        self._subs[ck] = sub
        return sub

    def solve(self, jobs: Sequence[_Job]) -> list[tuple[float, float]]:
        """Min and max of each job's objective over its component (cached by component).

        One-variable components are bounded in closed form. The rest are solved in batches: the
        jobs' components (a copy per job) form one block-diagonal LP, and each block's part of
        an optimum is optimal for that job on its own (the blocks share nothing). Unbounded
        directions are found first, exactly, from the recession cone (``A_eq d = 0``,
        ``A_ub d <= 0``, ``0 <= d <= 1``: the objective is unbounded above iff some such ``d``
        has ``c . d > 0``), so the batched min and max LPs hold only bounded jobs.
        """
        out: list[tuple[float, float] | None] = [None] * len(jobs)
        pending: dict[tuple[bytes, bytes, bytes], list[int]] = {}
        for k, (comp, idx, coef) in enumerate(jobs):
            key = (comp.tobytes(), idx.tobytes(), coef.tobytes())
            hit = self._cache.get(key)
            if hit is not None:
                out[k] = hit
            elif comp.size == 1:
                row, _, data, rhs, is_eq = self._sub(comp)
                a1 = np.bincount(row, weights=data, minlength=rhs.size)
                res = self._closed_form(a1, rhs, is_eq, float(coef.sum()))
                self._cache[key] = out[k] = res
            else:
                pending.setdefault(key, []).append(k)
        batches: list[list[tuple[bytes, bytes, bytes]]] = [[]]
        size = 0
        for key, ks in pending.items():
            if size >= _BATCH_VARS:
                batches.append([])
                size = 0
            batches[-1].append(key)
            size += jobs[ks[0]][0].size
        for batch in batches:
            if not batch:
                continue
            solved = self._lp_batch([jobs[pending[b][0]] for b in batch])
            for b, r in zip(batch, solved, strict=True):
                self._cache[b] = r
                for k in pending[b]:
                    out[k] = r
        return [r for r in out if r is not None]

    def _nonneg(self, job: _Job) -> bool:
        """Whether the job's objective is ``>= 0`` on every feasible point (a bound or a row)."""
        _, idx, coef = job
        if idx.size == 1:
            return bool(coef[0] > 0)
        # count minus numerator of one cell: numerator <= count is a row of the system
        return (
            self.has_num
            and idx.size == 2
            and int(idx[0]) < self.n
            and int(idx[1]) == self.yvar(int(idx[0]))
            and coef[0] == 1.0
            and coef[1] == -1.0
        )

    def _lp_batch(self, jobs: Sequence[_Job]) -> list[tuple[float, float]]:
        subs = [self._sub(comp) for comp, _, _ in jobs]
        objs = []
        for comp, idx, coef in jobs:
            o = np.zeros(comp.size)
            o[np.searchsorted(comp, idx)] = coef
            objs.append(o)
        nj = len(jobs)
        nonneg = [self._nonneg(j) for j in jobs]
        signed = [j for j in range(nj) if not nonneg[j]]
        # unbounded directions: minimise -c.d (max side) and c.d (min side) over the cone;
        # an objective that is >= 0 everywhere cannot be unbounded below
        cone = self._block_lp(
            [(subs[j], -objs[j]) for j in range(nj)] + [(subs[j], objs[j]) for j in signed],
            cone=True,
        )
        if cone is None:  # cannot happen (d = 0 is feasible and the cone LP bounded)
            return [self._lp_job(j, s) for j, s in zip(jobs, subs, strict=True)]
        highs = [np.inf if v < -_CONE_TOL else np.nan for v in cone[:nj]]
        lows = [np.nan] * nj
        for j, v in zip(signed, cone[nj:], strict=True):
            if v < -_CONE_TOL:
                lows[j] = -np.inf
        # a non-negative objective that is 0 at some feasible point has minimum 0: one LP per
        # component (minimising the sum of its non-negative objectives) certifies most of them
        by_comp: dict[bytes, list[int]] = {}
        for j in range(nj):
            if nonneg[j]:
                by_comp.setdefault(jobs[j][0].tobytes(), []).append(j)
        if by_comp:
            groups = list(by_comp.values())
            point = self._block_point(
                [(subs[g[0]], np.sum([objs[j] for j in g], axis=0)) for g in groups], cone=False
            )
            if point is not None:
                for g, x in zip(groups, point, strict=True):
                    for j in g:
                        if float(objs[j] @ x) <= _ZERO_TOL:
                            lows[j] = 0.0
        for sign, ends in ((1.0, lows), (-1.0, highs)):
            keep = [j for j in range(nj) if np.isnan(ends[j])]
            if not keep:
                continue
            vals = self._block_lp([(subs[j], sign * objs[j]) for j in keep], cone=False)
            for n, j in enumerate(keep):
                if vals is None:  # infeasible or numerically troubled: solve each alone
                    ends[j] = self._lp_one(jobs[j], subs[j], sign)
                else:
                    ends[j] = sign * vals[n]
        return list(zip(lows, highs, strict=True))

    def _block_lp(
        self, blocks: Sequence[tuple[_Sub, np.ndarray]], cone: bool
    ) -> list[float] | None:
        """Minimise the sum of the blocks' objectives (one LP); each block's optimal value.

        ``cone``: the homogeneous system (right-hand sides 0) with ``0 <= d <= 1``.
        """
        xs = self._block_point(blocks, cone)
        if xs is None:
            return None
        return [float(o @ x) for (_, o), x in zip(blocks, xs, strict=True)]

    def _block_point(
        self, blocks: Sequence[tuple[_Sub, np.ndarray]], cone: bool
    ) -> list[np.ndarray] | None:
        """An optimum of :meth:`_block_lp`, one slice per block (``None`` if none found)."""
        parts: dict[bool, list[list[np.ndarray]]] = {
            True: [[], [], [], []],
            False: [[], [], [], []],
        }
        nrows = {True: 0, False: 0}
        offs = np.cumsum([0] + [o.size for _, o in blocks])
        for j, ((row, col, data, rhs, is_eq), _) in enumerate(blocks):
            for e in (True, False):
                sel = is_eq == e
                k = int(sel.sum())
                if not k:
                    continue
                local = np.cumsum(sel) - 1  # new row number within this kind
                keep = sel[row]
                r, c, d, b = parts[e]
                r.append(local[row[keep]] + nrows[e])
                c.append(col[keep] + offs[j])
                d.append(data[keep])
                b.append(np.zeros(k) if cone else rhs[sel])
                nrows[e] += k
        nv = int(offs[-1])

        def mat(e: bool) -> tuple[sparse.csr_matrix | None, np.ndarray | None]:
            if not nrows[e]:
                return None, None
            r, c, d, b = parts[e]
            shape = (nrows[e], nv)
            m = sparse.csr_matrix(
                (np.concatenate(d), (np.concatenate(r), np.concatenate(c))), shape=shape
            )
            return m, np.concatenate(b)

        a_eq, b_eq = mat(True)
        a_ub, b_ub = mat(False)
        obj = np.concatenate([o for _, o in blocks])
        self.lp_solves += 1
        res = linprog(
            obj,
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=a_eq,
            b_eq=b_eq,
            bounds=(0.0, 1.0 if cone else None),
            method="highs",
        )
        if res.status != 0:
            return None
        return [res.x[offs[j] : offs[j + 1]] for j in range(len(blocks))]

    def _lp_job(self, job: _Job, sub: _Sub) -> tuple[float, float]:
        return self._lp_one(job, sub, 1.0), self._lp_one(job, sub, -1.0)

    @staticmethod
    def _closed_form(
        a: np.ndarray, b: np.ndarray, is_eq: np.ndarray, c: float
    ) -> tuple[float, float]:
        """Bounds of ``c * v`` where ``v >= 0`` and ``a_r v (=|<=) b_r`` for each row ``r``."""
        lo, hi = 0.0, np.inf
        for ar, br, e in zip(a.tolist(), b.tolist(), is_eq.tolist(), strict=True):
            if ar == 0.0:
                continue
            q = br / ar
            if e:
                lo, hi = max(lo, q), min(hi, q)
            elif ar > 0:
                hi = min(hi, q)
            else:
                lo = max(lo, q)
        if lo > hi + _TOL:
            raise DisclosureError(
                "linear-programming check could not solve (infeasible); "
                "the table's margins are inconsistent with its cells"
            )
        hi = max(hi, lo)
        return (c * lo, c * hi) if c >= 0 else (c * hi, c * lo)

    def _lp_one(self, job: _Job, sub: _Sub, sign: float) -> float:
        """Min (``sign`` 1) or max (``sign`` -1) of one job alone; infinite if unbounded."""
        comp, idx, coef = job
        row, col, data, rhs, is_eq = sub
        a_v = sparse.csr_matrix((data, (row, col)), shape=(rhs.size, comp.size))
        obj = np.zeros(comp.size)
        obj[np.searchsorted(comp, idx)] = coef
        eq_rows, ub_rows = np.flatnonzero(is_eq), np.flatnonzero(~is_eq)
        self.lp_solves += 1
        res = linprog(
            sign * obj,
            A_ub=a_v[ub_rows] if ub_rows.size else None,
            b_ub=rhs[ub_rows] if ub_rows.size else None,
            A_eq=a_v[eq_rows] if eq_rows.size else None,
            b_eq=rhs[eq_rows] if eq_rows.size else None,
            bounds=(0.0, None),
            method="highs",
        )
        if res.status == 3:  # unbounded
            return -np.inf if sign > 0 else np.inf
        if res.status != 0:
            raise DisclosureError(
                f"linear-programming check could not solve ({res.message}); "
                "the table's margins are inconsistent with its cells"
            )
        return float(sign * res.fun)

    def intervals(
        self,
        count_supp: np.ndarray,
        num_supp: np.ndarray,
        targets: Iterable[tuple[int, str]] | None = None,
        stop_below: float | None = None,
        skip: set[tuple[int, str]] | None = None,
    ) -> list[Interval]:
        """Min and max of every unpublished value (or of ``targets``), exactly.

        Each target is solved over its own component only (see the class docstring); the
        result equals the min and max over the whole table. ``stop_below`` cuts the list after
        the first interval narrower than it; targets in ``skip`` are left out (the secondary
        suppression loop passes those already known wide: suppressing more only relaxes the
        problem, so an interval never narrows as suppression grows).
        """
        free = self.free_mask(count_supp, num_supp)
        memo = targets is None and not skip
        if memo and self._last is not None and self._last[0] == free.tobytes():
            out = [Interval(c, m, lo, hi, "") for c, m, lo, hi in self._last[1]]
        else:
            out = self._intervals(free, count_supp, num_supp, targets, skip)
            if memo:
                self._last = (free.tobytes(), [(i.cell, i.measure, i.low, i.high) for i in out])
        if stop_below is not None:
            for k, iv in enumerate(out):
                if iv.width < stop_below - _TOL:
                    return out[: k + 1]
        return out

    def _intervals(
        self,
        free: np.ndarray,
        count_supp: np.ndarray,
        num_supp: np.ndarray,
        targets: Iterable[tuple[int, str]] | None,
        skip: set[tuple[int, str]] | None,
    ) -> list[Interval]:
        if targets is None:
            targets = self.default_targets(count_supp, num_supp)
        todo = [t for t in targets if skip is None or t not in skip]
        self._check_published(free)
        comp_of: dict[int, np.ndarray] = {}
        jobs: list[_Job] = []
        plan: list[tuple[float, list[int]]] = []
        for cell, measure in todo:
            const, tjobs = self.jobs(cell, measure, free, comp_of)
            plan.append((const, list(range(len(jobs), len(jobs) + len(tjobs)))))
            jobs.extend(tjobs)
        res = self.solve(jobs)
        out: list[Interval] = []
        for (cell, measure), (const, ks) in zip(todo, plan, strict=True):
            low = const + sum(res[k][0] for k in ks)
            high = const + sum(res[k][1] for k in ks)
            low = max(low, 0.0) if np.isfinite(low) else 0.0
            out.append(Interval(cell, measure, float(low), float(high), ""))
        return out

    def _check_published(self, free: np.ndarray) -> None:
        """Rows among published values only must hold (the whole-table LP would be infeasible)."""
        has_free = (self.pattern @ free.astype(float)) > 0
        resid = self.residual
        bad = ~has_free & np.where(self.is_eq_row, np.abs(resid) > _TOL, resid > _TOL)
        if bad.any():
            raise DisclosureError(
                "linear-programming check could not solve (infeasible); "
                "the table's margins are inconsistent with its cells"
            )

    def jobs(
        self, cell: int, measure: str, free: np.ndarray, comp_of: dict[int, np.ndarray]
    ) -> tuple[float, list[_Job]]:
        """One target as a constant plus one job per component its free variables fall in.

        ``comp_of`` memoises components under this ``free`` pattern.
        """
        key = (cell, measure)
        hit = self._objectives.get(key)
        if hit is None:
            hit = self._objectives[key] = self.objective(cell, measure)
        idx, coef = hit
        f = free[idx]
        if f.all():
            const, fi, fc = 0.0, idx, coef
        else:
            const = float(coef[~f] @ self.values[idx[~f]])
            fi, fc = idx[f], coef[f]
        comps = []
        for v in fi.tolist():
            if v not in comp_of:
                comp = self.component(v, free)
                for u in comp.tolist():
                    comp_of[u] = comp
            comps.append(comp_of[v])
        if not comps:
            return const, []
        if all(c is comps[0] for c in comps):
            return const, [(comps[0], fi, fc)]
        out: list[_Job] = []
        done: set[int] = set()
        for comp in comps:
            if id(comp) in done:
                continue
            done.add(id(comp))
            inside = np.isin(fi, comp)
            out.append((comp, fi[inside], fc[inside]))
        return const, out

    def intervals_full(
        self,
        count_supp: np.ndarray,
        num_supp: np.ndarray,
        targets: Iterable[tuple[int, str]] | None = None,
    ) -> list[Interval]:
        """Reference: the same intervals from two LPs over the whole table per target (slow).

        Kept to test :meth:`intervals` against; not used by the release.
        """
        free = self.free_mask(count_supp, num_supp)
        bounds = [(0.0, None) if free[j] else (v, v) for j, v in enumerate(self.values.tolist())]
        a_eq = self.a[: self.n_eq] if self.n_eq else None
        a_ub = self.a[self.n_eq :] if self.a.shape[0] > self.n_eq else None
        b_eq = np.zeros(self.n_eq) if a_eq is not None else None
        b_ub = np.zeros(self.a.shape[0] - self.n_eq) if a_ub is not None else None
        if targets is None:
            targets = self.default_targets(count_supp, num_supp)
        out: list[Interval] = []
        for cell, measure in targets:
            idx, coef = self.objective(cell, measure)
            obj = np.zeros(self.nvar)
            obj[idx] = coef
            ends = []
            for sign in (1.0, -1.0):
                res = linprog(
                    sign * obj,
                    A_ub=a_ub,
                    b_ub=b_ub,
                    A_eq=a_eq,
                    b_eq=b_eq,
                    bounds=bounds,
                    method="highs",
                )
                if res.status == 3:
                    ends.append(-np.inf if sign > 0 else np.inf)
                elif res.status != 0:
                    raise DisclosureError(
                        f"linear-programming check could not solve ({res.message})"
                    )
                else:
                    ends.append(sign * res.fun)
            low = max(ends[0], 0.0) if np.isfinite(ends[0]) else 0.0
            out.append(Interval(cell, measure, float(low), float(ends[1]), ""))
        return out

    def default_targets(
        self, count_supp: np.ndarray, num_supp: np.ndarray
    ) -> list[tuple[int, str]]:
        t: list[tuple[int, str]] = [(int(i), "count") for i in np.flatnonzero(count_supp)]
        if self.has_num:
            for i in np.flatnonzero(num_supp):
                t.append((int(i), "numerator"))
                t.append((int(i), "non_outcome"))
        for gi, m, true in self.rem:
            if true > _TOL:
                t.append((self.groups[gi].total, f"remainder:{gi}:{m}"))
        return t


# --------------------------------------------------------------------------------------------
# Release
# --------------------------------------------------------------------------------------------


@dataclass
class _Record:
    name: str
    args: dict[str, Any]
    protected: Protected
    universe: str
    keys: list[frozenset[tuple[str, Any]]]
    counts: np.ndarray
    count_supp: np.ndarray
    num_supp: np.ndarray
    reasons: list[str]
    intervals: list[Interval]
    passed: bool


class Release:
    """Every table of one publication, protected consistently.

    Parameters
    ----------
    privacy
        ``Config.privacy`` (``min_cell``, ``protection_width``, ``round_base``).

    Examples
    --------
    >>> rel = Release(cfg.privacy)                                    # doctest: +SKIP
    >>> t = rel.protect("eqao_by_status", df, dims=("school_year", "care_status"),
    ...                 count="students", numerator="at_standard", stats=("rate",))  # doctest: +SKIP
    >>> rel.write_audit(results / "disclosure_audit.json")           # doctest: +SKIP
    """

    def __init__(self, privacy: Privacy) -> None:
        self.privacy = privacy
        self._records: dict[str, _Record] = {}
        self._suppressed: set[tuple[str, frozenset[tuple[str, Any]]]] = set()
        self._num_suppressed: set[tuple[str, str, frozenset[tuple[str, Any]]]] = set()
        self._problems: dict[str, tuple[pl.DataFrame, tuple[Any, ...], _Problem]] = {}

    # ---------------------------------------------------------------- protect
    def protect(
        self,
        name: str,
        table: pl.DataFrame,
        dims: Sequence[str],
        count: str,
        numerator: str | None = None,
        stats: Sequence[str] = (),
        totals_label: str = "Total",
        *,
        universe: str | None = None,
    ) -> Protected:
        """Suppress, verify and (optionally) round one table of the release.

        Parameters
        ----------
        name
            Unique table name in this release (the audit lists tables by it).
        table
            Long form: one row per cell; unique on ``dims``.
        dims
            Classification columns; a value equal to ``totals_label`` marks a margin row.
        count
            People in the cell (non-negative integers).
        numerator
            People in the cell with the outcome (``0 <= numerator <= count``), if published.
        stats
            Columns computed from the cell's people (rates, limits, means): nulled with the cell.
        universe
            The population counted (default: the name of ``count``). Cells of the same universe
            and dim values are the same cell in every table of the release.

        Returns
        -------
        Protected
            With ``<col>__symbol`` columns; numeric columns null where not published.

        Raises
        ------
        DisclosureError
            On malformed input (naming the table, column, rule and row count), or when the
            suppressed cells cannot be protected.
        """
        dims = tuple(dims)
        stats = tuple(stats)
        universe = universe or count
        args = dict(
            name=name,
            table=table,
            dims=dims,
            count=count,
            numerator=numerator,
            stats=stats,
            totals_label=totals_label,
            universe=universe,
        )
        rec = self._protect(**args)  # type: ignore[arg-type]
        self._records[name] = rec
        return rec.protected

    def _protect(
        self,
        name: str,
        table: pl.DataFrame,
        dims: tuple[str, ...],
        count: str,
        numerator: str | None,
        stats: tuple[str, ...],
        totals_label: str,
        universe: str,
    ) -> _Record:
        _validate(name, table, dims, count, numerator, stats)
        p = self.privacy
        n = table.height
        counts = table[count].cast(pl.Float64).to_numpy().copy()
        nums = table[numerator].cast(pl.Float64).to_numpy().copy() if numerator else None
        dim_rows = table.select(dims).rows()
        keys = [
            frozenset((d, v) for d, v in zip(dims, row, strict=True) if v != totals_label)
            for row in dim_rows
        ]
        prob = self._problem(name, table, dims, count, numerator, totals_label, dim_rows)

        reasons = [""] * n
        count_supp = np.zeros(n, dtype=bool)
        num_supp = np.zeros(n, dtype=bool)
        for i in range(n):
            if 0 < counts[i] < p.min_cell:
                count_supp[i] = True
                reasons[i] = f"primary: count below {p.min_cell}"
            elif (
                nums is not None
                and counts[i] > 0
                and (nums[i] < p.min_cell or counts[i] - nums[i] < p.min_cell)
            ):
                num_supp[i] = True
                reasons[i] = f"primary: {numerator} or {count} minus {numerator} below {p.min_cell}"
            if not count_supp[i] and (universe, keys[i]) in self._suppressed:
                count_supp[i] = True
                reasons[i] = "consistency: suppressed in another table of the release"
            if (
                nums is not None
                and not num_supp[i]
                and counts[i] > 0
                and (universe, numerator or "", keys[i]) in self._num_suppressed
            ):
                num_supp[i] = True
                reasons[i] = reasons[i] or "consistency: suppressed in another table of the release"
        num_supp |= count_supp

        # secondary suppression until the LP check passes
        width = float(p.protection_width)
        guard = 0
        wide: set[tuple[int, str]] = set()  # stays wide: suppression only grows in this loop
        while True:
            guard += 1
            ivs = prob.intervals(count_supp, num_supp, skip=wide)
            wide.update((iv.cell, iv.measure) for iv in ivs if iv.width >= width - _TOL)
            bad = [iv for iv in ivs if iv.width < width - _TOL]
            if not bad or guard > 4 * n + 4:
                break
            iv = bad[0]
            measure = "count" if iv.measure == "count" or iv.measure.endswith(":count") else "num"
            pick = _complement(
                prob, iv, count_supp, num_supp, counts, measure, dim_rows, totals_label
            )
            if pick is None:
                break
            if measure == "count":
                count_supp[pick] = True
                if nums is not None:
                    num_supp[pick] = True
            else:
                num_supp[pick] = True
            reasons[pick] = "secondary: protects a suppressed cell from the margins"

        ivs = prob.intervals(count_supp, num_supp)
        for iv in ivs:
            iv.reason = (
                reasons[iv.cell]
                if not iv.measure.startswith("remainder")
                else ("unpublished remainder of a margin")
            )
        passed = all(iv.width >= width - _TOL for iv in ivs)
        if not passed:
            raise DisclosureError(
                f"table {name}: {sum(iv.width < width - _TOL for iv in ivs)} suppressed values "
                f"could not be protected to width {width} (rule: protection_width)"
            )

        for j in np.flatnonzero(count_supp).tolist():
            self._suppressed.add((universe, keys[j]))
        for j in np.flatnonzero(num_supp).tolist():
            self._num_suppressed.add((universe, numerator or "", keys[j]))

        df = _publish(
            table, count, numerator, stats, counts, nums, count_supp, num_supp, p.round_base
        )
        notes = [
            f"c: suppressed to protect groups of fewer than {p.min_cell} people",
            "z: not applicable (no people in the group)",
            "x: not available",
        ]
        if p.round_base:
            notes.append(f"counts rounded to the nearest {p.round_base}")
        prot = Protected(
            name=name,
            df=df,
            dims=dims,
            count=count,
            numerator=numerator,
            stats=stats,
            notes=tuple(notes),
        )
        return _Record(
            name=name,
            args=dict(
                name=name,
                table=table,
                dims=dims,
                count=count,
                numerator=numerator,
                stats=stats,
                totals_label=totals_label,
                universe=universe,
            ),
            protected=prot,
            universe=universe,
            keys=keys,
            counts=counts,
            count_supp=count_supp,
            num_supp=num_supp,
            reasons=reasons,
            intervals=ivs,
            passed=passed,
        )

    def _problem(
        self,
        name: str,
        table: pl.DataFrame,
        dims: tuple[str, ...],
        count: str,
        numerator: str | None,
        totals_label: str,
        dim_rows: list[tuple[Any, ...]],
    ) -> _Problem:
        """The table's linear system, reused (with its solved components) on re-protection."""
        sig = (dims, count, numerator, totals_label)
        hit = self._problems.get(name)
        if hit is not None and hit[0] is table and hit[1] == sig:
            return hit[2]
        counts = table[count].cast(pl.Float64).to_numpy().copy()
        nums = table[numerator].cast(pl.Float64).to_numpy().copy() if numerator else None
        prob = _Problem(counts, nums, _groups(dim_rows, dims, totals_label))
        self._problems[name] = (table, sig, prob)
        return prob

    # ---------------------------------------------------------------- release-wide
    def finalise(self) -> dict[str, Protected]:
        """Re-protect every table until suppressions agree across the release.

        A cell suppressed in a later table is suppressed in earlier ones too; repeats until no
        table changes, then returns the final tables by name (use these, not earlier returns).
        """
        for _ in range(50):
            before = (len(self._suppressed), len(self._num_suppressed))
            for name, rec in list(self._records.items()):
                self._records[name] = self._protect(**rec.args)
            if (len(self._suppressed), len(self._num_suppressed)) == before:
                break
        return {k: r.protected for k, r in self._records.items()}

    def differencing(self) -> list[dict[str, Any]]:
        """Pairs of published counts (different tables) whose difference is 1..min_cell-1.

        Same universe: the same cell, or a cell and a finer cell nested in it. Different
        universes: the same dim values (two populations differing by a few people).
        """
        m = self.privacy.min_cell
        pub: dict[frozenset[tuple[str, Any]], list[tuple[str, str, float]]] = {}
        for rec in self._records.values():
            for i, k in enumerate(rec.keys):
                if not rec.count_supp[i]:
                    pub.setdefault(k, []).append((rec.name, rec.universe, float(rec.counts[i])))
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        table_keys = {rec.name: set(rec.keys) for rec in self._records.values()}
        for k, entries in pub.items():
            subkeys = [
                frozenset(s)
                for r in range(len(k) + 1)
                for s in itertools.combinations(sorted(k, key=repr), r)
            ]
            for sk in subkeys:
                for a in pub.get(sk, []):
                    for b in entries:
                        if a[0] == b[0]:
                            continue
                        same = sk == k
                        # nested: same population, and the finer table does not publish the
                        # coarser cell itself (then its own LP check covers the difference)
                        if not same and (a[1] != b[1] or sk in table_keys[b[0]]):
                            continue
                        diff = abs(a[2] - b[2])
                        if 0 < diff < m:
                            sig = (min(a[0], b[0]), max(a[0], b[0]), sk, k)
                            if sig in seen:
                                continue
                            seen.add(sig)
                            out.append(
                                {
                                    "tables": sorted([a[0], b[0]]),
                                    "cell": _fmt_key(sk),
                                    "nested_cell": None if same else _fmt_key(k),
                                    "difference": diff,
                                    "rule": f"two published counts differ by fewer than {m} people",
                                }
                            )
        return out

    def inconsistencies(self) -> list[dict[str, Any]]:
        """Cells suppressed in one table but published in another (same universe and dims)."""
        out = []
        for rec in self._records.values():
            for i, k in enumerate(rec.keys):
                if not rec.count_supp[i] and (rec.universe, k) in self._suppressed:
                    out.append(
                        {
                            "table": rec.name,
                            "cell": _fmt_key(k),
                            "rule": "suppressed elsewhere in the release but published here",
                        }
                    )
        return out

    def audit(self) -> dict[str, Any]:
        """Every table, its suppressed cells, why, the LP intervals, and the release checks."""
        tables = []
        for rec in self._records.values():
            cells = []
            for iv in rec.intervals:
                cells.append(
                    {
                        "cell": _fmt_key(rec.keys[iv.cell]),
                        "value": iv.measure,
                        "reason": iv.reason,
                        "interval": [iv.low, None if not np.isfinite(iv.high) else iv.high],
                        "width": None if not np.isfinite(iv.width) else iv.width,
                    }
                )
            tables.append(
                {
                    "table": rec.name,
                    "universe": rec.universe,
                    "cells": len(rec.keys),
                    "suppressed_counts": int(rec.count_supp.sum()),
                    "suppressed_numerators": int(rec.num_supp.sum())
                    if rec.args["numerator"]
                    else 0,
                    "lp_check_passed": rec.passed,
                    "suppressed": cells,
                }
            )
        diff = self.differencing()
        inc = self.inconsistencies()
        return {
            "rules": {
                "min_cell": self.privacy.min_cell,
                "protection_width": self.privacy.protection_width,
                "round_base": self.privacy.round_base,
                "zero_rule": "zero counts published as 0; their numerators and stats are z",
            },
            "tables": tables,
            "differencing": diff,
            "inconsistent": inc,
            "passed": all(t["lp_check_passed"] for t in tables) and not diff and not inc,
        }

    def check(self) -> None:
        """Raise :class:`DisclosureError` unless every release-wide check passes."""
        a = self.audit()
        if not a["passed"]:
            raise DisclosureError(
                f"release fails disclosure checks: {len(a['differencing'])} differencing pairs, "
                f"{len(a['inconsistent'])} inconsistently suppressed cells, "
                f"{sum(not t['lp_check_passed'] for t in a['tables'])} tables failing the LP check"
            )

    def write_audit(self, path: Path) -> Path:
        """Write :meth:`audit` as JSON (stable order)."""
        from analysis.io import write_json

        return write_json(self.audit(), Path(path))


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _fmt_key(k: frozenset[tuple[str, Any]]) -> dict[str, str]:
    return {d: str(v) for d, v in sorted(k, key=lambda t: t[0])}


def _validate(
    name: str,
    table: pl.DataFrame,
    dims: tuple[str, ...],
    count: str,
    numerator: str | None,
    stats: tuple[str, ...],
) -> None:
    cols = [*dims, count, *([numerator] if numerator else []), *stats]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise DisclosureError(f"table {name}: missing columns {missing}")
    if table.select(dims).is_duplicated().any():
        k = int(table.select(dims).is_duplicated().sum())
        raise DisclosureError(f"table {name}: {k} rows repeat a combination of {list(dims)}")
    c = table[count]
    if not c.dtype.is_numeric():
        raise DisclosureError(f"table {name}: column {count} must be numeric")
    bad = int((c.is_null() | (c < 0) | (c.cast(pl.Float64).round(0) != c.cast(pl.Float64))).sum())
    if bad:
        raise DisclosureError(
            f"table {name}: column {count}: {bad} rows not a non-negative whole number"
        )
    if numerator:
        y = table[numerator]
        bad = int((y.is_null() | (y < 0) | (y > c)).sum())
        if bad:
            raise DisclosureError(
                f"table {name}: column {numerator}: {bad} rows not between 0 and {count}"
            )


def _complement(
    prob: _Problem,
    iv: Interval,
    count_supp: np.ndarray,
    num_supp: np.ndarray,
    counts: np.ndarray,
    measure: str,
    dim_rows: list[tuple[Any, ...]],
    totals_label: str,
) -> int | None:
    """The next published value to suppress so that ``iv`` widens.

    1. A margin constraint where ``iv``'s cell is the only unpublished value pins it exactly:
       suppress a partner there, preferring interior cells that already share another constraint
       with a suppressed cell (so suppressions close into rectangles), then small counts.
    2. Otherwise look one step ahead: of the published cells near it (by margin constraints), the
       one whose suppression widens ``iv`` most.
    """
    unpub = count_supp if measure == "count" else num_supp
    published = ~unpub & (counts > 0) if measure != "count" else ~count_supp
    margin = prob.margin(dim_rows, totals_label)
    by_cell = prob.by_cell
    # cells sharing a margin group with an unpublished value
    inc = prob.incidence
    touched = (inc @ unpub.astype(float)) > 0
    linked = (inc.T @ touched.astype(float)) > 0

    def score(o: int) -> tuple[Any, ...]:
        return (margin[o], counts[o] == 0, not linked[o], counts[o], o)

    cell = iv.cell
    if not iv.measure.startswith("remainder"):
        for gi in by_cell.get(cell, []):
            g = prob.groups[gi]
            cells = [g.total, *g.members]
            if sum(bool(unpub[c]) for c in cells) == 1:
                cand = [c for c in cells if published[c]]
                if cand:
                    return min(cand, key=score)

    # breadth-first neighbourhood of published cells
    frontier, visited = [cell], {cell}
    cand_set: set[int] = set()
    while frontier and len(cand_set) < 12:
        nxt: list[int] = []
        for c in frontier:
            for gi in by_cell.get(c, []):
                g = prob.groups[gi]
                for o in [g.total, *g.members]:
                    if o in visited:
                        continue
                    visited.add(o)
                    if published[o]:
                        cand_set.add(o)
                    else:
                        nxt.append(o)
        frontier = nxt
    if not cand_set:
        rest = np.flatnonzero(published).tolist()
        return int(min(rest, key=score)) if rest else None
    ranked = sorted(cand_set, key=score)[:12]
    # the widths with each candidate suppressed, solved together as one batch
    plans: list[tuple[float, list[int]]] = []
    jobs: list[_Job] = []
    for o in ranked:
        cs, ns = count_supp.copy(), num_supp.copy()
        if measure == "count":
            cs[o] = True
            ns[o] = True
        else:
            ns[o] = True
        const, tjobs = prob.jobs(iv.cell, iv.measure, prob.free_mask(cs, ns), {})
        plans.append((const, list(range(len(jobs), len(jobs) + len(tjobs)))))
        jobs.extend(tjobs)
    res = prob.solve(jobs)
    best, best_w = ranked[0], -1.0
    for o, (const, ks) in zip(ranked, plans, strict=True):
        low = const + sum(res[k][0] for k in ks)
        high = const + sum(res[k][1] for k in ks)
        low = max(low, 0.0) if np.isfinite(low) else 0.0
        w = high - low
        if w > best_w + _TOL:
            best, best_w = o, w
    return best


def _round(values: np.ndarray, base: int) -> np.ndarray:
    return np.floor(values / base + 0.5) * base


def _publish(
    table: pl.DataFrame,
    count: str,
    numerator: str | None,
    stats: tuple[str, ...],
    counts: np.ndarray,
    nums: np.ndarray | None,
    count_supp: np.ndarray,
    num_supp: np.ndarray,
    round_base: int | None,
) -> pl.DataFrame:
    zero = counts == 0
    out = table
    shown = np.where(count_supp, np.nan, counts)
    if round_base:
        shown = _round(shown, round_base)
    out = out.with_columns(
        pl.Series(count, shown, dtype=pl.Float64).fill_nan(None).cast(pl.Int64),
        pl.Series(f"{count}__symbol", np.where(count_supp, SYMBOL_SUPPRESSED, ""), dtype=pl.String),
    )
    hide_rest = num_supp if numerator else count_supp
    if numerator and nums is not None:
        ny = np.where(hide_rest | zero, np.nan, nums)
        if round_base:
            ny = _round(ny, round_base)
        sym = np.where(hide_rest, SYMBOL_SUPPRESSED, np.where(zero, SYMBOL_NOT_APPLICABLE, ""))
        out = out.with_columns(
            pl.Series(numerator, ny, dtype=pl.Float64).fill_nan(None).cast(pl.Int64),
            pl.Series(f"{numerator}__symbol", sym, dtype=pl.String),
        )
    for s in stats:
        col = table[s]
        missing = col.is_null().to_numpy()
        if col.dtype.is_float():
            missing = missing | col.is_nan().fill_null(False).to_numpy()
        sym = np.where(
            hide_rest,
            SYMBOL_SUPPRESSED,
            np.where(zero, SYMBOL_NOT_APPLICABLE, np.where(missing, SYMBOL_NOT_AVAILABLE, "")),
        )
        keep = pl.Series(sym == "")
        out = out.with_columns(
            pl.when(keep).then(pl.col(s)).otherwise(None).alias(s),
            pl.Series(f"{s}__symbol", sym, dtype=pl.String),
        )
    return out


def audit_json(release: Release) -> str:
    """The audit as a JSON string (for tests and logs)."""
    return json.dumps(release.audit(), sort_keys=True, default=str)
