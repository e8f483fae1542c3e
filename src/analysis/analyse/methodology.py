"""The tables of the methodology page and the linkage analyst's view, published through the same
release as every other table (so the release-wide consistency pass and the audit see them).

They are built from what de-identification passed on: the linkage quality aggregates
(``analytic/linkage_quality.json``: counts and rates by group, no identifier) and the row counts
and normalisation counts each stage recorded (``.state``), never from the linkage or source
folders.
"""

from __future__ import annotations

import json

import polars as pl

from analysis.analyse.outcomes import Spec
from analysis.config import Config
from analysis.manifest import stage_records

# name -> universe: cells of the same universe and keys are the same people in every table
UNIVERSES = {
    "methodology_linkage_by_group": "cw_records_linkage",
    "linkage_rate_by_group": "cw_records_linkage",
    "linkage_match_weights": "scored_pairs",
    "methodology_row_accounting": "rows",
    "methodology_normalisations": "values_normalised",
    "methodology_calibration": "calibration",
}

CALIBRATION_FILE = "calibration.json"


def linkage_quality(cfg: Config) -> dict:
    p = cfg.paths.analytic / "linkage_quality.json"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: linkage quality not found (run `analysis deidentify` first)")
    data: dict = json.loads(p.read_text(encoding="utf-8"))
    return data


def _by_group(q: dict) -> pl.DataFrame:
    df = pl.DataFrame(q.get("by_subgroup", []), infer_schema_length=None)
    if df.is_empty():
        return pl.DataFrame(
            schema={
                "dimension": pl.Utf8,
                "group": pl.Utf8,
                "n": pl.Int64,
                "events": pl.Int64,
                "link_rate": pl.Float64,
            }
        )
    return df.select(
        pl.col("dimension").cast(pl.Utf8),
        pl.col("group").cast(pl.Utf8).fill_null("not stated"),
        pl.col("records").cast(pl.Int64).alias("n"),
        pl.col("linked").cast(pl.Int64).alias("events"),
        pl.col("link_rate").cast(pl.Float64),
    )


def row_accounting(cfg: Config) -> pl.DataFrame:
    """Rows in, passed on, quarantined and unlinked per source and stage (nothing dropped silently)."""
    st = stage_records(cfg)
    rows = []
    for key, n in st.get("validate", {}).get("rows", {}).items():
        name, what = key.rsplit(" ", 1)
        rows.append({"stage": "validate", "table": name, "measure": what, "n": n})
    link = st.get("link", {}).get("metrics", {})
    for what in ("records", "records_linked"):
        if what in link:
            rows.append(
                {"stage": "link", "table": "cpin_persons", "measure": what, "n": int(link[what])}
            )
    if "records" in link and "records_linked" in link:
        unlinked = int(link["records"]) - int(link["records_linked"])
        rows.append(
            {"stage": "link", "table": "cpin_persons", "measure": "unlinked", "n": unlinked}
        )
    for key, n in st.get("deidentify", {}).get("rows", {}).items():
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


def calibration(cfg: Config) -> dict | None:
    """The generator's calibration check as de-identification copied it (aggregates only; none
    for a real extract)."""
    path = cfg.paths.analytic / CALIBRATION_FILE
    if not path.is_file():
        return None
    data: dict = json.loads(path.read_text(encoding="utf-8"))
    return data


def calibration_table(data: dict) -> pl.DataFrame:
    """One row per target: the target at this scale, the synthetic value, the largest deviation
    that holds, whether it holds and whether the target is published or assumed; ``n`` = the
    people, cases or societies behind the synthetic value. The unit, whether it holds and the
    basis are codes (``unit_*``, ``yes``/``no``, ``published``/``assumed``) each page translates."""
    rows = []
    for c in data["checks"]:
        eqao_cell = c["name"].startswith("eqao_") and not c["name"].endswith("_ratio")
        rows.append(
            {
                "target": c["name"][len("eqao_") :] if eqao_cell else c["name"],
                "year": c["year"],
                "unit": f"unit_{c['unit']}",
                "holds": "yes" if c["holds"] else "no",
                "basis": "assumed" if c["source"].lower().startswith("assumed") else "published",
                "n": int(c["n"]),
                "target_value": float(c["scaled_target"]),
                "synthetic": c["synthetic"],
                "allowed": c["allowed"],
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "target": pl.Utf8,
            "year": pl.Utf8,
            "unit": pl.Utf8,
            "holds": pl.Utf8,
            "basis": pl.Utf8,
            "n": pl.Int64,
            "target_value": pl.Float64,
            "synthetic": pl.Float64,
            "allowed": pl.Float64,
        },
    )


def methodology_tables(cfg: Config) -> dict[str, Spec]:
    """``name -> (table, dims, numerator, stats)``, counts in ``n``, like ``build_tables``."""
    q = linkage_quality(cfg)
    groups = _by_group(q)
    hist = pl.DataFrame(
        q.get("match_weight_histogram", []),
        schema={"bin_lower": pl.Int64, "bin_upper": pl.Int64, "pairs": pl.Int64},
    ).select(
        pl.format("{} to {}", "bin_lower", "bin_upper").alias("weight"),
        pl.col("pairs").cast(pl.Int64).alias("n"),
    )
    specs: dict[str, Spec] = {
        # the methodology page shows the rate in percent, the analyst's view as a proportion
        "methodology_linkage_by_group": (
            groups.sort("dimension", "group")
            .with_columns((pl.col("link_rate") * 100).alias("rate"))
            .drop("link_rate"),
            ["dimension", "group"],
            "events",
            ("rate",),
        ),
        "linkage_rate_by_group": (
            groups.with_columns((pl.col("events") / pl.col("n")).alias("rate")).drop("link_rate"),
            ["dimension", "group"],
            "events",
            ("rate",),
        ),
        "linkage_match_weights": (hist, ["weight"], None, ()),
    }
    acc = row_accounting(cfg)
    if not acc.is_empty():
        specs["methodology_row_accounting"] = (acc, ["stage", "table", "measure"], None, ())
    norm = normalisations(cfg)
    if not norm.is_empty():  # an extract written differently from the documented form
        specs["methodology_normalisations"] = (norm, ["file", "column", "normalisation"], None, ())
    cal = calibration(cfg)
    if cal is not None:  # a synthetic province: its targets against the published figures
        specs["methodology_calibration"] = (
            calibration_table(cal),
            ["target", "year", "unit", "holds", "basis"],
            None,
            ("target_value", "synthetic", "allowed"),
        )
    return specs
