"""The start-up hook that gives ``conda activate`` its heartbeat.

``anaconda_anon_usage_activation.pth``, installed beside this package, runs
one line at every start of this Python. That line only compares two
arguments; in the one process that matters, ``conda shell.<shell> activate
[ENV]``, it calls :func:`watch`. When that process exits, having printed
the activation for the shell, :func:`after_activation` looks at what conda
read to see whether a heartbeat may be due and, if so, starts
``python -m anaconda_anon_usage.heartbeat --activation ...`` as a detached
process with no terminal, no inherited output and a 10 s life, so that the
shell neither waits for it nor sees a byte of it.

Why a start-up hook: conda 26.7 loads no plugins to activate an
environment, conda's ``activate.d`` scripts exist only in environments
something wrote into beforehand, and the setting may be switched on by any
means conda reads (a hand-edited ``.condarc``, ``#!final``, an environment
variable). The hook sees every activation of every environment, on every
conda and shell, and leaves nothing behind when the package is removed.

Standard library only; nothing here may raise or print.
"""

import atexit
import os
import sys

from ._state import as_bool, do_not_track

HEARTBEAT_SETTING = "anaconda_heartbeat"  # the conda setting (plugin.HEARTBEAT_SETTING)
COMMANDS = ("activate",)
WATCHING = ("activation watched",)  # its key in the process cache


def is_conda_activation(argv, orig_argv=None):
    """Whether ``argv`` is conda's ``shell.<shell> activate ...``.

    ``argv`` is ``sys.argv`` as a ``.pth`` line sees it: for ``python -m
    conda`` the module name is already gone (``argv[0]`` is ``-m``), and
    ``orig_argv`` (Python 3.10+) says which module it was.
    """
    if len(argv) < 3 or not argv[1].startswith("shell.") or argv[2] not in COMMANDS:
        return False
    program = argv[0]
    if program == "-m":
        if orig_argv is None:
            return True
        try:
            return orig_argv[orig_argv.index("-m") + 1] == "conda"
        except (ValueError, IndexError):
            return False
    name = program.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return name == "conda" or name.startswith(("conda.", "conda-script"))


def watch(argv=None):
    """Called by the ``.pth`` line: in an activation, arrange for the heartbeat at exit.

    Once per process: site runs the line twice where site-packages is reached
    by two paths (a virtual environment's ``lib64`` link to ``lib``).
    """
    try:
        from ._state import PROCESS

        argv = sys.argv if argv is None else argv
        with PROCESS.lock:
            if PROCESS.values.get(WATCHING) or not is_conda_activation(argv, getattr(sys, "orig_argv", None)):
                return
            PROCESS.values[WATCHING] = True
        atexit.register(after_activation, list(argv[3:]))
    except Exception:  # noqa: BLE001 - start-up must never fail
        pass


def settings_may_turn_on(raw_data, name):
    """Whether any configuration source in ``raw_data`` (conda's ``{source:
    {key: raw parameter}}``) could turn boolean-or-URL setting ``name`` on.

    False only when no source names it, or every source that does says a
    false word: then it is off, whatever their precedence. Anything it
    cannot read counts as "may".
    """
    try:
        for params in raw_data.values():
            param = params.get(name)
            if param is None:
                continue
            value = getattr(param, "_raw_value", None)
            if not isinstance(value, (bool, str)) or as_bool(value) is not False:
                return True
        return False
    except Exception:  # noqa: BLE001 - an unknown layout: let the exact check decide
        return True


def heartbeat_may_be_due():
    """In a ``conda shell.* activate`` process about to exit: may a heartbeat be due?

    A quick look at what this conda process read, so that the default (off)
    costs the activation nothing, not even an import: conda's context is in
    ``sys.modules`` already. The exact answer (precedence, ``#!final``,
    ``anaconda_anon_usage``) is the background process's, which this one
    only starts.
    """
    if do_not_track():
        return False
    module = sys.modules.get("conda.base.context")
    raw_data = getattr(getattr(module, "context", None), "raw_data", None)
    if not isinstance(raw_data, dict):
        return True
    return settings_may_turn_on(raw_data, HEARTBEAT_SETTING)


def after_activation(args):
    """At the exit of an activation: start the heartbeat if it may be due."""
    try:
        if sys.executable and heartbeat_may_be_due():
            start_detached([sys.executable, "-m", "anaconda_anon_usage.heartbeat", "--activation", "--", *args])
    except Exception:  # noqa: BLE001 - nothing may reach the user's shell
        pass


def start_detached(command):
    """Start ``command`` in a new session with standard streams on the null
    device, and do not wait for it. Returns its process id."""
    from ._state import PROCESS

    if sys.platform == "win32" or not hasattr(os, "posix_spawn"):
        import subprocess

        windows = sys.platform == "win32"
        flags = 0x00000008 | 0x00000200 | 0x08000000 if windows else 0  # DETACHED, NEW_GROUP, NO_WINDOW
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=None if PROCESS.debug else subprocess.DEVNULL, creationflags=flags,
                                start_new_session=not windows, close_fds=True).pid
    null = os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
    ]
    if not PROCESS.debug:  # diagnostics, when asked for, go to the terminal
        actions.append((os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0))
    return os.posix_spawn(command[0], command, os.environ, file_actions=actions, setsid=True)
