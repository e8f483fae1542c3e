"""Disclosure control: the one gate every published number passes through.

(Skeleton: the contract other modules rely on. The disclosure issue fills in the logic.)

A published table is a :class:`Protected`; the chart helper, the table renderer and the CSV writer
accept nothing else, so a number cannot reach a report without passing :meth:`Release.protect`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

SYMBOL_SUPPRESSED = "c"
SYMBOL_NOT_APPLICABLE = "z"
SYMBOL_NOT_AVAILABLE = "x"
SYMBOL_LOW_RELIABILITY = "u"


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
