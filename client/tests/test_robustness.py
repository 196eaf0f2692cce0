"""Fault injection: the client must never hurt conda, and never leak or trust bad files."""

import errno
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid

import pytest
from anaconda_anon_usage import grammar, tokens
from anaconda_anon_usage._state import PROCESS

from conftest import child_env, run_python, tokens_in_child

VALID = "AbCdEfGhIjKlMnOpQrStU_"
SECRET = "root:x:0:0:root:/root:/bin/bash\nsecret-line\n"


def host_file_fingerprint(home):
    """The first line of the host file: all that anaconda-anon-usage reads."""
    return (home / ".conda" / "aau_token_host").read_text().splitlines()[0]


def client_file(home):
    return home / ".conda" / "aau_token"


def put_client_file(home, content):
    (home / ".conda").mkdir(exist_ok=True)
    path = client_file(home)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


# --- invalid contents are regenerated and never sent -----------------------


@pytest.mark.parametrize("content", [
    "short",
    VALID + "x",                       # 23 characters
    VALID[:-1] + ".",                  # outside the alphabet
    VALID[:-1] + "é",                  # not ASCII
    b"\x00" * 22,
    b"\xff\xfe\x00\x01garbage",
    "",
    "\n\n \t\n",
    "has-spaces " + VALID,             # first word counts, and it is not a token
])
def test_invalid_client_token_is_regenerated_and_never_sent(home, content):
    path = put_client_file(home, content)
    token = tokens.client_token()
    assert grammar.is_random_token(token)
    assert path.read_text() == token
    string = tokens.token_string()
    assert grammar.parse_user_agent(string).client == token
    if isinstance(content, str) and content.strip():
        assert content.split()[0] not in string


@pytest.mark.parametrize("content", ["x" * 10, VALID + VALID, "not a token at all"])
def test_invalid_environment_token_is_regenerated_and_never_sent(prefix, content):
    (prefix / "etc").mkdir()
    (prefix / "etc" / "aau_token").write_text(content)
    token = tokens.environment_token(str(prefix))
    assert grammar.is_random_token(token) and token not in content
    assert (prefix / "etc" / "aau_token").read_text() == token


def test_utf8_bom_and_utf16_files_from_windows_tools_are_read(system_dir, home):
    (system_dir / "org_token").write_bytes("\ufeffbom-org\r\n".encode("utf-8"))
    (system_dir / "machine_token").write_bytes("m-utf16\r\n".encode("utf-16"))
    assert tokens.organization_tokens() == ["bom-org"]
    assert tokens.machine_tokens() == ["m-utf16"]


# --- reads are bounded ---------------------------------------------------------


def test_huge_token_file_is_read_in_bounded_memory_and_time(home):
    path = put_client_file(home, b"")
    with open(path, "r+b") as handle:
        handle.truncate(4 << 30)  # 4 GiB, sparse: all NUL bytes
    limit = 256 << 20
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (%d, %d))\n"
        "from anaconda_anon_usage import tokens; print(tokens.client_token())" % (limit, limit)
    )
    started = time.monotonic()
    done = run_python(code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert grammar.is_random_token(done.stdout.strip())
    assert time.monotonic() - started < 30
    assert path.stat().st_size == 22


def test_a_long_first_word_cut_by_the_read_bound_is_not_taken_for_a_token(home):
    put_client_file(home, " " * (tokens.MAX_READ - 22) + VALID + "AND-MORE")
    assert tokens.client_token() != VALID


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_fifo_or_device_at_the_token_path_neither_hangs_nor_is_read(home, kind):
    (home / ".conda").mkdir()
    path = client_file(home)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero", path)
    done = run_python("from anaconda_anon_usage import tokens; print(tokens.token_string())", timeout=30)
    assert done.returncode == 0, done.stderr
    client = grammar.parse_user_agent(done.stdout).client
    assert client and path.is_file() and not path.is_symlink()
    assert path.read_text() == client


# --- links ------------------------------------------------------------------------


def test_symlink_to_a_secret_file_leaks_nothing_and_is_never_written_through(home, tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text(SECRET)
    (home / ".conda").mkdir()
    os.symlink(secret, client_file(home))
    string = tokens.token_string()
    assert "root" not in string and "secret" not in string and "bash" not in string
    assert secret.read_text() == SECRET
    assert not client_file(home).is_symlink()
    assert client_file(home).read_text() == grammar.parse_user_agent(string).client


def test_symlinked_system_token_to_a_secret_file_is_dropped(system_dir, tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    os.symlink(secret, system_dir / "org_token")
    assert tokens.organization_tokens() == []
    assert "root" not in tokens.token_string()


def test_symlink_to_a_valid_token_file_is_followed(home, tmp_path):
    shared = tmp_path / "dotfiles-token"
    shared.write_text(VALID)
    (home / ".conda").mkdir()
    os.symlink(shared, client_file(home))
    assert tokens.client_token() == VALID
    assert client_file(home).is_symlink()


def test_dangling_symlink_is_replaced(home, tmp_path):
    (home / ".conda").mkdir()
    os.symlink(tmp_path / "nowhere" / "file", client_file(home))
    token = tokens.client_token()
    assert grammar.is_random_token(token) and client_file(home).read_text() == token
    assert not (tmp_path / "nowhere").exists()


# --- unusable places: the token is omitted, nothing raises, nothing is printed -----


def test_directory_at_the_token_path_omits_the_token(home):
    client_file(home).mkdir(parents=True)
    done = run_python("from anaconda_anon_usage import tokens; print(tokens.token_string())")
    assert done.returncode == 0 and done.stderr == ""
    assert grammar.parse_user_agent(done.stdout).client is None
    assert grammar.parse_user_agent(done.stdout).session
    assert client_file(home).is_dir()


def test_unset_home_omits_the_client_token():
    done = run_python("from anaconda_anon_usage import tokens; print(tokens.token_string())",
                      env=child_env(HOME=None))
    assert done.returncode == 0 and done.stderr == ""
    parsed = grammar.parse_user_agent(done.stdout)
    assert parsed.client is None and parsed.session


def test_missing_home_omits_the_client_token_and_is_not_created(tmp_path):
    gone = tmp_path / "no-such-home"
    done = run_python("from anaconda_anon_usage import tokens; print(tokens.token_string())",
                      env=child_env(HOME=gone))
    assert done.returncode == 0 and done.stderr == ""
    assert grammar.parse_user_agent(done.stdout).client is None
    assert not gone.exists()


def test_environment_whose_etc_is_a_file_omits_the_token(prefix):
    (prefix / "etc").write_text("not a directory")
    assert tokens.environment_token(str(prefix)) == ""
    assert " e/" not in tokens.token_string(str(prefix))


class FaultyOS:
    """The ``os`` module as the token files' reads and writes see it, with one call failing with ``error``
    (by default writes, as on a full disk)."""

    def __init__(self, error, call="write"):
        self._error = error
        self._call = call

    def __getattr__(self, name):
        if name == self._call:
            return self._fail
        return getattr(os, name)

    def _fail(self, *args, **kwargs):
        if self._call == "open" and args[1] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            return os.open(*args, **kwargs)  # reads fail; writes go on, so a wrong replacement would happen
        raise OSError(self._error, os.strerror(self._error))


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_full_or_read_only_disk_omits_the_token_and_leaves_no_temporary_file(
        home, prefix, monkeypatch, error):
    monkeypatch.setattr(tokens, "os", FaultyOS(error))
    assert tokens.client_token() == ""
    assert tokens.environment_token(str(prefix)) == ""
    assert grammar.parse_user_agent(tokens.token_string(str(prefix))).session
    leftovers = list((home / ".conda").iterdir()) + list((prefix / "etc").iterdir())
    assert leftovers == []


@pytest.mark.parametrize("call,error", [("read", errno.EIO), ("open", errno.EMFILE), ("open", errno.EACCES),
                                        ("open", errno.ENFILE), ("read", errno.EINTR)])
def test_a_passing_read_error_leaves_a_valid_token_alone(home, prefix, monkeypatch, call, error):
    """Only a file that was read and found invalid may be replaced: an error says nothing about it."""
    client = put_client_file(home, VALID)
    (prefix / "etc").mkdir()
    (prefix / "etc" / "aau_token").write_text(VALID.lower())
    with monkeypatch.context() as patched:
        patched.setattr(tokens, "os", FaultyOS(error, call))
        parsed = grammar.parse_user_agent(tokens.token_string(str(prefix)))
        assert parsed.client is None and parsed.environment is None and parsed.session
    assert client.read_text() == VALID and (prefix / "etc" / "aau_token").read_text() == VALID.lower()
    PROCESS.clear()
    assert tokens.client_token() == VALID and tokens.environment_token(str(prefix)) == VALID.lower()


def test_a_world_writable_client_token_file_is_tightened_and_kept(home):
    path = put_client_file(home, VALID)
    path.chmod(0o666)
    assert tokens.client_token() == VALID
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_someone_elses_client_token_file_keeps_its_mode(home):
    """Only the user's own file is changed (here: a file of another user in a shared home)."""
    path = put_client_file(home, VALID)
    path.chmod(0o644)
    os.chown(path, 4242, 4242) if os.geteuid() == 0 else pytest.skip("needs root to give a file away")
    assert tokens.client_token() == VALID
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_temporary_files_of_a_killed_write_are_removed_by_the_next(home):
    folder = home / ".conda"
    folder.mkdir()
    stale, fresh = folder / "aau_token.0123456789ab.tmp", folder / "aau_token.ba9876543210.tmp"
    other, a_dir = folder / "aau_token.notours.tmp", folder / "aau_token.aaaaaaaaaaaa.tmp"
    for path in (stale, fresh, other):
        path.write_text(VALID)
    a_dir.mkdir()
    old = time.time() - 3600
    for path in (stale, other, a_dir):
        os.utime(path, (old, old))
    put_client_file(home, "not a token")  # the next process replaces it: a write
    token = tokens.client_token()
    assert grammar.is_random_token(token) and token != VALID
    assert not stale.exists()
    assert fresh.exists() and other.exists() and a_dir.is_dir()  # a racer's, not ours, not a file


def run_unprivileged(code, env):
    """Run ``code`` where file permissions apply: as root, without the capabilities that bypass them."""
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file permissions cannot be enforced")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_unwritable_home_and_environment_omit_their_tokens(tmp_path):
    home, env_prefix = str(tmp_path / "ro-home"), str(tmp_path / "ro-env")
    for path in (home, env_prefix):
        os.mkdir(path)
        os.chmod(path, 0o555)
    env = child_env(HOME=home)
    done = run_unprivileged(
        "from anaconda_anon_usage import tokens; print(tokens.token_string(%r))" % env_prefix, env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    parsed = grammar.parse_user_agent(done.stdout)
    assert parsed.client is None and parsed.environment is None and parsed.session
    assert os.listdir(home) == [] and os.listdir(env_prefix) == []


def test_unreadable_token_file_in_a_shared_environment_is_not_sent(tmp_path):
    env_prefix = str(tmp_path / "shared-env")
    os.makedirs(os.path.join(env_prefix, "etc"))
    token_path = os.path.join(env_prefix, "etc", "aau_token")
    with open(token_path, "w") as handle:
        handle.write(VALID)
    os.chmod(token_path, 0o000)
    os.chmod(os.path.join(env_prefix, "etc"), 0o555)
    done = run_unprivileged("from anaconda_anon_usage import tokens; print(tokens.token_string(%r))"
                            % env_prefix, child_env())
    assert done.returncode == 0 and done.stderr == ""
    assert grammar.parse_user_agent(done.stdout).environment is None
    os.chmod(token_path, 0o600)
    with open(token_path) as handle:
        assert handle.read() == VALID


# --- atomic creation ----------------------------------------------------------------


def client_tokens_of_racers(tmp_path, racers):
    """The client tokens that ``racers`` processes, started together on one home, send."""
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "while not os.path.exists(%r): time.sleep(0.001)\n"
        "from anaconda_anon_usage import tokens; print(tokens.client_token())" % str(go)
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], env=child_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(racers)]
    time.sleep(0.5 + racers / 40)  # let every interpreter start and wait at the line
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    return {out.strip() for out, _ in outputs}


@pytest.mark.parametrize("content", ["", "not a token", "\x00" * 30])
@pytest.mark.parametrize("racers", [16, 64])
def test_racers_replacing_an_invalid_file_all_send_the_token_on_disk(home, tmp_path, content, racers):
    """A crash or a full disk can leave an empty or broken file: replacing it needs the same
    agreement as creating a missing one."""
    put_client_file(home, content)
    assert client_tokens_of_racers(tmp_path, racers) == {client_file(home).read_text()}
    assert grammar.is_random_token(client_file(home).read_text())
    assert sorted(os.listdir(home / ".conda")) == ["aau_token", "aau_token_host"]


def test_sixteen_processes_on_a_fresh_home_all_send_the_token_on_disk(home, tmp_path):
    assert client_tokens_of_racers(tmp_path, 16) == {client_file(home).read_text()}
    assert sorted(os.listdir(home / ".conda")) == ["aau_token", "aau_token_host"]
    assert stat.S_IMODE(client_file(home).stat().st_mode) == 0o600


# --- host tie ----------------------------------------------------------------------


def test_token_made_on_another_host_is_regenerated(home):
    path = put_client_file(home, VALID)
    (home / ".conda" / "aau_token_host").write_text("zzzzzzzz")
    token = tokens.client_token()
    assert token != VALID and path.read_text() == token
    assert host_file_fingerprint(home) == tokens.current_fingerprint()[0]


def test_old_format_with_another_hosts_id_is_regenerated(home):
    path = put_client_file(home, VALID + " zzzzzzzz")
    token = tokens.client_token()
    assert token != VALID and path.read_text() == token


def test_old_format_with_this_hosts_id_keeps_the_token_and_moves_the_id(home):
    current = tokens.current_fingerprint()[0]
    if not current:
        pytest.skip("this machine has no hardware address to tie tokens to")
    path = put_client_file(home, VALID + " " + current)
    assert tokens.client_token() == VALID
    assert path.read_text() == VALID
    assert host_file_fingerprint(home) == current


def test_token_without_a_host_file_is_kept_and_tied_to_this_host(home):
    put_client_file(home, VALID)
    assert tokens.client_token() == VALID
    assert host_file_fingerprint(home) == tokens.current_fingerprint()[0]
    assert tokens_in_child()["client"] == VALID


def _anaconda_anon_usage_node():
    """The host id anaconda-anon-usage writes, computed its way (uuid's libuuid call)."""
    getnode = getattr(uuid, "_unix_getnode", None)
    node = getnode() if getnode else None
    if not node or (node >> 40) & 1:
        return None
    return tokens.node_string(node)


def test_upgrading_from_anaconda_anon_usage_on_the_same_host_keeps_the_token(home):
    theirs = _anaconda_anon_usage_node()
    if theirs is None:
        pytest.skip("uuid cannot read a hardware address here, so anaconda-anon-usage has no host id")
    put_client_file(home, VALID)
    (home / ".conda" / "aau_token_host").write_text(theirs)
    assert tokens.client_token() == VALID
    assert tokens.current_fingerprint()[0] == theirs
    assert host_file_fingerprint(home) == theirs


def test_host_file_remembers_the_matching_interface(home):
    current, interface = tokens.current_fingerprint()
    if not interface:
        pytest.skip("no network interface with a hardware address")
    put_client_file(home, VALID)
    (home / ".conda" / "aau_token_host").write_text(current)  # as anaconda-anon-usage writes it
    assert tokens.client_token() == VALID
    assert (home / ".conda" / "aau_token_host").read_text().split() == [current, interface]


def test_a_host_id_of_any_interface_of_this_host_matches(home):
    names = [n for n in tokens._linux_interfaces() if tokens._linux_address(n)]
    if not names:
        pytest.skip("no network interface with a hardware address")
    for name in names:
        saved = tokens.node_string(tokens._linux_address(name))
        assert tokens.find_on_this_host(saved) == (True, name)
        assert tokens.find_on_this_host(saved, "no-such-if") == (True, name)
    assert tokens.find_on_this_host("zzzzzzzz", names[0]) == (False, None)


# --- debug output ------------------------------------------------------------------


def test_debug_output_goes_to_stderr_and_names_no_token(home, prefix):
    put_client_file(home, "broken")
    done = run_python("from anaconda_anon_usage import tokens; tokens.token_string(%r)" % str(prefix),
                      env=child_env(ANACONDA_ANON_USAGE_DEBUG="1", ANACONDA_ANON_USAGE_ORG_TOKEN="orgval"))
    assert done.returncode == 0 and done.stdout == ""
    assert "anaconda-anon-usage:" in done.stderr
    values = tokens_in_child(str(prefix))
    for value in (values["client"], values["environment"], "orgval"):
        assert value not in done.stderr
    assert "broken" not in done.stderr


def test_without_debug_nothing_is_printed_even_on_failures(home, prefix):
    client_file(home).mkdir(parents=True)
    (prefix / "etc").write_text("file")
    done = run_python("from anaconda_anon_usage import tokens; tokens.token_string(%r)" % str(prefix),
                      env=child_env(ANACONDA_ANON_USAGE_ORG_TOKEN="bad value"))
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_debug_zero_means_off():
    done = run_python("from anaconda_anon_usage import tokens; tokens.token_string()",
                      env=child_env(ANACONDA_ANON_USAGE_DEBUG="0"))
    assert done.stderr == ""

