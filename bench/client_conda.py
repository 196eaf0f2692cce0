"""Benchmark: what the plugin adds to ``conda info --json``, in instructions.

``valgrind --tool=callgrind`` counts the instructions of one ``python -m conda
info --json`` (``PYTHONHASHSEED=0``, token files present, byte-code already
compiled): without any plugin, with this plugin, and with Anaconda's plugin
when its source tree is given. Instruction counts do not depend on what else
the machine is doing, so the difference is the plugin's cost. The garbage
collector is switched off in every run (a ``sitecustomize`` on the path):
otherwise a few allocations more or less move a full collection of conda's
heap in or out of the run, and the counts jump by tens of millions.

    python bench/client_conda.py --conda-python PY [--reference DIR]

PY is a python that can import conda (kept outside this repository).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

OURS = Path(__file__).resolve().parents[1] / "client" / "src"


def plugin_path(scratch, name, source, module):
    """A PYTHONPATH that makes ``source`` a conda plugin through a distribution record.

    Without ``module`` the record declares no plugin: the baseline then has
    the same path entries and distributions, so only the plugin's own work
    differs between the runs.
    """
    dist = Path(scratch, name)
    info = dist / "anaconda_anon_usage-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: anaconda-anon-usage\nVersion: 0\n")
    if module:
        (info / "entry_points.txt").write_text("[conda]\nanaconda-anon-usage = %s\n" % module)
    quiet_gc = Path(scratch, "gc-off")
    quiet_gc.mkdir(exist_ok=True)
    (quiet_gc / "sitecustomize.py").write_text("import gc\ngc.disable()\n")
    return os.pathsep.join([str(quiet_gc), str(source), str(dist)])


def instructions(python, env, scratch):
    command = [python, "-m", "conda", "info", "--json"]
    subprocess.run(command, env=env, capture_output=True, check=True)  # warm: tokens, byte-code
    out = Path(scratch, "callgrind.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % out, *command],
                   env=env, capture_output=True, check=True)
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.M)
    out.unlink()
    return int(match.group(1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conda-python", default=os.environ.get("AAU_TEST_CONDA_PYTHON"))
    parser.add_argument("--reference", default=os.environ.get("AAU_REFERENCE_SRC"))
    args = parser.parse_known_args(argv)[0]
    if not args.conda_python:
        print("(skipped: no --conda-python or $AAU_TEST_CONDA_PYTHON)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch, "home")
        home.mkdir()
        base = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0",
                "CONDA_SOLVER": "classic", "PYTHONNOUSERSITE": "1"}
        runs = {"conda alone": dict(base, PYTHONPATH=plugin_path(scratch, "none", OURS, None))}
        ours = plugin_path(scratch, "ours", OURS, "anaconda_anon_usage.plugin")
        runs["with this plugin"] = dict(base, PYTHONPATH=ours)
        if args.reference:
            runs["with Anaconda's plugin"] = dict(base, PYTHONPATH=plugin_path(
                scratch, "theirs", args.reference, "anaconda_anon_usage.plugin"))
        counts = {name: instructions(args.conda_python, env, scratch) for name, env in runs.items()}
    version = subprocess.run([args.conda_python, "-m", "conda", "--version"], capture_output=True,
                             text=True).stdout.strip()
    alone = counts["conda alone"]
    print("%s, `conda info --json`, instructions (callgrind):\n" % version)
    print("| run | instructions | added | added % |")
    print("|---|---|---|---|")
    for name, count in counts.items():
        added = count - alone
        share = 100 * added / alone
        print("| %s | %s | %s | %+.2f %% |" % (name, format(count, ","), format(added, ","), share))


if __name__ == "__main__":
    sys.path.insert(0, str(OURS))
    main()
