"""Reading fields of JSON-RPC objects (Ethereum's hex encoding) into ints and bytes.

Every malformed value raises MalformedChainData naming the field, so a parser
built on these never lets a KeyError, TypeError or ValueError escape. Quantities
may carry leading zeros (some nodes send them); that is harmless because each
value is re-encoded in RLP and bound by a hash the caller trusts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from anima_verify.chain.errors import MalformedChainData, shown

_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")  # what bytes.fromhex would also accept, less whitespace


def mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedChainData(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def sequence(value: object, what: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise MalformedChainData(f"{what} must be a JSON array, got {type(value).__name__}")
    return value


def field(obj: Mapping[str, Any], name: str, what: str) -> Any:
    try:
        return obj[name]
    except KeyError:
        raise MalformedChainData(f"{what} has no {name!r}") from None


def _hex_digits(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise MalformedChainData(f"{what} must be a 0x-prefixed hex string, got {shown(value)}")
    digits = value[2:]
    if not _HEX_DIGITS.fullmatch(digits):
        raise MalformedChainData(f"{what} is not hex: {shown(value)}")
    return digits


def quantity(value: object, what: str, *, bits: int = 256) -> int:
    """A hex quantity ("0x1a") as an int below 2**bits."""
    digits = _hex_digits(value, what)
    if not digits or len(digits) > bits // 4 + 8:  # room for leading zeros, not for megabytes
        raise MalformedChainData(f"{what} is not a hex quantity: {shown(value)}")
    number = int(digits, 16)
    if number >= 1 << bits:
        raise MalformedChainData(f"{what} exceeds {bits} bits: {shown(value)}")
    return number


def data(value: object, what: str, *, size: int | None = None) -> bytes:
    """Hex data ("0x" + an even number of digits), of exactly `size` bytes if given."""
    digits = _hex_digits(value, what)
    if len(digits) % 2:
        raise MalformedChainData(f"{what} has an odd number of hex digits: {shown(value)}")
    raw = bytes.fromhex(digits)
    if size is not None and len(raw) != size:
        raise MalformedChainData(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def quantity_field(obj: Mapping[str, Any], name: str, what: str, *, bits: int = 256) -> int:
    return quantity(field(obj, name, what), f"{what}.{name}", bits=bits)


def data_field(obj: Mapping[str, Any], name: str, what: str, *, size: int | None = None) -> bytes:
    return data(field(obj, name, what), f"{what}.{name}", size=size)


def slot_key(value: object, what: str) -> bytes:
    """A storage slot as eth_getProof names it (a quantity or 32-byte data), as 32 bytes."""
    return quantity(value, what).to_bytes(32, "big")
