"""Signal codes: how they are made, stored for lookup, and compared.

A code is the only credential of ``POST /xc``: whoever knows it can send signals as its owner.
So it is 32 random bytes (256 bits, :func:`secrets.token_urlsafe`, 43 URL-safe characters);
it is looked up by its SHA-256 and then compared with :func:`hmac.compare_digest`, so neither
step's timing depends on how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_BYTES = 32


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def code_hash(code: str) -> str:
    """The lookup key of a code: SHA-256, hex."""
    return hashlib.sha256(code.encode()).hexdigest()


def same_code(stored: str, given: str) -> bool:
    return hmac.compare_digest(stored.encode(), given.encode())
