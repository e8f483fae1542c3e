"""Stage skipping is keyed on the code as well as the data: an edit to the report code re-renders,
and the stages whose code did not change are skipped. Run on a copy of the checkout, so the
project's own files are never touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.config import REPO_ROOT

pytestmark = pytest.mark.slow


def _copy_checkout(dest: Path) -> Path:
    assert REPO_ROOT is not None, "run from a source checkout"
    for name in ("src", "config", "notebooks"):
        shutil.copytree(
            REPO_ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copy2(REPO_ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _build(repo: Path, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.cli",
            "build",
            "--scale",
            "tiny",
            "--config",
            str(work / "only.yaml"),
            "--data-dir",
            str(work / "data"),
            "--reports-dir",
            str(work / "reports"),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((work / "data" / ".state" / "build.json").read_text(encoding="utf-8"))
    return {name: s["skipped"] for name, s in record["stages"].items()}


def test_editing_report_code_re_renders_and_nothing_else(tmp_path: Path) -> None:
    repo = _copy_checkout(tmp_path / "repo")
    work = tmp_path / "work"
    work.mkdir()
    (work / "only.yaml").write_text(
        yaml.safe_dump({"reports": {"only": ["youth-en"]}}), encoding="utf-8"
    )
    first = _build(repo, work)
    assert not any(first.values()), first
    page = work / "reports" / "youth-en.html"
    assert "These numbers are about groups" in page.read_text(encoding="utf-8")

    # Unchanged code and data: everything is skipped.
    assert all(_build(repo, work).values())

    # One sentence of the youth summary changed in the report code (sections.py).
    sections = repo / "src" / "analysis" / "reports" / "sections.py"
    code = sections.read_text(encoding="utf-8")
    assert code.count('r.text("youth.groups")') == 1
    sections.write_text(
        code.replace('r.text("youth.groups")', 'r.text("youth.help_adult")'), encoding="utf-8"
    )
    third = _build(repo, work)
    assert third == {
        "generate": True,
        "validate": True,
        "link": True,
        "deidentify": True,
        "analyse": True,
        "render": False,
    }
    assert "These numbers are about groups" not in page.read_text(encoding="utf-8")
