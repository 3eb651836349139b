"""The ``/xc`` connection string (seed 001): its grammar, pure.

A connection string is whitespace-separated ``key=value`` pairs (spaces, tabs, line breaks)::

    code=K strategy_id=S demo=YES command=sell exchange=binance coinmarket=BTCUSDT amount=0.05

The rules, all strict (a signal moves money, so nothing is guessed):

- every key in :data:`KEYS` is required, each at most once; any other key is an error; keys are
  lower-case as written here;
- ``code``: the owner's code, 1 to 64 URL-safe characters (``A-Z a-z 0-9 _ -``);
- ``strategy_id``: 1 to 64 characters of ``A-Z a-z 0-9 _ . -``;
- ``demo``: ``YES`` or ``NO``, upper-case as the seed writes them (``yes`` is an error);
- ``command``: ``buy`` or ``sell``, lower-case;
- ``exchange``: one of the configured exchanges, lower-case;
- ``coinmarket``: 2 to 32 upper-case letters and digits (``BTCUSDT``);
- ``amount``: a positive decimal in plain notation (``0.05``, ``12``, ``1.500``): no sign, no
  exponent, no ``NaN``/``Infinity``, no leading zeros, at most 18 digits before the point and 18
  after it.

Every problem is reported at once, each with the field it concerns, in one
:class:`~hookhub.errors.SignalParseError`. The code's value is never echoed back (it is a
secret); other bad values are, clipped.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from hookhub.errors import SignalParseError

__all__ = [
    "KEYS",
    "Parsed",
    "Signal",
    "SignalParseError",
    "check_fields",
    "check_signal",
    "format_connection_string",
    "parse_signal",
    "split_pairs",
]

INVALID_SIGNAL = "Invalid connection string"
KEYS = ("code", "strategy_id", "demo", "command", "exchange", "coinmarket", "amount")
MAX_CODE_CHARS = 64
MAX_STRATEGY_ID_CHARS = 64
MIN_COINMARKET_CHARS = 2
MAX_COINMARKET_CHARS = 32
MAX_AMOUNT_INTEGER_DIGITS = 18
MAX_AMOUNT_FRACTION_DIGITS = 18
#: More pairs than this cannot be a valid string (seven keys, each once); the error list stays
#: bounded whatever a caller sends.
MAX_PAIRS = 2 * len(KEYS)
#: Bad values are echoed in error messages up to this many characters.
ECHO_CHARS = 40

Command = Literal["buy", "sell"]
DEMO_VALUES = {"YES": True, "NO": False}
COMMANDS: tuple[Command, ...] = ("buy", "sell")

# re.ASCII: without it \d and \w also match other scripts' digits and letters.
_SEPARATOR = re.compile(r"[ \t\r\n]+")
_CODE = re.compile(rf"[A-Za-z0-9_\-]{{1,{MAX_CODE_CHARS}}}", re.ASCII)
_STRATEGY_ID = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_STRATEGY_ID_CHARS}}}", re.ASCII)
_COINMARKET = re.compile(rf"[A-Z0-9]{{{MIN_COINMARKET_CHARS},{MAX_COINMARKET_CHARS}}}", re.ASCII)
_AMOUNT = re.compile(
    rf"(0|[1-9][0-9]{{0,{MAX_AMOUNT_INTEGER_DIGITS - 1}}})"
    rf"(\.[0-9]{{1,{MAX_AMOUNT_FRACTION_DIGITS}}})?",
    re.ASCII,
)


@dataclass(frozen=True)
class Signal:
    """A valid signal: what the connection string asks the owner's executor to do."""

    code: str
    strategy_id: str
    demo: bool
    command: Command
    exchange: str
    coinmarket: str
    amount: Decimal

    def payload(self, owner: str) -> dict[str, Any]:
        """The ``signal.received`` event payload: JSON values, the amount as a plain string."""
        return {
            "owner": owner,
            "strategy_id": self.strategy_id,
            "demo": self.demo,
            "command": self.command,
            "exchange": self.exchange,
            "coinmarket": self.coinmarket,
            "amount": format(self.amount, "f"),
        }


@dataclass(frozen=True)
class Parsed:
    """What a check found: the signal, or the errors; and the code whenever it was well-formed.

    The code is kept apart so a caller can authenticate before it answers with field errors:
    a caller without a valid code then learns nothing beyond "invalid code".
    """

    code: str | None
    signal: Signal | None
    errors: list[dict[str, str]]

    def result(self) -> Signal:
        """The signal; :class:`SignalParseError` naming every bad field when there is none."""
        if self.signal is None:
            raise SignalParseError(INVALID_SIGNAL, errors=self.errors)
        return self.signal


def _echo(value: str) -> str:
    clipped = value[:ECHO_CHARS]
    return repr(clipped + ("…" if len(value) > len(clipped) else ""))


def _too_many() -> dict[str, str]:
    return {"path": "", "message": f"at most {MAX_PAIRS} key=value pairs"}


def split_pairs(text: str) -> tuple[list[tuple[str, str]] | None, list[dict[str, str]]]:
    """Split ``text`` into ``(key, value)`` pairs, and errors for pieces that are not one.

    A piece without ``=`` is named by its position (``#3``, counting from 1). Past
    :data:`MAX_PAIRS` pieces the pairs are ``None`` and the one error says so.
    """
    pieces = [piece for piece in _SEPARATOR.split(text) if piece]
    if len(pieces) > MAX_PAIRS:
        return None, [_too_many()]
    pairs: list[tuple[str, str]] = []
    errors: list[dict[str, str]] = []
    for position, piece in enumerate(pieces, start=1):
        key, equals, value = piece.partition("=")
        if not equals or not key:
            errors.append(
                {"path": f"#{position}", "message": f"expected key=value, got {_echo(piece)}"}
            )
        else:
            pairs.append((key, value))
    return pairs, errors


def check_fields(pairs: Sequence[tuple[str, str]], *, exchanges: Collection[str]) -> Parsed:
    """Validate ``(key, value)`` pairs (from a string or a JSON object). Never raises."""
    errors: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    repeated: set[str] = set()
    if len(pairs) > MAX_PAIRS:
        return Parsed(code=None, signal=None, errors=[_too_many()])
    for key, value in pairs:
        if key in KEYS and key not in seen:
            seen[key] = value
        elif key not in repeated:  # each unknown or repeated key is reported once
            repeated.add(key)
            errors.append({"path": key[:ECHO_CHARS], "message": _key_problem(key)})
    code = _checked_code(seen, repeated, errors)
    values = _checked_values(seen, repeated, errors, exchanges)
    if errors or code is None or values is None:
        return Parsed(code=code, signal=None, errors=errors)
    return Parsed(code=code, signal=Signal(code=code, **values), errors=[])


def _key_problem(key: str) -> str:
    if key in KEYS:
        return "given more than once"
    if key.lower() in KEYS:
        return f"unknown key; keys are lower-case ({key.lower()})"
    return f"unknown key; known keys: {', '.join(KEYS)}"


def _missing(
    key: str, seen: dict[str, str], repeated: set[str], errors: list[dict[str, str]]
) -> bool:
    if key in repeated:
        return True  # already reported
    if key not in seen:
        errors.append({"path": key, "message": "required"})
        return True
    if seen[key] == "":
        errors.append({"path": key, "message": "must not be empty"})
        return True
    return False


def _checked_code(
    seen: dict[str, str], repeated: set[str], errors: list[dict[str, str]]
) -> str | None:
    if _missing("code", seen, repeated, errors):
        return None
    code = seen["code"]
    if not _CODE.fullmatch(code):
        # The value is not echoed: a code is a secret, even a mistyped one.
        errors.append(
            {
                "path": "code",
                "message": f"must be 1 to {MAX_CODE_CHARS} characters of A-Z a-z 0-9 _ -",
            }
        )
        return None
    return code


def _checked_values(
    seen: dict[str, str],
    repeated: set[str],
    errors: list[dict[str, str]],
    exchanges: Collection[str],
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    before = len(errors)

    def bad(key: str, message: str) -> None:
        errors.append({"path": key, "message": f"{message}, got {_echo(seen[key])}"})

    if not _missing("strategy_id", seen, repeated, errors):
        if _STRATEGY_ID.fullmatch(seen["strategy_id"]):
            values["strategy_id"] = seen["strategy_id"]
        else:
            bad(
                "strategy_id",
                f"must be 1 to {MAX_STRATEGY_ID_CHARS} characters of A-Z a-z 0-9 _ . -",
            )
    if not _missing("demo", seen, repeated, errors):
        if seen["demo"] in DEMO_VALUES:
            values["demo"] = DEMO_VALUES[seen["demo"]]
        else:
            bad("demo", "must be YES or NO")
    if not _missing("command", seen, repeated, errors):
        if seen["command"] in COMMANDS:
            values["command"] = seen["command"]
        else:
            bad("command", "must be buy or sell")
    if not _missing("exchange", seen, repeated, errors):
        if seen["exchange"] in exchanges:
            values["exchange"] = seen["exchange"]
        else:
            bad("exchange", f"must be one of {', '.join(sorted(exchanges))}")
    if not _missing("coinmarket", seen, repeated, errors):
        if _COINMARKET.fullmatch(seen["coinmarket"]):
            values["coinmarket"] = seen["coinmarket"]
        else:
            bad(
                "coinmarket",
                f"must be {MIN_COINMARKET_CHARS} to {MAX_COINMARKET_CHARS} upper-case letters "
                "and digits",
            )
    if not _missing("amount", seen, repeated, errors):
        amount = seen["amount"]
        if not _AMOUNT.fullmatch(amount):
            bad(
                "amount",
                "must be a decimal like 0.05 (no sign, exponent or leading zeros; at most "
                f"{MAX_AMOUNT_INTEGER_DIGITS} digits before the point and "
                f"{MAX_AMOUNT_FRACTION_DIGITS} after)",
            )
        elif Decimal(amount) <= 0:
            bad("amount", "must be greater than 0")
        else:
            values["amount"] = Decimal(amount)
    return values if len(errors) == before else None


def check_signal(text: str, *, exchanges: Collection[str]) -> Parsed:
    """Check a connection string. Never raises; see :meth:`Parsed.result`."""
    pairs, errors = split_pairs(text)
    if pairs is None:
        return Parsed(code=None, signal=None, errors=errors)
    parsed = check_fields(pairs, exchanges=exchanges)
    if not errors:
        return parsed
    return Parsed(code=parsed.code, signal=None, errors=errors + parsed.errors)


def parse_signal(text: str, *, exchanges: Collection[str]) -> Signal:
    """Parse a connection string; :class:`SignalParseError` names every bad field at once."""
    return check_signal(text, exchanges=exchanges).result()


def format_connection_string(
    code: str,
    *,
    strategy_id: str = "MyStrategy",
    demo: bool = True,
    command: Command = "sell",
    exchange: str = "binance",
    coinmarket: str = "BTCUSDT",
    amount: Decimal | str = "0.05",
) -> str:
    """The connection string the seed's bot sends its user: their code in the seed's example."""
    shown_amount = format(amount, "f") if isinstance(amount, Decimal) else amount
    return (
        f"code={code} strategy_id={strategy_id} demo={'YES' if demo else 'NO'} "
        f"command={command} exchange={exchange} coinmarket={coinmarket} amount={shown_amount}"
    )
