"""The whole release as one linear system: every value any table prints, and how they relate.

A table protected alone sees its own margins only; a reader holds every table at once. The ledger
turns the release into variables and equations an attacker can use together:

Variables
    One per distinct quantity, not per printed position: a cell is identified by its ``universe``
    (the population counted), its non-margin dim values and its measure (``count``, ``numerator``,
    or an amount such as days of care), so the same cell printed in two tables (or in every board
    report) is one variable, printed wherever any of its positions is printed. A column constant
    over a dim (a society-year's children repeated on each placement-group row) is one variable
    per value. Derived quantities that are never printed are variables too: latent totals (all
    students of a year, reached by summing care statuses, or in care and not in care), the
    non-outcome count of a cell (``count - numerator``), and slack variables that turn the
    inequalities below into equations (G-Confid's Auditing module takes equations only).
Relations (every one holds for the true values; each is an equation with coefficients +1/-1)
    Partitions (:attr:`Structure.partitions`): the cells of a dim that gives each person one value
    add up to the cell without it (a published margin, a row of another table, or a latent
    total); when they add up to less, a remainder variable takes the rest (people in no
    member), when to more, each member is at most the total and the members at least it.
    Dimension pairs (``dimension``/``group`` tables): the groups of each dimension add up to the
    same total. Nested values (:attr:`Structure.nested`: all links and high-confidence links;
    exits within 36, 24 and 12 months): a wider cell is a narrower one plus a difference.
    Cells: ``count = numerator + non-outcome``. Covers: numerators of overlapping groups (children
    with a day in each placement group) add up to at least the count. Sums of amounts: a
    society-year's days of care are the days of its placement groups.
Rule (:func:`rule_failures`)
    Every quantity a reader cannot read (a suppressed value, or a derived count of fewer than
    ``min_cell`` people) must keep an interval at least ``protection_width`` wide, and a count's
    upper bound must reach ``min_cell`` (a reader cannot tell it is a small group); an amount's
    interval must be at least ``magnitude_share`` of its value wide.

Ratios (a rate beside its count and numerator, a percentage of days beside the days) are not
equations with coefficients of one: the release never prints a ratio whose operand it hides (the
rows' symbols say so, and :mod:`~analysis.disclosure.attack` checks every printed file for it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from analysis.disclosure.components import Components
from analysis.disclosure.protected import DisclosureError
from analysis.disclosure.system import INCONSISTENT, TOL

log = logging.getLogger(__name__)

Key = tuple[tuple[str, Any], ...]  # sorted (dim, value) pairs of a cell's non-margin dims
VarId = tuple[Any, ...]  # (universe, key, measure) or a derived variable's label

COUNT_LIKE = ("count", "numerator", "non_outcome", "latent", "remainder", "difference")


@dataclass(frozen=True)
class Structure:
    """What the release's dims mean: which relations hold among its cells (see module doc).

    ``partitions``: dims giving each person one value (their cells add up to the cell without
    them). ``pairs``: universe -> (``by``, ``member``): the members of each ``by`` value partition
    the cell without both. ``nested``: dim -> values from the widest, each contained in the one
    before. ``constant``: table -> {column: dim the column does not vary over}. ``covers``: table ->
    dim whose numerators together cover the count. ``magnitudes``: table -> stat columns that
    are additive amounts. ``sums``: table -> {stat: the amount it sums over its constant dim}.
    ``ratios``: table -> {stat: (numerator column, denominator column)}. ``units``: universe ->
    what its counts count, where that is not people of one population (e.g. case closings):
    two universes' counts of the same cell are compared (differencing) only when they count the
    same kind of unit, since the difference of, say, case closings and survey answers counts
    nobody. ``within``: universe -> {dim: {parent dim: {value: parent value}}}, a geography
    nested in a coarser one (boards in regions, societies in regions and in groups of
    societies): the cells of a dim's values that map to one parent value add up to the parent's
    cell, as well as all of them adding up to the cell without either dim. A value the mapping
    does not name, and the dim's rest (null: other boards), are in the parent's rest (null), as
    the tables are tagged (:meth:`analysis.analyse.Places.tag`).
    """

    partitions: tuple[str, ...] = ()
    pairs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    nested: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    constant: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    covers: Mapping[str, str] = field(default_factory=dict)
    magnitudes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sums: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    ratios: Mapping[str, Mapping[str, tuple[str, str]]] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    within: Mapping[str, Mapping[str, Mapping[str, Mapping[Any, Any]]]] = field(
        default_factory=dict
    )


@dataclass
class TableView:
    """One table as the ledger reads it: true values and which positions are printed.

    ``printed``: column -> bool per row (the count, the numerator and each amount column).
    ``hidden``: the same, True where a reader sees the position shown as suppressed; ``None``
    = every position not printed is (a table as protected; a table as printed in files has
    positions no file shows at all, neither printed nor hidden).
    """

    name: str
    universe: str
    dims: tuple[str, ...]
    count: str
    numerator: str | None
    table: pl.DataFrame
    totals_label: str
    printed: dict[str, np.ndarray]
    hidden: dict[str, np.ndarray] | None = None

    def shown_hidden(self, column: str, row: int) -> bool:
        if self.hidden is None:
            return not bool(self.printed[column][row])
        return bool(self.hidden[column][row])


@dataclass
class Var:
    """One quantity of the release."""

    ident: VarId
    kind: str  # count, numerator, non_outcome, latent, remainder, difference, excess, amount
    value: float
    universe: str = ""
    key: Key = ()
    measure: str = ""


@dataclass
class Relation:
    """One equation ``sum(coef * var) = 0`` (true values satisfy it), and what it states."""

    coefs: dict[int, float]
    kind: str  # partition, pair, nested, cell, cover, sum, same
    about: str


class Ledger:
    """Variables, printed positions and relations of a release (build with :func:`build`)."""

    def __init__(self) -> None:
        self.vars: list[Var] = []
        self.index: dict[VarId, int] = {}
        self.positions: dict[int, list[tuple[str, int, str]]] = {}
        self.printed_at: dict[int, bool] = {}
        self.hidden_at: set[int] = set()  # variables shown as c (or x) in some position
        self.relations: list[Relation] = []
        # (total, members incl. any remainder, about) of each additive margin
        self.margins: list[tuple[int, list[int], str]] = []

    # ------------------------------------------------------------ building
    def var(self, ident: VarId, kind: str, value: float, **kw: Any) -> int:
        """The variable ``ident`` (created with ``value`` if new)."""
        hit = self.index.get(ident)
        if hit is not None:
            return hit
        self.vars.append(Var(ident, kind, float(value), **kw))
        self.index[ident] = len(self.vars) - 1
        return len(self.vars) - 1

    def place(self, v: int, table: str, row: int, column: str, printed: bool, hidden: bool) -> None:
        self.positions.setdefault(v, []).append((table, row, column))
        self.printed_at[v] = self.printed_at.get(v, False) or bool(printed)
        if hidden:
            self.hidden_at.add(v)

    def relate(self, coefs: dict[int, float], kind: str, about: str) -> None:
        if len(coefs) > 1:
            self.relations.append(Relation(coefs, kind, about))

    def slack(self, kind: str, value: float, label: str) -> int:
        return self.var(("~" + kind, label, len(self.vars)), kind, value)

    def margin(self, total: int, members: Sequence[int], kind: str, about: str) -> None:
        """``total`` against the sum of ``members``: equal, a remainder, or overlapping members."""
        if not members:
            return
        t = self.vars[total].value
        s = float(sum(self.vars[m].value for m in members))
        if abs(t - s) < TOL:
            self.relate({total: 1.0, **_minus(members)}, kind, about)
            self.margins.append((total, list(members), about))
        elif t > s:
            r = self.slack("remainder", t - s, about)
            self.relate({total: 1.0, **_minus(members), r: -1.0}, kind, about)
            self.margins.append((total, [*members, r], about))
        else:
            for m in members:
                d = self.slack("difference", t - self.vars[m].value, about)
                self.relate({total: 1.0, m: -1.0, d: -1.0}, kind, about)
            e = self.slack("excess", s - t, about)
            self.relate({**{m: 1.0 for m in members}, total: -1.0, e: -1.0}, kind, about)

    # ------------------------------------------------------------ reading
    @property
    def n(self) -> int:
        return len(self.vars)

    def printed(self) -> np.ndarray:
        """Which variables some printed position shows."""
        out = np.zeros(self.n, dtype=bool)
        for v, p in self.printed_at.items():
            out[v] = p
        return out

    def mixed(self) -> list[int]:
        """Variables shown as ``c`` in one position and printed in another (inconsistent)."""
        return sorted(v for v in self.hidden_at if self.printed_at.get(v))

    def values(self) -> np.ndarray:
        return np.array([v.value for v in self.vars], dtype=float)

    def describe(self, v: int) -> dict[str, Any]:
        var = self.vars[v]
        out: dict[str, Any] = {"kind": var.kind, "value_kind": var.measure or var.kind}
        if var.universe:
            out["universe"] = var.universe
            out["cell"] = {d: str(x) for d, x in var.key}
        else:
            out["about"] = str(var.ident[1])
        pos = self.positions.get(v, [])
        if pos:
            out["printed_in"] = sorted({t for t, _, _ in pos})
        return out


def _minus(members: Iterable[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for m in members:
        out[m] = out.get(m, 0.0) - 1.0
    return out


def _key(
    dims: Sequence[str], row: Sequence[Any], totals_label: str, drop: Iterable[str] = ()
) -> Key:
    skip = set(drop)
    return tuple(
        sorted(
            ((d, v) for d, v in zip(dims, row, strict=True) if v != totals_label and d not in skip),
            key=lambda t: t[0],
        )
    )


def _without(key: Key, *dims: str) -> Key:
    return tuple((d, v) for d, v in key if d not in dims)


def _value(key: Key, dim: str) -> Any:
    for d, v in key:
        if d == dim:
            return v
    return None


def build(views: Sequence[TableView], structure: Structure) -> Ledger:
    """The ledger of a release: its variables, printed positions and every relation."""
    led = Ledger()
    # (universe, measure) -> keys of its variables, for the partition lattice
    cells: dict[tuple[str, str], dict[Key, int]] = {}

    def cell(view: TableView, key: Key, measure: str, kind: str, value: float) -> int:
        ident = (view.universe, key, measure)
        hit = led.index.get(ident)
        if hit is not None and abs(led.vars[hit].value - value) > TOL:
            # the same cell with another value in another table: two populations, related by
            # their difference (the wider is the narrower plus the rest)
            other = led.var(
                (*ident, view.name), kind, value, universe=view.universe, key=key, measure=measure
            )
            big, small = (hit, other) if led.vars[hit].value > value else (other, hit)
            d = led.slack("difference", abs(led.vars[hit].value - value), f"{ident}")
            led.relate({big: 1.0, small: -1.0, d: -1.0}, "same", f"{view.universe} {key}")
            return other
        v = led.var(ident, kind, value, universe=view.universe, key=key, measure=measure)
        cells.setdefault((view.universe, measure), {})[key] = v
        return v

    for view in views:
        _add_table(led, view, structure, cell)
    _partitions(led, structure, cells)
    _nested(led, structure, cells)
    _hidden_sums(led)
    return led


def _hidden_sums(led: Ledger) -> None:
    """The people in a margin's hidden members together are a group too (a total minus its
    printed members): one derived variable per margin with two or more hidden members."""
    printed = led.printed()
    for _total, members, about in list(led.margins):
        hidden = [m for m in members if not printed[m]]
        if len(hidden) < 2 or len(hidden) == len(members):
            continue
        value = float(sum(led.vars[m].value for m in hidden))
        ident = ("~hidden", about, tuple(sorted(repr(led.vars[m].ident) for m in hidden)))
        h = led.var(ident, "difference", value)
        led.relate({h: 1.0, **_minus(hidden)}, "hidden", f"{about}: hidden members together")


def _add_table(led: Ledger, view: TableView, st: Structure, cell: Any) -> None:
    t = view.table
    rows = t.select(view.dims).rows()
    const = dict(st.constant.get(view.name, {}))
    counts = t[view.count].cast(pl.Float64).to_numpy()
    nums = t[view.numerator].cast(pl.Float64).to_numpy() if view.numerator else None
    amounts = [c for c in st.magnitudes.get(view.name, ()) if c in t.columns]
    amount_values = {c: t[c].cast(pl.Float64).fill_null(0.0).to_numpy() for c in amounts}
    cover = st.covers.get(view.name)
    covered: dict[Key, tuple[int, list[int]]] = {}
    sums: dict[tuple[str, Key], tuple[int, list[int]]] = {}
    for i, row in enumerate(rows):
        key = _key(view.dims, row, view.totals_label)
        ckey = (
            _key(view.dims, row, view.totals_label, drop=[const[view.count]])
            if view.count in const
            else key
        )
        c = cell(view, ckey, "count", "count", counts[i])
        led.place(
            c,
            view.name,
            i,
            view.count,
            bool(view.printed[view.count][i]),
            view.shown_hidden(view.count, i),
        )
        if nums is not None and view.numerator is not None:
            y = cell(view, key, "numerator", "numerator", nums[i])
            led.place(
                y,
                view.name,
                i,
                view.numerator,
                bool(view.printed[view.numerator][i]),
                view.shown_hidden(view.numerator, i),
            )
            o = led.var(
                (view.universe, key, "non_outcome"),
                "non_outcome",
                counts[i] - nums[i],
                universe=view.universe,
                key=key,
                measure="non_outcome",
            )
            led.relate({c: 1.0, y: -1.0, o: -1.0}, "cell", f"{view.name}: count = numerator + rest")
            if cover and _value(key, cover) is not None:
                covered.setdefault(_without(key, cover), (c, []))[1].append(y)
        ids: dict[str, tuple[Key, int]] = {}
        for a in amounts:
            akey = _key(view.dims, row, view.totals_label, drop=[const[a]]) if a in const else key
            v = cell(view, akey, a, "amount", amount_values[a][i])
            led.place(v, view.name, i, a, bool(view.printed[a][i]), view.shown_hidden(a, i))
            ids[a] = (akey, v)
        for total, part in st.sums.get(view.name, {}).items():
            if total in ids and part in ids and total in const:
                tkey, tv = ids[total]
                sums.setdefault((total, tkey), (tv, []))[1].append(ids[part][1])
    for _, (c, ys) in covered.items():
        # people may be in several groups: together the groups hold at least everyone
        s = float(sum(led.vars[y].value for y in ys))
        if s >= led.vars[c].value - TOL:
            e = led.slack("excess", s - led.vars[c].value, view.name)
            led.relate(
                {**{y: 1.0 for y in ys}, c: -1.0, e: -1.0},
                "cover",
                f"{view.name}: groups cover the count",
            )
    for (total, _), (tv, parts) in sums.items():
        led.margin(tv, sorted(set(parts)), "sum", f"{view.name}: {total} is the sum of its groups")


def _partitions(led: Ledger, st: Structure, cells: dict[tuple[str, str], dict[Key, int]]) -> None:
    """Every partition relation, creating latent totals where no table prints the cell."""
    for (universe, measure), have in list(cells.items()):
        _lattice(led, st, universe, measure, dict(have))


def _register(
    groups: dict[Key, dict[Any, list[int]]],
    st: Structure,
    pair: tuple[str, str] | None,
    key: Key,
    v: int,
    within: Mapping[str, Mapping[str, Mapping[Any, Any]]],
) -> None:
    """File ``key``'s variable under each cell it is a member of (one per partition dim, and one
    per coarser geography its value belongs to)."""
    dims = {d for d, _ in key}
    for d in st.partitions:
        if d in dims:
            groups.setdefault(_without(key, d), {}).setdefault(d, []).append(v)
    if pair and pair[0] in dims and pair[1] in dims:
        by = _value(key, pair[0])
        groups.setdefault(_without(key, *pair), {}).setdefault((pair[0], by), []).append(v)
    for d, parents in within.items():
        if d not in dims:
            continue
        rest, value = _without(key, d), _value(key, d)
        for parent_dim, of in parents.items():
            if parent_dim in dims:
                continue
            up = of.get(value)  # a value it does not name (or the rest, null) is in the rest
            parent = tuple(sorted((*rest, (parent_dim, up)), key=lambda t: t[0]))
            groups.setdefault(parent, {}).setdefault(f"{d} within {parent_dim}", []).append(v)


def _lattice(
    led: Ledger, st: Structure, universe: str, measure: str, known: dict[Key, int]
) -> None:
    """Partition relations of one universe and measure, from the finest cells up.

    A cell's rank is its number of dims, plus one for a dim nested in a coarser geography: a
    board's cell ranks above its region's (same number of dims), which ranks above the
    province's, so every member is filed before its total is related."""
    pair = st.pairs.get(universe)
    within = st.within.get(universe, {})

    def rank(k: Key) -> int:
        return len(k) + sum(d in within for d, _ in k)

    groups: dict[Key, dict[Any, list[int]]] = {}  # parent key -> group label -> members
    by_size: dict[int, list[Key]] = {}
    for k in known:
        by_size.setdefault(rank(k), []).append(k)
    top = max(by_size) if by_size else 0
    for size in range(top, -1, -1):
        # parents of this rank: every child (a higher rank) is registered already
        for parent in [p for p in groups if rank(p) == size]:
            members = groups.pop(parent)
            if parent not in known:
                value = max(sum(led.vars[m].value for m in ms) for ms in members.values())
                kind = "latent" if measure in ("count", "numerator") else "amount"
                known[parent] = led.var(
                    (universe, parent, measure),
                    kind,
                    value,
                    universe=universe,
                    key=parent,
                    measure=measure,
                )
                by_size.setdefault(size, []).append(parent)
            for label, ms in sorted(members.items(), key=lambda kv: repr(kv[0])):
                over = label if isinstance(label, str) else label[0]
                about = f"{universe}: {measure} over {over}"
                led.margin(known[parent], sorted(set(ms)), "partition", about)
        for k in by_size.get(size, []):
            _register(groups, st, pair, k, known[k], within)


def _nested(led: Ledger, st: Structure, cells: dict[tuple[str, str], dict[Key, int]]) -> None:
    """Wider cells are narrower ones plus a difference (all links and high-confidence links)."""
    for (universe, measure), have in cells.items():
        for dim, order in st.nested.items():
            rank = {v: i for i, v in enumerate(order)}
            chains: dict[Key, dict[int, int]] = {}
            for k, v in have.items():
                x = _value(k, dim)
                if x in rank:
                    chains.setdefault(_without(k, dim), {})[rank[x]] = v
            for rest, chain in chains.items():
                steps = sorted(chain)
                parent = have.get(rest)
                if parent is not None and steps and steps[0] == 0:
                    led.margin(parent, [chain[0]], "nested", f"{universe}: {dim} {order[0]} is all")
                for a, b in zip(steps, steps[1:], strict=False):
                    wide, narrow = chain[a], chain[b]
                    gap = led.vars[wide].value - led.vars[narrow].value
                    if gap < -TOL:
                        continue  # not nested in these data: no relation
                    d = led.slack(
                        "difference", gap, f"{universe} {rest} {dim} {order[a]}-{order[b]}"
                    )
                    led.relate(
                        {wide: 1.0, narrow: -1.0, d: -1.0},
                        "nested",
                        f"{universe}: {measure} for {dim} {order[b]} within {order[a]}",
                    )


# ---------------------------------------------------------------- the attack


class ReleaseSystem:
    """The ledger's equations as the component solver reads a table's system (all equalities)."""

    def __init__(self, led: Ledger) -> None:
        self.n = self.nvar = led.n
        self.values = led.values()
        r, c, d = [], [], []
        for k, rel in enumerate(led.relations):
            for j, val in rel.coefs.items():
                r.append(k)
                c.append(j)
                d.append(val)
        self.a = sparse.csr_matrix((d, (r, c)), shape=(len(led.relations), self.nvar))
        self.a_csc = self.a.tocsc()
        self.n_eq = self.a.shape[0]
        self.pattern = abs(self.a).tocsr()
        self.residual = self.a @ self.values
        self.has_num = False

    def yvar(self, i: int) -> int:  # pragma: no cover - has_num is False
        raise NotImplementedError

    def objective(self, cell: int, measure: str) -> tuple[np.ndarray, np.ndarray]:
        return np.array([cell]), np.array([1.0])

    def check_published(self, free: np.ndarray) -> None:
        has_free = (self.pattern @ free.astype(float)) > 0
        if (~has_free & (np.abs(self.residual) > TOL)).any():
            raise DisclosureError(INCONSISTENT)


class ReleaseLP:
    """Min and max of any variable of the ledger given what is printed (exact, by component).

    ``cache`` (shared across rounds of the release-wide suppression): answers by the set of
    variables of a target's component and the target, valid while that component is the same.
    """

    def __init__(
        self, led: Ledger, cache: dict[tuple[Any, Any], tuple[float, float]] | None = None
    ) -> None:
        self.system = ReleaseSystem(led)
        self.vars = led.vars
        self.components = Components(self.system)  # type: ignore[arg-type]
        self.cache = cache if cache is not None else {}
        self.lp_solves = 0

    def determined(self, free: np.ndarray) -> np.ndarray:
        """``free`` less every variable an equation fixes from known values (repeatedly): a
        latent total whose members are all printed, a cell that is a printed total minus its
        printed members. Such a value is known exactly; the rest stays free for the LP."""
        s = self.system
        free = free.copy()
        while True:
            nfree = s.pattern @ free.astype(float)
            rows = np.flatnonzero(nfree == 1)
            if not rows.size:
                return free
            sub = s.pattern[rows].multiply(free[None, :].astype(float)).tocsr()
            fixed = np.unique(sub.indices)
            free[fixed] = False

    def bounds(self, free: np.ndarray, targets: Sequence[int]) -> list[tuple[float, float]]:
        """Min and max of each target given that only ``free`` variables are unknown: values an
        equation fixes from known ones first (:meth:`determined`), the rest exactly."""
        self.system.check_published(free)
        return self.exact(self.determined(free), targets)

    def exact(self, free: np.ndarray, targets: Sequence[int]) -> list[tuple[float, float]]:
        """Min and max of each target, exactly: one HiGHS model per component, re-solved with
        each target's objective in turn (warm-started from the last basis)."""
        import highspy

        out: dict[int, tuple[float, float]] = {}
        comp_of: dict[int, np.ndarray] = {}
        groups: dict[bytes, tuple[np.ndarray, list[int]]] = {}
        values = self.system.values
        for v in targets:
            if not free[v]:
                out[v] = (float(values[v]), float(values[v]))
                continue
            comp = comp_of.get(v)
            if comp is None:
                comp = self.components.component(v, free)
                for u in comp.tolist():
                    comp_of[u] = comp
            groups.setdefault(comp.tobytes(), (comp, []))[1].append(v)
        for comp, tg in groups.values():
            ckey = frozenset(self.vars[u].ident for u in comp.tolist())
            tg = [v for v in tg if not _cached(self, ckey, v, out)]
            if not tg:
                continue
            row, col, data, rhs, _ = self.components.sub(comp)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("presolve", "off")
            lp = highspy.HighsLp()
            lp.num_col_, lp.num_row_ = int(comp.size), int(rhs.size)
            lp.col_cost_ = np.zeros(comp.size)
            lp.col_lower_ = np.zeros(comp.size)
            lp.col_upper_ = np.full(comp.size, highspy.kHighsInf)
            lp.row_lower_ = rhs.astype(float)
            lp.row_upper_ = rhs.astype(float)
            m = sparse.csc_matrix((data, (row, col)), shape=(rhs.size, comp.size))
            lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
            lp.a_matrix_.start_ = m.indptr.astype(np.int32)
            lp.a_matrix_.index_ = m.indices.astype(np.int32)
            lp.a_matrix_.value_ = m.data.astype(float)
            h.passModel(lp)
            last = None
            for v in tg:
                j = int(np.searchsorted(comp, v))
                if last is not None:
                    h.changeColCost(last, 0.0)
                h.changeColCost(j, 1.0)
                last = j
                ends = []
                for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
                    h.changeObjectiveSense(sense)
                    h.run()
                    st = h.getModelStatus()
                    self.lp_solves += 1
                    if st == highspy.HighsModelStatus.kOptimal:
                        ends.append(float(h.getInfo().objective_function_value))
                    elif (
                        st
                        in (
                            highspy.HighsModelStatus.kUnbounded,
                            highspy.HighsModelStatus.kUnboundedOrInfeasible,
                        )
                        and sense == highspy.ObjSense.kMaximize
                    ):
                        ends.append(np.inf)
                    else:
                        raise DisclosureError(INCONSISTENT)
                out[v] = (max(ends[0], 0.0), ends[1])
                self.cache[(ckey, self.vars[v].ident)] = out[v]
        return [out[v] for v in targets]


def _cached(lp: ReleaseLP, ckey: Any, v: int, out: dict[int, tuple[float, float]]) -> bool:
    hit = lp.cache.get((ckey, lp.vars[v].ident))
    if hit is not None:
        out[v] = hit
    return hit is not None


@dataclass(frozen=True)
class Rule:
    """What a hidden quantity must keep (``privacy``): width, and a count's upper bound."""

    min_cell: int
    width: float
    magnitude_share: float

    def fails(self, var: Var, low: float, high: float) -> str | None:
        w = high - low
        if var.kind == "amount":
            need = max(self.width, self.magnitude_share * abs(var.value))
            return None if w >= need - TOL else f"interval narrower than {need:g}"
        if w < self.width - TOL:
            return f"interval narrower than {self.width:g}"
        if high < self.min_cell - TOL:
            return f"upper bound below {self.min_cell}"
        return None


def free_mask(led: Ledger, printed: np.ndarray) -> np.ndarray:
    """Variables a reader does not read: unprinted table values, and every derived variable."""
    return ~printed


def targets(led: Ledger, printed: np.ndarray, min_cell: int) -> list[int]:
    """What the rule protects: every quantity shown as suppressed, and small groups a reader is
    not shown: a table's row no file prints (a safe value no file prints is no target), and
    derived quantities (the rest of a cell, latent totals, remainders, differences)."""
    out = []
    derived = ("non_outcome", "latent", "remainder", "difference")
    for v, var in enumerate(led.vars):
        if printed[v]:
            continue
        small = 0 < var.value < min_cell - TOL
        if v in led.hidden_at or (small and (v in led.positions or var.kind in derived)):
            out.append(v)
    return out
