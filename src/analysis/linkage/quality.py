"""Linkage quality: metrics against the truth, link rates by subgroup, tables for analysts.

Truth (``truth/person_truth.parquet``) is read here only, for measuring; it never reaches the
linking code. The analyst tables read the linkage zone's own outputs and replace identifiers with
random pseudonyms before anything leaves it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.domain.dates import EXTRACT_END
from analysis.linkage.model import LEVEL_NAMES, m_u_table

MIN_GROUP = 100  # recall parity is judged between subgroups with at least this many true links
AGE_BANDS = ((0, 5, "0-5"), (6, 9, "6-9"), (10, 13, "10-13"), (14, 17, "14-17"), (18, 200, "18+"))
SUBGROUP_DIMENSIONS = (
    "race",
    "gender_identity",
    "age_group",
    "society_id",
    "service_type",
    "born_outside_canada",
    "first_language",
)


def link_metrics(links: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """Precision, recall and F1 of record-to-student links, and of duplicate resolution.

    A link is right when its OEN is the record's true OEN. Precision = right / links made;
    recall = right / records that have a student. Duplicate resolution is scored on pairs of
    records: pairs sharing a ``cw_person_id`` against pairs sharing a true ``child_id``.
    """
    j = links.join(
        truth.select("cw_record_id", "child_id", "true_oen"), on="cw_record_id", how="left"
    )
    linked = pl.col("oen").is_not_null()
    right = linked & (pl.col("oen") == pl.col("true_oen")).fill_null(False)
    c = j.select(
        right.sum().alias("tp"),
        (linked & ~right).sum().alias("fp"),
        (pl.col("true_oen").is_not_null() & ~right).sum().alias("fn"),
        linked.sum().alias("linked"),
        pl.col("true_oen").is_not_null().sum().alias("with_student"),
        pl.len().alias("records"),
    ).row(0, named=True)
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * p * r / (p + r) if (p + r) else float("nan")

    def pair_set(col: str) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for _, g in j.filter(pl.col(col).is_not_null()).group_by(col):
            ids = sorted(g["cw_record_id"].to_list())
            out.update((a, b) for i, a in enumerate(ids) for b in ids[i + 1 :])
        return out

    pred, true = pair_set("cw_person_id"), pair_set("child_id")
    dp = len(pred & true) / len(pred) if pred else float("nan")
    dr = len(pred & true) / len(true) if true else float("nan")
    return {
        "precision": p,
        "recall": r,
        "f1": f1,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "records": c["records"],
        "records_linked": c["linked"],
        "records_with_student": c["with_student"],
        "duplicate_pairs_true": len(true),
        "duplicate_pairs_found": len(pred),
        "duplicate_precision": dp,
        "duplicate_recall": dr,
    }


def subgroups(persons: pl.DataFrame, services: pl.DataFrame | None) -> pl.DataFrame:
    """Long table ``cw_record_id, dimension, group`` (a record is in every service type it had).

    Missing values form their own group ``"missing"``, so no record drops out of a breakdown.
    """
    age = ((pl.lit(EXTRACT_END) - pl.col("birth_date")).dt.total_days() / 365.25).floor()
    band = pl.lit(None, dtype=pl.String)
    for lo, hi, label in reversed(AGE_BANDS):
        band = pl.when((age >= lo) & (age <= hi)).then(pl.lit(label)).otherwise(band)
    base = persons.select(
        "cw_record_id",
        pl.col("race").cast(pl.String),
        pl.col("gender_identity").cast(pl.String),
        band.alias("age_group"),
        pl.col("society_id").cast(pl.String),
        pl.col("born_outside_canada").cast(pl.String),
        pl.col("first_language").cast(pl.String),
    )
    dims = [d for d in SUBGROUP_DIMENSIONS if d != "service_type"]
    long = base.unpivot(
        index="cw_record_id", on=dims, variable_name="dimension", value_name="group"
    )
    if services is not None:
        svc = (
            services.select("cw_record_id", pl.col("service_type").alias("group"))
            .unique()
            .with_columns(pl.lit("service_type").alias("dimension"))
        )
        none = (
            persons.select("cw_record_id")
            .join(svc, on="cw_record_id", how="anti")
            .with_columns(
                pl.lit("service_type").alias("dimension"),
                pl.lit(None, dtype=pl.String).alias("group"),
            )
        )
        long = pl.concat([long, svc.select(long.columns), none.select(long.columns)])
    return long.with_columns(pl.col("group").fill_null("missing")).sort(
        "dimension", "group", "cw_record_id"
    )


def link_rates(
    links: pl.DataFrame, groups: pl.DataFrame, truth: pl.DataFrame | None
) -> pl.DataFrame:
    """Link rate (and recall, when the truth is given) by subgroup.

    Columns: ``dimension, group, records, linked, link_rate`` and with truth ``with_student,
    linked_right, recall``.
    """
    j = groups.join(links.select("cw_record_id", "oen"), on="cw_record_id", how="left")
    aggs = [
        pl.len().alias("records"),
        pl.col("oen").is_not_null().sum().alias("linked"),
    ]
    if truth is not None:
        j = j.join(truth.select("cw_record_id", "true_oen"), on="cw_record_id", how="left")
        aggs += [
            pl.col("true_oen").is_not_null().sum().alias("with_student"),
            (pl.col("oen") == pl.col("true_oen")).fill_null(False).sum().alias("linked_right"),
        ]
    out = (
        j.group_by("dimension", "group")
        .agg(aggs)
        .with_columns((pl.col("linked") / pl.col("records")).alias("link_rate"))
    )
    if truth is not None:
        out = out.with_columns(
            pl.when(pl.col("with_student") > 0)
            .then(pl.col("linked_right") / pl.col("with_student"))
            .alias("recall")
        )
    return out.sort("dimension", "group")


RECALL_GAP_TARGET = 0.02  # recall of any two subgroups (MIN_GROUP+ people) within 2 points


def recall_parity(
    rates: pl.DataFrame, min_group: int = MIN_GROUP, target: float = RECALL_GAP_TARGET
) -> dict[str, Any]:
    """Largest recall gap between any two subgroups (of one dimension) with ``min_group``+ true
    links, the groups at either end with their sizes, and whether the gap meets ``target``."""
    if "recall" not in rates.columns:
        return {
            "max_gap": None,
            "min_group": min_group,
            "target": target,
            "meets_target": None,
            "by_dimension": {},
        }
    big = rates.filter(pl.col("with_student") >= min_group)

    def end(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "group": row["group"],
            "with_student": int(row["with_student"]),
            "linked_right": int(row["linked_right"]),
            "recall": float(row["recall"]),
        }

    by_dim: dict[str, Any] = {}
    for (dim,), g in big.group_by("dimension"):
        if g.height >= 2:
            g = g.sort(["recall", "group"])
            gap = float(g["recall"].max() - g["recall"].min())  # type: ignore[operator, arg-type]
            by_dim[str(dim)] = {
                "gap": gap,
                "groups": g.height,
                "lowest": end(g.row(0, named=True)),
                "highest": end(g.row(-1, named=True)),
                "meets_target": gap <= target,
            }
    overall = big["recall"].max() - big["recall"].min() if big.height >= 2 else None  # type: ignore[operator]
    worst = max((v["gap"] for v in by_dim.values()), default=None)
    return {
        "max_gap_within_dimension": worst,
        "max_gap_any_two_groups": float(overall) if overall is not None else None,  # type: ignore[arg-type]
        "min_group": min_group,
        "target": target,
        "meets_target": None if worst is None else worst <= target,
        "by_dimension": dict(sorted(by_dim.items())),
    }


def threshold_report(
    pairs: pl.DataFrame,
    links: pl.DataFrame,
    threshold: float,
    high_confidence: float,
    margin: float,
) -> dict[str, Any]:
    """The threshold, why, and what the model itself expects it to cost (no truth used)."""
    col = "posterior" if "posterior" in pairs.columns else "match_probability"
    best = (
        pairs.sort(col, descending=True)
        .group_by("cw_id", maintain_order=True)  # a fixed order: the float sum below is the same
        .first()
        .with_columns(pl.col(col).alias("match_probability"))
    )
    made = links.filter(pl.col("link_pass") == "probabilistic")["match_probability"]
    below = best.filter(pl.col("match_probability") < threshold)["match_probability"]
    return {
        "match_threshold": threshold,
        "high_confidence": high_confidence,
        "ambiguity_margin_bits": margin,
        "why": (
            "Linkage.match_threshold: a probabilistic link needs a record-level posterior "
            "(splink's Bayes factor normalised over the record's candidates, one student at "
            "most per record) >= "
            f"{threshold} (odds {threshold / (1 - threshold):.0f}:1), i.e. at most one false link "
            f"in {1 / (1 - threshold):.0f} at the margin; the one-to-one resolution and the "
            f"{margin}-bit ambiguity margin then remove most of the residual risk (twins). Records "
            f"are merged as duplicates at >= {high_confidence}."
        ),
        "model_expected_false_links": float((1 - made).sum()) if made.len() else 0.0,
        "model_expected_missed_links_below_threshold": float(below.sum()) if below.len() else 0.0,
        "probabilistic_links": int(made.len()),
    }


# ----------------------------------------------------------------------------- analyst tables
def match_weight_histogram(linkage_dir: Path) -> pl.DataFrame:
    """Scored pairs by match-weight bin (``bin_lower``, ``bin_upper``, ``pairs``)."""
    q = json.loads((Path(linkage_dir) / "quality.json").read_text(encoding="utf-8"))
    return pl.DataFrame(
        q["match_weight_histogram"],
        schema={"bin_lower": pl.Int64, "bin_upper": pl.Int64, "pairs": pl.Int64},
    )


def m_u_parameters(linkage_dir: Path) -> pl.DataFrame:
    """m and u probabilities and match weights of every comparison level (from ``model.json``)."""
    return m_u_table(json.loads((Path(linkage_dir) / "model.json").read_text(encoding="utf-8")))


def link_rate_by_subgroup(linkage_dir: Path) -> pl.DataFrame:
    """Link rate and recall by subgroup (from ``quality.json``)."""
    q = json.loads((Path(linkage_dir) / "quality.json").read_text(encoding="utf-8"))
    return pl.DataFrame(q["by_subgroup"], infer_schema_length=None)


def borderline_pairs(
    linkage_dir: Path, n: int = 50, seed: int = 0, width: float = 4.0
) -> pl.DataFrame:
    """A sample of pairs near the threshold for clerical review, identifiers pseudonymised.

    Pairs whose match weight is within ``width`` bits of the threshold's weight are sampled
    (``seed``); record ids and OENs are replaced by pseudonyms assigned in random order, so they
    reveal nothing, and each comparison is shown as its level label (e.g. ``nickname``,
    ``day_month_swap``), never as the values compared.
    """
    d = Path(linkage_dir)
    q = json.loads((d / "quality.json").read_text(encoding="utf-8"))
    thr = float(q["threshold"]["match_threshold"])
    prior = float(q["prior_weight"])
    del prior  # the threshold weight below is the weight at which the posterior equals thr
    w_thr = math.log2(thr / (1 - thr))
    pairs = pl.read_parquet(d / "pairs.parquet")
    links = pl.read_parquet(d / "links.parquet").select(
        pl.col("cw_record_id").alias("cw_id"), "oen", pl.lit(True).alias("linked")
    )
    near = pairs.filter((pl.col("match_weight") - w_thr).abs() <= width).join(
        links, on=["cw_id", "oen"], how="left"
    )
    rng = np.random.default_rng(seed)
    if near.height > n:
        idx = np.sort(rng.choice(near.height, size=n, replace=False))
        near = near[idx.tolist()]
    cw_ids = near["cw_id"].unique().sort().to_list()
    st_ids = near["oen"].unique().sort().to_list()
    cw_map = {
        k: f"R{i + 1:04d}" for i, k in enumerate(rng.permutation(np.array(cw_ids, dtype=object)))
    }
    st_map = {
        k: f"S{i + 1:04d}" for i, k in enumerate(rng.permutation(np.array(st_ids, dtype=object)))
    }
    out = near.select(
        pl.col("cw_id").replace_strict(cw_map, return_dtype=pl.String).alias("cw_pseudonym"),
        pl.col("oen").replace_strict(st_map, return_dtype=pl.String).alias("student_pseudonym"),
        "match_weight",
        "match_probability",
        *[
            pl.col(f"gamma_{c}")
            .replace_strict(
                {i: lab for i, lab in enumerate(levels)} | {-1: "null"}, return_dtype=pl.String
            )
            .alias(c)
            for c, levels in LEVEL_NAMES.items()
        ],
        pl.col("linked").fill_null(False),
    )
    return out.sort("match_weight", "cw_pseudonym", "student_pseudonym")
