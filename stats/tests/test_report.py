"""The HTML report: drawn offline in a real browser, escaped, suppression and emptiness shown, numbers formatted."""

import re
from html.parser import HTMLParser

import pytest
from aau_stats.report.page import fmt, render_report

from browser import open_in_chromium

EVIL = "<script>alert(1)</script>"

SECTIONS = [
    {
        "id": "clients-per-ip",
        "title": "Clients behind each IP",
        "question": "How many installations sit behind one IP?",
        "headline": [{"label": "distinct clients", "value": 1234567}, {"label": "median per IP", "value": 1.5},
                     {"label": "addresses with one client", "value": None}],
        "charts": [
            {"kind": "bar", "title": "Addresses by number of clients", "x_label": "clients behind the address",
             "y_label": "addresses", "categories": ["1", "2", "3-5", "6-20", "21+"],
             "series": [{"name": "addresses", "values": [12840, 2310, 904, None, 17]}]},
            {"kind": "bar", "title": "Addresses by client family", "categories": ["conda", "mamba & co", "pixi"],
             "series": [{"name": "2024", "values": [500, 120, None]}, {"name": "2025", "values": [640, 310, 45]}]},
        ],
        "tables": [{"title": "Busiest addresses", "columns": ["address", "clients", "requests"],
                    "rows": [["a1", 412, 98231], ["a2", 388, None], ["a3", None, 1200]]}],
        "notes": ["Counts below 10 are suppressed."],
    },
    {
        "id": "top-packages",
        "title": "Most downloaded packages",
        "question": "Which packages are downloaded most?",
        "headline": [{"label": "packages", "value": 8123}],
        "charts": [
            {"kind": "hbar", "title": "Downloads by package", "x_label": "downloads",
             "categories": ["numpy", "python", "openssl", "a-rather-long-package-name-that-is-shortened", "tzdata"],
             "series": [{"name": "downloads", "values": [981234, 870001, 52344, 1200, None]}]},
        ],
    },
    {
        "id": "over-time",
        "title": "Activity over time",
        "question": "How does activity change day by day?",
        "charts": [
            {"kind": "line", "title": "Active clients per day", "x_label": "day", "y_label": "clients",
             "categories": [f"2025-03-{d:02d}" for d in range(1, 29)],
             "series": [{"name": "conda", "values": [1000 + 37 * d + (d % 7) * 90 if d != 9 else None
                                                     for d in range(28)]},
                        {"name": "mamba", "values": [300 + 11 * d if d not in (3, 4) else None for d in range(28)]}]},
            {"kind": "stacked-bar", "title": "Requests by platform", "y_label": "requests",
             "categories": ["linux-64", "osx-arm64", "win-64", "noarch"],
             "series": [{"name": "packages", "values": [5200, 3100, 2800, 900]},
                        {"name": "repodata", "values": [2100, None, 1500, 300]},
                        {"name": "other", "values": [400, 250, None, None]}]},
            {"kind": "line", "title": "Nothing yet", "categories": [], "series": []},
            {"kind": "hbar", "title": "Rare platforms", "categories": ["linux-ppc64le", "linux-s390x"],
             "series": [{"name": "clients", "values": [None, None]}]},
        ],
        "notes": ["Days with fewer than 10 clients are suppressed."],
    },
]
# chart id -> (None values, placeholder kind)
EXPECTED = {
    "clients-per-ip-0": (1, None), "clients-per-ip-1": (1, None), "top-packages-0": (1, None),
    "over-time-0": (3, None), "over-time-1": (3, None), "over-time-2": (0, "no-data"), "over-time-3": (0, "all-suppressed"),
}


class _Parsed(HTMLParser):
    """The document as a browser's tokenizer sees it: start tags with attributes, and text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _figures(html):
    return dict(re.findall(r'<figure class="chart[^"]*" data-chart="([^"]+)"[^>]*>(.*?)</figure>', html, re.S))


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_report_in_chromium_is_offline_and_draws_every_chart(tmp_path, width):
    path = tmp_path / "report.html"
    path.write_text(render_report("conda usage", "synthetic data", SECTIONS), encoding="utf-8")
    page = open_in_chromium(path, tmp_path / f"report-{width}.png", width=width)

    assert page.console_errors == []
    assert page.page_errors == []
    assert page.requests == [path.resolve().as_uri()]  # the document itself, nothing else
    assert page.network_requests == [] and page.failed_requests == []
    assert page.scroll_width <= width  # no horizontal scrolling, even on a phone
    assert [c.id for c in page.charts] == list(EXPECTED)
    for chart in page.charts:
        suppressed, empty = EXPECTED[chart.id]
        assert chart.svgs == 1, chart
        assert chart.width > 0 and chart.height > 0, chart
        assert chart.empty == empty, chart
        assert chart.suppressed == suppressed, chart
        if empty:
            assert chart.marks == 0, chart
        else:
            assert chart.width >= min(width - 100, 540), chart  # on a phone it scrolls rather than shrink its text
            assert chart.marks >= 1 and chart.drawn == chart.marks, chart  # every mark, suppressed too, is visible
    bars = {c.id: c.marks for c in page.charts}
    assert bars["clients-per-ip-0"] == 5 and bars["clients-per-ip-1"] == 6 and bars["over-time-1"] == 12
    assert bars["over-time-0"] > 2 * 28  # points, suppressed markers and the line pieces
    assert page.screenshot.stat().st_size > 10_000


@pytest.mark.slow
def test_the_browser_helper_catches_network_requests_and_errors(tmp_path):
    path = tmp_path / "bad.html"
    path.write_text('<!DOCTYPE html><img src="https://example.invalid/x.png">'
                    '<script>console.error("boom"); undefined_function();</script>', encoding="utf-8")
    page = open_in_chromium(path, tmp_path / "bad.png")
    assert page.network_requests == ["https://example.invalid/x.png"]
    assert "https://example.invalid/x.png" in page.failed_requests
    assert any("boom" in m for m in page.console_errors)
    assert any("undefined_function" in e for e in page.page_errors)
    assert page.charts == []


def test_every_label_and_value_is_escaped():
    evil = {
        "id": 'x"y', "title": EVIL, "question": EVIL, "headline": [{"label": EVIL, "value": EVIL}],
        "charts": [{"kind": kind, "title": EVIL, "x_label": EVIL, "y_label": EVIL, "categories": [EVIL, "a & b"],
                    "series": [{"name": EVIL, "values": [1, None]}, {"name": "'q'", "values": [2, 3]}]}
                   for kind in ("bar", "hbar", "line", "stacked-bar")],
        "tables": [{"title": EVIL, "columns": [EVIL], "rows": [[EVIL]]}], "notes": [EVIL],
    }
    html = render_report(EVIL, EVIL, [evil])
    parsed = _Parsed(html)
    assert "script" not in [tag for tag, _ in parsed.tags]
    text = "".join(parsed.text)
    assert text.count(EVIL) >= 20  # shown as text: title, headline, captions, legends, axes, tables, notes
    assert "a & b" in text and "'q'" in text
    assert ('section', {"id": 'x"y'}) in parsed.tags
    assert any(a.get("data-chart") == 'x"y-0' for _, a in parsed.tags)
    assert any(EVIL in a.get("aria-label", "") for tag, a in parsed.tags if tag == "svg")


def test_an_empty_or_all_suppressed_chart_is_a_placeholder():
    html = render_report("t", "s", [{"id": "q", "title": "Q", "charts": [
        {"kind": "bar", "title": "none", "categories": [], "series": [{"name": "n", "values": []}]},
        {"kind": "line", "title": "no series", "categories": ["a"], "series": []},
        {"kind": "stacked-bar", "title": "withheld", "categories": ["a", "b"],
         "series": [{"name": "n", "values": [None, None]}, {"name": "m", "values": [None, None]}]},
        {"kind": "hbar", "title": "one value", "categories": ["a", "b"], "series": [{"name": "n", "values": [None, 0]}]},
    ]}])
    figures = _figures(html)
    assert list(figures) == ["q-0", "q-1", "q-2", "q-3"]
    for key in ("q-0", "q-1"):
        assert 'data-empty="no-data"' in html.split(f'data-chart="{key}"')[1].split(">")[0]
        assert "No data" in figures[key] and 'class="mark' not in figures[key]
        assert figures[key].count("<svg") == 1
    assert "All 4 values suppressed" in figures["q-2"] and 'class="mark' not in figures["q-2"]
    assert figures["q-2"].count('<span class="suppressed"') == 4  # the data table still lists each withheld cell
    # one known value, even zero, is a chart, with its withheld neighbour drawn as a suppressed stub
    assert "data-empty" not in html.split('data-chart="q-3"')[1].split(">")[0]
    assert figures["q-3"].count('class="mark"') == 1 and figures["q-3"].count('class="mark suppressed"') == 1


def test_suppressed_values_are_marked_never_dropped():
    html = render_report("t", "s", SECTIONS)
    figures = _figures(html)
    for key, (suppressed, empty) in EXPECTED.items():
        if not empty:
            assert figures[key].count('class="mark suppressed"') == suppressed, key
    headline, table = html.split('<dl class="headline">')[1].split("</dl>")[0], html.split("<caption>")[1]
    assert headline.count('<span class="suppressed"') == 1
    assert table.split("</table>")[0].count('<span class="suppressed"') == 2
    assert 'href="#over-time"' in html and 'id="over-time"' in html


def test_numbers_are_formatted():
    assert [fmt(v) for v in (0, 7, 1234567, -12000, 3.0, 1.5, 12.25, 0.0423, 98765.4, 0.0, "n/a")] == [
        "0", "7", "1,234,567", "-12,000", "3", "1.5", "12.25", "0.0423", "98,765", "0", "n/a"]
    html = render_report("t", "s", SECTIONS)
    assert "1,234,567" in html and "1234567" not in html
    assert "<td class=num>98,231</td>" in html
    assert ">981,234<" in html  # the value printed at its horizontal bar
    assert ">1,000,000<" in html  # an axis tick
    assert re.search(r">12,840<", html)


@pytest.mark.parametrize("chart, message", [
    ({"kind": "pie", "categories": ["a"], "series": [{"name": "n", "values": [1]}]}, "unknown kind"),
    ({"kind": "bar", "categories": ["a", "b"], "series": [{"name": "n", "values": [1]}]}, "1 values for 2"),
    ({"kind": "bar", "categories": ["a"], "series": [{"name": "n", "values": ["1"]}]}, "not a finite number"),
    ({"kind": "bar", "categories": ["a"], "series": [{"name": "n", "values": [float("nan")]}]}, "not a finite"),
])
def test_malformed_charts_are_refused(chart, message):
    with pytest.raises(ValueError, match=message):
        render_report("t", "s", [{"id": "q", "charts": [chart]}])


def test_duplicate_section_ids_are_refused():
    with pytest.raises(ValueError, match="duplicate section ids: q"):
        render_report("t", "s", [{"id": "q"}, {"id": "q"}])
