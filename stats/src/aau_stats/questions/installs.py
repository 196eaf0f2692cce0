"""New installs versus updates, per package and month.

Within one environment (``e/``), each download of a package is: the first
download of the package, a **new install**; the first download of a
version (or build) the environment had not downloaded before, after another
one, an **update** (downgrades included); any other download of a version
and build the environment downloaded before, a **re-download** (a cleared
cache, ``--force-reinstall``, a rollback to a version it had). Failed
requests, ``HEAD`` requests and heartbeats are not downloads.

An environment that existed before the logs began would make its first
update look like a new install. So the first ``warm_up_days`` of the data
(or everything before ``--since``) are a warm-up: they are read as history
and not counted. A first download in an environment already seen during the
warm-up is counted apart, as ``first_in_older_env``: it is a new install or
an update of something installed before the logs, and the logs cannot say
which. Downloads without an environment token are counted apart too.

Counted with aggregates only (no ordering of the downloads): each
environment's first download of each version and build, and of each
package, is the earliest of its downloads, and the downloads of each
package and month are counted apart. When two versions of a package are first downloaded into
an environment in the same second, the log cannot say which came first:
one counts as the new install, the other as an update.
"""

import datetime

from ..disclosure import total as total_of
from ._answer import Answer, Headline, Table
from ._scope import QuestionError, UsageError
from ._sql import MONTH, MONTH_START

TITLE = "New installs and updates"
DEFAULT_WARM_UP_DAYS = 14
MAX_WARM_UP_DAYS = 36500


def installs(scope, warm_up_days=DEFAULT_WARM_UP_DAYS):
    if not 0 <= int(warm_up_days) <= MAX_WARM_UP_DAYS:
        raise UsageError("--warm-up-days %s: give 0 to %d days" % (warm_up_days, MAX_WARM_UP_DAYS))
    engine = scope.engine
    history = scope.downloads(time=False)
    # The first day of each environment (and, under NULL, of the sessions without one).
    first_days = engine.keep("SELECT e_id, min(day) AS first_day FROM %s s GROUP BY e_id" % scope.session_source(
        time=False))
    first_day = engine.scalar("SELECT min(first_day) FROM %s" % first_days)
    if first_day is None:
        raise QuestionError("no requests match the filters")
    if scope.filters.since is not None:
        start = scope.filters.since
    else:
        try:
            start = first_day + datetime.timedelta(days=int(warm_up_days))
        except OverflowError:  # past the last day a date can hold: nothing is counted
            start = datetime.date.max
    until = scope.filters.until
    window = "day >= DATE '%s'%s" % (start, " AND day <= DATE '%s'" % until if until else "")
    # Months are grouped as dates (faster than their text), and written as text at the end. Environments, clients
    # and addresses are counted by their counting keys (numbers in the store).
    # Packages and their versions are grouped by their counting keys too, and named at the end.
    # An environment's first download of a package is a new install (or a first in an environment older than
    # the counting); its first download of each other version or build, an update; any other, a re-download.
    columns, rows = engine.rows("""
        WITH v AS (SELECT e_id AS e, n_id, v_id, min(first_ts) AS first_ts FROM {history} r
                   WHERE e_id IS NOT NULL GROUP BY e_id, n_id, v_id),
        p AS (SELECT e, n_id, min(first_ts) AS first_ts FROM v GROUP BY e, n_id),
        env AS (SELECT e_id AS e, first_day FROM {first_days} WHERE e_id IS NOT NULL),
        firsts AS (
            SELECT v.n_id, {first_month} AS month,
                   count(CASE WHEN env.first_day >= DATE '{start}' THEN 1 END) AS new_installs,
                   count(CASE WHEN env.first_day < DATE '{start}' THEN 1 END) AS first_in_older_env
            FROM p v JOIN env ON env.e = v.e WHERE {first_window} GROUP BY 1, 2),
        version_firsts AS (
            SELECT v.n_id, {first_month} AS month, count(*) AS first_downloads
            FROM v JOIN env ON env.e = v.e WHERE {first_window} GROUP BY 1, 2),
        counted AS (
            SELECT n_id, {month} AS month, grouping(n_id) AS _total,
                   sum(CASE WHEN e_id IS NOT NULL THEN downloads ELSE 0 END) AS tokened,
                   sum(CASE WHEN e_id IS NULL THEN downloads ELSE 0 END) AS untokened_downloads,
                   count(DISTINCT e_id) AS environments,
                   count(DISTINCT CASE WHEN e_id IS NOT NULL THEN c_id END) AS clients,
                   count(DISTINCT CASE WHEN e_id IS NULL THEN ip_id END) AS addresses
            FROM {history} d WHERE {window} GROUP BY GROUPING SETS ((n_id, {month}), ())),
        names AS (SELECT DISTINCT n_id, name FROM {history} h)
        SELECT n.name AS package, {month_text} AS month, coalesce(f.new_installs, 0) AS new_installs,
               coalesce(u.first_downloads, 0) - coalesce(f.new_installs + f.first_in_older_env, 0) AS updates,
               k.tokened - coalesce(u.first_downloads, 0) AS redownloads,
               coalesce(f.first_in_older_env, 0) AS first_in_older_env, k.untokened_downloads,
               k.environments, k.clients, k.clients AS _clients, k.addresses AS _addresses, k._total
        FROM counted k LEFT JOIN names n ON n.n_id = k.n_id
        LEFT JOIN firsts f ON f.n_id = k.n_id AND f.month = k.month
        LEFT JOIN version_firsts u ON u.n_id = k.n_id AND u.month = k.month
    """.format(first_days=first_days, start=start, history=history, month=MONTH_START % "day", window=window,
               first_month=MONTH_START % "CAST(v.first_ts AS DATE)", month_text=MONTH.replace("day", "k.month"),
               first_window=window.replace("day", "CAST(v.first_ts AS DATE)")))
    # The totals' row (the empty grouping set) gives the distinct clients of all packages.
    clients = sum(row[columns.index("clients")] for row in rows if row[-1])
    columns, rows = columns[:-1], [row[:-1] for row in rows if not row[-1]]
    rows.sort(key=lambda row: (-(row[2] + row[3] + row[4] + row[5]), row[0], row[1]))

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
    answer = Answer("installs", TITLE, headline, [table], notes)
    answer.relations = [total_of(("h", label), table.cells(column)) for label, column in (
        ("new installs", "new_installs"), ("updates", "updates"), ("re-downloads", "redownloads"),
        ("first downloads in environments older than the logs", "first_in_older_env"))]
    return answer
