"""What a question returns: headline numbers and tables, and the privacy threshold applied to them.

Every value a question publishes is backed by a number of distinct clients
(``c/`` tokens). A value backed by fewer than ``k`` of them is suppressed:
replaced by ``None`` and named in its row's ``suppressed`` list, so that a
reader sees that something is there but not what. Rows are never dropped.
Rows with no tokens at all (opted-out clients, other tools) are backed by
their distinct addresses instead, as they have no clients to count.
"""

import datetime
import decimal
from dataclasses import dataclass, field

DEFAULT_MIN_CLIENTS = 10


@dataclass
class Table:
    """Rows of one result. The first ``labels`` columns say what a row is and are never suppressed.

    A column whose name starts with ``_`` is a backing count: it is used to
    decide suppression and never shown. ``backing`` maps a value column to
    the backing column it is checked against (default ``_clients``).
    """

    name: str
    title: str
    columns: list
    rows: list
    labels: int = 1
    backing: dict = field(default_factory=dict)

    @property
    def shown(self):
        return [c for c in self.columns if not c.startswith("_")]

    def records(self):
        """Rows as dicts of the shown columns, with the ``suppressed`` list of each row when present."""
        out = []
        for row in self.rows:
            record = {c: _plain(v) for c, v in zip(self.columns, row) if not c.startswith("_")}
            record["suppressed"] = list(getattr(row, "suppressed", ()))
            out.append(record)
        return out

    def column(self, name):
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


class _SuppressedRow(list):
    suppressed = ()


@dataclass
class Headline:
    label: str
    value: object
    clients: int  # distinct clients behind the value (addresses for untokened values); None: not about users
    suppressed: bool = False


@dataclass
class Answer:
    question: str
    title: str
    headline: list
    tables: list
    notes: list = field(default_factory=list)
    filters: dict = field(default_factory=dict)
    min_clients: int = 1

    def table(self, name):
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    def suppress(self, k):
        """This answer with every value backed by fewer than ``k`` distinct clients suppressed."""
        if k <= 1:
            return Answer(self.question, self.title, self.headline, self.tables, self.notes, self.filters, k)
        headline = [Headline(h.label, h.value, h.clients, False) if h.clients is None or h.clients >= k
                    else Headline(h.label, None, None, True) for h in self.headline]
        tables = [_suppress_table(t, k) for t in self.tables]
        notes = [*self.notes, "Values backed by fewer than %d distinct clients are suppressed." % k]
        return Answer(self.question, self.title, headline, tables, notes, self.filters, k)


def _suppress_table(table, k):
    index = {c: i for i, c in enumerate(table.columns)}
    rows = []
    for row in table.rows:
        out = _SuppressedRow(row)
        hidden = []
        for i, column in enumerate(table.columns):
            if i < table.labels or column.startswith("_"):
                continue
            backer = table.backing.get(column, "_clients")
            if backer is None:
                continue
            support = row[index[backer]]
            if support is None or support < k:
                out[i] = None
                hidden.append(column)
        for column in table.columns:
            if column.startswith("_"):
                out[index[column]] = None
        out.suppressed = tuple(hidden)
        rows.append(out)
    return Table(table.name, table.title, table.columns, rows, table.labels, table.backing)


def _plain(value):
    """A value as JSON has it: dates as ISO text, decimals as numbers."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return value
