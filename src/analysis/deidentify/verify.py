"""Every linkable quasi-identifier set measured again on the tables as written, the way an outside
auditor would: from the published columns alone (``board_id`` + ``board_region``, ``society_id``
+ ``society_region``), with the joins an analyst can make (``cw_persons`` to ``student_years``
on ``study_id``; ``eqao`` to ``student_years`` on ``study_id`` and school year).

The stage refuses to write when an enforced set has a class below ``k`` here, whatever the
generalisation reported; ``risk.json`` keeps the measures as ``published_check``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analysis.deidentify.threat import (
    CW_PERSONS,
    JOIN_CW_STUDENT,
    SY_BOTH,
    SY_CHILD_WELFARE,
    SY_COMMUNITY,
    SY_SCHOOL,
    SY_SUPPLEMENTARY,
)

# the published columns of each set (the derived and area keys as written)
PUBLISHED_KEYS: dict[str, tuple[str, ...]] = {
    s.name: s.published for s in (SY_SCHOOL, SY_COMMUNITY, SY_CHILD_WELFARE, SY_SUPPLEMENTARY)
}
PUBLISHED_KEYS[SY_BOTH.name] = SY_BOTH.published
PUBLISHED_KEYS[CW_PERSONS.name] = CW_PERSONS.published
_JOIN_CW = ("society_id", "society_region", "birth_year_band", "gender_identity", "race")
_JOIN_SY = ("board_id", "board_region", "grade", "gender", "birth_year_band", "region")
PUBLISHED_KEYS[JOIN_CW_STUDENT.name] = (
    *(f"cw_{c}" for c in _JOIN_CW),
    *_JOIN_SY,
)


def class_sizes(
    df: pl.DataFrame | pl.LazyFrame,
    keys: tuple[str, ...],
    per: tuple[str, ...] = (),
    sensitive: str | None = None,
    weight: str | None = None,
) -> dict[str, Any]:
    """k (smallest class), rows, rows in classes below each size, and (with ``sensitive``) l:
    the fewest distinct ``sensitive`` values in a class holding any value but ``"none"``.
    ``weight``: a column of row counts (each row of ``df`` standing for that many rows)."""
    cols = [*per, *keys]
    g = (
        df.lazy()
        .group_by(cols)
        .agg(
            (pl.col(weight).sum() if weight else pl.len()).alias("n"),
            *(
                [
                    pl.col(sensitive).n_unique().alias("l"),
                    (pl.col(sensitive).cast(pl.String) != "none").any().alias("inv"),
                ]
                if sensitive
                else []
            ),
        )
        .collect()
    )
    rows = int(g["n"].sum()) if g.height else 0
    out: dict[str, Any] = {
        "rows": rows,
        "classes": g.height,
        "k": int(g["n"].min()) if g.height else None,  # type: ignore[arg-type]
        "unique_rows": int(g.filter(pl.col("n") == 1).height),
    }
    if sensitive:
        gl = g.filter(pl.col("inv"))
        out["l"] = int(gl["l"].min()) if gl.height else None  # type: ignore[arg-type]
    out["_g"] = g
    return out


def _finish(m: dict[str, Any], k: int, l_div: int | None, enforced: bool) -> dict[str, Any]:
    g = m.pop("_g")
    below = int(g.filter(pl.col("n") < k)["n"].sum()) if g.height else 0
    m["rows_below_k"] = below
    m["below_k_share"] = round(below / m["rows"], 4) if m["rows"] else 0.0
    m["enforced"] = enforced
    ok = below == 0
    if l_div is not None and m.get("l") is not None:
        ok = ok and m["l"] >= l_div
    m["holds"] = ok
    return m


def joined(
    cw_persons: pl.DataFrame | pl.LazyFrame, student_years: pl.DataFrame | pl.LazyFrame
) -> pl.LazyFrame:
    """``cw_persons`` joined to ``student_years`` on ``study_id`` (the child-welfare columns
    prefixed ``cw_``): what an analyst holding both tables can build."""
    cw = cw_persons.lazy().filter(pl.col("study_id").is_not_null())
    cw = cw.select("study_id", *(pl.col(c).alias(f"cw_{c}") for c in _JOIN_CW))
    sy = student_years.lazy().select("study_id", "school_year", *_JOIN_SY)
    return cw.join(sy, on="study_id", how="inner")


def verify_published(
    student_years: pl.DataFrame | pl.LazyFrame,
    cw_persons: pl.DataFrame | pl.LazyFrame,
    eqao: pl.DataFrame | pl.LazyFrame,
    k: int,
    l_div: int,
) -> dict[str, Any]:
    """Each quasi-identifier set measured on the published tables (and their joins).

    Returns
    -------
    dict
        Per set: ``k``, ``l``, rows, rows below ``k``, ``holds``; ``eqao_board_consistent``:
        no eqao row names a board its student-year row generalised; ``holds``: every enforced
        set holds and the boards agree.
    """
    out: dict[str, Any] = {}
    sy_sets = (SY_SCHOOL, SY_COMMUNITY, SY_CHILD_WELFARE, SY_SUPPLEMENTARY, SY_BOTH)
    # one pass over student_years: its rows counted by every key any set reads (and the
    # sensitive value); each set's classes are then sums of these counts
    union = list(dict.fromkeys(c for s in sy_sets for c in (*s.per, *PUBLISHED_KEYS[s.name])))
    counted = (
        student_years.lazy()
        .group_by([*union, "care_status"])
        .agg(pl.len().alias("_rows"))
        .collect()
    )
    for s in sy_sets:
        m = class_sizes(counted, PUBLISHED_KEYS[s.name], s.per, "care_status", weight="_rows")
        out[s.name] = _finish(m, k, l_div, s.enforced)
    for s, frame in (
        (CW_PERSONS, cw_persons),
        (JOIN_CW_STUDENT, joined(cw_persons, student_years)),
    ):
        m = class_sizes(frame, PUBLISHED_KEYS[s.name], s.per)
        out[s.name] = _finish(m, k, None, s.enforced)
    # eqao gives back no board that student_years generalised for the same student-year
    leak = (
        eqao.lazy()
        .filter(pl.col("board_id").is_not_null())
        .select("study_id", pl.col("school_year").cast(pl.String))
        .join(
            student_years.lazy()
            .filter(pl.col("board_id").is_null())
            .select("study_id", pl.col("school_year").cast(pl.String)),
            on=["study_id", "school_year"],
            how="inner",
        )
        .select(pl.len())
        .collect()
        .item()
    )
    out["eqao_board_consistent"] = {"rows_naming_a_generalised_board": int(leak), "holds": not leak}
    out["holds"] = all(v["holds"] for v in out.values() if v.get("enforced", True))
    return out
