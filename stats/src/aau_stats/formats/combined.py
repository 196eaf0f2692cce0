"""nginx and Apache access logs: ``combined``, ``common`` and ``vhost_combined``.

A line of ``combined``::

    1.2.3.4 - user [10/Oct/2026:13:55:36 +0000] "GET /path HTTP/1.1" 200 2326 "referer" "user agent"

Split on spaces with ``"`` as the quote and ``\\`` as the escape (Apache
writes ``\\"`` inside quoted fields; nginx writes ``\\x22``), the time
becomes two columns (``[10/Oct/2026:13:55:36`` and ``+0000]``). ``common`` stops
after the byte count; ``vhost_combined`` starts with the virtual host.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class LineFormat:
    name: str
    columns: tuple  # text columns, in order
    detector: "re.Pattern[bytes]"

    def reader_columns(self):
        """The ``columns=`` argument of DuckDB's ``read_csv``."""
        return "{%s}" % ", ".join("'%s': 'VARCHAR'" % c for c in self.columns)

    def raw_fields(self):
        """SQL expressions for the raw request fields, over the reader's columns."""
        return {
            "ip": "ip",
            "time_text": "time_1 || ' ' || time_2",
            "request": "request",
            "status_text": "status",
            "bytes_text": "bytes",
            "user_agent": "user_agent" if "user_agent" in self.columns else "NULL",
        }


_QUOTED = rb'"(?:[^"\\]|\\.)*"'
_HEAD = rb"\S+ \S+ \S+ \[[^\]]+\] " + _QUOTED + rb" \d{3} \S+"
_COMMON = ("ip", "ident", "auth_user", "time_1", "time_2", "request", "status", "bytes")
_COMBINED = (*_COMMON, "referer", "user_agent")

FORMATS = {
    "combined": LineFormat("combined", _COMBINED, re.compile(rb"^" + _HEAD + rb" " + _QUOTED + rb" " + _QUOTED)),
    "vhost_combined": LineFormat("vhost_combined", ("vhost", *_COMBINED),
                                 re.compile(rb"^\S+ " + _HEAD + rb" " + _QUOTED + rb" " + _QUOTED)),
    "common": LineFormat("common", _COMMON, re.compile(rb"^" + _HEAD + rb"\s*$")),
}


def detect(sample_lines):
    """The format most of ``sample_lines`` (bytes) match, or ``None``."""
    votes = {}
    for line in sample_lines:
        for name, fmt in FORMATS.items():
            if fmt.detector.match(line):
                votes[name] = votes.get(name, 0) + 1
                break
    return max(votes, key=votes.get) if votes else None
