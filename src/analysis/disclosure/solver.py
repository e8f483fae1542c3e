"""Min and max of linear objectives over components, exactly: closed form or batched HiGHS LPs.

A component of one variable is bounded in closed form; larger ones are solved in batches: the
jobs' components (a copy per job) form one block-diagonal LP, and each block's part of an optimum
is optimal for that job on its own (the blocks share nothing). Unbounded directions are found
first, exactly, from the recession cone (``A_eq d = 0``, ``A_ub d <= 0``, ``0 <= d <= 1``: the
objective is unbounded above iff some such ``d`` has ``c . d > 0``), so the batched min and max
LPs hold only bounded jobs. Results are cached by component and objective for the life of the
table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from analysis.disclosure.components import Components, Job, Sub
from analysis.disclosure.protected import DisclosureError
from analysis.disclosure.system import INCONSISTENT, TOL, TableSystem

BATCH_VARS = 8000  # variables per batched LP (see ComponentSolver.solve)
_ZERO_TOL = 1e-9  # a non-negative objective this small at a feasible point: minimum 0
_CONE_TOL = 1e-7  # a recession direction improving the objective by more: unbounded

_Key = tuple[bytes, bytes, bytes]
# one block of a block-diagonal LP: a component's rows and its objective
_Block = tuple[Sub, np.ndarray]
_Stacked = tuple[
    np.ndarray,
    sparse.csr_matrix | None,
    np.ndarray | None,
    sparse.csr_matrix | None,
    np.ndarray | None,
    np.ndarray,
]


def closed_form(a: np.ndarray, b: np.ndarray, is_eq: np.ndarray, c: float) -> tuple[float, float]:
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
    if lo > hi + TOL:
        raise DisclosureError(INCONSISTENT)
    hi = max(hi, lo)
    return (c * lo, c * hi) if c >= 0 else (c * hi, c * lo)


def _local_objective(job: Job) -> np.ndarray:
    """The job's objective over its component's variables (local numbering)."""
    comp, idx, coef = job
    o = np.zeros(comp.size)
    o[np.searchsorted(comp, idx)] = coef
    return o


def _batches(pending: dict[_Key, list[int]], jobs: Sequence[Job]) -> list[list[_Key]]:
    """The distinct pending jobs in batches of about :data:`BATCH_VARS` variables."""
    batches: list[list[_Key]] = [[]]
    size = 0
    for key, ks in pending.items():
        if size >= BATCH_VARS:
            batches.append([])
            size = 0
        batches[-1].append(key)
        size += jobs[ks[0]][0].size
    return batches


def _stack(blocks: Sequence[_Block], cone: bool) -> _Stacked:
    """The blocks as one block-diagonal LP: objective, inequality and equality rows, offsets.

    ``cone``: the homogeneous system (right-hand sides 0).
    """
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
    return obj, a_ub, b_ub, a_eq, b_eq, offs


class ComponentSolver:
    """Bounds of LP jobs over the components of one table (cached; counts the LPs it solves)."""

    def __init__(self, system: TableSystem, components: Components) -> None:
        self.system = system
        self.components = components
        self._cache: dict[_Key, tuple[float, float]] = {}
        self.lp_solves = 0  # LPs solved (for benchmarks and tests)

    def solve(self, jobs: Sequence[Job]) -> list[tuple[float, float]]:
        """Min and max of each job's objective over its component (cached by component)."""
        out: list[tuple[float, float] | None] = [None] * len(jobs)
        pending: dict[_Key, list[int]] = {}
        for k, (comp, idx, coef) in enumerate(jobs):
            key = (comp.tobytes(), idx.tobytes(), coef.tobytes())
            hit = self._cache.get(key)
            if hit is not None:
                out[k] = hit
            elif comp.size == 1:
                row, _, data, rhs, is_eq = self.components.sub(comp)
                a1 = np.bincount(row, weights=data, minlength=rhs.size)
                res = closed_form(a1, rhs, is_eq, float(coef.sum()))
                self._cache[key] = out[k] = res
            else:
                pending.setdefault(key, []).append(k)
        for batch in _batches(pending, jobs):
            if not batch:
                continue
            solved = self._lp_batch([jobs[pending[b][0]] for b in batch])
            for b, r in zip(batch, solved, strict=True):
                self._cache[b] = r
                for k in pending[b]:
                    out[k] = r
        return [r for r in out if r is not None]

    def _nonneg(self, job: Job) -> bool:
        """Whether the job's objective is ``>= 0`` on every feasible point (a bound or a row)."""
        _, idx, coef = job
        if idx.size == 1:
            return bool(coef[0] > 0)
        # count minus numerator of one cell: numerator <= count is a row of the system
        s = self.system
        return (
            s.has_num
            and idx.size == 2
            and int(idx[0]) < s.n
            and int(idx[1]) == s.yvar(int(idx[0]))
            and coef[0] == 1.0
            and coef[1] == -1.0
        )

    def _lp_batch(self, jobs: Sequence[Job]) -> list[tuple[float, float]]:
        """Bounds of several jobs (distinct, each over a component of two or more variables)."""
        subs = [self.components.sub(comp) for comp, _, _ in jobs]
        objs = [_local_objective(job) for job in jobs]
        nonneg = [self._nonneg(j) for j in jobs]
        ends = self._unbounded(subs, objs, nonneg)
        if ends is None:  # cannot happen (d = 0 is feasible and the cone LP bounded)
            return [self._lp_job(j, s) for j, s in zip(jobs, subs, strict=True)]
        lows, highs = ends
        self._zero_minima(jobs, subs, objs, nonneg, lows)
        for sign, bound in ((1.0, lows), (-1.0, highs)):
            self._finite_ends(jobs, subs, objs, sign, bound)
        return list(zip(lows, highs, strict=True))

    def _unbounded(
        self, subs: list[Sub], objs: list[np.ndarray], nonneg: list[bool]
    ) -> tuple[list[float], list[float]] | None:
        """Lows and highs known from the recession cone: infinite where unbounded, else NaN.

        Minimises ``-c.d`` (max side) and ``c.d`` (min side) over the cone in one LP; an
        objective that is ``>= 0`` everywhere cannot be unbounded below.
        """
        nj = len(objs)
        signed = [j for j in range(nj) if not nonneg[j]]
        cone = self._block_lp(
            [(subs[j], -objs[j]) for j in range(nj)] + [(subs[j], objs[j]) for j in signed],
            cone=True,
        )
        if cone is None:
            return None
        highs = [np.inf if v < -_CONE_TOL else np.nan for v in cone[:nj]]
        lows = [np.nan] * nj
        for j, v in zip(signed, cone[nj:], strict=True):
            if v < -_CONE_TOL:
                lows[j] = -np.inf
        return lows, highs

    def _zero_minima(
        self,
        jobs: Sequence[Job],
        subs: list[Sub],
        objs: list[np.ndarray],
        nonneg: list[bool],
        lows: list[float],
    ) -> None:
        """Set ``lows`` to 0 for the non-negative objectives that are 0 at some feasible point.

        One LP per component (minimising the sum of its non-negative objectives) certifies most.
        """
        by_comp: dict[bytes, list[int]] = {}
        for j in range(len(jobs)):
            if nonneg[j]:
                by_comp.setdefault(jobs[j][0].tobytes(), []).append(j)
        if not by_comp:
            return
        groups = list(by_comp.values())
        point = self._block_point(
            [(subs[g[0]], np.sum([objs[j] for j in g], axis=0)) for g in groups], cone=False
        )
        if point is None:
            return
        for g, x in zip(groups, point, strict=True):
            for j in g:
                if float(objs[j] @ x) <= _ZERO_TOL:
                    lows[j] = 0.0

    def _finite_ends(
        self,
        jobs: Sequence[Job],
        subs: list[Sub],
        objs: list[np.ndarray],
        sign: float,
        ends: list[float],
    ) -> None:
        """Fill the still-unknown (NaN) ``ends``: minima (``sign`` 1) or maxima (``sign`` -1)."""
        keep = [j for j in range(len(jobs)) if np.isnan(ends[j])]
        if not keep:
            return
        vals = self._block_lp([(subs[j], sign * objs[j]) for j in keep], cone=False)
        for n, j in enumerate(keep):
            if vals is None:  # infeasible or numerically troubled: solve each alone
                ends[j] = self._lp_one(jobs[j], subs[j], sign)
            else:
                ends[j] = sign * vals[n]

    def _block_lp(self, blocks: Sequence[_Block], cone: bool) -> list[float] | None:
        """Minimise the sum of the blocks' objectives (one LP); each block's optimal value.

        ``cone``: the homogeneous system (right-hand sides 0) with ``0 <= d <= 1``.
        """
        xs = self._block_point(blocks, cone)
        if xs is None:
            return None
        return [float(o @ x) for (_, o), x in zip(blocks, xs, strict=True)]

    def _block_point(self, blocks: Sequence[_Block], cone: bool) -> list[np.ndarray] | None:
        """An optimum of :meth:`_block_lp`, one slice per block (``None`` if none found)."""
        obj, a_ub, b_ub, a_eq, b_eq, offs = _stack(blocks, cone)
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

    def _lp_job(self, job: Job, sub: Sub) -> tuple[float, float]:
        return self._lp_one(job, sub, 1.0), self._lp_one(job, sub, -1.0)

    def _lp_one(self, job: Job, sub: Sub, sign: float) -> float:
        """Min (``sign`` 1) or max (``sign`` -1) of one job alone; infinite if unbounded."""
        comp = job[0]
        row, col, data, rhs, is_eq = sub
        a_v = sparse.csr_matrix((data, (row, col)), shape=(rhs.size, comp.size))
        obj = _local_objective(job)
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
