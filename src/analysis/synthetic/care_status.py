"""The latent care status of each student-year, and the ``student_year_truth`` table.

A student's care status in a school year is the highest-priority service they had in it
(``CARE_PRIORITY``); with it go the cumulative days in care up to the year's end and, for a
student in care, the placement group where they spent most of the year. The outcomes are drawn
from these. They are kept as compact arrays over the whole panel (integer codes; only
child-welfare children have anything but the defaults).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain.dates import EXTRACT_END, days_since_epoch, school_year_bounds
from analysis.domain.vocab import CARE_PRIORITY, PLACEMENT_GROUP, SERVICE_IN_CARE
from analysis.synthetic.codes import vocab_series

# code = index: the care statuses from the lowest priority ("none" = 0) to the highest
CARE_STATUSES = tuple(sorted(CARE_PRIORITY, key=CARE_PRIORITY.__getitem__))
CARE_CODE = {k: i for i, k in enumerate(CARE_STATUSES)}
# code = index (0 = no placement group)
GROUPS = (None, *dict.fromkeys(PLACEMENT_GROUP.values()))
GROUP_CODE = {k: i for i, k in enumerate(GROUPS) if k is not None}
_OPEN_END = days_since_epoch(EXTRACT_END) + 1  # the end of an episode still open


def student_year_truth(
    cfg: Config, panel: dict, child: pl.DataFrame, episodes: pl.DataFrame, placements: pl.DataFrame
) -> dict[str, np.ndarray]:
    """Latent care status, cumulative days in care and placement group per student-year.

    Arrays over the panel rows: ``care`` (code into :data:`CARE_STATUSES`), ``cum`` (days in
    care), ``group`` (code into :data:`GROUPS`), ``indigenous``, ``child_id`` (-1 = none),
    ``cw`` (the student has child-welfare involvement: every year of a child of the extract) and
    ``ever`` (in care in a panel year up to and including this one, as the analytic dataset's
    ``ever_in_care``).
    """
    e = episodes.with_columns(pl.col("end").fill_null(_OPEN_END))
    p = placements.with_columns(pl.col("end").fill_null(_OPEN_END))
    rows = []
    for yi, sy in enumerate(cfg.school_years):
        lo, hi = school_year_bounds(sy)
        rows.append(
            child.select("child_id", "sid", "race")
            .join(_status_in_year(e, lo, hi), on="child_id", how="left")
            .join(_days_in_care_by(e, hi), on="child_id", how="left")
            .join(_main_placement_group(p, lo, hi), on="child_id", how="left")
            .with_columns(pl.lit(yi).alias("yi"))
        )
    t = (
        pl.concat(rows)
        .filter(pl.col("sid") >= 0)
        .with_columns(pl.col("sid").cast(pl.Int64), pl.col("yi").cast(pl.Int64))
    )
    return _over_panel(panel, t)


def _status_in_year(e: pl.DataFrame, lo: int, hi: int) -> pl.DataFrame:
    """``child_id, status``: the highest-priority service active in ``[lo, hi]``."""
    active = (
        e.filter((pl.col("start") <= hi) & (pl.col("end") >= lo))
        .with_columns(
            pl.when(pl.col("service_type").is_in(list(SERVICE_IN_CARE)))
            .then(pl.lit("in_care"))
            .otherwise(pl.col("service_type"))
            .alias("status")
        )
        .with_columns(
            pl.col("status").replace_strict(CARE_PRIORITY, return_dtype=pl.Int8).alias("prio")
        )
    )
    return (
        active.sort(["child_id", "prio"], descending=[False, True])
        .group_by("child_id", maintain_order=True)
        .first()
        .select("child_id", "status")
    )


def _days_in_care_by(e: pl.DataFrame, hi: int) -> pl.DataFrame:
    """``child_id, cumulative_days_in_care``: days in care up to and including day ``hi``."""
    return (
        e.filter(pl.col("service_type").is_in(list(SERVICE_IN_CARE)) & (pl.col("start") <= hi))
        .with_columns(
            (pl.min_horizontal(pl.col("end"), pl.lit(hi + 1)) - pl.col("start")).clip(0).alias("d")
        )
        .group_by("child_id")
        .agg(pl.col("d").sum().alias("cumulative_days_in_care"))
    )


def _main_placement_group(p: pl.DataFrame, lo: int, hi: int) -> pl.DataFrame:
    """``child_id, placement_group``: the group of the placements with most days in ``[lo, hi]``
    (ties to the first group in alphabetical order)."""
    return (
        p.filter((pl.col("start") <= hi) & (pl.col("end") >= lo))
        .with_columns(
            (
                pl.min_horizontal("end", pl.lit(hi + 1)) - pl.max_horizontal("start", pl.lit(lo))
            ).alias("d"),
            pl.col("placement_type").replace_strict(PLACEMENT_GROUP).alias("placement_group"),
        )
        .group_by("child_id", "placement_group")
        .agg(pl.col("d").sum())
        .sort(["child_id", "d", "placement_group"], descending=[False, True, False])
        .group_by("child_id", maintain_order=True)
        .first()
        .select("child_id", "placement_group")
    )


def _over_panel(panel: dict, t: pl.DataFrame) -> dict[str, np.ndarray]:
    """The student-year rows ``t`` of child-welfare children as compact arrays over the whole
    panel (a string column of 12 million rows costs 200 MB); everyone else has the defaults."""
    at = (
        pl.DataFrame({"sid": panel["sid"], "yi": panel["yi"]})
        .with_row_index("row")
        .join(t, on=["sid", "yi"], how="inner")
    )
    n = len(panel["sid"])
    rows_ = at["row"].to_numpy()
    st_all = at["status"].fill_null("none")
    cs = np.zeros(n, dtype=np.int8)
    cs[rows_] = st_all.replace_strict(CARE_CODE, return_dtype=pl.Int8).to_numpy()
    cum = np.zeros(n, dtype=np.int32)
    cum[rows_] = at["cumulative_days_in_care"].fill_null(0).cast(pl.Int32).to_numpy()
    group = np.zeros(n, dtype=np.int8)
    group[rows_] = np.where(
        st_all.to_numpy() == "in_care",
        at["placement_group"]
        .replace_strict(GROUP_CODE, default=0, return_dtype=pl.Int8)
        .to_numpy(),
        0,
    )
    indigenous = np.zeros(n, dtype=bool)
    indigenous[rows_] = (at["race"] == "indigenous").fill_null(False).to_numpy()
    child_id = np.full(n, -1, dtype=np.int64)
    child_id[rows_] = at["child_id"].to_numpy()
    return {
        "care": cs,
        "cum": cum,
        "group": group,
        "indigenous": indigenous,
        "child_id": child_id,
        "cw": child_id >= 0,
        "ever": ever_in_care(panel["sid"], panel["yi"], cs == CARE_CODE["in_care"]),
    }


def ever_in_care(sid: np.ndarray, yi: np.ndarray, in_care: np.ndarray) -> np.ndarray:
    """Per panel row: the student was in care in this school year or an earlier one."""
    first = np.full(int(sid.max()) + 1 if len(sid) else 0, np.iinfo(np.int16).max, dtype=np.int16)
    np.minimum.at(first, sid[in_care], yi[in_care].astype(np.int16))
    return yi >= first[sid]


def years_in_care(truth: dict, sel: np.ndarray | None = None) -> np.ndarray:
    """Cumulative days in care / 365.25 of the panel rows ``sel`` (all when None)."""
    cum = truth["cum"] if sel is None else truth["cum"][sel]
    # polars' division, bit for bit what the truth table holds
    return pl.select(pl.Series(cum) / 365.25).to_series().to_numpy()


def student_year_truth_frame(
    truth: dict, oen: pl.Series, school_year: pl.Series, sel: np.ndarray | None = None
) -> pl.DataFrame:
    """``student_year_truth`` for the panel rows ``sel`` (all when None)."""

    def pick(a: np.ndarray) -> np.ndarray:
        return a if sel is None else a[sel]

    cid = pl.Series(pick(truth["child_id"]))
    grp = pl.Series(pick(truth["group"]).astype(np.int64))
    cum = pick(truth["cum"])
    return pl.DataFrame(
        {
            "oen": oen,
            "school_year": school_year,
            "child_id": pl.select(pl.when(cid >= 0).then(cid)).to_series(),
            "care_status": vocab_series("care_status", CARE_STATUSES, pick(truth["care"])),
            "cumulative_days_in_care": cum,
            "years_in_care": years_in_care(truth, sel),
            "placement_group": pl.select(
                pl.when(grp > 0).then(pl.Series(["", *GROUPS[1:]]).gather(grp))
            ).to_series(),
            "indigenous": pick(truth["indigenous"]),
            "ever_in_care": pick(truth["ever"]),
        }
    )
