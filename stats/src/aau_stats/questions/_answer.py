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
from dataclasses import dataclass, field, replace

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
            record["secondary"] = list(getattr(row, "secondary", ()))
            out.append(record)
        return out

    def cells(self, column, where=None):
        """References to the ``column`` values of the rows (as dicts of all columns) that ``where`` accepts."""
        return [("t", self.name, i, column) for i, row in enumerate(self.rows)
                if where is None or where(dict(zip(self.columns, row)))]

    def cell(self, i, column):
        return ("t", self.name, i, column)

    def column(self, name):
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


class _SuppressedRow(list):
    suppressed = ()
    secondary = ()


@dataclass
class Headline:
    label: str
    value: object
    clients: int  # distinct clients behind the value (addresses for untokened values); None: not about users
    suppressed: bool = False
    secondary: bool = False  # withheld only so that a suppressed value cannot be recovered from it


@dataclass
class Answer:
    """A question's answer.

    ``relations`` (:class:`aau_stats.disclosure.Relation` over cell references), ``derived``
    (``(cell, [cells it is computed from])``), ``hidden`` and ``elsewhere`` (``{name: (value,
    backing)}``: values not shown, and values another output publishes) are what disclosure
    control needs to know; a reference is ``("h", label)``, ``("t", table, row, column)`` (see
    :meth:`Table.cells`) or ``("x", name)``. ``fixed`` cells are shown by other outputs as they are here (a package's
    downloads in every query that lists it), so they are never withheld as secondary.
    """

    question: str
    title: str
    headline: list
    tables: list
    notes: list = field(default_factory=list)
    filters: dict = field(default_factory=dict)
    min_clients: int = 1
    relations: list = field(default_factory=list)
    derived: list = field(default_factory=list)
    hidden: dict = field(default_factory=dict)
    elsewhere: dict = field(default_factory=dict)
    fixed: list = field(default_factory=list)

    def table(self, name):
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    def suppress(self, k):
        """This answer as published alone at threshold ``k`` (see :mod:`aau_stats.disclosure`)."""
        from ..disclosure import protect

        return protect([self], k)[0]

    def published(self, k, status):
        """This answer with the cells of ``status`` (``{reference: "primary" or "secondary"}``) withheld."""
        if k <= 1:
            return replace(self, min_clients=k)
        headline = [Headline(h.label, None, None, True, status[("h", h.label)] == "secondary")
                    if ("h", h.label) in status else Headline(h.label, h.value, h.clients) for h in self.headline]
        tables = [_withheld(t, status) for t in self.tables]
        primary = sum(kind == "primary" for kind in status.values())
        secondary = len(status) - primary
        notes = [*self.notes, "Values backed by fewer than %d distinct clients are suppressed." % k,
                 "Suppressed: %d value%s backed by fewer than %d clients (primary), and %d more that would give"
                 " one of them back by subtraction from published totals (secondary)."
                 % (primary, "" if primary == 1 else "s", k, secondary)]
        withheld_totals = [h.label for h in headline if h.secondary]
        if withheld_totals:
            notes.append("Withheld although backed by enough clients, as with the published values it would"
                         " give a suppressed value back, or is computed from one: %s." % ", ".join(withheld_totals))
        return replace(self, headline=headline, tables=tables, notes=notes, min_clients=k)


def _withheld(table, status):
    index = {c: i for i, c in enumerate(table.columns)}
    rows = []
    for i, row in enumerate(table.rows):
        out = _SuppressedRow(row)
        hidden, secondary = [], []
        for column in table.columns[table.labels:]:
            kind = status.get(("t", table.name, i, column))
            if kind is not None and not column.startswith("_"):
                out[index[column]] = None
                hidden.append(column)
                if kind == "secondary":
                    secondary.append(column)
        for column in table.columns:
            if column.startswith("_"):
                out[index[column]] = None
        out.suppressed = tuple(hidden)
        out.secondary = tuple(secondary)
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
