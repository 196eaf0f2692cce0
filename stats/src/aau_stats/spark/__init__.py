"""Apache Spark, the engine for logs one machine cannot hold: everything of it lives in this package.

- this module: the session (local, a cluster, spark-submit, Spark Connect)
  and the project's SQL rewritten in Spark's dialect;
- :mod:`.ingest`: ingestion, the DuckDB ingester's SQL over Spark's text
  reader, a Parquet store partitioned by day out;
- :mod:`.questions`: the engine the questions run on (:class:`SparkEngine`).

Parsing, the request model and the questions are written once, in DuckDB's
dialect of SQL. sqlglot rewrites each statement for Spark; :func:`to_spark`
adds what sqlglot leaves as it is or gets wrong for these statements:

- ``try_strptime(x, fmt)`` -> ``try_to_timestamp`` with the pattern in Java's
  letters (literal characters quoted);
- ``regexp_extract(x, re, ['a', 'b'])`` (a struct of named groups) -> a
  ``named_struct`` of one ``regexp_extract`` per group;
- ``regexp_full_match`` -> ``RLIKE`` anchored at both ends (``RLIKE`` alone
  finds a match anywhere);
- ``regexp_replace``'s back references ``\\1`` -> Java's ``$1``;
- ``url_decode`` -> ``try_url_decode``, with ``+`` and a ``%`` that starts
  no escape kept as they are, as DuckDB keeps them (Java decodes ``+`` as a
  space and refuses the whole text for a stray ``%``);
- ``list_slice(l, a, b)`` -> ``slice(l, a, b - a + 1)``;
- ``string_split(x, c)`` with one plain character -> ``split(x, c)`` as it is (sqlglot quotes it as a
  pattern, which Java then splits by as a regular expression);
- DuckDB's JSON checks -> ``json_object_keys``/``json_array_length``, and
  ``json_extract_string`` with several paths -> one ``get_json_object`` each;
- ``HUGEINT`` -> ``DECIMAL(38, 0)``.

RE2 (DuckDB) and Java (Spark) regular expressions agree on every construct
the project uses; the parity tests run each one on both.

The session (:func:`session`) runs with ANSI mode off (an index past an
array's end is NULL, as in DuckDB), ``size(NULL)`` NULL, the corrected
time parser and UTC.
"""

import os
import re
import sys
import warnings
from pathlib import Path

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.legacy.sizeOfNull": "false",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
}
LOCAL_CONF = {
    # One machine: a few shuffle partitions (a cluster keeps its own setting and adaptive execution).
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Errors only on stderr: Spark's default logging writes warnings and notes there.
    "spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile=%s" % (Path(__file__).parent / "log4j2.properties"),
}


class SparkUnavailable(Exception):
    """pyspark (or its Java) is not there; the message says how to get it."""


def session(master=None, app_name="aau-stats", conf=None):
    """A SparkSession: Spark Connect when ``SPARK_REMOTE`` is set (or ``master`` is ``sc://...``),
    the cluster ``spark-submit`` started us on, or ``master`` (default ``local[2]``).

    ``conf``: settings for a session this call starts (driver memory, say).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable("--engine spark needs pyspark (pip install 'aau-stats[spark]')") from None
    remote = master if master and master.startswith("sc://") else os.environ.get("SPARK_REMOTE")
    if remote:
        builder = SparkSession.builder.remote(remote)
        if remote.startswith("local"):  # pyspark starts a Connect server of its own, with these settings
            for key, value in {**LOCAL_CONF, **(conf or {})}.items():
                builder = builder.config(key, value)
    else:
        builder = SparkSession.builder.appName(app_name)
        if master or not _under_spark_submit():
            builder = builder.master(master or "local[2]")
        local = master.startswith("local") if master else not _under_spark_submit()
        if local:  # the workers run this Python (and find aau-stats), not whichever python3 is first on PATH
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for key, value in {**(LOCAL_CONF if local else {}), **(conf or {})}.items():
            builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            # A local Connect server takes these at its start; pyspark then also tries them on the session.
            warnings.filterwarnings("ignore", message="Failed to set spark")
            spark = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - Java missing, cluster unreachable: one line, named
        raise SparkUnavailable("cannot start Spark (%s): %s" % (
            remote or master or "local[2]", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        ) from None
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def _under_spark_submit():
    # spark-submit starts Python with a gateway to its JVM, whose master is already set.
    return "PYSPARK_GATEWAY_PORT" in os.environ


# DuckDB strptime letters -> Java DateTimeFormatter letters (for parsing).
_TIME_LETTERS = {"d": "d", "b": "MMM", "Y": "yyyy", "m": "M", "H": "H", "M": "m", "S": "s", "z": "Z", "f": "SSSSSS"}


def java_time_pattern(fmt):
    """A DuckDB ``strptime`` format as a Java date-time pattern."""
    out, literal = [], ""
    pieces = re.split(r"(%.)", fmt)
    for piece in pieces:
        if piece.startswith("%") and len(piece) == 2:
            if literal:
                out.append("'%s'" % literal.replace("'", "''"))
                literal = ""
            if piece[1] not in _TIME_LETTERS:
                raise ValueError("strptime format %s: %s has no Java equivalent here" % (fmt, piece))
            out.append(_TIME_LETTERS[piece[1]])
        else:
            literal += piece
    if literal:
        out.append("'%s'" % literal.replace("'", "''"))
    return "".join(out)


def _java_replacement(text):
    return re.sub(r"\\(\d)", r"$\1", text.replace("$", "\\$"))


_REGEX_META = set(".$|()[]{}^?*+\\")


def _rewrite(node):
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        args = node.expressions
        if name == "try_strptime":
            return exp.func("try_to_timestamp", args[0], exp.Literal.string(java_time_pattern(args[1].name)))
        if name == "url_decode":
            # DuckDB keeps a + and a % that starts no escape as they are; Java would decode or refuse them.
            kept = exp.func("replace", args[0], exp.Literal.string("+"), exp.Literal.string("%2B"))
            kept = exp.RegexpReplace(this=kept, expression=exp.Literal.string("%(?![0-9A-Fa-f]{2})"),
                                     replacement=exp.Literal.string("%25"))
            return exp.func("try_url_decode", kept)
        if name == "list_slice":
            start, end = (int(a.name) for a in args[1:3])
            return exp.func("slice", args[0], exp.Literal.number(start), exp.Literal.number(end - start + 1))
        if name == "json_valid":
            return exp.paren(exp.or_(exp.Not(this=exp.Is(this=exp.func("json_object_keys", args[0]), expression=exp.Null())),
                                     exp.Not(this=exp.Is(this=exp.func("json_array_length", args[0]),
                                                         expression=exp.Null()))))
    if isinstance(node, exp.JSONType):
        target = node.this
        return exp.Case().when(exp.Not(this=exp.Is(this=exp.func("json_object_keys", target), expression=exp.Null())),
                               exp.Literal.string("OBJECT")).when(
            exp.Not(this=exp.Is(this=exp.func("json_array_length", target), expression=exp.Null())),
            exp.Literal.string("ARRAY"))
    if isinstance(node, exp.JSONExtractScalar) and isinstance(node.expression, exp.Array):
        return exp.Array(expressions=[exp.func("get_json_object", node.this.copy(), path.copy())
                                      for path in node.expression.expressions])
    if isinstance(node, exp.RegexpExtract) and isinstance(node.args.get("group"), exp.Array):
        pieces = []
        for number, name in enumerate(node.args["group"].expressions, 1):
            pieces += [name.copy(), exp.RegexpExtract(this=node.this.copy(), expression=node.expression.copy(),
                                                      group=exp.Literal.number(number))]
        return exp.func("named_struct", *pieces)
    if isinstance(node, exp.RegexpFullMatch):
        return exp.RegexpLike(this=node.this, expression=exp.Literal.string("^(?:%s)$" % node.expression.name))
    if isinstance(node, exp.RegexpReplace) and isinstance(node.args.get("replacement"), exp.Literal):
        node.set("replacement", exp.Literal.string(_java_replacement(node.args["replacement"].name)))
        return node
    if (isinstance(node, exp.Split) and isinstance(node.expression, exp.Literal) and len(node.expression.name) == 1
            and node.expression.name not in _REGEX_META):
        # One plain character: as it is, so that Java splits without a regular expression (3x faster than the
        # quoted pattern sqlglot writes).
        return exp.Anonymous(this="split", expressions=[node.this, node.expression])
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def to_spark(sql):
    """``sql`` (DuckDB's dialect) in Spark's dialect."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="duckdb")
    return tree.transform(_rewrite).sql(dialect="spark")


def spark_expression(expr):
    """An SQL expression in DuckDB's dialect, in Spark's."""
    import sqlglot

    return sqlglot.parse_one(expr, read="duckdb").transform(_rewrite).sql(dialect="spark")
