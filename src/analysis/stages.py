"""What every stage returns, so the pipeline can account for every row and time every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageResult:
    """Summary of one stage run.

    ``rows`` maps a name ("onsis_enrolment in", "links out", ...) to a row count; the manifest and the
    methodology page show them, and ``in = passed on + quarantined + unlinked`` is checked from them.
    """

    stage: str
    outputs: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False  # True when inputs were unchanged and nothing was redone
