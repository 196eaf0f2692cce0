"""Names that anaconda-anon-usage's own tests and scripts reach for.

Kept so that code written against that package keeps working; new code uses
:mod:`anaconda_anon_usage.tokens` directly.
"""

from ._state import PROCESS
from .tokens import random_token


def _cache_clear(*names):
    """Forget computed tokens: all of them, or those of the named functions."""
    with PROCESS.lock:
        if not names:
            PROCESS.clear()
            return
        for key in [k for k in PROCESS.values if (k[0] if isinstance(k[0], str) else None) in names]:
            del PROCESS.values[key]


def _random_token(what="random"):
    """A fresh random token (``what`` is ignored; kept for compatibility)."""
    return random_token()
