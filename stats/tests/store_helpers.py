"""What the analytics tests share: reading a store as a user of DuckDB would."""

import duckdb


def rows(db, sql):
    """The rows of ``sql`` on the store at ``db``, opened read-only."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
