"""One spelling per address, before it is counted or pseudonymised.

``2001:DB8:0:0::1`` and ``2001:db8::1`` are one address, and so are
``::ffff:192.0.2.1`` (an IPv4 client on a dual-stack socket) and
``192.0.2.1``. The ingesters run :func:`canonical_ip` on every distinct
address that has a colon (IPv4 text is checked by SQL alone): it gives the
RFC 5952 text of an IPv6 address (lower case, no leading zeros, the longest
run of zero groups as ``::``, no zone), the dotted IPv4 text of a mapped
one, and ``None`` for anything else (``1::2::3``, ``192.0.2.1:443``,
``[2001:db8::1]``), which is then a ``bad address``. ``--ips`` files are read
with the same rule, so they match what the store holds.
"""

import ipaddress

SQL_NAME = "aau_canonical_ip"


def canonical_ip(text):
    """The canonical text of the IPv6 (or IPv4-mapped) address ``text``, or ``None``."""
    if text is None or ":" not in text:
        return None
    try:
        address = ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return None
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def canonical_address(address):
    """An ``ipaddress`` address as the store writes it (a mapped IPv6 address as its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def register_duckdb(con):
    """Make :func:`canonical_ip` callable from SQL on a DuckDB connection (once)."""
    import duckdb

    try:
        from duckdb import sqltypes as types
    except ImportError:  # DuckDB before 1.4
        from duckdb import typing as types
    try:
        con.create_function(SQL_NAME, canonical_ip, [types.VARCHAR], types.VARCHAR, null_handling="special",
                            side_effects=False)
    except duckdb.NotImplementedException as exc:
        if "already created" not in str(exc):
            raise
