"""The process cache: the one piece of module-level mutable state.

Every token is computed once per process. ``PROCESS`` holds the computed
values, the environment-token writes that wait for their prefix to exist,
and whether debug output is on. Tests reset it with :meth:`ProcessCache.clear`.
"""

import os
import sys
from _thread import RLock

_OFF_WORDS = ("", "0", "false", "no", "off")


class ProcessCache:
    """Values computed once per process, guarded by one re-entrant lock."""

    def __init__(self):
        self.lock = RLock()
        self.values = {}
        self.deferred = {}  # token path -> (prefix that must exist, token, mode)
        self.exit_hook_registered = False
        flag = os.environ.get("ANACONDA_ANON_USAGE_DEBUG", "")
        self.debug_prefix = os.environ.get("ANACONDA_ANON_USAGE_DEBUG_PREFIX", "")
        self.debug = flag.strip().lower() not in _OFF_WORDS or bool(self.debug_prefix)

    def after_fork(self):
        """A forked child starts with a free lock (the parent may have held it)."""
        self.lock = RLock()

    def clear(self):
        """Forget every computed token and every pending write."""
        with self.lock:
            self.values.clear()
            self.deferred.clear()


PROCESS = ProcessCache()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=PROCESS.after_fork)


def cached(func):
    """Compute ``func(*args, **kwargs)`` once per process and set of arguments.

    Two threads asking at once compute it once: the second waits for the
    first. The lock is re-entrant, so cached functions may call each other.
    """
    name = func.__name__

    def once(*args, **kwargs):
        key = (name, args, tuple(sorted(kwargs.items()))) if kwargs else (name, *args)
        values = PROCESS.values
        if key in values:
            return values[key]
        with PROCESS.lock:
            if key not in values:
                values[key] = func(*args, **kwargs)
            return values[key]

    once.__name__ = name
    once.__qualname__ = func.__qualname__
    once.__doc__ = func.__doc__
    once.__wrapped__ = func
    return once


def debug(message, *args):
    """Write a diagnostic line to stderr when debug output is on.

    Callers never pass token values: messages name paths and states only.
    Nothing here may raise, and nothing is ever written to stdout.
    """
    if not PROCESS.debug:
        return
    try:
        sys.stderr.write(PROCESS.debug_prefix + "anaconda-anon-usage: " + (message % args) + "\n")
    except Exception:  # noqa: BLE001 - a closed stderr must not hurt conda
        pass
