"""The chain client service's error family: one base, narrow subclasses, each with its reason.

The service sends these as google.rpc.ErrorInfo (domain ERROR_DOMAIN, the class's
`reason`); ChainClient raises the same class again. A status without a reason it
knows becomes ChainUnreachable or ChainRpcError (by its code). Every reason the
server sends is listed in chain.proto.
"""

from __future__ import annotations

from typing import Final

from anima_verify.errors import AnimaError, ErrorKind

#: google.rpc.ErrorInfo.domain of every error the chain service sends.
ERROR_DOMAIN: Final = "chain.anima"


class ChainServiceError(AnimaError):
    """Base of every error the chain client service reports to its callers."""


class InvalidChainRequest(ChainServiceError):
    """A request field is malformed (an address, an amount, a slot); the message names it."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class WrongChain(ChainServiceError):
    """The request names another chain id, or the RPC node serves another chain."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "WRONG_CHAIN"


class UnverifiableHeader(ChainServiceError):
    """The node's headers do not link to the trusted checkpoint (a forged or foreign
    header, or a reorg below the checkpoint). `check` names the failed verification."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "UNVERIFIABLE_HEADER"
    metadata_fields = ("check",)

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class ProofRejected(ChainServiceError):
    """The node's answer failed its proof against a verified root: a lying or broken node.
    `check` names the verification that failed (anima_verify.chain's reason)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "PROOF_REJECTED"
    metadata_fields = ("check",)

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class BlockNotVerified(ChainServiceError):
    """The block asked for is not among the verified headers (too new, or reorged away)."""

    kind = ErrorKind.NOT_FOUND
    reason = "BLOCK_NOT_VERIFIED"


class ReceiptNotFound(ChainServiceError):
    kind = ErrorKind.NOT_FOUND
    reason = "RECEIPT_NOT_FOUND"


class NodeUnavailable(ChainServiceError):
    """The RPC node did not answer within its deadline, after the allowed retries."""

    kind = ErrorKind.UNAVAILABLE
    reason = "NODE_UNAVAILABLE"


class NodeError(ChainServiceError):
    """The RPC node answered with a JSON-RPC error (it refused a transaction, say)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "NODE_ERROR"


class TransactionReverted(ChainServiceError):
    """The transaction was mined (its receipt verified) and reverted."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "TRANSACTION_REVERTED"
    metadata_fields = ("transaction_hash", "block_number")

    def __init__(self, message: str, *, transaction_hash: str, block_number: int) -> None:
        super().__init__(message)
        self.transaction_hash = transaction_hash
        self.block_number = block_number


class TransactionNotMined(ChainServiceError):
    """No receipt before the deadline; the signed transaction is kept under its key, so
    a retry with the same key waits for the same transaction."""

    kind = ErrorKind.UNAVAILABLE
    reason = "TRANSACTION_NOT_MINED"
    metadata_fields = ("transaction_hash",)

    def __init__(self, message: str, *, transaction_hash: str) -> None:
        super().__init__(message)
        self.transaction_hash = transaction_hash


class IdempotencyConflict(ChainServiceError):
    """The idempotency key was used before for a different intent."""

    kind = ErrorKind.ALREADY_EXISTS
    reason = "IDEMPOTENCY_CONFLICT"


class SigningRefused(ChainServiceError):
    """The enclave refused to sign (its policy, or an unknown agent); nothing was sent.
    `rule` names the policy rule when the signer gave one."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "SIGNING_REFUSED"
    metadata_fields = ("rule",)

    def __init__(self, message: str, *, rule: str = "") -> None:
        super().__init__(message)
        self.rule = rule


class SignerUnavailable(ChainServiceError):
    kind = ErrorKind.UNAVAILABLE
    reason = "SIGNER_UNAVAILABLE"


class ChainNotReady(ChainServiceError):
    """The service has not verified its first header yet."""

    kind = ErrorKind.UNAVAILABLE
    reason = "CHAIN_NOT_READY"


# ---------------------------------------------------------------- client side


class ChainRpcError(ChainServiceError):
    """A failed call that names no reason this client knows: the status code's name and
    the text as given."""

    reason = "RPC_ERROR"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class ChainUnreachable(ChainRpcError):
    """The chain service did not answer in time or could not be reached."""

    kind = ErrorKind.UNAVAILABLE
    reason = "CHAIN_UNREACHABLE"


#: The errors the chain service sends with their reasons, for the client's catalog.
SERVER_ERRORS: Final[tuple[type[ChainServiceError], ...]] = (
    InvalidChainRequest,
    WrongChain,
    UnverifiableHeader,
    ProofRejected,
    BlockNotVerified,
    ReceiptNotFound,
    NodeUnavailable,
    NodeError,
    TransactionReverted,
    TransactionNotMined,
    IdempotencyConflict,
    SigningRefused,
    SignerUnavailable,
    ChainNotReady,
)
