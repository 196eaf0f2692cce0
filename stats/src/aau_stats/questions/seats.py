"""Seats: distinct clients and machines behind an organization, for license sizing.

Scoped by ``--ips FILE`` (the organization's addresses and ranges) or
``--org TOKEN``. Clients are split into long-lived and ephemeral (CI-like)
with the rule of :mod:`.lifecycles`; machines are the distinct ``m/``
tokens, counted only where the organization sets them.
"""

from ..disclosure import total
from ._answer import Answer, Headline, Table
from ._scope import UsageError
from ._sql import MONTH
from .lifecycles import CI_ADDRESS_CLIENTS, classified_sql

TITLE = "Seats behind an organization"


def seats(scope, min_days=2, min_sessions=2, ci_address_clients=CI_ADDRESS_CLIENTS):
    if scope.filters.ips is None and scope.filters.org is None:
        raise UsageError("seats: give --ips FILE or --org TOKEN (the organization to size)")
    engine = scope.engine
    sessions = scope.sessions()
    clients = engine.keep(classified_sql(scope, "c", min_days, min_sessions, ci_address_clients))
    _, monthly = engine.rows("""
        SELECT {month} AS month, count(DISTINCT r.c) AS clients,
               count(DISTINCT CASE WHEN k.lifecycle = 'long-lived' THEN r.c END) AS long_lived_clients,
               count(DISTINCT r.e) AS environments, count(DISTINCT r.ip) AS addresses,
               sum(CASE WHEN r.c IS NULL THEN r.requests ELSE 0 END) AS untokened_requests,
               count(DISTINCT r.c) AS _clients, count(DISTINCT CASE WHEN r.c IS NULL THEN r.ip END) AS _addresses
        FROM {sessions} r LEFT JOIN {clients} k ON k.id = r.c GROUP BY 1 ORDER BY 1
    """.format(month=MONTH.replace("day", "r.day"), sessions=sessions, clients=clients))
    _, machines = engine.rows("""
        SELECT {month} AS month, count(DISTINCT machine) AS machines, count(DISTINCT c) AS _clients
        FROM (SELECT day, c, unnest(m) AS machine FROM {sessions} r) t GROUP BY 1
    """.format(month=MONTH, sessions=sessions))
    per_month = dict((row[0], row[1:]) for row in machines)
    rows = [[*row[:5], per_month.get(row[0], (0, 0))[0], *row[5:], row[2]] for row in monthly]
    _, totals = engine.rows("""
        SELECT count(DISTINCT r.c), count(DISTINCT CASE WHEN k.lifecycle = 'long-lived' THEN r.c END),
               count(DISTINCT CASE WHEN k.lifecycle <> 'long-lived' THEN r.c END), count(DISTINCT r.e),
               count(DISTINCT r.ip)
        FROM {sessions} r LEFT JOIN {clients} k ON k.id = r.c
    """.format(sessions=sessions, clients=clients))
    all_clients, long_lived, ephemeral, envs, addresses = totals[0]
    machine_total = engine.scalar("SELECT count(DISTINCT machine) FROM (SELECT unnest(m) AS machine FROM %s r) t"
                                  % sessions)
    headline = [
        Headline("clients", all_clients, all_clients),
        Headline("long-lived clients (seats)", long_lived, long_lived),
        Headline("ephemeral clients (CI-like or one-off)", ephemeral, ephemeral),
        Headline("machines (m/ tokens)", machine_total, all_clients),
        Headline("environments", envs, all_clients),
        Headline("addresses", addresses, all_clients or addresses),
    ]
    table = Table("monthly", "Clients, machines and addresses by month",
                  ["month", "clients", "long_lived_clients", "environments", "addresses", "machines",
                   "untokened_requests", "_clients", "_addresses", "_long_lived"], rows,
                  backing={"untokened_requests": "_addresses", "long_lived_clients": "_long_lived"})
    notes = [
        "A seat is a long-lived client: one installation seen on %d or more days and in %d or more conda"
        " processes. Ephemeral clients (CI jobs, containers) are counted apart." % (min_days, min_sessions),
        "Machines count distinct m/ tokens; 0 means the organization does not set them.",
    ]
    answer = Answer("seats", TITLE, headline, [table], notes)
    # Long-lived and ephemeral clients add up to the clients, in the headline and in each month, where
    # the ephemeral ones are not shown but must not be given back either.
    answer.relations = [total(("h", "clients"), [("h", "long-lived clients (seats)"),
                                                  ("h", "ephemeral clients (CI-like or one-off)")])]
    for i, row in enumerate(rows):
        name = ("ephemeral", row[0])
        answer.hidden[name] = (row[1] - row[2], row[1] - row[2])
        answer.relations.append(total(table.cell(i, "clients"), [table.cell(i, "long_lived_clients"), ("x", name)]))
    return answer
