"""Advisories: which versions of a package are affected, read from OSV JSON, CSV or YAML.

Versions follow conda's ordering and specs conda's MatchSpec version syntax
(``>=1.0,<1.2.3|2.*``), through rattler's implementation of both; PEP 440
would order some conda versions differently (``1.0.1_`` and ``1.0.1a``, a
``dev`` or ``post`` part, an epoch).

- CSV: a header naming ``package`` and ``affected`` (a version spec), and
  optionally ``fixed`` (the first fixed version) and ``id``; when ``affected``
  is empty, ``<fixed`` is meant.
- YAML: a list of mappings with the same keys (or ``advisories:`` holding one).
- OSV JSON: one advisory or a list of them; each ``affected[]`` entry with
  ``package.name`` (the conda package name) and ``ranges[].events``
  (``introduced``, ``fixed``, ``last_affected``) or ``versions``.

Every error names the file and the line (or the advisory) it is about.
"""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..files import read_user_file
from ._scope import QuestionError


@dataclass(frozen=True)
class Advisory:
    id: str
    package: str
    affected: str  # a conda version spec
    fixed: str = None

    def matcher(self):
        from rattler import VersionSpec

        return VersionSpec(self.affected)


def version(text):
    """A conda version, or None when ``text`` is not one."""
    from rattler import Version

    try:
        return Version(text)
    except Exception:  # noqa: BLE001 - rattler raises its own error types
        return None


def read_advisories(path):
    path = Path(path)
    try:
        text = read_user_file(path)
    except FileNotFoundError:
        raise QuestionError("--advisories %s: no such file" % path) from None
    except (OSError, ValueError) as exc:
        raise QuestionError("--advisories %s: cannot read it (%s)" % (path, getattr(exc, "strerror", None) or exc)) from None
    suffix = path.suffix.lower()
    start = text.lstrip()[:1]
    if suffix == ".json" or (suffix not in (".csv", ".yaml", ".yml") and start in ("{", "[")):
        entries = _from_osv(path, text)
    elif suffix == ".csv" or (suffix not in (".yaml", ".yml") and "," in text.split("\n", 1)[0]):
        entries = _from_csv(path, text)
    else:
        entries = _from_yaml(path, text)
    advisories = [_checked(path, where, **fields) for where, fields in entries]
    if not advisories:
        raise QuestionError("--advisories %s: no advisories in it" % path)
    return advisories


def _checked(path, where, package=None, affected=None, fixed=None, id=None):
    def fail(message):
        raise QuestionError("--advisories %s:%s: %s" % (path, where, message))

    package = str(package or "").strip()
    affected = str(affected or "").strip()
    fixed = str(fixed).strip() if fixed not in (None, "") else None
    if not package:
        fail("no package named")
    if fixed is not None and version(fixed) is None:
        fail("fixed %r is not a conda version" % fixed)
    if not affected:
        if fixed is None:
            fail("neither an affected version spec nor a fixed version")
        affected = "<" + fixed
    advisory = Advisory(str(id).strip() if id else "%s %s" % (package, affected), package, affected, fixed)
    try:
        advisory.matcher()
    except Exception as exc:  # noqa: BLE001 - rattler raises its own error types
        fail("affected %r is not a conda version spec (%s)" % (affected, str(exc).splitlines()[0]))
    return advisory


def _from_csv(path, text):
    reader = csv.DictReader(io.StringIO(text))
    try:
        yield from _csv_rows(path, reader)
    except csv.Error as exc:  # a field over the csv module's limit, a NUL, a broken quote
        raise QuestionError("--advisories %s:%d: not CSV (%s)" % (path, reader.line_num + 1, exc)) from None


def _csv_rows(path, reader):
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "package" not in header or ("affected" not in header and "fixed" not in header):
        raise QuestionError("--advisories %s:1: the CSV header must name package and affected (or fixed)" % path)
    reader.fieldnames = header
    for row in reader:
        fields = {k: v for k, v in row.items() if k in ("package", "affected", "fixed", "id")}
        if None in row or not any((v or "").strip() for v in fields.values()):
            if None in row:
                raise QuestionError("--advisories %s:%d: more fields than the header names (quote a spec that has commas)"
                                    % (path, reader.line_num))
            continue
        yield reader.line_num, fields


def _from_yaml(path, text):
    import yaml

    try:
        # Anchors and aliases let a few bytes stand for billions of nodes; advisories never need them.
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise QuestionError("--advisories %s:%d: YAML aliases (*name) are not accepted"
                                    % (path, event.start_mark.line + 1))
    except yaml.YAMLError:
        pass  # the parse below names the error
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None and isinstance(root, yaml.MappingNode):
            items = [v for k, v in root.value if k.value == "advisories"]
            root = items[0] if items else None
        if not isinstance(root, yaml.SequenceNode):
            raise QuestionError("--advisories %s:1: expected a list of advisories" % path)
        for node in root.value:
            line = node.start_mark.line + 1
            item = loader.construct_object(node, deep=True)
            if not isinstance(item, dict):
                raise QuestionError("--advisories %s:%d: an advisory is a mapping of package, affected, fixed, id"
                                    % (path, line))
            unknown = sorted(set(item) - {"package", "affected", "fixed", "id"})
            if unknown:
                raise QuestionError("--advisories %s:%d: unknown key %s" % (path, line, unknown[0]))
            yield line, item
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise QuestionError("--advisories %s:%s: not YAML (%s)" % (
            path, mark.line + 1 if mark else 1, getattr(exc, "problem", None) or exc)) from None
    finally:
        loader.dispose()


def _from_osv(path, text):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QuestionError("--advisories %s:%d: not JSON (%s)" % (path, exc.lineno, exc.msg)) from None
    except RecursionError:
        raise QuestionError("--advisories %s: JSON nested too deeply to be an OSV advisory" % path) from None
    for number, entry in enumerate(data if isinstance(data, list) else [data], 1):
        name = "advisory %d" % number
        if not isinstance(entry, dict) or not isinstance(entry.get("affected"), list):
            raise QuestionError("--advisories %s: %s: an OSV advisory has an affected list" % (path, name))
        name = "%s (%s)" % (name, entry.get("id", "no id") if isinstance(entry.get("id", ""), str) else "no id")
        for affected in entry["affected"]:
            package = affected.get("package") if isinstance(affected, dict) else None
            package = package.get("name") if isinstance(package, dict) else None
            if not package or not isinstance(package, str):
                raise QuestionError("--advisories %s: %s: an affected entry names no package" % (path, name))
            specs, fixes = _osv_ranges(path, name, affected)
            yield name, {"package": package, "affected": "|".join(specs),
                         "fixed": fixes[0] if len(fixes) == 1 else None, "id": entry.get("id")}


def _osv_ranges(path, name, affected):
    specs, fixes = [], []
    ranges, versions = affected.get("ranges") or [], affected.get("versions") or []
    if not isinstance(ranges, list) or not all(isinstance(r, dict) for r in ranges):
        raise QuestionError("--advisories %s: %s: ranges must be a list of objects" % (path, name))
    if not isinstance(versions, list) or not all(isinstance(v, (str, int, float)) for v in versions):
        raise QuestionError("--advisories %s: %s: versions must be a list of versions" % (path, name))
    for rng in ranges:
        low, open_range = None, False
        events = rng.get("events")
        if not events:
            raise QuestionError("--advisories %s: %s: a range with no events" % (path, name))
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise QuestionError("--advisories %s: %s: a range's events must be a list of objects" % (path, name))
        for event in events:
            if any(isinstance(v, (dict, list)) for v in event.values()):
                raise QuestionError("--advisories %s: %s: a range event names a version, not %s"
                                    % (path, name, type(next(iter(event.values()))).__name__))
            if "introduced" in event:
                low = None if str(event["introduced"]) == "0" else str(event["introduced"])
                open_range = True
            elif "fixed" in event or "last_affected" in event:
                if "fixed" in event:
                    fixes.append(str(event["fixed"]))
                    high = "<%s" % event["fixed"]
                else:
                    high = "<=%s" % event["last_affected"]
                specs.append(high if low is None else ">=%s,%s" % (low, high))
                open_range = False
            else:
                raise QuestionError("--advisories %s: %s: unknown range event %s" % (path, name, sorted(event)))
        if open_range:
            specs.append("*" if low is None else ">=%s" % low)
    specs += ["==%s" % v for v in versions]
    if not specs:
        raise QuestionError("--advisories %s: %s: no affected ranges or versions" % (path, name))
    return specs, fixes
