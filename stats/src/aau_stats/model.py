"""The request model, as SQL over the raw fields every format provides.

Raw fields: ``ip time_text request status_text bytes_text user_agent``.
Derived:

- time (UTC), method, status, bytes;
- path -> channel, subdir, file name -> package name, version, build (split
  from the right: names may contain ``-``, versions and builds may not),
  extension, and the kind of request (package, repodata, heartbeat, other);
  the heartbeat is any request for ``activate-0.0.0-0.conda``, a file no
  channel serves (the client sends a HEAD);
- user agent -> client family and version, Python, OS, and the tokens, read
  with the client's own grammar (``anaconda_anon_usage.grammar``): only the
  words after the first ``aau/<version>`` word count, the first valid value of
  ``c s e a`` wins, ``i o m`` keep every distinct valid value, and a malformed
  value is no token.
"""

from anaconda_anon_usage import grammar

SUBDIRS = (
    "noarch", "linux-64", "linux-aarch64", "linux-ppc64le", "linux-s390x", "linux-armv6l",
    "linux-armv7l", "linux-32", "osx-64", "osx-arm64", "win-64", "win-32", "win-arm64",
    "emscripten-wasm32", "wasi-wasm32", "zos-z",
)
FAMILIES = ("conda", "mamba", "micromamba", "pixi", "rattler", "pip", "uv")
HEARTBEAT_FILE = "activate-0.0.0-0.conda"
# A package download, over the request model's columns: a package file served (a failed request is not an
# install, a HEAD fetches nothing).
DOWNLOAD = "(kind = 'package' AND status < 400 AND method <> 'HEAD')"

_SUBDIR_RE = "|".join(s.replace("-", "\\-") for s in SUBDIRS)
# /[t/<token>/]<channel...>/<subdir>/[shards/]<file>
_PATH_RE = "^/(?:t/[^/]+/)?(.+)/(%s)/(?:shards/)?([^/]+)$" % _SUBDIR_RE
_PACKAGE_RE = r"^(.+)-([^-]+)-([^-]+)\.(conda|tar\.bz2)$"
_REPODATA_RE = (r"^(?:current_)?repodata(?:_from_packages|_shards)?\.(?:json|msgpack)"
                r"(?:\.zst|\.bz2|\.jlap)?$|^[0-9a-f]{64}\.msgpack\.zst$")


def aau_tail(ua="user_agent"):
    """SQL for the part of a user agent from its first valid ``aau/<version>`` word on."""
    return "regexp_extract(%s, '(?:^| )(aau/%s{1,%d}(?: .*)?)$', 1)" % (
        ua, grammar.VERSION_CHARS, grammar.VERSION_MAX_LENGTH)


def token_fields(tail="aau_tail"):
    """SQL select items for the token columns, over :func:`aau_tail`'s column.

    ``regexp_extract`` finds the leftmost word that is valid, which is the
    grammar's "first valid value wins". For the repeatable tokens the words
    are separated by two spaces, so that each match can consume its trailing
    space and the next word still starts after one.
    """
    items = [("aau_version", "nullif(regexp_extract(%s, '^aau/(%s{1,%d})', 1), '')"
              % (tail, grammar.VERSION_CHARS, grammar.VERSION_MAX_LENGTH))]
    for prefix in grammar.SINGLE_PREFIXES:
        items.append((prefix, "nullif(substr(regexp_extract(%s, ' (%s)(?: |$)', 1), 3), '')"
                      % (tail, grammar.word_pattern(prefix))))
    for prefix in grammar.MULTI_PREFIXES:
        items.append((prefix, "list_distinct(regexp_extract_all(replace(%s, ' ', '  '), ' %s/(%s{1,%d})(?: |$)', 1))"
                      % (tail, prefix, grammar.TOKEN_CHARS, grammar.SYSTEM_TOKEN_MAX_LENGTH)))
    # The usual tail, exactly "aau/<version> c/<22> s/<22> e/<22>", is cut by position: one match of a regular
    # expression without groups instead of eight searches (the values are the same, by the grammar).
    canonical = "regexp_full_match(%s, '%s')" % (tail, _CANONICAL_TAIL)
    cut = {"aau_version": "substr(%s, 5, length(%s) - 79)" % (tail, tail), "a": "NULL::VARCHAR",
           **{p: "substr(%s, length(%s) - %d, 22)" % (tail, tail, back) for p, back in (("c", 71), ("s", 46), ("e", 21))},
           **{p: "[]::VARCHAR[]" for p in grammar.MULTI_PREFIXES}}
    return ["CASE WHEN %s THEN %s ELSE %s END AS %s" % (canonical, cut[name], expr, name) for name, expr in items]


_CANONICAL_TAIL = "aau/%s{1,%d} c/%s{%d} s/%s{%d} e/%s{%d}" % (
    grammar.VERSION_CHARS, grammar.VERSION_MAX_LENGTH,
    *[x for _ in range(3) for x in (grammar.TOKEN_CHARS, grammar.RANDOM_TOKEN_LENGTH)])


def request_fields():
    """SQL select items turning the raw fields into the request model."""
    path = "split_part(split_part(request, ' ', 2), '?', 1)"
    parts = "regexp_extract(%s, '%s', ['channel', 'subdir', 'filename'])" % (path, _PATH_RE)
    return [
        "split_part(request, ' ', 1) AS method",
        # anaconda.org's /t/<token>/ is a credential: never stored.
        "regexp_replace(%s, '^/t/[^/]+/', '/t/*/') AS path" % path,
        "nullif(%s.channel, '') AS channel" % parts,
        "nullif(%s.subdir, '') AS subdir" % parts,
        "nullif(%s.filename, '') AS filename" % parts,
    ]


def package_fields():
    """SQL select items over ``filename`` and ``method``: package parts and kind."""
    pkg = "regexp_extract(filename, '%s', ['name', 'version', 'build', 'ext'])" % _PACKAGE_RE
    return [
        "nullif(%s.name, '') AS name" % pkg,
        "nullif(%s.version, '') AS version" % pkg,
        "nullif(%s.build, '') AS build" % pkg,
        "CASE WHEN %s.ext = 'conda' THEN '.conda' WHEN %s.ext <> '' THEN '.tar.bz2' END AS ext" % (pkg, pkg),
        "CASE WHEN filename = '%s' THEN 'heartbeat'"
        " WHEN regexp_full_match(coalesce(filename, ''), '%s') THEN 'repodata'"
        " WHEN %s.name <> '' THEN 'package' ELSE 'other' END AS kind" % (HEARTBEAT_FILE, _REPODATA_RE, pkg),
    ]


def agent_fields(ua="user_agent"):
    """SQL select items for the client family and version, Python and OS."""
    first = "regexp_extract(coalesce(%s, ''), '^([A-Za-z][A-Za-z0-9_.-]*)/(\\S+)', ['product', 'version'])" % ua
    families = ", ".join("'%s'" % f for f in FAMILIES)
    return [
        "CASE WHEN lower(%s.product) IN (%s) THEN lower(%s.product)"
        " WHEN %s IS NULL OR %s = '' THEN NULL ELSE 'other' END AS client_family"
        % (first, families, first, ua, ua),
        "nullif(%s.version, '') AS client_version" % first,
        "nullif(regexp_extract(%s, '(?:^| )(?:CPython|PyPy)/([0-9][^ ]*)', 1), '') AS python_version" % ua,
        "nullif(regexp_extract(%s, '(?:^| )(Linux|Darwin|Windows|OSX|FreeBSD)/', 1), '') AS os_name" % ua,
        "nullif(regexp_extract(%s, '(?:^| )(?:Linux|Darwin|Windows|OSX|FreeBSD)/([^ ]+)', 1), '') AS os_version"
        % ua,
    ]


# One row per conda process as seen in one day from one address: what most questions need, a few per cent
# of the requests. Written once over the columns of view ``requests``; the store keeps it up to date at
# ingest (table ``session_rows``, view ``sessions``), any other engine computes it with this SQL.
SESSION_KEYS = ("day", "ip", "network", "client_family", "client_version", "python_version", "os_name",
                "os_version", "aau_version", "c", "s", "e", "a", "i", "o", "m", "agent")
SESSION_MEASURES = (
    ("requests", "count(*)"),
    ("downloads", "sum(CASE WHEN %s THEN 1 ELSE 0 END)" % DOWNLOAD),
    ("heartbeats", "sum(CASE WHEN kind = 'heartbeat' THEN 1 ELSE 0 END)"),
    ("conda_downloads", "sum(CASE WHEN %s AND name = 'conda' THEN 1 ELSE 0 END)" % DOWNLOAD),
    ("python_downloads", "sum(CASE WHEN %s AND name = 'python' THEN 1 ELSE 0 END)" % DOWNLOAD),
    ("first_ts", "min(ts)"),
    ("last_ts", "max(ts)"),
)
# How parts of one session (from several inputs) add up.
SESSION_MERGE = {"first_ts": "min", "last_ts": "max"}


# What the questions count clients, environments and addresses by (``c_id``, ``e_id``, ``ip_id``): anything equal
# exactly for equal tokens (addresses). The store's view ``keyed_requests`` gives its numbers; a store without
# them gives the values themselves, as this view over ``requests`` does.
KEYED_REQUESTS = "SELECT *, c AS c_id, e AS e_id, ip AS ip_id FROM requests"
_SESSION_COUNTING = ("c_id", "e_id")


def sessions_sql(requests):
    """SQL of the sessions of ``requests`` (a table, view or subquery with the columns of ``keyed_requests``)."""
    keys = ", ".join((*SESSION_KEYS, *_SESSION_COUNTING))
    return "SELECT %s, %s FROM %s r GROUP BY %s" % (
        keys, ", ".join("%s AS %s" % (expr, name) for name, expr in SESSION_MEASURES), requests, keys)


# The downloads grouped by day, address, request line and tokens: what the questions about packages read
# (popularity, installs), a third of the requests or fewer. The store keeps it at ingest (table
# ``download_rows``, view ``downloads``), any other engine computes it with this SQL. A key may be on several
# rows (one per input, and per spelling of a request line): readers add ``downloads`` and take the least
# ``first_ts``. The tokens and the address are there only as counting keys (c_id, e_id, ip_id); the package and
# its version have counting keys too (n_id, v_id).
DOWNLOAD_KEYS = ("day", "ip", "network", "channel", "subdir", "filename", "name", "version", "build", "ext", "c_id",
                 "e_id", "ip_id")


# The package and the package version as counting keys too (the store's view numbers them; a download is of
# a package file, whose name, version and build are never NULL, and never hold a "/").
PACKAGE_KEYS = "name AS n_id, concat_ws('/', name, version, build) AS v_id"


def downloads_sql(requests):
    """SQL of the grouped downloads of ``requests`` (a table, view or subquery with the columns of
    ``keyed_requests``)."""
    keys = ", ".join(DOWNLOAD_KEYS)
    return "SELECT %s, %s, count(*) AS downloads, min(ts) AS first_ts FROM %s r WHERE %s GROUP BY %s" % (
        keys, PACKAGE_KEYS, requests, DOWNLOAD, keys)
