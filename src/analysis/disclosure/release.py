"""A release: every table of one publication, protected consistently.

:meth:`Release.protect` validates a table, suppresses (:mod:`~analysis.disclosure.suppression`)
until the LP check (:mod:`~analysis.disclosure.lp`) passes, and publishes it
(:mod:`~analysis.disclosure.publish`). A cell suppressed in one table is suppressed in every table
of the release where it appears (:meth:`Release.finalise` re-protects until nothing changes);
:meth:`Release.audit` records it all (:mod:`~analysis.disclosure.audit`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.config import Privacy
from analysis.disclosure import audit as _audit
from analysis.disclosure.audit import TableRecord, TableSpec
from analysis.disclosure.lp import TableLP
from analysis.disclosure.protected import DisclosureError, Protected
from analysis.disclosure.publish import notes, publish
from analysis.disclosure.suppression import CellKey, explain, primary, secondary
from analysis.disclosure.system import TOL, margin_groups


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
        self._records: dict[str, TableRecord] = {}
        self._suppressed: set[tuple[str, CellKey]] = set()
        self._num_suppressed: set[tuple[str, str, CellKey]] = set()
        self._problems: dict[str, tuple[pl.DataFrame, tuple[Any, ...], TableLP]] = {}

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
        spec = TableSpec(
            name=name,
            table=table,
            dims=tuple(dims),
            count=count,
            numerator=numerator,
            stats=tuple(stats),
            totals_label=totals_label,
            universe=universe or count,
        )
        rec = self._protect(spec)
        self._records[name] = rec
        return rec.protected

    def _protect(self, spec: TableSpec) -> TableRecord:
        """Protect one table against what the release has suppressed so far."""
        name, table, count, numerator = spec.name, spec.table, spec.count, spec.numerator
        _validate(name, table, spec.dims, count, numerator, spec.stats)
        p = self.privacy
        counts = table[count].cast(pl.Float64).to_numpy().copy()
        nums = table[numerator].cast(pl.Float64).to_numpy().copy() if numerator else None
        dim_rows = table.select(spec.dims).rows()
        keys = [
            frozenset((d, v) for d, v in zip(spec.dims, row, strict=True) if v != spec.totals_label)
            for row in dim_rows
        ]
        lp = self._problem(spec, dim_rows)
        pattern = primary(
            counts,
            nums,
            keys,
            p,
            count=count,
            numerator=numerator,
            universe=spec.universe,
            suppressed=self._suppressed,
            num_suppressed=self._num_suppressed,
        )
        width = float(p.protection_width)
        secondary(lp, pattern, counts, nums is not None, width, dim_rows, spec.totals_label)
        count_supp, num_supp = pattern.count_supp, pattern.num_supp
        ivs = lp.intervals(count_supp, num_supp)
        explain(ivs, pattern.reasons)
        passed = all(iv.width >= width - TOL for iv in ivs)
        if not passed:
            raise DisclosureError(
                f"table {name}: {sum(iv.width < width - TOL for iv in ivs)} suppressed values "
                f"could not be protected to width {width} (rule: protection_width)"
            )
        for j in np.flatnonzero(count_supp).tolist():
            self._suppressed.add((spec.universe, keys[j]))
        for j in np.flatnonzero(num_supp).tolist():
            self._num_suppressed.add((spec.universe, numerator or "", keys[j]))
        df = publish(
            table, count, numerator, spec.stats, counts, nums, count_supp, num_supp, p.round_base
        )
        prot = Protected(
            name=name,
            df=df,
            dims=spec.dims,
            count=count,
            numerator=numerator,
            stats=spec.stats,
            notes=notes(p),
        )
        return TableRecord(
            spec=spec,
            protected=prot,
            keys=keys,
            counts=counts,
            count_supp=count_supp,
            num_supp=num_supp,
            reasons=pattern.reasons,
            intervals=ivs,
            passed=passed,
        )

    def _problem(self, spec: TableSpec, dim_rows: list[tuple[Any, ...]]) -> TableLP:
        """The table's linear system, reused (with its solved components) on re-protection."""
        table = spec.table
        sig = (spec.dims, spec.count, spec.numerator, spec.totals_label)
        hit = self._problems.get(spec.name)
        if hit is not None and hit[0] is table and hit[1] == sig:
            return hit[2]
        counts = table[spec.count].cast(pl.Float64).to_numpy().copy()
        nums = table[spec.numerator].cast(pl.Float64).to_numpy().copy() if spec.numerator else None
        lp = TableLP(counts, nums, margin_groups(dim_rows, spec.dims, spec.totals_label))
        self._problems[spec.name] = (table, sig, lp)
        return lp

    # ---------------------------------------------------------------- release-wide
    def finalise(self) -> dict[str, Protected]:
        """Re-protect every table until suppressions agree across the release.

        A cell suppressed in a later table is suppressed in earlier ones too; repeats until no
        table changes, then returns the final tables by name (use these, not earlier returns).
        """
        for _ in range(50):
            before = (len(self._suppressed), len(self._num_suppressed))
            for name, rec in list(self._records.items()):
                self._records[name] = self._protect(rec.spec)
            if (len(self._suppressed), len(self._num_suppressed)) == before:
                break
        return {k: r.protected for k, r in self._records.items()}

    def differencing(self) -> list[dict[str, Any]]:
        """Pairs of published counts (different tables) whose difference is 1..min_cell-1.

        Same universe: the same cell, or a cell and a finer cell nested in it. Different
        universes: the same dim values (two populations differing by a few people).
        """
        return _audit.differencing(self._records.values(), self.privacy.min_cell)

    def inconsistencies(self) -> list[dict[str, Any]]:
        """Cells suppressed in one table but published in another (same universe and dims)."""
        return _audit.inconsistencies(self._records.values(), self._suppressed)

    def audit(self) -> dict[str, Any]:
        """Every table, its suppressed cells, why, the LP intervals, and the release checks."""
        return _audit.audit(self._records.values(), self.privacy, self._suppressed)

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


def _validate(
    name: str,
    table: pl.DataFrame,
    dims: tuple[str, ...],
    count: str,
    numerator: str | None,
    stats: tuple[str, ...],
) -> None:
    """Raise :class:`DisclosureError` naming the table, column and rule of malformed input."""
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


def audit_json(release: Release) -> str:
    """The audit as a JSON string (for tests and logs)."""
    return json.dumps(release.audit(), sort_keys=True, default=str)
