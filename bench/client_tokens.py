"""Benchmark: the client's token computation against Anaconda's anaconda-anon-usage.

Three numbers per implementation, measured in the same run on the same token
files (both read and write the same formats):

- import: importing the token module in a bare interpreter (``-s -E``: no
  site-packages, no environment), timed inside the process;
- cold: the first ``token_string(prefix)`` of a fresh process with every
  token file present;
- warm: a later ``token_string(prefix)`` in the same process.

Each of import and cold is the median over fresh processes; warm is the best
of several timeit repeats. The reference implementation is read from a
source tree given with ``--reference DIR`` (a directory holding its
``anaconda_anon_usage`` package) or ``$AAU_REFERENCE_SRC``; it is never part
of this repository.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

OURS = Path(__file__).resolve().parents[1] / "client" / "src"

PROBE = r"""
import sys, time, json
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
from anaconda_anon_usage import tokens
t1 = time.perf_counter()
s = tokens.token_string(sys.argv[2])
t2 = time.perf_counter()
import timeit
warm = min(timeit.repeat(lambda: tokens.token_string(sys.argv[2]), number=20000, repeat=5)) / 20000
print(json.dumps({"import": t1 - t0, "cold": t2 - t1, "warm": warm, "string": s}))
"""


def measure(src, env, prefix, runs):
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-s", "-E", "-c", PROBE, str(src), str(prefix)],
                              env=env, capture_output=True, text=True, check=True)
        samples.append(json.loads(done.stdout))
    return {
        "import_ms": statistics.median(s["import"] for s in samples) * 1e3,
        "cold_ms": statistics.median(s["cold"] for s in samples) * 1e3,
        "warm_us": min(s["warm"] for s in samples) * 1e6,
        "string": samples[-1]["string"],
    }


def client_token_of(string):
    return next((w[2:] for w in string.split() if w.startswith("c/")), None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=os.environ.get("AAU_REFERENCE_SRC"),
                        help="source tree of Anaconda's anaconda-anon-usage (optional)")
    parser.add_argument("--runs", type=int, default=40, help="fresh processes per implementation")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_known_args(argv)[0]

    with tempfile.TemporaryDirectory() as scratch:
        home, prefix = Path(scratch, "home"), Path(scratch, "env")
        home.mkdir()
        (prefix / "conda-meta").mkdir(parents=True)
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "")}
        # Create every token file once, then measure with all of them present.
        subprocess.run([sys.executable, "-s", "-E", "-c", PROBE, str(OURS), str(prefix)],
                       env=env, capture_output=True, check=True)
        results = {"ours": measure(OURS, env, prefix, args.runs)}
        if args.reference:
            results["anaconda-anon-usage"] = measure(Path(args.reference), env, prefix, args.runs)

    rows = [("import of the token module (ms)", "import_ms"),
            ("cold token_string, files present (ms)", "cold_ms"),
            ("warm token_string (µs)", "warm_us")]
    names = list(results)
    print("| measure | " + " | ".join(names) + (" | ratio |" if len(names) > 1 else " |"))
    print("|---" * (len(names) + 1 + (len(names) > 1)) + "|")
    for label, key in rows:
        cells = ["%.3f" % results[n][key] for n in names]
        if len(names) > 1:
            cells.append("%.1fx faster" % (results[names[1]][key] / results[names[0]][key]))
        print("| %s | %s |" % (label, " | ".join(cells)))
    if len(names) > 1:
        same = client_token_of(results["ours"]["string"]) == client_token_of(
            results["anaconda-anon-usage"]["string"])
        print("\nSame c/ token read by both from one home: %s" % ("yes" if same else "NO"))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
