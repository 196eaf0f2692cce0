"""Benchmark: ``aau-stats publish`` on a store of ``--lines`` requests, and the dataset's size beside the store's.

The same seeded traffic as ``bench/ingest.py`` (``--lines`` lines, 10
million by default) is ingested into a fresh store as an operator would.
Then ``aau-stats publish`` runs end to end, each a process of its own timed
from outside with its peak RSS: at ``--min-clients`` 10 (disclosure control
on) and 1 (off, the raw aggregation alone, the peer that shows what
disclosure control costs), and once more at 10 into the same folder with
nothing new (the incremental case: every file is found unchanged). The
table gives the seconds, the dataset's bytes per request beside the
store's, and the files written.

    python bench/publish.py [--lines N] [--seed N] [--scratch DIR]
"""

import argparse
import datetime
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import ingest as ingest_bench
import questions as questions_bench

note = ingest_bench.note


def size(folder):
    return sum(p.stat().st_size for p in Path(folder).resolve().rglob("*") if p.is_file())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=20261010)
    parser.add_argument("--scratch")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aau-bench-publish-", dir=args.scratch) as scratch:
        scratch = Path(scratch)
        note("generating %s lines" % format(args.lines, ","))
        log, _, _ = ingest_bench.generated_log(scratch, args.lines, args.seed)
        db = scratch / "store.duckdb"
        note("ingesting")
        ingest_seconds, _, stored = questions_bench.ingest_store(log, db, scratch)
        log.unlink()
        rows = []
        for label, k, folder in (("publish, k = 10", 10, "k10"), ("publish, k = 1 (no disclosure control)", 1, "k1"),
                                 ("publish again, k = 10, nothing new", 10, "k10")):
            note(label)
            seconds, rss, _ = ingest_bench.measure(questions_bench.cli(
                db, "publish", "--out", scratch / folder, "--min-clients", k), scratch)
            rows.append((label, seconds, rss, size(scratch / folder / "conda")))
        store = db.stat().st_size
    print("## aau-stats publish, %s requests (%s, %d cores, %s)" % (
        format(stored, ","), datetime.date.today(), os.cpu_count(), platform.machine()))
    print()
    print("| run | seconds | peak RSS MiB | dataset bytes / request | store bytes / request |")
    print("|---|---|---|---|---|")
    for label, seconds, rss, dataset in rows:
        print("| %s | %.1f | %s | %.2f | %.2f |" % (label, seconds, rss // (1 << 20) if rss else "-", dataset / stored,
                                                   store / stored))
    print()
    print("Ingest of the store: %.1f s." % ingest_seconds)


if __name__ == "__main__":
    main()
