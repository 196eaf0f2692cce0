"""Benchmark: what the plugin adds to ``conda info --json``, in instructions, installed as users install it.

``valgrind --tool=callgrind`` counts the instructions of one ``python -m conda
info --json`` (``PYTHONHASHSEED=0``, ``CONDA_SOLVER=classic``, the
environment stripped to ``PATH`` and ``HOME``, token files present, byte-code
compiled). The conda environment of ``--conda-python`` is copied into a
scratch folder, and the runs differ only by what ``pip install`` put into the
copy's own site-packages, so no path entry or distribution record differs
but the plugin's:

- conda alone;
- the distribution with an empty plugin module: what any plugin costs
  (conda's entry-point scan, the import of an empty module, pluggy's
  registration);
- this plugin, from a wheel built from ``client/``;
- Anaconda's plugin, when ``--reference`` names its wheel or source tree.

Instruction counts do not depend on what else the machine is doing, so the
differences are the plugin's cost. The garbage collector is switched off in
every run (a ``sitecustomize`` in the copy): otherwise a few allocations
more or less move a full collection of conda's heap in or out of the run,
and the counts jump by tens of millions.

(Measured before with ``client/src`` on ``PYTHONPATH``, the baseline loaded
the plugin too: an editable install leaves ``client/src/*.egg-info``, whose
entry point ``importlib.metadata`` finds on that path. So both runs had the
plugin, and the difference, 0.45 M, was noise.)

    python bench/client_conda.py --conda-python PY [--reference WHEEL_OR_DIR]

PY is the python of a conda environment without anaconda-anon-usage, kept
outside this repository; it is not modified.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[1] / "client"
sys.path.insert(0, str(CLIENT / "tests"))

from conda_harness import wheel_of as harness_wheel_of  # noqa: E402 - the tests' own wheel build


def environment_copy(python, scratch):
    """A copy of ``python``'s environment in ``scratch``, with the garbage collector off; its python and
    site-packages."""
    facts = json.loads(subprocess.run(
        [python, "-c", "import json, sys, sysconfig; print(json.dumps([sys.prefix, sys.executable,"
         " sysconfig.get_paths()['purelib']]))"], capture_output=True, text=True, check=True).stdout)
    prefix, executable, purelib = (Path(p) for p in facts)
    copy = Path(scratch, "env")
    shutil.copytree(prefix, copy, symlinks=True)
    site = copy / purelib.relative_to(prefix)
    if list(site.glob("anaconda_anon_usage*")):
        sys.exit("%s: anaconda-anon-usage is installed there already; give a conda without it" % python)
    custom = site / "sitecustomize.py"
    previous = custom.read_text() if custom.exists() else ""
    custom.write_text(previous + "\nimport gc\ngc.disable()\n")
    given = Path(python).absolute()
    inside = prefix in given.parents
    return copy / (given if inside else executable).relative_to(prefix), site


def wheel_of(source, scratch):
    """A wheel file: ``source`` itself, or built from the source tree ``source``."""
    source = Path(source)
    if source.is_file():
        return source
    return harness_wheel_of(source, Path(scratch, "wheels", source.name))


def pip(python, *args):
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *args, "--quiet"], check=True,
                   capture_output=True)


def instructions(python, env, scratch):
    command = [str(python), "-m", "conda", "info", "--json"]
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
    if shutil.which("valgrind") is None:
        print("(skipped: valgrind is not installed)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        python, site = environment_copy(args.conda_python, scratch)
        home = Path(scratch, "home")
        home.mkdir()
        env = {"HOME": str(home), "PATH": "%s%s%s" % (python.parent, os.pathsep, os.environ.get("PATH", "")),
               "PYTHONHASHSEED": "0", "CONDA_SOLVER": "classic"}
        counts = {"conda alone": instructions(python, env, scratch)}
        pip(python, "install", "--no-deps", str(wheel_of(CLIENT, scratch)))
        counts["with this plugin"] = instructions(python, env, scratch)
        plugin = site / "anaconda_anon_usage" / "plugin.py"
        kept = plugin.read_bytes()
        plugin.write_text("")
        subprocess.run([str(python), "-m", "compileall", "-q", str(plugin)], check=True)
        counts["any plugin: the distribution, an empty plugin module"] = instructions(python, env, scratch)
        plugin.write_bytes(kept)
        pip(python, "uninstall", "--yes", "anaconda-anon-usage")
        if args.reference:
            pip(python, "install", "--no-deps", str(wheel_of(args.reference, scratch)))
            counts["with Anaconda's plugin"] = instructions(python, env, scratch)
        version = subprocess.run([str(python), "-m", "conda", "--version"], env=env, capture_output=True,
                                 text=True).stdout.strip()
    alone = counts["conda alone"]
    print("%s, `conda info --json`, instructions (callgrind), installed into the environment:\n" % version)
    print("| run | instructions | added | added % |")
    print("|---|---|---|---|")
    for name, count in counts.items():
        added = count - alone
        print("| %s | %s | %s | %+.2f %% |" % (name, format(count, ","), format(added, ","), 100 * added / alone))


if __name__ == "__main__":
    main()
