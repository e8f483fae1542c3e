"""Findings in words: sentences and headline tiles written from published numbers.

Every function here reads cells of a :class:`~analysis.disclosure.Protected` table (the numbers
the report also shows, so they are in its CSV downloads) and adds a generated sentence
(:meth:`Report.finding`) or returns a headline tile (:meth:`Report.tiles`). The wording follows
the numbers, by rules written once:

- **direction and size** come from the published values, never from expectation: a gap that
  reverses in the data reverses in the sentence;
- **uncertainty**: two groups are "higher"/"lower" only when their 95% intervals do not overlap
  (an adjusted difference only when its interval excludes zero); otherwise the sentence says
  "similar" and the values are "about" x;
- **no claim where suppressed**: a suppressed value is named as not published, with no
  comparison drawn from it;
- **association, not cause**: sentences describe differences between groups ("were less likely",
  "was higher"); no sentence says a status causes, leads to or affects an outcome, and each
  findings section ends with a catalogue sentence saying so.

The numbers in a sentence are formatted from the published values only (no difference of two
published numbers is ever printed: both are given instead), so a test can find every number of
the prose in the report's CSV files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from analysis.disclosure import Protected
from analysis.reports.report import Report

SYM = "__symbol"
# The label of the province beside a board or society in comparison tables and charts.
PROVINCE_AREA = "Ontario"
Relation = Literal["higher", "lower", "similar", "unknown", "suppressed"]
Fmt = Literal["proportion", "percent", "score", "credits", "pp"]


@dataclass(frozen=True)
class Est:
    """One published estimate: ``value`` is ``None`` when suppressed or not available."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @property
    def published(self) -> bool:
        return self.value is not None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None


def _cell(p: Protected, col: str, equals: Mapping[str, Any]) -> float | None:
    if col not in p.df.columns:
        return None
    import polars as pl

    df = p.df
    for k, v in equals.items():
        df = df.filter(pl.col(k) == v)
    if df.height != 1 or df[col][0] is None:
        return None
    sym = df[col + SYM][0] if col + SYM in df.columns else ""
    if sym in ("c", "x", "z"):
        return None
    v = float(df[col][0])
    return v if v == v and abs(v) < 1e9 else None  # NaN or degenerate: not available


def est(
    p: Protected,
    col: str = "rate",
    *,
    low: str | None = "ci_low",
    high: str | None = "ci_high",
    **equals: Any,
) -> Est:
    """The estimate in ``col`` (with its interval columns) of the one row matching ``equals``."""
    v = _cell(p, col, equals)
    if v is None:
        return Est(None)
    lo = _cell(p, low, equals) if low else None
    hi = _cell(p, high, equals) if high else None
    return Est(v, lo, hi)


def relation(a: Est, b: Est) -> Relation:
    """How ``a`` compares with ``b``: beyond both 95% intervals, or similar, or not comparable."""
    if a.value is None or b.value is None:
        return "suppressed"
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return "unknown"
    if a.low <= b.high and b.low <= a.high:
        return "similar"
    return "higher" if a.value > b.value else "lower"


def versus(e: Est, null: float = 0.0) -> Relation:
    """How an adjusted difference (or an odds ratio, with ``null=1``) compares with no difference."""
    if e.value is None:
        return "suppressed"
    if e.low is None or e.high is None:
        return "unknown"
    if e.low <= null <= e.high:
        return "similar"
    return "higher" if e.value > null else "lower"


@dataclass(frozen=True)
class Said:
    """What a sentence function wrote: the relation it stated and the sentence (``None``: none)."""

    relation: Relation
    text: str | None


def _said(r: Report, rel: Relation) -> Said:
    last = r.blocks[-1] if r.blocks else {}
    return Said(rel, last.get("text") if last.get("generated") else None)


def lower_first(text: str) -> str:
    """``text`` with its first letter in lower case (for a label inside a sentence), unless the
    first word is an acronym ("OSSLT", "EQAO")."""
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first[:2].isupper():
        return text
    return text[0].lower() + text[1:]


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class Words:
    """Formatting of published values for one report's language."""

    def __init__(self, r: Report) -> None:
        self.r = r

    def value(self, v: float, fmt: Fmt, *, about: bool = False, magnitude: bool = False) -> str:
        if magnitude:
            v = abs(v)
        if fmt == "proportion":
            text = self.r.pct(v, 0, proportion=True)
        elif fmt == "percent":
            text = self.r.pct(v, 0)
        elif fmt == "pp":
            text = self.r.num(v * 100, 1)  # a difference of proportions, in points
        elif fmt == "credits":
            text = self.r.num(v, 1)
        else:
            text = self.r.num(v, 1)
        return self.r.t("narr.about", value=text) if about else text

    def est_value(self, e: Est, fmt: Fmt, *, about: bool = False) -> str:
        assert e.value is not None
        return self.value(e.value, fmt, about=about)


def _rel_text(r: Report, rel: Relation, kind: str = "share") -> str:
    key = {
        ("share", "higher"): "rel.share_higher",
        ("share", "lower"): "rel.share_lower",
        ("value", "higher"): "rel.higher",
        ("value", "lower"): "rel.lower",
        ("trend", "higher"): "rel.trend_up",
        ("trend", "lower"): "rel.trend_down",
        ("trend", "similar"): "rel.trend_similar",
        ("second", "higher"): "rel.second_higher",
        ("second", "lower"): "rel.second_lower",
        ("spread", "higher"): "rel.spread_differ",
        ("spread", "lower"): "rel.spread_differ",
        ("spread", "similar"): "rel.spread_similar",
    }.get((kind, rel))
    if key is None:
        if rel == "similar":
            key = "rel.similar"
        else:
            key = "rel.trend_unknown" if kind == "trend" else "rel.unknown"
    return r.t(key)


# ---------------------------------------------------------------- sentences


def compare_rates(
    r: Report,
    p: Protected,
    *,
    measure: str | None = None,
    share: Mapping[str, str] | None = None,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    a_group: str,
    b_group: str,
    year: str,
    col: str = "rate",
    fmt: Fmt = "proportion",
    template: str = "narr.rate",
) -> Said:
    """One sentence comparing the share of group ``a`` with group ``b`` (cells of ``p``).

    ``measure`` is a ``phrase.*`` message id (a plural verb phrase: "missed 10% or more of school
    days"); ``a_group``/``b_group`` are already-translated group phrases ("children and youth in
    care"). Returns the relation the sentence states.
    """
    w = Words(r)
    ea, eb = est(p, col, **a), est(p, col, **b)
    rel = relation(ea, eb)
    phrase = r.t(measure) if measure else ""
    if rel == "suppressed":
        missing = a_group if ea.value is None else b_group
        r.finding(
            f"{template}_suppressed", sources=[p.name], group=missing, measure=phrase, year=year
        )
        return _said(r, rel)
    about = rel == "similar"
    r.finding(
        template,
        sources=[p.name],
        year=year,
        a_value=w.est_value(ea, fmt, about=about),
        a_group=a_group,
        measure=phrase,
        b_value=w.est_value(eb, fmt, about=about),
        b_group=b_group,
        relation=_rel_text(r, rel, "share"),
    )
    return _said(r, rel)


def compare_means(
    r: Report,
    p: Protected,
    *,
    template: str,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    a_group: str,
    b_group: str,
    year: str,
    col: str = "mean",
    fmt: Fmt = "proportion",
) -> Said:
    """Like :func:`compare_rates` for a mean (``template``: ``narr.attendance``, ``narr.credits``)."""
    w = Words(r)
    ea, eb = est(p, col, **a), est(p, col, **b)
    rel = relation(ea, eb)
    if rel == "suppressed":
        missing = a_group if ea.value is None else b_group
        r.finding("narr.mean_suppressed", sources=[p.name], group=missing, year=year)
        return _said(r, rel)
    about = rel == "similar"
    r.finding(
        template,
        sources=[p.name],
        year=year,
        a_value=w.est_value(ea, fmt, about=about),
        a_group=a_group,
        b_value=w.est_value(eb, fmt, about=about),
        b_group=b_group,
        relation=_rel_text(r, rel, "value"),
    )
    return _said(r, rel)


def trend(
    r: Report,
    p: Protected,
    *,
    measure: str,
    group: str,
    start: Mapping[str, Any],
    end: Mapping[str, Any],
    first: str,
    last: str,
    col: str = "rate",
    fmt: Fmt = "proportion",
    template: str = "narr.trend",
    lower_measure: bool = False,
) -> Said:
    """One sentence on how a group's published value moved between two years of ``p``."""
    w = Words(r)
    e0, e1 = est(p, col, **start), est(p, col, **end)
    rel = relation(e1, e0)
    if rel == "suppressed":
        return Said(rel, None)  # no claim: the chart and table show the symbols
    about = rel == "similar"
    r.finding(
        template,
        sources=[p.name],
        group=group,
        measure=lower_first(r.t(measure)) if lower_measure else r.t(measure),
        start=w.est_value(e0, fmt, about=about),
        end=w.est_value(e1, fmt, about=about),
        first=first,
        last=last,
        relation=_rel_text(r, rel, "trend"),
    )
    return _said(r, rel)


def compare_areas(
    r: Report,
    p: Protected,
    *,
    measure: str,
    subject: str,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    year: str,
    col: str = "rate",
    fmt: Fmt = "proportion",
) -> Said:
    """One sentence comparing a society's (or board's) published value with Ontario's."""
    w = Words(r)
    ea, eb = est(p, col, **a), est(p, col, **b)
    rel = relation(ea, eb)
    what = lower_first(r.t(measure))
    if ea.value is None and eb.value is not None:
        r.finding(
            "narr.area_suppressed",
            sources=[p.name],
            year=year,
            measure=what,
            subject=subject,
            b_value=w.est_value(eb, fmt),
        )
        return _said(r, rel)
    if rel == "suppressed":
        r.finding("narr.area_none", sources=[p.name], year=year, measure=what)
        return _said(r, rel)
    about = rel == "similar"
    r.finding(
        "narr.area",
        sources=[p.name],
        year=year,
        measure=what,
        subject=subject,
        a_value=w.est_value(ea, fmt, about=about),
        b_value=w.est_value(eb, fmt, about=about),
        relation=_rel_text(r, rel, "value"),
    )
    return _said(r, rel)


def adjusted_difference(
    r: Report,
    diffs: Protected,
    odds_ratios: Protected | None,
    *,
    outcome: str,
    care_status: str,
    group: str,
) -> Said:
    """The adjusted difference of one care status in one outcome, with its 95% interval and, for
    yes/no outcomes, the odds ratio: never log-odds.

    ``diffs`` has one row per ``outcome`` and ``care_status`` with ``estimate``, ``ci_low``,
    ``ci_high``: average marginal effects (probability scale, said in percentage points) for
    yes/no outcomes, attendance-rate differences (points) or credits a year. ``odds_ratios`` has
    ``odds_ratio``, ``or_low``, ``or_high`` for the same rows of the yes/no outcomes.
    """
    w = Words(r)
    key = {"outcome": outcome, "care_status": care_status}
    e = est(diffs, "estimate", **key)
    odds = (
        est(odds_ratios, "odds_ratio", low="or_low", high="or_high", **key)
        if odds_ratios is not None
        else Est(None)
    )
    kind = outcome if outcome in ("attendance", "credits") else "probability"
    fmt: Fmt = "credits" if outcome == "credits" else "pp"
    sources = [diffs.name]
    rel = versus(e)
    label = r.t(f"outcome.{outcome}")
    if rel in ("suppressed", "unknown"):
        r.finding("narr.adj_suppressed", sources=sources, group=group, measure=label)
        return _said(r, rel)
    assert e.value is not None and e.low is not None and e.high is not None
    values: dict[str, Any] = {"group": group, "measure": label}
    if rel == "similar":
        values.update(
            signed=w.value(e.value, fmt), low=w.value(e.low, fmt), high=w.value(e.high, fmt)
        )
        r.finding(f"narr.adj_unclear_{kind}", sources=sources, **values)
        return _said(r, rel)
    # the interval as magnitudes, nearest to zero first
    lo, hi = sorted((abs(e.low), abs(e.high)))
    values.update(
        value=w.value(e.value, fmt, magnitude=True),
        low=w.value(lo, fmt),
        high=w.value(hi, fmt),
        direction=r.t(f"dir.{kind}_{'more' if rel == 'higher' else 'less'}"),
    )
    msg = f"narr.adj_{kind}"
    if kind == "probability" and odds.has_interval and odds_ratios is not None:
        assert odds.value is not None and odds.low is not None and odds.high is not None
        values.update(
            odds=r.num(odds.value, 2), or_low=r.num(odds.low, 2), or_high=r.num(odds.high, 2)
        )
        msg = "narr.adj_probability_or"
        sources.append(odds_ratios.name)
    r.finding(msg, sources=sources, **values)
    return _said(r, rel)


def odds_levels(
    r: Report,
    t: Protected,
    *,
    outcome: str,
    a: str,
    b: str,
    by: str = "level",
) -> Said:
    """Two levels' odds ratios (each against students with no child welfare involvement)."""
    ea = est(t, "odds_ratio", low="or_low", high="or_high", **{by: a})
    eb = est(t, "odds_ratio", low="or_low", high="or_high", **{by: b})
    rel = relation(eb, ea)
    if rel in ("suppressed", "unknown"):
        r.finding("narr.odds_levels_suppressed", sources=[t.name])
        return _said(r, rel)
    assert ea.value is not None and eb.value is not None
    r.finding(
        "narr.odds_levels",
        sources=[t.name],
        measure=r.t(f"outcome.{outcome}"),
        a_label=lower_first(r.t(f"value.{a}")),
        a_value=r.num(ea.value, 2),
        b_label=lower_first(r.t(f"value.{b}")),
        b_value=r.num(eb.value, 2),
        relation=_rel_text(r, rel, "second"),
    )
    return _said(r, rel)


def highest_lowest(
    r: Report,
    t: Protected,
    *,
    by: str,
    template: str,
    fixed: Mapping[str, Any] | None = None,
    col: str = "rate",
    fmt: Fmt = "proportion",
    **values: Any,
) -> Said:
    """The highest and the lowest published value among the levels of ``by`` (rows ``fixed``),
    and whether their intervals overlap. Fewer than two published levels: no claim."""
    import polars as pl

    df = t.df
    for k, v in (fixed or {}).items():
        df = df.filter(pl.col(k) == v)
    found: list[tuple[float, str, Est]] = []
    for level in df[by].to_list():
        e = est(t, col, **{**(fixed or {}), by: level})
        if e.value is not None:
            found.append((e.value, str(level), e))
    if len(found) < 2:
        r.finding(f"{template}_suppressed", sources=[t.name], **values)
        return _said(r, "suppressed")
    found.sort(key=lambda x: (-x[0], x[1]))
    (hv, hl, he), (lv, ll, le) = found[0], found[-1]
    rel = relation(he, le)
    w = Words(r)
    r.finding(
        template,
        sources=[t.name],
        high_label=r.t.maybe(f"value.{hl}", hl),
        high_value=w.value(hv, fmt),
        low_label=r.t.maybe(f"value.{ll}", ll),
        low_value=w.value(lv, fmt),
        relation=_rel_text(r, rel, "spread"),
        **values,
    )
    return _said(r, rel)


def sensitivity(r: Report, sens: Protected, *, outcome: str, care_status: str, group: str) -> Said:
    """The adjusted difference with all links against high-confidence links only."""
    w = Words(r)
    term = f"average_difference:care_status[{care_status}]"
    ea = est(sens, "estimate", outcome=outcome, term=term, links="all")
    eh = est(sens, "estimate", outcome=outcome, term=term, links="high_confidence")
    rel = relation(eh, ea)
    if rel in ("suppressed", "unknown"):
        r.finding("narr.sensitivity_suppressed", sources=[sens.name], group=group)
        return _said(r, rel)
    assert ea.value is not None and eh.value is not None
    r.finding(
        "narr.sensitivity",
        sources=[sens.name],
        group=group,
        measure=r.t(f"outcome.{outcome}"),
        all=w.value(ea.value, "pp"),
        hc=w.value(eh.value, "pp"),
        relation=r.t("rel.sens_similar" if rel == "similar" else "rel.sens_differ"),
    )
    return _said(r, rel)


# ---------------------------------------------------------------- headline tiles


def rate_tile(
    r: Report,
    p: Protected,
    *,
    measure: str | None = None,
    share: Mapping[str, str] | None = None,
    a: Mapping[str, Any],
    b: Mapping[str, Any] | None = None,
    b_label: str | None = None,
    start: Mapping[str, Any] | None = None,
    first: str | None = None,
    col: str = "rate",
    fmt: Fmt = "proportion",
    compare: str = "tile.compare",
) -> dict[str, Any]:
    """A headline tile: the figure for ``a``, what it measures (``measure``, written), the
    comparison with ``b`` (``compare``: ``tile.compare`` for a group, ``tile.compare_area`` for
    Ontario) and the change since ``start`` (year ``first``). A suppressed figure says so.
    ``share`` (``group``, ``measure``, ``year``) in place of ``measure``: a share of a group,
    written "of {group} ..." after its figure, or as a whole phrase when the figure is withheld."""
    w = Words(r)
    ea = est(p, col, **a)
    if share is not None:
        measure = r.t("tile.share" if ea.value is not None else "tile.share_suppressed", **share)
    assert measure is not None, "a tile needs its measure"
    tile: dict[str, Any] = {"sources": [p.name], "measure": measure}
    if ea.value is None:
        tile.update(
            figure=r.t("tile.suppressed_figure"),
            comparison=r.t("tile.suppressed_why"),
            suppressed=True,
        )
        return tile
    tile["figure"] = w.est_value(ea, fmt)
    if b is not None and b_label is not None:
        eb = est(p, col, **b)
        rel = relation(ea, eb)
        if rel == "suppressed":
            tile["comparison"] = r.t(f"{compare}_suppressed", group=b_label)
        elif rel == "similar":
            tile["comparison"] = r.t(
                f"{compare}_similar", value=w.est_value(eb, fmt), group=b_label
            )
        else:
            tile["comparison"] = r.t(compare, value=w.est_value(eb, fmt), group=b_label)
    if start is not None and first is not None:
        e0 = est(p, col, **start)
        rel = relation(ea, e0)
        if rel not in ("suppressed", "unknown"):
            key = {"higher": "tile.trend_up", "lower": "tile.trend_down"}.get(
                rel, "tile.trend_similar"
            )
            tile["trend"] = r.t(key, value=w.est_value(e0, fmt), year=first)
    return tile


def difference_tile(
    r: Report, diffs: Protected, *, outcome: str, care_status: str, group: str
) -> dict[str, Any]:
    """A headline tile of an adjusted difference in percentage points, with its 95% interval."""
    w = Words(r)
    e = est(diffs, "estimate", outcome=outcome, care_status=care_status)
    rel = versus(e)
    label = r.t(f"outcome.{outcome}")
    tile: dict[str, Any] = {"sources": [diffs.name]}
    if rel in ("suppressed", "unknown") or e.low is None or e.high is None or e.value is None:
        tile.update(
            figure=r.t("tile.suppressed_figure"),
            measure=r.t("tile.adjusted_measure", group=group, measure=label),
            comparison=r.t("tile.suppressed_why"),
            suppressed=True,
        )
        return tile
    if rel == "similar":
        tile.update(
            figure=r.t("tile.points", value=w.value(e.value, "pp")),
            measure=r.t("tile.adjusted_unclear", group=group, measure=label),
            comparison=r.t("tile.interval", low=w.value(e.low, "pp"), high=w.value(e.high, "pp")),
        )
        return tile
    lo, hi = sorted((abs(e.low), abs(e.high)))
    tile.update(
        figure=r.t("tile.points", value=w.value(e.value, "pp", magnitude=True)),
        measure=r.t(
            "tile.adjusted_" + ("higher" if rel == "higher" else "lower"),
            group=group,
            measure=label,
        ),
        comparison=r.t("tile.interval", low=w.value(lo, "pp"), high=w.value(hi, "pp")),
    )
    return tile


def first_published(
    p: Protected, col: str, years: Sequence[str], year_col: str = "school_year", **equals: Any
) -> str | None:
    """The first of ``years`` in which ``p`` publishes ``col`` for the row ``equals``."""
    for y in years:
        if est(p, col, **{**equals, year_col: y}).published:
            return y
    return None


def last_published(
    p: Protected, col: str, years: Sequence[str], year_col: str = "school_year", **equals: Any
) -> str | None:
    """The last of ``years`` in which ``p`` publishes ``col`` for the row ``equals``."""
    return first_published(p, col, list(reversed(years)), year_col, **equals)


def province_value(r: Report, t: Protected, *, col: str, fmt: Fmt, year: str, measure: str) -> Said:
    """Ontario's value of an indicator in one year (rows labelled with the province)."""
    e = est(t, col, society_id=PROVINCE_AREA)
    if e.value is None:
        return Said("suppressed", None)
    r.finding(
        "narr.province_value",
        sources=[t.name],
        measure=measure,
        value=Words(r).value(e.value, fmt),
        year=year,
    )
    return _said(r, "unknown")


def group_values(
    r: Report, t: Protected, *, by: str, col: str, fmt: Fmt, year: str, measure: str
) -> Said:
    """The published value of each group (rows labelled in ``by``) in one sentence; the groups
    whose value is suppressed are named as such, and nothing is said when none is published."""
    items, shown = [], 0
    for label in t.df[by].to_list():
        e = est(t, col, **{by: label})
        name = lower_first(label) if r.lang == "fr" else label  # "sociétés autochtones"
        if e.value is None:
            items.append(r.t("narr.group_item_hidden", group=name))
        else:
            items.append(r.t("narr.group_item", group=name, value=Words(r).value(e.value, fmt)))
            shown += 1
    if not shown:
        return Said("suppressed", None)
    r.finding(
        "narr.group_values",
        sources=[t.name],
        measure=measure,
        year=year,
        items="; ".join(items),
    )
    return _said(r, "unknown")


def indigenous_terms(r: Report, t: Protected, *, group: str) -> Said:
    """The Indigenous odds ratios of the yes/no outcome models (``indigenous:cw_active`` rows)."""
    said = Said("suppressed", None)
    for outcome in ("eqao_at_standard", "chronic_absence"):
        e = est(t, "odds_ratio", low="or_low", high="or_high", outcome=outcome)
        rel = versus(e, 1.0)
        if rel in ("suppressed", "unknown"):
            continue
        assert e.value is not None and e.low is not None and e.high is not None
        key = {"higher": "rel.or_higher", "lower": "rel.or_lower"}.get(rel, "rel.similar")
        r.finding(
            "narr.indigenous_or",
            sources=[t.name],
            group=group,
            measure=r.t(f"outcome.{outcome}"),
            odds=r.num(e.value, 2),
            or_low=r.num(e.low, 2),
            or_high=r.num(e.high, 2),
            relation=r.t(key),
        )
        said = _said(r, rel)
    return said


def _in_ten(v: float) -> int:
    import math

    return int(math.floor(v * 10 + 0.5))


def youth_tile(r: Report, t: Protected, *, key: str, col: str) -> dict[str, Any]:
    """A youth headline tile: "6 in 10", what it counts, and other students beside it."""
    mine = est(t, col, care_status="youth_in_care")
    others = est(t, col, care_status="youth_others")
    tile: dict[str, Any] = {"sources": [t.name], "measure": r.t(f"youth.t_{key}")}
    if mine.value is None:
        tile.update(
            figure=r.t("youth.tile_hidden"), comparison=r.t("youth.tile_why"), suppressed=True
        )
        return tile
    tile["figure"] = r.t("youth.tile_figure", n=_in_ten(mine.value))
    if others.value is not None:
        tile["comparison"] = r.t("youth.tile_others", n=_in_ten(others.value))
    return tile


def youth_finding(r: Report, t: Protected, *, key: str, col: str) -> Said:
    """Two or three short sentences: young people in care, other students, and whether the two
    groups differ by more than the margin of error. A hidden number is said to be hidden."""
    mine = est(t, col, care_status="youth_in_care")
    others = est(t, col, care_status="youth_others")
    if mine.value is None:
        r.finding("youth.hidden", sources=[t.name])
        return Said("suppressed", None)
    said: list[str] = []
    r.finding(f"youth.f_{key}", sources=[t.name], n=_in_ten(mine.value))
    said.append(r.blocks[-1]["text"])
    rel = relation(mine, others)
    if others.value is not None:
        msg = "youth.others_days" if key == "attendance" else "youth.others"
        r.finding(msg, sources=[t.name], n=_in_ten(others.value))
        said.append(r.blocks[-1]["text"])
        if rel in ("higher", "lower", "similar"):
            # "9 in 10" against "9 in 10" that still differ beyond the margin: "a little"
            close = rel != "similar" and _in_ten(mine.value) == _in_ten(others.value)
            r.finding(f"youth.rel_{rel}{'_little' if close else ''}", sources=[t.name])
            said.append(r.blocks[-1]["text"])
    return Said(rel, " ".join(said))
