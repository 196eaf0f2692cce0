"""The command line as people type it: global options anywhere, $AAU_STATS_DB, --version, exit statuses."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import aau_stats
import duckdb
import pytest
from test_ingest import combined

BIN = Path(sys.executable).parent


def aau_stats_command(*args, env=None, cwd=None):
    """``aau-stats ARGS`` as installed (the console script beside this python)."""
    script = shutil.which("aau-stats", path=str(BIN))
    command = [script] if script else [sys.executable, "-m", "aau_stats.cli"]
    environ = {k: v for k, v in os.environ.items() if k != "AAU_STATS_DB"}
    environ.update(env or {})
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, env=environ, cwd=cwd,
                          timeout=120)


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "access.log"
    path.write_text(combined() + combined(ip="10.9.9.9") + "junk\n")
    return path


def requests_in(db):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM requests").fetchone()[0]


@pytest.mark.parametrize("where", ["before", "after", "at the end"])
def test_db_is_accepted_before_or_after_the_command(tmp_path, log, where):
    db = tmp_path / ("%s.duckdb" % where.replace(" ", "-"))
    args = {"before": ["--db", db, "ingest", log], "after": ["ingest", "--db", db, log],
            "at the end": ["ingest", log, "--db", db]}[where]
    done = aau_stats_command(*args, env={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    assert "lines 3 = parsed 2 + rejected 1 + blank 0" in done.stdout
    assert requests_in(db) == 2
    assert not (tmp_path / "data").exists()  # nothing went to the default store


def test_every_command_takes_db_after_its_name(tmp_path, log):
    db = tmp_path / "store.duckdb"
    assert aau_stats_command("ingest", "--db", db, log).returncode == 0
    for command in (["activity", "--json"], ["lifecycles", "--json"], ["popularity", "--json"],
                    ["export", "--parquet", tmp_path / "parquet"], ["rotate-key"]):
        done = aau_stats_command(*command, "--db", db, "--min-clients", "1") if command[0] not in (
            "export", "rotate-key") else aau_stats_command(*command, "--db", db)
        assert done.returncode == 0, (command, done.stderr)
    assert (tmp_path / "parquet").is_dir()


def test_db_after_the_command_wins_over_db_before_it(tmp_path, log):
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    done = aau_stats_command("--db", first, "ingest", "--db", second, log)
    assert done.returncode == 0, done.stderr
    assert second.exists() and not first.exists()


def test_aau_stats_db_names_the_default_store_and_db_overrides_it(tmp_path, log):
    env_db, given = tmp_path / "from-env.duckdb", tmp_path / "given.duckdb"
    done = aau_stats_command("ingest", log, env={"AAU_STATS_DB": str(env_db)})
    assert done.returncode == 0, done.stderr
    assert requests_in(env_db) == 2
    answer = aau_stats_command("activity", "--json", "--min-clients", "1", env={"AAU_STATS_DB": str(env_db)})
    assert answer.returncode == 0 and '"activity"' in answer.stdout, answer.stderr
    assert aau_stats_command("ingest", log, "--db", given, env={"AAU_STATS_DB": str(env_db)}).returncode == 0
    assert requests_in(given) == 2 and requests_in(env_db) == 2
    shown = aau_stats_command("--help", env={"AAU_STATS_DB": str(env_db)}).stdout
    assert str(env_db) in "".join(shown.split())  # the help names it (wrapped over lines)


def test_version_names_duckdb():
    done = aau_stats_command("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == "aau-stats %s (DuckDB %s)" % (aau_stats.__version__, duckdb.__version__)


@pytest.mark.parametrize("args,status,names", [
    (["ingest"], 2, ["INPUT"]),  # a required argument missing
    (["no-such-command"], 2, ["no-such-command"]),
    (["activity", "--top", "many"], 2, ["--top"]),
    (["activity", "--month", "2026-13"], 2, ["--month", "2026-13"]),
    (["ingest", "--parquet", "somewhere", "{log}"], 2, ["--parquet", "--engine spark"]),
    (["ingest", "--engine", "spark", "{log}"], 2, ["--parquet"]),
    (["publish", "--out", "{tmp}/site", "--source", "nonsense"], 2, ["--source", "nonsense"]),
    (["ingest", "{tmp}/missing.log"], 1, ["missing.log"]),  # the data: one line naming the input
    (["activity"], 1, ["no store there"]),  # the environment: no store yet
    (["export", "--parquet", "{tmp}/out"], 1, ["no store there"]),
])
def test_exit_statuses_are_0_1_or_2_with_one_line(tmp_path, log, args, status, names):
    args = [a.format(log=log, tmp=tmp_path) for a in args]
    done = aau_stats_command("--db", tmp_path / "absent.duckdb", *args)
    assert done.returncode == status, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for name in names:
        assert name in done.stderr


def test_help_documents_the_exit_statuses():
    for args in (["--help"], ["ingest", "--help"], ["popularity", "--help"]):
        done = aau_stats_command(*args)
        assert done.returncode == 0
        assert "exit status:" in done.stdout and "2  usage" in done.stdout, args
