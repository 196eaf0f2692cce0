"""What a user and a package server see of the tokens."""

import base64
import json
import os
import stat
import sys
import threading
import time
import uuid

import pytest
from anaconda_anon_usage import __version__, grammar, tokens

from conftest import child_env, run_python, tokens_in_child

TOKEN = "AbCdEfGhIjKlMnOpQrStU_"


def read(path):
    with open(path) as handle:
        return handle.read()


# --- client token ----------------------------------------------------------


def test_client_token_is_made_once_and_kept_in_home_conda(home):
    token = tokens.client_token()
    assert grammar.is_random_token(token)
    path = home / ".conda" / "aau_token"
    assert read(path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_client_token_is_the_same_in_every_process(home):
    first, second = tokens_in_child(), tokens_in_child()
    assert first["client"] == second["client"] == read(home / ".conda" / "aau_token")


def test_existing_client_token_file_is_used(home):
    (home / ".conda").mkdir()
    (home / ".conda" / "aau_token").write_text(TOKEN)
    assert tokens.client_token() == TOKEN


def test_client_token_file_written_by_other_tools_is_read_by_its_first_word(home):
    (home / ".conda").mkdir()
    (home / ".conda" / "aau_token").write_text("\n\n   " + TOKEN + "\t# a comment\nother\n")
    assert tokens.client_token() == TOKEN


# --- session token ---------------------------------------------------------


def test_session_token_is_new_in_every_process_and_stable_within_one():
    first, second = tokens_in_child(), tokens_in_child()
    assert first["session"] != second["session"]
    assert tokens.session_token() == tokens.session_token()
    assert grammar.is_random_token(tokens.session_token())


# --- environment token -----------------------------------------------------


def test_environment_token_is_kept_in_prefix_etc(prefix):
    token = tokens.environment_token(str(prefix))
    path = prefix / "etc" / "aau_token"
    assert read(path) == token and grammar.is_random_token(token)


def test_base_and_child_environments_have_distinct_tokens(tmp_path, prefix):
    base = tmp_path / "base"
    (base / "conda-meta").mkdir(parents=True)
    other = tmp_path / "envs" / "other"
    other.mkdir(parents=True)
    values = {tokens.environment_token(str(p)) for p in (base, prefix, other)}
    assert len(values) == 3


def test_environment_token_is_readable_by_every_user_of_a_shared_environment(prefix):
    old = os.umask(0o077)
    try:
        tokens.environment_token(str(prefix))
    finally:
        os.umask(old)
    assert stat.S_IMODE((prefix / "etc" / "aau_token").stat().st_mode) == 0o644


def test_environment_token_defaults_to_this_pythons_prefix(monkeypatch, prefix):
    monkeypatch.setattr(sys, "prefix", str(prefix))
    assert tokens.environment_token() == read(prefix / "etc" / "aau_token")
    assert tokens.environment_token() == tokens.environment_token(str(prefix))


def test_environment_token_accepts_path_objects(prefix):
    assert tokens.environment_token(prefix) == tokens.environment_token(str(prefix))


def test_new_environment_token_is_used_now_and_written_when_the_prefix_exists(tmp_path):
    target = tmp_path / "envs" / "new"
    code = (
        "import os, sys; from anaconda_anon_usage import tokens\n"
        "t = tokens.environment_token(sys.argv[1])\n"
        "assert not os.path.exists(sys.argv[1]), 'prefix created early'\n"
        "os.makedirs(os.path.join(sys.argv[1], 'conda-meta'))\n"
        "print(tokens.token_string(sys.argv[1]))\n"
    )
    done = run_python_args(code, str(target))
    assert done.returncode == 0, done.stderr
    sent = grammar.parse_user_agent(done.stdout)
    assert sent.environment == read(target / "etc" / "aau_token")


def test_an_interrupted_create_leaves_no_directory_behind(tmp_path):
    target = tmp_path / "envs" / "never"
    done = run_python_args(
        "import sys; from anaconda_anon_usage import tokens; print(tokens.environment_token(sys.argv[1]))",
        str(target),
    )
    assert done.returncode == 0 and grammar.is_random_token(done.stdout.strip())
    assert not target.exists() and not target.parent.exists()


def test_deferred_token_is_written_by_write_deferred_once_the_prefix_exists(tmp_path):
    target = tmp_path / "new"
    token = tokens.environment_token(str(target))
    tokens.write_deferred()
    assert not target.exists()
    target.mkdir()
    tokens.write_deferred()
    assert read(target / "etc" / "aau_token") == token
    assert tokens.environment_token(str(target)) == token


def run_python_args(code, *args):
    import subprocess

    return subprocess.run([sys.executable, "-c", code, *args], env=child_env(),
                          capture_output=True, text=True, timeout=60)


# --- account token ---------------------------------------------------------


def _jwt(payload, header=None):
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return ".".join([part(header or {"alg": "RS256", "typ": "JWT"}), part(payload), part({"sig": 1})])


@pytest.fixture
def fake_anaconda_auth(tmp_path, monkeypatch):
    """An importable ``anaconda_auth`` whose login is the JWT in $FAKE_AAU_JWT."""
    package = tmp_path / "site" / "anaconda_auth"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "token.py").write_text(
        "import os\n"
        "class TokenNotFoundError(Exception):\n    pass\n"
        "class TokenInfo:\n"
        "    def __init__(self, api_key):\n        self.api_key = api_key\n"
        "    @classmethod\n"
        "    def load(cls, domain):\n"
        "        key = os.environ.get('FAKE_AAU_JWT')\n"
        "        if key == 'raise':\n            raise RuntimeError('keyring is locked')\n"
        "        if not key:\n            raise TokenNotFoundError(domain)\n"
        "        return cls(key)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield
    for name in [m for m in sys.modules if m.startswith("anaconda_auth")]:
        del sys.modules[name]


def test_account_token_comes_from_an_unexpired_login(fake_anaconda_auth, monkeypatch):
    user = uuid.uuid4()
    monkeypatch.setenv("FAKE_AAU_JWT", _jwt({"sub": str(user), "exp": int(time.time()) + 3600}))
    expected = base64.urlsafe_b64encode(user.bytes).decode().rstrip("=")
    assert tokens.anaconda_auth_token() == expected
    assert " a/" + expected in tokens.token_string()


@pytest.mark.parametrize("payload,header", [
    ({"sub": "11111111-2222-3333-4444-555555555555", "exp": 1000}, None),  # expired
    ({"sub": "not-a-uuid", "exp": 4102444800}, None),
    ({"sub": "11111111-2222-3333-4444-555555555555"}, None),  # no exp
    ({"sub": "11111111-2222-3333-4444-555555555555", "exp": "4102444800"}, None),
    ({"sub": "11111111-2222-3333-4444-555555555555", "exp": 4102444800}, {"typ": "JWS"}),
])
def test_account_token_is_absent_for_unusable_logins(fake_anaconda_auth, monkeypatch, payload, header):
    monkeypatch.setenv("FAKE_AAU_JWT", _jwt(payload, header))
    assert tokens.anaconda_auth_token() is None
    assert " a/" not in tokens.token_string()


@pytest.mark.parametrize("key", ["", "raise", "not.a.jwt", "a.b", "....."])
def test_account_token_is_absent_without_a_login(fake_anaconda_auth, monkeypatch, key):
    monkeypatch.setenv("FAKE_AAU_JWT", key)
    assert tokens.anaconda_auth_token() is None


def test_account_token_is_absent_without_anaconda_auth():
    assert tokens.anaconda_auth_token() is None
    assert "a/" not in tokens.token_string()


def test_account_token_accepts_every_uuid_spelling():
    user = uuid.uuid4()
    expected = grammar.encode_token(user.bytes)
    for spelling in (str(user), user.hex, "{%s}" % user, user.urn, str(user).upper()):
        key = _jwt({"sub": spelling, "exp": 4102444800})
        assert tokens.account_token_from_jwt(key) == expected, spelling


# --- system tokens ---------------------------------------------------------


def test_system_tokens_come_from_files_on_the_search_path(system_dir, home):
    (system_dir / "org_token").write_text("org-one\n# Anaconda organization token\n")
    (system_dir / ".machine_token").write_text("machine_1\n")
    (system_dir / "installer_token").write_text("inst\n")
    string = tokens.token_string()
    assert string.split()[-3:] == ["i/inst", "o/org-one", "m/machine_1"]


def test_several_system_tokens_are_all_sent_environment_variable_first(system_dir, home, monkeypatch):
    (system_dir / "org_token").write_text("from-etc")
    (system_dir / ".org_token").write_text("dotted-etc")
    (home / ".conda").mkdir()
    (home / ".conda" / "org_token").write_text("from-home")
    (home / ".conda" / ".org_token").write_text("from-etc")  # duplicate
    monkeypatch.setenv("ANACONDA_ANON_USAGE_ORG_TOKEN", "from-env")
    assert tokens.organization_tokens() == ["from-env", "from-etc", "dotted-etc", "from-home"]
    assert tokens.token_string().count(" o/") == 4


def test_invalid_system_tokens_are_dropped(system_dir, monkeypatch):
    (system_dir / "org_token").write_text("x" * 37)
    (system_dir / ".org_token").write_text("has.dots")
    (system_dir / "machine_token").write_text("")
    monkeypatch.setenv("ANACONDA_ANON_USAGE_INSTALLER_TOKEN", "bad token!")
    monkeypatch.setenv("ANACONDA_ANON_USAGE_MACHINE_TOKEN", "m" * 36)
    assert tokens.organization_tokens() == []
    assert tokens.installer_tokens() == []
    assert tokens.machine_tokens() == ["m" * 36]
    string = tokens.token_string()
    assert "has.dots" not in string and "x" * 37 not in string and "bad" not in string


def test_search_path_order(monkeypatch, home, system_dir, tmp_path):
    root, active = tmp_path / "root", tmp_path / "active"
    monkeypatch.setenv("CONDA_EXE", str(root / "bin" / "conda"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CONDA_PREFIX", str(active))
    assert tokens.search_path() == [
        str(system_dir), str(root), str(tmp_path / "xdg" / "conda"),
        str(home / ".config" / "conda"), str(home / ".conda"), str(active),
    ]


@pytest.mark.parametrize("variable,value,expected", [
    ("CONDA_ROOT", "/opt/root", "/opt/root"),
    ("CONDA_PYTHON_EXE", "/opt/py/bin/python", "/opt/py"),
    ("PATH", "/usr/bin:/opt/miniconda/condabin", "/opt/miniconda"),
])
def test_conda_root_is_found_from_the_environment(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    assert tokens.conda_root() == expected


def test_org_token_in_the_active_environment_is_found(tmp_path, monkeypatch):
    active = tmp_path / "active"
    active.mkdir()
    (active / ".org_token").write_text("active-org")
    monkeypatch.setenv("CONDA_PREFIX", str(active))
    assert tokens.organization_tokens() == ["active-org"]


# --- the whole string --------------------------------------------------------


def test_token_string_order(system_dir, prefix, monkeypatch):
    monkeypatch.setenv("ANACONDA_ANON_USAGE_MACHINE_TOKEN", "mach")
    monkeypatch.setenv("ANACONDA_ANON_USAGE_ORG_TOKEN", "org")
    monkeypatch.setenv("ANACONDA_ANON_USAGE_INSTALLER_TOKEN", "inst")
    words = tokens.token_string(str(prefix)).split()
    assert [w.split("/")[0] for w in words] == ["aau", "c", "s", "e", "i", "o", "m"]
    assert words[0] == "aau/" + __version__


def test_disabled_leaves_only_the_version(monkeypatch):
    monkeypatch.setenv("ANACONDA_ANON_USAGE_ORG_TOKEN", "org")
    assert tokens.token_string(enabled=False) == "aau/" + __version__
    assert tokens.token_string(None, False) == "aau/" + __version__


def test_all_tokens_fields_match_anaconda_anon_usage(prefix):
    value = tokens.all_tokens(str(prefix))
    assert value._fields == ("version", "client", "session", "environment",
                             "anaconda_cloud", "installer", "organization", "machine")
    assert value.version == __version__ and value.client == tokens.client_token()
    assert value.environment == tokens.environment_token(str(prefix))
    assert value.installer == [] and value.anaconda_cloud is None
    assert value._asdict()["session"] == tokens.session_token()


def test_compatible_names_exist():
    from anaconda_anon_usage import utils

    for name in ("version_token", "client_token", "session_token", "environment_token",
                 "anaconda_auth_token", "installer_tokens", "organization_tokens",
                 "machine_tokens", "all_tokens", "token_string", "Tokens"):
        assert callable(getattr(tokens, name)), name
    assert grammar.is_random_token(utils._random_token())
    first = tokens.session_token()
    utils._cache_clear()
    assert tokens.session_token() != first


def test_tokens_are_computed_once_under_concurrent_first_use(home):
    results, start = [], threading.Barrier(24)

    def worker():
        start.wait()
        results.append((tokens.client_token(), tokens.session_token(), tokens.token_string()))

    threads = [threading.Thread(target=worker) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert results[0][0] == read(home / ".conda" / "aau_token")


def test_using_the_library_writes_nothing_to_stdout(system_dir):
    done = run_python("from anaconda_anon_usage import tokens; tokens.token_string(); tokens.all_tokens()",
                      env=child_env(ANACONDA_ANON_USAGE_DEBUG="1"))
    assert done.returncode == 0 and done.stdout == ""
    assert "anaconda-anon-usage:" in done.stderr  # debug output went to stderr


def test_account_token_is_found_through_an_import_hook(monkeypatch, tmp_path):
    """anaconda_auth installed in a way only the import system knows (an editable install's finder)."""
    import importlib.abc
    import importlib.util

    source = tmp_path / "hidden"
    (source / "anaconda_auth").mkdir(parents=True)
    (source / "anaconda_auth" / "__init__.py").write_text("")
    user = uuid.uuid4()
    key = _jwt({"sub": str(user), "exp": int(time.time()) + 3600})
    (source / "anaconda_auth" / "token.py").write_text(
        "class TokenInfo:\n    api_key = %r\n    @classmethod\n    def load(cls, domain):\n"
        "        return cls()\n" % key)

    class EditableFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "anaconda_auth":
                return importlib.util.spec_from_file_location(
                    name, source / "anaconda_auth" / "__init__.py",
                    submodule_search_locations=[str(source / "anaconda_auth")])
            return None

    monkeypatch.setattr(sys, "meta_path", [EditableFinder(), *sys.meta_path])
    try:
        assert tokens.anaconda_auth_token() == grammar.encode_token(user.bytes)
    finally:
        for name in [m for m in sys.modules if m.startswith("anaconda_auth")]:
            del sys.modules[name]


def test_disabled_creates_no_token_file(home, prefix):
    assert tokens.token_string(str(prefix), enabled=False) == "aau/" + __version__
    assert not (home / ".conda").exists() and not (prefix / "etc").exists()


def test_a_forked_child_computes_tokens_while_another_thread_holds_the_lock(home):
    import signal

    from anaconda_anon_usage._state import PROCESS

    held, release = threading.Event(), threading.Event()

    def holder():
        with PROCESS.lock:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(30)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the holding thread does not exist here
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(10)  # a deadlock ends the child instead of the test run
            ok = grammar.is_random_token(tokens.client_token())
            os._exit(0 if ok else 1)
    finally:
        release.set()
        thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_python_dash_m_tokens_runs_the_cli():
    done = run_python("import runpy; runpy.run_module('anaconda_anon_usage.tokens', run_name='__main__')")
    assert done.returncode == 0 and grammar.parse_user_agent(done.stdout).client
