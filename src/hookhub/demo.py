"""The local demo mode of ``make run``: a generated admin token kept in a private file.

Only ``hookhub serve --demo`` uses this. The token is generated once, written to a file only
its owner can read (mode 0600), shown on the terminal when it is made, and never logged.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hookhub.tokens import generate_token

PRIVATE_FILE_MODE = 0o600


def load_or_create_admin_token(path: Path) -> tuple[str, bool]:
    """The demo admin token from ``path``, creating it when missing; ``(token, created)``."""
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # Someone widened the file: narrow it again rather than serve with a readable token.
            path.chmod(PRIVATE_FILE_MODE)
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, False
    token = generate_token()
    # O_EXCL on a fresh name, then rename: the token never sits in a file with wider rights.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    temporary.replace(path)
    return token, True
