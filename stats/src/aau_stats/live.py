"""The simulated population sent as real HTTP requests to a real nginx on loopback.

nginx serves a generated channel (``repodata.json`` per subdir and real
``.conda`` files: zip archives of zstd tars with ``info/index.json``) and
writes two logs of every request:

- ``access.log``: the standard ``combined`` log, at the time of the run;
- ``simulated.log``: the same ``combined`` layout with the simulated time
  (header ``X-Simulated-Time``), so that weeks of use fit in a minute.

Client addresses come from ``X-Forwarded-For`` through nginx's ``real_ip``
module (trusted from loopback only), so offices and CI pools appear as the
addresses they are. A repodata request the simulation answers 304 is sent
with ``If-Modified-Since``; a failed download asks nginx to fail it (503).
"""

import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    log_format simulated '$remote_addr - $remote_user [$http_x_simulated_time] "$request" '
                         '$status $body_bytes_sent "$http_referer" "$http_user_agent"';
    access_log {root}/access.log combined;
    access_log {root}/simulated.log simulated;
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    if_modified_since before;
    server {{
        listen 127.0.0.1:{port};{tls}
        root {documents};
        location ~ \\.conda$ {{
            if ($http_x_simulated_failure) {{ return 503; }}
        }}
    }}
}}
"""


class NginxMissing(Exception):
    """No nginx on this machine; the message says how to get one."""


def nginx_binary():
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise NginxMissing("nginx is not installed: install it from your system's packages"
                       " (Debian and Ubuntu: apt-get install nginx-light)")


def conda_file(name, version, build, subdir):
    """A small but real ``.conda`` package: ``metadata.json`` and two zstd tars, ``info/index.json`` inside."""
    import zstandard

    stem = "%s-%s-%s" % (name, version, build)

    def tar_zst(files):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return zstandard.ZstdCompressor().compress(raw.getvalue())

    index = json.dumps({"name": name, "version": version, "build": build, "build_number": 0,
                        "subdir": subdir, "depends": []}).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        archive.writestr("info-%s.tar.zst" % stem, tar_zst({"info/index.json": index}))
        archive.writestr("pkg-%s.tar.zst" % stem, tar_zst({}))
    return out.getvalue()


def write_channel(root, paths):
    """The package files of ``paths`` (``/<channel>/<subdir>/<file>``) and a ``repodata.json`` per subdir."""
    import hashlib

    repodata = {}
    for path in sorted(set(paths)):
        _, channel, subdir, filename = path.split("/")
        name, version, build = filename[: -len(".conda")].rsplit("-", 2)
        data = conda_file(name, version, build, subdir)
        target = Path(root, channel, subdir, filename)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        entry = {"name": name, "version": version, "build": build, "build_number": 0, "depends": [],
                 "subdir": subdir, "size": len(data), "md5": hashlib.md5(data).hexdigest(),
                 "sha256": hashlib.sha256(data).hexdigest()}
        repodata.setdefault((channel, subdir), {})[filename] = entry
    for channel, subdir in repodata:
        for sub in (subdir, "noarch"):
            Path(root, channel, sub).mkdir(parents=True, exist_ok=True)
    for directory in Path(root).glob("*/*"):
        packages = repodata.get((directory.parent.name, directory.name), {})
        (directory / "repodata.json").write_text(json.dumps(
            {"info": {"subdir": directory.name}, "packages": {}, "packages.conda": packages, "repodata_version": 1}))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Nginx:
    """nginx on a free loopback port, serving ``documents`` (default ``root/channel``); a context manager.

    ``certificate``: ``(certificate file, key file)`` to serve over TLS too, on :attr:`tls_port`.
    """

    def __init__(self, root, documents=None, certificate=None):
        self.root = Path(root).resolve()
        self.documents = Path(documents).resolve() if documents else self.root / "channel"
        self.certificate = certificate
        self.binary = nginx_binary()

    def __enter__(self):
        self.port = free_port()
        tls = ""
        if self.certificate:
            self.tls_port = free_port()
            tls = "\n        listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;" % (
                self.tls_port, *self.certificate)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        # As root, nginx's workers would run as nobody, who may not read a private scratch directory.
        user = "user root;" if os.geteuid() == 0 else ""
        (self.root / "nginx.conf").write_text(NGINX_CONF.format(root=self.root, port=self.port, user=user, tls=tls,
                                                                documents=self.documents))
        self.process = subprocess.Popen([self.binary, "-c", str(self.root / "nginx.conf"), "-p", str(self.root)],
                                        stderr=subprocess.PIPE)
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", getattr(self, "tls_port", self.port)), timeout=0.2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.process.kill()
        raise RuntimeError("nginx did not start: %s" % self.process.stderr.read().decode(errors="replace").strip())

    def __exit__(self, *exc):
        self.process.terminate()  # a fast shutdown; nginx has written each request's line after answering it
        self.process.wait(timeout=10)


def replay(lines, port):
    """Send the simulated requests, in order, over one keep-alive connection; return how many were answered."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answered = 0
    for when, ip, method, path, status, agent in lines:
        headers = {"User-Agent": agent, "X-Forwarded-For": ip,
                   "X-Simulated-Time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(when))}
        if status == 304:
            headers["If-Modified-Since"] = "Fri, 01 Jan 2100 00:00:00 GMT"
        elif status >= 400 and path.endswith(".conda") and "activate-0.0.0-0" not in path:
            headers["X-Simulated-Failure"] = "1"
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        response.read()
        answered += 1
    connection.close()
    return answered
