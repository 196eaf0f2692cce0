"""nginx and Apache access logs: ``combined``, ``common`` and ``vhost_combined``.

A line of ``combined``::

    1.2.3.4 - user [10/Oct/2026:13:55:36 +0000] "GET /path HTTP/1.1" 200 2326 "referer" "user agent"

Quoted values are kept as the server wrote them (nginx escapes ``"`` as
``\\x22``, Apache as ``\\"``). Lines are cut at their quotes and spaces when
they have exactly the expected shape (the usual case, and fast); any other
line is matched by a regular expression that also understands escaped
quotes. ``common`` stops after the byte count; ``vhost_combined`` starts
with the virtual host.
"""

import re

from .base import QUOTED_RE, UNMATCHED, Layout, LogFormat, pick, split_or_match

BRACKET_TIME = "CAST(try_strptime(%s, '[%%d/%%b/%%Y:%%H:%%M:%%S %%z]') AT TIME ZONE 'UTC' AS TIMESTAMP)"
QUOTED = QUOTED_RE.replace("(", "(?:", 1).encode()
_HEAD = rb"\S+ \S+ \S+ \[[^\]]+\] " + QUOTED + rb" \d{3} \S+"


class ApacheFamily(LogFormat):
    def __init__(self, name, vhost, agent, pattern):
        self.name = name
        self.vhost = vhost  # a leading virtual host field
        self.agent = agent  # referer and user agent after the byte count
        self.line_pattern = re.compile(pattern)

    def layout(self, head_lines):
        lead = 6 if self.vhost else 5  # space-separated fields before the request
        quotes = 7 if self.agent else 3
        regex = "^%s(\\S+) (\\S+) (\\S+) (\\[[^\\]]*\\]) %s (\\S+) (\\S+)%s\\s*$" % (
            "\\S+ " if self.vhost else "", QUOTED_RE, " %s %s" % (QUOTED_RE, QUOTED_RE) if self.agent else "")
        names = ["ip", "ident", "user", "time", "request", "status", "bytes"]
        names += ["referer", "user_agent"] if self.agent else []
        tail_ok = "array_length(_t) = 4 AND _t[4] = '' AND _q[5] = ' ' AND _q[7] = ''" if self.agent else (
            "array_length(_t) BETWEEN 3 AND 4 AND coalesce(_t[4], '') = ''")
        fast_ok = ("array_length(_q) = %d AND array_length(_h) = %d AND _h[%d] = '' AND _t[1] = '' AND %s"
                   " AND NOT contains(line, '\\\"')" % (quotes, lead + 1, lead + 1, tail_ok))
        ip = lead - 4
        stages = (
            ("string_split(line, '\"') AS _q",),
            *split_or_match(("string_split(_q[1], ' ') AS _h", "string_split(_q[3], ' ') AS _t"),
                            fast_ok, regex, names),
        )
        return Layout(self.name, {
            "ip": pick("_h[%d]" % ip, "ip"),
            "request": pick("_q[2]", "request"),
            "user_agent": pick("_q[6]", "user_agent") if self.agent else "NULL",
            "ts": BRACKET_TIME % pick("_h[%d] || ' ' || _h[%d]" % (lead - 1, lead), "time"),
            "status": pick("_t[2]", "status"),
            "bytes": pick("_t[3]", "bytes"),
            "reason": UNMATCHED % "ip",
        }, stages)


COMBINED = ApacheFamily("combined", False, True, rb"^" + _HEAD + rb" " + QUOTED + rb" " + QUOTED)
VHOST_COMBINED = ApacheFamily("vhost_combined", True, True, rb"^\S+ " + _HEAD + rb" " + QUOTED + rb" " + QUOTED)
COMMON = ApacheFamily("common", False, False, rb"^" + _HEAD + rb"\s*$")
