"""Benchmark: how long each question takes on a store of ``--lines`` requests.

One run generates the same seeded conda traffic as ``bench/ingest.py`` (its
generator, ``--lines`` lines, 10 million by default: four weeks of a busy
mirror) and ingests it into a fresh store with ``aau-stats ingest`` as an
operator would (pseudonyms, the default), noting the ingest's wall time
and the size of the ``.duckdb`` file. The options the questions need are
then picked from the data, as an operator would pick them:

- exposure: one advisory on the most downloaded package, affecting the
  lower half of its downloaded versions (conda ordering), fixed in the
  first version of the upper half;
- seats: an IP file of the 50 addresses that sent the most requests, read
  from the first field of the log itself (the store keeps only pseudonyms),
  each written as its /24 (IPv4) or /48 (IPv6) network.

Every question then runs through ``aau_stats.questions.ask`` (DuckDB
read-only, ``--min-clients`` 10), all in one child process of their own
so that its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``, started
through the same bare timer as ``bench/ingest.py``'s tools) is theirs
alone: for each, one untimed warm-up call, then ``--repeat`` timed calls
(``time.perf_counter`` around ``ask``, which opens the store each time).
Popularity runs twice: as ``aau-stats popularity`` does by default, and by
platform and package Python, month by month. Last, ``aau-stats report``
(every answer in one HTML page) runs end to end, ``--repeat`` times, each
a process of its own timed from outside; when the command is not there it
is noted, not fatal. The table shows the median and the slowest time of
each; the goal is an answer within a second.

    python bench/questions.py [--lines N] [--repeat N] [--seed N] [--min-clients K] [--scratch DIR]
"""

import argparse
import collections
import datetime
import ipaddress
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest as ingest_bench

GOAL_SECONDS = 1.0
BUSY_ADDRESSES = 50
ADVISORY_ID = "BENCH-1"

# (label, question, options); "advisories" and "ips" are filled in by the child.
QUESTIONS = (
    ("clients-per-ip", "clients-per-ip", {}),
    ("lifecycles", "lifecycles", {}),
    ("environments", "environments", {}),
    ("installs", "installs", {}),
    ("exposure (1 advisory)", "exposure", {"advisories": None}),
    ("popularity", "popularity", {}),
    ("popularity --by platform --by python --monthly", "popularity", {"by": ["platform", "python"], "monthly": True}),
    ("seats --ips (%d networks)" % BUSY_ADDRESSES, "seats", {"ips": None}),
    ("activity", "activity", {}),
)
REPORT = "aau-stats report (CLI, end to end)"

note = ingest_bench.note


def cli(db, *words):
    return [sys.executable, "-m", "aau_stats.cli", "--db", str(db), *map(str, words)]


# --- the store and the options ---------------------------------------------


def ingest_store(log, db, workdir):
    """``(seconds, peak RSS, requests stored)`` of ``aau-stats ingest`` into a fresh store."""
    seconds, rss, _ = ingest_bench.measure(cli(db, "ingest", "--progress", "never", log), workdir)
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM request_rows").fetchall()[0][0]
    return seconds, rss, stored


def write_advisory(db, path):
    """An advisory on the most downloaded package: its lower half of versions affected."""
    import duckdb
    from aau_stats.questions._sql import DOWNLOAD
    from aau_stats.questions.advisories import version

    with duckdb.connect(str(db), read_only=True) as con:
        package, downloads = con.execute(
            "SELECT name, count(*) FROM requests WHERE %s AND name IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
            % DOWNLOAD).fetchall()[0]
        texts = [row[0] for row in con.execute(
            "SELECT DISTINCT version FROM requests WHERE %s AND name = ? AND version IS NOT NULL" % DOWNLOAD,
            [package]).fetchall()]
    versions = sorted((v, t) for v, t in ((version(t), t) for t in texts) if v is not None)
    if len(versions) < 2:
        raise SystemExit("questions benchmark: %s has %d downloaded versions; need 2 or more" % (package, len(versions)))
    fixed = versions[len(versions) // 2][1]
    path.write_text('id,package,affected,fixed\n%s,%s,"<%s",%s\n' % (ADVISORY_ID, package, fixed, fixed))
    return "%s (%s downloads, %d versions), affected <%s, fixed %s" % (
        package, format(downloads, ","), len(versions), fixed, fixed)


def write_ip_file(log, path):
    """The networks of the busiest addresses of the log (its first field), one CIDR a line."""
    counts = collections.Counter()
    with open(log, "rb") as handle:
        for line in handle:
            counts[line.split(b" ", 1)[0]] += 1
    networks = []
    for address, _ in counts.most_common(BUSY_ADDRESSES):
        ip = ipaddress.ip_address(address.decode("ascii"))
        network = ipaddress.ip_network("%s/%d" % (ip, 24 if ip.version == 4 else 48), strict=False)
        if network not in networks:
            networks.append(network)
    path.write_text("# the networks of the %d busiest addresses of the log\n%s\n" % (
        BUSY_ADDRESSES, "\n".join(map(str, networks))))
    v6 = sum(n.version == 6 for n in networks)
    covered = sum(n for address, n in counts.items() if any(ipaddress.ip_address(address.decode("ascii")) in net
                                                             for net in networks))
    return "%d networks (%d /24, %d /48) of the %s addresses in the log, sending %.0f%% of its lines" % (
        len(networks), len(networks) - v6, v6, format(len(counts), ","), 100 * covered / max(1, counts.total()))


# --- the questions, in a child process (``--child DB ADVISORIES IPS REPEAT MIN_CLIENTS``) ---


def _child_main(argv):
    db, advisories_path, ips_path, repeat, min_clients = argv
    repeat, min_clients = int(repeat), int(min_clients)
    import duckdb
    from aau_stats.questions import DuckDBEngine, Filters, ask, read_advisories

    advisories = read_advisories(advisories_path)
    results = {}
    for label, question, options in QUESTIONS:
        options = dict(options)
        filters = Filters()
        if "advisories" in options:
            options["advisories"] = advisories
        if "ips" in options:
            filters = Filters.build(ips=options.pop("ips") or ips_path)
        times = []
        try:
            for run in range(repeat + 1):
                start = time.perf_counter()
                ask(question, db, filters, min_clients=min_clients, **options)
                if run:  # the first is the warm-up
                    times.append(time.perf_counter() - start)
            results[label] = times
        except Exception as exc:  # noqa: BLE001 - a failing question is reported, the others still run
            results[label] = "failed: %s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        note("%s: %s" % (label, ", ".join("%.2f s" % t for t in times) if times else results[label]))
    settings = "SELECT current_setting('memory_limit'), current_setting('threads')"
    with DuckDBEngine(db) as engine:
        ours = engine.con.execute(settings).fetchall()[0]
    with duckdb.connect(":memory:") as con:
        default = con.execute(settings).fetchall()[0]
    print(json.dumps({
        "results": results,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "memory_limit": ours[0], "threads": ours[1], "engine_sets": list(ours) != list(default),
    }))


def run_questions(db, advisories, ips, repeat, min_clients, workdir):
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(db), str(advisories), str(ips),
               str(repeat), str(min_clients)]
    try:
        _, _, stdout = ingest_bench.measure(command, workdir)
    finally:
        sys.stderr.write(Path(workdir, "stderr").read_text(errors="replace"))
    return json.loads(stdout.strip().splitlines()[-1])


def run_report(db, advisories, repeat, workdir):
    """Wall times of ``aau-stats report``, or the reason it is not available."""
    out = Path(workdir, "report.html")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cli(db, "report", "--out", out, "--advisories", advisories),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()] or ["no message"]
            note("aau-stats report failed with exit status %d; its standard error:\n%s" % (
                done.returncode, done.stderr.rstrip()))
            return "not available (exit status %d: %s)" % (done.returncode, lines[-1][:120])
        times.append(seconds)
    return times, out.stat().st_size


# --- the run and its table ----------------------------------------------


def mib(size):
    return "%.0f" % (size / (1 << 20))


def print_table(args, facts, results, report):
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import duckdb

    print("%s; %d CPUs, %.0f GiB RAM, %s, Python %s, DuckDB %s. %s generated lines (seed %d), "
          "median and slowest of %d timed runs after one warm-up, --min-clients %d.\n" % (
              datetime.date.today(), os.cpu_count(), memory / (1 << 30), platform.platform(terse=True),
              platform.python_version(), duckdb.__version__, format(args.lines, ","), args.seed, args.repeat,
              args.min_clients))
    print("| question | median s | max s | goal ≤ 1 s met? |")
    print("|---|---|---|---|")
    for label, _, _ in QUESTIONS:
        times = results["results"].get(label, "not run")
        if isinstance(times, str):
            print("| %s | — | — | %s |" % (label, times))
        else:
            median = statistics.median(times)
            print("| %s | %.2f | %.2f | %s |" % (label, median, max(times), "yes" if median <= GOAL_SECONDS else "no"))
    if isinstance(report, str):
        print("| %s | — | — | %s |" % (REPORT, report))
    else:
        times, size = report
        print("| %s | %.2f | %.2f | — (every answer; a %s KiB page) |" % (
            REPORT, statistics.median(times), max(times), format(size // 1024, ",")))
    print()
    print("- lines: %s (%.0f MB, generated in %.0f s); requests stored: %s" % (
        format(args.lines, ","), facts["log_bytes"] / 1e6, facts["generation"], format(facts["stored"], ",")))
    print("- store: %s MiB (.duckdb file); ingest: %.1f s (%s lines/s), peak RSS %s MiB" % (
        mib(facts["store_bytes"]), facts["ingest"], format(round(args.lines / facts["ingest"]), ","),
        mib(facts["ingest_rss"])))
    print("- exposure: %s" % facts["advisory"])
    print("- seats: %s" % facts["ips"])
    print("- peak RSS of the process running the questions: %s MiB; DuckDB memory_limit %s, threads %s (%s)" % (
        mib(results["maxrss"]), results["memory_limit"], results["threads"],
        "set by the engine" if results["engine_sets"] else "DuckDB's defaults: the engine sets neither"))
    print("- goal: every question within %g s (median)." % GOAL_SECONDS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--lines", type=int, default=10_000_000, help="lines of the generated log")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each question (median and slowest)")
    parser.add_argument("--seed", type=int, default=20261010, help="seed of the generated log")
    parser.add_argument("--min-clients", type=int, default=10, help="the questions' privacy threshold")
    parser.add_argument("--scratch", help="directory for the generated log and the store (default: a temporary one)")
    args = parser.parse_known_args(argv)[0]

    with tempfile.TemporaryDirectory(prefix="aau-bench-questions-", dir=args.scratch) as scratch:
        scratch = Path(scratch)
        note("generating %s lines" % format(args.lines, ","))
        log, _, generation = ingest_bench.generated_log(scratch, args.lines, args.seed)
        facts = {"log_bytes": log.stat().st_size, "generation": generation}
        db = scratch / "store.duckdb"
        note("ingesting into %s" % db.name)
        facts["ingest"], facts["ingest_rss"], facts["stored"] = ingest_store(log, db, scratch)
        facts["store_bytes"] = db.stat().st_size
        advisories, ips = scratch / "advisories.csv", scratch / "busiest.txt"
        facts["advisory"] = write_advisory(db, advisories)
        facts["ips"] = write_ip_file(log, ips)
        log.unlink()  # not needed any more; the store is what is measured
        note("asking the questions")
        results = run_questions(db, advisories, ips, args.repeat, args.min_clients, scratch)
        note("running aau-stats report")
        report = run_report(db, advisories, args.repeat, scratch)
    print_table(args, facts, results, report)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child_main(sys.argv[2:])
    else:
        main()
