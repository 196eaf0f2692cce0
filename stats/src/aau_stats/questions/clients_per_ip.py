"""How many installations sit behind one IP address?

An installation is a client token (``c/``). For every address: its distinct
clients, environments and requests, and the "unique visitors" a classic log
analyzer would report for it (distinct IP + day + user agent). The same per
network (/24 for IPv4, /48 for IPv6), and the distribution of addresses by
their number of clients. Addresses are shown by a short label made from
their pseudonym, never by value.
"""

from ..disclosure import Relation, equal, total
from ._answer import Answer, Headline, Table
from ._sql import address_label, buckets, in_order

TITLE = "Clients behind each IP address"
EDGES = (1, 2, 3, 6, 11, 51, 101)


def clients_per_ip(scope, top=20):
    engine = scope.engine
    bucket, labels = buckets("clients", EDGES)
    sessions = scope.sessions()
    # Each session row is one IP + day + user agent: what classic log analyzers count as a unique visitor.
    per_address = engine.keep("""
        SELECT ip, min(network) AS network, count(DISTINCT c) AS clients, count(DISTINCT e) AS environments,
               sum(requests) AS requests, sum(CASE WHEN c IS NULL THEN requests ELSE 0 END) AS untokened_requests,
               count(*) AS naive_visitors
        FROM {sessions} r WHERE ip IS NOT NULL GROUP BY ip
    """.format(sessions=sessions))
    _, top_rows = engine.rows("""
        SELECT {label} AS address, {net_label} AS network, clients, environments, requests, untokened_requests,
               naive_visitors, clients AS _clients
        FROM {per_address} a ORDER BY clients DESC, requests DESC, address LIMIT {top}
    """.format(label=address_label("ip", engine.keys), net_label=address_label("network", engine.keys),
               per_address=per_address, top=int(top)))
    _, distribution = engine.rows("""
        SELECT CASE WHEN clients = 0 THEN 'none' ELSE {bucket} END AS clients_per_address,
               count(*) AS addresses, sum(clients) AS clients, sum(requests) AS requests,
               sum(naive_visitors) AS naive_visitors,
               CASE WHEN sum(clients) = 0 THEN count(*) ELSE sum(clients) END AS _clients,
               sum(clients) AS _bin_clients
        FROM {per_address} a GROUP BY 1
    """.format(bucket=bucket, per_address=per_address))
    # One pass for the networks and the totals.
    per_network = engine.keep("""
        SELECT network, grouping(network) AS total, count(DISTINCT ip) AS addresses, count(DISTINCT c) AS clients,
               count(DISTINCT e) AS environments, sum(requests) AS requests,
               count(DISTINCT CASE WHEN c IS NOT NULL THEN ip END) AS tokened_addresses, count(*) AS visitors
        FROM {sessions} r GROUP BY GROUPING SETS ((network), ())
    """.format(sessions=sessions))
    _, networks = engine.rows("""
        SELECT {net_label} AS network, addresses, clients, environments, requests, clients AS _clients
        FROM {per_network} n WHERE total = 0 AND network IS NOT NULL
        ORDER BY clients DESC, requests DESC, network LIMIT {top}
    """.format(net_label=address_label("network", engine.keys), per_network=per_network, top=int(top)))
    _, totals = engine.rows("""
        SELECT addresses, clients, tokened_addresses, visitors,
               (SELECT count(*) FROM {per_network} n WHERE total = 0 AND network IS NOT NULL)
        FROM {per_network} t WHERE total = 1
    """.format(per_network=per_network))
    addresses, clients, tokened_addresses, visitors, nets = totals[0]
    shared = sum(row[1] for row in distribution if row[0] not in ("none", "1"))
    largest = max((row[2] for row in top_rows), default=0)
    headline = [
        Headline("addresses", addresses, clients or addresses),
        Headline("distinct clients", clients, clients),
        Headline("addresses shared by 2 or more clients", shared, clients),
        Headline("most clients behind one address", largest, largest),
        Headline("mean clients per address with tokens", round(clients / tokened_addresses, 2)
                 if tokened_addresses else None, clients),
        Headline("naive unique visitors (IP + day + user agent)", visitors, clients or addresses),
    ]
    tables = [
        Table("distribution", "Addresses by number of clients behind them",
              ["clients_per_address", "addresses", "clients", "requests", "naive_visitors", "_clients",
               "_bin_clients"], in_order(distribution, ["none", *labels]), backing={"clients": "_bin_clients"}),
        Table("addresses", "The %d addresses with the most clients" % int(top),
              ["address", "network", "clients", "environments", "requests", "untokened_requests",
               "naive_visitors", "_clients"], top_rows, labels=2),
        Table("networks", "The %d networks (/24, /48) with the most clients" % int(top),
              ["network", "addresses", "clients", "environments", "requests", "_clients"], networks),
    ]
    notes = [
        "A client is one c/ token: one conda installation (a user's home). Requests without tokens count"
        " for their address but add no client.",
        "Naive unique visitors count distinct IP + day + user agent, as classic log analyzers do; the user"
        " agent carries a new s/ token in every conda process, so they count sessions, not installations.",
        "Addresses are labelled by their keyed pseudonym's first 12 characters. %d networks in all." % nets,
    ]
    answer = Answer("clients-per-ip", TITLE, headline, tables, notes)
    answer.relations, answer.derived = _relations(tables, labels, complete=len(top_rows) == addresses)
    return answer


def _relations(tables, labels, complete):
    """What adds up: the bins to the headlines; an exact bin's clients to its addresses; and, when every
    address is listed, the listed addresses to the bins."""
    dist, listed, networks = tables
    shared = [label for label in labels if label != "1"]
    relations = [
        total(("h", "addresses"), dist.cells("addresses")),
        total(("h", "addresses shared by 2 or more clients"),
              dist.cells("addresses", lambda r: r["clients_per_address"] in shared)),
        total(("h", "distinct clients"), dist.cells("clients"), conditional=True),  # no client at two addresses
        total(("h", "naive unique visitors (IP + day + user agent)"), dist.cells("naive_visitors"), conditional=True),
        total(("h", "addresses"), networks.cells("addresses"), conditional=True),
    ]
    for i, row in enumerate(dist.rows):
        if row[0].isdigit():  # a bin of one count: n clients behind each of its addresses
            relations.append(equal(dist.cell(i, "clients"), dist.cell(i, "addresses"), int(row[0])))
    if listed.rows:
        relations.append(equal(("h", "most clients behind one address"), listed.cell(0, "clients")))
    if complete:
        for column in ("clients", "requests", "naive_visitors"):
            relations.append(Relation([*((c, 1) for c in listed.cells(column)),
                                       *((c, -1) for c in dist.cells(column))], conditional=True))
        relations.append(Relation([*((c, 1) for c in networks.cells("requests")),
                                   *((c, -1) for c in dist.cells("requests"))], conditional=True))
    derived = [(("h", "mean clients per address with tokens"),
                [("h", "distinct clients"), ("h", "addresses"),
                 *dist.cells("addresses", lambda r: r["clients_per_address"] == "none")])]
    return relations, derived
