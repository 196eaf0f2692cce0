"""The conda glue: the one module that imports conda.

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
  run, and keeps the activation heartbeat script in step with the setting.

Every entry point from conda into this module catches every exception: the
worst a future conda can do is make it send no tokens. Nothing here writes to
stdout; diagnostics go to stderr in debug mode only.
"""

import os
import sys

from . import _policy, tokens
from ._state import debug

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
    if _policy.as_bool(value) is None and "://" not in str(value):
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
        (_policy.SETTING, lambda: PrimitiveParameter(True)),
        (_policy.HOSTS_SETTING, lambda: SequenceParameter(PrimitiveParameter("", element_type=str))),
        (_policy.HEARTBEAT_SETTING,
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
    """``anaconda_anon_usage``; a value that is not a boolean counts as off
    (a mistyped opt-out must not send tokens)."""
    try:
        value = _context().anaconda_anon_usage
    except AttributeError:
        return True  # not registered: the default
    except Exception as exc:  # noqa: BLE001 - conda rejected the value
        debug("anaconda_anon_usage is invalid (%s): tokens off", type(exc).__name__)
        return False
    flag = _policy.as_bool(value)
    return flag if flag is not None else False


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
    patterns = _policy.normal_hosts(setting(_policy.HOSTS_SETTING, ()))
    if not _policy.host_allowed(netloc, patterns):
        return _policy.with_tokens(plain_user_agent, "")
    return _policy.with_tokens(plain_user_agent, token_string())


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
            return _policy.with_tokens(plain, token_string())
        except Exception as exc:  # noqa: BLE001
            debug("no tokens on the user agent: %s", type(exc).__name__)
            return plain

    Context.user_agent = property(user_agent)
    if _policy.normal_hosts(setting(_policy.HOSTS_SETTING, ())):
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
        info["user_agent"] = _policy.with_tokens(info["user_agent"], _policy.redact(string))
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
            info["user_agent"] = _policy.with_tokens(info.get("user_agent", ""), "")
            return info

    get_info_dict._aau = True
    main_info.get_info_dict = get_info_dict


# --- heartbeat ----------------------------------------------------------------


def sync_heartbeat_script(prefix):
    """Keep ``prefix``'s activation script in step with ``anaconda_heartbeat``."""
    if not prefix or not os.path.isdir(os.path.join(prefix, "conda-meta")):
        return
    wanted = _policy.as_bool(setting(_policy.HEARTBEAT_SETTING, False)) is not False and tokens_enabled()
    path = _policy.heartbeat_script_path(prefix)
    if wanted:
        text = _policy.heartbeat_script()
        try:
            with open(path) as handle:
                if handle.read() == text:
                    return
        except OSError:
            pass
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temp = path + ".tmp"
            with open(temp, "w") as handle:
                handle.write(text)
            os.replace(temp, path)
        except OSError as exc:
            debug("cannot write the heartbeat script in %s: %s", prefix, exc.strerror)
    elif os.path.lexists(path):
        try:
            os.unlink(path)
        except OSError as exc:
            debug("cannot remove the heartbeat script in %s: %s", prefix, exc.strerror)


def _known_prefixes():
    try:
        from conda.core.envs_manager import list_all_known_prefixes

        return list_all_known_prefixes()
    except Exception:  # noqa: BLE001
        return []


def heartbeat_target(prefix):
    """``(url, user_agent)`` for a heartbeat of ``prefix``, or ``None``."""
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
    url = _policy.heartbeat_url(setting(_policy.HEARTBEAT_SETTING, False), noarch)
    if not url:
        return None
    from urllib.parse import urlsplit

    plain = _plain_user_agent()
    patterns = _policy.normal_hosts(setting(_policy.HOSTS_SETTING, ()))
    suffix = tokens.token_string(prefix, True)
    agent = _policy.with_tokens(plain, suffix if _policy.host_allowed(urlsplit(url).netloc, patterns) else "")
    return url, agent


def send_heartbeat(prefix):
    """Send one HEAD request for an activation of ``prefix``; never raises.

    Gives up after 0.75 s in all. Returns the HTTP status, or ``None``.
    """
    import threading

    result = {}

    def attempt():
        try:
            target = heartbeat_target(prefix)
            if target is None:
                return
            url, agent = target
            from conda.gateways.connection.session import get_session

            session = get_session(url)
            response = session.head(url, headers={"User-Agent": agent},
                                    timeout=_policy.HEARTBEAT_TIMEOUT, allow_redirects=False)
            result["status"] = response.status_code
        except Exception as exc:  # noqa: BLE001
            debug("heartbeat failed: %s", type(exc).__name__)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(_policy.HEARTBEAT_TIMEOUT)
    return result.get("status")


def heartbeat_main(prefix):
    """``python -m anaconda_anon_usage.heartbeat``: load conda's settings, send."""
    import time

    started = time.monotonic()
    from conda.base.context import reset_context

    register_settings()
    reset_context()
    status = send_heartbeat(prefix)
    debug("heartbeat for %s: %s after %.3fs", prefix, status, time.monotonic() - started)
    return 0


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
        if command == "config":
            # The command may have just changed anaconda_heartbeat: read the files again.
            from conda.base.context import reset_context

            reset_context()
            for prefix in _known_prefixes():
                sync_heartbeat_script(prefix)
        else:
            sync_heartbeat_script(target_prefix())
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
