"""Active environments per day, from activation heartbeats and from any request.

A heartbeat (a ``HEAD`` of ``activate-0.0.0-0.conda``, sent by the client
on ``conda activate`` where the heartbeat is on) says an environment was
used that day even when nothing was installed. Any request says conda ran
for it.
"""

from ..disclosure import total
from ._answer import Answer, Headline, Table

TITLE = "Active environments per day"


def activity(scope):
    engine = scope.engine
    columns, rows = engine.rows("""
        SELECT day, count(DISTINCT CASE WHEN heartbeats > 0 THEN e END) AS environments_by_heartbeat,
               count(DISTINCT e) AS environments_by_any_request,
               count(DISTINCT c) AS clients, count(DISTINCT CASE WHEN heartbeats > 0 THEN c END) AS _heartbeat_clients,
               count(DISTINCT c) AS _clients
        FROM {sessions} r GROUP BY day ORDER BY day
    """.format(sessions=scope.sessions()))
    _, totals = engine.rows("""
        SELECT count(DISTINCT CASE WHEN heartbeats > 0 THEN e END), count(DISTINCT e), count(DISTINCT c),
               count(DISTINCT CASE WHEN heartbeats > 0 THEN c END), count(DISTINCT day)
        FROM {sessions} r
    """.format(sessions=scope.sessions()))
    by_heartbeat, by_any, clients, heartbeat_clients, days = totals[0]
    headline = [
        Headline("days", days, None),
        Headline("environments seen by heartbeat", by_heartbeat, heartbeat_clients),
        Headline("environments seen by any request", by_any, clients),
        Headline("mean active environments per day (any request)",
                 round(sum(row[2] for row in rows) / days, 2) if days else None, clients),
    ]
    table = Table("daily", "Active environments per day", columns, rows,
                  backing={"environments_by_heartbeat": "_heartbeat_clients"})
    notes = ["Heartbeats come only from clients with the heartbeat on; any request counts every environment"
             " conda ran for."]
    answer = Answer("activity", TITLE, headline, [table], notes)
    # Distinct counts add up over days only where nothing was seen twice (one day, say); then they do.
    answer.relations = [total(("h", label), table.cells(column), conditional=True) for label, column in (
        ("environments seen by heartbeat", "environments_by_heartbeat"),
        ("environments seen by any request", "environments_by_any_request"))]
    answer.derived = [(("h", "mean active environments per day (any request)"),
                       table.cells("environments_by_any_request"))]
    return answer
