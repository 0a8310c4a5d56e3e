"""Plain domain types of the signer; protobuf stays in api/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from anima_verify.tlog.entry import MAX_ENTRY_BYTES, EntryKind

# Bounds on what one request may carry (the gRPC layer also caps whole messages).
MAX_MESSAGE_BYTES = 64 * 1024
MAX_TYPED_DATA_BYTES = 64 * 1024
MAX_TX_DATA_BYTES = 128 * 1024
MAX_BATCH_ITEMS = 1024
MAX_WALLETS = 16
MAX_IDEMPOTENCY_KEY_CHARS = 128
UINT256_MAX = 2**256 - 1
# The log: entries per AppendLog call, and entries the signer holds that the
# host has not yet confirmed as durably stored (beyond it, appends and signs wait).
MAX_APPEND_ENTRIES = 4096
MAX_PENDING_LOG_ENTRIES = 8192
# Payloads the enclave writes itself (signatures, policy decisions, creation)
# stay below this, so a full tail has a known worst-case size on the wire.
MAX_ENCLAVE_PAYLOAD_BYTES = 4096
# The largest AppendLog answer: the whole unconfirmed tail at its worst-case
# entry (anima_verify.tlog.entry.MAX_ENTRY_BYTES) and payload sizes, plus framing.
MAX_APPEND_RESPONSE_BYTES = (
    MAX_PENDING_LOG_ENTRIES * (MAX_ENTRY_BYTES + MAX_ENCLAVE_PAYLOAD_BYTES + 16) + 4096
)


@dataclass(frozen=True, slots=True)
class SigningPolicy:
    """The minimal owner policy set at agent creation. Deny by default."""

    allowed_chain_ids: frozenset[int] = frozenset()
    max_value_wei: int = 0
    allow_personal_messages: bool = False
    allow_typed_data: bool = False
    allow_raw_ed25519: bool = False


def policy_as_dict(policy: SigningPolicy) -> dict[str, object]:
    """JSON-ready form of a policy (amounts as decimal strings), for storage and display."""
    return {
        "allowed_chain_ids": sorted(policy.allowed_chain_ids),
        "max_value_wei": str(policy.max_value_wei),
        "allow_personal_messages": policy.allow_personal_messages,
        "allow_typed_data": policy.allow_typed_data,
        "allow_raw_ed25519": policy.allow_raw_ed25519,
    }


@dataclass(frozen=True, slots=True)
class Wallet:
    index: int
    address: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class Agent:
    agent_id: str
    wallets: tuple[Wallet, ...]
    log_verifier_key: str
    log_public_key: bytes
    signing_public_key: bytes
    policy: SigningPolicy
    created_at: datetime
    key_derivation_version: int
    # The owner's Ethereum address; set, only documents it signs govern the agent
    # (and `policy` is unused); "" for agents under the minimal gate.
    owner: str = ""


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    """An owned agent's active policy: the signed document and its version (0: none yet)."""

    agent_id: str
    owner: str
    version: int
    document: str
    owner_signature: bytes


@dataclass(frozen=True, slots=True)
class PolicyExplanation:
    """A dry run: what the policy would decide, by which rule, and why; nothing signed."""

    allowed: bool
    rule: str
    policy_version: int
    reason: str


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """A request waiting for the owner's co-signature: the exact payload, the hash the
    owner's approval signs (anima_signer_api.policy_document.approval_typed_data), and
    the rule and policy version that asked for it."""

    approval_id: str
    agent_id: str
    request_hash: bytes
    payload: Payload
    rule: str
    policy_version: int
    created_ms: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class PersonalMessage:
    """EIP-191 version 0x45 ("Ethereum Signed Message")."""

    message: bytes
    wallet_index: int = 0


@dataclass(frozen=True, slots=True)
class TypedData:
    """EIP-712 typed data, as the full JSON document."""

    typed_data_json: str
    wallet_index: int = 0


class TxType(Enum):
    LEGACY = "legacy"
    EIP1559 = "eip1559"


@dataclass(frozen=True, slots=True)
class AccessListEntry:
    address: str
    storage_keys: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class Transaction:
    type: TxType
    chain_id: int
    nonce: int
    gas_limit: int
    to: str | None
    value: int = 0
    data: bytes = b""
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    access_list: tuple[AccessListEntry, ...] = ()
    wallet_index: int = 0


@dataclass(frozen=True, slots=True)
class Ed25519Message:
    message: bytes


Payload = PersonalMessage | TypedData | Transaction | Ed25519Message


@dataclass(frozen=True, slots=True)
class SignRequest:
    agent_id: str
    payload: Payload
    idempotency_key: str = ""


# Every sign result carries `log_index`: the index of the SIGNATURE entry the
# signer appended to the agent's log before answering. Index 0 is always the
# agent's creation, so 0 only appears on results built outside a signer.


@dataclass(frozen=True, slots=True)
class EthSignature:
    address: str
    digest: bytes
    signature: bytes  # r || s || v, v in {27, 28}
    log_index: int = 0


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    address: str
    raw_transaction: bytes
    transaction_hash: bytes
    signature: bytes  # r || s || y_parity
    log_index: int = 0


@dataclass(frozen=True, slots=True)
class Ed25519Signature:
    public_key: bytes
    signature: bytes
    log_index: int = 0


SignResult = EthSignature | SignedTransaction | Ed25519Signature


@dataclass(frozen=True, slots=True)
class AttestationBundle:
    """Evidence plus the inputs a verifier needs to recompute report_data."""

    tee: str
    quote: bytes
    collateral_json: bytes | None
    tls_public_key: bytes
    bound_keys: bytes


# ---------------------------------------------------------------- the log


@dataclass(frozen=True, slots=True)
class LogEntryInput:
    """What the host asks the enclave to sequence; the enclave adds agent, index and time."""

    kind: EntryKind
    actor: str
    room: str
    payload_sha256: bytes
    payload_size: int


@dataclass(frozen=True, slots=True)
class SequencedEntry:
    """An encoded entry (anima_verify.tlog.entry) as sequenced by the enclave.

    `payload` is set only for entries the enclave wrote itself (signatures,
    policy decisions, lifecycle): the host stores it beside the log.
    """

    entry: bytes
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class LogAppendResult:
    """The log tail the host lacks, and a signed checkpoint covering it.

    `entries` runs from the host's durable size (the request's host_size) to
    `size`; the request's own entries start at `first_index`. `checkpoint` is a
    C2SP signed note for (origin, size, root).
    """

    first_index: int
    size: int
    entries: tuple[SequencedEntry, ...]
    checkpoint: bytes
