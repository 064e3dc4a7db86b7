"""A real browser for the tests: Debian's headless ``chromium`` driven by Playwright.

Screenshots go to ``tests/.artifacts/`` (gitignored), for people to look at after a run.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

ARTIFACTS = Path(__file__).resolve().parent / ".artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


_PLAYWRIGHT = None


def _playwright():
    """One Playwright driver per test process (its sync API allows one at a time), stopped at exit."""
    global _PLAYWRIGHT
    if _PLAYWRIGHT is None:
        from playwright.sync_api import sync_playwright

        _PLAYWRIGHT = sync_playwright().start()
        atexit.register(_PLAYWRIGHT.stop)
    return _PLAYWRIGHT


@contextlib.contextmanager
def browser(viewport: tuple[int, int] = (1300, 900)) -> Iterator["object"]:
    """A fresh Chromium profile (a BrowserContext); closed and removed afterwards."""
    exe = shutil.which("chromium") or CHROMIUM
    assert Path(exe).exists(), "Debian's chromium is needed for the browser tests (apt-get install chromium)"
    profile = tempfile.mkdtemp(prefix="localgene-chromium-")
    try:
        ctx = _playwright().chromium.launch_persistent_context(
            profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        ctx.set_default_timeout(60_000)  # a loaded 2-core machine is slow, never wrong
        try:
            yield ctx
        finally:
            ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
