"""The plugin's rules that need no conda: redaction, host allowlist, heartbeat."""

import subprocess
import sys

import pytest
from anaconda_anon_usage import grammar, plugin, tokens

from conftest import child_env


def test_redaction_keeps_the_prefixes_and_hides_every_value():
    string = "aau/0.8.0 c/%s s/%s e/%s a/%s i/inst o/org1 o/org2 m/mach" % (
        tokens.random_token(), tokens.random_token(), tokens.random_token(), tokens.random_token())
    assert plugin.redact(string) == "aau/0.8.0 c/. s/. e/. a/. i/. o/. o/. m/."


def test_tokens_are_added_once_after_condas_user_agent():
    plain = "conda/26.7.1 requests/2.32.5 CPython/3.12.1 Linux/6.1 debian/12 glibc/2.36"
    once = plugin.with_tokens(plain, "aau/0.8.0 c/x")
    assert once == plain + " aau/0.8.0 c/x"
    assert plugin.with_tokens(once, "aau/0.8.0 c/y") == plain + " aau/0.8.0 c/y"
    assert plugin.with_tokens(once, "") == plain


@pytest.mark.parametrize("value,expected", [
    (True, True), (False, False), ("yes", True), ("on", True), ("true", True), ("Off", False),
    ("no", False), ("false", False), ("maybe", None), (3, None),
])
def test_setting_spellings(value, expected):
    assert plugin.as_bool(value) is expected


@pytest.mark.parametrize("netloc,patterns,allowed", [
    ("repo.example.org", (), True),
    ("repo.example.org", ("repo.example.org",), True),
    ("REPO.example.org:443", ("repo.example.org",), True),
    ("repo.example.org:8443", ("repo.example.org:443",), False),
    ("repo.example.org:443", ("repo.example.org:443",), True),
    ("conda.anaconda.org", ("repo.example.org",), False),
    ("mirror.example.org", ("*.example.org",), True),
    ("example.org.evil.com", ("*.example.org",), False),
    ("user:secret@repo.example.org", ("repo.example.org",), True),
    ("[::1]:8080", ("[::1]",), True),
])
def test_host_allowlist(netloc, patterns, allowed):
    assert plugin.host_allowed(netloc, plugin.normal_hosts(patterns)) is allowed


def test_host_allowlist_from_a_string():
    assert plugin.normal_hosts("a.org, B.org") == ("a.org", "b.org")


@pytest.mark.parametrize("setting,expected", [
    (True, "http://h/ch/noarch/activate-0.0.0-0.conda"),
    ("yes", "http://h/ch/noarch/activate-0.0.0-0.conda"),
    (False, None), (None, None), ("off", None),
    ("https://beat.example.org/ping", "https://beat.example.org/ping"),
    ("not a url", None),
])
def test_heartbeat_url(setting, expected):
    assert plugin.heartbeat_url(setting, "http://h/ch/noarch/") == expected


def test_heartbeat_script_is_silent_posix_shell(tmp_path):
    script = tmp_path / "hb.sh"
    script.write_text(plugin.heartbeat_script())
    marker = tmp_path / "ran"
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho \"$@\" > %s\necho noise\necho noise >&2\n" % marker)
    fake_python.chmod(0o755)
    env = {"CONDA_PYTHON_EXE": str(fake_python), "CONDA_PREFIX": "/some/env", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["sh", "-c", ". %s; echo sourced" % script], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.stdout == "sourced\n" and done.stderr == ""
    for _ in range(100):
        if marker.exists() and marker.read_text():
            break
        subprocess.run(["sleep", "0.05"])
    assert marker.read_text().split() == ["-m", "anaconda_anon_usage.heartbeat", "--prefix", "/some/env"]


def test_the_plugin_module_imports_without_conda():
    code = (
        "import sys; sys.modules['conda'] = None\n"
        "from anaconda_anon_usage import plugin\n"
        "assert not plugin.HAS_HEADER_HOOKS\n"
        "assert list(plugin.conda_pre_commands()) == []\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True)
    assert done.stdout == "ok\n" and done.stderr == ""


def test_only_the_plugin_module_imports_conda():
    import pathlib

    package = pathlib.Path(tokens.__file__).parent
    importing = sorted(p.name for p in package.glob("*.py")
                       if "import conda" in p.read_text() or "from conda" in p.read_text())
    assert importing == ["plugin.py"]


def test_heartbeat_command_never_fails_without_conda():
    code = ("import sys; sys.modules['conda'] = None\n"
            "from anaconda_anon_usage.heartbeat import main\n"
            "raise SystemExit(main(['--prefix', '/x']))")
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_grammar_parses_what_the_policy_builds():
    agent = plugin.with_tokens("conda/26.7.1", tokens.token_string())
    assert grammar.parse_user_agent(agent).session == tokens.session_token()
