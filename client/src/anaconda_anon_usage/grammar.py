"""The token grammar: what a token looks like on the wire.

This module is shared by the writer (the client, which puts tokens on conda's
user agent) and the reader (the analytics, which finds them in access logs).
It is the single place that knows the prefixes, the alphabet and the lengths.

It imports nothing, so that loading it costs next to nothing inside conda.

Wire format, appended after the user agent of the tool that sends it::

    aau/<version> c/<client> s/<session> e/<environment> a/<account>
    i/<installer>... o/<organization>... m/<machine>...

- ``aau/`` is always present and always first.
- ``c s e`` are random tokens: exactly 22 characters of the URL-safe base64
  alphabet (132 random bits, drawn from ``os.urandom``).
- ``a`` is the URL-safe base64 of the 16 bytes of an account UUID: 22
  characters of the same alphabet (its last character carries only 2 bits).
- ``i o m`` are system tokens set by administrators: 1 to 36 characters of
  the same alphabet. They may repeat, one word per value.
"""

# The URL-safe base64 alphabet, in base64 order.
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ALPHABET_SET = frozenset(ALPHABET)

RANDOM_TOKEN_LENGTH = 22
"""Length of a client, session, environment or account token."""

RANDOM_TOKEN_BYTES = 17
"""Random bytes drawn for a token: 22 characters need 132 bits, 17 bytes give 136."""

SYSTEM_TOKEN_MAX_LENGTH = 36
"""Longest installer, organization or machine token."""

VERSION_MAX_LENGTH = 64
"""Longest ``aau/`` version value the parser accepts."""

VERSION_PREFIX = "aau"

# Prefix -> field name, in wire order.
SINGLE_PREFIXES = {"c": "client", "s": "session", "e": "environment", "a": "anaconda_cloud"}
MULTI_PREFIXES = {"i": "installer", "o": "organization", "m": "machine"}
PREFIX_ORDER = ("aau", "c", "s", "e", "a", "i", "o", "m")

# Regular expressions for engines that validate in SQL (DuckDB, Spark).
TOKEN_CHARS = "[A-Za-z0-9_-]"
VERSION_CHARS = "[A-Za-z0-9_.+!-]"
RANDOM_TOKEN_PATTERN = "^%s{22}$" % TOKEN_CHARS
SYSTEM_TOKEN_PATTERN = "^%s{1,36}$" % TOKEN_CHARS


def word_pattern(prefix):
    """A full-match regular expression for one ``prefix/value`` word."""
    if prefix == VERSION_PREFIX:
        return "%s/%s{1,%d}" % (prefix, VERSION_CHARS, VERSION_MAX_LENGTH)
    if prefix in MULTI_PREFIXES:
        return "%s/%s{1,%d}" % (prefix, TOKEN_CHARS, SYSTEM_TOKEN_MAX_LENGTH)
    return "%s/%s{%d}" % (prefix, TOKEN_CHARS, RANDOM_TOKEN_LENGTH)

_VERSION_CHARS = frozenset(ALPHABET + ".+!")


def is_random_token(value):
    """True when ``value`` is exactly 22 characters of the token alphabet."""
    return (
        isinstance(value, str)
        and len(value) == RANDOM_TOKEN_LENGTH
        and ALPHABET_SET.issuperset(value)
    )


def is_system_token(value):
    """True when ``value`` is 1 to 36 characters of the token alphabet."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= SYSTEM_TOKEN_MAX_LENGTH
        and ALPHABET_SET.issuperset(value)
    )


def is_version(value):
    """True when ``value`` can be the value of an ``aau/`` word."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= VERSION_MAX_LENGTH
        and _VERSION_CHARS.issuperset(value)
    )


def encode_token(data):
    """URL-safe base64 of ``data`` without padding.

    ``encode_token(os.urandom(17))[:22]`` is a random token; the 16 bytes of a
    UUID give the 22-character account token.
    """
    number = int.from_bytes(data, "big")
    bits = len(data) * 8
    chars = -(-bits // 6)
    number <<= chars * 6 - bits
    out = []
    for _ in range(chars):
        out.append(ALPHABET[number & 63])
        number >>= 6
    return "".join(reversed(out))


def decode_token(value):
    """Bytes of a URL-safe base64 string without padding (the reverse of
    :func:`encode_token`). Raises ``ValueError`` on characters outside the
    alphabet or an impossible length."""
    if len(value) % 4 == 1:
        raise ValueError("impossible base64 length")
    number = 0
    for char in value:
        index = ALPHABET.find(char)
        if index < 0:
            raise ValueError("character outside the URL-safe base64 alphabet")
        number = number << 6 | index
    nbytes = len(value) * 6 // 8
    return (number >> (len(value) * 6 - nbytes * 8)).to_bytes(nbytes, "big")


def format_token_string(version, client="", session="", environment="",
                        anaconda_cloud="", installer=(), organization=(),
                        machine=()):
    """The wire string, in wire order, with absent tokens left out."""
    parts = [VERSION_PREFIX + "/" + version]
    for prefix, value in (("c", client), ("s", session), ("e", environment),
                          ("a", anaconda_cloud)):
        if value:
            parts.append(prefix + "/" + value)
    for prefix, values in (("i", installer), ("o", organization), ("m", machine)):
        for value in values or ():
            parts.append(prefix + "/" + value)
    return " ".join(parts)


class TokenSet(tuple):
    """A set of tokens: the ones a client sends, or the ones found in a user agent.

    Fields: ``version client session environment anaconda_cloud installer
    organization machine``, in wire order. The system tokens
    (``installer organization machine``) are sequences, possibly empty.
    """

    __slots__ = ()
    _fields = ("version", "client", "session", "environment", "anaconda_cloud",
               "installer", "organization", "machine")

    def __new__(cls, version, client, session, environment, anaconda_cloud,
                installer, organization, machine):
        return tuple.__new__(cls, (version, client, session, environment,
                                   anaconda_cloud, installer, organization, machine))

    version = property(lambda self: self[0])
    client = property(lambda self: self[1])
    session = property(lambda self: self[2])
    environment = property(lambda self: self[3])
    anaconda_cloud = property(lambda self: self[4])
    installer = property(lambda self: self[5])
    organization = property(lambda self: self[6])
    machine = property(lambda self: self[7])

    def _replace(self, **changes):
        return type(self)(*(changes.pop(name, value) for name, value in zip(self._fields, self)))

    def _asdict(self):
        return dict(zip(self._fields, self))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % pair for pair in zip(self._fields, self)
        ))


def parse_user_agent(user_agent):
    """Find the tokens in a user agent string.

    Returns ``None`` when there is no valid ``aau/<version>`` word, else a
    :class:`TokenSet` whose absent single tokens are ``None``. Otherwise
    every word after the first ``aau/`` word that has a token prefix is read;
    values that break the grammar are not tokens and are left out. For the
    single tokens (``c s e a``) the first valid value wins; the system tokens
    keep every distinct valid value in order.
    """
    if not user_agent or "aau/" not in user_agent:
        return None
    words = user_agent.split()
    start = next(
        (n for n, word in enumerate(words) if word.startswith("aau/") and is_version(word[4:])),
        None,
    )
    if start is None:
        return None
    single = {}
    multi = {"i": [], "o": [], "m": []}
    for word in words[start + 1:]:
        if len(word) < 3 or word[1] != "/":
            continue
        prefix, value = word[0], word[2:]
        if prefix in SINGLE_PREFIXES:
            if prefix not in single and is_random_token(value):
                single[prefix] = value
        elif prefix in multi:
            values = multi[prefix]
            if value not in values and is_system_token(value):
                values.append(value)
    return TokenSet(
        words[start][4:],
        single.get("c"),
        single.get("s"),
        single.get("e"),
        single.get("a"),
        tuple(multi["i"]),
        tuple(multi["o"]),
        tuple(multi["m"]),
    )
