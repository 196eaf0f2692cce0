"""Each log format as its documentation describes it, and arbitrary bytes thrown at every parser."""

import json

import pytest
from aau_stats.formats import detect
from aau_stats.ingest import ingest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store_helpers import rows

C, S, E = "AbCdEfGhIjKlMnOpQrStU_", "s" * 22, "e-" * 11
UA = "conda/24.11.3 requests/2.32.3 CPython/3.12.7 Darwin/24.1.0 OSX/15.1 aau/0.8.0 c/%s s/%s e/%s" % (C, S, E)
PKG = "/pkgs/main/osx-arm64/zlib-1.3.1-h5f15de7_0.conda"


def one_file(tmp_path, name, text, **options):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    (report,) = ingest([str(path)], tmp_path / "store.duckdb", raw=True, **options)
    return report


MODEL = "SELECT CAST(ts AS VARCHAR), ip, method, path, status, bytes, channel, subdir, name, kind, client_family, c, s, e"


def expected(ts, ip, path=PKG, status=200, nbytes=89129, method="GET"):
    return (ts, ip, method, path, status, nbytes, "pkgs/main", "osx-arm64", "zlib", "package", "conda", C, S, E)


# CloudFront standard log: the #Fields line of the documentation (all 33 fields), user agent URL-encoded.
CF_FIELDS = ("date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
             "cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header "
             "cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type "
             "cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte "
             "x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end")


UA_ENCODED = UA.replace(" ", "%20")


def cloudfront_line(when="2026-10-10\t13:55:36", ip="192.0.2.10", path=PKG, agent=UA_ENCODED, query="-",
                    status="200"):
    return "\t".join([
        when, "FRA56-P1", "89129", ip, "GET", "d111111abcdef8.cloudfront.net", path, status, "-", agent, query,
        "-", "Hit", "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==", "conda.example.com", "https",
        "289", "0.002", "-", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "Hit", "HTTP/2.0", "-", "-", "11040", "0.002",
        "Hit", "application/octet-stream", "89129", "-", "-"]) + "\n"


def test_cloudfront_headers_are_counted_and_the_agent_is_decoded(tmp_path):
    text = "#Version: 1.0\n#Fields: %s\n" % CF_FIELDS + cloudfront_line() + cloudfront_line(
        ip="2001:db8::7", agent=UA.replace(" ", "%2520"), query="x=1")
    report = one_file(tmp_path, "E2EXAMPLE.2026-10-10-13.abcd1234", text)
    assert report.format == "cloudfront"
    assert (report.lines, report.parsed, report.headers, report.rejected_total) == (4, 2, 2, 0)
    got = rows(tmp_path / "store.duckdb", MODEL + " FROM requests ORDER BY ip")
    assert got == [expected("2026-10-10 13:55:36", "192.0.2.10"),
                   expected("2026-10-10 13:55:36", "2001:db8::7", path=PKG)]
    assert rows(tmp_path / "store.duckdb", "SELECT python_version, os_name FROM requests LIMIT 1") == [
        ("3.12.7", "Darwin")]


def test_cloudfront_columns_follow_the_files_own_fields_header(tmp_path):
    text = ("#Version: 1.0\n#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes cs(User-Agent)\n"
            "2026-10-11\t01:02:03\t198.51.100.4\tGET\t%s\t200\t89129\t%s\n" % (PKG, UA.replace(" ", "%20")))
    report = one_file(tmp_path, "custom.log", text)
    assert (report.parsed, report.headers) == (1, 2)
    assert rows(tmp_path / "store.duckdb", MODEL + " FROM requests") == [
        expected("2026-10-11 01:02:03", "198.51.100.4")]


def test_cloudfront_file_that_grows_keeps_its_header_columns(tmp_path):
    path = tmp_path / "cf.log"
    path.write_text("#Version: 1.0\n#Fields: %s\n" % CF_FIELDS + cloudfront_line())
    ingest([str(path)], tmp_path / "store.duckdb", raw=True)
    with open(path, "a") as handle:
        handle.write(cloudfront_line(when="2026-10-10\t14:00:00", ip="192.0.2.11"))
    (report,) = ingest([str(path)], tmp_path / "store.duckdb", raw=True)
    assert (report.already, report.lines, report.parsed, report.headers) == (3, 1, 1, 0)
    assert rows(tmp_path / "store.duckdb", "SELECT ip, c FROM requests ORDER BY ts") == [
        ("192.0.2.10", C), ("192.0.2.11", C)]


def concatenated_cloudfront():
    """Two CloudFront logs, one after the other: the second's header swaps two columns and lacks one; its
    second line has a column too many."""
    fields = CF_FIELDS.split()
    order = fields[:]
    status, size = order.index("sc-status"), order.index("sc-bytes")
    order[status], order[size] = order[size], order[status]
    order.remove("cs(Referer)")
    values = dict(zip(fields, cloudfront_line(status="404", ip="192.0.2.11").rstrip("\n").split("\t")))
    second = "\t".join(values[name] for name in order)
    return ("#Version: 1.0\n#Fields: " + CF_FIELDS + "\n" + cloudfront_line()
            + "#Version: 1.0\n#Fields: " + " ".join(order) + "\n" + second + "\n" + second + "\textra\n")


def test_each_cloudfront_header_governs_the_lines_after_it(tmp_path):
    """Concatenated logs: a second #Fields header in another order (and without one column) used to
    be read with the first one's order, storing the bytes as the status."""
    report = one_file(tmp_path, "concatenated.log", concatenated_cloudfront())
    assert (report.lines, report.parsed, report.headers, report.rejected) == (7, 2, 4, {"bad format": 1})
    assert rows(tmp_path / "store.duckdb", MODEL + " FROM requests ORDER BY status") == [
        expected("2026-10-10 13:55:36", "192.0.2.10"), expected("2026-10-10 13:55:36", "192.0.2.11", status=404)]


def test_cloudfront_rejected_lines_keep_no_token_in_their_samples(tmp_path):
    text = cloudfront_line(when="2026-13-45\t25:00:00") + cloudfront_line(
        when="2026-13-45\t25:00:00", agent=UA.replace(" ", "%2520"))
    report = one_file(tmp_path, "cf.log", text, fmt="cloudfront")
    assert report.rejected == {"bad time": 2}
    samples = rows(tmp_path / "store.duckdb", "SELECT samples FROM rejections")[0][0]
    assert len(samples) == 2
    assert all("c/*" in sample and C not in sample and S not in sample and E not in sample for sample in samples)


def cloudflare(**fields):
    record = {"ClientIP": "203.0.113.9", "ClientRequestHost": "conda.example.com", "ClientRequestMethod": "GET",
              "ClientRequestURI": PKG, "ClientRequestProtocol": "HTTP/2", "ClientRequestUserAgent": UA,
              "EdgeStartTimestamp": "2026-10-10T13:55:36Z", "EdgeResponseStatus": 200,
              "EdgeResponseBytes": 89129, "RayID": "7d1a2b3c4d5e6f70"}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not None}) + "\n"


@pytest.mark.parametrize("stamp", ["2026-10-10T13:55:36Z", "2026-10-10T15:55:36+02:00", 1791640536,
                                   1791640536000, 1791640536000000, 1791640536000000000, "1791640536000000000"])
def test_cloudflare_timestamps_in_every_logpush_format(tmp_path, stamp):
    report = one_file(tmp_path, "http_requests.log", cloudflare(EdgeStartTimestamp=stamp))
    assert (report.format, report.parsed) == ("cloudflare", 1)
    assert rows(tmp_path / "store.duckdb", MODEL + " FROM requests") == [
        expected("2026-10-10 13:55:36", "203.0.113.9")]


def test_cloudflare_bad_lines_are_rejected_by_reason(tmp_path):
    text = (cloudflare() + '{"ClientIP": "203.0.113.9", "truncated\n' + "[1, 2]\n"
            + cloudflare(ClientRequestURI=None) + cloudflare(EdgeStartTimestamp="yesterday")
            + cloudflare(ClientRequestMethod=None, ClientRequestURI="/pkgs/main/noarch/activate-0.0.0-0.conda",
                         EdgeResponseBytes=None))
    report = one_file(tmp_path, "cf.json", text)
    assert (report.lines, report.parsed) == (6, 2)
    assert report.rejected == {"bad json": 2, "bad format": 1, "bad time": 1}
    # The method was not logged: recorded as unknown, never guessed.
    assert rows(tmp_path / "store.duckdb", "SELECT method, kind, bytes FROM requests ORDER BY kind") == [
        ("-", "heartbeat", 0), ("GET", "package", 89129)]


@pytest.mark.parametrize("stamp", ["12345678901.5E99", "1.5E99", 1.5e99, 1e300, "NaN", "inf", "infinity",
                                   "-infinity", "99999999999999999999999", "9.9E20", "0000-01-01T00:00:00Z",
                                   "10000-01-01T00:00:00Z", "1969-12-31T23:59:59Z"])
def test_cloudflare_times_out_of_reach_reject_that_line_only(tmp_path, stamp):
    """A number too large for a time, a non-number or a year outside 1970-9999: 'bad time', and the
    lines around it are read (a DuckDB conversion error used to fail the whole file)."""
    report = one_file(tmp_path, "cf.json", cloudflare() + cloudflare(EdgeStartTimestamp=stamp) + cloudflare())
    assert (report.lines, report.parsed, report.rejected) == (3, 2, {"bad time": 1})


@pytest.mark.parametrize("year", ["0000", "1969", "10000"])
def test_a_year_no_server_writes_is_a_bad_time(tmp_path, year):
    line = '10.0.0.1 - - [10/Oct/%s:13:55:36 +0000] "GET %s HTTP/1.1" 200 89129 "-" "%s"\n'
    report = one_file(tmp_path, "access.log", line % ("2026", PKG, UA) + line % (year, PKG, UA))
    assert (report.lines, report.parsed, report.rejected) == (2, 1, {"bad time": 1})


def s3_line(key="pkgs/main/osx-arm64/zlib-1.3.1-h5f15de7_0.conda", uri="GET /conda-pkgs/%s HTTP/1.1",
            agent=UA, rest=" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4"
            " ECDHE-RSA-AES128-GCM-SHA256 AuthHeader conda-pkgs.s3.us-west-1.amazonaws.com TLSv1.2 - -"):
    return ('79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be conda-pkgs'
            ' [10/Oct/2026:13:55:36 +0000] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.OBJECT %s "%s" 200 - 89129'
            ' 89129 70 10 "-" "%s"%s\n' % (key, uri % key, agent, rest))


def test_s3_lines_old_new_and_longer_all_read_with_the_key_as_path(tmp_path):
    text = (s3_line() + s3_line(rest="") + s3_line(rest=" " + s3_line(rest="")[:-1].replace('"', "'"))
            + s3_line(agent='conda/24.11.3 \\"quoted\\" aau/0.8.0 c/%s s/%s e/%s' % (C, S, E)))
    report = one_file(tmp_path, "2026-10-10-13-55-36-ABCDEF", text)
    assert (report.format, report.lines, report.parsed, report.rejected_total) == ("s3", 4, 4, 0)
    got = rows(tmp_path / "store.duckdb", MODEL + " FROM requests")
    assert got == [expected("2026-10-10 13:55:36", "192.0.2.3")] * 4


def test_format_can_be_forced_and_a_wrong_one_rejects_every_line(tmp_path):
    report = one_file(tmp_path, "a.log", s3_line() + s3_line(), fmt="combined")
    assert (report.format, report.lines, report.parsed, report.rejected) == ("combined", 2, 0, {"bad format": 2})


@pytest.mark.parametrize("name,line", [
    ("combined", '1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "x"'),
    ("common", '1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1'),
    ("vhost_combined", 'example.org:443 1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "x"'),
    ("cloudfront", "#Version: 1.0"),
    ("cloudfront", cloudfront_line().strip()),
    ("cloudflare", cloudflare().strip()),
    ("s3", s3_line().strip()),
])
def test_detection(name, line):
    assert detect([line.encode()]) == name


# Arbitrary bytes at every parser: whatever the input, every line is accounted for, and the valid
# lines mixed into it are all parsed.
VALID = {
    "combined": '10.0.0.%d - - [10/Oct/2026:13:55:36 +0000] "GET %s HTTP/1.1" 200 5 "-" "%s"' % (1, PKG, UA),
    "common": '10.0.0.1 - - [10/Oct/2026:13:55:36 +0000] "GET %s HTTP/1.1" 200 5' % PKG,
    "vhost_combined": 'h:80 10.0.0.1 - - [10/Oct/2026:13:55:36 +0000] "GET %s HTTP/1.1" 200 5 "-" "%s"' % (PKG, UA),
    "cloudfront": cloudfront_line().strip(),
    "cloudflare": cloudflare().strip(),
    "s3": s3_line().strip(),
}
junk = st.one_of(
    st.binary(max_size=120),
    st.lists(st.sampled_from([b'"', b"\\", b"\r", b"\t", b" ", b"\n", b"#", b"{", b"}", b"[", b"]", b"\x00",
                              b"\xff", b"\xc3", b"-", b"a", b"1", b"\x01", b":"]), max_size=40).map(b"".join),
)


@pytest.mark.parametrize("fmt", sorted(VALID))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.one_of(st.just(None), junk), min_size=1, max_size=12), newline_end=st.booleans())
def test_arbitrary_bytes_are_all_accounted_for(tmp_path_factory, fmt, pieces, newline_end):
    # None stands for a valid line; junk pieces may hold line ends of their own.
    valid = VALID[fmt].encode()
    data = b"\n".join(valid if piece is None else piece for piece in pieces) + (b"\n" if newline_end else b"")
    work = tmp_path_factory.mktemp("fuzz")
    (work / "in.log").write_bytes(data)
    (report,) = ingest([str(work / "in.log")], work / "store.duckdb", fmt=fmt)
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert report.lines == lines
    assert report.lines == report.parsed + report.rejected_total + report.blank + report.headers
    # Pieces are joined by line ends, so junk never runs into a valid line: each is parsed.
    assert report.parsed >= pieces.count(None)
    assert "unreadable by the reader" not in report.rejected


@pytest.mark.parametrize("magic", [b"\x1f\x8b", b"\x28\xb5\x2f\xfd"])
def test_plain_file_that_starts_like_a_compressed_one_is_read_as_it_is(tmp_path, magic):
    report = one_file(tmp_path, "odd.log", magic + b" junk\n" + VALID["combined"].encode() + b"\n")
    assert (report.format, report.lines, report.parsed, report.rejected) == ("combined", 2, 1, {"bad encoding": 1})


@pytest.mark.parametrize("chunk", [1, 5, 9, 10, 64, 1 << 20])
def test_fields_headers_are_counted_across_read_chunks(tmp_path, monkeypatch, chunk):
    from aau_stats import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "_CHUNK", chunk)
    path = tmp_path / "cf.log"
    text = b"#Fields: a b\n1\t2\n#Fields: b a\n2\t1\n#Field: not one\nx#Fields: nor this\n"
    path.write_bytes(text)
    assert ingest_module._fields_headers([str(path)]) == 2
    # Parts of one input, cut at a line end: a header that starts the second part counts too.
    cut = text.index(b"#Fields: b a")
    (tmp_path / "part-1").write_bytes(text[:cut])
    (tmp_path / "part-2").write_bytes(text[cut:])
    assert ingest_module._fields_headers([str(tmp_path / "part-1"), str(tmp_path / "part-2")]) == 2
