"""The user's yes and no: setting words, and ``DO_NOT_TRACK``.

``DO_NOT_TRACK`` is the console convention (https://consoledonottrack.com):
set to anything but an empty or negative word, it turns the tokens off
exactly as ``anaconda_anon_usage: false`` does, and it wins over every conda
setting, ``#!final`` included: it is the user's own word, given for every
program at once. Standard library only: the start-up hook imports it.
"""

import os

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
