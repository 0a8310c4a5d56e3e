"""EIP-1559 transactions: built from verified state, signed by the enclave, sent once per key,
confirmed by a receipt verified against a verified header.

Nonce: the sender's proven nonce at the verified head. Fees: the verified head's
base fee x multiplier + a fixed tip (FeeRule). Gas: the caller's limit, or the
node's estimate with a margin, capped (a lying node can only make the transaction
fail for want of gas, not spend more than the cap, which the enclave's policy
bounds too). Sends for one wallet are serialised, so two never take one nonce.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict
from typing import Any, Protocol

from anima_chain.config import FeeRule
from anima_chain.headers import HeaderStore
from anima_chain.intents import IntentStore, SentRecord, intent_digest
from anima_chain.reads import ProvenReads
from anima_chain.rpc import RpcNode
from anima_chain_api.errors import (
    IdempotencyConflict,
    InvalidChainRequest,
    NodeError,
    SignerUnavailable,
    SigningRefused,
    TransactionNotMined,
    TransactionReverted,
)
from anima_chain_api.types import ReceiptAt, TransactionIntent, TransactionOutcome, show_address
from anima_signer_api.errors import PolicyDenied, SignerError, SignerRpcError, UnknownAgent
from anima_signer_api.types import (
    Agent,
    SignedTransaction,
    SignRequest,
    SignResult,
    Transaction,
    TxType,
)

log = logging.getLogger(__name__)
_KEY = re.compile(r"[A-Za-z0-9._:/-]{1,128}")
_GAS_MARGIN = 1.25
_PLAIN_TRANSFER_GAS = 21_000
# Errors a node gives for a transaction it already has: a resend of the same bytes.
_ALREADY_SENT = ("already known", "nonce too low", "already imported")


class TransactionSigner(Protocol):
    """What this module needs of anima_signer_api.client.SignerClient (no transport here)."""

    async def get_agent(self, agent_id: str) -> Agent: ...

    async def sign(self, request: SignRequest) -> SignResult: ...


class TransactionSender:
    def __init__(
        self,
        *,
        node: RpcNode,
        headers: HeaderStore,
        reads: ProvenReads,
        signer: TransactionSigner,
        store: IntentStore,
        fees: FeeRule,
        receipt_timeout_s: float,
        receipt_poll_s: float,
    ) -> None:
        self._node = node
        self._headers = headers
        self._reads = reads
        self._signer = signer
        self._store = store
        self._fees = fees
        self._receipt_timeout_s = receipt_timeout_s
        self._poll_s = receipt_poll_s
        self._wallet_locks: defaultdict[tuple[str, int], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def send(self, intent: TransactionIntent) -> TransactionOutcome:
        _check(intent, self._fees)
        async with self._wallet_locks[(intent.agent_id, intent.wallet_index)]:
            record = await asyncio.to_thread(self._store.get, intent.idempotency_key)
            replayed = record is not None
            if record is None:
                record = await self._sign(intent)
                await asyncio.to_thread(self._store.put, record)
                log.info(
                    "signed transaction 0x%s (nonce %d) for key %s",
                    record.transaction_hash.hex(),
                    record.nonce,
                    intent.idempotency_key,
                )
            elif record.intent_digest != intent_digest(intent):
                raise IdempotencyConflict(
                    f"idempotency key {intent.idempotency_key!r} was used for another"
                    " transaction; use a new key for a new intent"
                )
            timeout = intent.receipt_timeout_ms / 1000 or self._receipt_timeout_s
            found = await self._confirm(record, timeout)
        outcome = TransactionOutcome(
            block=found.block,
            receipt=found.receipt,
            sender=record.sender,
            nonce=record.nonce,
            max_fee_per_gas=record.max_fee,
            max_priority_fee_per_gas=record.tip,
            signature_log_index=record.signature_log_index,
            replayed=replayed,
        )
        if not found.receipt.success:
            raise TransactionReverted(
                f"transaction 0x{record.transaction_hash.hex()} reverted in verified"
                f" {found.block.describe()}",
                transaction_hash="0x" + record.transaction_hash.hex(),
                block_number=found.block.number,
            )
        return outcome

    async def _sign(self, intent: TransactionIntent) -> SentRecord:
        sender = await self._sender(intent)
        head = await self._headers.refresh(force=True)
        account = await self._reads.account(sender, head.number)
        tip = self._fees.priority_fee_wei
        max_fee = head.base_fee_per_gas * self._fees.base_fee_multiplier + tip
        gas_limit = intent.gas_limit or await self._estimate(sender, intent)
        transaction = Transaction(
            type=TxType.EIP1559,
            chain_id=self._headers.chain_id,
            nonce=account.nonce,
            gas_limit=gas_limit,
            to=show_address(intent.to),
            value=intent.value,
            data=intent.data,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
            wallet_index=intent.wallet_index,
        )
        request = SignRequest(
            agent_id=intent.agent_id,
            payload=transaction,
            idempotency_key=f"chain-tx/{intent.idempotency_key}",
        )
        try:
            signed = await self._signer.sign(request)
        except PolicyDenied as exc:
            raise SigningRefused(f"the enclave refused: {exc.message}", rule=exc.rule) from None
        except UnknownAgent:
            raise InvalidChainRequest(
                f"agent_id: the signer has no agent {intent.agent_id!r}"
            ) from None
        except SignerRpcError as exc:
            raise SignerUnavailable(f"the signer did not answer: {exc.message}") from None
        except SignerError as exc:
            raise SigningRefused(f"the signer refused: {exc.message}") from None
        if not isinstance(signed, SignedTransaction):
            raise SignerUnavailable("the signer answered something other than a transaction")
        return SentRecord(
            key=intent.idempotency_key,
            intent_digest=intent_digest(intent),
            sender=sender,
            nonce=account.nonce,
            max_fee=max_fee,
            tip=tip,
            raw_transaction=signed.raw_transaction,
            transaction_hash=signed.transaction_hash,
            signature_log_index=signed.log_index,
        )

    async def _sender(self, intent: TransactionIntent) -> bytes:
        try:
            agent = await self._signer.get_agent(intent.agent_id)
        except UnknownAgent:
            raise InvalidChainRequest(
                f"agent_id: the signer has no agent {intent.agent_id!r}"
            ) from None
        except SignerError as exc:
            raise SignerUnavailable(f"the signer did not answer: {exc.message}") from None
        for wallet in agent.wallets:
            if wallet.index == intent.wallet_index:
                return bytes.fromhex(wallet.address[2:])
        raise InvalidChainRequest(
            f"wallet_index: agent {intent.agent_id!r} has no wallet {intent.wallet_index}"
        )

    async def _estimate(self, sender: bytes, intent: TransactionIntent) -> int:
        call = {
            "from": "0x" + sender.hex(),
            "to": "0x" + intent.to.hex(),
            "value": hex(intent.value),
            "data": "0x" + intent.data.hex(),
        }
        answer = await self._node.read("eth_estimateGas", [call])
        try:
            estimate = int(answer, 16)
        except (TypeError, ValueError):
            raise NodeError("the RPC node's gas estimate is not a hex quantity") from None
        if estimate <= _PLAIN_TRANSFER_GAS:
            return _PLAIN_TRANSFER_GAS
        return min(int(estimate * _GAS_MARGIN), self._fees.max_gas_limit)

    async def _confirm(self, record: SentRecord, timeout_s: float) -> ReceiptAt:
        await self._broadcast(record)
        deadline = time.monotonic() + timeout_s
        tx = "0x" + record.transaction_hash.hex()
        while True:
            answer: Any = await self._node.read("eth_getTransactionReceipt", [tx])
            if answer is not None:
                return await self._reads.receipt(record.transaction_hash)
            if time.monotonic() >= deadline:
                raise TransactionNotMined(
                    f"transaction {tx} has no receipt after {timeout_s:g} s; retry with the"
                    " same idempotency key to keep waiting for it",
                    transaction_hash=tx,
                )
            await asyncio.sleep(self._poll_s)

    async def _broadcast(self, record: SentRecord) -> None:
        try:
            await self._node.send("eth_sendRawTransaction", ["0x" + record.raw_transaction.hex()])
        except NodeError as exc:
            if not any(text in exc.message.lower() for text in _ALREADY_SENT):
                raise


def _check(intent: TransactionIntent, fees: FeeRule) -> None:
    if not intent.agent_id:
        raise InvalidChainRequest("agent_id is required")
    if not _KEY.fullmatch(intent.idempotency_key):
        raise InvalidChainRequest(
            "idempotency_key is required: 1-128 characters of A-Z a-z 0-9 . _ : / -"
        )
    if len(intent.to) != 20:
        raise InvalidChainRequest(f"to must be 20 bytes, got {len(intent.to)}")
    if intent.gas_limit and not _PLAIN_TRANSFER_GAS <= intent.gas_limit <= fees.max_gas_limit:
        raise InvalidChainRequest(
            f"gas_limit must be 0 (estimate) or {_PLAIN_TRANSFER_GAS}..{fees.max_gas_limit}"
        )
    if len(intent.data) > 128 * 1024:
        raise InvalidChainRequest("data is larger than 128 KiB")
