"""What the conda plugin sends where: rules that need no conda.

The conda glue (:mod:`.plugin`) asks these functions; keeping them here lets
them be tested everywhere, with or without a conda.
"""

import os

from .grammar import MULTI_PREFIXES, SINGLE_PREFIXES, VERSION_PREFIX

SETTING = "anaconda_anon_usage"
HOSTS_SETTING = "anaconda_anon_usage_hosts"
HEARTBEAT_SETTING = "anaconda_heartbeat"

HEARTBEAT_PATH = "noarch/activate-0.0.0-0.conda"
HEARTBEAT_TIMEOUT = 0.75  # seconds, everything included
HEARTBEAT_SCRIPT = "anaconda_anon_usage_heartbeat.sh"

_TRUE_WORDS = ("true", "yes", "on", "1", "y")
_FALSE_WORDS = ("false", "no", "off", "0", "n", "")


def as_bool(value):
    """A setting's value as a boolean, or ``None`` when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


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


def heartbeat_url(setting, first_channel_noarch_url):
    """Where the heartbeat goes: the URL the setting names, else the first
    channel's heartbeat file. ``None`` when the heartbeat is off."""
    flag = as_bool(setting)
    if flag is False or setting is None:
        return None
    if flag is None:
        text = str(setting).strip()
        return text if "://" in text else None
    if not first_channel_noarch_url:
        return None
    return first_channel_noarch_url.rstrip("/") + "/" + HEARTBEAT_PATH.split("/", 1)[1]


def heartbeat_script():
    """The POSIX-shell activation script that sends the heartbeat.

    conda sources it in the user's shell after ``conda activate``; it starts
    the heartbeat as a detached background process with every output
    discarded, so activation is never delayed and nothing reaches the
    terminal or the shell's ``eval``.
    """
    return (
        "# Written by anaconda-anon-usage while the conda setting anaconda_heartbeat is on,\n"
        "# and removed when it is off. At activation it starts one background HEAD\n"
        "# request (at most 0.75 s) that carries the anonymous usage tokens.\n"
        'if [ -n "${CONDA_PYTHON_EXE:-}" ] && [ -n "${CONDA_PREFIX:-}" ]; then\n'
        '    ("$CONDA_PYTHON_EXE" -m anaconda_anon_usage.heartbeat --prefix "$CONDA_PREFIX"'
        " </dev/null >/dev/null 2>&1 &)\n"
        "fi\n"
    )


def heartbeat_script_path(prefix):
    return os.path.join(prefix, "etc", "conda", "activate.d", HEARTBEAT_SCRIPT)
