"""A release: every table of one publication, protected consistently.

:meth:`Release.protect` validates a table, suppresses (:mod:`~analysis.disclosure.suppression`)
until the LP check (:mod:`~analysis.disclosure.lp`) passes, and publishes it
(:mod:`~analysis.disclosure.publish`). A cell suppressed in one table is suppressed in every table
of the release where it appears (:meth:`Release.finalise` re-protects until nothing changes);
:meth:`Release.audit` records it all (:mod:`~analysis.disclosure.audit`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.config import Privacy
from analysis.disclosure import audit as _audit
from analysis.disclosure.attack import TrueTable
from analysis.disclosure.audit import TableRecord, TableSpec
from analysis.disclosure.ledger import Ledger, Rule, Structure, TableView, build
from analysis.disclosure.lp import TableLP
from analysis.disclosure.protected import DisclosureError, Protected
from analysis.disclosure.publish import notes, publish
from analysis.disclosure.secure import secure_round
from analysis.disclosure.suppression import CellKey, explain, primary, secondary
from analysis.disclosure.system import TOL, margin_groups

log = logging.getLogger(__name__)

RELEASE_WIDE = "secondary: protects a cell that other tables of the release relate to"
PRINTED = ("", "z")  # symbols of a value a reader reads (z: no people, so 0)


class Release:
    """Every table of one publication, protected consistently.

    Parameters
    ----------
    privacy
        ``Config.privacy`` (``min_cell``, ``protection_width``, ``round_base``,
        ``magnitude_share``).
    structure
        What the release's dims mean (:class:`~analysis.disclosure.ledger.Structure`): with it,
        :meth:`finalise` also suppresses against the relations across tables, and the audit
        attacks the whole release.

    Examples
    --------
    >>> rel = Release(cfg.privacy)                                    # doctest: +SKIP
    >>> t = rel.protect("eqao_by_status", df, dims=("school_year", "care_status"),
    ...                 count="students", numerator="at_standard", stats=("rate",))  # doctest: +SKIP
    >>> rel.write_audit(results / "disclosure_audit.json")           # doctest: +SKIP
    """

    def __init__(self, privacy: Privacy, structure: Structure | None = None) -> None:
        self.privacy = privacy
        self.structure = structure
        # rows each table hides because the release-wide suppression chose them: table -> column
        self._forced: dict[str, dict[str, np.ndarray]] = {}
        self.release_wide: dict[str, Any] = {}
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
        forced = self._forced.get(name, {})
        for col, mask in ((count, pattern.count_supp), (numerator, pattern.num_supp)):
            extra = forced.get(col or "") if col else None
            if extra is not None:
                for j in np.flatnonzero(extra & ~mask).tolist():
                    pattern.reasons[j] = pattern.reasons[j] or RELEASE_WIDE
                mask |= extra
        pattern.num_supp |= pattern.count_supp
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
            table,
            count,
            numerator,
            spec.stats,
            counts,
            nums,
            count_supp,
            num_supp,
            p.round_base,
            hide=self._stat_hides(name, table, num_supp if numerator else count_supp),
            count_level=self._count_level(spec),
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

    def _count_level(self, spec: TableSpec) -> tuple[str, ...]:
        """Stats that, like the count, describe the row without its varying dim (a society-year's
        days beside its children on each placement-group row): hidden with the count only."""
        if self.structure is None:
            return ()
        const = self.structure.constant.get(spec.name, {})
        dim = const.get(spec.count)
        return tuple(s for s in spec.stats if dim is not None and const.get(s) == dim)

    def _stat_hides(
        self, name: str, table: pl.DataFrame, hidden_rows: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Stat rows hidden besides the suppressed cells: amounts chosen release-wide, and any
        ratio whose numerator or denominator is hidden in its row."""
        out = {c: m.copy() for c, m in self._forced.get(name, {}).items() if c in table.columns}
        if self.structure is None:
            return out
        for ratio, (top, bottom) in self.structure.ratios.get(name, {}).items():
            mask = out.get(ratio, np.zeros(table.height, dtype=bool))
            for c in (top, bottom):
                if c in out:
                    mask = mask | out[c]
            out[ratio] = mask | hidden_rows
        return out

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
        table changes. With a :class:`Structure`, then suppresses against the whole release
        (:mod:`~analysis.disclosure.secure`) and settles again, until nothing fails. Returns the
        final tables by name (use these, not earlier returns).
        """
        self._settle()
        if self.structure is not None:
            self._secure()
        return {k: r.protected for k, r in self._records.items()}

    def _secure(self) -> None:
        """Release-wide secondary suppression rounds until no quantity breaks the rule."""
        rule = self.rule()
        rounds, hidden, first_failing = 0, 0, None
        cache: dict[Any, tuple[float, float]] = {}
        for _ in range(500):
            led = self.ledger()
            res, hides = secure_round(led, rule, lambda bad: None, cache)
            log.info(
                "release-wide round %d: %d quantities, %d failing, %d complements",
                rounds,
                res.examined,
                res.failing,
                res.hidden,
            )
            if first_failing is None:
                first_failing = res.failing
            if not res.failing:
                break
            if res.unresolved and not res.hidden:
                raise DisclosureError(
                    f"release: {len(res.unresolved)} values cannot be protected against the "
                    "other tables of the release (no printed value left to suppress beside them)"
                )
            rounds += 1
            hidden += res.hidden
            for (table, column), rows in hides.items():
                rec = self._records[table]
                mask = self._forced.setdefault(table, {}).setdefault(
                    column, np.zeros(rec.spec.table.height, dtype=bool)
                )
                mask[sorted(rows)] = True
            self._settle()
        else:
            raise DisclosureError("release: release-wide suppression did not settle in 500 rounds")
        self.release_wide = {
            "rounds": rounds,
            "complements": hidden,
            "failing_before": first_failing or 0,
            "quantities": res.examined,
            "relations": len(led.relations),
            "variables": led.n,
        }

    def rule(self) -> Rule:
        """The protection rule every hidden quantity must keep (``Config.privacy``)."""
        p = self.privacy
        return Rule(
            min_cell=p.min_cell,
            width=float(p.protection_width),
            magnitude_share=float(getattr(p, "magnitude_share", 0.0)),
        )

    def views(self) -> list[TableView]:
        """Every table as the ledger reads it (true values; printed where the symbol says)."""
        st = self.structure or Structure()
        out = []
        for rec in self._records.values():
            spec, df = rec.spec, rec.protected.df
            cols = [spec.count, *([spec.numerator] if spec.numerator else [])]
            cols += [c for c in st.magnitudes.get(spec.name, ()) if c in df.columns]
            printed = {c: df[f"{c}__symbol"].is_in(PRINTED).to_numpy() for c in cols}
            out.append(
                TableView(
                    name=spec.name,
                    universe=spec.universe,
                    dims=spec.dims,
                    count=spec.count,
                    numerator=spec.numerator,
                    table=spec.table,
                    totals_label=spec.totals_label,
                    printed=printed,
                )
            )
        return out

    def true_tables(self) -> list[TrueTable]:
        """Every table with its true values, for the audit (``results/disclosure``)."""
        return [
            TrueTable(
                name=r.spec.name,
                universe=r.spec.universe,
                dims=r.spec.dims,
                count=r.spec.count,
                numerator=r.spec.numerator,
                stats=r.spec.stats,
                totals_label=r.spec.totals_label,
                table=r.spec.table,
            )
            for r in self._records.values()
        ]

    def ledger(self) -> Ledger:
        """The release as one linear system (:mod:`~analysis.disclosure.ledger`)."""
        return build(self.views(), self.structure or Structure())

    def _settle(self) -> None:
        for _ in range(50):
            before = (len(self._suppressed), len(self._num_suppressed))
            for name, rec in list(self._records.items()):
                self._records[name] = self._protect(rec.spec)
            if (len(self._suppressed), len(self._num_suppressed)) == before:
                break

    @property
    def _units(self) -> Mapping[str, str]:
        return self.structure.units if self.structure is not None else {}

    def differencing(self) -> list[dict[str, Any]]:
        """Pairs of published counts (different tables) whose difference is 1..min_cell-1.

        Same universe: the same cell, or a cell and a finer cell nested in it. Different
        universes: the same dim values (two populations differing by a few people).
        """
        return _audit.differencing(self._records.values(), self.privacy.min_cell, self._units)

    def inconsistencies(self) -> list[dict[str, Any]]:
        """Cells suppressed in one table but published in another (same universe and dims)."""
        return _audit.inconsistencies(self._records.values(), self._suppressed)

    def audit(self) -> dict[str, Any]:
        """Every table, its suppressed cells, why, the LP intervals, and the release checks
        (with a :class:`Structure`: the release-wide suppression's record too)."""
        out = _audit.audit(self._records.values(), self.privacy, self._suppressed, self._units)
        if self.structure is not None:
            out["release_wide"] = self.release_wide
        return out

    def check(self) -> None:
        """Raise :class:`DisclosureError` unless every release-wide check passes."""
        a = self.audit()
        if not a["passed"]:
            raise DisclosureError(
                f"release fails disclosure checks: {len(a['differencing'])} differencing pairs, "
                f"{len(a['inconsistent'])} inconsistently suppressed cells, "
                f"{sum(not t['lp_check_passed'] for t in a['tables'])} tables failing the LP check "
                "(the release's audit, disclosure_audit.json, lists them); nothing is published"
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
