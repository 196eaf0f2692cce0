"""Ingestion as an operator sees it: every line accounted for, nothing twice, nothing raw."""

import gzip
import json
import subprocess
import sys

import duckdb
import pytest
import zstandard
from aau_stats.ingest import ingest
from anaconda_anon_usage import grammar, tokens
from hypothesis import given, settings
from hypothesis import strategies as st

from store_helpers import rows

C, S, E = "AbCdEfGhIjKlMnOpQrStU_", "s" * 22, "e-" * 11
UA = ("conda/24.1.2 requests/2.31.0 CPython/3.11.7 Linux/6.1.0 debian/12 glibc/2.36 "
      "aau/0.8.0 c/%s s/%s e/%s o/acme m/box-1" % (C, S, E))


def combined(ip="10.1.2.3", when="10/Oct/2026:13:55:36 +0000", request="GET /conda-forge/noarch/repodata.json HTTP/1.1",
             status="200", size="2326", agent=UA):
    return '%s - - [%s] "%s" %s %s "-" "%s"\n' % (ip, when, request, status, size, agent)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "store.duckdb"


def write(path, text, opener=open):
    with opener(path, "wb") as handle:
        handle.write(text.encode() if isinstance(text, str) else text)
    return path


def test_combined_line_becomes_a_request_with_the_model_filled_in(tmp_path, db):
    log = write(tmp_path / "access.log",
                combined(request="GET /conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda HTTP/1.1"))
    (report,) = ingest([str(log)], db, raw=True)
    assert (report.lines, report.parsed, report.rejected_total) == (1, 1, 0)
    (row,) = rows(db, "SELECT ts, ip, method, status, bytes, channel, subdir, filename, name, version, build,"
                      " ext, kind, client_family, client_version, python_version, os_name, aau_version,"
                      " c, s, e, o, m FROM requests")
    assert str(row[0]) == "2026-10-10 13:55:36"
    assert row[1:13] == ("10.1.2.3", "GET", 200, 2326, "conda-forge", "linux-64",
                         "numpy-1.26.4-py311h64a7726_0.conda", "numpy", "1.26.4", "py311h64a7726_0",
                         ".conda", "package")
    assert row[13:18] == ("conda", "24.1.2", "3.11.7", "Linux", "0.8.0")
    assert row[18:] == (C, S, E, ["acme"], ["box-1"])


@pytest.mark.parametrize("path,kind,name,version,build", [
    ("/conda-forge/noarch/repodata.json", "repodata", None, None, None),
    ("/conda-forge/linux-64/repodata.json.zst", "repodata", None, None, None),
    ("/pkgs/main/osx-arm64/current_repodata.json", "repodata", None, None, None),
    ("/conda-forge/linux-64/repodata_shards.msgpack.zst", "repodata", None, None, None),
    ("/conda-forge/linux-64/shards/" + "ab" * 32 + ".msgpack.zst", "repodata", None, None, None),
    ("/t/tk-123/org/chan/noarch/my-pkg-name-2.0.1-pyhd8ed1ab_0.tar.bz2", "package", "my-pkg-name", "2.0.1",
     "pyhd8ed1ab_0"),
    ("/conda-forge/win-64/vc-14.3-h2b53caa_26.conda?x=1", "package", "vc", "14.3", "h2b53caa_26"),
    ("/favicon.ico", "other", None, None, None),
])
def test_paths_are_split_into_channel_subdir_and_package(tmp_path, db, path, kind, name, version, build):
    write(tmp_path / "a.log", combined(request="GET %s HTTP/1.1" % path))
    ingest([str(tmp_path / "a.log")], db, raw=True)
    assert rows(db, "SELECT kind, name, version, build FROM requests") == [(kind, name, version, build)]


def test_activation_heartbeat_is_its_own_kind(tmp_path, db):
    write(tmp_path / "a.log", combined(request="HEAD /org/noarch/activate-0.0.0-0.conda HTTP/1.1", status="404",
                                       size="0"))
    ingest([str(tmp_path / "a.log")], db, raw=True)
    assert rows(db, "SELECT channel, kind FROM requests") == [("org", "heartbeat")]


@pytest.mark.parametrize("agent,family,version", [
    ("mamba/1.5.8 conda/23.3.1 requests/2.31.0 CPython/3.11.7 Linux/6.1", "mamba", "1.5.8"),
    ("micromamba/2.0.5", "micromamba", "2.0.5"),
    ("pixi/0.40.1", "pixi", "0.40.1"),
    ("rattler/0.28.0", "rattler", "0.28.0"),
    ('pip/24.0 {\\x22ci\\x22:null}', "pip", "24.0"),  # nginx escapes quotes as \x22
    ('pip/24.1 {\\"ci\\":null}', "pip", "24.1"),  # Apache escapes them as \"
    ("uv/0.5.1", "uv", "0.5.1"),
    ("curl/8.5.0", "other", "8.5.0"),
])
def test_client_families(tmp_path, db, agent, family, version):
    write(tmp_path / "a.log", combined(agent=agent))
    ingest([str(tmp_path / "a.log")], db, raw=True)
    assert rows(db, "SELECT client_family, client_version, c FROM requests") == [(family, version, None)]


def test_common_and_vhost_formats_are_detected(tmp_path, db):
    common = write(tmp_path / "common.log", '10.0.0.1 - - [10/Oct/2026:13:55:36 +0000] "GET /x HTTP/1.1" 200 5\n')
    vhost = write(tmp_path / "vhost.log", "repo.example.org:443 " + combined())
    reports = ingest([str(common), str(vhost)], db, raw=True)
    assert [(r.format, r.parsed) for r in reports] == [("common", 1), ("vhost_combined", 1)]
    assert sorted(rows(db, "SELECT coalesce(c, '') FROM requests")) == [("",), (C,)]


def test_every_line_is_a_request_a_rejection_or_blank(tmp_path, db):
    text = (combined() + "\n" + "not a log line at all\n" + combined(when="31/Foo/2026:99:99:99 +0000")
            + combined(status="OK") + "   \n" + combined())
    write(tmp_path / "mixed.log", text)
    (report,) = ingest([str(tmp_path / "mixed.log")], db)
    assert report.lines == 7
    assert report.parsed == 2 and report.blank == 1
    assert report.rejected == {"bad format": 3, "bad time": 1}
    assert report.parsed + report.rejected_total + report.blank == report.lines
    stored = dict((r[0], r[1]) for r in rows(db, "SELECT reason, lines FROM rejections"))
    assert stored == report.rejected


def test_reingesting_adds_nothing_and_growth_adds_only_the_new_lines(tmp_path, db):
    log = tmp_path / "access.log"
    write(log, combined() * 3)
    assert ingest([str(log)], db)[0].parsed == 3
    assert ingest([str(log)], db)[0].parsed == 0
    with open(log, "a") as handle:
        handle.write(combined(ip="10.9.9.9") * 2)
    again = ingest([str(log)], db)[0]
    assert (again.already, again.lines, again.parsed) == (3, 2, 2)
    assert rows(db, "SELECT count(*) FROM requests") == [(5,)]


def test_a_rotated_copy_is_recognised(tmp_path, db):
    log = write(tmp_path / "access.log", combined() * 4)
    ingest([str(log)], db)
    rotated = tmp_path / "access.log.1.gz"
    write(rotated, log.read_bytes(), gzip.open)
    assert ingest([str(rotated)], db)[0].parsed == 0
    assert rows(db, "SELECT count(*) FROM requests") == [(4,)]


def test_gzip_and_zstd_inputs(tmp_path, db):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "a.log.gz", combined(ip="10.0.0.1") * 2, gzip.open)
    (logs / "b.log.zst").write_bytes(zstandard.ZstdCompressor().compress((combined(ip="10.0.0.2") * 3).encode()))
    reports = ingest([str(logs)], db)
    assert sorted((r.path.rsplit("/", 1)[1], r.parsed) for r in reports) == [("a.log.gz", 2), ("b.log.zst", 3)]


def test_truncated_gzip_keeps_what_is_readable_and_says_so(tmp_path, db):
    data = gzip.compress((combined() * 2000).encode())
    (tmp_path / "cut.log.gz").write_bytes(data[: len(data) // 2])
    (report,) = ingest([str(tmp_path / "cut.log.gz")], db)
    assert "truncated" in report.note
    assert 0 < report.parsed < 2000
    assert report.parsed + report.rejected_total + report.blank == report.lines


_WITHOUT_ZLIB_NG = """
import json, sys
sys.modules["zlib_ng"] = None  # as on a platform without its wheel
from aau_stats import ingest
(report,) = ingest.ingest([sys.argv[1]], sys.argv[2])
print(json.dumps([ingest.zlib.__name__, report.lines, report.parsed, report.rejected, report.note]))
"""


def test_gzip_is_read_alike_with_and_without_zlib_ng(tmp_path):
    whole = gzip.compress((combined() * 3000).encode()) + gzip.compress(combined(ip="10.9.9.9").encode())
    (tmp_path / "two-members.log.gz").write_bytes(whole)
    (tmp_path / "cut.log.gz").write_bytes(whole[: len(whole) // 2])
    for name in ("two-members.log.gz", "cut.log.gz"):
        seen = []
        for run in ("with", "without"):
            code = _WITHOUT_ZLIB_NG if run == "without" else _WITHOUT_ZLIB_NG.replace('sys.modules["zlib_ng"] = None', "")
            out = subprocess.run([sys.executable, "-c", code, str(tmp_path / name), str(tmp_path / (run + name + ".db"))],
                                 capture_output=True, text=True, check=True).stdout
            seen.append(json.loads(out))
        assert [s[0] for s in seen] == ["zlib_ng.zlib_ng", "zlib"]
        assert seen[0][1:] == seen[1][1:]
    assert seen[0][2] < 3001 and "truncated" in seen[0][4]


def test_bad_bytes_long_lines_and_empty_files_do_not_stop_ingestion(tmp_path, db):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "binary.log", combined().encode() + b"\xff\xfe bad \x00 bytes\n" + combined().encode())
    write(logs / "long.log", combined(agent="x" * 1_000_000) + combined())
    write(logs / "empty.log", "")
    reports = {r.path.rsplit("/", 1)[1]: r for r in ingest([str(logs)], db)}
    assert reports["binary.log"].parsed == 2 and reports["binary.log"].rejected_total == 1
    assert reports["long.log"].parsed == 2
    assert reports["empty.log"].lines == 0
    for report in reports.values():
        assert report.parsed + report.rejected_total + report.blank == report.lines


def test_tokens_and_addresses_are_pseudonyms_by_default(tmp_path, db):
    write(tmp_path / "a.log", combined(ip="10.1.2.3") + combined(ip="10.1.2.77") + combined(ip="2001:db8:aa::1"))
    ingest([str(tmp_path / "a.log")], db)
    stored = rows(db, "SELECT ip, network, c, s, e, o FROM requests")
    dump = repr(stored)
    for secret in (C, S, E, "acme", "10.1.2", "2001:db8"):
        assert secret not in dump
    # The view has no order: the two IPv4 addresses share one /24, the IPv6 one has a /48 of its own.
    addresses = {network: sorted(ip for ip, net, *_ in stored if net == network) for _, network, *_ in stored}
    assert sorted(len(ips) for ips in addresses.values()) == [1, 2]
    assert all(len(set(ips)) == len(ips) for ips in addresses.values()) and len({row[2] for row in stored}) == 1
    assert all(len(v) == 32 for v in (stored[0][0], stored[0][1], stored[0][2]))
    key = (tmp_path / "store.duckdb.key")
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_account_tokens_are_dropped_unless_asked_for(tmp_path, db):
    account = tokens.random_token()
    write(tmp_path / "a.log", combined(agent=UA + " a/" + account))
    ingest([str(tmp_path / "a.log")], db, raw=True)
    assert rows(db, "SELECT a FROM requests") == [(None,)]
    write(tmp_path / "b.log", combined(agent=UA + " a/" + account, ip="10.0.0.9"))
    ingest([str(tmp_path / "b.log")], db, raw=True, keep_account_tokens=True)
    assert (account,) in rows(db, "SELECT a FROM requests")


words = st.one_of(
    st.sampled_from(["aau/0.8.0", "aau/", "c/" + C, "s/" + S, "e/" + E, "o/acme", "o/", "m/x.y",
                     "c/short", "i/" + "z" * 37, "conda/24.1", "CPython/3.12.1", "e/" + C]),
    st.text(alphabet=grammar.ALPHABET + "/.", min_size=1, max_size=25),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(words, max_size=12))
def test_sql_reads_tokens_exactly_as_the_client_grammar_does(tmp_path_factory, agent_words):
    agent = " ".join(agent_words)
    tmp = tmp_path_factory.mktemp("g")
    write(tmp / "a.log", combined(agent=agent))
    ingest([str(tmp / "a.log")], tmp / "db.duckdb", raw=True)
    (row,) = rows(tmp / "db.duckdb", "SELECT aau_version, c, s, e, i, o, m FROM requests")
    parsed = grammar.parse_user_agent(agent)
    if parsed is None:
        assert row[:4] == (None, None, None, None)
        return
    assert row[0] == parsed.version
    assert row[1:4] == (parsed.client, parsed.session, parsed.environment)
    for stored, expected in zip(row[4:], (parsed.installer, parsed.organization, parsed.machine)):
        assert sorted(stored) == sorted(expected)


def test_cli_reports_the_accounting_and_names_missing_inputs(tmp_path, db):
    write(tmp_path / "a.log", combined() + "junk\n")
    done = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(db), "ingest", str(tmp_path / "a.log")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "lines 2 = parsed 1 + rejected 1 + blank 0" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(db), "ingest",
                              str(tmp_path / "nope.log")], capture_output=True, text=True)
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "nope.log" in missing.stderr


def test_stdin(tmp_path, db):
    done = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(db), "ingest", "-"],
                          input=combined() * 2, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert rows(db, "SELECT count(*) FROM requests") == [(2,)]


def test_key_rotation_keeps_one_pseudonym_per_value_and_re_keys_the_store(tmp_path, db):
    from aau_stats.store import rotate_key

    write(tmp_path / "a.log", combined())
    ingest([str(tmp_path / "a.log")], db)
    before = rows(db, "SELECT ip, network, c, s, e, o, m FROM requests")
    key_file = tmp_path / "store.duckdb.key"
    old_key = key_file.read_text()
    assert rotate_key(db) == 1
    after = rows(db, "SELECT ip, network, c, s, e, o, m FROM requests")
    assert all(x != y for x, y in zip(before[0], after[0]))  # what was exported before no longer matches
    assert key_file.read_text().startswith(old_key) and len(key_file.read_text().split()) == 2
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    # The next conda process of the same client, in the same environment: a user agent seen for the first time.
    write(tmp_path / "b.log", combined(when="11/Oct/2026:08:00:00 +0000", agent=UA.replace(S, "t" * 22)))
    ingest([str(tmp_path / "b.log")], db)
    assert rows(db, "SELECT count(DISTINCT c), count(DISTINCT ip), count(*) FROM requests") == [(1, 1, 2)]
    # The client and environment keep their numbers, which the questions count by.
    assert rows(db, "SELECT count(DISTINCT c_id), count(DISTINCT e_id) FROM keyed_requests") == [(1, 1)]


def test_interrupted_rotation_is_finished_or_undone_on_next_use(tmp_path, db):
    from aau_stats.store import chain_fingerprint, load_keys, open_store

    write(tmp_path / "a.log", combined())
    ingest([str(tmp_path / "a.log")], db)
    keys = load_keys(db)
    pending = tmp_path / "store.duckdb.key.new"
    pending.write_text("\n".join([*keys, "ab" * 32]) + "\n")  # written, but the store never committed it
    con = open_store(db)
    assert load_keys(db, con) == keys and not pending.exists()
    chain = [*keys, "cd" * 32]
    pending.write_text("\n".join(chain) + "\n")  # committed, but stopped before the rename
    con.execute("INSERT INTO key_chain VALUES (2, ?, now())", [chain_fingerprint(chain)])
    assert load_keys(db, con) == chain and not pending.exists()
    con.close()


def test_parquet_export_has_one_directory_per_day_and_the_store_schema(tmp_path, db):
    write(tmp_path / "a.log", combined() + combined(when="11/Oct/2026:23:59:59 +0000")
          + combined(when="12/Oct/2026:00:00:00 +0000"))
    ingest([str(tmp_path / "a.log")], db)
    out = tmp_path / "parquet"
    result = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(db), "export", "--parquet", str(out)],
                            capture_output=True, text=True, check=True)
    assert result.stdout == "exported 3 requests in 3 days to %s\n" % out
    assert sorted(p.name for p in out.iterdir()) == ["day=2026-10-10", "day=2026-10-11", "day=2026-10-12"]
    con = duckdb.connect()
    exported = con.execute("SELECT * EXCLUDE (day), CAST(day AS DATE) FROM read_parquet('%s/*/*.parquet')"
                           " ORDER BY ts" % out).fetchall()
    assert exported == rows(db, "SELECT * EXCLUDE (day), day FROM requests ORDER BY ts")
    assert con.execute("SELECT count(*) FROM read_parquet('%s/day=2026-10-11/*.parquet')" % out).fetchall() == [(1,)]


def test_progress_bar_only_on_a_terminal_unless_asked(tmp_path, db):
    write(tmp_path / "a.log", combined() * 50)
    command = [sys.executable, "-m", "aau_stats.cli", "--db", str(db), "ingest", str(tmp_path / "a.log")]
    piped = subprocess.run(command, capture_output=True, text=True, check=True)
    assert piped.stderr == ""
    assert "lines 50 = parsed 50" in piped.stdout
    command[4] = str(tmp_path / "other.duckdb")
    shown = subprocess.run([*command, "--progress", "always"], capture_output=True, text=True, check=True)
    assert "reading " in shown.stderr and "a.log" in shown.stderr
    assert "lines 50 = parsed 50" in shown.stdout


def test_export_and_rotate_without_a_store_fail_clearly(tmp_path):
    for command in (["export", "--parquet", str(tmp_path / "out")], ["rotate-key"]):
        result = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(tmp_path / "none.duckdb"),
                                 *command], capture_output=True, text=True)
        assert result.returncode == 1
        assert result.stderr == "aau-stats: %s: no store there (run aau-stats ingest first)\n" % (
            tmp_path / "none.duckdb")


def test_anaconda_org_channel_tokens_in_paths_are_never_stored(tmp_path, db):
    line = combined(request="GET /t/tk-5ecret-99/acme/noarch/tool-1.0-py_0.conda HTTP/1.1")
    write(tmp_path / "a.log", line + line.replace("[", "[bad time "))
    (report,) = ingest([str(tmp_path / "a.log")], db, raw=True)
    assert report.rejected == {"bad time": 1}
    assert rows(db, "SELECT path, channel, name FROM requests") == [
        ("/t/*/acme/noarch/tool-1.0-py_0.conda", "acme", "tool")]
    con = duckdb.connect(str(db), read_only=True)
    try:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            assert "5ecret" not in repr(con.execute("SELECT * FROM %s" % table).fetchall())
        assert "/t/*/acme" in repr(con.execute("SELECT samples FROM rejections").fetchall())
    finally:
        con.close()


def _cli(db, *args):
    return subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(db), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _one_line_error(done, *names):
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for name in names:
        assert str(name) in done.stderr


@pytest.mark.parametrize("what", ["deleted", "replaced"])
def test_a_store_without_its_key_refuses_to_ingest(tmp_path, db, what):
    """A new key would give every client a second pseudonym: 248 distinct clients instead of 187."""
    write(tmp_path / "a.log", combined())
    write(tmp_path / "b.log", combined(when="11/Oct/2026:08:00:00 +0000"))
    ingest([str(tmp_path / "a.log")], db)
    key = tmp_path / "store.duckdb.key"
    if what == "deleted":
        key.unlink()
    else:
        key.write_text("ab" * 32 + "\n")
    done = _cli(db, "ingest", tmp_path / "b.log")
    _one_line_error(done, key)
    assert rows(db, "SELECT count(*) FROM requests") == [(1,)]
    assert (what == "deleted") != key.exists()  # no new key was made
    if what == "replaced":
        _one_line_error(_cli(db, "clients-per-ip"), key)  # questions refuse the wrong key too


@pytest.mark.parametrize("content", ["not a key\n", "", "\xff\xfe", None])
def test_a_corrupt_key_file_is_one_line(tmp_path, db, content):
    write(tmp_path / "a.log", combined())
    ingest([str(tmp_path / "a.log")], db)
    key = tmp_path / "store.duckdb.key"
    key.unlink()
    if content is None:
        key.mkdir()
    else:
        key.write_bytes(content.encode("latin-1"))
    for command in (["ingest", tmp_path / "a.log"], ["clients-per-ip"], ["rotate-key"]):
        _one_line_error(_cli(db, *command), key)


def test_questions_see_a_rotation_stopped_before_the_key_files_rename(tmp_path, db, monkeypatch):
    from aau_stats import store
    from aau_stats.output import to_json
    from aau_stats.questions import Filters, ask

    write(tmp_path / "a.log", combined() + combined(ip="10.9.9.9", agent=UA.replace(C, C[::-1])))
    ingest([str(tmp_path / "a.log")], db)

    def seats():
        return json.loads(to_json(ask("seats", db, Filters.build(org="acme"), min_clients=1)))

    before = seats()
    assert before["headline"][0] == {"label": "clients", "value": 2, "suppressed": False, "secondary": False}

    def killed(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.rotate_key(db)
    monkeypatch.undo()
    assert (tmp_path / "store.duckdb.key.new").exists()
    assert seats() == before


def test_no_raw_token_or_address_in_any_stored_byte(tmp_path, db):
    """Rejected lines keep masked samples: also lines that are not UTF-8, lines too long for the reader,
    and addresses that fail validation (the samples of all three used to be raw)."""
    secrets = {"c": C, "s": S, "e": E}
    lines = [combined(ip="10.1.2.3"),
             combined(ip="10.9.8.7", request="GET /cf/noarch/\xff\xfe.json HTTP/1.1"),
             combined(ip="10.9.8.6", agent=UA + " " + "x" * 5_000_000)]
    addresses = ["::ffff:198.51.100.7", "198.51.100.8:443", "[2001:db8:77::1]", "1::2::3", "203.0.113.300"]
    lines += [combined(ip=address) for address in addresses]
    data = "".join(lines).encode().replace("\xff\xfe".encode(), b"\xff\xfe")
    (tmp_path / "a.log").write_bytes(data)
    (report,) = ingest([str(tmp_path / "a.log")], db)
    assert report.rejected["bad encoding"] == 1 and report.rejected["line too long"] == 1
    stored = db.read_bytes() + (db.parent / (db.name + ".wal")).read_bytes() if (
        db.parent / (db.name + ".wal")).exists() else db.read_bytes()
    samples = repr(rows(db, "SELECT reason, samples FROM rejections"))
    for text in (samples.encode(), stored):
        for secret in (*secrets.values(), "10.9.8", "198.51.100", "2001:db8:77", "203.0.113", "1::2::3"):
            assert secret.encode() not in text, secret
    assert "c/*" in samples


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "pseudonyms"])
def test_an_address_counts_once_however_it_is_spelled(tmp_path, db, raw):
    spellings = ["2001:DB8:0:0::1", "2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "fe80::1%eth0",
                 "::ffff:192.0.2.1", "192.0.2.1"]
    write(tmp_path / "a.log", "".join(combined(ip=ip) for ip in [*spellings, "1::2::3", "2001:db8::1::", "1:2:3"]))
    (report,) = ingest([str(tmp_path / "a.log")], db, raw=raw)
    assert (report.parsed, report.rejected) == (6, {"bad address": 3})
    assert rows(db, "SELECT count(DISTINCT ip), count(*) FROM requests") == [(3, 6)]
    if raw:
        assert rows(db, "SELECT DISTINCT ip, network FROM requests ORDER BY ip") == [
            ("192.0.2.1", "192.0.2.0/24"), ("2001:db8::1", "2001:0db8:0000::/48"), ("fe80::1", "fe80:0000:0000::/48")]


def test_ips_match_an_address_however_it_is_spelled(tmp_path, db):
    from aau_stats.questions import Filters, ask

    write(tmp_path / "a.log", combined(ip="2001:DB8:0:0::1") + combined(ip="::ffff:192.0.2.1"))
    ingest([str(tmp_path / "a.log")], db)
    for listed in ("2001:db8::1", "2001:0DB8::0001", "192.0.2.1", "::ffff:192.0.2.1"):
        (tmp_path / "ips.txt").write_text(listed + "\n")
        result = ask("clients-per-ip", db, Filters.build(ips=tmp_path / "ips.txt"), min_clients=1)
        assert {h.label: h.value for h in result.headline}["addresses"] == 1, listed
