"""The ``aau-stats`` command: a thin layer over the library."""

import argparse
import sys

from . import __version__
from .formats import FORMATS
from .ingest import InputError, ingest
from .store import default_db_path


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def build_parser():
    parser = _Parser(prog="aau-stats", description="Answers about conda usage from access logs.")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--db", help="the DuckDB store (default: %s)" % default_db_path())
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("ingest", help="ingest access logs (files, globs, directories, - for stdin)")
    run.add_argument("inputs", nargs="+", metavar="INPUT")
    run.add_argument("--format", choices=sorted(FORMATS), help="skip detection")
    run.add_argument("--raw", action="store_true",
                     help="store raw tokens and IP addresses instead of keyed pseudonyms")
    run.add_argument("--keep-account-tokens", action="store_true",
                     help="keep a/ tokens (not anonymous; dropped by default)")
    return parser


def _print_report(report, out):
    reasons = ", ".join("%s %d" % item for item in sorted(report.rejected.items())) or "none"
    out.write("%s [%s]: lines %d = parsed %d + rejected %d + blank %d%s (rejected: %s)%s%s\n" % (
        report.path, report.format or "-", report.lines, report.parsed, report.rejected_total,
        report.blank, " + headers %d" % report.headers if report.headers else "", reasons,
        "; %d lines ingested before" % report.already if report.already else "",
        "; " + report.note if report.note else ""))


def main(argv=None):
    args = build_parser().parse_args(argv)
    db = args.db or default_db_path()
    try:
        reports = ingest(args.inputs, db, fmt=args.format, raw=args.raw,
                         keep_account_tokens=args.keep_account_tokens,
                         on_file=lambda r: _print_report(r, sys.stdout))
    except InputError as exc:
        sys.stderr.write("aau-stats: %s\n" % exc)
        return 1
    total = sum(r.lines for r in reports)
    headers = sum(r.headers for r in reports)
    sys.stdout.write("total: lines %d = parsed %d + rejected %d + blank %d%s\n" % (
        total, sum(r.parsed for r in reports), sum(r.rejected_total for r in reports),
        sum(r.blank for r in reports), " + headers %d" % headers if headers else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
