"""Ingestion: log files in, requests and counted rejections out, exactly once.

For each input, one pass in Python decompresses (gzip, zstd or plain,
recognised by their first bytes), skips the part ingested before (the
manifest in table ``sources`` knows each input by a fingerprint of its first
4 KiB, so a renamed or rotated file is still recognised), counts the new
lines and copies them into scratch files of about a GiB each (a plain file
of one part, read from its start, is read where it lies). That pass runs in
a thread of its own: DuckDB's CSV reader parses each part, in parallel, while
the next is copied; lines it cannot split are kept in its reject table with
the reason. Every new line ends up as a request, a rejection with a reason, or a
blank line, and the three add up to the line count. The requests, the
rejections and the manifest update are one transaction: a killed ingest
leaves the store as it was, and running it again gives the same counts.
"""

import array
import hashlib
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from . import model
from .addresses import SQL_NAME as CANONICAL_IP
from .addresses import register_duckdb
from .formats import FORMATS, Layout, detect
from .formats.base import LINE_READER_OPTIONS, MAX_LINE_BYTES, quote_sql
from .store import (
    DIMENSIONS,
    FIRST_YEAR,
    LAST_YEAR,
    TOKEN_IDS,
    download_rows_sql,
    load_keys,
    open_store,
    pseudonym_sql,
    session_rows_statements,
)

try:  # zlib-ng: the same streams and checksums, three times as fast to inflate
    from zlib_ng import zlib_ng as zlib
except ImportError:  # a platform without its wheel: the standard library's
    import zlib

FINGERPRINT_BYTES = 4096
BLOCK_BYTES = 4096  # the grain of the checks that an input is one ingested before
DETECT_BYTES = 65536
DETECT_LINES = 50
_EMPTY_LINE = re.compile(rb"^\r?\n", re.M)
SAMPLES = 3
_CHUNK = 1 << 20
# A larger input is copied in parts of about this many bytes (three million lines or so), each parsed in turn
# in the one transaction while the next is copied: DuckDB's tables of the lines stay the size of one part
# (they spill beyond its memory limit at most that much), and the parse of one overlaps the copy of the next.
PART_BYTES = 1 << 30

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
    headers: int = 0  # header lines of formats that have them (CloudFront's #Fields:)
    rejected: dict = field(default_factory=dict)
    already: int = 0  # lines ingested by earlier runs
    note: str = ""
    samples: dict = field(default_factory=dict)  # reason -> a few masked rejected lines

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
            # A quarter of a MiB at a time: inflated output of about a MiB stays in the caches (1.7x faster than 1 MiB).
            compressed = self._handle.read(min(size, 1 << 18))
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


def _compression(path):
    """``gzip``, ``zstd`` or ``None``: by the first bytes, confirmed by decoding the start.

    A file that starts like a compressed one but neither yields a byte nor
    ends a stream in its first 64 KiB is read as it is (nothing is lost to a
    wrong guess).
    """
    with open(path, "rb") as handle:
        start = handle.read(1 << 16)
    if start[:2] == b"\x1f\x8b":
        kind = "gzip"
    elif start[:4] == b"\x28\xb5\x2f\xfd":
        kind = "zstd"
    else:
        return None
    try:
        if kind == "gzip":
            decoder = zlib.decompressobj(wbits=31)
            ok = bool(decoder.decompress(start, 1)) or decoder.eof
        else:
            import zstandard

            decoder = zstandard.ZstdDecompressor().decompressobj()
            ok = bool(decoder.decompress(start)) or decoder.eof
    except Exception:  # noqa: BLE001 - zlib and zstandard raise their own errors
        return None
    return kind if ok else None


def _open_decompressed(path, kind=None):
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller
    if kind == "gzip":
        return _GzipStream(handle)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
    return handle


REPLACEMENT = "\ufffd".encode()


class _Normalised:
    """A writer that ends lines with ``\n`` only: ``\r\n`` becomes ``\n``, a lone ``\r`` U+FFFD.

    DuckDB's line reader takes one kind of line end per file, and a stray
    ``\r`` is no line end for the line count either.
    """

    def __init__(self, out):
        self._out = out
        self._carry = b""

    def write(self, data):
        data = self._carry + data
        self._carry = b"\r" if data.endswith(b"\r") else b""
        if self._carry:
            data = data[:-1]
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", REPLACEMENT)
        self._out.write(data)

    def close(self):
        if self._carry:
            self._out.write(REPLACEMENT)
        self._out.close()


class _Parts:
    """A writer into files ``prefix-1``, ``prefix-2``, ...: a part ends at the first line end after
    ``part_bytes``, so that each part is whole lines and DuckDB parses one part at a time in bounded memory.
    ``on_part(path)`` is called as each part is complete."""

    def __init__(self, prefix, part_bytes, on_part=None):
        self._prefix, self._part_bytes, self._on_part = prefix, part_bytes, on_part
        self.paths = []
        self._out = None
        self._size = 0

    def write(self, data):
        while data:
            if self._out is None:
                self.paths.append("%s-%d" % (self._prefix, len(self.paths) + 1))
                self._out = open(self.paths[-1], "wb")  # noqa: SIM115 - closed when the part is full
                self._size = 0
            cut = len(data)
            if self._size + len(data) >= self._part_bytes:
                end = data.find(b"\n", max(0, self._part_bytes - self._size - 1))
                cut = len(data) if end < 0 else end + 1
            self._out.write(data[:cut])
            self._size += cut
            if cut < len(data) or (self._size >= self._part_bytes and data.endswith(b"\n")):
                self._finish()
            data = data[cut:]

    def _finish(self):
        self._out.close()
        self._out = None
        if self._on_part is not None:
            self._on_part(self.paths[-1])

    def close(self):
        if self._out is not None:
            self._finish()


def _fields_headers(sources):
    """How many ``#Fields:`` header lines the files ``sources`` have (counted in chunks, at C speed)."""
    marker = b"\n#Fields:"
    count = 0
    for source in sources:
        tail = b"\n"  # each file (each part) starts at a line's start
        with open(source, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                data = tail + chunk
                count += data.count(marker)
                tail = data[-(len(marker) - 1):]  # shorter than the marker: nothing is counted twice
    return count


def _align_cloudfront_fields(sources, aligned, fields):
    """Concatenated CloudFront logs carry a ``#Fields:`` header per part, maybe in other orders: each
    governs the lines after it. When the files ``sources`` (one input, in order) hold a header other than
    ``fields`` (the one its layout reads), their lines are rewritten into ``aligned-1``, ``aligned-2``, ...
    in the order of ``fields`` (a column it lacks is ``-``; a line of the wrong length stays a bad line);
    returns the files to read: those, or ``sources`` when nothing needed rewriting.
    """
    if _fields_headers(sources) < 2:
        return sources  # every CloudFront file has one: only a second one needs the line-by-line pass
    wanted = tuple(fields)
    changed = False
    current = wanted
    outputs = ["%s-%d" % (aligned, number + 1) for number in range(len(sources))]
    for source, output in zip(sources, outputs):
        with open(source, "rb") as handle, open(output, "wb") as out:
            for line in handle:
                if line.startswith(b"#Fields:"):
                    current = tuple(line[len(b"#Fields:"):].decode("ascii", "replace").split())
                    changed = changed or current != wanted
                    out.write(line)
                    continue
                if current == wanted or line.startswith(b"#") or not line.strip():
                    out.write(line)
                    continue
                values = line.rstrip(b"\r\n").split(b"\t")
                if len(values) != len(current):  # longer than any layout: a bad line whatever its header
                    out.write(line.rstrip(b"\r\n") + b"\t-" * (len(wanted) + 1) + b"\n")
                    continue
                by_name = dict(zip(current, values))
                out.write(b"\t".join(by_name.get(name, b"-") for name in wanted) + b"\n")
    if not changed:
        for output in outputs:
            os.unlink(output)
        return sources
    return outputs


class _Blocks:
    """The crc32 of each ``BLOCK_BYTES`` of a stream, and of the block so far at each of ``marks``."""

    def __init__(self, marks=()):
        self.crcs = array.array("I")
        self.at = {}  # mark -> the crc32 of its block up to the mark
        self._marks = sorted(set(m for m in marks if m > 0), reverse=True)
        self._crc = self._fill = self._position = 0

    def update(self, data):
        view = memoryview(data)
        crc32 = zlib.crc32
        while view:
            while self._marks and self._marks[-1] <= self._position:
                self._marks.pop()
            if not self._fill:
                # Whole blocks before the next mark: at C speed, but for the call of each.
                whole = min(len(view), self._marks[-1] - self._position if self._marks else len(view))
                whole -= whole % BLOCK_BYTES
                if whole:
                    self.crcs.extend([crc32(view[i:i + BLOCK_BYTES]) for i in range(0, whole, BLOCK_BYTES)])
                    self._position += whole
                    view = view[whole:]
                    continue
            step = BLOCK_BYTES - self._fill
            if self._marks:
                step = min(step, self._marks[-1] - self._position)
            piece, view = view[:step], view[step:]
            self._crc = crc32(piece, self._crc)
            self._fill += len(piece)
            self._position += len(piece)
            if self._marks and self._marks[-1] == self._position:
                self.at[self._position] = self._crc
            if self._fill == BLOCK_BYTES:
                self.crcs.append(self._crc)
                self._crc = self._fill = 0

    def finish(self):
        """The crc32s of all blocks, the last one partial (as bytes: four, little-endian, a block)."""
        crcs = array.array("I", self.crcs)
        if self._fill:
            crcs.append(self._crc)
        if sys.byteorder != "little":
            crcs.byteswap()
        return crcs.tobytes()


@dataclass
class _Known:
    """An input the store has ingested before (a row of table ``sources``)."""

    source_id: int
    bytes_done: int
    lines_done: int
    format: str
    blocks: bytes = None  # None in stores from before block checks: the first 4 KiB alone tell
    tail_bytes: int = 0  # the last line had no newline yet: its length,
    tail_reason: str = None  # and the reason it was rejected (None: it was a request)

    def same_start(self, scan):
        """Whether the input ``scan`` read is this one, grown or not: its first ``bytes_done`` bytes are the same."""
        if scan.total < self.bytes_done:
            return False
        if self.blocks is None:
            return True
        full, part = divmod(self.bytes_done, BLOCK_BYTES)
        if self.blocks[:4 * full] != scan.blocks[:4 * full]:  # both as _Blocks.finish writes them
            return False
        return not part or scan.at.get(self.bytes_done) == int.from_bytes(self.blocks[4 * full:4 * full + 4], "little")

    def holds(self, scan):
        """Whether the shorter input ``scan`` read is a part of this one (a copy made while it was written)."""
        if scan.total >= self.bytes_done:
            return False
        if self.blocks is None:
            return True
        full = scan.total // BLOCK_BYTES
        return full > 0 and self.blocks[:4 * full] == scan.blocks[:4 * full]


@dataclass
class _Scan:
    total: int = 0  # decompressed bytes
    lines: int = 0  # lines in the new part
    saw_cr: bool = False
    note: str = ""
    at: dict = None  # the crc32 of the block so far at each mark (see _Blocks)
    blocks: bytes = b""
    fingerprint: str = ""
    tail_bytes: int = 0  # the length of a last line without a newline
    reread: bool = False  # the known last line, rejected, has grown: it is in the new part again
    parts: list = field(default_factory=list)  # the files the new part was copied into, in order


def _offer(items, item, stop):
    """Put ``item`` on the bounded queue ``items``, waiting for room until ``stop`` is set; whether it was put."""
    while not stop.is_set():
        try:
            items.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _ReadAhead:
    """Chunks of ``source``, read one ahead in a thread when ``threaded``: a compressed input is inflated
    (which releases the GIL) while the chunk before is counted, checksummed and copied.

    ``read`` returns the next chunk (``b""`` at the end) or raises what reading it raised.
    """

    def __init__(self, source, size, threaded):
        self._source, self._size = source, size
        self._thread = None
        if threaded:
            self._chunks = queue.Queue(maxsize=2)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="aau-stats-read-ahead", daemon=True)
            self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                chunk, error = self._source.read(self._size), None
            except BaseException as exc:  # noqa: BLE001 - handed to the reader, who decides
                chunk, error = None, exc
            if not _offer(self._chunks, (chunk, error), self._stop) or error is not None or not chunk:
                return

    def read(self):
        if self._thread is None:
            return self._source.read(self._size)
        chunk, error = self._chunks.get()
        if error is not None:
            raise error
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()


def _scan_new_part(path, kind, known, scratch, on_bytes=None, marks=(), on_part=None):
    """Read the whole decompressed input; count and copy to ``scratch`` (if given) what is new after ``known``.

    A last line ``known`` left without its newline is followed by its newline
    (which is then no blank line of its own) or by more of itself: then, if it
    was rejected as cut, it is read again whole. A damaged compressed stream
    keeps what could be read, with a note.
    """
    skip = known.bytes_done if known else 0
    tail = (known.tail_bytes or 0) if known else 0
    reread = bool(tail and known.tail_reason)
    scan = _Scan()
    digest = hashlib.sha256()
    fingerprint_left = FINGERPRINT_BYTES
    blocks = _Blocks({*marks, skip})
    position = 0
    held = bytearray()  # the known last line, while it may be read again
    started = skip == 0
    since_newline = 0
    last = b"\n"
    parts = _Parts(scratch, PART_BYTES, on_part) if scratch else None
    out = _Normalised(parts) if scratch else None
    try:
        with _open_decompressed(path, kind) as source, _ReadAhead(source, _CHUNK, kind is not None) as ahead:
            raw_handle = getattr(source, "_handle", source)  # the file under a gzip stream; zstd hides it
            while True:
                if on_bytes is not None and hasattr(raw_handle, "tell"):
                    on_bytes(raw_handle.tell())
                try:
                    chunk = ahead.read()
                except (EOFError, zlib.error, OSError) as exc:
                    scan.note = "damaged or truncated compressed data (%s): kept what was readable" % (
                        type(exc).__name__)
                    break
                except Exception as exc:  # noqa: BLE001 - zstd raises its own error type
                    scan.note = "damaged compressed data (%s): kept what was readable" % type(exc).__name__
                    break
                if not chunk:
                    break
                if fingerprint_left:
                    digest.update(chunk[:fingerprint_left])
                    fingerprint_left -= min(fingerprint_left, len(chunk))
                blocks.update(chunk)
                begin = position
                position += len(chunk)
                if started:
                    new = chunk
                else:
                    if reread and position > skip - tail:
                        held += chunk[max(0, skip - tail - begin):max(0, skip - begin)]
                    if position <= skip:
                        continue
                    started = True
                    new = chunk[skip - begin:]
                    if tail and new[:1] == b"\n":
                        new = new[1:]  # the known last line's own newline
                    elif reread and len(held) == tail:
                        new = bytes(held) + new
                        scan.reread = True
                    if not new:
                        continue
                if out:
                    out.write(new)
                count = new.count(b"\n")
                scan.lines += count
                since_newline = len(new) - new.rfind(b"\n") - 1 if count else since_newline + len(new)
                scan.saw_cr = scan.saw_cr or b"\r" in new
                last = new[-1:]
    finally:
        if out:
            out.close()
    if started and last != b"\n":
        scan.lines += 1  # a last line without a newline is a line too
        scan.tail_bytes = since_newline
    elif not started and tail and position == skip:
        scan.tail_bytes = tail  # nothing new: the known last line is still open
    scan.total, scan.at = position, blocks.at
    scan.blocks, scan.fingerprint = blocks.finish(), digest.hexdigest()
    scan.parts = parts.paths if parts else []
    return scan


_NETWORK = (
    "CASE WHEN contains(ip, ':') THEN array_to_string(list_transform("
    "list_slice(list_concat(list_filter(string_split(CASE WHEN contains(ip, '::') THEN split_part(ip, '::', 1)"
    " ELSE ip END, ':'), lambda g: g <> ''), ['0', '0', '0']), 1, 3), lambda g: lpad(lower(g), 4, '0')), ':')"
    " || '::/48' ELSE regexp_extract(ip, '^(\\d+\\.\\d+\\.\\d+)\\.\\d+$', 1) || '.0/24' END"
)
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# After canonical_ip: an address with a colon is valid when it had a canonical text at all.
_VALID_ADDRESS = "(regexp_full_match(ip, '(%s\\.){3}%s') OR contains(ip, ':'))" % (_OCTET, _OCTET)
# Rejected lines are kept as samples; tokens in them are masked, and addresses too unless the store is raw.
# A token follows a space, or an encoded one in CloudFront's user agents.
# A token is masked after its letter (c/*), and so is any run of 16 or more of the tokens' characters
# wherever it is: a rejected line may hold a token cut from its letter ("s/\xff<token>", a column moved).
_MASK_TOKENS = ("regexp_replace(regexp_replace(regexp_replace(%s,"
                " '(^|[ \t]|%%20|%%2520)([cseaiom])/[A-Za-z0-9_.-]+', '\\1\\2/*', 'g'),"
                " '/t/[^/ ]+/', '/t/*/', 'g'), '[A-Za-z0-9_-]{16,}', '*', 'g')")
# An address is masked with everything around it that could be part of one: "::ffff:192.0.2.1",
# "192.0.2.1:443" and "[2001:db8::1]" lose all their digits, valid or not (times like 10:00:00 go too).
_MASK_ADDRESSES = ("regexp_replace(%s, '[0-9A-Fa-f.:]*([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)"
                   "[0-9A-Fa-f.:]*', '*', 'g')")
SAMPLE_CHARS = 500  # what a sample keeps of a line; it is masked on four times as much, so nothing is cut half-masked


def model_selects(keys, raw, keep_account_tokens, ids=True):
    """SQL: the request model of each distinct address, request line and user agent of table ``checked``.

    Returns ``(address_model, request_model, agent_model)``, three SELECTs
    that both engines run. Addresses, request lines and user agents repeat
    a lot: each distinct one is modelled (and its tokens or address turned
    into pseudonyms) once. With ``ids``, each row also gets its keyed digest.
    """

    def hide(expr):
        return expr if raw else pseudonym_sql(expr, keys)

    def ident(expr, kind, name):
        # Keyed, and apart per kind and storage mode, so that ids say nothing and never collide across them.
        return "md5_number('%s' || '%s%s' || %s) AS %s, " % (keys[0], kind, "raw" if raw else "", expr, name) if ids else ""

    account = "a" if keep_account_tokens else "NULL::VARCHAR"
    # Each distinct spelling is modelled; its canonical text (see .addresses) makes its id and pseudonym.
    addresses = """
    SELECT address_key, {id}{ip} AS ip, {network} AS network, valid
    FROM (SELECT address_key, ip AS canonical, {raw_network} AS raw_network,
                 address_key IS NULL OR coalesce({valid}, false) AS valid
          FROM (SELECT address_key, CASE WHEN contains(address_key, ':') THEN {canonical}(address_key)
                                         ELSE address_key END AS ip
                FROM (SELECT DISTINCT ip AS address_key FROM checked WHERE reason IS NULL)))
    """.format(id=ident("coalesce(canonical, '')", "address", "address_digest"), ip=hide("canonical"),
               network=hide("raw_network"), raw_network=_NETWORK, valid=_VALID_ADDRESS, canonical=CANONICAL_IP)
    lines = """
    SELECT request_key, {id}method, path, channel, subdir, filename, name, version, build, ext, kind FROM (
        SELECT *, {package} FROM (
            SELECT request_key, {request} FROM (
                SELECT request_key, nullif(request_key, '') AS request
                FROM (SELECT DISTINCT coalesce(request, '') AS request_key FROM checked WHERE reason IS NULL))))
    """.format(id=ident("request_key", "line", "line_digest"), package=", ".join(model.package_fields()),
               request=", ".join(model.request_fields()))
    agents = """
    SELECT agent_key, {id}client_family, client_version, python_version, os_name, os_version,
           aau_version, {c} AS c, {s} AS s, {e} AS e, {a} AS a,
           list_transform(i, lambda v: {v}) AS i, list_transform(o, lambda v: {v}) AS o,
           list_transform(m, lambda v: {v}) AS m, {agent_name} AS agent
    FROM (
        SELECT agent_key, {agent}, {tokens} FROM (
            SELECT agent_key, nullif(agent_key, '') AS user_agent, {tail} AS aau_tail
            FROM (SELECT DISTINCT coalesce(user_agent, '') AS agent_key FROM checked WHERE reason IS NULL)))
    """.format(id=ident("agent_key", "agent" + ("+a" if keep_account_tokens else ""), "agent_digest"),
               agent=", ".join(model.agent_fields()), tokens=", ".join(model.token_fields()),
               tail=model.aau_tail("nullif(agent_key, '')"), c=hide("c"), s=hide("s"), e=hide("e"),
               a=hide(account), v=hide("v"), agent_name=pseudonym_sql("agent_key", keys))
    return addresses, lines, agents


def _insert_statements(source_id, keys, raw, keep_account_tokens):
    """SQL that turns table ``checked`` into request rows and the dimension rows they need."""
    addresses, lines, agents = model_selects(keys, raw, keep_account_tokens)
    bad_addresses = """
    UPDATE checked SET reason = 'bad address', sample = {sample}
    WHERE reason IS NULL AND ip IN (SELECT address_key FROM address_model WHERE NOT valid)
    """.format(sample=masked_sample_sql("concat_ws(' ', ip, request, status, bytes)", raw))
    flag = "true" if raw else "false"
    # A value first seen here gets the next number; its digest finds it again in later inputs.
    new_dimensions = [
        # Two spellings of one address are one row.
        "INSERT INTO addresses SELECT {next}, address_digest, ip, network, {flag} FROM (SELECT DISTINCT address_digest,"
        " ip, network FROM address_model WHERE valid AND address_digest NOT IN (SELECT address_digest FROM addresses))",
        "INSERT INTO request_lines SELECT {next}, * EXCLUDE (request_key) FROM request_model"
        " WHERE line_digest NOT IN (SELECT line_digest FROM request_lines)",
        "INSERT INTO agents SELECT {next}, * EXCLUDE (agent_key, agent), {flag}, agent, NULL, NULL FROM agent_model"
        " WHERE agent_digest NOT IN (SELECT agent_digest FROM agents)",
    ]
    new_dimensions = [
        sql.format(flag=flag, next="(SELECT coalesce(max(%s), 0) FROM %s) + CAST(row_number() OVER () AS INTEGER)" % (
            number, table)) for sql, (table, number, _) in zip(new_dimensions, DIMENSIONS)] + TOKEN_IDS
    # Each value of this part with its number, then each line with its three: three joins a line, not six.
    numbers = [
        "CREATE OR REPLACE TEMP TABLE address_numbers AS SELECT m.address_key, d.address_id FROM address_model m"
        " JOIN addresses d ON d.address_digest = m.address_digest",
        "CREATE OR REPLACE TEMP TABLE line_numbers AS SELECT m.request_key, l.line_id FROM request_model m"
        " JOIN request_lines l ON l.line_digest = m.line_digest",
        "CREATE OR REPLACE TEMP TABLE agent_numbers AS SELECT m.agent_key, g.agent_id, g.client_id, g.env_id"
        " FROM agent_model m JOIN agents g ON g.agent_digest = m.agent_digest",
    ]
    insert = """
    CREATE OR REPLACE TEMP TABLE new_rows AS
    SELECT k.ts, CAST(k.ts AS DATE) AS day, k.status, k.bytes, d.address_id, r.line_id, g.agent_id,
           {source_id} AS source_id, g.client_id, g.env_id
    FROM checked k
    JOIN line_numbers r ON r.request_key = coalesce(k.request, '')
    JOIN agent_numbers g ON g.agent_key = coalesce(k.user_agent, '')
    JOIN address_numbers d ON d.address_key IS NOT DISTINCT FROM k.ip
    WHERE k.reason IS NULL
    """.format(source_id=int(source_id))
    rows = ["INSERT INTO request_rows SELECT * EXCLUDE (client_id, env_id) FROM new_rows",
            *session_rows_statements("new_rows"), download_rows_sql("new_rows"), "DROP TABLE new_rows"]
    models = ["CREATE OR REPLACE TEMP TABLE %s AS %s" % pair
              for pair in zip(("address_model", "request_model", "agent_model"), (addresses, lines, agents))]
    return [models[0], bad_addresses, *models[1:], *new_dimensions, *numbers, insert, *rows]


def masked_sample_sql(line, raw):
    """SQL: the start of a rejected ``line`` with its tokens (and, unless ``raw``, addresses) masked.

    The masks run on more than the sample keeps, so that a token or an address at the cut is masked whole.
    """
    sample = _MASK_TOKENS % ("left(%s, %d)" % (line, 4 * SAMPLE_CHARS))
    return "left(%s, %d)" % (sample if raw else _MASK_ADDRESSES % sample, SAMPLE_CHARS)


def checked_select(layout, relation, raw, keep=()):
    """SQL: each line of ``relation`` (a ``line`` column, and the columns ``keep``) as raw fields and a reason.

    Both engines run it: the fields of the layout, then the checks every
    format shares (time, status, bytes), and a masked sample of each
    rejected line.
    """
    f = layout.fields
    sample = masked_sample_sql("line", raw)
    kept = "".join("%s, " % name for name in keep)
    return """
    SELECT {kept}ip, request, user_agent, ts, status, bytes, reason,
           CASE WHEN reason IS NOT NULL THEN {sample} END AS sample
    FROM (
    SELECT {kept}ip, request, user_agent, ts, status, bytes, line,
           CASE WHEN line IS NULL THEN 'blank'
                ELSE coalesce(reason, CASE WHEN NOT coalesce(year(CAST(ts AS TIMESTAMP))
                                                             BETWEEN {first_year} AND {last_year}, false)
                                           THEN 'bad time'
                                           WHEN status IS NULL OR bytes IS NULL THEN 'bad format' END) END AS reason
    FROM (
        SELECT {kept}line, {ip} AS ip, {request} AS request, {ua} AS user_agent, {ts} AS ts,
               try_cast({status} AS INTEGER) AS status,
               CASE WHEN {nbytes} = '-' THEN 0 ELSE try_cast({nbytes} AS BIGINT) END AS bytes,
               {reason} AS reason
        FROM {reader}
    ))
    """.format(ip=f["ip"], request=f["request"], ua=f["user_agent"], ts=f["ts"], status=f["status"],
               nbytes=f["bytes"], reason=f.get("reason", "NULL::VARCHAR"), reader=layout.over(relation),
               sample=sample, kept=kept, first_year=FIRST_YEAR, last_year=LAST_YEAR)


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


def _store_files(db_path):
    """The files of the store at ``db_path``: never read as logs (a folder that holds it may be named)."""
    base = os.path.realpath(db_path)
    return {base, base + ".wal", base + ".key", base + ".key.new", base + ".tmp"}


def _readable_copy(name, scratch):
    """``name`` itself when it is a regular file; a pipe (``<(zcat log)``, ``/dev/stdin``) copied to
    ``scratch``, since it can be read only once; an InputError for a device or a socket.

    A FIFO is opened without waiting for a writer: with none, it reads as empty.
    """
    import stat

    try:
        mode = os.stat(name).st_mode
    except OSError as exc:
        raise InputError("%s: cannot read (%s)" % (name, exc.strerror or exc)) from None
    if stat.S_ISREG(mode):
        return name
    if not stat.S_ISFIFO(mode):
        raise InputError("%s: a device or socket, not a log file; name a file, or pipe it into '-'" % name)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as source, open(scratch, "wb") as out:
            shutil.copyfileobj(source, out)
    except OSError as exc:
        raise InputError("%s: cannot read (%s)" % (name, exc.strerror or exc)) from None
    return scratch


def ingest(inputs, db_path, fmt=None, raw=False, keep_account_tokens=False, on_file=None, progress=None):
    """Ingest ``inputs`` into the store at ``db_path``; return a report per file.

    ``on_file(report)`` is called after each file; ``progress(name, stage, done, total)``
    while one is read (``stage`` is ``reading`` or ``parsing``; ``total`` may be None).
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError("--format %s: unknown; known formats: %s" % (fmt, ", ".join(FORMATS)))
    con = open_store(db_path)
    # No statement of an ingest needs its rows in the order they were read: unordered, DuckDB writes the
    # scratch tables with both cores (the last line is read on its own: see _last_line_reason).
    con.execute("SET preserve_insertion_order = false")
    register_duckdb(con)
    key = load_keys(db_path, con)
    reports = []
    own = _store_files(db_path)
    with tempfile.TemporaryDirectory(prefix="aau-stats-") as work:
        for number, name in enumerate(_expand(inputs)):
            path = name
            if name == "-":
                path = os.path.join(work, "stdin-%d" % number)
                with open(path, "wb") as out:
                    shutil.copyfileobj(sys.stdin.buffer, out)
            elif os.path.realpath(name) in own:
                report = FileReport(path=name, note="the store's own file, not a log: skipped")
                reports.append(report)
                if on_file:
                    on_file(report)
                continue
            else:
                path = _readable_copy(name, os.path.join(work, "pipe-%d" % number))
            report = _ingest_one(con, key, name, path, os.path.join(work, "new-part"), fmt, raw,
                                 keep_account_tokens, progress)
            reports.append(report)
            if on_file:
                on_file(report)
    con.close()
    return reports


def _read_head(path, kind, name, limit=DETECT_BYTES):
    try:
        with _open_decompressed(path, kind) as probe:
            head = b""
            try:
                while len(head) < limit:
                    piece = probe.read(limit - len(head))
                    if not piece:
                        break
                    head += piece
            except Exception:  # noqa: BLE001 - damaged data (zstd has its own error type): the full pass tells
                pass
            return head
    except OSError as exc:
        raise InputError("%s: cannot read (%s)" % (name, exc.strerror or exc)) from exc


def _head_lines(head):
    lines = head.split(b"\n")
    if len(lines) > 1 and len(head) >= DETECT_BYTES and not head.endswith(b"\n"):
        lines.pop()  # cut off by the head's end
    return [line for line in lines if line.strip()][:DETECT_LINES]


def _known_sources(con, head):
    """The inputs ingested before that start as ``head`` does, the longest first."""
    known = []
    for (length,) in con.execute("SELECT DISTINCT fingerprint_bytes FROM sources").fetchall():
        # A fingerprint covers the first min(4 KiB, size then) bytes: compare like with like.
        if length is not None and length <= len(head):
            known += [_Known(*row) for row in con.execute(
                "SELECT source_id, bytes_done, lines_done, format, blocks, tail_bytes, tail_reason FROM sources"
                " WHERE fingerprint = ? AND fingerprint_bytes = ?",
                [hashlib.sha256(head[:length]).hexdigest(), length]).fetchall()]
    return sorted(known, key=lambda k: (-k.bytes_done, k.source_id))


UNKNOWN_LAYOUT = Layout("", {"ip": "NULL", "request": "NULL", "user_agent": "NULL", "ts": "NULL", "status": "NULL",
                      "bytes": "NULL", "reason": "'unknown format'"})


def _identify(known, scan):
    """Which of the ``known`` inputs the one ``scan`` read is: ``(match, holder)``.

    ``match`` is the longest whose bytes it starts with (it grew, or is a
    renamed or compressed copy); with none, ``holder`` is one that holds all
    of it (a shorter copy made while that one was being written). A file
    that merely starts as others do (logs open with the same lines) is
    neither: it is a new input, read whole.
    """
    for candidate in known:
        if candidate.same_start(scan):
            return candidate, None
    return None, next((candidate for candidate in known if candidate.holds(scan)), None)


class _Stopped(Exception):
    """The parse that waited for the scan's parts has given up."""


class _Scanning:
    """:func:`_scan_new_part` in a thread of its own, handing over each part of the copy as it is written,
    so that DuckDB parses a part while the next is read (at most ``ahead`` parts wait on disk)."""

    def __init__(self, args, ahead=2, on_done=None):
        self._on_done = on_done
        self._parts = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._scan = self._error = None
        self._ended = False
        self._thread = threading.Thread(target=self._run, args=args, name="aau-stats-scan", daemon=True)
        self._thread.start()

    def _run(self, *args):
        try:
            self._scan = _scan_new_part(*args, on_part=self._hand_over)
            if self._on_done is not None:
                self._on_done(self._scan)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the thread that waits for the scan
            self._error = exc
        finally:
            self._hand_over(None, last=True)

    def _hand_over(self, part, last=False):
        if not _offer(self._parts, part, self._stop) and not last:
            raise _Stopped()

    def parts(self):
        """The parts, in order, as each is complete."""
        while not self._ended:
            part = self._parts.get()
            if part is None:
                self._ended = True
            else:
                yield part

    def result(self):
        """The scan, once done; what it raised, if it failed."""
        for _ in self.parts():
            pass
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._scan

    def stop(self):
        self._stop.set()
        self._thread.join()


def _direct(assumed, kind, size):
    """Whether an input is parsed where it lies: a plain file, read from its start, of one part."""
    return assumed is None and kind is None and size is not None and size <= PART_BYTES


def _layout_of(found, head, path, kind, name):
    """``(format name or None, Layout, head)`` of an input whose first bytes are ``head``."""
    found = found or detect(_head_lines(head))
    if found is None and len(head) >= DETECT_BYTES:  # long first lines: look further
        head = _read_head(path, kind, name, MAX_LINE_BYTES * 2)
        found = detect(_head_lines(head))
    return found, (FORMATS[found].layout(_head_lines(head)) if found else UNKNOWN_LAYOUT), head


def _ingest_one(con, key, name, path, scratch, fmt_name, raw, keep_account_tokens, progress=None):
    try:
        kind = _compression(path)
    except OSError as exc:
        raise InputError("%s: cannot read (%s)" % (name, exc.strerror or exc)) from exc
    head = _read_head(path, kind, name)
    size = os.stat(path).st_size if os.path.isfile(path) else None
    on_bytes = (lambda done: progress(name, "reading", done, size)) if progress else None
    known = _known_sources(con, head)
    marks = [k.bytes_done for k in known]
    # The longest known input that starts the same is the likely one; the scan's blocks confirm it.
    assumed, identified = (known[0] if known else None), not known
    # A plain file read from its start is parsed where it lies (when it is one part); anything else
    # through a scratch copy in parts.
    direct = _direct(assumed, kind, size)
    while True:
        stored_format = assumed.format if assumed else None
        found, layout, head = _layout_of(fmt_name or stored_format, head, path, kind, name)
        report = FileReport(path=name, format=found or "")
        # The scan copies the input in parts while DuckDB parses the parts already copied (a file parsed where
        # it lies, it reads beside the parse: 5 % faster at 2 M lines since the scan got cheaper); what the scan
        # finds decides, at the end, whether the parse stands or is rolled back and done again (through a copy,
        # when it found line ends to normalise).
        scanning = _Scanning((path, kind, assumed, None if direct else scratch, on_bytes, marks), on_done=(
            lambda scan: progress(name, "parsing", scan.lines, None)) if progress and direct else None)
        con.execute("BEGIN TRANSACTION")
        try:
            source_id = assumed.source_id if assumed else con.execute(
                "SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()[0][0]
            parts = [path] if direct else scanning.parts()
            if found == "cloudfront":
                parts = _align_cloudfront_fields(list(parts), scratch + ".aligned", layout.columns)
            samples, last = _parse_parts(con, parts, path, layout, source_id, key, raw, keep_account_tokens, report)
            scan = scanning.result()
        except duckdb.Error:
            con.execute("ROLLBACK")
            if direct and scanning.result().saw_cr:  # a line end the reader refused, which the copy normalises
                direct = False
                continue
            scanning.stop()
            raise
        except BaseException:
            scanning.stop()
            con.execute("ROLLBACK")
            raise
        redo = False
        if not identified:
            identified = True
            match, holder = _identify(known, scan)
            if holder is not None:
                con.execute("ROLLBACK")
                return FileReport(path=name, already=holder.lines_done, format=holder.format or "",
                                  note="shorter than an input ingested before, and a part of it: not ingested again")
            if match is not assumed:
                assumed, redo = match, True
        if direct and (scan.saw_cr or os.stat(path).st_size != scan.total):
            redo = True  # line ends to normalise, or it grew while being parsed: through a copy
        if redo:
            con.execute("ROLLBACK")
            direct = False if direct else _direct(assumed, kind, size)
            continue
        report.already = (assumed.lines_done if assumed else 0) - scan.reread
        report.lines, report.note = scan.lines, scan.note
        if scan.lines == 0:
            con.execute("ROLLBACK")
            return FileReport(path=name, already=report.already, note=scan.note, format=stored_format or "")
        if scan.reread:
            report.note = "; ".join(filter(None, [
                report.note, "its last line, cut when it was ingested before, was read again whole"]))
        if found is None:
            report.note = "no known log format recognised"
        try:
            _unaccounted(report)
            if scan.reread:
                _forget_one_rejection(con, source_id, assumed.tail_reason)
            tail_reason = _last_line_reason(con, last, layout, raw) if scan.tail_bytes else None
            _record(con, source_id, name, found, scan, report.already + scan.lines, tail_reason, report,
                    list(samples.items()))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return report


def _parse_parts(con, parts, path, layout, source_id, key, raw, keep_account_tokens, report):
    """Parse and store each of ``parts`` (files of whole lines, in order) as requests and rejections of
    ``source_id``, adding their counts to ``report``; returns ``(samples by reason, the last part)``.

    A part is deleted once parsed (unless it is ``path``, the input itself), but for the last one, whose
    last line :func:`_last_line_reason` may read again.
    """
    samples, last = {}, None
    for part in parts:
        if last is not None and last != path:
            os.unlink(last)  # parsed: the disk it took is free for the next part
        last = part
        con.execute("DROP TABLE IF EXISTS reader_rejects")
        con.execute("DROP TABLE IF EXISTS reader_scans")
        reader = "read_csv(%s, %s)" % (quote_sql(str(part)), LINE_READER_OPTIONS)
        con.execute("CREATE OR REPLACE TEMP TABLE checked AS " + checked_select(layout, reader, raw))
        for statement in _insert_statements(source_id, key, raw, keep_account_tokens):
            con.execute(statement)
        for reason, examples in _count_outcomes(con, report, raw):
            # The first few in text order over all parts: the same whichever way the input was cut.
            samples[reason] = sorted(samples.get(reason, []) + list(examples or []))[:SAMPLES]
    return samples, last


def _forget_one_rejection(con, source_id, reason):
    """The cut last line of an earlier ingest was read again: it is no longer one of its rejections."""
    con.execute("UPDATE rejections SET lines = lines - 1 WHERE rowid = (SELECT max(rowid) FROM rejections"
                " WHERE source_id = ? AND reason = ? AND lines > 0)", [source_id, reason])
    con.execute("DELETE FROM rejections WHERE source_id = ? AND lines <= 0", [source_id])


def _last_line_reason(con, source, layout, raw):
    """Why the last line just read from the file ``source`` was rejected (None: it is a request).

    Table ``checked`` is made without keeping the lines' order (which lets DuckDB write it in parallel), so
    the last line is read again from the end of the file and checked on its own, as the reader saw it.
    """
    # The reader's number of the last line: every line it read is a row of checked or one of its rejections.
    (lines,) = con.execute("SELECT (SELECT count(*) FROM checked) + (SELECT count(DISTINCT line) FROM reader_rejects)"
                           ).fetchall()[0]
    for (error_type,) in con.execute("SELECT first(error_type) FROM reader_rejects WHERE line = ?", [lines]).fetchall():
        if error_type is not None:
            return _READER_REASONS.get(str(error_type).upper(), "bad format")
    with open(source, "rb") as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - MAX_LINE_BYTES - 2))
        end = handle.read()
    if end.endswith(b"\n"):  # a line the CloudFront alignment rewrote ends with one
        end = end[:-1]
    line = end[end.rfind(b"\n") + 1:].decode("utf-8", "replace")  # the reader took it: UTF-8, not too long
    reason, ip = con.execute("SELECT reason, ip FROM (%s)" % checked_select(
        layout, "(SELECT CAST(? AS VARCHAR) AS line)", raw), [line]).fetchall()[0]
    if reason is None and con.execute("SELECT count(*) FROM address_model WHERE NOT valid AND address_key = ?",
                                      [ip]).fetchall()[0][0]:
        return "bad address"
    return reason


def _unaccounted(report):
    """The reader's line count and ours disagree: say so rather than balance it silently."""
    missing = report.lines - report.parsed - report.rejected_total - report.blank - report.headers
    if missing:
        report.rejected["unreadable by the reader"] = report.rejected.get("unreadable by the reader", 0) + missing


def _count_outcomes(con, report, raw):
    """Add the parsed, rejected, blank and header counts of table ``checked`` to ``report``; return
    rejection samples."""
    found = con.execute(
        "SELECT reason, count(*), list(sample ORDER BY sample) FILTER (WHERE sample IS NOT NULL)[1:%d] FROM checked"
        " GROUP BY reason" % SAMPLES).fetchall()
    for error_type, count, examples in con.execute(
            "SELECT error_type, count(*), list(s ORDER BY s)[1:%d] FROM (SELECT error_type, %s AS s FROM"
            " (SELECT line, first(error_type) AS error_type, first(csv_line) AS csv_line FROM reader_rejects"
            " GROUP BY line)) GROUP BY error_type" % (SAMPLES, masked_sample_sql("csv_line", raw))).fetchall():
        found.append((_READER_REASONS.get(str(error_type).upper(), "bad format"), count, examples))
    samples = []
    for reason, count, examples in found:
        if reason is None:
            report.parsed += count
        elif reason in ("blank", "header"):
            setattr(report, reason if reason == "blank" else "headers", getattr(
                report, reason if reason == "blank" else "headers") + count)
        else:
            report.rejected[reason] = report.rejected.get(reason, 0) + count
            samples.append((reason, examples))
    return samples


def _record(con, source_id, name, fmt_name, scan, lines_done, tail_reason, report, samples):
    con.execute("DELETE FROM sources WHERE source_id = ?", [source_id])
    con.execute("INSERT INTO sources (source_id, path, fingerprint, fingerprint_bytes, format, bytes_done,"
                " lines_done, updated, blocks, tail_bytes, tail_reason) VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?)",
                [source_id, name, scan.fingerprint, min(scan.total, FINGERPRINT_BYTES), fmt_name, scan.total,
                 lines_done, scan.blocks, scan.tail_bytes, tail_reason])
    by_reason = dict(samples)
    for reason, count in report.rejected.items():
        con.execute("INSERT INTO rejections VALUES (?, ?, ?, ?)",
                    [source_id, reason, count, [str(s)[:500] for s in by_reason.get(reason, [])]])
