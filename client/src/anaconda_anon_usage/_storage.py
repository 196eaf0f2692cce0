"""Token files: bounded reads and atomic, link-safe writes.

Rules every token file obeys:

- A read takes at most ``MAX_READ`` bytes and never blocks: a FIFO reads as
  empty, a device such as ``/dev/zero`` as ``MAX_READ`` bytes that are no
  token, a directory as no file.
- Only the first word of the first non-blank line counts.
- A write never goes through whatever is at the path: the token is written to
  a fresh temporary file beside it, which is then hard-linked into place (a
  new file: the first process wins and the others adopt its token) or renamed
  over the old entry (a replacement: a symlink is replaced, its target is
  never touched).
- A file is replaced only after it was read and found to hold no token
  (``REPLACEABLE``): an error while reading (EIO, EMFILE, EACCES) says
  nothing about the token, so the file is left as it is.
- Racing processes that replace the same file agree: each locks the file it
  read, and only one that finds the same file with the same content under
  the lock replaces it; the others adopt what is there by then.
- The client token file is the user's alone: a looser mode is tightened.
- Temporary files that a killed process left beside a token file are removed
  by the next write there.
- Every failure is reported as a state, never raised.
"""

import os
import stat

from ._state import debug

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
