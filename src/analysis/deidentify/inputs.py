"""The stage's inputs: the identifiable sources, the links and the reference tables."""

from __future__ import annotations

import polars as pl

from analysis.config import Config
from analysis.deidentify.contract import REFERENCE
from analysis.deidentify.errors import DeidentifyError

SOURCES = (
    "onsis_enrolment",
    "eqao_results",
    "cpin_persons",
    "cpin_services",
    "cpin_placements",
    "cpin_cases",
    "cpin_onlac",
)
# the two large sources are scanned (only the columns used are read), the rest read whole
BIG_SOURCES = ("onsis_enrolment", "eqao_results")
_PERSON_COLUMNS = (
    "cw_record_id",
    "society_id",
    "birth_date",
    "gender_identity",
    "race",
    "born_outside_canada",
    "first_language",
    "human_trafficking_risk",
)


def read_inputs(cfg: Config) -> tuple[dict[str, pl.DataFrame], dict[str, pl.LazyFrame]]:
    """The small inputs read whole, and scans of the two large sources.

    Raises
    ------
    DeidentifyError
        When a source, the links or a reference table is missing, or the links repeat a record.
    """
    src = cfg.paths.sources
    frames: dict[str, pl.DataFrame] = {}
    big: dict[str, pl.LazyFrame] = {}
    for name in SOURCES:
        p = src / f"{name}.parquet"
        if not p.is_file():
            raise DeidentifyError(f"{p}: source file not found (run generate/validate first)")
        if name in BIG_SOURCES:
            big[name] = pl.scan_parquet(p)
        elif name == "cpin_persons":  # names, OEN and postal code are not used
            frames[name] = pl.read_parquet(p, columns=list(_PERSON_COLUMNS))
        else:
            frames[name] = pl.read_parquet(p)
    links = cfg.paths.linkage / "links.parquet"
    if not links.is_file():
        raise DeidentifyError(f"{links}: links file not found (run linkage first)")
    frames["links"] = pl.read_parquet(links)
    for name in REFERENCE:
        p = cfg.paths.reference / f"{name}.parquet"
        if not p.is_file():
            raise DeidentifyError(f"{p}: reference table not found (run generate first)")
        frames[name] = pl.read_parquet(p)
    dup = frames["links"]["cw_record_id"].is_duplicated().sum()
    if dup:
        raise DeidentifyError(
            f"{links}: column cw_record_id: {dup} rows repeat a record (rule: one row per record)"
        )
    return frames, big
