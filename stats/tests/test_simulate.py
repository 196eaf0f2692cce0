"""The simulated population: real token files made by the client, and the analytics measured against its truth."""

import json
import re

import pytest
from aau_stats.ingest import ingest
from aau_stats.questions import read_advisories
from aau_stats.simulate import Config, accuracy, simulate


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("simulated")
    truth = simulate(Config(seed=1), out)
    db = out / "store.duckdb"
    (report,) = ingest([str(out / "access.log")], db, raw=True)
    assert report.lines == report.parsed == truth["lines"]
    return out, truth, db


def test_tokens_come_from_the_clients_own_token_files(simulated):
    out, truth, _ = simulated
    log = (out / "access.log").read_text()
    in_log = set(re.findall(r" c/([A-Za-z0-9_-]{22}) ", log))
    on_disk = {path.read_text().split()[0] for path in (out / "scratch" / "people").glob("*/home/.conda/aau_token")}
    assert in_log == on_disk == set(truth["tokens"]["clients"])
    envs_in_log = set(re.findall(r" e/([A-Za-z0-9_-]{22})", log))
    envs_on_disk = {p.read_text().split()[0] for p in (out / "scratch" / "people").glob("*/miniconda3/**/etc/aau_token")}
    assert envs_in_log == envs_on_disk == set(truth["tokens"]["environments"])
    sessions = re.findall(r" s/([A-Za-z0-9_-]{22}) ", log)
    assert len(set(sessions)) > len(in_log)  # a new session token in every process
    assert re.search(r'aau/[0-9.]+"$', log, re.M)  # users who turned the tokens off send only aau/
    assert re.search(r'"pixi/[^"]*"$', log, re.M)  # tools with no tokens


def test_the_same_seed_gives_the_same_population(tmp_path):
    first = simulate(Config(seed=3, days=5, desktops=5, offices=1), tmp_path / "a")
    second = simulate(Config(seed=3, days=5, desktops=5, offices=1), tmp_path / "b")
    assert first["answers"] == second["answers"] and first["lines"] == second["lines"]


def test_exact_questions_match_the_truth(simulated):
    out, truth, db = simulated
    report = accuracy(db, truth, read_advisories(out / "advisories.csv"))
    exact = {name: pair for name, pair in report.items() if isinstance(pair, tuple)}
    assert set(exact) >= {"clients", "most clients behind one address", "environments", "environments exposed",
                          "environments remediated", "clients exposed", "downloads per package",
                          "installs: new, updates, re-downloads per package", "seats of acme-0: clients, machines",
                          "active environments per day (heartbeat, any request)"}
    assert all(found == true for found, true in exact.values()), exact
    json.dumps(report)


def test_heuristics_against_the_truth(simulated):
    """The 95 % goal on a fixed seed, for both heuristics and both classes of each."""
    out, truth, db = simulated
    report = accuracy(db, truth, read_advisories(out / "advisories.csv"))
    for name in ("base environments", "child environments", "CI-like clients (CI jobs)",
                 "long-lived or one-off clients (desktops)"):
        assert report[name]["precision"] >= 0.95 and report[name]["recall"] >= 0.95, (name, report[name])


def _need_nginx():
    from aau_stats.live import NginxMissing, nginx_binary

    try:
        nginx_binary()
    except NginxMissing as exc:
        pytest.skip(str(exc))


def test_live_mode_sends_every_request_through_a_real_nginx(tmp_path):
    _need_nginx()
    truth = simulate(Config(seed=2, days=12, desktops=10, offices=1), tmp_path, mode="live")
    simulated = (tmp_path / "access.log").read_text().splitlines()
    real_time = (tmp_path / "nginx" / "access.log").read_text().splitlines()
    assert len(simulated) == len(real_time) == truth["lines"]
    assert {line.split(" ", 1)[0] for line in simulated} == {line.split(" ", 1)[0] for line in real_time}
    assert any('" 304 0 ' in line for line in simulated)  # repodata unchanged since the client's copy
    assert any('" 503 ' in line for line in simulated)  # failed downloads
    assert any('"HEAD /demo-forge/noarch/activate-0.0.0-0.conda HTTP/1.1" 404' in line for line in simulated)
    db = tmp_path / "store.duckdb"
    ingest([str(tmp_path / "access.log")], db, raw=True)
    report = accuracy(db, truth, read_advisories(tmp_path / "advisories.csv"))
    assert all(found == true for found, true in (v for v in report.values() if isinstance(v, tuple))), report


def test_demo_prints_the_answers_beside_the_truth_and_writes_the_report(tmp_path, capsys, monkeypatch):
    from aau_stats import cli

    _need_nginx()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "--out", "demo"]) == 0  # a relative directory, as ./run demo gives
    out = capsys.readouterr().out
    truth = json.loads((tmp_path / "demo" / "truth.json").read_text())
    line = next(line for line in out.splitlines() if line.startswith("distinct clients"))
    assert line.split()[-2:] == [str(truth["answers"]["clients"])] * 2
    assert "report: %s" % (tmp_path / "demo" / "report.html").resolve() in out
    assert (tmp_path / "demo" / "report.html").read_text().startswith("<!DOCTYPE html>")
