"""Spark and DuckDB give the same links on tiny (same splink settings, pyspark local mode)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from analysis.config import load_config

pytestmark = pytest.mark.spark


def test_spark_and_duckdb_give_the_same_links(tmp_path: Path) -> None:
    # pyspark is a dev dependency (uv.lock): if it is missing, the environment is broken and the
    # test fails on the import below rather than skipping itself.
    import pyspark  # noqa: F401

    from analysis import linkage
    from analysis.io import write_parquet
    from analysis.synthetic import generate_frames

    cfg = load_config(scale="tiny", data_dir=tmp_path)
    for key, df in generate_frames(cfg).items():
        write_parquet(df, tmp_path / f"{key}.parquet")
    duck = linkage.link(cfg)
    spark_cfg = cfg.model_copy(
        update={"linkage": cfg.linkage.model_copy(update={"engine": "spark"})}
    )
    spark = linkage.link(spark_cfg)
    a = duck["links"].select("cw_record_id", "oen", "link_pass")
    b = spark["links"].select("cw_record_id", "oen", "link_pass")
    assert a.equals(b), (
        a.join(b, on="cw_record_id").filter(pl.col("oen") != pl.col("oen_right")).height
    )
    # same persons (ids are assigned from the same sorted components)
    assert duck["links"]["cw_person_id"].equals(spark["links"]["cw_person_id"])
