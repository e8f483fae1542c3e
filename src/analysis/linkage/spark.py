"""Spark backend: the same splink settings on pyspark in local mode.

Start-up costs a few seconds, so Spark only pays when the data outgrow one machine; it exists so
the unit can move the same model to a cluster. Local mode binds the driver to 127.0.0.1, loads
splink's Scala string-similarity jar (shipped in the splink wheel) and sets a checkpoint
directory, which splink needs to break lineage between steps.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def spark_db_api(checkpoint_dir: Path | None = None, cores: int = 2) -> Iterator[Any]:
    """Yield a splink ``SparkAPI`` on a local Spark session; stop the session afterwards.

    Parameters
    ----------
    checkpoint_dir
        Where Spark checkpoints (a temporary directory, removed afterwards, when None).
    cores
        Local worker threads.
    """
    from pyspark.sql import SparkSession
    from splink.backends.spark import SparkAPI, similarity_jar_location

    with contextlib.ExitStack() as stack:
        if checkpoint_dir is None:
            checkpoint_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="spark-ckpt-"))
            )
        spark = (
            SparkSession.builder.master(f"local[{cores}]")
            .appName("analysis-linkage")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.jars", similarity_jar_location())
            .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
            .config("spark.default.parallelism", str(max(2, cores * 2)))
            .config("spark.local.dir", str(checkpoint_dir))
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        spark.sparkContext.setCheckpointDir(str(checkpoint_dir / "checkpoints"))
        try:
            yield SparkAPI(spark_session=spark, num_partitions_on_repartition=max(2, cores * 2))
        finally:
            spark.stop()
