"""A real browser for tests: Debian's Chromium (``make install`` installs it), driven by
Playwright through ``executable_path``, so Playwright never downloads a browser of its own.

``CHROMIUM`` names another binary. No Chromium, or one that does not start, FAILS the test
that asked for it: a browser test never skips.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, sync_playwright

from setup.project import REPO

# Screenshots the browser tests keep (ignored by git; CI can upload the folder).
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / "tests" / "artifacts"))


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(f"no Chromium at {path}: make install (Debian's chromium package)")
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    path = chromium_path()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=path)
        except Error as exc:
            pytest.fail(f"Chromium at {path} did not start: {exc}")
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """One page, reused for every file a test module opens (a new page costs seconds on a
    busy machine), and every console error, warning or uncaught exception since the last
    ``open``."""

    page: Page
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, browser: Browser) -> Tab:
        tab = cls(browser.new_page(viewport={"width": 1250, "height": 700}))
        tab.page.on(
            "console",
            lambda message: (
                tab.problems.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        tab.page.on("pageerror", lambda exc: tab.problems.append(f"page error: {exc}"))
        return tab

    def open(self, path: Path) -> Tab:
        """``path`` loaded (its ``load`` event fired); problems counted from here."""
        self.problems.clear()
        self.page.goto(path.resolve().as_uri())
        return self


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG in ARTIFACTS, kept after the test; its path is printed."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")
    return path
