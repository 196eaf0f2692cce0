"""What adds up across questions: the relations between answers published side by side.

Each answer declares its own relations (:mod:`aau_stats.disclosure`); these
are the ones between two answers, for the report page and for a question
asked alone, which is protected together with the questions it shares
totals with (:data:`COMPANIONS`), so that it is withheld the same way in
both. Each is conditional: it is used where the numbers show it holds (two
questions asked with the same options and period).
"""

from ..disclosure import Relation, equal, total

# Questions whose values add up to one another's, and so are protected together.
FAMILIES = [("clients-per-ip", "lifecycles", "environments", "seats", "activity"), ("installs", "popularity")]

# The same count, shown by several questions.
SAME = [
    [("clients-per-ip", "distinct clients"), ("lifecycles", "clients"), ("seats", "clients")],
    [("environments", "environments"), ("lifecycles", "environments"), ("seats", "environments"),
     ("activity", "environments seen by any request")],
    [("clients-per-ip", "addresses"), ("seats", "addresses")],
]
INSTALL_KINDS = ("new_installs", "updates", "redownloads", "first_in_older_env", "untokened_downloads")


def companions(question, filters, options):
    """The questions to protect ``question`` with when it is asked alone (itself included), in the
    report's order."""
    out = []
    family = next((f for f in FAMILIES if question in f), (question,))
    for other in family:
        if other == question:
            out.append(other)
            continue
        if other == "seats" and filters.org is None and filters.ips is None:
            continue  # seats are only answered for one organization
        if "popularity" in (question, other) and filters.since is None and \
                int(options.get("warm_up_days", 1)) != 0:
            continue  # installs count after a warm-up that popularity does not have: nothing adds up
        out.append(other)
    return out


def cross_relations(answers):
    """The relations between ``answers`` (published together), with cells keyed as in
    :func:`aau_stats.disclosure.problem_of`."""
    at = {answer.question: n for n, answer in enumerate(answers)}
    relations = []
    for same in SAME:
        present = [(at[q], "h", label) for q, label in same if q in at]
        relations.extend(equal(a, b, conditional=True) for a, b in zip(present, present[1:]))
    if "seats" in at and "lifecycles" in at:
        relations.extend(_seats_lifecycles(answers[at["seats"]], at["seats"], answers[at["lifecycles"]],
                                           at["lifecycles"]))
    if "installs" in at and "popularity" in at:
        relations.extend(_installs_popularity(answers[at["installs"]], at["installs"], answers[at["popularity"]],
                                              at["popularity"]))
    if "clients-per-ip" in at and "lifecycles" in at:
        listed = answers[at["clients-per-ip"]].table("addresses")
        relations.append(total((at["lifecycles"], "h", "requests without a client token"),
                               [(at["clients-per-ip"], *c) for c in listed.cells("untokened_requests")],
                               conditional=True))
    return relations


def _seats_lifecycles(seats, s, lifecycles, n):
    monthly, summary = lifecycles.table("monthly"), lifecycles.table("summary")
    by_class = {row[1]: (n, *summary.cell(i, "count")) for i, row in enumerate(summary.rows) if row[0] == "clients"}
    relations = [
        equal((s, "h", "long-lived clients (seats)"), by_class.get("long-lived"), conditional=True),
        total((s, "h", "ephemeral clients (CI-like or one-off)"),
              [by_class[c] for c in ("ci-like", "one-off") if c in by_class], conditional=True),
    ]
    relations = [r for r in relations if all(key is not None for key, _ in r.terms)]
    table = seats.table("monthly")
    for i, row in enumerate(table.rows):
        active = [(n, *c) for c in monthly.cells("active_clients", lambda r, m=row[0]: r["month"] == m)]
        relations.append(total((s, *table.cell(i, "clients")), active, conditional=True))
        relations.append(total((s, *table.cell(i, "long_lived_clients")), [
            (n, *c) for c in monthly.cells("active_clients", lambda r, m=row[0]: r["month"] == m
                                           and r["lifecycle"] == "long-lived")], conditional=True))
    return relations


def _installs_popularity(installs, i, popularity, p):
    """A package's downloads (popularity) are its new installs, updates, re-downloads, first downloads in
    older environments and untokened downloads (installs), when both count the same days."""
    table, rows = installs.table("installs"), popularity.table("popularity")
    monthly = "time" in rows.columns
    keys = {}
    for j, row in enumerate(table.rows):
        key = (row[0], row[1]) if monthly else row[0]
        keys.setdefault(key, []).extend((i, *table.cell(j, column)) for column in INSTALL_KINDS)
    relations = []
    for key, parts in keys.items():
        where = (lambda r, key=key: (r["pkg_name"], r["time"]) == key) if monthly else \
            (lambda r, key=key: r["pkg_name"] == key)
        counts = [(p, *c) for c in rows.cells("counts", where)]
        if counts:
            relations.append(Relation([*((c, 1) for c in counts), *((c, -1) for c in parts)], conditional=True))
    everything = [c for parts in keys.values() for c in parts]
    relations.append(total((p, "h", "downloads"), everything, conditional=True))
    return relations
