"""Tables of the signal webhook (seed 001's ``/xc``): per-owner signal codes.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hookhub.store.models import ID_CHARS, Base, UTCDateTime

#: Owners are hub users (``user:<owner>`` is their channel), so the hub's bound applies.
OWNER_CHARS = 128
CODE_CHARS = 64
CODE_HASH_CHARS = 64  # SHA-256, hex


class SignalCode(Base):
    """An owner's ``/xc`` code. One per owner; revoking deletes it, so it is unknown at once.

    The code itself is kept, because the owner is shown it again (the connection string); it is
    looked up by its SHA-256, so the index comparison's timing never depends on the code's own
    characters.
    """

    __tablename__ = "signal_codes"

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_CHARS), unique=True)
    code: Mapped[str] = mapped_column(String(CODE_CHARS), unique=True)
    code_hash: Mapped[str] = mapped_column(String(CODE_HASH_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
