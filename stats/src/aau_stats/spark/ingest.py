"""Ingestion on Spark: logs from any path Spark reads into a Parquet store partitioned by day.

The same SQL as the DuckDB ingester does the work (:func:`.ingest.checked_select`
for the formats' parsing and the checks, :func:`.ingest.model_selects` for the
request model and the pseudonyms), rewritten for Spark by :func:`aau_stats.spark.to_spark`.
What differs is the reading and the writing:

- Spark's text reader cuts the lines at ``\\n`` (a ``\\r`` before it is
  dropped, a lone one becomes U+FFFD, as the DuckDB ingester does), and
  decompresses by file name (``.gz``, ``.bz2``; ``.zst`` where Hadoop has
  its native codec). A line that is not UTF-8 is rejected as ``bad
  encoding``, a line over 4 MiB as ``line too long``, as DuckDB's reader does;
- the rows are the wide schema of view ``requests`` (the schema ``aau-stats
  export --parquet`` writes), appended under ``DIR/day=YYYY-MM-DD/``; Spark
  keeps ``day`` in the directory names only;
- ``DIR/_aau_sources`` (Parquet) is the store's commit log. Before a file's
  rows are written, a ``started`` row names its ``source_id``; after, a
  ``done`` row adds its line accounting (``lines = parsed + rejected +
  blank + headers``) and masked samples of its rejections. Readers
  (:func:`committed_ids_sql`) take only the rows of ``done`` sources, so a
  run killed half-way leaves rows nobody reads, and the next run ingests
  that file again under a new id. A ``done`` file is not read again, nor is
  one that grew since: Spark reads whole files, so feed it rotated logs.
"""

import datetime
import re

from .. import ingest as duck
from ..addresses import SQL_NAME, canonical_ip
from ..formats import FORMATS, detect
from ..formats.base import MAX_LINE_BYTES
from . import spark_expression, to_spark

SOURCES = "_aau_sources"
REQUEST_COLUMNS = (
    "ts", "day", "ip", "network", "method", "status", "bytes", "path", "channel", "subdir", "filename", "name",
    "version", "build", "ext", "kind", "client_family", "client_version", "python_version", "os_name", "os_version",
    "aau_version", "c", "s", "e", "a", "i", "o", "m", "agent", "source_id", "raw",
)
_FROM_CHECKED = {"ts", "status", "bytes"}
_FROM_LINE = {"method", "path", "channel", "subdir", "filename", "name", "version", "build", "ext", "kind"}
_FROM_ADDRESS = {"ip", "network"}


def _one_line(exc):
    text = str(exc).strip()
    return re.sub(r"\s*SQLSTATE: \w+$", "", text.splitlines()[0]) if text else type(exc).__name__


def _analysis_error():
    try:
        from pyspark.errors import AnalysisException
    except ImportError:  # pragma: no cover - older pyspark
        from pyspark.sql.utils import AnalysisException
    return AnalysisException


def _canonical(uri):
    # Spark names one file file:///x in inputFiles() and file:/x in _metadata.file_path.
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*):///", r"\1:/", uri)


_CANONICAL_SQL = "regexp_replace(_metadata.file_path, '^([A-Za-z][A-Za-z0-9+.-]*):///', '$1:/')"


def list_files(spark, inputs):
    """The files each input names (a file, a directory, a glob; any scheme Spark reads), in order."""
    files = []
    for item in inputs:
        try:
            found = spark.read.option("recursiveFileLookup", "true").text(item).inputFiles()
        except _analysis_error() as exc:
            raise duck.InputError("%s: %s" % (item, _one_line(exc))) from None
        if not found:
            raise duck.InputError("%s: no files there" % item)
        files += sorted({_canonical(f) for f in found} - set(files))
    return files


def committed_ids_sql(sources):
    """SQL (both engines): the ids of the sources whose rows are complete, from the table ``sources``."""
    return "SELECT source_id FROM %s WHERE status = 'done'" % sources


def _ingested(spark, out_dir):
    """``({path: lines} of the files done, the largest id ever given)`` for the store at ``out_dir``."""
    try:
        rows = spark.read.parquet("%s/%s" % (out_dir, SOURCES)).select("path", "source_id", "lines", "status").collect()
    except _analysis_error():
        return {}, 0
    return ({row["path"]: row["lines"] for row in rows if row["status"] == "done"},
            max(row["source_id"] for row in rows))


def _head(spark, path):
    return [(row[0] or "").encode("utf-8") for row in
            spark.read.option("lineSep", "\n").text(path).limit(duck.DETECT_LINES * 4).collect()
            if (row[0] or "").strip()][:duck.DETECT_LINES]


def _layout(spark, path, fmt_name):
    head = _head(spark, path)
    found = fmt_name or detect(head)
    if found is None:
        return "", duck.UNKNOWN_LAYOUT
    return found, FORMATS[found].layout(head)


# The reader's part: lines cut at \n, a \r before it dropped, a lone one U+FFFD; what the reader rejects.
_READ_LINES = """
SELECT file, CASE WHEN valid THEN line ELSE make_valid_utf8(value) END AS line,
       CASE WHEN octet_length(value) > {max_bytes} THEN 'line too long'
            WHEN NOT valid THEN 'bad encoding' END AS reader_reason
FROM (SELECT file, value, is_valid_utf8(value) AS valid,
             nullif(replace(CASE WHEN endswith(value, '\\r') THEN substr(value, 1, length(value) - 1) ELSE value END,
                            '\\r', '\\uFFFD'), '') AS line
      FROM raw_lines)
"""


def _wide_select(raw):
    def column(name):
        if name == "day":
            return "CAST(k.ts AS DATE) AS day"
        if name == "source_id":
            return "f.source_id"
        if name == "raw":
            return "%s AS raw" % ("true" if raw else "false")
        table = "k" if name in _FROM_CHECKED else "r" if name in _FROM_LINE else "d" if name in _FROM_ADDRESS else "g"
        return "%s.%s" % (table, name)

    return """
    SELECT {columns}
    FROM checked k
    JOIN request_model r ON r.request_key = coalesce(k.request, '')
    JOIN agent_model g ON g.agent_key = coalesce(k.user_agent, '')
    JOIN address_model d ON d.address_key IS NOT DISTINCT FROM k.ip
    JOIN files f ON f.file = k.file
    WHERE k.reason IS NULL AND k.reader_reason IS NULL AND d.valid
    """.format(columns=", ".join(column(name) for name in REQUEST_COLUMNS))


# One row per file and outcome: NULL (a request), a rejection reason, 'blank' or 'header'.
_OUTCOMES = """
SELECT k.file, coalesce(k.reader_reason, CASE WHEN k.reason IS NULL AND NOT d.valid THEN 'bad address'
                                              ELSE k.reason END) AS outcome,
       count(*) AS lines,
       slice(collect_list(CASE WHEN k.reader_reason IS NOT NULL THEN k.reader_sample
                               WHEN k.reason IS NULL AND NOT d.valid
                               THEN left(concat_ws(' ', k.ip, k.request, k.status, k.bytes), 500)
                               ELSE k.sample END), 1, {samples}) AS samples
FROM checked k LEFT JOIN address_model d ON k.reason IS NULL AND d.address_key <=> k.ip
GROUP BY 1, 2
"""


def ingest(spark, inputs, out_dir, keys, fmt=None, raw=False, keep_account_tokens=False, on_file=None):
    """Ingest ``inputs`` into the Parquet store at ``out_dir`` on ``spark``; return a report per file."""
    if fmt is not None and fmt not in FORMATS:
        raise duck.InputError("--format %s: unknown; known formats: %s" % (fmt, ", ".join(FORMATS)))
    out_dir = str(out_dir).rstrip("/")
    spark.udf.register(SQL_NAME, canonical_ip, "string")  # the ingester's one function of Python's
    done, last_id = _ingested(spark, out_dir)
    next_id = last_id + 1  # never an id a killed run may have left rows under
    reports, groups, ids = {}, {}, {}
    for path in list_files(spark, inputs):
        if path in done:
            reports[path] = duck.FileReport(path=path, already=done[path], note="ingested before")
            continue
        found, layout = _layout(spark, path, fmt)
        reports[path] = duck.FileReport(path=path, format=found,
                                        note="" if found else "no known log format recognised")
        key = (layout.format_name, tuple(sorted(layout.fields.items())), layout.stages)
        groups.setdefault(key, (layout, []))[1].append(path)
        ids[path] = next_id
        next_id += 1
    for layout, paths in groups.values():
        _record(spark, out_dir, [(ids[path], reports[path], "started") for path in paths])
        _ingest_group(spark, layout, paths, ids, out_dir, keys, raw, keep_account_tokens, reports)
        _record(spark, out_dir, [(ids[path], reports[path], "done") for path in paths])
    ordered = [reports[path] for path in reports]
    if on_file:
        for report in ordered:
            on_file(report)
    return ordered


def _view(spark, sql, name, cache=False):
    frame = spark.sql(sql)
    if cache:
        frame = frame.cache()
    frame.createOrReplaceTempView(name)
    return frame


# CloudFront files that hold a second #Fields header (logs concatenated): each line is rewritten in the
# order of the layout's fields from the header before it, as the DuckDB ingester's _align_cloudfront_fields
# does. Only those files are ordered (by their position in the file) and rewritten.
_FIELDS_OF = "split(regexp_replace(substr(value, 9), '^\\\\s+|\\\\s+$', ''), '\\\\s+')"
_ALIGNED = """
SELECT file, CASE WHEN cur IS NULL OR cur = wanted OR startswith(value, '#') OR regexp_replace(value, '\\\\s', '') = ''
                  THEN value
                  WHEN size(vals) <> size(cur) THEN concat(stripped, repeat('\\t-', size(wanted) + 1))
                  ELSE concat_ws('\\t', transform(wanted, name -> CASE WHEN array_position(cur, name) > 0
                                                  THEN element_at(vals, CAST(array_position(cur, name) AS INT))
                                                  ELSE '-' END)) END AS value
FROM (SELECT file, value, stripped, split(stripped, '\\t') AS vals, array({wanted}) AS wanted,
             last(CASE WHEN startswith(value, '#Fields:') THEN {fields_of} END, true)
                 OVER (PARTITION BY file ORDER BY _position ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cur
      FROM (SELECT file, value, regexp_replace(value, '[\\r\\n]+$', '') AS stripped,
                   monotonically_increasing_id() AS _position FROM file_lines WHERE file IN ({files})))
UNION ALL
SELECT file, value FROM file_lines WHERE file NOT IN ({files})
"""


def _align_cloudfront_fields(spark, layout):
    """View ``raw_lines`` over view ``file_lines``: each CloudFront line in the order of ``layout``'s fields."""
    files = []
    if layout.format_name == "cloudfront":
        files = [row[0] for row in spark.sql("SELECT file FROM file_lines WHERE startswith(value, '#Fields:')"
                                             " GROUP BY file HAVING count(*) > 1").collect()]
    sql = _ALIGNED.format(wanted=", ".join(_literal(name) for name in layout.columns), fields_of=_FIELDS_OF,
                          files=", ".join(_literal(name) for name in files)) if files else "SELECT * FROM file_lines"
    spark.sql(sql).createOrReplaceTempView("raw_lines")


def _literal(text):
    return "'%s'" % text.replace("\\", "\\\\").replace("'", "\\'")


def _ingest_group(spark, layout, paths, ids, out_dir, keys, raw, keep_account_tokens, reports):
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    (spark.read.option("lineSep", "\n").text(paths).selectExpr("%s AS file" % _CANONICAL_SQL, "value")
     .createOrReplaceTempView("file_lines"))
    _align_cloudfront_fields(spark, layout)
    spark.createDataFrame([(path, ids[path]) for path in paths], StructType(
        [StructField("file", StringType()), StructField("source_id", IntegerType())])).createOrReplaceTempView("files")
    masked = spark_expression(duck.masked_sample_sql("line", raw))
    _view(spark, "SELECT *, CASE WHEN reader_reason IS NOT NULL THEN %s END AS reader_sample FROM (%s)" % (
        masked, _READ_LINES.format(max_bytes=MAX_LINE_BYTES)), "lines")
    # Lines the reader rejects go through the parser too (it never fails), but count under the reader's reason.
    checked = duck.checked_select(layout, "lines", raw, keep=("file", "reader_reason", "reader_sample"))
    cached = [_view(spark, to_spark(checked), "checked", cache=True)]
    for name, sql in zip(("address_model", "request_model", "agent_model"),
                         duck.model_selects(keys, raw, keep_account_tokens, ids=False)):
        cached.append(_view(spark, to_spark(sql), name, cache=True))
    # The addresses and request lines are few: each task gets all of them (no shuffle of the requests).
    wide = to_spark(_wide_select(raw)).replace("SELECT ", "SELECT /*+ BROADCAST(r), BROADCAST(d), BROADCAST(f) */ ", 1)
    spark.sql(wide).write.mode("append").partitionBy("day").parquet(out_dir)
    for row in spark.sql(_OUTCOMES.format(samples=duck.SAMPLES)).collect():
        report = reports[row["file"]]
        report.lines += row["lines"]
        outcome = row["outcome"]
        if outcome is None:
            report.parsed += row["lines"]
        elif outcome == "blank":
            report.blank += row["lines"]
        elif outcome == "header":
            report.headers += row["lines"]
        else:
            report.rejected[outcome] = report.rejected.get(outcome, 0) + row["lines"]
            report.samples.setdefault(outcome, []).extend(s for s in row["samples"] if s is not None)
    for frame in cached:
        frame.unpersist()


def _record(spark, out_dir, entries):
    """Append ``(source_id, report, status)`` rows to the commit log."""
    from pyspark.sql.types import (
        ArrayType,
        IntegerType,
        LongType,
        MapType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    schema = StructType([
        StructField("source_id", IntegerType()), StructField("path", StringType()), StructField("format", StringType()),
        StructField("lines", LongType()), StructField("parsed", LongType()), StructField("blank", LongType()),
        StructField("headers", LongType()), StructField("rejected", MapType(StringType(), LongType())),
        StructField("samples", MapType(StringType(), ArrayType(StringType()))),
        StructField("status", StringType()), StructField("ingested", TimestampType()),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    rows = [(source_id, report.path, report.format, report.lines, report.parsed, report.blank, report.headers,
             dict(report.rejected), {reason: values[:duck.SAMPLES] for reason, values in report.samples.items()},
             status, now) for source_id, report, status in entries]
    spark.createDataFrame(rows, schema).write.mode("append").parquet("%s/%s" % (out_dir, SOURCES))
