"""The tokens, one function each, with the names anaconda-anon-usage uses.

Each token is computed once per process. No function here raises: a token
that cannot be read or made is left out (``""`` for the client and
environment tokens, ``None`` for the account token, an empty list for the
system tokens), and the reason goes to stderr in debug mode only.

This module imports neither conda nor anything outside the standard library.
"""

import atexit
import os
import sys

from . import __version__, _host
from ._state import PROCESS, cached, debug
from ._storage import MISSING, OK, REPLACEABLE, read_first_word, read_words, replace_token, write_token
from .grammar import (
    RANDOM_TOKEN_BYTES,
    RANDOM_TOKEN_LENGTH,
    TokenSet,
    encode_token,
    format_token_string,
    is_random_token,
    is_system_token,
)

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
    legacy_host = words[1] if token and len(words) > 1 and _host.is_fingerprint(words[1]) else None
    if token is None and state != MISSING:
        debug("client token file %s: %s", path, _problem(state))

    host_path = path + HOST_FILE_SUFFIX
    saved_host, interface = _host.read_fingerprint_file(host_path)
    saved_host = saved_host or legacy_host
    if token and saved_host:
        matched, where = _host.find_on_this_host(saved_host, interface)
        if matched is False:
            debug("%s was made on another host; making a new client token", path)
            token = None
            state = FROM_ANOTHER_HOST
        elif where and where != interface and not legacy_host:
            # Same host, found on another interface: remember where, for speed.
            write_token(host_path, _host.fingerprint_file_text(saved_host, where),
                        CLIENT_TOKEN_MODE, replace=True)

    if token is None:
        home_exists = os.path.isdir(os.path.dirname(os.path.dirname(path)))
        token = _store_new(path, random_token(), CLIENT_TOKEN_MODE, state, make_parent=home_exists, seen=seen)
        saved_host = None
    elif legacy_host:
        # Keep the token, move the host id to its own file.
        write_token(path, token, CLIENT_TOKEN_MODE, replace=True)
        saved_host = _host.read_fingerprint_file(host_path)[0]

    if token and not saved_host:
        current, interface = _host.current_fingerprint()
        if current:
            text = _host.fingerprint_file_text(current, interface)
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
