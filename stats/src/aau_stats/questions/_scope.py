"""The engine a question runs on, and the filters every question shares.

Questions are SQL over view ``requests`` (the documented wide schema), in
one portable dialect: plain aggregates, ``CASE``, window functions and
joins, no engine-specific shortcuts. The filters become a ``WHERE`` clause
over the same view. Values the user gives that are stored as pseudonyms (an
organization token, IP addresses and networks) are turned into pseudonyms
here, with the store's key, and matched in both forms, so that stores
ingested with and without ``--raw`` answer alike.
"""

import datetime
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
from anaconda_anon_usage import grammar

from ..files import read_user_file
from ..model import KEYED_REQUESTS, downloads_sql, sessions_sql
from ..store import FIRST_YEAR, LAST_YEAR, OUT_OF_RANGE, StoreError, connect, key_path, pseudonym, read_keys

# Enumerating pseudonyms is how an IP range is matched without raw addresses: this many at most per file.
MAX_IP_VALUES = 1 << 17
# The tokens are kept as their counting keys (numbers in the store): the questions count them and show none.
SESSION_COLUMNS = ("day", "ip", "network", "client_family", "aau_version", "c_id AS c", "s", "e_id AS e", "m", "requests",
                   "downloads", "heartbeats", "conda_downloads", "python_downloads", "first_ts")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ORG = re.compile(r"^%s{1,%d}$" % (grammar.TOKEN_CHARS, grammar.SYSTEM_TOKEN_MAX_LENGTH))


class QuestionError(Exception):
    """A question that cannot be answered as asked; the message names the input."""


class UsageError(QuestionError):
    """A question asked with options that cannot be run as written (a malformed or conflicting option)."""


def parse_month(text, what="--month"):
    match = _MONTH.match(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or not 1 <= int(match.group(1)) <= 9999:
        raise UsageError("%s %r: not a month (YYYY-MM, years 0001 to 9999)" % (what, text))
    return datetime.date(int(match.group(1)), int(match.group(2)), 1)


def month_end(first):
    """The last day of the month that starts on ``first``."""
    if first.month == 12:
        return first.replace(day=31)  # also for December 9999, the last month a date can hold
    return first.replace(month=first.month + 1) - datetime.timedelta(days=1)


def parse_day(text, what):
    try:
        return datetime.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise UsageError("%s %r: not a date (YYYY-MM-DD)" % (what, text)) from None


@dataclass
class Filters:
    """What part of the requests a question looks at. Days are inclusive, in UTC."""

    since: datetime.date = None
    until: datetime.date = None
    channel: str = None
    package: str = None
    org: str = None
    ips: str = None  # a file of IP addresses and CIDR ranges, one per line

    @classmethod
    def build(cls, since=None, until=None, month=None, channel=None, package=None, org=None, ips=None):
        """Filters from the command line's text, checked; ``month`` is a shorthand for since and until."""
        since = parse_day(since, "--since") if isinstance(since, str) else since
        until = parse_day(until, "--until") if isinstance(until, str) else until
        if month is not None:
            if since is not None or until is not None:
                raise UsageError("--month %s: give either --month or --since/--until" % month)
            since = parse_month(month)
            until = month_end(since)
        if since and until and since > until:
            raise UsageError("--since %s is after --until %s" % (since, until))
        if org is not None and not _ORG.match(org):
            raise UsageError("--org: not an organization token (1-%d characters of A-Z a-z 0-9 _ -)"
                                % grammar.SYSTEM_TOKEN_MAX_LENGTH)
        return cls(since, until, channel, package, org, str(ips) if ips is not None else None)

    def describe(self):
        """The filters as published: the organization token is not repeated, the IP file is named."""
        out = {}
        for name in ("since", "until", "channel", "package"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        if self.org is not None:
            out["org"] = "given"
        if self.ips is not None:
            out["ips"] = Path(self.ips).name
        return out


def _quote(value):
    return "'%s'" % str(value).replace("'", "''")


class DuckDBEngine:
    """The store's DuckDB database, opened read-only; or, with ``parquet_dir``, a Parquet store
    (as ``export --parquet`` or ``ingest --engine spark`` write it) read by an in-memory DuckDB."""

    name = "duckdb"

    def __init__(self, db_path, parquet_dir=None):
        if parquet_dir is not None:
            self._open_parquet(parquet_dir, db_path)
            return
        self.db_path = Path(db_path)
        if not self.db_path.exists():
            raise QuestionError("%s: no store there (run aau-stats ingest first)" % self.db_path)
        try:
            self.con = connect(self.db_path, read_only=True)
        except StoreError as exc:
            raise QuestionError(str(exc)) from None
        # DuckDB's own progress bar would write into --json and --csv output on long queries.
        self.con.execute("SET enable_progress_bar = false")
        tables = {row[0] for row in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "requests" not in tables:
            self.con.close()
            raise QuestionError("%s: not an aau-stats store (no requests)" % self.db_path)
        if not self.con.execute("SELECT count(*) FROM request_rows").fetchall()[0][0]:
            self.con.close()
            raise QuestionError("%s: the store has no requests yet (run aau-stats ingest first)" % self.db_path)
        try:
            self.keys = read_keys(self.db_path, self.con)
        except StoreError as exc:
            self.con.close()
            raise QuestionError(str(exc)) from None
        self._lookups = 0
        # Whether the counting keys are the store's numbers (else the values themselves).
        self.numbered = "keyed_requests" in tables
        self._shadow_requests(stored_sessions="session_rows" in tables, rows="request_rows", numbered=self.numbered)
        # Downloads kept at ingest (made with the table, in the transaction of the requests they count).
        # (A view of an earlier layout, before the package keys, is answered from the requests until an ingest.)
        self.has_downloads = "download_rows" in tables and self.numbered and "v_id" in [
            row[0] for row in self.con.execute("DESCRIBE downloads").fetchall()]
        # Sessions kept at ingest, when they account for every request (a store of an older version may lack them).
        self.has_sessions = "session_rows" in tables and self.scalar(
            "SELECT (SELECT coalesce(sum(requests), 0) FROM session_rows) = (SELECT count(*) FROM request_rows)")

    def _open_parquet(self, parquet_dir, db_path):
        self.db_path = Path(parquet_dir)
        files = self.db_path / "day=*" / "*.parquet"
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")
        from ..spark.ingest import SOURCES, committed_ids_sql

        committed = ""
        if (self.db_path / SOURCES).is_dir():  # written by Spark: only the rows of completed files count
            committed = " WHERE source_id IN (%s)" % committed_ids_sql(
                "read_parquet(%s)" % _quote(self.db_path / SOURCES / "*.parquet"))
        try:
            self.con.execute("CREATE VIEW requests AS SELECT * FROM read_parquet(%s, hive_partitioning = true,"
                             " union_by_name = true)%s" % (_quote(files), committed))
            empty = not self.scalar("SELECT count(*) FROM requests")
        except duckdb.Error as exc:
            self.con.close()
            raise QuestionError("%s: not a Parquet store of requests (%s)" % (
                self.db_path, str(exc).splitlines()[0])) from None
        if empty:
            self.con.close()
            raise QuestionError("%s: the store has no requests yet" % self.db_path)
        self._shadow_requests()
        self.keys = read_keys(db_path) if db_path is not None and Path(db_path).exists() else None
        self._lookups = 0
        self.has_sessions = False  # made from the requests by model.sessions_sql
        self.has_downloads = False  # likewise, by model.downloads_sql
        self.numbered = False  # the counting keys are the values

    def _shadow_requests(self, stored_sessions=False, rows="requests", numbered=False):
        """Temporary views over the store's own, for a store an older version wrote.

        A store from before the numbered tokens (``numbered`` false), and a
        Parquet store: the questions count by the values themselves (view
        ``keyed_requests``, and the sessions' ``c_id`` and ``e_id``).

        A store from before column agent (the user agent's pseudonym): sessions
        made from its requests are told apart by the user agent's parsed
        fields, until an ingest gives each user agent an id. A store holding
        times outside FIRST_YEAR..LAST_YEAR (today a ``bad time`` rejection):
        those requests, and their sessions, are left out and said so, until the
        next ingest makes them rejections.
        """
        self.notes = []
        database = '"%s".main' % self.con.execute("SELECT current_database()").fetchall()[0][0].replace('"', '""')
        columns = [row[0] for row in self.con.execute("DESCRIBE requests").fetchall()]
        add = "" if "agent" in columns else ", CAST(NULL AS VARCHAR) AS agent"
        outside = self.scalar("SELECT count(*) FROM %s.%s WHERE %s" % (database, rows, OUT_OF_RANGE))
        where = ""
        if outside:
            where = " WHERE NOT (%s)" % OUT_OF_RANGE
            self.notes.append("%d requests stored by an older version with a time outside %d-%d are left out; the"
                              " next ingest counts them as bad time." % (outside, FIRST_YEAR, LAST_YEAR))
        if stored_sessions and (where or not numbered):
            self.con.execute("CREATE TEMP VIEW sessions AS SELECT *%s FROM %s.sessions%s" % (
                "" if numbered else ", c AS c_id, e AS e_id", database, where))
        if add or where:
            self.con.execute("CREATE TEMP VIEW requests AS SELECT *%s FROM %s.requests%s" % (add, database, where))
        if not numbered:
            self.con.execute("CREATE TEMP VIEW keyed_requests AS " + KEYED_REQUESTS)
        elif where:
            for view in ("keyed_requests", "downloads"):
                self.con.execute("CREATE TEMP VIEW %s AS SELECT * FROM %s.%s%s" % (view, database, view, where))

    def rows(self, sql):
        """``(columns, rows)`` of a query."""
        cursor = self.con.execute(sql)
        return [d[0] for d in cursor.description], [list(row) for row in cursor.fetchall()]

    def scalar(self, sql):
        return self.con.execute(sql).fetchall()[0][0]

    def lookup(self, columns, rows):
        """A temporary table of the given rows (for matching); returns its name."""
        self._lookups += 1
        name = "lookup_%d" % self._lookups
        self.con.execute("CREATE TEMP TABLE %s (%s)" % (name, ", ".join("%s %s" % c for c in columns)))
        if rows:
            self.con.executemany("INSERT INTO %s VALUES (%s)" % (name, ", ".join("?" * len(columns))), rows)
        return name

    def keep(self, sql):
        """The result of a query kept as a temporary table, for several queries to read; returns its name."""
        self._lookups += 1
        name = "kept_%d" % self._lookups
        self.con.execute("CREATE TEMP TABLE %s AS %s" % (name, sql))
        return name

    def close(self):
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Scope:
    """Filters made into SQL for one engine."""

    def __init__(self, engine, filters=None, min_clients=None):
        self.engine = engine
        self.filters = filters or Filters()
        # The privacy threshold the answers will be published under (None: not known): a question may then
        # count exactly only what decides a value's fate (the backing of a value published elsewhere below it).
        self.min_clients = min_clients
        self._where, self._line_where = self._conditions()
        self._sessions = {}

    def _pseudonyms(self, value):
        out = [value]
        if self.engine.keys is not None:
            out.append(pseudonym(value, self.engine.keys))
        return out

    def _conditions(self):
        f = self.filters
        where, line_where = [], []
        if f.channel is not None:
            line_where.append("channel = %s" % _quote(f.channel))
        if f.package is not None:
            line_where.append("name = %s" % _quote(f.package))
        if f.org is not None:
            self._need_keys("--org")
            where.append("(%s)" % " OR ".join("list_contains(o, %s)" % _quote(v) for v in self._pseudonyms(f.org)))
        if f.ips is not None:
            self._need_keys("--ips")
            addresses, networks = read_ip_file(f.ips)
            ip_table = self.engine.lookup([("value", "VARCHAR")],
                                          [(v,) for a in addresses for v in self._pseudonyms(a)])
            net_table = self.engine.lookup([("value", "VARCHAR")],
                                           [(v,) for n in networks for v in self._pseudonyms(n)])
            where.append("(ip IN (SELECT value FROM %s) OR network IN (SELECT value FROM %s))" % (ip_table, net_table))
        return where, line_where

    def _need_keys(self, option):
        if self.engine.keys is None:
            raise QuestionError("%s: %s is missing, so %s cannot be matched against the store's pseudonyms"
                                % (option, key_path(self.engine.db_path), option))

    def time_conditions(self):
        where = []
        if self.filters.since is not None:
            where.append("day >= DATE %s" % _quote(self.filters.since))
        if self.filters.until is not None:
            where.append("day <= DATE %s" % _quote(self.filters.until))
        return where

    def requests(self, time=True):
        """A ``SELECT`` of the requests in scope (a subquery), with their counting keys (``c_id``, ``e_id``,
        ``ip_id``); ``time=False`` keeps the history before --since."""
        return _select("keyed_requests", self._where + self._line_where + (self.time_conditions() if time else []))

    def downloads(self, time=True, by_value=False):
        """A ``SELECT`` of the downloads in scope, grouped (see :func:`aau_stats.model.downloads_sql`): from the
        downloads the store keeps, unless a filter looks at what they do not keep (an organization token).
        ``time=False`` keeps the history before --since. ``by_value``: with the tokens' and addresses' values
        as their counting keys on every engine (what is hashed must be the same everywhere)."""
        where = self._where + self._line_where + (self.time_conditions() if time else [])
        if by_value:
            return "(%s)" % downloads_sql(_select("(%s)" % KEYED_REQUESTS, where))
        if self.engine.has_downloads and self.filters.org is None:
            return _select("downloads", where)
        return "(%s)" % downloads_sql(self.requests(time))

    def sessions(self, time=True):
        """A kept table of the sessions in scope (see :func:`aau_stats.model.sessions_sql`).

        From the sessions the store keeps, unless a filter looks inside the
        requests (a channel, a package): then made from the requests in scope.
        ``time=False`` keeps the history before --since.
        """
        if time not in self._sessions:
            # Kept once, with the columns questions read: each reads it several times, and a report asks them all.
            self._sessions[time] = self.engine.keep("SELECT %s FROM %s s" % (
                ", ".join(SESSION_COLUMNS), self.session_source(time)))
        return self._sessions[time]

    def session_source(self, time=True):
        """The sessions in scope as a relation to read once, with the columns of view ``sessions`` (see
        :meth:`sessions`, which keeps some of them, the tokens as ``c`` and ``e``)."""
        if self._line_where or not self.engine.has_sessions:
            return "(%s)" % sessions_sql(self.requests(time))
        return _select("sessions", self._where + (self.time_conditions() if time else []))


def _select(relation, where):
    return "(SELECT * FROM %s%s)" % (relation, " WHERE " + " AND ".join(where) if where else "")


def read_ip_file(path):
    """IP addresses and /24 or /48 networks, as the store writes them, for the lines of an IP file.

    One address or CIDR range per line; ``#`` starts a comment. A range is
    matched through the networks it covers when it is /24 (IPv4) or /48
    (IPv6) or wider, and through its addresses when narrower.
    """
    try:
        text = read_user_file(path)
    except FileNotFoundError:
        raise QuestionError("--ips %s: no such file" % path) from None
    except (OSError, ValueError) as exc:
        raise QuestionError("--ips %s: cannot read it (%s)" % (path, getattr(exc, "strerror", None) or exc)) from None
    addresses, networks = set(), set()
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise QuestionError("--ips %s:%d: %r is not an IP address or CIDR range" % (path, number, entry)) from None
        if net.version == 6 and net.num_addresses == 1 and net.network_address.ipv4_mapped is not None:
            net = ipaddress.ip_network(net.network_address.ipv4_mapped)  # stored as its IPv4 address
        unit = 24 if net.version == 4 else 48
        if net.prefixlen <= unit:
            if unit - net.prefixlen > 16:
                raise QuestionError("--ips %s:%d: %s is too wide (at most a /%d)" % (path, number, entry, unit - 16))
            networks.update(_network_text(sub) for sub in net.subnets(new_prefix=unit))
        else:
            if net.max_prefixlen - net.prefixlen > 16:
                raise QuestionError("--ips %s:%d: %s cannot be matched against pseudonymised addresses; give the"
                                    " /%d that holds it, or a range of at most 65536 addresses"
                                    % (path, number, entry, unit))
            addresses.update(str(a) for a in (net if net.num_addresses == 1 else net.hosts()))
            addresses.update((str(net.network_address), str(net.broadcast_address)))
        if len(addresses) + len(networks) > MAX_IP_VALUES:
            raise QuestionError("--ips %s:%d: more than %d addresses and networks in all" % (path, number, MAX_IP_VALUES))
    if not addresses and not networks:
        raise QuestionError("--ips %s: no addresses in it" % path)
    return sorted(addresses), sorted(networks)


def _network_text(net):
    """A network as ingestion stores it: ``a.b.c.0/24``, or ``xxxx:xxxx:xxxx::/48`` with four-digit groups."""
    if net.version == 4:
        return str(net)
    return ":".join(net.network_address.exploded.split(":")[:3]) + "::/48"
