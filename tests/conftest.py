"""Shared fixtures: generated provinces at `tiny` (every test run) and `small` (slow marker)."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import pytest

from analysis.config import Config, load_config

# The builds tests make for other reasons (same bytes, resuming, user files) audit the printed
# release with the project's engine alone; the session's `tiny_build` runs both engines, as the
# default build does, and `tests/test_audit.py` runs G-Confid itself.
OWN_ENGINE = ("highs",)


def make_cfg(
    root: Path,
    scale: str = "tiny",
    seed: int | None = None,
    audit_engines: tuple[str, ...] | None = OWN_ENGINE,
) -> Config:
    cfg = load_config(scale=scale, seed=seed, data_dir=root / "data", reports_dir=root / "reports")
    return cfg.with_overrides(privacy={**cfg.privacy.model_dump(), "audit_engines": audit_engines})


@pytest.fixture(scope="session")
def tiny_generated(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A tiny synthetic province (sources, truth, reference), generated once per session."""
    from analysis.synthetic import generate

    cfg = make_cfg(tmp_path_factory.mktemp("tiny"))
    generate(cfg)
    return cfg


@pytest.fixture(scope="session")
def small_generated(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The quick-start scale (about 100,000 students a year), generated once per session."""
    from analysis.synthetic import generate

    cfg = make_cfg(tmp_path_factory.mktemp("small"), scale="small")
    generate(cfg)
    return cfg


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Config:
    """The whole annual build at `tiny`, every report, run once per session.

    Under pytest-xdist (``-n``), the first worker to ask builds it in the folder all workers
    share and the others wait for it (an exclusive ``flock``): one build per run, not one per
    worker. Tests read it; a test that rebuilds or re-renders works on a copy
    (:func:`copy_build`)."""
    from analysis.pipeline import build

    if worker_id == "master":  # no xdist
        cfg = make_cfg(tmp_path_factory.mktemp("build"), audit_engines=None)
        build(cfg)
        return cfg
    root = tmp_path_factory.getbasetemp().parent / "tiny-build"
    cfg = make_cfg(root, audit_engines=None)
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (root / "built").exists():
                shutil.rmtree(root, ignore_errors=True)  # a worker that died half-way
                build(cfg)
                (root / "built").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return cfg


def copy_build(cfg: Config, dest: Path) -> Config:
    """A copy of the build ``cfg`` (data and reports) under ``dest``, with the same settings."""
    out = cfg.with_overrides(
        paths={
            **cfg.paths.model_dump(),
            "data_dir": dest / "data",
            "reports_dir": dest / "reports",
        }
    )
    shutil.copytree(cfg.paths.data_dir, out.paths.data_dir, symlinks=True)
    shutil.copytree(cfg.paths.reports_dir, out.paths.reports_dir, symlinks=True)
    return out
