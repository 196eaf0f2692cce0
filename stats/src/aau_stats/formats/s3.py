"""Amazon S3 server access logs.

Space-separated like Apache's, with quoted request, referer and user agent::

    79a5...ef2be conda-pkgs [06/Feb/2026:00:00:38 +0000] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.OBJECT
    main/linux-64/zlib-1.3.1-h4ab18f5_1.conda "GET /main/linux-64/zlib-1.3.1-h4ab18f5_1.conda HTTP/1.1"
    200 - 89129 89129 12 11 "-" "conda/24.11.3 ..." - s9lz...= SigV4 ... AuthHeader host TLSv1.3 - -

(one line in the log). AWS appends fields over the years, so a line may
end after the user agent or carry fields not listed here; only the fields
up to the user agent are read. The path is ``/`` + the object key, so
path-style requests (``/bucket/key``) and virtual-host ones read the same.
"""

import re

from .base import QUOTED_RE, UNMATCHED, Layout, LogFormat, pick, split_or_match
from .combined import BRACKET_TIME, QUOTED

_NAMES = ("bucket_owner", "bucket", "time", "ip", "requester", "request_id", "operation", "key", "request_uri",
          "status", "error_code", "bytes", "object_size", "total_time", "turn_around_time", "referer", "user_agent")
_REGEX = "^(\\S+) (\\S+) (\\[[^\\]]*\\]) (\\S+) (\\S+) (\\S+) (\\S+) (\\S+) %s (\\S+) (\\S+) (\\S+) (\\S+) (\\S+) (\\S+)" \
         " %s %s(?: .*)?$" % (QUOTED_RE, QUOTED_RE, QUOTED_RE)


class S3Access(LogFormat):
    name = "s3"
    line_pattern = re.compile(rb"^\S+ \S+ \[[^\]]+\] \S+ \S+ \S+ [A-Z0-9_]+\.\S+ \S+ " + QUOTED + rb" (?:\d{3}|-) ")

    def layout(self, head_lines):
        # _q: head, request, middle, referer, " ", user agent, rest; _h: the head's 9 fields; _m: the middle's 6.
        fast_ok = ("array_length(_q) = 7 AND array_length(_h) = 10 AND _h[10] = ''"
                   " AND array_length(_m) = 8 AND _m[1] = '' AND _m[8] = ''"
                   " AND _q[5] = ' ' AND (_q[7] = '' OR starts_with(_q[7], ' ')) AND NOT contains(line, '\\\"')")
        stages = (
            ("string_split(line, '\"') AS _q",),
            *split_or_match(("string_split(_q[1], ' ') AS _h", "string_split(_q[3], ' ') AS _m"),
                            fast_ok, _REGEX, _NAMES),
            ("%s AS _key" % pick("_h[9]", "key"), "%s AS _uri" % pick("_q[2]", "request_uri")),
        )
        request = ("CASE WHEN _key <> '-' AND _uri LIKE '% % %' THEN concat(split_part(_uri, ' ', 1),"
                   " ' /', _key, ' ', split_part(_uri, ' ', 3)) ELSE _uri END")
        return Layout(self.name, {
            "ip": pick("_h[5]", "ip"),
            "request": request,
            "user_agent": "nullif(%s, '-')" % pick("_q[6]", "user_agent"),
            "ts": BRACKET_TIME % pick("_h[3] || ' ' || _h[4]", "time"),
            "status": pick("_m[2]", "status"),
            "bytes": pick("_m[4]", "bytes"),
            "reason": UNMATCHED % "bucket_owner",
        }, stages)
