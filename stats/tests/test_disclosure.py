"""Disclosure control: no withheld value can be given back from what is published.

An attack (``attack.py``) that knows nothing of the relations the questions
declare is run over every question's JSON and every report answer of the
hand-written population and of simulated ones (three seeds), at k = 3 and
k = 10. It must find nothing; with secondary suppression turned off it must
find something, so that it is known to be able to. A Hypothesis property
checks the Gaussian elimination on random tables against an independent
rank test.
"""

import itertools
from fractions import Fraction

import attack
import pytest
from aau_stats import disclosure
from aau_stats.ingest import ingest
from aau_stats.questions import Advisory, read_advisories
from aau_stats.simulate import Config, simulate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from question_logs import population_log

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def populations(tmp_path_factory):
    out = []
    hand = tmp_path_factory.mktemp("hand")
    (hand / "access.log").write_text(population_log())
    ingest([str(hand / "access.log")], hand / "store.duckdb")
    out.append((hand / "store.duckdb", "acme", [Advisory("numpy-bad", "numpy", ">=1.26.0,<1.26.4", "1.26.4")]))
    for seed in SEEDS:
        sim = tmp_path_factory.mktemp("sim%d" % seed)
        simulate(Config(seed=seed), sim)
        ingest([str(sim / "access.log")], sim / "store.duckdb")
        out.append((sim / "store.duckdb", "acme-0", read_advisories(sim / "advisories.csv")))
    return out


@pytest.fixture(scope="module")
def attacked(populations):
    return attack.run(populations, ks=(3, 10))


def test_the_attack_finds_nothing(attacked):
    found, withheld = attacked
    assert sum(len(w) for w in withheld.values()) > 1000  # there was something to find
    recovered = {key: sorted(f.items())[:5] for key, f in found.items() if f}
    assert recovered == {}


def test_without_secondary_suppression_the_attack_finds_values(populations, monkeypatch):
    """The control: with the relations ignored (the threshold rule alone, as before this module), the same
    attack gives values back, on the simulated population at k = 10."""
    monkeypatch.setattr(disclosure.Problem, "_usable", lambda self, relations=None: ([], 0))
    found, _ = attack.run(populations[1:3], ks=(10,))
    assert sum(len(f) for f in found.values()) >= 5


def test_notes_count_primary_and_secondary(populations):
    import json

    from aau_stats.output import to_json
    from aau_stats.questions import ask

    db = populations[1][0]
    for question in ("clients-per-ip", "lifecycles", "environments", "installs", "popularity", "activity"):
        data = json.loads(to_json(ask(question, db, min_clients=10)))
        cells = [(h["suppressed"], h["secondary"]) for h in data["headline"]]
        for table in data["tables"].values():
            for row in table["rows"]:
                cells.extend((True, c in row["secondary"]) for c in row["suppressed"])
        primary = sum(s and not sec for s, sec in cells)
        secondary = sum(sec for _, sec in cells)
        note = next(n for n in data["notes"] if n.startswith("Suppressed: "))
        assert note.startswith("Suppressed: %d value%s backed by fewer than 10 clients (primary), and %d more" % (
            primary, "" if primary == 1 else "s", secondary)), (question, note)


def test_the_report_marks_secondary_cells_and_explains_both(populations, tmp_path):
    """In Chromium: secondary cells carry the suppressed mark with a tooltip saying why, and the page's
    legend explains both kinds with the counts of its answers."""
    import re

    from aau_stats.questions import QUESTIONS, DuckDBEngine, Scope, computed, published
    from aau_stats.report import write_report

    from browser import open_in_chromium

    db, _, advisories = populations[1]
    out = write_report(db, tmp_path / "report.html", min_clients=10, advisories=advisories)
    page = open_in_chromium(out, tmp_path / "report.png")
    assert page.console_errors == [] and page.page_errors == []
    secondary = [w for w in page.withheld if w["secondary"]]
    assert secondary and all(w["text"] == "suppressed" for w in page.withheld)
    assert all(w["visible"] for w in page.withheld if not w["folded"])
    assert any(w["visible"] for w in secondary)
    assert all("would give a suppressed value back" in w["title"] for w in secondary)
    assert all(w["title"] == "withheld" for w in page.withheld if not w["secondary"])
    with DuckDBEngine(db) as engine:
        scope = Scope(engine)
        answers = published([computed(scope, q, **({"advisories": advisories} if q == "exposure" else {}))
                             for q in QUESTIONS if q != "seats"], 10)
    kinds = []
    for answer in answers:
        kinds.extend(h.secondary for h in answer.headline if h.suppressed)
        for table in answer.tables:
            for row in table.rows:
                kinds.extend(c in row.secondary for c in row.suppressed)
    counts = re.search(r"primary: (\d+) .*secondary: (\d+)", page.key)
    assert counts and (int(counts[1]), int(counts[2])) == (kinds.count(False), kinds.count(True)), page.key
    assert kinds.count(True) > 0 and "fewer than 10 distinct clients" in page.key


def _determined(matrix, unknown, cell):
    """Whether ``cell`` is fixed by the relations (rows of ``matrix``, as dicts) once the cells outside
    ``unknown`` are known: adding the unit row of ``cell`` does not raise the rank."""
    columns = sorted(unknown)
    rows = [[Fraction(r.get(c, 0)) for c in columns] for r in matrix]
    unit = [Fraction(c == cell) for c in columns]
    return _rank([*rows, unit]) == _rank(rows)


def _rank(rows):
    rows = [list(r) for r in rows if any(r)]
    rank, col = 0, 0
    width = len(rows[0]) if rows else 0
    while rank < len(rows) and col < width:
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            col += 1
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col] != 0:
                factor = rows[i][col] / rows[rank][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank])]
        rank += 1
        col += 1
    return rank


@st.composite
def tables(draw):
    """A table of inner cells with row, column and grand totals (values 1 or more), backings, and k."""
    height, width = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    inner = {(i, j): draw(st.integers(1, 40)) for i in range(height) for j in range(width)}
    backing = {key: draw(st.integers(0, 30)) for key in inner}
    k = draw(st.integers(2, 12))
    return height, width, inner, backing, k


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_no_withheld_cell_is_determined_by_the_published_ones(drawn):
    height, width, inner, backing, k = drawn
    problem = disclosure.Problem(k)
    for (i, j), value in inner.items():
        problem.cell(("c", i, j), value, backing[i, j])
    rows = {i: sum(inner[i, j] for j in range(width)) for i in range(height)}
    cols = {j: sum(inner[i, j] for i in range(height)) for j in range(width)}
    for i, value in rows.items():
        problem.cell(("r", i), value, sum(backing[i, j] for j in range(width)), headline=True)
        problem.relations.append(disclosure.total(("r", i), [("c", i, j) for j in range(width)]))
    for j, value in cols.items():
        problem.cell(("k", j), value, sum(backing[i, j] for i in range(height)))
        problem.relations.append(disclosure.total(("k", j), [("c", i, j) for i in range(height)]))
    problem.cell(("t",), sum(inner.values()), sum(backing.values()), headline=True)
    problem.relations.append(disclosure.total(("t",), [("r", i) for i in range(height)]))
    status, dropped = problem.solve()
    assert dropped == 0
    primary = {key for key, value in backing.items() if value < k}
    assert {("c", *key) for key in primary} <= set(status)  # the threshold rule holds
    matrix = [dict(r.terms) for r in problem.relations]
    for cell in status:
        assert not _determined(matrix, set(status), cell), (cell, status)
    # and nothing withheld needlessly: each secondary cell, published, would give a withheld one back
    for cell in [c for c, kind in status.items() if kind == disclosure.SECONDARY]:
        others = set(status) - {cell}
        assert any(_determined(matrix, others, c) for c in others), (cell, status)


def test_a_zero_sum_of_withheld_counts_is_a_disclosure():
    """Two withheld cells that add up to a published zero are each zero: the module must not rely on them."""
    problem = disclosure.Problem(10)
    for name, value, backing in (("a", 0, 3), ("b", 0, 4), ("c", 7, 50), ("t", 7, 57)):
        problem.cell(name, value, backing, headline=name == "t")
    problem.relations.append(disclosure.total("t", ["a", "b", "c"]))
    status, _ = problem.solve()
    assert status == {"a": "primary", "b": "primary", "c": "secondary"}
    assert disclosure.recovered(problem, status) == set()
    assert disclosure.recovered(problem, {"a": "primary", "b": "primary"}) == {"a", "b"}


def test_a_share_of_a_withheld_count_is_withheld():
    problem = disclosure.Problem(10)
    for name, value, backing in (("part", 3, 3), ("rest", 40, 40), ("whole", 43, 43), ("share", 3 / 43, 43)):
        problem.cell(name, value, backing, headline=name == "whole")
    problem.relations.append(disclosure.total("whole", ["part", "rest"]))
    problem.derived.append(("share", ["part", "whole"]))
    status, _ = problem.solve()
    assert status == {"part": "primary", "rest": "secondary", "share": "secondary"}
    assert list(itertools.chain(status)) == ["part", "rest", "share"]
