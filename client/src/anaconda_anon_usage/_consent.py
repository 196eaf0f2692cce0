"""Whether the user has said no to tracking, outside conda's configuration.

``DO_NOT_TRACK`` is the console convention (https://consoledonottrack.com):
set to anything but an empty or negative word (``0``, ``false``, ``no``,
``off``), it turns the tokens off exactly as ``anaconda_anon_usage: false``
does, and it wins over every conda setting, ``#!final`` included: it is the
user's own word, given for every program at once. Standard library only.
"""

import os

DO_NOT_TRACK = "DO_NOT_TRACK"
_NO_WORDS = ("", "0", "false", "no", "off", "n")


def do_not_track(environ=None):
    """True when ``DO_NOT_TRACK`` asks for no tracking."""
    value = (os.environ if environ is None else environ).get(DO_NOT_TRACK)
    return value is not None and value.strip().lower() not in _NO_WORDS


def do_not_track_reason(environ=None):
    """Why the tokens are off because of ``DO_NOT_TRACK``, or ``None``."""
    if not do_not_track(environ):
        return None
    value = (os.environ if environ is None else environ)[DO_NOT_TRACK]
    return "%s=%s in the environment" % (DO_NOT_TRACK, value.strip())
