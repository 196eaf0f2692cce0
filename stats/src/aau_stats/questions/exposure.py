"""How many installations of a vulnerable version exist, and how many were remediated?

An environment is **exposed** to an advisory from its first download of an
affected version; it is **remediated** from its first later download of a
version of the same package that the advisory does not affect. A client is
exposed when one of its environments is, and remediated when all of them
are. Versions are compared in Python with conda's ordering, once per
distinct (package, version) in the store; the verdicts go to the engine as a
small table, so the counting stays in SQL.

``list_machines`` names the ``m/`` tokens of exposed, unremediated
environments: an organization's private view, never published.
"""

from ..disclosure import total
from ._answer import Answer, Headline, Table
from ._scope import UsageError
from ._sql import DOWNLOAD, MONTH
from .advisories import version

TITLE = "Exposure to advisories, and remediation"


def exposure(scope, advisories, list_machines=False):
    engine = scope.engine
    requests = scope.requests()
    names = sorted({a.package for a in advisories})
    # The downloads of the advisories' packages, read once.
    downloads = engine.keep("SELECT name, version, e, c, ts FROM %s r WHERE %s AND e IS NOT NULL AND name IN (%s)" % (
        requests, DOWNLOAD, ", ".join("'%s'" % n.replace("'", "''") for n in names)))
    _, seen = engine.rows("SELECT DISTINCT name, version FROM %s d" % downloads)
    verdicts, unreadable = [], set()
    for advisory in advisories:
        spec = advisory.matcher()
        for name, text in seen:
            if name != advisory.package:
                continue
            parsed = version(text)
            if parsed is None:
                unreadable.add((name, text))
                continue
            verdicts.append((advisory.id, name, text, spec.matches(parsed)))
    table = engine.lookup([("advisory", "VARCHAR"), ("name", "VARCHAR"), ("version", "VARCHAR"),
                           ("affected", "BOOLEAN")], verdicts)
    hits = engine.keep("""
        SELECT v.advisory, v.affected, d.e, d.c, d.ts
        FROM {downloads} d JOIN {table} v ON v.name = d.name AND v.version = d.version
    """.format(downloads=downloads, table=table))
    kept_states = engine.keep("""
        WITH exposed AS (SELECT advisory, e, min(ts) AS exposed_at FROM {hits} h WHERE affected GROUP BY 1, 2)
        SELECT x.advisory, x.e, x.exposed_at, min(h.ts) AS fixed_at
        FROM exposed x LEFT JOIN {hits} h
          ON h.advisory = x.advisory AND h.e = x.e AND NOT h.affected AND h.ts > x.exposed_at
        GROUP BY 1, 2, 3
    """.format(hits=hits))
    states = """
        WITH states AS (SELECT * FROM {states}),
        env_clients AS (SELECT DISTINCT advisory, e, c FROM {hits} h WHERE affected AND c IS NOT NULL)
    """.format(states=kept_states, hits=hits)
    columns, rows = engine.rows(states + """,
        clients AS (
            SELECT k.advisory, k.c, min(CASE WHEN s.fixed_at IS NULL THEN 0 ELSE 1 END) AS all_fixed
            FROM env_clients k JOIN states s ON s.advisory = k.advisory AND s.e = k.e GROUP BY 1, 2),
        per_client AS (
            SELECT advisory, count(*) AS clients_exposed, sum(all_fixed) AS clients_remediated
            FROM clients GROUP BY 1)
        SELECT s.advisory, count(*) AS environments_exposed, count(s.fixed_at) AS environments_remediated,
               count(*) - count(s.fixed_at) AS environments_still_exposed,
               coalesce(min(p.clients_exposed), 0) AS clients_exposed,
               coalesce(min(p.clients_remediated), 0) AS clients_remediated,
               round(median(date_diff('second', s.exposed_at, s.fixed_at)) / 86400.0, 2) AS median_days_to_remediate,
               coalesce(min(p.clients_exposed), 0) AS _clients
        FROM states s LEFT JOIN per_client p ON p.advisory = s.advisory GROUP BY 1
    """)
    found = {row[0] for row in rows}
    for advisory in advisories:
        if advisory.id not in found:
            rows.append([advisory.id, 0, 0, 0, 0, 0, None, 0])
            found.add(advisory.id)
    order = {a.id: i for i, a in enumerate(advisories)}
    rows.sort(key=lambda row: order[row[0]])
    _, timeline = engine.rows(states + """
        SELECT advisory, month, sum(exposed) AS environments_exposed, sum(fixed) AS environments_remediated,
               count(DISTINCT c) AS _clients
        FROM (SELECT s.advisory, {exposed_month} AS month, 1 AS exposed, 0 AS fixed, k.c FROM states s
                JOIN env_clients k ON k.advisory = s.advisory AND k.e = s.e
              UNION ALL
              SELECT s.advisory, {fixed_month}, 0, 1, k.c FROM states s
                JOIN env_clients k ON k.advisory = s.advisory AND k.e = s.e WHERE s.fixed_at IS NOT NULL) t
        GROUP BY 1, 2 ORDER BY 1, 2
    """.format(exposed_month=MONTH.replace("day", "CAST(s.exposed_at AS DATE)"),
               fixed_month=MONTH.replace("day", "CAST(s.fixed_at AS DATE)")))
    exposed = [row for row in rows if row[1]]
    headline = [
        Headline("advisories", len(advisories), None),
        Headline("environments exposed", sum(row[1] for row in rows), sum(row[4] for row in rows)),
        Headline("environments remediated", sum(row[2] for row in rows), sum(row[4] for row in rows)),
        Headline("clients exposed", sum(row[4] for row in rows), sum(row[4] for row in rows)),
        Headline("clients remediated", sum(row[5] for row in rows), sum(row[4] for row in rows)),
    ]
    tables = [
        Table("advisories", "Exposed and remediated environments and clients, per advisory", columns, rows),
        Table("timeline", "Environments newly exposed and newly remediated, by month",
              ["advisory", "month", "environments_exposed", "environments_remediated", "_clients"], timeline,
              labels=2),
    ]
    notes = [
        "Exposed: downloaded a version the advisory affects (conda version ordering, MatchSpec version specs)."
        " Remediated: later downloaded a version it does not affect. Counts are of environments (e/) and"
        " clients (c/); downloads without an environment token are not counted.",
    ]
    if unreadable:
        notes.append("%d downloaded versions are not conda versions and were left out." % len(unreadable))
    if not exposed:
        notes.append("No download of an affected version in scope.")
    if list_machines:
        if scope.filters.org is None and scope.filters.ips is None:
            raise UsageError("--list machines: give --org TOKEN or --ips FILE (it names one organization's"
                                " machines)")
        _, machines = engine.rows(states + """
            SELECT DISTINCT s.advisory, t.machine, '' AS _private
            FROM states s JOIN (SELECT e, unnest(m) AS machine FROM {requests} r) t ON t.e = s.e
            WHERE s.fixed_at IS NULL ORDER BY 1, 2
        """.format(requests=requests))
        tables.append(Table("machines", "Machines (m/ tokens) with exposed, unremediated environments",
                            ["advisory", "machine", "_private"], machines, labels=2))
        notes.append("Machine tokens are listed as stored: keyed pseudonyms unless the logs were ingested with"
                     " --raw.")
    answer = Answer("exposure", TITLE, headline, tables, notes)
    answer.relations = _relations(tables[0], tables[1])
    return answer


def _relations(advisories, timeline):
    """The advisories add up to the headlines; exposed is remediated plus still exposed; the months of an
    advisory add up to its row."""
    relations = [total(("h", label), advisories.cells(column)) for label, column in (
        ("environments exposed", "environments_exposed"), ("environments remediated", "environments_remediated"),
        ("clients exposed", "clients_exposed"), ("clients remediated", "clients_remediated"))]
    for i, row in enumerate(advisories.rows):
        relations.append(total(advisories.cell(i, "environments_exposed"), [
            advisories.cell(i, "environments_remediated"), advisories.cell(i, "environments_still_exposed")]))
        for column in ("environments_exposed", "environments_remediated"):
            relations.append(total(advisories.cell(i, column),
                                   timeline.cells(column, lambda r, a=row[0]: r["advisory"] == a)))
    return relations
