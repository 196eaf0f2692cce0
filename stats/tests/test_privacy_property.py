"""A property over every log format: whatever is done to a line (cut, junk put into it, made too long,
its address spelled any way), no raw token and no raw address reaches any byte of a pseudonymised store,
its tables or the ingest's report, and every line is accounted for."""

import io
import json

import duckdb
import pytest
from aau_stats.cli import _print_report
from aau_stats.formats.base import MAX_LINE_BYTES
from aau_stats.ingest import ingest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_formats import PKG, cloudfront_line, s3_line

TOKEN = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=22, max_size=22)
# Addresses no other part of a line holds, in the spellings logs have: the secret is the address itself.
OCTET = st.integers(min_value=1, max_value=254)
IPV4 = OCTET.map(lambda n: "198.51.100.%d" % n)
IPV6 = st.integers(min_value=1, max_value=0xFFFF).map(lambda n: "2001:db8:77:5::%x" % n)
ADDRESS = st.one_of(
    IPV4.map(lambda a: (a, a)),
    IPV4.map(lambda a: (a + ":443", a)),
    IPV4.map(lambda a: ("::ffff:" + a, a)),
    IPV6.map(lambda a: (a, a)),
    IPV6.map(lambda a: (a.upper(), a)),
    IPV6.map(lambda a: ("[%s]" % a, a)),
    IPV6.map(lambda a: (a.replace("::", ":0:0:0:"), a)),
    IPV6.map(lambda a: (a + "::1", a)),  # two "::": no address, still one to keep out of the store
)


def agent(c, s, e):
    return "conda/24.11.3 requests/2.32.3 CPython/3.12.7 Linux/6.8 aau/0.9.0 c/%s s/%s e/%s" % (c, s, e)


def combined(ip, ua):
    return '%s - - [10/Oct/2026:13:55:36 +0000] "GET %s HTTP/1.1" 200 5 "-" "%s"' % (ip, PKG, ua)


LINES = {
    "combined": combined,
    "common": lambda ip, ua: '%s - - [10/Oct/2026:13:55:36 +0000] "GET %s HTTP/1.1" 200 5' % (ip, PKG),
    "vhost_combined": lambda ip, ua: "conda.example.com:443 " + combined(ip, ua),
    "cloudfront": lambda ip, ua: cloudfront_line(ip=ip, agent=ua.replace(" ", "%20")).rstrip("\n"),
    "cloudflare": lambda ip, ua: json.dumps({
        "ClientIP": ip, "ClientRequestMethod": "GET", "ClientRequestURI": PKG, "ClientRequestProtocol": "HTTP/2",
        "ClientRequestUserAgent": ua, "EdgeStartTimestamp": "2026-10-10T13:55:36Z", "EdgeResponseStatus": 200,
        "EdgeResponseBytes": 5}),
    "s3": lambda ip, ua: s3_line(agent=ua).rstrip("\n").replace(" 192.0.2.3 ", " %s " % ip),
}

JUNK = st.sampled_from([b"\xff", b"\xc3", b"\x00", b'"', b"\\", b"\t", b" ", b"\r", b"{", b"]", b"#"])
CHANGE = st.one_of(
    st.just(("keep",)),
    st.tuples(st.just("cut"), st.floats(min_value=0, max_value=1)),
    st.tuples(st.just("junk"), st.floats(min_value=0, max_value=1), JUNK),
    st.tuples(st.just("long"), st.floats(min_value=0, max_value=1)),
)
LINE = st.tuples(ADDRESS, TOKEN, TOKEN, TOKEN, CHANGE)


def changed(line, change):
    if change[0] == "keep":
        return line
    at = int(len(line) * change[1])
    if change[0] == "cut":
        return line[:at]
    if change[0] == "junk":
        return line[:at] + change[2] + line[at:]
    return line[:at] + b"x" * (MAX_LINE_BYTES + 1) + line[at:]  # too long for the reader


def store_text(db):
    """Every value of every table of the store, as text."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()]
        return "".join(repr(con.execute('SELECT * FROM "%s"' % name).fetchall()) for name in tables)
    finally:
        con.close()


@pytest.mark.parametrize("fmt", sorted(LINES))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(LINE, min_size=1, max_size=6), newline_end=st.booleans())
def test_no_raw_token_or_address_leaves_any_line(tmp_path_factory, fmt, lines, newline_end):
    secrets, data = set(), []
    for (spelled, address), c, s, e, change in lines:
        secrets.update((address, c, s, e))
        data.append(changed(LINES[fmt](spelled, agent(c, s, e)).encode(), change))
    data = b"\n".join(data) + (b"\n" if newline_end else b"")
    work = tmp_path_factory.mktemp("privacy")
    (work / "in.log").write_bytes(data)
    db = work / "store.duckdb"
    (report,) = ingest([str(work / "in.log")], db, fmt=fmt)

    assert report.lines == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert report.lines == report.parsed + report.rejected_total + report.blank + report.headers
    printed = io.StringIO()
    _print_report(report, printed)
    stored = db.read_bytes() + (db.with_name(db.name + ".wal").read_bytes()
                                if db.with_name(db.name + ".wal").exists() else b"")
    for where, text in (("the store's file", stored),
                        ("the store's tables", store_text(db).encode()),
                        ("the report", (printed.getvalue() + repr(report.samples)).encode())):
        for secret in secrets:
            assert secret.encode() not in text, "%s holds a raw value" % where
