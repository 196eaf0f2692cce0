"""Ingestion: log files in, requests and counted rejections out, exactly once.

For each input, one pass in Python decompresses (gzip, zstd or plain,
recognised by their first bytes), skips the part ingested before (the
manifest in table ``sources`` knows each input by a fingerprint of its first
4 KiB, so a renamed or rotated file is still recognised), counts the new
lines and writes them to a scratch file. DuckDB's CSV reader then parses them
in parallel; lines it cannot split are kept in its reject table with the
reason. Every new line ends up as a request, a rejection with a reason, or a
blank line, and the three add up to the line count. The requests, the
rejections and the manifest update are one transaction: a killed ingest
leaves the store as it was, and running it again gives the same counts.
"""

import hashlib
import os
import re
import shutil
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from . import model
from .formats import FORMATS, detect
from .store import load_key, open_store, pseudonym_sql

FINGERPRINT_BYTES = 4096
_EMPTY_LINE = re.compile(rb"^\r?\n", re.M)
SAMPLES = 3
_CHUNK = 1 << 20

_READER_REASONS = {
    "MISSING COLUMNS": "bad format",
    "TOO MANY COLUMNS": "bad format",
    "UNQUOTED VALUE": "bad format",
    "CAST": "bad format",
    "INVALID UNICODE": "bad encoding",
    "INVALID ENCODING": "bad encoding",
    "LINE SIZE OVER MAXIMUM": "line too long",
    "MAXIMUM LINE SIZE": "line too long",
}


class InputError(Exception):
    """An input that cannot be read at all; the message names it."""


@dataclass
class FileReport:
    path: str
    format: str = ""
    lines: int = 0
    parsed: int = 0
    blank: int = 0
    rejected: dict = field(default_factory=dict)
    already: int = 0  # lines ingested by earlier runs
    note: str = ""

    @property
    def rejected_total(self):
        return sum(self.rejected.values())


class _GzipStream:
    """gzip members one after another, keeping every byte a truncated stream yields."""

    def __init__(self, handle):
        self._handle = handle
        self._inflate = zlib.decompressobj(wbits=31)

    def read(self, size):
        while True:
            compressed = self._handle.read(size)
            if not compressed:
                if not self._inflate.eof and (self._inflate.unconsumed_tail or self._started):
                    self._started = False
                    raise EOFError("compressed stream ends before its end marker")
                return b""
            self._started = True
            out = self._inflate.decompress(compressed)
            while self._inflate.eof and self._inflate.unused_data:
                rest = self._inflate.unused_data
                self._inflate = zlib.decompressobj(wbits=31)
                out += self._inflate.decompress(rest)
            if self._inflate.eof and not self._inflate.unused_data:
                self._started = False
            if out:
                return out

    _started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def _open_decompressed(path):
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller
    magic = handle.read(4)
    handle.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return _GzipStream(handle)
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
    return handle


def _copy_new_part(path, skip, scratch):
    """Copy the decompressed bytes after ``skip`` to ``scratch``.

    Returns ``(fingerprint, total_bytes, new_lines, blank_lines, note)``.
    A damaged compressed stream keeps what could be read, with a note.
    """
    note = ""
    digest = hashlib.sha256()
    fingerprint_left = FINGERPRINT_BYTES
    position = lines = blank = 0
    previous_end = b"\n"
    with _open_decompressed(path) as source, open(scratch, "wb") as out:
        while True:
            try:
                chunk = source.read(_CHUNK)
            except (EOFError, zlib.error, OSError) as exc:
                note = "damaged or truncated compressed data (%s): kept what was readable" % (
                    type(exc).__name__)
                break
            except Exception as exc:  # noqa: BLE001 - zstd raises its own error type
                note = "damaged compressed data (%s): kept what was readable" % type(exc).__name__
                break
            if not chunk:
                break
            if fingerprint_left:
                digest.update(chunk[:fingerprint_left])
                fingerprint_left -= min(fingerprint_left, len(chunk))
            start = position
            position += len(chunk)
            if position <= skip:
                continue
            new = chunk[max(0, skip - start):]
            out.write(new)
            lines += new.count(b"\n")
            empties = len(_EMPTY_LINE.findall(new))
            if previous_end != b"\n" and _EMPTY_LINE.match(new):
                empties -= 1  # the chunk starts inside a line, not at an empty one
            blank += empties
            previous_end = new[-1:]
    if position > skip and previous_end != b"\n":
        lines += 1  # a last line without a newline is a line too
    return digest.hexdigest(), position, lines, blank, note


def _reader_sql(path, fmt):
    return (
        "read_csv('%s', delim=' ', quote='\"', escape='\\', header=false, auto_detect=false,"
        " strict_mode=true, store_rejects=true, rejects_table='reader_rejects', rejects_scan='reader_scans',"
        " rejects_limit=0, max_line_size=4194304, columns=%s)" % (str(path).replace("'", "''"), fmt.reader_columns())
    )


_NETWORK = (
    "CASE WHEN contains(ip, ':') THEN array_to_string(list_transform("
    "list_concat(list_filter(string_split(CASE WHEN contains(ip, '::') THEN split_part(ip, '::', 1)"
    " ELSE ip END, ':'), lambda g: g <> ''), ['0', '0', '0'])[1:3], lambda g: lpad(lower(g), 4, '0')), ':')"
    " || '::/48' ELSE regexp_extract(ip, '^(\\d+\\.\\d+\\.\\d+)\\.\\d+$', 1) || '.0/24' END"
)
def _insert_statements(source_id, key, raw, keep_account_tokens):
    """SQL that turns table ``checked`` into rows of ``requests``.

    Request lines, user agents and addresses repeat a lot: each distinct one
    is modelled (and its tokens or address turned into pseudonyms) once, and
    the rows are joined to the results.
    """

    def hide(expr):
        return expr if raw else pseudonym_sql(expr, key)

    requests = """
    CREATE OR REPLACE TEMP TABLE request_model AS
    SELECT *, {package} FROM (
        SELECT request_key, {request} FROM (
            SELECT request_key, nullif(request_key, '') AS request
            FROM (SELECT DISTINCT coalesce(request, '') AS request_key FROM checked)))
    """.format(package=", ".join(model.package_fields()), request=", ".join(model.request_fields()))
    account = "a" if keep_account_tokens else "NULL::VARCHAR"
    agents = """
    CREATE OR REPLACE TEMP TABLE agent_model AS
    SELECT agent_key, client_family, client_version, python_version, os_name, os_version, aau_version,
           {c} AS c, {s} AS s, {e} AS e, {a} AS a,
           list_transform(i, lambda v: {v}) AS i, list_transform(o, lambda v: {v}) AS o,
           list_transform(m, lambda v: {v}) AS m
    FROM (
        SELECT agent_key, {agent}, {tokens} FROM (
            SELECT agent_key, nullif(agent_key, '') AS user_agent, {tail} AS aau_tail
            FROM (SELECT DISTINCT coalesce(user_agent, '') AS agent_key FROM checked)))
    """.format(agent=", ".join(model.agent_fields()), tokens=", ".join(model.token_fields()),
               tail=model.aau_tail("nullif(agent_key, '')"), c=hide("c"), s=hide("s"), e=hide("e"),
               a=hide(account), v=hide("v"))
    addresses = """
    CREATE OR REPLACE TEMP TABLE address_model AS
    SELECT address_key, {ip} AS ip, {network} AS network
    FROM (SELECT ip AS address_key, {raw_network} AS raw_network FROM (SELECT DISTINCT ip FROM checked))
    """.format(ip=hide("address_key"), network=hide("raw_network"),
               raw_network=_NETWORK)
    insert = """
    INSERT INTO requests
    SELECT k.ts, CAST(k.ts AS DATE), d.ip, d.network, r.method, k.status, k.bytes, r.path, r.channel,
           r.subdir, r.filename, r.name, r.version, r.build, r.ext, r.kind, g.client_family, g.client_version,
           g.python_version, g.os_name, g.os_version, g.aau_version, g.c, g.s, g.e, g.a, g.i, g.o, g.m,
           {source_id}, NULL
    FROM checked k
    JOIN request_model r ON r.request_key = coalesce(k.request, '')
    JOIN agent_model g ON g.agent_key = coalesce(k.user_agent, '')
    JOIN address_model d ON d.address_key IS NOT DISTINCT FROM k.ip
    WHERE k.reason IS NULL
    """.format(source_id=int(source_id))
    return [requests, agents, addresses, insert]


def _checked_sql(fmt, scratch):
    f = fmt.raw_fields()
    return """
    CREATE OR REPLACE TEMP TABLE checked AS
    SELECT *, CASE WHEN ts IS NULL THEN 'bad time'
                   WHEN status IS NULL OR bytes IS NULL THEN 'bad format' END AS reason
    FROM (
        SELECT {ip} AS ip, {request} AS request, {ua} AS user_agent,
               CAST(try_strptime({time}, '[%d/%b/%Y:%H:%M:%S %z]') AT TIME ZONE 'UTC' AS TIMESTAMP) AS ts,
               try_cast({status} AS INTEGER) AS status,
               CASE WHEN {nbytes} = '-' THEN 0 ELSE try_cast({nbytes} AS BIGINT) END AS bytes,
               concat_ws(' ', {ip}, {time}, {request}, {status}, {nbytes}) AS sample
        FROM {reader}
    )
    """.format(ip=f["ip"], request=f["request"], ua=f["user_agent"], time=f["time_text"],
               status=f["status_text"], nbytes=f["bytes_text"], reader=_reader_sql(scratch, fmt))


def _expand(inputs):
    """Files named by ``inputs`` (paths, globs, directories, ``-``), in order."""
    import glob

    for item in inputs:
        if item == "-":
            yield item
            continue
        path = Path(item)
        if path.is_dir():
            yield from sorted(str(p) for p in path.rglob("*") if p.is_file())
        elif path.exists():
            yield str(path)
        else:
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise InputError("%s: no such file, directory or matching glob" % item)
            yield from matches


def ingest(inputs, db_path, fmt=None, raw=False, keep_account_tokens=False, on_file=None):
    """Ingest ``inputs`` into the store at ``db_path``; return a report per file."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError("--format %s: unknown; known formats: %s" % (fmt, ", ".join(FORMATS)))
    con = open_store(db_path)
    key = load_key(db_path)
    reports = []
    with tempfile.TemporaryDirectory(prefix="aau-stats-") as work:
        for number, name in enumerate(_expand(inputs)):
            path = name
            if name == "-":
                path = os.path.join(work, "stdin-%d" % number)
                with open(path, "wb") as out:
                    shutil.copyfileobj(sys.stdin.buffer, out)
            report = _ingest_one(con, key, name, path, os.path.join(work, "new-part"), fmt, raw,
                                 keep_account_tokens)
            reports.append(report)
            if on_file:
                on_file(report)
    con.close()
    return reports


def _ingest_one(con, key, name, path, scratch, fmt_name, raw, keep_account_tokens):
    report = FileReport(path=name)
    try:
        with _open_decompressed(path) as probe:
            try:
                head = probe.read(FINGERPRINT_BYTES)
            except (EOFError, zlib.error) as exc:  # damaged data: the full pass says how much is readable
                head = getattr(exc, "partial", b"")
    except OSError as exc:
        raise InputError("%s: cannot read (%s)" % (name, exc.strerror or exc)) from exc
    known = []
    for (length,) in con.execute("SELECT DISTINCT fingerprint_bytes FROM sources").fetchall():
        # A fingerprint covers the first min(4 KiB, size then) bytes: compare like with like.
        if length is not None and length <= len(head):
            known += con.execute(
                "SELECT source_id, bytes_done, lines_done, format FROM sources"
                " WHERE fingerprint = ? AND fingerprint_bytes = ?",
                [hashlib.sha256(head[:length]).hexdigest(), length]).fetchall()
        if known:
            break
    source_id, skip, already, stored_format = known[0] if known else (None, 0, 0, None)
    fingerprint, total, lines, blank, note = _copy_new_part(path, skip, scratch)
    fingerprint = (fingerprint, min(total, FINGERPRINT_BYTES))
    report.already, report.lines, report.blank, report.note = already, lines, blank, note
    if total < skip:
        report.note = "shorter than when it was ingested: not ingested again"
        return report
    if lines == 0:
        report.format = stored_format or ""
        return report
    sample = []
    with open(scratch, "rb") as handle:
        for line in handle:
            if line.strip():
                sample.append(line)
            if len(sample) == 50:
                break
    fmt_name = fmt_name or stored_format or detect(sample)
    if fmt_name is None:
        report.rejected = {"unknown format": lines - blank}
        report.note = "no known log format recognised"
        con.execute("BEGIN TRANSACTION")
        _record(con, source_id, name, fingerprint, None, total, already + lines, report, [])
        con.execute("COMMIT")
        return report
    report.format = fmt_name
    fmt = FORMATS[fmt_name]
    con.execute("BEGIN TRANSACTION")
    try:
        if source_id is None:
            source_id = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()[0][0]
        con.execute("DROP TABLE IF EXISTS reader_rejects")
        con.execute("DROP TABLE IF EXISTS reader_scans")
        con.execute(_checked_sql(fmt, scratch))
        for statement in _insert_statements(source_id, key, raw, keep_account_tokens):
            con.execute(statement)
        report.parsed = con.execute("SELECT count(*) FROM checked WHERE reason IS NULL").fetchall()[0][0]
        samples = []
        for reason, count, examples in con.execute(
                "SELECT reason, count(*), list(sample)[1:%d] FROM checked WHERE reason IS NOT NULL"
                " GROUP BY reason" % SAMPLES).fetchall():
            report.rejected[reason] = report.rejected.get(reason, 0) + count
            samples.append((reason, examples))
        for error_type, count, examples in con.execute(
                "SELECT error_type, count(*), list(csv_line)[1:%d] FROM (SELECT line, first(error_type)"
                " AS error_type, first(csv_line) AS csv_line FROM reader_rejects GROUP BY line)"
                " GROUP BY error_type" % SAMPLES).fetchall():
            reason = _READER_REASONS.get(str(error_type).upper(), "bad format")
            report.rejected[reason] = report.rejected.get(reason, 0) + count
            samples.append((reason, examples))
        missing = lines - report.parsed - report.rejected_total - blank
        if missing > 0:
            report.rejected["unreadable by the reader"] = missing
        elif missing < 0:
            report.blank = max(0, blank + missing)
        _record(con, source_id, name, fingerprint, fmt_name, total, already + lines, report, samples)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report


def _record(con, source_id, name, fingerprint, fmt_name, total, lines_done, report, samples):
    if source_id is None:
        source_id = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()[0][0]
    con.execute("DELETE FROM sources WHERE source_id = ?", [source_id])
    con.execute("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                [source_id, name, fingerprint[0], fingerprint[1], fmt_name, total, lines_done])
    by_reason = dict(samples)
    for reason, count in report.rejected.items():
        con.execute("INSERT INTO rejections VALUES (?, ?, ?, ?)",
                    [source_id, reason, count, [str(s)[:500] for s in by_reason.get(reason, [])]])
