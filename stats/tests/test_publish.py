"""The public dataset: condastats, unchanged, reads what ``aau-stats publish`` writes, and its numbers are ours."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from aau_stats import cli
from aau_stats.ingest import ingest
from aau_stats.questions import Filters, ask
from aau_stats.simulate import Config, simulate

condastats = pytest.importorskip("condastats", reason="condastats is not installed (pip install -r requirements/dev.txt)")


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    truth = simulate(Config(seed=4, days=40), out)
    db = out / "store.duckdb"
    ingest([str(out / "access.log")], db)
    return out, db, truth


def published(db, out, *args):
    assert cli.main(["--db", str(db), "publish", "--out", str(out), *args]) == 0


@pytest.fixture(scope="module")
def exact(population, tmp_path_factory):
    _, db, _ = population
    out = tmp_path_factory.mktemp("dataset")
    published(db, out, "--min-clients", "1")
    return out


@pytest.fixture
def read_from(monkeypatch):
    import condastats._core as core

    def point(dataset):
        monkeypatch.setattr(core, "_S3_BASE", str(Path(dataset) / "conda" / "monthly"))
        monkeypatch.setattr(core, "_S3_OPTS", {})
    return point


def ours(db, by=(), monthly=False, **filters):
    answer = ask("popularity", db, Filters.build(**filters), min_clients=1, packages=["numpy", "requests"],
                 by=list(by), monthly=monthly)
    labels = answer.table("popularity").columns[:answer.table("popularity").labels]
    return {tuple(r[c] for c in labels): r["counts"] for r in answer.table("popularity").records()}


def theirs(series):
    return {(k if isinstance(k, tuple) else (k,)): int(v) for k, v in series.items() if v}


@pytest.mark.parametrize("query,by", [("overall", ()), ("pkg_platform", ("platform",)), ("data_source", ("source",)),
                                      ("pkg_version", ("version",)), ("pkg_python", ("python",))])
def test_condastats_reads_the_dataset_and_its_counts_are_ours(population, exact, read_from, query, by):
    _, db, _ = population
    read_from(exact)
    function = getattr(condastats, query)
    assert theirs(function(["numpy", "requests"])) == ours(db, by)
    assert theirs(function(["numpy", "requests"], month="2026-10")) == ours(db, by, month="2026-10")
    assert theirs(function(["numpy", "requests"], start_month="2026-10", end_month="2026-11")) == ours(db, by)
    monthly = theirs(function(["numpy", "requests"], monthly=True))
    # condastats orders a monthly key (package, time, dimension); popularity (package, dimension, time)
    mine = {(k[0], k[-1], *k[1:-1]): v for k, v in ours(db, by, monthly=True).items()}
    assert monthly == mine and len({k[1] for k in monthly}) == 2  # October and November


def test_the_new_columns_equal_the_simulations_truth(population, exact):
    out, _, truth = population
    monthly = duckdb.sql("SELECT pkg_name, sum(new_installs), sum(updates), sum(redownloads), sum(counts),"
                         " sum(tokened_counts) FROM read_parquet('%s/conda/monthly/*/*.parquet') GROUP BY 1"
                         % exact).fetchall()
    found = {name: [n, u, r] for name, n, u, r, _, _ in monthly}
    assert {k: v for k, v in found.items() if any(v)} == {k: v for k, v in truth["answers"]["installs"].items()
                                                          if any(v)}
    assert {name: c for name, *_, c, _ in monthly} == truth["answers"]["package_downloads"]
    assert all(t == n + u + r for _, n, u, r, _, t in monthly)
    # CI: the downloads of the clients the simulation ran as CI jobs, counted from the log itself
    kinds = truth["tokens"]["clients"]
    ci = Counter()
    for line in (out / "access.log").read_text().splitlines():
        match = re.search(r'"GET /[^ ]+/([^/ ]+)-[^-/ ]+-[^-/ ]+\.(?:conda|tar\.bz2) HTTP/1\.1" 200 .* c/(\S+)', line)
        if match and kinds.get(match[2]) == "ci":
            ci[match[1]] += 1
    ci_counts = duckdb.sql("SELECT pkg_name, sum(ci_counts) FROM read_parquet('%s/conda/monthly/*/*.parquet')"
                           " GROUP BY 1 HAVING sum(ci_counts) > 0" % exact).fetchall()
    assert dict(ci_counts) == dict(ci) and sum(ci.values()) > 100


def test_schema_and_layout(exact):
    files = sorted(str(p.relative_to(exact)) for p in exact.glob("conda/**/*.parquet"))
    assert "conda/monthly/2026/2026-10.parquet" in files and "conda/hourly/2026/10/2026-10-01.parquet" in files
    hourly = duckdb.sql("DESCRIBE SELECT * FROM '%s/conda/hourly/2026/10/2026-10-01.parquet'" % exact).fetchall()
    assert [(c, t) for c, t, *_ in hourly][:7] == [
        ("data_source", "VARCHAR"), ("time", "TIMESTAMP"), ("pkg_name", "VARCHAR"), ("pkg_version", "VARCHAR"),
        ("pkg_platform", "VARCHAR"), ("pkg_python", "VARCHAR"), ("counts", "BIGINT")]
    meta = duckdb.sql("SELECT DISTINCT compression FROM parquet_metadata('%s/conda/monthly/2026/2026-10.parquet')"
                      % exact).fetchall()
    assert meta == [("SNAPPY",)]
    schema = json.loads((exact / "schema.json").read_text())
    assert set(schema["columns"]) == {c for c, *_ in hourly} and "clients" in schema["not_additive"]
    for name in ("README.md", "CHANGELOG.md", "KNOWN_ISSUES.md"):
        assert (exact / name).read_text().strip()


def test_no_raw_token_or_address_in_any_file(population, exact):
    out, _, _ = population
    text = (out / "access.log").read_text()
    secrets = set(re.findall(r"\b[csem]/([A-Za-z0-9_-]{22})\b", text)) | set(re.findall(r"^(\S+) - -", text, re.M))
    assert len(secrets) > 100
    for path in exact.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in secrets if s.encode() in data], path


def test_suppressed_cells_are_null_and_none_comes_back(population, tmp_path):
    _, db, _ = population
    published(db, tmp_path, "--min-clients", "10")
    rows = duckdb.sql("SELECT * FROM read_parquet('%s/conda/monthly/*/*.parquet')" % tmp_path).fetchall()
    nulls = sum(v is None for row in rows for v in row[6:])
    assert nulls > 0
    for row in rows:  # clients below 10: every value of the row is null
        if row[7] is not None:
            assert row[7] >= 10


def test_publishing_again_rewrites_only_what_changed(population, tmp_path):
    _, db, _ = population
    published(db, tmp_path, "--min-clients", "1")
    first = (tmp_path / "conda").resolve()
    published(db, tmp_path, "--min-clients", "1")
    second = (tmp_path / "conda").resolve()
    assert first != second
    same = [p for p in second.rglob("*.parquet") if os.path.samefile(p, first / p.relative_to(second))]
    assert len(same) == len(list(second.rglob("*.parquet"))) > 30  # nothing changed: every file is the old one
    assert "0 files written" in (tmp_path / "CHANGELOG.md").read_text().splitlines()[-1].replace(
        "version 2, ", "")


def test_a_kill_during_publish_leaves_the_previous_dataset_whole(population, tmp_path):
    _, db, _ = population
    command = [sys.executable, "-m", "aau_stats", "--db", str(db), "publish", "--out", str(tmp_path),
               "--min-clients", "1"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    whole = time.perf_counter() - started
    query = "SELECT count(*), sum(counts) FROM read_parquet('%s/conda/**/*.parquet')" % tmp_path
    before = duckdb.sql(query).fetchall()
    killed = 0
    for share in (0.2, 0.4, 0.6, 0.75, 0.9):
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(whole * share)
        child.send_signal(signal.SIGKILL)
        killed += child.wait() == -signal.SIGKILL
        assert duckdb.sql(query).fetchall() == before  # the previous version, or the new one: the same data
        assert (tmp_path / "conda").resolve().is_dir()
    assert killed >= 3
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # and the next publish goes through
    assert duckdb.sql(query).fetchall() == before


def cli_json(*args):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(args)) == 0
    return json.loads(out.getvalue())


@pytest.mark.parametrize("options", [[], ["--by", "version"], ["--by", "platform", "--by", "python", "--monthly"],
                                     ["--month", "2026-11", "--by", "source"]])
def test_popularity_from_the_dataset_equals_the_store(population, exact, options):
    _, db, _ = population
    store = cli_json("--db", str(db), "popularity", "numpy", "requests", "--json", "--min-clients", "1", *options)
    dataset = cli_json("popularity", "numpy", "requests", "--json", "--dataset", str(exact), *options)

    def counts(data):
        table = next(iter(data["tables"].values()))
        labels = [c for c in table["columns"] if c.startswith("pkg_") or c in ("time", "data_source")]
        return {tuple(r[c] for c in labels): r["counts"] for r in table["rows"]}

    assert counts(dataset) == counts(store) and counts(store)
    assert dataset["headline"][0]["value"] == store["headline"][0]["value"]


def test_popularity_from_a_dataset_that_is_not_one(tmp_path, capsys):
    assert cli.main(["popularity", "--dataset", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a published dataset" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def daily_logs(population, tmp_path_factory):
    """Two days of the simulation as two rotated logs, with lines no parser reads, and one input of junk only."""
    out, _, _ = population
    work = tmp_path_factory.mktemp("daily")
    days = {"01/Oct/2026": [], "02/Oct/2026": []}
    for line in (out / "access.log").read_text().splitlines(keepends=True):
        for day, lines in days.items():
            if "[%s:" % day in line:
                lines.append(line)
    assert all(len(lines) > 20 for lines in days.values())
    first, second, junk = work / "access.log-20261001", work / "access.log-20261002", work / "junk.log"
    first.write_text("".join(days["01/Oct/2026"][:10]) + "not a request\n" * 2 + "".join(days["01/Oct/2026"][10:]))
    second.write_text("".join(days["02/Oct/2026"]) + "neither is this\n" * 3)
    junk.write_text("nothing here\n")
    return work, [first, second, junk]


def rejected_section(dataset):
    text = (dataset / "KNOWN_ISSUES.md").read_text()
    return [line for line in text.split("## Rejected lines", 1)[1].splitlines() if line.startswith("- ")]


def test_known_issues_give_the_rejected_lines_per_day(daily_logs, tmp_path):
    _, logs = daily_logs
    db = tmp_path / "store.duckdb"
    ingest([str(p) for p in logs], db)
    published(db, tmp_path / "dataset", "--min-clients", "1")
    assert rejected_section(tmp_path / "dataset") == ["- 2026-10-01: 2 lines (bad format 2)",
                                                      "- 2026-10-02: 3 lines (bad format 3)",
                                                      "- inputs with no line accepted: 1 line (unknown format 1)"]
    published(db, tmp_path / "october-2", "--min-clients", "1", "--since", "2026-10-02")
    assert rejected_section(tmp_path / "october-2")[0] == "- 2026-10-02: 3 lines (bad format 3)"


@pytest.mark.spark
@pytest.mark.slow
def test_publish_on_spark_writes_the_same_files(population, daily_logs, tmp_path):
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'aau-stats[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (.ci/run installs openjdk-17-jre-headless)")
    from aau_stats.export import export_parquet

    _, db, _ = population
    export_parquet(db, tmp_path / "exported")
    published(db, tmp_path / "duckdb", "--min-clients", "3")
    published(db, tmp_path / "spark", "--min-clients", "3", "--engine", "spark", "--parquet", str(tmp_path / "exported"))
    published(db, tmp_path / "parquet", "--min-clients", "3", "--parquet", str(tmp_path / "exported"))

    def files(dataset):
        return {str(p.relative_to(dataset)): p.read_bytes() for p in (dataset / "conda").rglob("*.parquet")}

    assert files(tmp_path / "spark") == files(tmp_path / "duckdb") == files(tmp_path / "parquet")
    assert len(files(tmp_path / "duckdb")) > 30
    assert rejected_section(tmp_path / "spark") == [] and "does not record" in (
        tmp_path / "spark" / "KNOWN_ISSUES.md").read_text()
    # a store Spark ingested keeps its rejections in its commit log: the same section as the DuckDB store's
    _, logs = daily_logs
    assert cli.main(["--db", str(tmp_path / "keys.duckdb"), "ingest", "--engine", "spark", "--parquet",
                     str(tmp_path / "ingested"), *map(str, logs)]) == 0
    expected = ["- 2026-10-01: 2 lines (bad format 2)", "- 2026-10-02: 3 lines (bad format 3)",
                "- inputs with no line accepted: 1 line (unknown format 1)"]
    for engine in (["--engine", "spark"], []):
        out = tmp_path / ("from-ingested-%d" % len(engine))
        published(tmp_path / "keys.duckdb", out, "--min-clients", "1", "--parquet", str(tmp_path / "ingested"), *engine)
        assert rejected_section(out) == expected


@pytest.fixture(scope="module")
def web(exact, tmp_path_factory):
    """A real nginx serving the dataset over http:// and https:// (a certificate of a test authority the
    readers are told to trust)."""
    from aau_stats.live import Nginx, NginxMissing

    trustme = pytest.importorskip("trustme", reason="trustme is not installed (pip install -r requirements/dev.txt)")
    root = tmp_path_factory.mktemp("web")
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(root / "key.pem")
    cert.cert_chain_pems[0].write_to_path(root / "cert.pem")
    authority.cert_pem.write_to_path(root / "authority.pem")
    try:
        server = Nginx(root, documents=exact, certificate=(root / "cert.pem", root / "key.pem"))
    except NginxMissing as exc:
        pytest.skip(str(exc))
    with server:
        yield {"http": "http://127.0.0.1:%d" % server.port, "https": "https://127.0.0.1:%d" % server.tls_port,
               "authority": str(root / "authority.pem")}


@pytest.fixture(scope="module")
def bucket(exact):
    """The dataset uploaded to an S3 server (moto's, on loopback), read as s3://BUCKET."""
    pytest.importorskip("moto", reason="moto is not installed (pip install -r requirements/dev.txt)")
    boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install -r requirements/dev.txt)")
    from aau_stats.live import free_port
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = "http://127.0.0.1:%d" % port
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.create_bucket(Bucket="dataset")
    for path in exact.iterdir():  # the dataset's own files, and its current version under conda/
        if path.is_file():
            client.upload_file(str(path), "dataset", path.name)
    current = (exact / "conda").resolve()
    for path in current.rglob("*.parquet"):
        client.upload_file(str(path), "dataset", "conda/%s" % path.relative_to(current))
    yield endpoint
    server.stop()


@pytest.mark.parametrize("where", ["http", "https", "s3"])
def test_popularity_from_a_dataset_on_the_web_and_in_a_bucket(population, exact, web, bucket, monkeypatch, where):
    monkeypatch.setenv("SSL_CERT_FILE", web["authority"])
    if where == "s3":
        for name, value in (("AWS_ENDPOINT_URL_S3", bucket), ("AWS_ACCESS_KEY_ID", "test"),
                            ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_DEFAULT_REGION", "us-east-1")):
            monkeypatch.setenv(name, value)
    location = "s3://dataset" if where == "s3" else web[where]
    for options in ([], ["--by", "platform", "--monthly"], ["--month", "2026-11", "--by", "version"]):
        local = cli_json("popularity", "numpy", "requests", "--json", "--dataset", str(exact), *options)
        remote = cli_json("popularity", "numpy", "requests", "--json", "--dataset", location, *options)
        assert remote["tables"] == {name: {**table, "title": table["title"].replace(str(exact), location)}
                                    for name, table in local["tables"].items()}
        assert remote["headline"] == local["headline"] and local["headline"][0]["value"] > 0


def test_a_dataset_url_with_nothing_there(web, capsys):
    assert cli.main(["popularity", "--dataset", web["http"] + "/nothing"]) == 1
    err = capsys.readouterr().err
    assert "not a published dataset" in err and err.count("\n") == 1 and web["http"] + "/nothing" in err


def test_a_store_without_downloads_publishes_an_empty_dataset(population, tmp_path, capsys):
    out, _, _ = population
    lines = [line for line in (out / "access.log").read_text().splitlines(keepends=True)
             if ".conda " not in line and ".tar.bz2 " not in line][:300]
    (tmp_path / "access.log").write_text("".join(lines))
    db = tmp_path / "store.duckdb"
    ingest([str(tmp_path / "access.log")], db)
    published(db, tmp_path / "dataset", "--min-clients", "3")
    assert "0 files written" in capsys.readouterr().out
    assert (tmp_path / "dataset" / "conda").is_dir() and not list((tmp_path / "dataset" / "conda").rglob("*.parquet"))
    assert json.loads((tmp_path / "dataset" / "schema.json").read_text())["months"] == []
    answer = cli_json("popularity", "--json", "--dataset", str(tmp_path / "dataset"))
    assert answer["headline"][0]["value"] == 0


def test_a_dataset_folder_that_cannot_be_written(population, tmp_path, capsys):
    _, db, _ = population
    (tmp_path / "a-file").write_text("")
    for out in (tmp_path / "a-file" / "dataset", tmp_path / "a-file"):
        assert cli.main(["--db", str(db), "publish", "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert str(out) in err and err.count("\n") == 1


def test_a_second_publish_into_the_same_folder_at_once_is_refused(population, tmp_path, capsys):
    import fcntl

    _, db, _ = population
    published(db, tmp_path, "--min-clients", "1")
    capsys.readouterr()
    before = (tmp_path / "conda").resolve()
    with open(tmp_path / ".versions" / ".lock", "w") as held:  # as a publish in another process holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        assert cli.main(["--db", str(db), "publish", "--out", str(tmp_path), "--min-clients", "1"]) == 1
    err = capsys.readouterr().err
    assert "another publish is writing this dataset" in err and str(tmp_path) in err and err.count("\n") == 1
    assert (tmp_path / "conda").resolve() == before
    published(db, tmp_path, "--min-clients", "1")  # once it is done, the next goes through
