"""The public dataset: anaconda-package-data's layout, which condastats reads, with the tokens' columns.

``conda/hourly/YYYY/MM/YYYY-MM-DD.parquet`` and
``conda/monthly/YYYY/YYYY-MM.parquet`` (snappy Parquet), each row one
``data_source``, ``time``, ``pkg_name``, ``pkg_version``, ``pkg_platform``
and ``pkg_python``, with condastats' raw download ``counts`` and, from the
tokens: ``clients`` and ``environments`` (distinct), ``new_installs``,
``updates`` and ``redownloads``, ``ci_counts`` and ``ci_clients`` (CI-like
clients, as :mod:`aau_stats.questions.lifecycles` decides), and
``tokened_counts`` (downloads that carried an environment token:
``new_installs + updates + redownloads``). Monthly values are computed over
the month, never summed from the hours (distinct counts do not add up).

Every value is protected by the rules of :mod:`aau_stats.disclosure`: backed
by fewer than ``k`` distinct clients (addresses for downloads without
tokens), it is null, and so is any value that, with the published ones,
would give a null one back (an hour of a month whose other hours and total
are published, say). :func:`protect_cells` decides this in SQL for the
shapes the dataset's relations take, and hands any other month to that
module's general elimination; tests check its result with that module's
independent :func:`~aau_stats.disclosure.recovered`.

Publishing is atomic: the files of a new version are written into
``.versions/N`` (files whose content did not change are hard links to the
previous version's), and ``conda`` is a symbolic link swapped in one
``rename``. A reader, or a ``kill -9``, sees the previous dataset or the
new one, whole.
"""

import contextlib
import datetime
import filecmp
import itertools
import json
import os
import shutil
from pathlib import Path

import duckdb

from . import __version__
from .disclosure import Problem, Relation
from .files import write_atomically
from .formats.base import quote_sql
from .questions import DuckDBEngine, Scope
from .questions._sql import DOWNLOAD
from .questions.lifecycles import classified_sql
from .questions.popularity import BY

DEFAULT_SOURCES = {"defaults": "anaconda", "main": "anaconda", "pkgs/main": "anaconda", "pkgs/r": "anaconda",
                   "pkgs/msys2": "anaconda", "anaconda": "anaconda", "r": "anaconda", "free": "anaconda",
                   "pkgs/free": "anaconda", "conda-forge": "conda-forge", "bioconda": "bioconda"}
LABELS = ("data_source", "time", "pkg_name", "pkg_version", "pkg_platform", "pkg_python")
VALUES = ("counts", "clients", "environments", "new_installs", "updates", "redownloads", "ci_counts", "ci_clients",
          "tokened_counts")
ADDITIVE = ("counts", "new_installs", "updates", "redownloads", "ci_counts", "tokened_counts")
SCHEMA = {
    "data_source": ("string", "the channel, as anaconda-package-data names it (anaconda for the defaults)"),
    "time": ("timestamp (UTC, the hour) in hourly files; string YYYY-MM in monthly files", "when"),
    "pkg_name": ("string", "the package"),
    "pkg_version": ("string", "its version"),
    "pkg_platform": ("string", "the subdir (linux-64, noarch, ...)"),
    "pkg_python": ("string", "the Python of the build (3.11 from py311...), or none"),
    "counts": ("int64", "downloads: successful package GETs, as anaconda-package-data counts them"),
    "clients": ("int64", "distinct c/ tokens among them"),
    "environments": ("int64", "distinct e/ tokens among them"),
    "new_installs": ("int64", "first download of the package in its environment"),
    "updates": ("int64", "first download of a version or build the environment had not had, after another"),
    "redownloads": ("int64", "a version and build the environment had downloaded before"),
    "ci_counts": ("int64", "downloads by CI-like clients"),
    "ci_clients": ("int64", "distinct CI-like clients"),
    "tokened_counts": ("int64", "downloads that carried an environment token (new_installs + updates + redownloads)"),
}


class PublishError(Exception):
    """A dataset that cannot be written as asked; the message names the input."""


def _source_sql(sources):
    whens = " ".join("WHEN channel = '%s' THEN '%s'" % (k.replace("'", "''"), v.replace("'", "''"))
                     for k, v in sources.items())
    return "CASE %s ELSE coalesce(channel, 'unknown') END" % whens if whens else "coalesce(channel, 'unknown')"


def _rows_sql(scope, sources):
    """Every download in scope with its labels, its kind (new, update, redownload) and whether its client is CI-like;
    the tokens and the address as their counting keys (see :data:`aau_stats.model.KEYED_REQUESTS`)."""
    engine = scope.engine
    classified = engine.keep(classified_sql(scope, "c", 2, 2))
    history = scope.requests(time=False)
    return """
        WITH d AS (SELECT * FROM {history} r WHERE {download}),
        ranked AS (
            SELECT ts, day, channel, name, version, build, subdir, c_id AS c, e_id AS e, ip_id AS ip,
                   CASE WHEN e IS NULL THEN NULL
                        WHEN row_number() OVER (PARTITION BY e, name ORDER BY ts, version, build) = 1 THEN 'new'
                        WHEN row_number() OVER (PARTITION BY e, name, version, build ORDER BY ts) = 1 THEN 'update'
                        ELSE 'redownload' END AS how
            FROM d)
        SELECT {source} AS data_source, date_trunc('hour', ts) AS hour, substr(CAST(day AS VARCHAR), 1, 7) AS month,
               day, name AS pkg_name, version AS pkg_version, {platform} AS pkg_platform, {python} AS pkg_python,
               r.c, e, ip, how, CASE WHEN k.lifecycle = 'ci-like' THEN r.c END AS ci
        FROM ranked r LEFT JOIN {classified} k ON k.id = r.c
        WHERE {window}
    """.format(history=history, download=DOWNLOAD, source=_source_sql(sources), platform=BY["platform"][1],
               python=BY["python"][1], classified=classified, window=" AND ".join(scope.time_conditions()) or "TRUE")


def _grouped_sql(rows, time):
    return """
        SELECT *, row_number() OVER (ORDER BY {order}) - 1
                  AS _n FROM (
        SELECT data_source, {time} AS time, pkg_name, pkg_version, pkg_platform, pkg_python,
               count(*) AS counts, count(DISTINCT c) AS clients, count(DISTINCT e) AS environments,
               count(CASE WHEN how = 'new' THEN 1 END) AS new_installs,
               count(CASE WHEN how = 'update' THEN 1 END) AS updates,
               count(CASE WHEN how = 'redownload' THEN 1 END) AS redownloads,
               count(ci) AS ci_counts, count(DISTINCT ci) AS ci_clients, count(e) AS tokened_counts,
               count(DISTINCT c) + count(DISTINCT CASE WHEN c IS NULL THEN ip END) AS _sources,
               count(DISTINCT ci) AS _ci, min(month) AS _month,
               min(day) AS _day
        FROM {rows} d GROUP BY ALL) g
    """.format(time=time, rows=rows, order=", ".join("%s NULLS LAST" % c for c in LABELS))


def _backing(column):
    return {"counts": "_sources", "ci_counts": "_ci", "ci_clients": "_ci"}.get(column, "clients")


def _protect(hourly, monthly, columns, k):
    """The cells to null: ``{(file kind, row index, column)}``, primary and secondary, over the hours and
    the months together (a month's additive values are the sums of its hours'), by the general elimination
    of :mod:`aau_stats.disclosure`. The rows are lists (indexed by position) or ``{index: row}``."""
    if k <= 1:
        return set()
    problem = _problem(hourly, monthly, columns, k)
    status, _ = problem.solve()
    return set(status)


def _problem(hourly, monthly, columns, k):
    """The dataset's cells and relations as a :class:`~aau_stats.disclosure.Problem`."""
    index = {c: i for i, c in enumerate(columns)}
    problem = Problem(k)
    keys = {}
    for kind, rows in (("m", monthly), ("h", hourly)):
        for n, row in (rows.items() if isinstance(rows, dict) else enumerate(rows)):
            for column in VALUES:
                problem.cell((kind, n, column), row[index[column]], row[index[_backing(column)]],
                             headline=kind == "m")
            problem.relations.append(Relation([((kind, n, "tokened_counts"), 1), ((kind, n, "new_installs"), -1),
                                               ((kind, n, "updates"), -1), ((kind, n, "redownloads"), -1)]))
            key = (*(row[index[c]] for c in LABELS if c != "time"), row[index["_month"]])
            keys.setdefault(key, {"m": [], "h": []})[kind].append(n)
    for parts in keys.values():
        for month in parts["m"]:
            for column in ADDITIVE:
                problem.relations.append(Relation([(("m", month, column), 1),
                                                   *((("h", n, column), -1) for n in parts["h"])]))
    return problem


BIT = {c: 1 << i for i, c in enumerate(VALUES)}
BLOCK = ("new_installs", "updates", "redownloads")


def _primary_sql(k):
    """A row's primary cells as a bit mask (:data:`BIT`): backed by fewer than ``k``, unless a zero nobody is
    behind."""
    return " + ".join("CASE WHEN %s < %d AND NOT (%s = 0 AND %s = 0) THEN %d ELSE 0 END" % (
        _backing(c), k, _backing(c), c, BIT[c]) for c in VALUES)


def protect_cells(con, tables, k):
    """The withheld cells of the grouped tables ``tables`` (``{"h": hours, "m": months}``, in ``con``) at
    threshold ``k``: the name of a table ``(kind, n, mask)`` and the number of cells withheld.

    The same rules as :mod:`aau_stats.disclosure`, decided in SQL for the shapes the dataset's relations
    take, so that no cell passes through Python:

    - ``counts`` and ``ci_counts``: a month is the sum of its hours. Two withheld values or more keep each
      other safe (none is zero); one alone is protected by withholding the smallest other hour, as the
      general elimination would.
    - ``tokened_counts = new_installs + updates + redownloads`` in each row, and the month's are the
      sums of the hours'. A row backed by fewer than ``k`` clients is withheld whole; then a column of
      those is undetermined exactly when it holds two withheld cells or more and they are not all zero
      (a withheld ``tokened_counts`` is the sum of its row). Where a column fails that, the smallest
      hours that fix it are withheld too (their non-zero cells), in :func:`_cover`.
    - ``clients``, ``environments`` and ``ci_clients`` are in no relation: the threshold alone.

    A month whose rows fall outside these shapes (a value without the row's clients behind it, say) goes to
    the general elimination, component by component.
    """
    if k <= 1:
        con.execute("CREATE OR REPLACE TEMP TABLE aau_masks (kind VARCHAR, n BIGINT, mask BIGINT)")
        return "aau_masks", 0
    key = ("data_source", "pkg_name", "pkg_version", "pkg_platform", "pkg_python", "_month")
    block_ok = ("((clients = 0 AND tokened_counts = 0 AND new_installs = 0 AND updates = 0 AND redownloads = 0)"
                " OR (clients > 0 AND tokened_counts > 0)) AND tokened_counts = new_installs + updates + redownloads")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE aau_cells AS
        SELECT 'm' AS kind, _n AS comp, * EXCLUDE (time), {primary} AS p, {ok} AS ok FROM {m}
        UNION ALL BY NAME
        SELECT 'h' AS kind, m._n AS comp, h.* FROM (
            SELECT * EXCLUDE (time), {primary} AS p, {ok} AS ok FROM {h}) h JOIN {m} m ON {same}
    """.format(primary=_primary_sql(k), ok=block_ok, m=tables["m"], h=tables["h"],
               same=" AND ".join("h.%s IS NOT DISTINCT FROM m.%s" % (c, c) for c in key)))
    # One component per month row: what the rules need to know of it.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE aau_components AS
        SELECT comp, bool_and(ok) AS ok,
               count(*) FILTER (p & {counts} <> 0) AS counts_p, bool_or(kind = 'm' AND p & {counts} <> 0) AS counts_m,
               count(*) FILTER (kind = 'h' AND p & {counts} = 0 AND counts > 0) AS counts_q,
               count(*) FILTER (p & {ci} <> 0) AS ci_p, bool_or(kind = 'm' AND p & {ci} <> 0) AS ci_m,
               count(*) FILTER (kind = 'h' AND p & {ci} = 0 AND ci_counts > 0) AS ci_q,
               bool_or(kind = 'm' AND p & {tokened} <> 0) AS block_m,
               count(*) FILTER (kind = 'h' AND p & {tokened} <> 0) AS block_p,
               count(*) FILTER (kind = 'h' AND clients >= {k}) AS block_q,
               {sums}, {months}
        FROM aau_cells GROUP BY comp
    """.format(counts=BIT["counts"], ci=BIT["ci_counts"], tokened=BIT["tokened_counts"], k=k,
               sums=", ".join("coalesce(sum(%s) FILTER (kind = 'h' AND p & %d <> 0), 0) AS p_%s" % (
                   c, BIT["tokened_counts"], c) for c in BLOCK),
               months=", ".join("max(%s) FILTER (kind = 'm') AS m_%s" % (c, c) for c in BLOCK)))
    # The general elimination decides the components outside the shapes below: a value without the row's
    # clients behind it; a withheld month with published hours; a lone withheld value with nothing to pair.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE aau_general AS SELECT comp FROM aau_components
        WHERE NOT ok OR (block_m AND block_q > 0) OR (counts_p = 1 AND (counts_m OR counts_q = 0))
           OR (ci_p = 1 AND (ci_m OR ci_q = 0))
    """)
    # counts and ci_counts: one withheld value alone takes the smallest other non-zero hour with it.
    lone = ["""
        SELECT 'h' AS kind, _n AS n, {bit} AS mask FROM (
            SELECT c._n, row_number() OVER (PARTITION BY c.comp ORDER BY c.{column}, c._n DESC) AS rank
            FROM aau_cells c JOIN aau_components g USING (comp)
            WHERE g.{name}_p = 1 AND c.kind = 'h' AND c.p & {bit} = 0 AND c.{column} > 0
              AND c.comp NOT IN (SELECT comp FROM aau_general))
        WHERE rank = 1""".format(bit=BIT[column], column=column, name=name)
            for column, name in (("counts", "counts"), ("ci_counts", "ci"))]
    # The tokens' block: components with a column left determined get more hours, chosen in Python.
    violated = " OR ".join("(m_%s > 0 AND (block_p < 2 OR p_%s = 0))" % (c, c) for c in BLOCK)
    rows = con.execute("""
        SELECT g.comp, c._n, c.tokened_counts, {block}, g.block_p, {months}, {sums}
        FROM aau_components g LEFT JOIN aau_cells c ON c.comp = g.comp AND c.kind = 'h' AND c.clients >= {k}
        WHERE NOT g.block_m AND g.block_p > 0 AND ({violated}) AND g.comp NOT IN (SELECT comp FROM aau_general)
        ORDER BY g.comp
    """.format(block=", ".join("c." + c for c in BLOCK), months=", ".join("g.m_" + c for c in BLOCK),
               sums=", ".join("g.p_" + c for c in BLOCK), violated=violated, k=k)).fetchall()
    covered, uncovered = _cover(rows)
    extra = [(kind, n, mask) for comp, kind, n, mask in covered if comp not in uncovered]
    if uncovered:
        con.executemany("INSERT INTO aau_general VALUES (?)", [(c,) for c in sorted(uncovered)])
    if con.execute("SELECT count(*) FROM aau_general").fetchone()[0]:
        extra += [(kind, n, mask) for (kind, n), mask in _general(con, k).items()]
    con.execute("CREATE OR REPLACE TEMP TABLE aau_extra (kind VARCHAR, n BIGINT, mask BIGINT)")
    if extra:
        con.executemany("INSERT INTO aau_extra VALUES (?, ?, ?)", extra)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE aau_masks AS
        SELECT kind, n, bit_or(mask) AS mask FROM (
            SELECT kind, _n AS n, p AS mask FROM aau_cells
            WHERE p <> 0 AND comp NOT IN (SELECT comp FROM aau_general)
            UNION ALL {lone}
            UNION ALL SELECT kind, n, mask FROM aau_extra)
        GROUP BY ALL
    """.format(lone=" UNION ALL ".join(lone)))
    withheld = con.execute("SELECT coalesce(sum(bit_count(mask)), 0) FROM aau_masks").fetchone()[0]
    return "aau_masks", int(withheld)


def _cover(rows):
    """The hours to withhold with a component's withheld rows so that no column of the tokens' block is
    determined: ``([(component, kind, n, mask)], {components this cannot cover})``.

    ``rows``: the hours backed by enough clients of each such component, sorted by component, each
    ``(component, n, tokened_counts, new_installs, updates, redownloads, withheld rows, the month's three
    values, the withheld rows' three sums)``; a component with no such hour has one row of ``n`` None.
    A column is determined when it has one withheld cell, or only zeros; one more hour with a non-zero
    value there undoes that. Hours are taken, with their non-zero cells, until no column is: each time the
    one that fixes the most columns, the smallest (by ``tokened_counts``) of those, the later of equals.
    """
    out, uncovered = [], set()
    for comp, group in itertools.groupby(rows, key=lambda r: r[0]):
        hours = list(group)
        first = hours[0]
        hours = [r for r in hours if r[1] is not None]
        months, sums = first[7:10], first[10:13]
        determined = {c for c in range(3) if months[c] > 0 and (first[6] < 2 or sums[c] == 0)}
        while determined:
            pick = max(hours, key=lambda r: (sum(r[3 + c] > 0 for c in determined), -r[2], r[1]), default=None)
            if pick is None or not any(pick[3 + c] > 0 for c in determined):
                uncovered.add(comp)
                break
            hours.remove(pick)
            determined -= {c for c in range(3) if pick[3 + c] > 0}
            out.append((comp, "h", pick[1], BIT["tokened_counts"] | sum(
                BIT[BLOCK[c]] for c in range(3) if pick[3 + c] > 0)))
    return out, uncovered


def _general(con, k):
    """The general elimination over the components of table ``aau_general``: ``{(kind, n): mask}``."""
    cursor = con.execute("SELECT * EXCLUDE (p, ok) FROM aau_cells WHERE comp IN (SELECT comp FROM aau_general)")
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    kind, n = columns.index("kind"), columns.index("_n")
    hourly = {r[n]: r for r in rows if r[kind] == "h"}
    monthly = {r[n]: r for r in rows if r[kind] == "m"}
    masks = {}
    for cell_kind, row, column in _protect(hourly, monthly, columns, k):
        masks[cell_kind, row] = masks.get((cell_kind, row), 0) | BIT[column]
    return masks


def publish(db, out, filters=None, min_clients=10, sources=None, engine=None):
    """Write the dataset of the store at ``db`` into ``out``; return a summary dict.

    ``sources``: more ``{channel: data_source}`` names (over :data:`DEFAULT_SOURCES`). ``engine``: the
    engine to compute on (a :class:`~aau_stats.spark.questions.SparkEngine`, or a DuckDB engine over a Parquet
    store); the files are written by DuckDB either way.
    """
    out = Path(out)
    mapping = {**DEFAULT_SOURCES, **(sources or {})}
    if out.exists() and not out.is_dir():
        raise PublishError("%s: not a folder" % out)
    out.mkdir(parents=True, exist_ok=True)
    versions = out / ".versions"
    versions.mkdir(exist_ok=True)
    with _only_writer(versions, out):
        return _publish(db, out, versions, filters, min_clients, mapping, engine)


@contextlib.contextmanager
def _only_writer(versions, out):
    """One publish at a time into ``out`` (a second one fails at once, named); and the scratch folders of
    publishes killed before are removed."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here: publish as before
        yield
        return
    with open(versions / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError("%s: another publish is writing this dataset now" % out) from None
        for left in versions.glob(".spark-*"):
            shutil.rmtree(left, ignore_errors=True)
        yield


def _publish(db, out, versions, filters, min_clients, mapping, engine):
    with engine or DuckDBEngine(db) as engine:
        scope = Scope(engine, filters)
        rows = engine.keep(_rows_sql(scope, mapping))
        tables = {"h": engine.keep(_grouped_sql(rows, "hour")), "m": engine.keep(_grouped_sql(rows, "month"))}
        span = engine.rows("SELECT min(day), max(day), count(*) FROM %s r" % scope.requests())[1][0]
        tokened, downloads = engine.rows("SELECT count(e), count(*) FROM %s d" % rows)[1][0]
        accounting = _accounting(engine, span)
        with _Writer(engine, tables, versions) as writer:
            masks, withheld = protect_cells(writer.con, writer.tables, min_clients)
            sizes = {kind: writer.con.execute("SELECT count(*) FROM %s" % name).fetchone()[0]
                     for kind, name in writer.tables.items()}
            previous = _current(out)
            number = 1 + max([int(p.name) for p in versions.iterdir() if p.name.isdigit()], default=0)
            staging = versions / (".%d.partial" % number)
            if staging.exists():
                shutil.rmtree(staging)
            (staging / "conda").mkdir(parents=True)  # a dataset with no download yet is an empty one, not an error
            written, kept = [], []
            for kind, part in (("h", "_day"), ("m", "_month")):
                for when, in writer.con.execute("SELECT DISTINCT %s FROM %s ORDER BY 1" % (
                        part, writer.tables[kind])).fetchall():
                    relative = _relative(kind, when)
                    target = staging / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _write_parquet(writer.con, writer.tables[kind], masks, kind, part, when, target)
                    old = previous / relative if previous else None
                    if old is not None and old.exists() and filecmp.cmp(old, target, shallow=False):
                        target.unlink()
                        os.link(old, target)
                        kept.append(relative)
                    else:
                        written.append(relative)
    final = versions / str(number)
    os.rename(staging, final)
    link = out / ".conda.new"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(Path(".versions") / str(number) / "conda", link)
    _describe(out, final, span, min_clients, mapping, downloads, tokened, accounting, written, kept,
              withheld)
    os.replace(link, out / "conda")
    for old in versions.iterdir():  # readers of the version before this one are done with it by now
        if old.name.isdigit() and int(old.name) < number - 1:
            shutil.rmtree(old, ignore_errors=True)
    return {"written": written, "unchanged": kept, "withheld": withheld, "version": number,
            "hourly_rows": sizes["h"], "monthly_rows": sizes["m"]}


class _Writer:
    """The DuckDB connection that writes the files, and the grouped tables in it: the engine's own
    connection on DuckDB; on Spark, an in-memory DuckDB reading the tables Spark wrote as Parquet."""

    def __init__(self, engine, tables, versions):
        self.folder = None
        if engine.name == "duckdb":
            self.con, self.tables = engine.con, tables
            return
        self.folder = versions / (".spark-%d" % os.getpid())
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.tables = {}
        for kind, name in tables.items():
            path = self.folder / kind
            engine.spark.table(name).write.parquet(str(path))
            self.tables[kind] = "grouped_" + kind
            self.con.execute("CREATE TABLE %s AS SELECT * REPLACE (%s) FROM read_parquet(%s)" % (
                self.tables[kind], "CAST(time AS TIMESTAMP) AS time" if kind == "h" else "CAST(time AS VARCHAR) AS time",
                quote_sql(str(path / "*.parquet"))))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.folder is not None:
            self.con.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def _current(out):
    link = out / "conda"
    if link.is_symlink():
        return (out / os.readlink(link)).parent
    return None


def _relative(kind, when):
    if kind == "h":
        return Path("conda", "hourly", "%04d" % when.year, "%02d" % when.month, "%s.parquet" % when.isoformat())
    return Path("conda", "monthly", when[:4], "%s.parquet" % when)


def _write_parquet(con, table, masks, kind, part, when, target):
    """One file, with the withheld cells null, through DuckDB's writer (snappy)."""
    values = ", ".join("CAST(CASE WHEN coalesce(m.mask, 0) & %d <> 0 THEN NULL ELSE t.%s END AS BIGINT) AS %s"
                       % (1 << i, c, c) for i, c in enumerate(VALUES))
    con.execute("""
        COPY (SELECT {labels}, {values} FROM {table} t LEFT JOIN {masks} m ON m.kind = '{kind}' AND m.n = t._n
              WHERE t.{part} = ? ORDER BY t._n) TO {target} (FORMAT parquet, COMPRESSION snappy)
    """.format(labels=", ".join("t." + c for c in LABELS), values=values, table=table, masks=masks, kind=kind,
               part=part, target=quote_sql(str(target))), [when])


def _accounting(engine, span):
    """The days with requests, and the lines rejected: ``{"days": [...], "rejected": [(first day, last day,
    {reason: lines})] or None}``, one entry per run of days the inputs covered (``None`` days: inputs with no
    line accepted); ``rejected`` is None for a store that does not record its rejections."""
    table = "requests"
    if engine.name == "duckdb" and engine.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'request_rows'"):
        table = "request_rows"  # the same days, without the view's joins
    days = [d for d, in engine.rows("SELECT DISTINCT day FROM %s ORDER BY 1" % table)[1]]
    rejected = _rejections(engine, table == "request_rows")
    if rejected is None:
        return {"days": days, "rejected": None}
    spans = {s: (a, b) for s, a, b in engine.rows("SELECT source_id, min(day), max(day) FROM %s GROUP BY 1" % table)[1]}
    first, last = span[0], span[1]
    runs = {}
    for source, reasons in rejected.items():
        a, b = spans.get(source, (None, None))
        if a is not None and (b < first or a > last):
            continue  # an input outside the published period
        run = runs.setdefault((a, b), {})
        for reason, lines in reasons.items():
            run[reason] = run.get(reason, 0) + lines
    order = sorted(runs, key=lambda r: (r[0] is None, r[0] or datetime.date.min, r[1] or datetime.date.min))
    return {"days": days, "rejected": [(a, b, runs[a, b]) for a, b in order if any(runs[a, b].values())]}


def _rejections(engine, store):
    """``{source_id: {reason: lines}}``: the DuckDB store's table, or the commit log of a Parquet store
    Spark wrote; None when the store keeps no record of them (a DuckDB store's Parquet export)."""
    from .spark.ingest import SOURCES

    found = {}
    if store:
        rows = engine.rows("SELECT source_id, reason, sum(lines) FROM rejections GROUP BY ALL")[1]
    elif engine.name == "spark":
        try:
            log = engine.spark.read.parquet("%s/%s" % (str(engine.db_path).rstrip("/"), SOURCES))
        except Exception:  # noqa: BLE001 - Spark's AnalysisException: no commit log, an exported store
            return None
        rows = [(r["source_id"], reason, lines) for r in log.where("status = 'done'").collect()
                for reason, lines in (r["rejected"] or {}).items()]
    elif (Path(engine.db_path) / SOURCES).is_dir():
        rows = engine.con.execute(
            "SELECT source_id, unnest(map_keys(rejected)), unnest(map_values(rejected)) FROM read_parquet(%s)"
            " WHERE status = 'done'" % quote_sql(str(Path(engine.db_path) / SOURCES / "*.parquet"))).fetchall()
    else:
        return None
    for source, reason, lines in rows:
        found.setdefault(source, {})[reason] = found.get(source, {}).get(reason, 0) + int(lines or 0)
    return found


def _describe(out, final, span, k, mapping, downloads, tokened, accounting, written, kept, withheld):
    """The dataset's README, schema, changelog and known issues, kept up to date by each publish."""
    first, last, requests = span
    schema = {"layout": {"hourly": "conda/hourly/YYYY/MM/YYYY-MM-DD.parquet",
                         "monthly": "conda/monthly/YYYY/YYYY-MM.parquet"},
              "compression": "snappy", "min_clients": k,
              "columns": {c: {"type": t, "meaning": m} for c, (t, m) in SCHEMA.items()},
              "additive": list(ADDITIVE),
              "not_additive": ["clients", "environments", "ci_clients"],
              "note": "monthly values are computed over the month; distinct counts are not sums of the hours'",
              "data_source": mapping,
              "months": sorted({str(p.stem) for p in final.glob("conda/monthly/*/*.parquet")}),
              "days": sorted({str(p.stem) for p in final.glob("conda/hourly/*/*/*.parquet")})}
    write_atomically(out / "schema.json", json.dumps(schema, indent=2) + "\n")
    coverage = 100.0 * tokened / downloads if downloads else 0.0
    readme = ["# conda downloads, with anonymous usage tokens", "",
              "The layout and columns of anaconda-package-data, which condastats reads; published by aau-stats %s"
              " from %s to %s (%s requests, %s downloads)." % (__version__, first, last, "{:,}".format(requests),
                                                               "{:,}".format(downloads)), "",
              "## Columns", ""]
    readme += ["- `%s` (%s): %s" % (c, t, m) for c, (t, m) in SCHEMA.items()]
    readme += ["", "Monthly files are computed over the month: `clients`, `environments` and `ci_clients` are"
               " distinct counts and are not the sums of the hours'.", "",
               "## Privacy", "",
               "A value backed by fewer than %d distinct clients (distinct addresses for downloads without"
               " tokens) is null, and so is any value that, with the published ones, would give a null one back"
               " by subtraction (secondary suppression). No token, address or pseudonym is in any file." % k, "",
               "## Coverage", "",
               "%.1f %% of the downloads carried an environment token (`tokened_counts` over `counts`); the"
               " new columns describe those only." % coverage, ""]
    write_atomically(out / "README.md", "\n".join(readme))
    log = out / "CHANGELOG.md"
    previous = log.read_text() if log.exists() else "# Changelog\n\n"
    entry = "- %s: version %s, %d files written, %d unchanged, %d values withheld (k = %d).\n" % (
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), final.name, len(written),
        len(kept), withheld, k)
    write_atomically(log, previous + entry)
    days = accounting["days"]
    gaps = []
    for a, b in zip(days, days[1:]):
        if (b - a).days > 1:
            gaps.append("- no requests from %s to %s" % (a + datetime.timedelta(days=1), b - datetime.timedelta(days=1)))
    known = ["# Known issues", "", "## Gaps in the logs", ""] + (gaps or ["- none"]) + [""]
    known += ["## Rejected lines", ""]
    if accounting["rejected"] is None:
        known += ["This store does not record the lines it rejected (an exported Parquet store).", ""]
    else:
        known += ["Lines of the logs that were not requests aau-stats could read, by the days of the inputs they"
                  " were in (every line of every input is either a request, a blank line, a header or one of"
                  " these):", ""]
        for a, b, reasons in accounting["rejected"]:
            when = "inputs with no line accepted" if a is None else str(a) if a == b else "%s to %s" % (a, b)
            lines = sum(reasons.values())
            known.append("- %s: %s line%s (%s)" % (when, "{:,}".format(lines), "s" * (lines != 1), ", ".join(
                "%s %s" % (reason, "{:,}".format(n)) for reason, n in sorted(reasons.items(), key=lambda r: -r[1]))))
        if not accounting["rejected"]:
            known.append("- none")
        known.append("")
    write_atomically(out / "KNOWN_ISSUES.md", "\n".join(known))
