"""The linear-programming check of one table: what an attacker can infer about each hidden value.

:class:`TableLP` is built once per table from its counts, numerators and margin groups
(:mod:`~analysis.disclosure.system`), and answers, for a suppression pattern, the exact min and max
of every unpublished value subject to every published value, the additivity of margins,
non-negativity and ``numerator <= count``. Each value is solved over its own component only
(:mod:`~analysis.disclosure.components`, :mod:`~analysis.disclosure.solver`): typically a handful
of variables instead of the whole table, with the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from analysis.disclosure.components import Components, Job
from analysis.disclosure.protected import DisclosureError
from analysis.disclosure.solver import ComponentSolver
from analysis.disclosure.system import TOL, MarginGroup, TableSystem

# one value to bound: its cell and measure, the free variables and the memo of their components
Request = tuple[int, str, np.ndarray, dict[int, np.ndarray]]


@dataclass
class Interval:
    """What an attacker can infer about one unpublished value."""

    cell: int
    measure: str  # "count", "numerator", "non_outcome" or "remainder:<group>:<measure>"
    low: float
    high: float
    reason: str

    @property
    def width(self) -> float:
        return self.high - self.low


class TableLP:
    """The linear system of one table and its solver, with results cached for its lifetime."""

    def __init__(
        self,
        counts: np.ndarray,
        numerators: np.ndarray | None,
        groups: list[MarginGroup],
    ) -> None:
        self.system = TableSystem(counts, numerators, groups)
        self.components = Components(self.system)
        self.solver = ComponentSolver(self.system, self.components)
        # the last full answer (every default target) and the unpublished pattern it was for
        self._last: tuple[bytes, list[tuple[int, str, float, float]]] | None = None

    @property
    def lp_solves(self) -> int:
        """LPs solved so far (for benchmarks and tests)."""
        return self.solver.lp_solves

    def bounds(self, requests: Sequence[Request]) -> list[tuple[float, float]]:
        """Min and max of each requested value, solved together (one batch of LP jobs).

        A request's value is a constant (its published part) plus one job per component its free
        variables fall in; a low that is not finite is 0 (no value is negative).
        """
        jobs: list[Job] = []
        plan: list[tuple[float, list[int]]] = []
        for cell, measure, free, comp_of in requests:
            const, tjobs = self.components.jobs(cell, measure, free, comp_of)
            plan.append((const, list(range(len(jobs), len(jobs) + len(tjobs)))))
            jobs.extend(tjobs)
        res = self.solver.solve(jobs)
        out: list[tuple[float, float]] = []
        for const, ks in plan:
            low = const + sum(res[k][0] for k in ks)
            high = const + sum(res[k][1] for k in ks)
            low = max(low, 0.0) if np.isfinite(low) else 0.0
            out.append((float(low), float(high)))
        return out

    def intervals(
        self,
        count_supp: np.ndarray,
        num_supp: np.ndarray,
        targets: Iterable[tuple[int, str]] | None = None,
        stop_below: float | None = None,
        skip: set[tuple[int, str]] | None = None,
    ) -> list[Interval]:
        """Min and max of every unpublished value (or of ``targets``), exactly.

        Each target is solved over its own component only; the result equals the min and max over
        the whole table. ``stop_below`` cuts the list after the first interval narrower than it;
        targets in ``skip`` are left out (the secondary suppression loop passes those already known
        wide: suppressing more only relaxes the problem, so an interval never narrows as
        suppression grows).
        """
        free = self.system.free_mask(count_supp, num_supp)
        memo = targets is None and not skip
        if memo and self._last is not None and self._last[0] == free.tobytes():
            out = [Interval(c, m, lo, hi, "") for c, m, lo, hi in self._last[1]]
        else:
            if targets is None:
                targets = self.system.default_targets(count_supp, num_supp)
            todo = [t for t in targets if skip is None or t not in skip]
            self.system.check_published(free)
            comp_of: dict[int, np.ndarray] = {}
            found = self.bounds([(cell, measure, free, comp_of) for cell, measure in todo])
            out = [
                Interval(cell, measure, low, high, "")
                for (cell, measure), (low, high) in zip(todo, found, strict=True)
            ]
            if memo:
                self._last = (free.tobytes(), [(i.cell, i.measure, i.low, i.high) for i in out])
        if stop_below is not None:
            for k, iv in enumerate(out):
                if iv.width < stop_below - TOL:
                    return out[: k + 1]
        return out

    def intervals_full(
        self,
        count_supp: np.ndarray,
        num_supp: np.ndarray,
        targets: Iterable[tuple[int, str]] | None = None,
    ) -> list[Interval]:
        """Reference: the same intervals from two LPs over the whole table per target (slow).

        Kept to test :meth:`intervals` against; not used by the release.
        """
        s = self.system
        free = s.free_mask(count_supp, num_supp)
        bounds = [(0.0, None) if free[j] else (v, v) for j, v in enumerate(s.values.tolist())]
        a_eq = s.a[: s.n_eq] if s.n_eq else None
        a_ub = s.a[s.n_eq :] if s.a.shape[0] > s.n_eq else None
        b_eq = np.zeros(s.n_eq) if a_eq is not None else None
        b_ub = np.zeros(s.a.shape[0] - s.n_eq) if a_ub is not None else None
        if targets is None:
            targets = s.default_targets(count_supp, num_supp)
        out: list[Interval] = []
        for cell, measure in targets:
            idx, coef = s.objective(cell, measure)
            obj = np.zeros(s.nvar)
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
