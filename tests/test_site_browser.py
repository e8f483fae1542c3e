"""Every page the build produces, in headless Chromium: axe-core WCAG 2.1 A/AA with zero
violations, nothing requested from the network, reflow at 320 px. Marker ``browser``."""

from __future__ import annotations

import pytest

from test_accessibility import axe_violations, browser, open_page  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_every_page_passes_axe_with_network_blocked(tiny_build, browser):  # noqa: F811
    pages = sorted(tiny_build.paths.reports_dir.glob("*.html"))
    assert len(pages) >= 130  # 126 reports, 2 indexes, 2 methodology pages
    failures = {}
    for path in pages:
        page = open_page(browser, path)
        violations = axe_violations(page)
        if violations or page.attempted:
            failures[path.name] = ([v["id"] for v in violations], page.attempted)
        page.close()
    assert failures == {}


@pytest.mark.parametrize(
    "stem", ["ministry-fr", "board-b01-en", "society-s01-en", "youth-en", "index"]
)
def test_each_kind_reflows_at_320_px(tiny_build, browser, stem):  # noqa: F811
    page = open_page(browser, tiny_build.paths.reports_dir / f"{stem}.html", width=320)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    assert page.attempted == []
    page.close()
