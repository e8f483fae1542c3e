"""A table's unpublished values split into independent pieces: components and their sub-problems.

Published values are constants, so they move to the right-hand side; what is left splits into
connected components over the unpublished variables (two are connected when a constraint row holds
both). The feasible set is the product of the components' feasible sets (each non-empty: the true
values satisfy every row), so the min and max of a value over the whole table equal its min and
max over its own component. A component's sub-problem depends only on its set of variables (every
other variable in its rows is published, at its true value), so it is cached by that set.
"""

from __future__ import annotations

import numpy as np

from analysis.disclosure.system import TableSystem

# one LP job: a component's variables (sorted) and the objective's variables and coefficients
Job = tuple[np.ndarray, np.ndarray, np.ndarray]
# a component's rows: COO row, column, value (local numbering), right-hand side, is-equality
Sub = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _gather(indptr: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the entries of compressed rows (or columns) ``sel``, and which one each is."""
    starts, ends = indptr[sel], indptr[np.asarray(sel) + 1]
    lens = ends - starts
    owner = np.repeat(np.arange(len(sel)), lens)
    flat = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens) + starts[owner]
    return flat, owner


class Components:
    """Components of the free variables of one :class:`TableSystem`, and their sub-problems."""

    def __init__(self, system: TableSystem) -> None:
        self.system = system
        self._subs: dict[bytes, Sub] = {}
        self._objectives: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}

    def component(self, v: int, free: np.ndarray) -> np.ndarray:
        """Sorted free variables connected to ``v`` through constraint rows with free members."""
        a, a_csc = self.system.a, self.system.a_csc
        seen_v = np.zeros(self.system.nvar, dtype=bool)
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

    def sub(self, comp: np.ndarray) -> Sub:
        """Rows of component ``comp``: coefficients on its variables (COO, local row and column
        numbers), right-hand side with the published values moved over, and which are equalities.
        """
        ck = comp.tobytes()
        hit = self._subs.get(ck)
        if hit is not None:
            return hit
        s = self.system
        a, a_csc = s.a, s.a_csc
        flat, _ = _gather(a_csc.indptr, comp)
        rows = np.unique(a_csc.indices[flat])
        flat, owner = _gather(a.indptr, rows)
        cols, data = a.indices[flat], a.data[flat]
        pos = np.full(s.nvar, -1)
        pos[comp] = np.arange(comp.size)
        inside = pos[cols] >= 0
        rhs = -np.bincount(
            owner[~inside], weights=data[~inside] * s.values[cols[~inside]], minlength=rows.size
        )
        sub = (owner[inside], pos[cols[inside]], data[inside], rhs, rows < s.n_eq)
        self._subs[ck] = sub
        return sub

    def jobs(
        self, cell: int, measure: str, free: np.ndarray, comp_of: dict[int, np.ndarray]
    ) -> tuple[float, list[Job]]:
        """One target as a constant plus one job per component its free variables fall in.

        ``comp_of`` memoises components under this ``free`` pattern.
        """
        key = (cell, measure)
        hit = self._objectives.get(key)
        if hit is None:
            hit = self._objectives[key] = self.system.objective(cell, measure)
        idx, coef = hit
        f = free[idx]
        if f.all():
            const, fi, fc = 0.0, idx, coef
        else:
            const = float(coef[~f] @ self.system.values[idx[~f]])
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
        out: list[Job] = []
        done: set[int] = set()
        for comp in comps:
            if id(comp) in done:
                continue
            done.add(id(comp))
            inside = np.isin(fi, comp)
            out.append((comp, fi[inside], fc[inside]))
        return const, out
