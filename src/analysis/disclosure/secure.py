"""Secondary suppression that sees the whole release: complements chosen against the ledger.

Each table's own secondary suppression (:mod:`~analysis.disclosure.suppression`) knows its own
margins only. :func:`secure_round` builds the release's ledger (:mod:`~analysis.disclosure.ledger`:
every printed value of every table, the relations among them across tables, latent totals), finds
every hidden quantity whose interval breaks the rule, and for each chooses one printed quantity to
hide, closest to it in the equations:

1. a relation in which the failing quantity is the only unknown pins it: hide a printed partner
   there (the smallest non-zero count first, totals last);
2. otherwise, of the printed quantities in the relations around it (about a dozen, smallest
   first), the first whose hiding satisfies the rule, else the one that widens it most.

Hiding a quantity hides every position where it is printed (every board report printing the
Ontario cell, every placement-group row repeating a society's days), and every quantity the
release states is equal to it (:func:`equal_classes`: a region whose only named board is that
board counts the same students as the board), since hiding one of two equal printed values hides
nothing. The caller re-protects the tables (consistency, per-table checks) and calls again until
nothing fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.disclosure.ledger import Ledger, ReleaseLP, Rule, targets

# (table, column) -> rows to hide
Hides = dict[tuple[str, str], set[int]]


@dataclass
class RoundResult:
    """What one round found and did."""

    examined: int
    failing: int
    hidden: int
    unresolved: list[int]


def failures(
    led: Ledger, lp: ReleaseLP, printed: np.ndarray, rule: Rule
) -> tuple[list[int], list[tuple[int, float, float, str]]]:
    """Every protected quantity and the ones breaking the rule (with their intervals)."""
    tg = targets(led, printed, rule.min_cell)
    bounds = lp.bounds(~printed, tg)
    bad = []
    for v, (low, high) in zip(tg, bounds, strict=True):
        why = rule.fails(led.vars[v], low, high)
        if why:
            bad.append((v, low, high, why))
    return tg, bad


def equal_classes(led: Ledger) -> dict[int, list[int]]:
    """Variables the release states are equal (a relation ``a - b = 0``), by variable: each
    variable of a class of two or more maps to the whole class (connected components of those
    relations)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = [
        tuple(rel.coefs)
        for rel in led.relations
        if len(rel.coefs) == 2 and sorted(rel.coefs.values()) == [-1.0, 1.0]
    ]
    if not pairs:
        return {}
    a, b = (np.array(x, dtype=np.int64) for x in zip(*pairs, strict=True))
    adj = coo_matrix((np.ones(len(pairs)), (a, b)), shape=(led.n, led.n))
    _, labels = connected_components(adj, directed=False)
    members = np.unique(np.concatenate([a, b]))
    classes: dict[int, list[int]] = {}
    for x in members.tolist():
        classes.setdefault(int(labels[x]), []).append(x)
    return {x: group for group in classes.values() for x in group}


def _with_equals(equal: dict[int, list[int]], w: int, printed: np.ndarray) -> list[int]:
    """``w`` and the printed variables stated equal to it: what hiding ``w`` must hide."""
    return [u for u in equal.get(w, [w]) if printed[u] or u == w]


def _score(led: Ledger, v: int) -> tuple[float, ...]:
    """Cheaper complements first: counts before amounts, small before large, zeros last."""
    var = led.vars[v]
    return (
        var.kind == "amount",
        var.value == 0,
        var.kind == "latent",
        var.value,
        v,
    )


def _neighbours(lp: ReleaseLP, v: int, printed: np.ndarray, enough: int = 12) -> list[int]:
    """Printed variables in the relations around ``v``'s component, breadth first."""
    a, a_csc = lp.system.a, lp.system.a_csc
    frontier, seen = [v], {v}
    found: list[int] = []
    while frontier and len(found) < enough:
        nxt = []
        for u in frontier:
            for r in a_csc.indices[a_csc.indptr[u] : a_csc.indptr[u + 1]]:
                for w in a.indices[a.indptr[r] : a.indptr[r + 1]].tolist():
                    if w in seen:
                        continue
                    seen.add(w)
                    if printed[w]:
                        found.append(w)
                    else:
                        nxt.append(w)
        frontier = nxt
    return found


def _pinned_partner(lp: ReleaseLP, led: Ledger, v: int, printed: np.ndarray) -> int | None:
    """A printed partner in a relation where ``v`` is the only unknown."""
    a, a_csc = lp.system.a, lp.system.a_csc
    best: int | None = None
    for r in a_csc.indices[a_csc.indptr[v] : a_csc.indptr[v + 1]]:
        members = a.indices[a.indptr[r] : a.indptr[r + 1]].tolist()
        unknown = [w for w in members if not printed[w]]
        if unknown == [v]:
            cand = [w for w in members if printed[w]]
            if cand:
                pick = min(cand, key=lambda w: _score(led, w))
                if best is None or _score(led, pick) < _score(led, best):
                    best = pick
    return best


def choose(
    led: Ledger,
    lp: ReleaseLP,
    v: int,
    printed: np.ndarray,
    rule: Rule,
    equal: dict[int, list[int]] | None = None,
) -> list[int]:
    """The printed variables to hide so that ``v`` widens (see the module doc): one, with the
    printed variables stated equal to it; empty when nothing near ``v`` is printed."""
    equal = equal if equal is not None else {}
    pinned = _pinned_partner(lp, led, v, printed)
    if pinned is not None:
        return _with_equals(equal, pinned, printed)
    cand = sorted(_neighbours(lp, v, printed), key=lambda w: _score(led, w))
    if not cand:
        return []
    best, best_w = cand[0], -1.0
    for w in cand:
        trial = printed.copy()
        trial[_with_equals(equal, w, printed)] = False
        ((low, high),) = lp.bounds(~trial, [v])
        if rule.fails(led.vars[v], low, high) is None:
            return _with_equals(equal, w, printed)
        if high - low > best_w:
            best, best_w = w, high - low
    return _with_equals(equal, best, printed)


def secure_round(
    led: Ledger,
    rule: Rule,
    on_fail: Callable[[list[tuple[int, float, float, str]]], None],
    cache: dict[Any, tuple[float, float]] | None = None,
) -> tuple[RoundResult, Hides]:
    """One round: the failing quantities and the printed positions to hide for them.

    Complements are chosen for failing quantities in different components, so one round fixes
    many at once; a quantity whose component another choice changed waits for the next round.
    """
    hides: Hides = {}
    mixed = led.mixed()
    if mixed:
        # a value shown as c somewhere is hidden everywhere first (every board report printing
        # the Ontario cell, every row repeating a society-year's total)
        for m in mixed:
            for table, row, column in led.positions.get(m, []):
                hides.setdefault((table, column), set()).add(row)
        return RoundResult(0, len(mixed), len(mixed), []), hides
    lp = ReleaseLP(led, cache)
    printed = led.printed()
    equal = equal_classes(led)
    tg, bad = failures(led, lp, printed, rule)
    on_fail(bad)
    touched = np.zeros(led.n, dtype=bool)
    unresolved: list[int] = []
    hidden = 0
    for v, _, _, _ in bad:
        if touched[v]:
            continue
        comp = lp.components.component(v, ~printed)
        if touched[comp].any():
            continue
        ws = choose(led, lp, v, printed, rule, equal)
        if not ws:
            unresolved.append(v)
            continue
        touched[comp] = True
        for w in ws:
            touched[w] = True
            printed[w] = False
            hidden += 1
            for table, row, column in led.positions.get(w, []):
                hides.setdefault((table, column), set()).add(row)
    return RoundResult(len(tg), len(bad), hidden, unresolved), hides
