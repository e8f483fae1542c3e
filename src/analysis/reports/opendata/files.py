"""Write the open data files: ``<name>.csv``, ``<name>.meta.csv`` and the release's
``datasets.json`` (every file, its columns and labels in both languages, the shared columns, the
symbols and the geographies), in ``reports/data/open/``."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from analysis.config import Config
from analysis.disclosure import Protected
from analysis.domain.vocab import REGION_FR
from analysis.io import write_json
from analysis.reports.i18n import LANGS, Translator
from analysis.reports.opendata import datasets as ds
from analysis.reports.opendata import standard as std

FOLDER = Path("data") / "open"
INDEX = "datasets.json"
FORMAT = "analysis-open-data/1"
META_HEADER: tuple[str, ...] = (*std.META_COLUMNS, "filter_default", "label_fr")


def csv_bytes(header: list[str], rows: list[list[str]] | list[tuple[Any, ...]]) -> bytes:
    """UTF-8 CSV without a byte-order mark, ``\\n`` line ends, quoting only where needed."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _labels(msgid: str) -> dict[str, str]:
    return {lang: Translator(lang)(msgid) for lang in LANGS}


def meta_rows(built: ds.Built) -> list[dict[str, str]]:
    """The ``.meta.csv`` of a built file: its filters, then its indicators."""
    rows = []
    frame = built.frame
    for f in built.filters:
        present = frame[f.name].unique(maintain_order=True).to_list()
        default = ""
        if std.TOTAL not in present:
            default = str(present[0])
            if f.default is not None and ds.value_label(f, f.default, "en") in present:
                default = ds.value_label(f, f.default, "en")
        rows.append(
            {
                "col_name": f.name,
                "col_type": "Filter",
                "label": Translator("en")(f"open.col.{f.name}"),
                "indicator_grouping": "",
                "indicator_unit": "",
                "indicator_dp": "",
                "filter_hint": Translator("en")(f"open.hint.{f.name}"),
                "filter_grouping_column": "",
                "filter_default": default,
                "label_fr": Translator("fr")(f"open.col.{f.name}"),
            }
        )
    for ind in built.spec.indicators:
        rows.append(
            {
                "col_name": ind.name,
                "col_type": "Indicator",
                "label": Translator("en")(f"open.col.{ind.name}"),
                "indicator_grouping": "",
                "indicator_unit": ind.unit,
                "indicator_dp": str(ind.dp),
                "filter_hint": "",
                "filter_grouping_column": "",
                "filter_default": "",
                "label_fr": Translator("fr")(f"open.col.{ind.name}"),
            }
        )
    return rows


def places(cfg: Config) -> ds.Places:
    """The reference tables de-identification copied into ``analytic/`` (not identifying)."""
    out = {}
    for name in ("boards", "societies"):
        p = cfg.paths.analytic / f"{name}.parquet"
        if not p.is_file():
            raise FileNotFoundError(f"{p}: reference table not found (run `analysis deidentify`)")
        out[name] = pl.read_parquet(p)
    return ds.Places(out["boards"], out["societies"])


def _entry(built: ds.Built, data: bytes, meta: bytes, cfg: Config) -> dict[str, Any]:
    spec, frame = built.spec, built.frame
    levels = [lv.name for lv in std.GEOGRAPHIC_LEVELS if lv.name in set(frame["geographic_level"])]
    counts = {}
    for lv in levels:
        rows = frame.filter(pl.col("geographic_level") == lv)
        code = std.LEVEL_BY_NAME[lv].code
        counts[lv] = rows[code].n_unique() if code in rows.columns else 1
    filters = []
    for f in built.filters:
        # the file's order (sorted by place, then the filters' order); codes give the French
        codes = {ds.value_label(f, c, "en"): c for c in built.codes[f.name]}
        values = frame[f.name].unique(maintain_order=True).to_list()
        filters.append(
            {
                "name": f.name,
                "label": _labels(f"open.col.{f.name}"),
                "hint": _labels(f"open.hint.{f.name}"),
                "values": [{"value": v, "fr": ds.value_label(f, codes[v], "fr")} for v in values],
            }
        )
    years = cfg.school_years
    return {
        "name": spec.name,
        "topic": spec.topic,
        "title": _labels(f"open.ds.{spec.name}.title"),
        "description": _labels(f"open.ds.{spec.name}.description"),
        "file": f"{spec.name}.csv",
        "meta": f"{spec.name}{std.META_SUFFIX}",
        "rows": frame.height,
        "bytes": len(data),
        "meta_bytes": len(meta),
        "time_identifier": spec.time_identifier,
        "time_periods": sorted(frame["time_period"].unique().to_list()),
        "pooled": {"first": years[0], "last": years[-1]} if spec.pooled else None,
        "geographic_levels": levels,
        "locations": counts,
        "filters": filters,
        "indicators": [
            {
                "name": i.name,
                "label": _labels(f"open.col.{i.name}"),
                "unit": i.unit,
                "dp": i.dp,
            }
            for i in spec.indicators
        ],
        "columns": list(frame.columns),
        "breakdowns": list(ds.BREAKDOWNS.get(spec.name, ())),
        "tables": built.tables,
    }


def standard_columns() -> dict[str, dict[str, dict[str, str]]]:
    """Labels and descriptions of the time and geography columns, in both languages."""
    return {
        c: {"label": _labels(f"open.col.{c}"), "description": _labels(f"open.desc.{c}")}
        for c in std.OBSERVATIONAL_UNITS
    }


def geographies(pl_places: ds.Places) -> dict[str, Any]:
    """Every level, with the regions and groups of societies the release defines."""
    boards, socs = pl_places.boards, pl_places.societies
    regions = [
        {
            "code": code,
            "name": name,
            "fr": REGION_FR.get(name, name),
            "boards": int((boards["region"] == name).sum()),
            "societies": int((socs["region"] == name).sum()),
        }
        for name, code in std.REGION_CODES.items()
    ]
    groups = [{**g, "name": _labels(f"open.group.{g['key']}")} for g in pl_places.society_groups()]
    return {
        "levels": [
            {
                "name": lv.name,
                "label": _labels(f"open.level.{lv.code.removesuffix('_code')}"),
                "code": lv.code,
                "name_column": lv.name_col,
            }
            for lv in std.GEOGRAPHIC_LEVELS
        ],
        "regions": regions,
        "society_groups": groups,
    }


def write(
    cfg: Config,
    results: Mapping[str, Protected],
    folder: Path,
    pl_places: ds.Places,
    sources: dict[str, list[str | None]] | None = None,
) -> dict[str, Any]:
    """Build and write every open data file into ``folder``; return the ``datasets.json`` index.

    The release row each file's rows copy goes to ``sources`` (file name -> one entry per row),
    for the audit; it is never written to the files."""
    folder.mkdir(parents=True, exist_ok=True)
    pooled = std.school_period(cfg.school_years[-1])
    entries = []
    for spec in ds.SPECS:
        built = ds.build(spec, results, pl_places, pooled)
        if built is None:
            continue
        frame = built.frame
        data = csv_bytes(list(frame.columns), list(frame.iter_rows()))
        mrows = meta_rows(built)
        meta = csv_bytes(list(META_HEADER), [[r[c] for c in META_HEADER] for r in mrows])
        (folder / f"{spec.name}.csv").write_bytes(data)
        if sources is not None:
            sources[audit_name(spec.name)] = built.sources
        (folder / f"{spec.name}{std.META_SUFFIX}").write_bytes(meta)
        entries.append(_entry(built, data, meta, cfg))
    index = {
        "format": FORMAT,
        "standard": "explore-education-statistics open data standard (DfE), Ontario adaptation",
        "topics": [
            {"name": t, "title": _labels(f"open.topic.{t}")}
            for t in ds.TOPICS
            if any(e["topic"] == t for e in entries)
        ],
        "symbols": {s: _labels(f"open.symbol.{s}") for s in std.SYMBOLS},
        "columns": standard_columns(),
        "geographies": geographies(pl_places),
        "datasets": entries,
    }
    write_json(index, folder / INDEX)
    return index


def audit_name(name: str) -> str:
    """The name the audit knows an open data file by (beside the reports' CSV downloads)."""
    return f"open/{name}.csv"


def audit_files(folder: Path) -> dict[str, str]:
    """The open data files in ``folder`` as the audit reads a release's CSVs: one column per
    indicator, named by the published column it copies and in its unit (a percentage back to a
    proportion), after a label column; rows in file order. A file the specs do not know is an
    error (the audit must see everything a reader holds)."""
    import csv
    import io

    out: dict[str, str] = {}
    for path in sorted(folder.glob("*.csv")):
        if path.name.endswith(std.META_SUFFIX):
            continue
        spec = ds.SPEC_BY_NAME.get(path.stem)
        if spec is None:
            raise ValueError(
                f"{path}: an open data file no spec describes; the audit cannot read it"
            )
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        header, body = rows[0], rows[1:]
        cols: dict[str, tuple[int, float]] = {}
        for ind in spec.indicators:
            if ind.name in header and ind.source not in cols:
                cols[ind.source] = (header.index(ind.name), ind.scale)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["file", *cols])
        for line in body:
            cells = []
            for i, scale in cols.values():
                x = line[i]
                try:
                    cells.append(repr(float(x) / scale) if scale != 1.0 else x)
                except ValueError:
                    cells.append(x)
            w.writerow([spec.name, *cells])
        out[audit_name(spec.name)] = buf.getvalue()
    return out
