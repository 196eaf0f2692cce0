"""Cloudflare Logpush ``http_requests`` as JSON lines.

One JSON object per line with the fields the job was set up to send; the
ones used here are ``ClientIP``, ``ClientRequestMethod``,
``ClientRequestURI`` (path and query), ``ClientRequestProtocol``,
``ClientRequestUserAgent``, ``EdgeStartTimestamp``, ``EdgeResponseStatus``
and ``EdgeResponseBytes``. ``EdgeStartTimestamp`` is RFC 3339 text or a
Unix time in seconds, milliseconds, microseconds or nanoseconds (Logpush's
``timestamp_format`` option); the magnitude says which. A number with a
fraction is seconds, also in exponent notation (Spark's JSON functions
write ``1.79164053625E9`` for ``1791640536.25``). A missing method is
recorded as ``-``, never guessed; missing bytes count as 0.
"""

import re

from .base import Layout, LogFormat

_KEYS = ("ClientIP", "ClientRequestMethod", "ClientRequestURI", "ClientRequestProtocol",
         "ClientRequestUserAgent", "EdgeStartTimestamp", "EdgeResponseStatus", "EdgeResponseBytes")


def _value(key):
    return "json_values[%d]" % (_KEYS.index(key) + 1)


# 10000-01-01 in microseconds since 1970: numbers at or past it are no time (and would overflow).
_MICROS_LIMIT = 253402300800000000


def _from_micros(micros):
    return "CASE WHEN %(m)s < %(limit)d THEN make_timestamp(CAST(%(m)s AS BIGINT)) END" % {
        "m": micros, "limit": _MICROS_LIMIT}


def _timestamp(text):
    number = "CAST(%s AS HUGEINT)" % text
    micros = ("CASE WHEN %(n)s >= 100000000000000000 THEN %(n)s // 1000 WHEN %(n)s >= 100000000000000 THEN %(n)s"
              " WHEN %(n)s >= 100000000000 THEN %(n)s * 1000 ELSE %(n)s * 1000000 END" % {"n": number})
    # A fraction or an exponent: seconds, in a DOUBLE that try_cast turns into NULL when it overflows.
    fraction = "try_cast(try_cast(%s AS DOUBLE) * 1000000 AS HUGEINT)" % text
    return ("CASE WHEN regexp_full_match(%(t)s, '[0-9]{1,20}') THEN %(whole)s"
            " WHEN regexp_full_match(%(t)s, '[0-9]{1,12}\\.[0-9]{1,20}(E[0-9]{1,2})?') THEN %(fraction)s"
            " ELSE CAST(try_cast(%(t)s AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) END"
            % {"t": text, "whole": _from_micros(micros), "fraction": _from_micros(fraction)})


class CloudflareJSON(LogFormat):
    name = "cloudflare"
    line_pattern = re.compile(rb'^\s*\{.*"(?:ClientRequestURI|ClientIP|EdgeStartTimestamp)"\s*:')

    def layout(self, head_lines):
        paths = ", ".join("'$.%s'" % key for key in _KEYS)
        return Layout(self.name, {
            "reason": "CASE WHEN NOT json_valid(line) OR json_type(line) <> 'OBJECT' THEN 'bad json'"
                      " WHEN %s IS NULL THEN 'bad format' END" % _value("ClientRequestURI"),
            "ip": _value("ClientIP"),
            "request": "concat(coalesce(nullif(%s, ''), '-'), ' ', %s, ' ', coalesce(nullif(%s, ''), 'HTTP/1.1'))"
                       % (_value("ClientRequestMethod"), _value("ClientRequestURI"), _value("ClientRequestProtocol")),
            "user_agent": "nullif(%s, '')" % _value("ClientRequestUserAgent"),
            "ts": _timestamp(_value("EdgeStartTimestamp")),
            "status": _value("EdgeResponseStatus"),
            "bytes": "coalesce(%s, '0')" % _value("EdgeResponseBytes"),
        }, (("CASE WHEN json_valid(line) THEN json_extract_string(line, [%s]) END AS json_values" % paths,),))
