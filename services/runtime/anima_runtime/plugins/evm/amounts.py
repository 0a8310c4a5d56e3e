"""Reading a transfer request out of a message, and writing amounts, without a model.

"send 0.01 ETH to 0xabc..." / "transfer 5 ATT to 0xabc...": an amount (decimal, at
most the token's decimals), a symbol the runtime knows, and a 0x address (EIP-55
checked when mixed case). Anything else is a clear refusal, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

from anima_chain_api.errors import InvalidChainRequest
from anima_chain_api.types import UINT256_MAX, parse_address

_REQUEST = re.compile(
    r"(?<![\w.])(?P<amount>\d{1,80}(?:\.\d{1,40})?)\s*(?P<symbol>[A-Za-z][A-Za-z0-9]{0,11})\s+to\s+(?P<to>0x\w+)",
    re.IGNORECASE,
)


class TransferNotUnderstood(ValueError):
    """The message names no amount, token and address in a form this plugin reads."""


@dataclass(frozen=True, slots=True)
class TransferRequest:
    amount_text: str
    symbol: str  # as written, upper-cased
    to: bytes


def read_transfer(text: str) -> TransferRequest:
    found = _REQUEST.search(text)
    if found is None:
        raise TransferNotUnderstood(
            "say the amount, the token and the recipient, e.g. 'send 0.01 ETH to 0x...'"
        )
    try:
        to = parse_address(found["to"], "recipient")
    except InvalidChainRequest as exc:
        raise TransferNotUnderstood(exc.message) from None
    return TransferRequest(found["amount"], found["symbol"].upper(), to)


def to_base_units(amount_text: str, decimals: int) -> int:
    """'0.01' with 18 decimals -> 10**16; more fractional digits than decimals, zero, or a
    value past uint256 is refused."""
    # Decimal's default context keeps 28 digits: a uint256 has 78, so exact arithmetic
    # needs a wider one (found by tests/fuzz/test_chain_inputs.py).
    with localcontext() as exact:
        exact.prec = 200
        try:
            amount = Decimal(amount_text)
        except InvalidOperation:
            raise TransferNotUnderstood(f"{amount_text!r} is not an amount") from None
        units = amount.scaleb(decimals)
    if units != units.to_integral_value():
        raise TransferNotUnderstood(f"{amount_text} has more than {decimals} decimal places")
    value = int(units)
    if value <= 0:
        raise TransferNotUnderstood("the amount must be more than zero")
    if value > UINT256_MAX:
        raise TransferNotUnderstood("the amount is out of range")
    return value


def format_units(value: int, decimals: int, symbol: str) -> str:
    whole, fraction = divmod(value, 10**decimals)
    digits = f"{fraction:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{whole}.{digits} {symbol}" if digits else f"{whole} {symbol}"
