"""Amazon CloudFront standard logs (the legacy access logs).

Tab-separated, one request per line, after ``#Version:`` and ``#Fields:``
header lines that name the columns; ``-`` means no value. The times are UTC.
The user agent is URL-encoded (spaces are ``%20``; some distributions encode
it twice, ``%2520``). Example (columns cut)::

    #Version: 1.0
    #Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status ...
    2026-10-10	13:55:36	FRA56-P1	2326	192.0.2.10	GET	d1.cloudfront.net	/main/noarch/repodata.json	200

The request's path and query are kept URL-encoded, as a web server logs them.
"""

import re

from .base import Layout, LogFormat, dash_null

# The columns of a standard log, for a file whose first lines have no usable #Fields header.
STANDARD_FIELDS = (
    "date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)", "cs-uri-stem", "sc-status",
    "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)", "x-edge-result-type", "x-edge-request-id",
    "x-host-header", "cs-protocol", "cs-bytes", "time-taken", "x-forwarded-for", "ssl-protocol", "ssl-cipher",
    "x-edge-response-result-type", "cs-protocol-version", "fle-status", "fle-encrypted-fields", "c-port",
    "time-to-first-byte", "x-edge-detailed-result-type", "sc-content-type", "sc-content-len", "sc-range-start",
    "sc-range-end",
)
_NEEDED = ("date", "time", "c-ip", "cs-method", "cs-uri-stem", "sc-status", "sc-bytes")


def _decoded_agent(expr):
    once = "url_decode(%s)" % expr
    # Decoded once and still encoded (no space, an encoded one): it was encoded twice.
    return "CASE WHEN contains(%s, '%%20') AND NOT contains(%s, ' ') THEN url_decode(%s) ELSE %s END" % (
        once, once, once, once)


class CloudFront(LogFormat):
    name = "cloudfront"
    header_lines = True
    line_pattern = re.compile(rb"^(?:#Version: |#Fields: date\s+time\s|\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\t)")

    def layout(self, head_lines):
        fields = STANDARD_FIELDS
        for line in head_lines:
            if line.startswith(b"#Fields:"):
                fields = tuple(line[len(b"#Fields:"):].decode("ascii", "replace").split())
                break
        if not all(name in fields for name in _NEEDED):
            fields = STANDARD_FIELDS

        def get(name):
            return "_f[%d]" % (fields.index(name) + 1) if name in fields else "NULL"

        query = dash_null(get("cs-uri-query"))
        request = "concat(%s, ' ', %s, CASE WHEN %s <> '' THEN '?' || %s ELSE '' END, ' ', %s)" % (
            get("cs-method"), get("cs-uri-stem"), query, query,
            "coalesce(%s, 'HTTP/1.1')" % dash_null(get("cs-protocol-version")))
        return Layout(self.name, {
            "ip": get("c-ip"),
            "request": request,
            "user_agent": _decoded_agent(dash_null(get("cs(User-Agent)"))),
            "ts": "CAST(try_strptime(%s || ' ' || %s, '%%Y-%%m-%%d %%H:%%M:%%S') AS TIMESTAMP)"
                  % (get("date"), get("time")),
            "status": get("sc-status"),
            "bytes": get("sc-bytes"),
            "reason": "CASE WHEN starts_with(line, '#') THEN 'header' WHEN array_length(_f) <> %d THEN 'bad format' END"
                      % len(fields),
        }, (("string_split(line, '\t') AS _f",),), columns=fields)
