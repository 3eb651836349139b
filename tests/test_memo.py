from hookhub.memo import Recent


def _by_length(_key: str, value: bytes) -> int:
    return len(value)


def test_the_least_recent_entry_goes_first_once_the_count_is_reached() -> None:
    recent: Recent[str, bytes] = Recent(max_items=2, max_bytes=1_000, size=_by_length)
    recent.put("a", b"1")
    recent.put("b", b"2")
    assert recent.get("a") == b"1"  # "a" is now the most recent
    recent.put("c", b"3")
    assert recent.get("b") is None
    assert recent.get("a") == b"1"
    assert recent.get("c") == b"3"
    assert len(recent) == 2


def test_entries_go_once_their_bytes_pass_the_bound() -> None:
    recent: Recent[str, bytes] = Recent(max_items=100, max_bytes=10, size=_by_length)
    recent.put("a", b"x" * 4)
    recent.put("b", b"x" * 4)
    recent.put("c", b"x" * 4)  # 12 bytes: "a" goes
    assert recent.get("a") is None
    assert recent.get("b") is not None
    assert recent.get("c") is not None


def test_an_entry_larger_than_the_bound_is_not_kept_and_evicts_nothing() -> None:
    recent: Recent[str, bytes] = Recent(max_items=100, max_bytes=10, size=_by_length)
    recent.put("small", b"x")
    recent.put("huge", b"x" * 11)
    assert recent.get("huge") is None
    assert recent.get("small") == b"x"


def test_putting_a_kept_key_again_keeps_the_first_value_and_the_byte_count_right() -> None:
    recent: Recent[str, bytes] = Recent(max_items=100, max_bytes=8, size=_by_length)
    recent.put("a", b"x" * 4)
    recent.put("a", b"y" * 4)
    recent.put("b", b"x" * 4)  # 8 bytes in all, if "a" was counted once
    assert recent.get("a") == b"x" * 4
    assert recent.get("b") == b"x" * 4
