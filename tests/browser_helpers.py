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


def open_report(path: Path, name: str, tables: tuple[str, ...] = ()) -> dict:
    """A report file opened in Chromium with every request but ``file:``/``data:`` refused;
    a full-page screenshot ``<name>.png``. Returns the requests it tried, its images (alt,
    natural width, ``src`` start), its text and, per CSS selector of ``tables``, the table's
    header cells and rows (class, cell texts)."""
    with browser() as ctx:
        requests: list[str] = []

        def route(r):
            requests.append(r.request.url)
            (r.continue_ if r.request.url.startswith(("file:", "data:")) else r.abort)()

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.goto(Path(path).as_uri())
        page.wait_for_load_state("load")
        screenshot(page, name)
        images = page.evaluate("[...document.images].map(i => ({alt: i.alt, w: i.complete ? i.naturalWidth : 0, "
                               "src: i.getAttribute('src').slice(0, 22)}))")
        found = {}
        for selector in tables:
            found[selector] = page.evaluate("""sel => { const div = document.querySelector(sel); if (!div) return null;
                return {head: [...div.querySelectorAll('thead th')].map(th => th.textContent.trim()),
                        rows: [...div.querySelectorAll('tbody tr')].map(tr => ({cls: tr.className,
                              cells: [...tr.cells].map(td => td.textContent.trim())}))}; }""", selector)
        return {"requests": requests, "images": images, "text": page.inner_text("body"), "tables": found}


def table_rows(opened: dict, selector: str) -> list[dict]:
    """The rows of one table of :func:`open_report` as dicts (header -> cell, plus ``cls``)."""
    t = opened["tables"][selector]
    assert t is not None, f"no {selector} in the report"
    return [dict(zip(t["head"], r["cells"]), cls=r["cls"]) for r in t["rows"]]
