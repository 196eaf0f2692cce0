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

Every value passes through :mod:`aau_stats.disclosure`: backed by fewer than
``k`` distinct clients (addresses for downloads without tokens), it is null,
and so is any value that, with the published ones, would give a null one
back (an hour of a month whose other hours and total are published, say).

Publishing is atomic: the files of a new version are written into
``.versions/N`` (files whose content did not change are hard links to the
previous version's), and ``conda`` is a symbolic link swapped in one
``rename``. A reader, or a ``kill -9``, sees the previous dataset or the
new one, whole.
"""

import datetime
import json
import os
import shutil
from pathlib import Path

import duckdb

from . import __version__
from .disclosure import Problem, Relation
from .files import write_atomically
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
    """Every download in scope with its labels, its kind (new, update, redownload) and whether its client is CI-like."""
    engine = scope.engine
    classified = engine.keep(classified_sql(scope, "c", 2, 2))
    history = scope.requests(time=False)
    return """
        WITH d AS (SELECT * FROM {history} r WHERE {download}),
        ranked AS (
            SELECT ts, day, channel, name, version, build, subdir, c, e, ip,
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
               count(DISTINCT coalesce(c, ip)) AS _sources, count(DISTINCT ci) AS _ci, min(month) AS _month,
               min(day) AS _day
        FROM {rows} d GROUP BY ALL) g
    """.format(time=time, rows=rows, order=", ".join("%s NULLS LAST" % c for c in LABELS))


def _backing(column):
    return {"counts": "_sources", "ci_counts": "_ci", "ci_clients": "_ci"}.get(column, "clients")


def _protect(hourly, monthly, columns, k):
    """The cells to null: ``{(file kind, row index, column)}``, primary and secondary, over the hours and
    the months together (a month's additive values are the sums of its hours')."""
    if k <= 1:
        return set()
    index = {c: i for i, c in enumerate(columns)}
    problem = Problem(k)
    keys = {}
    for kind, rows in (("m", monthly), ("h", hourly)):
        for n, row in enumerate(rows):
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
    status, _ = problem.solve()
    return set(status)


def publish(db, out, filters=None, min_clients=10, sources=None, engine=None):
    """Write the dataset of the store at ``db`` into ``out``; return a summary dict.

    ``sources``: more ``{channel: data_source}`` names (over :data:`DEFAULT_SOURCES`). ``engine``: the
    engine to compute on (a :class:`~aau_stats.questions.SparkEngine`, or a DuckDB engine over a Parquet
    store); the files are written by DuckDB either way.
    """
    out = Path(out)
    mapping = {**DEFAULT_SOURCES, **(sources or {})}
    if out.exists() and not out.is_dir():
        raise PublishError("%s: not a folder" % out)
    out.mkdir(parents=True, exist_ok=True)
    versions = out / ".versions"
    versions.mkdir(exist_ok=True)
    with engine or DuckDBEngine(db) as engine:
        scope = Scope(engine, filters)
        rows = engine.keep(_rows_sql(scope, mapping))
        tables = {"h": engine.keep(_grouped_sql(rows, "hour")), "m": engine.keep(_grouped_sql(rows, "month"))}
        columns, hourly = engine.rows("SELECT * FROM %s ORDER BY _n" % tables["h"])
        _, monthly = engine.rows("SELECT * FROM %s ORDER BY _n" % tables["m"])
        span = engine.rows("SELECT min(day), max(day), count(*) FROM %s r" % scope.requests())[1][0]
        tokened, downloads = engine.rows("SELECT count(e), count(*) FROM %s d" % rows)[1][0]
        accounting = _accounting(engine, span)
        withheld = _protect(hourly, monthly, columns, min_clients)
        with _Writer(engine, tables, versions) as writer:
            masks = _masks(writer.con, withheld, out)
            previous = _current(out)
            number = 1 + max([int(p.name) for p in versions.iterdir() if p.name.isdigit()], default=0)
            staging = versions / (".%d.partial" % number)
            if staging.exists():
                shutil.rmtree(staging)
            written, kept = [], []
            for kind, table, part in (("h", hourly, "_day"), ("m", monthly, "_month")):
                for when in sorted({row[columns.index(part)] for row in table}):
                    relative = _relative(kind, when)
                    target = staging / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _write_parquet(writer.con, writer.tables[kind], masks, kind, part, when, target)
                    old = previous / relative if previous else None
                    if old is not None and old.exists() and _same_rows(writer.con, old, target):
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
    _describe(out, final, columns, span, min_clients, mapping, downloads, tokened, accounting, written, kept,
              len(withheld))
    os.replace(link, out / "conda")
    for old in versions.iterdir():  # readers of the version before this one are done with it by now
        if old.name.isdigit() and int(old.name) < number - 1:
            shutil.rmtree(old, ignore_errors=True)
    return {"written": written, "unchanged": kept, "withheld": len(withheld), "version": number,
            "hourly_rows": len(hourly), "monthly_rows": len(monthly)}


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
                _quote(path / "*.parquet")))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.folder is not None:
            self.con.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def _quote(path):
    return "'%s'" % str(path).replace("'", "''")


def _current(out):
    link = out / "conda"
    if link.is_symlink():
        return (out / os.readlink(link)).parent
    return None


def _relative(kind, when):
    if kind == "h":
        return Path("conda", "hourly", "%04d" % when.year, "%02d" % when.month, "%s.parquet" % when.isoformat())
    return Path("conda", "monthly", when[:4], "%s.parquet" % when)


def _masks(con, withheld, out):
    """The withheld cells as a table of ``(kind, n, mask)``, one bit per value column, read from a CSV file
    (thousands of rows reach DuckDB far faster that way than one INSERT each)."""
    masks = {}
    for kind, n, column in withheld:
        masks[kind, n] = masks.get((kind, n), 0) | 1 << VALUES.index(column)
    path = out / (".masks-%d.csv" % os.getpid())
    with open(path, "w", encoding="ascii") as handle:
        handle.write("kind,n,mask\n")
        handle.writelines("%s,%d,%d\n" % (kind, n, mask) for (kind, n), mask in masks.items())
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE aau_masks AS SELECT * FROM read_csv(%s, header = true,"
                    " columns = {'kind': 'VARCHAR', 'n': 'BIGINT', 'mask': 'BIGINT'})" % _quote(path))
        return "aau_masks"
    finally:
        path.unlink()


def _write_parquet(con, table, masks, kind, part, when, target):
    """One file, with the withheld cells null, through DuckDB's writer (snappy)."""
    values = ", ".join("CAST(CASE WHEN coalesce(m.mask, 0) & %d <> 0 THEN NULL ELSE t.%s END AS BIGINT) AS %s"
                       % (1 << i, c, c) for i, c in enumerate(VALUES))
    con.execute("""
        COPY (SELECT {labels}, {values} FROM {table} t LEFT JOIN {masks} m ON m.kind = '{kind}' AND m.n = t._n
              WHERE t.{part} = ? ORDER BY t._n) TO {target} (FORMAT parquet, COMPRESSION snappy)
    """.format(labels=", ".join("t." + c for c in LABELS), values=values, table=table, masks=masks, kind=kind,
               part=part, target=_quote(target)), [when])


def _same_rows(con, old, new):
    query = "SELECT md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY CAST(t AS VARCHAR))) FROM read_parquet(%s) t"
    return con.execute(query % _quote(old)).fetchone()[0] == con.execute(query % _quote(new)).fetchone()[0]


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
    from .spark_ingest import SOURCES

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
            " WHERE status = 'done'" % _quote(Path(engine.db_path) / SOURCES / "*.parquet")).fetchall()
    else:
        return None
    for source, reason, lines in rows:
        found.setdefault(source, {})[reason] = found.get(source, {}).get(reason, 0) + int(lines or 0)
    return found


def _describe(out, final, columns, span, k, mapping, downloads, tokened, accounting, written, kept, withheld):
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
