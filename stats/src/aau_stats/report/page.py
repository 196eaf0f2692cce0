"""Render the analytics' answers as one self-contained HTML report.

The report is passed around as a file and opened from disk, often offline, so everything in it is
inline: the styles, and the charts, which are SVG drawn here in Python (no JavaScript, no fonts,
images or scripts from elsewhere; a Content-Security-Policy forbids them). Values withheld for
privacy arrive as ``None`` and are always drawn as visible "suppressed" marks, never dropped, so a
reader can tell a withheld value from a zero or a missing category.

``render_report(title, subtitle, sections)`` is the whole public interface; see its docstring for
the shape of a section.
"""

from __future__ import annotations

import html
import math
from itertools import count
from typing import Any, Iterator

KINDS = {"bar": "Bar chart", "hbar": "Horizontal bar chart", "line": "Line chart", "stacked-bar": "Stacked bar chart"}
# Okabe & Ito's colour-blind-safe palette (yellow left out: too pale on white).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000")
WIDTH = 720  # the SVG user-space width; the viewBox scales it to the page
CHAR = 6.4  # the average glyph width at 11px, for layout estimates
STUB = 12  # the fixed length of a suppressed marker: it stands for no value, so it must not look like one
LABEL_MAX = 28  # axis labels longer than this are shortened (the full text is the <title>)


def _e(value: Any) -> str:
    """HTML-escape anything, quotes included, so it is safe in text and in attributes."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """The display text of a value (unescaped): numbers get thousands separators and few decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000 or (value.is_integer() and value != 0):
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


SUPPRESSED = '<span class="suppressed" title="withheld">suppressed</span>'
SECONDARY = ('<span class="suppressed secondary" title="withheld: with the published totals it would give a'
             ' suppressed value back">suppressed</span>')


class Withheld:
    """A table or headline value withheld as secondary: drawn as suppressed, with its own tooltip."""

    def __repr__(self):
        return "WITHHELD"


WITHHELD = Withheld()


def _value_html(value: Any) -> str:
    """A headline or table value as HTML: ``None`` becomes the marked "suppressed" cell, :data:`WITHHELD`
    the same mark with a tooltip that says why."""
    if isinstance(value, Withheld):
        return SECONDARY
    return SUPPRESSED if value is None else _e(fmt(value))


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "\u2026"


def _label(x: float, y: float, label: str, anchor: str, cls: str = "tick", transform: str = "") -> str:
    """An SVG text label, shortened when long, with its full text as a tooltip."""
    short = _short(label)
    tip = f"<title>{_e(label)}</title>" if short != label else ""
    rot = f' transform="{transform}"' if transform else ""
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{rot}>{tip}{_e(short)}</text>'


def _ticks(lo: float, hi: float, integer: bool) -> list[float]:
    """About five round tick values covering ``lo..hi`` (whole numbers only for integer data)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / 5
    if integer:
        raw = max(raw, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(c for c in (m * mag for m in (1, 2, 2.5, 5, 10)) if c >= raw and (not integer or float(c).is_integer()))
    start = math.floor(round(lo / step, 9)) * step
    stop = math.ceil(round(hi / step, 9)) * step
    return [start + i * step for i in range(round((stop - start) / step) + 1)]


def _tick_text(t: float) -> str:
    return fmt(round(t)) if abs(t - round(t)) < 1e-9 else fmt(round(t, 9))


def _rect(x: float, y: float, w: float, h: float, colour: str, tip: str, hatch: str | None = None) -> str:
    """A bar; with ``hatch`` (a pattern id) it is a suppressed stub: hatched, outlined, dashed."""
    if hatch:
        return (f'<rect class="mark suppressed" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="url(#{hatch})" stroke="{colour}"><title>{_e(tip)}</title></rect>')
    return (f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{_e(tip)}</title></rect>")


class _Plot:
    """What every chart kind shares: categories, series, value range, tooltips, axis titles."""

    def __init__(self, chart: dict, categories: list[str], series: list[dict], hatch: str) -> None:
        self.chart, self.cats, self.series, self.hatch = chart, categories, series, hatch
        self.known = [v for s in series for v in s["values"] if v is not None]
        self.integer = all(isinstance(v, int) for v in self.known)
        self.lo, self.hi = min(0, *self.known), max(0, *self.known)

    def tip(self, s: dict, i: int, v: Any) -> str:
        name = f"{s['name']} \u00b7 " if len(self.series) > 1 else ""
        return f"{name}{self.cats[i]}: {'suppressed' if v is None else fmt(v)}"

    def colour(self, j: int) -> str:
        return PALETTE[j % len(PALETTE)]


def _vertical(p: _Plot, kind: str) -> tuple[list[str], float]:
    """Bar, stacked-bar and line charts: categories along x, values up y. Returns (parts, height)."""
    n, ns = len(p.cats), len(p.series)
    cols = [[s["values"][i] for s in p.series] for i in range(n)]
    if kind == "stacked-bar":
        p.lo = min(0, *(sum(v for v in c if v is not None and v < 0) for c in cols))
        p.hi = max(0, *(sum(v for v in c if v is not None and v > 0) for c in cols))
    ticks = _ticks(p.lo, p.hi, p.integer)
    lo, hi = ticks[0], ticks[-1]
    y_label, x_label = p.chart.get("y_label"), p.chart.get("x_label")
    left = 10 + (18 if y_label else 0) + max(len(_tick_text(t)) for t in ticks) * CHAR + 6
    plot_w = WIDTH - left - 14
    band = plot_w / n
    lab_w = max(len(_short(c)) for c in p.cats) * CHAR
    rotate = lab_w > band - 6
    every = max(1, math.ceil(16 / band)) if rotate else 1
    show_values = kind == "bar" and ns == 1 and n <= 24 and max(len(fmt(v)) for v in p.known) * CHAR <= band * 0.9
    stubs = max(sum(v is None for v in c) for c in cols) if kind == "stacked-bar" else 1
    top = 12 + STUB * stubs + (14 if show_values else 0)
    plot_h = 210
    height = top + plot_h + 8 + (lab_w * 0.64 + 14 if rotate else 16) + (20 if x_label else 0)

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    parts = []
    for t in ticks:
        parts.append(f'<line class="grid" x1="{left:.1f}" x2="{WIDTH - 14}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>')
        parts.append(_label(left - 6, y(t) + 4, _tick_text(t), "end"))
    for i, c in enumerate(p.cats):
        cx = left + band * (i + 0.5)
        ly = top + plot_h + (14 if rotate else 16)
        if i % every == 0:
            turn = f"rotate(-40 {cx:.1f} {ly:.1f})" if rotate else ""
            parts.append(_label(cx, ly, c, "end" if rotate else "middle", transform=turn))
    if x_label:
        parts.append(_label(left + plot_w / 2, height - 6, str(x_label), "middle", "axis-title"))
    if y_label:
        mid = top + plot_h / 2
        parts.append(_label(14, mid, str(y_label), "middle", "axis-title", f"rotate(-90 14 {mid:.1f})"))
    base = y(0)
    if kind == "line":
        r = 3 if n <= 60 else 2
        for j, s in enumerate(p.series):
            run: list[str] = []
            for i, v in enumerate([*s["values"], None]):
                if v is not None:
                    run.append(f"{left + band * (i + 0.5):.1f},{y(v):.1f}")
                    continue
                if len(run) > 1:
                    parts.append(f'<polyline class="mark line" points="{" ".join(run)}" fill="none" '
                                 f'stroke="{p.colour(j)}" stroke-width="2" stroke-linejoin="round"/>')
                run = []
            for i, v in enumerate(s["values"]):
                cx = left + band * (i + 0.5)
                if v is None:
                    d = f"M{cx:.1f},{base - 6:.1f}l6,6l-6,6l-6,-6z"
                    parts.append(f'<path class="mark suppressed" d="{d}" fill="url(#{p.hatch})" stroke="{p.colour(j)}">'
                                 f"<title>{_e(p.tip(s, i, v))}</title></path>")
                else:
                    parts.append(f'<circle class="mark" cx="{cx:.1f}" cy="{y(v):.1f}" r="{r}" fill="{p.colour(j)}">'
                                 f"<title>{_e(p.tip(s, i, v))}</title></circle>")
    elif kind == "stacked-bar":
        bw = band * 0.7
        for i, c in enumerate(cols):
            x = left + band * i + (band - bw) / 2
            up = down = 0.0
            for j, v in enumerate(c):
                if v is None:
                    continue
                start = up if v >= 0 else down
                end = start + v
                tip = p.tip(p.series[j], i, v)
                parts.append(_rect(x, min(y(start), y(end)), bw, abs(y(end) - y(start)), p.colour(j), tip))
                up, down = (end, down) if v >= 0 else (up, end)
            k = 0
            for j, v in enumerate(c):
                if v is None:
                    k += 1
                    parts.append(_rect(x, y(up) - STUB * k, bw, STUB, p.colour(j), p.tip(p.series[j], i, v), p.hatch))
    else:
        group = band * (0.8 if ns > 1 else 0.7)
        bw = group / ns
        gap = 1 if ns > 1 else 0
        for j, s in enumerate(p.series):
            for i, v in enumerate(s["values"]):
                x = left + band * i + (band - group) / 2 + j * bw
                if v is None:
                    parts.append(_rect(x, base - STUB, bw - gap, STUB, p.colour(j), p.tip(s, i, v), p.hatch))
                    continue
                parts.append(_rect(x, min(y(v), base), bw - gap, max(abs(base - y(v)), 1), p.colour(j), p.tip(s, i, v)))
                if show_values:
                    parts.append(_label(x + bw / 2, min(y(v), base) - 4, fmt(v), "middle", "value"))
    parts.append(f'<line class="axis" x1="{left:.1f}" x2="{WIDTH - 14}" y1="{base:.1f}" y2="{base:.1f}"/>')
    return parts, height


def _horizontal(p: _Plot) -> tuple[list[str], float]:
    """Horizontal bars: categories down y (labels on the left), values along x, each value printed at its bar."""
    n, ns = len(p.cats), len(p.series)
    ticks = _ticks(p.lo, p.hi, p.integer)
    lo, hi = ticks[0], ticks[-1]
    y_label, x_label = p.chart.get("y_label"), p.chart.get("x_label")
    left = 10 + (18 if y_label else 0) + max(len(_short(c)) for c in p.cats) * CHAR + 8
    has_none = len(p.known) < n * ns
    right = 12 + max(max(len(fmt(v)) for v in p.known) * CHAR, (STUB + 70) if has_none else 0,
                     len(_tick_text(hi)) * CHAR / 2)
    plot_w = WIDTH - left - right
    band = max(22, 8 + 14 * ns)
    top, plot_h = 8, band * n
    height = top + plot_h + 24 + (20 if x_label else 0)

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    parts = []
    for t in ticks:
        parts.append(f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{top + plot_h}"/>')
        parts.append(_label(x(t), top + plot_h + 16, _tick_text(t), "middle"))
    if x_label:
        parts.append(_label(left + plot_w / 2, height - 6, str(x_label), "middle", "axis-title"))
    if y_label:
        mid = top + plot_h / 2
        parts.append(_label(14, mid, str(y_label), "middle", "axis-title", f"rotate(-90 14 {mid:.1f})"))
    group = band * 0.75
    bh = group / ns
    base = x(0)
    for i, c in enumerate(p.cats):
        parts.append(_label(left - 8, top + band * (i + 0.5) + 4, c, "end"))
        for j, s in enumerate(p.series):
            v = s["values"][i]
            y0 = top + band * i + (band - group) / 2 + j * bh
            if v is None:
                parts.append(_rect(base, y0, STUB, bh - (1 if ns > 1 else 0), p.colour(j), p.tip(s, i, v), p.hatch))
                parts.append(_label(base + STUB + 4, y0 + bh / 2 + 4, "suppressed", "start", "value withheld"))
                continue
            parts.append(_rect(min(x(v), base), y0, max(abs(x(v) - base), 1), bh - (1 if ns > 1 else 0),
                               p.colour(j), p.tip(s, i, v)))
            parts.append(_label(max(x(v), base) + 4, y0 + bh / 2 + 4, fmt(v), "start", "value"))
    parts.append(f'<line class="axis" x1="{base:.1f}" x2="{base:.1f}" y1="{top}" y2="{top + plot_h}"/>')
    return parts, height


def _table(title: str, columns: list[Any], rows: list[list[Any]], cls: str = "") -> str:
    """A small HTML table; numeric columns right-aligned, ``None`` cells marked "suppressed"."""
    numeric = [
        any(isinstance(r[k], (int, float)) and not isinstance(r[k], bool) for r in rows if k < len(r))
        for k in range(len(columns))
    ]
    head = "".join(f'<th scope="col"{" class=num" if numeric[k] else ""}>{_e(c)}</th>' for k, c in enumerate(columns))
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if k < len(numeric) and numeric[k] else ""}>{_value_html(v)}</td>'
                         for k, v in enumerate(r)) + "</tr>"
        for r in rows
    )
    caption = f"<caption>{_e(title)}</caption>" if title else ""
    return (f'<div class="table-wrap{cls}"><table>{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _chart(chart: dict, chart_id: str, uid: int) -> str:
    """One ``<figure class="chart">`` with exactly one SVG (a placeholder when there is nothing to draw)."""
    kind = chart.get("kind", "bar")
    if kind not in KINDS:
        raise ValueError(f"chart {chart_id}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    title = str(chart.get("title", ""))
    cats = [str(c) for c in chart.get("categories", [])]
    series = [{"name": str(s.get("name", "")), "values": list(s.get("values", []))} for s in chart.get("series", [])]
    for s in series:
        if len(s["values"]) != len(cats):
            raise ValueError(f"chart {chart_id}: series {s['name']!r} has {len(s['values'])} values"
                             f" for {len(cats)} categories")
        for v in s["values"]:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise ValueError(f"chart {chart_id}: value {v!r} is not a finite number or None")
    suppressed = sum(v is None for s in series for v in s["values"])
    data = ""
    if cats and series:
        rows = [[c, *(s["values"][i] for s in series)] for i, c in enumerate(cats)]
        data = ('<details class="data"><summary>Data</summary>'
                f'{_table("", [chart.get("x_label") or "category", *(s["name"] for s in series)], rows)}</details>')
    hatch = f"hatch{uid}"
    defs = (f'<defs><pattern id="{hatch}" width="5" height="5" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="5" height="5" fill="#fff"/>'
            '<line x1="0" y1="0" x2="0" y2="5" stroke="#8c959f" stroke-width="2"/></pattern></defs>')
    if not cats or not series or suppressed == len(cats) * len(series):
        empty, message = (("all-suppressed", f"All {suppressed:,} values suppressed") if cats and series
                          else ("no-data", "No data"))
        fill = f"url(#{hatch})" if empty == "all-suppressed" else "none"
        svg = (f'<svg class="placeholder" viewBox="0 0 {WIDTH} 90" role="img" aria-label="{_e(title)}: {message}">'
               f'{defs}<rect class="frame" x="1" y="1" width="{WIDTH - 2}" height="88" rx="6" fill="{fill}"/>'
               f'<text x="{WIDTH / 2}" y="51" text-anchor="middle">{message}</text></svg>')
        return (f'<figure class="chart empty" data-chart="{_e(chart_id)}" data-empty="{empty}">'
                f"<figcaption>{_e(title)}</figcaption>{svg}{data}</figure>")
    plot = _Plot(chart, cats, series, hatch)
    parts, height = _horizontal(plot) if kind == "hbar" else _vertical(plot, kind)
    keys = [f'<li><span class="swatch" style="background:{plot.colour(j)}"></span>{_e(s["name"])}</li>'
            for j, s in enumerate(series)] if len(series) > 1 else []
    if suppressed:
        keys.append('<li><span class="swatch hatch"></span>suppressed (value withheld)</li>')
    legend = f'<ul class="legend">{"".join(keys)}</ul>' if keys else ""
    label = f"{KINDS[kind]}: {title}. {len(cats):,} categories"
    if len(series) > 1:
        label += "; series " + ", ".join(s["name"] for s in series)
    if suppressed:
        label += f"; {suppressed:,} values suppressed"
    svg = (f'<div class="plot"><svg viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{_e(label)}">{defs}'
           f'{"".join(parts)}</svg></div>')
    return (f'<figure class="chart" data-chart="{_e(chart_id)}"><figcaption>{_e(title)}{legend}</figcaption>'
            f"{svg}{data}</figure>")


def _section(section: dict, uids: Iterator[int]) -> str:
    """One question's answer: title, question, headline numbers, charts, tables, notes."""
    sid = str(section["id"])
    out = [f'<section id="{_e(sid)}"><h2>{_e(section.get("title", sid))}</h2>']
    if section.get("question"):
        out.append(f'<p class="question">{_e(section["question"])}</p>')
    if section.get("headline"):
        items = "".join(f"<div><dt>{_e(h.get('label', ''))}</dt><dd>{_value_html(h.get('value'))}</dd></div>"
                        for h in section["headline"])
        out.append(f'<dl class="headline">{items}</dl>')
    out.extend(_chart(c, f"{sid}-{k}", next(uids)) for k, c in enumerate(section.get("charts") or []))
    out.extend(_table(str(t.get("title", "")), list(t.get("columns", [])), [list(r) for r in t.get("rows", [])])
               for t in section.get("tables") or [])
    if section.get("notes"):
        out.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in section["notes"]) + "</ul>")
    out.append("</section>")
    return "".join(out)


CSS = """
:root{color-scheme:light;--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--accent:#0072b2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
 font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
header,main{max-width:60rem;margin:0 auto;padding:0 1rem}
header{padding-top:2rem}
h1{font-size:1.9rem;line-height:1.2;margin:0 0 .3rem}
.subtitle{color:var(--muted);margin:0 0 1rem}
nav h2{font-size:.8rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:0 0 .3rem}
nav ol{margin:0;padding-left:1.4rem;columns:2 16rem}
a{color:var(--accent)}
.key{font-size:.85rem;color:var(--muted)}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:1.25rem 1.5rem;margin:1.25rem 0}
section h2{font-size:1.3rem;margin:0}
.question{color:var(--muted);font-style:italic;margin:.2rem 0 1rem}
.headline{display:flex;flex-wrap:wrap;gap:.75rem;margin:0 0 1rem}
.headline div{display:flex;flex-direction:column-reverse;min-width:9rem;padding:.5rem .9rem;
 border-left:3px solid var(--accent);background:var(--bg);border-radius:0 4px 4px 0}
.headline dt{color:var(--muted);font-size:.85rem}
.headline dd{margin:0;font-size:1.5rem;font-weight:600;font-variant-numeric:tabular-nums}
figure.chart{margin:1.5rem 0 1rem}
figcaption{font-weight:600;margin-bottom:.4rem}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:.2rem 1.1rem;padding:0;margin:.2rem 0 0;
 font-weight:400;font-size:.85rem;color:var(--muted)}
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.35rem;vertical-align:-.1rem}
.swatch.hatch{background:repeating-linear-gradient(45deg,#8c959f 0 1.5px,#fff 1.5px 4px);outline:1px dashed #59636e}
svg{display:block;width:100%;height:auto;overflow:visible}
.plot{overflow-x:auto}
.plot svg{min-width:34rem}
svg text{font-size:11px;fill:var(--muted)}
svg .axis-title{fill:var(--ink)}
svg .value{fill:var(--ink)}
svg .withheld{font-style:italic;fill:var(--muted)}
.grid{stroke:#eaeef2}
.axis{stroke:#8c959f}
.mark.suppressed{stroke-dasharray:3 2;stroke-width:1.2}
.placeholder .frame{stroke:#8c959f;stroke-dasharray:6 4;fill-opacity:.45}
.placeholder text{font-size:15px;font-weight:600;fill:var(--muted);paint-order:stroke;stroke:#fff;stroke-width:6px}
span.suppressed{font-style:italic;font-size:.85em;color:var(--muted);padding:0 .3em;border:1px dashed #8c959f;
 border-radius:3px;background:repeating-linear-gradient(45deg,#f0f2f4 0 3px,#fff 3px 6px)}
.table-wrap{overflow-x:auto;margin:1rem 0}
table{border-collapse:collapse;width:100%;font-size:.9rem}
caption{text-align:left;font-weight:600;padding-bottom:.3rem}
th,td{padding:.3rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;background:var(--bg)}
.num{text-align:right;font-variant-numeric:tabular-nums}
details.data{font-size:.85rem}
details.data summary{cursor:pointer;color:var(--muted)}
.notes{color:var(--muted);font-size:.9rem;margin:1rem 0 0;padding-left:1.2rem}
@media (max-width:40rem){section{padding:1rem}h1{font-size:1.5rem}}
@media print{body{background:#fff}section{break-inside:avoid;border:0;padding:0}details.data{display:none}}
"""


def render_report(title: str, subtitle: str, sections: list[dict], key: str = "") -> str:
    """Return one self-contained HTML document answering ``sections``, in order; ``key`` adds to the
    page's legend of withheld values.

    A section is ``{"id", "title", "question", "headline": [{"label", "value"}], "charts": [...],
    "tables": [{"title", "columns", "rows"}], "notes": [str]}`` (all but ``id`` optional). A chart is
    ``{"kind": "bar" | "hbar" | "line" | "stacked-bar", "title", "x_label", "y_label", "categories":
    [str], "series": [{"name", "values": [number | None]}]}``; for ``hbar`` ``x_label`` names the
    horizontal (value) axis and ``y_label`` the categories. ``None`` anywhere means "suppressed" and is
    shown as such; :data:`WITHHELD` in a headline or table too, with a tooltip saying it is
    secondary. Raises ``ValueError`` on a duplicate section id, an unknown chart kind, a series
    whose length differs from the categories', or a value that is neither a finite number nor None.
    """
    ids = [str(s["id"]) for s in sections]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate section ids: {', '.join(duplicates)}")
    uids = count()
    nav = "".join(f'<li><a href="#{_e(s["id"])}">{_e(s.get("title", s["id"]))}</a></li>' for s in sections)
    body = "".join(_section(s, uids) for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{_e(title)}</h1>
<p class="subtitle">{_e(subtitle)}</p>
<nav aria-label="Contents"><h2>Contents</h2><ol>{nav}</ol></nav>
<p class="key">Hatched, dashed marks and {SUPPRESSED} cells stand for values that are withheld, not for zeros.{_e(key)}</p>
</header>
<main>
{body}
</main>
</body>
</html>
"""

