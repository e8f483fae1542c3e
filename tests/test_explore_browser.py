"""The table tool in headless Chromium, from the file system with the network blocked: it
reproduces figures the reports show, shows suppressed cells as ``c``, downloads the selection as
rows of the file, works by keyboard and at 375 px, and passes axe-core with no violation.
Markers ``browser`` and ``slow`` (it needs the tiny build)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from analysis.config import Config
from analysis.reports.opendata import FOLDER, pages
from analysis.reports.opendata import standard as std
from test_accessibility import axe_violations, browser, open_page  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _tool(b: Any, cfg: Config, lang: str = "en", width: int = 1280) -> Any:
    page = open_page(b, cfg.paths.reports_dir / pages.EXPLORE_DIR / pages.explore_name(lang), width)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.wait_for_selector("#ex-table tbody tr")
    return page


def _choose(
    page: Any, topic: str, indicator: str, level: str, place: str, breakdown: str, **fixed: str
) -> None:
    """Drive the form as a user would (each change redraws what follows it)."""
    page.select_option("#ex-topic", topic)
    page.select_option("#ex-indicator", indicator)
    page.select_option("#ex-level", label=level)
    page.select_option("#ex-place", label=place)
    page.select_option("#ex-breakdown", breakdown)
    for name, label in fixed.items():
        page.select_option(f"#ex-filter-{name}", label=label)


def _tool_cell(page: Any, row: str, column: str) -> str:
    return page.evaluate(
        """([row, column]) => {
          const t = document.getElementById('ex-table');
          const head = [...t.tHead.rows[0].cells].map(c => c.textContent);
          const j = head.indexOf(column);
          const tr = [...t.tBodies[0].rows].find(r => r.cells[0].textContent === row);
          return tr && j >= 0 ? tr.cells[j].textContent : null;
        }""",
        [row, column],
    )


def _report_cell(b: Any, path: Path, table_id: str, match: dict[int, str], column: str) -> str:
    """The text of a report table's cell: the row whose cells ``match`` ({index: text})."""
    page = open_page(b, path)
    text = page.evaluate(
        """([id, match, column]) => {
          const t = document.getElementById(id);
          const head = [...t.tHead.rows[0].cells].map(c => c.textContent);
          const j = head.indexOf(column);
          const tr = [...t.tBodies[0].rows].find(
            r => Object.entries(match).every(([i, v]) => r.cells[Number(i)].textContent === v));
          return tr ? tr.cells[j].textContent : null;
        }""",
        [table_id, {str(k): v for k, v in match.items()}, column],
    )
    page.close()
    assert text is not None, (path.name, table_id, match, column)
    return str(text)


def _figures(cfg: Config) -> list[dict[str, Any]]:
    """Three figures the reports show, and how to ask the table tool for each."""
    root = cfg.paths.reports_dir
    last = cfg.school_years[-1]
    first_fy = "2017-18"
    return [
        {  # the provincial report: chronic absence of students in care, latest school year
            "report": (
                root / "ministry-en.html",
                "chart-outcomes-by-care-status-chronic-absent-202-data",  # the latest year
                {0: "In care"},
                "Rate",
            ),
            "lang": "en",
            "choose": (
                "school",
                "school_outcomes|outcome_percent",
                "Ontario (province)",
                "Ontario",
                "care_status",
            ),
            "fixed": {"outcome": "Chronic absence", "grade": "Total", "ever_in_care": "Total"},
            "cell": ("In care", last),
        },
        {  # the provincial report: indicator 1, Ontario, first fiscal year
            "report": (
                root / "ministry-en.html",
                "chart-indicator1-no-recurrence-investigation-tot-data",
                {0: first_fy},
                "Rate",
            ),
            "lang": "en",
            "choose": (
                "indicators",
                "safety_no_recurrence|no_recurrence_percent",
                "Ontario (province)",
                "Ontario",
                "case_type",
            ),
            "fixed": {},
            "cell": ("Closed after an investigation (indicator 1)", first_fy),
        },
        {  # the French provincial report: Grade 3 reading, students never in care, 2017-18
            "report": (
                root / "ministry-fr.html",
                "chart-eqao-by-ever-in-care-g3-reading-data",
                {0: "2017-18", 1: "Non pris en charge"},
                "Taux",
            ),
            "lang": "fr",
            "choose": (
                "eqao",
                "eqao|at_standard_percent",
                "Ontario (province)",
                "Ontario",
                "ever_in_care",
            ),
            "fixed": {"assessment": "Lecture, 3e année", "care_status": "Total"},
            "cell": ("Jamais pris en charge", std.period_label("201718", "fr")),
        },
    ]


def test_the_table_tool_reproduces_three_figures_of_the_reports(tiny_build, browser) -> None:  # noqa: F811
    shown = []
    for fig in _figures(tiny_build):
        expected = _report_cell(browser, *fig["report"])
        for width in (1280, 375):
            page = _tool(browser, tiny_build, fig["lang"], width)
            _choose(page, *fig["choose"], **fig["fixed"])
            got = _tool_cell(page, *fig["cell"])
            assert got == expected, (fig["report"][1], width, got, expected)
            assert page.attempted == [] and page.errors == []
            page.close()
        shown.append(expected)
    assert all(any(ch.isdigit() for ch in v) for v in shown), shown  # numbers, not symbols


def _suppressed_row(cfg: Config) -> dict[str, str]:
    with (cfg.paths.reports_dir / FOLDER / "safety_no_recurrence.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return next(
        r
        for r in rows
        if r["geographic_level"] == std.SOCIETY.name
        and r["no_recurrence_percent"] == "c"
        and r["cases_count"] not in std.SYMBOLS
    )


def test_a_suppressed_cell_shows_as_c_and_the_download_is_rows_of_the_file(
    tiny_build,
    browser,  # noqa: F811
) -> None:
    row = _suppressed_row(tiny_build)
    page = _tool(browser, tiny_build)
    _choose(
        page,
        "indicators",
        "safety_no_recurrence|no_recurrence_percent",
        "Children’s aid society",
        row["society_name"],
        "case_type",
    )
    year = std.period_label(row["time_period"], "en")
    assert _tool_cell(page, row["case_type"], year) == "c"
    title = page.evaluate("document.querySelector('#ex-table td.sym abbr').title")
    assert title == "suppressed"
    # every cell shown is a cell of the file
    shown = page.evaluate(
        "[...document.querySelectorAll('#ex-table td[data-cell]')].map(td => td.dataset.cell)"
    )
    with (tiny_build.paths.reports_dir / FOLDER / "safety_no_recurrence.csv").open(
        encoding="utf-8"
    ) as fh:
        file_rows = list(csv.DictReader(fh))
    mine = {
        r["no_recurrence_percent"] for r in file_rows if r["society_code"] == row["society_code"]
    }
    assert shown and set(shown) <= mine
    with page.expect_download() as dl:
        page.click("#ex-download")
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    got = list(csv.DictReader(io.StringIO(text)))
    assert got and len(got) == len(shown)
    header = list(got[0])
    assert header[-1] == "no_recurrence_percent" and header[:3] == [
        "time_period",
        "time_identifier",
        "geographic_level",
    ]
    as_file = {tuple(r[c] for c in header) for r in file_rows}
    assert all(tuple(r[c] for c in header) in as_file for r in got)
    assert page.attempted == [] and page.errors == []
    page.close()


def test_the_table_tool_works_by_keyboard(tiny_build, browser) -> None:  # noqa: F811
    page = _tool(browser, tiny_build)
    before = page.text_content("#ex-status")
    page.focus("#ex-topic")
    page.keyboard.press("ArrowDown")  # the next topic
    assert page.evaluate("document.getElementById('ex-topic').selectedIndex") == 1
    page.wait_for_function(
        "(b) => document.getElementById('ex-status').textContent !== b", arg=before
    )
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "ex-indicator"
    # tab on to the download link and take it with Enter
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "ex-download":
            break
    assert page.evaluate("document.activeElement.id") == "ex-download"
    with page.expect_download() as dl:
        page.keyboard.press("Enter")
    assert Path(dl.value.path()).read_text(encoding="utf-8").startswith("time_period,")
    page.close()


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("width", [1280, 375])
def test_the_pages_pass_axe_offline_and_reflow(tiny_build, browser, lang, width) -> None:  # noqa: F811
    root = tiny_build.paths.reports_dir
    for path in (
        root / pages.EXPLORE_DIR / pages.explore_name(lang),
        root / pages.catalogue_name(lang),
    ):
        page = open_page(browser, path, width)
        found = axe_violations(page)
        assert not found, f"{path.name} @ {width}px: " + "; ".join(
            f"{v['id']} ({len(v['nodes'])})" for v in found
        )
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path.name, width)
        assert page.attempted == []
        page.close()
    # a view with a chart: the chart is an image with a text alternative, the table beside it
    page = _tool(browser, tiny_build, lang, width)
    assert page.evaluate("document.querySelector('#ex-chart svg[role=img] title').textContent")
    assert not axe_violations(page)
    page.close()
