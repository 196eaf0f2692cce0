"""Export the store to Parquet, one directory per day (``day=YYYY-MM-DD``).

The files carry every column of table ``requests``, ``day`` included, so a
reader that ignores the directory names (or one that uses them, such as
Spark's) sees the store's schema.

The export is written beside the folder and then put in its place, so that
a reader sees the previous export or the new one. It replaces only what an
export wrote: a folder that holds anything else is refused.
"""

import os
import shutil
from pathlib import Path

import duckdb

from .files import OutputError
from .store import connect


def _foreign_entries(out_dir):
    return sorted(e.name for e in out_dir.iterdir() if not (e.is_dir() and e.name.startswith("day=")))


def export_parquet(db_path, out_dir):
    """Write the requests under ``out_dir`` (replacing an earlier export there); return ``(rows, days)``."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise OutputError("%s: not a folder; name a new folder or an earlier export" % out_dir)
        foreign = _foreign_entries(out_dir)
        if foreign:
            raise OutputError("%s: holds %s, which no export wrote; name a new folder or an earlier export"
                              % (out_dir, ", ".join(foreign[:3]) + (" and more" if len(foreign) > 3 else "")))
    suffix = os.urandom(4).hex()
    fresh = out_dir.parent / (".%s.export-%s" % (out_dir.name, suffix))
    con = connect(db_path, read_only=True)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        con.execute("SET enable_progress_bar = false")
        rows, days = con.execute("SELECT count(*), count(DISTINCT day) FROM requests").fetchall()[0]
        target = str(fresh).replace("'", "''")
        con.execute("COPY (SELECT * FROM requests ORDER BY ts) TO '%s' (FORMAT parquet, PARTITION_BY (day),"
                    " WRITE_PARTITION_COLUMNS true, COMPRESSION zstd)" % target)
        fresh.mkdir(exist_ok=True)  # a store of no requests: an empty export
        old = out_dir.parent / (".%s.old-%s" % (out_dir.name, suffix))
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(fresh, out_dir)
        shutil.rmtree(old, ignore_errors=True)
        return rows, days
    except OSError as exc:
        raise OutputError("%s: cannot write the export (%s)" % (out_dir, exc.strerror or exc)) from None
    except duckdb.IOException as exc:
        raise OutputError("%s: cannot write the export (%s)" % (out_dir, str(exc).splitlines()[0])) from None
    finally:
        con.close()
        shutil.rmtree(fresh, ignore_errors=True)
