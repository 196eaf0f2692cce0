"""Which input is which: a log that grew, was cut mid-line, was copied while written, or merely starts
like another. The store must end as a clean run of the whole files would leave it: every request once,
no line cut by a truncation rejected for good, and no different file skipped for sharing a start.
"""

import gzip
import zlib

import duckdb
from aau_stats.ingest import ingest
from test_faults import log_lines

from store_helpers import rows


def write(path, data):
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def stored(db):
    """(requests, rejected lines, lines accounted) of the store."""
    (requests,) = rows(db, "SELECT count(*) FROM request_rows")[0]
    (rejected,) = rows(db, "SELECT coalesce(sum(lines), 0) FROM rejections")[0]
    (lines,) = rows(db, "SELECT coalesce(sum(lines_done), 0) FROM sources")[0]
    return requests, rejected, lines


def test_a_truncated_gzip_then_the_whole_file_stores_what_a_clean_run_stores(tmp_path):
    text = log_lines(4541)
    whole = gzip.compress(text.encode())
    clean_db, db = tmp_path / "clean.duckdb", tmp_path / "store.duckdb"
    ingest([str(write(tmp_path / "clean.log.gz", whole))], clean_db)
    log = tmp_path / "access.log.gz"
    write(log, whole[: len(whole) * 2 // 3])  # copied while it was still being written
    (first,) = ingest([str(log)], db)
    assert "truncated" in first.note and first.rejected_total == 1  # the line the cut went through
    write(log, whole)
    (second,) = ingest([str(log)], db)
    assert second.rejected_total == 0 and "read again" in second.note
    assert first.parsed + second.parsed == 4541
    assert stored(db) == stored(clean_db) == (4541, 0, 4541)


def test_a_plain_log_read_mid_line_then_grown_stores_every_request_once(tmp_path):
    text = log_lines(200)
    cut = text.index("\n", len(text) // 2) - 40  # inside the 101st line's user agent
    log = write(tmp_path / "access.log", text[:cut])
    db = tmp_path / "store.duckdb"
    ingest([str(log)], db)
    write(log, text)
    (second,) = ingest([str(log)], db)
    assert second.rejected_total == 0
    assert stored(db) == (200, 0, 200)


def test_a_newline_that_arrives_later_is_not_a_blank_line(tmp_path):
    lines = log_lines(3).splitlines(keepends=True)
    log = write(tmp_path / "access.log", lines[0] + lines[1].rstrip("\n"))
    db = tmp_path / "store.duckdb"
    (first,) = ingest([str(log)], db)
    assert (first.lines, first.parsed) == (2, 2)  # a last line without its newline is complete here
    write(log, "".join(lines[:2]))
    (second,) = ingest([str(log)], db)
    assert (second.lines, second.blank) == (0, 0)
    write(log, "".join(lines))
    (third,) = ingest([str(log)], db)
    assert (third.lines, third.parsed, third.blank) == (1, 1, 0)
    assert stored(db) == (3, 0, 3)


def _sharing_a_start(count, other_start):
    """A log of ``count`` lines whose first lines (over 4 KiB) are those of log_lines, the rest others."""
    shared = log_lines(30)
    assert len(shared) > 4096
    return shared + log_lines(count - 30, start=other_start)


def test_a_different_file_that_starts_the_same_is_read_whole(tmp_path):
    db = tmp_path / "store.duckdb"
    ingest([str(write(tmp_path / "a.log", log_lines(140)))], db)
    (other,) = ingest([str(write(tmp_path / "b.log", _sharing_a_start(140, 5000)))], db)
    assert (other.already, other.lines, other.parsed) == (0, 140, 140)
    assert stored(db) == (280, 0, 280)


def test_a_shorter_different_file_that_starts_the_same_is_read_whole(tmp_path):
    db = tmp_path / "store.duckdb"
    ingest([str(write(tmp_path / "a.log", log_lines(140)))], db)
    (other,) = ingest([str(write(tmp_path / "b.log", _sharing_a_start(100, 5000)))], db)
    assert (other.lines, other.parsed, other.note) == (100, 100, "")
    assert stored(db) == (240, 0, 240)


def test_a_shorter_copy_of_an_ingested_file_is_not_counted_twice(tmp_path):
    db = tmp_path / "store.duckdb"
    text = log_lines(140)
    ingest([str(write(tmp_path / "a.log", text))], db)
    (copy,) = ingest([str(write(tmp_path / "early-copy.log", "".join(text.splitlines(True)[:90])))], db)
    assert copy.lines == 0 and "shorter" in copy.note
    assert stored(db) == (140, 0, 140)


def test_each_of_two_files_that_start_the_same_grows_on_its_own(tmp_path):
    db = tmp_path / "store.duckdb"
    a_text, b_text = log_lines(200), _sharing_a_start(200, 5000)
    half = lambda text: "".join(text.splitlines(True)[:120])  # noqa: E731
    a, b = write(tmp_path / "a.log", half(a_text)), write(tmp_path / "b.log", half(b_text))
    ingest([str(a), str(b)], db)
    write(a, a_text)
    write(b, b_text)
    reports = ingest([str(b), str(a)], db)
    assert [(r.already, r.lines) for r in reports] == [(120, 80), (120, 80)]
    assert stored(db) == (400, 0, 400)
    assert rows(db, "SELECT count(*) FROM sources")[0] == (2,)


def test_a_rotated_copy_of_a_grown_file_is_still_recognised(tmp_path):
    db = tmp_path / "store.duckdb"
    text = log_lines(300)
    log = write(tmp_path / "access.log", text[: text.index("\n", 9000) + 1])
    ingest([str(log)], db)
    write(tmp_path / "access.log.1.gz", gzip.compress(text.encode()))
    (rotated,) = ingest([str(tmp_path / "access.log.1.gz")], db)
    assert rotated.already > 0 and rotated.already + rotated.lines == 300
    assert stored(db) == (300, 0, 300)


def test_a_store_from_before_block_checks_is_read_and_upgraded(tmp_path):
    db = tmp_path / "store.duckdb"
    text = log_lines(200)
    log = write(tmp_path / "access.log", "".join(text.splitlines(True)[:150]))
    ingest([str(log)], db)
    con = duckdb.connect(str(db))
    for column in ("blocks", "tail_bytes", "tail_reason"):
        con.execute("ALTER TABLE sources DROP COLUMN %s" % column)  # as an older version left it
    con.close()
    write(log, text)
    (grown,) = ingest([str(log)], db)
    assert (grown.already, grown.lines) == (150, 50)
    (blocks,) = rows(db, "SELECT blocks FROM sources")[0]
    assert len(blocks) == 4 * -(-len(text) // 4096)
    assert int.from_bytes(blocks[:4], "little") == zlib.crc32(text[:4096].encode())
    assert stored(db) == (200, 0, 200)


def _everything(db):
    """What a store holds, in a form two stores can be compared by: the values, not the numbers each store gives
    them in the order they arrive (the sessions' counting keys, the kept downloads' references)."""
    queries = {
        "requests": "SELECT * EXCLUDE (source_id) FROM requests ORDER BY ALL",
        "sessions": "SELECT * EXCLUDE (c_id, e_id) FROM sessions ORDER BY ALL",
        # A key may be on several rows (one per input or part): added up.
        "downloads": "SELECT p.day, d.ip, l.method, l.path, tc.value AS c, te.value AS e, sum(p.downloads),"
                     " min(p.first_ts) FROM download_rows p JOIN addresses d USING (address_id) JOIN request_lines l"
                     " USING (line_id) LEFT JOIN token_values tc ON tc.token_id = p.client_id LEFT JOIN token_values te"
                     " ON te.token_id = p.env_id GROUP BY ALL ORDER BY ALL",
        "rejections": "SELECT reason, lines, samples FROM rejections ORDER BY ALL",
        "sources": "SELECT format, bytes_done, lines_done, tail_bytes, tail_reason FROM sources ORDER BY ALL",
    }
    with duckdb.connect(str(db), read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in queries.items()}


def _in_parts_and_whole(tmp_path, monkeypatch, name, data, part_bytes):
    from aau_stats import ingest as ingest_module

    log = write(tmp_path / name, data)
    (whole,) = ingest([str(log)], tmp_path / "whole.duckdb")
    # The same key: the same pseudonyms and ids.
    (tmp_path / "parts.duckdb.key").write_bytes((tmp_path / "whole.duckdb.key").read_bytes())
    monkeypatch.setattr(ingest_module, "PART_BYTES", part_bytes)
    made = []
    real = ingest_module._Parts.write

    def counting(self, piece):
        real(self, piece)
        made[:] = self.paths

    monkeypatch.setattr(ingest_module._Parts, "write", counting)
    (parts,) = ingest([str(log)], tmp_path / "parts.duckdb")
    return whole, parts, made


def test_a_log_parsed_in_many_parts_stores_what_it_stores_parsed_whole(tmp_path, monkeypatch):
    """Large inputs are parsed a part at a time (bounded memory); the parts must not show: the same
    requests, sessions (a session spans parts), rejections and samples, and the same cut last line."""
    lines = log_lines(600).splitlines(keepends=True)
    lines[10] = "not a log line\n"
    lines[250] = "\r\n"  # a blank line with a Windows line end
    lines[400] = lines[400].replace("10.0.1.144", "10.0.1.999")  # a bad address
    lines[401] = "\xff" + lines[401]  # not UTF-8 once the text is encoded as latin-1
    text = "".join(lines)
    data = text.encode("latin-1")[:-60]  # the last line cut inside its user agent: rejected, and its length kept
    whole, parts, made = _in_parts_and_whole(tmp_path, monkeypatch, "access.log", data, 4096)
    assert len(made) > 20  # many parts were parsed
    assert (parts.lines, parts.parsed, parts.blank, parts.rejected) == (
        whole.lines, whole.parsed, whole.blank, whole.rejected)
    assert whole.rejected == {"bad format": 2, "bad address": 1, "bad encoding": 1} and whole.blank == 1
    assert _everything(tmp_path / "parts.duckdb") == _everything(tmp_path / "whole.duckdb")


def test_concatenated_cloudfront_logs_parsed_in_parts_keep_each_header_for_the_lines_after_it(tmp_path, monkeypatch):
    from test_formats import concatenated_cloudfront

    text = concatenated_cloudfront() * 40
    whole, parts, made = _in_parts_and_whole(tmp_path, monkeypatch, "concatenated.log", text, 1024)
    assert len(made) > 5
    assert (whole.parsed, whole.rejected) == (80, {"bad format": 40})
    assert (parts.lines, parts.parsed, parts.headers, parts.rejected) == (
        whole.lines, whole.parsed, whole.headers, whole.rejected)
    assert _everything(tmp_path / "parts.duckdb") == _everything(tmp_path / "whole.duckdb")
