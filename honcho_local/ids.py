"""Public identifiers: 21-character nanoid-style ids, and validation of user-supplied ids."""

from __future__ import annotations

import base64
import os
import re
import threading

from honcho_local.errors import InvalidInput

_NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,512}")
NANOID_LENGTH = 21


_POOL_BYTES = 65536
_pool = bytearray()
_pool_lock = threading.Lock()
os.register_at_fork(after_in_child=_pool.clear)  # a forked child must not hand out its parent's ids


def _draw(n: int) -> bytes:
    """`n` bytes of OS randomness (as `secrets`), from a pool refilled 64 KiB at a time: one getrandom
    call per id, or per batch, put 4% (single messages) to 6% (100-message batches) of the writer
    thread's wall time there (py-spy), as the call gives up the GIL and the writer waits to get it back."""
    with _pool_lock:
        if len(_pool) < n:
            _pool[:] = os.urandom(max(_POOL_BYTES, n))
        raw = bytes(_pool[-n:])
        del _pool[-n:]
    return raw


def new_id() -> str:
    """A random 21-character id over a 64-symbol URL-safe alphabet (126 bits)."""
    # 16 random bytes in URL-safe base64 are 21 symbols of 6 bits and one of 2: keep the 21 (126 bits).
    # The same alphabet as nanoid's; a tenth of the cost of a per-byte join, and every message needs one.
    return base64.urlsafe_b64encode(_draw(16))[:NANOID_LENGTH].decode()


def new_ids(n: int) -> list[str]:
    """`n` ids like `new_id`'s from one draw and one base64 pass: 18 bytes are 24 URL-safe symbols with
    no padding, of which each id keeps 21 (126 bits). A 100-message batch drew 100 ids one by one in
    the writer thread (6.5% of its time on batches, py-spy)."""
    if n <= 0:
        return []
    text = base64.urlsafe_b64encode(_draw(18 * n)).decode()
    return [text[i:i + NANOID_LENGTH] for i in range(0, 24 * n, 24)]


def check_name(value: object, what: str) -> str:
    """Validate a user-supplied resource id (workspace, peer, session): [a-zA-Z0-9_-], 1-512 chars."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string")
    if not _NAME_RE.fullmatch(value):
        if not value:
            raise InvalidInput(f"{what} must not be empty")
        if len(value) > 512:
            raise InvalidInput(f"{what} must be at most 512 characters")
        raise InvalidInput(f"{what} may contain only letters, digits, '_' and '-': {value[:64]!r}")
    return value
