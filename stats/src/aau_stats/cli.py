"""The ``aau-stats`` command: a thin layer over the library."""

import argparse
import contextlib
import errno
import os
import signal
import sys
from pathlib import Path

import duckdb

from . import __version__
from .files import OutputError
from .formats import FORMATS
from .ingest import InputError, ingest
from .questions import DEFAULT_MIN_CLIENTS, Filters, QuestionError, UsageError, ask, read_advisories
from .questions._scope import month_end, parse_month
from .store import StoreError, default_db_path, key_path, rotate_key

USAGE_ERROR = 2  # exit status of a command line that cannot be run as written
EXIT_STATUSES = """exit status:
  0  success
  1  an error about the data or the environment (a bad input, no store, a full disk, interrupted)
  2  usage: the command line cannot be run as written"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(USAGE_ERROR, "%s: error: %s (see --help)\n" % (self.prog, message))


def _global_options(default):
    """The options every command takes, before or after its name.

    Both the main parser and each command's parser define them; a command's
    parser leaves them unset unless given there (``SUPPRESS``), so one given
    before the command's name is kept.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db", default=default,
                        help="the DuckDB store (default: %s; $AAU_STATS_DB sets it)" % default_db_path())
    return parser


def _version():
    return "aau-stats %s (DuckDB %s)" % (__version__, duckdb.__version__)


def _with_global_options(add_parser):
    def add(name, **kwargs):
        kwargs["parents"] = [_global_options(argparse.SUPPRESS), *kwargs.get("parents", ())]
        kwargs.setdefault("epilog", EXIT_STATUSES)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        return add_parser(name, **kwargs)

    return add


def _add_engine(parser, engine_help, parquet_help):
    group = parser.add_argument_group("engine")
    group.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help=engine_help)
    group.add_argument("--parquet", metavar="DIR", help=parquet_help)
    group.add_argument("--master", help="with --engine spark: the Spark master (default local[2]; sc://... or"
                                        " SPARK_REMOTE for Spark Connect; none under spark-submit)")


def build_parser():
    parser = _Parser(prog="aau-stats", description="Answers about conda usage from access logs.",
                     parents=[_global_options(None)], epilog=EXIT_STATUSES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser = _with_global_options(commands.add_parser)
    run = commands.add_parser("ingest", help="ingest access logs (files, globs, directories, - for stdin)")
    run.add_argument("inputs", nargs="+", metavar="INPUT")
    run.add_argument("--format", choices=sorted(FORMATS), help="skip detection")
    run.add_argument("--raw", action="store_true",
                     help="store raw tokens and IP addresses instead of keyed pseudonyms")
    run.add_argument("--keep-account-tokens", action="store_true",
                     help="keep a/ tokens (not anonymous; dropped by default)")
    run.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                     help="a progress bar on stderr (auto: when stderr is a terminal)")
    _add_engine(run, "duckdb: into the store at --db (default); spark: into the Parquet store at --parquet,"
                     " reading INPUTs as Spark does (local, hdfs://, s3a://, ...)",
                "with --engine spark: the Parquet store to add to (any path Spark writes); pseudonyms use the key"
                " beside --db")
    export = commands.add_parser("export", help="export the requests to Parquet, one directory per day")
    export.add_argument("--parquet", required=True, metavar="DIR", help="the directory to write (replaced)")
    commands.add_parser("rotate-key", help="add a new pseudonym key and re-key every stored pseudonym")
    _add_questions(commands)
    sim = commands.add_parser("simulate", help="write the access log of a simulated conda population, and its truth")
    sim.add_argument("--out", required=True, metavar="DIR", help="where access.log, truth.json and advisories.csv go")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--days", type=int, default=30)
    sim.add_argument("--desktops", type=int, default=40, help="desktop users at addresses of their own")
    sim.add_argument("--offices", type=int, default=3, help="offices of several users behind one address")
    sim.add_argument("--ci-jobs-per-day", type=int, default=4)
    sim.add_argument("--processes", type=int, default=1,
                     help="at most this many conda processes per desktop and active day (volume)")
    sim.add_argument("--mode", choices=("fast", "live"), default="fast",
                     help="fast: write the log; live: send every request to a real nginx on loopback")
    demo = commands.add_parser("demo", help="the whole system: a simulated population through a real nginx,"
                                            " ingested, answered beside the truth, and the report")
    demo.add_argument("--out", default="aau-stats-demo", metavar="DIR", help="where everything goes (replaced)")
    demo.add_argument("--seed", type=int, default=1)
    return parser


QUESTION_HELP = {
    "clients-per-ip": "distinct clients behind each IP address and network, beside naive unique visitors",
    "lifecycles": "CI-like and one-off versus long-lived clients; ephemeral versus long-lived environments",
    "environments": "environments per client; base versus child environments",
    "installs": "new installs versus updates versus re-downloads, per package and month",
    "exposure": "environments and clients that installed an affected version, and their remediation",
    "popularity": "condastats' popularity queries, with distinct clients and environments",
    "seats": "distinct clients and machines behind an organization's IPs or token",
    "activity": "active environments per day, from heartbeats and from any request",
}


def _filters_parser():
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("filters")
    group.add_argument("--since", metavar="YYYY-MM-DD", help="from this day (UTC, inclusive)")
    group.add_argument("--until", metavar="YYYY-MM-DD", help="to this day (UTC, inclusive)")
    group.add_argument("--month", metavar="YYYY-MM", help="one month")
    group.add_argument("--channel", help="one channel (as in the path: conda-forge, pkgs/main)")
    group.add_argument("--package", help="one package name")
    group.add_argument("--org", metavar="TOKEN", help="requests carrying this organization token (o/)")
    group.add_argument("--ips", metavar="FILE", help="requests from these IP addresses and CIDR ranges (one per line)")
    _add_engine(common, "duckdb (default): the store at --db, or the Parquet store at --parquet;"
                        " spark: the Parquet store at --parquet",
                "a Parquet store of requests, as `export --parquet` or `ingest --engine spark` write it"
                " (local, hdfs://, s3a://)")
    out = common.add_argument_group("output")
    out.add_argument("--min-clients", type=int, default=DEFAULT_MIN_CLIENTS, metavar="K",
                     help="suppress values backed by fewer than K distinct clients (default %(default)s;"
                          " 1 for an operator's private use)")
    return common


def _add_questions(commands):
    common = _filters_parser()
    formats = argparse.ArgumentParser(add_help=False)
    out = formats.add_argument_group("format")
    choice = out.add_mutually_exclusive_group()
    choice.add_argument("--json", action="store_true", help="the whole answer as JSON")
    choice.add_argument("--csv", action="store_true", help="one table as CSV (see --table)")
    out.add_argument("--table", metavar="NAME", help="the table --csv writes (default: the first)")
    out.add_argument("--rows", type=int, default=40, metavar="N", help="rows per table on a terminal (default 40)")
    lifecycle = argparse.ArgumentParser(add_help=False)
    lifecycle.add_argument("--min-days", type=int, default=2, help="days a long-lived client is seen on (default 2)")
    lifecycle.add_argument("--ci-address-clients", type=int, default=3, metavar="N",
                           help="an ephemeral client is CI-like when its /24 or /48 network saw N ephemeral clients"
                                " (default 3)")
    lifecycle.add_argument("--min-sessions", type=int, default=2,
                           help="conda processes a long-lived client is seen in (default 2)")
    for name, text in QUESTION_HELP.items():
        parents = [common, formats] + ([lifecycle] if name in ("lifecycles", "seats") else [])
        sub = commands.add_parser(name, help=text, description=text, parents=parents)
        if name in ("clients-per-ip", "popularity"):
            sub.add_argument("--top", type=int, default=20 if name == "clients-per-ip" else 50,
                             help="rows in the ranked tables (default %(default)s)")
        if name == "installs":
            sub.add_argument("--warm-up-days", type=int, default=14,
                             help="days at the start read as history only (default 14; ignored with --since)")
        if name == "exposure":
            sub.add_argument("--advisories", required=True, metavar="FILE",
                             help="OSV JSON, or CSV/YAML of package, affected (conda version spec), fixed, id")
            sub.add_argument("--list", choices=("machines",), dest="list_machines",
                             help="name the m/ tokens of exposed, unremediated installations (private;"
                                  " needs --org or --ips; not with --json or --csv)")
        if name == "popularity":
            sub.add_argument("packages", nargs="*", metavar="PACKAGE", help="only these packages")
            sub.add_argument("--by", action="append", choices=("platform", "source", "version", "python"),
                             default=[], help="group also by the subdir, channel, package version or"
                                              " package's Python (repeatable)")
            sub.add_argument("--monthly", action="store_true", help="one row per month")
            sub.add_argument("--distinct", choices=("exact", "hll"), default="exact",
                             help="exact distinct counts (default), or HyperLogLog estimates from monthly sketches"
                                  " that merge (standard error 0.81 %%)")
            sub.add_argument("--start-month", metavar="YYYY-MM", help="from this month")
            sub.add_argument("--end-month", metavar="YYYY-MM", help="to this month (inclusive)")
            sub.add_argument("--dataset", metavar="PATH_OR_URL",
                             help="answer from a published dataset (aau-stats publish) instead of a store:"
                                  " a folder, https:// or s3://")
    publish = commands.add_parser("publish", parents=[common], help="write the public dataset: condastats' layout"
                                  " (anaconda-package-data), with distinct clients and CI split out")
    publish.add_argument("--out", required=True, metavar="DIR", help="the dataset's folder")
    publish.add_argument("--source", action="append", default=[], metavar="CHANNEL=SOURCE",
                         help="name a channel's data_source (repeatable; defaults: anaconda for the defaults"
                              " channels, conda-forge, bioconda)")
    report = commands.add_parser("report", parents=[common], help="every answer in one offline HTML page")
    report.add_argument("--out", default="aau-stats-report.html", metavar="FILE",
                        help="the HTML file to write (default %(default)s)")
    report.add_argument("--advisories", metavar="FILE", help="advisories for the exposure section")


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


def _usage(message):
    """A command line that cannot be run as written: one line, exit status 2 (as argparse's own errors)."""
    sys.stderr.write("aau-stats: error: %s (see --help)\n" % message)
    return USAGE_ERROR


def _filters(args):
    since, until = args.since, args.until
    start, end = getattr(args, "start_month", None), getattr(args, "end_month", None)
    if start or end:
        if since or until or args.month:
            raise UsageError("--start-month/--end-month: not with --month, --since or --until")
        since = parse_month(start, "--start-month") if start else None
        until = month_end(parse_month(end, "--end-month")) if end else None
    return Filters.build(since=since, until=until, month=args.month, channel=args.channel, package=args.package,
                         org=args.org, ips=args.ips)


def _options(args):
    if args.command in ("lifecycles", "seats"):
        return {"min_days": args.min_days, "min_sessions": args.min_sessions,
                "ci_address_clients": args.ci_address_clients}
    if args.command == "clients-per-ip":
        return {"top": args.top}
    if args.command == "installs":
        return {"warm_up_days": args.warm_up_days}
    if args.command == "exposure":
        if args.list_machines and (args.json or args.csv):
            raise UsageError("--list machines is an operator's private view: not with --json or --csv")
        return {"advisories": read_advisories(args.advisories), "list_machines": bool(args.list_machines)}
    if args.command == "popularity":
        return {"packages": args.packages, "by": args.by, "monthly": args.monthly, "top": args.top,
                "distinct": args.distinct}
    return {}


def _parquet_engine(args, db):
    """The engine over the Parquet store of ``--parquet`` (Spark's or DuckDB's), or None for the store at ``db``."""
    if args.engine != "spark" and not args.parquet:
        return None
    from .questions import DuckDBEngine
    from .spark.questions import SparkEngine
    from .store import read_keys

    if not args.parquet:
        raise UsageError("--engine spark: give --parquet DIR (aau-stats export --parquet DIR writes one)")
    if args.engine == "spark":
        return SparkEngine(args.parquet, keys=read_keys(db) if Path(db).exists() else None, master=args.master)
    return DuckDBEngine(db, parquet_dir=args.parquet)


def _answer(args, db):
    from .output import print_answer, to_csv, to_json

    engine = _parquet_engine(args, db) if not getattr(args, "dataset", None) else None
    if getattr(args, "dataset", None):
        from .questions.dataset import popularity_from_dataset

        filters = _filters(args)
        answer = popularity_from_dataset(args.dataset, args.packages, args.by, args.monthly,
                                         filters.since.isoformat()[:7] if filters.since else None,
                                         filters.until.isoformat()[:7] if filters.until else None)
    elif engine is not None:
        with engine:
            answer = ask(args.command, None, _filters(args), min_clients=args.min_clients, engine=engine,
                         **_options(args))
    else:
        answer = ask(args.command, db, _filters(args), min_clients=args.min_clients, **_options(args))
    if args.json:
        sys.stdout.write(to_json(answer))
    elif args.csv:
        if args.table and args.table not in [t.name for t in answer.tables]:
            raise UsageError("--table %s: %s has the tables %s" % (
                args.table, args.command, ", ".join(t.name for t in answer.tables)))
        sys.stdout.write(to_csv(answer, args.table))
    else:
        print_answer(answer, max_rows=args.rows)
    return 0


def _report(args, db):
    from .report import write_report

    advisories = read_advisories(args.advisories) if args.advisories else None
    path = write_report(db, args.out, _filters(args), min_clients=args.min_clients, advisories=advisories,
                        engine=_parquet_engine(args, db))
    sys.stdout.write("report written to %s\n" % path)
    return 0


def _publish(args, db):
    from .publish import PublishError, publish

    sources = {}
    for item in args.source:
        channel, _, source = item.partition("=")
        if not channel or not source:
            return _usage("--source %r: give CHANNEL=SOURCE (conda-forge=conda-forge)" % item)
        sources[channel] = source
    if not Path(db).exists() and not args.parquet:
        return _fail("%s: no store there (run aau-stats ingest first)" % db)
    try:
        done = publish(db, args.out, _filters(args), min_clients=args.min_clients, sources=sources,
                       engine=_parquet_engine(args, db))
    except PublishError as exc:
        return _fail(exc)
    except OSError as exc:  # the folder cannot be made or written: nothing of the previous dataset is lost
        return _fail("--out %s: cannot write the dataset there (%s)" % (args.out, exc.strerror or exc))
    sys.stdout.write("published version %d to %s: %d files written, %d unchanged, %d values withheld\n" % (
        done["version"], args.out, len(done["written"]), len(done["unchanged"]), done["withheld"]))
    return 0


def _simulate(args):
    from .simulate import Config, simulate

    config = Config(seed=args.seed, days=args.days, desktops=args.desktops, offices=args.offices,
                    ci_jobs_per_day=args.ci_jobs_per_day, processes=args.processes)
    truth = simulate(config, args.out, mode=args.mode)
    sys.stdout.write("%d requests of %d clients written to %s (truth in truth.json)\n" % (
        truth["lines"], truth["answers"]["clients"], Path(args.out) / "access.log"))
    return 0


def _demo(args):
    import shutil
    import time

    from .live import NginxMissing
    from .simulate import Config, simulate

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    try:
        truth = simulate(Config(seed=args.seed), out, mode="live")
    except NginxMissing as exc:
        return _fail(exc)
    db = out / "store.duckdb"
    (report,) = ingest([str(out / "access.log")], db)
    _print_report(report, sys.stdout)
    advisories = read_advisories(out / "advisories.csv")
    true = truth["answers"]
    ip = {h.label: h.value for h in ask("clients-per-ip", db, min_clients=1).headline}
    life = ask("lifecycles", db, min_clients=1).table("summary").records()
    envs = {h.label: h.value for h in ask("environments", db, min_clients=1).headline}
    exposed = ask("exposure", db, min_clients=1, advisories=advisories).table("advisories").records()[0]
    ci_like = sum(r["count"] for r in life if r["what"] == "clients" and r["lifecycle"] == "ci-like")
    rows = [
        ("distinct clients (installations)", ip["distinct clients"], true["clients"]),
        ("naive unique visitors (IP + day + user agent)", ip["naive unique visitors (IP + day + user agent)"], None),
        ("most clients behind one address", ip["most clients behind one address"],
         true["most_clients_behind_one_address"]),
        ("addresses shared by 2 or more clients", ip["addresses shared by 2 or more clients"],
         true["addresses_shared_by_2_or_more"]),
        ("CI-like clients (CI jobs)", ci_like, true["ci_clients"]),
        ("environments", envs["environments"], true["environments"]),
        ("base environments", envs["base environments"], true["base_environments"]),
        ("environments that installed openssl 3.0.14", exposed["environments_exposed"], true["environments_exposed"]),
        ("... of which later installed the fix", exposed["environments_remediated"], true["environments_remediated"]),
    ]
    sys.stdout.write("\n%-48s %10s %10s\n" % ("", "analytics", "truth"))
    for label, found, real in rows:
        sys.stdout.write("%-48s %10s %10s\n" % (label, found, "-" if real is None else real))
    from .report import write_report

    page = write_report(db, out / "report.html", advisories=advisories)
    sys.stdout.write("\n%d requests sent to nginx and ingested in %.0f s; nginx's own log: %s\nreport: %s\n" % (
        truth["lines"], time.perf_counter() - started, out / "nginx" / "access.log", page.resolve()))
    return 0


class _Interrupts:
    """Ctrl-C, remembered. Python raises KeyboardInterrupt where the program is; when that is inside
    DuckDB, DuckDB takes it to stop the statement, and a statement that was ending by then ends well: the
    interrupt would be lost, and the command would go on as if no one had pressed Ctrl-C."""

    def __init__(self):
        self.seen = False

    def __call__(self, signum, frame):
        self.seen = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def watching(self):
        try:
            previous = signal.signal(signal.SIGINT, self)
        except ValueError:  # not the main thread: signals are not this thread's to take
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        with _Interrupts().watching() as interrupts:
            status = _run(args)
            sys.stdout.flush()
        # What finished is committed; the operator asked to stop, so the command did not run to its end.
        return _interrupted() if interrupts.seen else status
    except (StoreError, OutputError) as exc:
        return _fail(exc)
    except BrokenPipeError:
        _drop_stdout()  # the reader has gone (| head): quietly done
        return 0
    except (KeyboardInterrupt, duckdb.InterruptException):
        return _interrupted()
    except RuntimeError as exc:
        if str(exc) != "Query interrupted":  # DuckDB's word for Ctrl-C inside a query
            raise
        return _interrupted()
    except (duckdb.IOException, duckdb.TransactionException) as exc:  # the disk under the store or its spills
        return _fail("%s: %s" % (args.db or default_db_path(), str(exc).splitlines()[0].replace("IO Error: ", "")))
    except duckdb.OutOfMemoryException as exc:
        return _fail("out of memory: %s" % str(exc).splitlines()[0])
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRORS:
            raise
        if exc.filename is None:  # standard output
            _drop_stdout()
            return _fail("cannot write the output: %s" % (exc.strerror or exc))
        hint = "; free some space, or set TMPDIR to a roomier folder" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        return _fail("%s: %s%s" % (exc.filename, exc.strerror, hint))


# Failures of the machine, not of aau-stats: one line each, never a traceback.
_ENVIRONMENT_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EBADF, errno.EROFS, errno.EACCES, errno.EPERM,
                       errno.EMFILE, errno.ENFILE)


def _interrupted():
    return _fail("interrupted; what each finished step wrote is kept, and nothing half-written"
                 " (run the same command again to go on)")


def _drop_stdout():
    """Standard output to the null device, so the interpreter's last flush cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass


def _run(args):
    db = args.db or default_db_path()
    if args.command == "simulate":
        return _simulate(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "publish":
        try:
            return _publish(args, db)
        except UsageError as exc:
            return _usage(exc)
        except QuestionError as exc:
            return _fail(exc)
    if args.command in QUESTION_HELP or args.command == "report":
        try:
            return (_report if args.command == "report" else _answer)(args, db)
        except UsageError as exc:
            return _usage(exc)
        except QuestionError as exc:
            return _fail(exc)
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
    if args.engine == "spark":
        return _ingest_on_spark(args, db)
    if args.parquet:
        return _usage("--parquet: only with --engine spark (the DuckDB ingester writes the store at --db;"
                     " aau-stats export --parquet writes Parquet from it)")
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    try:
        with _Progress(force=args.progress == "always") if show else contextlib.nullcontext() as bar:
            reports = ingest(args.inputs, db, fmt=args.format, raw=args.raw,
                             keep_account_tokens=args.keep_account_tokens,
                             on_file=lambda r: _print_report(r, sys.stdout), progress=bar)
    except InputError as exc:
        return _fail(exc)
    return _print_total(reports)


def _ingest_on_spark(args, db):
    from .spark import SparkUnavailable, session
    from .spark.ingest import ingest as ingest_spark
    from .store import load_keys

    if not args.parquet:
        return _usage("--engine spark: give --parquet DIR, the Parquet store to write")
    try:
        spark = session(args.master)
        reports = ingest_spark(spark, args.inputs, args.parquet, load_keys(db), fmt=args.format, raw=args.raw,
                               keep_account_tokens=args.keep_account_tokens,
                               on_file=lambda r: _print_report(r, sys.stdout))
    except (InputError, SparkUnavailable) as exc:
        return _fail(exc)
    return _print_total(reports)


def _print_total(reports):
    total = sum(r.lines for r in reports)
    headers = sum(r.headers for r in reports)
    sys.stdout.write("total: lines %d = parsed %d + rejected %d + blank %d%s\n" % (
        total, sum(r.parsed for r in reports), sum(r.rejected_total for r in reports),
        sum(r.blank for r in reports), " + headers %d" % headers if headers else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
