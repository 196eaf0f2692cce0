"""The public dataset's disclosure control, decided in SQL, protects as the general elimination does.

:func:`aau_stats.publish.protect_cells` decides the dataset's cells in DuckDB for the shapes its relations
take. Each test builds the whole problem (every cell and relation) as :mod:`aau_stats.disclosure` has it and
checks, with that module's independent :func:`~aau_stats.disclosure.recovered`, that no withheld value comes
back, except zeros a published zero month already gives away (a month of 0 updates has no update in any
hour, and zeros are never withheld to hide that).
"""

import datetime

import duckdb
import pytest
from aau_stats import publish
from aau_stats.disclosure import recovered
from aau_stats.ingest import ingest
from aau_stats.questions import DuckDBEngine, Scope
from aau_stats.simulate import Config, simulate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COLUMNS = [*publish.LABELS, *publish.VALUES, "_sources", "_ci", "_month", "_day", "_n"]


def cells_of(con, tables, k):
    name, count = publish.protect_cells(con, tables, k)
    found = {(kind, n, c) for kind, n, mask in con.execute("SELECT * FROM %s" % name).fetchall()
             for c in publish.VALUES if mask & publish.BIT[c]}
    assert len(found) == count
    return found


def given_away(problem, withheld, monthly, hourly, columns):
    """The withheld cells the relations give back, less the zeros of a column whose month is a published 0."""
    index = {c: i for i, c in enumerate(columns)}
    months = {}
    for n, row in enumerate(monthly):
        months[(*(row[index[c]] for c in publish.LABELS if c != "time"), row[index["_month"]])] = n
    back = set()
    for kind, n, column in recovered(problem, {cell: "w" for cell in withheld}):
        row = (hourly if kind == "h" else monthly)[n]
        m = months[(*(row[index[c]] for c in publish.LABELS if c != "time"), row[index["_month"]])]
        if not (row[index[column]] == 0 and monthly[m][index[column]] == 0 and ("m", m, column) not in withheld):
            back.add((kind, n, column))
    return back


@pytest.fixture(scope="module", params=[4, 7])
def grouped(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("sim-%d" % request.param)
    simulate(Config(seed=request.param, days=35), out)
    ingest([str(out / "access.log")], out / "store.duckdb")
    engine = DuckDBEngine(out / "store.duckdb")
    rows = engine.keep(publish._rows_sql(Scope(engine, None), publish.DEFAULT_SOURCES))
    tables = {"h": engine.keep(publish._grouped_sql(rows, "hour")), "m": engine.keep(publish._grouped_sql(rows, "month"))}
    columns, hourly = engine.rows("SELECT * FROM %s ORDER BY _n" % tables["h"])
    _, monthly = engine.rows("SELECT * FROM %s ORDER BY _n" % tables["m"])
    yield engine.con, tables, columns, hourly, monthly
    engine.close()


@pytest.mark.parametrize("k", [3, 10])
def test_nothing_withheld_comes_back_and_no_more_is_lost_than_by_the_general_elimination(grouped, k):
    con, tables, columns, hourly, monthly = grouped
    fast = cells_of(con, tables, k)
    general = publish._protect(hourly, monthly, columns, k)
    problem = publish._problem(hourly, monthly, columns, k)
    assert given_away(problem, fast, monthly, hourly, columns) == set()
    primary = {cell for cell, kind in problem.solve()[0].items() if kind == "primary"}
    assert primary <= fast and len(primary) > 1000
    # the same choices, but for ties and a whole hour taken where fewer of its cells would do
    assert len(fast ^ general) <= len(general) // 500 + 8


def table(con, name, rows):
    con.execute("CREATE OR REPLACE TEMP TABLE %s (data_source VARCHAR, time %s, pkg_name VARCHAR, pkg_version VARCHAR,"
                " pkg_platform VARCHAR, pkg_python VARCHAR, %s, _sources BIGINT, _ci BIGINT, _month VARCHAR,"
                " _day DATE, _n BIGINT)" % (name, "TIMESTAMP" if name == "h" else "VARCHAR",
                                             ", ".join("%s BIGINT" % c for c in publish.VALUES)))
    if rows:
        con.executemany("INSERT INTO %s VALUES (%s)" % (name, ", ".join("?" * len(COLUMNS))), rows)


@st.composite
def components(draw):
    """Months of one package: hours with tokens' downloads, others without, some CI; now and then a value
    the row's clients are not behind (which the general elimination decides)."""
    hourly, monthly = [], []
    for month in range(draw(st.integers(1, 3))):
        hours = []
        for _ in range(draw(st.integers(1, 8))):
            clients = draw(st.integers(0, 14))
            kinds = [draw(st.integers(0, 4)) for _ in range(3)] if clients else [0, 0, 0]
            if clients and not any(kinds):
                kinds[0] = 1
            if draw(st.integers(0, 30)) == 0:  # odd: downloads with an environment token and no client token
                clients, kinds = 0, [1, 0, 0]
            untokened = draw(st.integers(0, 3)) if any(kinds) else draw(st.integers(1, 3))
            ci = draw(st.integers(0, sum(kinds)))
            ci_clients = min(clients, draw(st.integers(1, 3))) if ci and clients else 0
            ci = ci if ci_clients else 0
            tokened = sum(kinds)
            hours.append([tokened + untokened, clients, clients, *kinds, ci, ci_clients, tokened,
                          clients + untokened, ci_clients])
        when = datetime.date(2026, 1 + month, 1)
        for hour, values in enumerate(hours):
            hourly.append(["anaconda", datetime.datetime(2026, 1 + month, 1, hour), "pkg", "1.0", "linux-64", None,
                           *values, "2026-%02d" % (1 + month), when, len(hourly)])
        total = [sum(h[i] for h in hours) for i in range(len(hours[0]))]
        monthly.append(["anaconda", "2026-%02d" % (1 + month), "pkg", "1.0", "linux-64", None, *total,
                        "2026-%02d" % (1 + month), when, len(monthly)])
    return hourly, monthly


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(components(), st.sampled_from([3, 5, 10]))
def test_random_components(shapes, k):
    hourly, monthly = shapes
    con = duckdb.connect()
    table(con, "h", hourly)
    table(con, "m", monthly)
    fast = cells_of(con, {"h": "h", "m": "m"}, k)
    problem = publish._problem(hourly, monthly, COLUMNS, k)
    assert given_away(problem, fast, monthly, hourly, COLUMNS) == set()
    primary = {cell for cell, kind in problem.solve()[0].items() if kind == "primary"}
    assert primary <= fast


def test_a_lone_hour_takes_the_smallest_other_with_it():
    con = duckdb.connect()
    when = datetime.date(2026, 3, 1)

    def hour(n, counts, sources):
        return ["anaconda", datetime.datetime(2026, 3, 1, n), "pkg", "1.0", "noarch", None, counts, 0, 0, 0, 0, 0,
                0, 0, 0, sources, 0, "2026-03", when, n]

    hours = [hour(0, 40, 30), hour(1, 2, 2), hour(2, 25, 20), hour(3, 12, 11)]
    table(con, "h", hours)
    table(con, "m", [["anaconda", "2026-03", "pkg", "1.0", "noarch", None, 79, 0, 0, 0, 0, 0, 0, 0, 0, 63, 0,
                      "2026-03", when, 0]])
    assert {c for c in cells_of(con, {"h": "h", "m": "m"}, 10) if c[2] == "counts"} == {
        ("h", 1, "counts"), ("h", 3, "counts")}


def test_a_lone_hour_of_few_clients_takes_hours_that_cover_each_of_its_columns():
    con = duckdb.connect()
    when = datetime.date(2026, 3, 1)

    def hour(n, clients, new, updates, redownloads):
        tokened = new + updates + redownloads
        return ["anaconda", datetime.datetime(2026, 3, 1, n), "pkg", "1.0", "noarch", None, tokened, clients, clients,
                new, updates, redownloads, 0, 0, tokened, clients, 0, "2026-03", when, n]

    # hour 1 (4 clients) is withheld whole; its updates (0) would come back from the month's and the
    # published hours' updates unless an hour with updates is withheld too: hour 3, the smallest with one
    hours = [hour(0, 30, 20, 0, 20), hour(1, 4, 3, 0, 1), hour(2, 12, 5, 0, 9), hour(3, 20, 2, 3, 10)]
    table(con, "h", hours)
    month = [sum(h[i] for h in hours) if isinstance(hours[0][i], int) and i > 5 else hours[0][i] for i in range(20)]
    month[1], month[-1] = "2026-03", 0
    table(con, "m", [month])
    found = cells_of(con, {"h": "h", "m": "m"}, 10)
    block = {"tokened_counts", "new_installs", "updates", "redownloads"}
    assert {(kind, n) for kind, n, c in found if c in block} == {("h", 1), ("h", 3)}
    assert ("h", 2, "updates") not in found  # a zero is never withheld to protect another
    problem = publish._problem(hours, [month], COLUMNS, 10)
    assert recovered(problem, {cell: "w" for cell in found}) == set()
