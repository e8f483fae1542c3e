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

Modules
-------
:mod:`~analysis.disclosure.protected` (the published table, its symbols, the error),
:mod:`~analysis.disclosure.system` (a table's margins as linear constraints),
:mod:`~analysis.disclosure.components` and :mod:`~analysis.disclosure.solver` (exact bounds by
connected component, closed form or batched HiGHS), :mod:`~analysis.disclosure.lp` (the check of
one table), :mod:`~analysis.disclosure.suppression` (primary, consistency and secondary
suppression), :mod:`~analysis.disclosure.publish` (the published frame),
:mod:`~analysis.disclosure.release` (:class:`Release`) and :mod:`~analysis.disclosure.audit`.
"""

from analysis.disclosure.ledger import Structure
from analysis.disclosure.lp import Interval
from analysis.disclosure.protected import (
    PROVENANCE,
    SYMBOL_LOW_RELIABILITY,
    SYMBOL_NOT_APPLICABLE,
    SYMBOL_NOT_AVAILABLE,
    SYMBOL_SUPPRESSED,
    DisclosureError,
    Protected,
)
from analysis.disclosure.release import Release, audit_json

__all__ = [
    "PROVENANCE",
    "SYMBOL_LOW_RELIABILITY",
    "SYMBOL_NOT_APPLICABLE",
    "SYMBOL_NOT_AVAILABLE",
    "SYMBOL_SUPPRESSED",
    "DisclosureError",
    "Interval",
    "Protected",
    "Release",
    "Structure",
    "audit_json",
]
