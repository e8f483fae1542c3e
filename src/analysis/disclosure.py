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


class _Problem:
    """Linear system for one table: count variables, numerator variables, remainder variables."""

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

    def intervals(
        self,
        count_supp: np.ndarray,
        num_supp: np.ndarray,
        targets: Iterable[tuple[int, str]] | None = None,
        stop_below: float | None = None,
    ) -> list[Interval]:
        """Min and max of every unpublished value (or of ``targets``)."""
        eq, ub = self._static_rows()
        bounds: list[tuple[float, float | None]] = []
        for i in range(self.n):
            v = float(self.counts[i])
            bounds.append((0.0, None) if count_supp[i] else (v, v))
        if self.has_num:
            assert self.numerators is not None
            for i in range(self.n):
                v = float(self.numerators[i])
                bounds.append((0.0, None) if num_supp[i] else (v, v))
        bounds.extend((0.0, None) for _ in self.rem)

        def mat(rows: list[dict[int, float]]) -> sparse.csr_matrix | None:
            if not rows:
                return None
            r, c, d = [], [], []
            for k, row in enumerate(rows):
                for j, val in row.items():
                    r.append(k)
                    c.append(j)
                    d.append(val)
            return sparse.csr_matrix((d, (r, c)), shape=(len(rows), self.nvar))

        a_eq, a_ub = mat(eq), mat(ub)
        b_eq = np.zeros(len(eq)) if eq else None
        b_ub = np.zeros(len(ub)) if ub else None

        if targets is None:
            targets = self.default_targets(count_supp, num_supp)
        out: list[Interval] = []
        for cell, measure in targets:
            obj = np.zeros(self.nvar)
            if measure == "count":
                obj[self.xvar(cell)] = 1.0
            elif measure == "numerator":
                obj[self.yvar(cell)] = 1.0
            elif measure == "non_outcome":
                obj[self.xvar(cell)] = 1.0
                obj[self.yvar(cell)] = -1.0
            else:  # remainder:<group index>:<measure>
                _, gi, m = measure.split(":")
                obj[self.rem_index[(int(gi), m)]] = 1.0
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
                if res.status == 3:  # unbounded
                    ends.append(sign * -np.inf if sign > 0 else np.inf)
                elif res.status != 0:
                    raise DisclosureError(
                        f"linear-programming check could not solve ({res.message}); "
                        "the table's margins are inconsistent with its cells"
                    )
                else:
                    ends.append(sign * res.fun)
            low, high = ends[0], ends[1]
            low = max(low, 0.0) if np.isfinite(low) else 0.0
            out.append(Interval(cell, measure, float(low), float(high), ""))
            if stop_below is not None and out[-1].width < stop_below - _TOL:
                break
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
        groups = _groups(dim_rows, dims, totals_label)
        prob = _Problem(counts, nums, groups)

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
        while True:
            guard += 1
            ivs = prob.intervals(count_supp, num_supp, stop_below=width)
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
    margin = np.array([any(v == totals_label for v in r) for r in dim_rows], dtype=bool)
    by_cell: dict[int, list[int]] = {}
    for gi, g in enumerate(prob.groups):
        for c in [g.total, *g.members]:
            by_cell.setdefault(c, []).append(gi)
    linked = np.zeros(len(counts), dtype=bool)
    for g in prob.groups:
        cells = [g.total, *g.members]
        if any(unpub[c] for c in cells):
            for c in cells:
                linked[c] = True

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
    best, best_w = ranked[0], -1.0
    for o in ranked:
        cs, ns = count_supp.copy(), num_supp.copy()
        if measure == "count":
            cs[o] = True
            ns[o] = True
        else:
            ns[o] = True
        w = prob.intervals(cs, ns, targets=[(iv.cell, iv.measure)])[0].width
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
