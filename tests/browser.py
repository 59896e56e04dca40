"""Real Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright for Python
(its own driver, never a downloaded browser). Screenshots go to build/test-artefacts/web/."""
from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CC_CONSOLE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
ARTEFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artefacts" / "web"


def chromium_path() -> str:
    path = shutil.which(CHROMIUM) or CHROMIUM
    if not Path(path).exists():
        raise AssertionError(f"Debian's chromium is missing at {CHROMIUM}: run ./scripts/setup "
                             "(scripts/debian-packages.d/browser.txt lists it)")
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium browser (playwright.async_api.Browser)."""
    from playwright.async_api import async_playwright
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def shot(page: Any, name: str) -> Path:
    """Keep a screenshot as a test artefact."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def eventually(pred: Callable[[], Any], timeout: float = 20.0, what: str = "", step: float = 0.05) -> Any:
    """pred() polled in short steps: what the browser shows has no event to await from here."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = pred()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(step)


async def steady(locator: Any, every: float = 0.25) -> bytes:
    """The element's picture once two screenshots ``every`` seconds apart agree: the console in it
    has finished drawing (a terminal in a canvas has no DOM to wait on)."""
    last = await locator.screenshot()
    while True:
        await asyncio.sleep(every)
        now = await locator.screenshot()
        if now == last:
            return now
        last = now
