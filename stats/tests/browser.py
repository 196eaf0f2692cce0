"""Open a local HTML file in headless Chromium and report what a reader would meet.

Used by the report tests (``from browser import open_in_chromium``). It drives Debian's Chromium
through Playwright's Python API; Playwright's own browser builds are never downloaded. The page
must work offline: every request to anything but a ``file:`` or ``data:`` URL is blocked and
counted as a failure.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOCAL_SCHEMES = ("file:", "data:")


@dataclass
class Chart:
    """One ``figure.chart`` as laid out: its ``data-chart`` id, its SVG's size and its marks."""

    id: str
    empty: str | None  # the figure's ``data-empty`` ("no-data", "all-suppressed") or None
    svgs: int  # how many <svg> the figure holds
    width: float  # the first SVG's bounding box, in CSS pixels
    height: float
    marks: int  # elements with class "mark" inside the SVG, suppressed ones included
    suppressed: int  # elements with classes "mark suppressed"
    drawn: int  # marks with a non-empty bounding box


@dataclass
class Page:
    """What happened when the page was opened."""

    console_errors: list[str] = field(default_factory=list)  # "error: ..." and "warning: ..." console messages
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL requested, the page itself included
    failed_requests: list[str] = field(default_factory=list)  # failed or blocked (any non-local URL)
    charts: list[Chart] = field(default_factory=list)
    scroll_width: int = 0  # the document's width: more than the viewport's means a horizontal scroll bar
    withheld: list[dict] = field(default_factory=list)  # each "suppressed" mark in a headline or table
    key: str = ""  # the page's legend of withheld values
    screenshot: Path | None = None

    @property
    def network_requests(self) -> list[str]:
        """The requests that would have left the machine."""
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]


def find_chromium() -> str | None:
    """``$CHROMIUM`` when set, else Debian's ``/usr/bin/chromium``, else ``chromium`` on the PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


_CHARTS_JS = """() => [...document.querySelectorAll('figure.chart')].map(fig => {
  const svg = fig.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const marks = svg ? [...svg.querySelectorAll('.mark')] : [];
  return {id: fig.dataset.chart, empty: fig.dataset.empty || null, svgs: fig.querySelectorAll('svg').length,
          width: box.width, height: box.height, marks: marks.length,
          suppressed: marks.filter(m => m.classList.contains('suppressed')).length,
          drawn: marks.filter(m => { const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length};
})"""


_WITHHELD_JS = """() => [...document.querySelectorAll('span.suppressed')].map(s => {
  const b = s.getBoundingClientRect(), style = getComputedStyle(s);
  const folded = !!s.closest('details:not([open])');  // a chart's data table, shown on a click
  return {text: s.textContent, title: s.title, secondary: s.classList.contains('secondary'), folded: folded,
          visible: !folded && b.width > 0 && b.height > 0 && style.visibility !== 'hidden'};
})"""


def open_in_chromium(html_path: str | os.PathLike, screenshot_path: str | os.PathLike,
                     width: int = 1280, height: int = 900) -> Page:
    """Open ``html_path`` in headless Chromium at a ``width`` x ``height`` viewport; return a :class:`Page`.

    Saves a full-page PNG screenshot at ``screenshot_path``. Skips the calling test when Playwright or
    Chromium is missing; fails it when ``$CHROMIUM`` names something that is not executable.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -r requirements/dev.txt)")
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM")
    if not os.access(executable, os.X_OK):
        pytest.fail(f"CHROMIUM={executable} is not an executable file")
    result = Page(screenshot=Path(screenshot_path))
    url = Path(html_path).resolve().as_uri()

    def route(r) -> None:
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            r.abort("blockedbyclient")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: m.type in ("error", "warning") and result.console_errors.append(
                f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: result.page_errors.append(str(e)))
            page.on("request", lambda r: result.requests.append(r.url))
            page.on("requestfailed", lambda r: result.failed_requests.append(r.url))
            page.route("**/*", route)
            page.goto(url, wait_until="load")
            result.charts = [Chart(**c) for c in page.evaluate(_CHARTS_JS)]
            result.scroll_width = page.evaluate("document.documentElement.scrollWidth")
            result.withheld = page.evaluate(_WITHHELD_JS)
            result.key = page.evaluate("(document.querySelector('p.key') || {innerText: ''}).innerText")
            page.screenshot(path=str(screenshot_path), full_page=True)
        finally:
            browser.close()
    for u in result.network_requests:  # blocked ones are already there through "requestfailed"
        if u not in result.failed_requests:
            result.failed_requests.append(u)
    return result
