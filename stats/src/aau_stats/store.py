"""The store: one DuckDB file with the requests, a manifest of what was
ingested, and the rejections; plus the key that makes pseudonyms.

Privacy by default: tokens and IP addresses are stored as keyed pseudonyms
(32 hex characters), as is the IP's network (/24 for IPv4, /48 for IPv6).
The pseudonym of ``x`` is ``sha256(k1 || sha256(k2 || x))`` over the hex
key halves: the HMAC construction, written with the ``sha256`` both DuckDB
and Spark have, so that either engine computes the same pseudonyms. The key
is 32 random bytes in ``<db>.key`` (mode 0600), made on first use.
"""

import os
from pathlib import Path

import duckdb

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    ts TIMESTAMP, day DATE, ip VARCHAR, network VARCHAR,
    method VARCHAR, status INTEGER, bytes BIGINT, path VARCHAR,
    channel VARCHAR, subdir VARCHAR, filename VARCHAR,
    name VARCHAR, version VARCHAR, build VARCHAR, ext VARCHAR, kind VARCHAR,
    client_family VARCHAR, client_version VARCHAR, python_version VARCHAR,
    os_name VARCHAR, os_version VARCHAR,
    aau_version VARCHAR, c VARCHAR, s VARCHAR, e VARCHAR, a VARCHAR,
    i VARCHAR[], o VARCHAR[], m VARCHAR[],
    source_id INTEGER, line BIGINT
);
CREATE TABLE IF NOT EXISTS sources (
    source_id INTEGER PRIMARY KEY, path VARCHAR, fingerprint VARCHAR, fingerprint_bytes INTEGER, format VARCHAR,
    bytes_done BIGINT, lines_done BIGINT, updated TIMESTAMP
);
CREATE TABLE IF NOT EXISTS rejections (
    source_id INTEGER, reason VARCHAR, lines BIGINT, samples VARCHAR[]
);
"""


def default_db_path():
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "aau-stats" / "aau-stats.duckdb"


def load_key(db_path):
    """The pseudonym key beside the database, made (mode 0600) on first use."""
    path = Path(str(db_path) + ".key")
    try:
        text = path.read_text().strip()
        if len(text) == 64:
            return text
        raise ValueError("%s: not a 64-character hex key" % path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32).hex()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def pseudonym_sql(expr, key):
    """SQL for the keyed pseudonym of ``expr`` (NULL stays NULL)."""
    inner, outer = key[:32], key[32:]
    return "left(sha256('%s' || sha256('%s' || %s)), 32)" % (outer, inner, expr)


def open_store(db_path):
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    # No progress bar of DuckDB's own on the user's terminal; a bounded memory (it spills to disk).
    con.execute("SET enable_progress_bar = false")
    con.execute("SET memory_limit = '768MB'")
    con.execute(SCHEMA)
    return con
