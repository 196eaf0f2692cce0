"""The ``anaconda-anon-usage`` command: a thin layer over :mod:`.tokens`.

Unlike the conda plugin, this command shows token values: that is what it is
for (``conda info`` shows them redacted).
"""

import argparse
import json
import os
import sys

from . import __version__, tokens
from ._state import PROCESS

PROG = "anaconda-anon-usage"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line naming the problem, exit status 2 (argparse prints usage too)."""
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="Print the anonymous usage tokens this host adds to conda's user agent.",
    )
    parser.add_argument("--version", action="version", version=__version__,
                        help="print the package version and exit")
    parser.add_argument("--detail", action="store_true",
                        help="also list each token and where it comes from")
    parser.add_argument("--paths", action="store_true",
                        help="print the directories searched for system token files")
    parser.add_argument("--random", action="store_true",
                        help="print a fresh random token (e.g. for an organization or machine token)")
    parser.add_argument("--prefix", metavar="PATH",
                        help="environment whose e/ token to show (default: this Python's prefix)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--verbose", action="count", default=0,
                        help="print diagnostics to stderr")
    parser.add_argument("--jwt", metavar="TOKEN",
                        help="use TOKEN as the Anaconda API key (as anaconda-auth's ANACONDA_AUTH_API_KEY)")
    parser.add_argument("--no-keyring", action="store_true",
                        help="do not look up an Anaconda login in the keyring")
    return parser


def _detail_lines(details):
    width = max(len(row["prefix"]) + 1 + len(row["value"] or "") for row in details)
    for row in details:
        shown = "%s/%s" % (row["prefix"], row["value"] or "")
        state = "" if row["value"] else "  (absent)"
        yield "  %-*s  %-14s %s%s" % (width, shown, row["name"], row["source"], state)


def run(args, out):
    """Carry out parsed ``args``, writing to ``out``; return the exit status."""
    if args.paths:
        paths = tokens.search_path()
        text = json.dumps({"search_path": paths}) + "\n" if args.json else "".join(p + "\n" for p in paths)
        out.write(text)
        return 0
    if args.random:
        token = tokens.random_token()
        out.write(json.dumps({"token": token}) + "\n" if args.json else token + "\n")
        return 0
    from .plugin import tokens_off_reason

    # What conda would send: with the tokens off, no token is read or made.
    off = tokens_off_reason()
    string = tokens.token_string(args.prefix, enabled=off is None)
    details = tokens.token_details(args.prefix) if off is None else []
    if args.json:
        out.write(json.dumps({
            "version": __version__,
            "token_string": string,
            "enabled": off is None,
            "disabled_by": off,
            "tokens": details,
        }, indent=2) + "\n")
        return 0
    out.write(string + "\n")
    if args.detail and off is not None:
        out.write("  tokens off: %s\n" % off)
    elif args.detail:
        out.write("".join(line + "\n" for line in _detail_lines(details)))
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.prefix is not None and not os.path.isdir(args.prefix):
        parser.error("--prefix %s: no such directory" % args.prefix)
    if args.verbose:
        PROCESS.debug = True
    if args.jwt:
        os.environ["ANACONDA_AUTH_API_KEY"] = args.jwt
    elif args.no_keyring:
        os.environ["ANACONDA_DOMAIN"] = "__disabled__"
    if sys.stdout is None:
        return _say_error("standard output is closed; nothing to write the tokens to")
    try:
        status = run(args, sys.stdout)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader has gone (``| head -1``): quietly done, as coreutils are.
        _drop_stdout()
        return 0
    except OSError as exc:
        _drop_stdout()
        return _say_error("cannot write to standard output: %s" % (exc.strerror or type(exc).__name__))


def _drop_stdout():
    """Point standard output at the null device, so the interpreter's last flush cannot fail."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass


def _say_error(message):
    try:
        sys.stderr.write("%s: error: %s\n" % (PROG, message))
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
