"""New installs versus updates, per package and month.

Within one environment (``e/``), the package downloads of one package name
in time order are: the first, a **new install**; a later one of a different
version or build than the one before it, an **update** (downgrades
included); a later one of the same version and build, a **re-download**
(a cleared cache, a ``--force-reinstall``). Failed requests, ``HEAD``
requests and heartbeats are not downloads.

An environment that existed before the logs began would make its first
update look like a new install. So the first ``warm_up_days`` of the data
(or everything before ``--since``) are a warm-up: they are read as history
and not counted. A first download in an environment already seen during the
warm-up is counted apart, as ``first_in_older_env``: it is a new install or
an update of something installed before the logs, and the logs cannot say
which. Downloads without an environment token are counted apart too.
"""

import datetime

from ._answer import Answer, Headline, Table
from ._scope import QuestionError
from ._sql import DOWNLOAD

TITLE = "New installs and updates"
DEFAULT_WARM_UP_DAYS = 14


def installs(scope, warm_up_days=DEFAULT_WARM_UP_DAYS):
    engine = scope.engine
    history = scope.requests(time=False)
    first_day = engine.scalar("SELECT min(day) FROM %s r" % history)
    if first_day is None:
        raise QuestionError("no requests match the filters")
    if scope.filters.since is not None:
        start = scope.filters.since
    else:
        start = first_day + datetime.timedelta(days=int(warm_up_days))
    until = scope.filters.until
    window = "day >= DATE '%s'%s" % (start, " AND day <= DATE '%s'" % until if until else "")
    columns, rows = engine.rows("""
        WITH downloads AS (SELECT * FROM {history} r WHERE {download}),
        env_first AS (SELECT e, min(day) AS env_first_day FROM {history} r WHERE e IS NOT NULL GROUP BY e),
        ordered AS (
            SELECT e, c, name, version, build, day,
                   row_number() OVER w AS n, lag(version) OVER w AS previous_version, lag(build) OVER w AS previous_build
            FROM downloads WHERE e IS NOT NULL
            WINDOW w AS (PARTITION BY e, name ORDER BY ts, version, build)),
        counted AS (
            SELECT o.*, f.env_first_day FROM ordered o JOIN env_first f ON f.e = o.e WHERE {window}),
        untokened AS (
            SELECT name, substr(CAST(day AS VARCHAR), 1, 7) AS month, count(*) AS downloads,
                   count(DISTINCT ip) AS addresses
            FROM downloads WHERE e IS NULL AND {window} GROUP BY 1, 2),
        tokened AS (
            SELECT name, substr(CAST(day AS VARCHAR), 1, 7) AS month,
                   sum(CASE WHEN n = 1 AND env_first_day >= DATE '{start}' THEN 1 ELSE 0 END) AS new_installs,
                   sum(CASE WHEN n > 1 AND (version <> previous_version OR build <> previous_build)
                            THEN 1 ELSE 0 END) AS updates,
                   sum(CASE WHEN n > 1 AND version = previous_version AND build = previous_build
                            THEN 1 ELSE 0 END) AS redownloads,
                   sum(CASE WHEN n = 1 AND env_first_day < DATE '{start}' THEN 1 ELSE 0 END) AS first_in_older_env,
                   count(DISTINCT e) AS environments, count(DISTINCT c) AS clients
            FROM counted GROUP BY 1, 2)
        SELECT coalesce(t.name, u.name) AS package, coalesce(t.month, u.month) AS month,
               coalesce(new_installs, 0) AS new_installs, coalesce(updates, 0) AS updates,
               coalesce(redownloads, 0) AS redownloads, coalesce(first_in_older_env, 0) AS first_in_older_env,
               coalesce(u.downloads, 0) AS untokened_downloads,
               coalesce(environments, 0) AS environments, coalesce(clients, 0) AS clients,
               coalesce(clients, 0) AS _clients, coalesce(u.addresses, 0) AS _addresses
        FROM tokened t FULL OUTER JOIN untokened u ON u.name = t.name AND u.month = t.month
    """.format(history=history, download=DOWNLOAD, window=window, start=start))
    rows.sort(key=lambda row: (-(row[2] + row[3] + row[4] + row[5]), row[0], row[1]))
    clients = engine.scalar("""
        SELECT count(DISTINCT c) FROM {history} r WHERE {download} AND e IS NOT NULL AND {window}
    """.format(history=history, download=DOWNLOAD, window=window))

    def total(column):
        return sum(row[columns.index(column)] for row in rows)

    headline = [
        Headline("new installs", total("new_installs"), clients),
        Headline("updates", total("updates"), clients),
        Headline("re-downloads", total("redownloads"), clients),
        Headline("first downloads in environments older than the logs", total("first_in_older_env"), clients),
    ]
    notes = [
        "Counted from %s%s. Before that: %s." % (
            start, " to %s" % until if until else "",
            "the requests before --since, read as history" if scope.filters.since is not None
            else "a warm-up of %d days (--warm-up-days), read as history" % int(warm_up_days)),
        "first_in_older_env: the first download of a package in an environment seen before the counting began:"
        " a new install, or an update of a version installed before the logs; the logs cannot tell which.",
        "untokened_downloads: downloads without an environment token; not classified.",
    ]
    if start <= first_day and scope.filters.since is not None:
        notes.append("No requests before --since: every environment looks new, so updates of versions"
                     " installed earlier count as new installs.")
    table = Table("installs", "Installs, updates and re-downloads by package and month", columns, rows, labels=2,
                  backing={"untokened_downloads": "_addresses"})
    return Answer("installs", TITLE, headline, [table], notes)
