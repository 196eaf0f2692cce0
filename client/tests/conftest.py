import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from anaconda_anon_usage import tokens
from anaconda_anon_usage._state import PROCESS

from conda_harness import PYTHONS_VARIABLE, WHEELS_VARIABLE, condas_required

SRC = str(Path(tokens.__file__).resolve().parents[1])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Where condas were named, a conda test that cannot run is a failure, not a skip."""
    report = yield
    if report.skipped and item.get_closest_marker("conda") is not None and condas_required():
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        report.outcome = "failed"
        report.longrepr = "a conda test may not skip when %s or %s names condas; it skipped: %s" % (
            WHEELS_VARIABLE, PYTHONS_VARIABLE, reason)
    return report

_ISOLATED_VARIABLES = (
    "CONDA_ROOT", "CONDA_EXE", "CONDA_PYTHON_EXE", "CONDA_PREFIX", "XDG_CONFIG_HOME",
    "ANACONDA_ANON_USAGE_DEBUG", "ANACONDA_ANON_USAGE_DEBUG_PREFIX",
    "ANACONDA_ANON_USAGE_INSTALLER_TOKEN", "ANACONDA_ANON_USAGE_ORG_TOKEN",
    "ANACONDA_ANON_USAGE_MACHINE_TOKEN", "ANACONDA_AUTH_API_KEY",
)


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def system_dir(tmp_path):
    """Stands in for /etc/conda: the first directory of the system-token search path."""
    path = tmp_path / "etc-conda"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def isolated(monkeypatch, home, system_dir):
    """Every test starts with an empty process cache, its own HOME and no conda variables."""
    for name in _ISOLATED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not p.endswith("condabin")))
    monkeypatch.setattr(tokens, "SYSTEM_DIRS", (str(system_dir),))
    monkeypatch.setattr(PROCESS, "debug", False)
    PROCESS.clear()
    yield
    PROCESS.clear()


@pytest.fixture
def prefix(tmp_path):
    """An existing environment prefix."""
    path = tmp_path / "envs" / "child"
    (path / "conda-meta").mkdir(parents=True)
    return path


def child_env(**overrides):
    """The environment for a child process: this one (already isolated) plus ``overrides``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def run_python(code, env=None, timeout=60, **kwargs):
    """Run ``code`` in a fresh interpreter; return the completed process."""
    return subprocess.run(
        [sys.executable, "-c", code], env=env or child_env(), capture_output=True,
        text=True, timeout=timeout, **kwargs,
    )


def run_cli(*args, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "anaconda_anon_usage", *map(str, args)],
        env=env or child_env(), capture_output=True, text=True, timeout=timeout,
    )


def tokens_in_child(prefix=None, env=None):
    """``all_tokens(prefix)`` computed by a fresh process, as a dict."""
    code = (
        "import json, sys; from anaconda_anon_usage import tokens; "
        "t = tokens.all_tokens(%r); print(json.dumps(t._asdict())); "
        "print(json.dumps(tokens.token_string(%r)))" % (prefix and str(prefix), prefix and str(prefix))
    )
    done = run_python(code, env=env)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    result = json.loads(first)
    result["string"] = json.loads(second)
    return result
