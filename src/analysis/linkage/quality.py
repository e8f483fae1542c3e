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
    nm = j.filter(pl.col("true_oen").is_null())
    nm_false = int(nm["oen"].is_not_null().sum())
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
        # the linkage that knows when there is no match: records whose child has no student
        # record at all, and how many of them were linked to somebody (every such link is false)
        "records_without_student": nm.height,
        "false_links_no_match": nm_false,
        "false_link_rate_no_match": nm_false / nm.height if nm.height else float("nan"),
        "false_links_with_student": fp - nm_false,
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
    linked_right, recall, without_student, false_links_no_match, false_link_rate_no_match``.
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
            pl.col("true_oen").is_null().sum().alias("without_student"),
            (pl.col("true_oen").is_null() & pl.col("oen").is_not_null())
            .sum()
            .alias("false_links_no_match"),
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
            .alias("recall"),
            pl.when(pl.col("without_student") > 0)
            .then(pl.col("false_links_no_match") / pl.col("without_student"))
            .alias("false_link_rate_no_match"),
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


RELIABILITY_BINS = 10  # equal-width bins of probability
CALIBRATION_MIN_PAIRS = 200  # a bin is judged when it holds at least this many pairs
CALIBRATION_TOLERANCE = 0.02  # observed share of true matches within 2 points of the mean


def reliability(
    frame: pl.DataFrame,
    prob: str,
    right: str,
    *,
    bins: int = RELIABILITY_BINS,
    min_pairs: int = CALIBRATION_MIN_PAIRS,
    tolerance: float = CALIBRATION_TOLERANCE,
) -> dict[str, Any]:
    """Reliability table of probabilities ``prob`` against outcomes ``right`` (bool).

    Equal-width bins ``[k/bins, (k+1)/bins)`` (the last closed at 1): per bin the number of pairs,
    the mean probability, the observed share of true matches and their difference; a bin with at
    least ``min_pairs`` is judged calibrated when the difference is within ``tolerance``.
    """
    f = frame.filter(pl.col(prob).is_not_null()).sort(prob)
    p = f[prob].to_numpy().astype(float)
    k_of = np.clip(np.floor(p * bins), 0, bins - 1).astype(np.int64)
    # sequential sums (bincount) in a fixed order: the same data gives the same bytes
    count = np.bincount(k_of, minlength=bins)
    p_sum = np.bincount(k_of, weights=p, minlength=bins)
    y_sum = np.bincount(k_of, weights=f[right].cast(pl.Float64).to_numpy(), minlength=bins)
    rows: list[dict[str, Any]] = []
    diffs: list[float] = []
    for k in range(bins):
        n = int(count[k])
        if not n:
            continue
        mp, ob = float(p_sum[k] / n), float(y_sum[k] / n)
        judged = n >= min_pairs
        if judged:
            diffs.append(abs(ob - mp))
        rows.append(
            {
                "bin_lower": k / bins,
                "bin_upper": (k + 1) / bins,
                "pairs": int(n),
                "mean_probability": float(mp),
                "observed_share": float(ob),
                "difference": float(ob - mp),
                "judged": judged,
                "within_tolerance": (abs(ob - mp) <= tolerance) if judged else None,
            }
        )
    judged_rows = [r for r in rows if r["judged"]]
    return {
        "bins": bins,
        "min_pairs": min_pairs,
        "tolerance": tolerance,
        "table": rows,
        "bins_judged": len(judged_rows),
        "bins_within_tolerance": sum(bool(r["within_tolerance"]) for r in judged_rows),
        "max_abs_difference_judged": max(diffs, default=None),
        "calibrated": all(r["within_tolerance"] for r in judged_rows) if judged_rows else None,
    }


def calibration(pairs: pl.DataFrame, links: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """Reliability (:func:`reliability`) of the published probabilities against the truth: of
    every scored candidate pair (``pairs.parquet``'s record-level ``posterior``) and of every
    link made (``links.parquet``'s ``match_probability``)."""
    t = truth.select(pl.col("cw_record_id").alias("cw_id"), "true_oen")
    col = "posterior" if "posterior" in pairs.columns else "match_probability"
    pr = pairs.join(t, on="cw_id", how="left").with_columns(
        (pl.col("oen") == pl.col("true_oen")).fill_null(False).alias("right")
    )
    lk = (
        links.filter(pl.col("oen").is_not_null())
        .join(t.rename({"cw_id": "cw_record_id"}), on="cw_record_id", how="left")
        .with_columns((pl.col("oen") == pl.col("true_oen")).fill_null(False).alias("right"))
    )
    return {
        "pairs": reliability(pr, col, "right"),
        "links": reliability(lk, "match_probability", "right"),
    }


THRESHOLD_ALTERNATIVES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
# the thresholds :func:`choose_threshold` tries, from ``Linkage.match_threshold`` up
THRESHOLD_GRID = tuple(round(0.5 + 0.005 * i, 3) for i in range(100)) + (0.999,)


def _record_view(pairs: pl.DataFrame, records: pl.Series) -> pl.DataFrame:
    """Per record: its best candidate, that candidate's posterior, whether it is a confirmed
    OEN, and the record's posterior of having a student at all (the sum over its candidates)."""
    col = "posterior" if "posterior" in pairs.columns else "match_probability"
    det = pairs["deterministic"] if "deterministic" in pairs.columns else None
    pr = pairs.with_columns(
        (det if det is not None else pl.lit(False)).alias("_det"), pl.col(col).alias("_p")
    )
    best = (
        pr.sort(["cw_id", "_det", "_p", "oen"], descending=[False, True, True, False])
        .group_by("cw_id", maintain_order=True)
        .agg(
            pl.col("oen").first(),
            pl.col("_p").first().alias("p_best"),
            pl.col("_det").first().alias("deterministic"),
            pl.col("_p").sort().sum().clip(0.0, 1.0).alias("p_student"),
        )
    )
    # sorted by record: every float sum over this frame adds in the same order, run after run
    return (
        pl.DataFrame({"cw_id": records})
        .join(best, on="cw_id", how="left")
        .with_columns(
            pl.col("p_best").fill_null(0.0),
            pl.col("p_student").fill_null(0.0),
            pl.col("deterministic").fill_null(False),
        )
        .sort("cw_id")
    )


def expected_false_link_rate_no_match(
    v: pl.DataFrame, threshold: float, min_share: float = 0.0
) -> float | None:
    """Expected false links among records with no student, over the expected records with no
    student (at least ``min_share`` of the records), if every record's best candidate at or
    above ``threshold`` (or confirmed) were linked; ``v`` is :func:`_record_view`. From the
    calibrated posteriors alone."""
    exp_without = max(float((1.0 - v["p_student"]).sum()), min_share * v.height)
    lk = v.filter(pl.col("deterministic") | (pl.col("p_best") >= threshold))
    return float((1.0 - lk["p_student"]).sum()) / exp_without if exp_without else None


def choose_threshold(
    pairs: pl.DataFrame,
    records: pl.Series,
    floor: float,
    budget: float | None,
    min_share: float = 0.0,
) -> tuple[float, dict[str, Any]]:
    """The threshold a build links at: the lowest of :data:`THRESHOLD_GRID` at or above
    ``floor`` (``Linkage.match_threshold``) whose expected false-link rate among records with no
    student (:func:`expected_false_link_rate_no_match`) is within ``budget``
    (``Linkage.false_link_budget_no_match``); ``floor`` itself when ``budget`` is None, the
    highest of the grid when none is within it. The records with no student are counted as at
    least ``min_share`` of all (the low end of ``Linkage.no_student_share_range``: a small
    extract where nearly every record has a student would otherwise divide by almost nothing).
    No truth is used: the posteriors are calibrated,
    so their expectation is the false links the build should have (the quality report measures
    them against the synthetic truth).

    Returns
    -------
    threshold, report
        The threshold, and the rule, the floor, the budget and the expected rate at the
        threshold chosen.
    """
    if budget is None:
        return floor, {"rule": "configured", "floor": floor, "budget": None}
    v = _record_view(pairs, records)
    grid = sorted({floor, *(t for t in THRESHOLD_GRID if t >= floor)})
    chosen, rate = grid[-1], None
    for t in grid:
        rate = expected_false_link_rate_no_match(v, t, min_share)
        if rate is None or rate <= budget:
            chosen = t
            break
    return chosen, {
        "rule": "false-link budget",
        "floor": floor,
        "budget": budget,
        "expected_false_link_rate_no_match": rate,
        "within_budget": rate is None or rate <= budget,
    }


def threshold_alternatives(
    pairs: pl.DataFrame, records: pl.Series, truth: pl.DataFrame | None = None
) -> list[dict[str, Any]]:
    """What other thresholds would give, approximately (each record's best candidate, confirmed
    OENs always linked, no one-to-one step): expected from the calibrated probabilities (no truth:
    precision, recall, F1 and the false-link rate among records with no student), and measured
    against the truth when given."""
    v = _record_view(pairs, records)
    if truth is not None:
        v = v.join(
            truth.select(pl.col("cw_record_id").alias("cw_id"), "true_oen"), on="cw_id", how="left"
        )
    exp_with = float(v["p_student"].sum())
    exp_without = float((1.0 - v["p_student"]).sum())
    out = []
    for t in THRESHOLD_ALTERNATIVES:
        lk = v.filter(pl.col("deterministic") | (pl.col("p_best") >= t))
        e_tp = float(lk["p_best"].sum())
        e_p = e_tp / lk.height if lk.height else float("nan")
        e_r = e_tp / exp_with if exp_with else float("nan")
        row: dict[str, Any] = {
            "threshold": t,
            "links": lk.height,
            "expected_precision": e_p,
            "expected_recall": e_r,
            "expected_f1": 2 * e_p * e_r / (e_p + e_r) if e_p + e_r else float("nan"),
            "expected_false_link_rate_no_match": (
                float((1.0 - lk["p_student"]).sum()) / exp_without if exp_without else None
            ),
        }
        if truth is not None:
            right = lk.filter(pl.col("oen") == pl.col("true_oen")).height
            with_student = int(v["true_oen"].is_not_null().sum())
            nm = int(v["true_oen"].is_null().sum())
            nm_false = lk.filter(pl.col("true_oen").is_null()).height
            p_ = right / lk.height if lk.height else float("nan")
            r_ = right / with_student if with_student else float("nan")
            row.update(
                {
                    "measured_precision": p_,
                    "measured_recall": r_,
                    "measured_f1": 2 * p_ * r_ / (p_ + r_) if p_ + r_ else float("nan"),
                    "measured_false_links_no_match": nm_false,
                    "measured_false_link_rate_no_match": nm_false / nm if nm else None,
                }
            )
        out.append(row)
    return out


def threshold_report(
    pairs: pl.DataFrame,
    links: pl.DataFrame,
    threshold: float,
    high_confidence: float,
    margin: float,
    *,
    no_student_share: float | None = None,
    truth: pl.DataFrame | None = None,
    choice: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The threshold, why, and what the calibrated probabilities expect it to cost (no truth
    used for the expected numbers; ``truth`` only adds the measured column of the alternatives).

    Every published probability is a record-level posterior (a record has one student at most,
    and its prior of having one at all comes from its birth cohort and OEN status), checked for
    calibration against the synthetic truth (``calibration`` in quality.json). A calibrated
    probability makes the threshold a cost ratio: linking when P(right) >= t accepts a link only
    where a false one is at most (1 - t) / t as likely as a right one, and F1 alone would put t
    near 0.5 (both errors weighed alike). The analysis does not weigh them alike: a false link
    puts a student with no care history into the small in-care group (about one student in
    fifty), where one wrong outcome moves the group's mean ~50 times more than a missed link's
    in-care student moves the large not-in-care group; missed links are measured instead
    (recall parity by subgroup). So ``Linkage.match_threshold`` (0.8, odds 4:1) is a floor, and
    the threshold used is the lowest above it whose expected false links among records with no
    student stay within ``Linkage.false_link_budget_no_match`` (0.1% of them by default:
    :func:`choose_threshold`; ``choice`` is its report). On the synthetic province the records
    left between the floor and the threshold are mostly twins against a child renamed (a
    preferred name) and children sharing a name and birth date with an unrelated student, where
    even a calibrated 0.85 means one link in seven is someone else (``alternatives``: what each
    threshold is expected to cost from the probabilities alone, and what it did cost against the
    truth). The expected false links,
    overall and among records with no student (their share being ``Linkage.no_student_share``,
    kept within its range), follow from the same probabilities.
    """
    made = links.filter(pl.col("oen").is_not_null()).sort("cw_record_id")
    prob_made = made.filter(pl.col("link_pass") == "probabilistic")["match_probability"]
    records = links["cw_record_id"]
    v = _record_view(pairs, records)
    linked_ids = made.select(pl.col("cw_record_id").alias("cw_id"))
    lv = v.join(linked_ids, on="cw_id", how="semi").sort("cw_id")
    exp_without = float((1.0 - v["p_student"]).sum())
    exp_nm_false = float((1.0 - lv["p_student"]).sum())
    below = (
        v.join(linked_ids, on="cw_id", how="anti")
        .filter(pl.col("p_best") < threshold)
        .sort("cw_id")
    )
    return {
        "match_threshold": threshold,
        "high_confidence": high_confidence,
        "ambiguity_margin_bits": margin,
        "choice": choice or {"rule": "configured", "floor": threshold, "budget": None},
        "why": (
            f"A probabilistic link needs a calibrated record-level posterior >= {threshold} "
            f"(odds {threshold / (1 - threshold):.0f}:1). A false link puts a student with no "
            "care history into the small in-care group, moving its outcomes far more than a "
            "missed link moves the large not-in-care group, so the two errors are not weighed "
            "alike (F1 would put the threshold near 0.5: see alternatives). "
            + (
                f"The threshold is the lowest from Linkage.match_threshold "
                f"({choice['floor']}) up whose expected false links among records with no "
                f"student, from the calibrated probabilities alone, are at most "
                f"{choice['budget']:.1%} of them (Linkage.false_link_budget_no_match). "
                if choice and choice.get("budget") is not None
                else "It is Linkage.match_threshold. "
            )
            + "The posterior normalises splink's Bayes factors over the record's candidates (one "
            "student at most per record) with a prior of having any student from the record's "
            "birth cohort and OEN status, its overall share kept within "
            "Linkage.no_student_share_range; one-to-one resolution and the "
            f"{margin}-bit ambiguity margin leave twins unlinked. Records are merged as "
            f"duplicates at >= {high_confidence}, never when each is a different student."
        ),
        "no_student_share": no_student_share,
        "model_expected_false_links": float((1 - made["match_probability"]).sum()),
        "model_expected_false_links_probabilistic": float((1 - prob_made).sum())
        if prob_made.len()
        else 0.0,
        "model_expected_records_without_student": exp_without,
        "model_expected_false_links_no_match": exp_nm_false,
        "model_expected_false_link_rate_no_match": exp_nm_false / exp_without
        if exp_without
        else None,
        "model_expected_missed_links_below_threshold": float(below["p_best"].sum()),
        "probabilistic_links": int(prob_made.len()),
        "alternatives": threshold_alternatives(pairs, records, truth),
    }


# ----------------------------------------------------------------------------- analyst tables
def match_weight_histogram(linkage_dir: Path) -> pl.DataFrame:
    """Scored pairs by match-weight bin (``bin_lower``, ``bin_upper``, ``pairs``)."""
    q = json.loads((Path(linkage_dir) / "quality.json").read_text(encoding="utf-8"))
    return pl.DataFrame(
        q["match_weight_histogram"],
        schema={"bin_lower": pl.Int64, "bin_upper": pl.Int64, "pairs": pl.Int64},
    )


RELIABILITY_SCHEMA = {
    "bin_lower": pl.Float64,
    "bin_upper": pl.Float64,
    "pairs": pl.Int64,
    "mean_probability": pl.Float64,
    "observed_share": pl.Float64,
    "difference": pl.Float64,
    "judged": pl.Boolean,
    "within_tolerance": pl.Boolean,
}


def reliability_table(linkage_dir: Path, of: str = "pairs") -> pl.DataFrame:
    """The reliability table of ``quality.json`` (:func:`calibration`): published probabilities
    in bins against the observed share of true matches, of every scored pair (``of="pairs"``) or
    of the links made (``of="links"``). Empty without the truth (real data)."""
    q = json.loads((Path(linkage_dir) / "quality.json").read_text(encoding="utf-8"))
    rows = (q.get("calibration") or {}).get(of, {}).get("table", [])
    return pl.DataFrame(rows, schema=RELIABILITY_SCHEMA)


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
