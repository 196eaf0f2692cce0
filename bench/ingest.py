"""Benchmark: ``aau-stats ingest`` against other ways of parsing the same access log.

One run generates (seeded, deterministic) nginx ``combined`` lines that look
like conda traffic: many clients, some behind one address, timestamps rising
over four weeks, repodata and package requests answered 200, 304 or 404, and
user agents of conda with the ``aau/ c/ s/ e/`` tokens (tokens from the
client's own encoder, a new session every few requests), older conda
without tokens, mamba, micromamba, pixi and pip. Every tool then reads the
same file (in the page cache), each in a process of its own, so that its
wall time (``time.perf_counter`` around the child) and peak RSS
(``os.wait4`` in a bare timer process, whose own 8 MiB or so are the
floor of that column) are its own. Each tool first runs once
untimed on a small log (byte-code, shared libraries, and a check that it
works), then ``--repeat`` times, interleaved; the table shows the median time
and the highest RSS. A last run measures the peak RSS of ``aau-stats ingest``
on ``--rss-lines`` lines.

What each tool does with every line (all parse every line into fields; all
but GoAccess also pick the ``c/ s/ e/`` tokens out of the user agent):

- ``aau-stats ingest``: everything it does for real, into a fresh store:
  decompression check, line accounting, DuckDB's CSV reader, time and status
  checks, the request model (path split into channel, subdir, package name,
  version, build; client family and versions from the user agent; all
  tokens), keyed pseudonyms of tokens and addresses, the manifest, one
  transaction. DuckDB's memory is capped at 640 MB.
- ``aau-stats ingest (gzip input)``: the same, from the log compressed with
  gzip at level 6 (made once, untimed), as logrotate leaves old logs.
- GoAccess (``--log-format=COMBINED``, JSON report, no terminal UI): parses
  each line into its fields (time, request, status, bytes, user agent with
  browser and OS detection), aggregates its panels in memory and writes the
  report. It knows nothing of the tokens. GoAccess 1.7 (Debian 12) parses
  in one thread; the others use every core.
- DuckDB SQL: ``read_csv`` of whole lines, one ``regexp_extract`` of the
  combined fields into a struct, three more for ``c/ s/ e/``, stored with
  ``CREATE TABLE AS`` in a fresh database file (DuckDB's default settings).
- Polars: ``scan_lines``, one ``str.extract_groups`` of the combined fields,
  three ``str.extract`` for the tokens, collected into a DataFrame in memory
  by the streaming engine (the fastest of Polars' engines here).
- Python ``re``: one compiled pattern matched against each line of the file
  read as bytes, then three token searches on the user agent; the fields are
  extracted (``groups()``) and counted, not kept. One thread.

Every tool reports how many lines it parsed and how many of each token it
found; the table says whether that is every line and every token.

    python bench/ingest.py [--lines N] [--rss-lines N] [--repeat N] [--seed N]
                           [--install-peers] [--scratch DIR]
"""

import argparse
import datetime
import gzip
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from anaconda_anon_usage import grammar

GOAL_LINES_PER_SECOND = 1_500_000
GOAL_GZIP_LINES_PER_SECOND = 800_000
GOAL_RSS_BYTES = 1 << 30

LINE_PATTERN = (
    r"^(?P<ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'"(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)"$'
)
FIELDS = tuple(re.findall(r"\?P<(\w+)>", LINE_PATTERN))
TOKEN_PREFIXES = ("c", "s", "e")


def token_pattern(prefix):
    """One ``prefix/<token>`` word of a user agent, the token as group 1."""
    return "(?:^| )%s/(%s{%d})(?: |$)" % (prefix, grammar.TOKEN_CHARS, grammar.RANDOM_TOKEN_LENGTH)


# --- the generated log ---------------------------------------------------

START = datetime.date(2026, 9, 14)
SPAN_SECONDS = 28 * 86400
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ACTIVE_SESSIONS = 256  # sessions whose requests are interleaved at any moment
CHUNK = 100_000

PY_PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "matplotlib-base", "pyarrow", "cryptography",
               "pydantic-core", "lxml", "pillow", "psutil", "pyyaml", "markupsafe", "libmambapy", "conda")
NOARCH_PACKAGES = ("requests", "urllib3", "certifi", "idna", "charset-normalizer", "packaging", "setuptools",
                   "pip", "wheel", "tqdm", "six", "python-dateutil", "pytz", "typing_extensions", "attrs",
                   "jinja2", "click", "rich", "fsspec", "filelock", "platformdirs", "tzdata")
NATIVE_PACKAGES = ("python", "openssl", "libzlib", "zstd", "xz", "bzip2", "ncurses", "readline", "libffi",
                   "libsqlite", "tk", "ca-certificates", "libgcc-ng", "libstdcxx-ng", "libopenblas", "icu",
                   "krb5", "libcurl", "libarchive", "libsolv")
CHANNELS = {  # channel: (subdirs, share of clients)
    "conda-forge": (("linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"), 0.6),
    "pkgs/main": (("linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"), 0.35),
    "bioconda": (("linux-64", "osx-64"), 0.05),
}
PLATFORMS = (  # (subdirs, user agent words, weight)
    (("linux-64",), "Linux/6.1.0 debian/12 glibc/2.36", 25),
    (("linux-64",), "Linux/5.15.0-119-generic ubuntu/22.04.4 glibc/2.35", 30),
    (("linux-64",), "Linux/4.18.0-513.el8.x86_64 rhel/8.9 glibc/2.28", 10),
    (("linux-aarch64",), "Linux/6.8.0-1015-aws ubuntu/24.04.1 glibc/2.39", 5),
    (("osx-arm64",), "Darwin/23.6.0 OSX/14.6.1", 12),
    (("osx-64",), "Darwin/21.6.0 OSX/12.7.6", 3),
    (("win-64",), "Windows/10 Windows/10.0.19045", 15),
)
CONDAS = (  # (conda version, solver words, aau version or None)
    ("24.11.3", "solver/libmamba conda-libmamba-solver/24.9.0 libmambapy/1.5.8", "0.8.0"),
    ("24.9.2", "solver/libmamba conda-libmamba-solver/24.9.0 libmambapy/1.5.8", "0.7.1"),
    ("24.7.1", "solver/libmamba conda-libmamba-solver/24.7.0 libmambapy/1.5.8", "0.4.4"),
    ("25.1.1", "solver/libmamba conda-libmamba-solver/25.1.1 libmambapy/2.0.5", "0.8.0"),
    ("23.11.0", "solver/classic", "0.4.4"),
    ("4.14.0", "", None),
)
PYTHONS = ("3.11.7", "3.12.4", "3.10.14", "3.9.19", "3.13.1")
OTHER_AGENTS = (  # user agents without tokens, and their share of clients
    ("mamba/2.0.5", 0.03),
    ("micromamba/1.5.10", 0.04),
    ("pixi/0.40.3", 0.03),
    ('pip/24.2 {\\x22ci\\x22:null,\\x22cpu\\x22:\\x22x86_64\\x22,\\x22distro\\x22:{\\x22name\\x22:'
     '\\x22Ubuntu\\x22,\\x22version\\x22:\\x2222.04\\x22},\\x22implementation\\x22:{\\x22name\\x22:'
     '\\x22CPython\\x22,\\x22version\\x22:\\x223.11.7\\x22},\\x22installer\\x22:{\\x22name\\x22:'
     '\\x22pip\\x22,\\x22version\\x22:\\x2224.2\\x22},\\x22python\\x22:\\x223.11.7\\x22}', 0.04),
)


class LogGenerator:
    """Deterministic conda-like traffic: ``write(path, lines)`` fills a file."""

    def __init__(self, seed, lines):
        self.rng = rng = random.Random(seed)
        self.token_lines = 0
        self._requests(rng)
        self._clients(rng, max(100, lines // 400))

    def token(self):
        return grammar.encode_token(self.rng.randbytes(grammar.RANDOM_TOKEN_BYTES))[:grammar.RANDOM_TOKEN_LENGTH]

    @staticmethod
    def _request(method, path, status, size):
        return '%s %s HTTP/1.1" %d %d' % (method, path, status, size)

    def _requests(self, rng):
        """Per channel and subdir: repodata (200, 304) and weighted packages (200, 404)."""
        hexdigits = "0123456789abcdef"

        def build(prefix):
            return "%s%s_%d" % (prefix, "".join(rng.choices(hexdigits, k=7)), rng.randrange(3))

        def files(names, subdir, python):
            out = []
            for name in names:
                for _ in range(rng.randint(2, 6)):
                    version = "%d.%d.%d" % (rng.randrange(1, 30), rng.randrange(20), rng.randrange(12))
                    for py in python:
                        if subdir == "noarch":
                            tail = "pyhd8ed1ab_%d" % rng.randrange(3)
                        else:
                            tail = build("py%sh" % py if py else "h")
                        ext = ".conda" if rng.random() < 0.85 else ".tar.bz2"
                        out.append("%s/%s-%s-%s%s" % (subdir, name, version, tail, ext))
            return out

        self.repodata, self.packages, self.heartbeat = {}, {}, {}
        for channel, (subdirs, _) in CHANNELS.items():
            noarch = files(NOARCH_PACKAGES, "noarch", ("",))
            self.heartbeat[channel] = self._request("HEAD", "/%s/noarch/activate-0.0.0-0.conda" % channel, 404, 0)
            for subdir in (*subdirs, "noarch"):
                for variant in ("repodata.json.zst", "repodata.json", "current_repodata.json"):
                    path = "/%s/%s/%s" % (channel, subdir, variant)
                    size = rng.randrange(2_000_000, 40_000_000)
                    self.repodata[channel, subdir, variant] = (self._request("GET", path, 200, size),
                                                               self._request("GET", path, 304, 0))
            for subdir in subdirs:
                pool = noarch + files(PY_PACKAGES, subdir, ("310", "311", "312")) + files(NATIVE_PACKAGES, subdir, ("",))
                rng.shuffle(pool)
                entries = []
                for name in pool:
                    path = "/%s/%s" % (channel, name)
                    entries.append((self._request("GET", path, 200, rng.randrange(20_000, 60_000_000)),
                                    self._request("GET", path, 404, 153)))
                weights = [1 / (rank + 1) for rank in range(len(entries))]  # a few files are most wanted
                self.packages[channel, subdir] = (entries, list(_cumulative(weights)))
        self.simple = [(self._request("GET", "/pypi/simple/%s/" % name, 200, rng.randrange(2_000, 400_000)),
                        self._request("GET", "/pypi/simple/%s/" % name, 304, 0))
                       for name in PY_PACKAGES + NOARCH_PACKAGES]

    def _clients(self, rng, count):
        addresses = []
        for _ in range(max(10, count * 6 // 10)):  # fewer addresses than clients: some share one
            if rng.random() < 0.9:
                addresses.append("%d.%d.%d.%d" % (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256),
                                                  rng.randrange(1, 255)))
            else:
                addresses.append("2001:db8:%x:%x::%x" % (rng.randrange(65536), rng.randrange(65536),
                                                         rng.randrange(1, 65536)))
        channels = list(CHANNELS)
        channel_weights = [share for _, share in CHANNELS.values()]
        other_share = sum(share for _, share in OTHER_AGENTS)
        self.clients = []
        for _ in range(count):
            channel = rng.choices(channels, channel_weights)[0]
            subdirs, os_words, _ = rng.choices(PLATFORMS, [w for _, _, w in PLATFORMS])[0]
            subdir = subdirs[0] if subdirs[0] in CHANNELS[channel][0] else CHANNELS[channel][0][0]
            client = {
                "head": "%s - - [" % rng.choice(addresses),
                "channel": channel,
                "subdir": subdir,
                "variant": rng.choices(("repodata.json.zst", "repodata.json", "current_repodata.json"), (7, 2, 1))[0],
            }
            pick = rng.random()
            if pick < other_share:
                for other, share in OTHER_AGENTS:
                    client["agent"] = other
                    if pick < share:
                        break
                    pick -= share
            else:
                conda, solver, aau = rng.choices(CONDAS, (30, 20, 15, 15, 10, 10))[0]
                words = ["conda/%s requests/2.32.3 CPython/%s %s" % (conda, rng.choice(PYTHONS), os_words)]
                if solver:
                    words.append(solver)
                if aau:
                    words.append("aau/%s c/%s" % (aau, self.token()))
                    client["environments"] = [self.token() for _ in range(rng.randint(1, 4))]
                client["agent"] = " ".join(words)
            self.clients.append(client)
        self.client_weights = list(_cumulative(rng.paretovariate(1.2) for _ in range(count)))

    def _session(self):
        """``[head, tail, requests (last first), has tokens]`` of a new process of some client."""
        rng = self.rng
        client = rng.choices(self.clients, cum_weights=self.client_weights)[0]
        agent, channel, subdir = client["agent"], client["channel"], client["subdir"]
        requests = []
        if agent.startswith("pip/"):
            requests = [pair[rng.random() < 0.5] for pair in rng.sample(self.simple, rng.randint(1, 8))]
        else:
            if "environments" in client:
                agent = "%s s/%s e/%s" % (agent, self.token(), rng.choice(client["environments"]))
                if rng.random() < 0.2:
                    requests.append(self.heartbeat[channel])
            for sd in (subdir, "noarch"):
                requests.append(self.repodata[channel, sd, client["variant"]][rng.random() < 0.5])
            if rng.random() < 0.6:
                entries, weights = self.packages[channel, subdir]
                for pair in rng.choices(entries, cum_weights=weights, k=rng.randint(1, 40)):
                    requests.append(pair[rng.random() < 0.02])
        requests.reverse()
        return [client["head"], ' "-" "%s"\n' % agent, requests, "environments" in client]

    def write(self, path, lines):
        rng = self.rng
        days = []
        for day in range(SPAN_SECONDS // 86400 + 1):
            date = START + datetime.timedelta(days=day)
            days.append("%02d/%s/%d:" % (date.day, MONTHS[date.month - 1], date.year))
        clock = ["%02d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60) for s in range(86400)]
        active = [self._session() for _ in range(ACTIVE_SESSIONS)]
        slots = range(ACTIVE_SESSIONS)
        token_lines = 0
        with open(path, "wb") as out:
            for first in range(0, lines, CHUNK):
                count = min(CHUNK, lines - first)
                chunk = []
                for number, slot in zip(range(first, first + count), rng.choices(slots, k=count)):
                    session = active[slot]
                    requests = session[2]
                    request = requests.pop()
                    if not requests:
                        active[slot] = self._session()
                    token_lines += session[3]
                    second = number * SPAN_SECONDS // lines
                    chunk.append("%s%s%s +0000] \"%s%s" % (session[0], days[second // 86400], clock[second % 86400],
                                                           request, session[1]))
                out.write("".join(chunk).encode("ascii"))
        self.token_lines += token_lines


def _cumulative(values):
    total = 0
    for value in values:
        total += value
        yield total


_GENERATED = {}


def generated_log(scratch, lines, seed):
    """``(path, lines with tokens, seconds to generate)``, made once per (lines, seed) in ``scratch``."""
    key = (str(scratch), lines, seed)
    if key not in _GENERATED:
        path = Path(scratch, "combined-%d-seed%d.log" % (lines, seed))
        start = time.perf_counter()
        generator = LogGenerator(seed, lines)
        generator.write(path, lines)
        _GENERATED[key] = (path, generator.token_lines, time.perf_counter() - start)
    return _GENERATED[key]


# --- the peers, each run in a child process (``--peer NAME LOG WORKDIR``) ---


def peer_duckdb(log, workdir):
    import duckdb

    def literal(text):
        return "'%s'" % text.replace("'", "''")

    con = duckdb.connect(str(Path(workdir, "peer.duckdb")))
    tokens = ", ".join("regexp_extract(f.user_agent, %s, 1) AS %s" % (literal(token_pattern(p)), p)
                       for p in TOKEN_PREFIXES)
    con.execute(
        "CREATE TABLE parsed AS SELECT unnest(f), %s FROM ("
        " SELECT regexp_extract(line, %s, [%s]) AS f FROM read_csv(%s, columns = {'line': 'VARCHAR'},"
        " delim = %s, quote = '', escape = '', header = false, auto_detect = false))"
        % (tokens, literal(LINE_PATTERN), ", ".join(map(literal, FIELDS)), literal(str(log)), literal("\x01")))
    counts = ", ".join("count(*) FILTER (WHERE %s <> '')" % name for name in ("ip", *TOKEN_PREFIXES))
    row = con.execute("SELECT count(*), %s FROM parsed" % counts).fetchall()[0]
    return dict(zip(("lines", "parsed", *TOKEN_PREFIXES), row))


def peer_polars(log, workdir):
    import polars as pl

    frame = (
        pl.scan_lines(log)
        .select(pl.col("line").str.extract_groups(LINE_PATTERN).alias("f"))
        .unnest("f")
        .with_columns(pl.col("user_agent").str.extract(token_pattern(p), 1).alias(p) for p in TOKEN_PREFIXES)
        .collect(engine="streaming")
    )
    found = {name: frame.height - frame[name].null_count() for name in ("ip", *TOKEN_PREFIXES)}
    return {"lines": frame.height, "parsed": found.pop("ip"), **found}


def peer_python_re(log, workdir):
    line_re = re.compile(LINE_PATTERN.encode())
    token_res = [re.compile(token_pattern(p).encode()) for p in TOKEN_PREFIXES]
    lines = parsed = fields = 0
    found = [0] * len(token_res)
    with open(log, "rb") as handle:
        for line in handle:
            lines += 1
            match = line_re.match(line)
            if match is None:
                continue
            parsed += 1
            fields += len(match.groups())
            agent = match.group("user_agent")
            for index, token_re in enumerate(token_res):
                if token_re.search(agent):
                    found[index] += 1
    return {"lines": lines, "parsed": parsed, "fields": fields, **dict(zip(TOKEN_PREFIXES, found))}


PEERS = {"duckdb": peer_duckdb, "polars": peer_polars, "python-re": peer_python_re}


# --- measuring -----------------------------------------------------------


def note(text):
    print("(%s)" % text, file=sys.stderr, flush=True)


class Skip(Exception):
    """A tool that cannot be measured here; the message says why."""


# Runs one command and reports its wall time and peak RSS. It is a process of
# its own, started bare (-S), because a child's ru_maxrss also counts the
# memory of the process it was forked from, until its exec: forked from the
# benchmark itself, every child would be charged the benchmark's own RSS.
TIMER = """
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write("%r %d %d" % (seconds, usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
"""


def measure(command, workdir):
    """``(seconds, peak RSS in bytes, stdout)`` of one child process."""
    out_path, err_path, timing = Path(workdir, "stdout"), Path(workdir, "stderr"), Path(workdir, "timing")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        subprocess.run([sys.executable, "-S", "-c", TIMER, str(timing), *command],
                       stdin=subprocess.DEVNULL, stdout=out, stderr=err, check=True)
    seconds, maxrss_kib, status = timing.read_text().split()
    if int(status):
        errors = err_path.read_text(errors="replace")
        note("%s failed with exit status %s; its standard error:\n%s" % (" ".join(command), status, errors.rstrip()))
        lines = [line.strip() for line in errors.splitlines() if line.strip()] or ["no message"]
        raise Skip("exit status %s: %s" % (status, next((e for e in reversed(lines) if "Error" in e), lines[-1])))
    return float(seconds), int(maxrss_kib) * 1024, out_path.read_text(errors="replace")


class Tool:
    name = ""

    def command(self, log, workdir):
        raise NotImplementedError

    def counts(self, stdout, workdir):
        """``{"lines", "parsed", "c", "s", "e"}`` (tokens may be missing) from a finished run."""
        return json.loads(stdout)

    def run(self, log, scratch):
        workdir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
        try:
            seconds, rss, stdout = measure(self.command(log, workdir), workdir)
            return seconds, rss, self.counts(stdout, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class AauStats(Tool):
    name = "aau-stats ingest"

    def command(self, log, workdir):
        return [sys.executable, "-m", "aau_stats.cli", "--db", str(Path(workdir, "store.duckdb")), "ingest", str(log)]

    def counts(self, stdout, workdir):
        import duckdb

        total = re.search(r"^total: lines (\d+) = parsed (\d+)", stdout, re.M)
        if total is None:
            raise Skip("no total line in its output: %r" % stdout[-200:])
        counts = {"lines": int(total.group(1)), "parsed": int(total.group(2))}
        try:
            with duckdb.connect(str(Path(workdir, "store.duckdb")), read_only=True) as con:
                row = con.execute("SELECT count(c), count(s), count(e) FROM requests").fetchall()[0]
            counts.update(zip(TOKEN_PREFIXES, row))
        except duckdb.Error as exc:
            note("aau-stats: tokens not counted: %s" % exc)
        return counts


class AauStatsGzip(AauStats):
    """aau-stats ingest of the same log compressed with gzip (level 6, as logrotate leaves it), made once."""

    name = "aau-stats ingest (gzip input)"

    def run(self, log, scratch):
        compressed = Path(str(log) + ".gz")
        if not compressed.exists():
            note("compressing %s" % Path(log).name)
            with open(log, "rb") as source, gzip.open(str(compressed) + ".part", "wb", compresslevel=6) as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.rename(str(compressed) + ".part", compressed)
        return super().run(compressed, scratch)


class GoAccess(Tool):
    name = "GoAccess"

    def __init__(self, install):
        self.executable = shutil.which("goaccess")
        if self.executable is None and install:
            self.executable = _install_goaccess()
        if self.executable is None:
            raise Skip("goaccess is not installed (`--install-peers` installs the Debian package)")
        words = subprocess.run([self.executable, "--version"], capture_output=True, text=True).stdout.split()
        self.name = "GoAccess %s" % (words[2].rstrip(".") if len(words) > 2 else "?")  # "GoAccess - 1.7."

    def command(self, log, workdir):
        return [self.executable, str(log), "--log-format=COMBINED", "--no-global-config", "--no-progress",
                "-o", str(Path(workdir, "report.json"))]

    def counts(self, stdout, workdir):
        general = json.loads(Path(workdir, "report.json").read_text())["general"]
        return {"lines": general["total_requests"], "parsed": general["valid_requests"]}


def _install_goaccess():
    if shutil.which("apt-get") is None:
        raise Skip("goaccess is not installed and there is no apt-get here")
    if os.geteuid() != 0:
        raise Skip("goaccess is not installed and installing it needs root")
    note("installing goaccess with apt-get")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
             "env": dict(os.environ, DEBIAN_FRONTEND="noninteractive")}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "goaccess"]
    if subprocess.run(install, **quiet).returncode:
        subprocess.run(["apt-get", "update", "-qq"], **quiet)
        if subprocess.run(install, **quiet).returncode:
            raise Skip("`apt-get install goaccess` failed")
    return shutil.which("goaccess")


class Peer(Tool):
    """One of :data:`PEERS`, run by this file in a child process."""

    LABELS = {"duckdb": "DuckDB %s SQL regexp_extract", "polars": "Polars %s str.extract_groups",
              "python-re": "Python %s re (one thread)"}

    def __init__(self, peer, module=None):
        self.peer = peer
        version = platform.python_version()
        if module:
            try:
                version = __import__(module).__version__
            except ImportError as exc:
                raise Skip("%s is not installed (pip install -r requirements/bench.txt)" % module) from exc
        self.name = self.LABELS[peer] % version

    def command(self, log, workdir):
        return [sys.executable, str(Path(__file__).resolve()), "--peer", self.peer, str(log), str(workdir)]


def tools(install_peers):
    """``(name, Tool or the reason it is skipped)`` for aau-stats and each peer."""
    makers = [("aau-stats ingest", AauStats), ("aau-stats ingest (gzip input)", AauStatsGzip),
              ("GoAccess", lambda: GoAccess(install_peers)),
              ("DuckDB SQL", lambda: Peer("duckdb", "duckdb")), ("Polars", lambda: Peer("polars", "polars")),
              ("Python re", lambda: Peer("python-re"))]
    out = []
    for name, make in makers:
        try:
            tool = make()
            out.append((tool.name, tool))
        except Skip as why:
            out.append((name, str(why)))
    return out


def check(counts, lines, token_lines):
    """Whether a tool parsed every line (and found every token, when it looks for them)."""
    if counts.get("parsed") != lines:
        return "no: parsed %s of %s lines" % (format(counts.get("parsed", 0), ","), format(lines, ","))
    if not any(p in counts for p in TOKEN_PREFIXES):
        return "every line; no tokens"
    missed = {p: counts.get(p) for p in TOKEN_PREFIXES if counts.get(p) != token_lines}
    if missed:
        return "no: tokens %s of %s" % (missed, format(token_lines, ","))
    return "every line and token"


# --- the run and its table ----------------------------------------------


def run_tools(candidates, log, warm_up, repeat, scratch):
    """``{name: [(seconds, rss, counts), ...] or the reason it failed}``."""
    results = {}

    def attempt(name, tool, path):
        try:
            return tool.run(path, scratch)
        except Skip as why:
            results[name] = "failed: %s" % why
            return None

    runnable = [(name, tool) for name, tool in candidates if not isinstance(tool, str)]
    for name, tool in runnable:
        note("warming up %s" % name)
        attempt(name, tool, warm_up)
    for round_ in range(repeat):
        for name, tool in runnable:
            if not isinstance(results.get(name), str):
                note("run %d of %d: %s" % (round_ + 1, repeat, name))
                outcome = attempt(name, tool, log)
                if outcome:
                    results.setdefault(name, []).append(outcome)
    return results


def mib(size):
    return "%.0f" % (size / (1 << 20))


def print_table(args, candidates, results, generated, big):
    size, token_lines, generation = generated
    print("%d CPUs, %s; %s generated lines (%.0f MB, %s with tokens, generated in %.1f s, seed %d); "
          "median of %d runs, the log in the page cache.\n" % (
              os.cpu_count(), platform.platform(terse=True), format(args.lines, ","), size / 1e6,
              format(token_lines, ","), generation, args.seed, args.repeat))
    print("| tool | lines | seconds | lines/s | ratio vs aau-stats | peak RSS (MiB) | parsed |")
    print("|---|---|---|---|---|---|---|")
    ours = results.get(AauStats.name)
    ours_rate = args.lines / statistics.median(r[0] for r in ours) if isinstance(ours, list) else None
    peaks = []
    for name, tool in candidates:
        outcome = tool if isinstance(tool, str) else results.get(name, "not run")
        if isinstance(outcome, str):
            print("| %s | %s | — | — | — | — | skipped: %s |" % (name, format(args.lines, ","), outcome))
            continue
        seconds = statistics.median(r[0] for r in outcome)
        rss = max(r[1] for r in outcome)
        rate = args.lines / seconds
        if name == AauStats.name:
            peaks.append(rss)
        print("| %s | %s | %.2f | %s | %s | %s | %s |" % (
            name, format(args.lines, ","), seconds, format(round(rate), ","),
            "%.2fx" % (rate / ours_rate) if ours_rate else "—", mib(rss),
            check(outcome[-1][2], args.lines, token_lines)))
    if isinstance(big, str):
        print("| aau-stats ingest (peak-RSS run) | %s | — | — | — | — | %s |" % (format(args.rss_lines, ","), big))
    elif big:
        seconds, rss, checked = big[:3]
        peaks.append(rss)
        print("| aau-stats ingest (peak-RSS run) | %s | %.2f | %s | — | %s | %s |" % (
            format(args.rss_lines, ","), seconds, format(round(args.rss_lines / seconds), ","), mib(rss), checked))

    print("\nratio: lines/s over aau-stats' lines/s (above 1: faster than aau-stats).")
    if isinstance(big, tuple):
        print("The peak-RSS run's log: %.1f GB, generated in %.1f s." % (big[3] / 1e9, big[4]))
    if ours_rate:
        peak = max(peaks)
        print("Goal: ≥ %s lines/s and ≤ 1 GiB peak RSS at any size. aau-stats: %s lines/s (%s), "
              "peak RSS %.2f GiB (%s)." % (
                  format(GOAL_LINES_PER_SECOND, ","), format(round(ours_rate), ","),
                  "met" if ours_rate >= GOAL_LINES_PER_SECOND else "not met",
                  peak / (1 << 30), "met" if peak <= GOAL_RSS_BYTES else "not met"))
        gz = results.get(AauStatsGzip.name)
        if isinstance(gz, list):
            gz_rate = args.lines / statistics.median(r[0] for r in gz)
            print("Goal: ≥ %s lines/s from gzip input. aau-stats: %s lines/s (%s)." % (
                format(GOAL_GZIP_LINES_PER_SECOND, ","), format(round(gz_rate), ","),
                "met" if gz_rate >= GOAL_GZIP_LINES_PER_SECOND else "not met"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--lines", type=int, default=2_000_000, help="lines for the throughput runs")
    parser.add_argument("--rss-lines", type=int, default=10_000_000,
                        help="lines for aau-stats' peak-RSS run (0: skip it)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool (median time, highest RSS)")
    parser.add_argument("--seed", type=int, default=20261010, help="seed of the generated log")
    parser.add_argument("--install-peers", action="store_true",
                        help="install missing peers that need a system package (GoAccess, with apt-get)")
    parser.add_argument("--scratch", help="directory for the generated logs and stores (default: a temporary one)")
    args = parser.parse_known_args(argv)[0]

    candidates = tools(args.install_peers)
    with tempfile.TemporaryDirectory(prefix="aau-bench-ingest-", dir=args.scratch) as scratch:
        note("generating %s lines" % format(args.lines, ","))
        log, token_lines, generation = generated_log(scratch, args.lines, args.seed)
        generated = (log.stat().st_size, token_lines, generation)
        warm_up = generated_log(scratch, min(args.lines, 10_000), args.seed)[0]
        results = run_tools(candidates, log, warm_up, args.repeat, scratch)
        big = None
        if args.rss_lines:
            note("generating %s lines" % format(args.rss_lines, ","))
            big_log, big_tokens, big_generation = generated_log(scratch, args.rss_lines, args.seed)
            note("peak-RSS run: %s" % AauStats.name)
            try:
                seconds, rss, counts = AauStats().run(big_log, scratch)
                big = (seconds, rss, check(counts, args.rss_lines, big_tokens), big_log.stat().st_size,
                       big_generation)
            except Skip as why:
                big = "failed: %s" % why
    print_table(args, candidates, results, generated, big)


def _peer_main(argv):
    name, log, workdir = argv
    print(json.dumps(PEERS[name](log, workdir)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peer"]:
        _peer_main(sys.argv[2:])
    else:
        main()
