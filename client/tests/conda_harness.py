"""Real condas, a loopback channel that records every request, and a user to drive them.

Which condas (each test of ``test_conda_integration`` runs against each):

- ``AAU_TEST_CONDA_WHEELS=DIR``: every ``conda-VERSION-py3-none-any.whl`` in
  DIR, each made into a virtual environment with its dependencies from the
  package index (less menuinst and conda-libmamba-solver; the tests use the
  classic solver). Kept in ``AAU_TEST_CONDA_CACHE`` (default
  ``.cache/test-condas`` in this checkout) and made again when the wheel
  changes.
- ``AAU_TEST_CONDA_PYTHON=PY[:PY...]``: pythons that import conda (one's own
  conda, say). Each gets a virtual environment of its own in the cache that
  sees its packages, so the python itself is never changed.
- neither: the python running the tests, if it imports conda.

The plugin under test is this checkout's, built as a wheel and installed
with pip into each of those environments, start-up hook included, as a user
would have it. When condas are named by either variable, a conda test that
cannot run fails instead of skipping (see ``conftest.py``).
"""

import bz2
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[1]
REPOSITORY = CLIENT.parent
WHEELS_VARIABLE = "AAU_TEST_CONDA_WHEELS"
PYTHONS_VARIABLE = "AAU_TEST_CONDA_PYTHON"
CACHE_VARIABLE = "AAU_TEST_CONDA_CACHE"
LEFT_OUT = ("menuinst", "conda-libmamba-solver")  # not on the package index; tests use the classic solver

PACKAGES = [("aau-a", "1.0"), ("aau-a", "2.0"), ("aau-b", "1.0")]


@dataclass(frozen=True)
class CondaSpec:
    """One conda to test against: a wheel to install, or a python that has conda."""

    label: str
    wheel: Path = None
    python: str = None
    problem: str = None


def condas_required():
    """Whether condas were named explicitly (then a conda test must not skip)."""
    return bool(os.environ.get(WHEELS_VARIABLE) or os.environ.get(PYTHONS_VARIABLE))


def _wheel_version(path):
    match = re.fullmatch(r"conda-(.+)-py3-none-any\.whl", path.name)
    return match.group(1) if match else None


def configured_condas():
    """The condas the environment names, as :class:`CondaSpec` (cheap: nothing is built)."""
    specs = []
    folder = os.environ.get(WHEELS_VARIABLE)
    if folder:
        wheels = sorted(Path(folder).glob("conda-*-py3-none-any.whl"), key=lambda p: _version_key(_wheel_version(p)))
        if not wheels:
            specs.append(CondaSpec("no-wheels", problem="%s=%s holds no conda-VERSION-py3-none-any.whl"
                                   % (WHEELS_VARIABLE, folder)))
        specs.extend(CondaSpec("conda-" + _wheel_version(w), wheel=w) for w in wheels)
    for number, python in enumerate(filter(None, os.environ.get(PYTHONS_VARIABLE, "").split(os.pathsep))):
        specs.append(CondaSpec("python%d" % (number + 1), python=python))
    if not specs:
        specs.append(CondaSpec("none", problem="no conda: set %s to a folder of conda wheels or %s to a "
                               "python that imports conda" % (WHEELS_VARIABLE, PYTHONS_VARIABLE)))
    return specs


def _version_key(version):
    return [int(part) if part.isdigit() else 0 for part in re.split(r"[.+-]", version or "")]


def _cache():
    return Path(os.environ.get(CACHE_VARIABLE) or REPOSITORY / ".cache" / "test-condas")


def _run(command, what, **kwargs):
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (what, done.returncode, (done.stderr or done.stdout)[-2000:]))
    return done.stdout


@contextlib.contextmanager
def _locked(path):
    """One builder at a time for ``path`` (test runs in parallel share the cache)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _requirements(wheel, version):
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read("conda-%s.dist-info/METADATA" % version).decode()
    for line in meta.splitlines():
        if line.startswith("Requires-Dist: "):
            requirement = line[len("Requires-Dist: "):]
            if re.split(r"[<>=!~ ;\[(]", requirement, maxsplit=1)[0].lower() not in LEFT_OUT:
                yield requirement


def _base_python():
    """A python that is not a virtual environment's (venv makes environments from it)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def conda_from_wheel(wheel):
    """The python of a cached environment with conda from ``wheel``, made if needed."""
    version = _wheel_version(wheel)
    digest = _sha256(wheel)[:12]
    env = _cache() / ("conda-%s-%s" % (version, digest))
    with _locked(env):
        if not (env / ".complete").exists():
            for stale in _cache().glob("conda-%s-*" % version):
                if stale.is_dir() and stale != env:
                    shutil.rmtree(stale)
            if env.exists():
                shutil.rmtree(env)
            _run([_base_python(), "-m", "venv", env], "making a virtual environment for conda %s" % version)
            python = env / "bin" / "python"
            pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            _run([*pip, "--no-deps", wheel], "installing %s" % wheel.name)
            _run([*pip, *_requirements(wheel, version)], "installing the dependencies of conda %s" % version)
            (env / "conda-meta").mkdir(exist_ok=True)
            (env / "conda-meta" / "history").touch()
            (env / ".complete").write_text(digest + "\n")
    return str(env / "bin" / "python")


def conda_beside_python(python, env=None):
    """The python of an environment (``env``, default one cached for ``python``) that
    sees ``python``'s packages, conda among them, and can take a plugin without
    changing ``python`` itself."""
    resolved = str(Path(python).resolve()) if os.path.exists(python) else python
    env = Path(env) if env else _cache() / ("beside-%s" % hashlib.sha256(resolved.encode()).hexdigest()[:12])
    with _locked(env):
        if not (env / ".complete").exists():
            if env.exists():
                shutil.rmtree(env)
            sites = json.loads(_run([python, "-c", "import json, site; print(json.dumps(site.getsitepackages()))"],
                                    "asking %s for its site-packages" % python))
            _run([python, "-m", "venv", env], "making a virtual environment beside %s" % python)
            own = Path(_run([env / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                            "reading the new environment").strip())
            # Its packages after the environment's own, their .pth files run too.
            (own / "zz_conda_beside.pth").write_text(
                "import site; list(map(site.addsitedir, %r))\n" % (sites,))
            conda = env / "bin" / "conda"
            conda.write_text("#!%s\nimport sys\nfrom conda.cli import main\nsys.exit(main())\n"
                             % (env / "bin" / "python"))
            conda.chmod(0o755)
            (env / "conda-meta").mkdir(exist_ok=True)
            (env / "conda-meta" / "history").touch()
            (env / ".complete").write_text(resolved + "\n")
    return str(env / "bin" / "python")


def wheel_of(source, folder):
    """The source tree ``source`` built as a wheel into ``folder``.

    It is built from a copy without ``build/`` and ``*.egg-info``: setuptools
    reuses ``build/lib``, so a module since removed from the source would
    still be in the wheel.
    """
    source, folder = Path(source), Path(folder)
    tree = folder / "tree" / source.name
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".git"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
          "--no-build-isolation", "-w", folder, tree], "building the wheel of %s" % source.name)
    shutil.rmtree(folder / "tree")
    return max(folder.glob("*.whl"), key=lambda wheel: wheel.stat().st_mtime)


def client_wheel(folder):
    """This checkout's client, built as a wheel into ``folder``."""
    wheel = wheel_of(CLIENT, folder)
    assert wheel.name.startswith("anaconda_anon_usage-"), wheel
    return wheel


def install_client(python, wheel):
    """Install the client's ``wheel`` into ``python``'s environment, replacing any copy."""
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
          "--force-reinstall", "--no-index", wheel], "installing the client into %s" % python)


def _probe(python):
    code = (
        "import json, conda, importlib.metadata as md\n"
        "dists = [d.metadata['Version'] for d in md.distributions()"
        " if any(e.group == 'conda' and e.name == 'anaconda-anon-usage' for e in d.entry_points)]\n"
        "print(json.dumps({'version': conda.__version__, 'plugins': dists}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare_conda(spec, wheel):
    """``(python, info)`` of a conda with this checkout's plugin installed, or
    ``(None, reason)`` when ``spec`` cannot give one."""
    if spec.problem:
        return None, spec.problem
    try:
        if spec.wheel is not None:
            python = conda_from_wheel(spec.wheel)
        else:
            info = _probe(spec.python) if os.path.exists(spec.python) or shutil.which(spec.python) else None
            if info is None:
                return None, "%s cannot import conda" % spec.python
            if info["plugins"]:
                return None, ("%s has anaconda-anon-usage %s installed already; give a conda without it"
                              % (spec.python, ", ".join(info["plugins"])))
            python = conda_beside_python(spec.python)
        install_client(python, wheel)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return None, "%s: %s" % (spec.label, exc)
    info = _probe(python)
    if info is None:
        return None, "%s cannot import conda after the set-up" % python
    return python, info


def _tar_bz2(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mtime = 1700000000
            tar.addfile(member, io.BytesIO(data))
    return bz2.compress(raw.getvalue())


def build_channel(root):
    """A noarch channel of tiny real packages, with an empty linux-64 subdir."""
    channel = Path(root) / "channel"
    records = {}
    for name, version in PACKAGES:
        fn = "%s-%s-0.tar.bz2" % (name, version)
        index = {"name": name, "version": version, "build": "0", "build_number": 0,
                 "depends": [], "noarch": "generic", "subdir": "noarch", "license": "BSD"}
        payload = ("%s %s\n" % (name, version)).encode()
        path = "share/%s.txt" % name
        paths = {"paths": [{"_path": path, "path_type": "hardlink",
                            "sha256": hashlib.sha256(payload).hexdigest(), "size_in_bytes": len(payload)}],
                 "paths_version": 1}
        data = _tar_bz2({
            "info/index.json": json.dumps(index).encode(),
            "info/paths.json": json.dumps(paths).encode(),
            "info/files": (path + "\n").encode(),
            path: payload,
        })
        (channel / "noarch").mkdir(parents=True, exist_ok=True)
        (channel / "noarch" / fn).write_bytes(data)
        records[fn] = dict(index, md5=hashlib.md5(data).hexdigest(),
                           sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    for subdir, packages in (("noarch", records), ("linux-64", {})):
        (channel / subdir).mkdir(parents=True, exist_ok=True)
        (channel / subdir / "repodata.json").write_text(json.dumps(
            {"info": {"subdir": subdir}, "packages": packages, "packages.conda": {}, "repodata_version": 1}))
    return channel


class RecordingServer:
    """Serves a directory on loopback and records ``(method, path, user agent)`` of each request."""

    def __init__(self, directory):
        self.requests = []
        lock = threading.Lock()
        recorded = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def _record(self):
                with lock:
                    recorded.append((self.command, self.path, self.headers.get("User-Agent", "")))

            def do_GET(self):
                self._record()
                super().do_GET()

            def do_HEAD(self):
                self._record()
                super().do_HEAD()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def take(self):
        """The requests recorded since the last call."""
        taken = list(self.requests)
        del self.requests[: len(taken)]
        return taken

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class CondaUser:
    """One user with a fresh home, a base environment and a real conda."""

    def __init__(self, python, tmp, channel_url):
        self.python = python
        self.home = Path(tmp) / "home"
        self.root = Path(tmp) / "base"
        self.envs = Path(tmp) / "envs"
        for path in (self.home, self.root / "conda-meta", self.envs):
            path.mkdir(parents=True, exist_ok=True)
        (self.root / "conda-meta" / "history").touch()
        self.channel_url = channel_url
        self.condarc = {
            "channels": [channel_url],
            "solver": "classic",
            "pkgs_dirs": [str(Path(tmp) / "pkgs")],
            "envs_dirs": [str(self.envs)],
            "notify_outdated_conda": False,
            "auto_update_conda": False,
            "report_errors": False,
            "show_channel_urls": True,
        }
        self.write_condarc({})
        self.env = {
            "HOME": str(self.home),
            "PATH": os.environ.get("PATH", ""),
            "CONDA_ROOT_PREFIX": str(self.root),
            "CONDA_ROOT": str(self.root),
            "PYTHONNOUSERSITE": "1",
            "LANG": "C.UTF-8",
        }

    def write_condarc(self, extra):
        lines = []
        for key, value in {**self.condarc, **extra}.items():
            lines.append("%s: %s" % (key, json.dumps(value)))
        (self.home / ".condarc").write_text("\n".join(lines) + "\n")

    def conda(self, *args, env=None, check=True, timeout=300):
        environment = dict(self.env, **(env or {}))
        done = subprocess.run([self.python, "-m", "conda", *map(str, args)], env=environment,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError("conda %s failed (%d):\n%s\n%s" % (
                " ".join(map(str, args)), done.returncode, done.stdout[-3000:], done.stderr[-3000:]))
        return done

    def shell(self, script, *args, env=None, timeout=120):
        """Run bash ``script`` (with ``$@`` = ``args``) after conda's shell hook, as a
        user's shell runs after ``conda init``. The hook's own activation of base
        is switched off, so that each activation is one the script asks for."""
        hook = 'eval "$("$AAU_CONDA_PYTHON" -m conda shell.bash hook)" && '
        environment = dict(self.env, AAU_CONDA_PYTHON=self.python, CONDA_AUTO_ACTIVATE_BASE="false", **(env or {}))
        return subprocess.run(["bash", "-c", hook + script, "bash", *map(str, args)], env=environment,
                              capture_output=True, text=True, timeout=timeout)

    def activate(self, *args, env=None):
        """``conda activate ARGS``; prints ``active=$CONDA_PREFIX`` once activated."""
        return self.shell('conda activate "$@" && echo "active=$CONDA_PREFIX"', *args, env=env)

    def client_token(self):
        return (self.home / ".conda" / "aau_token").read_text()

    def env_token(self, prefix):
        return (Path(prefix) / "etc" / "aau_token").read_text()
