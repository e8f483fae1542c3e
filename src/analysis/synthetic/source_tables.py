"""The tables as the sources hand them over: ids, dates and one record per row.

EQAO results carry the student's OEN, school year and board; the CPIN tables (persons,
services, placements, OnLAC) are keyed by child-welfare record: a child's episodes belong to the
child's first record, except that a duplicate record holds the child's later episode. The
``person_truth`` table says which record is which child and student.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.synthetic.codes import vocab_series
from analysis.synthetic.oens import oen_or_null, oen_series


def _date(col: str) -> pl.Expr:
    """Days since 1970-01-01 in ``col`` as a date."""
    return pl.from_epoch(pl.col(col), time_unit="d")


def _numbered(prefix: str, name: str) -> pl.Expr:
    """``<prefix>00000001``, ... in row order."""
    return pl.format(
        f"{prefix}{{}}", pl.int_range(1, pl.len() + 1).cast(pl.Utf8).str.zfill(8)
    ).alias(name)


def eqao_results(
    eq: pl.DataFrame,
    panel: dict,
    oen_of_sid: np.ndarray,
    school_years: tuple[str, ...],
    board_ids: np.ndarray,
) -> pl.DataFrame:
    """``eqao_results``: the results ``eq`` (by panel row) with the student's OEN, year and board."""
    rows = eq["row"].to_numpy()
    return eq.with_columns(
        oen_series(oen_of_sid[panel["sid"][rows]]).alias("oen"),
        vocab_series("school_year", school_years, panel["yi"][rows]),
        vocab_series("board_id", board_ids, panel["board"][rows]),
    ).select(
        "oen",
        "school_year",
        "board_id",
        "grade",
        "assessment",
        "participation",
        "level",
        "osslt_result",
        "first_time",
        "g9_stream",
    )


def cpin_persons(records: pl.DataFrame, child: pl.DataFrame) -> pl.DataFrame:
    """``cpin_persons``: one row per record, with the child's demographics."""
    return (
        records.join(
            child.select(
                "child_id",
                "gender_identity",
                "race",
                "born_outside_canada",
                "first_language",
                "human_trafficking_risk",
            ),
            on="child_id",
        )
        .select(
            "cw_record_id",
            "society_id",
            "first_name",
            "last_name",
            _date("birth_days").alias("birth_date"),
            oen_or_null("oen_int").alias("oen"),
            "postal_code",
            "gender_identity",
            "race",
            "born_outside_canada",
            "first_language",
            "human_trafficking_risk",
        )
        .sort("cw_record_id")
    )


def episode_records(records: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    """Each episode with its ``episode_id`` and the record (and society) it belongs to.

    Episodes belong to the child's first record; a duplicate record holds the child's later
    episode when there is more than one.
    """
    first_rec = records.filter(~pl.col("is_duplicate")).select(
        "child_id", "cw_record_id", "society_id"
    )
    dup_rec = records.filter(pl.col("is_duplicate")).select(
        "child_id", pl.col("cw_record_id").alias("dup_id"), pl.col("society_id").alias("dup_soc")
    )
    ep_rank = episodes.with_columns(pl.col("start").rank("ordinal").over("child_id").alias("k"))
    later_on_dup = (pl.col("k") > 1) & pl.col("dup_id").is_not_null()
    return (
        ep_rank.join(first_rec, on="child_id")
        .join(dup_rec, on="child_id", how="left")
        .with_columns(
            pl.when(later_on_dup)
            .then(pl.col("dup_id"))
            .otherwise(pl.col("cw_record_id"))
            .alias("cw_record_id"),
            pl.when(later_on_dup)
            .then(pl.col("dup_soc"))
            .otherwise(pl.col("society_id"))
            .alias("society_id"),
            pl.format("EP{}", (pl.col("ep") + 1).cast(pl.Utf8).str.zfill(8)).alias("episode_id"),
        )
    )


def cpin_services(services: pl.DataFrame) -> pl.DataFrame:
    """``cpin_services`` from :func:`episode_records`."""
    return services.select(
        "episode_id",
        "cw_record_id",
        "society_id",
        "service_type",
        _date("start").alias("start_date"),
        _date("end").alias("end_date"),
    ).sort("episode_id")


def cpin_placements(placements: pl.DataFrame, services: pl.DataFrame) -> pl.DataFrame:
    """``cpin_placements``: each placement under its episode's record, numbered in episode
    and start order."""
    return (
        placements.join(services.select("ep", "episode_id", "cw_record_id", "society_id"), on="ep")
        .sort(["episode_id", "start"])
        .with_columns(_numbered("PL", "placement_id"))
        .select(
            "placement_id",
            "episode_id",
            "cw_record_id",
            "society_id",
            "placement_type",
            _date("start").alias("start_date"),
            _date("end").alias("end_date"),
        )
    )


def cpin_onlac(onlac: pl.DataFrame, services: pl.DataFrame) -> pl.DataFrame:
    """``cpin_onlac``: the OnLAC items under the record of the episode in care."""
    return (
        onlac.join(services.select("ep", "cw_record_id", "society_id"), on="ep")
        .sort(["cw_record_id", "assessment_days"])
        .with_columns(_numbered("OL", "assessment_id"))
        .select(
            "assessment_id",
            "cw_record_id",
            "society_id",
            _date("assessment_days").alias("assessment_date"),
            "item_1",
            "item_2",
            "item_3",
            "item_4",
        )
    )


def person_truth(records: pl.DataFrame, child: pl.DataFrame) -> pl.DataFrame:
    """``person_truth``: which child and student (true OEN) each record is, and its noise."""
    return (
        records.join(child.select("child_id", "no_student_reason"), on="child_id")
        .select(
            "cw_record_id",
            "child_id",
            oen_or_null("true_oen_int").alias("true_oen"),
            "no_student_reason",
            "noise",
        )
        .sort("cw_record_id")
    )
