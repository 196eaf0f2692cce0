"""A real conda, a loopback channel that records every request, and a user to drive them.

conda is found in the interpreter running the tests, or in the python that
``AAU_TEST_CONDA_PYTHON`` names. The plugin under test is this checkout's:
its source goes on ``PYTHONPATH`` with a minimal distribution record that
declares the ``conda`` entry point, unless that python has a copy installed
already (which must then be this checkout).
"""

import bz2
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from anaconda_anon_usage import __version__

SRC = Path(__file__).resolve().parents[1] / "src"

PACKAGES = [("aau-a", "1.0"), ("aau-a", "2.0"), ("aau-b", "1.0")]


def _probe(python):
    code = (
        "import json, conda, importlib.metadata as md\n"
        "eps = [e for d in md.distributions() for e in d.entry_points"
        " if e.group == 'conda' and e.name == 'anaconda-anon-usage']\n"
        "try:\n    import anaconda_anon_usage as a; mine = a.__version__\n"
        "except ImportError:\n    mine = None\n"
        "print(json.dumps({'version': conda.__version__, 'installed': bool(eps), 'plugin_version': mine}))\n"
    )
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                              env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    except OSError as exc:
        return None, "cannot run %s: %s" % (python, exc)
    if done.returncode != 0:
        return None, "%s cannot import conda" % python
    return json.loads(done.stdout.strip().splitlines()[-1]), None


def find_conda():
    """``(python, info)`` of a usable conda, or ``(None, reason)``."""
    python = os.environ.get("AAU_TEST_CONDA_PYTHON") or sys.executable
    info, problem = _probe(python)
    if info is None:
        if "AAU_TEST_CONDA_PYTHON" not in os.environ:
            problem = ("no conda: it is not importable here and AAU_TEST_CONDA_PYTHON does not name "
                       "a python that can import it")
        return None, problem
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

    def __init__(self, python, tmp, channel_url, plugin_installed):
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
        if not plugin_installed:
            dist = Path(tmp) / "dist"
            info = dist / ("anaconda_anon_usage-%s.dist-info" % __version__)
            info.mkdir(parents=True)
            (info / "METADATA").write_text(
                "Metadata-Version: 2.1\nName: anaconda-anon-usage\nVersion: %s\n" % __version__)
            (info / "entry_points.txt").write_text(
                "[conda]\nanaconda-anon-usage = anaconda_anon_usage.plugin\n")
            self.env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(dist)])

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

    def client_token(self):
        return (self.home / ".conda" / "aau_token").read_text()

    def env_token(self, prefix):
        return (Path(prefix) / "etc" / "aau_token").read_text()
