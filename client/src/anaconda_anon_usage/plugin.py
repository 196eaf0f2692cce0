"""The conda glue: with :mod:`.heartbeat`, the only module that imports conda.

conda loads it through the ``conda`` entry point group. It

- registers the settings ``anaconda_anon_usage`` (bool, default true),
  ``anaconda_anon_usage_hosts`` (list of hosts, default every host) and
  ``anaconda_heartbeat`` (bool or URL, default false) as top-level keys of
  ``.condarc``, so that ``conda config --set anaconda_anon_usage off`` and
  ``CONDA_ANACONDA_ANON_USAGE=…`` work as with anaconda-anon-usage;
- puts the token string after conda's user agent on every HTTP request:
  through the ``conda_session_headers`` hook where conda has it (24.11+),
  else by wrapping ``Context.user_agent``;
- shows the tokens redacted in ``conda info`` (text and JSON);
- writes environment tokens deferred by ``conda create`` once the command has
  run;
- removes the activation script of version 0.8 (the heartbeat itself,
  sent by a background process that the start-up hook starts after
  ``conda activate``, lives in :mod:`.heartbeat`: conda imports this module
  in every command, so it holds only what every command may need).

``DO_NOT_TRACK`` turns the tokens off as ``anaconda_anon_usage: false`` does.

Every entry point from conda into this module catches every exception: the
worst a future conda can do is make it send no tokens. Nothing here writes to
stdout; diagnostics go to stderr in debug mode only. Its rules that need no
conda (redaction, host allowlist) are plain functions, tested
wherever the tests run; the module imports without conda.
"""

import os
import sys

from . import tokens
from ._state import as_bool, debug, do_not_track, do_not_track_reason
from .grammar import MULTI_PREFIXES, SINGLE_PREFIXES, VERSION_PREFIX

try:
    from conda.plugins import hookimpl
    from conda.plugins.types import CondaPostCommand, CondaPreCommand
except Exception:  # noqa: BLE001 - a conda without plugins: define no hooks

    def hookimpl(func):
        return func

    CondaPreCommand = CondaPostCommand = None

try:
    from conda.plugins.types import CondaRequestHeader
except Exception:  # noqa: BLE001 - conda < 24.11 has no header hooks
    CondaRequestHeader = None

HAS_HEADER_HOOKS = CondaRequestHeader is not None


# --- rules that need no conda (tested without one) ----------------------------

SETTING = "anaconda_anon_usage"
HOSTS_SETTING = "anaconda_anon_usage_hosts"
HEARTBEAT_SETTING = "anaconda_heartbeat"

LEGACY_HEARTBEAT_SCRIPT = "anaconda_anon_usage_heartbeat.sh"


def redact(token_string):
    """The token string as ``conda info`` shows it: ``aau/V c/. s/. e/. …``."""
    words = []
    for word in token_string.split():
        prefix = word.split("/", 1)[0]
        if prefix != VERSION_PREFIX and (prefix in SINGLE_PREFIXES or prefix in MULTI_PREFIXES):
            word = prefix + "/."
        words.append(word)
    return " ".join(words)


def with_tokens(user_agent, token_string):
    """``user_agent`` followed by ``token_string``, replacing any token
    string already on it (so that it is never added twice)."""
    cut = user_agent.find(" " + VERSION_PREFIX + "/")
    if cut >= 0:
        user_agent = user_agent[:cut]
    return (user_agent + " " + token_string).strip()


def normal_hosts(values):
    """The host allowlist as lower-case patterns; empty means every host."""
    if not values:
        return ()
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    return tuple(str(v).strip().lower() for v in values if str(v).strip())


def host_allowed(netloc, patterns):
    """Whether requests to ``netloc`` (``host[:port]``) carry the tokens.

    Every host does when ``patterns`` is empty. A pattern is a host name
    (any port), ``host:port`` (that port only) or ``*.domain`` (the domain's
    subdomains). Credentials in the URL are ignored; case does not matter.
    """
    if not patterns:
        return True
    netloc = netloc.rsplit("@", 1)[-1].lower()
    if netloc.startswith("["):  # [IPv6]:port
        host = netloc[: netloc.find("]") + 1]
    else:
        host = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
    for pattern in patterns:
        if pattern in (netloc, host):
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def legacy_heartbeat_script_path(prefix):
    """Where version 0.8 kept its activation script in ``prefix`` (now removed on sight)."""
    return os.path.join(prefix, "etc", "conda", "activate.d", LEGACY_HEARTBEAT_SCRIPT)


class _EveryCommand:
    """``run_for`` that contains every command name, present and future."""

    def __contains__(self, name):
        return True

    def __iter__(self):
        return iter(())


def _context():
    from conda.base.context import context

    return context


# --- settings --------------------------------------------------------------


def _validate_heartbeat(value):
    if as_bool(value) is None and "://" not in str(value):
        return "must be true, false or a URL"
    return True


def register_settings():
    """Add the top-level settings to conda's ``Context`` (once)."""
    from conda.base.context import Context
    from conda.common.configuration import ParameterLoader, PrimitiveParameter, SequenceParameter

    names = getattr(Context, "parameter_names", None)
    if not isinstance(names, tuple):
        debug("this conda's Context has no parameter_names; settings not registered")
        return
    wanted = (
        (SETTING, lambda: PrimitiveParameter(True)),
        (HOSTS_SETTING, lambda: SequenceParameter(PrimitiveParameter("", element_type=str))),
        (HEARTBEAT_SETTING,
         lambda: PrimitiveParameter(False, element_type=(bool, str), validation=_validate_heartbeat)),
    )
    added = []
    for name, make in wanted:
        if name in Context.parameter_names or name in Context.__dict__:
            continue  # registered already (this plugin, or Anaconda's, loaded twice)
        loader = ParameterLoader(make())
        setattr(Context, name, loader)
        added.append(loader._set_name(name))
    if added:
        Context.parameter_names = Context.parameter_names + tuple(added)
        rebuild = getattr(Context, "_set_parameter_names_and_aliases", None)
        if callable(rebuild):
            rebuild()
        # conda >= 26 copies the class's loaders onto the instance when it is made.
        context = _context()
        if "_parameter_loaders" in vars(context):
            context._parameter_loaders = Context._parameter_loaders


def setting(name, default=None):
    try:
        return getattr(_context(), name)
    except Exception as exc:  # noqa: BLE001 - an invalid value reads as unset
        debug("cannot read the setting %s: %s", name, type(exc).__name__)
        return default


def tokens_enabled():
    """``anaconda_anon_usage``, unless ``DO_NOT_TRACK`` says no; a value that
    is not a boolean counts as off (a mistyped opt-out must not send tokens)."""
    if do_not_track():
        return False
    try:
        value = _context().anaconda_anon_usage
    except AttributeError:
        return True  # not registered: the default
    except Exception as exc:  # noqa: BLE001 - conda rejected the value
        debug("anaconda_anon_usage is invalid (%s): tokens off", type(exc).__name__)
        return False
    flag = as_bool(value)
    return flag if flag is not None else False


def setting_source(name):
    """Where conda read setting ``name``: the file, ``$CONDA_NAME`` or the
    command line; ``None`` when it is at its default or conda cannot tell.
    A ``#!final`` source ends the search, as it ends conda's."""
    try:
        from conda.common.configuration import ParameterFlag

        found = None
        for source, params in _context().raw_data.items():
            param = params.get(name)
            if param is None:
                continue
            found = source
            if param.keyflag() is ParameterFlag.final:
                break
    except Exception:  # noqa: BLE001 - another conda: no source named
        return None
    if found == "envvars":
        return "$CONDA_" + name.upper()
    if found == "cmd_line":
        return "the command line"
    return str(found) if found else None


def disabled_reason():
    """Why conda sends only ``aau/<version>``, or ``None`` when it sends the tokens.

    Works without conda too: then only ``DO_NOT_TRACK`` and
    ``$CONDA_ANACONDA_ANON_USAGE`` can say.
    """
    reason = do_not_track_reason()
    if reason:
        return reason
    try:
        _context()
    except Exception:  # noqa: BLE001 - no conda here
        value = os.environ.get("CONDA_" + SETTING.upper())
        if value is None or as_bool(value) is True:
            return None
        return "$CONDA_%s=%s" % (SETTING.upper(), value)
    if tokens_enabled():
        return None
    where = setting_source(SETTING)
    try:
        value = getattr(_context(), SETTING)
    except Exception:  # noqa: BLE001 - conda rejected the value
        value = "an invalid value"
    return "%s: %s%s" % (SETTING, value, " (from %s)" % where if where else "")


def tokens_off_reason():
    """:func:`disabled_reason` outside a conda command (the CLI): conda's
    settings are read first when conda is importable."""
    if not do_not_track():
        try:
            _load_settings()
        except Exception as exc:  # noqa: BLE001 - no conda, or one whose settings cannot be read
            debug("conda's settings not read: %s", type(exc).__name__)
    return disabled_reason()


def target_prefix():
    """The prefix the running command acts on: ``-n``/``-p``, else the active one."""
    context = _context()
    for attribute in ("target_prefix", "default_prefix", "root_prefix"):
        try:
            value = getattr(context, attribute)
        except Exception:  # noqa: BLE001 - e.g. -n naming no environment yet
            continue
        if value:
            return value
    return sys.prefix


def token_string():
    return tokens.token_string(target_prefix(), tokens_enabled())


def user_agent_for(netloc, plain_user_agent):
    """The full user agent for a request to ``netloc``."""
    patterns = normal_hosts(setting(HOSTS_SETTING, ()))
    if not host_allowed(netloc, patterns):
        return with_tokens(plain_user_agent, "")
    return with_tokens(plain_user_agent, token_string())


# --- patches (each behind a feature check) ----------------------------------


def _plain_user_agent():
    from conda.base.context import Context

    original = getattr(Context, "_aau_plain_user_agent", None)
    context = _context()
    if original is not None:
        return original.__get__(context, Context)
    return context.user_agent


def patch_user_agent():
    """conda < 24.11: make ``context.user_agent`` end with the token string."""
    from conda.base.context import Context

    current = Context.__dict__.get("user_agent")
    if current is None or not hasattr(current, "__get__") or hasattr(Context, "_aau_plain_user_agent"):
        return
    Context._aau_plain_user_agent = current

    def user_agent(self):
        plain = current.__get__(self, Context)
        try:
            return with_tokens(plain, token_string())
        except Exception as exc:  # noqa: BLE001
            debug("no tokens on the user agent: %s", type(exc).__name__)
            return plain

    Context.user_agent = property(user_agent)
    if normal_hosts(setting(HOSTS_SETTING, ())):
        _patch_session_hosts()


def _patch_session_hosts():
    """conda < 24.11 with a host allowlist: other hosts get the plain user agent."""
    from conda.gateways.connection.session import CondaSession

    original = CondaSession.__dict__.get("prepare_request") or CondaSession.prepare_request
    if getattr(original, "_aau", False):
        return

    def prepare_request(self, request):
        prepared = original(self, request)
        try:
            from urllib.parse import urlsplit

            netloc = urlsplit(prepared.url).netloc
            prepared.headers["User-Agent"] = user_agent_for(netloc, _plain_user_agent())
        except Exception as exc:  # noqa: BLE001
            debug("host allowlist not applied: %s", type(exc).__name__)
        return prepared

    prepare_request._aau = True
    CondaSession.prepare_request = prepare_request


def _scrub(value, secrets):
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, ".")
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v, secrets) for v in value)
    return value


def redacted_info(info):
    """``conda info``'s dictionary with the tokens shown as ``c/. s/. …`` and
    no token value anywhere (environment variables included)."""
    string = token_string()
    secrets = sorted({w.split("/", 1)[1] for w in string.split()[1:] if "/" in w}, key=len, reverse=True)
    info = _scrub(info, secrets)
    if isinstance(info.get("user_agent"), str):
        info["user_agent"] = with_tokens(info["user_agent"], redact(string))
    return info


def patch_info():
    """``conda info``: the user-agent line with the tokens redacted."""
    from conda.cli import main_info

    original = getattr(main_info, "get_info_dict", None)
    if original is None or getattr(original, "_aau", False):
        return

    def get_info_dict(*args, **kwargs):
        info = original(*args, **kwargs)
        try:
            return redacted_info(info)
        except Exception as exc:  # noqa: BLE001
            debug("conda info not redacted: %s", type(exc).__name__)
            info["user_agent"] = with_tokens(info.get("user_agent", ""), "")
            return info

    get_info_dict._aau = True
    main_info.get_info_dict = get_info_dict


# --- version 0.8's heartbeat script ------------------------------------------------


def remove_legacy_heartbeat_script(prefix):
    """Remove the activation script that version 0.8 wrote into ``prefix``.

    The heartbeat now starts from a Python start-up hook, so the script would
    send a second one. Only a file this package wrote is removed.
    """
    path = legacy_heartbeat_script_path(prefix) if prefix else None
    if not path or not os.path.lexists(path):
        return
    try:
        with open(path) as handle:
            ours = handle.read(200).startswith("# Written by anaconda-anon-usage")
        if ours:
            os.unlink(path)
            debug("removed the old heartbeat script of %s", prefix)
    except OSError as exc:
        debug("cannot remove the old heartbeat script of %s: %s", prefix, exc.strerror)


def _known_prefixes():
    try:
        from conda.core.envs_manager import list_all_known_prefixes

        return list_all_known_prefixes()
    except Exception:  # noqa: BLE001
        return []


def _load_settings():
    from conda.base.context import reset_context

    register_settings()
    reset_context()


# --- hooks --------------------------------------------------------------------


def _before_command(command):
    try:
        register_settings()
        patch_info()
        if not HAS_HEADER_HOOKS:
            patch_user_agent()
    except Exception as exc:  # noqa: BLE001
        debug("plugin set-up failed: %s", type(exc).__name__)


def _after_command(command):
    try:
        tokens.write_deferred()
        # Version 0.8's activation scripts would now send a second heartbeat;
        # it wrote them into every known environment at "conda config".
        prefixes = _known_prefixes() if command == "config" else [target_prefix()]
        for prefix in prefixes:
            remove_legacy_heartbeat_script(prefix)
    except Exception as exc:  # noqa: BLE001
        debug("plugin clean-up failed: %s", type(exc).__name__)


@hookimpl
def conda_pre_commands():
    if CondaPreCommand is not None:
        yield CondaPreCommand(name="anaconda-anon-usage", action=_before_command, run_for=_EveryCommand())


@hookimpl
def conda_post_commands():
    if CondaPostCommand is not None:
        yield CondaPostCommand(name="anaconda-anon-usage", action=_after_command, run_for=_EveryCommand())


@hookimpl
def conda_session_headers(host):
    try:
        agent = user_agent_for(host, _plain_user_agent())
    except Exception as exc:  # noqa: BLE001
        debug("no tokens for %s: %s", host, type(exc).__name__)
        return
    yield CondaRequestHeader(name="User-Agent", value=agent)


_HOOKS = ["conda_pre_commands", "conda_post_commands", "conda_session_headers"]


def __dir__():
    """What pluggy inspects when conda registers this module: only the hooks.

    Registration looks at every name ``dir()`` lists; listing only the hook
    implementations makes it several times cheaper (measured with callgrind).
    """
    return list(_HOOKS)
