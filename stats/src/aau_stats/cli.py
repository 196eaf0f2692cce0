"""The ``aau-stats`` command: a thin layer over the library."""

import argparse
import contextlib
import sys
from pathlib import Path

from . import __version__
from .formats import FORMATS
from .ingest import InputError, ingest
from .store import default_db_path, key_path, rotate_key


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
    run.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                     help="a progress bar on stderr (auto: when stderr is a terminal)")
    export = commands.add_parser("export", help="export the requests to Parquet, one directory per day")
    export.add_argument("--parquet", required=True, metavar="DIR", help="the directory to write (replaced)")
    commands.add_parser("rotate-key", help="add a new pseudonym key and re-key every stored pseudonym")
    return parser


def _print_report(report, out):
    reasons = ", ".join("%s %d" % item for item in sorted(report.rejected.items())) or "none"
    out.write("%s [%s]: lines %d = parsed %d + rejected %d + blank %d%s (rejected: %s)%s%s\n" % (
        report.path, report.format or "-", report.lines, report.parsed, report.rejected_total,
        report.blank, " + headers %d" % report.headers if report.headers else "", reasons,
        "; %d lines ingested before" % report.already if report.already else "",
        "; " + report.note if report.note else ""))


class _Progress:
    """A rich progress bar on stderr: bytes read, then the parse of each file."""

    def __init__(self, force=False):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                             console=Console(stderr=True, force_terminal=force or None), transient=True)
        self._task = None
        self._name = None

    def __enter__(self):
        self._bar.start()
        return self

    def __exit__(self, *exc):
        self._bar.stop()

    def __call__(self, name, stage, done, total):
        label = "%s %s" % (stage, name if len(name) <= 40 else "..." + name[-37:])
        if self._task is None or name != self._name:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(label, total=total)
            self._name = name
        if stage == "parsing":
            self._bar.update(self._task, description=label)
        else:
            self._bar.update(self._task, description=label, completed=done, total=total)

    def print(self, text):
        self._bar.console.print(text, markup=False, highlight=False, end="", soft_wrap=True)


def _fail(message):
    sys.stderr.write("aau-stats: %s\n" % message)
    return 1


def main(argv=None):
    args = build_parser().parse_args(argv)
    db = args.db or default_db_path()
    if args.command == "export":
        if not Path(db).exists():
            return _fail("%s: no store there (run aau-stats ingest first)" % db)
        from .export import export_parquet

        rows, days = export_parquet(db, args.parquet)
        sys.stdout.write("exported %d requests in %d days to %s\n" % (rows, days, args.parquet))
        return 0
    if args.command == "rotate-key":
        if not Path(db).exists():
            return _fail("%s: no store there (run aau-stats ingest first)" % db)
        rows = rotate_key(db)
        sys.stdout.write("new key added to %s; %d rows re-keyed\n" % (key_path(db), rows))
        return 0
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    try:
        with _Progress(force=args.progress == "always") if show else contextlib.nullcontext() as bar:
            reports = ingest(args.inputs, db, fmt=args.format, raw=args.raw,
                             keep_account_tokens=args.keep_account_tokens,
                             on_file=lambda r: _print_report(r, sys.stdout), progress=bar)
    except InputError as exc:
        return _fail(exc)
    total = sum(r.lines for r in reports)
    headers = sum(r.headers for r in reports)
    sys.stdout.write("total: lines %d = parsed %d + rejected %d + blank %d%s\n" % (
        total, sum(r.parsed for r in reports), sum(r.rejected_total for r in reports),
        sum(r.blank for r in reports), " + headers %d" % headers if headers else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
