"""Faults and reproducibility: atomic outputs, resumable runs, same seed same bytes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from analysis.io import hash_tree
from analysis.pipeline import build
from conftest import make_cfg

pytestmark = pytest.mark.slow

SUBSET = [
    "ministry-en",
    "ministry-fr",
    "youth-en",
    "youth-fr",
    "board-b01-en",
    "board-b61-fr",
    "society-s01-en",
    "society-s02-en",
]


def _subset_cfg(root: Path, seed: int | None = None, only=SUBSET):
    cfg = make_cfg(root, seed=seed)
    return cfg.with_overrides(reports={**cfg.reports.model_dump(), "only": list(only)})


def _published(root: Path) -> dict[str, str]:
    keep = (".parquet", ".csv", ".html", ".pdf")
    return {k: v for k, v in hash_tree(root).items() if k.endswith(keep)}


def _of_subset(files: dict[str, str]) -> dict[str, str]:
    """The files of the SUBSET reports (pages, PDFs, their CSVs) and the open data."""
    return {
        k: v
        for k, v in files.items()
        if k.startswith("data/open/") or Path(k).name.startswith(tuple(SUBSET))
    }


def test_same_seed_same_bytes_other_seed_differs(tiny_build, tmp_path):
    """A second build of the session's province, in another folder, with fewer reports and the
    audit's other engine setting: the same bytes, data and reports alike."""
    a = tiny_build
    b = _subset_cfg(tmp_path / "b")
    build(b)
    for folder in ("sources", "truth", "linkage", "analytic", "results"):
        ha = _published(a.paths.data_dir / folder)
        assert ha, folder
        assert ha == _published(b.paths.data_dir / folder), folder
    ra = _of_subset(_published(a.paths.reports_dir))
    rb = _of_subset(_published(b.paths.reports_dir))
    assert any(k.endswith(".pdf") for k in ra) and any(k.endswith(".csv") for k in ra)
    assert any(k.startswith("data/open/") for k in ra)
    assert len([k for k in ra if k.endswith(".html")]) == len(SUBSET)
    assert ra == rb
    c = _subset_cfg(tmp_path / "c", seed=a.seed + 1)
    build(c, stages=("generate", "validate", "link", "deidentify"))
    assert _published(c.paths.analytic) != _published(a.paths.analytic)


def _cli(cfg, config_file: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "analysis.cli",
        *args,
        "--scale",
        "tiny",
        "--config",
        str(config_file),
        "--data-dir",
        str(cfg.paths.data_dir),
        "--reports-dir",
        str(cfg.paths.reports_dir),
    ]


def test_killed_while_rendering_leaves_previous_reports_and_resumes(tmp_path):
    cfg = _subset_cfg(tmp_path)
    build(cfg)
    before = hash_tree(cfg.paths.reports_dir)
    # A second build with more reports: killed once two new reports are in the render cache.
    more = [*SUBSET, *[f"board-b{i:02d}-en" for i in range(2, 13)]]
    config_file = tmp_path / "more.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {"reports": {"only": more, "workers": 1}, "privacy": {"audit_engines": ["highs"]}}
        )
    )
    cache = cfg.paths.data_dir / ".render-cache"
    n0 = len(list(cache.iterdir()))
    proc = subprocess.Popen(
        _cli(cfg, config_file, "build"),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        done = [d for d in cache.iterdir() if (d / "entry.json").exists()]
        if len(done) >= n0 + 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert hash_tree(cfg.paths.reports_dir) == before, "the previous reports changed"
    # The next run completes, and renders only what the killed run had not finished.
    out = subprocess.run(
        _cli(cfg, config_file, "build"), capture_output=True, text=True, timeout=900, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    state = json.loads((cfg.paths.data_dir / ".state" / "render.json").read_text())
    assert state["metrics"]["from_cache"] >= n0 + 2
    assert state["metrics"]["rendered_now"] == len(more) - state["metrics"]["from_cache"]
    for slug in more:
        assert (cfg.paths.reports_dir / f"{slug}.html").is_file()
    leftovers = [
        p
        for p in cfg.paths.reports_dir.parent.iterdir()
        if ".staging-" in p.name or ".old-" in p.name
    ]
    assert leftovers == []
