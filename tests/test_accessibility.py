"""Browser checks of rendered pages in Debian's Chromium: axe-core WCAG 2.1 A/AA, reflow at
320 CSS px, keyboard skip link, and no network request. Marker ``browser``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis.reports.render import render_report, render_site
from test_render import build_sample

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FIXTURE = Path(__file__).parent / "fixtures" / "broken_page.html"
# only violations are collected (axe then skips the node lists of passes and inapplicable rules,
# a fifth of its time on long pages); every WCAG 2.1 A/AA rule still runs
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# No skip when Chromium is missing: `make setup` installs Debian's chromium, and a browser test
# that skips itself would pass without checking anything.
import axe_playwright_python.sync_playwright as axe_mod  # noqa: E402
import playwright.sync_api as sync_api  # noqa: E402


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("a11y")
    rendered = [
        render_report(build_sample(lang, out, youth=youth), out)
        for lang in ("en", "fr")
        for youth in (False, True)
    ]
    index = render_site(out, rendered)
    index_fr = render_site(out, rendered, lang="fr")
    return [*(r.html for r in rendered), index, index_fr, out / "methodology-en.html"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: run `make setup` (installs Debian chromium)"
    )
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, path: Path, width: int = 1280):  # type: ignore[no-untyped-def]
    """Open ``path`` with every non-file request blocked and recorded."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    attempted: list[str] = []

    def route(r):  # type: ignore[no-untyped-def]
        url = r.request.url
        if url.startswith(("file:", "data:", "about:")):
            r.continue_()
        else:
            attempted.append(url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.attempted = attempted  # type: ignore[attr-defined]
    return page


def axe_violations(page) -> list[dict]:  # type: ignore[no-untyped-def]
    res = axe_mod.Axe().run(page, options=AXE_OPTIONS)
    return list(res.response["violations"])


def test_every_page_has_zero_axe_violations(browser, pages: list[Path]) -> None:  # type: ignore[no-untyped-def]
    for path in pages:
        for width in (1280, 320):
            page = open_page(browser, path, width)
            found = axe_violations(page)
            assert not found, f"{path.name} @ {width}px: " + "; ".join(
                f"{v['id']} ({len(v['nodes'])})" for v in found
            )
            assert page.attempted == [], page.attempted
            page.close()


def test_broken_fixture_is_detected(browser) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, FIXTURE)
    ids = {v["id"] for v in axe_violations(page)}
    page.close()
    assert {"image-alt", "color-contrast"} <= ids


def test_reflow_at_320_css_px(browser, pages: list[Path]) -> None:  # type: ignore[no-untyped-def]
    for path in pages:
        page = open_page(browser, path, 320)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        client = page.evaluate("document.documentElement.clientWidth")
        assert scroll <= client, f"{path.name}: body scrolls sideways ({scroll} > {client})"
        # wide tables scroll inside their own focusable region instead
        regions = page.evaluate(
            "[...document.querySelectorAll('.table-scroll')].map(e => e.tabIndex)"
        )
        assert all(t == 0 for t in regions)
        page.close()


def test_keyboard_skip_link_is_first_tab_stop(browser, pages: list[Path]) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, pages[0])
    page.keyboard.press("Tab")
    first = page.evaluate(
        "document.activeElement.className + '|' + document.activeElement.getAttribute('href')"
    )
    assert first == "skip-link|#main"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    assert page.evaluate("document.activeElement.id") == "main"
    page.close()


def test_screenshots(browser, pages: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Writes screenshots for people to look at (``SCREENSHOT_DIR`` keeps them)."""
    import os

    keep = os.environ.get("SCREENSHOT_DIR")
    for path in pages[:4]:
        for width in (1280, 375):
            page = open_page(browser, path, width)
            shot = tmp_path / f"{path.stem}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 1000
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(keep) / shot.name)
            page.close()
