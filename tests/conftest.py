"""Shared fixtures: generated provinces at `tiny` (every test run) and `small` (slow marker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.config import Config, load_config


def make_cfg(root: Path, scale: str = "tiny", seed: int | None = None) -> Config:
    return load_config(scale=scale, seed=seed, data_dir=root / "data", reports_dir=root / "reports")


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
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The whole annual build at `tiny`, every report, run once per session."""
    from analysis.pipeline import build

    cfg = make_cfg(tmp_path_factory.mktemp("build"))
    build(cfg)
    return cfg
