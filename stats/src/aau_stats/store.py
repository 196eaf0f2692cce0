"""The store: one DuckDB file with the requests, a manifest of what was
ingested, and the rejections; plus the key that makes pseudonyms.

The requests are kept as a star: narrow rows (time, status, bytes and three
ids) and one row per distinct address, request line and user agent, each
modelled once. View ``requests`` joins them into the documented wide schema,
the one every question reads and the Parquet export writes. A dimension row
has a number (``*_id``, given in order as values first appear: small
integers, cheap to store, join and count) and a digest (``*_digest``, the
``md5_number`` of the key and the value), which finds the value again in a
later ingest and reveals nothing. Stores written before the numbers (their
rows held the digests) are rewritten once, by the next command that writes.

Column ``agent`` tells user agents apart without keeping them: the keyed
pseudonym of the whole user-agent text (in raw stores too), so that
sessions (day, address, user agent) are the same rows whichever engine
makes them.

Privacy by default: tokens and IP addresses are stored as keyed pseudonyms
(32 hex characters), as is the IP's network (/24 for IPv4, /48 for IPv6).
The pseudonym of ``x`` is ``sha256(k1 || sha256(k2 || x))`` over the hex
key halves: the HMAC construction, written with the ``sha256`` both DuckDB
and Spark have, so that either engine computes the same pseudonyms. The key
is 32 random bytes in ``<db>.key`` (mode 0600), made on first use. Rotating
appends a key to that file and re-keys the store (:func:`rotate_key`).
"""

import contextlib
import hashlib
import os
from pathlib import Path

import duckdb

from .model import DOWNLOAD, SESSION_MEASURES, SESSION_MERGE

# A log's time must fall in these years: before 1970 no server wrote one, and after 9999 no
# date library (Python's among them) can hold it. Ingestion rejects other times as ``bad time``.
FIRST_YEAR, LAST_YEAR = 1970, 9999
# SQL: a row (of requests or sessions) whose day is outside those years; only a store of an older version holds one.
OUT_OF_RANGE = "NOT (day BETWEEN DATE '%04d-01-01' AND DATE '%04d-12-31')" % (FIRST_YEAR, LAST_YEAR)

SCHEMA = """
CREATE TABLE IF NOT EXISTS request_rows (
    ts TIMESTAMP, day DATE, status INTEGER, bytes BIGINT,
    address_id INTEGER, line_id INTEGER, agent_id INTEGER, source_id INTEGER
);
CREATE TABLE IF NOT EXISTS addresses (address_id INTEGER, address_digest UHUGEINT, ip VARCHAR, network VARCHAR,
                                      raw BOOLEAN);
CREATE TABLE IF NOT EXISTS request_lines (
    line_id INTEGER, line_digest UHUGEINT, method VARCHAR, path VARCHAR, channel VARCHAR, subdir VARCHAR,
    filename VARCHAR, name VARCHAR, version VARCHAR, build VARCHAR, ext VARCHAR, kind VARCHAR
);
CREATE TABLE IF NOT EXISTS agents (
    agent_id INTEGER, agent_digest UHUGEINT, client_family VARCHAR, client_version VARCHAR, python_version VARCHAR,
    os_name VARCHAR, os_version VARCHAR,
    aau_version VARCHAR, c VARCHAR, s VARCHAR, e VARCHAR, a VARCHAR,
    i VARCHAR[], o VARCHAR[], m VARCHAR[], raw BOOLEAN, agent VARCHAR, client_id INTEGER, env_id INTEGER
);
ALTER TABLE agents ADD COLUMN IF NOT EXISTS agent VARCHAR;
ALTER TABLE agents ADD COLUMN IF NOT EXISTS client_id INTEGER;
ALTER TABLE agents ADD COLUMN IF NOT EXISTS env_id INTEGER;
-- The client and environment tokens' values, numbered: what the rows of downloads, and the questions, count.
CREATE TABLE IF NOT EXISTS token_values (token_id INTEGER, value VARCHAR, raw BOOLEAN);
CREATE OR REPLACE VIEW requests AS SELECT {request_columns} FROM {star};
-- The same, with the counting keys of the questions: the numbers of the client and environment tokens and of
-- the address (see model.KEYED_REQUESTS).
CREATE OR REPLACE VIEW keyed_requests AS
SELECT {request_columns}, g.client_id AS c_id, g.env_id AS e_id, r.address_id AS ip_id FROM {star};
CREATE TABLE IF NOT EXISTS session_rows (
    day DATE, address_id INTEGER, agent_id INTEGER, {part_columns}
);
CREATE OR REPLACE VIEW sessions AS
SELECT p.day, d.ip, d.network, g.client_family, g.client_version, g.python_version, g.os_name, g.os_version,
       g.aau_version, g.c, g.s, g.e, g.a, g.i, g.o, g.m, g.agent, g.client_id AS c_id, g.env_id AS e_id, {measures}
FROM session_rows p
JOIN agents g ON g.agent_id = p.agent_id
JOIN addresses d ON d.address_id = p.address_id;
CREATE TABLE IF NOT EXISTS key_chain (epoch INTEGER, fingerprint VARCHAR, created TIMESTAMP);
CREATE TABLE IF NOT EXISTS sources (
    source_id INTEGER PRIMARY KEY, path VARCHAR, fingerprint VARCHAR, fingerprint_bytes INTEGER, format VARCHAR,
    bytes_done BIGINT, lines_done BIGINT, updated TIMESTAMP
);
-- What tells one input from another that starts the same (see ingest): the crc32 of each 4 KiB of its
-- decompressed bytes, and its last line when that had no newline yet (its length, and why it was rejected).
ALTER TABLE sources ADD COLUMN IF NOT EXISTS blocks BLOB;
ALTER TABLE sources ADD COLUMN IF NOT EXISTS tail_bytes BIGINT;
ALTER TABLE sources ADD COLUMN IF NOT EXISTS tail_reason VARCHAR;
CREATE TABLE IF NOT EXISTS rejections (
    source_id INTEGER, reason VARCHAR, lines BIGINT, samples VARCHAR[]
);
"""


# The kept downloads, apart: a store that has the table has every download in it (see open_store).
DOWNLOADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS download_rows (
    day DATE, address_id INTEGER, line_id INTEGER, client_id INTEGER, env_id INTEGER, downloads BIGINT,
    first_ts TIMESTAMP
);
CREATE OR REPLACE VIEW downloads AS
SELECT p.day, d.ip, d.network, l.channel, l.subdir, l.filename, l.name, l.version, l.build, l.ext,
       p.client_id AS c_id, p.env_id AS e_id, p.address_id AS ip_id, l.n_id, l.v_id, p.downloads, p.first_ts
FROM download_rows p
JOIN (SELECT *, dense_rank() OVER (ORDER BY name) AS n_id, dense_rank() OVER (ORDER BY name, version, build) AS v_id
      FROM request_lines) l ON l.line_id = p.line_id
JOIN addresses d ON d.address_id = p.address_id;
"""
_REQUEST_COLUMNS = """
       r.ts, r.day, d.ip, d.network, l.method, r.status, r.bytes, l.path,
       l.channel, l.subdir, l.filename, l.name, l.version, l.build, l.ext, l.kind,
       g.client_family, g.client_version, g.python_version, g.os_name, g.os_version,
       g.aau_version, g.c, g.s, g.e, g.a, g.i, g.o, g.m, g.agent, r.source_id, g.raw"""
_STAR = """request_rows r
JOIN request_lines l ON l.line_id = r.line_id
JOIN agents g ON g.agent_id = r.agent_id
JOIN addresses d ON d.address_id = r.address_id"""
SCHEMA = SCHEMA.format(
    request_columns=_REQUEST_COLUMNS, star=_STAR,
    part_columns=", ".join("%s %s" % (name, "TIMESTAMP" if name.endswith("_ts") else "BIGINT")
                           for name, _ in SESSION_MEASURES),
    measures=", ".join("p.%s" % name for name, _ in SESSION_MEASURES),
)
_SESSION_KEY = ("day", "address_id", "agent_id")


def session_rows_statements(rows):
    """SQL that adds the requests of ``rows`` (a table with the columns of ``request_rows``) to ``session_rows``.

    One row per day, address and user agent: a session that also has
    requests in an earlier input (a log rotated in the middle of it) is
    added to, so that the view needs no grouping.
    """
    measures = ", ".join("%s AS %s" % (expr, name) for name, expr in SESSION_MEASURES)
    match = " AND ".join("p.%s = n.%s" % (k, k) for k in _SESSION_KEY)
    merged = ", ".join(
        "%s = %s" % (name, "%s(p.%s, n.%s)" % ({"min": "least", "max": "greatest"}[SESSION_MERGE[name]], name, name)
                     if name in SESSION_MERGE else "p.%s + n.%s" % (name, name))
        for name, _ in SESSION_MEASURES)
    return [
        "CREATE OR REPLACE TEMP TABLE new_sessions AS SELECT r.day, r.address_id, r.agent_id, %s FROM %s r"
        " JOIN request_lines l ON l.line_id = r.line_id GROUP BY r.day, r.address_id, r.agent_id" % (measures, rows),
        "UPDATE session_rows p SET %s FROM new_sessions n WHERE %s" % (merged, match),
        "INSERT INTO session_rows SELECT n.* FROM new_sessions n WHERE NOT EXISTS"
        " (SELECT 1 FROM session_rows p WHERE %s)" % match,
        "DROP TABLE new_sessions",
    ]


TOKEN_IDS = [
    # Each client and environment token value of an agent without its numbers gets one...
    "INSERT INTO token_values SELECT (SELECT coalesce(max(token_id), 0) FROM token_values) + CAST(row_number()"
    " OVER () AS INTEGER), value, raw FROM (SELECT DISTINCT value, raw FROM (SELECT c AS value, raw FROM agents"
    " WHERE client_id IS NULL UNION ALL SELECT e, raw FROM agents WHERE env_id IS NULL)"
    " WHERE value IS NOT NULL AND value NOT IN (SELECT value FROM token_values))",
    # ... and the agent refers to them.
    "UPDATE agents SET client_id = t.token_id FROM token_values t WHERE agents.client_id IS NULL AND t.value = agents.c",
    "UPDATE agents SET env_id = t.token_id FROM token_values t WHERE agents.env_id IS NULL AND t.value = agents.e",
]


def download_rows_sql(rows):
    """SQL that adds the downloads of ``rows`` (a table with the columns of ``request_rows``, and the
    ``client_id`` and ``env_id`` of each row's agent) to ``download_rows``."""
    return ("INSERT INTO download_rows SELECT r.day, r.address_id, r.line_id, r.client_id, r.env_id, count(*), min(r.ts)"
            " FROM %s r JOIN request_lines l ON l.line_id = r.line_id WHERE %s"
            " GROUP BY r.day, r.address_id, r.line_id, r.client_id, r.env_id" % (rows, DOWNLOAD))


def default_db_path(environ=None):
    """The store used without ``--db``: ``$AAU_STATS_DB``, else ``aau-stats.duckdb`` in the user's data folder."""
    environ = os.environ if environ is None else environ
    if environ.get("AAU_STATS_DB"):
        return Path(environ["AAU_STATS_DB"])
    base = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "aau-stats" / "aau-stats.duckdb"


def key_path(db_path):
    return Path(str(db_path) + ".key")


class StoreError(Exception):
    """A problem with the store or its key file that the operator must fix; the message is one line."""


def _read_keys(path):
    """The key chain in ``path``; FileNotFoundError when there is none, StoreError when it is unusable."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeError) as exc:
        reason = "a directory" if path.is_dir() else getattr(exc, "strerror", None) or "not text"
        raise StoreError("%s: cannot read the key file (%s); restore it from a backup" % (path, reason)) from None
    keys = text.split()
    if not keys or any(len(k) != 64 or any(ch not in "0123456789abcdef" for ch in k) for k in keys):
        raise StoreError("%s: not a key file (one 64-character hex key a line); restore it from a backup" % path)
    return keys


def _write_new(path, keys):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def chain_fingerprint(keys):
    """Names a key chain without revealing it (recorded in the store to pair store and key file)."""
    return hashlib.sha256(("aau-stats key chain\n" + "\n".join(keys)).encode()).hexdigest()[:16]


def _recorded_fingerprint(con):
    rows = con.execute("SELECT fingerprint FROM key_chain ORDER BY epoch DESC LIMIT 1").fetchall()
    return rows[0][0] if rows else None


def load_keys(db_path, con=None):
    """The pseudonym key chain beside the database, made (mode 0600) on first use.

    Oldest key first: rotation appends a key. With ``con``, a rotation that
    stopped between the store's commit and the key file's rename is finished,
    and the key file is checked against the store: a store that holds rows
    has its chain's fingerprint in ``key_chain``, and with a missing or
    another key file it raises :class:`StoreError` instead of making a new
    key (which would give every client, address and session a second id).
    """
    path = key_path(db_path)
    if con is not None:
        _finish_rotation(path, con)
    recorded = _recorded_fingerprint(con) if con is not None else None
    try:
        keys = _read_keys(path)
    except FileNotFoundError:
        keys = None
    if keys is None:
        if con is not None and (recorded or con.execute("SELECT count(*) FROM request_rows").fetchall()[0][0]):
            raise StoreError(
                "%s: the key file of store %s is missing, and the store's ids and pseudonyms were made with it%s;"
                " restore it from a backup (a new key would count every client and address again)"
                % (path, db_path, " (key chain %s)" % recorded if recorded else ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = [os.urandom(32).hex()]
        _write_new(path, keys)
    if con is not None:
        check_keys(path, keys, recorded)
        if recorded is None:
            con.execute("INSERT INTO key_chain VALUES (?, ?, now())", [len(keys), chain_fingerprint(keys)])
    return keys


def check_keys(path, keys, recorded):
    """Raise :class:`StoreError` unless ``keys`` are the chain whose fingerprint the store recorded."""
    if recorded is not None and chain_fingerprint(keys) != recorded:
        raise StoreError("%s: not the key file of this store (its key chain is %s, the store's %s);"
                         " restore the store's own key file" % (path, chain_fingerprint(keys), recorded))


def _committed_pending(path, recorded):
    """The chain of a rotation's pending key file (``<key>.new``) if the store committed it
    (its fingerprint is ``recorded``), else None."""
    pending = Path(str(path) + ".new")
    if recorded is None or not pending.exists():
        return None
    try:
        keys = _read_keys(pending)
    except (StoreError, FileNotFoundError):
        return None
    return keys if chain_fingerprint(keys) == recorded else None


def _finish_rotation(path, con):
    """A rotation committed to the store but stopped before the key file's rename: finish it;
    one that never committed: undo it."""
    pending = Path(str(path) + ".new")
    if not pending.exists():
        return
    if _committed_pending(path, _recorded_fingerprint(con)) is not None:
        os.replace(pending, path)
    else:
        pending.unlink()


def pseudonym_sql(expr, keys):
    """SQL for the keyed pseudonym of ``expr`` under the chain ``keys`` (NULL stays NULL)."""
    for key in keys:
        expr = _one_pseudonym(expr, key)
    return expr


def pseudonym(value, keys):
    """The keyed pseudonym of ``value`` in Python, equal to :func:`pseudonym_sql`'s."""
    for key in keys:
        inner, outer = key[:32], key[32:]
        digest = hashlib.sha256((inner + value).encode()).hexdigest()
        value = hashlib.sha256((outer + digest).encode()).hexdigest()[:32]
    return value


def read_keys(db_path, con=None):
    """The key chain beside an existing store, or None when there is none (never made here).

    With ``con`` (the store, possibly read-only), a rotation stopped before the
    key file's rename is seen through, and a key file that is not the store's
    raises :class:`StoreError`.
    """
    path = key_path(db_path)
    recorded = _recorded_fingerprint(con) if con is not None and _has_key_chain(con) else None
    committed = _committed_pending(path, recorded)
    if committed is not None:
        return committed  # the store committed this chain; the next ingest renames the file
    try:
        keys = _read_keys(path)
    except FileNotFoundError:
        return None
    check_keys(path, keys, recorded)
    return keys


def _has_key_chain(con):
    return _has_table(con, "key_chain")


def _has_table(con, name):
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
                .fetchall()[0][0])


def _one_pseudonym(expr, key):
    inner, outer = key[:32], key[32:]
    return "left(sha256('%s' || sha256('%s' || %s)), 32)" % (outer, inner, expr)


def rotate_key(db_path):
    """Append a new key to the chain and re-key every stored pseudonym with it.

    A pseudonym is then ``H(k_n, ... H(k_1, value))``: the same value keeps one
    pseudonym across the rotation, and what was exported before no longer
    matches the store. Returns the number of rows re-keyed.
    """
    con = open_store(db_path)
    try:
        keys = load_keys(db_path, con)
        new = os.urandom(32).hex()
        chain = [*keys, new]
        path = key_path(db_path)
        pending = Path(str(path) + ".new")
        _write_new(pending, chain)
        agent_sets = ["%s = %s" % (c, _one_pseudonym(c, new)) for c in ("c", "s", "e", "a")]
        agent_sets += ["%s = list_transform(%s, lambda v: %s)" % (c, c, _one_pseudonym("v", new))
                       for c in ("i", "o", "m")]
        address_sets = ["%s = %s" % (c, _one_pseudonym(c, new)) for c in ("ip", "network")]
        agent_names = "agent = %s" % _one_pseudonym("agent", new)
        con.execute("BEGIN TRANSACTION")
        try:
            rows = con.execute("SELECT count(*) FROM requests WHERE NOT raw").fetchall()[0][0]
            con.execute("UPDATE agents SET %s WHERE NOT raw" % ", ".join(agent_sets))
            con.execute("UPDATE agents SET %s WHERE agent NOT LIKE 'id:%%'" % agent_names)
            con.execute("UPDATE addresses SET %s WHERE NOT raw" % ", ".join(address_sets))
            con.execute("UPDATE token_values SET value = %s WHERE NOT raw" % _one_pseudonym("value", new))
            con.execute("INSERT INTO key_chain VALUES (?, ?, now())", [len(chain), chain_fingerprint(chain)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            pending.unlink()
            raise
        os.replace(pending, path)
        return rows
    finally:
        con.close()


OUR_TABLES = ("request_rows", "sources")
LOCK_WAIT_VARIABLE = "AAU_STATS_LOCK_WAIT"
LOCK_WAIT = 1800.0  # seconds: how long a command waits for another one that is writing the store


def _connect_waiting(db_path, read_only):
    """``duckdb.connect``, waiting while another process writes the store.

    DuckDB lets one process write a database file and no other process open
    it meanwhile. So an ingest, a rotation or a question waits for the one
    before it (saying so once on stderr), up to ``$AAU_STATS_LOCK_WAIT``
    seconds (default 1800): ingests into one store serialise, and a question
    asked during an ingest is answered when it ends, from what it committed.
    """
    import sys
    import time

    try:
        wait = float(os.environ.get(LOCK_WAIT_VARIABLE, LOCK_WAIT))
    except ValueError:
        raise StoreError("$%s=%s: not a number of seconds" % (LOCK_WAIT_VARIABLE, os.environ[LOCK_WAIT_VARIABLE])) from None
    deadline, told, pause = time.monotonic() + wait, False, 0.05
    while True:
        try:
            return duckdb.connect(str(db_path), read_only=read_only)
        except duckdb.IOException as exc:
            if "Could not set lock" not in str(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise StoreError("%s: another aau-stats has been writing the store for over %.0f s; try again when it"
                                 " has finished (or set $%s to wait longer)" % (db_path, wait, LOCK_WAIT_VARIABLE)) from None
            if not told:
                sys.stderr.write("aau-stats: %s: another aau-stats is writing the store; waiting for it\n" % db_path)
                told = True
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def connect(db_path, read_only=False):
    """A connection to the store at ``db_path``, or :class:`StoreError` saying in one line why not:
    a directory, a file that is not DuckDB's, a DuckDB database of something else, or one that
    cannot be opened (a read-only folder, another process's lock)."""
    db_path = Path(db_path)
    if db_path.is_dir():
        raise StoreError("%s: is a directory; --db names the store's file (made on first ingest)" % db_path)
    try:
        if not read_only:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect_waiting(db_path, read_only)
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if "not a valid DuckDB database file" in message:
            raise StoreError("%s: not a DuckDB file, so not an aau-stats store; name another --db" % db_path) from None
        raise StoreError("%s: cannot open the store (%s)" % (db_path, message.split(": ", 1)[-1])) from None
    except OSError as exc:
        raise StoreError("%s: cannot open the store (%s)" % (db_path, exc.strerror or exc)) from None
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if tables and not set(OUR_TABLES) <= tables:
        con.close()
        raise StoreError("%s: a DuckDB database of something else (tables %s), not an aau-stats store;"
                         " name another --db" % (db_path, ", ".join(sorted(tables)[:5])))
    return con


def open_store(db_path):
    db_path = Path(db_path)
    con = connect(db_path)
    # No progress bar of DuckDB's own on the user's terminal; a bounded memory (it spills to disk). With
    # 640 MB, an ingest of 50 M lines peaks at 974 MiB in all (768 MB: 1,085 MiB, 6 % faster).
    con.execute("SET enable_progress_bar = false")
    con.execute("SET memory_limit = '640MB'")
    downloads_kept = _has_table(con, "download_rows")
    con.execute(SCHEMA)
    # A store from before user agents had pseudonyms: each is told apart by its id (the text is not kept).
    con.execute("UPDATE agents SET agent = 'id:' || CAST(agent_id AS VARCHAR) WHERE agent IS NULL")
    _number_dimensions(con)
    if (not con.execute("SELECT count(*) FROM session_rows").fetchall()[0][0]
            and con.execute("SELECT count(*) FROM request_rows").fetchall()[0][0]):
        # A store from before sessions were kept: they are made once from its requests.
        for statement in session_rows_statements("request_rows"):
            con.execute(statement)
    if con.execute("SELECT count(*) FROM agents WHERE (c IS NOT NULL AND client_id IS NULL)"
                   " OR (e IS NOT NULL AND env_id IS NULL)").fetchall()[0][0]:
        _in_transaction(con, TOKEN_IDS)  # a store from before the tokens were numbered
    if downloads_kept:
        con.execute(DOWNLOADS_SCHEMA)
    else:
        # A store from before the downloads were kept: the table is made, and filled from its requests, at once.
        _in_transaction(con, [DOWNLOADS_SCHEMA, download_rows_sql(
            "(SELECT q.*, g.client_id, g.env_id FROM request_rows q JOIN agents g ON g.agent_id = q.agent_id)")])
    _reject_out_of_range(con)
    return con


@contextlib.contextmanager
def _transaction(con):
    """What the block executes on ``con``, committed whole, or rolled back when it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _in_transaction(con, statements):
    with _transaction(con):
        for statement in statements:
            con.execute(statement)


# Each dimension: (table, id column, digest column).
DIMENSIONS = (("addresses", "address_id", "address_digest"), ("request_lines", "line_id", "line_digest"),
              ("agents", "agent_id", "agent_digest"))


def _number_dimensions(con):
    """A store whose rows refer to their dimensions by digest (before the numbers) is rewritten: each
    dimension row gets a number, the digest moves to its own column, and the rows refer to the numbers."""
    (kind,) = con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'request_rows'"
                          " AND column_name = 'address_id'").fetchall()[0]
    if kind != "UHUGEINT":
        return
    with _transaction(con):
        con.execute("DROP VIEW requests")
        con.execute("DROP VIEW sessions")
        con.execute("DROP VIEW IF EXISTS keyed_requests")
        con.execute("DROP VIEW IF EXISTS downloads")
        for table, number, digest in DIMENSIONS:
            # One row per digest (an older ingest could not have written two), numbered in digest order.
            con.execute("CREATE TABLE {t}_numbered AS SELECT CAST(row_number() OVER (ORDER BY {n}) AS INTEGER) AS {n},"
                        " {n} AS {d}, * EXCLUDE ({n}, _copy) FROM (SELECT *, row_number() OVER (PARTITION BY {n}) AS"
                        " _copy FROM {t}) WHERE _copy = 1".format(t=table, n=number, d=digest))
        for table in ("request_rows", "session_rows"):
            columns = [row[0] for row in con.execute("SELECT column_name FROM information_schema.columns WHERE"
                                                     " table_name = ? ORDER BY ordinal_position", [table]).fetchall()]
            owner = {number: dimension for dimension, number, _ in DIMENSIONS if number in columns}
            select = ", ".join("%s_numbered.%s" % (owner[c], c) if c in owner else "r.%s" % c for c in columns)
            con.execute("CREATE TABLE %s_numbered AS SELECT %s FROM %s r %s" % (table, select, table, " ".join(
                "JOIN {d}_numbered ON {d}_numbered.{g} = r.{n}".format(d=dimension, n=number, g=digest)
                for dimension, number, digest in DIMENSIONS if number in owner)))
        for table in ("request_rows", "session_rows", *(t for t, _, _ in DIMENSIONS)):
            con.execute("DROP TABLE %s" % table)
            con.execute("ALTER TABLE %s_numbered RENAME TO %s" % (table, table))
        con.execute(SCHEMA)


def _reject_out_of_range(con):
    """Requests an older version stored with a time outside FIRST_YEAR..LAST_YEAR become rejections
    (``bad time``) of their input, as this version would have counted them; their sessions go with them."""
    if not con.execute("SELECT count(*) FROM request_rows WHERE %s" % OUT_OF_RANGE).fetchall()[0][0]:
        return
    _in_transaction(con, [
        "INSERT INTO rejections SELECT source_id, 'bad time', count(*), []::VARCHAR[] FROM request_rows"
        " WHERE %s GROUP BY source_id" % OUT_OF_RANGE,
        *("DELETE FROM %s WHERE %s" % (table, OUT_OF_RANGE) for table in ("request_rows", "session_rows",
                                                                           "download_rows"))])
