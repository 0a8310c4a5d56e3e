"""Decoding the calldata rules care about: token transfers and approvals.

ERC-20 transfer/approve/transferFrom, ERC-721 transferFrom/safeTransferFrom and
ERC-1155 safeTransferFrom/safeBatchTransferFrom, by their 4-byte selectors. The
ABI words are read by hand (static arguments only, bounds-checked; the batch
call's two dynamic arrays through their offsets): these few shapes do not need
an ABI library on the enclave's hot path. Calldata that carries a known
selector but does not decode is reported as malformed, never as "no call": a
rule must not mistake a truncated transfer for a plain payment.
"""

from __future__ import annotations

from dataclasses import dataclass

# ERC-20's and ERC-721's transferFrom share a selector: the same words, read as
# an amount or a token id, so rules see both names.
SELECTORS: dict[bytes, str] = {
    bytes.fromhex("a9059cbb"): "transfer",  # transfer(address,uint256)
    bytes.fromhex("095ea7b3"): "approve",  # approve(address,uint256)
    bytes.fromhex("23b872dd"): "transferFrom",  # transferFrom(address,address,uint256)
    bytes.fromhex("42842e0e"): "safeTransferFrom",  # ERC-721 (address,address,uint256)
    bytes.fromhex("b88d4fde"): "safeTransferFrom",  # ERC-721 (...,bytes)
    bytes.fromhex("f242432a"): "safeTransferFrom1155",  # (address,address,uint256,uint256,bytes)
    bytes.fromhex(
        "2eb2c2d6"
    ): "safeBatchTransferFrom",  # (address,address,uint256[],uint256[],bytes)
    bytes.fromhex("a22cb465"): "setApprovalForAll",  # (address,bool)
}
MAX_BATCH_ITEMS = 256


class MalformedCalldata(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TokenCall:
    """A decoded token call; amounts and ids as decimal strings (rules see them so)."""

    function: str
    sender: str  # "from" for transferFrom-style calls; "" otherwise
    recipient: str  # the receiver, spender or operator
    amount: str  # ERC-20 amount, ERC-1155 total amount; "0" where none
    token_ids: tuple[str, ...]  # ERC-721/1155 ids
    approved: bool  # setApprovalForAll's flag


def _word(args: bytes, index: int) -> int:
    start = 32 * index
    if len(args) < start + 32:
        raise MalformedCalldata("calldata is shorter than its arguments")
    return int.from_bytes(args[start : start + 32], "big")


def _address_word(args: bytes, index: int) -> str:
    word = _word(args, index)
    if word >> 160:
        raise MalformedCalldata("an address argument has high bits set")
    return "0x" + word.to_bytes(20, "big").hex()


def _uint_array(args: bytes, index: int) -> list[int]:
    offset = _word(args, index)
    if offset % 32 or offset > len(args):
        raise MalformedCalldata("a dynamic array offset is out of bounds")
    length = _word(args, offset // 32)
    if length > MAX_BATCH_ITEMS:
        raise MalformedCalldata(f"a batch holds more than {MAX_BATCH_ITEMS} items")
    return [_word(args, offset // 32 + 1 + i) for i in range(length)]


def decode(data: bytes) -> TokenCall | None:
    """The token call in `data`, None for calldata with no selector this module knows."""
    if len(data) < 4:
        return None
    function = SELECTORS.get(data[:4])
    if function is None:
        return None
    args = data[4:]
    if function in ("transfer", "approve"):
        amount = _word(args, 1)
        return TokenCall(function, "", _address_word(args, 0), str(amount), (), False)
    if function == "setApprovalForAll":
        flag = _word(args, 1)
        if flag > 1:
            raise MalformedCalldata("setApprovalForAll's flag is not a bool")
        return TokenCall(function, "", _address_word(args, 0), "0", (), bool(flag))
    sender, recipient = _address_word(args, 0), _address_word(args, 1)
    if function in ("transferFrom", "safeTransferFrom"):
        value = _word(args, 2)
        # transferFrom: an ERC-20 amount or an ERC-721 id; both are shown.
        return TokenCall("transferFrom", sender, recipient, str(value), (str(value),), False)
    if function == "safeTransferFrom1155":
        token_id, amount = _word(args, 2), _word(args, 3)
        return TokenCall(
            "safeTransferFrom", sender, recipient, str(amount), (str(token_id),), False
        )
    ids, amounts = _uint_array(args, 2), _uint_array(args, 3)
    if len(ids) != len(amounts):
        raise MalformedCalldata("batch ids and amounts differ in length")
    return TokenCall(
        "safeBatchTransferFrom",
        sender,
        recipient,
        str(sum(amounts)),
        tuple(str(i) for i in ids),
        False,
    )
