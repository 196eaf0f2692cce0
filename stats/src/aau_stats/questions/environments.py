"""Environments per client, and base versus child environments.

The tokens do not say which environment is base; it is derived, first rule
that applies:

1. ``conda``: an environment that downloaded the ``conda`` package is base
   (conda updates itself in base; child environments do not carry conda);
2. ``created with python``: an environment whose first conda process
   downloaded ``python`` is a child (``conda create -n x python``: the
   installer, not conda, creates base);
3. ``first of its client``: for a client with no environment found base by
   rule 1, the first environment it was seen with among those rules 1 and 2
   left undecided is base (conda's first commands after an install run in
   base);
4. ``later of its client``: any other environment is a child.

The rule that decided each environment is reported beside the counts, so a
reader can weigh them.
"""

from ..disclosure import equal, total
from ._answer import Answer, Headline, Table
from ._sql import buckets, in_order

TITLE = "Environments: how many per client, base or child"
EDGES = (1, 2, 3, 4, 6, 11)
RULES = ("conda", "created with python", "first of its client", "later of its client")


def roles_sql(sessions):
    """SQL of ``e, role, rule`` for every environment in ``sessions``."""
    return """
        WITH tokened AS (SELECT * FROM {sessions} r WHERE e IS NOT NULL),
        env AS (
            SELECT e, max(CASE WHEN conda_downloads > 0 THEN 1 ELSE 0 END) AS has_conda, min(first_ts) AS first_ts
            FROM tokened GROUP BY e),
        first_session AS (
            SELECT t.e, min(t.s) AS s FROM tokened t JOIN env ON env.e = t.e AND env.first_ts = t.first_ts
            GROUP BY t.e),
        created AS (
            SELECT t.e, max(CASE WHEN python_downloads > 0 THEN 1 ELSE 0 END) AS with_python
            FROM tokened t JOIN first_session f ON f.e = t.e AND f.s = t.s GROUP BY t.e),
        decided AS (
            SELECT env.e, env.has_conda, coalesce(created.with_python, 0) AS with_python
            FROM env LEFT JOIN created ON created.e = env.e),
        client_envs AS (SELECT c, e, min(first_ts) AS first_ts FROM tokened WHERE c IS NOT NULL GROUP BY c, e),
        clients_with_base AS (
            SELECT DISTINCT k.c FROM client_envs k JOIN decided d ON d.e = k.e WHERE d.has_conda = 1),
        firsts AS (
            SELECT DISTINCT e FROM (
                SELECT k.c, k.e, row_number() OVER (PARTITION BY k.c ORDER BY k.first_ts, k.e) AS n
                FROM client_envs k JOIN decided d ON d.e = k.e
                WHERE d.has_conda = 0 AND d.with_python = 0 AND k.c NOT IN (SELECT c FROM clients_with_base)) o
            WHERE n = 1)
        SELECT d.e,
               CASE WHEN has_conda = 1 THEN 'base' WHEN with_python = 1 THEN 'child'
                    WHEN firsts.e IS NOT NULL THEN 'base' ELSE 'child' END AS role,
               CASE WHEN has_conda = 1 THEN 'conda' WHEN with_python = 1 THEN 'created with python'
                    WHEN firsts.e IS NOT NULL THEN 'first of its client' ELSE 'later of its client' END AS rule
        FROM decided d LEFT JOIN firsts ON firsts.e = d.e
    """.format(sessions=sessions)


def environments(scope):
    engine = scope.engine
    sessions = scope.sessions()
    bucket, labels = buckets("environments", EDGES)
    _, per_client = engine.rows("""
        SELECT {bucket} AS environments_per_client, count(*) AS clients, sum(environments) AS environments,
               count(*) AS _clients
        FROM (SELECT c, count(DISTINCT e) AS environments FROM {sessions} r
              WHERE c IS NOT NULL AND e IS NOT NULL GROUP BY c) k GROUP BY 1
    """.format(bucket=bucket, sessions=sessions))
    _, roles = engine.rows("""
        SELECT k.role, k.rule, count(DISTINCT k.e) AS environments, count(DISTINCT r.c) AS clients,
               sum(r.requests) AS requests, sum(r.downloads) AS downloads, count(DISTINCT r.c) AS _clients
        FROM ({roles}) k JOIN {sessions} r ON r.e = k.e GROUP BY 1, 2
    """.format(roles=roles_sql(sessions), sessions=sessions))
    roles = in_order(roles, RULES, index=1)
    _, totals = engine.rows("""
        SELECT count(DISTINCT e), count(DISTINCT CASE WHEN e IS NOT NULL THEN c END),
               sum(CASE WHEN c IS NOT NULL AND e IS NULL THEN requests ELSE 0 END)
        FROM {sessions} r
    """.format(sessions=sessions))
    envs, clients, requests_without_env = totals[0]
    base = sum(row[2] for row in roles if row[0] == "base")
    headline = [
        Headline("environments", envs, clients),
        Headline("clients with environment tokens", clients, clients),
        Headline("mean environments per client", round(envs / clients, 2) if clients else None, clients),
        Headline("base environments", base, sum(row[3] for row in roles if row[0] == "base")),
        Headline("child environments", envs - base, sum(row[3] for row in roles if row[0] == "child")),
    ]
    roles = Table("roles", "Base and child environments, by the rule that decided",
                  ["role", "rule", "environments", "clients", "requests", "downloads", "_clients"], roles, labels=2)
    tables = [
        Table("per_client", "Clients by number of environments",
              ["environments_per_client", "clients", "environments", "_clients"], in_order(per_client, labels)),
        roles,
    ]
    notes = [
        "Base or child is derived, first rule that applies: an environment that downloaded conda is base;"
        " one whose first conda process downloaded python is a child; for a client with no base found so far,"
        " the first of its other environments is base; any other is a child.",
        "An environment token shared by several clients (a copied container image) is one environment.",
    ]
    if requests_without_env:
        notes.append("%d requests carried a client token but no environment token (older clients or commands"
                     " with no environment); they are not counted here." % requests_without_env)
    answer = Answer("environments", TITLE, headline, tables, notes)
    answer.relations, answer.derived = _relations(tables)
    # Popularity publishes the environments that downloaded conda (each is base, by the first rule) and
    # python (where none downloaded it after its first process, those created with python).
    _, published = engine.rows("""
        SELECT count(DISTINCT CASE WHEN conda_downloads > 0 THEN e END),
               count(DISTINCT CASE WHEN conda_downloads > 0 THEN c END),
               count(DISTINCT CASE WHEN python_downloads > 0 THEN e END),
               count(DISTINCT CASE WHEN python_downloads > 0 THEN c END)
        FROM {sessions} r WHERE e IS NOT NULL
    """.format(sessions=sessions))
    conda_envs, conda_clients, python_envs, python_clients = published[0]
    for package, rule, envs, backing in (("conda", "conda", conda_envs, conda_clients),
                                         ("python", "created with python", python_envs, python_clients)):
        answer.elsewhere[package + " environments"] = (envs, backing)
        answer.relations.append(total(("x", package + " environments"), roles.cells(
            "environments", lambda r, rule=rule: r["rule"] == rule), conditional=True))
    return answer


def _relations(tables):
    """The bins add up to the clients (and to the environments when no environment token is shared); an
    exact bin holds n environments per client; the rules add up to base, child and all environments."""
    per_client, roles = tables
    relations = [
        total(("h", "clients with environment tokens"), per_client.cells("clients")),
        total(("h", "environments"), per_client.cells("environments"), conditional=True),
        total(("h", "environments"), roles.cells("environments")),
        total(("h", "environments"), [("h", "base environments"), ("h", "child environments")]),
    ]
    for role in ("base", "child"):
        relations.append(total(("h", role + " environments"),
                               roles.cells("environments", lambda r, role=role: r["role"] == role)))
    for i, row in enumerate(per_client.rows):
        if row[0].isdigit():
            relations.append(equal(per_client.cell(i, "environments"), per_client.cell(i, "clients"), int(row[0])))
    derived = [(("h", "mean environments per client"), [("h", "environments"), ("h", "clients with environment tokens")])]
    return relations, derived
