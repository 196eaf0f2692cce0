"""Run the benchmarks. Each prints a Markdown table; copy it into the README with the date.

    ./run bench [--only NAME]... [--reference DIR] [--conda-python PY] [ingest options]

``--only`` runs just the named benchmarks (``tokens``, ``conda``, ``activation``, ``ingest``,
``questions``, ``spark``; ``client`` means the first three); without it, all of them run. Every other
option goes to each benchmark, which takes the ones it knows (see
``python bench/NAME.py --help`` for those of one benchmark).

``--reference`` (or ``$AAU_REFERENCE_SRC``) names a source tree of Anaconda's
anaconda-anon-usage, kept outside this repository, to measure beside ours.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import client_activation
import client_conda
import client_tokens
import ingest
import questions
import spark

BENCHMARKS = {  # name: (heading, module)
    "tokens": ("client: token computation", client_tokens),
    "conda": ("client: cost inside conda", client_conda),
    "activation": ("client: what the heartbeat costs conda activate", client_activation),
    "ingest": ("analytics: ingestion throughput and memory", ingest),
    "questions": ("analytics: time to answer each question", questions),
    "spark": ("analytics: the questions on Spark local[2] beside DuckDB", spark),
}
GROUPS = {"client": ("tokens", "conda", "activation")}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--only", action="append", choices=[*BENCHMARKS, *GROUPS], metavar="NAME",
                        help="run only this benchmark (repeatable): %s" % ", ".join([*BENCHMARKS, *GROUPS]))
    args, rest = parser.parse_known_args(argv)
    chosen = {name for only in args.only or BENCHMARKS for name in GROUPS.get(only, (only,))}
    first = True
    for name, (heading, module) in BENCHMARKS.items():
        if name in chosen:
            print("%s## %s\n" % ("" if first else "\n", heading), flush=True)
            module.main(rest)
            sys.stdout.flush()
            first = False


if __name__ == "__main__":
    main(sys.argv[1:])
