"""The linkage stage: read the sources, link, measure, write the linkage zone atomically.

:func:`link` runs the method in memory (standardise, score, record posterior, resolve) on the
engine ``Linkage.engine`` chooses; :func:`run` adds the quality report (the only place the truth
is read, after the links are fixed) and writes ``links``, ``unlinked``, ``pairs``, ``model`` and
``quality`` through :func:`analysis.io.atomic_dir`.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import time
from collections.abc import Iterator
from typing import Any

import polars as pl

from analysis.config import Config
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.linkage import model, quality, resolve
from analysis.linkage.standardise import read_sources
from analysis.stages import StageResult

log = logging.getLogger(__name__)

DUCKDB_MEMORY_LIMIT = "1500MB"  # DuckDB's own buffers; the polars frames come on top


@contextlib.contextmanager
def _db_api(cfg: Config) -> Iterator[Any]:
    """The splink database API ``Linkage.engine`` names (a local Spark session, or an in-memory
    DuckDB capped at :data:`DUCKDB_MEMORY_LIMIT` that spills to a temporary directory), closed
    afterwards."""
    if cfg.linkage.engine == "spark":
        from analysis.linkage.spark import spark_db_api

        with spark_db_api() as api:
            yield api
    else:
        import tempfile

        import duckdb
        from splink.backends.duckdb import DuckDBAPI

        # Bounded memory: DuckDB spills to disk rather than growing past the limit (the
        # provincial floor is 4 GiB per process). Insertion order is kept: sampling depends on it.
        with tempfile.TemporaryDirectory(prefix="duckdb-") as spill:
            con = duckdb.connect(
                ":memory:",
                config={
                    "memory_limit": DUCKDB_MEMORY_LIMIT,
                    "temp_directory": spill,
                },
            )
            try:
                yield DuckDBAPI(connection=con)
            finally:
                con.close()


def record_covariates(cw: pl.DataFrame) -> pl.DataFrame:
    """What a record says about whether its child has a school record at all (the record prior
    of :func:`analysis.linkage.resolve.record_posterior`): the recorded birth year (``cohort``)
    and the OEN status (``none``: no valid OEN; ``enrolled``: an enrolled student's;
    ``unenrolled``: a valid OEN that is no student's)."""
    status = (
        pl.when(pl.col("oen").is_null())
        .then(pl.lit("none"))
        .when(pl.col("oen_enrolled"))
        .then(pl.lit("enrolled"))
        .otherwise(pl.lit("unenrolled"))
    )
    return cw.select(
        pl.col("unique_id").alias("cw_id"),
        pl.col("dob_year").cast(pl.String).alias("cohort"),
        status.alias("oen_status"),
    )


def link(cfg: Config) -> dict[str, Any]:
    """Link in memory (no files written, no truth read).

    Returns
    -------
    dict
        ``links``, ``unlinked``, ``scored`` (:class:`.model.Scored`), ``cw``/``students``
        (standardised), ``record_prior`` (the record prior's report), ``timings`` (seconds per
        step).
    """
    t0 = time.perf_counter()
    cw, students = read_sources(cfg.paths.sources)
    t1 = time.perf_counter()
    with _db_api(cfg) as api:
        scored = model.score(
            cw,
            students,
            api,
            seed=cfg.seed,
            max_pairs_em=cfg.linkage.max_pairs_em,
            no_student_share=cfg.linkage.no_student_share,
        )
    scored.pairs, prior = resolve.record_posterior(
        scored.pairs,
        students.height,
        model.prior_weight(scored.model),
        covariates=record_covariates(cw),
        share_range=cfg.linkage.no_student_share_range,
        share_start=cfg.linkage.no_student_share,
        unblocked_mass=scored.recalibration["unblocked"]["share"],
    )
    threshold, choice = quality.choose_threshold(
        scored.pairs.with_columns(resolve.deterministic_mask().alias("deterministic")),
        cw["unique_id"].sort(),
        cfg.linkage.match_threshold,
        cfg.linkage.false_link_budget_no_match,
        cfg.linkage.no_student_share_range[0],
    )
    t2 = time.perf_counter()
    resolution: dict[str, Any] = {}
    links, unlinked = resolve.resolve(
        cw["unique_id"],
        scored.pairs,
        scored.cw_pairs,
        threshold=threshold,
        high_confidence=cfg.linkage.high_confidence,
        stats=resolution,
    )
    t3 = time.perf_counter()
    return {
        "links": links,
        "unlinked": unlinked,
        "scored": scored,
        "cw": cw,
        "students": students,
        "record_prior": prior,
        "threshold": threshold,
        "threshold_choice": choice,
        "resolution": resolution,
        "timings": {"standardise_s": t1 - t0, "splink_s": t2 - t1, "resolve_s": t3 - t2},
    }


def _quality(cfg: Config, out: dict[str, Any]) -> dict[str, Any]:
    """The content of ``quality.json`` for the output of :func:`link`: link rates by pass,
    reason and subgroup, the comparisons per blocking rule, the training report, the threshold
    and, when the truth is there, precision, recall and F1 (read here only, after linking)."""
    links: pl.DataFrame = out["links"]
    scored: model.Scored = out["scored"]
    src = cfg.paths.sources
    persons = pl.read_parquet(src / "cpin_persons.parquet")
    svc_path = src / "cpin_services.parquet"
    services = pl.read_parquet(svc_path) if svc_path.is_file() else None
    truth_path = cfg.paths.truth / "person_truth.parquet"
    truth = pl.read_parquet(truth_path) if truth_path.is_file() else None
    pairs = scored.pairs.with_columns(resolve.deterministic_mask().alias("deterministic"))
    groups = quality.subgroups(persons, services)
    rates = quality.link_rates(links, groups, truth)
    q: dict[str, Any] = {
        "truth_available": truth is not None,
        "link_rate": links["oen"].is_not_null().mean(),
        "links_by_pass": {
            str(k): int(v)
            for k, v in links.group_by("link_pass").len().sort("link_pass").iter_rows()
            if k is not None
        },
        "unlinked_by_reason": {
            str(k): int(v)
            for k, v in out["unlinked"].group_by("reason").len().sort("reason").iter_rows()
        },
        "unlinked_reasons": resolve.UNLINKED_REASONS,
        "comparisons_by_blocking_rule": scored.comparisons_by_rule,
        "comparisons_scored": sum(scored.comparisons_by_rule.values()),
        "blocking_rules": list(model.BLOCKING_RULE_NAMES),
        "em_sessions": scored.em_sessions,
        "m_recalibration": scored.recalibration,
        "prior_weight": model.prior_weight(scored.model),
        "record_prior": out["record_prior"],
        "resolution": out["resolution"],
        "threshold": quality.threshold_report(
            pairs,
            links,
            out["threshold"],
            cfg.linkage.high_confidence,
            resolve.AMBIGUITY_MARGIN,
            no_student_share=cfg.linkage.no_student_share,
            truth=truth,
            choice=out["threshold_choice"],
        ),
        "match_weight_histogram": scored.weight_histogram.to_dicts(),
        "by_subgroup": rates.to_dicts(),
        "recall_parity": quality.recall_parity(rates),
        "engine": cfg.linkage.engine,
        "students": out["students"].height,
        "cw_records": out["cw"].height,
        "cw_persons": links["cw_person_id"].n_unique(),
        "timings": out["timings"],
    }
    if truth is not None:
        q.update(quality.link_metrics(links, truth))
        q["calibration"] = quality.calibration(scored.pairs, links, truth)
    else:
        q.update(
            {
                "precision": None,
                "recall": None,
                "f1": None,
                "false_links_no_match": None,
                "false_link_rate_no_match": None,
            }
        )
    return q


def _stable_floats(df: pl.DataFrame, decimals: int = 12) -> pl.DataFrame:
    """Probabilities and weights rounded far below any threshold: DuckDB's parallel sums can
    differ in the last bit from run to run, and the same data must give the same bytes."""
    floats = [c for c, t in df.schema.items() if t in (pl.Float64, pl.Float32)]
    return df.with_columns([pl.col(c).round(decimals) for c in floats]) if floats else df


def run(cfg: Config) -> StageResult:
    """The linkage stage: read the sources, link, measure, write ``cfg.paths.linkage`` atomically."""
    t0 = time.perf_counter()
    out = link(cfg)
    q = _quality(cfg, out)
    q["timings"]["total_s"] = time.perf_counter() - t0
    # ru_maxrss is KiB on Linux: the process's peak, including anything before this stage
    q["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    target = cfg.paths.linkage
    with atomic_dir(target) as tmp:
        write_parquet(_stable_floats(out["links"]), tmp / "links.parquet")
        write_parquet(_stable_floats(out["unlinked"]), tmp / "unlinked.parquet")
        write_parquet(_stable_floats(out["scored"].pairs), tmp / "pairs.parquet")
        write_json(out["scored"].model, tmp / "model.json")
        write_json(q, tmp / "quality.json")
    links: pl.DataFrame = out["links"]
    n_onsis = (
        pl.scan_parquet(cfg.paths.sources / "onsis_enrolment.parquet")
        .select(pl.len())
        .collect()
        .item()
    )
    metrics = {
        k: q.get(k)
        for k in (
            "precision",
            "recall",
            "f1",
            "false_link_rate_no_match",
            "link_rate",
            "comparisons_scored",
            "peak_rss_mib",
        )
    }
    metrics["seconds"] = q["timings"]["total_s"]
    metrics["recall_gap"] = q["recall_parity"].get("max_gap_within_dimension")
    log.info("linkage: %s", metrics)
    return StageResult(
        stage="link",
        outputs=[target],
        rows={
            "cpin_persons in": out["cw"].height,
            "onsis_enrolment in": int(n_onsis),
            "onsis students": out["students"].height,
            "links out": links.height,
            "linked": int(links["oen"].is_not_null().sum()),
            "unlinked out": out["unlinked"].height,
        },
        metrics=metrics,
    )
