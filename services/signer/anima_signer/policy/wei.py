"""Amounts for CEL rules: wei as decimal strings, compared by these functions.

CEL integers are signed 64-bit and wei needs 256 bits, so amounts reach rules
as decimal strings. A malformed amount raises (the rule then fails closed: a
deny rule that errs denies, an allow rule that errs does not allow).
"""

from __future__ import annotations

from collections.abc import Callable

from anima_signer_api.types import UINT256_MAX


def parse(value: object) -> int:
    """A decimal string (or a CEL int) as an amount in [0, 2**256)."""
    if isinstance(value, bool):
        raise ValueError("an amount is not a bool")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 78:
        amount = int(value)
    else:
        raise ValueError(f"not a decimal amount: {str(value)[:80]!r}")
    if not 0 <= amount <= UINT256_MAX:
        raise ValueError("amount out of the uint256 range")
    return amount


def _compare(test: Callable[[int, int], bool]) -> Callable[[object, object], bool]:
    def compare(a: object, b: object) -> bool:
        return test(parse(a), parse(b))

    return compare


def _add(a: object, b: object) -> str:
    total = parse(a) + parse(b)
    if total > UINT256_MAX:
        raise ValueError("sum overflows uint256")
    return str(total)


#: The functions every rule may call.
FUNCTIONS: dict[str, Callable[..., object]] = {
    "wei_lt": _compare(lambda a, b: a < b),
    "wei_le": _compare(lambda a, b: a <= b),
    "wei_gt": _compare(lambda a, b: a > b),
    "wei_ge": _compare(lambda a, b: a >= b),
    "wei_eq": _compare(lambda a, b: a == b),
    "wei_add": _add,
}
