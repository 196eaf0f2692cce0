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

# The column of the downloads each grouping's label is made of. Each package line's labels are a function of
# its package (n_id) or its package, version and build (v_id), and of its platform and channel where they are
# labels: its line key.
MADE_OF = {"platform": "subdir", "source": "channel", "version": "version", "python": "build"}


def _line_key(by):
    """The columns that decide a package line's labels for the groupings ``by``."""
    key = "v_id" if {"version", "python"} & set(by) else "n_id"
    return [key, *(MADE_OF[b] for b in ("platform", "source") if b in by)]


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
    by = list(dict.fromkeys(by))
    groups = [("pkg_name", "name")] + [BY[b] for b in by]
    labels = [name for name, _ in groups]
    names = labels + (["time"] if monthly else [])
    where = "true"
    if packages:
        where = "name IN (%s)" % ", ".join("'%s'" % p.replace("'", "''") for p in packages)
    # HyperLogLog hashes the values: the same sketches, so the same estimates, on every engine.
    downloads = "(SELECT * FROM %s r WHERE %s)" % (scope.downloads(by_value=distinct == "hll"), where)
    # Each group's labels are worked out once for each package line (from the few distinct values of the
    # columns they are made of, never for every download), and the groups numbered (_g).
    keys = _line_key(by)
    lines = engine.keep("""
        SELECT *, dense_rank() OVER (ORDER BY {names}) AS _g
        FROM (SELECT {keys}, {labels} FROM (SELECT DISTINCT {columns} FROM {d}) d) l
    """.format(keys=", ".join(keys), labels=", ".join("%s AS %s" % (expr, name) for name, expr in groups),
               names=", ".join(labels), d=downloads,
               columns=", ".join(dict.fromkeys([*keys, "name", *(MADE_OF[b] for b in by)]))))
    named = engine.keep("SELECT DISTINCT _g, %s FROM %s" % (", ".join(labels), lines))
    # Then the downloads grouped by their group's number with their tokens (a client that downloads a file
    # again is one row: far fewer rows than downloads), and the distinct counts over those rows.
    month = MONTH_START % "r.day" if monthly or distinct == "hll" else None
    kept = engine.keep("""
        SELECT l._g{month}, r.c_id AS c, r.e_id AS e, CASE WHEN r.c_id IS NULL THEN r.ip_id END AS _ip,
               sum(r.downloads) AS downloads
        FROM {d} r JOIN {lines} l ON {match}
        GROUP BY l._g{month_expr}, r.c_id, r.e_id, CASE WHEN r.c_id IS NULL THEN r.ip_id END
    """.format(month=", %s AS _month" % month if month else "", month_expr=", " + month if month else "",
               d=downloads, lines=lines, match=" AND ".join("l.%s IS NOT DISTINCT FROM r.%s" % (k, k) for k in keys)))
    # The kept rows with their groups' labels: what the coarser groupings and the sketches read.
    time = ", %s AS time" % MONTH.replace("day", "k._month") if monthly else ""
    downloads_sql = "SELECT {labels}{time}{month}, c, e, _ip, downloads FROM {kept} k JOIN {named} g ON g._g = k._g".format(
        labels=", ".join("g.%s" % name for name in labels), time=time, kept=kept, named=named,
        month=", k._month" if distinct == "hll" else "")
    counted = ", ".join("%s AS %s" % (_distinct(values) if distinct == "exact" else "0", name)
                        for name, values in _COUNTED if name != "_clients")
    # One pass: the groups, and the totals (the empty grouping set).
    by_month = ", _month" if monthly else ""
    _, grouped = engine.rows("""
        SELECT _g, _total, counts, {measures}{time}
        FROM (SELECT _g{by_month}, grouping(_g) AS _total, coalesce(sum(downloads), 0) AS counts, {counted}
              FROM {kept} GROUP BY GROUPING SETS ((_g{by_month}), ())) k
    """.format(by_month=by_month, counted=counted, kept=kept, time=time,
               measures=", ".join(name for name, _ in _COUNTED if name != "_clients")))
    label_of = {row[0]: row[1:] for row in engine.rows("SELECT * FROM %s" % named)[1]}
    packages_seen = len({label[0] for label in label_of.values()})
    columns = [*names, "_total", "counts", "clients", "environments", "_clients", "_sources"]
    rows = [[*(label_of[g] if not total else [None] * len(labels)), *month_text,
             total, counts, clients, envs, clients, sources]
            for g, total, counts, clients, envs, sources, *month_text in grouped]
    if distinct == "hll":
        rows = _estimated(engine, downloads_sql, names, columns, rows)
    total = columns.index("_total")
    totals = [row for row in rows if row[total]]
    downloads, clients, envs, _, sources = totals[0][total + 1:] if totals else (0, 0, 0, 0, 0)
    rows = [row[:total] + row[total + 1:] for row in rows if not row[total]]
    columns = columns[:total] + columns[total + 1:]
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
    title = "Downloads and distinct clients by " + ", ".join(names)
    if len(shown) < len(rows):
        title += " (the %d packages with the most clients of %d)" % (len(shown), len(rows))
    table = Table("popularity", title, columns, shown, labels=len(names), backing={"counts": "_sources"})
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
