"""The plugin's rules that need no conda: redaction, host allowlist, heartbeat."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from anaconda_anon_usage import _activation, grammar, heartbeat, plugin, tokens

from conftest import SRC, child_env


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
    assert heartbeat.heartbeat_url(setting, "http://h/ch/noarch/") == expected


@pytest.mark.parametrize("argv,orig,expected", [
    (["/opt/conda/bin/conda", "shell.posix", "activate", "env"], None, True),
    (["/opt/conda/bin/conda", "shell.bash", "activate"], None, True),
    (["C:\\conda\\Scripts\\conda-script.py", "shell.cmd.exe", "activate", "x"], None, True),
    (["-m", "shell.bash", "activate", "x"], ["python", "-m", "conda", "shell.bash", "activate", "x"], True),
    (["-m", "shell.bash", "activate", "x"], ["python", "-m", "other", "shell.bash", "activate", "x"], False),
    (["/opt/conda/bin/conda", "shell.posix", "deactivate"], None, False),
    (["/opt/conda/bin/conda", "shell.posix", "reactivate"], None, False),
    (["/opt/conda/bin/conda", "shell.posix", "hook"], None, False),
    (["/opt/conda/bin/conda", "activate", "x"], None, False),
    (["/usr/bin/mamba", "shell.posix", "activate", "x"], None, False),
    (["-c"], None, False),
])
def test_which_processes_are_activations(argv, orig, expected):
    assert _activation.is_conda_activation(argv, orig) is expected


@pytest.mark.parametrize("args,expected", [
    ([], ("default", None)), (["--stack"], ("default", None)), (["base"], ("name", "base")),
    (["--no-stack", "work"], ("name", "work")), (["./envs/x"], ("path", "./envs/x")),
    (["C:\\envs\\x"], ("path", "C:\\envs\\x")), (["work", "--help"], None), (["-h"], None),
])
def test_what_an_activation_names(args, expected):
    assert heartbeat.activation_target(args) == expected


class _Raw:
    def __init__(self, value):
        self._raw_value = value


@pytest.mark.parametrize("raw,may", [
    ({}, False),
    ({"/etc/conda/.condarc": {"channels": _Raw(["x"])}}, False),
    ({"~/.condarc": {"anaconda_heartbeat": _Raw("false")}, "envvars": {"anaconda_heartbeat": _Raw("no")}}, False),
    ({"~/.condarc": {"anaconda_heartbeat": _Raw(False)}}, False),
    ({"~/.condarc": {"anaconda_heartbeat": _Raw("false")}, "envvars": {"anaconda_heartbeat": _Raw("1")}}, True),
    ({"~/.condarc": {"anaconda_heartbeat": _Raw(True)}}, True),
    ({"~/.condarc": {"anaconda_heartbeat": _Raw("https://beat.example.org/")}}, True),
    ({"~/.condarc": {"anaconda_heartbeat": object()}}, True),
    (None, True),
])
def test_the_quick_look_at_the_heartbeat_setting(raw, may):
    assert _activation.settings_may_turn_on(raw, "anaconda_heartbeat") is may


def test_the_start_up_hook_names_the_plugins_setting():
    assert _activation.HEARTBEAT_SETTING == plugin.HEARTBEAT_SETTING


def _run_start_up_hook(tmp_path, argv, environ=None, context_raw_data=None):
    """Run the installed .pth line the way site does, in a process whose
    ``sys.argv`` is ``argv``; a stand-in ``sys.executable`` records what the
    hook starts. Returns (completed process, recorded arguments or None)."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    shutil.copy(Path(SRC) / "anaconda_anon_usage_activation.pth", site_dir)
    marker = tmp_path / "started"
    stand_in = tmp_path / "python"
    stand_in.write_text("#!/bin/sh\nprintf '%%s\\n' \"$@\" > %s.tmp; echo out; echo err >&2; mv %s.tmp %s\n"
                        % (marker, marker, marker))
    stand_in.chmod(0o755)
    fake_conda = ""
    if context_raw_data is not None:
        fake_conda = ("import types; m = types.ModuleType('conda.base.context'); "
                      "m.context = types.SimpleNamespace(raw_data=%r); sys.modules['conda.base.context'] = m; "
                      % (context_raw_data,))
    code = ("import sys; %s; sys.executable = %r; %s"
            "import site; site.addsitedir(%r); print('activation script')" % (
                "del sys.argv" if argv is None else "sys.argv = %r" % (argv,), str(stand_in), fake_conda,
                str(site_dir)))
    done = subprocess.run([sys.executable, "-c", code], env=child_env(**(environ or {})), capture_output=True,
                          text=True, timeout=60)
    for _ in range(100):
        if marker.exists():
            break
        time.sleep(0.05)
    return done, marker.read_text().splitlines() if marker.exists() else None


def test_the_start_up_hook_starts_the_heartbeat_after_an_activation(tmp_path):
    done, started = _run_start_up_hook(tmp_path, ["/opt/conda/bin/conda", "shell.posix", "activate", "work"])
    assert done.returncode == 0 and done.stdout == "activation script\n" and done.stderr == ""
    assert started == ["-m", "anaconda_anon_usage.heartbeat", "--activation", "--", "work"]


@pytest.mark.parametrize("argv,environ,raw", [
    (["/opt/conda/bin/conda", "shell.posix", "deactivate"], None, None),
    (["/usr/bin/python3", "shell.posix", "activate", "x"], None, None),
    (["/opt/conda/bin/conda", "shell.posix", "activate", "work"], {"DO_NOT_TRACK": "1"}, None),
    (["/opt/conda/bin/conda", "shell.posix", "activate", "work"], None, {}),
    (None, None, None),  # an embedded Python may have no sys.argv when site runs
    (["python"], None, None),
    ([], None, None),
    (["/opt/conda/bin/conda", 7, "activate"], None, None),
])
def test_the_start_up_hook_starts_nothing_otherwise(tmp_path, argv, environ, raw):
    done, started = _run_start_up_hook(tmp_path, argv, environ, raw)
    assert done.returncode == 0 and done.stdout == "activation script\n" and done.stderr == ""
    time.sleep(0.5)
    assert started is None and not (tmp_path / "started.tmp").exists()


@pytest.mark.parametrize("how", ["posix_spawn", "subprocess"])
def test_a_detached_process_holds_none_of_its_parents_streams(tmp_path, how):
    """The shell reads the activation through a pipe until every writer has
    closed it: the heartbeat process must not be one of them (also where
    ``os.posix_spawn`` is missing and ``subprocess`` starts it)."""
    code = ("from anaconda_anon_usage import _activation; import os, sys\n"
            + ("del os.posix_spawn\n" if how == "subprocess" else "") +
            "pid = _activation.start_detached(['/bin/sh', '-c', 'sleep 30'])\n"
            "print(pid)\n")
    process = subprocess.Popen([sys.executable, "-c", code], env=child_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=20)  # 30 s if the child kept the pipes open
    pid = int(out)
    try:
        assert err == "" and os.getsid(pid) == pid  # a session of its own: no terminal signals reach it
    finally:
        os.kill(pid, 9)


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


def test_only_the_plugin_and_the_heartbeat_import_conda():
    import pathlib

    package = pathlib.Path(tokens.__file__).parent
    importing = sorted(p.name for p in package.glob("*.py")
                       if "import conda" in p.read_text() or "from conda" in p.read_text())
    assert importing == ["heartbeat.py", "plugin.py"]


def test_heartbeat_command_never_fails_without_conda():
    code = ("import sys; sys.modules['conda'] = None\n"
            "from anaconda_anon_usage.heartbeat import main\n"
            "raise SystemExit(main(sys.argv[1:]))")
    background = subprocess.run([sys.executable, "-c", code, "--activation", "--", "work"], env=child_env(),
                                capture_output=True, text=True)
    assert background.returncode == 0 and background.stdout == "" and background.stderr == ""
    by_hand = subprocess.run([sys.executable, "-c", code, "-p", "/x"], env=child_env(), capture_output=True,
                             text=True)
    assert by_hand.returncode == 1 and by_hand.stdout == ""
    assert by_hand.stderr.count("\n") == 1 and "not sent" in by_hand.stderr


def test_grammar_parses_what_the_policy_builds():
    agent = plugin.with_tokens("conda/26.7.1", tokens.token_string())
    assert grammar.parse_user_agent(agent).session == tokens.session_token()
