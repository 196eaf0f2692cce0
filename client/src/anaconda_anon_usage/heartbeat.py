"""``python -m anaconda_anon_usage.heartbeat``: the activation heartbeat.

By hand (as in anaconda-anon-usage), it sends one HEAD request now, carrying
the tokens of the environment ``-n NAME`` or ``-p PREFIX`` (default: the
active one), whatever ``anaconda_heartbeat`` says, but never while the
tokens are off. It tells what it does on stderr unless ``--quiet``.

``--activation -- ARGS`` is the background half of ``conda activate ARGS``,
started by the start-up hook (:mod:`._activation`): it sends the heartbeat
only when ``anaconda_heartbeat`` is on, silently, within 10 s.
"""

import argparse
import sys


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
        from . import plugin

        if args.activation:
            return plugin.heartbeat_for_activation(args.args)

        def say(text):
            if not args.quiet:
                sys.stderr.write("anaconda-anon-usage heartbeat: %s\n" % text)

        return plugin.heartbeat_by_hand(prefix=args.prefix, name=args.name, channel=args.channel,
                                        path=args.path, dry_run=args.dry_run, say=say)
    except Exception as exc:  # noqa: BLE001 - a helper never shows a traceback
        if not args.activation and not args.quiet:
            sys.stderr.write("anaconda-anon-usage heartbeat: not sent (%s)\n" % type(exc).__name__)
        return 0 if args.activation else 1


if __name__ == "__main__":
    sys.exit(main())
