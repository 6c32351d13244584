"""Drive Debian's headless Chromium with Playwright for Python (no downloaded browser).

``playwright`` launches the system Chromium through ``executable_path`` (never ``playwright
install``). :class:`Page` is the small vocabulary the page tests speak (navigate, evaluate, click
and wait, text, screenshot), over a Playwright page; ``page.pw`` is the Playwright page itself,
for routing (cutting the network) and locators.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Page as PlaywrightPage
from playwright.sync_api import sync_playwright

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--lang=zh-CN"]
VIEWPORT = {"width": 1200, "height": 1600}


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """A Playwright page with the calls the page tests use."""

    def __init__(self, pw: PlaywrightPage) -> None:
        self.pw = pw

    def navigate(self, url: str) -> None:
        self.pw.goto(url, wait_until="load")

    def eval(self, expression: str) -> Any:
        return self.pw.evaluate(expression)

    def click_and_wait(self, selector: str) -> None:
        """Click a link or button that loads a new page, and wait for it."""
        assert self.pw.query_selector(selector) is not None, f"nothing to click at {selector}"
        with self.pw.expect_navigation(wait_until="load"):
            self.pw.click(selector)

    def text(self, selector: str) -> str | None:
        e = self.pw.query_selector(selector)
        return None if e is None else (e.text_content() or "").strip()

    def texts(self, selector: str) -> list[str]:
        return [(e.text_content() or "").strip() for e in self.pw.query_selector_all(selector)]

    def screenshot(self, selector: str | None = None, scale: float = 1) -> bytes:
        if selector is None:
            return self.pw.screenshot(full_page=True)
        box = self.pw.locator(selector).bounding_box()
        assert box is not None, f"nothing at {selector}"
        pad = 16
        clip = {"x": max(0, box["x"] - pad), "y": max(0, box["y"] - pad), "width": box["width"] + 2 * pad,
                "height": box["height"] + 2 * pad}
        if scale == 1:
            return self.pw.screenshot(clip=clip, full_page=True)  # type: ignore[arg-type]
        ctx = self.pw.context.browser.new_context(viewport=VIEWPORT, device_scale_factor=scale)  # type: ignore[union-attr]
        try:
            other = ctx.new_page()
            other.goto(self.pw.url, wait_until="load")
            return other.screenshot(clip=clip, full_page=True)  # type: ignore[arg-type]
        finally:
            ctx.close()


@contextmanager
def chromium() -> Iterator[Page]:
    """Debian's headless Chromium under Playwright, with a fresh context and its first page."""
    exe = chromium_path()
    assert exe is not None, "chromium is not installed (apt-get install -y chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")  # type: ignore[arg-type]
            yield Page(context.new_page())
        finally:
            browser.close()


def dump_dom(url: str) -> str:
    """``chromium --headless --dump-dom URL``: the DOM after scripts ran."""
    exe = chromium_path()
    assert exe is not None
    with tempfile.TemporaryDirectory(prefix="caseledger-chromium-") as profile:
        out = subprocess.run([exe, "--headless", *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=60, check=True)
    return out.stdout
