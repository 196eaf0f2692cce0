"""Package popularity by distinct clients and environments, beside raw downloads.

condastats' queries, with its column names: overall, or by platform
(``pkg_platform``, the subdir), data source (``data_source``, the channel),
package version (``pkg_version``) and the package's Python
(``pkg_python``, from a build string like ``py311h...``); for a month, a
range of months, or month by month (``time``). ``counts`` is condastats'
raw download count; ``clients`` and ``environments`` count distinct
tokens, so a CI farm that downloads numpy a thousand times a day counts as
what it is.

Distinct counts are exact by default. ``distinct="hll"`` counts them with
HyperLogLog sketches instead (:mod:`._sketch`): one sketch per group and
month, merged for the groups' totals over the months, as a roll-up over
many months of a large channel would be made from kept monthly sketches.
"""

from ..disclosure import total as total_of
from . import _sketch
from ._answer import Answer, Headline, Table
from ._scope import QuestionError, UsageError
from ._sql import DOWNLOAD, MONTH, MONTH_START

DISTINCT = ("exact", "hll")
# The distinct counts, by the column that holds them: what each counts.
_COUNTED = (("clients", "c"), ("environments", "e"), ("_clients", "c"), ("_sources", "_source"))

TITLE = "Package popularity"
BY = {
    "platform": ("pkg_platform", "coalesce(subdir, 'unknown')"),
    "source": ("data_source", "coalesce(channel, 'unknown')"),
    "version": ("pkg_version", "version"),
    "python": ("pkg_python", "coalesce(nullif(regexp_extract(build, '^py([23])([0-9]+)', 1) || '.' ||"
                             " regexp_extract(build, '^py([23])([0-9]+)', 2), '.'), 'none')"),
}


def popularity(scope, packages=(), by=(), monthly=False, top=50, distinct="exact"):
    engine = scope.engine
    if distinct not in DISTINCT:
        raise UsageError("--distinct %s: one of %s" % (distinct, ", ".join(DISTINCT)))
    packages = list(dict.fromkeys(packages))
    if packages:
        known = {row[0] for row in engine.rows("SELECT DISTINCT name FROM requests WHERE name IN (%s)" % ", ".join(
            "'%s'" % p.replace("'", "''") for p in packages))[1]}
        unknown = [p for p in packages if p not in known]
        if unknown:
            raise QuestionError("unknown package %r: no requests for it in %s" % (unknown[0], engine.db_path))
    groups = [("pkg_name", "name")] + [BY[b] for b in dict.fromkeys(by)]
    where = DOWNLOAD
    if packages:
        where += " AND name IN (%s)" % ", ".join("'%s'" % p.replace("'", "''") for p in packages)
    # Two steps: first the downloads grouped with their tokens (a client that downloads a file again is one
    # row: far fewer rows than downloads), then the groupings and distinct counts over those rows.
    first = groups + ([("_month", MONTH_START % "day")] if monthly or distinct == "hll" else [])
    kept = engine.keep("""
        SELECT {first}, c, e, coalesce(c, ip) AS _source, count(*) AS downloads FROM {requests} r WHERE {where}
        GROUP BY {exprs}, c, e, coalesce(c, ip)
    """.format(first=", ".join("%s AS %s" % (expr, name) for name, expr in first),
               exprs=", ".join(expr for _, expr in first), requests=scope.requests(), where=where))
    # Over the kept rows: the groupings as they are, the month as text, and the month's date for the sketches.
    second = [name for name, _ in groups]
    if monthly:
        groups.append(("time", MONTH.replace("day", "_month")))
        second.append("%s AS time" % groups[-1][1])
    if distinct == "hll":
        second.append("_month")
    names = [name for name, _ in groups]
    downloads_sql = "SELECT %s, c, e, _source, downloads FROM %s k" % (", ".join(second), kept)
    counted = ", ".join(("count(DISTINCT %s) AS %s" if distinct == "exact" else "0 AS %s") % (
        (value, name) if distinct == "exact" else (name,)) for name, value in _COUNTED if name != "_clients")
    # One pass: the groups, and the totals (the empty grouping set).
    columns, rows = engine.rows("""
        SELECT {names}, _total, counts, clients, environments, clients AS _clients, _sources, _names FROM (
            SELECT {names}, grouping({first}) AS _total, coalesce(sum(downloads), 0) AS counts, {counted},
                   count(DISTINCT pkg_name) AS _names
            FROM ({downloads}) d
            GROUP BY GROUPING SETS (({names}), ())) g
    """.format(names=", ".join(names), first=names[0], counted=counted, downloads=downloads_sql))
    if distinct == "hll":
        rows = _estimated(engine, downloads_sql, names, columns, rows)
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
    if distinct == "hll":
        notes.append("clients and environments are HyperLogLog estimates (precision %d: standard error %.2f %%,"
                     " 95 %% of estimates within %.1f %%), from one sketch per group and month merged over the"
                     " months; counts are exact." % (_sketch.PRECISION, 100 * _sketch.STANDARD_ERROR,
                                                    200 * _sketch.STANDARD_ERROR))
    answer = Answer("popularity", TITLE, headline, [table], notes)
    answer.relations.append(total_of(("h", "downloads"), table.cells("counts"), conditional=True))
    answer.derived.append((("h", "downloads per client"), [("h", "downloads"), ("h", "distinct clients downloading")]))
    if len(names) == 1:
        answer.fixed = table.cells("counts")  # each package's downloads, as every query that lists it shows them
    else:
        _coarser(engine, downloads_sql, names, table, answer)
    return answer


def _coarser(engine, downloads_sql, names, table, answer):
    """The downloads of each coarser grouping (a package over all its versions, say), which other queries
    publish, as values the table's rows add up to."""
    others = names[1:]
    # The finest set too (DuckDB groups only by columns of some set); its rows are the table's own.
    sets = [[names[0], *(o for j, o in enumerate(others) if mask >> j & 1)] for mask in range(1 << len(others))]
    _, rows = engine.rows("""
        SELECT {names}, {flags}, sum(downloads) AS counts, count(DISTINCT _source) AS _sources
        FROM ({downloads}) d GROUP BY GROUPING SETS ({sets})
    """.format(names=", ".join(names), flags=", ".join("grouping(%s)" % n for n in names), downloads=downloads_sql,
               sets=", ".join("(%s)" % ", ".join(s) for s in sets)))
    width = len(names)
    for row in rows:
        if not any(row[width:2 * width]):
            continue
        kept = tuple(None if row[width + j] else row[j] for j in range(width))
        name = ("coarser", kept)
        answer.elsewhere[name] = (row[2 * width], row[2 * width + 1])
        parts = table.cells("counts", lambda r, kept=kept: all(
            v is None or r[n] == v for n, v in zip(names, kept)))
        answer.relations.append(total_of(("x", name), parts))


def _estimated(engine, downloads_sql, names, columns, rows):
    """``rows`` with their distinct counts (zeros) replaced by HyperLogLog estimates."""
    values = " UNION ALL ".join("SELECT {names}, _month, '{what}' AS what, {value} AS v FROM ({d}) d".format(
        names=", ".join(names), what=what, value=value, d=downloads_sql) for what, value in _COUNTED[:2] + _COUNTED[3:])
    # The mergeable part: one sketch per group, month and kind of value.
    monthly = engine.keep(_sketch.sketch_sql("(%s)" % values, "v", [*names, "_month", "what"]))
    estimates = {}
    for keys in (names, []):
        merged = _sketch.merge_sql("SELECT * FROM %s" % monthly, [*keys, "what"])
        for row in engine.rows(_sketch.estimate_sql(merged, [*keys, "what"]))[1]:
            estimates[(tuple(row[:len(keys)]) if keys else None, row[-2])] = row[-1]
    total = columns.index("_total")
    out = []
    for row in rows:
        key = None if row[total] else tuple(row[:len(names)])
        row = list(row)
        for what, _ in _COUNTED:
            row[columns.index(what)] = estimates.get((key, "clients" if what == "_clients" else what), 0)
        out.append(row)
    return out
