"""Why a chain header, state proof, receipt list or transaction list failed to verify.

One class per failure, all under ChainProofError. They are INVALID_ARGUMENT when
they cross a service boundary, like the log's LogVerificationError: the data (an
RPC node's answer) was wrong, not the verifier. A service that fetched that data
itself (the chain client) may wrap them in its own family.

Messages say what was expected and what was found, with hashes in hex and long
values cut short: an RPC node's answer can be megabytes and must not be echoed.
"""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind

#: The longest value a message quotes in full (a 32-byte hash in hex); longer ones are cut.
_SHOWN = 66


def shown(value: object) -> str:
    """A value as an error message quotes it: hex for bytes, cut short when long."""
    text = "0x" + value.hex() if isinstance(value, bytes) else repr(value)
    if len(text) > _SHOWN:
        return f"{text[:_SHOWN]}... ({len(text)} chars)"
    return text


class ChainProofError(AnimaError):
    """Chain data that does not verify against what the caller already trusts."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "CHAIN_PROOF_FAILED"


class MalformedChainData(ChainProofError):
    """A JSON-RPC object or RLP value of the wrong shape: a missing field, bad hex,
    a hash of the wrong length, an integer out of range."""

    reason = "MALFORMED_CHAIN_DATA"


class UnsupportedHeader(ChainProofError):
    """A header whose set of fields is no fork this library knows (London to Prague),
    or which skips a fork's fields."""

    reason = "UNSUPPORTED_BLOCK_HEADER"


class HeaderHashMismatch(ChainProofError):
    """The header's fields hash to another value than the hash the node gave for it."""

    reason = "BLOCK_HEADER_HASH_MISMATCH"


class UnexpectedHeader(ChainProofError):
    """A header that verifies but is not the one the caller trusts (another block,
    another chain, another branch of a reorg)."""

    reason = "UNEXPECTED_BLOCK_HEADER"


class BrokenChainLink(ChainProofError):
    """A child header whose parent hash or number does not follow its parent."""

    reason = "BROKEN_CHAIN_LINK"


class InvalidTrieProof(ChainProofError):
    """A Merkle-Patricia proof that does not lead from the root to the key: a node
    missing or altered, a node that is not RLP, a path that ends nowhere."""

    reason = "INVALID_TRIE_PROOF"


class ProvenValueMismatch(ChainProofError):
    """The node's claimed value (balance, nonce, storage value...) differs from the
    value its own proof proves. `field` names what differed."""

    reason = "PROVEN_VALUE_MISMATCH"
    metadata_fields = ("field",)

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class CodeHashMismatch(ChainProofError):
    """Contract code whose keccak-256 is not the account's proven code hash."""

    reason = "CODE_HASH_MISMATCH"


class ReceiptsRootMismatch(ChainProofError):
    """A block's receipts that do not rebuild the header's receipts root, or that do
    not belong to the block (wrong block hash, count or order)."""

    reason = "RECEIPTS_ROOT_MISMATCH"


class TransactionsRootMismatch(ChainProofError):
    """A block's transactions that do not rebuild the header's transactions root, or
    a transaction whose encoding does not hash to the hash the node gave."""

    reason = "TRANSACTIONS_ROOT_MISMATCH"
