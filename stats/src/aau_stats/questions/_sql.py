"""SQL pieces the questions share, in the portable dialect they are written in."""

import os

from ..model import DOWNLOAD
from ..store import pseudonym_sql

__all__ = ["DOWNLOAD", "MONTH", "MONTH_START", "address_label", "buckets", "in_order"]
MONTH = "substr(CAST(day AS VARCHAR), 1, 7)"
# The first day of the month of a date: grouped faster than MONTH's text, which is written from it at the end.
MONTH_START = "date_trunc('month', %s)"
# The user agent as the model reads it: what classic log analyzers count visitors by (with the IP and day).


def buckets(expr, edges):
    """SQL ``CASE`` naming the bucket of ``expr`` (a count of at least 1) for ascending ``edges``.

    ``edges=(1, 2, 3, 6)`` gives ``1``, ``2``, ``3-5``, ``6+``. Returns the
    SQL and the labels in order.
    """
    labels, whens = [], []
    for low, high in zip(edges, [*edges[1:], None]):
        if high is None:
            label = "%d+" % low
            whens.append("WHEN %s >= %d THEN '%s'" % (expr, low, label))
        else:
            label = str(low) if high == low + 1 else "%d-%d" % (low, high - 1)
            whens.append("WHEN %s < %d THEN '%s'" % (expr, high, label))
        labels.append(label)
    return "CASE %s END" % " ".join(whens), labels


def address_label(column, keys):
    """A short label for an address or network: the first 12 characters of its pseudonym, never the value."""
    # Without a key file: a salt of this run's own, so that labels link nothing across runs.
    salted = "md5('%s' || %s)" % (os.urandom(16).hex(), column)
    hidden = salted if keys is None else pseudonym_sql(column, keys)
    raw = "(%s LIKE '%%.%%' OR %s LIKE '%%:%%')" % (column, column)
    return "left(CASE WHEN %s THEN %s ELSE %s END, 12)" % (raw, hidden, column)


def in_order(rows, labels, index=0):
    """Rows sorted by the position of their label in ``labels``."""
    order = {label: i for i, label in enumerate(labels)}
    return sorted(rows, key=lambda row: order.get(row[index], len(order)))
