"""HyperLogLog in plain SQL: distinct counts whose sketches merge, the same on every engine.

A sketch of a set of values is, per register (the first 14 bits of the
value's md5), the largest rank seen (the position of the first 1 bit in the
next 48 bits). Sketches are rows ``(group..., reg, rank)``; merging two is
the ``max(rank)`` per register, so monthly sketches roll up to a quarter or
a year without reading a request again, and a month's sketch is made once.
The estimate is Flajolet et al.'s, with linear counting for small sets; at
precision 14 (16,384 registers) its standard error is 1.04 / sqrt(16384) =
0.81 %. Small sets are counted by the empty registers (linear counting):
a hundred values come out exact, a thousand within about 1 %.

Everything is written with functions both DuckDB and Spark have (``md5``,
``instr``, ``substr``, ``regexp_extract``, ``power``, ``ln``), so both engines
give the same sketches and the same estimates.
"""

PRECISION = 14
REGISTERS = 1 << PRECISION
STANDARD_ERROR = 1.04 / REGISTERS ** 0.5
_HEX = "'0123456789abcdef'"


def _digit(hash_expr, position):
    return "(instr(%s, substr(%s, %d, 1)) - 1)" % (_HEX, hash_expr, position)


def register_sql(hash_expr):
    """SQL: the register (0 .. 16383) of a value whose md5 is ``hash_expr`` (its first 14 bits)."""
    return "(%s * 1024 + %s * 64 + %s * 4 + CAST(floor(%s / 4) AS INTEGER))" % tuple(
        _digit(hash_expr, n) for n in (1, 2, 3, 4))


def rank_sql(hash_expr):
    """SQL: 1 + the leading zero bits of the 48 bits after the register's (hex digits 5 to 16)."""
    rest = "substr(%s, 5, 12)" % hash_expr
    zeros = "length(regexp_extract(%s, '^(0*)', 1))" % rest
    first = "(instr(%s, substr(%s, %s + 1, 1)) - 1)" % (_HEX, rest, zeros)
    return ("CASE WHEN %(z)s = 12 THEN 49 ELSE %(z)s * 4 + CASE WHEN %(f)s >= 8 THEN 1 WHEN %(f)s >= 4 THEN 2"
            " WHEN %(f)s >= 2 THEN 3 ELSE 4 END END" % {"z": zeros, "f": first})


def sketch_sql(source, value, groups):
    """SQL: the sketches of ``value`` per ``groups`` (column names of ``source``): rows ``(groups..., reg, rank)``."""
    keys = "".join("%s, " % g for g in groups)
    return ("SELECT {keys}reg, max(rank) AS rank FROM (SELECT {keys}{reg} AS reg, {rank} AS rank"
            " FROM (SELECT {keys}md5(CAST({value} AS VARCHAR)) AS h FROM {source} WHERE {value} IS NOT NULL) hashed)"
            " ranked GROUP BY {keys}reg").format(keys=keys, reg=register_sql("h"), rank=rank_sql("h"), value=value,
                                                 source=source)


def merge_sql(sketches, groups):
    """SQL: sketches (rows of :func:`sketch_sql`) merged over everything but ``groups``."""
    keys = "".join("%s, " % g for g in groups)
    return "SELECT %sreg, max(rank) AS rank FROM (%s) s GROUP BY %sreg" % (keys, sketches, keys)


def estimate_sql(sketches, groups):
    """SQL: ``(groups..., estimate)``, the HyperLogLog estimate of each group's sketch."""
    keys = "".join("%s, " % g for g in groups)
    alpha = 0.7213 / (1 + 1.079 / REGISTERS)
    raw = "CAST(%r AS DOUBLE) / (sum(power(2.0, -rank)) + %d - count(*))" % (alpha * REGISTERS * REGISTERS, REGISTERS)
    # Linear counting while registers are still empty and the raw estimate is small.
    linear = "%d * ln(CAST(%d AS DOUBLE) / (%d - count(*)))" % (REGISTERS, REGISTERS, REGISTERS)
    return ("SELECT {keys}CAST(round(CASE WHEN count(*) < {m} AND {raw} <= {small} THEN {linear} ELSE {raw} END)"
            " AS BIGINT) AS estimate FROM ({sketches}) s{group_by}").format(
        keys=keys, m=REGISTERS, raw=raw, small=2.5 * REGISTERS, linear=linear, sketches=sketches,
        group_by=" GROUP BY " + ", ".join(groups) if groups else "")
