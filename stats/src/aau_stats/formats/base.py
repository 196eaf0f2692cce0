"""What every log format provides.

Every format is read the same way: DuckDB's CSV reader cuts the input into
lines (one text column, no quoting, so that no malformed line can run into
the next; lines that are not UTF-8 land in its reject table), and each
format turns a line into the raw request fields with SQL:

- ``ip``, ``request`` (``METHOD /path?query PROTOCOL``), ``user_agent``;
- ``ts``: the time as a UTC ``TIMESTAMP``, NULL when it does not parse;
- ``status``, ``bytes``: text, cast and checked by the ingester;
- ``reason``: why a line is no request (``bad format``, ``header``, ...),
  NULL when it is one.

The SQL may use helper columns computed in ``stages`` (select items over the
line, each stage over the one before), so that each piece of work is done
once per line. Some formats depend on the file (CloudFront names its
columns in a ``#Fields:`` header): :meth:`LogFormat.layout` binds a format to
a file's first lines.
"""

import re
from dataclasses import dataclass

MAX_LINE_BYTES = 4 * 1024 * 1024
LINE_READER_OPTIONS = (
    "delim='\x01', quote='', escape='', new_line='\\n', header=false, auto_detect=false, strict_mode=true,"
    " store_rejects=true, rejects_table='reader_rejects', rejects_scan='reader_scans', rejects_limit=0,"
    " max_line_size=%d, columns={'line': 'VARCHAR'}" % MAX_LINE_BYTES
)


def quote_sql(text):
    return "'%s'" % text.replace("'", "''")


@dataclass(frozen=True)
class Layout:
    """A format bound to one file: the helper stages and the field SQL."""

    format_name: str
    fields: dict
    stages: tuple = ()
    columns: tuple = ()  # the file's own column names, for formats whose header names them (CloudFront)

    def over(self, relation):
        """SQL: ``relation`` (with a ``line`` column) with the helper stages added."""
        for items in self.stages:
            relation = "(SELECT *, %s FROM %s)" % (", ".join(items), relation)
        return relation

    def reader_sql(self, path):
        """SQL: the lines of the file at ``path`` (cut by DuckDB's CSV reader) with the helper stages."""
        return self.over("read_csv(%s, %s)" % (quote_sql(str(path)), LINE_READER_OPTIONS))


class LogFormat:
    """A log format: how to recognise its lines and lay out a file of them."""

    name = ""
    header_lines = False  # whether files carry header lines (counted apart)
    line_pattern = re.compile(b"(?!)")

    def looks_like(self, line):
        return bool(self.line_pattern.match(line))

    def layout(self, head_lines):
        """The :class:`Layout` for a file whose first lines are ``head_lines`` (bytes)."""
        raise NotImplementedError


def dash_null(expr):
    """SQL: a log's ``-`` (no value) as NULL."""
    return "nullif(%s, '-')" % expr


QUOTED_RE = r'"((?:[^"\\]|\\.)*)"'


def split_or_match(fast_items, fast_ok, regex, names):
    """Stages that read fields by splitting (fast), or by ``regex`` when splitting does not fit.

    ``fast_items`` are select items computing split parts, ``fast_ok`` an SQL
    condition that the line has exactly the expected shape; other lines are
    matched with ``regex`` (RE2), whose groups are ``names``, into ``_rx``.
    """
    return (
        tuple(fast_items),
        ("(%s) AS _fast" % fast_ok,),
        ("CASE WHEN NOT _fast THEN regexp_extract(line, %s, [%s]) END AS _rx"
         % (quote_sql(regex), ", ".join(quote_sql(n) for n in names)),),
    )


def pick(fast, name):
    """SQL: a field from the split parts when the line had the expected shape, else from ``_rx``."""
    return "nullif(CASE WHEN _fast THEN %s ELSE _rx.%s END, '')" % (fast, name)


UNMATCHED = "CASE WHEN NOT _fast AND _rx.%s = '' THEN 'bad format' END"
