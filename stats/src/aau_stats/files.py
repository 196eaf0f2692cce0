"""Writing what the operator asked for to a path: whole or not at all, and never over what is not a file.

:func:`write_atomically` writes a regular file through a temporary file in
the same folder and a rename, so that a reader sees the old file or the new
one, never half of one. A path that is a device, a FIFO or a socket
(``--out /dev/null``, ``/dev/stdout``) is written into as it is: renaming
over it would replace ``/dev/null`` with a file. A symbolic link is
followed. Every failure is an :class:`OutputError` of one line, and leaves
no temporary file behind.
"""

import os
import stat
import tempfile
from pathlib import Path

USER_FILE_LIMIT = 16 * 1024 * 1024  # bytes of a file the user names (--ips, --advisories)


def read_user_file(path, limit=USER_FILE_LIMIT):
    """The text of a file the user named, read without blocking (a FIFO without a writer reads
    as empty) and at most ``limit`` bytes (``/dev/zero`` cannot fill the memory).

    Raises FileNotFoundError, OSError, or ValueError with the reason (too large, not UTF-8).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        chunks, size = [], 0
        while size <= limit:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise ValueError("larger than %d MiB" % (limit >> 20))
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


class OutputError(Exception):
    """The output could not be written; the message is one line naming the path."""


def _reason(exc):
    return exc.strerror or type(exc).__name__


def write_atomically(path, data):
    """Write ``data`` (text or bytes) to ``path``; return the path written."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError("%s: cannot write there (%s)" % (path, _reason(exc))) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError("%s: is a directory; name a file to write" % path)
    if info is not None and not stat.S_ISREG(info.st_mode):
        try:
            with open(path, "wb") as handle:
                handle.write(payload)
        except OSError as exc:
            raise OutputError("%s: cannot write (%s)" % (path, _reason(exc))) from None
        return path
    target = path.resolve() if path.is_symlink() else path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix="." + target.name + ".", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError("%s: cannot write in %s (%s)" % (path, target.parent, _reason(exc))) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644 if info is None else stat.S_IMODE(info.st_mode))  # a report is for sharing
        os.replace(temp, target)
    except OSError as exc:
        raise OutputError("%s: cannot write (%s); the previous file, if any, is as it was"
                          % (path, _reason(exc))) from None
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)
    return path
