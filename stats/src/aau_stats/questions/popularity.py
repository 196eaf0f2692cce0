"""Package popularity by distinct clients and environments, beside raw downloads.

condastats' queries, with its column names: overall, or by platform
(``pkg_platform``, the subdir), data source (``data_source``, the channel),
package version (``pkg_version``) and the package's Python
(``pkg_python``, from a build string like ``py311h...``); for a month, a
range of months, or month by month (``time``). ``counts`` is condastats'
raw download count; ``clients`` and ``environments`` count distinct
tokens, so a CI farm that downloads numpy a thousand times a day counts as
what it is.
"""

from ._answer import Answer, Headline, Table
from ._scope import QuestionError
from ._sql import DOWNLOAD, MONTH

TITLE = "Package popularity"
BY = {
    "platform": ("pkg_platform", "coalesce(subdir, 'unknown')"),
    "source": ("data_source", "coalesce(channel, 'unknown')"),
    "version": ("pkg_version", "version"),
    "python": ("pkg_python", "coalesce(nullif(regexp_extract(build, '^py([23])([0-9]+)', 1) || '.' ||"
                             " regexp_extract(build, '^py([23])([0-9]+)', 2), '.'), 'none')"),
}


def popularity(scope, packages=(), by=(), monthly=False, top=50):
    engine = scope.engine
    packages = list(dict.fromkeys(packages))
    if packages:
        known = {row[0] for row in engine.rows("SELECT DISTINCT name FROM requests WHERE name IN (%s)" % ", ".join(
            "'%s'" % p.replace("'", "''") for p in packages))[1]}
        unknown = [p for p in packages if p not in known]
        if unknown:
            raise QuestionError("unknown package %r: no requests for it in %s" % (unknown[0], engine.db_path))
    groups = [("pkg_name", "name")] + [BY[b] for b in dict.fromkeys(by)]
    if monthly:
        groups.append(("time", MONTH))
    where = DOWNLOAD
    if packages:
        where += " AND name IN (%s)" % ", ".join("'%s'" % p.replace("'", "''") for p in packages)
    names = [name for name, _ in groups]
    # One pass: the groups, and the totals (the empty grouping set).
    columns, rows = engine.rows("""
        SELECT {names}, grouping({first}) AS _total, count(*) AS counts, count(DISTINCT c) AS clients,
               count(DISTINCT e) AS environments, count(DISTINCT c) AS _clients,
               count(DISTINCT coalesce(c, ip)) AS _sources, count(DISTINCT pkg_name) AS _names
        FROM (SELECT {select}, c, e, ip FROM {requests} r WHERE {where}) d
        GROUP BY GROUPING SETS (({names}), ())
    """.format(names=", ".join(names), first=names[0], requests=scope.requests(), where=where,
               select=", ".join("%s AS %s" % (expr, name) for name, expr in groups)))
    total = columns.index("_total")
    totals = [row for row in rows if row[total]]
    downloads, clients, envs, _, sources, packages_seen = totals[0][total + 1:] if totals else (0, 0, 0, 0, 0, 0)
    rows = [row[:total] + row[total + 1:-1] for row in rows if not row[total]]
    columns = columns[:total] + columns[total + 1:-1]
    counts = columns.index("counts")
    rows.sort(key=lambda row: (-row[counts + 1], -row[counts], [str(v) for v in row[:counts]]))
    shown = rows if packages or by or monthly else rows[:int(top)]
    headline = [
        Headline("downloads", downloads, sources),
        Headline("distinct clients downloading", clients, clients),
        Headline("distinct environments", envs, clients),
        Headline("packages", packages_seen, None),
        Headline("downloads per client", round(downloads / clients, 2) if clients else None, clients),
    ]
    title = "Downloads and distinct clients by " + ", ".join(name for name, _ in groups)
    if len(shown) < len(rows):
        title += " (the %d packages with the most clients of %d)" % (len(shown), len(rows))
    table = Table("popularity", title, columns, shown, labels=len(groups), backing={"counts": "_sources"})
    notes = [
        "counts: raw downloads (successful package GETs), as condastats reports; clients and environments:"
        " distinct c/ and e/ tokens among them. Downloads without tokens add to counts only.",
    ]
    return Answer("popularity", TITLE, headline, [table], notes)
