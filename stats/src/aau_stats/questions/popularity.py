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
from ._sql import MONTH, MONTH_START

DISTINCT = ("exact", "hll")
# The distinct counts, by the columns whose distinct values they add up: clients, environments, and the
# sources of downloads (clients, and the addresses of downloads without a client token).
_COUNTED = (("clients", ("c",)), ("environments", ("e",)), ("_clients", ("c",)), ("_sources", ("c", "_ip")))
_VALUES = tuple(dict.fromkeys(value for _, values in _COUNTED for value in values))

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
    where = "true"
    if packages:
        where = "name IN (%s)" % ", ".join("'%s'" % p.replace("'", "''") for p in packages)
    # Two steps: first the downloads grouped with their tokens (a client that downloads a file again is one
    # row: far fewer rows than downloads), then the groupings and distinct counts over those rows.
    first = groups + ([("_month", MONTH_START % "day")] if monthly or distinct == "hll" else [])
    kept = engine.keep("""
        SELECT {first}, c_id AS c, e_id AS e, CASE WHEN c_id IS NULL THEN ip_id END AS _ip, sum(downloads) AS downloads
        FROM {downloads} r WHERE {where}
        GROUP BY {exprs}, c_id, e_id, CASE WHEN c_id IS NULL THEN ip_id END
    """.format(first=", ".join("%s AS %s" % (expr, name) for name, expr in first),
               exprs=", ".join(expr for _, expr in first), where=where,
               # HyperLogLog hashes the values: the same sketches, so the same estimates, on every engine.
               downloads=scope.downloads(by_value=distinct == "hll")))
    # Over the kept rows: the groupings as they are, the month as text, and the month's date for the sketches.
    second = [name for name, _ in groups]
    if monthly:
        groups.append(("time", MONTH.replace("day", "_month")))
        second.append("%s AS time" % groups[-1][1])
    if distinct == "hll":
        second.append("_month")
    names = [name for name, _ in groups]
    downloads_sql = "SELECT %s, c, e, _ip, downloads FROM %s k" % (", ".join(second), kept)
    counted = ", ".join("%s AS %s" % (_distinct(values) if distinct == "exact" else "0", name)
                        for name, values in _COUNTED if name != "_clients")
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
        # (Estimated sources bound nothing: with --distinct hll, every coarser grouping is counted.)
        _coarser(engine, downloads_sql, names, table, answer, rows, scope.min_clients if distinct == "exact" else None)
    return answer


def _distinct(values):
    """SQL: the number of distinct values of the columns ``values`` (whose values never meet), added up."""
    return " + ".join("count(DISTINCT %s)" % value for value in values)


def _coarser(engine, downloads_sql, names, table, answer, rows, min_clients):
    """The downloads of each coarser grouping (a package over all its versions, say), which other queries
    publish, as values the table's rows add up to.

    Its downloads are the sum of its rows'. Its distinct sources (the backing that decides whether it is
    published) are at least the most of any of its rows: with ``min_clients`` known, they are counted only
    where that bound is below it, and are that bound elsewhere (published either way).
    """
    width, counts, sources = len(names), table.columns.index("counts"), table.columns.index("_sources")
    cells = {}  # (the columns kept, their values) -> [downloads, most sources of a row, the rows' cells]
    for mask in range((1 << (width - 1)) - 1):
        kept = [0, *(j + 1 for j in range(width - 1) if mask >> j & 1)]
        for i, row in enumerate(rows):
            cell = cells.setdefault((tuple(kept), tuple(row[j] for j in kept)), [0, 0, []])
            cell[0] += row[counts]
            cell[1] = max(cell[1], row[sources])
            cell[2].append(table.cell(i, "counts"))
    exact = [key for key, (_, bound, _) in cells.items() if min_clients is None or bound < min_clients]
    for columns in sorted({kept for kept, _ in exact}):
        wanted = engine.lookup([("_k%d" % j, "VARCHAR") for j in columns],
                               [tuple(None if v is None else str(v) for v in values) for kept, values in exact
                                if kept == columns])
        group = ", ".join("d.%s" % names[j] for j in columns)
        for row in engine.rows("""
            SELECT {group}, {sources} FROM ({downloads}) d JOIN {wanted} w ON {match} GROUP BY {group}
        """.format(group=group, sources=_distinct(["d.%s" % v for v in dict(_COUNTED)["_sources"]]), wanted=wanted,
                   downloads=downloads_sql, match=" AND ".join(
                       "CAST(d.{n} AS VARCHAR) IS NOT DISTINCT FROM w._k{j}".format(n=names[j], j=j)
                       for j in columns)))[1]:
            cells[(columns, tuple(row[:-1]))][1] = row[-1]
    for (columns, values), (value, backing, parts) in cells.items():
        name = ("coarser", tuple(values[columns.index(j)] if j in columns else None for j in range(width)))
        answer.elsewhere[name] = (value, backing)
        answer.relations.append(total_of(("x", name), parts))


def _estimated(engine, downloads_sql, names, columns, rows):
    """``rows`` with their distinct counts (zeros) replaced by HyperLogLog estimates."""
    values = " UNION ALL ".join("SELECT {names}, _month, '{what}' AS what, {what} AS v FROM ({d}) d".format(
        names=", ".join(names), what=what, d=downloads_sql) for what in _VALUES)
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
        for what, counted in _COUNTED:
            row[columns.index(what)] = sum(estimates.get((key, value), 0) for value in counted)
        out.append(row)
    return out
