"""Headless Chromium for page tests: Debian's /usr/bin/chromium driven by Playwright.

``open_page(url_or_path, screenshot=PATH)`` loads a page, waits for it to settle and returns
what a person would see (text, title), its console errors and uncaught page errors, and the
Playwright page for further interaction inside ``with browser_page(...)``.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As root, on a machine without network: no sandbox, no GPU, no background connections.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class PageVisit:
    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return self.console_errors + self.page_errors + self.failed_requests


def _url(target: str | Path) -> str:
    s = str(target)
    if s.startswith(("http://", "https://", "file://")):
        return s
    return Path(s).resolve().as_uri()


@contextlib.contextmanager
def browser_page(
    target: str | Path, screenshot: Path | None = None, width: int = 1400, height: int = 1000
) -> Iterator[PageVisit]:
    """Open ``target`` (URL or file) in headless Chromium; yield the visit; optionally save a
    full-page screenshot when the block ends."""
    if CHROMIUM is None:
        raise RuntimeError(
            "chromium not found: run `make sysdeps` (Debian: apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            visit = PageVisit(page)
            page.on(
                "console",
                lambda m: visit.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
            page.on(
                "requestfailed",
                lambda r: visit.failed_requests.append(f"{r.url}: {r.failure}"),
            )
            page.goto(_url(target), wait_until="load")
            page.wait_for_load_state("networkidle")
            yield visit
            if screenshot is not None:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
