"""Benchmark: ingestion and every question on Spark local[2] beside DuckDB, on the same ``--lines`` requests.

The same seeded conda traffic as ``bench/questions.py`` (its generator,
advisory and IP file) is ingested twice: by ``aau-stats ingest`` into a
DuckDB store, and by the Spark ingester (local[2], 4 GiB of driver memory)
into a Parquet store. Beside them, a naive Spark parse (one regular
expression per line, the nine fields of ``combined``, nothing else) shows
what the full pipeline costs over bare parsing. The two stores must hold
the same number of requests. Each question then runs through
``aau_stats.questions.ask`` on DuckDB's store and on a ``SparkEngine`` over
the store Spark wrote, once untimed and ``--repeat`` times timed on each, in
this process; the tables show the median time on each engine and their
ratio, with Spark's start-up and DuckDB's Parquet export apart. The answers
of the two engines are compared too.

    python bench/spark.py [--lines N] [--repeat N] [--seed N] [--scratch DIR]
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest as ingest_bench
import questions as questions_bench


def comparable(answer):
    """An answer's tables as sorted JSON rows, numbers as floats rounded to 6 places (engines type them apart)."""
    import json

    def plain(value):
        return round(float(value), 6) if isinstance(value, (int, float)) or hasattr(value, "as_tuple") else value

    return {t.name: sorted(json.dumps({k: plain(v) for k, v in r.items()}, sort_keys=True, default=str)
                           for r in t.records()) for t in answer.tables}


NAIVE_COMBINED = r'^(\S+) \S+ \S+ \[([^\]]+)\] "([^"]*)" (\d+) (\S+) "([^"]*)" "([^"]*)"'


def naive_parse(session, log):
    """Spark reads and parses every line with one regular expression, and writes nothing (the ``noop`` sink)."""
    from pyspark.sql import functions as F

    lines = session.read.text(str(log))
    fields = [F.regexp_extract("value", NAIVE_COMBINED, n).alias("f%d" % n) for n in range(1, 8)]
    lines.select(*fields).write.format("noop").mode("overwrite").save()


def timed(call, repeat):
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20261010)
    parser.add_argument("--scratch")
    args = parser.parse_known_args(argv)[0]

    from aau_stats.export import export_parquet
    from aau_stats.questions import Filters, ask, read_advisories
    from aau_stats.spark import session as spark_session
    from aau_stats.spark.ingest import ingest as spark_ingest
    from aau_stats.spark.questions import SparkEngine
    from aau_stats.store import read_keys

    with tempfile.TemporaryDirectory(prefix="aau-bench-spark-", dir=args.scratch) as scratch:
        scratch = Path(scratch)
        ingest_bench.note("generating %s lines" % format(args.lines, ","))
        log, _, _ = ingest_bench.generated_log(scratch, args.lines, args.seed)
        db = scratch / "store.duckdb"
        duck_ingest, _, duck_rows = questions_bench.ingest_store(log, db, scratch)
        ingest_bench.note("DuckDB ingest: %.1f s" % duck_ingest)
        advisories_path, ips = scratch / "advisories.csv", scratch / "busiest.txt"
        questions_bench.write_advisory(db, advisories_path)
        questions_bench.write_ip_file(log, ips)
        start = time.perf_counter()
        export_parquet(db, scratch / "parquet")
        export = time.perf_counter() - start
        start = time.perf_counter()
        session = spark_session("local[2]", "aau-bench", {"spark.driver.memory": "4g"})
        startup = time.perf_counter() - start
        start = time.perf_counter()
        naive_parse(session, log)
        naive = time.perf_counter() - start
        ingest_bench.note("naive Spark parse: %.1f s" % naive)
        start = time.perf_counter()
        reports = spark_ingest(session, [str(log)], scratch / "spark-store", read_keys(db))
        spark_ingested = time.perf_counter() - start
        spark_rows = sum(r.parsed for r in reports)
        ingest_bench.note("Spark ingest: %.1f s, %d requests (DuckDB: %d)" % (spark_ingested, spark_rows, duck_rows))
        log.unlink()
        spark = SparkEngine(scratch / "spark-store", keys=read_keys(db), spark=session)
        advisories = read_advisories(advisories_path)
        rows = []
        for label, question, options in questions_bench.QUESTIONS:
            options = dict(options)
            filters = Filters()
            if "advisories" in options:
                options["advisories"] = advisories
            if "ips" in options:
                options.pop("ips")
                filters = Filters.build(ips=ips)
            duck, duck_answer = timed(lambda q=question, f=filters, o=options: ask(q, db, f, min_clients=10, **o),
                                      args.repeat)
            on_spark, spark_answer = timed(
                lambda q=question, f=filters, o=options: ask(q, None, f, min_clients=10, engine=spark, **o), args.repeat)
            same = comparable(duck_answer) == comparable(spark_answer)
            rows.append((label, duck, on_spark, same))
            ingest_bench.note("%s: DuckDB %.2f s, Spark %.2f s, %s" % (label, duck, on_spark,
                                                                       "same" if same else "different"))
    print("%s; %d CPUs, Python %s, %s lines, median of %d after one untimed run each.\n" % (
        datetime.date.today(), os.cpu_count(), platform.python_version(), format(args.lines, ","), args.repeat))
    print("Spark local[2] start-up %.1f s; DuckDB's Parquet export (not needed by Spark) %.1f s.\n"
          % (startup, export))
    print("| ingestion of %s lines | s | lines/s | / DuckDB | requests stored |" % format(args.lines, ","))
    print("|---|---|---|---|---|")
    for label, seconds, stored in (("DuckDB (`aau-stats ingest`)", duck_ingest, duck_rows),
                                   ("Spark local[2], naive regex parse only", naive, None),
                                   ("Spark local[2] (`ingest --engine spark`)", spark_ingested, spark_rows)):
        print("| %s | %.1f | %s | %.1fx | %s |" % (label, seconds, format(round(args.lines / seconds), ","),
                                                  seconds / duck_ingest, "-" if stored is None else format(stored, ",")))
    print()
    print("| question | DuckDB s | Spark local[2] s | Spark / DuckDB | same answer |")
    print("|---|---|---|---|---|")
    for label, duck, on_spark, same in rows:
        print("| %s | %.2f | %.2f | %.1fx | %s |" % (label, duck, on_spark, on_spark / duck, "yes" if same else "no"))


if __name__ == "__main__":
    main()
