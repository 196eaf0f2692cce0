"""A simulated conda population, its access log, and the truth about it.

People, seeded and configurable: desktop users with a base environment and
child environments they create over time; offices where many users share
one address (some of them an organization that sets ``o/`` and ``m/``
tokens); CI jobs that start from a fresh home on every run; users who
turned the tokens off; tools that send none (mamba, pixi, pip). Each person
has a real home directory and real environment prefixes under a scratch
directory, and their tokens are made by the client's own code from those
token files (``anaconda_anon_usage.tokens``): the client token once per
home, the environment token once per prefix, a new session token (the
client's ``random_token``) for every simulated conda process.

A package version turns vulnerable (``openssl 3.0.14``) and a fix appears
part-way; some environments adopt it. Activation heartbeats come from
desktops that have them on.

:func:`simulate` writes the requests as an nginx ``combined`` log
(``fast`` mode, timestamps spread over the period) and returns the truth:
what each token really is and the true answer of each question, written as
JSON beside the log.
"""

import datetime
import json
import os
import random
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

CHANNEL = "demo-forge"
SUBDIRS = {"linux-64": "Linux/6.8.0 ubuntu/24.04 glibc/2.39", "osx-arm64": "OSX/14.6.1",
           "win-64": "Windows/10.0.22631"}
PYTHONS = ("3.11.9", "3.12.7")
CONDAS = ("24.7.1", "24.11.3", "25.1.1")
# name -> versions, oldest first; "py" marks packages built per Python.
PACKAGES = {
    "python": (["3.11.9", "3.12.7"], False), "conda": (["24.7.1", "24.11.3", "25.1.1"], True),
    "numpy": (["1.26.4", "2.1.3", "2.2.1"], True), "pandas": (["2.2.2", "2.2.3"], True),
    "requests": (["2.32.3"], None), "openssl": (["3.0.13", "3.0.14", "3.0.15"], False),
    "scipy": (["1.13.1", "1.14.1"], True), "matplotlib": (["3.9.2", "3.9.4"], True),
    "pytest": (["8.3.3", "8.3.4"], None), "zlib": (["1.3.1"], False),
}
VULNERABLE = ("openssl", "3.0.14", "3.0.15")  # package, the affected version, the fix
OTHER_TOOLS = ("mamba/1.5.8 conda/24.11.3 requests/2.32.3 CPython/3.12.7 Linux/6.8.0",
               "pixi/0.40.3", "pip/24.2 {\"implementation\":{\"name\":\"CPython\"}}")


@dataclass
class Config:
    """The population. Counts are people; the period starts on ``start`` and lasts ``days``."""

    seed: int = 1
    start: datetime.date = datetime.date(2026, 10, 1)
    days: int = 30
    desktops: int = 40
    offices: int = 3
    office_users: tuple = (4, 12)
    org_offices: int = 1  # offices whose users set o/ and m/ tokens
    ci_jobs_per_day: int = 4
    opted_out: int = 5
    other_tools: int = 8
    fix_day: int = 10  # the day the fixed version appears
    older_env_share: float = 0.3  # desktops with a child environment made before the period
    one_off_share: float = 0.1  # desktops seen on one day only (they look like CI jobs)
    processes: int = 1  # at most this many conda processes per desktop and active day (volume for benchmarks)


@dataclass
class Person:
    kind: str  # desktop, ci, opted-out, other
    ip: str
    home: Path
    root: Path
    subdir: str
    conda: str
    python: str
    org: str = None
    machine: str = None
    heartbeat: bool = False
    only_day: int = None  # a one-off user's single day
    envs: dict = field(default_factory=dict)  # name -> prefix
    installed: dict = field(default_factory=dict)  # prefix -> {package: version}
    first_day: int = 0
    last_day: int = 0


@contextmanager
def _as_person(person):
    """The process environment of one of the person's conda processes (HOME, CONDA_ROOT), restored after."""
    saved = {k: os.environ.get(k) for k in ("HOME", "CONDA_ROOT", "CONDA_PREFIX", "XDG_CONFIG_HOME",
                                            "ANACONDA_ANON_USAGE_ORG_TOKEN", "ANACONDA_ANON_USAGE_MACHINE_TOKEN")}
    os.environ["HOME"] = str(person.home)
    os.environ["CONDA_ROOT"] = str(person.root)
    for key in ("CONDA_PREFIX", "XDG_CONFIG_HOME", "ANACONDA_ANON_USAGE_ORG_TOKEN", "ANACONDA_ANON_USAGE_MACHINE_TOKEN"):
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Simulation:
    """Builds the people, runs the days, writes the log, keeps the truth."""

    def __init__(self, config, scratch):
        from anaconda_anon_usage import grammar, tokens
        from anaconda_anon_usage._state import PROCESS

        self.config = config
        self.rng = random.Random(config.seed)
        self.scratch = Path(scratch)
        self._tokens, self._grammar, self._process = tokens, grammar, PROCESS
        self._agent_tokens = {}  # (person id, prefix) -> (c, e, o list, m list)
        self.truth = Truth()
        self.people = []
        self._serial = 0

    # --- people -------------------------------------------------------------

    def _address(self, kind):
        rng = self.rng
        if kind == "ci":
            return "20.%d.%d.%d" % (rng.randrange(4), rng.randrange(2), rng.randrange(1, 30))  # a CI provider's pool
        return "%d.%d.%d.%d" % (rng.randrange(30, 200), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))

    def _person(self, kind, ip, day, org=None):
        rng = self.rng
        self._serial += 1
        base = self.scratch / "people" / ("%s-%d" % (kind, self._serial))
        home, root = base / "home", base / "miniconda3"
        (root / "etc").mkdir(parents=True)
        home.mkdir(parents=True)
        person = Person(kind, ip, home, root, rng.choice(list(SUBDIRS)), rng.choice(CONDAS), rng.choice(PYTHONS),
                        first_day=day, last_day=day)
        if org:
            person.org, person.machine = org, "host-%d" % self._serial
            (root / "org_token").write_text(org + "\n")
            (root / "machine_token").write_text(person.machine + "\n")
        person.heartbeat = kind == "desktop" and rng.random() < 0.5
        person.envs["base"] = root
        # The installer made base with these (no download seen).
        person.installed[root] = {"python": person.python, "conda": person.conda, "openssl": "3.0.13", "zlib": "1.3.1"}
        self.people.append(person)
        return person

    # --- one conda process ----------------------------------------------------

    def _agent(self, person, prefix, enabled=True):
        """The user agent of one conda process of ``person`` operating on ``prefix``."""
        head = "conda/%s requests/2.32.3 CPython/%s %s" % (person.conda, person.python, SUBDIRS[person.subdir])
        if not enabled:
            return "%s aau/%s" % (head, self._tokens.version_token()), None, None
        key = (id(person), str(prefix))
        if key not in self._agent_tokens:
            with _as_person(person):
                self._process.clear()  # a new conda process: nothing computed yet
                t = self._tokens.all_tokens(str(prefix))
                self._tokens.write_deferred()
                self._agent_tokens[key] = t
        t = self._agent_tokens[key]
        session = self._tokens.random_token()
        words = self._grammar.format_token_string(t.version, t.client, session, t.environment, "", t.installer,
                                                  t.organization, t.machine)
        return head + " " + words, t, session

    def process(self, person, day, when, prefix, installs, opted_out=False, heartbeat=False, fail=0.02):
        """One conda command: repodata, then the package downloads of ``installs`` ({name: version})."""
        rng = self.rng
        agent, tok, session = self._agent(person, prefix, enabled=not opted_out)
        requests = []
        if heartbeat:
            requests.append(("HEAD", "/%s/noarch/activate-0.0.0-0.conda" % CHANNEL, 404))
        else:
            for subdir in (person.subdir, "noarch"):
                requests.append(("GET", "/%s/%s/repodata.json" % (CHANNEL, subdir), rng.choice((200, 304))))
        for name, version in installs.items():
            path = package_path(name, version, person.subdir, person.python)
            if rng.random() < fail:
                requests.append(("GET", path, 404))  # a failed download, retried
            requests.append(("GET", path, 200))
        lines = []
        for offset, (method, path, status) in enumerate(requests):
            lines.append((when + offset, person.ip, method, path, status, agent))
        self.truth.record(person, day, prefix, tok, session, installs, heartbeat, opted_out, len(requests))
        person.installed.setdefault(prefix, {}).update(installs)
        person.last_day = day
        return lines


def _nginx_escaped(text):
    """A value as nginx writes it in a quoted log field: ``"`` and ``\\`` as ``\\x22`` and ``\\x5C``."""
    return text.replace("\\", "\\x5C").replace('"', "\\x22")


def package_path(name, version, subdir, python):
    per_python = PACKAGES[name][1]
    if per_python is None:
        subdir, build = "noarch", "pyhd8ed1ab_0"
    elif per_python:
        build = "py%s%sh1a2b3c4_0" % tuple(python.split(".")[:2])
    else:
        build = "h1a2b3c4_0"
    return "/%s/%s/%s-%s-%s.conda" % (CHANNEL, subdir, name, version, build)


class Truth:
    """What really happened, per token, and the true answers."""

    def __init__(self):
        self.clients = {}  # c -> kind
        self.client_ips = defaultdict(set)  # ip -> c tokens
        self.envs = {}  # e -> role
        self.env_clients = defaultdict(set)
        self.env_days_active = defaultdict(set)  # day -> e with a heartbeat
        self.exposed = {}  # e -> (day exposed, day fixed or None)
        self.exposed_clients = defaultdict(set)
        self.downloads = defaultdict(int)  # package -> successful downloads with tokens or not
        self.package_clients = defaultdict(set)
        self.installs = defaultdict(lambda: [0, 0, 0])  # package -> new installs, updates, re-downloads
        self.env_versions = defaultdict(set)  # (e, package) -> versions downloaded
        self.env_days_any = defaultdict(set)  # day -> e with any request
        self.org_clients = defaultdict(set)
        self.org_machines = defaultdict(set)
        self.requests = 0

    def record(self, person, day, prefix, tok, session, installs, heartbeat, opted_out, count):
        self.requests += count
        for name in installs:
            self.downloads[name] += 1
        if tok is None:
            return
        c, e = tok.client, tok.environment
        self.env_days_any[day].add(e)
        if person.org:
            self.org_clients[person.org].add(c)
            self.org_machines[person.org].add(person.machine)
        for name, version in installs.items():
            seen = self.env_versions[e, name]
            self.installs[name][0 if not seen else 1 if version not in seen else 2] += 1
            seen.add(version)
        self.clients[c] = "ci" if person.kind == "ci" else "desktop"
        self.client_ips[person.ip].add(c)
        self.envs[e] = "base" if prefix == person.root else "child"
        self.env_clients[e].add(c)
        if heartbeat:
            self.env_days_active[day].add(e)
        package, bad, good = VULNERABLE
        if installs.get(package) == bad and e not in self.exposed:
            self.exposed[e] = (day, None)
            self.exposed_clients[e].add(c)
        elif installs.get(package) == good and e in self.exposed and self.exposed[e][1] is None:
            self.exposed[e] = (self.exposed[e][0], day)
        for name in installs:
            self.package_clients[name].add(c)

    def answers(self):
        per_ip = [len(cs) for cs in self.client_ips.values()]
        days = sorted(set(self.env_days_any) | set(self.env_days_active))
        return {
            "clients": len(self.clients),
            "ci_clients": sum(1 for k in self.clients.values() if k == "ci"),
            "addresses_with_clients": len(per_ip),
            "most_clients_behind_one_address": max(per_ip, default=0),
            "addresses_shared_by_2_or_more": sum(1 for n in per_ip if n >= 2),
            "environments": len(self.envs),
            "base_environments": sum(1 for r in self.envs.values() if r == "base"),
            "environments_exposed": len(self.exposed),
            "environments_remediated": sum(1 for _, fixed in self.exposed.values() if fixed is not None),
            "clients_exposed": len(set().union(*self.exposed_clients.values())) if self.exposed_clients else 0,
            "package_clients": {name: len(cs) for name, cs in sorted(self.package_clients.items())},
            "package_downloads": dict(sorted(self.downloads.items())),
            "installs": {name: list(counts) for name, counts in sorted(self.installs.items())},
            "active_environments_by_day": {str(day): [len(self.env_days_active.get(day, ())),
                                                      len(self.env_days_any.get(day, ()))] for day in days},
            "organizations": {org: {"clients": len(cs), "machines": len(self.org_machines[org])}
                              for org, cs in sorted(self.org_clients.items())},
        }


def simulate(config, out_dir, mode="fast"):
    """Run the population of ``config``; write ``access.log``, ``truth.json`` and ``advisories.csv`` in ``out_dir``.

    ``fast``: the log is written directly. ``live``: every request goes to a
    real nginx on loopback (:mod:`aau_stats.live`), and ``access.log`` is the
    log nginx wrote with the simulated times (its real-time log is
    ``nginx/access.log``).
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sim = Simulation(config, out / "scratch")
    rng = sim.rng
    desktops = [sim._person("desktop", sim._address("desktop"), 0) for _ in range(config.desktops)]
    for number in range(config.offices):
        ip = sim._address("office")
        org = "acme-%d" % number if number < config.org_offices else None
        desktops += [sim._person("desktop", ip, 0, org) for _ in range(rng.randint(*config.office_users))]
    for person in desktops:
        if rng.random() < config.older_env_share:
            prefix = person.root / "envs" / "older"
            (prefix / "etc").mkdir(parents=True)
            person.envs["older"] = prefix
            person.installed[prefix] = {"python": person.python, "numpy": PACKAGES["numpy"][0][0]}
        if rng.random() < config.one_off_share:
            person.only_day = rng.randrange(config.days)
    opted = [sim._person("opted-out", sim._address("desktop"), 0) for _ in range(config.opted_out)]
    others = [(sim._address("desktop"), rng.choice(OTHER_TOOLS)) for _ in range(config.other_tools)]
    _, bad, good = VULNERABLE
    sent, total = [], 0
    log = open(out / "access.log", "w", encoding="ascii") if mode == "fast" else None  # noqa: SIM115 - closed below
    for day in range(config.days):
        lines = []
        midnight = int(datetime.datetime.combine(config.start + datetime.timedelta(days=day),
                                                 datetime.time(), tzinfo=datetime.timezone.utc).timestamp())
        openssl = good if day >= config.fix_day else bad
        for person in desktops:
            if (rng.random() > 0.35) if person.only_day is None else (day != person.only_day):
                continue
            for number in range(rng.randint(1, config.processes) if config.processes > 1 else 1):
                when = midnight + rng.randrange(8 * 3600, 20 * 3600)
                if person.heartbeat:
                    prefix = rng.choice(list(person.envs.values()))
                    lines += sim.process(person, day, when, prefix, {}, heartbeat=True)
                    when += 60
                roll = rng.random() if number == 0 else 0.25 + 0.75 * rng.random()  # one new environment a day at most
                if roll < 0.25 or (len(person.envs) == 1 and roll < 0.5):
                    name = "env%d" % len(person.envs)
                    prefix = person.root / "envs" / name
                    wanted = {"python": person.python, "openssl": openssl, "zlib": "1.3.1"}
                    for extra in rng.sample(["numpy", "pandas", "requests", "scipy", "matplotlib", "pytest"], 2):
                        wanted[extra] = PACKAGES[extra][0][-1 if rng.random() < 0.7 else 0]
                    lines += sim.process(person, day, when, prefix, wanted)
                    prefix.joinpath("etc").mkdir(parents=True, exist_ok=True)
                    with _as_person(person):
                        sim._tokens.write_deferred()
                    person.envs[name] = prefix
                elif roll < 0.45:
                    base = person.root
                    newest = PACKAGES["conda"][0][-1]
                    updates = {"conda": newest} if person.installed[base].get("conda") != newest else {}
                    if person.installed[base].get("openssl") != openssl:
                        updates["openssl"] = openssl
                    lines += sim.process(person, day, when, base, updates or {"requests": "2.32.3"})
                else:
                    prefix = rng.choice(list(person.envs.values()))
                    name = rng.choice(["numpy", "pandas", "scipy", "matplotlib", "pytest", "openssl"])
                    version = openssl if name == "openssl" else rng.choice(PACKAGES[name][0])
                    lines += sim.process(person, day, when, prefix, {name: version})
        for person in opted:
            if rng.random() < 0.3:
                when = midnight + rng.randrange(8 * 3600, 20 * 3600)
                lines += sim.process(person, day, when, person.root, {"numpy": "2.2.1"}, opted_out=True)
        for _ in range(config.ci_jobs_per_day):
            job = sim._person("ci", sim._address("ci"), day)
            when = midnight + rng.randrange(0, 23 * 3600)
            target = job.root / "envs" / "test" if rng.random() < 0.5 else job.root
            # A job that installs into base keeps the installer's Python; a test environment gets its own.
            wanted = {"numpy": "2.2.1", "pytest": "8.3.4", "openssl": openssl}
            if target != job.root:
                wanted["python"] = job.python
            lines += sim.process(job, day, when, target, wanted)
            if target != job.root:
                target.joinpath("etc").mkdir(parents=True, exist_ok=True)
                with _as_person(job):
                    sim._tokens.write_deferred()
            lines += sim.process(job, day, when + 120, target, {"requests": "2.32.3"})
        for ip, agent in others:
            if rng.random() < 0.4:
                when = midnight + rng.randrange(0, 24 * 3600)
                path = package_path("numpy", "2.2.1", "linux-64", "3.12.7")
                lines.append((when, ip, "GET", path, 200, agent))
                sim.truth.downloads["numpy"] += 1
        lines.sort()  # a day at a time: the log is in time order, and memory holds one day
        total += len(lines)
        if log is None:
            sent += lines
        else:
            _write_lines(lines, log)
    if log is None:
        _send_live(sent, out)
    else:
        log.close()
    (out / "advisories.csv").write_text("id,package,affected,fixed\nDEMO-1,%s,==%s,%s\n" % VULNERABLE)
    truth = {"config": {k: str(v) for k, v in asdict(config).items()}, "mode": mode, "lines": total,
             "answers": sim.truth.answers(),
             "tokens": {"clients": sim.truth.clients, "environments": sim.truth.envs}}
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True))
    sim._process.clear()  # the client's cache holds the last simulated process: leave it empty
    return truth


def _send_live(lines, out):
    from .live import Nginx, replay, write_channel

    server_root = out / "nginx"
    paths = {path for _, _, _, path, _, _ in lines if path.endswith(".conda") and "activate-0.0.0-0" not in path}
    write_channel(server_root / "channel", paths)
    with Nginx(server_root) as server:
        replay(lines, server.port)
    os.replace(server_root / "simulated.log", out / "access.log")


def _write_lines(lines, log):
    for when, ip, method, path, status, agent in lines:
        stamp = datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
        log.write('%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s"\n' % (
            ip, stamp, method, path, status, 1234 if status == 200 else 0, _nginx_escaped(agent)))


def _rates(predicted, truth, positive):
    """Precision and recall of ``predicted`` (token -> label) for the label ``positive`` against ``truth``."""
    tp = sum(1 for t, label in predicted.items() if label == positive and truth.get(t) == positive)
    said = sum(1 for label in predicted.values() if label == positive)
    real = sum(1 for t in predicted if truth.get(t) == positive)
    return {"precision": round(tp / said, 4) if said else None, "recall": round(tp / real, 4) if real else None,
            "n": len(predicted)}


def accuracy(db, truth, advisories):
    """The analytics' answers on a store of the simulated log ingested with ``--raw``, beside the truth."""
    from .questions import DuckDBEngine, Filters, Scope, ask
    from .questions.environments import roles_sql
    from .questions.lifecycles import classified_sql

    answers = truth["answers"]
    report = {}
    per_ip = {h.label: h.value for h in ask("clients-per-ip", db, Filters(), min_clients=1).headline}
    report["clients"] = (per_ip["distinct clients"], answers["clients"])
    report["most clients behind one address"] = (per_ip["most clients behind one address"],
                                                 answers["most_clients_behind_one_address"])
    report["addresses shared by 2 or more clients"] = (per_ip["addresses shared by 2 or more clients"],
                                                       answers["addresses_shared_by_2_or_more"])
    exposure = ask("exposure", db, Filters(), min_clients=1, advisories=advisories).table("advisories").records()[0]
    report["environments exposed"] = (exposure["environments_exposed"], answers["environments_exposed"])
    report["environments remediated"] = (exposure["environments_remediated"], answers["environments_remediated"])
    report["clients exposed"] = (exposure["clients_exposed"], answers["clients_exposed"])
    with DuckDBEngine(db) as engine:
        scope = Scope(engine, Filters())
        # The questions tell tokens apart by their numbers in the store: each back to its (raw) value.
        value = dict(engine.rows("SELECT token_id, value FROM token_values")[1]) if engine.numbered else {}
        lifecycle = {value.get(c, c): kind for c, kind in engine.rows(
            "SELECT id, lifecycle FROM (%s) k" % classified_sql(scope, "c", 2, 2))[1]}
        roles = {value.get(e, e): role for e, role, _ in engine.rows(roles_sql(scope.sessions()))[1]}
    report["environments"] = (len(roles), answers["environments"])
    installs = {}
    for row in ask("installs", db, Filters(), min_clients=1, warm_up_days=0).table("installs").records():
        counts = installs.setdefault(row["package"], [0, 0, 0])
        for i, column in enumerate(("new_installs", "updates", "redownloads")):
            counts[i] += row[column]
    report["installs: new, updates, re-downloads per package"] = (
        {name: counts for name, counts in installs.items() if any(counts)}, answers["installs"])
    popular = ask("popularity", db, Filters(), min_clients=1).table("popularity").records()
    report["downloads per package"] = ({r["pkg_name"]: r["counts"] for r in popular}, answers["package_downloads"])
    report["clients per package"] = ({r["pkg_name"]: r["clients"] for r in popular}, answers["package_clients"])
    start = datetime.date.fromisoformat(truth["config"]["start"])
    daily = ask("activity", db, Filters(), min_clients=1).table("daily").records()
    report["active environments per day (heartbeat, any request)"] = (
        {str((datetime.date.fromisoformat(r["day"]) - start).days):
         [r["environments_by_heartbeat"], r["environments_by_any_request"]] for r in daily},
        answers["active_environments_by_day"])
    for org, real in answers["organizations"].items():
        seats = {h.label: h.value for h in ask("seats", db, Filters.build(org=org), min_clients=1).headline}
        report["seats of %s: clients, machines" % org] = (
            [seats["clients"], seats["machines (m/ tokens)"]], [real["clients"], real["machines"]])
    kinds = {c: "ci" if k == "ci" else "desktop" for c, k in truth["tokens"]["clients"].items()}
    predicted = {c: "ci" if label == "ci-like" else "desktop" for c, label in lifecycle.items()}
    report["CI-like clients (CI jobs)"] = _rates(predicted, kinds, "ci")
    report["long-lived or one-off clients (desktops)"] = _rates(predicted, kinds, "desktop")
    report["base environments"] = _rates(roles, truth["tokens"]["environments"], "base")
    report["child environments"] = _rates(roles, truth["tokens"]["environments"], "child")
    return report
