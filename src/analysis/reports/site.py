"""The methodology page: how the records were linked, de-identified and protected, with the row
accounting of every stage. Every number on it passes the disclosure module like any other."""

from __future__ import annotations

import json
from typing import Any

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


CALIBRATION_FILE = "calibration.json"


def calibration(cfg: Config) -> dict[str, Any] | None:
    """The generator's calibration check as de-identification copied it (aggregates only; none
    for a real extract)."""
    path = cfg.paths.analytic / CALIBRATION_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def calibration_table(data: dict[str, Any], r: Report) -> pl.DataFrame:
    """One row per target: the target at this scale, the synthetic value, the largest deviation
    that holds, whether it holds and whether the target is published or assumed; ``n`` = the
    people, cases or societies behind the synthetic value."""
    rows = []
    for c in data["checks"]:
        eqao_cell = c["name"].startswith("eqao_") and not c["name"].endswith("_ratio")
        name = c["name"][len("eqao_") :] if eqao_cell else c["name"]
        assumed = c["source"].lower().startswith("assumed")
        rows.append(
            {
                "target": name,
                "year": c["year"],
                "unit": r.t(f"value.unit_{c['unit']}"),
                "n": int(c["n"]),
                "target_value": float(c["scaled_target"]),
                "synthetic": c["synthetic"],
                "allowed": c["allowed"],
                "holds": r.t("value.yes" if c["holds"] else "value.no"),
                "basis": r.t("value.assumed" if assumed else "value.published"),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "target": pl.Utf8,
            "year": pl.Utf8,
            "unit": pl.Utf8,
            "n": pl.Int64,
            "target_value": pl.Float64,
            "synthetic": pl.Float64,
            "allowed": pl.Float64,
            "holds": pl.Utf8,
            "basis": pl.Utf8,
        },
    )


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
    cal = calibration(cfg)
    if cal is not None:
        r.heading("heading.calibration")
        r.text(
            "method.calibration",
            targets=cal["targets"],
            holding=cal["holding"],
            scale=cal["scale"],
            seed=str(cal["seed"]),
        )
        # The targets are published figures; the synthetic values rest on n people or cases.
        table = release.protect(
            "methodology_calibration",
            calibration_table(cal, r),
            dims=["target", "year"],
            count="n",
            stats=("unit", "target_value", "synthetic", "allowed", "holds", "basis"),
            universe="calibration",
        )
        r.table(
            table,
            "caption.calibration",
            formats={"target_value": "decimal2", "synthetic": "decimal2", "allowed": "decimal2"},
            labels={"n": "col.calibration_n"},
        )
        r.heading("heading.calibration_sources", level=3).text("method.calibration_sources")
        sources: dict[str, str] = {}
        for c in cal["checks"]:
            key = (
                "eqao" if c["name"].startswith("eqao_") and "ratio" not in c["name"] else c["name"]
            )
            sources.setdefault(key, c["source"])
        for key, source in sources.items():
            r.text("method.calibration_source", target=r.t(f"value.{key}"), source=source)
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
    return r
