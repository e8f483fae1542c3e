"""The annual build, as a sequence of named stages.

Read top to bottom, this is the method: generate (or bring) the three sources, validate them,
link child-welfare records to students, de-identify, analyse, and render the reports. Every stage
is a function ``run(cfg) -> StageResult``; this module only orders them, skips the ones whose
inputs have not changed, and records what happened for the manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from analysis.config import NOTEBOOKS_DIR, Config
from analysis.io import clean_stale_staging, hash_tree, write_json
from analysis.manifest import STAGE_CODE, code_digest, code_version
from analysis.stages import StageResult

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("generate", "validate", "link", "deidentify", "analyse", "render")


def stages_for(cfg: Config) -> tuple[str, ...]:
    """All stages in order; with a user's own extract there is nothing to generate."""
    return STAGES[1:] if cfg.paths.incoming is not None else STAGES


def _stage_fn(name: str) -> Callable[[Config], StageResult]:
    """The public function of each stage (imported lazily: each stage imports its own libraries)."""
    if name == "generate":
        from analysis.synthetic import generate

        return generate
    if name == "validate":
        from analysis.validate import run as validate

        return validate
    if name == "link":
        from analysis.linkage import run as link

        return link
    if name == "deidentify":
        from analysis.deidentify import run as deidentify

        return deidentify
    if name == "analyse":
        from analysis.analyse import run as analyse

        return analyse
    if name == "render":
        from analysis.reports.build import run as render

        return render
    raise KeyError(name)


def stage_inputs(cfg: Config, name: str) -> list[Path]:
    """Folders a stage reads: a change in any of them (or in the configuration) re-runs it."""
    p = cfg.paths
    if name == "validate" and p.incoming is not None:
        from analysis.validate import input_files  # the files it reads, not the whole folder

        return input_files(p.incoming)
    return {
        "generate": [],
        "validate": [p.sources],
        "link": [p.sources],
        "deidentify": [p.sources, p.linkage, p.reference],
        # and what validation counted (the methodology tables: rows, normalisations)
        "analyse": [p.analytic, p.data_dir / ".state" / "validate.json"],
        "render": [p.results, p.analytic, NOTEBOOKS_DIR],
    }[name]


def stage_outputs(cfg: Config, name: str) -> list[Path]:
    p = cfg.paths
    return {
        "generate": [p.sources, p.truth, p.reference],
        # never the user's extract: the build writes nothing there
        "validate": [p.sources, p.quarantine] + ([p.reference] if p.incoming is not None else []),
        "link": [p.linkage],
        "deidentify": [p.analytic],
        "analyse": [p.results],
        "render": [p.reports_dir],
    }[name]


def _digest(paths: Iterable[Path]) -> str:
    """Content of ``paths``, each named by its last part (a build moved elsewhere is the same)."""
    h = hashlib.sha256()
    for root in paths:
        try:
            if root.is_file():
                from analysis.io import sha256_file

                h.update(f"{root.name}:{sha256_file(root)}".encode())
                continue
            for rel, digest in hash_tree(root).items():
                h.update(f"{root.name}/{rel}:{digest}\n".encode())
        except OSError:  # unreadable: the stage itself says so (a clear error), never this
            h.update(f"{root.name}:unreadable\n".encode())
    return h.hexdigest()


@dataclass
class BuildRecord:
    """What a build did: stage by stage, for the manifest and the methodology page."""

    config: dict[str, Any]
    config_sha256: str
    seed: int
    scale: str
    code_version: str
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)


def _state_file(cfg: Config, name: str) -> Path:
    return cfg.paths.data_dir / ".state" / f"{name}.json"


def _fingerprint(cfg: Config, name: str) -> str:
    # generate depends on the whole configuration (the seed and sizes); later stages on the
    # configuration and on the content of their inputs; every stage on its own code.
    conf = cfg.fingerprint(data_only=name != "render")
    extra = json.dumps(list(cfg.reports.only)) if name == "render" else ""
    code = code_digest(STAGE_CODE[name])
    return hashlib.sha256(
        (conf + name + extra + code + _digest(stage_inputs(cfg, name))).encode()
    ).hexdigest()


def is_up_to_date(cfg: Config, name: str) -> bool:
    """True when the stage ran before with the same inputs and its outputs are unchanged."""
    f = _state_file(cfg, name)
    if not f.exists():
        return False
    state = json.loads(f.read_text())
    if state.get("fingerprint") != _fingerprint(cfg, name):
        return False
    return state.get("outputs") == _digest(stage_outputs(cfg, name))


def run_stage(
    cfg: Config,
    name: str,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> StageResult:
    """Run one stage unless it is up to date; record its fingerprint when it completes."""
    for out in stage_outputs(cfg, name):
        clean_stale_staging(out.parent)
    if not force and is_up_to_date(cfg, name):
        state = json.loads(_state_file(cfg, name).read_text())
        return StageResult(
            stage=name, rows=state.get("rows", {}), metrics=state.get("metrics", {}), skipped=True
        )
    if force and name == "render":  # forced means every report rendered again, none from cache
        shutil.rmtree(cfg.paths.data_dir / ".render-cache", ignore_errors=True)
    fn = _stage_fn(name)
    result = fn(cfg, progress=progress) if (name == "render" and progress is not None) else fn(cfg)  # type: ignore[call-arg]
    # Taken after the run: validation may rewrite the generated sources (quarantined rows removed).
    fingerprint = _fingerprint(cfg, name)
    write_json(
        {
            "fingerprint": fingerprint,
            "outputs": _digest(stage_outputs(cfg, name)),
            "rows": result.rows,
            "metrics": result.metrics,
        },
        _state_file(cfg, name),
    )
    return result


def build(
    cfg: Config,
    *,
    stages: tuple[str, ...] = STAGES,
    force: bool = False,
    on_stage: Callable[[str, StageResult, float], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuildRecord:
    """Run ``stages`` in order; each is skipped when its inputs and outputs are unchanged."""
    record = BuildRecord(
        config=json.loads(cfg.to_json()),
        config_sha256=cfg.fingerprint(),
        seed=cfg.seed,
        scale=cfg.scale,
        code_version=code_version(),
    )
    for name in stages:
        t0 = time.perf_counter()
        result = run_stage(cfg, name, force=force, progress=progress)
        dt = time.perf_counter() - t0
        record.stages[name] = {
            "rows": result.rows,
            "metrics": result.metrics,
            "skipped": result.skipped,
            "seconds": round(dt, 3),
        }
        write_json(asdict(record), cfg.paths.data_dir / ".state" / "build.json")
        if on_stage is not None:
            on_stage(name, result, dt)
    return record
