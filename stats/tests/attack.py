"""A subtraction attack on everything aau-stats publishes about one store.

The attacker reads the published JSON of every question and the answers of
the report, and knows the values' true relations only by what they are seen
to satisfy: a relation counts when it holds exactly on the unsuppressed
answers of the store under every filter variant tried (the whole period,
without its first day, without its last day, each half), with the total
taking more than one value among them, and in two populations or more, so
that a coincidence (two counts that are 1 everywhere, a regularity of one
small population) is not taken for a relation. A question asked alone and
the same question on the report page are known to be one answer. Then, with the suppressed outputs:

- a group of cells (a column, a column within one label value, a pair or
  triple of cells of one row, a single cell times 1, 2 or 3) whose sum is a
  published total, with one cell withheld, gives it back; with all withheld
  cells summing to zero, gives each back as zero; with the total withheld
  and the group published, gives the total back;
- a published share times a published total gives back a withheld count;
- what is recovered is known in the next round.

It knows nothing of the relations aau-stats declares.
"""

import datetime
import itertools
import json
from fractions import Fraction

from aau_stats.output import to_json
from aau_stats.questions import QUESTIONS, DuckDBEngine, Filters, Scope, ask, computed, published


def outputs(db, k, filters, org, advisories):
    """``{scope: {output: JSON dict}}``: every question alone (``cli``) and the report's answers
    (``report``), over the whole store (scope ``all``) and for the organization ``org`` (``org``)."""
    out = {}
    for scope_name, extra in (("all", {}), ("org", {"org": org})):
        f = Filters.build(**{**filters, **extra})
        mine = out[scope_name] = {}
        names = []
        for question in QUESTIONS:
            if question == "seats" and scope_name == "all":
                continue
            options = {"advisories": advisories} if question == "exposure" else {}
            try:
                answer = ask(question, db, f, min_clients=k, **options)
            except Exception as exc:  # a scope with nothing in it: nothing published
                if "no requests match" in str(exc):
                    continue
                raise
            mine["cli/" + question] = json.loads(to_json(answer))
            names.append(question)
        with DuckDBEngine(db) as engine:
            scope = Scope(engine, f)
            answers = [computed(scope, q, **({"advisories": advisories} if q == "exposure" else {}))
                       for q in names]
        for answer in published(answers, k):
            mine["report/" + answer.question] = json.loads(to_json(answer))
    return out


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return Fraction(value)
    return None


def cells(data):
    """``{cell: value}`` of one output (``None`` for withheld ones), with its label columns found as the
    columns whose values are text; and ``{cell: True}`` for the withheld ones."""
    values, withheld = {}, set()
    for h in data["headline"]:
        key = ("h", h["label"])
        values[key] = h["value"]
        if h["suppressed"]:
            withheld.add(key)
    for name, table in data["tables"].items():
        columns = table["columns"]
        labels = [c for c in columns if any(isinstance(r.get(c), str) for r in table["rows"])]
        for row in table["rows"]:
            key = tuple(row.get(c) for c in labels)
            for c in columns:
                if c in labels:
                    continue
                values[(name, key, c)] = row.get(c)
                if c in row["suppressed"]:
                    withheld.add((name, key, c))
    return values, withheld


def flatten(outs):
    values, withheld = {}, set()
    for name, data in outs.items():
        v, w = cells(data)
        values.update({(name, *key): value for key, value in v.items()})
        withheld.update((name, *key) for key in w)
    return values, withheld


def groups(values, withheld):
    """The groups of cells the attacker sums: ``{spec: [(cell, factor), ...]}``, only those with a withheld
    cell or all published."""
    by_column = {}
    for cell in values:
        if cell[1] == "h":
            continue
        name, table, key, column = cell
        by_column.setdefault((name, table, column), []).append(cell)
        for i, label in enumerate(key):
            by_column.setdefault((name, table, column, i, label), []).append(cell)
    specs = {("col", *spec): [(c, 1) for c in members] for spec, members in by_column.items()}
    rows = {}
    for cell in values:
        if cell[1] != "h" and (_number(values[cell]) is not None or cell in withheld):
            rows.setdefault(cell[:3], []).append(cell)
    for row_cells in rows.values():
        if not any(c in withheld for c in row_cells):
            continue
        for size in (2, 3):
            for combo in itertools.combinations(row_cells, size):
                specs[("row", *combo)] = [(c, 1) for c in combo]
    for cell in values:
        if cell in withheld or _number(values[cell]) is not None:
            for factor in (1, 2, 3):
                specs[("one", cell, factor)] = [(cell, factor)]
    return specs


# What a value counts, read from its column or label, first word that says: the attacker relates only
# values of one measure (a count of environments is no sum of downloads).
RATIOS = ("share", "mean", " per ", "median")
MEASURES = (("visitor", "visitors"), ("request", "requests"),
            ("address", "addresses"), ("client", "clients"), ("seat", "clients"), ("environment", "environments"),
            ("machine", "machines"), ("download", "downloads"), ("install", "downloads"), ("update", "downloads"),
            ("counts", "downloads"), ("first in older env", "downloads"), ("days", "days"))


def measure(cell):
    """The measure of a cell, ``"any"`` when its name does not say (lifecycles' ``count``), None for a
    ratio or a statistic."""
    text = " %s " % (cell[2] if cell[1] == "h" else cell[-1]).replace("_", " ")
    if any(word in text for word in RATIOS):
        return None
    hits = [(text.find(word), kind) for word, kind in MEASURES if word in text]
    if not hits:
        return "any"
    return min(hits)[1]


def _compatible(cells):
    kinds = {measure(c) for c in cells} - {"any"}
    return None not in kinds and len(kinds) <= 1


def _sum(members, values):
    total = 0
    for cell, factor in members:
        number = _number(values.get(cell))
        if number is None:
            return None
        total += factor * number
    return total


def attack(published_values, withheld, truths, rounds=3):
    """The withheld cells recovered: ``{cell: (value, how)}``. ``truths``: the unsuppressed cell values
    under each filter variant, the first being those of the attacked outputs."""
    truth = truths[0][1]
    known = {c: _number(v) for c, v in published_values.items() if c not in withheld and _number(v) is not None}
    found = {}
    specs = groups(published_values, withheld)
    totals = {}
    for cell, value in truth.items():
        number = _number(value)
        if number is not None and number != 0:
            totals.setdefault(number, []).append(cell)
    holds = {}

    def relation(spec, total_cell):
        key = (spec, total_cell)
        if key not in holds and not _compatible([total_cell, *(c for c, _ in specs[spec])]):
            holds[key] = False
        if key not in holds:
            seen, where = set(), set()
            ok = True
            for population, variant in truths:
                s = _sum(specs[spec], variant)
                t = _number(variant.get(total_cell))
                if s is None or t is None:
                    continue
                seen.add(t)
                where.add(population)
                ok = ok and s == t
            holds[key] = ok and len(seen) >= 2 and len(where) >= 2
        return holds[key]

    for _ in range(rounds):
        progress = False
        for spec, members in specs.items():
            true_sum = _sum(members, truth)
            if true_sum is None or true_sum == 0:
                continue
            own = {c for c, _ in members}
            hidden = [(c, f) for c, f in members if c not in known]
            for total_cell in totals.get(true_sum, ()):
                if total_cell in own or (total_cell in known) != bool(hidden):
                    continue
                if hidden:
                    if not relation(spec, total_cell):
                        continue
                    rest = known[total_cell] - sum(f * known[c] for c, f in members if c in known)
                    if len(hidden) == 1:
                        cell, factor = hidden[0]
                        if rest / factor == _number(truth[cell]):
                            found[cell] = (rest / factor, "%s = %s" % (total_cell, spec))
                            known[cell] = rest / factor
                            progress = True
                    elif rest == 0 and all(f > 0 for _, f in hidden):
                        for cell, _ in hidden:
                            found[cell] = (0, "%s = %s, the rest zero" % (total_cell, spec))
                            known[cell] = Fraction(0)
                        progress = True
                    hidden = [(c, f) for c, f in members if c not in known]
                    if not hidden:
                        break
                elif total_cell in withheld and relation(spec, total_cell):
                    found[total_cell] = (true_sum, "sum of %s" % (spec,))
                    known[total_cell] = true_sum
                    progress = True
        progress |= _copies(published_values, withheld, known, found)
        progress |= _shares(published_values, withheld, truths, known, found)
        if not progress:
            break
    return found


def _copies(values, withheld, known, found):
    """A question alone and on the report page is one answer: a value withheld in one and shown in the other."""
    progress = False
    for cell in withheld:
        if cell in known:
            continue
        kind, question = cell[0].split("/", 1)
        twin = ("report/" if kind == "cli" else "cli/") + question, *cell[1:]
        if twin in known:
            found[cell] = (known[twin], "shown in %s" % twin[0])
            known[cell] = known[twin]
            progress = True
    return progress


def _shares(values, withheld, truths, known, found):
    """Withheld counts given back by a published share times a published total of the same output, of
    one measure, where that holds in every variant of two populations or more."""
    truth = truths[0][1]
    progress = False
    shares = [c for c, v in values.items() if c in known and isinstance(values[c], float) and 0 < values[c] < 1]
    for cell in [c for c in withheld if c not in known and _number(truth.get(c)) is not None]:
        output = cell[0]
        for share in (s for s in shares if s[0] == output):
            for total_cell in (t for t in known if t[0] == output and t != share and _compatible([t, cell])):
                checked = [(p, v) for p, v in truths if all(v.get(c) is not None for c in (share, total_cell, cell))]
                if len({p for p, _ in checked}) < 2 or len({v[cell] for _, v in checked}) < 2:
                    continue
                if all(_close(v[share], v[total_cell], v[cell]) for _, v in checked):
                    estimate = round(known[share] * known[total_cell])
                    if estimate == _number(truth[cell]) and estimate != 0:
                        found[cell] = (estimate, "%s x %s" % (share, total_cell))
                        known[cell] = Fraction(estimate)
                        progress = True
                        break
            if cell in known:
                break
    return progress


def _close(share, whole, part):
    if not isinstance(share, float) or _number(whole) is None or _number(part) is None:
        return False
    return abs(share * whole - part) < 0.5 and part != 0


def variants(first_day, last_day):
    """The filter variants the attacker learns relations from: the first is the one attacked."""
    one = datetime.timedelta(days=1)
    middle = first_day + (last_day - first_day) / 2
    return [{}, {"since": (first_day + one).isoformat()}, {"until": (last_day - one).isoformat()},
            {"until": middle.isoformat()}, {"since": (middle + one).isoformat()}]


def run(populations, ks=(3, 10)):
    """``{(population, scope, k): {cell: (value, how)}}``: what the attack recovers from the outputs of each
    population (``(db, org, advisories)``) at each threshold, with the relations it learnt from all of them;
    and ``{(population, scope, k): withheld cells}``."""
    truths, attacked = [], []
    for n, (db, org, advisories) in enumerate(populations):
        with DuckDBEngine(db) as engine:
            first, last = engine.rows("SELECT min(day), max(day) FROM requests")[1][0]
        filters = variants(first, last)
        for v, f in enumerate(filters):
            for scope, outs in outputs(db, 1, f, org, advisories).items():
                values, _ = flatten(outs)
                truths.append((n, values))
                if v == 0:
                    attacked.append(((n, scope), values))
    found, withheld_by = {}, {}
    for k in ks:
        for n, (db, org, advisories) in enumerate(populations):
            for scope, outs in outputs(db, k, {}, org, advisories).items():
                values, withheld = flatten(outs)
                truth = dict(attacked)[(n, scope)]
                assert set(values) == set(truth), "the outputs at k=%d have other cells than the truth" % k
                others = [t for t in truths if t[1] is not truth]
                found[(n, scope, k)] = attack(values, withheld, [(n, truth), *others])
                withheld_by[(n, scope, k)] = withheld
    return found, withheld_by
