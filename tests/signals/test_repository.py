"""Signal codes in the store, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from hookhub.signals.codes import code_hash, new_code, same_code
from hookhub.signals.repository import SignalCodeRepository
from hookhub.store.engine import Database

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_codes_are_random_and_url_safe() -> None:
    codes = {new_code() for _ in range(100)}
    assert len(codes) == 100
    assert all(len(code) == 43 and code.isascii() for code in codes)
    assert all(
        set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for code in codes
    )
    assert code_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert same_code("abc", "abc")
    assert not same_code("abc", "abd")


async def test_add_find_delete(db: Database) -> None:
    codes = SignalCodeRepository(db)
    code = new_code()
    added = await codes.add("u-1", code, now=NOW)
    assert added is not None
    assert (added.owner, added.code, added.created_at) == ("u-1", code, NOW)
    assert await codes.get("u-1") == added
    assert await codes.find(code) == added
    assert await codes.find(code[:-1]) is None
    assert await codes.find("") is None
    assert await codes.delete("u-1") is True
    assert await codes.find(code) is None
    assert await codes.delete("u-1") is False


async def test_a_unique_constraint_refusal_is_none(db: Database) -> None:
    codes = SignalCodeRepository(db)
    code = new_code()
    assert await codes.add("u-1", code, now=NOW) is not None
    assert await codes.add("u-1", new_code(), now=NOW) is None  # one code per owner
    assert await codes.add("u-2", code, now=NOW) is None  # one owner per code
    assert await codes.get("u-2") is None
