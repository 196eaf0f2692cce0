"""Host fingerprints: tell whether a home directory moved to another machine.

The client token is tied to the machine it was made on by a fingerprint kept
beside it in ``aau_token_host``; it is never sent. The format is the one
anaconda-anon-usage writes, so that users switching in either direction keep
their token: the 48-bit hardware address that ``uuid.getnode`` reports for
this host, as ``int.to_bytes(6, sys.byteorder)``, URL-safe base64 (8
characters).

A saved fingerprint matches when it is the address of *any* network interface
of this host, not only the one preferred today: a laptop that moves from Wi-Fi
to a docked Ethernet port is the same machine. A cloned VM or container gets
new addresses, so nothing matches and the token is made anew.

On Linux the addresses are read from ``/sys/class/net`` (a few small reads)
instead of calling ``uuid``, whose first call costs far more than the rest of
the token computation. The preferred address is the one libuuid (and so
``uuid.getnode``) picks: the first interface, in kernel order, that has an IPv4
route and a non-zero hardware address.
"""

import os
import sys

from ._storage import read_bytes
from .grammar import ALPHABET_SET, encode_token

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
