"""Child-welfare persons as linkage resolved them: attributes, service and placement episodes.

Linkage gives every CPIN record a ``cw_person_id`` (one per child, over duplicate records) and, when
linked, an OEN. Everything the analytic tables say about a child-welfare person starts here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from analysis.domain.dates import EXTRACT_END


@dataclass(frozen=True)
class People:
    """The resolved child-welfare persons and their episodes.

    ``persons``: one row per ``cw_person_id`` (:func:`person_attributes`); ``services`` and
    ``placements``: episodes keyed by person with an exclusive end ``end_x``; ``of_oen``: one
    person per OEN (the most probable link), the persons the student-years can join.
    """

    persons: pl.DataFrame
    services: pl.DataFrame
    placements: pl.DataFrame
    of_oen: pl.DataFrame


def resolve_people(f: dict[str, pl.DataFrame]) -> People:
    """:class:`People` from the CPIN sources and the links in ``f``."""
    persons = person_attributes(f)
    return People(
        persons=persons,
        services=person_services(f),
        placements=person_placements(f),
        of_oen=person_of_oen(persons),
    )


def end_or_extract(col: str = "end_date") -> pl.Expr:
    """Exclusive end: ``end_date`` (day of exit), or the day after the extract when open."""
    return pl.col(col).fill_null(EXTRACT_END + dt.timedelta(days=1))


def person_services(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Service episodes keyed by resolved person; exact duplicates (duplicate records) dropped."""
    return (
        f["cpin_services"]
        .join(f["links"].select("cw_record_id", "cw_person_id"), on="cw_record_id", how="inner")
        .with_columns(end_or_extract().alias("end_x"))
        .unique(["cw_person_id", "service_type", "start_date", "end_date"], keep="first")
        .sort("cw_person_id", "start_date", "episode_id")
    )


def person_placements(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Placement episodes keyed by resolved person; exact duplicates dropped."""
    return (
        f["cpin_placements"]
        .join(f["links"].select("cw_record_id", "cw_person_id"), on="cw_record_id", how="inner")
        .with_columns(end_or_extract().alias("end_x"))
        .unique(["cw_person_id", "placement_type", "start_date", "end_date"], keep="first")
        .sort("cw_person_id", "start_date", "placement_id")
    )


def person_attributes(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One row per resolved person: first non-null attribute over its records (by record id)."""
    p = (
        # the link's OEN, never the record's own (possibly missing or wrong) one
        f["cpin_persons"]
        .drop("oen", "society_id_right", strict=False)
        .join(f["links"].drop("society_id", strict=False), on="cw_record_id", how="inner")
        .sort("cw_person_id", "cw_record_id")
    )
    return p.group_by("cw_person_id", maintain_order=True).agg(
        pl.col("society_id").first(),
        pl.col("birth_date").drop_nulls().first(),
        pl.col("gender_identity").drop_nulls().first(),
        pl.col("race").drop_nulls().first(),
        pl.col("born_outside_canada").drop_nulls().first(),
        pl.col("first_language").drop_nulls().first(),
        pl.col("human_trafficking_risk").any(),
        # the person's OEN: the most probable link
        pl.col("oen").sort_by("match_probability", descending=True).drop_nulls().first(),
        pl.col("match_probability").max().alias("link_probability"),
        pl.col("link_pass").sort_by("match_probability", descending=True).drop_nulls().first(),
    )


def person_of_oen(persons: pl.DataFrame) -> pl.DataFrame:
    """One person per OEN: the most probable link (ties: the smallest ``cw_person_id``)."""
    return (
        persons.filter(pl.col("oen").is_not_null())
        .sort(["oen", "link_probability", "cw_person_id"], descending=[False, True, False])
        .unique("oen", keep="first", maintain_order=True)
    )
