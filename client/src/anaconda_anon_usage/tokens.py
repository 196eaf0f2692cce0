"""The tokens, one function each, with the names anaconda-anon-usage uses.

Each token is computed once per process. No function here raises: a token
that cannot be read or made is left out (``""`` for the client and
environment tokens, ``None`` for the account token, an empty list for the
system tokens), and the reason goes to stderr in debug mode only.

This module imports neither conda nor anything outside the standard library.

It also holds the token files' reads and writes and the host fingerprints
(which were the modules ``_storage`` and ``_host``): conda imports this module in every
command, and each module imported costs it about 0.45 M instructions, so
what every command needs is one module (with :mod:`._state` and
:mod:`.grammar`).
"""

import atexit
import os
import stat
import sys

from . import __version__
from ._state import PROCESS, cached, debug
from .grammar import (
    ALPHABET_SET,
    RANDOM_TOKEN_BYTES,
    RANDOM_TOKEN_LENGTH,
    TokenSet,
    encode_token,
    format_token_string,
    is_random_token,
    is_system_token,
)

# --- token files ------------------------------------------------------------
#
# Token files: bounded reads and atomic, link-safe writes.
#
# Rules every token file obeys:
#
# - A read takes at most ``MAX_READ`` bytes and never blocks: a FIFO reads as
#   empty, a device such as ``/dev/zero`` as ``MAX_READ`` bytes that are no
#   token, a directory as no file.
# - Only the first word of the first non-blank line counts.
# - A write never goes through whatever is at the path: the token is written to
#   a fresh temporary file beside it, which is then hard-linked into place (a
#   new file: the first process wins and the others adopt its token) or renamed
#   over the old entry (a replacement: a symlink is replaced, its target is
#   never touched).
# - A file is replaced only after it was read and found to hold no token
#   (``REPLACEABLE``): an error while reading (EIO, EMFILE, EACCES) says
#   nothing about the token, so the file is left as it is.
# - Racing processes that replace the same file agree: each locks the file it
#   read, and only one that finds the same file with the same content under
#   the lock replaces it; the others adopt what is there by then.
# - The client token file is the user's alone: a looser mode is tightened.
# - Temporary files that a killed process left beside a token file are removed
#   by the next write there.
# - Every failure is reported as a state, never raised.
MAX_READ = 4096

OK = "ok"
MISSING = "missing"
EMPTY = "empty"
UNREADABLE = "unreadable"
NOT_A_FILE = "not a regular file"
NOT_TEXT = "not text"

REPLACEABLE = (OK, EMPTY, NOT_TEXT)  # read, and found to hold no token
LOCK_WAIT = 2.0  # seconds a replacement waits for a racing one
STALE_AFTER = 60.0  # seconds after which a temporary file is a dead process's

_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _first_line_words(data):
    """The words of the first non-blank line of ``data``: ``(words, state)``."""
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Written by Windows tools that default to UTF-16 (PowerShell 5 '>').
        try:
            data = data.decode("utf-16").encode("ascii")
        except (UnicodeError, ValueError):
            return None, NOT_TEXT
    lines = data.splitlines()
    for number, line in enumerate(lines):
        words = line.split()
        if not words:
            continue
        if number == len(lines) - 1 and len(data) >= MAX_READ:
            # The line may go on past what was read: it is not complete.
            return None, NOT_TEXT
        try:
            return [word.decode("ascii") for word in words[:2]], OK
        except UnicodeDecodeError:
            return None, NOT_TEXT
    return None, EMPTY


def read_bytes(path, limit=MAX_READ, private_mode=None):
    """At most ``limit`` bytes of the file at ``path``: ``(data, state)``.

    Opened non-blocking: a FIFO reads as empty instead of waiting for a
    writer, a device such as ``/dev/zero`` yields ``limit`` bytes at most,
    and a directory is reported as such. ``data`` is ``None`` unless
    ``state`` is ``OK``. With ``private_mode``, a regular file of this user
    whose mode is looser is set to it. (Otherwise no ``fstat``: every system
    call counts here.)
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None, MISSING
    except OSError as exc:
        return None, _failure(exc)
    try:
        data = os.read(fd, limit)
        if private_mode is not None:
            _tighten(fd, path, private_mode)
        return data, OK
    except IsADirectoryError:
        return None, NOT_A_FILE
    except OSError as exc:
        return None, _failure(exc)
    finally:
        os.close(fd)


def _tighten(fd, path, mode):
    """Set the open file to ``mode`` if it is this user's regular file with more bits."""
    if not hasattr(os, "geteuid"):
        return
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & ~mode:
            os.fchmod(fd, mode)
            debug("%s was readable or writable by others; its mode is now %o", path, mode)
    except OSError as exc:
        debug("cannot tighten the mode of %s: %s", path, exc.strerror or type(exc).__name__)


def _failure(exc):
    return "%s (%s)" % (UNREADABLE, exc.strerror or type(exc).__name__)


def read_words(path, private_mode=None):
    """Read the first non-blank line of ``path``.

    Returns ``(words, state)``: when ``state`` is ``OK``, ``words`` holds the
    line's first word and, if there is one, its second; otherwise ``None``.
    The caller validates the words.
    """
    data, state = read_bytes(path, private_mode=private_mode)
    if data is None:
        return None, state
    return _first_line_words(data)


def read_first_word(path):
    """The first word of the first non-blank line of ``path``: ``(word, state)``."""
    words, state = read_words(path)
    return (words[0] if words else None), state


def _write_new_file(path, data, mode):
    fd = os.open(path, _CREATE_FLAGS, mode)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_token(path, token, mode, replace, make_parent=False):
    """Put ``token`` in the file at ``path``; return the word now on disk.

    ``replace=False`` creates the file only if no entry exists at ``path``;
    when another process created it first, its token is returned instead.
    ``replace=True`` atomically replaces whatever entry is at ``path``.
    ``make_parent`` creates the parent directory (one level, never more).
    Returns ``None`` when nothing could be written or read back.
    """
    temp = "%s.%s.tmp" % (path, os.urandom(TEMP_RANDOM_BYTES).hex())
    try:
        _remove_stale_temporaries(path)
        if make_parent:
            try:
                os.mkdir(os.path.dirname(path))
            except FileExistsError:
                pass
        try:
            _write_new_file(temp, token.encode("ascii"), mode)
            if replace:
                os.replace(temp, path)
            else:
                _link_new(temp, path, token, mode)
        finally:
            if os.path.lexists(temp):
                os.unlink(temp)
    except OSError as exc:
        debug("cannot write %s: %s", path, exc.strerror or type(exc).__name__)
        return None
    word, state = read_first_word(path)
    if word is None:
        debug("cannot read back %s: %s", path, state)
    return word


TEMP_RANDOM_BYTES = 6


def _remove_stale_temporaries(path):
    """Remove ``<path>.<12 hex digits>.tmp`` files of this user older than a minute:
    left by a process killed between writing and linking. A racing process's
    fresh one, another user's, a link or a directory is never touched."""
    import re
    import time

    folder, name = os.path.split(path)
    pattern = re.compile(re.escape(name) + r"\.[0-9a-f]{%d}\.tmp" % (2 * TEMP_RANDOM_BYTES))
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return
    now = time.time()
    for entry in entries:
        if not pattern.fullmatch(entry):
            continue
        stale = os.path.join(folder, entry)
        try:
            info = os.lstat(stale)
            own = not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
            if stat.S_ISREG(info.st_mode) and own and now - info.st_mtime > STALE_AFTER:
                os.unlink(stale)
                debug("removed %s, left by an interrupted write", stale)
        except OSError:
            continue


def replace_token(path, token, mode, seen):
    """Replace the token file at ``path``, which held ``seen`` (the first word,
    or ``None``) when it was read; return the word on disk afterwards.

    Racing processes agree: each locks the file it read; under the lock, only
    a process that finds the same file still holding ``seen`` replaces it,
    and every other one returns what it finds. Without ``fcntl`` (Windows)
    the file is simply replaced.
    """
    try:
        import fcntl
    except ImportError:
        return write_token(path, token, mode, replace=True)
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        debug("cannot open %s to replace it: %s", path, exc.strerror or type(exc).__name__)
        return None
    try:
        if not _lock(fd, fcntl):
            debug("%s stayed locked by another process; no token this time", path)
            return None
        opened, current = os.fstat(fd), os.stat(path)
        words, state = _first_line_words(os.read(fd, MAX_READ))
        if (opened.st_dev, opened.st_ino) != (current.st_dev, current.st_ino) or (
                words[0] if words else None) != seen or state not in REPLACEABLE:
            debug("%s was replaced by another process first", path)
            return read_first_word(path)[0]
        return write_token(path, token, mode, replace=True)
    except OSError as exc:
        debug("cannot replace %s: %s", path, exc.strerror or type(exc).__name__)
        return None
    finally:
        os.close(fd)


def _lock(fd, fcntl):
    """An exclusive lock on ``fd`` within ``LOCK_WAIT`` seconds; whether it was had."""
    import time

    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)


def _link_new(temp, path, token, mode):
    """Hard-link ``temp`` to ``path`` unless ``path`` exists already."""
    try:
        os.link(temp, path)
    except FileExistsError:
        debug("%s was created by another process first", path)
    except OSError:
        # File systems without hard links: an exclusive create is still
        # atomic about who wins, though not about the content.
        try:
            _write_new_file(path, token.encode("ascii"), mode)
        except FileExistsError:
            debug("%s was created by another process first", path)


# --- host fingerprints ------------------------------------------------------
#
# Host fingerprints: tell whether a home directory moved to another machine.
#
# The client token is tied to the machine it was made on by a fingerprint kept
# beside it in ``aau_token_host``; it is never sent. The format is the one
# anaconda-anon-usage writes, so that users switching in either direction keep
# their token: the 48-bit hardware address that ``uuid.getnode`` reports for
# this host, as ``int.to_bytes(6, sys.byteorder)``, URL-safe base64 (8
# characters).
#
# A saved fingerprint matches when it is the address of *any* network interface
# of this host, not only the one preferred today: a laptop that moves from Wi-Fi
# to a docked Ethernet port is the same machine. A cloned VM or container gets
# new addresses, so nothing matches and the token is made anew.
#
# On Linux the addresses are read from ``/sys/class/net`` (a few small reads)
# instead of calling ``uuid``, whose first call costs far more than the rest of
# the token computation. The preferred address is the one libuuid (and so
# ``uuid.getnode``) picks: the first interface, in kernel order, that has an IPv4
# route and a non-zero hardware address.
_SYS_NET = "/sys/class/net"
_ROUTES = "/proc/net/route"


def node_string(node):
    """Fingerprint of a 48-bit hardware address, as anaconda-anon-usage writes it."""
    return encode_token(node.to_bytes(6, sys.byteorder))


def is_fingerprint(value):
    """True when ``value`` has the form of a fingerprint (8 token characters)."""
    return len(value) == 8 and ALPHABET_SET.issuperset(value)


def _read_small(path):
    return read_bytes(path, 65536)[0] or b""


def _linux_address(name):
    """Hardware address of one interface as an int, or 0 when it has none."""
    text = _read_small(_SYS_NET + "/" + name + "/address").strip()
    if len(text) != 17:  # not a 6-byte "aa:bb:cc:dd:ee:ff" address
        return 0
    try:
        return int(text.replace(b":", b""), 16)
    except ValueError:
        return 0


def _linux_interfaces():
    try:
        return os.listdir(_SYS_NET)
    except OSError:
        return []


def _linux_preferred():
    """``(address, interface)`` libuuid would choose, or ``(0, None)``."""
    routed = []
    for line in _read_small(_ROUTES).splitlines()[1:]:
        name = line.split(b"\t", 1)[0].decode("ascii", "replace")
        if name and name not in routed:
            routed.append(name)
    ranked = []
    for name in routed or _linux_interfaces():
        address = _linux_address(name)
        if address:
            index = _read_small(_SYS_NET + "/" + name + "/ifindex").strip()
            ranked.append((int(index) if index.isdigit() else 1 << 30, address, name))
    return min(ranked)[1:] if ranked else (0, None)


def _uuid_node():
    """The hardware address through the ``uuid`` module (macOS, Windows), or 0."""
    try:
        import uuid
    except ImportError:
        return 0
    for name in ("_unix_getnode", "_windll_getnode"):
        getter = getattr(uuid, name, None)
        try:
            node = getter() if getter else None
        except Exception:  # noqa: BLE001 - private API: any failure means "unknown"
            node = None
        # A set multicast bit marks a random stand-in, not a hardware address.
        if node and not (node >> 40) & 1:
            return node
    return 0


def _valid_interface(name):
    return bool(name) and len(name) <= 15 and "/" not in name and not name.startswith(".")


def current_fingerprint():
    """This host's preferred fingerprint and the interface it comes from.

    ``("", None)`` when it cannot be known; the interface is ``None`` off Linux.
    """
    if not sys.platform.startswith("linux"):
        node = _uuid_node()
        return (node_string(node) if node else ""), None
    node, name = _linux_preferred()
    return (node_string(node), name) if node else ("", None)


def find_on_this_host(saved, interface=None):
    """Whether ``saved`` is the fingerprint of an interface of this host.

    Returns ``(matched, where)``: ``matched`` is ``True``, ``False``, or
    ``None`` when this host's addresses cannot be read at all (so that a
    machine without a readable network configuration never loses its
    token); ``where`` is the matching interface on Linux. ``interface`` is
    where it matched last time: checked first, so that the usual case costs
    one small read.
    """
    if not sys.platform.startswith("linux"):
        current = current_fingerprint()[0]
        return ((saved == current) if current else None), None
    if _valid_interface(interface) and node_string(_linux_address(interface)) == saved:
        return True, interface
    seen_any = False
    for name in _linux_interfaces():
        address = _linux_address(name)
        if address:
            seen_any = True
            if node_string(address) == saved:
                return True, name
    return (False if seen_any else None), None


def read_fingerprint_file(path):
    """``(fingerprint, interface)`` from a host file; either may be ``None``.

    The first non-blank line holds the fingerprint (all that
    anaconda-anon-usage reads or writes); the next, if any, the interface.
    """
    data = read_bytes(path, 256)[0] or b""
    words = [line.split()[0] for line in data.splitlines() if line.split()]
    try:
        words = [word.decode("ascii") for word in words[:2]]
    except UnicodeDecodeError:
        return None, None
    fingerprint = words[0] if words else None
    interface = words[1] if len(words) > 1 and _valid_interface(words[1]) else None
    return fingerprint, interface


def fingerprint_file_text(fingerprint, interface):
    return fingerprint + ("\n" + interface if interface else "")


# --- the tokens -------------------------------------------------------------
Tokens = TokenSet

TOKEN_FILE_NAME = "aau_token"
HOST_FILE_SUFFIX = "_host"
FROM_ANOTHER_HOST = "from another host"
INSTALLER_TOKEN_NAME = "installer_token"
ORG_TOKEN_NAME = "org_token"
MACHINE_TOKEN_NAME = "machine_token"
CLIENT_TOKEN_MODE = 0o600
ENVIRONMENT_TOKEN_MODE = 0o644
ACCOUNT_DOMAIN = "anaconda.com"

_WINDOWS = sys.platform == "win32"
SYSTEM_DIRS = ("C:/ProgramData/conda",) if _WINDOWS else ("/etc/conda", "/var/lib/conda")
"""System-wide directories searched first for system token files."""
_SYSTEM_KINDS = {
    "installer": INSTALLER_TOKEN_NAME,
    "organization": ORG_TOKEN_NAME,
    "machine": MACHINE_TOKEN_NAME,
}


def random_token():
    """A fresh token: 22 characters, each carrying 6 bits from ``os.urandom``."""
    return encode_token(os.urandom(RANDOM_TOKEN_BYTES))[:RANDOM_TOKEN_LENGTH]


def home_directory():
    """The user's home from the environment (``HOME``; ``USERPROFILE`` on
    Windows), or ``None`` when it is unset or empty."""
    if _WINDOWS:
        home = os.environ.get("USERPROFILE") or (
            os.environ.get("HOMEDRIVE", "") + os.environ.get("HOMEPATH", "")
        )
    else:
        home = os.environ.get("HOME")
    return home or None


def client_token_path():
    """``~/.conda/aau_token``, or ``None`` without a home directory."""
    home = home_directory()
    return os.path.join(home, ".conda", TOKEN_FILE_NAME) if home else None


def environment_token_path(prefix):
    """``<prefix>/etc/aau_token``."""
    return os.path.join(prefix, "etc", TOKEN_FILE_NAME)


# --- version and session -------------------------------------------------


def version_token():
    """The version of this package, sent as ``aau/<version>``."""
    return __version__


@cached
def session_token():
    """A token new in every process and the same for every call within it."""
    return random_token()


# --- client --------------------------------------------------------------


def _problem(state):
    return "not a token" if state == OK else state


def _store_new(path, token, mode, state, make_parent, seen=None):
    """Write a new token where a read found ``state`` (and first word ``seen``);
    return the token on disk, or ``""``.

    A missing file is created (a racing process may win: its token is
    kept). A file that was read and holds no token, or one from another
    host, is replaced in agreement with racing processes. A file that could
    not be read, or is not a file, is left alone: no token this time.
    """
    if state == MISSING:
        # A dangling symlink reads as missing but is an entry to replace.
        dangling = os.path.islink(path) and not os.path.exists(path)
        word = write_token(path, token, mode, replace=dangling, make_parent=make_parent)
    elif state in REPLACEABLE or state == FROM_ANOTHER_HOST:
        word = replace_token(path, token, mode, seen)
    else:
        debug("%s: %s; left as it is, no token this time", path, state)
        return ""
    return word if is_random_token(word) else ""


@cached
def _client_token_and_source():
    path = client_token_path()
    if path is None:
        debug("no home directory (HOME is unset); client token omitted")
        return "", "no home directory"
    words, state = read_words(path, private_mode=CLIENT_TOKEN_MODE)
    seen = words[0] if words else None
    token = seen if seen and is_random_token(seen) else None
    # anaconda-anon-usage 0.7.0 wrote "TOKEN HOSTID" on one line.
    legacy_host = words[1] if token and len(words) > 1 and is_fingerprint(words[1]) else None
    if token is None and state != MISSING:
        debug("client token file %s: %s", path, _problem(state))

    host_path = path + HOST_FILE_SUFFIX
    saved_host, interface = read_fingerprint_file(host_path)
    saved_host = saved_host or legacy_host
    if token and saved_host:
        matched, where = find_on_this_host(saved_host, interface)
        if matched is False:
            debug("%s was made on another host; making a new client token", path)
            token = None
            state = FROM_ANOTHER_HOST
        elif where and where != interface and not legacy_host:
            # Same host, found on another interface: remember where, for speed.
            write_token(host_path, fingerprint_file_text(saved_host, where),
                        CLIENT_TOKEN_MODE, replace=True)

    if token is None:
        home_exists = os.path.isdir(os.path.dirname(os.path.dirname(path)))
        token = _store_new(path, random_token(), CLIENT_TOKEN_MODE, state, make_parent=home_exists, seen=seen)
        saved_host = None
    elif legacy_host:
        # Keep the token, move the host id to its own file.
        write_token(path, token, CLIENT_TOKEN_MODE, replace=True)
        saved_host = read_fingerprint_file(host_path)[0]

    if token and not saved_host:
        current, interface = current_fingerprint()
        if current:
            text = fingerprint_file_text(current, interface)
            write_token(host_path, text, CLIENT_TOKEN_MODE, replace=True)
    return token, path


def client_token():
    """The client token: one per user, kept in ``~/.conda/aau_token``.

    Made on first use (mode 0600) and made anew when the file holds no valid
    token or was made on another host. ``""`` when it can be neither read
    nor written.
    """
    return _client_token_and_source()[0]


# --- environment ---------------------------------------------------------


def _write_deferred_at_exit():
    try:
        write_deferred()
    except Exception:  # noqa: BLE001 - nothing may fail at conda's exit
        pass


@cached
def _environment_token_and_source(prefix):
    path = environment_token_path(prefix)
    token, state = read_first_word(path)
    if is_random_token(token):
        return token, path
    if state != MISSING:
        debug("environment token file %s: %s", path, _problem(state))
    if os.path.isdir(prefix):
        return _store_new(path, random_token(), ENVIRONMENT_TOKEN_MODE, state, make_parent=True, seen=token), path
    # The environment is being created: use the token now, write it once the
    # prefix exists (at the latest at exit), never create the prefix itself.
    token = random_token()
    with PROCESS.lock:
        PROCESS.deferred[path] = (prefix, token)
        if not PROCESS.exit_hook_registered:
            atexit.register(_write_deferred_at_exit)
            PROCESS.exit_hook_registered = True
    debug("environment %s does not exist yet; its token is written when it does", prefix)
    return token, path + " (written once the environment exists)"


def _normal_prefix(prefix):
    if prefix is None:
        prefix = sys.prefix
    return os.path.abspath(os.fspath(prefix)) if prefix else ""


def environment_token(prefix=None):
    """The token of the environment at ``prefix`` (default ``sys.prefix``),
    kept in ``<prefix>/etc/aau_token``, readable by every user of the
    environment. ``""`` when it can be neither read nor written."""
    try:
        prefix = _normal_prefix(prefix)
    except (TypeError, ValueError):
        return ""
    return _environment_token_and_source(prefix)[0] if prefix else ""


def write_deferred():
    """Write the environment tokens whose prefix exists now.

    Called at exit, and by the conda glue once a command has run. A token
    file that appeared meanwhile is left as it is.
    """
    with PROCESS.lock:
        pending = list(PROCESS.deferred.items())
    for path, (prefix, token) in pending:
        if not os.path.isdir(prefix):
            continue
        with PROCESS.lock:
            PROCESS.deferred.pop(path, None)
        found, state = read_first_word(path)
        if is_random_token(found):
            continue
        _store_new(path, token, ENVIRONMENT_TOKEN_MODE, state, make_parent=True, seen=found)
        debug("deferred environment token written to %s", path)


# --- account -------------------------------------------------------------


def _b64url_json(part):
    import base64
    import json

    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _uuid_bytes(text):
    """The 16 bytes of a UUID string in any form ``uuid.UUID`` accepts."""
    text = text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    if len(text) != 32:
        raise ValueError("not a UUID")
    return bytes.fromhex(text)


def account_token_from_jwt(api_key, now=None):
    """The ``a/`` token of an Anaconda API key, or ``None``.

    The key must be a JWT (three non-empty dot-separated parts; header
    ``typ`` ``JWT``) with a positive integer ``exp`` not in the past and a
    ``sub`` that is a UUID. The token is the URL-safe base64 of the UUID's 16
    bytes. The signature is not checked: that is anaconda-auth's job.
    """
    try:
        parts = api_key.split(".")
        if len(parts) != 3 or not all(parts):
            return None
        header, payload = _b64url_json(parts[0]), _b64url_json(parts[1])
        if not isinstance(header, dict) or header.get("typ") != "JWT":
            return None
        if not isinstance(payload, dict):
            return None
        exp = payload.get("exp")
        if type(exp) is not int or exp <= 0:
            return None
        if now is None:
            import time

            now = time.time()
        if exp < now:
            debug("the Anaconda API key has expired")
            return None
        sub = payload.get("sub")
        if not isinstance(sub, str):
            return None
        return encode_token(_uuid_bytes(sub))
    except Exception:  # noqa: BLE001 - any malformed key means "no token"
        debug("the Anaconda API key is not a JWT with a UUID subject")
        return None


# Finders that never provide anaconda_auth: the standard ones, and the one
# setuptools installs to redirect only distutils.
_STANDARD_FINDERS = frozenset(("BuiltinImporter", "FrozenImporter", "PathFinder", "DistutilsMetaFinder"))


def _may_be_importable(name):
    """False only when ``import name`` would certainly fail.

    A failing import walks every ``sys.path`` entry, listing directories the
    import system has not cached yet: the slowest part of a cold token
    string. Here a missing top-level package costs a few ``stat`` calls on
    the directories that can hold installed packages (a package is a
    directory: ``anaconda_auth.token`` cannot come from a single module).
    Whenever the answer is not certain (an import hook, a zip or egg on the
    path), it says True and the real import decides.
    """
    if name in sys.modules:
        return True
    for finder in sys.meta_path:
        if getattr(finder, "__name__", type(finder).__name__) not in _STANDARD_FINDERS:
            return True
    stdlib = os.path.dirname(os.__file__)
    skip = (stdlib, os.path.join(stdlib, "lib-dynload"))
    for entry in sys.path:
        if entry in skip:
            continue
        if entry.endswith(_ARCHIVES):
            if os.path.exists(entry):
                return True  # only the import system can look inside an archive
            continue
        if os.path.isdir(os.path.join(entry, name)):
            return True
    return False


_ARCHIVES = (".zip", ".egg", ".whl", ".pyz")


@cached
def anaconda_auth_token():
    """The ``a/`` token of the user logged in with anaconda-auth, or ``None``.

    Only when the ``anaconda_auth`` package is importable and holds an
    unexpired login. Unlike the other tokens it is not anonymous.
    """
    if not _may_be_importable("anaconda_auth"):
        debug("anaconda_auth is not installed; no account token")
        return None
    try:
        from anaconda_auth.token import TokenInfo
    except ImportError:
        debug("anaconda_auth is not installed; no account token")
        return None
    except Exception as exc:  # noqa: BLE001 - a broken package must not hurt conda
        debug("anaconda_auth failed to import: %s", type(exc).__name__)
        return None
    try:
        api_key = TokenInfo.load(domain=ACCOUNT_DOMAIN).api_key
    except Exception as exc:  # noqa: BLE001 - includes TokenNotFoundError
        debug("no Anaconda login found (%s)", type(exc).__name__)
        return None
    return account_token_from_jwt(api_key) if api_key else None


# --- system tokens -------------------------------------------------------


def conda_root():
    """The conda root (base) prefix, from the environment conda sets up.

    ``$CONDA_ROOT``; else two levels above ``$CONDA_EXE``; else the prefix of
    ``$CONDA_PYTHON_EXE``; else the parent of a ``condabin`` on ``PATH``.
    """
    env = os.environ
    if env.get("CONDA_ROOT"):
        return env["CONDA_ROOT"]
    if env.get("CONDA_EXE"):
        return os.path.dirname(os.path.dirname(env["CONDA_EXE"]))
    python = env.get("CONDA_PYTHON_EXE")
    if python:
        return os.path.dirname(python) if _WINDOWS else os.path.dirname(os.path.dirname(python))
    path = env.get("PATH", "")
    for entry in path.split(os.pathsep) if "condabin" in path else ():
        if entry and os.path.basename(entry.rstrip("/\\")) == "condabin":
            return os.path.dirname(entry.rstrip("/\\"))
    return None


@cached
def search_path():
    """The directories searched for system token files, in order."""
    dirs = list(SYSTEM_DIRS)
    root = conda_root()
    if root:
        dirs.append(root)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        dirs.append(os.path.join(xdg, "conda"))
    home = home_directory()
    if home:
        dirs.append(os.path.join(home, ".config", "conda"))
        dirs.append(os.path.join(home, ".conda"))
    prefix = os.environ.get("CONDA_PREFIX")
    if prefix:
        dirs.append(prefix)
    unique = []
    for path in dirs:
        if path not in unique:
            unique.append(path)
    return unique


_SYSTEM_FILE_KINDS = {
    pfx + name: kind for kind, name in _SYSTEM_KINDS.items() for pfx in ("", ".")
}


@cached
def _system_token_files():
    """``(kind, path)`` of every system token file on the search path, in
    search order, the plain name before the dotted one in each directory."""
    found = []
    for directory in search_path():
        try:
            names = os.listdir(directory)
        except PermissionError:
            names = list(_SYSTEM_FILE_KINDS)  # listing denied; files may still be readable
        except OSError:
            continue
        if _WINDOWS:
            names = [name.lower() for name in names]
        present = _SYSTEM_FILE_KINDS.keys() & set(names)
        for name in sorted(present, key=lambda n: (n.lstrip("."), n.startswith("."))):
            found.append((_SYSTEM_FILE_KINDS[name], os.path.join(directory, name)))
    return found


@cached
def system_tokens_and_sources(kind):
    """``[(token, source), ...]`` for ``kind`` in ``installer organization machine``.

    The environment variable ``ANACONDA_ANON_USAGE_<NAME>`` first, then the
    files ``<name>`` and ``.<name>`` in each search directory; duplicates and
    values that break the system-token rule are dropped.
    """
    variable = "ANACONDA_ANON_USAGE_" + _SYSTEM_KINDS[kind].upper()
    candidates = []
    value = os.environ.get(variable, "").strip()
    if value:
        candidates.append((value, "$" + variable))
    for file_kind, path in _system_token_files():
        if file_kind == kind:
            token, state = read_first_word(path)
            if state != MISSING:
                candidates.append((token, path))
    result, seen = [], set()
    for token, source in candidates:
        if not is_system_token(token):
            debug("dropped an invalid %s token from %s", kind, source)
        elif token not in seen:
            seen.add(token)
            result.append((token, source))
    return result


@cached
def installer_tokens():
    """Installer tokens (``i/``), possibly several."""
    return [token for token, _ in system_tokens_and_sources("installer")]


@cached
def organization_tokens():
    """Organization tokens (``o/``), possibly several."""
    return [token for token, _ in system_tokens_and_sources("organization")]


@cached
def machine_tokens():
    """Machine tokens (``m/``), possibly several."""
    return [token for token, _ in system_tokens_and_sources("machine")]


# --- all together --------------------------------------------------------


@cached
def all_tokens(prefix=None):
    """Every token, as a ``Tokens`` named tuple."""
    return Tokens(
        version_token(),
        client_token(),
        session_token(),
        environment_token(prefix),
        anaconda_auth_token(),
        installer_tokens(),
        organization_tokens(),
        machine_tokens(),
    )


@cached
def token_string(prefix=None, enabled=True):
    """The string appended to conda's user agent.

    ``aau/<version> c/… s/… e/… a/… i/… o/… m/…`` with absent tokens left
    out; only ``aau/<version>`` when ``enabled`` is false.
    """
    if not enabled:
        debug("disabled by configuration: only the version is sent")
        return format_token_string(version_token())
    return format_token_string(*all_tokens(prefix))


def token_details(prefix=None):
    """Each token with its name and where it comes from, for ``--detail``.

    A list of dicts with keys ``prefix name value source``; tokens that are
    absent have ``value`` ``None``.
    """
    norm = _normal_prefix(prefix)
    env_value, env_source = _environment_token_and_source(norm) if norm else ("", "no prefix")
    client_value, client_source = _client_token_and_source()
    rows = [
        ("aau", "version", version_token(), "package version"),
        ("c", "client", client_value, client_source),
        ("s", "session", session_token(), "random, new in every process"),
        ("e", "environment", env_value, env_source),
        ("a", "anaconda_cloud", anaconda_auth_token(), "anaconda-auth login"),
    ]
    details = [
        {"prefix": p, "name": n, "value": v or None, "source": s} for p, n, v, s in rows
    ]
    for pfx, kind in (("i", "installer"), ("o", "organization"), ("m", "machine")):
        for value, source in system_tokens_and_sources(kind):
            details.append({"prefix": pfx, "name": kind, "value": value, "source": source})
    return details


if __name__ == "__main__":  # ``python -m anaconda_anon_usage.tokens``, as in anaconda-anon-usage
    from .main import main

    sys.exit(main())
