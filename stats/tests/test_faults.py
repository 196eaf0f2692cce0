"""Fault injection for the analytics: a full disk, a read-only mount, a wrong file where the store
should be, devices and folders where an output should go, Ctrl-C. Each ends in one line that names
what is wrong, exit status 1, and nothing lost or half-written.

The disks are small tmpfs mounts, made (as root) for the test and removed after it.
"""

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time

import duckdb
import pytest
from aau_stats.ingest import ingest

from store_helpers import rows

UA = "conda/24.11.3 aau/0.9.0 c/%s s/%s e/%s"


def log_lines(count, start=0):
    lines = []
    for n in range(start, start + count):
        token = ("%022d" % n).replace("0", "A")
        lines.append('10.%d.%d.%d - - [01/Oct/2026:10:%02d:%02d +0000] "GET /cf/linux-64/numpy-2.1.3-py312h0_0.conda'
                     ' HTTP/1.1" 200 9 "-" "%s"\n' % (n // 65536 % 256, n // 256 % 256, n % 256, n // 60 % 60, n % 60,
                                                      UA % (token, token, token)))
    return "".join(lines)


def aau_stats(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "aau_stats.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, **kwargs)


def one_line_error(done, *names, status=1):
    """One line on stderr naming ``names``; status 1 for the data or the environment, 2 for usage."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("aau-stats: ")
    for name in names:
        assert str(name) in done.stderr, done.stderr


@contextlib.contextmanager
def small_disk(path, kib):
    """A tmpfs of ``kib`` KiB at ``path`` (made)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % kib, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only_disk(path, files=None):
    """A tmpfs at ``path`` holding ``files`` ({name: bytes}), then remounted read-only."""
    with small_disk(path, 4096) as disk:
        for name, data in (files or {}).items():
            (disk / name).write_bytes(data)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        yield disk


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    (folder / "a.log").write_text(log_lines(30))
    db = folder / "store.duckdb"
    ingest([str(folder / "a.log")], db)
    return db


# --- outputs ----------------------------------------------------------------------------------


def test_report_to_a_device_leaves_the_device(store, tmp_path):
    """``--out /dev/null`` as root: the rename of a temporary file replaced /dev/null with a regular file.
    Tried on a null device of the test's own (the same device numbers), so that a regression breaks
    only the test, not the machine."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    done = aau_stats("--db", store, "report", "--out", null)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(null.stat().st_mode) and null.stat().st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_report_to_a_folder_is_one_line(store, tmp_path):
    one_line_error(aau_stats("--db", store, "report", "--out", tmp_path), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_report_on_a_full_disk_keeps_the_previous_one_and_no_temporary_file(store, tmp_path):
    with small_disk(tmp_path / "disk", 64) as disk:
        previous = disk / "report.html"
        previous.write_text("the previous report\n")
        (disk / "filler").write_bytes(b"x" * (60 * 1024))
        done = aau_stats("--db", store, "report", "--out", previous)
        one_line_error(done, previous)
        assert "No space left on device" in done.stderr
        assert previous.read_text() == "the previous report\n"
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "report.html"]


def test_report_into_a_read_only_folder_is_one_line(store, tmp_path):
    with read_only_disk(tmp_path / "ro") as disk:
        one_line_error(aau_stats("--db", store, "report", "--out", disk / "report.html"), disk)


def test_csv_to_a_full_stdout_is_one_line(store):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(store), "clients-per-ip", "--csv"],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "No space left" in done.stderr, done.stderr


def test_a_reader_that_goes_away_ends_a_question_quietly(store):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(store), "clients-per-ip"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def test_export_never_deletes_what_it_did_not_write(store, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / "keep").mkdir()
    one_line_error(aau_stats("--db", store, "export", "--parquet", out), out, "notes.txt")
    assert sorted(p.name for p in out.iterdir()) == ["keep", "notes.txt"]
    fresh = tmp_path / "fresh"
    assert aau_stats("--db", store, "export", "--parquet", fresh).returncode == 0
    again = aau_stats("--db", store, "export", "--parquet", fresh)  # an earlier export is replaced
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in fresh.iterdir()) == ["day=2026-10-01"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "out"]


# --- the store ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"not a database\n", os.urandom(5000)], ids=["empty", "text", "random"])
def test_a_store_that_is_not_duckdb_is_one_line(tmp_path, content):
    db = tmp_path / "store.duckdb"
    db.write_bytes(content)
    (tmp_path / "a.log").write_text(log_lines(2))
    for command in (["ingest", tmp_path / "a.log"], ["clients-per-ip"], ["export", "--parquet", tmp_path / "x"],
                    ["rotate-key"], ["report", "--out", tmp_path / "r.html"]):
        one_line_error(aau_stats("--db", db, *command), db)
    assert db.read_bytes() == content


def test_a_foreign_duckdb_database_is_refused_before_anything_is_written(tmp_path):
    db = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.close()
    (tmp_path / "a.log").write_text(log_lines(2))
    for command in (["ingest", tmp_path / "a.log"], ["clients-per-ip"], ["rotate-key"]):
        one_line_error(aau_stats("--db", db, *command), db, "invoices")
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == [("invoices",)]
    con.close()
    assert not (tmp_path / "theirs.duckdb.key").exists()


def test_a_folder_as_the_store_is_one_line(tmp_path):
    (tmp_path / "a.log").write_text(log_lines(2))
    for command in (["ingest", tmp_path / "a.log"], ["clients-per-ip"]):
        one_line_error(aau_stats("--db", tmp_path, *command), tmp_path)


def test_a_store_on_a_read_only_disk_is_one_line(store, tmp_path):
    with read_only_disk(tmp_path / "ro", {"store.duckdb": store.read_bytes(),
                                         "store.duckdb.key": (store.parent / "store.duckdb.key").read_bytes()}) as disk:
        (tmp_path / "b.log").write_text(log_lines(2, start=100))
        one_line_error(aau_stats("--db", disk / "store.duckdb", "ingest", tmp_path / "b.log"), disk / "store.duckdb")
        # Reading needs no writing: the questions are answered.
        done = aau_stats("--db", disk / "store.duckdb", "clients-per-ip", "--json")
        assert done.returncode == 0, done.stderr


def test_a_full_disk_under_the_store_is_one_line_and_the_store_stays_whole(tmp_path):
    with small_disk(tmp_path / "disk", 2048) as disk:
        db = disk / "store.duckdb"
        (tmp_path / "a.log").write_text(log_lines(20))
        assert aau_stats("--db", db, "ingest", tmp_path / "a.log").returncode == 0
        (tmp_path / "big.log").write_text(log_lines(40000, start=1000))
        (disk / "filler").write_bytes(b"x" * (disk_free(disk) - 16 * 1024))
        one_line_error(aau_stats("--db", db, "ingest", tmp_path / "big.log"))
        (disk / "filler").unlink()
        assert rows(db, "SELECT count(*) FROM requests") == [(20,)]


def disk_free(path):
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def test_ctrl_c_during_an_ingest_is_one_line_and_keeps_the_store_whole(tmp_path):
    (tmp_path / "big.log").write_text(log_lines(1000000))
    db = tmp_path / "store.duckdb"
    process = subprocess.Popen([sys.executable, "-m", "aau_stats.cli", "--db", str(db), "ingest",
                                str(tmp_path / "big.log")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # started, far from done: a million lines take several seconds
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err, err
    again = aau_stats("--db", db, "ingest", tmp_path / "big.log")
    assert again.returncode == 0, again.stderr
    assert rows(db, "SELECT count(*) FROM requests") == [(1000000,)]


def test_ctrl_c_that_a_library_took_still_ends_the_command_as_interrupted(tmp_path, monkeypatch, capsys):
    """DuckDB takes a KeyboardInterrupt raised inside it to stop its statement; one that was ending by
    then ends well, and the interrupt must not be lost with it."""
    from aau_stats import cli

    def taken_inside_a_statement(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises here
        except KeyboardInterrupt:
            pass  # as a statement that finished anyway
        return 0

    monkeypatch.setattr(cli, "_run", taken_inside_a_statement)
    before = signal.getsignal(signal.SIGINT)
    assert cli.main(["--db", str(tmp_path / "store.duckdb"), "ingest", str(tmp_path / "a.log")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


# --- operators run things at the same time ------------------------------------------------------


def test_questions_and_ingests_wait_for_an_ingest_that_is_writing(tmp_path):
    """DuckDB lets one process write a store and none open it meanwhile: a question, an export, a
    rotation and a second ingest wait for the first ingest, then run on what it committed."""
    (tmp_path / "first.log").write_text(log_lines(600000))
    (tmp_path / "second.log").write_text(log_lines(50, start=700000))
    db = tmp_path / "store.duckdb"
    assert aau_stats("--db", db, "ingest", tmp_path / "second.log").returncode == 0  # the store exists
    first = subprocess.Popen([sys.executable, "-m", "aau_stats.cli", "--db", str(db), "ingest",
                              str(tmp_path / "first.log")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # it holds the store now, for several seconds
    others = [subprocess.Popen([sys.executable, "-m", "aau_stats.cli", "--db", str(db), *map(str, command)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for command in (["clients-per-ip", "--json"], ["ingest", tmp_path / "second.log"],
                              ["export", "--parquet", tmp_path / "export"])]
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    for process in others:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "Traceback" not in err and err.count("\n") <= 1  # at most: "waiting for it"
    assert rows(db, "SELECT count(*) FROM requests") == [(600050,)]  # the second ingest added nothing new


def test_a_wait_for_the_store_is_bounded(tmp_path):
    db = tmp_path / "store.duckdb"
    (tmp_path / "a.log").write_text(log_lines(2))
    assert aau_stats("--db", db, "ingest", tmp_path / "a.log").returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, time; c = duckdb.connect(%r); print('held',"
                               " flush=True); time.sleep(60)" % str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        done = aau_stats("--db", db, "clients-per-ip", env=dict(os.environ, AAU_STATS_LOCK_WAIT="1"))
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("aau-stats: %s: another aau-stats has been writing" % db)


# --- inputs that exhaust memory or time ---------------------------------------------------------


@pytest.mark.parametrize("option", ["--ips", "--advisories"])
def test_a_device_or_a_fifo_as_an_input_file_is_one_line(store, tmp_path, option):
    question = "seats" if option == "--ips" else "exposure"
    one_line_error(aau_stats("--db", store, question, option, "/dev/zero"), "/dev/zero")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    one_line_error(aau_stats("--db", store, question, option, fifo), fifo)  # no writer: read as empty


def test_a_yaml_bomb_of_aliases_is_refused_at_once(store, tmp_path):
    bomb = tmp_path / "advisories.yaml"
    levels = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += ["a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]" % ((n, n) + (n - 1,) * 9)
               for n in range(1, 9)]
    bomb.write_text("\n".join(levels) + "\n")
    # It used to expand into billions of nodes (minutes and 10 GiB); aau_stats() gives up after 300 s.
    one_line_error(aau_stats("--db", store, "exposure", "--advisories", bomb), bomb, "aliases")


# --- inputs that are not regular files ------------------------------------------------------------


def test_a_pipe_is_read_whole(tmp_path):
    """``ingest <(zcat log)`` and ``cat log | ingest /dev/stdin``: a pipe can be read once; it reported 0 lines."""
    log = tmp_path / "a.log"
    log.write_text(log_lines(25))
    db = tmp_path / "store.duckdb"
    done = subprocess.run(["bash", "-c", 'exec "$0" -m aau_stats.cli --db "$1" ingest <(cat "$2")', sys.executable,
                           str(db), str(log)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "lines 25 = parsed 25" in done.stdout, done.stdout + done.stderr
    piped = subprocess.run(["bash", "-c", 'cat "$2" | "$0" -m aau_stats.cli --db "$1" ingest /dev/stdin',
                            sys.executable, str(tmp_path / "other.duckdb"), str(log)],
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "lines 25 = parsed 25" in piped.stdout, piped.stdout + piped.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_a_log_is_one_line_at_once(tmp_path, device):
    one_line_error(aau_stats("--db", tmp_path / "store.duckdb", "ingest", device), device)


def test_a_fifo_without_a_writer_reads_as_empty(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = aau_stats("--db", tmp_path / "store.duckdb", "ingest", fifo)  # it used to wait for good
    assert done.returncode == 0 and "lines 0" in done.stdout, done.stderr


def test_a_folder_that_holds_the_store_is_ingested_without_the_store(tmp_path):
    """The store, its WAL and its key file were read as logs, and the key landed in the rejections."""
    (tmp_path / "a.log").write_text(log_lines(10))
    db = tmp_path / "store.duckdb"
    assert aau_stats("--db", db, "ingest", tmp_path / "a.log").returncode == 0
    key = (tmp_path / "store.duckdb.key").read_text().split()[0]
    done = aau_stats("--db", db, "ingest", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "store.duckdb [-]: lines 0" in done.stdout and "the store's own file" in done.stdout
    assert "store.duckdb.key [-]: lines 0" in done.stdout
    assert rows(db, "SELECT count(*) FROM rejections") == [(0,)]
    assert key.encode() not in db.read_bytes()


def test_a_store_that_already_holds_years_outside_1970_to_9999_is_still_answered(tmp_path):
    """An older version stored such times; installs and report then crashed on them, for good."""
    (tmp_path / "a.log").write_text(log_lines(30))
    db = tmp_path / "store.duckdb"
    ingest([str(tmp_path / "a.log")], db)
    clean = aau_stats("--db", db, "installs", "--json")
    assert clean.returncode == 0, clean.stderr
    con = duckdb.connect(str(db))
    for when in ("0000-06-01 10:00:00", "10000-01-01 00:00:00"):
        con.execute("INSERT INTO request_rows SELECT ?::TIMESTAMP, (?::TIMESTAMP)::DATE, status, bytes, address_id,"
                    " line_id, agent_id, source_id FROM request_rows LIMIT 1", [when, when])
    con.execute("UPDATE sources SET lines_done = lines_done + 2")  # as the older version counted them
    con.close()
    for question in ("installs", "lifecycles", "popularity", "activity", "environments", "clients-per-ip"):
        done = aau_stats("--db", db, question)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (question, done.stderr)
        assert "2 requests stored by an older version with a time outside 1970-9999 are left out" in done.stdout
    after = aau_stats("--db", db, "installs", "--json")
    assert json.loads(after.stdout)["tables"] == json.loads(clean.stdout)["tables"]
    report = aau_stats("--db", db, "report", "--out", tmp_path / "report.html")
    assert report.returncode == 0, report.stderr
    assert "left out" in (tmp_path / "report.html").read_text()
    # The next ingest makes them what this version calls them: rejections, and the accounting holds.
    (tmp_path / "b.log").write_text(log_lines(5, start=100))
    ingest([str(tmp_path / "b.log")], db)
    assert rows(db, "SELECT reason, lines FROM rejections") == [("bad time", 2)]
    assert rows(db, "SELECT count(*), min(year(ts)) FROM request_rows") == [(35, 2026)]
    assert rows(db, "SELECT sum(lines_done) FROM sources") == [(37,)]  # 35 stored + 2 rejected
    assert "left out" not in aau_stats("--db", db, "installs").stdout


@pytest.mark.parametrize("args", [("installs", "--month", "9999-12"), ("installs", "--warm-up-days", "36500"),
                                  ("popularity", "--since", "0001-01-01", "--until", "9999-12-31")])
def test_dates_at_the_edges_of_the_calendar_are_answered(store, args):
    done = aau_stats("--db", store, *args)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("args, names", [
    (("popularity", "--month", "0000-01"), ("--month", "0000-01")),
    (("installs", "--warm-up-days", "99999999"), ("--warm-up-days", "99999999")),
    (("installs", "--warm-up-days", "-5"), ("--warm-up-days", "-5")),
])
def test_dates_past_the_calendar_are_one_line(store, args, names):
    """Each was a traceback (a year out of range, a date overflow), or a negative warm-up taken as given.

    Each is a value the user typed, so a usage error (2)."""
    one_line_error(aau_stats("--db", store, *args), *names, status=2)
