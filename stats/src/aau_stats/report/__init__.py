"""The report: every question asked of the store, suppressed for publication, drawn as one HTML page.

Each answer becomes a section with its headline numbers, a chart or two and
its main table; the page is written by :func:`.page.render_report`.
Seats appear only when the report is scoped to an organization (``--org`` or
``--ips``), exposure only when advisories are given.
"""

import datetime

from .. import __version__
from ..files import write_atomically
from ..questions import QUESTIONS as _QUESTIONS
from ..questions import DuckDBEngine, Scope, computed, published
from .page import WITHHELD, render_report

TABLE_ROWS = 15


def _values(table, column, rows=None):
    index = table.columns.index(column)
    return [row[index] for row in (table.rows if rows is None else rows)]


def _chart(kind, title, table, label, series, x_label="", y_label="", rows=None):
    rows = table.rows if rows is None else rows
    return {"kind": kind, "title": title, "x_label": x_label, "y_label": y_label,
            "categories": [str(v) for v in _values(table, label, rows)],
            "series": [{"name": name, "values": _values(table, column, rows)} for column, name in series]}


def _table(table, limit=TABLE_ROWS):
    records = table.records()[:limit]
    return {"title": table.title + ("" if len(table.rows) <= limit else " (first %d of %d)" % (limit, len(table.rows))),
            "columns": table.shown,
            "rows": [[WITHHELD if c in r["secondary"] else r[c] for c in table.shown] for r in records]}


def _pivot(table, row_label, column_label, value, title, kind="stacked-bar", x_label="", y_label=""):
    """A chart of ``value`` with ``row_label`` along the axis and one series per ``column_label``."""
    rows, cols, cells = [], [], {}
    for record in table.records():
        r, c = str(record[row_label]), str(record[column_label])
        rows += [r] if r not in rows else []
        cols += [c] if c not in cols else []
        cells[r, c] = record[value]
    return {"kind": kind, "title": title, "x_label": x_label, "y_label": y_label, "categories": rows,
            "series": [{"name": c, "values": [cells.get((r, c), 0) for r in rows]}
                       for c in cols]}


def _charts(answer):
    q = answer.question
    if q == "clients-per-ip":
        d = answer.table("distribution")
        return [_chart("bar", d.title, d, "clients_per_address", [("addresses", "addresses")],
                       "clients behind the address", "addresses"),
                _chart("bar", "Distinct clients beside naive unique visitors", d, "clients_per_address",
                       [("clients", "distinct clients"), ("naive_visitors", "naive unique visitors")],
                       "clients behind the address", "count")], ["addresses"]
    if q == "lifecycles":
        return [_pivot(answer.table("monthly"), "month", "lifecycle", "active_clients",
                       "Active clients by month and lifecycle", x_label="month", y_label="clients"),
                _chart("hbar", "Requests without a client token", answer.table("untokened"), "sender",
                       [("requests", "requests")], "requests")], ["summary", "untokened"]
    if q == "environments":
        roles = answer.table("roles").records()
        return [_chart("bar", "Clients by number of environments", answer.table("per_client"),
                       "environments_per_client", [("clients", "clients")], "environments", "clients"),
                {"kind": "hbar", "title": "Environments by role and the rule that decided", "x_label": "environments",
                 "y_label": "", "categories": ["%s (%s)" % (r["role"], r["rule"]) for r in roles],
                 "series": [{"name": "environments", "values": [r["environments"] for r in roles]}]}], ["roles"]
    if q == "installs":
        t = answer.table("installs")
        totals = {}
        for record in t.records():
            entry = totals.setdefault(record["package"], [0, 0, 0, 0])
            for i, column in enumerate(("new_installs", "updates", "redownloads", "first_in_older_env")):
                entry[i] = None if entry[i] is None or record[column] is None else entry[i] + record[column]
        top = sorted(totals.items(), key=lambda item: -sum(v or 0 for v in item[1]))[:12]
        names = ("new installs", "updates", "re-downloads", "first in an older environment")
        return [{"kind": "stacked-bar", "title": "Installs, updates and re-downloads of the busiest packages",
                 "x_label": "package", "y_label": "downloads", "categories": [name for name, _ in top],
                 "series": [{"name": n, "values": [v[i] for _, v in top]} for i, n in enumerate(names)]}], ["installs"]
    if q == "exposure":
        t = answer.table("advisories")
        return [_chart("bar", "Environments exposed and remediated", t, "advisory",
                       [("environments_exposed", "exposed"), ("environments_remediated", "remediated")],
                       "advisory", "environments")], ["advisories"]
    if q == "popularity":
        t = answer.table("popularity")
        return [_chart("hbar", "Packages by distinct clients", t, "pkg_name",
                       [("clients", "clients")], "distinct clients", rows=t.rows[:15])], ["popularity"]
    if q == "seats":
        t = answer.table("monthly")
        return [_chart("bar", "Clients and seats by month", t, "month",
                       [("clients", "clients"), ("long_lived_clients", "long-lived (seats)"),
                        ("machines", "machines")], "month", "count")], ["monthly"]
    t = answer.table("daily")
    return [_chart("line", "Active environments per day", t, "day",
                   [("environments_by_heartbeat", "by heartbeat"), ("environments_by_any_request", "by any request")],
                   "day", "environments")], ["daily"]


QUESTION_LINE = {
    "clients-per-ip": "How many installations sit behind one IP address?",
    "lifecycles": "How many are CI jobs, how many long-lived desktops?",
    "environments": "How many environments per installation; which are base, which child?",
    "installs": "Which downloads are new installs, which updates?",
    "exposure": "How many installations took a vulnerable version, and how many were remediated?",
    "popularity": "Which packages are popular, by distinct clients rather than raw downloads?",
    "seats": "How many installations and machines does this organization have?",
    "activity": "How many environments are in use each day?",
}


def section(answer):
    charts, tables = _charts(answer)
    return {"id": answer.question, "title": answer.title, "question": QUESTION_LINE[answer.question],
            "headline": [{"label": h.label, "value": WITHHELD if h.secondary else h.value} for h in answer.headline],
            "charts": charts, "tables": [_table(answer.table(name)) for name in tables], "notes": answer.notes}


def build_report(db, filters=None, min_clients=10, advisories=None, engine=None):
    """The report's HTML for the store at ``db`` (or on ``engine``, an open one)."""
    answers = []
    with engine or DuckDBEngine(db) as engine:
        scope = Scope(engine, filters, min_clients)
        for name in _QUESTIONS:
            if name == "exposure" and not advisories:
                continue
            if name == "seats" and scope.filters.org is None and scope.filters.ips is None:
                continue
            options = {"advisories": advisories} if name == "exposure" else {}
            answers.append(computed(scope, name, **options))
        answers = published(answers, min_clients)
        span = engine.rows("SELECT min(day), max(day), count(*) FROM %s r" % scope.requests())[1][0]
    described = ", ".join("%s %s" % item for item in scope.filters.describe().items()) or "no filters"
    subtitle = "%s to %s, %s requests (%s). Values backed by fewer than %d distinct clients are suppressed." \
               " Made by aau-stats %s on %s." % (span[0], span[1], "{:,}".format(span[2]), described, min_clients,
                                                  __version__, datetime.date.today())
    primary = sum(_count(a, False) for a in answers)
    secondary = sum(_count(a, True) for a in answers)
    key = (" A value is withheld when fewer than %d distinct clients back it (primary: %d in these answers), or when,"
           " with the totals published beside it, it would give such a value back by subtraction (secondary: %d;"
           " its tooltip says so). Shares and means of withheld values are withheld too." % (
               min_clients, primary, secondary)) if min_clients > 1 else ""
    return render_report("conda usage from anonymous tokens", subtitle, [section(a) for a in answers], key)


def _count(answer, secondary):
    """The withheld values of ``answer``, primary or secondary."""
    cells = [h.secondary for h in answer.headline if h.suppressed]
    for table in answer.tables:
        for row in table.rows:
            cells.extend(c in row.secondary for c in getattr(row, "suppressed", ()))
    return sum(kind == secondary for kind in cells)


def write_report(db, out, filters=None, min_clients=10, advisories=None, engine=None):
    html = build_report(db, filters, min_clients, advisories, engine)
    return write_atomically(out, html)
