"""Logs written by a real nginx, and an ingest killed with SIGKILL."""

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest
from aau_stats.ingest import ingest
from anaconda_anon_usage import tokens


@pytest.fixture
def nginx(tmp_path):
    """The analytics' own nginx runner (the demo's), serving a tiny channel."""
    from aau_stats.live import Nginx, NginxMissing

    root = tmp_path / "nginx"
    noarch = root / "channel" / "conda-forge" / "noarch"
    noarch.mkdir(parents=True)
    (noarch / "repodata.json").write_text('{"packages": {}}')
    (noarch / "tool-1.0-0.conda").write_bytes(b"not really a package")
    try:
        server = Nginx(root)
    except NginxMissing as exc:
        pytest.skip("%s (.ci/run installs Debian's nginx-light)" % exc)
    with server:
        yield "http://127.0.0.1:%d" % server.port, root / "access.log"


def _request(url, agent, method="GET"):
    request = urllib.request.Request(url, method=method, headers={"User-Agent": agent})
    try:
        urllib.request.urlopen(request, timeout=5).read()
    except urllib.error.HTTPError:
        pass  # a 404 is logged like any request


def test_a_log_written_by_nginx(nginx, tmp_path):
    url, log = nginx
    client, env_a, env_b = tokens.random_token(), tokens.random_token(), tokens.random_token()
    base = "conda/26.7.1 requests/2.32.5 CPython/3.12.1 Linux/6.1.0 debian/12 glibc/2.36 aau/0.8.0"
    sent = []
    for env in (env_a, env_b):
        session = tokens.random_token()
        agent = "%s c/%s s/%s e/%s o/acme" % (base, client, session, env)
        _request(url + "/conda-forge/noarch/repodata.json", agent)
        _request(url + "/conda-forge/noarch/tool-1.0-0.conda", agent)
        sent.append(agent)
    _request(url + "/conda-forge/noarch/activate-0.0.0-0.conda", sent[0], method="HEAD")
    _request(url + "/other", "curl/8.5.0")
    for _ in range(100):  # nginx writes each line just after answering
        if len(log.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    assert len(log.read_text().splitlines()) == 6
    (report,) = ingest([str(log)], tmp_path / "db.duckdb", raw=True)
    assert (report.format, report.lines, report.parsed, report.rejected_total) == ("combined", 6, 6, 0)
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    kinds = dict(con.execute("SELECT kind, count(*) FROM requests GROUP BY kind").fetchall())
    assert kinds == {"repodata": 2, "package": 2, "heartbeat": 1, "other": 1}
    assert con.execute("SELECT count(DISTINCT c), count(DISTINCT e), count(DISTINCT s) FROM requests"
                       " WHERE c IS NOT NULL").fetchall() == [(1, 2, 2)]
    assert con.execute("SELECT DISTINCT c FROM requests WHERE c IS NOT NULL").fetchall() == [(client,)]
    assert con.execute("SELECT DISTINCT ip FROM requests").fetchall() == [("127.0.0.1",)]
    assert con.execute("SELECT name, version, build FROM requests WHERE kind = 'package' LIMIT 1").fetchall() \
        == [("tool", "1.0", "0")]


def _big_log(path, lines):
    agent = "conda/24.1.2 CPython/3.11.7 Linux/6.1 aau/0.8.0 c/%s s/%s e/%s" % (
        tokens.random_token(), tokens.random_token(), tokens.random_token())
    line = '10.0.%d.%d - - [10/Oct/2026:13:55:36 +0000] "GET /conda-forge/noarch/repodata.json HTTP/1.1" 200 1 "-" "%s"\n'
    with open(path, "w") as handle:
        for n in range(lines):
            handle.write(line % (n // 256 % 256, n % 256, agent))
        handle.write("a line that is no log line\n")


def _counts(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return (con.execute("SELECT count(*), count(DISTINCT ip) FROM requests").fetchall()[0],
                con.execute("SELECT reason, lines FROM rejections ORDER BY reason").fetchall())
    finally:
        con.close()


# The CLI, with the input parsed in parts of 4 MiB (as an input over PART_BYTES is): about fifteen here.
_IN_PARTS = "import sys; from aau_stats import cli, ingest; ingest.PART_BYTES = 4 << 20; sys.exit(cli.main(sys.argv[1:]))"


@pytest.mark.parametrize("parts", [False, True], ids=["whole", "in parts"])
def test_an_ingest_killed_with_sigkill_leaves_a_consistent_store_and_resumes(tmp_path, parts):
    log = tmp_path / "access.log"
    _big_log(log, 400_000)
    db = tmp_path / "killed.duckdb"
    command = [sys.executable, *(["-c", _IN_PARTS] if parts else ["-m", "aau_stats.cli"]), "--db", str(db),
               "ingest", str(log)]
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if db.exists():
            stored, _ = _counts(db)
            assert stored[0] in (0, 400_000)  # all of the file or none of it
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    clean = tmp_path / "clean.duckdb"
    ingest([str(log)], clean)
    assert _counts(db) == _counts(clean) == ((400_000, 65_536), [("bad format", 1)])
    assert Path(str(db) + ".key").exists()
