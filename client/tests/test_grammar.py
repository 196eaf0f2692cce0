"""The token grammar: what servers rely on when they read a user agent."""

import base64
import os
import re
import uuid

from anaconda_anon_usage import grammar, tokens
from hypothesis import given
from hypothesis import strategies as st

ALPHABET = grammar.ALPHABET
random_tokens = st.text(alphabet=ALPHABET, min_size=22, max_size=22)
system_tokens = st.text(alphabet=ALPHABET, min_size=1, max_size=36)


def test_random_token_is_22_url_safe_characters():
    for _ in range(200):
        token = tokens.random_token()
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)


def test_every_character_of_a_random_token_varies():
    # With 6 random bits per position, 2000 tokens show many values at every
    # position, including the last (a token cut from padded base64 would not).
    samples = [tokens.random_token() for _ in range(2000)]
    for position in range(22):
        assert len({s[position] for s in samples}) > 50, position


def test_random_token_uses_os_urandom(monkeypatch):
    monkeypatch.setattr(os, "urandom", lambda n: bytes(range(n)))
    expected = base64.urlsafe_b64encode(bytes(range(17))).decode()[:22]
    assert tokens.random_token() == expected


@given(st.binary(max_size=64))
def test_encode_matches_urlsafe_base64_without_padding(data):
    assert grammar.encode_token(data) == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert grammar.decode_token(grammar.encode_token(data)) == data


@given(random_tokens, random_tokens, random_tokens,
       st.lists(system_tokens, max_size=3, unique=True),
       st.lists(system_tokens, max_size=3, unique=True),
       st.lists(system_tokens, max_size=3, unique=True),
       st.sampled_from(["0.8.0", "0.7.6", "1.0.0rc1"]))
def test_format_then_parse_gives_the_tokens_back(c, s, e, i, o, m, version):
    string = grammar.format_token_string(version, c, s, e, None, i, o, m)
    ua = "conda/24.1.2 requests/2.31.0 CPython/3.11.7 Linux/6.1.0 debian/12 glibc/2.36 " + string
    parsed = grammar.parse_user_agent(ua)
    assert parsed == (version, c, s, e, None, tuple(i), tuple(o), tuple(m))
    assert parsed.client == c and parsed.machine == tuple(m)


@given(st.text())
def test_parse_never_fails_and_only_returns_grammatical_values(text):
    parsed = grammar.parse_user_agent(text)
    if parsed is None:
        return
    for value in (parsed.client, parsed.session, parsed.environment, parsed.anaconda_cloud):
        assert value is None or grammar.is_random_token(value)
    for values in (parsed.installer, parsed.organization, parsed.machine):
        assert all(grammar.is_system_token(v) for v in values)


def test_malformed_values_are_not_tokens():
    ua = ("conda/23.7.3 aau/0.7.6 c/short s/" + "x" * 23 + " e/has.dot.in.it.123456 "
          "o/" + "y" * 37 + " m/ok-token i/bad~char")
    parsed = grammar.parse_user_agent(ua)
    assert parsed.version == "0.7.6"
    assert (parsed.client, parsed.session, parsed.environment) == (None, None, None)
    assert parsed.organization == () and parsed.installer == ()
    assert parsed.machine == ("ok-token",)


def test_no_aau_word_means_no_tokens():
    assert grammar.parse_user_agent("conda/23.7.3 c/" + "A" * 22) is None
    assert grammar.parse_user_agent("") is None
    assert grammar.parse_user_agent(None) is None
    assert grammar.parse_user_agent("mamba/1.5 aau/") is None


def test_disabled_client_sends_only_the_version():
    parsed = grammar.parse_user_agent("conda/26.1.0 requests/2.32 aau/0.8.0")
    assert parsed.version == "0.8.0"
    assert parsed.client is None and parsed.organization == ()


def test_the_announcements_example_parses():
    ua = ("conda/23.7.3 requests/2.31.0 CPython/3.10.12 Darwin/22.6.0 OSX/13.5.1 aau/0.3.0 "
          "c/16lUJyi7R8u-Co33mZJElQ s/YYFCctOeTjyDnXLazjLy_A e/rVB0_HxgRXKPLzKt9sKcVA")
    parsed = grammar.parse_user_agent(ua)
    assert parsed.version == "0.3.0"
    assert parsed.client == "16lUJyi7R8u-Co33mZJElQ"
    assert parsed.session == "YYFCctOeTjyDnXLazjLy_A"
    assert parsed.environment == "rVB0_HxgRXKPLzKt9sKcVA"


def test_repeated_system_tokens_are_kept_once_each_in_order():
    parsed = grammar.parse_user_agent("x aau/1 o/b o/a o/b m/z")
    assert parsed.organization == ("b", "a") and parsed.machine == ("z",)


def test_account_token_is_the_uuid_bytes_in_url_safe_base64():
    user = uuid.uuid4()
    token = grammar.encode_token(user.bytes)
    assert token == base64.urlsafe_b64encode(user.bytes).decode().rstrip("=")
    assert grammar.is_random_token(token)


def test_patterns_agree_with_the_validators():
    for value in ["A" * 22, "A" * 21, "A" * 36, "A" * 37, "a-b_c", "a.b", ""]:
        assert bool(re.fullmatch(grammar.RANDOM_TOKEN_PATTERN.strip("^$"), value)) == \
            grammar.is_random_token(value)
        assert bool(re.fullmatch(grammar.SYSTEM_TOKEN_PATTERN.strip("^$"), value)) == \
            grammar.is_system_token(value)
