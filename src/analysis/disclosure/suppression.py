"""Which cells of a table are suppressed: primary, consistency and secondary suppression.

Primary: a cell of fewer than ``min_cell`` people is suppressed whole; a cell whose numerator or
non-outcome count is below it keeps its count only. Consistency: a cell suppressed in another table
of the release is suppressed here too. Secondary (greedy): while some suppressed value can be
narrowed to an interval narrower than ``protection_width``, suppress the published cell (interior
cells before margins, zero cells last) that widens it, until every interval is wide enough.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.config import Privacy
from analysis.disclosure.lp import Interval, Request, TableLP
from analysis.disclosure.system import TOL

CONSISTENCY = "consistency: suppressed in another table of the release"
SECONDARY = "secondary: protects a suppressed cell from the margins"
REMAINDER = "unpublished remainder of a margin"

# a cell of a universe: its non-margin (dim, value) pairs
CellKey = frozenset[tuple[str, Any]]


@dataclass
class Pattern:
    """Which counts and numerators of a table are suppressed, and why (one reason per cell)."""

    count_supp: np.ndarray
    num_supp: np.ndarray
    reasons: list[str]


def primary(
    counts: np.ndarray,
    nums: np.ndarray | None,
    keys: list[CellKey],
    privacy: Privacy,
    *,
    count: str,
    numerator: str | None,
    universe: str,
    suppressed: Set[tuple[str, CellKey]],
    num_suppressed: Set[tuple[str, str, CellKey]],
) -> Pattern:
    """Primary suppression, and the cells suppressed elsewhere in the release (consistency).

    ``suppressed``/``num_suppressed``: the counts and numerators already suppressed in the release,
    by universe (and numerator column) and cell.
    """
    n = len(counts)
    m = privacy.min_cell
    reasons = [""] * n
    count_supp = np.zeros(n, dtype=bool)
    num_supp = np.zeros(n, dtype=bool)
    for i in range(n):
        if 0 < counts[i] < m:
            count_supp[i] = True
            reasons[i] = f"primary: count below {m}"
        elif nums is not None and counts[i] > 0 and (nums[i] < m or counts[i] - nums[i] < m):
            num_supp[i] = True
            reasons[i] = f"primary: {numerator} or {count} minus {numerator} below {m}"
        if not count_supp[i] and (universe, keys[i]) in suppressed:
            count_supp[i] = True
            reasons[i] = CONSISTENCY
        if (
            nums is not None
            and not num_supp[i]
            and counts[i] > 0
            and (universe, numerator or "", keys[i]) in num_suppressed
        ):
            num_supp[i] = True
            reasons[i] = reasons[i] or CONSISTENCY
    num_supp |= count_supp
    return Pattern(count_supp, num_supp, reasons)


def secondary(
    lp: TableLP,
    pattern: Pattern,
    counts: np.ndarray,
    has_num: bool,
    width: float,
    dim_rows: list[tuple[Any, ...]],
    totals_label: str,
) -> None:
    """Suppress complements (in ``pattern``) until the LP check passes or nothing helps.

    Each step suppresses one more value, so the loop ends; it is also cut after ``4 n + 4``
    steps. Intervals found wide stay wide (suppression only grows here) and are not re-solved.
    """
    count_supp, num_supp = pattern.count_supp, pattern.num_supp
    guard = 0
    wide: set[tuple[int, str]] = set()
    while True:
        guard += 1
        ivs = lp.intervals(count_supp, num_supp, skip=wide)
        wide.update((iv.cell, iv.measure) for iv in ivs if iv.width >= width - TOL)
        bad = [iv for iv in ivs if iv.width < width - TOL]
        if not bad or guard > 4 * len(counts) + 4:
            break
        iv = bad[0]
        measure = "count" if iv.measure == "count" or iv.measure.endswith(":count") else "num"
        pick = complement(
            lp, iv, count_supp, num_supp, counts, measure, dim_rows, totals_label, width
        )
        if pick is None:
            break
        if measure == "count":
            count_supp[pick] = True
            if has_num:
                num_supp[pick] = True
        else:
            num_supp[pick] = True
        pattern.reasons[pick] = SECONDARY


def explain(intervals: list[Interval], reasons: list[str]) -> None:
    """Give each interval the reason its value is unpublished."""
    for iv in intervals:
        iv.reason = reasons[iv.cell] if not iv.measure.startswith("remainder") else REMAINDER


def complement(
    lp: TableLP,
    iv: Interval,
    count_supp: np.ndarray,
    num_supp: np.ndarray,
    counts: np.ndarray,
    measure: str,
    dim_rows: list[tuple[Any, ...]],
    totals_label: str,
    width: float,
) -> int | None:
    """The next published value to suppress so that ``iv`` widens.

    1. A margin constraint where ``iv``'s cell is the only unpublished value pins it exactly:
       suppress a partner there, preferring interior cells that already share another constraint
       with a suppressed cell (so suppressions close into rectangles), then small counts.
    2. Otherwise look one step ahead: of the published cells near it (by margin constraints),
       in that same order, the first whose suppression makes ``iv`` wide enough, else the one
       that widens it most. The cheapest sufficient complement, not the widest: the widest is
       often the margin (Ontario's cell, which a table by group of societies repeats), and a
       margin hidden for one small group is lost to every reader.
    """
    s = lp.system
    unpub = count_supp if measure == "count" else num_supp
    published = ~unpub & (counts > 0) if measure != "count" else ~count_supp
    margin = s.margin(dim_rows, totals_label)
    # cells sharing a margin group with an unpublished value
    inc = s.incidence
    touched = (inc @ unpub.astype(float)) > 0
    linked = (inc.T @ touched.astype(float)) > 0

    def score(o: int) -> tuple[Any, ...]:
        return (margin[o], counts[o] == 0, not linked[o], counts[o], o)

    if not iv.measure.startswith("remainder"):
        pinned = _pinned_partner(lp, iv.cell, unpub, published, score)
        if pinned is not None:
            return pinned
    cand_set = _neighbours(lp, iv.cell, published)
    if not cand_set:
        rest = np.flatnonzero(published).tolist()
        return int(min(rest, key=score)) if rest else None
    ranked = sorted(cand_set, key=score)[:12]
    return _widest(lp, iv, ranked, count_supp, num_supp, measure, width)


def _pinned_partner(
    lp: TableLP, cell: int, unpub: np.ndarray, published: np.ndarray, score: Any
) -> int | None:
    """The best published partner in a margin group where ``cell`` is the only unpublished value."""
    for gi in lp.system.by_cell.get(cell, []):
        g = lp.system.groups[gi]
        cells = [g.total, *g.members]
        if sum(bool(unpub[c]) for c in cells) == 1:
            cand = [c for c in cells if published[c]]
            if cand:
                return int(min(cand, key=score))
    return None


def _neighbours(lp: TableLP, cell: int, published: np.ndarray, enough: int = 12) -> set[int]:
    """Published cells near ``cell``: breadth first through margin groups, about ``enough``."""
    by_cell, groups = lp.system.by_cell, lp.system.groups
    frontier, visited = [cell], {cell}
    cand_set: set[int] = set()
    while frontier and len(cand_set) < enough:
        nxt: list[int] = []
        for c in frontier:
            for gi in by_cell.get(c, []):
                g = groups[gi]
                for o in [g.total, *g.members]:
                    if o in visited:
                        continue
                    visited.add(o)
                    if published[o]:
                        cand_set.add(o)
                    else:
                        nxt.append(o)
        frontier = nxt
    return cand_set


def _widest(
    lp: TableLP,
    iv: Interval,
    ranked: list[int],
    count_supp: np.ndarray,
    num_supp: np.ndarray,
    measure: str,
    width: float,
) -> int:
    """Of the ``ranked`` candidates, the first whose suppression widens ``iv`` to ``width``, else
    the one that widens it most (the first of equals); the widths with each candidate suppressed
    are solved together as one batch."""
    requests: list[Request] = []
    for o in ranked:
        cs, ns = count_supp.copy(), num_supp.copy()
        if measure == "count":
            cs[o] = True
            ns[o] = True
        else:
            ns[o] = True
        requests.append((iv.cell, iv.measure, lp.system.free_mask(cs, ns), {}))
    best, best_w = ranked[0], -1.0
    for o, (low, high) in zip(ranked, lp.bounds(requests), strict=True):
        w = high - low
        if w >= width - TOL:
            return o
        if w > best_w + TOL:
            best, best_w = o, w
    return best
