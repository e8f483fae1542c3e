"""Golden outputs: a few small committed results and report texts of the seeded `tiny` build.

The same-bytes tests compare two runs of the same code, so a change that alters the output passes
them; these fail on any difference from what was committed. When a change is meant to alter the
output, update the files on purpose and commit them with the change:

    make golden        # UPDATE_GOLDEN=1 pytest tests/test_golden.py

and read the diff (``git diff tests/golden``) as part of the review.
"""

from __future__ import annotations

import difflib
import html
import os
import re
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

# Published tables (results/<name>.parquet), written as CSV.
TABLES = (
    "outcomes_by_care_status",
    "adjusted_gaps",
    "indicator1_no_recurrence_investigation",
    "indicator4_exits",
)
# Reports whose visible text is kept (one block of text a line).
PAGES = (
    "ministry-en",
    "youth-en",
    "youth-fr",
    "board-b61-fr",
    "board-b01-en",
    "society-s01-en",
    "methodology-en",
)

_BLOCK = re.compile(r"</?(?:p|h[1-6]|li|caption|th|td|tr|title|figcaption|div|section)\b[^>]*>")


def page_text(page: str) -> str:
    """The words a reader sees, one block (paragraph, heading, cell) a line."""
    page = re.sub(r"<(style|script|svg)\b.*?</\1>", " ", page, flags=re.S)
    page = _BLOCK.sub("\n", page)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line) + "\n"


def _check(name: str, got: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.is_file(), f"{path}: no golden file (make golden writes it)"
    want = path.read_text(encoding="utf-8")
    if got != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                got.splitlines(keepends=True),
                f"{name} (committed)",
                f"{name} (this build)",
                n=1,
            )
        )
        pytest.fail(f"{name} differs from the golden copy (make golden to accept):\n{diff[:4000]}")


@pytest.mark.parametrize("name", TABLES)
def test_published_table_matches_golden(tiny_build, name: str) -> None:
    df = pl.read_parquet(tiny_build.paths.results / f"{name}.parquet")
    _check(f"results/{name}.csv", df.write_csv(float_precision=6))


@pytest.mark.parametrize("slug", PAGES)
def test_report_text_matches_golden(tiny_build, slug: str) -> None:
    page = (tiny_build.paths.reports_dir / f"{slug}.html").read_text(encoding="utf-8")
    _check(f"reports/{slug}.txt", page_text(page))


def test_golden_comparison_fails_on_a_changed_number(tmp_path: Path, monkeypatch) -> None:
    """The comparison itself: a one-character change is a failure, with a diff."""
    monkeypatch.setattr(f"{__name__}.GOLDEN", tmp_path)
    monkeypatch.setattr(f"{__name__}.UPDATE", False)
    (tmp_path / "t.txt").write_text("Ontario 12.5%\n", encoding="utf-8")
    _check("t.txt", "Ontario 12.5%\n")
    with pytest.raises(pytest.fail.Exception, match=r"\+Ontario 12.6%"):
        _check("t.txt", "Ontario 12.6%\n")
