"""The plugin inside a real conda: what a package server sees, and what a user sees.

Every test runs against every conda that conda_harness finds; where none can
be had, they skip with the reason (or fail, when condas were named).
"""

import json
import os
import subprocess
import time

import pytest
from anaconda_anon_usage import __version__, grammar

from conda_harness import CondaUser, RecordingServer, build_channel, client_wheel, configured_condas, prepare_conda

pytestmark = pytest.mark.conda

VALUES = ["true", "false", "yes", "no", "on", "off", None]
ENABLED = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False, None: True}
CONDAS = configured_condas()
_PREPARED = {}


@pytest.fixture(scope="session")
def client_wheel_file(tmp_path_factory):
    return client_wheel(tmp_path_factory.mktemp("client-wheel"))


@pytest.fixture(scope="module", params=CONDAS, ids=[spec.label for spec in CONDAS])
def conda_python(request):
    spec = request.param
    if spec not in _PREPARED:
        wheel = None if spec.problem else request.getfixturevalue("client_wheel_file")
        _PREPARED[spec] = prepare_conda(spec, wheel)
    python, info = _PREPARED[spec]
    if python is None:
        pytest.skip(info)
    return python, info


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    channel = build_channel(tmp_path_factory.mktemp("channel"))
    recording = RecordingServer(channel.parent)
    yield recording
    recording.close()


@pytest.fixture
def user(conda_python, server, tmp_path):
    python, _ = conda_python
    server.take()
    return CondaUser(python, tmp_path, server.url + "/channel")


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


HEARTBEAT = "/channel/noarch/activate-0.0.0-0.conda"


def heartbeats(server, prefix, wait):
    """The HEAD requests carrying the token of the environment at ``prefix``
    (which the heartbeat may be the first to make): waits up to ``wait``
    seconds for the first, then long enough for a second one to show."""
    token_file = prefix / "etc" / "aau_token"

    def environment(agent):
        parsed = grammar.parse_user_agent(agent)
        return parsed.environment if parsed else None

    def found():
        token = token_file.read_text() if token_file.exists() else None
        return [r for r in server.requests if r[0] == "HEAD" and token and environment(r[2]) == token]

    deadline = time.monotonic() + wait
    while not found() and time.monotonic() < deadline:
        time.sleep(0.1)
    if found():
        time.sleep(1.5)  # the background process is gone well before this
    return found()


def activated(user, *args, env=None):
    """Activate; check that the user saw exactly what conda prints, and nothing of the plugin."""
    done = user.activate(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.strip()


def quietly_off(user, server, name, env=None):
    """Activate ``name`` and show that no heartbeat left. With debug output on, the
    background process (if one starts) holds the shell's stderr, so the shell returns
    only once it has finished: no waiting on a clock."""
    token = user.env_token(user.envs / name) if (user.envs / name / "etc" / "aau_token").exists() else None
    done = user.activate(name, env=dict(env or {}, ANACONDA_ANON_USAGE_DEBUG="1"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "active=%s" % (user.envs / name)
    heads = [r for r in server.take() if r[0] == "HEAD"]
    assert heads == []
    for secret in filter(None, (token, user.client_token() if (user.home / ".conda" / "aau_token").exists()
                                else None)):
        assert secret not in done.stderr


def test_heartbeat_once_set_with_conda_config(user, server):
    user.conda("create", "--yes", "-n", "hb", "aau-b")
    user.conda("config", "--set", "anaconda_heartbeat", "true")
    server.take()
    assert activated(user, "hb") == "active=%s" % (user.envs / "hb")
    (found,) = heartbeats(server, user.envs / "hb", 60)
    _, path, agent = found
    assert path == HEARTBEAT
    parsed = tokens_of(agent)
    assert parsed.client == user.client_token() and parsed.session
    assert agent.startswith("conda/")


@pytest.mark.parametrize("means", ["user condarc", "system condarc", "final", "environment variable", "url"])
def test_heartbeat_however_it_is_switched_on(user, server, means):
    """An environment made before the setting, the setting switched on without conda
    (a hand edit or a variable), and the very next activation sends one heartbeat."""
    user.conda("create", "--yes", "-n", "old", "aau-b")
    env = {}
    path = HEARTBEAT
    if means == "user condarc":
        user.write_condarc({"anaconda_heartbeat": True})
    elif means == "system condarc":
        (user.root / ".condarc").write_text("anaconda_heartbeat: true\n")
    elif means == "final":
        (user.root / ".condarc").write_text("anaconda_heartbeat: true #!final\n")
        user.write_condarc({"anaconda_heartbeat": False})
        env["CONDA_ANACONDA_HEARTBEAT"] = "false"
    elif means == "environment variable":
        env["CONDA_ANACONDA_HEARTBEAT"] = "true"
    else:
        path = "/channel/beat/here"
        user.write_condarc({"anaconda_heartbeat": server.url + path})
    server.take()
    assert activated(user, "old", env=env) == "active=%s" % (user.envs / "old")
    (found,) = heartbeats(server, user.envs / "old", 60)
    assert found[1] == path
    assert tokens_of(found[2]).client == user.client_token()


def test_heartbeat_for_base_by_default_and_for_a_path(user, server, tmp_path):
    user.conda("create", "--yes", "-p", tmp_path / "by-path", "aau-b")
    user.write_condarc({"anaconda_heartbeat": True})
    server.take()
    assert activated(user) == "active=%s" % user.root
    (found,) = heartbeats(server, user.root, 60)
    assert activated(user, tmp_path / "by-path") == "active=%s" % (tmp_path / "by-path")
    (found,) = heartbeats(server, tmp_path / "by-path", 60)
    assert found[1] == HEARTBEAT


@pytest.mark.parametrize("means", ["never on", "conda config", "condarc", "final", "environment variable",
                                   "tokens off", "DO_NOT_TRACK"])
def test_heartbeat_switched_off(user, server, means):
    user.conda("create", "--yes", "-n", "hb", "aau-b")
    user.conda("config", "--set", "anaconda_heartbeat", "true")
    env = {}
    if means == "never on":
        user.write_condarc({})
    elif means == "conda config":
        user.conda("config", "--set", "anaconda_heartbeat", "false")
    elif means == "condarc":
        user.write_condarc({"anaconda_heartbeat": False})
    elif means == "final":  # the user's own "true" (from conda config) and the variable lose to it
        (user.root / ".condarc").write_text("anaconda_heartbeat: false #!final\n")
        env["CONDA_ANACONDA_HEARTBEAT"] = "true"
    elif means == "environment variable":
        env["CONDA_ANACONDA_HEARTBEAT"] = "no"
    elif means == "tokens off":
        user.conda("config", "--set", "anaconda_anon_usage", "off")
    else:
        env["DO_NOT_TRACK"] = "1"
    server.take()
    quietly_off(user, server, "hb", env=env)


def test_heartbeat_only_on_activation(user, server):
    """Deactivating, reactivating, asking for help and a failed activation send none."""
    user.conda("create", "--yes", "-n", "hb", "aau-b")
    user.write_condarc({"anaconda_heartbeat": True})
    server.take()
    done = user.shell("conda activate hb && conda deactivate && __conda_reactivate; "
                      "conda activate --help >/dev/null 2>&1; conda activate missing 2>/dev/null; echo done")
    assert done.stdout.strip().endswith("done"), done.stderr
    assert len(heartbeats(server, user.envs / "hb", 60)) == 1
    assert len([r for r in server.requests if r[0] == "HEAD"]) == 1


def test_activation_writes_nothing_into_environments(user, server):
    """What the heartbeat needs comes with the package; environments stay as conda left them."""
    user.conda("create", "--yes", "-n", "hb", "aau-b")
    before = sorted(p.relative_to(user.envs) for p in user.envs.rglob("*"))
    user.conda("config", "--set", "anaconda_heartbeat", "true")
    activated(user, "hb")
    assert len(heartbeats(server, user.envs / "hb", 60)) == 1
    assert sorted(p.relative_to(user.envs) for p in user.envs.rglob("*")) == before


def test_the_start_up_hook_leaves_with_the_package(user):
    """pip's record of the distribution lists the hook, so uninstalling removes it."""
    code = ("import importlib.metadata as md; "
            "print('\\n'.join(str(f) for f in md.distribution('anaconda-anon-usage').files))")
    files = subprocess.run([user.python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "anaconda_anon_usage_activation.pth" in files


def test_old_activation_scripts_are_removed(user, server):
    user.conda("create", "--yes", "-n", "old", "aau-b")
    script = user.envs / "old" / "etc" / "conda" / "activate.d" / "anaconda_anon_usage_heartbeat.sh"
    script.parent.mkdir(parents=True)
    script.write_text("# Written by anaconda-anon-usage while the conda setting anaconda_heartbeat is on,\n")
    theirs = script.with_name("someone-else.sh")
    theirs.write_text("# not ours\n")
    user.conda("config", "--set", "anaconda_heartbeat", "true")
    assert not script.exists() and theirs.exists()


@pytest.mark.parametrize("value,off", [("1", True), ("true", True), ("yes", True), ("0", False), ("", False)])
def test_do_not_track(user, server, value, off):
    (user.root / ".condarc").write_text("anaconda_anon_usage: true #!final\n")
    user.conda("search", "aau-a", env={"DO_NOT_TRACK": value})
    agent = one_agent(server)
    if off:
        assert agent.endswith(" aau/" + __version__), agent
    else:
        assert tokens_of(agent).client == user.client_token()


@pytest.mark.parametrize("means", ["DO_NOT_TRACK", "condarc", "environment variable"])
def test_the_cli_says_what_turned_the_tokens_off(user, means):
    env = {}
    if means == "DO_NOT_TRACK":
        env["DO_NOT_TRACK"] = "1"
        expected = "DO_NOT_TRACK=1 in the environment"
    elif means == "condarc":
        user.write_condarc({"anaconda_anon_usage": False})
        expected = "anaconda_anon_usage: False (from %s)" % (user.home / ".condarc")
    else:
        env["CONDA_ANACONDA_ANON_USAGE"] = "off"
        expected = "anaconda_anon_usage: False (from $CONDA_ANACONDA_ANON_USAGE)"
    done = subprocess.run([user.python, "-m", "anaconda_anon_usage", "--detail"], capture_output=True, text=True,
                          env=dict(user.env, **env), timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "aau/" + __version__
    assert any(line.strip() == "tokens off: " + expected for line in lines), done.stdout
    assert not (user.home / ".conda" / "aau_token").exists()


def test_heartbeat_is_off_by_default(user, server):
    user.conda("create", "--yes", "-n", "quiet", "aau-b")
    server.take()
    quietly_off(user, server, "quiet")


def test_plugin_is_registered_for_every_command(user, server):
    plugins = user.conda("--version").stdout  # loads nothing heavy; conda still works
    assert plugins.startswith("conda ")
    assert os.path.exists(user.home)
