"""The methodology page: how the records were linked, de-identified and protected, with the row
accounting of every stage. Every number on it passes the disclosure module like any other."""

from __future__ import annotations

import polars as pl

from analysis.config import Config
from analysis.disclosure import Release
from analysis.manifest import stage_records
from analysis.reports.render import default_methodology
from analysis.reports.report import Report
from analysis.reports.sections import linkage_quality


def row_accounting(cfg: Config) -> pl.DataFrame:
    """Rows in, passed on, quarantined and unlinked per source and stage (nothing dropped silently)."""
    st = stage_records(cfg)
    rows = []
    val = st.get("validate", {}).get("rows", {})
    for key, n in val.items():
        name, what = key.rsplit(" ", 1)
        rows.append({"stage": "validate", "table": name, "measure": what, "n": n})
    link = st.get("link", {}).get("metrics", {})
    for what in ("records", "records_linked"):
        if what in link:
            rows.append(
                {"stage": "link", "table": "cpin_persons", "measure": what, "n": int(link[what])}
            )
    if "records" in link and "records_linked" in link:
        rows.append(
            {
                "stage": "link",
                "table": "cpin_persons",
                "measure": "unlinked",
                "n": int(link["records"]) - int(link["records_linked"]),
            }
        )
    deid = st.get("deidentify", {}).get("rows", {})
    for key, n in deid.items():
        rows.append({"stage": "deidentify", "table": key, "measure": "rows", "n": int(n)})
    return pl.DataFrame(
        rows, schema={"stage": pl.Utf8, "table": pl.Utf8, "measure": pl.Utf8, "n": pl.Int64}
    )


def normalisations(cfg: Config) -> pl.DataFrame:
    """What the reading of the extract normalised: values per file, column and kind (empty when
    nothing was; ``docs/validation.md`` describes each kind)."""
    val = stage_records(cfg).get("validate", {}).get("metrics", {})
    rows = [
        {
            "file": str(n["file"]),
            "column": str(n["column"] or "file_level"),
            "normalisation": str(n["normalisation"]),
            "n": int(n["values"]),
        }
        for n in val.get("normalisations", [])
    ]
    return pl.DataFrame(
        rows,
        schema={"file": pl.Utf8, "column": pl.Utf8, "normalisation": pl.Utf8, "n": pl.Int64},
    )


def linkage_by_group(cfg: Config) -> pl.DataFrame:
    df = pl.DataFrame(linkage_quality(cfg).get("by_subgroup", []))
    if df.is_empty():
        return pl.DataFrame(
            schema={
                "dimension": pl.Utf8,
                "group": pl.Utf8,
                "n": pl.Int64,
                "events": pl.Int64,
                "rate": pl.Float64,
            }
        )
    return df.select(
        pl.col("dimension").cast(pl.Utf8),
        pl.col("group").cast(pl.Utf8).fill_null("not stated"),
        pl.col("records").cast(pl.Int64).alias("n"),
        pl.col("linked").cast(pl.Int64).alias("events"),
        (pl.col("link_rate") * 100).alias("rate"),
    ).sort("dimension", "group")


def methodology(cfg: Config, lang: str) -> Report:
    """The methodology page in ``lang``, with linkage quality, risk and row accounting."""
    r = default_methodology(lang, threshold=cfg.privacy.min_cell)
    release = Release(cfg.privacy)
    data = linkage_quality(cfg)
    r.heading("heading.linkage_quality")
    if data.get("truth_available"):
        r.text(
            "method.linkage_measured",
            precision=r.pct(data["precision"], 2, proportion=True),
            recall=r.pct(data["recall"], 2, proportion=True),
            f1=r.pct(data["f1"], 2, proportion=True),
        )
    r.text(
        "method.linkage_passes",
        threshold=r.pct(cfg.linkage.match_threshold, 0, proportion=True),
    )
    groups = release.protect(
        "methodology_linkage_by_group",
        linkage_by_group(cfg),
        dims=["dimension", "group"],
        count="n",
        numerator="events",
        stats=("rate",),
        universe="cw_records_linkage",
    )
    r.table(groups, "caption.linkage_by_group", formats={"rate": "percent"})
    risk = cfg.paths.analytic / "risk.json"
    if risk.exists():
        r.heading("heading.risk")
        r.text(
            "method.risk",
            k=cfg.privacy.k_anonymity,
            risk=r.pct(1 / cfg.privacy.k_anonymity, 0, proportion=True),
        )
    acc = row_accounting(cfg)
    if not acc.is_empty():
        r.heading("heading.row_accounting").text("method.row_accounting")
        # Row counts of whole source files are not about small groups, but they pass the same gate.
        table = release.protect(
            "methodology_row_accounting",
            acc,
            dims=["stage", "table", "measure"],
            count="n",
            universe="rows",
        )
        r.table(table, "caption.row_accounting")
    norm = normalisations(cfg)
    if not norm.is_empty():  # an extract written differently from the documented form
        r.heading("heading.normalisations").text("method.normalisations")
        table = release.protect(
            "methodology_normalisations",
            norm,
            dims=["file", "column", "normalisation"],
            count="n",
            universe="values_normalised",
        )
        r.table(table, "caption.normalisations")
    return r
