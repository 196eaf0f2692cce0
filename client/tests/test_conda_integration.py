"""The plugin inside a real conda: what a package server sees, and what a user sees.

Skipped, with the reason, where no conda can be found (see conda_harness).
"""

import json
import os
import subprocess
import time

import pytest
from anaconda_anon_usage import __version__, grammar

from conda_harness import CondaUser, RecordingServer, build_channel, find_conda

pytestmark = pytest.mark.conda

VALUES = ["true", "false", "yes", "no", "on", "off", None]
ENABLED = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False, None: True}


@pytest.fixture(scope="module")
def conda_python():
    python, info = find_conda()
    if python is None:
        pytest.skip(info)
    if info["installed"] and info["plugin_version"] != __version__:
        pytest.skip("that python has another anaconda-anon-usage installed (%s)" % info["plugin_version"])
    return python, info


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    channel = build_channel(tmp_path_factory.mktemp("channel"))
    recording = RecordingServer(channel.parent)
    yield recording
    recording.close()


@pytest.fixture
def user(conda_python, server, tmp_path):
    python, info = conda_python
    server.take()
    return CondaUser(python, tmp_path, server.url + "/channel", info["installed"])


def agents(requests):
    return sorted({agent for _, _, agent in requests})


def one_agent(server):
    """The one user agent of every request since the last look."""
    requests = server.take()
    assert requests, "conda made no request"
    seen = agents(requests)
    assert len(seen) == 1, seen
    return seen[0]


def tokens_of(agent):
    parsed = grammar.parse_user_agent(agent)
    assert parsed is not None, agent
    return parsed


def test_every_request_of_a_command_carries_one_user_agent_with_the_tokens(user, server):
    user.conda("create", "--yes", "-n", "work", "aau-a=1.0")
    requests = server.take()
    paths = [path for _, path, _ in requests]
    assert any(p.endswith("repodata.json") for p in paths) and any(p.endswith(".tar.bz2") for p in paths)
    (agent,) = agents(requests)
    assert agent.startswith("conda/") and " aau/%s c/" % __version__ in agent
    parsed = tokens_of(agent)
    assert parsed.client == user.client_token()
    assert parsed.environment == user.env_token(user.envs / "work")


@pytest.mark.parametrize("command", ["install", "update", "remove", "search"])
def test_each_command_sends_the_target_environments_tokens(user, server, command):
    user.conda("create", "--yes", "-n", "work", "aau-a=1.0", "aau-b")
    server.take()
    args = {
        "install": ["install", "--yes", "-n", "work", "aau-a=2.0"],
        "update": ["update", "--yes", "-n", "work", "aau-a"],
        "remove": ["remove", "--yes", "-n", "work", "aau-b"],
        "search": ["search", "aau-a"],  # search takes no -n: its target is the active environment
    }[command]
    user.conda(*args)
    parsed = tokens_of(one_agent(server))
    assert parsed.client == user.client_token()
    target = user.root if command == "search" else user.envs / "work"
    assert parsed.environment == user.env_token(target)


def test_sessions_differ_between_commands_and_tokens_stay(user, server):
    user.conda("search", "aau-a")
    first = tokens_of(one_agent(server))
    user.conda("search", "aau-b")
    second = tokens_of(one_agent(server))
    assert first.session != second.session
    assert first.client == second.client and first.environment == second.environment


def test_base_and_child_environments_have_their_own_tokens(user, server):
    user.conda("install", "--yes", "-n", "base", "aau-b")
    base = tokens_of(one_agent(server))
    user.conda("create", "--yes", "-n", "child", "aau-a")
    child = tokens_of(one_agent(server))
    assert base.environment == user.env_token(user.root)
    assert child.environment == user.env_token(user.envs / "child")
    assert base.environment != child.environment and base.client == child.client


def test_create_by_path_sends_the_new_environments_token(user, server, tmp_path):
    target = tmp_path / "by-path"
    user.conda("create", "--yes", "-p", target, "aau-b")
    assert tokens_of(one_agent(server)).environment == user.env_token(target)


def test_active_environment_is_the_default_target(user, server):
    user.conda("create", "--yes", "-n", "active", "aau-b")
    server.take()
    active = user.envs / "active"
    user.conda("search", "aau-a", env={"CONDA_PREFIX": str(active), "CONDA_SHLVL": "1",
                                       "CONDA_DEFAULT_ENV": "active"})
    assert tokens_of(one_agent(server)).environment == user.env_token(active)


@pytest.mark.parametrize("where", ["condarc", "environment"])
@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("command", ["create", "install", "update", "remove", "search"])
def test_the_setting_switches_the_tokens(user, server, where, value, command):
    if command != "create":
        user.conda("create", "--yes", "-n", "work", "aau-a=1.0", "aau-b")
    server.take()
    env = {}
    if value is not None and where == "condarc":
        user.write_condarc({"anaconda_anon_usage": value})
    elif value is not None:
        env["CONDA_ANACONDA_ANON_USAGE"] = value
    args = {
        "create": ["create", "--yes", "-n", "new", "aau-a"],
        "install": ["install", "--yes", "-n", "work", "aau-a=2.0"],
        "update": ["update", "--yes", "-n", "work", "aau-a"],
        "remove": ["remove", "--yes", "-n", "work", "aau-b"],
        "search": ["search", "aau-a"],
    }[command]
    user.conda(*args, env=env)
    agent = one_agent(server)
    if ENABLED[value]:
        assert grammar.parse_user_agent(agent).client == user.client_token()
    else:
        assert agent.endswith(" aau/" + __version__), agent


@pytest.mark.parametrize("value", ["off", "false", "no", "on", "true", "yes"])
def test_conda_config_set_accepts_every_spelling(user, server, value):
    user.conda("config", "--set", "anaconda_anon_usage", value)
    user.conda("search", "aau-a")
    agent = one_agent(server)
    assert (" c/" in agent) == ENABLED[value]
    shown = user.conda("config", "--show", "anaconda_anon_usage").stdout
    assert "anaconda_anon_usage: %s" % ("True" if ENABLED[value] else "False") in shown


def test_a_final_system_setting_wins_over_the_users(user, server):
    (user.root / ".condarc").write_text("anaconda_anon_usage: true #!final\n")
    user.write_condarc({"anaconda_anon_usage": False})
    user.conda("search", "aau-a")
    assert tokens_of(one_agent(server)).client == user.client_token()


def test_conda_info_shows_the_tokens_redacted(user, server):
    user.conda("search", "aau-a")
    sent = tokens_of(one_agent(server))
    env = {"ANACONDA_ANON_USAGE_ORG_TOKEN": "acme-org"}
    text = user.conda("info", "--all", env=env).stdout
    data = json.loads(user.conda("info", "--json", env=env).stdout)
    line = next(row for row in text.splitlines() if "user-agent" in row)
    assert line.rstrip().endswith("aau/%s c/. s/. e/. o/." % __version__)
    assert data["user_agent"].endswith("aau/%s c/. s/. e/. o/." % __version__)
    everything = text + json.dumps(data)
    for secret in (sent.client, sent.environment, user.client_token(), user.env_token(user.root), "acme-org"):
        assert secret not in everything


def test_json_output_stays_json_with_debug_on(user, server):
    env = {"ANACONDA_ANON_USAGE_DEBUG": "1"}
    found = json.loads(user.conda("search", "--json", "aau-a", env=env).stdout)
    assert "aau-a" in found
    # conda < 24 writes NUL-separated JSON records (progress, then the result) for create.
    records = [json.loads(r) for r in user.conda("create", "--json", "--yes", "-n", "j", "aau-b",
                                                 env=env).stdout.split("\0") if r.strip()]
    assert records[-1]["success"] is True
    info = json.loads(user.conda("info", "--json", env=env).stdout)
    assert "aau/" in info["user_agent"]


def test_system_tokens_reach_the_server(user, server):
    (user.root / ".org_token").write_text("org-from-root\n")
    (user.home / ".conda").mkdir(exist_ok=True)
    (user.home / ".conda" / "machine_token").write_text("machine-1\n")
    user.conda("search", "aau-a", env={"ANACONDA_ANON_USAGE_ORG_TOKEN": "org-from-env",
                                        "CONDA_ROOT": str(user.root)})
    parsed = tokens_of(one_agent(server))
    assert parsed.organization == ("org-from-env", "org-from-root")
    assert parsed.machine == ("machine-1",)


@pytest.mark.parametrize("hosts,carries", [(["repo.example.org"], False), (["127.0.0.1"], True),
                                           (["*.example.org", "127.0.0.1:1"], False)])
def test_host_allowlist(user, server, hosts, carries):
    user.write_condarc({"anaconda_anon_usage_hosts": hosts})
    user.conda("search", "aau-a")
    agent = one_agent(server)
    assert ("aau/" in agent) == carries
    assert agent.startswith("conda/")


def test_a_broken_home_never_breaks_conda(user, server):
    (user.home / ".conda" / "aau_token").mkdir(parents=True)
    done = user.conda("search", "aau-a")
    assert "aau-a" in done.stdout
    parsed = tokens_of(one_agent(server))
    assert parsed.client is None and parsed.session


def test_heartbeat_on_activation(user, server):
    user.conda("create", "--yes", "-n", "hb", "aau-b")
    user.conda("config", "--set", "anaconda_heartbeat", "true")
    script = user.envs / "hb" / "etc" / "conda" / "activate.d" / "anaconda_anon_usage_heartbeat.sh"
    assert script.exists()
    server.take()
    shell = 'eval "$("$AAU_PY" -m conda shell.bash hook)" && conda activate hb && echo "active=$CONDA_PREFIX"'
    done = subprocess.run(["bash", "-c", shell], env=dict(user.env, AAU_PY=user.python),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "active=%s" % (user.envs / "hb")
    expected = user.env_token(user.envs / "hb")

    def heartbeats():
        return [r for r in server.requests if r[0] == "HEAD" and tokens_of(r[2]).environment == expected]

    deadline = time.monotonic() + 60
    while not heartbeats() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # a second heartbeat for the same activation would have arrived by now
    found = heartbeats()
    assert len(found) == 1, found
    _, path, agent = found[0]
    assert path == "/channel/noarch/activate-0.0.0-0.conda"
    assert tokens_of(agent).client == user.client_token()
    user.conda("config", "--set", "anaconda_heartbeat", "false")
    assert not script.exists()


def test_heartbeat_is_off_by_default(user, server):
    user.conda("create", "--yes", "-n", "quiet", "aau-b")
    assert not (user.envs / "quiet" / "etc" / "conda" / "activate.d").exists()


def test_plugin_is_registered_for_every_command(user, server):
    plugins = user.conda("--version").stdout  # loads nothing heavy; conda still works
    assert plugins.startswith("conda ")
    assert os.path.exists(user.home)
