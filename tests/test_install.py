"""The package works installed: the wheel carries its configuration defaults, notebooks, templates
and catalogues, and `analysis build` runs from a folder that is not the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from analysis.config import REPO_ROOT

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


def test_wheel_installs_in_a_fresh_venv_and_builds_from_another_folder(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv is not None, "uv is installed by scripts/setup.sh"
    assert REPO_ROOT is not None
    dist = tmp_path / "dist"
    _run([uv, "build", "--wheel", "--out-dir", str(dist), str(REPO_ROOT)], cwd=tmp_path)
    (wheel,) = dist.glob("analysis-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "analysis/bundled/default.yaml",
        "analysis/bundled/notebooks/ministry.ipynb",
        "analysis/reports/templates/page.html.j2",
        "analysis/reports/locales/fr/LC_MESSAGES/messages.po",
    ):
        assert shipped in names, shipped

    # The same versions as the lock file, so the installed package is the one the tests check.
    pins = _run(
        [
            uv,
            "export",
            "--frozen",
            "--no-hashes",
            "--no-dev",
            "--no-emit-project",
            "--format",
            "requirements-txt",
            "--project",
            str(REPO_ROOT),
        ],
        cwd=tmp_path,
    ).stdout
    (tmp_path / "constraints.txt").write_text(pins, encoding="utf-8")
    venv = tmp_path / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    _run(
        [uv, "pip", "install", "--quiet", "--python", str(py), "-c", "constraints.txt", str(wheel)],
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Installed, the package knows it is not in a checkout and finds its files inside itself.
    where = _run(
        [
            str(py),
            "-c",
            "from analysis import config; print(config.IN_CHECKOUT, config.DEFAULT_CONFIG_FILE)",
        ],
        cwd=elsewhere,
    ).stdout
    assert where.startswith("False ") and "site-packages" in where, where
    _run([str(venv / "bin" / "analysis"), "build", "--scale", "tiny"], cwd=elsewhere)
    reports = elsewhere / "reports"
    assert (reports / "index.html").is_file()
    # 126 reports, the 4 sector reports (OACAS and ANCFSAO, two languages), 2 methodology pages
    assert len(list(reports.glob("*.pdf"))) == 132
    assert (elsewhere / "data" / "synthetic" / "analytic").is_dir()
