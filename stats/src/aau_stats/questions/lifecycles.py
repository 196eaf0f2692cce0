"""CI jobs versus long-lived desktops.

A client (``c/``) or an environment (``e/``) is long-lived when it was seen
on at least ``min_days`` distinct days and in at least ``min_sessions``
distinct conda processes (``s/``); otherwise it is ephemeral. An ephemeral
client is CI-like when it came from a network (/24, /48) where at least
``ci_address_clients`` ephemeral clients were seen (a CI provider's pool, a
build farm: every job starts from a fresh home, often from another address
of the pool); otherwise it is one-off (a desktop seen once). Requests
without tokens are reported apart, by what they are (conda with tokens
turned off, or a tool that sends none), and are never guessed into a class.
"""

from ..disclosure import equal, total
from ._answer import Answer, Headline, Table
from ._sql import MONTH

TITLE = "CI jobs and long-lived installations"
CI_ADDRESS_CLIENTS = 3


def classified_sql(scope, token, min_days, min_sessions, ci_address_clients=CI_ADDRESS_CLIENTS):
    """SQL of ``id, lifecycle, first_day`` for every client (``token="c"``) or environment (``"e"``) in scope.

    Environments are ``long-lived`` or ``ephemeral``; clients ``long-lived``, ``ci-like`` or ``one-off``.
    """
    sessions = scope.sessions()
    by_time = """
        SELECT {token} AS id, CASE WHEN count(DISTINCT day) >= {days} AND count(DISTINCT s) >= {processes}
                                   THEN 'long-lived' ELSE 'ephemeral' END AS lifecycle,
               min(day) AS first_day
        FROM {sessions} r WHERE {token} IS NOT NULL GROUP BY {token}
    """.format(token=token, days=int(min_days), processes=int(min_sessions), sessions=sessions)
    if token != "c":
        return by_time
    return """
        WITH k AS ({by_time}),
        pools AS (
            SELECT r.network FROM {sessions} r JOIN k ON k.id = r.c WHERE k.lifecycle = 'ephemeral'
            GROUP BY r.network HAVING count(DISTINCT r.c) >= {pool}),
        pooled AS (SELECT DISTINCT r.c FROM {sessions} r JOIN pools p ON p.network = r.network)
        SELECT k.id, CASE WHEN k.lifecycle = 'long-lived' THEN 'long-lived'
                          WHEN pooled.c IS NOT NULL THEN 'ci-like' ELSE 'one-off' END AS lifecycle, k.first_day
        FROM k LEFT JOIN pooled ON pooled.c = k.id
    """.format(by_time=by_time, sessions=sessions, pool=int(ci_address_clients))


def lifecycles(scope, min_days=2, min_sessions=2, ci_address_clients=CI_ADDRESS_CLIENTS):
    engine = scope.engine
    sessions = scope.sessions()
    clients = engine.keep(classified_sql(scope, "c", min_days, min_sessions, ci_address_clients))
    envs = classified_sql(scope, "e", min_days, min_sessions)
    _, summary = engine.rows("""
        SELECT 'clients' AS what, lifecycle, count(*) AS count, count(*) AS _clients FROM {clients} k GROUP BY 2
        UNION ALL
        SELECT 'environments', k.lifecycle, count(DISTINCT k.id), count(DISTINCT r.c)
        FROM ({envs}) k JOIN {sessions} r ON r.e = k.id GROUP BY 2
    """.format(clients=clients, envs=envs, sessions=sessions))
    totals = {what: sum(row[2] for row in summary if row[0] == what) for what in ("clients", "environments")}
    summary = sorted(([what, lifecycle, count, round(count / totals[what], 4), backing]
                      for what, lifecycle, count, backing in summary), key=lambda row: (row[0], row[1]))
    _, monthly = engine.rows("""
        SELECT {month} AS month, k.lifecycle, count(DISTINCT r.c) AS active_clients,
               count(DISTINCT CASE WHEN k.first_day = r.day THEN r.c END) AS new_clients,
               count(DISTINCT r.c) AS _clients
        FROM {sessions} r JOIN {clients} k ON k.id = r.c GROUP BY 1, 2 ORDER BY 1, 2
    """.format(month=MONTH.replace("day", "r.day"), sessions=sessions, clients=clients))
    _, untokened = engine.rows("""
        SELECT CASE WHEN aau_version IS NOT NULL THEN 'conda, tokens turned off (aau/ only)'
                    WHEN client_family IS NULL THEN 'no user agent'
                    ELSE client_family || ', no tokens' END AS sender,
               sum(requests) AS requests, count(DISTINCT ip) AS addresses, count(DISTINCT ip) AS _addresses
        FROM {sessions} r WHERE c IS NULL GROUP BY 1 ORDER BY 2 DESC, 1
    """.format(sessions=sessions))
    by_class = {(row[0], row[1]): row for row in summary}

    def share(what, lifecycle):
        row = by_class.get((what, lifecycle))
        return (row[3], row[4]) if row else (0.0, totals[what])

    untokened_requests = sum(row[1] for row in untokened)
    headline = [
        Headline("clients", totals["clients"], totals["clients"]),
        Headline("share of clients that are CI-like", *share("clients", "ci-like")),
        Headline("share of clients seen once (one-off)", *share("clients", "one-off")),
        Headline("environments", totals["environments"], totals["clients"]),
        Headline("share of environments that are ephemeral", *share("environments", "ephemeral")),
        Headline("requests without a client token", untokened_requests,
                 sum(row[3] for row in untokened) or 0),
    ]
    tables = [
        Table("summary", "Clients and environments by lifecycle",
              ["what", "lifecycle", "count", "share", "_clients"], summary, labels=2),
        Table("monthly", "Active and new clients by month and lifecycle",
              ["month", "lifecycle", "active_clients", "new_clients", "_clients"], monthly, labels=2),
        Table("untokened", "Requests without a client token, by sender",
              ["sender", "requests", "addresses", "_addresses"], untokened,
              backing={"requests": "_addresses", "addresses": "_addresses"}),
    ]
    notes = [
        "Long-lived: seen on %d or more days and in %d or more conda processes; ephemeral otherwise"
        " (--min-days, --min-sessions). An ephemeral client is CI-like when its /24 or /48 network saw %d or more"
        " ephemeral clients (--ci-address-clients), one-off otherwise." % (min_days, min_sessions, ci_address_clients),
        "A client first seen near the end of the period has had no time to come back, and counts as ephemeral.",
        "Requests without tokens are counted by sender and address; they are never guessed into a class.",
    ]
    answer = Answer("lifecycles", TITLE, headline, tables, notes)
    answer.relations, answer.derived = _relations(tables)
    return answer


SHARES = {("clients", "ci-like"): "share of clients that are CI-like",
          ("clients", "one-off"): "share of clients seen once (one-off)",
          ("environments", "ephemeral"): "share of environments that are ephemeral"}


def _relations(tables):
    """The classes add up to the totals; the new clients of the months to their class; in the first
    month every active client is new; a share is its count over its total."""
    summary, monthly, untokened = tables
    relations = [total(("h", what), summary.cells("count", lambda r, what=what: r["what"] == what))
                 for what in ("clients", "environments")]
    relations.append(total(("h", "requests without a client token"), untokened.cells("requests")))
    derived = []
    first = min((row[0] for row in monthly.rows), default=None)
    for i, (what, lifecycle, *_) in enumerate(summary.rows):
        share = summary.cell(i, "share")
        derived.append((share, [summary.cell(i, "count"), ("h", what)]))
        if (what, lifecycle) in SHARES:  # the same share, in the headline
            derived.append((("h", SHARES[what, lifecycle]), [summary.cell(i, "count"), ("h", what)]))
        if what == "clients":
            relations.append(total(summary.cell(i, "count"),
                                   monthly.cells("new_clients", lambda r, c=lifecycle: r["lifecycle"] == c)))
    for i, row in enumerate(monthly.rows):
        if row[0] == first:
            relations.append(equal(monthly.cell(i, "new_clients"), monthly.cell(i, "active_clients")))
    return relations, derived
