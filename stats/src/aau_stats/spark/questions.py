"""The same questions on Apache Spark: one SQL text per question, transpiled.

The questions are written once, in DuckDB's dialect of SQL; this engine
hands each statement to sqlglot to write it in Spark's dialect, and runs it
on a ``SparkSession`` over a Parquet store partitioned by day (the schema of
view ``requests``, as ``aau-stats export --parquet`` writes it). Sessions are
made from the requests with :func:`aau_stats.model.sessions_sql`, as the
DuckDB store would make them. sqlglot was chosen over Ibis because the
questions already are SQL: one text, read by DuckDB as it is and by Spark
through a transpiler, with no second query language to learn or to trust.
"""


from ..model import KEYED_REQUESTS
from ..questions._scope import QuestionError
from . import SparkUnavailable, session, to_spark

__all__ = ["SparkEngine"]


class SparkEngine:
    """A Parquet store of requests on Spark (local mode unless ``master`` says otherwise)."""

    name = "spark"
    has_sessions = False  # made from the requests by the same SQL as the DuckDB store's
    has_downloads = False  # likewise
    numbered = False  # the counting keys are the values

    def __init__(self, parquet_dir, keys=None, master=None, spark=None):
        """``master``: as :func:`aau_stats.spark.session` takes it; ``spark``: a session to use instead."""
        self.db_path = parquet_dir
        if spark is None:
            try:
                spark = session(master)
            except SparkUnavailable as exc:
                raise QuestionError(str(exc)) from None
        self.spark = spark
        self.keys = keys
        self._names = 0
        try:
            requests = self.spark.read.parquet(str(self.db_path))
            if "agent" not in requests.columns:  # exported before column agent: as DuckDBEngine reads it
                requests = requests.selectExpr("*", "CAST(NULL AS STRING) AS agent")
            requests.createOrReplaceTempView("requests")
            self._only_committed()
            self.spark.sql(KEYED_REQUESTS).createOrReplaceTempView("keyed_requests")
        except Exception as exc:  # noqa: BLE001 - Spark's AnalysisException: a missing or unreadable store
            raise QuestionError("%s: not a Parquet store of requests (%s)" % (
                self.db_path, str(exc).strip().splitlines()[0])) from None
        if not self.scalar("SELECT count(*) FROM requests"):
            raise QuestionError("%s: the store has no requests yet" % self.db_path)

    def _only_committed(self):
        """A store Spark wrote: only the rows of the files its commit log says are complete."""
        from .ingest import SOURCES, committed_ids_sql

        try:
            self.spark.read.parquet("%s/%s" % (str(self.db_path).rstrip("/"), SOURCES)).createOrReplaceTempView(
                "aau_sources")
        except Exception:  # noqa: BLE001 - no commit log: DuckDB's export, every row counts
            return
        self.spark.sql("SELECT * FROM requests WHERE source_id IN (%s)" % committed_ids_sql("aau_sources")
                       ).createOrReplaceTempView("requests")

    def rows(self, sql):
        frame = self.spark.sql(to_spark(sql))
        return list(frame.columns), [list(row) for row in frame.collect()]

    def scalar(self, sql):
        return self.rows(sql)[1][0][0]

    def _name(self, kind):
        self._names += 1
        return "%s_%d" % (kind, self._names)

    def keep(self, sql):
        name = self._name("kept")
        self.spark.sql(to_spark(sql)).cache().createOrReplaceTempView(name)
        return name

    def lookup(self, columns, rows):
        from pyspark.sql.types import BooleanType, StringType, StructField, StructType

        kinds = {"VARCHAR": StringType(), "BOOLEAN": BooleanType()}
        schema = StructType([StructField(name, kinds[kind]) for name, kind in columns])
        name = self._name("lookup")
        self.spark.createDataFrame([tuple(row) for row in rows], schema).createOrReplaceTempView(name)
        return name

    def close(self):
        for table in self.spark.catalog.listTables():
            if table.isTemporary and table.name.startswith(("kept_", "lookup_")):
                self.spark.catalog.dropTempView(table.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
