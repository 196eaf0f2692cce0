"""``popularity`` answered from a published dataset (:mod:`aau_stats.publish`) instead of a store.

A package developer with no logs asks condastats' queries of an operator's
published dataset, a local folder or an ``https://`` or ``s3://`` location,
read by DuckDB's own Parquet readers. The monthly files are read: the
additive columns (``counts``, the installs, CI and tokened downloads) are
summed over the rows of each group, and a group with a withheld (null)
value among its rows is withheld too, so no sum passes off a part as the
whole. Distinct counts (``clients``, ``environments``, ``ci_clients``) are not
sums: they are given only where a group is one row of the files.
"""

import datetime
import json
import os
import urllib.parse

import duckdb

from ._answer import Answer, Headline, Table
from ._scope import QuestionError

ADDITIVE = ("counts", "new_installs", "updates", "redownloads", "ci_counts", "tokened_counts")
DISTINCT = ("clients", "environments", "ci_clients")
BY = {"platform": "pkg_platform", "source": "data_source", "version": "pkg_version", "python": "pkg_python"}


def _remote(location):
    return urllib.parse.urlparse(location).scheme in ("http", "https", "s3")


def _connect(location):
    """A DuckDB connection that reads ``location``: DuckDB's httpfs extension where it is installed, else
    DuckDB's readers over an fsspec file system (``pip install 'aau-stats[remote]'``)."""
    con = duckdb.connect()
    if not _remote(location):
        return con
    scheme = urllib.parse.urlparse(location).scheme
    try:
        con.execute("LOAD httpfs")
        return con
    except duckdb.Error:
        pass
    try:
        con.register_filesystem(_file_system(scheme))
    except ImportError as exc:
        raise QuestionError("--dataset %s: reading %s:// needs DuckDB's httpfs extension (INSTALL httpfs) or fsspec"
                            " (pip install 'aau-stats[remote]'): %s" % (location, scheme, exc)) from None
    return con


def _file_system(scheme):
    if scheme == "s3":
        import s3fs

        # Public data is read anonymously unless credentials are configured; AWS_ENDPOINT_URL_S3 (or
        # AWS_ENDPOINT_URL) names an S3-compatible server other than AWS.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        credentials = any(os.environ.get(v) for v in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"))
        return s3fs.S3FileSystem(anon=not credentials, client_kwargs={"endpoint_url": endpoint} if endpoint else {})
    import email.utils

    from fsspec.implementations.http import HTTPFileSystem

    class _Web(HTTPFileSystem):
        """HTTP(S) with the modification time DuckDB asks for (from ``Last-Modified``)."""

        def modified(self, path):
            stamp = self.info(path).get("Last-Modified")
            return email.utils.parsedate_to_datetime(stamp) if stamp else datetime.datetime.fromtimestamp(
                0, datetime.timezone.utc)

    return _Web()


def _files(con, location, since, until):
    """The monthly files of ``location`` for months ``since``..``until`` (``YYYY-MM``, either None)."""
    base = location.rstrip("/")
    try:
        if _remote(location):
            found = con.execute("SELECT content FROM read_text(?)", [base + "/schema.json"]).fetchone()
            if found is None:
                raise OSError("%s/schema.json: not found" % base)
            schema = json.loads(found[0])
        else:
            with open(base + "/schema.json", encoding="utf-8") as handle:
                schema = json.load(handle)
    except (OSError, ValueError, duckdb.Error) as exc:
        raise QuestionError("--dataset %s: not a published dataset (no readable schema.json: %s)" % (
            location, str(exc).splitlines()[0])) from None
    months = [m for m in schema.get("months", []) if (since is None or m >= since) and (until is None or m <= until)]
    return ["%s/conda/monthly/%s/%s.parquet" % (base, m[:4], m) for m in months]


def popularity_from_dataset(location, packages=(), by=(), monthly=False, since=None, until=None):
    """The popularity answer, as :func:`aau_stats.questions.popularity` gives it, from a dataset."""
    con = _connect(location)
    files = _files(con, location, since, until)
    labels = ["pkg_name", *(BY[b] for b in dict.fromkeys(by))] + (["time"] if monthly else [])
    title = "Downloads and distinct clients by " + ", ".join(labels) + " (from the dataset %s)" % location
    if not files:
        return Answer("popularity", "Package popularity", [Headline("downloads", 0, None)],
                      [Table("popularity", title, [*labels, *ADDITIVE, *DISTINCT], [], labels=len(labels),
                             backing={c: None for c in (*ADDITIVE, *DISTINCT)})], ["No month of the dataset in range."])
    where = "WHERE pkg_name IN (%s)" % ", ".join("?" * len(packages)) if packages else ""
    sums = ", ".join("CASE WHEN count(*) = count(%s) THEN sum(%s) END AS %s" % (c, c, c) for c in ADDITIVE)
    ones = ", ".join("CASE WHEN count(*) = 1 THEN min(%s) END AS %s" % (c, c) for c in DISTINCT)
    try:
        columns, rows = _query(con, """
            SELECT {labels}, {sums}, {ones} FROM read_parquet(?) {where}
            GROUP BY ALL ORDER BY counts DESC NULLS LAST, {labels}
        """.format(labels=", ".join(labels), sums=sums, ones=ones, where=where), [files, *packages])
        total = con.execute("SELECT sum(counts), count(*) = count(counts) FROM read_parquet(?) %s" % where,
                            [files, *packages]).fetchone()
    except duckdb.Error as exc:
        raise QuestionError("--dataset %s: %s" % (location, str(exc).splitlines()[0])) from None
    if packages:
        known = {row[0] for row in rows}
        missing = [p for p in packages if p not in known]
        if missing:
            raise QuestionError("unknown package %r: not in the dataset %s" % (missing[0], location))
    table = Table("popularity", title, columns, rows, labels=len(labels), backing={c: None for c in columns})
    notes = ["From a published dataset: values withheld there are withheld here, and a group with a withheld"
             " part is withheld whole. clients, environments and ci_clients are distinct counts, given only"
             " where a group is one row of the dataset's monthly files."]
    headline = [Headline("downloads", total[0] if total[1] else None, None, not total[1])]
    return Answer("popularity", "Package popularity", headline, [table], notes)


def _query(con, sql, parameters):
    cursor = con.execute(sql, parameters)
    return [d[0] for d in cursor.description], [list(r) for r in cursor.fetchall()]
