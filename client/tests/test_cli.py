"""The anaconda-anon-usage command, as a user runs it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from anaconda_anon_usage import __version__, grammar

from conftest import SRC, child_env, run_cli


def test_prints_the_token_string(home):
    done = run_cli()
    assert done.returncode == 0 and done.stderr == ""
    parsed = grammar.parse_user_agent(done.stdout)
    assert done.stdout.startswith("aau/" + __version__ + " c/")
    assert parsed.client == (home / ".conda" / "aau_token").read_text()
    assert parsed.session and parsed.environment


def test_prefix_selects_the_environment(prefix):
    done = run_cli("--prefix", prefix)
    assert grammar.parse_user_agent(done.stdout).environment == (prefix / "etc" / "aau_token").read_text()


def test_detail_names_each_token_and_its_source(home, prefix):
    done = run_cli("--detail", "--prefix", prefix, env=child_env(ANACONDA_ANON_USAGE_ORG_TOKEN="acme"))
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert grammar.parse_user_agent(lines[0]).organization == ("acme",)
    body = "\n".join(lines[1:])
    assert str(home / ".conda" / "aau_token") in body
    assert str(prefix / "etc" / "aau_token") in body
    assert "$ANACONDA_ANON_USAGE_ORG_TOKEN" in body and "o/acme" in body
    assert "anaconda_cloud" in body and "(absent)" in body


def test_json_output(prefix):
    done = run_cli("--json", "--prefix", prefix)
    data = json.loads(done.stdout)
    assert data["version"] == __version__
    by_prefix = {row["prefix"]: row for row in data["tokens"]}
    assert "c/" + by_prefix["c"]["value"] in data["token_string"]
    assert by_prefix["e"]["source"] == str(prefix / "etc" / "aau_token")
    assert by_prefix["a"]["value"] is None


def test_paths_lists_the_search_path(home, tmp_path):
    done = run_cli("--paths", env=child_env(CONDA_ROOT=tmp_path / "root"))
    lines = done.stdout.splitlines()
    assert str(tmp_path / "root") in lines and str(home / ".conda") in lines
    assert json.loads(run_cli("--paths", "--json", env=child_env(CONDA_ROOT=tmp_path / "root")).stdout)[
        "search_path"] == lines


def test_random_prints_a_fresh_token_and_touches_nothing(home):
    first, second = run_cli("--random").stdout.strip(), run_cli("--random").stdout.strip()
    assert grammar.is_random_token(first) and first != second
    assert json.loads(run_cli("--random", "--json").stdout)["token"]
    assert not (home / ".conda").exists()


def test_version():
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == __version__


def test_verbose_prints_diagnostics_to_stderr_only(home):
    done = run_cli("--verbose")
    assert "anaconda-anon-usage:" in done.stderr
    assert grammar.parse_user_agent(done.stdout).client
    assert grammar.parse_user_agent(done.stdout).client not in done.stderr


@pytest.mark.parametrize("args", [["--bogus"], ["--prefix"], ["extra"], ["--verbose=3"]])
def test_bad_arguments_give_one_line_and_exit_2(args):
    done = run_cli(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("anaconda-anon-usage: error:")


def test_a_prefix_that_does_not_exist_is_a_bad_argument(tmp_path):
    done = run_cli("--prefix", tmp_path / "missing")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "missing") in done.stderr
    assert not (tmp_path / "missing").exists()


def test_installed_console_script_runs(home):
    script = shutil.which("anaconda-anon-usage")
    if script is None:
        pytest.skip("the package is not installed in this environment (only importable from source)")
    done = subprocess.run([script], env=child_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and grammar.parse_user_agent(done.stdout).client


def _interpreter(minor):
    """A working python3.<minor>: on PATH, or one that pyenv manages."""
    candidates = [shutil.which("python3.%d" % minor)]
    if shutil.which("pyenv"):
        listed = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True).stdout
        for version in listed.split():
            if version.startswith("3.%d." % minor):
                root = subprocess.run(["pyenv", "prefix", version], capture_output=True, text=True)
                candidates.append(os.path.join(root.stdout.strip(), "bin", "python"))
    for python in filter(None, candidates):
        if subprocess.run([python, "-c", "pass"], capture_output=True).returncode == 0:
            return python
    return None


@pytest.mark.parametrize("minor", range(8, 15))
def test_runs_on_every_python_conda_may_bring(minor, home):
    python = _interpreter(minor)
    if python is None:
        pytest.skip("no working python3.%d here" % minor)
    done = subprocess.run([python, "-m", "anaconda_anon_usage"], env=child_env(PYTHONPATH=SRC),
                          capture_output=True, text=True, timeout=60, cwd=os.path.dirname(SRC))
    assert done.returncode == 0, done.stderr
    assert grammar.parse_user_agent(done.stdout).client == (home / ".conda" / "aau_token").read_text()


@pytest.mark.parametrize("variable,value,reason", [
    ("DO_NOT_TRACK", "1", "DO_NOT_TRACK=1 in the environment"),
    ("DO_NOT_TRACK", "true", "DO_NOT_TRACK=true in the environment"),
    ("CONDA_ANACONDA_ANON_USAGE", "off", "$CONDA_ANACONDA_ANON_USAGE=off"),
])
def test_tokens_off_print_only_the_version_and_say_why(home, variable, value, reason):
    """Without conda, the environment is all the CLI can read; what it says is what conda would send."""
    done = run_cli("--detail", env=child_env(**{variable: value}))
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines() == ["aau/" + __version__, "  tokens off: " + reason]
    data = json.loads(run_cli("--json", env=child_env(**{variable: value})).stdout)
    assert (data["token_string"], data["enabled"], data["disabled_by"], data["tokens"]) == (
        "aau/" + __version__, False, reason, [])
    assert not (home / ".conda").exists()


@pytest.mark.parametrize("value", ["0", "", "false", "no"])
def test_do_not_track_with_a_negative_word_changes_nothing(home, value):
    done = run_cli(env=child_env(DO_NOT_TRACK=value))
    assert grammar.parse_user_agent(done.stdout).client == (home / ".conda" / "aau_token").read_text()


def test_uninstalling_leaves_nothing_in_the_environment(tmp_path):
    """The start-up hook comes and goes with the package: pip's record names it."""
    wheel_dir, env = tmp_path / "wheel", tmp_path / "env"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    wheel_dir, Path(SRC).parent], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "venv", env], check=True, capture_output=True)
    python = env / "bin" / "python"
    purelib = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    before = set(purelib.iterdir())
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", *wheel_dir.glob("*.whl")],
                   check=True, capture_output=True)
    added = {p.name for p in set(purelib.iterdir()) - before}
    assert "anaconda_anon_usage_activation.pth" in added and "anaconda_anon_usage" in added
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "anaconda-anon-usage"], check=True,
                   capture_output=True)
    assert set(purelib.iterdir()) == before


def test_a_reader_that_goes_away_ends_it_quietly(home):
    """``anaconda-anon-usage --detail | head -1``: the pipe closes before it writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "anaconda_anon_usage", "--detail"], env=child_env(),
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_full_disk_is_one_line(home):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "anaconda_anon_usage", "--detail"], env=child_env(),
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "No space left on device" in done.stderr


def test_a_closed_standard_output_is_one_line(home):
    done = subprocess.run(["sh", "-c", 'exec "$0" -m anaconda_anon_usage >&-', sys.executable], env=child_env(),
                          stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "anaconda-anon-usage: error: standard output is closed; nothing to write the tokens to\n"
