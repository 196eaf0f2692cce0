"""Export the store to Parquet, one directory per day (``day=YYYY-MM-DD``).

The files carry every column of table ``requests``, ``day`` included, so a
reader that ignores the directory names (or one that uses them, such as
Spark's) sees the store's schema.
"""

from pathlib import Path

import duckdb


def export_parquet(db_path, out_dir):
    """Write the requests under ``out_dir`` (replaced); return ``(rows, days)``."""
    out_dir = Path(out_dir)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        con.execute("SET enable_progress_bar = false")
        rows, days = con.execute("SELECT count(*), count(DISTINCT day) FROM requests").fetchall()[0]
        target = str(out_dir).replace("'", "''")
        con.execute("COPY (SELECT * FROM requests ORDER BY ts) TO '%s' (FORMAT parquet, PARTITION_BY (day),"
                    " WRITE_PARTITION_COLUMNS true, OVERWRITE true, COMPRESSION zstd)" % target)
        return rows, days
    finally:
        con.close()
