"""``python -m anaconda_anon_usage.heartbeat``: the activation heartbeat.

By hand (as in anaconda-anon-usage), it sends one HEAD request now, carrying
the tokens of the environment ``-n NAME`` or ``-p PREFIX`` (default: the
active one), whatever ``anaconda_heartbeat`` says, but never while the
tokens are off. It tells what it does on stderr unless ``--quiet``.

``--activation -- ARGS`` is the background half of ``conda activate ARGS``,
started by the start-up hook (:mod:`._activation`): it sends the heartbeat
only when ``anaconda_heartbeat`` is on, silently, within 10 s.

The heartbeat's code lives here, not in :mod:`.plugin`: conda imports the
plugin in every command, and only these two processes send a heartbeat.
"""

import argparse
import os
import sys

from . import tokens
from ._state import as_bool, debug
from .plugin import (
    HEARTBEAT_SETTING,
    HOSTS_SETTING,
    _context,
    _load_settings,
    _plain_user_agent,
    disabled_reason,
    host_allowed,
    normal_hosts,
    remove_legacy_heartbeat_script,
    setting,
    target_prefix,
    tokens_enabled,
    with_tokens,
)

HEARTBEAT_PATH = "noarch/activate-0.0.0-0.conda"
HEARTBEAT_TIMEOUT = 0.75  # seconds, everything included
HEARTBEAT_DEADLINE = 10  # seconds: the background process ends by then, whatever happens


def heartbeat_url(setting, first_channel_noarch_url):
    """Where the heartbeat goes: the URL the setting names, else the first
    channel's heartbeat file. ``None`` when the heartbeat is off."""
    flag = as_bool(setting)
    if flag is False or setting is None:
        return None
    if flag is None:
        text = str(setting).strip()
        return text if "://" in text else None
    if not first_channel_noarch_url:
        return None
    return first_channel_noarch_url.rstrip("/") + "/" + HEARTBEAT_PATH.split("/", 1)[1]


def activation_target(args):
    """What ``conda activate ARGS`` names: ``(kind, value)`` with kind ``path``,
    ``name`` or ``default``; ``None`` when it asks for help (nothing is activated)."""
    if any(arg in ("-h", "--help", "/?") for arg in args):
        return None
    names = [arg for arg in args if arg and not arg.startswith("-")]
    if not names:
        return ("default", None)
    name = names[0]
    if "/" in name or "\\" in name:
        return ("path", name)
    return ("name", name)


def heartbeat_target(prefix, setting_value=None):
    """``(url, user_agent)`` for a heartbeat of ``prefix``, or ``None``.

    ``setting_value`` stands for ``anaconda_heartbeat`` (default: its value).
    """
    if not tokens_enabled():
        return None
    noarch = None
    try:
        from conda.models.channel import Channel

        channels = list(_context().channels)
        if channels:
            noarch = Channel(channels[0]).urls(with_credentials=True, subdirs=("noarch",))[0]
    except Exception as exc:  # noqa: BLE001
        debug("no channel for the heartbeat: %s", type(exc).__name__)
    if setting_value is None:
        setting_value = setting(HEARTBEAT_SETTING, False)
    url = heartbeat_url(setting_value, noarch)
    if not url:
        return None
    from urllib.parse import urlsplit

    plain = _plain_user_agent()
    patterns = normal_hosts(setting(HOSTS_SETTING, ()))
    suffix = tokens.token_string(prefix, True)
    agent = with_tokens(plain, suffix if host_allowed(urlsplit(url).netloc, patterns) else "")
    return url, agent


def send_heartbeat(prefix, setting_value=None):
    """Send one HEAD request for an activation of ``prefix``; never raises.

    Gives up after 0.75 s in all. Returns the HTTP status, or ``None``.
    """
    import threading

    result = {}

    def attempt():
        try:
            target = heartbeat_target(prefix, setting_value)
            if target is None:
                return
            url, agent = target
            from conda.gateways.connection import session as sessions

            # get_session picks a channel's own session class (conda >= 23.9).
            getter = getattr(sessions, "get_session", None)
            session = getter(url) if getter else sessions.CondaSession()
            response = session.head(url, headers={"User-Agent": agent},
                                    timeout=HEARTBEAT_TIMEOUT, allow_redirects=False)
            result["status"] = response.status_code
        except Exception as exc:  # noqa: BLE001
            debug("heartbeat failed: %s", type(exc).__name__)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(HEARTBEAT_TIMEOUT)
    return result.get("status")


def activation_prefix(args):
    """The prefix that ``conda activate ARGS`` activated, resolved as conda does, or ``None``."""
    target = activation_target(args)
    if target is None:
        return None
    kind, value = target
    context = _context()
    if kind == "default":
        value = getattr(context, "default_activation_env", None) or "base"
    if kind == "path":
        prefix = os.path.abspath(os.path.expanduser(os.path.expandvars(value)))
    elif value in ("base", "root"):
        prefix = context.root_prefix
    else:
        from conda.base.context import locate_prefix_by_name

        prefix = str(locate_prefix_by_name(value))
    return prefix if os.path.isdir(os.path.join(prefix, "conda-meta")) else None


def _bounded(seconds):
    """End this process after ``seconds``, whatever it is doing then."""
    import signal

    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(seconds)
    else:  # Windows
        import threading

        timer = threading.Timer(seconds, os._exit, args=(0,))
        timer.daemon = True
        timer.start()


def heartbeat_for_activation(args):
    """The background half of an activation: ``conda activate ARGS`` has just
    run; send its heartbeat if the settings ask for one. Never raises."""
    import time

    _bounded(HEARTBEAT_DEADLINE)
    started = time.monotonic()
    try:
        _load_settings()
        prefix = activation_prefix(args)
        if prefix is None:
            debug("activation of %s: no environment, no heartbeat", " ".join(args) or "(default)")
            return 0
        remove_legacy_heartbeat_script(prefix)
        status = send_heartbeat(prefix)
        debug("heartbeat for %s: %s after %.3fs", prefix, status, time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001
        debug("heartbeat failed: %s", type(exc).__name__)
    return 0


def heartbeat_by_hand(prefix=None, name=None, channel=None, path=None, dry_run=False, say=None):
    """``python -m anaconda_anon_usage.heartbeat``: one heartbeat now, whatever
    ``anaconda_heartbeat`` says (but never while the tokens are off).

    Returns the exit status: 0 when sent (or shown, with ``dry_run``), 1 when not.
    """
    say = say or (lambda *a: None)
    _load_settings()
    reason = disabled_reason()
    if reason:
        say("not sent: the tokens are off (%s)" % reason)
        return 1
    if name:
        prefix = activation_prefix([name])
        if prefix is None:
            say("not sent: no environment named %s" % name)
            return 1
    prefix = os.path.abspath(prefix or target_prefix())
    setting_value = True
    if channel:
        setting_value = channel.rstrip("/") + "/" + (HEARTBEAT_PATH if path is None else path).lstrip("/")
    target = heartbeat_target(prefix, setting_value)
    if target is None:
        say("not sent: no channel to send it to")
        return 1
    url = target[0]
    say("environment: %s" % prefix)
    say("url: %s" % url)
    if dry_run:
        say("dry run: not sent")
        return 0
    status = send_heartbeat(prefix, setting_value)
    say("status: %s" % status)
    return 0 if status is not None else 1




def build_parser():
    parser = argparse.ArgumentParser(prog="python -m anaconda_anon_usage.heartbeat",
                                     description="Send one activation heartbeat now.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-n", "--name", help="environment name (default: the active environment)")
    where.add_argument("-p", "--prefix", help="environment prefix (default: the active environment)")
    parser.add_argument("-d", "--dry-run", action="store_true", help="show the request, do not send it")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    parser.add_argument("--channel", metavar="URL",
                        help="send to this channel URL instead of the first configured channel")
    parser.add_argument("--path", help="the path after the channel URL (default: %(default)s)", default=None)
    parser.add_argument("--activation", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.activation:
            return heartbeat_for_activation(args.args)

        def say(text):
            if not args.quiet:
                sys.stderr.write("anaconda-anon-usage heartbeat: %s\n" % text)

        return heartbeat_by_hand(prefix=args.prefix, name=args.name, channel=args.channel,
                                 path=args.path, dry_run=args.dry_run, say=say)
    except Exception as exc:  # noqa: BLE001 - a helper never shows a traceback
        if not args.activation and not args.quiet:
            sys.stderr.write("anaconda-anon-usage heartbeat: not sent (%s)\n" % type(exc).__name__)
        return 0 if args.activation else 1


if __name__ == "__main__":
    sys.exit(main())
