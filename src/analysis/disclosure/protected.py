"""What leaves the gate: a :class:`Protected` table, its UK GSS symbols, and the refusal.

The chart helper, the table renderer and the CSV writer accept a :class:`Protected` table only;
:class:`DisclosureError` is raised when a table cannot be protected or a release fails its checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

SYMBOL_SUPPRESSED = "c"
SYMBOL_NOT_APPLICABLE = "z"
SYMBOL_NOT_AVAILABLE = "x"
SYMBOL_LOW_RELIABILITY = "u"
# Which row of the release a published row is (``"<table>:<row>"``): carried by every published
# frame, never printed; the report writer records it for each CSV row so the audit can tell which
# cell of the release each printed number is.
PROVENANCE = "__row"


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
