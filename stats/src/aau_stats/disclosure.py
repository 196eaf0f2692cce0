"""Disclosure control: the one place where published values are withheld.

Every output aau-stats publishes (a question's terminal table, JSON and CSV,
the HTML report, the public dataset) is made of answers passed through
:func:`protect`. It applies two rules, as statistical agencies do for
frequency tables:

1. **Primary suppression** (the threshold rule). A value backed by fewer
   than ``k`` distinct clients is withheld; a zero that nobody is behind
   (no client, no address) is not, as it describes no one.
2. **Secondary suppression** (complementary suppression). An answer
   declares the linear relations between its values: a headline that is the
   sum of a column, the months that add up to a period, the bins of a
   histogram, the parts of a whole, the same count shown by two questions.
   More values are withheld until no withheld value is determined by the
   published ones through those relations: not by subtracting, not by any
   linear combination, and not by a sum of withheld counts that is known to
   be zero (counts are never negative).

Secondary cells are chosen by Gaussian elimination, the algorithm of
Langsrud (2024) that Statistics Norway's GaussSuppression implements: the
candidates are visited in order of preference, headline totals first and
then the largest values, and each is published unless publishing it would
determine a withheld value, in which case it is withheld. So what is lost
is the smallest values. Zeros are never withheld as secondary, as they are
often known anyway (GaussSuppression leaves this to a choice). A value
derived from others (a share, a mean, a ratio) is withheld when any value
it is computed from is withheld.

The relations are exact rational arithmetic over the values as computed;
a declared relation that does not hold on them is not one an attacker can
use, and is dropped.
"""

import decimal
from dataclasses import dataclass, field
from fractions import Fraction

PRIMARY = "primary"
SECONDARY = "secondary"


@dataclass
class Relation:
    """``sum(coefficient * value) == 0`` over the cells ``terms`` (a list of ``(cell, coefficient)``).

    ``conditional``: holds only for some data (a bin of a histogram whose values add up to a
    total only when no token is shared); it is used where it holds and silently left out where not.
    """

    terms: list
    conditional: bool = False


def total(whole, parts, conditional=False):
    """The relation ``whole == sum(parts)``."""
    return Relation([(whole, 1), *((p, -1) for p in parts)], conditional)


def equal(a, b, factor=1, conditional=False):
    """The relation ``a == factor * b``."""
    return Relation([(a, 1), (b, -factor)], conditional)


@dataclass
class Problem:
    """The cells of one or more answers, their backing and the relations between them.

    A cell is any hashable key. ``value`` is its value as computed; ``backing`` the distinct
    clients behind it (``None``: not about users, never suppressed); ``headline`` says it is a
    total a reader looks for first (it is kept over inner cells); ``known`` cells are published
    elsewhere and cannot be withheld here.
    """

    k: int
    values: dict = field(default_factory=dict)
    backing: dict = field(default_factory=dict)
    headline: set = field(default_factory=set)
    known: set = field(default_factory=set)
    hidden: set = field(default_factory=set)
    order: dict = field(default_factory=dict)
    relations: list = field(default_factory=list)
    derived: list = field(default_factory=list)  # (cell, [cells it is computed from])

    def cell(self, key, value, backing, headline=False, known=False, hidden=False):
        """Add a cell. ``known``: published elsewhere (when its backing reaches ``k``; hidden below it).
        ``hidden``: never published, but protected like a shown cell when its backing is below ``k``."""
        self.order.setdefault(key, len(self.order))
        self.values[key] = value
        self.backing[key] = backing
        if headline:
            self.headline.add(key)
        if known and (backing is None or backing >= self.k):
            self.known.add(key)
        elif known or hidden:
            self.hidden.add(key)

    def solve(self):
        """The status of every withheld cell: ``{cell: PRIMARY or SECONDARY}``; and the relations dropped."""
        status = {}
        for key, value in self.values.items():
            if key in self.known or value is None:
                continue
            backing = self.backing.get(key)
            # Nobody behind a zero (no client, no address): it says nothing about anyone.
            if backing is not None and backing < self.k and not (backing == 0 and _number(value) == 0):
                status[key] = PRIMARY
        dropped = 0
        # Only a component with something to protect needs the elimination (and its relations checked).
        raw = [dict(r.terms) for r in self.relations]
        relation_of = {id(terms): r for terms, r in zip(raw, self.relations)}
        for component in _components([terms for terms in raw if terms]):
            if not any(key in status for terms in component for key in terms):
                continue
            relations, lost = self._usable([relation_of[id(terms)] for terms in component])
            dropped += lost
            for part in _components(relations):
                _secondary(part, self, status)
        # Derived values last: a share of a withheld count is withheld; repeat for chains.
        changed = True
        while changed:
            changed = False
            for key, inputs in self.derived:
                if key not in status and self.values.get(key) is not None and any(i in status for i in inputs):
                    status[key] = SECONDARY
                    changed = True
        return status, dropped

    def _usable(self, relations=None):
        """The relations over known values that hold exactly; and how many unconditional ones did not."""
        usable, dropped = [], 0
        for relation in self.relations if relations is None else relations:
            terms = {}
            for key, coefficient in relation.terms:
                if key in self.values:
                    terms[key] = terms.get(key, 0) + (coefficient if isinstance(coefficient, int)
                                                      else Fraction(coefficient))
            terms = {key: c for key, c in terms.items() if c}
            values = [_number(self.values[key]) for key in terms]
            if len(terms) < 2 or any(v is None for v in values):
                continue
            if sum(c * v for c, v in zip(terms.values(), values)) != 0:
                dropped += not relation.conditional
                continue
            usable.append(terms)
        return usable, dropped


def _number(value):
    """A value as exact arithmetic has it: an int stays an int (fast), a float or decimal a Fraction."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, Fraction)):
        return value
    if isinstance(value, (float, decimal.Decimal)):
        return Fraction(value)
    return None


def _components(relations):
    """The relations grouped into sets that share no cell."""
    parent = {}

    def find(key):
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for terms in relations:
        keys = list(terms)
        for other in keys[1:]:
            parent[find(other)] = find(keys[0])
    groups = {}
    for terms in relations:
        groups.setdefault(find(next(iter(terms))), []).append(terms)
    return list(groups.values())


class _Echelon:
    """The reduced row echelon form of relations over the unpublished cells: rows ``{cell: Fraction}``.

    Its row space holds every linear combination of the relations an attacker can form; a cell
    is determined by the published ones exactly when a row is that cell alone.
    """

    def __init__(self, rows, pivots):
        self.rows = rows  # {row id: {cell: coefficient}}
        self.pivots = pivots  # {cell: row id}

    @classmethod
    def build(cls, relations, unknown):
        echelon = cls({}, {})
        for n, terms in enumerate(relations):
            row = {key: c for key, c in terms.items() if key in unknown}
            for key in [key for key in row if key in echelon.pivots]:
                factor = row.get(key)
                if factor:
                    row = _minus(row, echelon.rows[echelon.pivots[key]], factor)
            if row:
                echelon._insert(n, row, echelon.rows.keys())
        return echelon

    def _insert(self, n, row, others):
        """Add ``row`` (reduced against the pivots) as row ``n``, pivoting on its first cell."""
        pivot = next(iter(row))
        scale = row[pivot]
        row = {key: c * scale if scale in (1, -1) else Fraction(c) / scale for key, c in row.items()}
        for other in list(others):
            if other != n and pivot in self.rows[other]:
                self.rows[other] = _minus(self.rows[other], row, self.rows[other][pivot])
        self.rows[n] = row
        self.pivots[pivot] = n

    def without(self, cell):
        """This form once ``cell`` is published (moved to the known side); and the ids of the rows that changed."""
        rows, pivots = dict(self.rows), dict(self.pivots)
        result = _Echelon(rows, pivots)
        changed = []
        if cell in pivots:
            n = pivots.pop(cell)
            row = {key: c for key, c in rows.pop(n).items() if key != cell}
            if row:
                before = set(rows)
                result._insert(n, row, before)
                changed = [n] + [m for m in before if rows[m] is not self.rows.get(m)]
        else:
            for n, row in self.rows.items():
                if cell in row:
                    rows[n] = {key: c for key, c in row.items() if key != cell}
                    changed.append(n)
            for n in [n for n in changed if not rows[n]]:
                del rows[n]
            changed = [n for n in changed if n in rows]
        return result, changed


def _minus(row, other, factor):
    out = dict(row)
    for key, c in other.items():
        value = out.get(key, 0) - factor * c
        if value:
            out[key] = value
        else:
            out.pop(key, None)
    return out


def _discloses(row, protected, values):
    """Whether ``row`` (a combination with a known sum) gives back a protected cell: it is that cell
    alone, or it sums cells of one sign to zero (counts are never negative, so each is zero)."""
    if not any(key in protected for key in row):
        return False
    if len(row) == 1:
        return True
    signs = {c > 0 for c in row.values()}
    return len(signs) == 1 and sum(c * _number(values[key]) for key, c in row.items()) == 0


def _secondary(relations, problem, status):
    """Withhold further cells of one component until no withheld cell is determined by the published ones."""
    cells = {key for terms in relations for key in terms}
    # A zero is never withheld as secondary (a reader often knows it anyway: no clients behind the
    # addresses without clients); it is published unless it is primary.
    unknown = {key for key in cells if key not in problem.known and (key in status or key in problem.hidden
                                                                      or _number(problem.values[key]) != 0)}
    echelon = _Echelon.build(relations, unknown)
    protected = {key for key in unknown if key in status}
    candidates = sorted(unknown - protected - problem.hidden, key=lambda key: (
        key not in problem.headline, -abs(_number(problem.values[key]) or 0), problem.order.get(key, 0)))
    by_cell = {}
    for terms in relations:
        for key in terms:
            by_cell.setdefault(key, []).append(terms)
    for cell in candidates:
        trial, changed = echelon.without(cell)
        remaining = unknown - {cell}
        unsafe = any(_discloses(trial.rows[n], protected, problem.values) for n in changed) or any(
            _discloses({key: c for key, c in terms.items() if key in remaining}, protected, problem.values)
            for terms in by_cell.get(cell, ()))
        if unsafe:
            status[cell] = SECONDARY
            protected.add(cell)
        else:
            echelon, unknown = trial, remaining


def recovered(problem, status):
    """The withheld cells the relations give back from the published ones (empty when protection holds).

    An independent check of :func:`Problem.solve`'s result, for tests and audits.
    """
    relations, _ = problem._usable()
    withheld = {key for key in status}
    found = set()
    for component in _components(relations):
        cells = {key for terms in component for key in terms}
        unknown = {key for key in cells if key in withheld or key in problem.hidden}
        echelon = _Echelon.build(component, unknown)
        rows = list(echelon.rows.values()) + [{key: c for key, c in terms.items() if key in unknown}
                                              for terms in component]
        for row in rows:
            if row and _discloses(row, withheld, problem.values):
                found.update(key for key in row if key in withheld)
    return found


def problem_of(answers, k, relations=()):
    """The protection problem of ``answers`` (published together) at threshold ``k``.

    Cells are keyed ``(n, "h", label)`` for a headline of ``answers[n]``, ``(n, "t", table, row, column)``
    for a table value and ``(n, "x", name)`` for a value the answer does not show (``hidden``) or that
    another output publishes (``elsewhere``). ``relations``: more, across the answers, keyed the same way.
    """
    problem = Problem(k)
    for n, answer in enumerate(answers):
        for h in answer.headline:
            problem.cell((n, "h", h.label), h.value, h.clients, headline=True)
        for table in answer.tables:
            index = {c: i for i, c in enumerate(table.columns)}
            for i, row in enumerate(table.rows):
                for j, column in enumerate(table.columns):
                    if j < table.labels or column.startswith("_"):
                        continue
                    backer = table.backing.get(column, "_clients")
                    backing = None if backer is None else (row[index[backer]] or 0)
                    problem.cell((n, "t", table.name, i, column), row[j], backing)
        for key in answer.fixed:
            key = (n, *key)
            if problem.backing.get(key) is not None and problem.backing[key] >= k:
                problem.known.add(key)
        for name, (value, backing) in answer.hidden.items():
            problem.cell((n, "x", name), value, backing, hidden=True)
        for name, (value, backing) in answer.elsewhere.items():
            problem.cell((n, "x", name), value, backing, known=True)
        for relation in answer.relations:
            problem.relations.append(Relation([((n, *key), c) for key, c in relation.terms], relation.conditional))
        for key, inputs in answer.derived:
            problem.derived.append(((n, *key), [(n, *i) for i in inputs]))
    problem.relations.extend(relations)
    return problem


def protect(answers, k, relations=()):
    """``answers`` as published together at threshold ``k``: primary and secondary suppression applied.

    Each returned answer marks its withheld values (``None``, named in the row's ``suppressed`` and,
    for secondary ones, ``secondary`` lists) and says in its notes how many of each kind there are.
    """
    if k <= 1:
        return [answer.published(k, {}) for answer in answers]
    problem = problem_of(answers, k, relations)
    status, _ = problem.solve()
    out = []
    for n, answer in enumerate(answers):
        mine = {key[1:]: kind for key, kind in status.items() if key[0] == n and key[1] != "x"}
        out.append(answer.published(k, mine))
    return out
