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
- Every failure is reported as a state, never raised.
"""

import os

from ._state import debug

MAX_READ = 4096

OK = "ok"
MISSING = "missing"
EMPTY = "empty"
UNREADABLE = "unreadable"
NOT_A_FILE = "not a regular file"
NOT_TEXT = "not text"

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


def read_bytes(path, limit=MAX_READ):
    """At most ``limit`` bytes of the file at ``path``: ``(data, state)``.

    Opened non-blocking: a FIFO reads as empty instead of waiting for a
    writer, a device such as ``/dev/zero`` yields ``limit`` bytes at most,
    and a directory is reported as such. ``data`` is ``None`` unless
    ``state`` is ``OK``. (No ``fstat``: every system call counts here.)
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None, MISSING
    except OSError as exc:
        return None, _failure(exc)
    try:
        return os.read(fd, limit), OK
    except IsADirectoryError:
        return None, NOT_A_FILE
    except OSError as exc:
        return None, _failure(exc)
    finally:
        os.close(fd)


def _failure(exc):
    return "%s (%s)" % (UNREADABLE, exc.strerror or type(exc).__name__)


def read_words(path):
    """Read the first non-blank line of ``path``.

    Returns ``(words, state)``: when ``state`` is ``OK``, ``words`` holds the
    line's first word and, if there is one, its second; otherwise ``None``.
    The caller validates the words.
    """
    data, state = read_bytes(path)
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
    temp = "%s.%s.tmp" % (path, os.urandom(6).hex())
    try:
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
