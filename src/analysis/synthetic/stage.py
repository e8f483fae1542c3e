"""The ``generate`` stage: the simulated province written under ``cfg.paths.data_dir``.

``reference``, ``sources`` (with the codebook and ``calibration.json``: every calibration target
against the generated data, :mod:`~analysis.synthetic.calibration`) and ``truth`` (with the planted effects) are each
written to a staging folder and swapped in whole. The sources are checked against their schemas
as they are written; the two tables of one row per student-year are built, checked and written
one school year at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from analysis.config import Config
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.stages import StageResult
from analysis.synthetic.calibration import calibration_checks, calibration_report
from analysis.synthetic.codes import unique_sorted
from analysis.synthetic.effects import planted_effects
from analysis.synthetic.simulation import simulate

CALIBRATION_FILE = "calibration.json"


def _checked(schemas: Any, name: str, df: pl.DataFrame) -> pl.DataFrame:
    schemas.validate_source(name, df, f"<generated {name}>")
    return df


def _write_parquet_chunks(chunks: Iterator[pl.DataFrame], path: Path) -> int:
    """Write frames of one schema into one parquet file, chunk by chunk; return the row count.

    The same settings as :func:`analysis.io.write_parquet` (zstd, no statistics, row groups of at
    most a million rows), so the same data gives the same bytes.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    import pyarrow.parquet as pq

    writer = None
    rows = 0
    # One writer thread: chunk k is compressed and written (pyarrow releases the GIL) while chunk
    # k + 1 is being built; at most one chunk waits, so memory stays at about two chunks.
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            for df in chunks:
                table = df.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(
                        path, table.schema, compression="zstd", write_statistics=False
                    )
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write_table, table, row_group_size=1_000_000)
                rows += df.height
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                pending.exception()  # wait for the last write before closing the file
            if writer is not None:
                writer.close()
    return rows


class _ParquetColumns:
    """A parquet file seen as ``.columns`` and ``[column]`` (one column in memory at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns = list(pl.read_parquet_schema(path))

    def __getitem__(self, col: str) -> pl.Series:
        return pl.read_parquet(self.path, columns=[col]).to_series()


def generate(cfg: Config) -> StageResult:
    """Generate the synthetic province and write it under ``cfg.paths.data_dir``.

    Each folder (``sources``, ``truth``, ``reference``) is written to a staging folder and swapped
    in whole, so an interrupted run leaves the previous data intact. The two tables of one row
    per student-year are built, checked and written one at a time and dropped, so the provincial
    scale stays within a few GiB.
    """
    from analysis.domain import schemas  # local: schemas import pandera (slow to import)
    from analysis.synthetic import codebook

    sim = simulate(cfg)
    result = StageResult(stage="generate")
    folders = ("reference", "sources", "truth")
    with contextlib.ExitStack() as stack:
        tmp = {f: stack.enter_context(atomic_dir(cfg.paths.data_dir / f)) for f in folders}

        def put(key: str, df: pl.DataFrame) -> None:
            folder, name = key.split("/")
            write_parquet(df, tmp[folder] / f"{name}.parquet")
            result.rows[f"{name} out"] = df.height

        for key in ("reference/boards", "reference/societies"):
            put(key, sim.frames[key])
        # The two tables of one row per student-year are built, checked and written one school
        # year at a time (their keys include the year), so neither is ever whole in memory.
        years = range(len(sim.school_years))
        onsis_path = tmp["sources"] / "onsis_enrolment.parquet"
        result.rows["onsis_enrolment out"] = _write_parquet_chunks(
            (_checked(schemas, "onsis_enrolment", sim.onsis(sim.year_rows(yi))) for yi in years),
            onsis_path,
        )
        sources: dict[str, Any] = {"sources/onsis_enrolment": _ParquetColumns(onsis_path)}
        for key, df in sim.frames.items():
            if key.startswith("sources/"):
                _checked(schemas, key.split("/")[1], df)
                put(key, df)
                sources[key] = df
        codebook.write_codebook(tmp["sources"], sources, cfg)
        # every calibration target against this province, beside the codebook
        checks = calibration_checks(cfg, sim)
        write_json(calibration_report(cfg, checks), tmp["sources"] / CALIBRATION_FILE)
        result.metrics["calibration_targets"] = len(checks)
        result.metrics["calibration_holding"] = sum(c.holds for c in checks)
        result.metrics["students"] = len(unique_sorted(sim.panel["sid"]))
        put("truth/person_truth", sim.frames["truth/person_truth"])
        result.rows["student_year_truth out"] = _write_parquet_chunks(
            (sim.student_year_truth(sim.year_rows(yi)) for yi in years),
            tmp["truth"] / "student_year_truth.parquet",
        )
        write_json(planted_effects(cfg), tmp["truth"] / "planted_effects.json")
    result.outputs.extend(cfg.paths.data_dir / f for f in folders)
    result.metrics["cw_children"] = sim.frames["truth/person_truth"]["child_id"].n_unique()
    return result


def read_source(cfg: Config, name: str) -> pl.DataFrame:
    """Read one identifiable source (only linkage and deidentify may call this)."""
    return pl.read_parquet(Path(cfg.paths.sources) / f"{name}.parquet")
