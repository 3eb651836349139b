"""The /xc connection string grammar: table-driven, pure, plus random garbage."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from hookhub.errors import SignalParseError
from hookhub.signals.parser import (
    KEYS,
    MAX_PAIRS,
    Signal,
    check_signal,
    format_connection_string,
    parse_signal,
)

EXCHANGES = ("binance", "bybit", "kucoin", "okx")
CODE = "Zx3_k-9QeLw0aBcDeFgHiJkLmNoPqRsTuVwXyZ01234"
SEED_EXAMPLE = (
    f"code={CODE} strategy_id=MyStrategy demo=YES command=sell exchange=binance "
    "coinmarket=BTCUSDT amount=0.05"
)
GOOD = {
    "code": CODE,
    "strategy_id": "MyStrategy",
    "demo": "YES",
    "command": "sell",
    "exchange": "binance",
    "coinmarket": "BTCUSDT",
    "amount": "0.05",
}


def text(**changes: str | None) -> str:
    """The good string with some values changed, or dropped when given as None."""
    fields = {**GOOD, **changes}
    return " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)


def problems(source: str) -> list[dict[str, str]]:
    with pytest.raises(SignalParseError) as raised:
        parse_signal(source, exchanges=EXCHANGES)
    assert raised.value.status_code == 400
    assert raised.value.message == "Invalid connection string"
    assert raised.value.errors is not None
    return raised.value.errors


def paths(source: str) -> list[str]:
    return [error["path"] for error in problems(source)]


def test_the_seed_example_parses() -> None:
    assert parse_signal(SEED_EXAMPLE, exchanges=EXCHANGES) == Signal(
        code=CODE,
        strategy_id="MyStrategy",
        demo=True,
        command="sell",
        exchange="binance",
        coinmarket="BTCUSDT",
        amount=Decimal("0.05"),
    )


def test_order_and_whitespace_do_not_matter() -> None:
    source = (
        "\n  amount=12\tcoinmarket=ETHUSDT  command=buy\r\nexchange=okx demo=NO "
        f"strategy_id=s.1-x_y code={CODE}\n"
    )
    signal = parse_signal(source, exchanges=EXCHANGES)
    assert (signal.command, signal.demo, signal.exchange, signal.amount) == (
        "buy",
        False,
        "okx",
        Decimal(12),
    )


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0.05", "0.05"),
        ("12", "12"),
        ("1.500", "1.500"),
        ("0.0000001", "0.0000001"),  # str(Decimal) would say 1E-7
        ("9" * 18 + "." + "9" * 18, "9" * 18 + "." + "9" * 18),
    ],
)
def test_amounts_in_the_payload_are_plain_strings(amount: str, shown: str) -> None:
    signal = parse_signal(text(amount=amount), exchanges=EXCHANGES)
    assert signal.payload("u-1") == {
        "owner": "u-1",
        "strategy_id": "MyStrategy",
        "demo": True,
        "command": "sell",
        "exchange": "binance",
        "coinmarket": "BTCUSDT",
        "amount": shown,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "has?question"),
        ("code", "a" * 65),
        ("code", "ключ"),
        ("code", "a.b"),
        ("strategy_id", "a" * 65),
        ("strategy_id", "x/y"),
        ("strategy_id", "<script>"),
        ("demo", "yes"),
        ("demo", "Yes"),
        ("demo", "TRUE"),
        ("demo", "1"),
        ("command", "BUY"),
        ("command", "Sell"),
        ("command", "hold"),
        ("exchange", "Binance"),
        ("exchange", "ftx"),
        ("coinmarket", "btcusdt"),
        ("coinmarket", "BTC-USDT"),
        ("coinmarket", "BTC/USDT"),
        ("coinmarket", "B"),
        ("coinmarket", "A" * 33),
        ("coinmarket", "\uff22\uff34\uff23"),  # full-width letters are not A-Z
        ("amount", "0"),
        ("amount", "0.0"),
        ("amount", "-1"),
        ("amount", "+1"),
        ("amount", "1e3"),
        ("amount", "1E-3"),
        ("amount", "NaN"),
        ("amount", "Infinity"),
        ("amount", "inf"),
        ("amount", ".5"),
        ("amount", "5."),
        ("amount", "05"),
        ("amount", "1,5"),
        ("amount", "1_000"),
        ("amount", "١٢"),  # Arabic-Indic digits: Decimal takes them, the grammar does not
        ("amount", "1" * 19),
        ("amount", "0." + "1" * 19),
        ("amount", "0x10"),
    ],
)
def test_each_bad_value_is_named(field: str, value: str) -> None:
    errors = problems(text(**{field: value}))
    assert [error["path"] for error in errors] == [field]


def test_a_bad_code_is_not_echoed() -> None:
    [error] = problems(text(code="secret-ish.value"))
    assert "secret-ish" not in error["message"]


def test_other_bad_values_are_echoed_clipped() -> None:
    [error] = problems(text(strategy_id="x/" + "y" * 100))
    assert "'x/yyy" in error["message"]
    assert "y" * 60 not in error["message"]


@pytest.mark.parametrize("key", KEYS)
def test_every_key_is_required(key: str) -> None:
    assert problems(text(**{key: None})) == [{"path": key, "message": "required"}]


@pytest.mark.parametrize("key", KEYS)
def test_an_empty_value_is_named(key: str) -> None:
    assert problems(text(**{key: ""})) == [{"path": key, "message": "must not be empty"}]


@pytest.mark.parametrize("key", KEYS)
def test_a_repeated_key_is_an_error_even_with_the_same_value(key: str) -> None:
    errors = problems(f"{text()} {key}={GOOD[key]} {key}={GOOD[key]}")
    assert errors == [{"path": key, "message": "given more than once"}]


def test_unknown_keys_are_errors() -> None:
    errors = problems(f"{text()} price=100 price=101 Amount=3")
    assert errors[0] == {
        "path": "price",
        "message": "unknown key; known keys: " + ", ".join(KEYS),
    }
    assert errors[1] == {"path": "Amount", "message": "unknown key; keys are lower-case (amount)"}
    assert len(errors) == 2


def test_pieces_that_are_not_pairs_are_named_by_position() -> None:
    errors = problems(f"hello {text()} =x")
    assert [error["path"] for error in errors] == ["#1", "#9"]


def test_a_value_may_not_hold_another_equals_sign() -> None:
    assert paths(text(coinmarket="BTC=USDT")) == ["coinmarket"]


def test_every_problem_is_reported_at_once() -> None:
    source = f"code={CODE} demo=maybe command=hold exchange=ftx coinmarket=btc amount=-1 x=1"
    assert sorted(paths(source)) == sorted(
        ["x", "strategy_id", "demo", "command", "exchange", "coinmarket", "amount"]
    )


def test_an_empty_string_names_every_key() -> None:
    assert paths("") == list(KEYS)
    assert paths(" \n\t ") == list(KEYS)


def test_too_many_pieces_is_one_error() -> None:
    assert problems(" ".join(["a=1"] * (MAX_PAIRS + 1))) == [
        {"path": "", "message": f"at most {MAX_PAIRS} key=value pairs"}
    ]


def test_other_whitespace_does_not_separate() -> None:
    # A no-break space is not a separator: the value around it is simply wrong.
    assert paths(text(strategy_id="My\u00a0Strategy")) == ["strategy_id"]


def test_the_exchange_list_is_the_callers() -> None:
    assert parse_signal(text(exchange="deribit"), exchanges=["deribit"]).exchange == "deribit"
    [error] = problems(text(exchange="kraken"))
    assert error["message"].startswith("must be one of binance, bybit, kucoin, okx")


def test_check_keeps_a_well_formed_code_beside_field_errors() -> None:
    parsed = check_signal(text(amount="-1"), exchanges=EXCHANGES)
    assert (parsed.code, parsed.signal) == (CODE, None)
    assert check_signal(text(code="bad!code"), exchanges=EXCHANGES).code is None
    assert check_signal(f"{text()} code={CODE}", exchanges=EXCHANGES).code is None


def test_the_connection_string_is_the_seed_example_with_the_users_code() -> None:
    assert format_connection_string(CODE) == SEED_EXAMPLE
    assert parse_signal(format_connection_string(CODE), exchanges=EXCHANGES).code == CODE


def test_formatted_strings_parse_back() -> None:
    source = format_connection_string(
        CODE,
        strategy_id="grid-2",
        demo=False,
        command="buy",
        exchange="okx",
        coinmarket="ETHBTC",
        amount=Decimal("0.00000010"),
    )
    assert "amount=0.00000010" in source
    signal = parse_signal(source, exchanges=EXCHANGES)
    assert (signal.strategy_id, signal.demo, signal.amount) == ("grid-2", False, Decimal("1E-7"))


ALPHABET = "= \t\n\r\x00\x0b\u00a0\u2028é€😀-_.+eE0123456789abcXYZ" + "".join(KEYS)


def _garbage(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randrange(0, 12)):
        choice = rng.random()
        if choice < 0.4:
            key = rng.choice(KEYS)
            value = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 8)))
            pieces.append(f"{key}={value}")
        elif choice < 0.6:
            pieces.append(f"{rng.choice(KEYS)}={GOOD[rng.choice(KEYS)]}")
        else:
            pieces.append("".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 20))))
    return rng.choice([" ", "\n", "=", ""]).join(pieces)


def outcome(source: str) -> Signal | list[dict[str, str]]:
    """The signal, or the errors of the SignalParseError; any other exception propagates."""
    try:
        return parse_signal(source, exchanges=EXCHANGES)
    except SignalParseError as exc:
        return exc.errors or []


def test_random_garbage_only_ever_raises_signal_parse_error() -> None:
    rng = random.Random(20261202)  # fixed: a failure is reproducible
    sources = [_garbage(rng) for _ in range(5000)]
    # Mutations of good strings keep the success branch exercised too.
    for _ in range(2000):
        fields = dict(GOOD)
        key = rng.choice(KEYS)
        fields[key] = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 6)))
        sources.append(" ".join(f"{k}={v}" for k, v in fields.items()))
    parsed = 0
    for source in sources:
        result = outcome(source)
        if isinstance(result, Signal):
            parsed += 1
            assert result.amount > 0
            continue
        assert result, source
        for error in result:
            assert set(error) == {"path", "message"}
            assert isinstance(error["path"], str)
            assert isinstance(error["message"], str)
    assert 0 < parsed < len(sources)
