"""Every question gives the same answer on Spark (local mode, the SQL transpiled) as on DuckDB."""

import datetime
import decimal
import json
import shutil

import pytest
from aau_stats.export import export_parquet
from aau_stats.ingest import ingest
from aau_stats.questions import Filters, ask, read_advisories
from aau_stats.store import read_keys
from question_logs import population_log

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark_engine_for(tmp_path_factory):
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'aau-stats[spark]')")
    pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'aau-stats[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (.ci/run installs openjdk-17-jre-headless)")
    from aau_stats.spark.questions import SparkEngine

    def engine(db):
        parquet = tmp_path_factory.mktemp("parquet") / "requests"
        export_parquet(db, parquet)
        return SparkEngine(parquet, keys=read_keys(db))

    return engine


@pytest.fixture(scope="module", params=["raw", "pseudonyms"])
def stores(request, tmp_path_factory, spark_engine_for):
    work = tmp_path_factory.mktemp("parity-" + request.param)
    log = work / "access.log"
    log.write_text(population_log())
    db = work / "store.duckdb"
    ingest([str(log)], db, raw=request.param == "raw")
    return db, spark_engine_for(db)


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _comparable(answer):
    tables = {t.name: sorted(json.dumps({k: _plain(v) for k, v in r.items()}, sort_keys=True) for r in t.records())
              for t in answer.tables}
    return [(h.label, _plain(h.value), h.suppressed) for h in answer.headline], tables


@pytest.fixture(scope="module")
def advisories(tmp_path_factory):
    path = tmp_path_factory.mktemp("advisories") / "a.csv"
    path.write_text("id,package,affected,fixed\nNUMPY-1,numpy,<1.26.4,1.26.4\nREQ-1,requests,\">=3,<4\",4.0\n")
    return read_advisories(path)


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    path = tmp_path_factory.mktemp("ips") / "office.txt"
    path.write_text("10.0.0.0/24\n20.0.0.9\n")
    return path


CASES = [
    ("clients-per-ip", {}, {}), ("lifecycles", {}, {}), ("lifecycles", {}, {"ci_address_clients": 2}),
    ("environments", {}, {}), ("installs", {}, {"warm_up_days": 0}), ("installs", {}, {"warm_up_days": 2}),
    ("installs", {"since": "2026-10-03"}, {}), ("exposure", {}, {}), ("exposure", {"org": "acme"}, {}),
    ("popularity", {}, {}), ("popularity", {}, {"by": ["platform", "python", "version", "source"], "monthly": True}),
    ("popularity", {"month": "2026-10"}, {"packages": ["numpy"]}), ("seats", {"org": "acme"}, {}),
    ("seats", {"ips": "office"}, {}), ("activity", {}, {}), ("clients-per-ip", {"package": "python"}, {}),
    ("activity", {"channel": "conda-forge", "until": "2026-10-04"}, {}),
    ("popularity", {}, {"distinct": "hll"}), ("popularity", {}, {"distinct": "hll", "by": ["version"]}),
]


@pytest.mark.parametrize("question,filters,options", CASES, ids=[
    "%s-%d" % (case[0], number) for number, case in enumerate(CASES)])
@pytest.mark.parametrize("k", [1, 3])
def test_duckdb_and_spark_give_the_same_answer(stores, advisories, office, question, filters, options, k):
    db, spark = stores
    filters = dict(filters)
    if filters.get("ips") == "office":
        filters["ips"] = office
    options = dict(options)
    if question == "exposure":
        options["advisories"] = advisories
        options["list_machines"] = "org" in filters
    on_duckdb = ask(question, db, Filters.build(**filters), min_clients=k, **options)
    on_spark = ask(question, None, Filters.build(**filters), min_clients=k, engine=spark, **options)
    assert _comparable(on_spark) == _comparable(on_duckdb)


def test_the_command_line_on_spark(stores, capsys):
    from aau_stats import cli

    db, spark = stores
    assert cli.main(["--db", str(db), "lifecycles", "--json", "--min-clients", "2"]) == 0
    on_duckdb = json.loads(capsys.readouterr().out)
    assert cli.main(["--db", str(db), "lifecycles", "--json", "--min-clients", "2", "--engine", "spark",
                     "--parquet", str(spark.db_path)]) == 0
    assert json.loads(capsys.readouterr().out) == on_duckdb
