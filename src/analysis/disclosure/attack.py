"""``analysis audit``: attack the release as a reader holds it, in two engines.

What a reader holds is every CSV under ``reports/data/`` (the HTML and PDF print the same
numbers). :func:`read_printed` reads each one and, through the provenance the report writer
recorded (the release row of every CSV row), marks which quantities of the release are printed:
a number, or ``z`` (no people, so 0), is read; ``c`` (and ``x``) is not. Every printed number must
equal the release's value of that cell, every CSV row must be traced to the release, and no row may
print a ratio (a rate, a percentage of days) beside a hidden count or amount it is computed from.

:func:`audit` then builds the ledger of the whole release (:mod:`~analysis.disclosure.ledger`:
the relations across tables, latent totals, derived counts) with what is printed fixed, and for
every quantity the reader cannot read solves its minimum and maximum (HiGHS, by component), and
the same through G-Confid's Auditing module (:mod:`~analysis.disclosure.gconfid`). A quantity
fails the rule (``Config.privacy``) if its interval is narrower than ``protection_width``, if a
count's upper bound stays below ``min_cell``, or if an amount's interval is narrower than
``magnitude_share`` of it. Both engines must find no failure.

The true values come from ``results/disclosure/`` (written by the analyse stage, never
published); the printed ones from the reports alone.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.disclosure import gconfid
from analysis.disclosure.ledger import Ledger, ReleaseLP, Rule, Structure, TableView, build, targets
from analysis.disclosure.protected import (
    SYMBOL_NOT_APPLICABLE,
    SYMBOL_NOT_AVAILABLE,
    SYMBOL_SUPPRESSED,
)
from analysis.disclosure.system import TOL

RELEASE_DIR = "disclosure"  # under results/: the release's true values, for the audit only
RELEASE_INDEX = "release.json"


@dataclass
class TrueTable:
    """A table of the release with its true values (``results/disclosure/<name>.parquet``)."""

    name: str
    universe: str
    dims: tuple[str, ...]
    count: str
    numerator: str | None
    stats: tuple[str, ...]
    totals_label: str
    table: pl.DataFrame


def write_release(tables: list[TrueTable], folder: Path) -> list[Path]:
    """Write the release's true tables (the analyse stage calls this in its staging folder)."""
    from analysis.io import write_json, write_parquet

    folder.mkdir(parents=True, exist_ok=True)
    # floats to 9 decimals: a group mean's last bits depend on the order threads sum in, and
    # the same seed must give the same bytes
    paths = [
        write_parquet(
            t.table.with_columns(pl.selectors.float().round(9)), folder / f"{t.name}.parquet"
        )
        for t in tables
    ]
    meta = [
        {
            "name": t.name,
            "universe": t.universe,
            "dims": list(t.dims),
            "count": t.count,
            "numerator": t.numerator,
            "stats": list(t.stats),
            "totals_label": t.totals_label,
        }
        for t in tables
    ]
    paths.append(write_json({"tables": meta}, folder / RELEASE_INDEX))
    return paths


def read_release(folder: Path) -> dict[str, TrueTable]:
    """The release's true tables, by name."""
    idx = folder / RELEASE_INDEX
    if not idx.is_file():
        raise FileNotFoundError(
            f"{idx}: the release's audit record is missing (run `analysis analyse`)"
        )
    out = {}
    for m in json.loads(idx.read_text(encoding="utf-8"))["tables"]:
        out[m["name"]] = TrueTable(
            name=m["name"],
            universe=m["universe"],
            dims=tuple(m["dims"]),
            count=m["count"],
            numerator=m["numerator"],
            stats=tuple(m["stats"]),
            totals_label=m["totals_label"],
            table=pl.read_parquet(folder / f"{m['name']}.parquet"),
        )
    return out


@dataclass
class Printed:
    """What the CSVs print: per table and column, which rows a reader reads; and problems."""

    masks: dict[str, dict[str, np.ndarray]]
    hidden: dict[str, dict[str, np.ndarray]]  # positions a CSV shows as suppressed
    files: int
    rows: int
    numbers: int
    problems: list[dict[str, Any]]


def _number(text: str) -> float | None:
    t = text.strip()
    if t.endswith(" u"):
        t = t[:-2]
    try:
        return float(t)
    except ValueError:
        return None


def read_printed(
    release: Mapping[str, TrueTable],
    files: Mapping[str, str],
    provenance: Mapping[str, list[str | None]],
    structure: Structure,
    round_base: int | None = None,
) -> Printed:
    """Which quantities of the release the CSVs ``files`` (name -> text) print (module doc)."""
    masks: dict[str, dict[str, np.ndarray]] = {}
    hidden: dict[str, dict[str, np.ndarray]] = {}
    for t in release.values():
        cols = [t.count, *([t.numerator] if t.numerator else [])]
        cols += [c for c in structure.magnitudes.get(t.name, ()) if c in t.table.columns]
        masks[t.name] = {c: np.zeros(t.table.height, dtype=bool) for c in cols}
        hidden[t.name] = {c: np.zeros(t.table.height, dtype=bool) for c in cols}
    problems: list[dict[str, Any]] = []
    nrows = nnum = 0
    for name, text in sorted(files.items()):
        rows = list(csv.reader(io.StringIO(text)))
        header, body = rows[0], rows[1:]
        prov = provenance.get(name)
        if prov is None or len(prov) != len(body):
            problems.append({"file": name, "rule": "CSV not traced to the release row by row"})
            continue
        for j, (line, src) in enumerate(zip(body, prov, strict=True)):
            nrows += 1
            if src is None:
                if any(_number(x) is not None for x in line[1:]):
                    problems.append(
                        {
                            "file": name,
                            "row": j + 1,
                            "rule": "printed row not traced to the release",
                        }
                    )
                continue
            if src.startswith("="):  # repeats cells other rows print (open data totals)
                continue
            table, i = src.rsplit(":", 1)
            t = release[table]
            row = int(i)
            cells = dict(zip(header, line, strict=False))
            hidden_here = {c for c, x in cells.items() if x == SYMBOL_SUPPRESSED}
            for col, mask in masks[table].items():
                if col not in cells:
                    continue
                x = cells[col]
                if x == SYMBOL_SUPPRESSED:
                    hidden[table][col][row] = True
                if x in (SYMBOL_SUPPRESSED, SYMBOL_NOT_AVAILABLE):
                    continue
                mask[row] = True
                if x == SYMBOL_NOT_APPLICABLE:
                    continue
                nnum += 1
                got, want = _number(x), t.table[col][row]
                if round_base and want is not None:
                    want = float(np.floor(want / round_base + 0.5) * round_base)
                if got is None or want is None or abs(got - float(want)) > 0.5:
                    problems.append(
                        {
                            "file": name,
                            "row": j + 1,
                            "column": col,
                            "rule": "printed number differs from the release's value of its cell",
                        }
                    )
            ratio_ops = dict(structure.ratios.get(table, {}))
            for stat in t.stats:
                if stat in masks[table] or stat not in cells or _number(cells[stat]) is None:
                    continue
                ops = ratio_ops.get(stat, tuple(c for c in (t.count, t.numerator) if c))
                if any(c in hidden_here for c in ops):
                    problems.append(
                        {
                            "file": name,
                            "row": j + 1,
                            "column": stat,
                            "rule": "a ratio printed beside a hidden count or amount it implies",
                        }
                    )
    return Printed(masks, hidden, len(files), nrows, nnum, problems)


def views(release: Mapping[str, TrueTable], printed: Printed) -> list[TableView]:
    return [
        TableView(
            name=t.name,
            universe=t.universe,
            dims=t.dims,
            count=t.count,
            numerator=t.numerator,
            table=t.table,
            totals_label=t.totals_label,
            printed=printed.masks[t.name],
            hidden=printed.hidden[t.name],
        )
        for t in release.values()
    ]


def _failure(led: Ledger, v: int, low: float, high: float, why: str) -> dict[str, Any]:
    return {
        **led.describe(v),
        "interval": [low, None if not np.isfinite(high) else high],
        "rule": why,
    }


def attack(
    led: Ledger, rule: Rule, *, engines: tuple[str, ...] = ("highs", "gconfid")
) -> dict[str, Any]:
    """Every protected quantity's interval in each engine, and what fails (module doc)."""
    printed = led.printed()
    tg = targets(led, printed, rule.min_cell)
    kinds: dict[str, int] = {}
    for v in tg:
        kinds[led.vars[v].kind] = kinds.get(led.vars[v].kind, 0) + 1
    relation_kinds: dict[str, int] = {}
    for rel in led.relations:
        relation_kinds[rel.kind] = relation_kinds.get(rel.kind, 0) + 1
    out: dict[str, Any] = {
        "examined": len(tg),
        "examined_by_kind": kinds,
        "variables": led.n,
        "printed_variables": int(printed.sum()),
        "relations": len(led.relations),
        "relations_by_kind": relation_kinds,
        "engines": {},
    }
    t0 = time.perf_counter()
    lp = ReleaseLP(led)
    bounds = lp.bounds(~printed, tg)
    ours = dict(zip(tg, bounds, strict=True))
    fails = []
    for v, (low, high) in ours.items():
        why = rule.fails(led.vars[v], low, high)
        if why:
            fails.append(_failure(led, v, low, high, why))
    out["engines"]["highs"] = {
        "engine": "project (scipy HiGHS, exact by component)",
        "examined": len(tg),
        "failures": fails,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if "gconfid" in engines:
        out["engines"]["gconfid"] = _gconfid(led, printed, tg, rule, ours)
    out["passed"] = all(
        not e.get("failures") and e.get("ran", True) for e in out["engines"].values()
    )
    return out


def _gconfid(
    led: Ledger,
    printed: np.ndarray,
    tg: list[int],
    rule: Rule,
    ours: dict[int, tuple[float, float]],
) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        theirs, rec = gconfid.audit(led, printed, tg, rule)
    except FileNotFoundError as exc:
        return {"engine": "G-Confid Auditing", "ran": False, "failures": [], "reason": str(exc)}
    cmp = gconfid.compare(led, ours, theirs, rule, rec["a_priori_bound"])
    fails = [
        _failure(led, v, *theirs[v], rule.fails(led.vars[v], *theirs[v]) or "")
        for v in cmp["failing"]
    ]
    if cmp["missing"]:
        fails.append({"rule": f"{cmp['missing']} quantities missing from G-Confid's output"})
    return {
        "engine": f"G-Confid {rec.get('gconfid', '')} Auditing (its own environment)",
        "ran": True,
        "examined": cmp["examined"],
        "failures": fails,
        "disagreements_with_project": len(cmp["disagreements"]),
        "max_interval_difference": cmp["max_interval_difference"],
        "cells": rec["cells"],
        "constraints": rec["constraints"],
        "groups": rec["groups"],
        "seconds": round(time.perf_counter() - t0, 2),
        "seconds_gconfid": round(rec["seconds"], 2),
    }


def audit(
    release: Mapping[str, TrueTable],
    files: Mapping[str, str],
    provenance: Mapping[str, list[str | None]],
    structure: Structure,
    rule: Rule,
    *,
    round_base: int | None = None,
    engines: tuple[str, ...] = ("highs", "gconfid"),
) -> dict[str, Any]:
    """The audit of a release as printed in ``files`` (name -> CSV text); see the module doc."""
    t0 = time.perf_counter()
    printed = read_printed(release, files, provenance, structure, round_base)
    led = build(views(release, printed), structure)
    for v in led.mixed():
        printed.problems.append(
            {**led.describe(v), "rule": "shown as c in one place and printed in another"}
        )
    out = attack(led, rule, engines=engines)
    out["files"] = printed.files
    out["rows"] = printed.rows
    out["printed_numbers"] = printed.numbers
    out["suppressed_positions"] = int(
        sum(int((~m).sum()) for t in printed.masks.values() for m in t.values())
    )
    out["file_problems"] = printed.problems
    out["rule"] = {
        "min_cell": rule.min_cell,
        "protection_width": rule.width,
        "magnitude_share": rule.magnitude_share,
        "statement": (
            f"every value a reader cannot read keeps an interval at least {rule.width:g} wide "
            f"whose upper bound reaches {rule.min_cell}; an amount keeps an interval at least "
            f"{rule.magnitude_share:g} of its value wide"
        ),
    }
    out["passed"] = bool(out["passed"] and not printed.problems)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    _ = TOL
    return out


def summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers the methodology page and the manifest carry."""
    eng = report["engines"]
    return {
        "passed": report["passed"],
        "files": report["files"],
        "examined": report["examined"],
        "relations": report["relations"],
        "variables": report["variables"],
        "failures": {k: len(e.get("failures", [])) for k, e in eng.items()},
        "engines_run": [k for k, e in eng.items() if e.get("ran", True)],
        "seconds": report["seconds"],
        "seconds_by_engine": {k: e.get("seconds") for k, e in eng.items()},
        "file_problems": len(report["file_problems"]),
    }
