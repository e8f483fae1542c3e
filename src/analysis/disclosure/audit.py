"""The release's record of each protected table, its release-wide checks, and the audit.

A cell is identified by its ``universe`` (the population counted) and its non-margin dim values.
:func:`differencing` flags two published counts of the same or nested cells (in different tables)
whose difference is between 1 and ``min_cell - 1`` people; :func:`inconsistencies` a cell
suppressed in one table but published in another. :func:`audit` lists every table, its suppressed
values, why, the LP intervals, and these checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from analysis.config import Privacy
from analysis.disclosure.lp import Interval
from analysis.disclosure.protected import Protected
from analysis.disclosure.suppression import CellKey


@dataclass(frozen=True)
class TableSpec:
    """The arguments one table was protected with (kept to re-protect it)."""

    name: str
    table: pl.DataFrame
    dims: tuple[str, ...]
    count: str
    numerator: str | None
    stats: tuple[str, ...]
    totals_label: str
    universe: str


@dataclass
class TableRecord:
    """One protected table as the release remembers it."""

    spec: TableSpec
    protected: Protected
    keys: list[CellKey]
    counts: np.ndarray
    count_supp: np.ndarray
    num_supp: np.ndarray
    reasons: list[str]
    intervals: list[Interval]
    passed: bool

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def universe(self) -> str:
        return self.spec.universe


def _fmt_key(k: CellKey) -> dict[str, str]:
    return {d: str(v) for d, v in sorted(k, key=lambda t: t[0])}


def differencing(
    records: Iterable[TableRecord], min_cell: int, units: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Pairs of published counts (different tables) whose difference is 1..min_cell-1.

    Same universe: the same cell, or a cell and a finer cell nested in it. Different
    universes: the same dim values (two populations differing by a few people), when both count
    the same kind of unit (``units``: universe -> unit, people where not given; see
    :class:`~analysis.disclosure.ledger.Structure`).
    """
    records = list(records)
    unit = dict(units or {})
    m = min_cell
    pub: dict[CellKey, list[tuple[str, str, float]]] = {}
    for rec in records:
        for i, k in enumerate(rec.keys):
            if not rec.count_supp[i]:
                pub.setdefault(k, []).append((rec.name, rec.universe, float(rec.counts[i])))
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    table_keys = {rec.name: set(rec.keys) for rec in records}
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
                    if unit.get(a[1], "people") != unit.get(b[1], "people"):
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


def inconsistencies(
    records: Iterable[TableRecord], suppressed: Set[tuple[str, CellKey]]
) -> list[dict[str, Any]]:
    """Cells suppressed in one table but published in another (same universe and dims)."""
    out = []
    for rec in records:
        for i, k in enumerate(rec.keys):
            if not rec.count_supp[i] and (rec.universe, k) in suppressed:
                out.append(
                    {
                        "table": rec.name,
                        "cell": _fmt_key(k),
                        "rule": "suppressed elsewhere in the release but published here",
                    }
                )
    return out


def _table_entry(rec: TableRecord) -> dict[str, Any]:
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
    return {
        "table": rec.name,
        "universe": rec.universe,
        "cells": len(rec.keys),
        "suppressed_counts": int(rec.count_supp.sum()),
        "suppressed_numerators": int(rec.num_supp.sum()) if rec.spec.numerator else 0,
        "lp_check_passed": rec.passed,
        "suppressed": cells,
    }


def audit(
    records: Iterable[TableRecord],
    privacy: Privacy,
    suppressed: Set[tuple[str, CellKey]],
    units: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Every table, its suppressed cells, why, the LP intervals, and the release checks."""
    records = list(records)
    tables = [_table_entry(rec) for rec in records]
    diff = differencing(records, privacy.min_cell, units)
    inc = inconsistencies(records, suppressed)
    return {
        "rules": {
            "min_cell": privacy.min_cell,
            "protection_width": privacy.protection_width,
            "round_base": privacy.round_base,
            "zero_rule": "zero counts published as 0; their numerators and stats are z",
        },
        "tables": tables,
        "differencing": diff,
        "inconsistent": inc,
        "passed": all(t["lp_check_passed"] for t in tables) and not diff and not inc,
    }
