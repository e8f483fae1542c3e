"""The same attack through Statistics Canada's G-Confid (Auditing module), the independent check.

G-Confid pins ``duckdb<2``, which the project's environment cannot hold, so it lives in its own
locked environment (``tools/gconfid``: ``pyproject.toml`` + ``uv.lock`` pinning ``gconfid==2.0.4``,
installed by ``scripts/setup.sh``) and runs as a subprocess on files:

``incell``
    One cell per quantity a reader cannot read (``OutStatus = "X"``), with its true value
    (``TotalNoise``), the width the rule requires (``Sensitivity``: ``protection_width``, or
    ``magnitude_share`` of an amount; 0 for derived quantities that protect nobody), and a priori
    bounds ``TotalLB = 0`` (no count is negative) and ``TotalUB`` = four times everything printed
    (a bound no finite interval reaches; G-Confid needs finite bounds). Printed quantities are
    constants: G-Confid solves for deviations from the true values, so a printed cell contributes
    nothing to an equation and is left out of it. Each processing group (``Group``: independent
    parts of the release, packed to a few hundred cells) gets one printed dummy cell, because
    G-Confid skips a group whose every cell is suppressed, and two suppressed dummy cells tied by
    one equation, because G-Confid 2.0.4 solves no cell of a group that has no equation of
    exactly two suppressed cells (``_audit_main``: with no "binary set", the other cells are an
    empty set; a found bug, worked around here).
``inconstraint``
    The ledger's equations (``ConstraintId``, ``CellId``, ``Coefficient`` of +1 or -1: the only
    coefficients G-Confid takes). Inequalities are equations with slack cells, as in the ledger.

What G-Confid cannot express, and the project's audit keeps: ratios (``rate = events / n``,
``pct_days = 100 days / total_days``) have coefficients other than one; the release never prints a
ratio whose operand it hides, which :mod:`~analysis.disclosure.attack` checks on every printed row.
G-Confid's verdict (``ProblemIndicator``) tests the width only; the upper-bound part of the rule is
read from its ``MaxValue`` by :func:`compare`.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.disclosure.ledger import Ledger, Rule
from analysis.disclosure.protected import DisclosureError

GROUP_CELLS = 400  # cells per G-Confid processing group (independent components packed together)
ENV_VAR = "ANALYSIS_GCONFID_PYTHON"
ZERO_NOISE = 1e-6  # what G-Confid is told a suppressed true 0 is (see ``export``)


def tool_dir() -> Path | None:
    """``tools/gconfid`` of the checkout (``None`` for an installed package)."""
    from analysis.config import REPO_ROOT

    return None if REPO_ROOT is None else REPO_ROOT / "tools" / "gconfid"


def python() -> Path | None:
    """The interpreter of G-Confid's environment, if it is installed."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    d = tool_dir()
    if d is None:
        return None
    p = d / ".venv" / "bin" / "python"
    return p if p.exists() else None


def _groups(led: Ledger, free: np.ndarray) -> np.ndarray:
    """A processing group per free variable: connected components, packed to ~GROUP_CELLS."""
    from scipy.sparse.csgraph import connected_components

    from analysis.disclosure.ledger import ReleaseSystem

    a = ReleaseSystem(led).a.tocsc()[:, np.flatnonzero(free)]
    adj = (abs(a).T @ abs(a)).tocsr()
    _, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels)
    group_of_label = np.zeros(sizes.size, dtype=np.int64)
    g, filled = 1, 0
    for lab in np.argsort(-sizes, kind="stable"):
        if filled and filled + sizes[lab] > GROUP_CELLS:
            g, filled = g + 1, 0
        group_of_label[lab] = g
        filled += sizes[lab]
    out = np.zeros(led.n, dtype=np.int64)
    out[np.flatnonzero(free)] = group_of_label[labels]
    return out


def export(
    led: Ledger, printed: np.ndarray, targets: Sequence[int], rule: Rule, folder: Path
) -> dict[str, Any]:
    """Write G-Confid's ``incell`` and ``inconstraint`` tables for the attack; their sizes."""
    free = ~printed
    values = led.values()
    bound = 4.0 * float(values[printed].sum()) + 1000.0
    group = _groups(led, free)
    sens = np.zeros(led.n)
    for v in targets:
        var = led.vars[v]
        sens[v] = (
            max(rule.width, rule.magnitude_share * abs(var.value))
            if var.kind == "amount"
            else rule.width
        )
    ids = np.flatnonzero(free)
    ngroups = int(group.max()) if ids.size else 0
    # per group: one printed dummy (G-Confid skips a group with every cell suppressed) and two
    # suppressed dummies tied by one equation (G-Confid 2.0.4 solves no cell of a group without
    # an equation of exactly two suppressed cells; see the module doc)
    g = np.arange(1, ngroups + 1)
    dummy = led.n + 1 + 3 * (g - 1)
    d_ids = np.concatenate([dummy, dummy + 1, dummy + 2])
    d_group = np.concatenate([g, g, g])
    incell = pl.DataFrame(
        {
            "CellId": np.concatenate([ids + 1, d_ids]).astype(np.float64),
            # a true 0 is given as ZERO_NOISE: G-Confid 2.0.4 divides by TotalNoise when it sets
            # up a cell's bounds (``setup_solver``), a found bug; it solves deviations from the
            # true value, so the cell's interval moves by ZERO_NOISE, far below any width
            "TotalNoise": np.concatenate(
                [np.where(values[ids] == 0, ZERO_NOISE, values[ids]), np.ones(3 * ngroups)]
            ),
            "Sensitivity": np.concatenate([sens[ids], np.zeros(3 * ngroups)]),
            "OutStatus": ["X"] * ids.size + ["P"] * ngroups + ["X"] * (2 * ngroups),
            "TotalLB": np.zeros(ids.size + 3 * ngroups),
            "TotalUB": np.full(ids.size + 3 * ngroups, bound),
            "Group": np.concatenate([group[ids], d_group]).astype(np.int64),
        }
    )
    con, cell, coef, cgroup = [], [], [], []
    k = 0
    for rel in led.relations:
        members = [(j, c) for j, c in rel.coefs.items() if free[j]]
        if not members:
            continue
        k += 1
        for j, c in members:
            if c not in (1.0, -1.0):
                raise DisclosureError(
                    f"G-Confid takes coefficients of +1 and -1 only: {rel.about} has {c}"
                )
            con.append(k)
            cell.append(j + 1)
            coef.append(int(c))
            cgroup.append(int(group[j]))
    for j in range(ngroups):
        k += 1
        con += [k, k]
        cell += [int(dummy[j]) + 1, int(dummy[j]) + 2]
        coef += [1, -1]
        cgroup += [j + 1, j + 1]
    inconstraint = pl.DataFrame(
        {
            "ConstraintId": np.array(con, dtype=np.float64),
            "CellId": np.array(cell, dtype=np.float64),
            "Coefficient": np.array(coef, dtype=np.int64),
            "Group": np.array(cgroup, dtype=np.int64),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    incell.write_parquet(folder / "incell.parquet")
    inconstraint.write_parquet(folder / "inconstraint.parquet")
    return {
        "cells": int(ids.size),
        "constraints": k - ngroups,
        "groups": ngroups,
        "a_priori_bound": bound,
    }


def available() -> bool:
    """Whether G-Confid's environment and ``tools/gconfid`` are here (a checkout after setup)."""
    return python() is not None and tool_dir() is not None


def run(mode: str, folder: Path, out: Path, timeout: int = 7200) -> dict[str, Any]:
    """Run ``tools/gconfid/run.py`` in G-Confid's environment on ``folder``; its run record."""
    py, d = python(), tool_dir()
    if py is None or d is None:
        raise FileNotFoundError(
            "G-Confid's environment is not installed (scripts/setup.sh: "
            "uv sync --locked --project tools/gconfid)"
        )
    script = d / "run.py"
    proc = subprocess.run(
        [str(py), str(script), mode, str(folder), str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise DisclosureError(f"G-Confid {mode} failed: {proc.stderr.strip()[-2000:]}")
    record: dict[str, Any] = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return record


def audit(
    led: Ledger,
    printed: np.ndarray,
    targets: Sequence[int],
    rule: Rule,
    work: Path | None = None,
) -> tuple[dict[int, tuple[float, float]], dict[str, Any]]:
    """G-Confid's interval for every target, and what was run (sizes, version, seconds)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gconfid-") as tmp:
        base = Path(work) if work is not None else Path(tmp)
        sizes = export(led, printed, targets, rule, base / "in")
        rec = run("audit", base / "in", base / "out")
        out = pl.read_parquet(base / "out" / "outaudit.parquet")
    got = {
        int(c) - 1: (float(lo), float(hi))
        for c, lo, hi in zip(out["CellId"], out["MinValue"], out["MaxValue"], strict=True)
        if int(c) - 1 < led.n
    }
    rec.update(sizes)
    rec["seconds_total"] = time.perf_counter() - t0
    return {v: got[v] for v in targets if v in got}, rec


def compare(
    led: Ledger,
    ours: dict[int, tuple[float, float]],
    theirs: dict[int, tuple[float, float]],
    rule: Rule,
    bound: float,
) -> dict[str, Any]:
    """Both engines' verdicts per target, and the largest difference between their intervals."""
    missing = [v for v in ours if v not in theirs]
    failing, disagree, worst = [], [], 0.0
    for v, (lo, hi) in ours.items():
        if v not in theirs:
            continue
        glo, ghi = theirs[v]
        hi_c = min(hi, bound)
        # no upper bound: the project's audit does not solve the lower end (the rule holds)
        worst = max(worst, abs(hi_c - ghi), abs(lo - glo) if np.isfinite(hi) else 0.0)
        verdict = rule.fails(led.vars[v], glo, ghi)
        if verdict:
            failing.append(v)
        if (verdict is None) != (rule.fails(led.vars[v], lo, hi) is None):
            disagree.append(v)
    return {
        "examined": len(theirs),
        "missing": len(missing),
        "failing": failing,
        "disagreements": disagree,
        "max_interval_difference": worst,
    }
