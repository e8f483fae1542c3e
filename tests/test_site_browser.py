"""Every page the build produces, in headless Chromium: axe-core WCAG 2.1 A/AA with zero
violations, nothing requested from the network, reflow at 320 px. Marker ``browser``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import axe_playwright_python.async_playwright as axe_async
import pytest
from playwright.async_api import async_playwright

from test_accessibility import (  # noqa: F401 - fixture
    AXE_OPTIONS,
    CHROMIUM,
    CHROMIUM_ARGS,
    FIXTURE,
    browser,
    open_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# pages checked at once: Chromium gives each page its own renderer process, so on a 2-core
# machine two pages take little more time than one
AT_ONCE = 2


async def _axe_every_page(paths: list[Path]) -> dict[str, tuple[list[str], list[str]]]:
    """path name -> (axe violation ids, URLs requested off the file system), for the pages with
    either; every page opened with every request that is not a file blocked and recorded."""
    failures: dict[str, tuple[list[str], list[str]]] = {}
    queue = list(paths)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        async def worker() -> None:
            while queue:
                path = queue.pop(0)
                page = await b.new_page(viewport={"width": 1280, "height": 900})
                attempted: list[str] = []

                async def route(r, attempted=attempted):  # type: ignore[no-untyped-def]
                    url = r.request.url
                    if url.startswith(("file:", "data:", "about:")):
                        await r.continue_()
                    else:
                        attempted.append(url)
                        await r.abort()

                await page.route("**/*", route)
                await page.goto(path.as_uri())
                res = await axe_async.Axe().run(page, options=AXE_OPTIONS)
                violations = list(res.response["violations"])
                if violations or attempted:
                    failures[path.name] = ([v["id"] for v in violations], attempted)
                await page.close()

        await asyncio.gather(*(worker() for _ in range(AT_ONCE)))
        await b.close()
    return failures


def _run(paths: list[Path]) -> dict[str, tuple[list[str], list[str]]]:
    out: dict[str, dict] = {}
    # a thread of its own: its event loop never meets the sync API the other browser tests use
    t = threading.Thread(target=lambda: out.update(f=asyncio.run(_axe_every_page(paths))))
    t.start()
    t.join()
    assert "f" in out, "the browser run did not finish"
    return out["f"]


def test_the_page_checker_finds_a_broken_page() -> None:
    failures = _run([FIXTURE])
    assert {"image-alt", "color-contrast"} <= set(failures[FIXTURE.name][0])


def test_every_page_passes_axe_with_network_blocked(tiny_build):  # type: ignore[no-untyped-def]
    pages = sorted(tiny_build.paths.reports_dir.glob("*.html"))
    assert len(pages) >= 130  # 126 reports, 2 indexes, 2 methodology pages
    assert _run(pages) == {}


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
