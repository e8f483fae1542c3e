"""Notebooks: thin, parameterised, stored without outputs, and they run (papermill and nbval)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from analysis.config import NOTEBOOKS_DIR, REPO_ROOT, load_config

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
REPORT_KINDS = ("ministry", "board", "society", "youth")


def test_every_report_kind_and_analyst_notebook_exists():
    names = {p.stem for p in NOTEBOOKS}
    assert set(REPORT_KINDS) <= names
    assert {"linkage_quality", "outcome_explorer"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_and_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    # The parameters cell holds literals only.
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)
    for c in code:
        assert not c.outputs and c.execution_count is None, "outputs must be stripped"
        tree = ast.parse(c.source)
        defs = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)
        ]
        assert not defs, "no function or class is defined in a notebook"


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_parameters_match_the_configuration(kind: str):
    params = pm.inspect_notebook(str(NOTEBOOKS_DIR / f"{kind}.ipynb"))
    cfg = load_config()
    assert params["school_year"]["default"].strip('"') in cfg.school_years
    assert params["scale"]["default"].strip('"') in cfg.scales
    assert params["lang"]["default"].strip('"') in cfg.reports.languages
    for name in ("seed", "config_file", "data_dir", "out_dir", "slug"):
        assert name in params, name
    if kind == "board":
        assert "board_id" in params
    if kind == "society":
        assert "society_id" in params


@pytest.mark.notebooks
@pytest.mark.slow
def test_notebooks_run_under_nbval(tiny_build, tmp_path):
    """Every notebook, as an analyst opens it, runs against a build (nbval, lax: SVG ids vary)."""
    env = {
        **os.environ,
        "ANALYSIS_DATA_DIR": str(tiny_build.paths.data_dir),
        "ANALYSIS_REPORTS_DIR": str(tmp_path / "reports"),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-q",
            "-p",
            "no:cacheprovider",
            *map(str, NOTEBOOKS),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "passed" in out.stdout
