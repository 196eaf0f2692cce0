"""Ingestion on Spark gives the store DuckDB's ingester gives, line for line and answer for answer."""

import gzip
import json
import os
import shutil
import subprocess
import sys

import duckdb
import pytest
from aau_stats.export import export_parquet
from aau_stats.ingest import ingest
from aau_stats.questions import QUESTIONS, DuckDBEngine, ask
from aau_stats.store import read_keys
from question_logs import population_log
from test_formats import CF_FIELDS, UA, VALID, cloudflare, cloudfront_line, concatenated_cloudfront, s3_line
from test_spark_parity import _comparable

pytestmark = [pytest.mark.spark, pytest.mark.slow]

GOOD = VALID["combined"]
BAD_TOKEN_UA = UA.replace("c/AbCdEfGhIjKlMnOpQrStU_", "c/short")
ORG_UA = UA + " a/AAAAAAAAAAAAAAAAAAAAAA i/IIIIIIIIIIIIIIIIIIIIII o/OOOOOOOOOOOOOOOOOOOOOO m/MMMMMMMMMMMMMMMMMMMMMM"


def combined(ip="10.0.0.1", when="10/Oct/2026:13:55:36 +0000", request="GET /pkgs/main/noarch/x-1-0.conda HTTP/1.1",
             status="200", nbytes="5", agent=UA):
    return '%s - - [%s] "%s" %s %s "-" "%s"' % (ip, when, request, status, nbytes, agent)


# Every edge the DuckDB ingester's tests know, in one place for both engines.
EDGES = "\n".join([
    GOOD,
    '10.0.0.2 - - [10/Oct/2026:13:55:37 +0000] "GET /unbalanced HTTP/1.1 200 5 "-" "x"',
    combined(ip="10.0.0.3", agent="conda/24.11.3 \\x22quoted\\x22 aau/0.8.0 c/%s" % ("q" * 22)),
    combined(ip="10.0.0.4", agent='conda/24.11.3 \\"apache\\" aau/0.8.0'),
    combined(when="32/Oct/2026:99:00:00 +0000"),
    combined(ip="999.1.1.1"),
    combined(ip="not-an-address"),
    combined(ip="2001:db8:85a3::8a2e:370:7334"),
    combined(ip="fe80::1%eth0"),
    combined(nbytes="-"),
    combined(status="abc"),
    "",
    "   ",
    combined(request="GET /t/tk-secret-123/pkgs/main/linux-64/numpy-1.26.4-py311h1_0.conda HTTP/1.1"),
    combined(request="GET /conda-forge/linux-64/repodata.json.zst HTTP/1.1", status="304"),
    combined(request="HEAD /conda-forge/noarch/activate-0.0.0-0.conda HTTP/1.1", status="404"),
    combined(request="GET /conda-forge/osx-arm64/a-b-c-1.0-py_0.tar.bz2?x=1 HTTP/2.0"),
    combined(request="-"),
    combined(agent=BAD_TOKEN_UA),
    combined(agent=ORG_UA),
    combined(agent="mamba/1.5.8 conda/23.11.0 requests/2.31.0 CPython/3.11.6 Windows/10"),
    combined(agent="pixi/0.30.0"),
    combined(agent="-"),
    combined(agent=UA + " aau/0.9.0 c/%s" % ("z" * 22)),
    "\x01\x02 junk \\ \"",
    '{"not": "combined"}',
]) + "\n"


def corpus(root):
    root.mkdir()
    (root / "access.log").write_text(population_log())
    (root / "edges.log").write_text(EDGES)
    (root / "crlf.log").write_bytes((GOOD + "\r\n" + combined(ip="10.0.0.9") + "\r\n\r\n").encode())
    (root / "stray-cr.log").write_bytes((combined(agent="conda/24\r.1 " + UA) + "\n" + GOOD).encode())
    (root / "encoding.log").write_bytes(GOOD.encode() + b"\n" + combined(agent="caf\xe9").encode("latin-1") + b"\n")
    (root / "common.log").write_text(VALID["common"] + "\n" + VALID["common"].replace("200 5", "200 -") + "\n")
    (root / "vhost.log").write_text(VALID["vhost_combined"] + "\n")
    (root / "cloudfront.log").write_text(
        "#Version: 1.0\n#Fields: %s\n" % CF_FIELDS + cloudfront_line() + cloudfront_line(
            ip="2001:db8::7", agent=UA.replace(" ", "%2520"), query="x=1")
        + cloudfront_line(agent="conda%2B%2B/1.0%20a+b") + cloudfront_line(agent="bad%zzescape")
        + cloudfront_line(when="2026-13-45\t25:00:00"))
    (root / "concatenated-cloudfront.log").write_text(concatenated_cloudfront())
    stamps = ["2026-10-10T13:55:36Z", "2026-10-10T15:55:36+02:00", 1791640536, 1791640536000, 1791640536000000,
              1791640536000000000, "1791640536000000000", 1791640536.25, "yesterday"]
    (root / "cloudflare.json").write_text(
        "".join(cloudflare(EdgeStartTimestamp=stamp) for stamp in stamps)
        + '{"ClientIP": "203.0.113.9", "truncated\n' + "[1, 2]\n" + "42\n" + cloudflare(ClientRequestURI=None)
        + cloudflare(ClientRequestMethod=None, ClientRequestURI="/pkgs/main/noarch/activate-0.0.0-0.conda",
                     EdgeResponseBytes=None))
    (root / "s3.log").write_text(
        s3_line() + s3_line(rest="") + s3_line(rest=" " + s3_line(rest="")[:-1].replace('"', "'")) + s3_line(
            agent='conda/24.11.3 \\"quoted\\" aau/0.8.0') + s3_line(key="-", uri="-%.0s"))
    (root / "notes.txt").write_text("not a log\nat all\n")
    (root / "empty.log").write_text("")
    with gzip.open(root / "rotated.log.gz", "wt") as out:
        out.write("".join(combined(ip="10.1.0.%d" % n) + "\n" for n in range(1, 40)))
    return root


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'aau-stats[spark]')")
    pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'aau-stats[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (.ci/run installs openjdk-17-jre-headless)")
    from aau_stats.spark import session

    return session()


@pytest.fixture(scope="module", params=["raw", "pseudonyms"])
def both(request, tmp_path_factory, spark):
    from aau_stats.spark.ingest import ingest as ingest_spark

    work = tmp_path_factory.mktemp("ingest-" + request.param)
    logs = corpus(work / "logs")
    raw = request.param == "raw"
    db = work / "store.duckdb"
    duck_reports = ingest([str(logs)], db, raw=raw, keep_account_tokens=raw)
    export_parquet(db, work / "exported")
    spark_reports = ingest_spark(spark, [str(logs)], work / "spark-store", read_keys(db), raw=raw,
                                 keep_account_tokens=raw)
    return db, work, duck_reports, spark_reports


def _accounting(reports):
    return {report.path.rsplit("/", 1)[-1]: (report.format, report.lines, report.parsed, report.blank,
                                             report.headers, report.rejected) for report in reports}


def test_every_line_is_accounted_for_alike(both):
    _, _, duck_reports, spark_reports = both
    assert len(duck_reports) == 14
    assert _accounting(spark_reports) == _accounting(duck_reports)
    for report in spark_reports:
        assert report.lines == report.parsed + report.rejected_total + report.blank + report.headers


def _rows(glob):
    columns = ("ts, day, ip, network, method, status, bytes, path, channel, subdir, filename, name, version, build,"
               " ext, kind, client_family, client_version, python_version, os_name, os_version, aau_version,"
               " c, s, e, a, i, o, m, agent, raw")
    con = duckdb.connect()
    try:
        return con.execute("SELECT %s FROM read_parquet('%s', hive_partitioning = true) ORDER BY ALL"
                           % (columns, glob)).fetchall()
    finally:
        con.close()


def test_the_stores_hold_the_same_requests(both):
    _, work, duck_reports, _ = both
    exported = _rows(work / "exported" / "day=*" / "*.parquet")
    written = _rows(work / "spark-store" / "day=*" / "*.parquet")
    assert len(exported) == sum(r.parsed for r in duck_reports) > 100
    assert written == exported
    assert not any("tk-secret" in str(value) for row in written for value in row)


def test_the_rejection_samples_are_masked(both):
    _, _, _, spark_reports = both
    samples = [s for report in spark_reports for values in report.samples.values() for s in values]
    assert samples
    assert not [sample for sample in samples if "AbCdEfGhIjKlMnOpQrStU_" in sample]


@pytest.mark.parametrize("question", sorted(QUESTIONS))
def test_duckdb_answers_the_same_from_what_spark_wrote(both, question):
    db, work, _, _ = both
    options = {"advisories": []} if question == "exposure" else {}
    from aau_stats.questions import Filters

    filters = Filters.build(org="OOOOOOOOOOOOOOOOOOOOOO") if question == "seats" else Filters()
    expected = ask(question, db, filters, min_clients=1, **options)
    with DuckDBEngine(db, parquet_dir=work / "spark-store") as engine:
        got = ask(question, None, filters, min_clients=1, engine=engine, **options)
    assert _comparable(got) == _comparable(expected)


def test_ingesting_again_adds_nothing(both, spark):
    from aau_stats.spark.ingest import ingest as ingest_spark

    db, work, _, _ = both
    before = len(_rows(work / "spark-store" / "day=*" / "*.parquet"))
    again = ingest_spark(spark, [str(work / "logs")], work / "spark-store", read_keys(db))
    assert {r.note for r in again} == {"ingested before"}
    assert sum(r.parsed for r in again) == 0
    assert len(_rows(work / "spark-store" / "day=*" / "*.parquet")) == before


def test_the_command_line_ingests_on_spark(tmp_path, spark):
    log = tmp_path / "access.log"
    log.write_text(population_log() + "garbage\n\n")
    db, store = tmp_path / "store.duckdb", tmp_path / "parquet"
    command = [sys.executable, "-m", "aau_stats.cli", "--db", str(db)]
    done = subprocess.run([*command, "ingest", "--engine", "spark", "--parquet", str(store), str(log)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = len(population_log().splitlines())
    assert "total: lines %d = parsed %d + rejected 1 + blank 1" % (lines + 2, lines) in done.stdout
    spark_answer = subprocess.run([*command, "clients-per-ip", "--parquet", str(store), "--json"],
                                  capture_output=True, text=True, timeout=300)
    assert spark_answer.returncode == 0, spark_answer.stderr
    duck_db = tmp_path / "duck.duckdb"
    shutil.copy(str(db) + ".key", str(duck_db) + ".key")
    ingest([str(log)], duck_db)
    duck_answer = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(duck_db), "clients-per-ip",
                                  "--json"], capture_output=True, text=True, timeout=300)
    assert json.loads(spark_answer.stdout)["tables"] == json.loads(duck_answer.stdout)["tables"]
    missing = subprocess.run([*command, "ingest", "--engine", "spark", "--parquet", str(store),
                                        str(tmp_path / "nowhere.log")], capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0
    # The JVM itself may announce its incubator modules; everything else is our one line.
    said = [line for line in missing.stderr.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    assert len(said) == 1 and said[0].startswith("aau-stats: ") and "nowhere.log" in said[0]


def test_spark_connect_ingests_and_answers_alike(tmp_path, spark):
    for module in ("grpc", "pandas", "pyarrow"):
        pytest.importorskip(module, reason="Spark Connect's client needs %s (pip install 'aau-stats[connect]')" % module)
    log = tmp_path / "access.log"
    log.write_text(population_log())
    db, store = tmp_path / "store.duckdb", tmp_path / "parquet"
    command = [sys.executable, "-m", "aau_stats.cli", "--db", str(db)]
    # pyspark starts a Spark Connect server of its own for SPARK_REMOTE=local[...], and talks to it over gRPC.
    env = {**os.environ, "SPARK_REMOTE": "local[2]"}
    script = ("import sys; from aau_stats import cli, spark; print(type(spark.session()).__module__);"
              " sys.exit(cli.main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", script, "--db", str(db), "ingest", "--engine", "spark",
                           "--parquet", str(store), str(log)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "pyspark.sql.connect.session"
    assert "total: lines 27 = parsed 27" in done.stdout
    answers = {}
    for engine, extra in (("spark", env), ("duckdb", os.environ)):
        answered = subprocess.run([*command, "lifecycles", "--engine", engine, "--parquet", str(store), "--json",
                                   "--min-clients", "1"], capture_output=True, text=True, timeout=300, env=extra)
        assert answered.returncode == 0, answered.stderr
        answers[engine] = json.loads(answered.stdout)
    assert answers["spark"] == answers["duckdb"]
    assert answers["spark"]["headline"][0]["value"] > 0


def test_spark_submit_runs_the_command_on_its_own_master(tmp_path, spark):
    submit = shutil.which("spark-submit", path=os.path.dirname(sys.executable))
    if submit is None:
        pytest.skip("no spark-submit beside this Python (pyspark installs one)")
    log = tmp_path / "access.log"
    log.write_text(population_log())
    driver = tmp_path / "driver.py"
    # What an operator gives spark-submit is aau_stats/__main__.py; this shows the master it ran on, then runs it.
    driver.write_text("import runpy, sys\nfrom aau_stats import spark\nprint(spark.session().sparkContext.master)\n"
                      "import aau_stats.__main__ as entry\nsys.argv = [entry.__file__, *sys.argv[1:]]\n"
                      "runpy.run_path(entry.__file__, run_name='__main__')\n")
    done = subprocess.run([submit, "--master", "local[1]", str(driver), "--db", str(tmp_path / "store.duckdb"),
                           "ingest", "--engine", "spark", "--parquet", str(tmp_path / "parquet"), str(log)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == "local[1]"
    assert "total: lines 27 = parsed 27" in done.stdout


def test_a_run_killed_before_its_commit_leaves_rows_nobody_reads(tmp_path, spark, monkeypatch):
    from aau_stats.questions import QuestionError
    from aau_stats.spark import ingest as spark_ingest
    from aau_stats.spark.questions import SparkEngine

    log = tmp_path / "access.log"
    log.write_text(population_log())
    store, keys = tmp_path / "store", ["ab" * 32]
    record = spark_ingest._record

    def killed_at_commit(spark, out_dir, entries):
        if entries[0][2] == "done":
            raise KeyboardInterrupt  # the rows are written; the run dies before saying so
        record(spark, out_dir, entries)

    monkeypatch.setattr(spark_ingest, "_record", killed_at_commit)
    with pytest.raises(KeyboardInterrupt):
        spark_ingest.ingest(spark, [str(log)], store, keys)
    monkeypatch.setattr(spark_ingest, "_record", record)
    assert len(_rows(store / "day=*" / "*.parquet")) == 27  # written, but not committed
    with pytest.raises(QuestionError, match="no requests yet"):
        DuckDBEngine(None, parquet_dir=store)
    (report,) = spark_ingest.ingest(spark, [str(log)], store, keys)  # the file again, under a new id
    assert (report.lines, report.parsed, report.note) == (27, 27, "")
    assert len(_rows(store / "day=*" / "*.parquet")) == 54
    with DuckDBEngine(None, parquet_dir=store) as engine:
        assert engine.scalar("SELECT count(*) FROM requests") == 27
    engine = SparkEngine(store, keys=keys, spark=spark)
    assert engine.scalar("SELECT count(*) FROM requests") == 27
    engine.close()
    (again,) = spark_ingest.ingest(spark, [str(log)], store, keys)
    assert again.note == "ingested before" and again.already == 27
