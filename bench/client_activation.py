"""Benchmark: what the activation heartbeat costs the shell, in wall time.

The shell waits for one process when a user runs ``conda activate ENV``:
``conda shell.posix activate ENV``, whose output it evaluates. This times
that process, N runs each, interleaved, median and spread:

- conda alone (no plugin);
- with this plugin installed (its start-up hook active), heartbeat off;
- with this plugin, heartbeat on: the process also starts the detached
  heartbeat, which is not waited for (it runs between the timed runs);
- with Anaconda's plugin, heartbeat on, when ``--reference DIR`` names its
  source tree (its heartbeat runs inside the activation, where conda loads
  plugins for it);

and ``python -c pass`` with and without the start-up hook, since its line
runs at every start of that Python.

    python bench/client_activation.py --conda-python PY [--runs N] [--reference DIR]

PY is a python that imports conda and has no anaconda-anon-usage installed.
Each run gets a virtual environment beside it (its packages stay untouched).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "client" / "tests"
sys.path.insert(0, str(TESTS))

from anaconda_anon_usage import __version__  # noqa: E402

from conda_harness import (  # noqa: E402 - the tests' own conda set-up, not a copy of it
    CondaUser,
    RecordingServer,
    build_channel,
    client_wheel,
    conda_beside_python,
    install_client,
)


def instructions(command, env, scratch):
    """Instructions of one run of ``command`` under callgrind (its children run natively)."""
    out = Path(scratch, "callgrind.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % out, *map(str, command)],
                   env=dict(env, PYTHONHASHSEED="0"), capture_output=True, check=True)
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.M)
    out.unlink()
    return int(match.group(1))


def timed(command, env):
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def reference_record(scratch, source):
    """A PYTHONPATH that makes Anaconda's plugin tree at ``source`` a conda plugin."""
    info = Path(scratch, "theirs", "anaconda_anon_usage-0.dist-info")
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: anaconda-anon-usage\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[conda]\nanaconda-anon-usage = anaconda_anon_usage.plugin\n")
    return os.pathsep.join([str(source), str(info.parent)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conda-python", default=os.environ.get("AAU_TEST_CONDA_PYTHON", "").split(os.pathsep)[0])
    parser.add_argument("--reference", default=os.environ.get("AAU_REFERENCE_SRC"))
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_known_args(argv)[0]
    if not args.conda_python:
        print("(skipped: no --conda-python or $AAU_TEST_CONDA_PYTHON)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        plain = conda_beside_python(args.conda_python, scratch / "plain")
        ours = conda_beside_python(args.conda_python, scratch / "ours")
        install_client(ours, client_wheel(scratch / "wheel"))
        server = RecordingServer(build_channel(scratch / "channel").parent)
        user = CondaUser(plain, scratch / "user", server.url + "/channel")
        user.conda("create", "--yes", "-n", "work", "aau-b")
        # A URL: both plugins then send to the loopback server (Anaconda's sends only to its own
        # repositories otherwise). conda reads $CONDARC only under a condarc file name.
        on = scratch / "on" / ".condarc"
        on.parent.mkdir()
        on.write_text("anaconda_heartbeat: %s/channel/beat\n" % server.url)
        activate = ["-m", "conda", "shell.posix", "activate", "work"]
        runs = {
            "conda alone": ([plain, *activate], user.env),
            "with this plugin, heartbeat off": ([ours, *activate], user.env),
            "with this plugin, heartbeat on": ([ours, *activate], dict(user.env, CONDARC=str(on))),
        }
        if args.reference:
            runs["with Anaconda's plugin, heartbeat on"] = (
                [plain, *activate], dict(user.env, CONDARC=str(on), PYTHONPATH=reference_record(scratch, args.reference)))
        runs["python -c pass, no start-up hook"] = ([plain, "-c", "pass"], user.env)
        runs["python -c pass, with the start-up hook"] = ([ours, "-c", "pass"], user.env)
        times = {name: [] for name in runs}
        for command, env in runs.values():
            timed(command, env)  # warm: byte-code, file cache
        for _ in range(args.runs):
            for name, (command, env) in runs.items():
                times[name].append(timed(command, env))
                time.sleep(1.2 if "heartbeat on" in name else 0.05)  # the heartbeat finishes off the clock
        counts = {}
        if shutil.which("valgrind"):
            for name, (command, env) in runs.items():
                counts[name] = instructions(command, env, scratch)
                time.sleep(1.2 if "heartbeat on" in name else 0)
        agents = [r[2] for r in server.requests if r[0] == "HEAD"]
        server.close()
    version = subprocess.run([args.conda_python, "-m", "conda", "--version"], capture_output=True,
                             text=True).stdout.strip()
    print("%s, `conda shell.posix activate work` (what the shell waits for), median wall time of %d "
          "runs, and instructions of one run (callgrind, `PYTHONHASHSEED=0`):\n" % (version, args.runs))
    print("| run | median ms | p10-p90 ms | added ms | instructions | added instructions |")
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        base = "python -c pass, no start-up hook" if name.startswith("python") else "conda alone"
        values = sorted(values)
        median = statistics.median(values)
        low, high = values[len(values) // 10], values[-1 - len(values) // 10]
        count = counts.get(name)
        print("| %s | %.1f | %.1f-%.1f | %+.1f | %s | %s |" % (
            name, 1000 * median, 1000 * low, 1000 * high, 1000 * (median - statistics.median(times[base])),
            format(count, ",") if count else "-", format(count - counts[base], "+,") if count else "-"))
    ours = sum(" aau/%s " % __version__ in agent for agent in agents)
    print("\nHeartbeats received from this plugin: %d, for %d activations with it on; from Anaconda's: %d."
          % (ours, args.runs + 1 + bool(counts), len(agents) - ours))


if __name__ == "__main__":
    main()
