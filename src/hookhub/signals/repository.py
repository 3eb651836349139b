"""Signal codes in the store. Each method opens and closes its own session."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from hookhub.events import UtcDatetime, new_id
from hookhub.signals.codes import code_hash, same_code
from hookhub.store.engine import Database, runs_to_end
from hookhub.store.signal_tables import SignalCode


class CodeRecord(BaseModel):
    owner: str
    code: str
    created_at: UtcDatetime


def _record(row: SignalCode) -> CodeRecord:
    return CodeRecord(owner=row.owner, code=row.code, created_at=row.created_at)


@runs_to_end
class SignalCodeRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, owner: str) -> CodeRecord | None:
        async with self._db.session() as session:
            row = await session.scalar(select(SignalCode).where(SignalCode.owner == owner))
            return _record(row) if row is not None else None

    async def add(self, owner: str, code: str, *, now: datetime) -> CodeRecord | None:
        """Store ``owner``'s code; ``None`` when a unique constraint refused it.

        That is: the owner already has a code (a concurrent request made it first), or, with
        odds of about 2^-256, the code is taken. The caller looks again and retries.
        """
        row = SignalCode(
            id=new_id(now), owner=owner, code=code, code_hash=code_hash(code), created_at=now
        )
        try:
            async with self._db.session() as session:
                session.add(row)
        except IntegrityError:
            return None
        return _record(row)

    async def find(self, code: str) -> CodeRecord | None:
        """The code's record, when ``code`` is a live code."""
        async with self._db.session() as session:
            row = await session.scalar(
                select(SignalCode).where(SignalCode.code_hash == code_hash(code))
            )
            if row is None or not same_code(row.code, code):
                return None
            return _record(row)

    async def delete(self, owner: str) -> bool:
        async with self._db.session() as session:
            result = await session.execute(delete(SignalCode).where(SignalCode.owner == owner))
            return bool(result.rowcount)  # type: ignore[attr-defined]
