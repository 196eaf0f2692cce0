"""The process cache, the one piece of module-level mutable state; and the user's yes and no.

Every token is computed once per process. ``PROCESS`` holds the computed
values, the environment-token writes that wait for their prefix to exist,
and whether debug output is on. Tests reset it with :meth:`ProcessCache.clear`.

The setting words (:func:`as_bool`) and ``DO_NOT_TRACK`` live here too: one
module fewer for conda to import (each costs about 0.3 M instructions).
``DO_NOT_TRACK`` is the console convention (https://consoledonottrack.com):
set to anything but an empty or negative word, it turns the tokens off
exactly as ``anaconda_anon_usage: false`` does, and it wins over every conda
setting, ``#!final`` included: it is the user's own word, given for every
program at once. Standard library only: the start-up hook imports it.
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


# --- the user's yes and no --------------------------------------------------------

DO_NOT_TRACK = "DO_NOT_TRACK"
TRUE_WORDS = ("true", "yes", "on", "1", "y")
FALSE_WORDS = ("false", "no", "off", "0", "n", "")


def as_bool(value):
    """A setting's value as a boolean, or ``None`` when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def do_not_track(environ=None):
    """True when ``DO_NOT_TRACK`` asks for no tracking (any value but a false word)."""
    value = (os.environ if environ is None else environ).get(DO_NOT_TRACK)
    return value is not None and as_bool(value) is not False


def do_not_track_reason(environ=None):
    """Why the tokens are off because of ``DO_NOT_TRACK``, or ``None``."""
    if not do_not_track(environ):
        return None
    value = (os.environ if environ is None else environ)[DO_NOT_TRACK]
    return "%s=%s in the environment" % (DO_NOT_TRACK, value.strip())
